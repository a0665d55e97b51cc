//! Events: the persisted contract.
//!
//! Each event has a stable `type` string and a `schema_version`. Stored payloads are the event's
//! fields without the tag; [`Event::decode`] is where an upcaster goes when a schema changes.
//! Never rename a variant or a field without one.
//!
//! Versions: every event is at version 1 but `BookingPlaced`, at 2 since it may carry the
//! `series_id` of the series it is an occurrence of. A version-1 `BookingPlaced` is read as
//! one outside any series (its upcaster); a reader that knows only version 1 refuses a
//! version-2 event loudly (a dead letter) rather than dropping the field silently.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{BlackoutId, BookingId, CustomerId, ResourceId, SeriesId, ServiceId};
pub use crate::lifecycle::BookingStatus;
use crate::period::Period;
use crate::personal::Sealed;
use crate::resource::ResourceSpec;
use crate::series::{SeriesSpec, Skipped};
use crate::service::{Price, ServiceSpec};

/// The schema version of `BookingPlaced` written today (see the module documentation).
pub const BOOKING_PLACED_VERSION: i16 = 2;

/// `SeriesCreated`: a recurring series exists, with what it was asked for, the occurrences it
/// booked (each an ordinary booking whose `BookingPlaced` carries this `series_id`, written in
/// the same transaction just before) and those it skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesCreated {
    pub series_id: SeriesId,
    #[serde(flatten)]
    pub spec: SeriesSpec,
    pub booking_ids: Vec<BookingId>,
    pub skipped: Vec<Skipped>,
}

/// `SeriesCancelled`: the series' occurrences starting at or after `from` were cancelled (each
/// by its own `BookingCancelled`, written in the same transaction just before); `booking_ids`
/// are those this cancellation cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesCancelled {
    pub series_id: SeriesId,
    pub from: DateTime<Utc>,
    pub booking_ids: Vec<BookingId>,
}

/// `ServiceCreated`: a service exists, with its full description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCreated {
    pub service_id: ServiceId,
    #[serde(flatten)]
    pub spec: ServiceSpec,
}

/// `ServiceUpdated`: the service's full description after a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceUpdated {
    pub service_id: ServiceId,
    #[serde(flatten)]
    pub spec: ServiceSpec,
}

/// `ResourceCreated`: a resource exists, with its full description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCreated {
    pub resource_id: ResourceId,
    #[serde(flatten)]
    pub spec: ResourceSpec,
}

/// `ResourceUpdated`: the resource's full description after a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceUpdated {
    pub resource_id: ResourceId,
    #[serde(flatten)]
    pub spec: ResourceSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlackoutAdded {
    pub resource_id: ResourceId,
    pub blackout_id: BlackoutId,
    #[serde(flatten)]
    pub period: Period,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlackoutRemoved {
    pub resource_id: ResourceId,
    pub blackout_id: BlackoutId,
}

/// `BookingPlaced`: a booking (or a hold) took `units` of the resource over `blocked`
/// (its period widened by the resource's buffers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingPlaced {
    pub booking_id: BookingId,
    pub resource_id: ResourceId,
    #[serde(flatten)]
    pub period: Period,
    pub blocked: Period,
    pub units: Vec<u32>,
    pub quantity: u32,
    pub customer_id: CustomerId,
    /// The customer's personal data, sealed with the customer's key (absent when none was
    /// given, and in events older than personal data). See [`crate::personal`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Sealed>,
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    /// The service booked, if any (absent in events older than services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<ServiceId>,
    /// The price as it was at booking time: the service's, or one an admin set (absent in
    /// events older than prices, and for unpriced bookings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// The series this booking is an occurrence of (schema version 2; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_id: Option<SeriesId>,
}

/// A status change that carries nothing but who and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingTransition {
    pub booking_id: BookingId,
    pub resource_id: ResourceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `BookingRescheduled`: the booking moved to a new period and units, atomically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRescheduled {
    pub booking_id: BookingId,
    pub resource_id: ResourceId,
    #[serde(flatten)]
    pub period: Period,
    pub blocked: Period,
    pub units: Vec<u32>,
    pub previous: Period,
}

/// `BookingMarkedNoShow`: the customer did not come. The booking keeps its units only over
/// `blocked`: its blocked period cut off when the no-show was recorded (unchanged if that was
/// after its end); the rest is free for others from then on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingMarkedNoShow {
    pub booking_id: BookingId,
    pub resource_id: ResourceId,
    pub blocked: Period,
}

/// `CustomerErased`: the customer's personal data was erased (its key destroyed), on the
/// customer's own stream. Bookings keep their sealed copies, unreadable from now on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerErased {
    pub customer_id: CustomerId,
}

/// Every event of the system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    ResourceCreated(ResourceCreated),
    ResourceUpdated(ResourceUpdated),
    BlackoutAdded(BlackoutAdded),
    BlackoutRemoved(BlackoutRemoved),
    BookingPlaced(BookingPlaced),
    /// A hold was confirmed.
    BookingConfirmed(BookingTransition),
    /// A hold was confirmed on a resource that requires approval: now pending.
    BookingSubmittedForApproval(BookingTransition),
    BookingApproved(BookingTransition),
    BookingDeclined(BookingTransition),
    BookingCancelled(BookingTransition),
    HoldExpired(BookingTransition),
    BookingRescheduled(BookingRescheduled),
    /// A confirmed booking's customer checked in.
    BookingCheckedIn(BookingTransition),
    /// A checked-in (or started) booking is over.
    BookingCompleted(BookingTransition),
    BookingMarkedNoShow(BookingMarkedNoShow),
    ServiceCreated(ServiceCreated),
    ServiceUpdated(ServiceUpdated),
    CustomerErased(CustomerErased),
    SeriesCreated(SeriesCreated),
    SeriesCancelled(SeriesCancelled),
}

/// The kind of stream an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    Resource,
    Booking,
    Service,
    /// A customer's stream: what happened to the customer itself (its erasure).
    Customer,
    Series,
}

impl StreamType {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::Resource => "resource",
            StreamType::Booking => "booking",
            StreamType::Service => "service",
            StreamType::Customer => "customer",
            StreamType::Series => "series",
        }
    }
}

/// A stored event that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {event_type:?} version {schema_version}")]
    UnknownType {
        event_type: String,
        schema_version: i16,
    },
    #[error("event {event_type} does not match its schema: {source}")]
    Invalid {
        event_type: String,
        source: serde_json::Error,
    },
}

impl Event {
    /// The stable `type` string.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::ResourceCreated(_) => "ResourceCreated",
            Event::ResourceUpdated(_) => "ResourceUpdated",
            Event::BlackoutAdded(_) => "BlackoutAdded",
            Event::BlackoutRemoved(_) => "BlackoutRemoved",
            Event::BookingPlaced(_) => "BookingPlaced",
            Event::BookingConfirmed(_) => "BookingConfirmed",
            Event::BookingSubmittedForApproval(_) => "BookingSubmittedForApproval",
            Event::BookingApproved(_) => "BookingApproved",
            Event::BookingDeclined(_) => "BookingDeclined",
            Event::BookingCancelled(_) => "BookingCancelled",
            Event::HoldExpired(_) => "HoldExpired",
            Event::BookingRescheduled(_) => "BookingRescheduled",
            Event::BookingCheckedIn(_) => "BookingCheckedIn",
            Event::BookingCompleted(_) => "BookingCompleted",
            Event::BookingMarkedNoShow(_) => "BookingMarkedNoShow",
            Event::ServiceCreated(_) => "ServiceCreated",
            Event::ServiceUpdated(_) => "ServiceUpdated",
            Event::CustomerErased(_) => "CustomerErased",
            Event::SeriesCreated(_) => "SeriesCreated",
            Event::SeriesCancelled(_) => "SeriesCancelled",
        }
    }

    /// The schema version written today. Bump it together with an upcaster in `decode`.
    pub fn schema_version(&self) -> i16 {
        match self {
            Event::BookingPlaced(_) => BOOKING_PLACED_VERSION,
            _ => 1,
        }
    }

    pub fn stream_type(&self) -> StreamType {
        match self {
            Event::ResourceCreated(_)
            | Event::ResourceUpdated(_)
            | Event::BlackoutAdded(_)
            | Event::BlackoutRemoved(_) => StreamType::Resource,
            Event::ServiceCreated(_) | Event::ServiceUpdated(_) => StreamType::Service,
            Event::CustomerErased(_) => StreamType::Customer,
            Event::SeriesCreated(_) | Event::SeriesCancelled(_) => StreamType::Series,
            _ => StreamType::Booking,
        }
    }

    /// The payload to store: the fields without the `type` tag.
    pub fn payload(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut fields)) => {
                fields.remove("type");
                Value::Object(fields)
            }
            // Every variant is a struct, so serialization yields an object.
            _ => Value::Object(Map::new()),
        }
    }

    /// Reads a stored event, upcasting older schema versions.
    pub fn decode(
        event_type: &str,
        schema_version: i16,
        payload: &Value,
    ) -> Result<Event, DecodeError> {
        // A payload that is not an object is read as an empty one (it then lacks its fields).
        let empty = Value::Object(Map::new());
        let payload = if payload.is_object() { payload } else { &empty };
        Self::decode_from(event_type, schema_version, payload)
    }

    /// Reads a stored event straight from its payload's JSON text, without building a
    /// [`Value`] first: the same result as [`Event::decode`] of the parsed text, for readers
    /// that get the text (a replay of millions of events).
    pub fn decode_json(
        event_type: &str,
        schema_version: i16,
        payload: &str,
    ) -> Result<Event, DecodeError> {
        let payload = if payload.trim_start().starts_with('{') {
            payload
        } else {
            "{}"
        };
        let mut json = serde_json::Deserializer::from_str(payload);
        let event = Self::decode_from(event_type, schema_version, &mut json)?;
        json.end().map_err(|source| DecodeError::Invalid {
            event_type: event_type.to_owned(),
            source,
        })?;
        Ok(event)
    }

    /// The payload holds the variant's fields and the type is known: deserialize that variant
    /// directly (no tag to insert, no copy of the payload, no buffering to find the tag).
    fn decode_from<'de, D>(
        event_type: &str,
        schema_version: i16,
        payload: D,
    ) -> Result<Event, DecodeError>
    where
        D: serde::Deserializer<'de, Error = serde_json::Error>,
    {
        let known = match event_type {
            "BookingPlaced" => (1..=BOOKING_PLACED_VERSION).contains(&schema_version),
            _ => schema_version == 1,
        };
        if !known {
            return Err(DecodeError::UnknownType {
                event_type: event_type.to_owned(),
                schema_version,
            });
        }
        let event = match event_type {
            "ResourceCreated" => ResourceCreated::deserialize(payload).map(Event::ResourceCreated),
            "ResourceUpdated" => ResourceUpdated::deserialize(payload).map(Event::ResourceUpdated),
            "BlackoutAdded" => BlackoutAdded::deserialize(payload).map(Event::BlackoutAdded),
            "BlackoutRemoved" => BlackoutRemoved::deserialize(payload).map(Event::BlackoutRemoved),
            "BookingPlaced" => BookingPlaced::deserialize(payload).map(|mut placed| {
                // Version 1 predates series: whatever it holds, it is in none.
                if schema_version == 1 {
                    placed.series_id = None;
                }
                Event::BookingPlaced(placed)
            }),
            "BookingConfirmed" => {
                BookingTransition::deserialize(payload).map(Event::BookingConfirmed)
            }
            "BookingSubmittedForApproval" => {
                BookingTransition::deserialize(payload).map(Event::BookingSubmittedForApproval)
            }
            "BookingApproved" => {
                BookingTransition::deserialize(payload).map(Event::BookingApproved)
            }
            "BookingDeclined" => {
                BookingTransition::deserialize(payload).map(Event::BookingDeclined)
            }
            "BookingCancelled" => {
                BookingTransition::deserialize(payload).map(Event::BookingCancelled)
            }
            "HoldExpired" => BookingTransition::deserialize(payload).map(Event::HoldExpired),
            "BookingRescheduled" => {
                BookingRescheduled::deserialize(payload).map(Event::BookingRescheduled)
            }
            "BookingCheckedIn" => {
                BookingTransition::deserialize(payload).map(Event::BookingCheckedIn)
            }
            "BookingCompleted" => {
                BookingTransition::deserialize(payload).map(Event::BookingCompleted)
            }
            "BookingMarkedNoShow" => {
                BookingMarkedNoShow::deserialize(payload).map(Event::BookingMarkedNoShow)
            }
            "ServiceCreated" => ServiceCreated::deserialize(payload).map(Event::ServiceCreated),
            "ServiceUpdated" => ServiceUpdated::deserialize(payload).map(Event::ServiceUpdated),
            "CustomerErased" => CustomerErased::deserialize(payload).map(Event::CustomerErased),
            "SeriesCreated" => SeriesCreated::deserialize(payload).map(Event::SeriesCreated),
            "SeriesCancelled" => SeriesCancelled::deserialize(payload).map(Event::SeriesCancelled),
            _ => {
                return Err(DecodeError::UnknownType {
                    event_type: event_type.to_owned(),
                    schema_version,
                });
            }
        };
        event.map_err(|source| DecodeError::Invalid {
            event_type: event_type.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_event_round_trips_through_its_stored_form() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let period = Period::new(start, start + chrono::Duration::hours(1)).unwrap();
        let event = Event::BookingPlaced(BookingPlaced {
            booking_id: BookingId::generate(),
            resource_id: ResourceId::generate(),
            period,
            blocked: period,
            units: vec![0],
            quantity: 1,
            customer_id: CustomerId("alice".into()),
            customer: None,
            status: BookingStatus::Confirmed,
            expires_at: None,
            metadata: Map::new(),
            service_id: None,
            price: None,
            series_id: None,
        });
        let payload = event.payload();
        assert!(payload.get("type").is_none());
        assert_eq!(payload["start"], "2026-12-01T09:00:00Z");
        let decoded = Event::decode(event.event_type(), event.schema_version(), &payload).unwrap();
        assert_eq!(decoded, event);
    }

    #[test]
    fn every_event_decodes_the_same_from_its_value_and_from_its_text() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let period = Period::new(start, start + chrono::Duration::hours(1)).unwrap();
        let (booking_id, resource_id) = (BookingId::generate(), ResourceId::generate());
        let transition = BookingTransition {
            booking_id,
            resource_id,
            reason: Some("tab\there \"quoted\" ünïcødé".into()),
        };
        let mut metadata = Map::new();
        metadata.insert(
            "nested".into(),
            serde_json::json!({"list": [1, 2.5, null, "x"]}),
        );
        let events = vec![
            Event::BookingPlaced(BookingPlaced {
                booking_id,
                resource_id,
                period,
                blocked: period,
                units: vec![0, 3],
                quantity: 2,
                customer_id: CustomerId("alice".into()),
                customer: Some(Sealed {
                    alg: "CHACHA20-POLY1305".into(),
                    key_id: uuid::Uuid::nil(),
                    nonce: "AAAA".into(),
                    ciphertext: "BBBB".into(),
                }),
                status: BookingStatus::Held,
                expires_at: Some(start),
                metadata,
                service_id: Some(ServiceId::generate()),
                price: Some(Price {
                    amount_minor: 2500,
                    currency: "EUR".into(),
                }),
                series_id: Some(SeriesId::generate()),
            }),
            Event::BookingConfirmed(transition.clone()),
            Event::BookingSubmittedForApproval(transition.clone()),
            Event::BookingApproved(transition.clone()),
            Event::BookingDeclined(transition.clone()),
            Event::BookingCancelled(transition.clone()),
            Event::HoldExpired(transition.clone()),
            Event::BookingCheckedIn(transition.clone()),
            Event::BookingCompleted(transition),
            Event::BookingMarkedNoShow(BookingMarkedNoShow {
                booking_id,
                resource_id,
                blocked: period,
            }),
            Event::BookingRescheduled(BookingRescheduled {
                booking_id,
                resource_id,
                period,
                blocked: period,
                units: vec![1],
                previous: period,
            }),
            Event::BlackoutAdded(BlackoutAdded {
                resource_id,
                blackout_id: BlackoutId::generate(),
                period,
                reason: "works".into(),
            }),
            Event::BlackoutRemoved(BlackoutRemoved {
                resource_id,
                blackout_id: BlackoutId::generate(),
            }),
            Event::CustomerErased(CustomerErased {
                customer_id: CustomerId("alice".into()),
            }),
        ];
        for event in events {
            let payload = event.payload();
            let text = payload.to_string();
            let (kind, version) = (event.event_type(), event.schema_version());
            assert_eq!(Event::decode(kind, version, &payload).unwrap(), event);
            assert_eq!(Event::decode_json(kind, version, &text).unwrap(), event);
        }
    }

    #[test]
    fn a_booking_placed_before_services_decodes_without_service_or_price() {
        let payload = serde_json::json!({
            "booking_id": BookingId::generate(), "resource_id": ResourceId::generate(),
            "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z",
            "blocked": {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z"},
            "units": [0], "quantity": 1, "customer_id": "alice", "status": "confirmed",
            "expires_at": null, "metadata": {}
        });
        match Event::decode_json("BookingPlaced", 1, &payload.to_string()).unwrap() {
            Event::BookingPlaced(placed) => {
                assert_eq!((placed.service_id, placed.price), (None, None));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_version_1_booking_placed_is_upcast_to_one_outside_any_series() {
        let series_id = SeriesId::generate();
        let payload = serde_json::json!({
            "booking_id": BookingId::generate(), "resource_id": ResourceId::generate(),
            "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z",
            "blocked": {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z"},
            "units": [0], "quantity": 1, "customer_id": "alice", "status": "confirmed",
            "expires_at": null, "metadata": {}, "series_id": series_id
        });
        let series_of = |version: i16| match Event::decode("BookingPlaced", version, &payload) {
            Ok(Event::BookingPlaced(placed)) => placed.series_id,
            other => panic!("{other:?}"),
        };
        // Version 1 has no series (a field of that name in it means nothing); version 2 does.
        assert_eq!(series_of(1), None);
        assert_eq!(series_of(2), Some(series_id));
        assert!(matches!(
            Event::decode("BookingPlaced", 3, &payload),
            Err(DecodeError::UnknownType { .. })
        ));
        assert!(matches!(
            Event::decode("SeriesCreated", 2, &payload),
            Err(DecodeError::UnknownType { .. })
        ));
    }

    #[test]
    fn series_events_round_trip_through_their_stored_form() {
        let start = Utc.with_ymd_and_hms(2027, 3, 1, 9, 0, 0).unwrap();
        let period = Period::new(start, start + chrono::Duration::hours(1)).unwrap();
        let spec = SeriesSpec {
            resource_id: ResourceId::generate(),
            customer_id: CustomerId("alice".into()),
            period,
            rrule: "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4".parse().unwrap(),
            on_conflict: crate::series::OnConflict::Skip,
            quantity: 1,
            hold: false,
            service_id: None,
            metadata: Map::new(),
        };
        let events = [
            Event::SeriesCreated(SeriesCreated {
                series_id: SeriesId::generate(),
                spec,
                booking_ids: vec![BookingId::generate(), BookingId::generate()],
                skipped: vec![Skipped {
                    period,
                    code: "slot_unavailable".into(),
                }],
            }),
            Event::SeriesCancelled(SeriesCancelled {
                series_id: SeriesId::generate(),
                from: start,
                booking_ids: vec![BookingId::generate()],
            }),
        ];
        for event in events {
            let payload = event.payload();
            let (kind, version) = (event.event_type(), event.schema_version());
            assert_eq!(event.stream_type(), StreamType::Series);
            assert_eq!(Event::decode(kind, version, &payload).unwrap(), event);
            assert_eq!(
                Event::decode_json(kind, version, &payload.to_string()).unwrap(),
                event
            );
        }
    }

    #[test]
    fn a_payload_that_is_not_an_object_or_not_the_events_is_invalid_either_way() {
        for text in ["[]", "1", "null", r#"{"booking_id": 5}"#, "{} trailing"] {
            let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            assert!(matches!(
                Event::decode("BookingCancelled", 1, &value),
                Err(DecodeError::Invalid { .. })
            ));
            assert!(
                matches!(
                    Event::decode_json("BookingCancelled", 1, text),
                    Err(DecodeError::Invalid { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn an_unknown_type_or_version_is_reported_not_guessed() {
        let payload = serde_json::json!({});
        assert!(matches!(
            Event::decode("BookingTeleported", 1, &payload),
            Err(DecodeError::UnknownType { .. })
        ));
        assert!(matches!(
            Event::decode("HoldExpired", 9, &payload),
            Err(DecodeError::UnknownType { .. })
        ));
        assert!(matches!(
            Event::decode_json("BookingTeleported", 1, "{}"),
            Err(DecodeError::UnknownType { .. })
        ));
    }
}
