//! The relay: every committed event reaches JetStream exactly once, in per-stream order, with an
//! unbroken previous-position chain, even when relays are killed mid-stream; and only one relay
//! publishes at a time.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::nats::{
    assert_stream_matches_store, assert_stream_matches_store_beside, forge, read_all,
    wait_until_relayed, wait_until_relayed_beside,
};
use tests::{TestApp, day_at};

/// Waits (up to 5 s) until `relay` has counted `count` published events: JetStream stores a
/// batch a moment before the relay has awaited its acks and moved its checkpoint.
async fn published_at_least(relay: &command_api::relay::RelayStatus, count: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while relay.published() < count && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Places and cancels `pairs` bookings over 25 resources, 32 at a time.
async fn place_and_cancel(app: Arc<TestApp>, resources: Arc<Vec<Value>>, pairs: usize) {
    futures::stream::iter(0..pairs)
        .map(|i| {
            let (app, resources) = (Arc::clone(&app), Arc::clone(&resources));
            async move {
                let admin = app.admin();
                let slot = i / resources.len();
                let day = 2 + (slot / 10) as i64;
                let hour = 8 + (slot % 10) as u32;
                let resource = &resources[i % resources.len()];
                let placed = app
                    .book(
                        &admin,
                        resource,
                        &day_at(day, hour, 0),
                        &day_at(day, hour, 30),
                    )
                    .await;
                assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
                let id = placed.body["booking"]["id"].as_str().unwrap();
                let cancelled = app.cancel(&admin, id).await;
                assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_commands_with_relays_killed_mid_stream_reach_jetstream_exactly_once_in_order()
 {
    // The instance that takes commands runs no relay; relays come and go beside it.
    let mut app = TestApp::spawn_with(|s| s.relay_enabled = false).await;
    let mut resources = Vec::new();
    for _ in 0..25 {
        resources.push(app.create_resource(json!({})).await);
    }
    let mut kills = 0;
    let mut app = {
        let load = {
            // The load runs on its own handle to the same world.
            let shared = Arc::new(TestApp::attach(&app));
            tokio::spawn(place_and_cancel(shared, Arc::new(resources), 2500))
        };
        while !load.is_finished() {
            let relay = app.spawn_instance(|s| s.sweeper_enabled = false).await;
            let lifetime = Duration::from_millis(150 + (kills % 4) * 100);
            tokio::time::sleep(lifetime).await;
            relay.kill();
            kills += 1;
        }
        load.await.expect("the load finishes");
        app
    };
    assert!(kills >= 3, "the relay was killed {kills} times");
    app.spawn_instance(|s| s.sweeper_enabled = false).await;
    let events = wait_until_relayed(&app, Duration::from_secs(60)).await;
    assert_eq!(events, 25 + 5000);
    assert_stream_matches_store(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_instances_one_relay_publishes_and_the_other_takes_over_when_it_dies() {
    let mut app = TestApp::spawn_with(|s| s.relay_enabled = false).await;
    app.spawn_instance(|_| {}).await;
    app.spawn_instance(|_| {}).await;
    let resources = Arc::new(vec![app.create_resource(json!({})).await]);
    let shared = Arc::new(TestApp::attach(&app));
    place_and_cancel(Arc::clone(&shared), Arc::clone(&resources), 50).await;
    wait_until_relayed(&app, Duration::from_secs(20)).await;

    let status = |i: usize| app.instances()[i].relay.clone().expect("a relay");
    let (first, second) = (status(1), status(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while first.published() + second.published() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (leader, follower, leader_index) = if first.published() > 0 {
        (first, second, 1)
    } else {
        (second, first, 2)
    };
    assert!(leader.is_leading());
    assert!(leader.published() > 0);
    assert_eq!(follower.published(), 0, "only the leader publishes");
    assert!(!follower.is_leading());

    app.instances()[leader_index].kill();
    let more: Vec<Value> = vec![app.create_resource(json!({})).await];
    place_and_cancel(shared, Arc::new(more), 50).await;
    wait_until_relayed(&app, Duration::from_secs(20)).await;
    assert!(follower.is_leading(), "the other instance took over");
    published_at_least(&follower, 1).await;
    assert_stream_matches_store(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_taking_over_never_resends_what_the_stream_already_holds() {
    let mut app = TestApp::spawn_with(|s| s.relay_enabled = false).await;
    app.spawn_instance(|s| s.sweeper_enabled = false).await;
    let rooms = Arc::new(vec![app.create_resource(json!({})).await]);
    let shared = Arc::new(TestApp::attach(&app));
    place_and_cancel(Arc::clone(&shared), Arc::clone(&rooms), 20).await;
    wait_until_relayed(&app, Duration::from_secs(20)).await;
    // A relay that died after JetStream stored its batch but before it moved the checkpoint.
    app.instances()[1].kill();
    let mut conn = app.pool.acquire().await.unwrap();
    eventstore::checkpoint::reset(&mut conn, "relay")
        .await
        .unwrap();
    drop(conn);
    let before = app.event_count().await;
    app.spawn_instance(|s| s.sweeper_enabled = false).await;
    place_and_cancel(shared, rooms, 5).await;
    let after = wait_until_relayed(&app, Duration::from_secs(20)).await;
    let successor = app.instances()[2].relay.clone().unwrap();
    // JetStream holds the events a moment before the relay has counted its acks.
    published_at_least(&successor, (after - before) as u64).await;
    assert_eq!(
        successor.published() as i64,
        after - before,
        "only the new events were sent"
    );
    assert_stream_matches_store(&app).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_messages_at_the_streams_tail_neither_stop_a_new_relay_nor_make_it_skip_anything() {
    let mut app = TestApp::spawn_with(|s| s.relay_enabled = false).await;
    app.spawn_instance(|s| s.sweeper_enabled = false).await;
    let rooms = Arc::new(vec![app.create_resource(json!({})).await]);
    let shared = Arc::new(TestApp::attach(&app));
    place_and_cancel(Arc::clone(&shared), Arc::clone(&rooms), 10).await;
    wait_until_relayed(&app, Duration::from_secs(20)).await;
    app.instances()[1].kill();

    // Just before the next relay takes over, someone publishes on the events subjects: a copy of
    // a real event changed, a position far past anything written, and garbage.
    let subject = format!("{}.acme.BookingPlaced", app.subject_prefix);
    let real = read_all(&app.nats, &app.stream).await.pop().unwrap();
    let mut changed = real.envelope.clone();
    changed["data"]["customer_id"] = json!("mallory");
    let mut foreign = HashSet::new();
    foreign.insert(forge(&app.nats, &subject, None, None, &json!({"not": "an event"})).await);
    foreign.insert(
        forge(
            &app.nats,
            &subject,
            Some(&real.position),
            Some(&real.previous),
            &changed,
        )
        .await,
    );
    // Last, so it is the tail the new relay finds first.
    let far = "9223372036854775000.1";
    let mut beyond = real.envelope.clone();
    beyond["position"] = json!(far);
    foreign.insert(forge(&app.nats, &subject, Some(far), None, &beyond).await);

    app.spawn_instance(|s| s.sweeper_enabled = false).await;
    place_and_cancel(shared, rooms, 10).await;
    let events =
        wait_until_relayed_beside(&app, foreign.len() as u64, Duration::from_secs(20)).await;
    assert_eq!(events, 1 + 40);
    assert_stream_matches_store_beside(&app, &foreign).await;
    let relayed = eventstore::checkpoint::peek(&app.pool, "relay")
        .await
        .unwrap();
    assert_eq!(
        relayed,
        app.head().await,
        "the checkpoint is the store's last event"
    );
    app.cleanup().await;
}

// The relay is woken after each commit: in process when this instance's relay leads, by
// NOTIFY when another instance's does. With its poll set to a minute, only the wake can explain
// events arriving within seconds.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_wakes_the_relay_of_the_same_instance_without_waiting_for_its_poll() {
    let app = TestApp::spawn_with(|s| s.relay_poll = Duration::from_secs(60)).await;
    leading(&app, 0).await;
    let rooms = Arc::new(vec![app.create_resource(json!({})).await]);
    let app = Arc::new(app);
    place_and_cancel(Arc::clone(&app), rooms, 10).await;
    assert_eq!(
        wait_until_relayed(&app, Duration::from_secs(5)).await,
        1 + 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_in_one_instance_wakes_the_relay_leading_in_another() {
    let mut app = TestApp::spawn_with(|s| s.relay_enabled = false).await;
    app.spawn_instance(|s| s.relay_poll = Duration::from_secs(60))
        .await;
    leading(&app, 1).await;
    let rooms = Arc::new(vec![app.create_resource(json!({})).await]);
    let shared = Arc::new(TestApp::attach(&app));
    place_and_cancel(shared, rooms, 10).await;
    assert_eq!(
        wait_until_relayed(&app, Duration::from_secs(5)).await,
        1 + 20
    );
    app.cleanup().await;
}

/// Waits until instance `index`'s relay leads (and so can be woken).
async fn leading(app: &TestApp, index: usize) {
    let relay = app.instances()[index].relay.clone().expect("a relay");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !relay.is_leading() {
        assert!(tokio::time::Instant::now() < deadline, "the relay leads");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
