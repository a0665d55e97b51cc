//! The commands the clients sent, against the store and the query side.

use std::collections::{HashMap, HashSet};

use domain::Event;
use domain::event::BookingStatus;
use domain::lifecycle;
use eventstore::RecordedEvent;
use futures::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::Findings;
use crate::chaos::api::{Answer, Api, Reply};
use crate::chaos::ledger::{Kind, Ledger};

/// The status a booking's events leave it in, and its version: the placement says where it
/// starts, and `domain::lifecycle` what every later event does.
fn fold(events: &[&RecordedEvent]) -> (String, i64) {
    let mut status: Option<BookingStatus> = None;
    let mut version = 0;
    for event in events {
        version = event.stream_version;
        status = if event.event_type == "BookingPlaced" {
            event.payload["status"]
                .as_str()
                .and_then(BookingStatus::parse)
        } else {
            let decoded = Event::decode(&event.event_type, event.schema_version, &event.payload);
            match (
                decoded.as_ref().ok().and_then(lifecycle::transition),
                status,
            ) {
                (Some(transition), Some(before)) => Some(transition.status_after(before)),
                _ => status,
            }
        };
    }
    (
        status
            .map(BookingStatus::as_str)
            .unwrap_or_default()
            .to_owned(),
        version,
    )
}

fn correlation(event: &RecordedEvent) -> Option<Uuid> {
    event.metadata["correlation_id"].as_str()?.parse().ok()
}

/// The store's events of the run, by the command that wrote them and by stream.
pub struct Index<'a> {
    by_correlation: HashMap<Uuid, Vec<&'a RecordedEvent>>,
    by_stream: HashMap<Uuid, Vec<&'a RecordedEvent>>,
}

impl<'a> Index<'a> {
    pub fn new(events: &'a [RecordedEvent]) -> Index<'a> {
        let mut by_correlation: HashMap<Uuid, Vec<&RecordedEvent>> = HashMap::new();
        let mut by_stream: HashMap<Uuid, Vec<&RecordedEvent>> = HashMap::new();
        for event in events {
            if let Some(id) = correlation(event) {
                by_correlation.entry(id).or_default().push(event);
            }
            by_stream.entry(event.stream_id).or_default().push(event);
        }
        for stream in by_stream.values_mut() {
            stream.sort_by_key(|e| e.stream_version);
        }
        Index {
            by_correlation,
            by_stream,
        }
    }
}

/// The last acknowledged answer about each booking: its version and the booking it showed.
pub type LastAnswers = HashMap<Uuid, (i64, Value)>;

/// Every command the clients sent, against the store: an acknowledged one must have written the
/// event its answer names (with its correlation id), a refused one nothing, and none may have
/// taken effect twice (two engine command ids under one correlation id: sent again and run
/// again instead of answered from its `Idempotency-Key`).
pub fn commands(findings: &mut Findings, ledger: &Ledger, index: &Index<'_>) -> LastAnswers {
    let mut last_answer = LastAnswers::new();
    for command in &ledger.commands {
        let caused = index
            .by_correlation
            .get(&command.correlation)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let command_ids: HashSet<&str> = caused
            .iter()
            .filter_map(|e| e.metadata["command_id"].as_str())
            .collect();
        if command_ids.len() > 1 {
            findings.duplicated.add(format!(
                "{:?} {} took effect {} times",
                command.kind,
                command.correlation,
                command_ids.len()
            ));
        }
        match &command.answer {
            Answer::Acked { body, .. } => {
                let found = match expected_event(command.kind, body) {
                    Expected::At {
                        stream,
                        version,
                        types,
                    } => index
                        .by_stream
                        .get(&stream)
                        .and_then(|s| s.iter().find(|e| e.stream_version == version))
                        .is_some_and(|e| {
                            types.contains(&e.event_type.as_str())
                                && correlation(e) == Some(command.correlation)
                        }),
                    Expected::Unreadable => false,
                };
                if !found {
                    findings.lost.add(format!(
                        "{:?} {} acknowledged ({body}) but not in the store",
                        command.kind, command.correlation
                    ));
                }
                if let (Some(booking), Some(version)) =
                    (command.booking, body["booking"]["version"].as_i64())
                    && last_answer.get(&booking).is_none_or(|(v, _)| *v < version)
                {
                    last_answer.insert(booking, (version, body["booking"].clone()));
                }
            }
            Answer::Refused { status, code } => {
                if !caused.is_empty() {
                    findings.phantom.add(format!(
                        "{:?} {} refused ({status} {code}) but {} event(s) carry it",
                        command.kind,
                        command.correlation,
                        caused.len()
                    ));
                }
            }
            Answer::GaveUp { last } => findings.unsettled.add(format!(
                "{:?} {}: no settling answer (last: {last})",
                command.kind, command.correlation
            )),
        }
    }
    last_answer
}

/// Every booking the store holds, as query-api answers it: the status and version the store's
/// events give it, and, where the last acknowledged answer was at that version, exactly the
/// booking that answer showed.
pub async fn bookings(
    findings: &mut Findings,
    index: &Index<'_>,
    last_answer: &LastAnswers,
    api: &Api,
) -> anyhow::Result<()> {
    let bookings: Vec<Uuid> = index
        .by_stream
        .iter()
        .filter(|(_, events)| {
            events
                .first()
                .is_some_and(|e| e.event_type == "BookingPlaced")
        })
        .map(|(id, _)| *id)
        .collect();
    findings.bookings_read = bookings.len();
    let answers: Vec<(Uuid, anyhow::Result<Reply>)> = futures::stream::iter(bookings)
        .map(|id| async move { (id, api.query(&format!("/v1/bookings/{id}")).await) })
        .buffer_unordered(16)
        .collect()
        .await;
    for (id, answer) in answers {
        let (status, version) = fold(
            index
                .by_stream
                .get(&id)
                .map(Vec::as_slice)
                .unwrap_or_default(),
        );
        let problem = match answer {
            Err(err) => Some(format!("GET /v1/bookings/{id} failed: {err:#}")),
            Ok((200, _, body)) => {
                if body["status"].as_str() != Some(status.as_str())
                    || body["version"].as_i64() != Some(version)
                {
                    Some(format!(
                        "booking {id}: the store says {status} v{version}, query-api {} v{}",
                        body["status"], body["version"]
                    ))
                } else {
                    match last_answer.get(&id) {
                        Some((acked, answered)) if *acked == version && *answered != body => {
                            Some(format!(
                                "booking {id} v{version}: command-api answered {answered}, query-api {body}"
                            ))
                        }
                        _ => None,
                    }
                }
            }
            Ok((other, _, body)) => Some(format!("GET /v1/bookings/{id}: {other} {body}")),
        };
        if let Some(problem) = problem {
            findings.query_mismatches.add(problem);
        }
    }
    Ok(())
}

enum Expected {
    /// The event at `version` of `stream`, of one of `types`, carrying the command's id.
    At {
        stream: Uuid,
        version: i64,
        types: &'static [&'static str],
    },
    Unreadable,
}

/// The event an acknowledged answer says was written.
fn expected_event(kind: Kind, body: &Value) -> Expected {
    let (object, types): (&str, &'static [&'static str]) = match kind {
        Kind::CreateResource => ("resource", &["ResourceCreated"]),
        Kind::Place { .. } => ("booking", &["BookingPlaced"]),
        Kind::Confirm => (
            "booking",
            &["BookingConfirmed", "BookingSubmittedForApproval"],
        ),
        Kind::Approve => ("booking", &["BookingApproved"]),
        Kind::Decline => ("booking", &["BookingDeclined"]),
        Kind::Cancel => ("booking", &["BookingCancelled"]),
    };
    let stream = body[object]["id"].as_str().and_then(|id| id.parse().ok());
    match (stream, body[object]["version"].as_i64()) {
        (Some(stream), Some(version)) => Expected::At {
            stream,
            version,
            types,
        },
        _ => Expected::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::chaos::ledger::Command;
    use crate::chaos::verify::fixtures::event;

    fn acked(kind: Kind, correlation: Uuid, booking: Uuid, version: i64) -> Command {
        Command {
            kind,
            correlation,
            booking: Some(booking),
            answer: Answer::Acked {
                status: 201,
                body: json!({ "booking": { "id": booking, "version": version } }),
            },
        }
    }

    #[test]
    fn acknowledged_commands_missing_from_the_store_run_twice_or_refused_yet_applied_are_all_caught()
     {
        let (kept, lost, twice, refused) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let (b1, b2, b3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let events = vec![
            event(b1, 1, 1, "BookingPlaced", kept, "k"),
            // Sent twice and run twice: two bookings, two engine command ids.
            event(b3, 1, 2, "BookingPlaced", twice, "first"),
            event(Uuid::new_v4(), 1, 3, "BookingPlaced", twice, "second"),
            event(b1, 2, 4, "BookingCancelled", refused, "r"),
        ];
        let ledger = Ledger {
            commands: vec![
                acked(Kind::Place { hold: false }, kept, b1, 1),
                acked(Kind::Place { hold: false }, lost, b2, 1),
                acked(Kind::Place { hold: false }, twice, b3, 1),
                Command {
                    kind: Kind::Cancel,
                    correlation: refused,
                    booking: Some(b1),
                    answer: Answer::Refused {
                        status: 409,
                        code: "invalid_state".to_owned(),
                    },
                },
            ],
            ..Ledger::default()
        };
        let mut findings = Findings::default();
        let last = commands(&mut findings, &ledger, &Index::new(&events));
        assert_eq!(findings.lost.count, 1, "{:?}", findings.lost.examples);
        assert!(findings.lost.examples[0].contains(&lost.to_string()));
        assert_eq!(findings.duplicated.count, 1);
        assert_eq!(findings.phantom.count, 1);
        assert_eq!(findings.unsettled.count, 0);
        assert_eq!(last.get(&b1).map(|(v, _)| *v), Some(1));
    }

    #[test]
    fn a_booking_folds_to_its_last_status_and_version() {
        let (b, c) = (Uuid::new_v4(), Uuid::new_v4());
        let placed = event(b, 1, 1, "BookingPlaced", c, "a");
        let expired = event(b, 2, 2, "HoldExpired", c, "b");
        assert_eq!(fold(&[&placed]), ("confirmed".to_owned(), 1));
        assert_eq!(fold(&[&placed, &expired]), ("expired".to_owned(), 2));
        let checked_in = event(b, 2, 2, "BookingCheckedIn", c, "b");
        assert_eq!(fold(&[&placed, &checked_in]), ("checked_in".to_owned(), 2));
    }
}
