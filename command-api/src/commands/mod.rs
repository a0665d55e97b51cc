//! The commands: each loads what it needs, decides with the pure `domain` crate, reserves or
//! frees time in the allocation guard and appends its events, all in the transaction it is
//! given, and returns what it did as a typed outcome ([`Done`]). Running them (the transaction,
//! `Idempotency-Key`, retries after a lost race, the answer and its position) is
//! `crate::runner`'s.

pub mod bookings;
pub mod catalog;
pub mod customers;
mod pools;
pub mod resources;
pub mod series;
pub mod services;

use std::future::Future;

use domain::Event;
use domain::aggregate::Aggregate;
use domain::booking::{Booking, BookingError};
use domain::ids::{BookingId, ResourceId, SeriesId, ServiceId};
use domain::lifecycle::{self, Allocation};
use domain::resource::{Resource, ResourceError};
use domain::series::{Series, SeriesError};
use domain::service::{Service, ServiceError};
use eventstore::{ExpectedVersion, Position};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

pub use bookings::{ExpireHold, PlaceBooking, RescheduleBooking, TransitionBooking};
pub use customers::EraseCustomer;
pub use resources::{AddBlackout, CreateResource, RemoveBlackout, UpdateResource};
pub use series::{CancelSeries, CreateSeries};
pub use services::{CreateService, UpdateService};

use crate::error::CommandError;
use crate::store::{self, CommandMeta, StreamId, aggregates, guard};

/// A command.
pub trait Command: Send + Sync {
    /// What it answers with on success, besides the position of its write.
    type Answer: Serialize + Send;

    /// The streams it writes to, locked before the transaction's first write (see
    /// `eventstore::append`).
    fn streams(&self) -> Vec<Uuid>;

    /// Does the command's work in the caller's transaction.
    fn run<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        meta: &'c CommandMeta,
    ) -> impl Future<Output = Result<Done<Self::Answer>, CommandError>> + Send + 'c;
}

/// What a command did.
#[derive(Clone, Debug)]
pub struct Done<A> {
    pub effect: Effect,
    pub answer: A,
    /// The position of its last event.
    pub position: Position,
}

/// The kind of change a command made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Something new exists.
    Created,
    /// Something new exists, waiting for an approval.
    Pending,
    /// Something that existed changed.
    Changed,
    /// Done, with effects that reach further than the answer (an erasure).
    Accepted,
}

/// The aggregate `id` in the command's tenant, or its `not_found` refusal.
async fn load<A: Loaded>(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: A::Id,
) -> Result<A, CommandError> {
    aggregates::load::<A>(conn, &meta.tenant, id)
        .await?
        .ok_or_else(A::not_found)
}

/// `412 version_conflict` unless `If-Match` named the `current` version of the `what`.
fn check_version(what: &str, if_match: i64, current: i64) -> Result<(), CommandError> {
    if if_match == current {
        return Ok(());
    }
    Err(CommandError::Refused {
        code: api::ErrorCode::VersionConflict,
        detail: format!("If-Match names version {if_match}, the {what} is at version {current}"),
        extra: Some(("current_version", current.into())),
    })
}

/// The state after the events a command just decided (`at` its clock).
fn evolved<A: Aggregate>(
    state: Option<A>,
    events: &[Event],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<A, CommandError> {
    events
        .iter()
        .fold(state, |state, event| A::evolve(state, event, at))
        .ok_or(CommandError::Defect("decided events that start no stream"))
}

/// An aggregate as commands load it: by its id (its stream's), refused as `not_found` when
/// the tenant has none, and appended to at the version it was loaded at.
pub trait Loaded: Aggregate {
    type Id: StreamId;

    fn id(&self) -> Self::Id;
    fn version(&self) -> i64;
    fn not_found() -> CommandError;
}

/// Every aggregate keeps their id and version in fields of those names.
macro_rules! loaded {
    ($aggregate:ty, $id:ty, $not_found:expr) => {
        impl Loaded for $aggregate {
            type Id = $id;

            fn id(&self) -> $id {
                self.id
            }

            fn version(&self) -> i64 {
                self.version
            }

            fn not_found() -> CommandError {
                $not_found.into()
            }
        }
    };
}

loaded!(Resource, ResourceId, ResourceError::NotFound);
loaded!(Booking, BookingId, BookingError::NotFound);
loaded!(Service, ServiceId, ServiceError::NotFound);
loaded!(Series, SeriesId, SeriesError::NotFound);

/// Starts the stream `id` with the events a command decided, and returns the state they make
/// and the position of the write. The stream existing already is the refusal `taken` (a
/// client-chosen id in use).
async fn start<A: Loaded>(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: A::Id,
    events: &[Event],
    taken: impl FnOnce() -> CommandError,
) -> Result<(A, Position), CommandError> {
    let appended = store::append(conn, meta, id, ExpectedVersion::NoStream, events)
        .await
        .map_err(|err| match err {
            CommandError::Retry => taken(),
            other => other,
        })?;
    Ok((evolved(None, events, meta.now)?, appended.position))
}

/// Appends the events a command decided against `state` to its stream (expected at the version
/// it was loaded at), and returns the state they lead to and the position of the write.
async fn commit<A: Loaded>(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    state: A,
    events: &[Event],
) -> Result<(A, Position), CommandError> {
    let appended = store::append(
        conn,
        meta,
        state.id(),
        ExpectedVersion::Exact(state.version()),
        events,
    )
    .await?;
    Ok((evolved(Some(state), events, meta.now)?, appended.position))
}

/// What a booking's event does to its guard rows, as the lifecycle says. (A move takes its new
/// units before its event exists: see [`RescheduleBooking`].)
async fn follow_allocation(
    conn: &mut PgConnection,
    booking_id: BookingId,
    event: &Event,
) -> Result<(), CommandError> {
    match lifecycle::transition(event).map(|t| t.allocation) {
        Some(Allocation::Kept) => guard::keep(conn, booking_id).await,
        Some(Allocation::Released) => guard::release(conn, booking_id).await,
        Some(Allocation::Trimmed(blocked)) => guard::trim(conn, booking_id, blocked).await,
        Some(Allocation::Unchanged | Allocation::Moved(_)) | None => Ok(()),
    }
}
