//! Pool bookings: `POST /v1/bookings` with `resource_ids` or `pool` puts the booking on the
//! first free candidate, atomically under races, in one Postgres transaction.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use platform::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem, merged, slot};

/// `POST /v1/bookings` as admin for `[start, end)` with `target` (`resource_ids`, `pool`, …).
async fn book_on(app: &TestApp, (start, end): &(String, String), target: Value) -> Reply {
    let body = merged(json!({ "start": start, "end": end }), target);
    app.post("/v1/bookings", &app.admin(), &body).await
}

fn chosen(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["booking"]["resource_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn id(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_owned()
}

async fn room(app: &TestApp, name: &str, kind: &str, attributes: Value) -> Value {
    app.create_resource(json!({ "name": name, "kind": kind, "attributes": attributes }))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_requests_on_a_pool_of_five_give_five_bookings_on_five_resources() {
    let app = Arc::new(TestApp::spawn().await);
    for n in 0..5 {
        room(
            &app,
            &format!("Double {n}"),
            "hotel_room",
            json!({"type": "double"}),
        )
        .await;
    }
    let period = slot(3, 14 * 60, 180);
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (app, period) = (Arc::clone(&app), period.clone());
        tasks.push(tokio::spawn(async move {
            let pool =
                json!({ "pool": { "kind": "hotel_room", "attributes": {"type": "double"} } });
            book_on(&app, &period, pool).await
        }));
    }
    let mut counts: HashMap<u16, usize> = HashMap::new();
    let mut resources = BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        *counts.entry(reply.status.as_u16()).or_default() += 1;
        if reply.status == StatusCode::CREATED {
            resources.insert(chosen(&reply));
        } else {
            assert_problem(&reply, StatusCode::CONFLICT, "slot_unavailable");
        }
    }
    assert_eq!(counts, HashMap::from([(201, 5), (409, 55)]));
    assert_eq!(resources.len(), 5, "{resources:?}");
    Arc::into_inner(app).unwrap().cleanup().await;
}

#[tokio::test]
async fn resource_ids_are_tried_in_their_order() {
    let app = TestApp::spawn().await;
    let (a, b, c) = (
        room(&app, "A", "desk", json!({})).await,
        room(&app, "B", "desk", json!({})).await,
        room(&app, "C", "desk", json!({})).await,
    );
    let period = slot(3, 9 * 60, 60);
    let listed = json!({ "resource_ids": [id(&c), id(&a), id(&b)] });
    // The first free one is the first listed; once it is taken, the second.
    assert_eq!(
        chosen(&book_on(&app, &period, listed.clone()).await),
        id(&c)
    );
    assert_eq!(
        chosen(&book_on(&app, &period, listed.clone()).await),
        id(&a)
    );
    assert_eq!(
        chosen(&book_on(&app, &period, listed.clone()).await),
        id(&b)
    );
    let full = book_on(&app, &period, listed.clone()).await;
    assert_problem(&full, StatusCode::CONFLICT, "slot_unavailable");
    // A rule every candidate refuses by is that refusal, not `slot_unavailable`.
    let too_long = book_on(&app, &slot(5, 0, 20 * 60), listed).await;
    assert_problem(
        &too_long,
        StatusCode::UNPROCESSABLE_ENTITY,
        "duration_out_of_range",
    );
    // An Idempotency-Key replays the first answer, on the same resource.
    let other = slot(4, 9 * 60, 60);
    let body = json!({ "resource_ids": [id(&b), id(&a)], "start": other.0, "end": other.1 });
    let key = [("idempotency-key", "pool-key-1")];
    let admin = app.admin();
    let send = || {
        app.send(
            Method::POST,
            "/v1/bookings",
            Some(&admin),
            Some(&body),
            &key,
        )
    };
    let first = send().await;
    let again = send().await;
    assert_eq!(chosen(&first), id(&b));
    assert_eq!(again.body, first.body);
    app.cleanup().await;
}

#[tokio::test]
async fn a_candidate_held_past_its_hold_ttl_is_taken_and_its_hold_expired() {
    // No sweeps: the hold is still in the guard when the pool booking comes.
    let app = TestApp::spawn_with(|settings| {
        settings.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let held = app
        .create_resource(
            json!({ "name": "A", "kind": "desk", "policy": { "hold_ttl_seconds": 1 } }),
        )
        .await;
    let other = room(&app, "B", "desk", json!({})).await;
    let period = slot(3, 9 * 60, 60);
    let hold = book_on(
        &app,
        &period,
        json!({ "resource_id": id(&held), "hold": true }),
    )
    .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hold_id = hold.body["booking"]["id"].as_str().unwrap().to_owned();
    // Taken while the hold lasts: the pool goes on to the next candidate.
    let listed = json!({ "resource_ids": [id(&held), id(&other)] });
    let first = book_on(&app, &period, listed.clone()).await;
    assert_eq!(chosen(&first), id(&other));
    // Past its TTL the hold no longer makes its resource look full.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let second = book_on(&app, &period, listed).await;
    assert_eq!(chosen(&second), id(&held));
    let expired: i64 = sqlx::query_scalar(
        "select count(*) from events where stream_id = $1::uuid and event_type = 'HoldExpired'",
    )
    .bind(&hold_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(expired, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_pool_filters_by_kind_attributes_and_minimum_and_goes_by_name() {
    let app = TestApp::spawn().await;
    let big = json!({"building": "A", "seats": 40, "features": ["projector"]});
    let zulu = room(&app, "Zulu", "classroom", big.clone()).await;
    let alpha = room(&app, "Alpha", "classroom", big.clone()).await;
    // Each of these fails one condition.
    let misses = [
        (
            "Aardvark",
            json!({"building": "B", "seats": 40, "features": ["projector"]}),
        ),
        (
            "Abacus",
            json!({"building": "A", "seats": 20, "features": ["projector"]}),
        ),
        (
            "Absolute",
            json!({"building": "A", "seats": 40, "features": []}),
        ),
    ];
    for (name, attributes) in misses {
        room(&app, name, "classroom", attributes).await;
    }
    room(&app, "Able", "meeting_room", big).await;
    let period = slot(3, 10 * 60, 120);
    let pool = json!({ "pool": {
        "kind": "classroom",
        "attributes": {"building": "A", "features": "projector"},
        "min": {"seats": 30}
    }});
    assert_eq!(
        chosen(&book_on(&app, &period, pool.clone()).await),
        id(&alpha)
    );
    assert_eq!(
        chosen(&book_on(&app, &period, pool.clone()).await),
        id(&zulu)
    );
    let full = book_on(&app, &period, pool).await;
    assert_problem(&full, StatusCode::CONFLICT, "slot_unavailable");
    app.cleanup().await;
}

#[tokio::test]
async fn archived_unknown_and_other_tenants_resources_are_no_candidates() {
    let app = TestApp::spawn().await;
    let archived = room(&app, "Old", "studio", json!({})).await;
    let patched = app
        .send(
            Method::PATCH,
            &format!("/v1/resources/{}", id(&archived)),
            Some(&app.admin()),
            Some(&json!({ "archived": true })),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let globex = app.token("globex", "admin-2", &[Role::Admin]);
    let theirs = app
        .post(
            "/v1/resources",
            &globex,
            &json!({ "name": "Theirs", "kind": "studio", "capacity": 1, "time_zone": "UTC" }),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let theirs = id(&theirs.body["resource"]);
    let unknown = uuid::Uuid::now_v7().to_string();
    let period = slot(3, 9 * 60, 60);
    let listed = json!({ "resource_ids": [id(&archived), theirs, unknown] });
    let none = book_on(&app, &period, listed).await;
    assert_problem(&none, StatusCode::UNPROCESSABLE_ENTITY, "no_candidates");
    // The archived studio is not in the pool; another tenant's studio is not either.
    let pool = book_on(&app, &period, json!({ "pool": { "kind": "studio" } })).await;
    assert_problem(&pool, StatusCode::UNPROCESSABLE_ENTITY, "no_candidates");
    let empty = book_on(
        &app,
        &period,
        json!({ "pool": { "kind": "nothing_of_this" } }),
    )
    .await;
    assert_problem(&empty, StatusCode::UNPROCESSABLE_ENTITY, "no_candidates");
    let empty_list = book_on(&app, &period, json!({ "resource_ids": [] })).await;
    assert_problem(
        &empty_list,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_candidates",
    );
    app.cleanup().await;
}

#[tokio::test]
async fn exactly_one_target_is_required_and_the_wrong_ones_are_named() {
    let app = TestApp::spawn().await;
    let desk = room(&app, "Desk", "desk", json!({})).await;
    let period = slot(3, 9 * 60, 60);
    let field = |reply: &Reply| {
        assert_problem(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        reply.body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let both = json!({ "resource_id": id(&desk), "pool": { "kind": "desk" } });
    assert_eq!(field(&book_on(&app, &period, both).await), "pool");
    let listed = json!({ "resource_id": id(&desk), "resource_ids": [id(&desk)] });
    assert_eq!(field(&book_on(&app, &period, listed).await), "resource_ids");
    assert_eq!(
        field(&book_on(&app, &period, json!({})).await),
        "resource_id"
    );
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let many = json!({ "resource_ids": many });
    assert_eq!(field(&book_on(&app, &period, many).await), "resource_ids");
    let bad_min = json!({ "pool": { "kind": "desk", "min": {"seats": "many"} } });
    assert_eq!(
        field(&book_on(&app, &period, bad_min).await),
        "pool.min.seats"
    );
    // Nothing was booked.
    assert_eq!(app.event_count().await, 1);
    app.cleanup().await;
}

/// The database's rolled-back transactions so far, as its statistics show them (a refused
/// command rolls its transaction back; background work commits).
async fn transactions(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select xact_rollback::bigint from pg_stat_database
         where datname = current_database()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Waits until the count stops moving: every backend flushes its counts within
/// PGSTAT_IDLE_INTERVAL (10 s) of going idle.
async fn settled(app: &TestApp) -> i64 {
    let mut last = transactions(app).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(11)).await;
        let now = transactions(app).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the statistics never settled");
}

#[tokio::test]
async fn a_pool_booking_over_twenty_taken_resources_is_one_transaction() {
    // No background rounds (relay polls, hold sweeps) to count besides the request.
    let app = TestApp::spawn_with(|settings| {
        settings.relay_poll = Duration::from_secs(3600);
        settings.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let mut ids = Vec::new();
    let period = slot(3, 9 * 60, 60);
    for n in 0..20 {
        let desk = room(&app, &format!("Desk {n:02}"), "desk", json!({})).await;
        let taken = app.book(&app.admin(), &desk, &period.0, &period.1).await;
        assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
        ids.push(id(&desk));
    }
    // The statistics count this test's own queries too: one per `transactions` call.
    let before = settled(&app).await;
    let full = book_on(&app, &period, json!({ "resource_ids": ids })).await;
    assert_problem(&full, StatusCode::CONFLICT, "slot_unavailable");
    let after = settled(&app).await;
    // The refused request rolled back its one transaction; a transaction per candidate would
    // have rolled back 20.
    let delta = after - before;
    assert!(
        delta < 5,
        "{delta} transactions around one pool booking over 20 resources"
    );
    assert!(delta >= 1, "the request's transaction was not counted");
    app.cleanup().await;
}
