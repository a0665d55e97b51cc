//! Reading what the relay published, and tidying test streams.

use async_nats::jetstream;
use serde_json::Value;

/// A message of the stream: its headers of interest and its envelope.
#[derive(Debug, Clone)]
pub struct Published {
    pub sequence: u64,
    pub msg_id: String,
    pub position: String,
    pub previous: String,
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
            msg_id: header("Nats-Msg-Id"),
            position: header("Bookings-Position"),
            previous: header("Bookings-Previous-Position"),
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
