//! The layers every service's router gets, in one place: problem+json fallbacks, the body limit,
//! the request deadline, metrics, tracing (the request's span and its trace context) and
//! request ids.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::AuthState;
use crate::health::Check;

/// The header that carries (and, when absent, gets) a request id; commands use it as their
/// correlation id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client. It is stored in the metadata of every event a
/// command writes, so it must stay small.
pub const MAX_REQUEST_ID_LEN: usize = 128;

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
        // Answers and failures at DEBUG; the request's INFO span is `trace::propagate`'s.
        .layer(TraceLayer::new_for_http())
        .layer(from_fn(crate::trace::propagate))
        .layer(from_fn(request_id))
}

/// A service's complete router: its `v1` routes behind authentication, with `state`; the OpenAPI
/// document they describe at `GET /openapi.json`; health and metrics; all in the standard
/// layers ([`finish`]).
pub fn api_router<S: Clone + Send + Sync + 'static>(
    v1: OpenApiRouter<S>,
    state: S,
    auth: AuthState,
    checks: Vec<(&'static str, Check)>,
    request_timeout: Duration,
) -> Router {
    let (v1, document) = v1
        .route_layer(from_fn_with_state(auth, crate::auth::authenticate))
        .with_state(state)
        .split_for_parts();
    let document = document
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    let v1 = v1.merge(openapi_document(document));
    finish(v1, crate::health::router(checks), request_timeout)
}

/// `GET /openapi.json`: the service's OpenAPI document, rendered once at start. Like health, it
/// needs no token: it tells nothing about any tenant.
pub fn openapi_document(json: String) -> Router {
    let body = Bytes::from(json);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    )
}

/// The `(method, path)` pairs `router` serves, for tests that hold a router against its OpenAPI
/// document. axum shows its route table only in the router's `Debug` form, so the paths are read
/// from there; the methods are read from the `Allow` header of the `405` that each path answers
/// to `TRACE` (which no route uses), asked with `headers` (a token that passes the route layers).
/// `HEAD`, which axum answers wherever `GET` is served, is left out.
pub async fn served_routes(router: &Router, headers: &HeaderMap) -> Vec<(String, String)> {
    use tower::ServiceExt;
    let table = format!("{router:?}");
    let paths: std::collections::BTreeSet<&str> = table
        .split("RouteId(")
        .skip(1)
        .filter_map(|entry| entry.split_once("): \"")?.1.split('"').next())
        .filter(|path| !path.contains("__private__axum"))
        .collect();
    let mut served = Vec::new();
    for path in paths {
        // A concrete path for the template: any segment will do to reach the route.
        let uri: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut request = Request::builder().method("TRACE").uri(uri);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let Ok(request) = request.body(axum::body::Body::empty()) else {
            continue;
        };
        let Ok(response) = router.clone().oneshot(request).await;
        let allow = response
            .headers()
            .get(header::ALLOW)
            .and_then(|allow| allow.to_str().ok())
            .unwrap_or_default();
        for method in allow.split(',').map(str::trim) {
            if !method.is_empty() && method != "HEAD" {
                served.push((method.to_owned(), path.to_owned()));
            }
        }
    }
    served.sort_by(|(m1, p1), (m2, p2)| (p1, m1).cmp(&(p2, m2)));
    served
}

/// Middleware: keeps the client's `X-Request-Id` when it is one value of 1 to
/// [`MAX_REQUEST_ID_LEN`] visible ASCII characters, else replaces it with a new UUID; the answer
/// carries the id used.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let mut given = request.headers().get_all(&REQUEST_ID).iter();
    let acceptable = match (given.next(), given.next()) {
        (Some(id), None) => is_acceptable(id).then(|| id.clone()),
        _ => None,
    };
    let id = acceptable.unwrap_or_else(generate);
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// 1 to [`MAX_REQUEST_ID_LEN`] bytes, each a visible ASCII character (`!` to `~`).
fn is_acceptable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic)
}

fn generate() -> HeaderValue {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// The id the handler saw and the one the answer carries.
    async fn ids(given: &[&[u8]]) -> (String, String) {
        let app = finish(
            Router::new().route(
                "/echo",
                get(|request: Request| async move {
                    request
                        .headers()
                        .get(REQUEST_ID)
                        .map(|id| String::from_utf8_lossy(id.as_bytes()).into_owned())
                        .unwrap_or_default()
                }),
            ),
            Router::new(),
            Duration::from_secs(5),
        );
        let mut request = axum::http::Request::get("/echo");
        for id in given {
            request = request.header(REQUEST_ID, HeaderValue::from_bytes(id).unwrap());
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let answered = response.headers()[REQUEST_ID].to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (String::from_utf8(body.to_vec()).unwrap(), answered)
    }

    fn is_uuid(id: &str) -> bool {
        uuid::Uuid::parse_str(id).is_ok()
    }

    #[tokio::test]
    async fn served_routes_lists_each_path_and_method_of_a_finished_router() {
        use axum::routing::{delete, post};
        let api = Router::new()
            .route("/v1/things/{id}", get(|| async {}).post(|| async {}))
            .route("/v1/other", delete(|| async {}))
            .route("/v1/more/{a}/{b}", post(|| async {}));
        let app = finish(api, Router::new(), Duration::from_secs(5));
        let served = served_routes(&app, &HeaderMap::new()).await;
        let served: Vec<(&str, &str)> = served
            .iter()
            .map(|(method, path)| (method.as_str(), path.as_str()))
            .collect();
        assert_eq!(
            served,
            [
                ("POST", "/v1/more/{a}/{b}"),
                ("DELETE", "/v1/other"),
                ("GET", "/v1/things/{id}"),
                ("POST", "/v1/things/{id}"),
            ]
        );
    }

    #[tokio::test]
    async fn a_short_visible_ascii_request_id_is_kept_and_echoed() {
        let id = "order-42/retry:1";
        assert_eq!(ids(&[id.as_bytes()]).await, (id.to_owned(), id.to_owned()));
        let longest = "x".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(ids(&[longest.as_bytes()]).await.0, longest);
    }

    #[tokio::test]
    async fn a_long_empty_repeated_or_non_ascii_request_id_is_replaced_by_a_new_one() {
        let too_long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        for given in [
            vec![too_long.as_bytes()],
            vec![b"".as_slice()],
            vec![b"has space".as_slice()],
            vec![b"tab\there".as_slice()],
            vec!["caf\u{e9}".as_bytes()],
            vec![b"\xff\xfe".as_slice()],
            vec![b"one".as_slice(), b"two".as_slice()],
            vec![],
        ] {
            let (seen, answered) = ids(&given).await;
            assert!(is_uuid(&seen), "{given:?} became {seen:?}");
            assert_eq!(seen, answered);
        }
    }
}
