//! Read-your-writes with `min_position`.

use std::time::{Duration, Instant};

use eventstore::Position;
use readmodel::projections::Projection;
use serde_json::json;
use tests::{Booking, QueryApp, at, monday_after};

#[tokio::test]
async fn a_query_with_min_position_waits_until_the_projections_reach_it() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    let created = app.project().await;
    // A command has written there, and the projectors will get to it.
    let (_, written) = app
        .place(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let path =
        format!("/v1/resources/{resource}/availability?from={day}&to={day}&min_position={written}");
    let admin = app.admin();
    let started = Instant::now();
    let (reply, ()) = tokio::join!(app.get(&path, Some(&admin)), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.project().await;
    });
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.body["position"], written.to_string());
    assert_eq!(reply.body["free"].as_array().map(Vec::len), Some(2));

    // Already reached: no wait.
    let started = Instant::now();
    let reply = app
        .get_as_admin(&format!("/v1/resources/{resource}?min_position={created}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(started.elapsed() < Duration::from_millis(300));
    app.cleanup().await;
}

#[tokio::test]
async fn a_position_never_reached_is_503_projection_behind_with_retry_after() {
    let app = QueryApp::spawn_with(|s| s.min_position_wait = Duration::from_millis(300)).await;
    let resource = app.resource(json!({})).await;
    let day = monday_after(8);
    // A booking is written and only the resources projection gets to it: the availability
    // reads the bookings projection too.
    let (_, written) = app
        .place(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    app.project_only(&[Projection::Resources]).await;
    for path in [
        format!("/v1/resources/{resource}/availability?from={day}&to={day}&min_position={written}"),
        format!("/v1/bookings?min_position={written}"),
        format!("/v1/stats/daily?min_position={written}"),
    ] {
        let reply = app.get_as_admin(&path).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.code(), "projection_behind");
        assert_eq!(reply.header("retry-after"), "1");
    }
    // The resources endpoints only wait for the resources projection.
    let reply = app
        .get_as_admin(&format!("/v1/resources/{resource}?min_position={written}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn a_min_position_past_the_stores_head_is_refused_at_once() {
    // Waiting for it would take the whole wait: no command ever answered such a token.
    let app = QueryApp::spawn_with(|s| s.min_position_wait = Duration::from_secs(30)).await;
    let resource = app.resource(json!({})).await;
    let head = app.project().await;
    let day = monday_after(8);
    for token in [
        Position::new(head.transaction_id, head.global_position + 1).to_string(),
        Position::new(head.transaction_id + 1, 1).to_string(),
        "9223372036854775000.1".to_owned(),
    ] {
        for path in [
            format!(
                "/v1/resources/{resource}/availability?from={day}&to={day}&min_position={token}"
            ),
            format!("/v1/resources/{resource}?min_position={token}"),
            format!("/v1/bookings?min_position={token}"),
            format!("/v1/stats/daily?min_position={token}"),
        ] {
            let started = Instant::now();
            let reply = app.get_as_admin(&path).await;
            assert_eq!(reply.status, 422, "{path}: {}", reply.body);
            assert_eq!(reply.code(), "invalid_position");
            assert!(started.elapsed() < Duration::from_secs(5), "{path}");
        }
    }
    // The head itself is a position like any other.
    let reply = app
        .get_as_admin(&format!("/v1/bookings?min_position={head}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn an_invalid_min_position_is_refused_naming_it() {
    let app = QueryApp::spawn().await;
    for token in ["abc", "1.-2", "12"] {
        let reply = app
            .get_as_admin(&format!("/v1/bookings?min_position={token}"))
            .await;
        assert_eq!(reply.status, 422, "{token}");
        assert_eq!(reply.code(), "validation_failed");
        assert_eq!(reply.field(), "min_position");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_cached_day_older_than_min_position_is_never_served() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    let path = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let cached = app.get_as_admin(&path).await;
    assert_eq!(cached.body["free"].as_array().unwrap().len(), 1);

    // The projector commits a booking, but neither its invalidation nor its notice has
    // arrived yet: both cache tiers still hold the day as it was.
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let written = app.project().await;
    let stale = app.get_as_admin(&path).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], cached.body["free"]);

    // The writer, holding the token of its write, sees it.
    let own = app
        .get_as_admin(&format!("{path}&min_position={written}"))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.cache(), "miss");
    assert_eq!(own.body["position"], written.to_string());
    assert_eq!(own.body["free"].as_array().unwrap().len(), 2);
    app.cleanup().await;
}
