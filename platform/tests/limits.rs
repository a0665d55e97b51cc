//! The authentication middleware's rate limits and the per-route role check, through a router.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use chrono::Utc;
use platform::auth::{Actor, AuthSettings, AuthState, Claims, RequireRole, Role, TokenKeys};
use platform::json::ApiJson;
use platform::rate_limit::{Limit, RateLimitSettings};
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &str = "limits-test-secret-of-at-least-32-bytes";

fn token(tenant: &str, sub: &str, roles: &[Role]) -> String {
    TokenKeys::new(SECRET)
        .sign(&Claims {
            sub: sub.to_owned(),
            tenant: tenant.parse().expect("a test tenant in the safe alphabet"),
            roles: roles.to_vec(),
            exp: Utc::now().timestamp() + 3600,
        })
        .expect("sign")
}

async fn router(limits: RateLimitSettings) -> Router {
    let auth = AuthState::start(
        &AuthSettings::with_secret(SECRET).expect("a long secret"),
        limits,
    )
    .await
    .expect("auth starts");
    Router::new()
        .route("/", get(|actor: Actor| async move { actor.id }))
        .route(
            "/admin",
            post(|_: Actor, ApiJson(_body): ApiJson<Value>| async { "created" })
                .route_layer(RequireRole::any(&[Role::Admin])),
        )
        .route_layer(from_fn_with_state(auth, platform::auth::authenticate))
}

struct Answer {
    status: StatusCode,
    code: Option<String>,
    retry_after: Option<String>,
    limit: Option<String>,
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    from: &str,
    body: &str,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let peer: SocketAddr = from.parse().expect("an address");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.expect("answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, retry_after, limit) = (
        response.status(),
        header("retry-after"),
        header("ratelimit-limit"),
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    let code = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|body| body["code"].as_str().map(str::to_owned));
    Answer {
        status,
        code,
        retry_after,
        limit,
    }
}

fn only(limit: &str, per_second: u32, burst: u32) -> RateLimitSettings {
    let on = Limit { per_second, burst };
    let mut settings = RateLimitSettings::OFF;
    match limit {
        "token" => settings.token = on,
        "tenant" => settings.tenant = on,
        _ => settings.ip = on,
    }
    settings
}

#[tokio::test]
async fn a_token_over_its_budget_gets_429_with_retry_after_and_ratelimit_headers() {
    let router = router(only("token", 1, 2)).await;
    let alice = token("acme", "alice", &[Role::Client]);
    for _ in 0..2 {
        let answer = send(&router, "GET", "/", Some(&alice), "192.0.2.1:1000", "").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.limit.as_deref(), Some("2"));
    }
    let limited = send(&router, "GET", "/", Some(&alice), "192.0.2.1:1000", "").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code.as_deref(), Some("rate_limited"));
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    let bob = token("acme", "bob", &[Role::Client]);
    assert_eq!(
        send(&router, "GET", "/", Some(&bob), "192.0.2.1:1000", "")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_tenant_over_its_budget_gets_429_whichever_token_asks() {
    let router = router(only("tenant", 1, 3)).await;
    for sub in ["a", "b", "c"] {
        let answer = send(
            &router,
            "GET",
            "/",
            Some(&token("acme", sub, &[Role::Viewer])),
            "192.0.2.1:1",
            "",
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let limited = send(
        &router,
        "GET",
        "/",
        Some(&token("acme", "d", &[Role::Viewer])),
        "192.0.2.1:1",
        "",
    )
    .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.retry_after.is_some());
    let other = send(
        &router,
        "GET",
        "/",
        Some(&token("globex", "a", &[Role::Viewer])),
        "192.0.2.1:1",
        "",
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_and_bad_tokens_are_limited_per_client_address_but_good_tokens_are_not() {
    let router = router(only("ip", 1, 2)).await;
    let from = "198.51.100.7:5555";
    assert_eq!(
        send(&router, "GET", "/", None, from, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&router, "GET", "/", Some("not.a.jwt"), from, "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let limited = send(&router, "GET", "/", Some("not.a.jwt"), from, "").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code.as_deref(), Some("rate_limited"));
    assert!(limited.retry_after.is_some());
    let limited = send(&router, "GET", "/", None, from, "").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    // A valid token from the same address is not held back; another address has its own budget.
    let good = token("acme", "alice", &[Role::Client]);
    assert_eq!(
        send(&router, "GET", "/", Some(&good), from, "")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&router, "GET", "/", None, "198.51.100.8:5555", "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_role_check_answers_403_before_the_body_is_read() {
    let router = router(RateLimitSettings::OFF).await;
    let client = token("acme", "alice", &[Role::Client]);
    for body in ["", "{", "{\"anything\": 1}", "[1, 2"] {
        let answer = send(
            &router,
            "POST",
            "/admin",
            Some(&client),
            "192.0.2.1:1",
            body,
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{body:?}");
        assert_eq!(answer.code.as_deref(), Some("forbidden"));
    }
    let admin = token("acme", "root", &[Role::Admin]);
    assert_eq!(
        send(&router, "POST", "/admin", Some(&admin), "192.0.2.1:1", "{")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&router, "POST", "/admin", Some(&admin), "192.0.2.1:1", "{}")
            .await
            .status,
        StatusCode::OK
    );
}
