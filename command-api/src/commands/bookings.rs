//! The booking commands: place (or hold), the lifecycle transitions (confirm, approve, decline,
//! cancel, check-in, complete, no-show), reschedule, and expiring a hold past its TTL.

use api::ErrorCode;
use api::views::{BookingAnswer, BookingView};
use domain::Event;
use domain::Period;
use domain::aggregate::Aggregate;
use domain::booking::{
    Booking, BookingCommand, BookingError, Placement, Requester, plan_placement,
};
use domain::event::BookingStatus;
use domain::ids::{BookingId, CustomerId, ServiceId};
use domain::personal::PersonalData;
use domain::resource::{Policy, Resource};
use domain::service::Service;
use eventstore::Position;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Command, Done, Effect, commit, follow_allocation, load, start};
use crate::error::CommandError;
use crate::personal;
use crate::store::candidates::Candidates;
use crate::store::guard::{self, Allocated, Reservation};
use crate::store::quota::{self, Claim, Counted};
use crate::store::{self, CommandMeta, StreamId};

fn already_exists() -> CommandError {
    CommandError::refused(
        ErrorCode::AlreadyExists,
        "a booking or resource with this id already exists",
    )
}

/// The booking, if it exists in the tenant and `owner` (a client's own id) may see it.
/// Someone else's booking is a `404`, never a `403`: its existence is not the caller's business.
async fn load_booking(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: BookingId,
    owner: Option<&CustomerId>,
) -> Result<Booking, CommandError> {
    let booking: Booking = load(conn, meta, id).await?;
    if owner.is_some_and(|owner| *owner != booking.customer_id) {
        return Err(BookingError::NotFound.into());
    }
    Ok(booking)
}

fn answer(effect: Effect, booking: &Booking, position: Position) -> Done<BookingAnswer> {
    Done {
        effect,
        answer: BookingAnswer {
            booking: BookingView::from(booking),
        },
        position,
    }
}

/// Takes the units `wanted` on the resource; holds past their TTL in the way are expired first
/// (each as an [`ExpireHold`] of its own in this transaction).
async fn reserve(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    wanted: Reservation,
) -> Result<Vec<u32>, CommandError> {
    // Once the expired holds are gone the next look finds units or a refusal; a third look only
    // happens if more expired in between.
    for _ in 0..3 {
        match guard::allocate(conn, meta, resource, &wanted).await? {
            Allocated::Units(units) => return Ok(units),
            Allocated::ExpiredHolds(holds) => {
                for hold in holds {
                    match ExpireHold::expire(conn, meta, hold).await {
                        // Confirmed, cancelled or expired by someone else meanwhile.
                        Ok(_) | Err(CommandError::Booking(_)) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
        }
    }
    Err(CommandError::Retry)
}

/// Decides `command` on the booking, moves its guard rows as the lifecycle says, and commits.
pub(super) async fn step(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    booking: Booking,
    command: BookingCommand,
) -> Result<(Booking, Position), CommandError> {
    let events = <Booking as Aggregate>::decide(Some(&booking), command, meta.now)?;
    for event in &events {
        follow_allocation(conn, booking.id, event).await?;
    }
    let (booking, position) = commit(conn, meta, booking, &events).await?;
    quota::follow(conn, &booking).await?;
    Ok((booking, position))
}

/// `POST /v1/bookings`.
#[derive(Clone, Debug)]
pub struct PlaceBooking {
    /// With `service_id`, only the start of its period counts: the service gives the end.
    pub booking: domain::booking::PlaceBooking,
    /// The service booked: its duration, buffers and current price go into the booking.
    pub service_id: Option<ServiceId>,
    /// A client-chosen id may already be taken; a fresh UUIDv7 of ours cannot be.
    pub id_from_client: bool,
    /// A pool booking: the booking goes on the first of these that takes it (see
    /// [`super::pools`]), and `booking.resource_id` is not used.
    pub candidates: Option<Candidates>,
    /// The customer's personal data, checked: sealed into `booking.customer` when the command
    /// runs (see `crate::personal`).
    pub personal: Option<PersonalData>,
}

impl Command for PlaceBooking {
    type Answer = BookingAnswer;

    /// The stream lock orders writers of one stream. Nobody else can write a stream whose id we
    /// just generated (nobody knows it before we answer), so only a client's id needs it.
    fn streams(&self) -> Vec<Uuid> {
        if self.id_from_client {
            vec![self.booking.booking_id.stream()]
        } else {
            Vec::new()
        }
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<BookingAnswer>, CommandError> {
        let mut input = self.booking.clone();
        if let Some(data) = &self.personal {
            input.customer =
                Some(personal::seal(conn, &meta.tenant, &input.customer_id, data).await?);
        }
        let input = &input;
        // A retried POST with a client-chosen id must say `already_exists`, not collide with
        // itself in the guard (its allocation is there already).
        if self.id_from_client && store::stream_exists(conn, input.booking_id).await? {
            return Err(already_exists());
        }
        let service: Option<Service> = match self.service_id {
            Some(service_id) => Some(load(conn, meta, service_id).await?),
            None => None,
        };
        if let Some(candidates) = &self.candidates {
            return super::pools::place_on_first(conn, meta, input, service.as_ref(), candidates)
                .await;
        }
        let resource: Resource = load(conn, meta, input.resource_id).await?;
        place_on(conn, meta, &resource, input.clone(), service.as_ref()).await
    }
}

/// Places the booking on `resource` (which `input` names): [`plan_on`], then
/// [`place_planned`].
pub(super) async fn place_on(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    input: domain::booking::PlaceBooking,
    service: Option<&Service>,
) -> Result<Done<BookingAnswer>, CommandError> {
    let placement = plan_on(resource, input, service, meta.now)?;
    place_planned(conn, meta, resource, placement).await
}

/// The booking as `resource` would take it: the service's terms there (its period, buffers and
/// current price), then the domain's rules. Pure: nothing is read or written.
pub(super) fn plan_on(
    resource: &Resource,
    mut input: domain::booking::PlaceBooking,
    service: Option<&Service>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Placement, CommandError> {
    if let Some(service) = service {
        input.service = Some(service.terms_on(resource)?);
        input.price = Some(service.spec.price.clone());
        input.period = service
            .period_from(input.period.start())
            .ok_or(CommandError::Defect("a service of no duration"))?;
    }
    Ok(plan_placement(resource, input, now)?)
}

/// Writes a planned booking: the quotas, the guard, then its `BookingPlaced`.
pub(super) async fn place_planned(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    placement: Placement,
) -> Result<Done<BookingAnswer>, CommandError> {
    let counted = Counted {
        booking_id: placement.booking_id,
        customer: &placement.customer_id,
        period: placement.period,
        expires_at: placement.expires_at,
    };
    quota::claim(conn, meta, resource, counted, Claim::New).await?;
    let wanted = Reservation {
        booking_id: placement.booking_id,
        blocked: placement.blocked,
        quantity: placement.quantity,
        expires_at: placement.expires_at,
    };
    let units = reserve(conn, meta, resource, wanted).await?;
    let effect = if placement.status == BookingStatus::Pending {
        Effect::Pending
    } else {
        Effect::Created
    };
    let booking_id = placement.booking_id;
    let events = [Event::BookingPlaced(placement.placed(units))];
    let (booking, position) = start(conn, meta, booking_id, &events, already_exists).await?;
    Ok(answer(effect, &booking, position))
}

/// Who asks, as the rules for cancelling and moving see it: a client (an `owner` is set for
/// clients only) is bound by the resource's cut-off.
fn requester(owner: Option<&CustomerId>, policy: &Policy) -> Requester {
    match owner {
        Some(_) => Requester::client(policy),
        None => Requester::Admin,
    }
}

/// The current policy of the booking's resource.
async fn policy(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    booking: &Booking,
) -> Result<Policy, CommandError> {
    let resource: Resource = load(conn, meta, booking.resource_id).await?;
    Ok(resource.spec.policy)
}

/// A lifecycle step that needs no new allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Confirm,
    Approve,
    Decline,
    Cancel,
    CheckIn,
    Complete,
    NoShow,
}

/// `confirm`, `approve`, `decline`, `cancel`, `check-in`, `complete` and `no-show`.
#[derive(Clone, Debug)]
pub struct TransitionBooking {
    pub booking_id: BookingId,
    pub action: Action,
    pub reason: Option<String>,
    /// For a client: its own id; only its bookings are visible.
    pub owner: Option<CustomerId>,
}

impl Command for TransitionBooking {
    type Answer = BookingAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.booking_id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<BookingAnswer>, CommandError> {
        let booking = load_booking(conn, meta, self.booking_id, self.owner.as_ref()).await?;
        let command = match self.action {
            Action::Confirm => BookingCommand::Confirm {
                requires_approval: policy(conn, meta, &booking).await?.requires_approval,
            },
            Action::Approve => BookingCommand::Approve,
            Action::Decline => BookingCommand::Decline {
                reason: self.reason.clone(),
            },
            Action::Cancel => BookingCommand::Cancel {
                reason: self.reason.clone(),
                // An admin is bound by no cut-off: no need to read the resource.
                by: match self.owner {
                    Some(_) => Requester::client(&policy(conn, meta, &booking).await?),
                    None => Requester::Admin,
                },
            },
            Action::CheckIn => BookingCommand::CheckIn {
                opens: policy(conn, meta, &booking).await?.check_in_opens(),
            },
            Action::Complete => BookingCommand::Complete,
            Action::NoShow => BookingCommand::MarkNoShow {
                grace: policy(conn, meta, &booking).await?.no_show_grace(),
            },
        };
        let (booking, position) = step(conn, meta, booking, command).await?;
        Ok(answer(Effect::Changed, &booking, position))
    }
}

/// `POST /v1/bookings/{id}/reschedule`: the booking's old units are freed and new ones taken in
/// the same transaction, so either the move happens whole or the booking keeps its slot.
#[derive(Clone, Debug)]
pub struct RescheduleBooking {
    pub booking_id: BookingId,
    pub period: Period,
    pub owner: Option<CustomerId>,
}

impl Command for RescheduleBooking {
    type Answer = BookingAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.booking_id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<BookingAnswer>, CommandError> {
        let booking = load_booking(conn, meta, self.booking_id, self.owner.as_ref()).await?;
        let resource: Resource = load(conn, meta, booking.resource_id).await?;
        let by = requester(self.owner.as_ref(), &resource.spec.policy);
        let plan = booking.plan_reschedule(&resource, self.period, by, meta.now)?;
        let counted = Counted {
            booking_id: booking.id,
            customer: &booking.customer_id,
            period: plan.period,
            expires_at: None,
        };
        quota::claim(conn, meta, &resource, counted, Claim::Move).await?;
        guard::release(conn, booking.id).await?;
        let wanted = Reservation {
            booking_id: booking.id,
            blocked: plan.blocked,
            quantity: booking.quantity,
            expires_at: None,
        };
        let units = reserve(conn, meta, &resource, wanted).await?;
        let events = [booking.rescheduled(plan, units)];
        let (booking, position) = commit(conn, meta, booking, &events).await?;
        Ok(answer(Effect::Changed, &booking, position))
    }
}

/// Records `HoldExpired` for a hold past its TTL and frees its units: run by the hold sweeper,
/// and inside a command whose time such a hold is in the way of.
#[derive(Clone, Debug)]
pub struct ExpireHold {
    pub booking_id: BookingId,
}

impl ExpireHold {
    /// Expires the hold in the caller's transaction. The hold's stream is locked here, possibly
    /// after the transaction's first write; so if the hold's own events are newer than this
    /// transaction, appending now would put `HoldExpired` before them in the global order:
    /// then the whole command starts over with a fresh transaction ([`CommandError::Retry`]).
    async fn expire(
        conn: &mut PgConnection,
        meta: &CommandMeta,
        booking_id: BookingId,
    ) -> Result<(Booking, Position), CommandError> {
        eventstore::append::lock_streams(conn, &[booking_id.stream()]).await?;
        if store::stream_newer_than_transaction(conn, booking_id).await? {
            return Err(CommandError::Retry);
        }
        let booking: Booking = load(conn, meta, booking_id).await?;
        step(conn, meta, booking, BookingCommand::Expire).await
    }
}

impl Command for ExpireHold {
    type Answer = BookingAnswer;

    fn streams(&self) -> Vec<Uuid> {
        vec![self.booking_id.stream()]
    }

    async fn run(
        &self,
        conn: &mut PgConnection,
        meta: &CommandMeta,
    ) -> Result<Done<BookingAnswer>, CommandError> {
        let (booking, position) = Self::expire(conn, meta, self.booking_id).await?;
        Ok(answer(Effect::Changed, &booking, position))
    }
}
