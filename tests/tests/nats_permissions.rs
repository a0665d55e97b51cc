//! NATS with the shipped `deploy/nats.conf`: each service's user may do what that service needs
//! and no more. Only command-api's user (the relay's) may publish events; the projector's user
//! runs its consumers and publishes change notices; query-api's user reads the notices. Each test
//! runs a nats-server of its own.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use platform::nats::{NatsSettings, connect_options};
use reqwest::StatusCode;
use serde_json::json;
use tests::TestApp;
use tests::nats_server::NatsServer;
use tokio::sync::mpsc;

/// A client as `user`, and the server errors it is told about (permission violations).
async fn connect(
    server: &NatsServer,
    user: &str,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (errors, received) = mpsc::unbounded_channel();
    let (options, url) =
        connect_options(&NatsSettings::at(server.url(user)), user).expect("valid settings");
    let client = options
        .event_callback(move |event| {
            let errors = errors.clone();
            async move {
                if let async_nats::Event::ServerError(error) = event {
                    let _ = errors.send(error.to_string());
                }
            }
        })
        .connect(url)
        .await
        .expect("connects");
    (client, received)
}

async fn violation(errors: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), errors.recv())
        .await
        .expect("the server reports a violation")
        .expect("an error")
        .to_lowercase()
}

async fn messages(server: &NatsServer) -> u64 {
    let (admin, _) = connect(server, "admin").await;
    let mut stream = jetstream::new(admin)
        .get_stream("BOOKINGS")
        .await
        .expect("the stream");
    stream.info().await.expect("stream info").state.messages
}

#[tokio::test]
async fn only_the_relay_user_may_publish_events_and_each_user_reads_only_its_own() {
    let server = NatsServer::start().await;

    // The relay's user creates the stream and publishes an event, acknowledged.
    let (relay, _) = connect(&server, "command-api").await;
    let relay_js = jetstream::new(relay);
    relay_js
        .get_or_create_stream(stream::Config {
            name: "BOOKINGS".into(),
            subjects: vec!["bookings.>".into()],
            ..Default::default()
        })
        .await
        .expect("the relay's user creates the stream");
    let ack = relay_js
        .publish("bookings.acme.ResourceCreated", "{}".into())
        .await
        .expect("sent")
        .await
        .expect("acknowledged");
    assert_eq!(ack.sequence, 1);

    // The projector's and query-api's users may not publish on the events subject.
    for user in ["projector", "query-api"] {
        let (client, mut errors) = connect(&server, user).await;
        client
            .publish("bookings.acme.BookingPlaced", "{\"forged\":true}".into())
            .await
            .expect("sent");
        client.flush().await.expect("flushed");
        let error = violation(&mut errors).await;
        assert!(
            error.contains("permissions violation for publish"),
            "{user}: {error}"
        );
    }
    assert_eq!(messages(&server).await, 1, "no forged event was stored");

    // query-api's user may not read the events, nor another service's replies; it reads the
    // projector's change notices.
    let (query, mut query_errors) = connect(&server, "query-api").await;
    let _events = query.subscribe("bookings.>").await.expect("sent");
    query.flush().await.expect("flushed");
    let error = violation(&mut query_errors).await;
    assert!(
        error.contains("permissions violation for subscription"),
        "{error}"
    );
    let _replies = query.subscribe("_INBOX.projector.>").await.expect("sent");
    query.flush().await.expect("flushed");
    let error = violation(&mut query_errors).await;
    assert!(
        error.contains("permissions violation for subscription"),
        "{error}"
    );
    let mut notices = query
        .subscribe("bookings-changed.acme")
        .await
        .expect("subscribed");
    query.flush().await.expect("flushed");

    // The projector's user runs a durable consumer and publishes a notice.
    let (projector, _) = connect(&server, "projector").await;
    let consumer = jetstream::new(projector.clone())
        .get_stream("BOOKINGS")
        .await
        .expect("the projector's user reads the stream info")
        .get_or_create_consumer(
            "projector-bookings",
            pull::Config {
                durable_name: Some("projector-bookings".into()),
                filter_subject: "bookings.>".into(),
                ..Default::default()
            },
        )
        .await
        .expect("the projector's user creates its consumer");
    let mut delivered = consumer.messages().await.expect("pulls");
    let message = tokio::time::timeout(Duration::from_secs(5), delivered.next())
        .await
        .expect("a message in time")
        .expect("a message")
        .expect("no error");
    assert_eq!(message.subject.as_str(), "bookings.acme.ResourceCreated");
    message.ack().await.expect("acknowledged");
    projector
        .publish("bookings-changed.acme", "{}".into())
        .await
        .expect("sent");
    let notice = tokio::time::timeout(Duration::from_secs(5), notices.next())
        .await
        .expect("a notice in time")
        .expect("a notice");
    assert_eq!(notice.subject.as_str(), "bookings-changed.acme");
}

#[tokio::test]
async fn the_three_services_run_with_their_own_least_privilege_users() {
    let server = NatsServer::start().await;
    let relay_url = server.url("command-api");
    let mut app = TestApp::spawn_with(|s| {
        s.nats.url = relay_url;
        s.stream.name = "BOOKINGS".into();
        s.stream.subject_prefix = "bookings".into();
    })
    .await;
    let room = app.create_resource(json!({})).await;
    let booked = app
        .book_day(&app.client("alice"), &room, 3, (9, 0), (10, 0))
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);

    // The relay published every event with its own user. (Generous deadlines: the relay waits
    // for every older transaction of the shared Postgres cluster, other test runs' included.)
    let events = u64::try_from(app.event_count().await).expect("a count");
    let relay = app.relay.clone().expect("a relay");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while relay.published() < events {
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay published {}",
            relay.published()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(messages(&server).await, events);

    // The projector consumes them (and acknowledges) and publishes notices with its user.
    let (admin, _) = connect(&server, "admin").await;
    let mut notices = admin
        .subscribe("bookings-changed.>")
        .await
        .expect("subscribed");
    admin.flush().await.expect("flushed");
    let projector_url = server.url("projector");
    app.start_projector_with(|s| {
        s.nats.url = projector_url;
        s.stream.name = "BOOKINGS".into();
        s.stream.subject_prefix = "bookings".into();
        s.changed_subject = "bookings-changed".into();
    })
    .await;
    let mut query = app.query_settings();
    query.nats.url = server.url("query-api");
    query.changed_subject = "bookings-changed".into();
    let query_url = app.start_query_api_with(query).await;
    let stream = jetstream::new(admin.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for name in [
        "projector-resources",
        "projector-bookings",
        "projector-daily_stats",
    ] {
        loop {
            let acked = match stream
                .get_consumer_from_stream::<pull::Config, _, _>(name, "BOOKINGS")
                .await
            {
                Ok(mut consumer) => consumer
                    .info()
                    .await
                    .map(|i| i.ack_floor.stream_sequence)
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if acked >= events {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} acknowledged {acked} of {events}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let booked = app
        .book_day(&app.client("bob"), &room, 3, (11, 0), (12, 0))
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    tokio::time::timeout(Duration::from_secs(60), notices.next())
        .await
        .expect("a change notice in time")
        .expect("a notice");

    // query-api is connected with its user.
    let ready = app
        .http
        .get(format!("{query_url}/readyz"))
        .send()
        .await
        .expect("answered");
    assert_eq!(ready.status(), StatusCode::OK);
    app.cleanup().await;
}
