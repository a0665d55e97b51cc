//! `CommandError`: every way a command can fail, and how each one is shown to the client.
//!
//! Rejections (a broken rule, a missing object, a taken slot) are `4xx` answers with a `code`
//! and are stored for idempotent retries. Infrastructure failures become `503` (retry later:
//! the database is down, busy or slow) or `500` with an opaque body, as
//! `platform::database` classifies them; their cause is logged there, once.

use axum::http::StatusCode;
use domain::Period;
use domain::booking::BookingError;
use domain::resource::ResourceError;
use platform::Problem;
use platform::database::Fault;
use platform::problem::FieldError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// Any other client-facing refusal, already in its final form.
    #[error("{0}")]
    Rejected(Problem),
    /// The guard refused the allocation; the conflicts are looked up when the answer is built.
    #[error("the slot is not available")]
    SlotUnavailable {
        resource_id: Uuid,
        booking_id: Uuid,
        blocked: Period,
    },
    /// Another writer got to a stream first; the command is retried from the start.
    #[error("a stream was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for CommandError {
    fn from(err: sqlx::Error) -> Self {
        // A deadlock or serialization failure is a lost race, not a fault: retry.
        if platform::database::classify(&err) == Fault::LostRace {
            return CommandError::Conflict;
        }
        CommandError::Database(err)
    }
}

impl From<eventstore::AppendError> for CommandError {
    fn from(err: eventstore::AppendError) -> Self {
        match err {
            eventstore::AppendError::Conflict { .. } => CommandError::Conflict,
            eventstore::AppendError::Database(err) => err.into(),
        }
    }
}

impl CommandError {
    /// Whether this is an answer to the command (stored for idempotent retries) rather than a
    /// failure to answer it.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            CommandError::Booking(_)
                | CommandError::Resource(_)
                | CommandError::Rejected(_)
                | CommandError::SlotUnavailable { .. }
        )
    }

    /// The client's view of the error. `SlotUnavailable` needs its conflicts from the database
    /// first; see `commands::runner`.
    pub fn into_problem(self) -> Problem {
        match self {
            CommandError::Booking(err) => booking_problem(&err),
            CommandError::Resource(err) => resource_problem(err),
            CommandError::Rejected(problem) => problem,
            CommandError::SlotUnavailable { .. } => slot_unavailable(Vec::new()),
            CommandError::Conflict => Problem::unavailable(
                "concurrent_modification",
                "the object was changed concurrently too often; retry",
                1,
            ),
            // Down, busy, slow: a 503 with Retry-After; anything else an opaque 500.
            CommandError::Database(err) => platform::database::problem(&err),
        }
    }
}

/// `409 slot_unavailable` listing the periods (and nothing else) that collide.
pub fn slot_unavailable(conflicts: Vec<Period>) -> Problem {
    let conflicts: Vec<serde_json::Value> = conflicts
        .iter()
        .map(|p| serde_json::json!({ "start": p.start(), "end": p.end() }))
        .collect();
    Problem::new(
        StatusCode::CONFLICT,
        "slot_unavailable",
        "The slot is not available",
        "another booking (with its buffers) already holds this time",
    )
    .with_extra("conflicts", conflicts)
}

fn booking_problem(err: &BookingError) -> Problem {
    let unprocessable = |code, title| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            title,
            err.to_string(),
        )
    };
    match err {
        BookingError::InvalidQuantity => Problem::invalid_field("quantity", err.to_string()),
        BookingError::MetadataTooLarge => Problem::invalid_field("metadata", err.to_string()),
        BookingError::QuantityExceedsCapacity { capacity } => {
            unprocessable("quantity_exceeds_capacity", "Quantity exceeds capacity")
                .with_extra("capacity", *capacity)
        }
        BookingError::DurationOutOfRange { .. } => {
            unprocessable("duration_out_of_range", "Duration out of range")
        }
        BookingError::InsufficientNotice { .. } => {
            unprocessable("insufficient_notice", "Too short notice")
        }
        BookingError::TooFarInAdvance { .. } => {
            unprocessable("too_far_in_advance", "Too far in advance")
        }
        BookingError::OutsideOpeningHours => {
            unprocessable("outside_opening_hours", "Outside opening hours")
        }
        BookingError::InvalidState { .. } => Problem::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "Not possible in the booking's current state",
            err.to_string(),
        ),
        BookingError::HoldExpired => Problem::new(
            StatusCode::GONE,
            "hold_expired",
            "The hold has expired",
            err.to_string(),
        ),
    }
}

fn resource_problem(err: ResourceError) -> Problem {
    match err {
        ResourceError::Invalid(issues) => Problem::validation(
            issues
                .into_iter()
                .map(|issue| FieldError {
                    field: issue.field.to_owned(),
                    message: issue.message.to_owned(),
                })
                .collect(),
        ),
        ResourceError::BlackoutNotFound => {
            Problem::not_found("blackout_not_found", "the resource has no such blackout")
        }
    }
}

/// `404 resource_not_found`.
pub fn resource_not_found() -> CommandError {
    CommandError::Rejected(Problem::not_found(
        "resource_not_found",
        "no resource with this id",
    ))
}

/// `404 booking_not_found`.
pub fn booking_not_found() -> CommandError {
    CommandError::Rejected(Problem::not_found(
        "booking_not_found",
        "no booking with this id",
    ))
}
