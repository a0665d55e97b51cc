//! The layers every service's router gets, in one place: problem+json fallbacks, the body limit,
//! the request deadline, metrics, tracing and request ids.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use tower_http::trace::TraceLayer;

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
        .layer(TraceLayer::new_for_http())
        .layer(from_fn(request_id))
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
