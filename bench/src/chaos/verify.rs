//! The end of a run: everything is up, the load has stopped, and the engine is held to what the
//! clients were told and to its own invariants.
//!
//! - Every acknowledged command is in the store (the event its answer names, with the command's
//!   correlation id), no command took effect twice (one engine command id per correlation id)
//!   and no refused one took effect at all; query-api answers every booking as the store has it.
//! - JetStream holds every event exactly once, as the store holds it, in order (the forged
//!   messages, known by their ids, set aside).
//! - No unit of any resource is taken twice over overlapping periods, in the guard
//!   (`allocations`) or in the read model (`read.busy`), and the two hold the same rows.
//! - `projector replay --verify` finds no drift.
//! - No cached availability answer differs from a fresh one (see [`caches`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream;
use eventstore::wire::{self, Claim, Verdict};
use eventstore::{Position, RecordedEvent};
use futures::StreamExt;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::api::{Answer, Api, Reply, query_at};
use super::faults::Forged;
use super::ledger::{Kind, Ledger};
use super::load::Load;

/// What the verification found: counts, and a few examples of each failure.
#[derive(Default)]
pub struct Findings {
    pub events: usize,
    pub lost: Failures,
    pub duplicated: Failures,
    pub phantom: Failures,
    pub unsettled: Failures,
    pub query_mismatches: Failures,
    pub bookings_read: usize,
    pub stream_messages: u64,
    pub stream_missing: Failures,
    pub stream_duplicated: Failures,
    pub stream_foreign: Failures,
    pub stream_out_of_order: Failures,
    pub forged_found: usize,
    pub double_booked_guard: i64,
    pub double_booked_read: i64,
    pub beyond_capacity: i64,
    pub guard_read_differences: i64,
    pub drift: Option<usize>,
    pub replay_output: String,
    pub cache: CacheFindings,
}

#[derive(Default)]
pub struct CacheFindings {
    pub compared: usize,
    /// Answers of the query-api that ran through the faults that came from a cache.
    pub hits: usize,
    /// Answers of a fresh query-api on the same Redis that came from Redis.
    pub redis_hits: usize,
    pub mismatches: Failures,
}

/// The store's events of the run, in the safe order, read when nothing runs any more.
/// (On a shared server another database's open transaction can hide the newest events from
/// the safe order for a while: this waits for it, up to a minute.)
pub async fn store_events(pool: &PgPool) -> anyhow::Result<Vec<RecordedEvent>> {
    let mut conn = pool.acquire().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut events = Vec::new();
        let mut after = Position::START;
        loop {
            let chunk = eventstore::read::read_after(&mut conn, after, 5000).await?;
            let Some(last) = chunk.last() else { break };
            after = last.position;
            events.extend(chunk);
        }
        let total: i64 = sqlx::query_scalar("select count(*) from events")
            .fetch_one(&mut *conn)
            .await?;
        if total as usize == events.len() {
            return Ok(events);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{total} events stored but {} readable in the safe order: a transaction is still open",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The status a booking's events leave it in, and its version.
fn fold(events: &[&RecordedEvent]) -> (String, i64) {
    let mut status = String::new();
    let mut version = 0;
    for event in events {
        version = event.stream_version;
        status = match event.event_type.as_str() {
            "BookingPlaced" => event.payload["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            "BookingConfirmed" | "BookingApproved" => "confirmed".to_owned(),
            "BookingSubmittedForApproval" => "pending".to_owned(),
            "BookingDeclined" => "declined".to_owned(),
            "BookingCancelled" => "cancelled".to_owned(),
            "HoldExpired" => "expired".to_owned(),
            _ => status,
        };
    }
    (status, version)
}

fn correlation(event: &RecordedEvent) -> Option<Uuid> {
    event.metadata["correlation_id"].as_str()?.parse().ok()
}

/// How often something that must not happen did, with the first few cases.
#[derive(Default)]
pub struct Failures {
    pub count: usize,
    pub examples: Vec<String>,
}

impl Failures {
    fn add(&mut self, case: String) {
        self.count += 1;
        if self.examples.len() < 20 {
            self.examples.push(case);
        }
    }
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

/// Double bookings in the guard and in the read model, units past a resource's capacity, and
/// the rows one holds that the other does not.
pub async fn double_bookings(findings: &mut Findings, pool: &PgPool) -> anyhow::Result<()> {
    findings.double_booked_guard = sqlx::query_scalar(
        "select count(*) from allocations a join allocations b
           on a.resource_id = b.resource_id and a.unit = b.unit and a.during && b.during
          and a.ctid < b.ctid",
    )
    .fetch_one(pool)
    .await?;
    findings.double_booked_read = sqlx::query_scalar(
        "select count(*) from read.busy a join read.busy b
           on a.resource_id = b.resource_id and a.unit = b.unit and a.during && b.during
          and (a.booking_id, a.unit) < (b.booking_id, b.unit)",
    )
    .fetch_one(pool)
    .await?;
    findings.beyond_capacity = sqlx::query_scalar(
        "select (select count(*) from allocations a join read.resources r using (resource_id)
                  where a.unit >= r.capacity)
              + (select count(*) from read.busy b join read.resources r using (resource_id)
                  where b.unit >= r.capacity)",
    )
    .fetch_one(pool)
    .await?;
    findings.guard_read_differences = sqlx::query_scalar(
        "select count(*) from (
            (select booking_id, unit, during from allocations
             except select booking_id, unit, during from read.busy)
            union all
            (select booking_id, unit, during from read.busy
             except select booking_id, unit, during from allocations)) d",
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// `projector replay --verify`: the number of differences it reports (`None`: it did not run).
pub async fn replay(
    findings: &mut Findings,
    bin_dir: &Path,
    database_url: &str,
) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(bin_dir.join("projector"))
        .args(["replay", "--verify"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    findings.drift = if stdout.contains("no differences") && output.status.success() {
        Some(0)
    } else {
        stdout
            .lines()
            .find_map(|l| l.strip_suffix(" differences:"))
            .and_then(|n| n.trim().parse().ok())
    };
    findings.replay_output = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

/// One answer's content: what must not depend on where it came from (`position` says how
/// fresh it is and may differ).
fn content(body: &Value) -> (Value, Value) {
    (body["free"].clone(), body["slots"].clone())
}

/// Cached availability against a fresh computation.
///
/// The fresh answer comes from a query-api started now on a Redis key prefix nobody used: empty
/// caches in process and in Redis, so it computes every day from the read model, with the same
/// code. The read model itself is held to the event history by `replay --verify` and to the
/// guard by [`double_bookings`]. (A `min_position` at the head would not do: a cached entry
/// stamped at or past the head is served as it is, which is exactly the bookkeeping under test.)
///
/// `survivor` is the query-api that lived through the faults (its in-process caches, the
/// rendered answers, and Redis); `redis` a query-api started now on the run's Redis prefix, so
/// its answers come from Redis alone. Each resource's every day of the run, and the whole
/// window at once, are asked of all three.
pub async fn caches(
    findings: &mut Findings,
    load: &Load,
    survivor: &str,
    redis: &str,
    fresh: &str,
) -> anyhow::Result<()> {
    let http = load.api.http();
    let token = &load.api.admin;
    let mut paths = Vec::new();
    let (first, last) = (
        load.first_day,
        load.first_day + chrono::Days::new(u64::from(load.days - 1)),
    );
    for resource in &load.resources {
        let before = first - chrono::Days::new(1);
        for day in std::iter::once(before)
            .chain(load.days())
            .chain(std::iter::once(last + chrono::Days::new(1)))
        {
            paths.push(format!(
                "/v1/resources/{}/availability?from={day}&to={day}&duration_minutes=60",
                resource.id
            ));
        }
        paths.push(format!(
            "/v1/resources/{}/availability?from={first}&to={last}&duration_minutes=60",
            resource.id
        ));
    }
    for path in paths {
        let survived = query_at(http, survivor, token, &path).await?;
        let from_redis = query_at(http, redis, token, &path).await?;
        let computed = query_at(http, fresh, token, &path).await?;
        anyhow::ensure!(
            survived.0 == 200 && from_redis.0 == 200 && computed.0 == 200,
            "{path}: statuses {} / {} / {}",
            survived.0,
            from_redis.0,
            computed.0
        );
        findings.cache.compared += 1;
        let truth = content(&computed.2);
        for (who, (_, cache, body)) in [
            ("the surviving query-api", &survived),
            ("Redis", &from_redis),
        ] {
            let hit = cache.as_deref() == Some("hit");
            if who == "Redis" {
                findings.cache.redis_hits += usize::from(hit);
            } else {
                findings.cache.hits += usize::from(hit);
            }
            if content(body) != truth {
                findings.cache.mismatches.add(format!(
                        "{path}: {who} (x-cache {cache:?}, position {}) answered {}, fresh (position {}) {}",
                        body["position"], body["free"], computed.2["position"], computed.2["free"]
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Waits until nothing is left to settle: no unexpired hold, the relay and every projection at
/// the store's head, no cache invalidation still owed. Returns what it waited for, or why not.
pub async fn settled(pool: &PgPool, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match lagging(pool).await {
            Ok(None) => return Ok(()),
            Ok(Some(what)) => what,
            Err(err) => format!("{err:#}"),
        };
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("the engine did not settle within {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn lagging(pool: &PgPool) -> anyhow::Result<Option<String>> {
    let holds: i64 =
        sqlx::query_scalar("select count(*) from allocations where expires_at is not null")
            .fetch_one(pool)
            .await?;
    if holds > 0 {
        return Ok(Some(format!(
            "{holds} allocation rows of holds not yet confirmed or expired"
        )));
    }
    let head = eventstore::read::last_written(pool).await?;
    let names = [
        "relay",
        "projection:resources",
        "projection:bookings",
        "projection:daily_stats",
    ];
    let checkpoints = eventstore::checkpoint::positions(pool, &names).await?;
    let behind: BTreeMap<&str, Position> = names
        .iter()
        .zip(checkpoints)
        .filter(|(_, at)| *at != head)
        .map(|(name, at)| (*name, at))
        .collect();
    if !behind.is_empty() {
        return Ok(Some(format!("behind the head {head}: {behind:?}")));
    }
    let owed: i64 = sqlx::query_scalar("select count(*) from read.cache_invalidations")
        .fetch_one(pool)
        .await?;
    if owed > 0 {
        return Ok(Some(format!("{owed} cache invalidations still owed")));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::chaos::ledger::Command;

    fn event(
        stream: Uuid,
        version: i64,
        at: i64,
        kind: &str,
        correlation: Uuid,
        command: &str,
    ) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::new_v4(),
            event_type: kind.to_owned(),
            schema_version: 1,
            tenant_id: "chaos".to_owned(),
            stream_id: stream,
            stream_version: version,
            position: Position::new(100 + at as u64, at),
            recorded_at: Utc::now(),
            payload: json!({ "booking_id": stream, "status": "confirmed" }),
            metadata: json!({ "correlation_id": correlation, "command_id": command }),
        }
    }

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

    #[test]
    fn a_booking_folds_to_its_last_status_and_version() {
        let (b, c) = (Uuid::new_v4(), Uuid::new_v4());
        let placed = event(b, 1, 1, "BookingPlaced", c, "a");
        let expired = event(b, 2, 2, "HoldExpired", c, "b");
        assert_eq!(fold(&[&placed]), ("confirmed".to_owned(), 1));
        assert_eq!(fold(&[&placed, &expired]), ("expired".to_owned(), 2));
    }
}
