//! Customer quotas: `max_active_bookings_per_customer` and `max_bookings_per_customer_per_day`
//! hold under concurrency, count whoever placed the booking, and give a place back when a
//! booking stops counting.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem, day_at, merged, slot};

/// Books `[start, end)` on `resource` for `customer`, as the client itself or (`by_admin`) as an
/// admin naming the customer.
async fn book_for(
    app: &TestApp,
    resource: &Value,
    customer: &str,
    (start, end): (String, String),
    extra: Value,
) -> Reply {
    let body = json!({ "resource_id": resource["id"], "start": start, "end": end });
    let body = merged(body, extra);
    app.post("/v1/bookings", &app.client(customer), &body).await
}

async fn cancel(app: &TestApp, booking: &Reply) -> Reply {
    let id = booking.body["booking"]["id"].as_str().unwrap();
    app.cancel(&app.admin(), id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_bookings_of_one_customer_against_a_limit_of_three_give_three() {
    let app = Arc::new(TestApp::spawn().await);
    let room = app
        .create_resource(json!({
            "capacity": 100, "time_zone": "UTC",
            "policy": { "max_active_bookings_per_customer": 3 }
        }))
        .await;
    let mut tasks = Vec::new();
    for hour in 0..20 {
        let (app, room) = (Arc::clone(&app), room.clone());
        tasks.push(tokio::spawn(async move {
            let reply = book_for(&app, &room, "greedy", slot(3, hour * 60, 60), json!({})).await;
            if reply.status != StatusCode::CREATED {
                assert_problem(&reply, StatusCode::CONFLICT, "quota_exceeded");
            }
            reply
        }));
    }
    let mut placed = Vec::new();
    let mut counts: HashMap<u16, usize> = HashMap::new();
    for task in tasks {
        let reply = task.await.unwrap();
        *counts.entry(reply.status.as_u16()).or_default() += 1;
        if reply.status == StatusCode::CREATED {
            placed.push(reply);
        }
    }
    assert_eq!(counts, HashMap::from([(201, 3), (409, 17)]));

    // Another customer is not limited by this one's bookings.
    let other = book_for(&app, &room, "modest", slot(3, 0, 60), json!({})).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    // An admin booking for the customer counts like the customer's own.
    let admin = app
        .post(
            "/v1/bookings",
            &app.admin(),
            &json!({ "resource_id": room["id"], "start": day_at(4, 9, 0),
                     "end": day_at(4, 10, 0), "customer_id": "greedy" }),
        )
        .await;
    assert_problem(&admin, StatusCode::CONFLICT, "quota_exceeded");
    // A cancelled booking gives its place back, once.
    assert_eq!(cancel(&app, &placed[0]).await.status, StatusCode::OK);
    let again = book_for(&app, &room, "greedy", slot(4, 600, 60), json!({})).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    let over = book_for(&app, &room, "greedy", slot(4, 720, 60), json!({})).await;
    assert_problem(&over, StatusCode::CONFLICT, "quota_exceeded");
    Arc::into_inner(app).unwrap().cleanup().await;
}

#[tokio::test]
async fn the_daily_quota_counts_the_resources_local_day_and_a_move_into_a_full_day_is_refused() {
    let app = TestApp::spawn().await;
    // Berlin is UTC+1 in winter and UTC+2 in summer: 23:30 UTC the day before is local day 4
    // either way.
    let room = app
        .create_resource(json!({
            "capacity": 10, "time_zone": "Europe/Berlin",
            "policy": { "max_bookings_per_customer_per_day": 2 }
        }))
        .await;
    let first = book_for(&app, &room, "ann", slot(3, 23 * 60 + 30, 30), json!({})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let second = book_for(&app, &room, "ann", slot(4, 9 * 60, 60), json!({})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let third = book_for(&app, &room, "ann", slot(4, 12 * 60, 60), json!({})).await;
    assert_problem(&third, StatusCode::CONFLICT, "quota_exceeded");
    assert!(
        third.body["detail"].as_str().unwrap().contains("per day"),
        "{}",
        third.body
    );
    // The next local day is free; moving that booking into the full day is not.
    let next_day = book_for(&app, &room, "ann", slot(5, 9 * 60, 60), json!({})).await;
    assert_eq!(next_day.status, StatusCode::CREATED, "{}", next_day.body);
    let id = next_day.body["booking"]["id"].as_str().unwrap();
    let move_to = |(start, end): (String, String)| {
        let path = format!("/v1/bookings/{id}/reschedule");
        let body = json!({ "start": start, "end": end });
        let app = &app;
        async move { app.post(&path, &app.client("ann"), &body).await }
    };
    let moved = move_to(slot(4, 14 * 60, 60)).await;
    assert_problem(&moved, StatusCode::CONFLICT, "quota_exceeded");
    // A move within its own day counts the booking once.
    let within = move_to(slot(5, 11 * 60, 60)).await;
    assert_eq!(within.status, StatusCode::OK, "{}", within.body);
    // Once one of the day's bookings is cancelled the move fits.
    assert_eq!(cancel(&app, &second).await.status, StatusCode::OK);
    let moved = move_to(slot(4, 14 * 60, 60)).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    app.cleanup().await;
}

#[tokio::test]
async fn a_hold_past_its_ttl_stops_counting_before_the_sweeper_expires_it() {
    let app = TestApp::spawn_with(|settings| settings.sweeper_enabled = false).await;
    let room = app
        .create_resource(json!({
            "capacity": 5, "time_zone": "UTC",
            "policy": { "max_active_bookings_per_customer": 1, "hold_ttl_seconds": 1 }
        }))
        .await;
    let hold = book_for(
        &app,
        &room,
        "bob",
        slot(2, 600, 60),
        json!({ "hold": true }),
    )
    .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let refused = book_for(&app, &room, "bob", slot(2, 720, 60), json!({})).await;
    assert_problem(&refused, StatusCode::CONFLICT, "quota_exceeded");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let placed = book_for(&app, &room, "bob", slot(2, 720, 60), json!({})).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    // The expired hold cannot be confirmed back into a second active booking.
    let id = hold.body["booking"]["id"].as_str().unwrap();
    let confirm = app
        .post(
            &format!("/v1/bookings/{id}/confirm"),
            &app.client("bob"),
            &json!({}),
        )
        .await;
    assert_problem(&confirm, StatusCode::GONE, "hold_expired");
    app.cleanup().await;
}

#[tokio::test]
async fn a_quota_below_one_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/resources",
            &app.admin(),
            &json!({ "name": "Room", "kind": "meeting_room", "capacity": 1,
                     "time_zone": "UTC",
                     "policy": { "max_bookings_per_customer_per_day": 0 } }),
        )
        .await;
    assert_problem(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        reply.body["errors"][0]["field"],
        "policy.max_bookings_per_customer_per_day"
    );
    app.cleanup().await;
}
