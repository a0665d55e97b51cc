//! Pool bookings: `POST /v1/bookings` with `resource_ids` or `pool` puts the booking on the
//! first candidate that takes it.
//!
//! All in the command's one transaction: each candidate is tried inside a savepoint with the
//! very steps of a single booking ([`place_on`]: the domain's rules, quotas, the guard), and a
//! refusal rolls back only that savepoint (its quota row, any hold it expired) before the next
//! candidate. Nothing pool-wide is locked: concurrent pool bookings meet only in the guard's
//! rows of the one resource they try at that moment (a capacity-1 insert reports a collision
//! without raising), so N requests on k free resources fill them one each.
//!
//! The event is the ordinary `BookingPlaced` on the chosen resource: projections, replay,
//! `--verify` and cache invalidation need nothing new.

use api::ErrorCode;
use api::code::Coded;
use api::views::BookingAnswer;
use domain::service::Service;
use sqlx::{Connection, PgConnection};

use super::Done;
use super::bookings::place_on;
use crate::error::CommandError;
use crate::store::CommandMeta;
use crate::store::candidates::Candidates;

/// Places `input` on the first of `candidates` that takes it. None at all is `no_candidates`;
/// when every one refused, their common rule-based refusal, else `slot_unavailable`.
pub(super) async fn place_on_first(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &domain::booking::PlaceBooking,
    service: Option<&Service>,
    candidates: &Candidates,
) -> Result<Done<BookingAnswer>, CommandError> {
    let resources = candidates.load(conn, &meta.tenant).await?;
    if resources.is_empty() {
        return Err(CommandError::refused(
            ErrorCode::NoCandidates,
            "no resource to book: the ids are unknown or archived, or the pool matches none",
        ));
    }
    let mut refusals = Refusals::default();
    for resource in &resources {
        let mut booking = input.clone();
        booking.resource_id = resource.id;
        let mut savepoint = conn.begin().await?;
        match place_on(&mut savepoint, meta, resource, booking, service).await {
            Ok(done) => {
                savepoint.commit().await?;
                return Ok(done);
            }
            Err(err) if err.is_rejection() => {
                savepoint.rollback().await?;
                refusals.add(err);
            }
            Err(err) => return Err(err),
        }
    }
    Err(refusals.answer())
}

/// The candidates' refusals, as far as the answer needs them.
#[derive(Default)]
struct Refusals {
    /// The first refusal, while every one so far had its code.
    common: Option<CommandError>,
    mixed: bool,
}

impl Refusals {
    fn add(&mut self, err: CommandError) {
        match &self.common {
            None if !self.mixed => self.common = Some(err),
            Some(first) if code(first) == code(&err) => {}
            _ => {
                self.common = None;
                self.mixed = true;
            }
        }
    }

    /// A rule every candidate broke the same way is that refusal; taken or mixed, the slot is
    /// unavailable (the periods in the way differ per resource, so none are listed).
    fn answer(self) -> CommandError {
        match self.common {
            Some(err) if code(&err) != Some(ErrorCode::SlotUnavailable) => err,
            _ => CommandError::SlotUnavailable {
                conflicts: Vec::new(),
            },
        }
    }
}

/// A refusal's code.
pub(super) fn code(err: &CommandError) -> Option<ErrorCode> {
    match err {
        CommandError::Booking(err) => Some(err.code()),
        CommandError::Resource(err) => Some(err.code()),
        CommandError::Service(err) => Some(err.code()),
        CommandError::Series(err) => Some(err.code()),
        CommandError::Refused { code, .. } => Some(*code),
        CommandError::SlotUnavailable { .. } => Some(ErrorCode::SlotUnavailable),
        CommandError::Retry | CommandError::Defect(_) | CommandError::Database(_) => None,
    }
}
