//! `GET /v1/series/{id}`: a series and every one of its occurrences.
//!
//! Scoped like bookings: admins and viewers see every series of their tenant, a client only
//! its own (another customer's series is `404`).

use api::views::SeriesDetail;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use platform::Problem;
use platform::auth::Actor;
use platform::path::ApiPath;
use readmodel::projections::Projection;

use super::{AppState, path_id, read_after, sees_all_bookings};
use crate::error::series_not_found;
use crate::params::{MinPosition, QueryParams};
use crate::store::{bookings, series as store};
use crate::views::booking_view;

api::problems!(GetProblems = [SeriesNotFound] + AUTHENTICATED, PATH, QUERY);

/// A series (a client's own only: another customer's is `404`) with its occurrences: every
/// booking carrying its id, in order of their start, whatever their status.
#[utoipa::path(
    get,
    path = "/v1/series/{id}",
    tag = "series",
    operation_id = "get_series",
    params(("id" = uuid::Uuid, Path, description = "The series."), MinPosition),
    responses((status = 200, description = "The series and its occurrences", body = SeriesDetail), GetProblems),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant, series.id = %id))]
pub async fn get(
    State(state): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<String>,
    query: QueryParams,
) -> Result<Response, Problem> {
    let id = path_id(&id, series_not_found)?;
    // The series and its bookings are one projection's: one checkpoint covers both.
    read_after(&state, query, &[Projection::Bookings]).await?;
    let series = store::get(&state.pool, &actor.tenant, id)
        .await?
        .filter(|series| sees_all_bookings(&actor) || series.customer_id == actor.id)
        .ok_or_else(series_not_found)?;
    let occurrences = bookings::of_series(&state.pool, &actor.tenant, id)
        .await?
        .into_iter()
        .map(booking_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(SeriesDetail {
        series: series.view()?,
        occurrences,
    })
    .into_response())
}
