//! A booking's history (API.md v1.1 "History and personal data"): its events in order, with the
//! actor and data of each, read from the event store; scoped like the booking itself.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{TestApp, assert_problem, day_at};

#[tokio::test]
async fn the_history_lists_a_bookings_events_in_order_with_their_actors_to_whoever_may_see_it() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (alice, admin) = (app.client("alice"), app.admin());
    let room = app.create_resource(json!({})).await;
    let hold = app
        .post(
            "/v1/bookings",
            &alice,
            &json!({
                "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0),
                "hold": true,
            }),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let id = hold.body["booking"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let mut positions = vec![hold.body["position"].clone()];
    for (action, token, body) in [
        ("confirm", &alice, json!({})),
        (
            "reschedule",
            &alice,
            json!({ "start": day_at(3, 11, 0), "end": day_at(3, 12, 0) }),
        ),
        ("cancel", &admin, json!({ "reason": "room closed" })),
    ] {
        let reply = app
            .post(&format!("/v1/bookings/{id}/{action}"), token, &body)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{action}: {}", reply.body);
        positions.push(reply.body["position"].clone());
    }
    let path = format!("/v1/bookings/{id}/history");

    // The store is the source: the last command's own position reads it at once.
    let last = positions
        .last()
        .and_then(Value::as_str)
        .expect("a position");
    let history = app
        .query(&format!("{path}?min_position={last}"), &alice)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let items = history.body["items"].as_array().expect("items");
    let seen: Vec<(&str, &str, &Value)> = items
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap_or("?"),
                i["actor"].as_str().unwrap_or("?"),
                &i["position"],
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("BookingPlaced", "alice", &positions[0]),
            ("BookingConfirmed", "alice", &positions[1]),
            ("BookingRescheduled", "alice", &positions[2]),
            ("BookingCancelled", "admin-1", &positions[3]),
        ],
        "{}",
        history.body
    );
    assert_eq!(items[0]["data"]["customer_id"], "alice");
    assert_eq!(items[0]["data"]["status"], "held");
    assert_eq!(items[2]["data"]["start"], day_at(3, 11, 0));
    assert_eq!(items[3]["data"]["reason"], "room closed");
    assert!(
        items
            .windows(2)
            .all(|w| w[0]["recorded_at"].as_str() <= w[1]["recorded_at"].as_str())
    );

    // Admins and viewers of the tenant see it; another customer, another tenant's admin, an
    // unknown id and a resource's id are all the same 404.
    let viewer = app.token("acme", "viewer-1", &[platform::auth::Role::Viewer]);
    for token in [&admin, &viewer] {
        let reply = app.query(&path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body, history.body);
    }
    let other_tenant = app.token("other", "admin-9", &[platform::auth::Role::Admin]);
    for (path, token) in [
        (path.clone(), app.client("bob")),
        (path.clone(), other_tenant),
        (
            format!("/v1/bookings/{}/history", uuid::Uuid::new_v4()),
            admin.clone(),
        ),
        (
            format!("/v1/bookings/{}/history", room["id"].as_str().unwrap_or("")),
            admin.clone(),
        ),
        ("/v1/bookings/not-a-uuid/history".to_owned(), admin.clone()),
    ] {
        let reply = app.query(&path, &token).await;
        assert_problem(&reply, StatusCode::NOT_FOUND, "booking_not_found");
    }
    let ahead = app
        .query(&format!("{path}?min_position=99999999.1"), &admin)
        .await;
    assert_problem(&ahead, StatusCode::UNPROCESSABLE_ENTITY, "invalid_position");
    app.cleanup().await;
}
