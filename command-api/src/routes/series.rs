//! `/v1/series`: create a recurring series, cancel it from a point on.
//!
//! Clients create series for themselves and cancel their own (another customer's series is
//! `404`); admins any of their tenant's, and may create one for another customer.

use api::requests;
use api::views::{SeriesAnswer, SeriesCancelAnswer, Written};
use api::{ErrorCode, problems};
use domain::ids::{ResourceId, SeriesId, ServiceId};
use domain::recurrence::RecurrenceRule;
use domain::series::{self, SeriesError, SeriesSpec};
use platform::Problem;
use platform::json::{ApiJson, OptionalJson};
use platform::path::ApiPath;
use serde::Deserialize;
use utoipa::IntoParams;

use super::bookings::{booked_period, customer, owner};
use super::resources::Commander;
use super::{IdempotencyKey, path_id};
use crate::commands::{CancelSeries, CreateSeries};
use crate::error::CommandError;
use crate::reply::Reply;

problems!(
    CreateProblems = [
        ResourceNotFound,
        ServiceNotFound,
        ServiceNotOffered,
        SeriesConflict,
        ResourceArchived,
        AlreadyExists,
        InvalidRrule,
        InvalidPeriod,
        DurationOutOfRange,
        TooFarInAdvance,
        QuantityExceedsCapacity,
    ] + AUTHENTICATED,
    COMMAND,
    JSON_BODY
);

/// Books every occurrence of a recurrence rule as an ordinary booking carrying the series' id,
/// in one transaction. `on_conflict: fail`: all or nothing (`409 series_conflict` listing each
/// occurrence that cannot be booked with the code a single booking of it gets, and nothing
/// booked). `skip`: every occurrence that can be had (`skipped` lists the others; none at all is
/// `409 series_conflict`). Occurrences keep the start's local wall-clock time in the resource's
/// zone across DST changes. A rule outside the supported subset, a start that is not itself an
/// occurrence of the rule, or more than 366 occurrences is `422 invalid_rrule`; an occurrence
/// beyond the policy's `max_advance_days` refuses the whole series with `422
/// too_far_in_advance`.
#[utoipa::path(
    post,
    path = "/v1/series",
    operation_id = "create_series",
    tag = "series",
    params(IdempotencyKey),
    request_body = requests::CreateSeries,
    responses(
        (status = 201, description = "Booked (confirmed, or held)", body = Written<SeriesAnswer>),
        (status = 202, description = "Booked, pending an admin's approval", body = Written<SeriesAnswer>),
        CreateProblems,
    ),
)]
pub async fn create(
    cx: Commander,
    ApiJson(body): ApiJson<requests::CreateSeries>,
) -> Result<Reply, Problem> {
    let request = cx.request("POST /v1/series", &body)?;
    let rrule: RecurrenceRule = body
        .rrule
        .parse()
        .map_err(|err| CommandError::from(SeriesError::InvalidRule(err)).into_problem())?;
    let service_id = body.service_id.map(ServiceId);
    let command = CreateSeries {
        id_from_client: body.id.is_some(),
        service_id,
        series: series::CreateSeries {
            series_id: body.id.map_or_else(SeriesId::generate, SeriesId),
            spec: SeriesSpec {
                resource_id: ResourceId(body.resource_id),
                customer_id: customer(&cx.actor, body.customer_id)?,
                period: booked_period(body.start, body.end, service_id)?,
                rrule,
                on_conflict: body.on_conflict,
                quantity: body.quantity,
                hold: body.hold,
                service_id,
                metadata: body.metadata,
            },
        },
    };
    cx.run(&request, command).await
}

/// `/v1/series/{id}/…`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SeriesPath {
    /// The series.
    #[param(value_type = uuid::Uuid)]
    id: String,
}

problems!(
    CancelProblems = [SeriesNotFound, CutoffPassed, BookingStarted] + AUTHENTICATED,
    PATH,
    COMMAND,
    JSON_BODY
);

/// Cancels every held, pending or confirmed occurrence of the series starting at or after
/// `from` (default: now, i.e. every one not yet started), each as an ordinary cancel, in one
/// transaction: all of them or, when one cannot be cancelled (a client within the resource's
/// cut-off, an occurrence that has started), none. Occurrences already cancelled, declined,
/// expired, checked in, completed or no-shows are left as they are.
#[utoipa::path(
    post,
    path = "/v1/series/{id}/cancel",
    operation_id = "cancel_series",
    tag = "series",
    params(SeriesPath, IdempotencyKey),
    request_body(content = Option<requests::CancelSeries>, description = "Optional."),
    responses(
        (status = 200, description = "Cancelled", body = Written<SeriesCancelAnswer>),
        CancelProblems,
    ),
)]
pub async fn cancel(
    cx: Commander,
    ApiPath(path): ApiPath<SeriesPath>,
    OptionalJson(body): OptionalJson<requests::CancelSeries>,
) -> Result<Reply, Problem> {
    let series_id = SeriesId(path_id(&path.id, ErrorCode::SeriesNotFound)?);
    let request = cx.request(&format!("POST /v1/series/{series_id}/cancel"), &body)?;
    let command = CancelSeries {
        series_id,
        from: body.from,
        owner: owner(&cx.actor),
    };
    cx.run(&request, command).await
}
