//! The work of the booking commands: place (or hold), the lifecycle transitions, reschedule.

use axum::http::StatusCode;
use domain::Event;
use domain::Period;
use domain::booking::{Booking, BookingCommand, PlaceBooking, plan_placement};
use domain::event::BookingStatus;
use domain::ids::{BookingId, CustomerId};
use domain::lifecycle::{self, Allocation};
use domain::resource::Resource;
use domain::stream::evolve_booking;
use eventstore::ExpectedVersion;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::resources::already_exists;
use crate::error::{CommandError, booking_not_found, resource_not_found};
use crate::store::{self, CommandMeta, aggregates, guard};
use crate::views::{BookingView, Reply};

fn answer(status: StatusCode, booking: &Booking, position: eventstore::Position) -> Reply {
    Reply::new(
        status,
        json!({ "booking": BookingView::from(booking), "position": position }),
    )
}

async fn load_resource(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: Uuid,
) -> Result<Resource, CommandError> {
    aggregates::load_resource(conn, &meta.tenant, id)
        .await?
        .ok_or_else(resource_not_found)
}

/// The booking, if it exists in the tenant and `owner` (a client's own id) may see it.
/// Someone else's booking is a `404`, never a `403`: its existence is not the caller's business.
async fn load_booking(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: BookingId,
    owner: Option<&CustomerId>,
) -> Result<Booking, CommandError> {
    match aggregates::load_booking(conn, &meta.tenant, id.0).await? {
        Some(booking) if owner.is_none_or(|owner| *owner == booking.customer_id) => Ok(booking),
        _ => Err(booking_not_found()),
    }
}

/// A placement, and whether its id came from the client.
#[derive(Clone, Debug)]
pub struct Place {
    pub booking: PlaceBooking,
    /// A client-chosen id may already be taken; a fresh UUIDv7 of ours cannot be.
    pub id_from_client: bool,
}

pub async fn place(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &Place,
) -> Result<Reply, CommandError> {
    let Place {
        booking: input,
        id_from_client,
    } = input;
    // A retried POST with a client-chosen id must say `already_exists`, not collide with itself
    // in the guard (its allocation is there already).
    if *id_from_client {
        let taken: bool =
            sqlx::query_scalar("select exists (select 1 from streams where stream_id = $1)")
                .bind(input.booking_id.0)
                .fetch_one(&mut *conn)
                .await?;
        if taken {
            return Err(already_exists("booking or resource"));
        }
    }
    let resource = load_resource(conn, meta, input.resource_id.0).await?;
    let placement = plan_placement(&resource, input.clone(), meta.now)?;
    let units = guard::allocate(
        conn,
        meta,
        &resource,
        placement.booking_id.0,
        placement.blocked,
        placement.quantity,
        placement.expires_at,
    )
    .await?;
    let status = if placement.status == BookingStatus::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    let booking_id = placement.booking_id.0;
    let event = Event::BookingPlaced(placement.placed(units));
    let appended = store::append(
        conn,
        meta,
        booking_id,
        ExpectedVersion::NoStream,
        std::slice::from_ref(&event),
    )
    .await
    .map_err(|err| match err {
        CommandError::Conflict => already_exists("booking or resource"),
        other => other,
    })?;
    let booking = evolve_booking(None, &event, meta.now).ok_or(CommandError::Conflict)?;
    Ok(answer(status, &booking, appended.position))
}

/// A lifecycle step that needs no new allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Confirm,
    Approve,
    Decline,
    Cancel,
}

#[derive(Clone, Debug)]
pub struct Transition {
    pub booking_id: BookingId,
    pub action: Action,
    pub reason: Option<String>,
    /// For a client: its own id; only its bookings are visible.
    pub owner: Option<CustomerId>,
}

pub async fn transition(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &Transition,
) -> Result<Reply, CommandError> {
    let booking = load_booking(conn, meta, input.booking_id, input.owner.as_ref()).await?;
    let command = match input.action {
        Action::Confirm => {
            let resource = load_resource(conn, meta, booking.resource_id.0).await?;
            BookingCommand::Confirm {
                requires_approval: resource.spec.policy.requires_approval,
            }
        }
        Action::Approve => BookingCommand::Approve,
        Action::Decline => BookingCommand::Decline {
            reason: input.reason.clone(),
        },
        Action::Cancel => BookingCommand::Cancel {
            reason: input.reason.clone(),
        },
    };
    let event = booking.decide(command, meta.now)?;
    let appended = store::append(
        conn,
        meta,
        booking.id.0,
        ExpectedVersion::Exact(booking.version),
        std::slice::from_ref(&event),
    )
    .await?;
    match lifecycle::transition(&event).map(|t| t.allocation) {
        Some(Allocation::Kept) => guard::keep(conn, booking.id.0).await?,
        Some(Allocation::Released) => guard::release(conn, booking.id.0).await?,
        // A move takes new units before its event exists: see `reschedule`.
        Some(Allocation::Unchanged | Allocation::Moved(_)) | None => {}
    }
    let booking = evolve_booking(Some(booking), &event, meta.now).ok_or(CommandError::Conflict)?;
    Ok(answer(StatusCode::OK, &booking, appended.position))
}

#[derive(Clone, Debug)]
pub struct Reschedule {
    pub booking_id: BookingId,
    pub period: Period,
    pub owner: Option<CustomerId>,
}

/// Moves the booking: its old units are freed and new ones taken in the same transaction, so
/// either the move happens whole or the booking keeps its slot.
pub async fn reschedule(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    input: &Reschedule,
) -> Result<Reply, CommandError> {
    let booking = load_booking(conn, meta, input.booking_id, input.owner.as_ref()).await?;
    let resource = load_resource(conn, meta, booking.resource_id.0).await?;
    let plan = booking.plan_reschedule(&resource, input.period, meta.now)?;
    guard::release(conn, booking.id.0).await?;
    let units = guard::allocate(
        conn,
        meta,
        &resource,
        booking.id.0,
        plan.blocked,
        booking.quantity,
        None,
    )
    .await?;
    let event = booking.rescheduled(plan, units);
    let appended = store::append(
        conn,
        meta,
        booking.id.0,
        ExpectedVersion::Exact(booking.version),
        std::slice::from_ref(&event),
    )
    .await?;
    let booking = evolve_booking(Some(booking), &event, meta.now).ok_or(CommandError::Conflict)?;
    Ok(answer(StatusCode::OK, &booking, appended.position))
}
