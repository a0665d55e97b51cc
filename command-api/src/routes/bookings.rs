//! `/v1/bookings`: place, confirm, approve, decline, cancel, reschedule, check in, complete and
//! mark no-shows.
//!
//! Clients act on their own bookings only (another customer's booking is `404`); admins act on
//! any booking of their tenant; approving, declining, completing and marking a no-show is for
//! admins. A client cannot cancel or reschedule within the resource's cut-off before the start;
//! nobody can once the booking has started.

use api::requests;
use api::views::{BookingAnswer, Written};
use api::{ErrorCode, problems};
use chrono::{DateTime, Utc};
use domain::Period;
use domain::ids::{BookingId, CustomerId, ResourceId, ServiceId};
use domain::service::Price;
use platform::Problem;
use platform::auth::Actor;
use platform::json::{ApiJson, OptionalJson};
use platform::path::ApiPath;
use readmodel::filter::ResourceFilter;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::resources::{Commander, period};
use super::{IdempotencyKey, path_id};
use crate::commands::bookings::Action;
use crate::commands::{PlaceBooking, RescheduleBooking, TransitionBooking};
use crate::reply::Reply;
use crate::store::candidates::{Candidates, MAX_LISTED};

/// Clients book for themselves; admins for anyone (themselves by default).
pub(super) fn customer(actor: &Actor, requested: Option<String>) -> Result<CustomerId, Problem> {
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

/// The period of a booking: `start` to `end`, or for a service booking (which has no `end`)
/// a stand-in from `start` that the command replaces with the service's duration.
pub(super) fn booked_period(
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    service: Option<ServiceId>,
) -> Result<Period, Problem> {
    match (end, service) {
        (Some(end), None) => period(start, end),
        (None, Some(_)) => period(start, start + chrono::Duration::minutes(1)),
        (Some(_), Some(_)) => Err(Problem::invalid_field(
            "end",
            "must be absent with service_id: the service's duration gives the end",
        )),
        (None, None) => Err(Problem::invalid_field(
            "end",
            "is required unless service_id is given",
        )),
    }
}

/// A price on the booking body: admins only (`403` for a client), and not with a service (whose
/// price is recorded).
fn price(
    actor: &Actor,
    price: Option<Price>,
    service: Option<ServiceId>,
) -> Result<Option<Price>, Problem> {
    let Some(price) = price else {
        return Ok(None);
    };
    if !actor.is_admin() {
        return Err(Problem::forbidden("only admins may set a booking's price"));
    }
    if service.is_some() {
        return Err(Problem::invalid_field(
            "price",
            "must be absent with service_id: the service's price is recorded",
        ));
    }
    let mut issues = Vec::new();
    price.validate("price", &mut issues);
    if let Some(issue) = issues.first() {
        return Err(Problem::invalid_field(
            issue.field.clone().into_owned(),
            issue.message,
        ));
    }
    Ok(Some(price))
}

/// `/v1/bookings/{id}/…`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BookingPath {
    /// The booking.
    #[param(value_type = uuid::Uuid)]
    id: String,
}

impl BookingPath {
    /// Anything but a UUID names no booking: `404`.
    fn id(&self) -> Result<BookingId, Problem> {
        path_id(&self.id, ErrorCode::BookingNotFound).map(BookingId)
    }
}

/// A client sees only its own bookings.
pub(super) fn owner(actor: &Actor) -> Option<CustomerId> {
    (!actor.is_admin()).then(|| CustomerId(actor.id.clone()))
}

problems!(
    PlaceProblems = [
        ResourceNotFound,
        NoCandidates,
        ServiceNotFound,
        ServiceNotOffered,
        SlotUnavailable,
        QuotaExceeded,
        ResourceArchived,
        AlreadyExists,
        InvalidPeriod,
        OutsideOpeningHours,
        DurationOutOfRange,
        InsufficientNotice,
        TooFarInAdvance,
        QuantityExceedsCapacity,
    ] + AUTHENTICATED,
    COMMAND,
    JSON_BODY
);

/// Places a booking, or a hold (`"hold": true`) to confirm later.
#[utoipa::path(
    post,
    path = "/v1/bookings",
    operation_id = "place_booking",
    tag = "bookings",
    params(IdempotencyKey),
    request_body = requests::PlaceBooking,
    responses(
        (status = 201, description = "Confirmed, or held", body = Written<BookingAnswer>),
        (status = 202, description = "Pending an admin's approval", body = Written<BookingAnswer>),
        PlaceProblems,
    ),
)]
pub async fn place(
    cx: Commander,
    ApiJson(body): ApiJson<requests::PlaceBooking>,
) -> Result<Reply, Problem> {
    let request = cx.request("POST /v1/bookings", &fingerprint(&body))?;
    let (resource_id, candidates) = target(&body)?;
    let service_id = body.service_id.map(ServiceId);
    let personal = crate::personal::checked(body.customer.as_ref())?.cloned();
    let command = PlaceBooking {
        id_from_client: body.id.is_some(),
        candidates,
        booking: domain::booking::PlaceBooking {
            booking_id: body.id.map_or_else(BookingId::generate, BookingId),
            resource_id,
            period: booked_period(body.start, body.end, service_id)?,
            quantity: body.quantity,
            customer_id: customer(&cx.actor, body.customer_id)?,
            customer: None,
            hold: body.hold,
            metadata: body.metadata,
            service: None,
            price: price(&cx.actor, body.price, service_id)?,
            series_id: None,
        },
        service_id,
        personal,
    };
    cx.run(&request, command).await
}

/// What an `Idempotency-Key` is checked against: the body, with its personal data as a digest
/// (the same data gives the same digest), so the plain values never reach the database.
fn fingerprint(body: &requests::PlaceBooking) -> Value {
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    if let (Some(data), Some(slot)) = (&body.customer, value.get_mut("customer")) {
        *slot = Value::String(eventstore::personal::digest(data));
    }
    value
}

/// What the booking goes on: the one resource, or (a pool booking) its candidates, whose
/// resource id is a placeholder replaced by the chosen one. Exactly one of `resource_id`,
/// `resource_ids` and `pool` must be given.
fn target(body: &requests::PlaceBooking) -> Result<(ResourceId, Option<Candidates>), Problem> {
    let only_one = |field: &str| {
        Problem::invalid_field(
            field,
            "give exactly one of resource_id, resource_ids and pool",
        )
    };
    let placeholder = ResourceId(uuid::Uuid::nil());
    match (&body.resource_id, &body.resource_ids, &body.pool) {
        (Some(id), None, None) => Ok((ResourceId(*id), None)),
        (None, Some(ids), None) => {
            if ids.len() > MAX_LISTED {
                return Err(Problem::invalid_field(
                    "resource_ids",
                    format!("must list at most {MAX_LISTED} resources"),
                ));
            }
            let ids = ids.iter().copied().map(ResourceId).collect();
            Ok((placeholder, Some(Candidates::Listed(ids))))
        }
        (None, None, Some(pool)) => Ok((placeholder, Some(Candidates::Pool(filter(pool)?)))),
        (None, None, None) => Err(only_one("resource_id")),
        (Some(_), Some(_), _) => Err(only_one("resource_ids")),
        (_, _, Some(_)) => Err(only_one("pool")),
    }
}

/// A `pool` as the resource filter (only active resources); a bad key or value is named as
/// `pool.<field>.<key>`.
fn filter(pool: &requests::Pool) -> Result<ResourceFilter, Problem> {
    if pool.kind.is_empty() {
        return Err(Problem::invalid_field("pool.kind", "must not be empty"));
    }
    let mut filter = ResourceFilter {
        kind: Some(pool.kind.clone()),
        ..ResourceFilter::default()
    };
    for (key, value) in &pool.attributes {
        let field = || format!("pool.attributes.{key}");
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(Problem::invalid_field(
                    field(),
                    "must be a string, number or boolean",
                ));
            }
        };
        filter
            .with_attribute(key, value)
            .map_err(|err| Problem::invalid_field(field(), err.message))?;
    }
    for (key, value) in &pool.min {
        let field = || format!("pool.min.{key}");
        let Value::Number(n) = value else {
            return Err(Problem::invalid_field(field(), "must be a number"));
        };
        filter
            .with_min(key, &n.to_string())
            .map_err(|err| Problem::invalid_field(field(), err.message))?;
    }
    Ok(filter)
}

async fn transition(
    cx: Commander,
    path: BookingPath,
    action: Action,
    reason: Option<String>,
) -> Result<Reply, Problem> {
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(Problem::invalid_field(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let booking_id = path.id()?;
    let request = cx.request(
        &format!("POST /v1/bookings/{booking_id} {action:?}"),
        &reason,
    )?;
    let command = TransitionBooking {
        booking_id,
        action,
        reason,
        owner: owner(&cx.actor),
    };
    cx.run(&request, command).await
}

problems!(
    ConfirmProblems = [BookingNotFound, InvalidState, HoldExpired] + AUTHENTICATED,
    PATH,
    COMMAND
);

/// Confirms a hold: it becomes `confirmed`, or `pending` when the resource requires approval.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/confirm",
    operation_id = "confirm_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    responses(
        (status = 200, description = "Confirmed or pending", body = Written<BookingAnswer>),
        ConfirmProblems,
    ),
)]
pub async fn confirm(cx: Commander, ApiPath(path): ApiPath<BookingPath>) -> Result<Reply, Problem> {
    transition(cx, path, Action::Confirm, None).await
}

problems!(
    ApproveProblems = [BookingNotFound, InvalidState] + AUTHENTICATED,
    PATH,
    COMMAND
);

/// Approves a pending booking: it becomes `confirmed`.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/approve",
    operation_id = "approve_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    responses(
        (status = 200, description = "Confirmed", body = Written<BookingAnswer>),
        ApproveProblems,
    ),
)]
pub async fn approve(cx: Commander, ApiPath(path): ApiPath<BookingPath>) -> Result<Reply, Problem> {
    transition(cx, path, Action::Approve, None).await
}

problems!(
    DeclineProblems = [BookingNotFound, InvalidState] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Declines a pending booking: it becomes `declined` and its time is free again.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/decline",
    operation_id = "decline_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    request_body(content = Option<requests::Reason>, description = "Optional."),
    responses(
        (status = 200, description = "Declined", body = Written<BookingAnswer>),
        DeclineProblems,
    ),
)]
pub async fn decline(
    cx: Commander,
    ApiPath(path): ApiPath<BookingPath>,
    OptionalJson(body): OptionalJson<requests::Reason>,
) -> Result<Reply, Problem> {
    transition(cx, path, Action::Decline, body.reason).await
}

problems!(
    CancelProblems = [
        BookingNotFound,
        InvalidState,
        HoldExpired,
        CutoffPassed,
        BookingStarted,
    ] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Cancels a held, pending or confirmed booking that has not started: its time is free again.
/// A client cannot within the resource's `cancel_cutoff_minutes` before the start.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/cancel",
    operation_id = "cancel_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    request_body(content = Option<requests::Reason>, description = "Optional."),
    responses(
        (status = 200, description = "Cancelled", body = Written<BookingAnswer>),
        CancelProblems,
    ),
)]
pub async fn cancel(
    cx: Commander,
    ApiPath(path): ApiPath<BookingPath>,
    OptionalJson(body): OptionalJson<requests::Reason>,
) -> Result<Reply, Problem> {
    transition(cx, path, Action::Cancel, body.reason).await
}

problems!(
    RescheduleProblems = [
        BookingNotFound,
        SlotUnavailable,
        QuotaExceeded,
        ResourceArchived,
        InvalidState,
        CutoffPassed,
        BookingStarted,
        InvalidPeriod,
        OutsideOpeningHours,
        DurationOutOfRange,
        InsufficientNotice,
        TooFarInAdvance,
        QuantityExceedsCapacity,
    ] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Moves a confirmed booking that has not started to another period, atomically: it keeps its
/// id, and keeps its old time if the new one cannot be had. A client cannot within the
/// resource's `cancel_cutoff_minutes` before the (current) start.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/reschedule",
    operation_id = "reschedule_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    request_body = requests::Reschedule,
    responses(
        (status = 200, description = "Moved", body = Written<BookingAnswer>),
        RescheduleProblems,
    ),
)]
pub async fn reschedule(
    cx: Commander,
    ApiPath(path): ApiPath<BookingPath>,
    ApiJson(body): ApiJson<requests::Reschedule>,
) -> Result<Reply, Problem> {
    let booking_id = path.id()?;
    let request = cx.request(&format!("POST /v1/bookings/{booking_id}/reschedule"), &body)?;
    let command = RescheduleBooking {
        booking_id,
        period: period(body.start, body.end)?,
        owner: owner(&cx.actor),
    };
    cx.run(&request, command).await
}

problems!(
    CheckInProblems = [BookingNotFound, InvalidState, HoldExpired, CheckInWindow] + AUTHENTICATED,
    PATH,
    COMMAND
);

/// Checks in a confirmed booking: it becomes `checked_in`. Open from the resource's
/// `check_in_opens_minutes` before the start until the end.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/check-in",
    operation_id = "check_in_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    responses(
        (status = 200, description = "Checked in", body = Written<BookingAnswer>),
        CheckInProblems,
    ),
)]
pub async fn check_in(
    cx: Commander,
    ApiPath(path): ApiPath<BookingPath>,
) -> Result<Reply, Problem> {
    transition(cx, path, Action::CheckIn, None).await
}

problems!(
    CompleteProblems = [BookingNotFound, InvalidState, HoldExpired] + AUTHENTICATED,
    PATH,
    COMMAND
);

/// Completes a checked-in booking, or a confirmed one that has started: it becomes
/// `completed` (its time stays booked).
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/complete",
    operation_id = "complete_booking",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    responses(
        (status = 200, description = "Completed", body = Written<BookingAnswer>),
        CompleteProblems,
    ),
)]
pub async fn complete(
    cx: Commander,
    ApiPath(path): ApiPath<BookingPath>,
) -> Result<Reply, Problem> {
    transition(cx, path, Action::Complete, None).await
}

problems!(
    NoShowProblems = [BookingNotFound, InvalidState, HoldExpired, NoShowTooEarly] + AUTHENTICATED,
    PATH,
    COMMAND
);

/// Marks a confirmed booking a no-show, from the resource's `no_show_grace_minutes` after its
/// start: it becomes `no_show`, and the rest of its time (from now) is free for others at once.
#[utoipa::path(
    post,
    path = "/v1/bookings/{id}/no-show",
    operation_id = "mark_booking_no_show",
    tag = "bookings",
    params(BookingPath, IdempotencyKey),
    responses(
        (status = 200, description = "A no-show", body = Written<BookingAnswer>),
        NoShowProblems,
    ),
)]
pub async fn no_show(cx: Commander, ApiPath(path): ApiPath<BookingPath>) -> Result<Reply, Problem> {
    transition(cx, path, Action::NoShow, None).await
}
