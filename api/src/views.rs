//! The representations of API.md: a resource and a booking look the same whichever API
//! answers, and a command's answer is what it wrote plus the position of the write.

use chrono::{DateTime, Utc};
use domain::booking::Booking;
use domain::event::BookingStatus;
use domain::hours::OpeningHours;
use domain::personal::{PersonalData, Sealed};
use domain::resource::{Blackout, Policy, Resource};
use domain::series::{OnConflict, Series, Skipped};
use domain::service::{Price, Service};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// A resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceView {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub capacity: u32,
    /// The IANA time zone.
    #[schema(examples("Europe/Berlin"))]
    pub time_zone: String,
    /// `null`: open around the clock.
    pub opening_hours: Option<OpeningHours>,
    pub policy: Policy,
    pub blackouts: Vec<BlackoutView>,
    /// Keys `[a-z0-9_]{1,40}`; values strings, numbers, booleans or arrays of strings.
    #[schema(value_type = Object, examples(json!({"building": "A", "seats": 30, "features": ["projector"]})))]
    pub attributes: Map<String, Value>,
    /// An archived resource takes no new bookings or holds; its bookings go on.
    pub archived: bool,
    /// Grows by one with every change; send it as `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Resource> for ResourceView {
    fn from(resource: &Resource) -> Self {
        Self {
            id: resource.id.0,
            name: resource.spec.name.clone(),
            kind: resource.spec.kind.clone(),
            capacity: resource.spec.capacity,
            time_zone: resource.spec.time_zone.name().to_owned(),
            opening_hours: resource.spec.opening_hours.clone(),
            policy: resource.spec.policy,
            blackouts: resource.blackouts.iter().map(BlackoutView::from).collect(),
            attributes: resource.spec.attributes.as_map().clone(),
            archived: resource.spec.archived,
            version: resource.version,
            created_at: resource.created_at,
            updated_at: resource.updated_at,
        }
    }
}

/// A blackout of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlackoutView {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub reason: String,
}

impl From<&Blackout> for BlackoutView {
    fn from(blackout: &Blackout) -> Self {
        Self {
            id: blackout.id.0,
            start: blackout.period.start(),
            end: blackout.period.end(),
            reason: blackout.reason.clone(),
        }
    }
}

/// A booking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BookingView {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: u32,
    pub customer_id: String,
    /// The customer's personal data (admins, viewers and the customer see bookings at all);
    /// `{"erased": true}` once the customer was erased; `null` when none was given.
    #[serde(default)]
    #[schema(value_type = Option<ShownCustomer>)]
    pub customer: Option<CustomerView>,
    pub status: BookingStatus,
    /// When a hold expires unless confirmed; `null` for other bookings.
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    /// The service booked, if any.
    pub service_id: Option<Uuid>,
    /// The price as it was at booking time (the service's, or one an admin set); `null`:
    /// unpriced.
    pub price: Option<Price>,
    /// The series this booking is an occurrence of; `null` for a single booking.
    pub series_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Booking> for BookingView {
    fn from(booking: &Booking) -> Self {
        Self {
            id: booking.id.0,
            resource_id: booking.resource_id.0,
            start: booking.period.start(),
            end: booking.period.end(),
            quantity: booking.quantity,
            customer_id: booking.customer_id.0.clone(),
            customer: booking.customer.clone().map(CustomerView::Sealed),
            status: booking.status,
            expires_at: booking.expires_at,
            metadata: booking.metadata.clone(),
            service_id: booking.service_id.map(|id| id.0),
            price: booking.price.clone(),
            series_id: booking.series_id.map(|id| id.0),
            version: booking.version,
            created_at: booking.created_at,
            updated_at: booking.updated_at,
        }
    }
}

/// A booking's personal data. Inside the services it may still be [`CustomerView::Sealed`]
/// (as events, read models and stored answers hold it); every answer opens it first
/// ([`CustomerView::opened`]), so clients only ever see the other two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerView {
    Sealed(Sealed),
    Erased(Erased),
    Shown(PersonalData),
}

impl CustomerView {
    /// What an answer shows of sealed data: the data, or (its key destroyed) that it was erased.
    pub fn opened(data: Option<PersonalData>) -> CustomerView {
        match data {
            Some(data) => CustomerView::Shown(data),
            None => CustomerView::Erased(Erased { erased: true }),
        }
    }

    pub fn sealed(&self) -> Option<&Sealed> {
        match self {
            CustomerView::Sealed(sealed) => Some(sealed),
            _ => None,
        }
    }
}

/// A recurring series: what it was asked for, and the occurrences it booked or skipped when it
/// was created. Its occurrences are ordinary bookings carrying its id as `series_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesView {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub customer_id: String,
    /// The first occurrence's start.
    pub start: DateTime<Utc>,
    /// The first occurrence's end.
    pub end: DateTime<Utc>,
    /// The rule, in canonical form (parts in the order FREQ, INTERVAL, BYDAY, BYMONTHDAY,
    /// COUNT/UNTIL).
    #[schema(examples("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20"))]
    pub rrule: String,
    pub on_conflict: OnConflict,
    pub quantity: u32,
    /// Every occurrence was placed as a hold.
    pub hold: bool,
    pub service_id: Option<Uuid>,
    pub metadata: Map<String, Value>,
    /// The bookings it placed, in order of their start.
    pub booking_ids: Vec<Uuid>,
    /// The occurrences it did not book (`skip`), with the code each was refused with.
    pub skipped: Vec<OccurrenceView>,
    /// Grows by one with every change (a cancellation).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An occurrence of a series that was not booked: its period and the `code` a single booking
/// of it was refused with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OccurrenceView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[schema(examples("slot_unavailable"))]
    pub code: String,
}

impl From<&Skipped> for OccurrenceView {
    fn from(skipped: &Skipped) -> Self {
        Self {
            start: skipped.period.start(),
            end: skipped.period.end(),
            code: skipped.code.clone(),
        }
    }
}

/// `{"erased": true}`: the customer's personal data was erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Erased {
    /// Always `true`.
    pub erased: bool,
}

/// A booking's `customer` as answers show it (the OpenAPI description of [`CustomerView`]).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ShownCustomer {
    Shown(PersonalData),
    Erased(Erased),
}

impl From<&Series> for SeriesView {
    fn from(series: &Series) -> Self {
        let spec = &series.spec;
        Self {
            id: series.id.0,
            resource_id: spec.resource_id.0,
            customer_id: spec.customer_id.0.clone(),
            start: spec.period.start(),
            end: spec.period.end(),
            rrule: spec.rrule.to_string(),
            on_conflict: spec.on_conflict,
            quantity: spec.quantity,
            hold: spec.hold,
            service_id: spec.service_id.map(|id| id.0),
            metadata: spec.metadata.clone(),
            booking_ids: series.booking_ids.iter().map(|id| id.0).collect(),
            skipped: series.skipped.iter().map(OccurrenceView::from).collect(),
            version: series.version,
            created_at: series.created_at,
            updated_at: series.updated_at,
        }
    }
}

/// What creating a series answers with (besides the position).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesAnswer {
    pub series: SeriesView,
    /// The occurrences booked, in order of their start.
    pub bookings: Vec<BookingView>,
    /// The occurrences not booked (`skip` only; empty with `fail`).
    pub skipped: Vec<OccurrenceView>,
}

/// What cancelling a series answers with (besides the position).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesCancelAnswer {
    pub series: SeriesView,
    /// The ids of the occurrences this request cancelled, in order of their start.
    pub cancelled: Vec<Uuid>,
}

/// A series with every one of its occurrences (`GET /v1/series/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesDetail {
    pub series: SeriesView,
    /// Every booking of the series as it is now (cancelled ones too), in order of their start.
    pub occurrences: Vec<BookingView>,
}

/// A service: what a customer books on a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceView {
    pub id: Uuid,
    pub name: String,
    pub duration_minutes: u32,
    pub price: Price,
    pub buffer_before_minutes: u32,
    pub buffer_after_minutes: u32,
    /// The resources it is offered on (with `resource_kind`: either matches; both empty or
    /// absent: every resource).
    pub resource_ids: Vec<Uuid>,
    pub resource_kind: Option<String>,
    /// A retired service takes no new bookings.
    pub archived: bool,
    /// Grows by one with every change; send it as `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Service> for ServiceView {
    fn from(service: &Service) -> Self {
        let spec = &service.spec;
        Self {
            id: service.id.0,
            name: spec.name.clone(),
            duration_minutes: spec.duration_minutes,
            price: spec.price.clone(),
            buffer_before_minutes: spec.buffer_before_minutes,
            buffer_after_minutes: spec.buffer_after_minutes,
            resource_ids: spec.resource_ids.iter().map(|id| id.0).collect(),
            resource_kind: spec.resource_kind.clone(),
            archived: spec.archived,
            version: service.version,
            created_at: service.created_at,
            updated_at: service.updated_at,
        }
    }
}

/// What a command on a service answers with (besides the position).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceAnswer {
    pub service: ServiceView,
}

/// What a command on a resource answers with (besides the position).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceAnswer {
    pub resource: ResourceView,
}

/// What a command on a booking answers with (besides the position).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BookingAnswer {
    pub booking: BookingView,
}

/// What adding a blackout answers with (besides the position).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlackoutAnswer {
    pub blackout: BlackoutView,
}

/// A command answer that carries nothing but its position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Nothing {}

/// A command's answer: what it wrote, and the position token of the write (usable as
/// `min_position` on query-api).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Written<T> {
    #[serde(flatten)]
    pub subject: T,
    /// An opaque token of the write: pass it as `min_position` to query-api to read it.
    #[schema(examples("812.4711"))]
    pub position: String,
}
