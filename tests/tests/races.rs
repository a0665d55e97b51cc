//! Races on the write side: a crowd for one slot, the same idempotency key at once, bookings
//! racing a capacity change.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{TestApp, day_at};

async fn race(
    app: &Arc<TestApp>,
    resource: &Value,
    clients: usize,
    start: &str,
    end: &str,
) -> HashMap<u16, usize> {
    let mut tasks = Vec::new();
    for i in 0..clients {
        let app = Arc::clone(app);
        let resource = resource.clone();
        let (start, end) = (start.to_owned(), end.to_owned());
        tasks.push(tokio::spawn(async move {
            let token = app.client(&format!("racer-{i}"));
            let reply = app.book(&token, &resource, &start, &end).await;
            if reply.status == StatusCode::CONFLICT {
                assert_eq!(reply.code(), "slot_unavailable", "{}", reply.body);
            }
            reply.status.as_u16()
        }));
    }
    let mut counts = HashMap::new();
    for task in tasks {
        *counts.entry(task.await.expect("task")).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_clients_racing_for_one_slot_get_one_booking_and_199_conflicts() {
    let app = Arc::new(TestApp::spawn().await);
    let room = app
        .create_resource(json!({ "policy": { "buffer_after_minutes": 10 } }))
        .await;
    let counts = race(&app, &room, 200, &day_at(5, 9, 0), &day_at(5, 10, 0)).await;
    assert_eq!(counts.get(&201), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&409), Some(&199), "{counts:?}");

    // Overlapping but different periods are refused, and so is one that only hits the buffer.
    let admin = app.admin();
    for (start, end) in [
        (day_at(5, 8, 30), day_at(5, 9, 30)),
        (day_at(5, 9, 59), day_at(5, 11, 0)),
        (day_at(5, 10, 5), day_at(5, 11, 0)),
    ] {
        let reply = app.book(&admin, &room, &start, &end).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{start} {}", reply.body);
        assert_eq!(reply.body["conflicts"][0]["start"], day_at(5, 9, 0));
        assert_eq!(reply.body["conflicts"][0]["end"], day_at(5, 10, 10));
    }
    // Right after the buffer is free.
    assert_eq!(
        app.book_day(&admin, &room, 5, (10, 10), (11, 0))
            .await
            .status,
        StatusCode::CREATED
    );
    let allocations: i64 = sqlx::query_scalar("select count(*) from allocations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(allocations, 2);
    Arc::into_inner(app).expect("sole owner").cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_capacity_three_resource_under_the_same_storm_takes_exactly_three() {
    let app = Arc::new(TestApp::spawn().await);
    let seats = app
        .create_resource(json!({ "kind": "class_session", "capacity": 3 }))
        .await;
    let counts = race(&app, &seats, 200, &day_at(6, 18, 0), &day_at(6, 19, 0)).await;
    assert_eq!(counts.get(&201), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&409), Some(&197), "{counts:?}");
    let units: Vec<i32> = sqlx::query_scalar("select unit from allocations order by unit")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(units, vec![0, 1, 2]);
    Arc::into_inner(app).expect("sole owner").cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_idempotency_key_sent_twenty_times_at_once_books_once_with_identical_answers() {
    let app = Arc::new(TestApp::spawn().await);
    let room = app.create_resource(json!({})).await;
    let body =
        json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, body) = (Arc::clone(&app), body.clone());
        tasks.push(tokio::spawn(async move {
            let token = app.client("alice");
            let reply = app.book_with_key(&token, &body, "order-42").await;
            (reply.status, reply.body)
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(answers[0].0, StatusCode::CREATED, "{}", answers[0].1);
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "answers differ: {answers:?}"
    );
    let bookings: i64 =
        sqlx::query_scalar("select count(*) from streams where stream_type = 'booking'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(bookings, 1);

    // The same key with another body is refused, and does nothing.
    let other =
        json!({ "resource_id": room["id"], "start": day_at(3, 11, 0), "end": day_at(3, 12, 0) });
    let reply = app
        .book_with_key(&app.client("alice"), &other, "order-42")
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "idempotency_key_reused");
    Arc::into_inner(app).expect("sole owner").cleanup().await;
}

#[tokio::test]
async fn a_rejected_command_is_replayed_with_the_same_rejection() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let admin = app.admin();
    assert_eq!(
        app.book_day(&admin, &room, 3, (9, 0), (10, 0)).await.status,
        StatusCode::CREATED
    );
    let body =
        json!({ "resource_id": room["id"], "start": day_at(3, 9, 30), "end": day_at(3, 10, 30) });
    let first = app.book_with_key(&admin, &body, "k1").await;
    assert_eq!(first.code(), "slot_unavailable");
    let again = app.book_with_key(&admin, &body, "k1").await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert!(again.content_type().starts_with("application/problem+json"));
    app.cleanup().await;
}

#[tokio::test]
async fn a_retry_while_the_first_request_is_still_running_is_409_in_flight() {
    let app = TestApp::spawn_with(|s| s.lock_timeout = std::time::Duration::from_millis(300)).await;
    let room = app.create_resource(json!({})).await;
    // Hold the key's lock the way a running request with this key holds it.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7))")
        .bind("acme")
        .bind("slow-key")
        .execute(&mut *tx)
        .await
        .unwrap();
    let body =
        json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
    let reply = app.book_with_key(&app.admin(), &body, "slow-key").await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.code(), "idempotency_key_in_flight");
    tx.rollback().await.unwrap();
    // Once the first one is done, the key works.
    let reply = app.book_with_key(&app.admin(), &body, "slow-key").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    app.cleanup().await;
}

/// Waits until `count` sessions wait for an advisory lock.
async fn advisory_waiters(app: &TestApp, count: i64) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_locks where locktype = 'advisory' and not granted",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never saw {count} advisory-lock waiters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_racing_a_capacity_cut_is_decided_on_the_new_capacity() {
    let app = Arc::new(TestApp::spawn().await);
    let seats = app.create_resource(json!({ "capacity": 2 })).await;
    let id = seats["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.book_day(&app.admin(), &seats, 3, (9, 0), (10, 0))
            .await
            .status,
        StatusCode::CREATED
    );
    // Hold the resource's allocation lock so both requests queue behind it: the cut first.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('resource:' || $1, 0))")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let cut = {
        let app = Arc::clone(&app);
        let path = format!("/v1/resources/{id}");
        tokio::spawn(async move {
            app.send(
                reqwest::Method::PATCH,
                &path,
                Some(&app.admin()),
                Some(&json!({ "capacity": 1 })),
                &[("if-match", "1")],
            )
            .await
        })
    };
    advisory_waiters(&app, 1).await;
    let booking = {
        let (app, seats) = (Arc::clone(&app), seats.clone());
        tokio::spawn(async move { app.book_day(&app.admin(), &seats, 3, (9, 0), (10, 0)).await })
    };
    advisory_waiters(&app, 2).await;
    tx.commit().await.unwrap();
    let cut = cut.await.unwrap();
    assert_eq!(cut.status, StatusCode::OK, "{}", cut.body);
    let booking = booking.await.unwrap();
    assert_eq!(
        booking.code(),
        "slot_unavailable",
        "decided on capacity 1: {}",
        booking.body
    );
    Arc::into_inner(app).expect("sole owner").cleanup().await;
}

/// A capacity > 1 resource decides a placement from one read of free units, expired holds and
/// conflicts (before and under its lock), and never on stale rules or stale room: a taken id,
/// an expired hold, a capacity change and a cancellation are all seen at once.
#[tokio::test]
async fn a_full_resource_refuses_with_its_conflicts_but_never_on_stale_rules_or_room() {
    let app = TestApp::spawn_with(|s| s.sweeper_enabled = false).await;
    let seats = app
        .create_resource(json!({
            "kind": "class_session", "capacity": 2, "policy": { "hold_ttl_seconds": 1 }
        }))
        .await;
    let id = seats["id"].as_str().unwrap().to_owned();
    let (start, end) = (day_at(4, 9, 0), day_at(4, 10, 0));
    let book = |who: &'static str| {
        let (app, seats, start, end) = (&app, &seats, &start, &end);
        async move { app.book(&app.client(who), seats, start, end).await }
    };
    let alice = book("alice").await;
    assert_eq!(alice.status, StatusCode::CREATED, "{}", alice.body);
    let hold = json!({ "resource_id": id, "start": start, "end": end, "hold": true });
    let bob = app.post("/v1/bookings", &app.client("bob"), &hold).await;
    assert_eq!(bob.status, StatusCode::CREATED, "{}", bob.body);
    let carol = book("carol").await;
    assert_eq!(carol.code(), "slot_unavailable", "{}", carol.body);
    assert_eq!(
        carol.body["conflicts"],
        json!([{ "start": start, "end": end }]),
        "{}",
        carol.body
    );

    // A client's id that is taken is still `already_exists`.
    let again =
        json!({ "id": alice.body["booking"]["id"], "resource_id": id, "start": start, "end": end });
    let again = app.post("/v1/bookings", &app.client("alice"), &again).await;
    assert_eq!(again.code(), "already_exists", "{}", again.body);

    // The hold expires: its unit is given to the next placement.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let erin = book("erin").await;
    assert_eq!(erin.status, StatusCode::CREATED, "{}", erin.body);
    assert_eq!(book("frank").await.code(), "slot_unavailable");

    // More capacity is bookable at once.
    let raised = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/resources/{id}"),
            Some(&app.admin()),
            Some(&json!({ "capacity": 3 })),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
    assert_eq!(book("george").await.status, StatusCode::CREATED);
    assert_eq!(book("harry").await.code(), "slot_unavailable");

    // So is a cancelled booking's unit.
    let alice_id = alice.booking_id();
    let cancelled = app.cancel(&app.client("alice"), &alice_id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(book("ivan").await.status, StatusCode::CREATED);
    app.cleanup().await;
}

/// Placements take the lowest free units, so a capacity cut down to the number of units in use
/// succeeds whichever units a crowd spread over.
#[tokio::test]
async fn a_capacity_cut_to_the_units_in_use_succeeds() {
    let app = TestApp::spawn().await;
    let seats = app
        .create_resource(json!({ "kind": "class_session", "capacity": 8 }))
        .await;
    let id = seats["id"].as_str().unwrap().to_owned();
    for who in ["alice", "bob"] {
        let reply = app
            .book_day(&app.client(who), &seats, 3, (9, 0), (10, 0))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let cut = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/resources/{id}"),
            Some(&app.admin()),
            Some(&json!({ "capacity": 2 })),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(cut.status, StatusCode::OK, "{}", cut.body);
    assert_eq!(
        app.book_day(&app.client("carol"), &seats, 3, (9, 0), (10, 0))
            .await
            .code(),
        "slot_unavailable"
    );
    app.cleanup().await;
}
