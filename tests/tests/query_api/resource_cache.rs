//! Resource rows in process: a cached availability read touches neither Postgres nor Redis,
//! and change notices, `min_position` and a short life for unknown ids keep the rows exact.

use std::time::{Duration, Instant};

use domain::ids::ResourceId;
use readmodel::notice::Changed;
use readmodel::projections::Projection;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tests::{Booking, QueryApp, Reply, at, monday_after, rfc};
use uuid::Uuid;

fn free(start: &str, end: &str, units: u64) -> Value {
    json!({ "start": start, "end": end, "units_free": units })
}

/// Asks until the answer is `200` (an unknown id's `404` is not kept for long).
async fn until_found(app: &QueryApp, path: &str, within: Duration) -> Reply {
    let deadline = Instant::now() + within;
    loop {
        let reply = app.get_as_admin(path).await;
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
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let t = |h, m| rfc(at(day, h, m));
    let resource = app
        .resource(json!({ "capacity": 1, "opening_hours": { "mon": [["09:00", "17:00"]] } }))
        .await;
    let path = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let batch = format!("/v1/availability?resource_ids={resource}&from={day}&to={day}");
    let before = app.get_as_admin(&path).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.body["free"], json!([free(&t(9, 0), &t(17, 0), 1)]));
    assert_eq!(app.get_as_admin(&path).await.cache(), "hit");

    // The projector commits a change of the resource: other hours, two units.
    let changes = json!({ "capacity": 2, "opening_hours": { "mon": [["10:00", "12:00"]] } });
    let changed_at = app.change_resource(resource, &changes).await;
    app.project_only(&[Projection::Resources]).await;
    // Until its notice arrives, the row in process answers (both endpoints).
    let stale = app.get_as_admin(&path).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], before.body["free"]);
    let stale = app.get_as_admin(&batch).await;
    assert_eq!(stale.body["items"][0]["free"], before.body["free"]);

    // A notice naming no days: the resource itself changed.
    let changed = Changed {
        tenant: "acme".parse().unwrap(),
        resource_id: ResourceId(resource),
        days: vec![],
        position: changed_at,
    };
    let expected = json!([free(&t(10, 0), &t(12, 0), 2)]);
    app.notify_until(
        &changed,
        &path,
        "the notice never dropped the row",
        |reply| {
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.body["free"] == expected
        },
    )
    .await;
    let fresh = app.get_as_admin(&batch).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["items"][0]["free"], expected);
    app.cleanup().await;
}

#[tokio::test]
async fn min_position_reloads_a_resource_row_read_before_it() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let t = |h, m| rfc(at(day, h, m));
    let hours = json!({ "mon": [["09:00", "17:00"]] });
    let changing = app.resource(json!({ "opening_hours": hours })).await;
    let other = app.resource(json!({ "opening_hours": hours })).await;
    let path = format!("/v1/resources/{changing}/availability?from={day}&to={day}");
    let batch = format!("/v1/availability?resource_ids={other},{changing}&from={day}&to={day}");
    for warm in [&path, &batch] {
        let reply = app.get_as_admin(warm).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    // The resource changes; neither its notice nor anything else has arrived.
    let changes = json!({ "opening_hours": { "mon": [["13:00", "15:00"]] } });
    let changed_at = app.change_resource(changing, &changes).await;
    app.project().await;
    let stale = app.get_as_admin(&path).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], json!([free(&t(9, 0), &t(17, 0), 1)]));

    // The writer, holding the token of its write, sees it: the row read before is reloaded.
    let own = app
        .get_as_admin(&format!("{path}&min_position={changed_at}"))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["free"], json!([free(&t(13, 0), &t(15, 0), 1)]));
    assert_eq!(own.body["position"], changed_at.to_string());

    // The same through the batch endpoint, at a later position again.
    let changes = json!({ "opening_hours": { "mon": [["14:00", "16:00"]] } });
    let changed_again = app.change_resource(changing, &changes).await;
    app.project().await;
    let own = app
        .get_as_admin(&format!("{batch}&min_position={changed_again}"))
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
    let later = app.get_as_admin(&path).await;
    assert_eq!(later.body["free"], own.body["items"][1]["free"]);
    app.cleanup().await;
}

#[tokio::test]
async fn an_unknown_resource_is_not_remembered_for_long() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let availability = |id: Uuid| format!("/v1/resources/{id}/availability?from={day}&to={day}");

    // Created after a 404, without a notice: found again within moments.
    let late = Uuid::new_v4();
    let reply = app.get_as_admin(&availability(late)).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.code(), "resource_not_found");
    app.resource(json!({ "id": late.to_string() })).await;
    until_found(&app, &availability(late), Duration::from_secs(5)).await;

    // With the creation's position, at once.
    let created = Uuid::new_v4();
    let reply = app.get_as_admin(&availability(created)).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    app.resource(json!({ "id": created.to_string() })).await;
    let creation = app.project().await;
    let batch = format!(
        "/v1/availability?resource_ids={late},{created}&from={day}&to={day}&min_position={creation}"
    );
    let reply = app
        .get_as_admin(&format!(
            "{}&min_position={creation}",
            availability(created)
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = app.get_as_admin(&batch).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["items"].as_array().map(Vec::len), Some(2));
    app.cleanup().await;
}

/// Keeps query-api away from its database: no new connections to it, and its open ones
/// ended. (The test's own pool and connections to other databases stay.)
async fn cut_off_the_database(app: &QueryApp) -> PgConnection {
    let mut admin = PgConnection::connect(&tests::database_url())
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
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let first = app
        .resource(json!({ "capacity": 2, "opening_hours": { "mon": [["08:00", "18:00"]] } }))
        .await;
    let second = app.resource(json!({})).await;
    app.booking(&Booking::new(first, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let written = app.project().await;
    let one = format!("/v1/resources/{first}/availability?from={day}&to={day}");
    let paths = [
        one.clone(),
        format!("{one}&duration_minutes=30&min_position={written}"),
        format!("/v1/availability?resource_ids={first},{second}&from={day}&to={day}"),
        format!(
            "/v1/availability?resource_ids={second},{first}&from={day}&to={day}&min_position={written}"
        ),
    ];
    let mut warm = Vec::new();
    for path in &paths {
        let first_time = app.get_as_admin(path).await;
        assert_eq!(first_time.status, 200, "{path}: {}", first_time.body);
        let again = app.get_as_admin(path).await;
        assert_eq!(again.cache(), "hit", "{path}");
        warm.push(again.body);
    }

    // Nothing behind L1 can answer any more: this test's Redis keys are gone (a Redis lookup
    // would miss and go on to Postgres), and query-api can no longer reach its database.
    let mut redis = redis::Client::open(tests::redis_url())
        .expect("REDIS_URL is valid")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", app.redis_prefix))
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
            let reply = app.get_as_admin(path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
            assert_eq!(reply.cache(), "hit", "{path}");
            assert_eq!(&reply.body, body, "{path}");
        }
    }

    // The check can fail: a day that is not cached needs Postgres, and does not get it.
    let later = day + chrono::Duration::days(7);
    let uncached = app
        .get_as_admin(&format!(
            "/v1/resources/{first}/availability?from={later}&to={later}"
        ))
        .await;
    assert_eq!(uncached.status, 503, "{}", uncached.body);

    admin
        .execute(format!("alter database {} connection limit -1", app.database).as_str())
        .await
        .expect("allow connections again");
    app.cleanup().await;
}
