//! What the clients saw: every command sent, with how it ended, and the checks they made on the
//! way (idempotent replays, reads of their own writes). The verification holds the engine to it.

use uuid::Uuid;

use super::api::Answer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    CreateResource,
    Place { hold: bool },
    Confirm,
    Approve,
    Decline,
    Cancel,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::CreateResource => "resources created",
            Kind::Place { hold: false } => "bookings placed (confirmed, or pending approval)",
            Kind::Place { hold: true } => "holds placed",
            Kind::Confirm => "holds confirmed",
            Kind::Approve => "pending bookings approved",
            Kind::Decline => "pending bookings declined",
            Kind::Cancel => "bookings cancelled",
        }
    }
}

/// One logical command: however often it was sent, one key and one correlation id.
#[derive(Clone, Debug)]
pub struct Command {
    pub kind: Kind,
    /// Sent as `X-Request-Id`; the engine keeps it in the events as `correlation_id`.
    pub correlation: Uuid,
    /// The booking it acts on (for a placement: the one the engine answered with).
    pub booking: Option<Uuid>,
    pub answer: Answer,
}

#[derive(Default)]
pub struct Ledger {
    pub commands: Vec<Command>,
    /// Commands sent a second time on purpose after their answer, with the same key.
    pub replays: u64,
    /// Replays whose answer was not byte for byte the first one.
    pub replay_mismatches: Vec<String>,
    /// Reads with `min_position` of a client's own booking.
    pub own_reads: u64,
    /// Such reads that still showed the booked period free.
    pub own_read_violations: Vec<String>,
    /// Availability reads by the readers, and how many were cache hits.
    pub reads: u64,
    pub read_hits: u64,
}
