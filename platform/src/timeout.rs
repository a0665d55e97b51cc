//! A deadline for every request: past it the handler is dropped (a command's transaction rolls
//! back with it) and the client gets `503 timeout` in problem+json instead of a hang.

use api::ErrorCode;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// Middleware; use with `from_fn_with_state(duration, timeout::enforce)`.
pub async fn enforce(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::unavailable(
            ErrorCode::Timeout,
            format!("the request did not finish within {} ms", limit.as_millis()),
            1,
        )
        .into_response(),
    }
}
