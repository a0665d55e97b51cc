//! The HTTP surface of command-api (API.md): routing, the shared state, and what every command
//! handler does before its command runs (roles, `Idempotency-Key`, request metadata).

mod bookings;
mod resources;

use std::time::Duration;

use api::ErrorCode;
use axum::Router;
use axum::http::HeaderMap;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, patch, post};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use platform::Problem;
use platform::auth::{Actor, AuthState, RequireRole, Role};
use platform::health::Check;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::runner::CommandRequest;
use crate::store::CommandMeta;
use crate::store::idempotency::Idempotency;

/// Resources, approvals and declines are for admins.
const ADMINS: &[Role] = &[Role::Admin];
/// Clients book, confirm, cancel and reschedule their own bookings; admins any of the tenant's.
const BOOKERS: &[Role] = &[Role::Admin, Role::Client];

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub wake: crate::wake::RelayWake,
}

use platform::service::REQUEST_ID;

/// The complete router: `/v1` commands behind authentication, plus health and metrics.
pub fn router(
    state: AppState,
    auth: AuthState,
    checks: Vec<(&'static str, Check)>,
    request_timeout: Duration,
) -> Router {
    // Roles are checked per route before any extractor runs, so a caller without the role gets
    // `403` whatever its body, and the body is never read (API.md v1.1).
    let admin = || RequireRole::any(ADMINS);
    let bookers = || RequireRole::any(BOOKERS);
    let v1 = Router::new()
        .route(
            "/v1/resources",
            post(resources::create).route_layer(admin()),
        )
        .route(
            "/v1/resources/{id}",
            patch(resources::update).route_layer(admin()),
        )
        .route(
            "/v1/resources/{id}/blackouts",
            post(resources::add_blackout).route_layer(admin()),
        )
        .route(
            "/v1/resources/{id}/blackouts/{blackout_id}",
            delete(resources::remove_blackout).route_layer(admin()),
        )
        .route("/v1/bookings", post(bookings::place).route_layer(bookers()))
        .route(
            "/v1/bookings/{id}/confirm",
            post(bookings::confirm).route_layer(bookers()),
        )
        .route(
            "/v1/bookings/{id}/approve",
            post(bookings::approve).route_layer(admin()),
        )
        .route(
            "/v1/bookings/{id}/decline",
            post(bookings::decline).route_layer(admin()),
        )
        .route(
            "/v1/bookings/{id}/cancel",
            post(bookings::cancel).route_layer(bookers()),
        )
        .route(
            "/v1/bookings/{id}/reschedule",
            post(bookings::reschedule).route_layer(bookers()),
        )
        .route_layer(from_fn_with_state(auth, platform::auth::authenticate))
        .with_state(state);
    platform::service::finish(v1, platform::health::router(checks), request_timeout)
}

/// Builds the command's request context: tenant and actor from the token, and the optional
/// `Idempotency-Key` with the request's fingerprint.
fn command_request(
    actor: &Actor,
    headers: &HeaderMap,
    method_and_path: &str,
    body: &impl Serialize,
) -> Result<CommandRequest, Problem> {
    let command_id = Uuid::now_v7();
    let correlation_id = headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map_or_else(|| command_id.to_string(), str::to_owned);
    let idempotency = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|key| !key.is_empty() && key.len() <= 255)
                .ok_or_else(|| {
                    Problem::malformed("Idempotency-Key must be 1 to 255 visible ASCII characters")
                })?;
            Some(Idempotency {
                key: key.to_owned(),
                fingerprint: serde_json::json!({
                    "request": method_and_path,
                    "actor": actor.id,
                    "body": body,
                }),
            })
        }
    };
    Ok(CommandRequest {
        meta: CommandMeta {
            tenant: actor.tenant.clone(),
            actor: actor.id.clone(),
            command_id,
            correlation_id,
            traceparent: headers
                .get(platform::trace::TRACEPARENT)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            now: now(),
        },
        idempotency,
    })
}

/// The command's clock, at the database's precision (microseconds), so what the answer says and
/// what is stored agree exactly.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// Path ids: anything that is not a UUID names nothing, so it is the same `404`.
fn path_id(raw: &str, not_found: ErrorCode) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::new(not_found, "no object with this id"))
}
