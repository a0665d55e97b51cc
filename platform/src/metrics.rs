//! Prometheus metrics: one recorder per process, and a middleware that counts and times
//! requests by route (the matched path, so ids do not explode the label set).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics handle, installing the recorder the first time.
///
/// Several services may run in one process (the end-to-end tests do), so this is idempotent.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is already installed; then ours just stays local.
            let _ = metrics::set_global_recorder(recorder);
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Histogram samples are kept one by one until something folds them into buckets: a scrape of
/// `/metrics`, or this. Without it, a service that nobody scrapes grows by every request it
/// serves. A thread of its own, so that it runs whatever runtime (or none) the caller has.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the metrics upkeep thread; histograms grow until scraped");
    }
}

/// The `route` label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Middleware: `http_requests_total` and `http_request_duration_seconds` by method, route and
/// status.
///
/// Every label comes from a fixed set, so clients cannot grow the metrics (and the memory
/// behind them) with made-up methods or paths: the method is one of the standard ones or
/// `other`, the route is the matched route's template (`/v1/bookings/{id}`) or `unmatched`.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The `method` label: a standard method's name, else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn made_up_methods_and_paths_do_not_become_label_values() {
        let handle = handle();
        let app = crate::service::finish(
            Router::new().route("/v1/things/{id}", get(|| async { "thing" })),
            Router::new(),
            Duration::from_secs(5),
        );
        for (method, path) in [
            ("GET", "/v1/things/a1b2c3"),
            ("MADEUPMETHOD", "/v1/things/d4e5f6"),
            ("GET", "/no/such/path/q9w8e7"),
            ("ANOTHERVERB", "/random/path/z1x2c3"),
        ] {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let rendered = handle.render();
        for made_up in [
            "MADEUPMETHOD",
            "ANOTHERVERB",
            "a1b2c3",
            "d4e5f6",
            "q9w8e7",
            "z1x2c3",
        ] {
            assert!(!rendered.contains(made_up), "{made_up} became a label");
        }
        assert!(
            rendered.contains(r#"method="other",route="/v1/things/{id}""#),
            "{rendered}"
        );
        assert!(rendered.contains(r#"route="unmatched""#), "{rendered}");
    }
}
