//! The write side over HTTP: reschedule, approval, holds and their expiry (races are in
//! `races.rs`).

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Reply, TestApp, day_at};

/// A room whose holds live `ttl_seconds`, and alice's hold on it, in two days 09:00-10:00.
async fn room_with_a_hold(app: &TestApp, ttl_seconds: u32) -> (Value, Reply) {
    let policy = json!({ "policy": { "hold_ttl_seconds": ttl_seconds } });
    let room = app.create_resource(policy).await;
    let body = json!({ "resource_id": room["id"], "start": day_at(2, 9, 0), "end": day_at(2, 10, 0), "hold": true });
    let hold = app.post("/v1/bookings", &app.client("alice"), &body).await;
    (room, hold)
}

#[tokio::test]
async fn rescheduling_onto_a_taken_slot_keeps_the_booking_and_onto_a_free_one_moves_it() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let alice = app.client("alice");
    let bob = app.client("bob");
    let mine = app.book_day(&alice, &room, 4, (9, 0), (10, 0)).await;
    let id = mine.booking_id();
    assert_eq!(
        app.book_day(&bob, &room, 4, (11, 0), (12, 0)).await.status,
        StatusCode::CREATED
    );

    let path = format!("/v1/bookings/{id}/reschedule");
    let period = |from: (u32, u32), to: (u32, u32)| json!({ "start": day_at(4, from.0, from.1), "end": day_at(4, to.0, to.1) });
    let taken = app.post(&path, &alice, &period((11, 30), (12, 30))).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "slot_unavailable");
    // Still holding its original slot.
    assert_eq!(
        app.book_day(&bob, &room, 4, (9, 0), (10, 0)).await.status,
        StatusCode::CONFLICT
    );

    let moved = app.post(&path, &alice, &period((13, 0), (14, 0))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["booking"]["id"], id.as_str());
    assert_eq!(moved.body["booking"]["start"], day_at(4, 13, 0));
    assert_eq!(moved.body["booking"]["version"], 2);
    // The old slot is immediately bookable by someone else, the new one is not.
    assert_eq!(
        app.book_day(&bob, &room, 4, (9, 0), (10, 0)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.book_day(&bob, &room, 4, (13, 30), (14, 0)).await.status,
        StatusCode::CONFLICT
    );
    // Overlapping its own old period is fine.
    let nudge = app.post(&path, &alice, &period((13, 30), (14, 30))).await;
    assert_eq!(nudge.status, StatusCode::OK, "{}", nudge.body);
    app.cleanup().await;
}

#[tokio::test]
async fn a_booking_needing_approval_is_pending_holds_its_slot_and_only_admins_decide() {
    let app = TestApp::spawn().await;
    let room = app
        .create_resource(json!({ "policy": { "requires_approval": true } }))
        .await;
    let alice = app.client("alice");
    let admin = app.admin();
    let pending = app.book_day(&alice, &room, 2, (9, 0), (10, 0)).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED, "{}", pending.body);
    assert_eq!(pending.body["booking"]["status"], "pending");
    let id = pending.booking_id();
    // The slot is already held.
    assert_eq!(
        app.book_day(&admin, &room, 2, (9, 30), (10, 30))
            .await
            .code(),
        "slot_unavailable"
    );
    // A client may not approve, not even its own booking.
    let refused = app
        .post(&format!("/v1/bookings/{id}/approve"), &alice, &json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "forbidden");
    let approved = app
        .post(&format!("/v1/bookings/{id}/approve"), &admin, &json!({}))
        .await;
    assert_eq!(approved.status, StatusCode::OK);
    assert_eq!(approved.body["booking"]["status"], "confirmed");
    // Approving twice is a state error.
    assert_eq!(
        app.post(&format!("/v1/bookings/{id}/approve"), &admin, &json!({}))
            .await
            .code(),
        "invalid_state"
    );

    // Declining frees the slot.
    let second = app.book_day(&alice, &room, 2, (11, 0), (12, 0)).await;
    let second_id = second.booking_id();
    let declined = app
        .post(
            &format!("/v1/bookings/{second_id}/decline"),
            &admin,
            &json!({ "reason": "maintenance" }),
        )
        .await;
    assert_eq!(declined.body["booking"]["status"], "declined");
    assert_eq!(
        app.book_day(&admin, &room, 2, (11, 0), (12, 0))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    app.cleanup().await;
}

#[tokio::test]
async fn an_expired_hold_frees_its_slot_records_hold_expired_and_cannot_be_confirmed() {
    let app = TestApp::spawn().await;
    let alice = app.client("alice");
    let (room, hold) = room_with_a_hold(&app, 2).await;
    assert_eq!(hold.status, StatusCode::CREATED);
    assert_eq!(hold.body["booking"]["status"], "held");
    assert!(hold.body["booking"]["expires_at"].is_string());
    let id = hold.booking_id();
    // While it lives, the slot is taken.
    assert_eq!(
        app.book_day(&app.client("bob"), &room, 2, (9, 0), (10, 0))
            .await
            .code(),
        "slot_unavailable"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let bob = app
        .book_day(&app.client("bob"), &room, 2, (9, 0), (10, 0))
        .await;
    assert_eq!(bob.status, StatusCode::CREATED, "{}", bob.body);
    let expired: i64 = sqlx::query_scalar(
        "select count(*) from events where event_type = 'HoldExpired' and stream_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(expired, 1);
    let confirm = app
        .post(&format!("/v1/bookings/{id}/confirm"), &alice, &json!({}))
        .await;
    assert_eq!(confirm.status, StatusCode::GONE);
    assert_eq!(confirm.code(), "hold_expired");
    app.cleanup().await;
}

#[tokio::test]
async fn a_new_booking_colliding_only_with_an_expired_hold_expires_it_and_succeeds() {
    // The sweeper is off, so only the colliding command can free the hold.
    let app = TestApp::spawn_with(|s| s.sweeper_enabled = false).await;
    let (room, hold) = room_with_a_hold(&app, 1).await;
    assert_eq!(hold.status, StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let bob = app
        .book_day(&app.client("bob"), &room, 2, (9, 30), (10, 30))
        .await;
    assert_eq!(bob.status, StatusCode::CREATED, "{}", bob.body);
    let types: Vec<String> =
        sqlx::query_scalar("select event_type from events order by global_position")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        types,
        [
            "ResourceCreated",
            "BookingPlaced",
            "HoldExpired",
            "BookingPlaced"
        ]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_booking_colliding_with_an_expired_hold_and_a_live_booking_is_refused_with_the_live_conflict()
 {
    // The guard first finds a collision, expires the hold, then collides again with the live
    // booking: that failed insert aborts the transaction, and the 409 still lists the conflict
    // (read after the rollback, on another connection).
    let app = TestApp::spawn_with(|s| s.sweeper_enabled = false).await;
    let (room, hold) = room_with_a_hold(&app, 1).await;
    assert_eq!(hold.status, StatusCode::CREATED);
    let live = app
        .book_day(&app.client("carol"), &room, 2, (10, 0), (11, 0))
        .await;
    assert_eq!(live.status, StatusCode::CREATED, "{}", live.body);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let bob = app
        .book_day(&app.client("bob"), &room, 2, (9, 30), (10, 30))
        .await;
    assert_eq!(bob.status, StatusCode::CONFLICT, "{}", bob.body);
    assert_eq!(bob.body["code"], "slot_unavailable");
    let conflicts = bob.body["conflicts"].as_array().expect("conflicts");
    // Read after the rollback: the hold is still there too (adjacent, so merged with it).
    assert_eq!(conflicts.len(), 1, "{}", bob.body);
    assert_eq!(conflicts[0]["end"], day_at(2, 11, 0));
    app.cleanup().await;
}

#[tokio::test]
async fn a_confirmed_hold_stops_expiring_and_a_cancelled_booking_frees_its_slot() {
    let app = TestApp::spawn().await;
    let alice = app.client("alice");
    let (room, hold) = room_with_a_hold(&app, 1).await;
    let id = hold.booking_id();
    let confirmed = app
        .post(&format!("/v1/bookings/{id}/confirm"), &alice, &json!({}))
        .await;
    assert_eq!(
        confirmed.body["booking"]["status"], "confirmed",
        "{}",
        confirmed.body
    );
    assert!(confirmed.body["booking"]["expires_at"].is_null());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        app.book_day(&app.admin(), &room, 2, (9, 0), (10, 0))
            .await
            .code(),
        "slot_unavailable"
    );
    let cancelled = app
        .post(
            &format!("/v1/bookings/{id}/cancel"),
            &alice,
            &json!({ "reason": "plans changed" }),
        )
        .await;
    assert_eq!(cancelled.body["booking"]["status"], "cancelled");
    assert_eq!(
        app.book_day(&app.admin(), &room, 2, (9, 0), (10, 0))
            .await
            .status,
        StatusCode::CREATED
    );
    app.cleanup().await;
}
