//! The HTTP surface of query-api (API.md): routing, the shared state, and the rules every read
//! follows (any role may read; another tenant's object is `404`; clients see only their own
//! bookings).
//!
//! Each handler's `#[utoipa::path]` says its route and describes it; [`v1`] registers both at
//! once, so the router and its OpenAPI document (served at `GET /openapi.json`) cannot disagree
//! on a path or method.

mod availability;
mod bookings;
mod resources;
mod search;
mod series;
mod services;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use platform::Problem;
use platform::auth::{Actor, AuthState, RequireRole, Role};
use platform::health::Check;
use readmodel::projections::Projection;
use sqlx::PgPool;
use utoipa::openapi::OpenApi;
use utoipa::openapi::Required;
use utoipa::openapi::path::ParameterIn;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::cache::AnswerCache;
use crate::cache::DayCache;
use crate::cache::ResourceCache;
use crate::compute::Compute;
use crate::consistency::Freshness;
use crate::params::{self, QueryParams};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub cache: Arc<DayCache>,
    pub resources: Arc<ResourceCache>,
    pub answers: Arc<AnswerCache>,
    pub freshness: Freshness,
    pub compute: Compute,
}

/// The `/v1` routes (not yet behind authentication) and their description.
pub fn v1() -> OpenApiRouter<AppState> {
    let description = "Reads: resources, availability (cached; or live from the write side), \
        bookings, recurring series and stats for dashboards. Every query takes `min_position` (a command's `position`) to \
        read its own writes.";
    let mut router =
        OpenApiRouter::with_openapi(api::openapi::document("bookings query-api", description))
            .routes(routes!(resources::list))
            .routes(routes!(resources::get))
            .routes(routes!(services::list))
            .routes(routes!(services::get))
            .routes(routes!(availability::one))
            .routes(routes!(availability::many))
            .routes(routes!(availability::check))
            .routes(routes!(search::search))
            .routes(routes!(bookings::list))
            .routes(routes!(bookings::get))
            .routes(routes!(bookings::history))
            .routes(routes!(series::get))
            .routes(routes!(stats::daily).map(|r| r.route_layer(RequireRole::any(STATS_READERS))))
            .routes(routes!(stats::summary).map(|r| r.route_layer(RequireRole::any(STATS_READERS))))
            // Roles are checked before any extractor runs: a caller without the role gets `403`
            // whatever its query string or body (API.md v1.1).
            .route_layer(RequireRole::any(READERS));
    empty_means_absent(router.get_openapi_mut());
    router
}

/// `QueryParams` reads an empty value (`kind=`) as an absent parameter: every optional query
/// parameter says so with `allowEmptyValue`, which utoipa has no field for (hence an extension
/// under the standard name).
fn empty_means_absent(document: &mut OpenApi) {
    let operations = document
        .paths
        .paths
        .values_mut()
        .flat_map(|item| [&mut item.get, &mut item.post].into_iter().flatten());
    for operation in operations {
        let parameters = operation.parameters.iter_mut().flatten();
        for parameter in parameters
            .filter(|p| p.parameter_in == ParameterIn::Query && p.required == Required::False)
        {
            parameter
                .extensions
                .get_or_insert_default()
                .insert("allowEmptyValue".to_owned(), true.into());
        }
    }
}

/// The OpenAPI document of query-api.
pub fn openapi() -> OpenApi {
    v1().into_openapi()
}

/// The complete router: `/v1` reads behind authentication, the OpenAPI document, health and
/// metrics.
pub fn router(
    state: AppState,
    auth: AuthState,
    checks: Vec<(&'static str, Check)>,
    request_timeout: Duration,
) -> Router {
    platform::service::api_router(v1(), state, auth, checks, request_timeout)
}

/// Every read needs one of the three roles.
const READERS: &[Role] = &[Role::Admin, Role::Client, Role::Viewer];

/// Daily stats are for admins and viewers.
const STATS_READERS: &[Role] = &[Role::Admin, Role::Viewer];

/// Whether the actor sees every booking of its tenant (admins and viewers) or only its own.
fn sees_all_bookings(actor: &Actor) -> bool {
    actor.has(Role::Admin) || actor.has(Role::Viewer)
}

/// Takes `min_position` (the last parameter of a query string), refuses any parameter left, and
/// waits until `projections` have reached it.
async fn read_after(
    state: &AppState,
    mut query: QueryParams,
    projections: &[Projection],
) -> Result<(), Problem> {
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    state
        .freshness
        .wait(&state.pool, projections, min_position)
        .await
}

/// Path ids: anything that is not a UUID names nothing, so it is the same `404`.
fn path_id(raw: &str, not_found: fn() -> Problem) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}
