//! After confirmation (API.md v1.1 "Lifecycle after confirmation, cut-offs"): check-in in its
//! window, completion, no-shows freeing the rest of their time at once, the cancellation
//! cut-off, nothing cancelled or moved once started, holds never checked in, and the read side
//! (statuses, daily stats, replay) following all of it.
//!
//! Bookings cannot be placed in the past, so a "started" booking is placed a couple of seconds
//! ahead and the test waits for its start; policies (a wide check-in window, no grace) stand in
//! for longer waits wherever they can.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem};

/// An instant `seconds` from now, in whole seconds (rounded up), as RFC 3339.
fn from_now(seconds: i64) -> DateTime<Utc> {
    let now = Utc::now() + Duration::seconds(seconds + 1);
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Places a booking of `[start, start + minutes)` and returns its id.
async fn book(
    app: &TestApp,
    token: &str,
    room: &Value,
    start: DateTime<Utc>,
    minutes: i64,
) -> String {
    let end = start + Duration::minutes(minutes);
    let reply = app.book(token, room, &rfc3339(start), &rfc3339(end)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    id(&reply)
}

fn id(reply: &Reply) -> String {
    reply.body["booking"]["id"]
        .as_str()
        .expect("a booking in the answer")
        .to_owned()
}

/// A booking that has started: placed to start two seconds from now, then waited for.
async fn started(
    app: &TestApp,
    token: &str,
    room: &Value,
    minutes: i64,
) -> (String, DateTime<Utc>) {
    let start = from_now(2);
    let id = book(app, token, room, start, minutes).await;
    wait_until(start).await;
    (id, start)
}

/// Sleeps until just after `at`.
async fn wait_until(at: DateTime<Utc>) {
    let left = (at - Utc::now() + Duration::milliseconds(50))
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(left).await;
}

/// `POST /v1/bookings/{id}/{action}` as `token`, without a body.
async fn act(app: &TestApp, id: &str, action: &str, token: &str) -> Reply {
    app.post(&format!("/v1/bookings/{id}/{action}"), token, &json!({}))
        .await
}

#[track_caller]
fn assert_status(reply: &Reply, status: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["booking"]["status"], status, "{}", reply.body);
}

#[tokio::test]
async fn check_in_opens_the_policys_minutes_before_the_start_and_only_the_owner_or_an_admin_checks_in()
 {
    let app = TestApp::spawn().await;
    let room = app
        .create_resource(json!({ "policy": { "check_in_opens_minutes": 60 } }))
        .await;
    let alice = app.client("alice");
    let later = book(&app, &alice, &room, from_now(3 * 3600), 60).await;
    let early = act(&app, &later, "check-in", &alice).await;
    assert_problem(&early, StatusCode::CONFLICT, "check_in_window");

    let soon = book(&app, &alice, &room, from_now(30 * 60), 60).await;
    assert_problem(
        &act(&app, &soon, "check-in", &app.client("bob")).await,
        StatusCode::NOT_FOUND,
        "booking_not_found",
    );
    let path = format!("/v1/bookings/{soon}/check-in");
    let key = [("idempotency-key", "check-in-1")];
    let send = || app.send(reqwest::Method::POST, &path, Some(&alice), None, &key);
    let first = send().await;
    assert_status(&first, "checked_in");
    assert!(first.body["position"].is_string(), "{}", first.body);
    // A retry with the key answers the same; without it, it is checked in already.
    let retried = send().await;
    assert_eq!((retried.status, &retried.body), (first.status, &first.body));
    assert_problem(
        &act(&app, &soon, "check-in", &alice).await,
        StatusCode::CONFLICT,
        "invalid_state",
    );
    app.cleanup().await;
}

#[tokio::test]
async fn check_in_closes_at_the_end_of_the_booking() {
    let app = TestApp::spawn().await;
    // The shortest booking there can be: one minute, waited out.
    let room = app
        .create_resource(json!({ "policy": { "min_duration_minutes": 1 } }))
        .await;
    let admin = app.admin();
    let (id, start) = started(&app, &admin, &room, 1).await;
    wait_until(start + Duration::minutes(1)).await;
    assert_problem(
        &act(&app, &id, "check-in", &admin).await,
        StatusCode::CONFLICT,
        "check_in_window",
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_checked_in_booking_completes_and_a_confirmed_one_only_once_started() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let (alice, admin) = (app.client("alice"), app.admin());

    let ahead = book(&app, &alice, &room, from_now(40 * 60), 30).await;
    assert_problem(
        &act(&app, &ahead, "complete", &admin).await,
        StatusCode::CONFLICT,
        "invalid_state",
    );
    assert_status(&act(&app, &ahead, "check-in", &alice).await, "checked_in");
    assert_problem(
        &act(&app, &ahead, "complete", &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_status(&act(&app, &ahead, "complete", &admin).await, "completed");
    assert_problem(
        &act(&app, &ahead, "complete", &admin).await,
        StatusCode::CONFLICT,
        "invalid_state",
    );

    let (running, _) = started(&app, &alice, &room, 30).await;
    assert_status(&act(&app, &running, "complete", &admin).await, "completed");
    // A completed booking keeps its time.
    let taken = app
        .book(
            &app.client("bob"),
            &room,
            &rfc3339(from_now(1)),
            &rfc3339(from_now(20 * 60)),
        )
        .await;
    assert_problem(&taken, StatusCode::CONFLICT, "slot_unavailable");
    app.cleanup().await;
}

/// The guard's reservation of a booking, as `[start, end)`.
async fn guarded(app: &TestApp, id: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    sqlx::query_as(
        "select lower(during), upper(during) from allocations where booking_id = $1::uuid",
    )
    .bind(id)
    .fetch_optional(&app.pool)
    .await
    .expect("read the guard")
}

#[tokio::test]
async fn a_no_show_is_refused_within_the_grace_and_after_it_frees_the_rest_of_the_period_at_once() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (alice, bob, admin) = (app.client("alice"), app.client("bob"), app.admin());
    let graceful = app
        .create_resource(json!({ "policy": { "no_show_grace_minutes": 15 } }))
        .await;
    let (in_grace, _) = started(&app, &alice, &graceful, 30).await;
    assert_problem(
        &act(&app, &in_grace, "no-show", &admin).await,
        StatusCode::CONFLICT,
        "no_show_too_early",
    );

    let room = app
        .create_resource(json!({ "time_zone": "UTC", "policy": { "no_show_grace_minutes": 0 } }))
        .await;
    let (missed, start) = started(&app, &alice, &room, 30).await;
    let end = start + Duration::minutes(30);
    let availability = format!(
        "/v1/resources/{}/availability?from={}&to={}",
        room["id"].as_str().expect("an id"),
        rfc3339(start),
        rfc3339(end)
    );
    // Read (and cache) the day while the booking holds all of it.
    app.wait_for_projections(std::time::Duration::from_secs(10))
        .await;
    let before = app.query(&availability, &admin).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    assert_eq!(before.body["free"], json!([]), "{}", before.body);

    assert_problem(
        &act(&app, &missed, "no-show", &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let marked = act(&app, &missed, "no-show", &admin).await;
    assert_status(&marked, "no_show");
    let (kept_from, freed_from) = guarded(&app, &missed).await.expect("the early part kept");
    assert_eq!(kept_from, start);
    assert!(start < freed_from && freed_from < end, "{freed_from}");

    // At once: the rest of the period is someone else's…
    let rest_start = from_now(0);
    let rest = app
        .book(&bob, &room, &rfc3339(rest_start), &rfc3339(end))
        .await;
    assert_eq!(rest.status, StatusCode::CREATED, "{}", rest.body);
    // …and the read side follows (the cached day was invalidated): only the moments between
    // the no-show and the new booking are free; before them the no-show still holds its time.
    let position = rest.body["position"].as_str().expect("a position");
    let after = app
        .query(&format!("{availability}&min_position={position}"), &admin)
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    let at = |field: &str| -> Option<DateTime<Utc>> {
        after.body["free"][0][field].as_str()?.parse().ok()
    };
    assert_eq!(
        after.body["free"].as_array().map(Vec::len),
        Some(1),
        "{}",
        after.body
    );
    assert_eq!(
        (at("start"), at("end")),
        (Some(freed_from), Some(rest_start)),
        "{}",
        after.body
    );
    let busy: (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "select lower(during), upper(during) from read.busy where booking_id = $1::uuid",
    )
    .bind(&missed)
    .fetch_one(&app.pool)
    .await
    .expect("the no-show's busy interval");
    assert_eq!(busy, (start, freed_from));
    app.cleanup().await;
}

#[tokio::test]
async fn a_client_inside_the_cutoff_gets_cutoff_passed_and_an_admin_does_not() {
    let app = TestApp::spawn().await;
    let room = app
        .create_resource(json!({ "policy": { "cancel_cutoff_minutes": 120 } }))
        .await;
    let (alice, admin) = (app.client("alice"), app.admin());
    let reschedule = |id: &str, token: &str, start: DateTime<Utc>| {
        let path = format!("/v1/bookings/{id}/reschedule");
        let body =
            json!({ "start": rfc3339(start), "end": rfc3339(start + Duration::minutes(30)) });
        let token = token.to_owned();
        let app = &app;
        async move { app.post(&path, &token, &body).await }
    };

    let outside = book(&app, &alice, &room, from_now(3 * 3600), 30).await;
    let moved = reschedule(&outside, &alice, from_now(4 * 3600)).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_status(&act(&app, &outside, "cancel", &alice).await, "cancelled");

    let inside = book(&app, &alice, &room, from_now(3600), 30).await;
    assert_problem(
        &act(&app, &inside, "cancel", &alice).await,
        StatusCode::CONFLICT,
        "cutoff_passed",
    );
    assert_problem(
        &reschedule(&inside, &alice, from_now(5 * 3600)).await,
        StatusCode::CONFLICT,
        "cutoff_passed",
    );
    let by_admin = reschedule(&inside, &admin, from_now(90 * 60)).await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_status(&act(&app, &inside, "cancel", &admin).await, "cancelled");
    app.cleanup().await;
}

#[tokio::test]
async fn nobody_cancels_or_reschedules_a_started_booking() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let (alice, admin) = (app.client("alice"), app.admin());
    let (id, _) = started(&app, &alice, &room, 30).await;
    let later = from_now(3600);
    let body = json!({ "start": rfc3339(later), "end": rfc3339(later + Duration::minutes(30)) });
    for token in [&alice, &admin] {
        assert_problem(
            &act(&app, &id, "cancel", token).await,
            StatusCode::CONFLICT,
            "booking_started",
        );
        let moved = app
            .post(&format!("/v1/bookings/{id}/reschedule"), token, &body)
            .await;
        assert_problem(&moved, StatusCode::CONFLICT, "booking_started");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_hold_is_never_checked_in_neither_live_nor_expired() {
    let app = TestApp::spawn().await;
    let room = app
        .create_resource(
            json!({ "policy": { "hold_ttl_seconds": 1, "check_in_opens_minutes": 1440 } }),
        )
        .await;
    let alice = app.client("alice");
    let start = from_now(30 * 60);
    let held = app
        .post(
            "/v1/bookings",
            &alice,
            &json!({ "resource_id": room["id"], "start": rfc3339(start),
                     "end": rfc3339(start + Duration::minutes(30)), "hold": true }),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let id = id(&held);
    assert_problem(
        &act(&app, &id, "check-in", &alice).await,
        StatusCode::CONFLICT,
        "invalid_state",
    );
    // Past its TTL, before and after the sweeper records it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_problem(
        &act(&app, &id, "check-in", &alice).await,
        StatusCode::GONE,
        "hold_expired",
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(
        "select count(*) from events where stream_id = $1::uuid and event_type = 'HoldExpired'",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("count")
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper never expired the hold"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_problem(
        &act(&app, &id, "check-in", &app.admin()).await,
        StatusCode::GONE,
        "hold_expired",
    );
    let checked_in: i64 = sqlx::query_scalar(
        "select count(*) from events where stream_id = $1::uuid and event_type = 'BookingCheckedIn'",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(checked_in, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn stats_lists_and_a_replay_follow_check_ins_completions_and_no_shows() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (alice, admin) = (app.client("alice"), app.admin());
    let start = from_now(2);
    // Three bookings starting together on three rooms: one completed, one a no-show, one
    // checked in.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let room = app
            .create_resource(
                json!({ "time_zone": "UTC", "policy": { "no_show_grace_minutes": 0 } }),
            )
            .await;
        ids.push((book(&app, &alice, &room, start, 30).await, room));
    }
    wait_until(start).await;
    assert_status(&act(&app, &ids[0].0, "complete", &admin).await, "completed");
    assert_status(&act(&app, &ids[1].0, "no-show", &admin).await, "no_show");
    let last = act(&app, &ids[2].0, "check-in", &alice).await;
    assert_status(&last, "checked_in");
    let position = last.body["position"].as_str().expect("a position");

    let day = start.date_naive();
    let stats = app
        .query(
            &format!("/v1/stats/daily?from={day}&to={day}&min_position={position}"),
            &admin,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    let figures: Vec<(i64, i64, i64, i64, i64)> = ids
        .iter()
        .map(|(_, room)| {
            let item = stats.body["items"]
                .as_array()
                .and_then(|items| items.iter().find(|i| i["resource_id"] == room["id"]))
                .unwrap_or(&Value::Null);
            let n = |field: &str| item[field].as_i64().unwrap_or(-1);
            (
                n("bookings"),
                n("cancellations"),
                n("completed"),
                n("no_shows"),
                n("booked_minutes"),
            )
        })
        .collect();
    // A no-show stays among the day's bookings but books no minutes.
    assert_eq!(
        figures,
        vec![(1, 0, 1, 0, 30), (1, 0, 0, 1, 0), (1, 0, 0, 0, 30)],
        "{}",
        stats.body
    );
    for (status, (id, _)) in ["completed", "no_show", "checked_in"].iter().zip(&ids) {
        let listed = app
            .query(
                &format!("/v1/bookings?status={status}&min_position={position}"),
                &admin,
            )
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let items = listed.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{}", listed.body);
        assert_eq!(items[0]["id"], id.as_str());
    }

    app.wait_for_projections(std::time::Duration::from_secs(10))
        .await;
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}
