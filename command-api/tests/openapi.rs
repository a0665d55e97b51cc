//! The OpenAPI document: the copy checked into `api/openapi/` is what the code generates, and
//! the router serves exactly the routes it describes (plus the document itself, health and
//! metrics).

use std::path::PathBuf;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use command_api::routes::AppState;
use platform::auth::{AuthSettings, AuthState, Claims, Role, TokenKeys};
use platform::rate_limit::RateLimitSettings;
use tower::ServiceExt;

const SECRET: &str = "openapi-test-secret-0123456789abcdef";

/// Where the checked-in copy lives; `OPENAPI_WRITE=1` rewrites it (`scripts/openapi`).
fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api/openapi/command-api.json")
}

fn generated() -> String {
    command_api::routes::openapi()
        .to_pretty_json()
        .expect("the document serializes")
        + "\n"
}

#[test]
fn the_checked_in_document_is_the_one_the_code_generates() {
    let generated = generated();
    if std::env::var_os("OPENAPI_WRITE").is_some() {
        std::fs::write(checked_in(), &generated).expect("write the checked-in document");
    }
    let stored = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        stored == generated,
        "api/openapi/command-api.json differs from the generated document; run scripts/openapi \
         and commit the result"
    );
}

/// A router as the service builds it, on a pool that never connects: the routes are only asked
/// which methods they serve, which no handler answers.
async fn router() -> axum::Router {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/nothing")
        .expect("a lazy pool");
    let auth = AuthState::start(
        &AuthSettings::with_secret(SECRET).expect("a long enough secret"),
        RateLimitSettings::OFF,
    )
    .await
    .expect("auth starts");
    let state = AppState {
        pool,
        wake: command_api::wake::RelayWake::default(),
    };
    command_api::routes::router(state, auth, Vec::new(), Duration::from_secs(5))
}

/// An admin's token: it passes every route's role check.
fn admin() -> HeaderMap {
    let token = TokenKeys::new(SECRET)
        .sign(&Claims {
            sub: "openapi-test".into(),
            tenant: "openapi".parse().expect("a tenant in the safe alphabet"),
            roles: vec![Role::Admin],
            exp: chrono::Utc::now().timestamp() + 600,
        })
        .expect("sign a token");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value"),
    );
    headers
}

/// The `(method, path)` pairs the document describes.
fn documented() -> Vec<(String, String)> {
    let document = serde_json::to_value(command_api::routes::openapi()).expect("serializes");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_routes_besides_the_document_health_and_metrics() {
    let mut expected = documented();
    assert!(expected.len() >= 10, "{expected:?}");
    for path in ["/healthz", "/metrics", "/openapi.json", "/readyz"] {
        expected.push(("GET".into(), path.into()));
    }
    expected.sort_by(|(m1, p1), (m2, p2)| (p1, m1).cmp(&(p2, m2)));
    let served = platform::service::served_routes(&router().await, &admin()).await;
    assert_eq!(served, expected);
}

#[tokio::test]
async fn the_document_is_served_without_a_token() {
    let request = axum::http::Request::get("/openapi.json")
        .body(axum::body::Body::empty())
        .expect("a request");
    let response = router().await.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("the body");
    assert_eq!(String::from_utf8_lossy(&body) + "\n", generated());
}
