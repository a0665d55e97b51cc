//! `CommandError`: every way a command can end without its effect, and how each one is shown
//! to the client.
//!
//! Rejections (a broken rule, a missing object, a taken slot) are `4xx` answers with a `code`
//! and are stored for idempotent retries. A lost race is retried by the runner; a defect (a
//! broken invariant: a bug) is never retried and answers an opaque `500`, logged once here.
//! Infrastructure failures become `503` (retry later: the database is down, busy or slow) or
//! `500`, as `platform::database` classifies them.

use api::ErrorCode;
use api::code::Coded;
use domain::Period;
use domain::booking::BookingError;
use domain::resource::ResourceError;
use domain::series::SeriesError;
use domain::service::ServiceError;
use platform::Problem;
use platform::database::Fault;
use platform::problem::FieldError;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error(transparent)]
    Resource(#[from] ResourceError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Series(#[from] SeriesError),
    /// Any other refusal: its code, what to tell the client, and an extra member of the answer.
    #[error("{code}: {detail}")]
    Refused {
        code: ErrorCode,
        detail: String,
        extra: Option<(&'static str, Value)>,
    },
    /// The guard had no room: what is in the way (periods only; nothing about who holds them).
    #[error("the slot is not available")]
    SlotUnavailable { conflicts: Vec<Period> },
    /// Lost a race (another writer moved a stream first, a deadlock, a serialization failure):
    /// the runner runs the command again from the start.
    #[error("lost a race with a concurrent writer")]
    Retry,
    /// Something that cannot happen did: a bug. Never retried; answered `500`.
    #[error("defect: {0}")]
    Defect(&'static str),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for CommandError {
    fn from(err: sqlx::Error) -> Self {
        // A deadlock or serialization failure is a lost race, not a fault: retry.
        if platform::database::classify(&err) == Fault::LostRace {
            return CommandError::Retry;
        }
        CommandError::Database(err)
    }
}

impl From<eventstore::AppendError> for CommandError {
    fn from(err: eventstore::AppendError) -> Self {
        match err {
            eventstore::AppendError::Conflict { .. } => CommandError::Retry,
            eventstore::AppendError::Database(err) => err.into(),
        }
    }
}

impl CommandError {
    /// A refusal with `code` and `detail`.
    pub fn refused(code: ErrorCode, detail: impl Into<String>) -> Self {
        CommandError::Refused {
            code,
            detail: detail.into(),
            extra: None,
        }
    }

    /// Whether this is an answer to the command (stored for idempotent retries) rather than a
    /// failure to answer it.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            CommandError::Booking(_)
                | CommandError::Resource(_)
                | CommandError::Service(_)
                | CommandError::Series(_)
                | CommandError::Refused { .. }
                | CommandError::SlotUnavailable { .. }
        )
    }

    /// The client's view of the error.
    pub fn into_problem(self) -> Problem {
        match self {
            CommandError::Booking(err) => booking_problem(&err),
            CommandError::Resource(ResourceError::Invalid(issues))
            | CommandError::Service(ServiceError::Invalid(issues)) => Problem::validation(
                issues
                    .into_iter()
                    .map(|issue| FieldError {
                        field: issue.field.into_owned(),
                        message: issue.message.to_owned(),
                    })
                    .collect(),
            ),
            CommandError::Resource(err) => Problem::new(err.code(), err.to_string()),
            CommandError::Service(err) => Problem::new(err.code(), err.to_string()),
            CommandError::Series(SeriesError::Booking(err)) => booking_problem(&err),
            CommandError::Series(SeriesError::Conflict { conflicts }) => {
                let listed: Vec<Value> = conflicts
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "start": c.period.start(), "end": c.period.end(), "code": c.code,
                        })
                    })
                    .collect();
                let detail = SeriesError::Conflict { conflicts }.to_string();
                Problem::new(ErrorCode::SeriesConflict, detail).with_extra("conflicts", listed)
            }
            CommandError::Series(err) => Problem::new(err.code(), err.to_string()),
            CommandError::Refused {
                code,
                detail,
                extra,
            } => {
                let problem = Problem::new(code, detail);
                match extra {
                    Some((key, value)) => problem.with_extra(key, value),
                    None => problem,
                }
            }
            CommandError::SlotUnavailable { conflicts } => {
                let conflicts: Vec<Value> = conflicts
                    .iter()
                    .map(|p| serde_json::json!({ "start": p.start(), "end": p.end() }))
                    .collect();
                Problem::new(
                    ErrorCode::SlotUnavailable,
                    "another booking (with its buffers) already holds this time",
                )
                .with_extra("conflicts", conflicts)
            }
            CommandError::Retry => Problem::unavailable(
                ErrorCode::ConcurrentModification,
                "the object was changed concurrently too often; retry",
                1,
            ),
            CommandError::Defect(what) => {
                tracing::error!(defect = what, "a command broke an invariant");
                Problem::internal()
            }
            // Down, busy, slow: a 503 with Retry-After; anything else an opaque 500.
            CommandError::Database(err) => platform::database::problem(&err),
        }
    }
}

fn booking_problem(err: &BookingError) -> Problem {
    match err {
        BookingError::InvalidQuantity => Problem::invalid_field("quantity", err.to_string()),
        BookingError::MetadataTooLarge => Problem::invalid_field("metadata", err.to_string()),
        BookingError::QuantityExceedsCapacity { capacity } => {
            Problem::new(err.code(), err.to_string()).with_extra("capacity", *capacity)
        }
        _ => Problem::new(err.code(), err.to_string()),
    }
}
