//! The projector: read models follow the commands exactly once, through kills, lost streams and
//! replays; poison events are dead-lettered, never skipped silently.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{TestApp, day_at};

/// Places `pairs` bookings over the resources and cancels every second one, 16 at a time.
async fn load(app: Arc<TestApp>, resources: Arc<Vec<Value>>, pairs: usize, offset: usize) {
    futures::stream::iter(offset..offset + pairs)
        .map(|i| {
            let (app, resources) = (Arc::clone(&app), Arc::clone(&resources));
            async move {
                let admin = app.admin();
                let slot = i / resources.len();
                let (day, hour) = (2 + (slot / 20) as i64, 4 + (slot % 20) as u32 / 2);
                let minute = if slot % 2 == 0 { 0 } else { 30 };
                let resource = &resources[i % resources.len()];
                let placed = app
                    .book(
                        &admin,
                        resource,
                        &day_at(day, hour, minute),
                        &day_at(day, hour, minute + 15),
                    )
                    .await;
                assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
                if i % 2 == 0 {
                    let id = placed.body["booking"]["id"].as_str().unwrap();
                    let cancelled = app.cancel(&admin, id).await;
                    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

async fn resources(app: &TestApp, count: usize) -> Arc<Vec<Value>> {
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(app.create_resource(json!({ "time_zone": "UTC" })).await);
    }
    Arc::new(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_models_follow_every_kind_of_command() {
    let mut app = TestApp::spawn().await;
    app.start_projector().await;
    let admin = app.admin();
    let room = app
        .create_resource(
            json!({ "time_zone": "Europe/Berlin", "policy": { "buffer_after_minutes": 10 } }),
        )
        .await;
    let rid = room["id"].as_str().unwrap().to_owned();
    let kept = app
        .book_day(&admin, &room, 3, (9, 0), (10, 0))
        .await
        .booking_id();
    let moved = app
        .book_day(&admin, &room, 3, (11, 0), (12, 0))
        .await
        .booking_id();
    let gone = app
        .book_day(&admin, &room, 3, (13, 0), (14, 0))
        .await
        .booking_id();
    assert_eq!(app.cancel(&admin, &gone).await.status, StatusCode::OK);
    let reschedule = app
        .post(
            &format!("/v1/bookings/{moved}/reschedule"),
            &admin,
            &json!({ "start": day_at(4, 11, 0), "end": day_at(4, 11, 30) }),
        )
        .await;
    assert_eq!(reschedule.status, StatusCode::OK);
    let blackout = app
        .post(
            &format!("/v1/resources/{rid}/blackouts"),
            &admin,
            &json!({ "start": day_at(5, 0, 0), "end": day_at(5, 6, 0), "reason": "works" }),
        )
        .await;
    assert_eq!(blackout.status, StatusCode::CREATED);
    app.wait_for_projections(Duration::from_secs(20)).await;

    let statuses: Vec<(String, String, i64)> = sqlx::query_as(
        "select booking_id::text, status, version from read.bookings order by start_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        statuses,
        vec![
            (kept.clone(), "confirmed".into(), 1),
            (gone.clone(), "cancelled".into(), 2),
            (moved.clone(), "confirmed".into(), 2)
        ]
    );
    let busy: Vec<(String, i32)> =
        sqlx::query_as("select booking_id::text, unit from read.busy order by lower(during)")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(busy, vec![(kept, 0), (moved, 0)]);
    let blackouts: Value =
        sqlx::query_scalar("select blackouts from read.resources where resource_id = $1::uuid")
            .bind(&rid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(blackouts[0]["reason"], "works");
    let stats: Vec<(i32, i32, i64)> = sqlx::query_as(
        "select bookings, cancellations, booked_minutes from read.daily_stats order by day",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    // Day 3: three booked (one moved away, one cancelled) → 2 bookings, 1 cancellation, 60 min.
    // Day 4: the moved one, 30 min.
    assert_eq!(stats, vec![(2, 1, 60), (1, 0, 30)]);
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    // Invalidation left markers for the touched days.
    let mut redis = redis::Client::open(
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    )
    .unwrap()
    .get_multiplexed_async_connection()
    .await
    .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}avail:*", app.redis_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(keys.iter().any(|k| k.contains(&rid)), "{keys:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_killed_repeatedly_during_ten_thousand_commands_ends_equal_to_a_fresh_replay() {
    let mut app = TestApp::spawn().await;
    let rooms = resources(&app, 20).await;
    let load = tokio::spawn(load(
        Arc::new(TestApp::attach(&app)),
        Arc::clone(&rooms),
        6667,
        0,
    ));
    let mut kills = 0;
    while !load.is_finished() {
        app.start_projector().await;
        tokio::time::sleep(Duration::from_millis(200 + 150 * (kills % 3))).await;
        app.kill_projector();
        kills += 1;
    }
    load.await.unwrap();
    assert!(kills >= 3, "killed {kills} times");
    app.start_projector().await;
    app.wait_for_projections(Duration::from_secs(60)).await;
    // 20 resources + 6667 placements + 3334 cancellations = 10,021 events.
    assert_eq!(app.event_count().await, 20 + 6667 + 3334);
    let (bookings, cancellations): (i64, i64) =
        sqlx::query_as("select sum(bookings), sum(cancellations) from read.daily_stats")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (bookings, cancellations),
        (6667, 3334),
        "every booking counted exactly once"
    );
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(
        report.events,
        3 * 10_021,
        "each projection verified over the whole history"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_deleted_while_the_projector_is_down_is_caught_up_from_postgres() {
    let mut app = TestApp::spawn().await;
    app.start_projector().await;
    let rooms = resources(&app, 5).await;
    let shared = Arc::new(TestApp::attach(&app));
    load(Arc::clone(&shared), Arc::clone(&rooms), 100, 0).await;
    app.wait_for_projections(Duration::from_secs(20)).await;
    app.kill_projector();
    load(Arc::clone(&shared), Arc::clone(&rooms), 100, 100).await;
    // Wait until the relay has published it all, then lose it.
    while tests::nats::message_count(&app.nats, &app.stream).await < app.event_count().await as u64
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tests::nats::delete_stream(&app.nats, &app.stream).await;
    app.start_projector().await;
    app.wait_for_projections(Duration::from_secs(30)).await;
    let caught_up: u64 = app
        .projector()
        .unwrap()
        .status
        .values()
        .map(|s| s.caught_up_from_postgres())
        .sum();
    assert!(caught_up > 0, "the missing events came from Postgres");
    // And new commands still flow (the relay recreates the stream).
    load(Arc::clone(&shared), Arc::clone(&rooms), 20, 200).await;
    app.wait_for_projections(Duration::from_secs(30)).await;
    let total: i64 = sqlx::query_scalar("select count(*) from read.bookings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(total, 220);
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_during_live_writes_swaps_in_tables_equal_to_the_live_ones() {
    let mut app = TestApp::spawn().await;
    app.start_projector().await;
    let rooms = resources(&app, 10).await;
    let shared = Arc::new(TestApp::attach(&app));
    load(Arc::clone(&shared), Arc::clone(&rooms), 500, 0).await;
    let writer = tokio::spawn(load(Arc::clone(&shared), Arc::clone(&rooms), 1000, 500));
    let report = app.replay(&[]).await;
    assert!(report.differences.is_empty(), "{report}");
    assert!(report.events > 0);
    writer.await.unwrap();
    app.wait_for_projections(Duration::from_secs(30)).await;
    let verify = app.replay(&["--verify"]).await;
    assert!(verify.differences.is_empty(), "{verify}");
    // The swapped-in tables kept the migrations' index names.
    let names: Vec<String> = sqlx::query_scalar("select indexname from pg_indexes where schemaname = 'read' and tablename = 'bookings' order by 1")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(
        names.contains(&"bookings_resource_start_idx".to_owned()),
        "{names:?}"
    );
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_until_a_position_rebuilds_the_past_beside_the_live_tables() {
    let mut app = TestApp::spawn().await;
    app.start_projector().await;
    let admin = app.admin();
    let room = app.create_resource(json!({})).await;
    let first = app.book_day(&admin, &room, 3, (9, 0), (10, 0)).await;
    let position = first.body["position"].as_str().unwrap().to_owned();
    app.book_day(&admin, &room, 3, (11, 0), (12, 0)).await;
    app.wait_for_projections(Duration::from_secs(20)).await;
    let report = app.replay(&["--until", &position]).await;
    assert_eq!(report.events, 2);
    let past: i64 = sqlx::query_scalar("select count(*) from replay_until.bookings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let now: i64 = sqlx::query_scalar("select count(*) from read.bookings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((past, now), (1, 2));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_event_goes_to_the_dead_letter_table_and_the_rest_still_applies() {
    let mut app = TestApp::spawn().await;
    app.start_projector().await;
    let room = app.create_resource(json!({})).await;
    // An event no version of the code knows, written straight into the store.
    sqlx::query("insert into streams (stream_id, tenant_id, stream_type, version) values (gen_random_uuid(), 'acme', 'booking', 1)")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into events (tenant_id, stream_id, stream_version, event_id, event_type, schema_version, payload)
         select 'acme', stream_id, 1, gen_random_uuid(), 'BookingTeleported', 1, '{}' from streams where stream_type = 'booking'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let after = app.book_day(&app.admin(), &room, 3, (9, 0), (10, 0)).await;
    assert_eq!(after.status, StatusCode::CREATED);
    app.wait_for_projections(Duration::from_secs(20)).await;
    let dead: Vec<(String, String)> =
        sqlx::query_as("select projection, event_type from read.dead_letters order by projection")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(dead.len(), 3, "one per projection: {dead:?}");
    assert!(dead.iter().all(|(_, t)| t == "BookingTeleported"));
    let bookings: i64 = sqlx::query_scalar("select count(*) from read.bookings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(bookings, 1);
    app.cleanup().await;
}
