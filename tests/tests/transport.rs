//! NATS is the transport, Postgres the truth: the read side never waits for NATS, nothing
//! published by anyone else is ever applied, and when NATS comes back JetStream is filled in
//! exactly once per event.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tests::nats::{assert_stream_matches_store, create_stream, forge, republish};
use tests::nats_server::NatsServer;
use tests::{TestApp, day_at};

/// Waits until the query-api shows booking `id` (up to `within`).
async fn visible(app: &TestApp, id: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let reply = app.query(&format!("/v1/bookings/{id}"), &app.admin()).await;
        if reply.status == StatusCode::OK {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "booking {id} readable within {within:?}: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every event is below the read horizon: a projector reading the store now sees
/// them all (a transaction anywhere in the cluster can hold the horizon back for a moment).
async fn settled(app: &TestApp) {
    let head = app.head().await;
    while eventstore::read::safe_head(&app.pool, None).await.unwrap() < head {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_nats_down_bookings_become_readable_and_jetstream_is_filled_in_once_when_it_returns() {
    let mut nats = NatsServer::start_without_auth().await;
    let mut app = TestApp::spawn_with(|s| s.nats.url = nats.plain_url()).await;
    app.nats = async_nats::connect(nats.plain_url()).await.unwrap();
    app.start_projector_with(|s| s.nats.url = nats.plain_url())
        .await;
    let mut query = app.query_settings();
    query.nats.url = nats.plain_url();
    app.start_query_api_with(query).await;
    let room = app.create_resource(json!({})).await;
    let admin = app.admin();
    let first = app.book_day(&admin, &room, 1, (8, 0), (9, 0)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    visible(
        &app,
        first.body["booking"]["id"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;

    // A day read twice (cached in process and in Redis) before NATS goes away.
    let date = (chrono::Utc::now().date_naive() + chrono::Duration::days(3)).to_string();
    let day = format!(
        "/v1/resources/{}/availability?from={date}&to={date}",
        room["id"].as_str().unwrap()
    );
    let free = app.query(&day, &admin).await.body["free"].clone();
    assert_eq!(app.query(&day, &admin).await.body["free"], free);

    nats.kill();
    // No change notice can reach query-api now; its answer must still follow the booking.
    let placed = app.book_day(&admin, &room, 3, (12, 0), (13, 0)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while app.query(&day, &admin).await.body["free"] == free {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cached day follows the booking while NATS is down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for slot in 10..30_u32 {
        let (day, hour) = (1 + i64::from(slot / 24), slot % 24);
        let placed = app
            .book(&admin, &room, &day_at(day, hour, 0), &day_at(day, hour, 30))
            .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        // The projector's idle poll (200 ms here) reads the store: well within a second.
        visible(
            &app,
            placed.body["booking"]["id"].as_str().unwrap(),
            Duration::from_secs(2),
        )
        .await;
    }

    nats.restart().await;
    tests::nats::wait_until_relayed(&app, Duration::from_secs(30)).await;
    assert_stream_matches_store(&app).await;
    app.wait_for_projections(Duration::from_secs(10)).await;
    let events = app.event_count().await as u64;
    for (name, status) in &app.projector().unwrap().status {
        assert_eq!(status.applied(), events, "{name} applied each event once");
        assert_eq!(status.refused(), 0, "{name} refused nothing");
    }
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_that_are_not_the_stores_events_are_refused_and_never_applied() {
    // No relay: the projector hears only what the test publishes, and (with a minute's idle
    // poll) reads the store only when a message wakes it.
    let mut app = TestApp::spawn_with(|s| s.relay_enabled = false).await;
    create_stream(&app.nats, &app.stream, &app.subject_prefix).await;
    let room = app.create_resource(json!({})).await;
    settled(&app).await;
    // It reads the store once as it starts.
    app.start_projector_with(|s| s.idle_poll = Duration::from_secs(60))
        .await;
    let settings = app.query_settings();
    app.start_query_api_with(settings).await;
    app.wait_for_projections(Duration::from_secs(10)).await;

    // A booking the projector has not heard of yet, and a forged copy of its event (another
    // customer) published under its real position, chained to the projector's checkpoint as the
    // relay would chain it; a position past the store's head; and garbage.
    let admin = app.admin();
    let placed = app.book_day(&admin, &room, 1, (9, 0), (10, 0)).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let id = placed.booking_id();
    settled(&app).await;
    let projected = app.projected().await;
    let head = app.head().await;
    let stored = eventstore::read::at(&app.pool, head)
        .await
        .unwrap()
        .unwrap();
    let mut changed = serde_json::to_value(&stored).unwrap();
    changed["data"]["customer_id"] = json!("mallory");
    let subject = format!("{}.acme.BookingPlaced", app.subject_prefix);
    let mut forged = HashSet::new();
    forged.insert(
        forge(
            &app.nats,
            &subject,
            Some(&head.to_string()),
            Some(&projected.to_string()),
            &changed,
        )
        .await,
    );
    let far = "9223372036854775000.1";
    forged.insert(forge(&app.nats, &subject, Some(far), None, &changed).await);
    forged.insert(forge(&app.nats, &subject, None, None, &json!({"not": "an event"})).await);
    // And for a position it applied long ago: the resource's creation, changed, and as it was
    // (a plain redelivery, which is no forgery).
    let created = eventstore::read::load_stream(
        &mut app.pool.acquire().await.unwrap(),
        "acme",
        room["id"].as_str().unwrap().parse().unwrap(),
    )
    .await
    .unwrap()
    .remove(0);
    let mut renamed = serde_json::to_value(&created).unwrap();
    renamed["data"]["name"] = json!("Mallory's room");
    let at = created.position.to_string();
    forged.insert(forge(&app.nats, &subject, Some(&at), None, &renamed).await);
    republish(&app.nats, &subject, &created).await;

    // The first message woke the projector: it applied the store's event, not the forgery.
    visible(&app, &id, Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for (name, status) in &app.projector().unwrap().status {
        while status.refused() < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} refused the four forgeries"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status.refused(), 4, "{name}: the redelivery is no forgery");
    }
    let booking = app.query(&format!("/v1/bookings/{id}"), &admin).await;
    assert_eq!(booking.body["customer_id"], "admin-1", "{}", booking.body);
    let checkpoints = eventstore::checkpoint::positions(
        &app.pool,
        &[
            "projection:resources",
            "projection:bookings",
            "projection:daily_stats",
        ],
    )
    .await
    .unwrap();
    assert!(
        checkpoints.iter().all(|c| *c == head),
        "no checkpoint past the store's head: {checkpoints:?}"
    );
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}
