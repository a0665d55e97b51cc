//! Resource rows in process: a cached availability read touches neither Postgres nor Redis,
//! and change notices, `min_position` and a short life for unknown ids keep the rows exact.

use std::time::{Duration, Instant};

use domain::ids::ResourceId;
use eventstore::Position;
use readmodel::notice::Changed;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::harness::{Booking, Reply, TestApp, at, monday_after, rfc};

fn free(start: &str, end: &str, units: u64) -> Value {
    json!({ "start": start, "end": end, "units_free": units })
}

/// What the resources projection writes when a resource's hours and capacity change.
async fn change_resource(app: &TestApp, resource: Uuid, capacity: i32, hours: Value) {
    sqlx::query(
        "update read.resources
         set capacity = $2, opening_hours = $3, version = version + 1, updated_at = now()
         where resource_id = $1",
    )
    .bind(resource)
    .bind(capacity)
    .bind(hours)
    .execute(&app.pool)
    .await
    .expect("update the resource");
}

/// Asks until the answer is `200` (an unknown id's `404` is not kept for long).
async fn until_found(app: &TestApp, path: &str, within: Duration) -> Reply {
    let deadline = Instant::now() + within;
    loop {
        let reply = app.get(path, Some(&app.admin())).await;
        if reply.status == 200 {
            return reply;
        }
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert!(Instant::now() < deadline, "the 404 was kept too long");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_resource_change_notice_makes_the_next_availability_use_the_new_hours_and_capacity() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let t = |h, m| rfc(at(day, h, m));
    let resource = app
        .resource(json!({ "capacity": 1, "opening_hours": { "mon": [["09:00", "17:00"]] } }))
        .await;
    app.all_checkpoints(Position::new(400, 1)).await;
    let path = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let batch = format!("/v1/availability?resource_ids={resource}&from={day}&to={day}");
    let before = app.get(&path, Some(&app.admin())).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.body["free"], json!([free(&t(9, 0), &t(17, 0), 1)]));
    assert_eq!(app.get(&path, Some(&app.admin())).await.cache(), "hit");

    // The projector commits a change of the resource: other hours, two units.
    change_resource(&app, resource, 2, json!({ "mon": [["10:00", "12:00"]] })).await;
    app.checkpoint("projection:resources", Position::new(400, 2))
        .await;
    // Until its notice arrives, the row in process answers (both endpoints).
    let stale = app.get(&path, Some(&app.admin())).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], before.body["free"]);
    let stale = app.get(&batch, Some(&app.admin())).await;
    assert_eq!(stale.body["items"][0]["free"], before.body["free"]);

    // A notice naming no days: the resource itself changed.
    let changed = Changed {
        tenant: "acme".parse().unwrap(),
        resource_id: ResourceId(resource),
        days: vec![],
        position: Position::new(400, 2),
    };
    let expected = json!([free(&t(10, 0), &t(12, 0), 2)]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Sent until seen: the subscription may still be starting.
        app.notify(&changed).await;
        let reply = app.get(&path, Some(&app.admin())).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if reply.body["free"] == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the notice never dropped the row"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fresh = app.get(&batch, Some(&app.admin())).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["items"][0]["free"], expected);
    app.cleanup().await;
}

#[tokio::test]
async fn min_position_reloads_a_resource_row_read_before_it() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let t = |h, m| rfc(at(day, h, m));
    let hours = json!({ "mon": [["09:00", "17:00"]] });
    let changing = app.resource(json!({ "opening_hours": hours })).await;
    let other = app.resource(json!({ "opening_hours": hours })).await;
    app.all_checkpoints(Position::new(500, 1)).await;
    let path = format!("/v1/resources/{changing}/availability?from={day}&to={day}");
    let batch = format!("/v1/availability?resource_ids={other},{changing}&from={day}&to={day}");
    for warm in [&path, &batch] {
        let reply = app.get(warm, Some(&app.admin())).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    // The resource changes at 500.2; neither its notice nor anything else has arrived.
    change_resource(&app, changing, 1, json!({ "mon": [["13:00", "15:00"]] })).await;
    app.all_checkpoints(Position::new(500, 2)).await;
    let stale = app.get(&path, Some(&app.admin())).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], json!([free(&t(9, 0), &t(17, 0), 1)]));

    // The writer, holding the token of its write, sees it: the row read at 500.1 is reloaded.
    let own = app
        .get(&format!("{path}&min_position=500.2"), Some(&app.admin()))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["free"], json!([free(&t(13, 0), &t(15, 0), 1)]));
    assert_eq!(own.body["position"], "500.2");

    // The same through the batch endpoint, at a later position again.
    change_resource(&app, changing, 1, json!({ "mon": [["14:00", "16:00"]] })).await;
    app.all_checkpoints(Position::new(500, 3)).await;
    let own = app
        .get(&format!("{batch}&min_position=500.3"), Some(&app.admin()))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        own.body["items"][0]["free"],
        json!([free(&t(9, 0), &t(17, 0), 1)])
    );
    assert_eq!(
        own.body["items"][1]["free"],
        json!([free(&t(14, 0), &t(16, 0), 1)])
    );
    // The reloaded row replaced the old one for every later read.
    let later = app.get(&path, Some(&app.admin())).await;
    assert_eq!(later.body["free"], own.body["items"][1]["free"]);
    app.cleanup().await;
}

#[tokio::test]
async fn an_unknown_resource_is_not_remembered_for_long() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    app.all_checkpoints(Position::new(600, 1)).await;
    let availability = |id: Uuid| format!("/v1/resources/{id}/availability?from={day}&to={day}");

    // Created after a 404, without a notice: found again within moments.
    let late = Uuid::new_v4();
    let reply = app.get(&availability(late), Some(&app.admin())).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.code(), "resource_not_found");
    app.resource(json!({ "id": late.to_string() })).await;
    until_found(&app, &availability(late), Duration::from_secs(5)).await;

    // With the creation's position, at once.
    let created = Uuid::new_v4();
    let batch = format!(
        "/v1/availability?resource_ids={late},{created}&from={day}&to={day}&min_position=600.2"
    );
    let reply = app.get(&availability(created), Some(&app.admin())).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    app.resource(json!({ "id": created.to_string() })).await;
    app.all_checkpoints(Position::new(600, 2)).await;
    let reply = app
        .get(
            &format!("{}&min_position=600.2", availability(created)),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = app.get(&batch, Some(&app.admin())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["items"].as_array().map(Vec::len), Some(2));
    app.cleanup().await;
}

/// Keeps query-api away from its database: no new connections to it, and its open ones
/// ended. (The test's own pool and connections to other databases stay.)
async fn cut_off_the_database(app: &TestApp) -> PgConnection {
    let mut admin = PgConnection::connect(&crate::harness::database_url())
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute(format!("alter database {} connection limit 0", app.database).as_str())
        .await
        .expect("forbid new connections");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = sqlx::query_scalar(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity
             where datname = $1 and application_name = 'query-api'",
        )
        .bind(&app.database)
        .fetch_one(&mut admin)
        .await
        .expect("end query-api's connections");
        if left == 0 {
            return admin;
        }
        assert!(
            Instant::now() < deadline,
            "query-api's connections did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_cached_availability_read_touches_neither_postgres_nor_redis() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let first = app
        .resource(json!({ "capacity": 2, "opening_hours": { "mon": [["08:00", "18:00"]] } }))
        .await;
    let second = app.resource(json!({})).await;
    app.booking(&Booking::new(first, at(day, 10, 0), at(day, 11, 0)))
        .await;
    app.all_checkpoints(Position::new(700, 1)).await;
    let one = format!("/v1/resources/{first}/availability?from={day}&to={day}");
    let paths = [
        one.clone(),
        format!("{one}&duration_minutes=30&min_position=700.1"),
        format!("/v1/availability?resource_ids={first},{second}&from={day}&to={day}"),
        format!(
            "/v1/availability?resource_ids={second},{first}&from={day}&to={day}&min_position=700.1"
        ),
    ];
    let mut warm = Vec::new();
    for path in &paths {
        let first_time = app.get(path, Some(&app.admin())).await;
        assert_eq!(first_time.status, 200, "{path}: {}", first_time.body);
        let again = app.get(path, Some(&app.admin())).await;
        assert_eq!(again.cache(), "hit", "{path}");
        warm.push(again.body);
    }

    // Nothing behind L1 can answer any more: this test's Redis keys are gone (a Redis lookup
    // would miss and go on to Postgres), and query-api can no longer reach its database.
    let mut redis = redis::Client::open(crate::harness::redis_url())
        .expect("REDIS_URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.prefix))
        .query_async(&mut redis)
        .await
        .expect("list this test's keys");
    assert!(!keys.is_empty(), "the days were not filled into Redis");
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("delete this test's keys");
    let mut admin = cut_off_the_database(&app).await;

    for _ in 0..25 {
        for (path, body) in paths.iter().zip(&warm) {
            let reply = app.get(path, Some(&app.admin())).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
            assert_eq!(reply.cache(), "hit", "{path}");
            assert_eq!(&reply.body, body, "{path}");
        }
    }

    // The check can fail: a day that is not cached needs Postgres, and does not get it.
    let later = day + chrono::Duration::days(7);
    let uncached = app
        .get(
            &format!("/v1/resources/{first}/availability?from={later}&to={later}"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(uncached.status, 503, "{}", uncached.body);

    admin
        .execute(format!("alter database {} connection limit -1", app.database).as_str())
        .await
        .expect("allow connections again");
    app.cleanup().await;
}
