//! `/v1/bookings`: place, confirm, approve, decline, cancel and reschedule bookings.
//!
//! Clients act on their own bookings only (another customer's booking is `404`); admins act on
//! any booking of their tenant; approving and declining is for admins.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use domain::booking::PlaceBooking;
use domain::ids::{BookingId, CustomerId, ResourceId};
use platform::Problem;
use platform::auth::Actor;
use platform::json::{ApiJson, OptionalJson};
use platform::path::ApiPath;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::resources::period;
use super::{AppState, command_request, path_id, utc_instant};
use crate::commands::bookings::{self, Action, Place, Reschedule, Transition};
use crate::commands::{self};
use crate::error::CommandError;
use crate::views::Reply;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceBody {
    id: Option<Uuid>,
    resource_id: Uuid,
    #[serde(deserialize_with = "utc_instant")]
    start: DateTime<Utc>,
    #[serde(deserialize_with = "utc_instant")]
    end: DateTime<Utc>,
    #[serde(default = "one")]
    quantity: u32,
    customer_id: Option<String>,
    #[serde(default)]
    hold: bool,
    #[serde(default)]
    metadata: Map<String, Value>,
}

fn one() -> u32 {
    1
}

/// Clients book for themselves; admins for anyone (themselves by default).
fn customer(actor: &Actor, requested: Option<String>) -> Result<CustomerId, Problem> {
    match requested {
        None => Ok(CustomerId(actor.id.clone())),
        Some(customer) if actor.is_admin() || customer == actor.id => {
            if customer.is_empty() || customer.len() > 255 {
                return Err(Problem::invalid_field(
                    "customer_id",
                    "must be 1 to 255 characters",
                ));
            }
            Ok(CustomerId(customer))
        }
        Some(_) => Err(Problem::forbidden(
            "only admins may book for another customer",
        )),
    }
}

/// A client sees only its own bookings.
fn owner(actor: &Actor) -> Option<CustomerId> {
    (!actor.is_admin()).then(|| CustomerId(actor.id.clone()))
}

pub async fn place(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PlaceBody>,
) -> Result<Reply, Problem> {
    let booking_id = body.id.map_or_else(BookingId::generate, BookingId);
    // The stream lock orders writers of one stream. Nobody else can write a stream whose id we
    // just generated (nobody knows it before we answer), so only a client's id needs it.
    let locked = if body.id.is_some() {
        vec![booking_id.0]
    } else {
        Vec::new()
    };
    let request = command_request(&actor, &headers, locked, "POST /v1/bookings", &body)?;
    let input = Place {
        id_from_client: body.id.is_some(),
        booking: PlaceBooking {
            booking_id,
            resource_id: ResourceId(body.resource_id),
            period: period(body.start, body.end)?,
            quantity: body.quantity,
            customer_id: customer(&actor, body.customer_id)?,
            hold: body.hold,
            metadata: body.metadata,
        },
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(bookings::place(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    reason: Option<String>,
}

async fn transition(
    state: AppState,
    actor: Actor,
    id: String,
    headers: HeaderMap,
    action: Action,
    reason: Option<String>,
) -> Result<Reply, Problem> {
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(Problem::invalid_field(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let booking_id = BookingId(path_id(&id, "booking_not_found")?);
    let path = format!("POST /v1/bookings/{booking_id} {action:?}");
    let request = command_request(&actor, &headers, vec![booking_id.0], &path, &reason)?;
    let input = Transition {
        booking_id,
        action,
        reason,
        owner: owner(&actor),
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(bookings::transition(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}

pub async fn confirm(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Reply, Problem> {
    transition(state, actor, id, headers, Action::Confirm, None).await
}

pub async fn approve(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Reply, Problem> {
    transition(state, actor, id, headers, Action::Approve, None).await
}

pub async fn decline(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Reply, Problem> {
    transition(state, actor, id, headers, Action::Decline, body.reason).await
}

pub async fn cancel(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<Reply, Problem> {
    transition(state, actor, id, headers, Action::Cancel, body.reason).await
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    #[serde(deserialize_with = "utc_instant")]
    start: DateTime<Utc>,
    #[serde(deserialize_with = "utc_instant")]
    end: DateTime<Utc>,
}

pub async fn reschedule(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RescheduleBody>,
) -> Result<Reply, Problem> {
    let booking_id = BookingId(path_id(&id, "booking_not_found")?);
    let path = format!("POST /v1/bookings/{booking_id}/reschedule");
    let request = command_request(&actor, &headers, vec![booking_id.0], &path, &body)?;
    let input = Reschedule {
        booking_id,
        period: period(body.start, body.end)?,
        owner: owner(&actor),
    };
    commands::run(&state.pool, &state.wake, &request, &input, |c, m, i| {
        Box::pin(bookings::reschedule(c, m, i))
    })
    .await
    .map_err(CommandError::into_problem)
}
