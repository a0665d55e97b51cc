//! Reading what the relay published, forging what others could publish, and tidying test
//! streams.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use eventstore::RecordedEvent;
use eventstore::wire;
use serde_json::Value;

use crate::TestApp;

/// A message of the stream: its headers of interest and its envelope.
#[derive(Debug, Clone)]
pub struct Published {
    pub sequence: u64,
    pub msg_id: String,
    pub position: String,
    pub previous: String,
    /// The W3C trace context of the command that wrote the event (empty without one).
    pub traceparent: String,
    pub envelope: Value,
}

/// Every message in the stream, in stream order.
pub async fn read_all(client: &async_nats::Client, stream: &str) -> Vec<Published> {
    let context = jetstream::new(client.clone());
    let Ok(mut stream) = context.get_stream(stream).await else {
        return Vec::new();
    };
    let last = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let mut out = Vec::new();
    for sequence in 1..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        out.push(Published {
            sequence,
            msg_id: header(async_nats::header::NATS_MESSAGE_ID.as_ref()),
            position: header(wire::HEADER_POSITION),
            previous: header(wire::HEADER_PREVIOUS),
            traceparent: header(wire::HEADER_TRACEPARENT),
            envelope: serde_json::from_slice(&message.payload).unwrap_or(Value::Null),
        });
    }
    out
}

/// How many messages the stream holds (0 if it does not exist).
pub async fn message_count(client: &async_nats::Client, stream: &str) -> u64 {
    let context = jetstream::new(client.clone());
    match context.get_stream(stream).await {
        Ok(mut stream) => stream.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

pub async fn delete_stream(client: &async_nats::Client, stream: &str) {
    let _ = jetstream::new(client.clone()).delete_stream(stream).await;
}

/// Deletes test streams (`BKT_<unix time>_…`) created before `before`.
pub async fn drop_stale_streams(client: &async_nats::Client, before: i64) {
    use futures::StreamExt;
    let context = jetstream::new(client.clone());
    let mut names = context.stream_names();
    let mut stale = Vec::new();
    while let Some(Ok(name)) = names.next().await {
        let stamp: Option<i64> = name
            .strip_prefix("BKT_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|s| s.parse().ok());
        if stamp.is_some_and(|stamp| stamp < before) {
            stale.push(name);
        }
    }
    for name in stale {
        let _ = context.delete_stream(&name).await;
    }
}

/// Publishes a message on the events subjects as anyone allowed to publish there could: with
/// `position` and `previous` (if given) as its position headers and `body` as its body.
/// JetStream stores it; returns its message id.
pub async fn forge(
    client: &async_nats::Client,
    subject: &str,
    position: Option<&str>,
    previous: Option<&str>,
    body: &Value,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let mut headers = HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
    if let Some(position) = position {
        headers.insert(wire::HEADER_POSITION, position);
    }
    if let Some(previous) = previous {
        headers.insert(wire::HEADER_PREVIOUS, previous);
    }
    let payload = serde_json::to_vec(body).expect("a JSON body");
    publish_stored(client, subject, headers, payload).await;
    id
}

/// Publishes `payload` with `headers` and waits until JetStream has stored it.
async fn publish_stored(
    client: &async_nats::Client,
    subject: &str,
    headers: HeaderMap,
    payload: Vec<u8>,
) {
    jetstream::new(client.clone())
        .publish_with_headers(subject.to_owned(), headers, payload.into())
        .await
        .expect("published")
        .await
        .expect("stored by JetStream");
}

/// Publishes `event` again as the relay does (its id as the message id, its position header and
/// body): a redelivery, no forgery.
pub async fn republish(client: &async_nats::Client, subject: &str, event: &RecordedEvent) {
    let mut headers = HeaderMap::new();
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        event.event_id.to_string().as_str(),
    );
    headers.insert(wire::HEADER_POSITION, event.position.to_string().as_str());
    let payload = serde_json::to_vec(event).expect("a JSON body");
    publish_stored(client, subject, headers, payload).await;
}

/// The stream the relay would create, created ahead of it (for tests whose relay is off).
pub async fn create_stream(client: &async_nats::Client, stream: &str, subject_prefix: &str) {
    jetstream::new(client.clone())
        .get_or_create_stream(jetstream::stream::Config {
            name: stream.to_owned(),
            subjects: vec![wire::all_subjects(subject_prefix)],
            ..Default::default()
        })
        .await
        .expect("the stream");
}

/// Waits until JetStream holds as many messages as the store holds events.
pub async fn wait_until_relayed(app: &TestApp, timeout: Duration) -> i64 {
    wait_until_relayed_beside(app, 0, timeout).await
}

/// Waits until JetStream holds as many messages as the store holds events, besides `foreign`
/// messages that others published.
pub async fn wait_until_relayed_beside(app: &TestApp, foreign: u64, timeout: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let events = app.event_count().await;
        let messages = message_count(&app.nats, &app.stream).await - foreign;
        if messages as i64 == events {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "relayed {messages} of {events} events in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Exactly once, per-stream order, an unbroken chain, and the very events of the store.
pub async fn assert_stream_matches_store(app: &TestApp) {
    assert_stream_matches_store_beside(app, &HashSet::new()).await;
}

/// [`assert_stream_matches_store`] for the messages the relay published, passing over the
/// `foreign` ones (by message id) that others published on the events subjects.
pub async fn assert_stream_matches_store_beside(app: &TestApp, foreign: &HashSet<String>) {
    let published: Vec<Published> = read_all(&app.nats, &app.stream)
        .await
        .into_iter()
        .filter(|message| !foreign.contains(&message.msg_id))
        .collect();
    let stored: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "select event_id, transaction_id::text || '.' || global_position from events",
    )
    .fetch_all(&app.pool)
    .await
    .expect("the events");
    assert_eq!(published.len(), stored.len(), "one message per event");
    let ids: HashSet<&str> = published.iter().map(|p| p.msg_id.as_str()).collect();
    assert_eq!(ids.len(), published.len(), "no event published twice");
    let stored: HashMap<String, String> = stored
        .into_iter()
        .map(|(id, pos)| (id.to_string(), pos))
        .collect();
    let mut versions: HashMap<String, i64> = HashMap::new();
    let mut previous = "0.0".to_owned();
    for message in &published {
        assert_eq!(
            stored.get(&message.msg_id),
            Some(&message.position),
            "the stored event, at its position"
        );
        assert_eq!(message.envelope["event_id"], message.msg_id.as_str());
        assert_eq!(message.envelope["position"], message.position.as_str());
        assert_eq!(
            message.previous, previous,
            "the chain of previous positions is unbroken"
        );
        previous = message.position.clone();
        let stream = message.envelope["stream_id"]
            .as_str()
            .expect("a stream id")
            .to_owned();
        let version = message.envelope["stream_version"]
            .as_i64()
            .expect("the events");
        let last = versions.insert(stream, version).unwrap_or(0);
        assert_eq!(version, last + 1, "per-stream order");
    }
}
