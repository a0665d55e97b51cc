//! Events: the persisted contract.
//!
//! Each event has a stable `type` string and a `schema_version`. Stored payloads are the event's
//! fields without the tag; [`Event::decode`] is where an upcaster goes when a schema changes.
//! Never rename a variant or a field without one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{BlackoutId, BookingId, CustomerId, ResourceId};
use crate::period::Period;
use crate::resource::ResourceSpec;

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

/// The status a booking is placed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Held,
    Pending,
    Confirmed,
    Cancelled,
    Declined,
    Expired,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::Pending => "pending",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Declined => "declined",
            BookingStatus::Expired => "expired",
        }
    }

    /// Whether a booking in this status occupies its slot.
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            BookingStatus::Held | BookingStatus::Pending | BookingStatus::Confirmed
        )
    }
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
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
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
}

/// The kind of stream an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    Resource,
    Booking,
}

impl StreamType {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::Resource => "resource",
            StreamType::Booking => "booking",
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
        }
    }

    /// The schema version written today. Bump it together with an upcaster in `decode`.
    pub fn schema_version(&self) -> i16 {
        1
    }

    pub fn stream_type(&self) -> StreamType {
        match self {
            Event::ResourceCreated(_)
            | Event::ResourceUpdated(_)
            | Event::BlackoutAdded(_)
            | Event::BlackoutRemoved(_) => StreamType::Resource,
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
        if schema_version != 1 {
            return Err(DecodeError::UnknownType {
                event_type: event_type.to_owned(),
                schema_version,
            });
        }
        let mut fields = match payload {
            Value::Object(fields) => fields.clone(),
            _ => Map::new(),
        };
        fields.insert("type".into(), Value::String(event_type.to_owned()));
        serde_json::from_value(Value::Object(fields)).map_err(|source| {
            if source.to_string().contains("unknown variant") {
                DecodeError::UnknownType {
                    event_type: event_type.to_owned(),
                    schema_version,
                }
            } else {
                DecodeError::Invalid {
                    event_type: event_type.to_owned(),
                    source,
                }
            }
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
            status: BookingStatus::Confirmed,
            expires_at: None,
            metadata: Map::new(),
        });
        let payload = event.payload();
        assert!(payload.get("type").is_none());
        assert_eq!(payload["start"], "2026-12-01T09:00:00Z");
        let decoded = Event::decode(event.event_type(), event.schema_version(), &payload).unwrap();
        assert_eq!(decoded, event);
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
    }
}
