//! Who may do what: tokens, roles and tenants, rate limits, and the health endpoints.

use chrono::Utc;
use platform::auth::Role;
use platform::rate_limit::Limit;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{TestApp, assert_problem, day_at, sign};

#[tokio::test]
async fn tokens_roles_and_tenants_are_enforced() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let body =
        json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });

    let none = app
        .send(Method::POST, "/v1/bookings", None, Some(&body), &[])
        .await;
    assert_problem(&none, StatusCode::UNAUTHORIZED, "unauthenticated");
    // Expired beyond the 60 s of clock leeway.
    let expired = sign(
        "acme",
        "alice",
        &[Role::Client],
        Utc::now().timestamp() - 120,
    );
    assert_problem(
        &app.post("/v1/bookings", &expired, &body).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_problem(
        &app.post("/v1/bookings", "not.a.jwt", &body).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );

    let alice = app.client("alice");
    let created = app
        .post(
            "/v1/resources",
            &alice,
            &json!({ "name": "Mine", "kind": "meeting_room", "time_zone": "UTC" }),
        )
        .await;
    assert_problem(&created, StatusCode::FORBIDDEN, "forbidden");
    let viewer = app.token("acme", "vera", &[Role::Viewer]);
    assert_problem(
        &app.post("/v1/bookings", &viewer, &body).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let for_bob = json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0), "customer_id": "bob" });
    assert_problem(
        &app.post("/v1/bookings", &alice, &for_bob).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Alice's booking is invisible to Bob: 404, not 403.
    let mine = app.post("/v1/bookings", &alice, &body).await;
    assert_eq!(mine.body["booking"]["customer_id"], "alice");
    let id = mine.booking_id();
    let bob = app.client("bob");
    assert_problem(
        &app.cancel(&bob, &id).await,
        StatusCode::NOT_FOUND,
        "booking_not_found",
    );
    assert_problem(
        &app.post(
            &format!("/v1/bookings/{id}/reschedule"),
            &bob,
            &json!({ "start": day_at(3, 11, 0), "end": day_at(3, 12, 0) }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "booking_not_found",
    );

    // Tenant B's admin cannot see or touch anything of tenant A.
    let other = app.token("globex", "root", &[Role::Admin]);
    assert_problem(
        &app.cancel(&other, &id).await,
        StatusCode::NOT_FOUND,
        "booking_not_found",
    );
    assert_problem(
        &app.post("/v1/bookings", &other, &body).await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let patch = app
        .send(
            Method::PATCH,
            &format!("/v1/resources/{}", room["id"].as_str().unwrap()),
            Some(&other),
            Some(&json!({ "name": "Hijacked" })),
            &[("if-match", "1")],
        )
        .await;
    assert_problem(&patch, StatusCode::NOT_FOUND, "resource_not_found");
    // And its own resource with the same kind of request works.
    let theirs = app
        .post(
            "/v1/resources",
            &other,
            &json!({ "name": "Theirs", "kind": "meeting_room", "time_zone": "UTC" }),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    // Still Alice's, untouched.
    assert_eq!(app.cancel(&alice, &id).await.status, StatusCode::OK);
    app.cleanup().await;
}

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits.token = Limit {
            per_second: 1,
            burst: 2,
        };
    })
    .await;
    let alice = app.client("alice");
    let body = json!({ "resource_id": uuid::Uuid::new_v4(), "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
    let first = app.post("/v1/bookings", &alice, &body).await;
    assert_eq!(first.headers["ratelimit-limit"], "2");
    app.post("/v1/bookings", &alice, &body).await;
    let limited = app.post("/v1/bookings", &alice, &body).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    // Another token has its own budget.
    assert_eq!(
        app.post("/v1/bookings", &app.client("bob"), &body)
            .await
            .code(),
        "resource_not_found"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.command_url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    // The NATS client connects in the background, so readiness may take a moment.
    let mut ready = get("/readyz").await.unwrap();
    for _ in 0..100 {
        if ready.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        ready = get("/readyz").await.unwrap();
    }
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert_eq!(body["checks"]["nats"]["status"], "up");
    app.create_resource(json!({})).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    app.cleanup().await;
}
