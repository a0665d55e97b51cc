//! The events' form on NATS, shared by the relay that publishes them, the projectors that
//! consume them and anyone checking them: subjects, header names, and the test a received
//! message must pass before anything trusts it.
//!
//! NATS is the transport, Postgres the truth. A message says which event it carries (its
//! position and id), but anyone allowed to publish on the subject can say anything: a message is
//! only ever taken as the event the store holds at that position, and only if its body is that
//! event ([`Verdict`]).

use uuid::Uuid;

use crate::position::Position;
use crate::read::RecordedEvent;

/// The position of the event in the message.
pub const HEADER_POSITION: &str = "Bookings-Position";
/// The position of the event the relay published before it (a chain, to see holes).
pub const HEADER_PREVIOUS: &str = "Bookings-Previous-Position";
pub const HEADER_STREAM: &str = "Bookings-Stream-Id";
pub const HEADER_VERSION: &str = "Bookings-Stream-Version";
pub const HEADER_TYPE: &str = "Bookings-Event-Type";
/// The W3C trace context of the command that wrote the event, when it had one.
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// Where an event's metadata keeps that trace context.
pub const METADATA_TRACEPARENT: &str = "traceparent";

/// The trace context an event's metadata carries, if any.
pub fn traceparent(event: &RecordedEvent) -> Option<&str> {
    event.metadata.get(METADATA_TRACEPARENT)?.as_str()
}

/// The subject of one event: `{prefix}.{tenant}.{type}`.
pub fn subject(prefix: &str, event: &RecordedEvent) -> String {
    format!("{prefix}.{}.{}", event.tenant_id, event.event_type)
}

/// Every events subject under `prefix`.
pub fn all_subjects(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// What a received message claims to be, as read from its headers (falling back to its body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub position: Position,
    pub event_id: Option<Uuid>,
}

impl Claim {
    /// Reads the claim of a message from its `Bookings-Position` and `Nats-Msg-Id` header values
    /// and its body. `None` when it names no position at all.
    pub fn read(position: Option<&str>, msg_id: Option<&str>, body: &[u8]) -> Option<Claim> {
        let event_id = msg_id.and_then(|id| id.parse().ok());
        let position = match position.and_then(|p| p.parse().ok()) {
            Some(position) => position,
            None => serde_json::from_slice::<RecordedEvent>(body).ok()?.position,
        };
        Some(Claim { position, event_id })
    }
}

/// What a message turned out to be, against the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its id and body are those of the event stored at its position.
    Genuine,
    /// It names a position past anything the store has written.
    BeyondHead,
    /// The store has no event at its position, or a different one: a forgery or garbage.
    Mismatch,
}

impl Verdict {
    /// A label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Genuine => "genuine",
            Verdict::BeyondHead => "beyond_head",
            Verdict::Mismatch => "mismatch",
        }
    }
}

/// Judges a message that claims `claim`, with body `body`, against `stored`, the event the store
/// holds at the claimed position (if any), knowing the store has written nothing past `head`.
pub fn judge(claim: Claim, body: &[u8], stored: Option<&RecordedEvent>, head: Position) -> Verdict {
    if claim.position > head {
        return Verdict::BeyondHead;
    }
    let Some(stored) = stored.filter(|s| s.position == claim.position) else {
        return Verdict::Mismatch;
    };
    if claim.event_id.is_some_and(|id| id != stored.event_id) {
        return Verdict::Mismatch;
    }
    match serde_json::from_slice::<RecordedEvent>(body) {
        Ok(received) if received == *stored => Verdict::Genuine,
        _ => Verdict::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;

    fn stored() -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::from_u128(7),
            event_type: "BookingPlaced".into(),
            schema_version: 1,
            tenant_id: "acme".into(),
            stream_id: Uuid::from_u128(9),
            stream_version: 1,
            position: Position::new(100, 5),
            recorded_at: Utc
                .with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
                .single()
                .expect("a time"),
            payload: json!({"booking_id": Uuid::from_u128(9)}),
            metadata: json!({}),
        }
    }

    fn claim_of(event: &RecordedEvent) -> Claim {
        Claim {
            position: event.position,
            event_id: Some(event.event_id),
        }
    }

    #[test]
    fn the_relays_own_message_is_genuine() {
        let event = stored();
        let body = serde_json::to_vec(&event).expect("json");
        let claim = Claim::read(
            Some(&event.position.to_string()),
            Some(&event.event_id.to_string()),
            &body,
        )
        .expect("a claim");
        assert_eq!(claim, claim_of(&event));
        assert_eq!(
            judge(claim, &body, Some(&event), event.position),
            Verdict::Genuine
        );
    }

    #[test]
    fn a_position_past_the_head_is_refused_whatever_the_body() {
        let event = stored();
        let body = serde_json::to_vec(&event).expect("json");
        let claim = Claim {
            position: "9223372036854775000.1".parse().expect("a position"),
            event_id: None,
        };
        assert_eq!(
            judge(claim, &body, None, event.position),
            Verdict::BeyondHead
        );
    }

    #[test]
    fn a_changed_body_or_id_or_an_empty_position_is_a_mismatch() {
        let event = stored();
        let mut changed = event.clone();
        changed.payload = json!({"booking_id": Uuid::from_u128(10)});
        let forged = serde_json::to_vec(&changed).expect("json");
        let head = Position::new(200, 9);
        assert_eq!(
            judge(claim_of(&event), &forged, Some(&event), head),
            Verdict::Mismatch
        );
        let body = serde_json::to_vec(&event).expect("json");
        let other_id = Claim {
            event_id: Some(Uuid::from_u128(8)),
            ..claim_of(&event)
        };
        assert_eq!(
            judge(other_id, &body, Some(&event), head),
            Verdict::Mismatch
        );
        assert_eq!(
            judge(claim_of(&event), &body, None, head),
            Verdict::Mismatch
        );
        assert_eq!(
            judge(claim_of(&event), b"not json", Some(&event), head),
            Verdict::Mismatch
        );
    }
}
