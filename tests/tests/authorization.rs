//! Authorization is decided before validation (API.md v1.1): a caller without the route's role
//! gets `403 forbidden` whatever it sends (an empty, incomplete, malformed or mistyped body, a
//! bad id, a bad query string), on every command and query route.

use platform::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tests::TestApp;

/// Bodies that would each be refused as invalid (400, 415 or 422) if they were looked at.
const BODIES: [(&str, &str); 5] = [
    ("application/json", ""),
    ("application/json", "{}"),
    ("application/json", "{\"name\": "),
    (
        "application/json",
        "{\"unknown_field\": true, \"capacity\": \"two\"}",
    ),
    ("text/plain", "hello"),
];

async fn send(
    app: &TestApp,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: (&str, &str),
) -> (StatusCode, Value) {
    let response = app
        .http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", body.0)
        .body(body.1.to_owned())
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let body =
        serde_json::from_slice(&response.bytes().await.expect("a body")).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn every_command_route_answers_403_to_a_role_without_it_whatever_the_body() {
    let app = TestApp::spawn().await;
    let client = app.client("alice");
    let viewer = app.token("acme", "vera", &[Role::Viewer]);
    let nobody = app.token("acme", "nemo", &[]);
    let id = "not-a-uuid";
    let admin_only = [
        (Method::POST, "/v1/resources".to_owned()),
        (Method::PATCH, format!("/v1/resources/{id}")),
        (Method::POST, format!("/v1/resources/{id}/blackouts")),
        (Method::DELETE, format!("/v1/resources/{id}/blackouts/{id}")),
        (Method::POST, format!("/v1/bookings/{id}/approve")),
        (Method::POST, format!("/v1/bookings/{id}/decline")),
        (Method::POST, format!("/v1/bookings/{id}/complete")),
        (Method::POST, format!("/v1/bookings/{id}/no-show")),
    ];
    let bookers = [
        (Method::POST, "/v1/bookings".to_owned()),
        (Method::POST, format!("/v1/bookings/{id}/confirm")),
        (Method::POST, format!("/v1/bookings/{id}/cancel")),
        (Method::POST, format!("/v1/bookings/{id}/reschedule")),
        (Method::POST, format!("/v1/bookings/{id}/check-in")),
    ];
    let cases = admin_only
        .iter()
        .flat_map(|route| [(route, &client), (route, &viewer), (route, &nobody)])
        .chain(
            bookers
                .iter()
                .flat_map(|route| [(route, &viewer), (route, &nobody)]),
        );
    for ((method, path), token) in cases {
        for body in BODIES {
            let (status, answer) =
                send(&app, &app.command_url, method.clone(), path, token, body).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} {body:?}: {answer}"
            );
            assert_eq!(answer["code"], "forbidden");
        }
    }
    // With the role, the same requests are judged on their content.
    let (status, answer) = send(
        &app,
        &app.command_url,
        Method::POST,
        "/v1/resources",
        &app.admin(),
        ("application/json", "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    app.cleanup().await;
}

#[tokio::test]
async fn every_query_route_answers_403_to_a_role_without_it_whatever_the_query() {
    let mut app = TestApp::spawn().await;
    let settings = app.query_settings();
    let query = app.start_query_api_with(settings).await;
    let client = app.client("alice");
    let nobody = app.token("acme", "nemo", &[]);
    let bad = "?from=yesterday&limit=-1&cursor=%%%&resource_id=nope&min_position=x";
    let mut cases: Vec<(Method, String, &String)> = [
        "/v1/resources",
        "/v1/resources/not-a-uuid",
        "/v1/resources/not-a-uuid/availability",
        "/v1/availability",
        "/v1/bookings",
        "/v1/bookings/not-a-uuid",
        "/v1/stats/daily",
    ]
    .iter()
    .map(|path| (Method::GET, format!("{path}{bad}"), &nobody))
    .collect();
    cases.push((Method::POST, "/v1/availability/check".to_owned(), &nobody));
    cases.push((Method::GET, format!("/v1/stats/daily{bad}"), &client));
    for (method, path, token) in cases {
        for body in BODIES {
            let (status, answer) = send(&app, &query, method.clone(), &path, token, body).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} {body:?}: {answer}"
            );
            assert_eq!(answer["code"], "forbidden");
        }
    }
    let (status, _) = send(
        &app,
        &query,
        Method::GET,
        &format!("/v1/stats/daily{bad}"),
        &app.admin(),
        ("application/json", ""),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.cleanup().await;
}
