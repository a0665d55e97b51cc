//! The layers every service's router gets, in one place: problem+json fallbacks, the body limit,
//! the request deadline, metrics, tracing and request ids.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::middleware::{from_fn, from_fn_with_state};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The header that carries (and, when absent, gets) a request id; commands use it as their
/// correlation id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `api` (already authenticated and with its state) plus the health router, wrapped in the
/// standard layers.
pub fn finish(api: Router, health: Router, request_timeout: Duration) -> Router {
    Router::new()
        .merge(api)
        .merge(health)
        .fallback(crate::problem::not_found_fallback)
        .method_not_allowed_fallback(crate::problem::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(crate::json::MAX_BODY_BYTES))
        .layer(from_fn_with_state(request_timeout, crate::timeout::enforce))
        .layer(from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
