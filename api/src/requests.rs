//! The bodies command-api reads. Unknown fields are refused (a typo never silently does
//! something else), and instants must be UTC.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use chrono_tz::Tz;
use domain::hours::OpeningHours;
use domain::resource::Policy;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `POST /v1/resources`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateResource {
    pub id: Option<Uuid>,
    pub name: String,
    pub kind: String,
    #[serde(default = "one")]
    pub capacity: u32,
    pub time_zone: Tz,
    #[serde(default)]
    pub opening_hours: Option<OpeningHours>,
    #[serde(default)]
    pub policy: Policy,
}

/// `PATCH /v1/resources/{id}`: absent fields stay as they are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateResource {
    pub name: Option<String>,
    pub capacity: Option<u32>,
    /// Absent: unchanged; `null`: open around the clock.
    #[serde(default, deserialize_with = "present")]
    pub opening_hours: Option<Option<OpeningHours>>,
    /// The fields given replace the current ones.
    pub policy: Option<Map<String, Value>>,
}

/// `POST /v1/resources/{id}/blackouts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBlackout {
    pub id: Option<Uuid>,
    #[serde(deserialize_with = "utc_instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "utc_instant")]
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub reason: String,
}

/// `POST /v1/bookings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceBooking {
    pub id: Option<Uuid>,
    pub resource_id: Uuid,
    #[serde(deserialize_with = "utc_instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "utc_instant")]
    pub end: DateTime<Utc>,
    #[serde(default = "one")]
    pub quantity: u32,
    /// Admins only (clients book for themselves).
    pub customer_id: Option<String>,
    #[serde(default)]
    pub hold: bool,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// The optional body of `decline` and `cancel`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: Option<String>,
}

/// `POST /v1/bookings/{id}/reschedule`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    #[serde(deserialize_with = "utc_instant")]
    pub start: DateTime<Utc>,
    #[serde(deserialize_with = "utc_instant")]
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
