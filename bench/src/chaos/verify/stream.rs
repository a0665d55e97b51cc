//! JetStream against the store.

use std::collections::{HashMap, HashSet};

use async_nats::jetstream;
use eventstore::wire::{self, Claim, Verdict};
use eventstore::{Position, RecordedEvent};
use futures::StreamExt;
use uuid::Uuid;

use super::Findings;
use crate::chaos::faults::Forged;

/// A message of the stream, as the check reads it.
pub struct Message {
    pub sequence: u64,
    pub msg_id: String,
    pub position: Option<String>,
    pub previous: Option<String>,
    pub payload: Vec<u8>,
}

/// JetStream against the store (see [`judge_stream`]).
pub async fn stream(
    findings: &mut Findings,
    events: &[RecordedEvent],
    nats_url: &str,
    stream_name: &str,
    forged: &Forged,
) -> anyhow::Result<()> {
    let client = async_nats::connect(nats_url).await?;
    let context = jetstream::new(client);
    let mut stream = context.get_stream(stream_name).await?;
    let state = stream.info().await?.state.clone();
    findings.stream_messages = state.messages;
    let stream = &stream;
    let mut messages: Vec<Message> =
        futures::stream::iter(state.first_sequence..=state.last_sequence)
            .map(|sequence| async move {
                let message = stream.get_raw_message(sequence).await.ok()?;
                let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
                Some(Message {
                    sequence,
                    msg_id: header(async_nats::header::NATS_MESSAGE_ID.as_ref())
                        .unwrap_or_default(),
                    position: header(wire::HEADER_POSITION),
                    previous: header(wire::HEADER_PREVIOUS),
                    payload: message.payload.to_vec(),
                })
            })
            .buffer_unordered(64)
            .filter_map(|m| async move { m })
            .collect()
            .await;
    messages.sort_by_key(|m| m.sequence);
    judge_stream(findings, events, &messages, &forged.ids);
    Ok(())
}

/// Every event of the store exactly once, genuinely (the body is the stored event, judged as a
/// projector judges it), each after the one its previous-position header names and in its
/// stream's version order; `forged` messages (by id) set aside, anything else is unknown.
pub fn judge_stream(
    findings: &mut Findings,
    events: &[RecordedEvent],
    messages: &[Message],
    forged: &HashSet<String>,
) {
    let by_id: HashMap<Uuid, &RecordedEvent> = events.iter().map(|e| (e.event_id, e)).collect();
    let head = events.last().map_or(Position::START, |e| e.position);
    let mut seen: HashMap<Uuid, u64> = HashMap::new();
    let mut versions: HashMap<Uuid, i64> = HashMap::new();
    let mut previous = Position::START;
    for message in messages {
        let sequence = message.sequence;
        if forged.contains(&message.msg_id) {
            findings.forged_found += 1;
            continue;
        }
        let claim = Claim::read(
            message.position.as_deref(),
            Some(message.msg_id.as_str()),
            &message.payload,
        );
        let stored = message
            .msg_id
            .parse::<Uuid>()
            .ok()
            .and_then(|id| by_id.get(&id).copied());
        let genuine = match (claim, stored) {
            (Some(claim), Some(stored)) => {
                wire::judge(claim, &message.payload, Some(stored), head) == Verdict::Genuine
            }
            _ => false,
        };
        let Some(stored) = stored.filter(|_| genuine) else {
            findings.stream_foreign.add(format!(
                "sequence {sequence} (msg id {:?}) is neither forged by the suite nor an event of the store",
                message.msg_id
            ));
            continue;
        };
        let copies = seen.entry(stored.event_id).or_default();
        *copies += 1;
        if *copies > 1 {
            findings.stream_duplicated.add(format!(
                "event {} (position {}) again at sequence {sequence}",
                stored.event_id, stored.position
            ));
            continue;
        }
        let chained = message
            .previous
            .as_deref()
            .and_then(|p| p.parse::<Position>().ok());
        let last_version = versions
            .insert(stored.stream_id, stored.stream_version)
            .unwrap_or(0);
        if chained != Some(previous)
            || stored.position <= previous
            || stored.stream_version != last_version + 1
        {
            findings.stream_out_of_order.add(format!(
                "sequence {sequence}: event {} at {} (stream version {}) follows {previous} (chain says {chained:?}, stream was at {last_version})",
                stored.event_id, stored.position, stored.stream_version
            ));
        }
        previous = stored.position;
    }
    for event in events {
        if !seen.contains_key(&event.event_id) {
            findings.stream_missing.add(format!(
                "event {} at {} is not in JetStream",
                event.event_id, event.position
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::chaos::verify::fixtures::event;

    fn message(
        sequence: u64,
        event: &RecordedEvent,
        previous: Position,
        id: Option<&str>,
    ) -> Message {
        Message {
            sequence,
            msg_id: id.map_or_else(|| event.event_id.to_string(), str::to_owned),
            position: Some(event.position.to_string()),
            previous: Some(previous.to_string()),
            payload: serde_json::to_vec(event).expect("json"),
        }
    }

    #[test]
    fn the_stream_check_sets_forged_messages_aside_and_counts_missing_doubled_and_unknown_ones() {
        let stream = Uuid::new_v4();
        let c = Uuid::new_v4();
        let events = vec![
            event(stream, 1, 1, "BookingPlaced", c, "a"),
            event(stream, 2, 2, "BookingConfirmed", c, "b"),
            event(stream, 3, 3, "BookingCancelled", c, "c"),
        ];
        let forged_id = Uuid::new_v4().to_string();
        let mut changed = events[0].clone();
        changed.payload["status"] = json!("cancelled");
        let messages = vec![
            message(1, &events[0], Position::START, None),
            message(2, &events[0], Position::START, Some(&forged_id)),
            message(3, &events[1], events[0].position, None),
            message(4, &events[1], events[0].position, None),
            // A changed copy nobody declared: unknown.
            message(
                5,
                &changed,
                events[1].position,
                Some(&Uuid::new_v4().to_string()),
            ),
        ];
        let mut findings = Findings::default();
        judge_stream(
            &mut findings,
            &events,
            &messages,
            &HashSet::from([forged_id]),
        );
        assert_eq!(findings.forged_found, 1);
        assert_eq!(findings.stream_duplicated.count, 1);
        assert_eq!(findings.stream_foreign.count, 1);
        assert_eq!(
            findings.stream_missing.count, 1,
            "the third event was never published"
        );
        assert_eq!(findings.stream_out_of_order.count, 0);
    }

    #[test]
    fn the_stream_check_sees_events_out_of_their_streams_order() {
        let stream = Uuid::new_v4();
        let c = Uuid::new_v4();
        let events = vec![
            event(stream, 1, 1, "BookingPlaced", c, "a"),
            event(stream, 2, 2, "BookingConfirmed", c, "b"),
        ];
        let messages = vec![
            message(1, &events[1], Position::START, None),
            message(2, &events[0], events[1].position, None),
        ];
        let mut findings = Findings::default();
        judge_stream(&mut findings, &events, &messages, &HashSet::new());
        assert_eq!(findings.stream_out_of_order.count, 2);
        assert_eq!(findings.stream_missing.count, 0);
    }
}
