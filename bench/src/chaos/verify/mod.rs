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
//! - No cached availability answer differs from a fresh one (see [`caches::caches`]).

mod caches;
mod commands;
mod stream;
mod tables;

use std::collections::BTreeMap;
use std::time::Duration;

use eventstore::{Position, RecordedEvent};
use sqlx::PgPool;

pub use caches::caches;
pub use commands::{Index, bookings, commands};
pub use stream::stream;
pub use tables::{double_bookings, replay};

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

/// What the checks' tests build histories from.
#[cfg(test)]
mod fixtures {
    use chrono::Utc;
    use eventstore::{Position, RecordedEvent};
    use serde_json::json;
    use uuid::Uuid;

    /// A made-up event for the tests: `kind` at `version` of `stream`, written by engine command
    /// `command` for the client's `correlation`.
    pub fn event(
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
            payload: json!({ "booking_id": stream, "resource_id": stream, "status": "confirmed" }),
            metadata: json!({ "correlation_id": correlation, "command_id": command }),
        }
    }
}
