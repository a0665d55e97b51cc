//! The cache tiers: L1 and Redis hits, change notices, stale fills, and Redis being away.

use std::time::{Duration, Instant};

use domain::ids::ResourceId;
use eventstore::Position;
use readmodel::cache::{DayEntry, Lookup};
use readmodel::notice::Changed;
use serde_json::json;
use tokio::net::TcpListener;

use crate::harness::{Booking, TestApp, acme_day, at, monday_after};

#[tokio::test]
async fn a_repeated_request_is_a_hit_and_another_instance_finds_the_days_in_redis() {
    let mut app = TestApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.all_checkpoints(Position::new(10, 1)).await;
    let path = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let first = app.get(&path, Some(&app.admin())).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    let second = app.get(&path, Some(&app.admin())).await;
    assert_eq!(second.cache(), "hit");
    assert_eq!(second.body, first.body);

    // The fill reached Redis with the checkpoint's position.
    match app.redis.get(&acme_day(resource, day)).await.unwrap() {
        Lookup::Hit { position, entry } => {
            assert_eq!(position, Position::new(10, 1));
            assert_eq!(entry, DayEntry { busy: vec![] });
        }
        Lookup::Miss => panic!("the day was not filled into Redis"),
    }
    let replica = app.spawn_instance(|_| {}).await;
    let from_redis = app.get_from(&replica, &path, Some(&app.admin())).await;
    assert_eq!(from_redis.cache(), "hit");
    assert_eq!(from_redis.body, first.body);

    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    for counter in [
        "query_cache_lookups_total",
        "query_cache_fills_total",
        r#"tier="l1""#,
        r#"tier="redis""#,
        r#"result="stored""#,
    ] {
        assert!(
            metrics.text.contains(counter),
            "{counter} missing:\n{}",
            metrics.text
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_change_notice_drops_the_in_process_entry() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.all_checkpoints(Position::new(10, 1)).await;
    let path = format!(
        "/v1/resources/{resource}/availability?from={}&to={}",
        crate::harness::rfc(at(day, 9, 0)),
        crate::harness::rfc(at(day, 12, 0))
    );
    let before = app.get(&path, Some(&app.admin())).await;
    assert_eq!(before.body["free"].as_array().unwrap().len(), 1);

    // The projector commits a booking, invalidates Redis, then publishes the notice.
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    app.all_checkpoints(Position::new(10, 2)).await;
    assert!(
        app.redis
            .invalidate(&acme_day(resource, day), Position::new(10, 2))
            .await
            .unwrap()
    );
    // Until the notice arrives, L1 still answers with what it has.
    let stale = app.get(&path, Some(&app.admin())).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], before.body["free"]);

    let changed = Changed {
        tenant: "acme".parse().unwrap(),
        resource_id: ResourceId(resource),
        days: vec![day],
        position: Position::new(10, 2),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let fresh = loop {
        // Sent until seen: the subscription may still be starting.
        app.notify(&changed).await;
        let reply = app.get(&path, Some(&app.admin())).await;
        if reply.body["free"].as_array().unwrap().len() == 2 {
            break reply;
        }
        assert!(Instant::now() < deadline, "the notice never dropped L1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(fresh.cache(), "miss");
    // The neighbouring days still come from L1 at 10.1: the answer vouches for the older one.
    assert_eq!(fresh.body["position"], "10.1");

    // A notice naming no days drops every day of the resource. (First wait for L1 to hold the
    // day again: a notice still in flight during the refill keeps it out of L1, by design.)
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.get(&path, Some(&app.admin())).await.cache() != "hit" {
        assert!(Instant::now() < deadline, "L1 never held the day again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.redis
        .invalidate(&acme_day(resource, day), Position::new(10, 3))
        .await
        .unwrap();
    let whole = Changed {
        days: vec![],
        position: Position::new(10, 3),
        ..changed
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        app.notify(&whole).await;
        if app.get(&path, Some(&app.admin())).await.cache() == "miss" {
            break;
        }
        assert!(Instant::now() < deadline, "the notice never dropped L1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_fill_older_than_an_invalidation_is_not_stored() {
    let app = TestApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    let entry = DayEntry { busy: vec![] };

    // A query read the day at 20.5; meanwhile the projector committed 20.6 and invalidated.
    assert!(
        app.redis
            .invalidate(&acme_day(resource, day), Position::new(20, 6))
            .await
            .unwrap()
    );
    let stored = app
        .redis
        .fill(&acme_day(resource, day), Position::new(20, 5), &entry)
        .await
        .unwrap();
    assert!(!stored, "a stale fill overwrote the invalidation marker");
    assert_eq!(
        app.redis.get(&acme_day(resource, day)).await.unwrap(),
        Lookup::Miss
    );
    // A fill after the marker lands.
    assert!(
        app.redis
            .fill(&acme_day(resource, day), Position::new(20, 7), &entry)
            .await
            .unwrap()
    );

    // Through query-api: its Postgres read is at checkpoint 20.5, older than the marker at
    // 20.8, so its fill is refused and Redis keeps the marker.
    let later = day + chrono::Duration::days(7);
    app.redis
        .invalidate(&acme_day(resource, later), Position::new(20, 8))
        .await
        .unwrap();
    app.all_checkpoints(Position::new(20, 5)).await;
    let reply = app
        .get(
            &format!("/v1/resources/{resource}/availability?from={later}&to={later}"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.cache(), "miss");
    assert_eq!(
        app.redis.get(&acme_day(resource, later)).await.unwrap(),
        Lookup::Miss
    );
    app.cleanup().await;
}

#[tokio::test]
async fn with_redis_unreachable_answers_come_from_postgres_and_readyz_names_redis() {
    let app = TestApp::spawn_with(|s| s.redis.url = "redis://127.0.0.1:1".into()).await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let started = Instant::now();
    let reply = app
        .get(
            &format!("/v1/resources/{resource}/availability?from={day}&to={day}"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.cache(), "miss");
    assert_eq!(reply.body["free"].as_array().unwrap().len(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["down"], json!(["redis"]));
    assert_eq!(app.get("/healthz", None).await.status, 200);
    app.cleanup().await;
}

/// A TCP proxy to Redis on `port` that can be started after query-api (Redis "comes back").
async fn redis_proxy(port: u16) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the proxy port is free again");
    let target = crate::harness::redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn a_redis_that_comes_back_is_used_again() {
    // Reserve a port, then leave it closed: Redis is "down" when query-api starts.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|s| s.redis.url = format!("redis://127.0.0.1:{port}")).await;
    let day = monday_after(8);
    let down = app.resource(json!({})).await;
    let up = app.resource(json!({})).await;
    let reply = app
        .get(
            &format!("/v1/resources/{down}/availability?from={day}&to={day}"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.get("/readyz", None).await.status, 503);

    let proxy = redis_proxy(port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if app.get("/readyz", None).await.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "Redis never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fills reach Redis again (the test's own client talks to the same Redis directly).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut day = day;
    loop {
        let reply = app
            .get(
                &format!("/v1/resources/{up}/availability?from={day}&to={day}"),
                Some(&app.admin()),
            )
            .await;
        assert_eq!(reply.status, 200);
        if matches!(
            app.redis.get(&acme_day(up, day)).await.unwrap(),
            Lookup::Hit { .. }
        ) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "query-api never filled Redis again"
        );
        day += chrono::Duration::days(7);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.abort();
    app.cleanup().await;
}
