//! The bodies command-api reads. Unknown fields are refused (a typo never silently does
//! something else), and instants must be UTC.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use domain::hours::OpeningHours;
use domain::personal::PersonalData;
use domain::resource::Policy;
use domain::series::OnConflict;
use domain::service::Price;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/resources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResource {
    /// The resource's id, when the client chooses it (else the server makes one).
    pub id: Option<Uuid>,
    /// 1 to 200 characters.
    #[schema(examples("Room 101"))]
    pub name: String,
    /// 1 to 64 of `a-z`, `0-9` and `_`.
    #[schema(pattern = "^[a-z0-9_]{1,64}$", examples("meeting_room"))]
    pub kind: String,
    /// How many bookings may overlap (units).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 10000, default = 1)]
    pub capacity: u32,
    /// An IANA time zone: opening hours, local dates and slot steps are in it.
    #[schema(value_type = String, examples("Europe/Berlin"))]
    pub time_zone: Tz,
    /// Absent or `null`: open around the clock.
    #[serde(default)]
    pub opening_hours: Option<OpeningHours>,
    /// Every field is optional, with the defaults shown.
    #[serde(default)]
    pub policy: Policy,
    /// At most 32 keys of `[a-z0-9_]{1,40}`, each a string (≤ 200 characters), a number, a
    /// boolean or an array of at most 20 such strings.
    #[serde(default)]
    #[schema(value_type = Object, examples(json!({"building": "A", "seats": 30, "features": ["projector", "whiteboard"]})))]
    pub attributes: Map<String, Value>,
}

/// `PATCH /v1/resources/{id}`: absent fields stay as they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResource {
    /// 1 to 200 characters.
    pub name: Option<String>,
    #[schema(minimum = 1, maximum = 10000)]
    pub capacity: Option<u32>,
    /// Absent: unchanged; `null`: open around the clock.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OpeningHours>)]
    pub opening_hours: Option<Option<OpeningHours>>,
    /// The fields given replace the current ones.
    #[schema(value_type = Option<Policy>)]
    pub policy: Option<Map<String, Value>>,
    /// Replaces the whole object (same limits as on create).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// `true` archives the resource (no new bookings or holds; existing ones go on), `false`
    /// restores it.
    pub archived: Option<bool>,
}

/// `POST /v1/resources/{id}/blackouts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBlackout {
    /// The blackout's id, when the client chooses it.
    pub id: Option<Uuid>,
    /// In UTC (`Z`).
    #[serde(deserialize_with = "utc_instant")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub start: DateTime<Utc>,
    /// In UTC (`Z`); after `start`.
    #[serde(deserialize_with = "utc_instant")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub end: DateTime<Utc>,
    /// At most 500 characters.
    #[serde(default)]
    pub reason: String,
}

/// `POST /v1/bookings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBooking {
    /// The booking's id, when the client chooses it.
    pub id: Option<Uuid>,
    /// The resource to book. Exactly one of `resource_id`, `resource_ids` and `pool` is given.
    pub resource_id: Option<Uuid>,
    /// Book the first of these resources that is free (tried in this order; at most 100).
    /// Unknown, archived and other tenants' ids are skipped.
    #[schema(max_items = 100)]
    pub resource_ids: Option<Vec<Uuid>>,
    /// Book the first free resource of the tenant that matches (tried by name, then id).
    pub pool: Option<Pool>,
    /// In UTC (`Z`).
    #[serde(deserialize_with = "utc_instant")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub start: DateTime<Utc>,
    /// In UTC (`Z`); after `start`. Required without `service_id`; with it, absent (the end is
    /// `start` plus the service's duration).
    #[serde(default, deserialize_with = "utc_instant_opt")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub end: Option<DateTime<Utc>>,
    /// A service offered on the resource: it gives the end, buffers (where larger than the
    /// resource's) and the price recorded with the booking.
    pub service_id: Option<Uuid>,
    /// Admins only, and only without `service_id`: the price recorded with the booking (a
    /// client sending one gets `403`).
    pub price: Option<Price>,
    /// Units of the resource.
    #[serde(default = "one")]
    #[schema(minimum = 1, default = 1)]
    pub quantity: u32,
    /// Admins only (clients book for themselves); 1 to 255 characters. An opaque id: personal
    /// data goes in `customer`, never here or in `metadata`.
    pub customer_id: Option<String>,
    /// The customer's personal data (every part optional). Shown only to admins, viewers and
    /// the customer; never logged; stored only encrypted with the customer's key, which
    /// `POST /v1/customers/{customer_id}/erase` destroys.
    #[serde(default)]
    pub customer: Option<PersonalData>,
    /// A hold: confirmed later, or it expires after the policy's `hold_ttl_seconds`.
    #[serde(default)]
    pub hold: bool,
    /// Free-form, at most 4 KiB as JSON. Must not carry personal data: it is stored and
    /// published in the clear, and erasure does not reach it (use `customer`).
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// The resources a pool booking may go on: the resource filters (`kind=`, `attr.<key>=`,
/// `min.<key>=`) as a body; only active (non-archived) resources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    #[schema(examples("hotel_room"))]
    pub kind: String,
    /// Each attribute equals this value (a string, number or boolean; an array attribute
    /// contains it).
    #[serde(default)]
    #[schema(value_type = Object, examples(json!({"type": "double", "features": "balcony"})))]
    pub attributes: Map<String, Value>,
    /// Each attribute is a number at least this.
    #[serde(default)]
    #[schema(value_type = Object, examples(json!({"beds": 2})))]
    pub min: Map<String, Value>,
}

/// `POST /v1/services`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    /// The service's id, when the client chooses it.
    pub id: Option<Uuid>,
    /// 1 to 200 characters.
    #[schema(examples("Haircut"))]
    pub name: String,
    /// The length of a booking of it.
    #[schema(minimum = 1, maximum = 527040)]
    pub duration_minutes: u32,
    pub price: Price,
    /// Kept free before each booking where larger than the resource's buffer.
    #[serde(default)]
    #[schema(maximum = 1440, default = 0)]
    pub buffer_before_minutes: u32,
    /// Kept free after each booking where larger than the resource's buffer.
    #[serde(default)]
    #[schema(maximum = 1440, default = 0)]
    pub buffer_after_minutes: u32,
    /// The resources it is offered on (at most 100). With `resource_kind`, a resource matching
    /// either is; neither given: every resource.
    #[serde(default)]
    pub resource_ids: Vec<Uuid>,
    /// Offered on the resources of this kind.
    pub resource_kind: Option<String>,
}

/// `PATCH /v1/services/{id}`: absent fields stay as they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateService {
    pub name: Option<String>,
    #[schema(minimum = 1, maximum = 527040)]
    pub duration_minutes: Option<u32>,
    /// A new price applies to bookings placed from now on; existing ones keep theirs.
    pub price: Option<Price>,
    #[schema(maximum = 1440)]
    pub buffer_before_minutes: Option<u32>,
    #[schema(maximum = 1440)]
    pub buffer_after_minutes: Option<u32>,
    pub resource_ids: Option<Vec<Uuid>>,
    /// Absent: unchanged; `null`: no longer offered by kind.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub resource_kind: Option<Option<String>>,
    /// `true` retires it (no new bookings; existing ones keep it), `false` restores it.
    pub archived: Option<bool>,
}

/// `POST /v1/series`: a recurring booking, each occurrence an ordinary booking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSeries {
    /// The series' id, when the client chooses it.
    pub id: Option<Uuid>,
    pub resource_id: Uuid,
    /// The first occurrence's start, in UTC (`Z`): it must itself be an occurrence of the rule.
    /// Every occurrence starts at its local wall-clock time in the resource's zone.
    #[serde(deserialize_with = "utc_instant")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub start: DateTime<Utc>,
    /// The first occurrence's end, in UTC (`Z`). Required without `service_id`; with it,
    /// absent (the service's duration gives it).
    #[serde(default, deserialize_with = "utc_instant_opt")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub end: Option<DateTime<Utc>>,
    /// An RFC 5545 `RRULE` of the supported subset: `FREQ=DAILY|WEEKLY|MONTHLY`, `INTERVAL`,
    /// `BYDAY` (`MO`…`SU`; with `MONTHLY` also `1MO`, `-1FR`), `BYMONTHDAY`, and exactly one of
    /// `COUNT` or `UNTIL`; at most 366 occurrences.
    #[schema(examples("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20"))]
    pub rrule: String,
    /// `fail`: all or nothing. `skip`: book every occurrence that can be had.
    pub on_conflict: OnConflict,
    /// A service offered on the resource: its duration, buffers and price, for every occurrence.
    pub service_id: Option<Uuid>,
    /// Units of the resource, for every occurrence.
    #[serde(default = "one")]
    #[schema(minimum = 1, default = 1)]
    pub quantity: u32,
    /// Admins only (clients book for themselves); 1 to 255 characters.
    pub customer_id: Option<String>,
    /// Place every occurrence as a hold (each confirmed, or expiring, on its own).
    #[serde(default)]
    pub hold: bool,
    /// Free-form, at most 4 KiB as JSON; copied to every occurrence.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// The optional body of `POST /v1/series/{id}/cancel`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSeries {
    /// Cancel the occurrences starting at or after this instant (UTC, `Z`); absent: every one
    /// not yet started.
    #[serde(default, deserialize_with = "utc_instant_opt")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub from: Option<DateTime<Utc>>,
}

/// The optional body of `decline` and `cancel`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// `POST /v1/bookings/{id}/reschedule`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    /// In UTC (`Z`).
    #[serde(deserialize_with = "utc_instant")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub start: DateTime<Utc>,
    /// In UTC (`Z`); after `start`.
    #[serde(deserialize_with = "utc_instant")]
    #[schema(pattern = "(Z|[+-]00:00)$")]
    pub end: DateTime<Utc>,
}

fn one() -> u32 {
    1
}

/// Tells a field that is present (even as `null`) from one that is absent.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// [`utc_instant`] for an optional field.
fn utc_instant_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    utc_instant(deserializer).map(Some)
}

/// Deserializes an RFC 3339 instant that must be in UTC (`Z` or `+00:00`), truncated to the
/// stored precision (microseconds). An offset is refused rather than converted: a client
/// sending local time where UTC is expected has a bug worth surfacing.
pub fn utc_instant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(deserializer)?;
    let parsed = DateTime::parse_from_rfc3339(&raw).map_err(|_| {
        serde::de::Error::custom(format!(
            "{raw:?} is not an RFC 3339 instant like 2026-12-01T09:00:00Z"
        ))
    })?;
    if parsed.offset().local_minus_utc() != 0 {
        return Err(serde::de::Error::custom(format!(
            "{raw:?} is not in UTC; send instants with a Z suffix"
        )));
    }
    let utc = parsed.with_timezone(&Utc);
    Ok(utc
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(utc))
}
