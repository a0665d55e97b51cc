//! Every refusal is problem+json with a `code`; bad input is never a 500.

use chrono::Duration;
use platform::auth::Role;
use serde_json::json;

use crate::harness::{TestApp, monday_after, sign};

#[tokio::test]
async fn bad_availability_parameters_are_refused_with_their_codes_and_fields() {
    let app = TestApp::spawn().await;
    let resource = app.resource(json!({})).await;
    let day = monday_after(8);
    let base = format!("/v1/resources/{resource}/availability");
    let cases = [
        (
            format!("from={day}&to={}", day + Duration::days(62)),
            "window_too_large",
            "",
        ),
        (
            format!(
                "from={day}T00:00:00Z&to={}T00:00:01Z",
                day + Duration::days(62)
            ),
            "window_too_large",
            "",
        ),
        (
            format!("from={day}T10:00:00Z&to={day}T10:00:00Z"),
            "invalid_period",
            "",
        ),
        (
            format!("from={}&to={day}", day + Duration::days(1)),
            "invalid_period",
            "",
        ),
        (format!("to={day}"), "validation_failed", "from"),
        (format!("from=monday&to={day}"), "validation_failed", "from"),
        (
            format!("from={day}&to=2026-02-30"),
            "validation_failed",
            "to",
        ),
        (
            format!("from={day}&to={day}&duration_minutes=abc"),
            "validation_failed",
            "duration_minutes",
        ),
        (
            format!("from={day}&to={day}&duration_minutes=0"),
            "validation_failed",
            "duration_minutes",
        ),
        (
            format!("from={day}&to={day}&duration_minutes=30&quantity=0"),
            "validation_failed",
            "quantity",
        ),
        (
            format!("from={day}&to={day}&form={day}"),
            "validation_failed",
            "form",
        ),
        (
            format!("from={day}&from={day}&to={day}"),
            "validation_failed",
            "from",
        ),
    ];
    for (query, code, field) in cases {
        let reply = app
            .get(&format!("{base}?{query}"), Some(&app.admin()))
            .await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        assert_eq!(reply.code(), code, "{query}");
        assert_eq!(reply.field(), field, "{query}");
        assert_eq!(reply.header("content-type"), "application/problem+json");
    }
    // Exactly 62 local days is allowed.
    let reply = app
        .get(
            &format!("{base}?from={day}&to={}", day + Duration::days(61)),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn lists_refuse_bad_limits_cursors_and_filters() {
    let app = TestApp::spawn().await;
    for (path, field) in [
        ("/v1/resources?limit=501", "limit"),
        ("/v1/resources?limit=0", "limit"),
        ("/v1/resources?cursor=nonsense", "cursor"),
        ("/v1/bookings?limit=1000", "limit"),
        ("/v1/bookings?status=booked", "status"),
        ("/v1/bookings?resource_id=42", "resource_id"),
        ("/v1/bookings?from=later", "from"),
        ("/v1/bookings?resouce_id=42", "resouce_id"),
    ] {
        let reply = app.get(path, Some(&app.admin())).await;
        assert_eq!(reply.status, 422, "{path}: {}", reply.body);
        assert_eq!(reply.code(), "validation_failed", "{path}");
        assert_eq!(reply.field(), field, "{path}");
    }
    // A cursor from one list is not a cursor of another.
    let resource = app.resource(json!({})).await;
    app.resource(json!({})).await;
    let page = app.get("/v1/resources?limit=1", Some(&app.admin())).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let reply = app
        .get(&format!("/v1/bookings?cursor={cursor}"), Some(&app.admin()))
        .await;
    assert_eq!(reply.field(), "cursor");
    let reply = app
        .get(&format!("/v1/resources/{resource}x"), Some(&app.admin()))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "resource_not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_and_without_a_role_403() {
    let app = TestApp::spawn().await;
    let none = app.get("/v1/resources", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.code(), "unauthenticated");
    let expired = sign("acme", "alice", &[Role::Client], 1);
    assert_eq!(app.get("/v1/bookings", Some(&expired)).await.status, 401);
    let garbage = app.get("/v1/bookings", Some("not-a-token")).await;
    assert_eq!(garbage.status, 401);
    assert_eq!(garbage.header("content-type"), "application/problem+json");
    let roleless = app.token("acme", "nobody", &[]);
    let reply = app.get("/v1/resources", Some(&roleless)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), "forbidden");
    let unknown = app.get("/v1/nothing", Some(&app.admin())).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.code(), "not_found");
    app.cleanup().await;
}
