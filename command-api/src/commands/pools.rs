//! Pool bookings: `POST /v1/bookings` with `resource_ids` or `pool` puts the booking on the
//! first candidate that takes it.
//!
//! All in the command's one transaction: the domain's rules are checked for every candidate
//! first (pure), one read then shows which of the rest are already full
//! ([`guard::seen_full`], no lock), and each candidate that looks free is tried inside a
//! savepoint with the very steps of a single booking ([`place_planned`]: quotas, the guard), a
//! refusal rolling back only that savepoint (its quota row, any hold it expired) before the
//! next candidate. A pool that fills up thus costs one read, not a savepoint per taken
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
use super::bookings::{place_planned, plan_on};
use crate::error::CommandError;
use crate::store::CommandMeta;
use crate::store::candidates::Candidates;
use crate::store::guard::{self, Glance};

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
    // The rules first (no database): only the candidates that pass them are looked at.
    let mut planned = Vec::with_capacity(resources.len());
    for resource in &resources {
        let mut booking = input.clone();
        booking.resource_id = resource.id;
        match plan_on(resource, booking, service, meta.now) {
            Ok(placement) => planned.push((resource, placement)),
            Err(err) if err.is_rejection() => refusals.add(err),
            Err(err) => return Err(err),
        }
    }
    let glances: Vec<Glance> = planned
        .iter()
        .map(|(resource, placement)| Glance {
            resource_id: resource.id,
            blocked: placement.blocked,
            capacity: resource.spec.capacity,
            quantity: placement.quantity,
        })
        .collect();
    let full = guard::seen_full(conn, &glances, meta.now).await?;
    for ((resource, placement), full) in planned.into_iter().zip(full) {
        if full {
            refusals.add(CommandError::SlotUnavailable {
                conflicts: Vec::new(),
            });
            continue;
        }
        let mut savepoint = conn.begin().await?;
        match place_planned(&mut savepoint, meta, resource, placement).await {
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
