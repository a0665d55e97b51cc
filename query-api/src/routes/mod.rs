//! The HTTP surface of query-api (API.md): routing, the shared state, and the rules every read
//! follows (any role may read; another tenant's object is `404`; clients see only their own
//! bookings).

mod availability;
mod bookings;
mod resources;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use platform::Problem;
use platform::auth::{Actor, AuthState, RequireRole, Role};
use platform::health::Check;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::AnswerCache;
use crate::cache::DayCache;
use crate::cache::ResourceCache;
use crate::compute::Compute;
use crate::consistency::Freshness;

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

/// The complete router: `/v1` reads behind authentication, plus health and metrics.
pub fn router(
    state: AppState,
    auth: AuthState,
    checks: Vec<(&'static str, Check)>,
    request_timeout: Duration,
) -> Router {
    let v1 = Router::new()
        .route("/v1/resources", get(resources::list))
        .route("/v1/resources/{id}", get(resources::get))
        .route("/v1/resources/{id}/availability", get(availability::one))
        .route("/v1/availability", get(availability::many))
        .route("/v1/availability/check", post(availability::check))
        .route("/v1/bookings", get(bookings::list))
        .route("/v1/bookings/{id}", get(bookings::get))
        .route(
            "/v1/stats/daily",
            get(stats::daily).route_layer(RequireRole::any(STATS_READERS)),
        )
        // Roles are checked before any extractor runs: a caller without the role gets `403`
        // whatever its query string or body (API.md v1.1).
        .route_layer(RequireRole::any(READERS))
        .route_layer(from_fn_with_state(auth, platform::auth::authenticate))
        .with_state(state);
    platform::service::finish(v1, platform::health::router(checks), request_timeout)
}

/// Every read needs one of the three roles.
const READERS: &[Role] = &[Role::Admin, Role::Client, Role::Viewer];

/// Daily stats are for admins and viewers.
const STATS_READERS: &[Role] = &[Role::Admin, Role::Viewer];

/// Whether the actor sees every booking of its tenant (admins and viewers) or only its own.
fn sees_all_bookings(actor: &Actor) -> bool {
    actor.has(Role::Admin) || actor.has(Role::Viewer)
}

/// Path ids: anything that is not a UUID names nothing, so it is the same `404`.
fn path_id(raw: &str, not_found: fn() -> Problem) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}
