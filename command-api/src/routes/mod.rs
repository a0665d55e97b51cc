//! The HTTP surface of command-api (API.md): routing, the shared state, and what every command
//! handler does before its command runs (roles, `Idempotency-Key`, request metadata).
//!
//! Each handler's `#[utoipa::path]` says its route and describes it; [`v1`] registers both at
//! once, so the router and its OpenAPI document (served at `GET /openapi.json`) cannot disagree
//! on a path or method.

mod bookings;
mod customers;
mod resources;
mod series;
mod services;

use std::time::Duration;

use api::ErrorCode;
use axum::Router;
use axum::http::HeaderMap;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use platform::Problem;
use platform::auth::{Actor, AuthState, RequireRole, Role};
use platform::health::Check;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::IntoParams;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::runner::CommandRequest;
use crate::store::CommandMeta;
use crate::store::idempotency::Idempotency;

/// Resources, services, approvals, declines, completions, no-shows and erasures are for admins.
const ADMINS: &[Role] = &[Role::Admin];
/// Clients book, confirm, cancel, reschedule and check in their own bookings; admins any of the
/// tenant's.
const BOOKERS: &[Role] = &[Role::Admin, Role::Client];

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub wake: crate::wake::RelayWake,
}

use platform::service::REQUEST_ID;

/// The `/v1` routes (not yet behind authentication) and their description.
pub fn v1() -> OpenApiRouter<AppState> {
    // Roles are checked per route before any extractor runs, so a caller without the role gets
    // `403` whatever its body, and the body is never read (API.md v1.1).
    let admin = || RequireRole::any(ADMINS);
    let bookers = || RequireRole::any(BOOKERS);
    let description = "Booking commands: resources, their blackouts, services, bookings through their \
        lifecycle, recurring series of bookings, and the erasure of a customer's personal data. \
        Every answer carries `position`, usable as `min_position` on query-api.";
    OpenApiRouter::with_openapi(api::openapi::document("bookings command-api", description))
        .routes(routes!(resources::create).map(|r| r.route_layer(admin())))
        .routes(routes!(resources::update).map(|r| r.route_layer(admin())))
        .routes(routes!(resources::add_blackout).map(|r| r.route_layer(admin())))
        .routes(routes!(resources::remove_blackout).map(|r| r.route_layer(admin())))
        .routes(routes!(services::create).map(|r| r.route_layer(admin())))
        .routes(routes!(services::update).map(|r| r.route_layer(admin())))
        .routes(routes!(bookings::place).map(|r| r.route_layer(bookers())))
        .routes(routes!(bookings::confirm).map(|r| r.route_layer(bookers())))
        .routes(routes!(bookings::approve).map(|r| r.route_layer(admin())))
        .routes(routes!(bookings::decline).map(|r| r.route_layer(admin())))
        .routes(routes!(bookings::cancel).map(|r| r.route_layer(bookers())))
        .routes(routes!(bookings::reschedule).map(|r| r.route_layer(bookers())))
        .routes(routes!(bookings::check_in).map(|r| r.route_layer(bookers())))
        .routes(routes!(bookings::complete).map(|r| r.route_layer(admin())))
        .routes(routes!(bookings::no_show).map(|r| r.route_layer(admin())))
        .routes(routes!(customers::erase).map(|r| r.route_layer(admin())))
        .routes(routes!(series::create).map(|r| r.route_layer(bookers())))
        .routes(routes!(series::cancel).map(|r| r.route_layer(bookers())))
}

/// The OpenAPI document of command-api.
pub fn openapi() -> OpenApi {
    v1().into_openapi()
}

/// The complete router: `/v1` commands behind authentication, the OpenAPI document, health and
/// metrics.
pub fn router(
    state: AppState,
    auth: AuthState,
    checks: Vec<(&'static str, Check)>,
    request_timeout: Duration,
) -> Router {
    platform::service::api_router(v1(), state, auth, checks, request_timeout)
}

/// `Idempotency-Key`, which every command accepts.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// A retry with the same key and body answers what the first request did (same status and
    /// body); with another body it is `422 idempotency_key_reused`; while the first still runs,
    /// `409 idempotency_key_in_flight`. Keys are kept at least 24 hours.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 255
    )]
    pub key: String,
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
