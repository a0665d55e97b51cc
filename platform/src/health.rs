//! `/healthz` (the process is alive), `/readyz` (its dependencies answer) and `/metrics`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// A named dependency check, e.g. ("postgres", a `SELECT 1`).
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How long one readiness check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Checks(Arc<Vec<(&'static str, Check)>>);

/// A router with `/healthz`, `/readyz` and `/metrics`, to merge into a service's router.
pub fn router<S: Clone + Send + Sync + 'static>(checks: Vec<(&'static str, Check)>) -> Router<S> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Checks(Arc::new(checks)))
}

async fn readyz(State(checks): State<Checks>) -> Response {
    let results = futures_join(&checks.0).await;
    let mut body = serde_json::Map::new();
    let mut ready = true;
    for (name, result) in results {
        let entry = match result {
            Ok(()) => json!({ "status": "up" }),
            Err(error) => {
                ready = false;
                json!({ "status": "down", "error": error })
            }
        };
        body.insert(name.to_owned(), entry);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let down: Vec<&str> = body
        .iter()
        .filter(|(_, v)| v["status"] == "down")
        .map(|(k, _)| k.as_str())
        .collect();
    let summary = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "down": down,
        "checks": body,
    });
    (status, Json(summary)).into_response()
}

async fn futures_join(checks: &[(&'static str, Check)]) -> Vec<(&'static str, Result<(), String>)> {
    let mut handles = Vec::with_capacity(checks.len());
    for (name, check) in checks {
        let future = check();
        handles.push((
            *name,
            tokio::spawn(tokio::time::timeout(CHECK_TIMEOUT, future)),
        ));
    }
    let mut results = Vec::with_capacity(handles.len());
    for (name, handle) in handles {
        let result = match handle.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("timed out".to_owned()),
            Err(_) => Err("check failed".to_owned()),
        };
        results.push((name, result));
    }
    results
}

async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::handle().render(),
    )
        .into_response()
}
