//! The faults: what is broken, how, and in which order. Each is injected while the load runs, and
//! the next one waits until every service answers `/readyz` again.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use eventstore::wire;
use eventstore::{Position, RecordedEvent};

use super::Rig;
use super::process::aborted;
use super::random::Rng;
use super::services::Service;

/// The armed failpoint: the projector dies right after a batch that owes cache invalidations
/// commits, before Redis hears of it.
pub const FAILPOINT: &str = "projector.bookings.after_commit";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    Kill(Service),
    ProjectorFailpoint,
    Nats,
    Redis,
    Postgres,
    Forge,
    /// All at once: the three services, NATS and Redis killed, Postgres restarted (full runs).
    Storm,
}

impl Fault {
    /// The faults every run injects, each `rounds` times.
    pub const ALL: [Fault; 8] = [
        Fault::Kill(Service::CommandApi),
        Fault::Kill(Service::Projector),
        Fault::Kill(Service::QueryApi),
        Fault::ProjectorFailpoint,
        Fault::Nats,
        Fault::Redis,
        Fault::Postgres,
        Fault::Forge,
    ];

    pub fn label(self, own_postgres: bool) -> String {
        match self {
            Fault::Kill(service) => format!("kill -9 {} (and restart)", service.name()),
            Fault::ProjectorFailpoint => format!("projector aborted at failpoint {FAILPOINT}"),
            Fault::Nats => "NATS killed (-9) and restarted".to_owned(),
            Fault::Redis => "Redis killed (-9) and restarted, empty".to_owned(),
            Fault::Postgres if own_postgres => {
                "Postgres restarted (pg_ctl restart, -m immediate or fast)".to_owned()
            }
            Fault::Postgres => "Postgres connections terminated (shared server)".to_owned(),
            Fault::Forge => "forged/malformed messages published (rounds)".to_owned(),
            Fault::Storm => {
                "all at once: services, NATS, Redis killed, Postgres restarted".to_owned()
            }
        }
    }
}

/// Every fault `rounds` times, shuffled, so no fault always follows the same one; from two
/// rounds on, also `rounds - 1` storms.
pub fn plan(rounds: usize, rng: &mut Rng) -> Vec<Fault> {
    let mut plan: Vec<Fault> = (0..rounds).flat_map(|_| Fault::ALL).collect();
    plan.extend(std::iter::repeat_n(Fault::Storm, rounds.saturating_sub(1)));
    for i in (1..plan.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        plan.swap(i, j);
    }
    plan
}

/// What was published on the events subjects that the relay did not publish.
#[derive(Default)]
pub struct Forged {
    /// Their `Nats-Msg-Id`s (fresh ids: none is an event's).
    pub ids: HashSet<String>,
    pub messages: u64,
}

/// One fault injected.
pub struct Injected {
    pub fault: Fault,
    /// Seconds since the load started.
    pub at: f64,
    pub detail: String,
    /// How long until every service was ready again.
    pub recovered_in: Option<Duration>,
    /// What went wrong with the injection or the recovery, if anything did.
    pub problem: Option<String>,
}

/// Injects `fault`; returns what was done. `count` is how many of this fault came before.
pub async fn inject(
    rig: &mut Rig,
    fault: Fault,
    count: usize,
    rng: &mut Rng,
    forged: &mut Forged,
) -> anyhow::Result<String> {
    match fault {
        Fault::Kill(service) => {
            rig.services.kill(service).await;
            let down = rng.millis(200, 2000);
            tokio::time::sleep(down).await;
            rig.services.start_one(service, &[])?;
            Ok(format!("down {} ms", down.as_millis()))
        }
        Fault::ProjectorFailpoint => {
            rig.services.kill(Service::Projector).await;
            rig.services.start_one(
                Service::Projector,
                &[(platform::failpoint::VARIABLE, FAILPOINT)],
            )?;
            // It aborts at the first batch that owes invalidations: under load, at once.
            let exit = rig
                .services
                .process(Service::Projector)
                .wait_exit(Duration::from_secs(30))
                .await;
            let detail = match exit {
                Some(status) if aborted(status) => "aborted at the failpoint".to_owned(),
                Some(status) => anyhow::bail!("the projector exited otherwise: {status}"),
                None => {
                    rig.services.kill(Service::Projector).await;
                    rig.services.start_one(Service::Projector, &[])?;
                    anyhow::bail!("the failpoint was not reached within 30 s");
                }
            };
            rig.services.start_one(Service::Projector, &[])?;
            Ok(detail)
        }
        Fault::Nats => {
            rig.nats.process.kill().await;
            let down = rng.millis(500, 4000);
            tokio::time::sleep(down).await;
            rig.nats.restart().await?;
            Ok(format!("down {} ms", down.as_millis()))
        }
        Fault::Redis => {
            rig.redis.process.kill().await;
            let down = rng.millis(300, 3000);
            tokio::time::sleep(down).await;
            rig.redis.restart().await?;
            Ok(format!("down {} ms", down.as_millis()))
        }
        Fault::Postgres => {
            let immediate = count.is_multiple_of(2);
            rig.postgres.restart(immediate).await?;
            Ok(if !rig.postgres.is_own() {
                "connections terminated".to_owned()
            } else if immediate {
                "-m immediate".to_owned()
            } else {
                "-m fast".to_owned()
            })
        }
        Fault::Forge => forge(rig, rng, forged).await,
        Fault::Storm => {
            for service in Service::ALL {
                rig.services.kill(service).await;
            }
            rig.nats.process.kill().await;
            rig.redis.process.kill().await;
            rig.postgres.restart(true).await?;
            let down = rng.millis(500, 3000);
            tokio::time::sleep(down).await;
            rig.nats.restart().await?;
            rig.redis.restart().await?;
            for service in Service::ALL {
                rig.services.start_one(service, &[])?;
            }
            Ok(format!("down {} ms", down.as_millis()))
        }
    }
}

/// Publishes on the events subjects, as anyone with publish rights there could: copies of real
/// events with changed data, positions past the store's head, another event's body under an
/// event's position, an exact copy under a new id, garbage, a malformed position, JSON that is
/// no event. Each gets a fresh `Nats-Msg-Id`, kept in `forged`.
async fn forge(rig: &Rig, rng: &mut Rng, forged: &mut Forged) -> anyhow::Result<String> {
    let events: Vec<RecordedEvent> = sqlx::query_as(
        "select global_position, transaction_id, tenant_id, stream_id, stream_version, event_id,
                event_type, schema_version, payload, metadata, recorded_at
         from events order by global_position desc limit 50",
    )
    .fetch_all(&rig.pool)
    .await?;
    anyhow::ensure!(events.len() >= 2, "no events to forge from yet");
    let mut pick = || events[rng.below(events.len() as u64) as usize].clone();
    let prefix = &rig.config.subject_prefix;
    let mut messages: Vec<(String, HeaderMap, Vec<u8>)> = Vec::new();

    let real = pick();
    let mut changed = real.clone();
    changed.payload["quantity"] = serde_json::json!(99);
    changed.payload["forged_by"] = serde_json::json!("chaos");
    messages.push((
        wire::subject(prefix, &real),
        headers_of(&real),
        serde_json::to_vec(&changed)?,
    ));

    let real = pick();
    let mut ahead = real.clone();
    ahead.position = Position::new(
        real.position.transaction_id + 1_000_000,
        real.position.global_position + 1_000_000,
    );
    messages.push((
        wire::subject(prefix, &ahead),
        headers_of(&ahead),
        serde_json::to_vec(&ahead)?,
    ));

    let real = pick();
    let mut far = real.clone();
    far.position = Position::new(u64::MAX >> 2, i64::MAX - 1);
    messages.push((
        wire::subject(prefix, &far),
        headers_of(&far),
        serde_json::to_vec(&far)?,
    ));

    let (one, other) = (pick(), pick());
    messages.push((
        wire::subject(prefix, &one),
        headers_of(&one),
        serde_json::to_vec(&other)?,
    ));

    let real = pick();
    messages.push((
        wire::subject(prefix, &real),
        headers_of(&real),
        serde_json::to_vec(&real)?,
    ));

    let garbage: Vec<u8> = (0..64).map(|_| rng.below(256) as u8).collect();
    messages.push((
        format!("{prefix}.{}.Garbage", real.tenant_id),
        HeaderMap::new(),
        garbage,
    ));

    let mut malformed = HeaderMap::new();
    malformed.insert(wire::HEADER_POSITION, "not-a-position");
    messages.push((
        wire::subject(prefix, &real),
        malformed,
        b"{\"type\":".to_vec(),
    ));

    messages.push((
        wire::subject(prefix, &real),
        headers_of(&real),
        br#"{"not": "an event"}"#.to_vec(),
    ));

    let client = async_nats::connect(&rig.nats.url).await?;
    let context = jetstream::new(client);
    let count = messages.len();
    for (subject, mut headers, payload) in messages {
        let id = uuid::Uuid::new_v4().to_string();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        context
            .publish_with_headers(subject, headers, payload.into())
            .await?
            .await?;
        forged.ids.insert(id);
        forged.messages += 1;
    }
    Ok(format!("{count} messages"))
}

/// The headers the relay would put on `event` (all but the message id).
fn headers_of(event: &RecordedEvent) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(wire::HEADER_POSITION, event.position.to_string().as_str());
    headers.insert(wire::HEADER_STREAM, event.stream_id.to_string().as_str());
    headers.insert(
        wire::HEADER_VERSION,
        event.stream_version.to_string().as_str(),
    );
    headers.insert(wire::HEADER_TYPE, event.event_type.as_str());
    headers
}
