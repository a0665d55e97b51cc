//! `/healthz` (the process is alive), `/readyz` (its dependencies answer) and `/metrics`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// A named dependency check, e.g. ("postgres", a `SELECT 1`). Its error text goes to the log,
/// never into the answer (it may name hosts, users or internals).
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A named check from an async probe.
pub fn check<F, Fut>(name: &'static str, probe: F) -> (&'static str, Check)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let check: Check = Arc::new(move || Box::pin(probe()));
    (name, check)
}

/// Postgres answers `SELECT 1` through the service's pool.
pub fn postgres(pool: sqlx::PgPool) -> (&'static str, Check) {
    check("postgres", move || {
        let pool = pool.clone();
        async move {
            sqlx::query("select 1")
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|err| err.to_string())
        }
    })
}

/// The NATS client is connected.
pub fn nats(client: async_nats::Client) -> (&'static str, Check) {
    check("nats", move || {
        let state = client.connection_state();
        async move {
            match state {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(other.to_string()),
            }
        }
    })
}

/// How long one readiness check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One dependency: its name, its check, and whether it was down at the last look (so the log
/// says when it goes down and comes back, not on every probe).
struct Dependency {
    name: &'static str,
    check: Check,
    was_down: AtomicBool,
}

#[derive(Clone)]
struct Checks(Arc<Vec<Dependency>>);

/// A router with `/healthz`, `/readyz` and `/metrics`, to merge into a service's router.
pub fn router<S: Clone + Send + Sync + 'static>(checks: Vec<(&'static str, Check)>) -> Router<S> {
    let dependencies = checks
        .into_iter()
        .map(|(name, check)| Dependency {
            name,
            check,
            was_down: AtomicBool::new(false),
        })
        .collect();
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Checks(Arc::new(dependencies)))
}

/// `200 {"status": "ready", …}` or `503 {"status": "unavailable", "down": ["postgres"], …}`:
/// the answer names the dependencies that are down; why they are is in the log.
async fn readyz(State(checks): State<Checks>) -> Response {
    let results = run_checks(&checks.0).await;
    let mut body = serde_json::Map::new();
    let mut down = Vec::new();
    for (dependency, result) in checks.0.iter().zip(results) {
        let is_down = result.is_err();
        let was_down = dependency.was_down.swap(is_down, Ordering::Relaxed);
        match (result, was_down) {
            (Err(error), false) => {
                tracing::warn!(dependency = dependency.name, error = %error, "dependency is down");
            }
            (Err(error), true) => {
                tracing::debug!(dependency = dependency.name, error = %error, "dependency is still down");
            }
            (Ok(()), true) => {
                tracing::info!(dependency = dependency.name, "dependency is up again")
            }
            (Ok(()), false) => {}
        }
        if is_down {
            down.push(dependency.name);
        }
        let status = if is_down { "down" } else { "up" };
        body.insert(dependency.name.to_owned(), json!({ "status": status }));
    }
    let ready = down.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let summary = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "down": down,
        "checks": body,
    });
    (status, Json(summary)).into_response()
}

/// Runs every check at once, each within [`CHECK_TIMEOUT`].
async fn run_checks(dependencies: &[Dependency]) -> Vec<Result<(), String>> {
    let handles: Vec<_> = dependencies
        .iter()
        .map(|dependency| tokio::spawn(tokio::time::timeout(CHECK_TIMEOUT, (dependency.check)())))
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(match handle.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
            Err(err) => Err(format!("the check failed: {err}")),
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn check(result: Result<(), &'static str>) -> Check {
        Arc::new(move || Box::pin(async move { result.map_err(str::to_owned) }))
    }

    #[tokio::test]
    async fn readiness_names_the_dependency_that_is_down_but_not_its_error() {
        let app: Router = router(vec![
            (
                "postgres",
                check(Err(
                    "password authentication failed for user \"bookings\" at 10.1.2.3",
                )),
            ),
            ("nats", check(Ok(()))),
        ]);
        let response = app
            .oneshot(
                axum::http::Request::get("/readyz")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["down"], json!(["postgres"]));
        assert_eq!(body["checks"]["postgres"]["status"], "down");
        assert_eq!(body["checks"]["nats"]["status"], "up");
        assert!(
            !text.contains("password") && !text.contains("10.1.2.3"),
            "{text}"
        );
    }
}
