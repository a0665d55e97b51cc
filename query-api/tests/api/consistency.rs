//! Read-your-writes with `min_position`.

use std::time::{Duration, Instant};

use eventstore::Position;
use serde_json::json;

use crate::harness::{Booking, TestApp, at, monday_after, set_checkpoint};

#[tokio::test]
async fn a_query_with_min_position_waits_until_the_projections_reach_it() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.all_checkpoints(Position::new(100, 10)).await;
    // A command has written there, and the projectors will get to it.
    app.written(Position::new(100, 20)).await;
    let pool = app.pool.clone();
    let projector = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        set_checkpoint(&pool, "projection:resources", Position::new(100, 20)).await;
        set_checkpoint(&pool, "projection:bookings", Position::new(100, 20)).await;
    });
    let started = Instant::now();
    let reply = app
        .get(
            &format!(
                "/v1/resources/{resource}/availability?from={day}&to={day}&min_position=100.20"
            ),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.body["position"], "100.20");
    projector.await.unwrap();

    // Already reached: no wait.
    let started = Instant::now();
    let reply = app
        .get(
            &format!("/v1/resources/{resource}?min_position=100.15"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(started.elapsed() < Duration::from_millis(300));
    app.cleanup().await;
}

#[tokio::test]
async fn a_position_never_reached_is_503_projection_behind_with_retry_after() {
    let app = TestApp::spawn_with(|s| s.min_position_wait = Duration::from_millis(300)).await;
    let resource = app.resource(json!({})).await;
    app.all_checkpoints(Position::new(100, 10)).await;
    // Only the bookings projection is behind: the availability reads it too.
    app.checkpoint("projection:resources", Position::new(200, 1))
        .await;
    let day = monday_after(8);
    for path in [
        format!("/v1/resources/{resource}/availability?from={day}&to={day}&min_position=200.1"),
        "/v1/bookings?min_position=200.1".to_owned(),
        "/v1/stats/daily?min_position=200.1".to_owned(),
    ] {
        let reply = app.get(&path, Some(&app.admin())).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.code(), "projection_behind");
        assert_eq!(reply.header("retry-after"), "1");
    }
    // The resources endpoints only wait for the resources projection.
    let reply = app
        .get(
            &format!("/v1/resources/{resource}?min_position=200.1"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn a_min_position_past_the_stores_head_is_refused_at_once() {
    // Waiting for it would take the whole wait: no command ever answered such a token.
    let app = TestApp::spawn_with(|s| s.min_position_wait = Duration::from_secs(30)).await;
    let resource = app.resource(json!({})).await;
    app.all_checkpoints(Position::new(100, 10)).await;
    let day = monday_after(8);
    for token in ["100.11", "101.1", "9223372036854775000.1"] {
        for path in [
            format!(
                "/v1/resources/{resource}/availability?from={day}&to={day}&min_position={token}"
            ),
            format!("/v1/resources/{resource}?min_position={token}"),
            format!("/v1/bookings?min_position={token}"),
            format!("/v1/stats/daily?min_position={token}"),
        ] {
            let started = Instant::now();
            let reply = app.get(&path, Some(&app.admin())).await;
            assert_eq!(reply.status, 422, "{path}: {}", reply.body);
            assert_eq!(reply.code(), "invalid_position");
            assert!(started.elapsed() < Duration::from_secs(5), "{path}");
        }
    }
    // The head itself is a position like any other.
    let reply = app
        .get("/v1/bookings?min_position=100.10", Some(&app.admin()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn an_invalid_min_position_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    for token in ["abc", "1.-2", "12"] {
        let reply = app
            .get(
                &format!("/v1/bookings?min_position={token}"),
                Some(&app.admin()),
            )
            .await;
        assert_eq!(reply.status, 422, "{token}");
        assert_eq!(reply.code(), "validation_failed");
        assert_eq!(reply.field(), "min_position");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_cached_day_older_than_min_position_is_never_served() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.all_checkpoints(Position::new(300, 1)).await;
    let path = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let cached = app.get(&path, Some(&app.admin())).await;
    assert_eq!(cached.body["free"].as_array().unwrap().len(), 1);

    // The projector commits a booking at 300.2, but neither its invalidation nor its notice
    // has arrived yet: both cache tiers still hold the day at 300.1.
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    app.all_checkpoints(Position::new(300, 2)).await;
    let stale = app.get(&path, Some(&app.admin())).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], cached.body["free"]);

    // The writer, holding the token of its write, sees it.
    let own = app
        .get(&format!("{path}&min_position=300.2"), Some(&app.admin()))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.cache(), "miss");
    assert_eq!(own.body["position"], "300.2");
    assert_eq!(own.body["free"].as_array().unwrap().len(), 2);
    app.cleanup().await;
}
