//! The availability cache in Redis.
//!
//! What is cached is the busy timeline of one resource for one local day (in the resource's
//! zone): every busy interval (unit and blocked period, buffers included) that overlaps the day.
//! Request parameters (window, duration, quantity) are not part of the key, so one entry serves
//! every query that touches the day. Opening hours and blackouts are not cached here; they come
//! with the resource.
//!
//! Key: `{prefix}avail:v{VERSION}:{tenant}:{resource}:{yyyy-mm-dd}`.
//! Value: `{transaction_id}.{global_position}|{json}`, the read-model position the entry was
//! computed at, then the entry. An invalidation writes a marker `{position}|` (no entry).
//!
//! Both writes go through one compare-and-set script: a write only lands if the key holds
//! nothing or something older (or, for an entry, a marker of the same position: the entry was
//! computed after the change the marker stands for). So a fill computed before an invalidation (a slow query racing
//! a projector commit) can never overwrite the marker and resurrect stale data, and a marker
//! never erases an entry computed after it.
//!
//! Positions are compared in Lua as two doubles; both parts stay far below 2^53 in practice
//! (the transaction id's epoch is 0 until four billion transactions have been used).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use domain::Period;
use domain::ids::{ResourceId, TenantId};
use eventstore::Position;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

/// The version of the cached entry's format; bump it when [`DayEntry`] changes.
pub const VERSION: u32 = 1;

/// How long an entry or a marker lives. Markers must outlive any fill in flight (milliseconds);
/// entries expire so a cache that misses an invalidation (Redis was down) heals on its own.
pub const TTL_SECONDS: u64 = 3600;

/// One busy unit over a blocked period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusyInterval {
    pub unit: u32,
    #[serde(flatten)]
    pub period: Period,
}

/// The cached busy timeline of a resource on one local day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayEntry {
    pub busy: Vec<BusyInterval>,
}

/// One resource's local day (in the resource's zone): what one entry holds the busy timeline of,
/// and what an invalidation names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceDay {
    pub tenant: TenantId,
    pub resource: ResourceId,
    pub date: NaiveDate,
}

/// Names keys; the prefix isolates deployments (and tests) sharing one Redis.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn day(&self, day: &ResourceDay) -> String {
        format!(
            "{}{}",
            self.resource_prefix(&day.tenant, day.resource),
            day.date.format("%Y-%m-%d")
        )
    }

    /// What every day key of one resource starts with.
    pub fn resource_prefix(&self, tenant: &TenantId, resource: ResourceId) -> String {
        format!("{}avail:v{VERSION}:{tenant}:{resource}:", self.prefix)
    }
}

/// The local dates (in `tz`) that `period` touches.
pub fn days_touched(tz: Tz, period: &Period) -> Vec<NaiveDate> {
    let first = period.start().with_timezone(&tz).date_naive();
    // The end is exclusive: a period ending exactly at local midnight does not touch that day.
    let last_instant = period.end() - chrono::Duration::microseconds(1);
    let last = last_instant.with_timezone(&tz).date_naive();
    first.iter_days().take_while(|day| *day <= last).collect()
}

/// The UTC span of a local day in `tz` (23, 24 or 25 hours).
pub fn day_span(tz: Tz, day: NaiveDate) -> Option<Period> {
    let start = domain::hours::local_to_utc(tz, day, domain::hours::LocalTime::MIDNIGHT);
    let end = domain::hours::local_to_utc(tz, day.succ_opt()?, domain::hours::LocalTime::MIDNIGHT);
    Period::new(start, end).ok()
}

/// Compare-and-set: ARGV = transaction id, global position, body (empty for a marker), TTL.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local bar = string.find(current, '|', 1, true)
  if bar then
    local head = string.sub(current, 1, bar - 1)
    local dot = string.find(head, '.', 1, true)
    if dot then
      local cx = tonumber(string.sub(head, 1, dot - 1))
      local cp = tonumber(string.sub(head, dot + 1))
      local nx = tonumber(ARGV[1])
      local np = tonumber(ARGV[2])
      -- An entry at the same position as a marker already includes the change the marker
      -- stands for, so it may replace it; anything else needs a strictly newer position.
      local replaces_marker = (ARGV[3] ~= '') and (bar == string.len(current))
      if cx and cp and (cx > nx or (cx == nx and (cp > np or (cp == np and not replaces_marker)))) then
        return 0
      end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '.' .. ARGV[2] .. '|' .. ARGV[3], 'EX', ARGV[4])
return 1
";

/// What a lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing, or an invalidation marker: compute from Postgres (and fill).
    Miss,
    /// An entry computed at `position`.
    Hit { position: Position, entry: DayEntry },
}

/// The Redis side of the cache.
#[derive(Clone)]
pub struct RedisCache {
    /// Connected on first use, so a service starts (and answers from Postgres) while Redis is
    /// down; once connected, the manager reconnects by itself.
    connection: Arc<OnceCell<ConnectionManager>>,
    client: Option<redis::Client>,
    keys: Keys,
    script: redis::Script,
    /// When Redis last failed (ms since the epoch): for a second after a failure callers skip
    /// Redis at once instead of each waiting out a timeout.
    failed_at: Arc<AtomicU64>,
}

/// How long callers skip Redis after it failed.
const BACKOFF_MS: u64 = 1000;

/// How long a Redis call may take before the caller goes on without the cache.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(200);

impl RedisCache {
    pub fn new(connection: ConnectionManager, keys: Keys) -> Self {
        Self {
            connection: Arc::new(OnceCell::new_with(Some(connection))),
            client: None,
            keys,
            script: redis::Script::new(COMPARE_AND_SET),
            failed_at: Arc::default(),
        }
    }

    /// A cache that connects to `url` on first use (and retries on later uses until it can).
    pub fn connect_lazy(url: &str, keys: Keys) -> redis::RedisResult<Self> {
        Ok(Self::lazy(redis::Client::open(url)?, keys))
    }

    /// A cache that connects with `client` on first use (and retries on later uses until it can).
    pub fn lazy(client: redis::Client, keys: Keys) -> Self {
        Self {
            connection: Arc::new(OnceCell::new()),
            client: Some(client),
            keys,
            script: redis::Script::new(COMPARE_AND_SET),
            failed_at: Arc::default(),
        }
    }

    fn now_ms() -> u64 {
        u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
    }

    /// Remembers a failure (see `failed_at`) and passes the result through.
    fn note<T>(&self, result: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if result.is_err() {
            self.failed_at.store(Self::now_ms(), Ordering::Relaxed);
        }
        result
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        if Self::now_ms().saturating_sub(self.failed_at.load(Ordering::Relaxed)) < BACKOFF_MS {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis failed less than a second ago; skipping it",
            )));
        }
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let Some(client) = &self.client else {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "no Redis client configured",
                    )));
                };
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_TIMEOUT))
                    .set_response_timeout(Some(REDIS_TIMEOUT))
                    .set_number_of_retries(1);
                let connecting = ConnectionManager::new_with_config(client.clone(), config);
                match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
                    Ok(result) => self.note(result),
                    Err(_) => self.note(Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "connecting to Redis timed out",
                    )))),
                }
            })
            .await?;
        Ok(connection.clone())
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub async fn get(&self, day: &ResourceDay) -> redis::RedisResult<Lookup> {
        let mut connection = self.connection().await?;
        let raw: Option<String> = self.note(connection.get(self.keys.day(day)).await)?;
        Ok(raw.as_deref().map_or(Lookup::Miss, parse))
    }

    /// The entries of many days in one round trip (`MGET`), in the order of `days`.
    pub async fn get_many(&self, days: &[ResourceDay]) -> redis::RedisResult<Vec<Lookup>> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection().await?;
        let keys: Vec<String> = days.iter().map(|day| self.keys.day(day)).collect();
        let raw: Vec<Option<String>> = self.note(
            redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut connection)
                .await,
        )?;
        Ok(raw
            .iter()
            .map(|raw| raw.as_deref().map_or(Lookup::Miss, parse))
            .collect())
    }

    /// Stores `entry` computed at `position`, unless the key already holds something as new.
    /// Returns whether it was stored.
    pub async fn fill(
        &self,
        day: &ResourceDay,
        position: Position,
        entry: &DayEntry,
    ) -> redis::RedisResult<bool> {
        let body = serde_json::to_string(entry).unwrap_or_default();
        self.compare_and_set(&self.keys.day(day), position, &body)
            .await
    }

    /// Marks the day invalid as of `position` (the projector's commit that changed it).
    pub async fn invalidate(
        &self,
        day: &ResourceDay,
        position: Position,
    ) -> redis::RedisResult<bool> {
        self.compare_and_set(&self.keys.day(day), position, "")
            .await
    }

    /// Marks many days invalid as of `position` in one round trip (a projector batch).
    pub async fn invalidate_many(
        &self,
        days: &[ResourceDay],
        position: Position,
    ) -> redis::RedisResult<()> {
        if days.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection().await?;
        let mut pipe = redis::pipe();
        for day in days {
            // EVAL rather than EVALSHA: no NOSCRIPT dance after a Redis restart, and Redis
            // caches the compiled script by its hash anyway.
            pipe.cmd("EVAL")
                .arg(COMPARE_AND_SET)
                .arg(1)
                .arg(self.keys.day(day))
                .arg(position.transaction_id)
                .arg(position.global_position)
                .arg("")
                .arg(TTL_SECONDS)
                .ignore();
        }
        self.note(pipe.query_async::<()>(&mut connection).await)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        position: Position,
        body: &str,
    ) -> redis::RedisResult<bool> {
        let mut connection = self.connection().await?;
        let stored: i64 = self.note(
            self.script
                .key(key)
                .arg(position.transaction_id)
                .arg(position.global_position)
                .arg(body)
                .arg(TTL_SECONDS)
                .invoke_async(&mut connection)
                .await,
        )?;
        Ok(stored == 1)
    }

    /// `PING`, for readiness checks.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection().await?;
        let pong = redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await;
        self.note(pong).map(|_| ())
    }
}

fn parse(raw: &str) -> Lookup {
    let Some((head, body)) = raw.split_once('|') else {
        return Lookup::Miss;
    };
    let (Ok(position), false) = (head.parse::<Position>(), body.is_empty()) else {
        return Lookup::Miss;
    };
    match serde_json::from_str(body) {
        Ok(entry) => Lookup::Hit { position, entry },
        Err(_) => Lookup::Miss,
    }
}

/// The start of the local day `day` in `tz` as a UTC instant (midnight, or the first instant
/// after a DST gap).
pub fn day_start(tz: Tz, day: NaiveDate) -> chrono::DateTime<Utc> {
    domain::hours::local_to_utc(tz, day, domain::hours::LocalTime::MIDNIGHT)
}

/// Today in `tz`.
pub fn today(tz: Tz, now: chrono::DateTime<Utc>) -> NaiveDate {
    tz.from_utc_datetime(&now.naive_utc()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> chrono::DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_ending_at_local_midnight_touches_only_its_day() {
        let tz = chrono_tz::Europe::Berlin;
        let period = Period::new(utc("2026-12-01T22:00:00Z"), utc("2026-12-01T23:00:00Z")).unwrap();
        assert_eq!(
            days_touched(tz, &period),
            vec![NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()]
        );
        let across = Period::new(utc("2026-12-01T22:00:00Z"), utc("2026-12-01T23:30:00Z")).unwrap();
        assert_eq!(days_touched(tz, &across).len(), 2);
    }

    #[test]
    fn a_dst_day_spans_23_hours() {
        let tz = chrono_tz::Europe::Berlin;
        let span = day_span(tz, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()).unwrap();
        assert_eq!(span.duration(), chrono::Duration::hours(23));
    }

    #[test]
    fn markers_and_garbage_read_as_misses() {
        assert_eq!(parse("12.5|"), Lookup::Miss);
        assert_eq!(parse("nonsense"), Lookup::Miss);
        assert_eq!(
            parse(r#"12.5|{"busy":[]}"#),
            Lookup::Hit {
                position: Position::new(12, 5),
                entry: DayEntry { busy: vec![] }
            }
        );
    }
}
