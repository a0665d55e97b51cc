//! The cache tiers: L1 and Redis hits, change notices, stale fills, and Redis being away.

use std::time::{Duration, Instant};

use domain::ids::ResourceId;
use eventstore::Position;
use readmodel::cache::{DayEntry, Lookup};
use readmodel::notice::Changed;
use serde_json::json;
use tokio::net::TcpListener;

use tests::query::acme_day;
use tests::{Booking, QueryApp, at, monday_after, rfc};

#[tokio::test]
async fn a_repeated_request_is_a_hit_and_another_instance_finds_the_days_in_redis() {
    let mut app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    let created = app.project().await;
    let path = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let first = app.get_as_admin(&path).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.cache(), "miss");
    let second = app.get_as_admin(&path).await;
    assert_eq!(second.cache(), "hit");
    assert_eq!(second.body, first.body);

    // The fill reached Redis with the checkpoint's position.
    match app.redis.get(&acme_day(resource, day)).await.unwrap() {
        Lookup::Hit { position, entry } => {
            assert_eq!(position, created);
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
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    let created = app.project().await;
    let path = format!(
        "/v1/resources/{resource}/availability?from={}&to={}",
        rfc(at(day, 9, 0)),
        rfc(at(day, 12, 0))
    );
    let before = app.get_as_admin(&path).await;
    assert_eq!(before.body["free"].as_array().unwrap().len(), 1);

    // The projector commits a booking, invalidates Redis, then publishes the notice.
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let booked = app.project().await;
    assert!(
        app.redis
            .invalidate(&acme_day(resource, day), booked)
            .await
            .unwrap()
    );
    // Until the notice arrives, L1 still answers with what it has.
    let stale = app.get_as_admin(&path).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.body["free"], before.body["free"]);

    let changed = Changed {
        tenant: "acme".parse().unwrap(),
        resource_id: ResourceId(resource),
        days: vec![day],
        position: booked,
    };
    let fresh = app
        .notify_until(&changed, &path, "the notice never dropped L1", |reply| {
            reply.body["free"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    assert_eq!(fresh.cache(), "miss");
    // The neighbouring days still come from L1 as of the creation: the answer vouches for the
    // older position.
    assert_eq!(fresh.body["position"], created.to_string());

    // A notice naming no days drops every day of the resource. (First wait for L1 to hold the
    // day again: a notice still in flight during the refill keeps it out of L1, by design.)
    app.until_cached(&path).await;
    // Another write on the resource, a week later.
    let later = day + chrono::Duration::days(7);
    app.booking(&Booking::new(resource, at(later, 10, 0), at(later, 11, 0)))
        .await;
    let rebooked = app.project().await;
    app.redis
        .invalidate(&acme_day(resource, day), rebooked)
        .await
        .unwrap();
    let whole = Changed {
        days: vec![],
        position: rebooked,
        ..changed
    };
    app.notify_until(&whole, &path, "the notice never dropped L1", |reply| {
        reply.cache() == "miss"
    })
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_fill_older_than_an_invalidation_is_not_stored() {
    let app = QueryApp::spawn().await;
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

    // Through query-api: its Postgres read is at the checkpoint, older than a marker the
    // projector left after a later commit, so its fill is refused and Redis keeps the marker.
    let later = day + chrono::Duration::days(7);
    let checkpoint = app.project().await;
    let next_commit = Position::new(
        checkpoint.transaction_id + 1,
        checkpoint.global_position + 1,
    );
    app.redis
        .invalidate(&acme_day(resource, later), next_commit)
        .await
        .unwrap();
    let reply = app
        .get_as_admin(&format!(
            "/v1/resources/{resource}/availability?from={later}&to={later}"
        ))
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
    let app = QueryApp::spawn_with(|s| s.redis.url = "redis://127.0.0.1:1".into()).await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let started = Instant::now();
    let reply = app
        .get_as_admin(&format!(
            "/v1/resources/{resource}/availability?from={day}&to={day}"
        ))
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
    let target = tests::redis_url()
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
    let app = QueryApp::spawn_with(|s| s.redis.url = format!("redis://127.0.0.1:{port}")).await;
    let day = monday_after(8);
    let down = app.resource(json!({})).await;
    let up = app.resource(json!({})).await;
    let reply = app
        .get_as_admin(&format!(
            "/v1/resources/{down}/availability?from={day}&to={day}"
        ))
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
            .get_as_admin(&format!(
                "/v1/resources/{up}/availability?from={day}&to={day}"
            ))
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
