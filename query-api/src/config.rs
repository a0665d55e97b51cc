//! `Settings`: everything query-api reads from its environment, read once in `main`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

/// The query-api's configuration.
///
/// [`Settings::default`] holds the developer-machine defaults without reading the environment,
/// so a test harness can write `Settings { addr, database_url, ..Settings::default() }`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `QUERY_API_ADDR`, default `127.0.0.1:8081`.
    pub addr: SocketAddr,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 16.
    pub database_max_connections: u32,
    /// `NATS_URL`: where the projector's change notices arrive.
    pub nats_url: String,
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `REDIS_KEY_PREFIX`, default empty: isolates deployments (and tests) sharing one Redis.
    pub redis_key_prefix: String,
    /// `REDIS_TIMEOUT_MS`, default 200: the longest any Redis call may take before the request
    /// goes on without Redis (a dead Redis never stalls an answer).
    pub redis_timeout: Duration,
    /// `CHANGED_SUBJECT`, default `bookings-changed`: notices arrive on `{subject}.{tenant}`.
    pub changed_subject: String,
    /// `BOOKINGS_JWT_SECRET`.
    pub jwt_secret: String,
    /// `RATE_LIMIT_PER_SECOND` (0 = off) and `RATE_LIMIT_BURST`.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// `REQUEST_TIMEOUT_MS`, default 10 000.
    pub request_timeout: Duration,
    /// `L1_CAPACITY`, default 10 000: entries (resource-days) of the in-process cache.
    pub l1_capacity: u64,
    /// `L1_TTL_MS`, default 60 000: how long an in-process entry lives; it bounds how stale an
    /// entry can get when a change notice is lost.
    pub l1_ttl: Duration,
    /// `L1_ANSWER_BYTES`, default 8 MiB: the most bytes of rendered availability answers kept
    /// in process (0 keeps none). The process grows by about twice this (the map, the
    /// allocator), which 8 MiB keeps inside a 100 MiB budget under the benchmark loads.
    pub l1_answer_bytes: u64,
    /// `MIN_POSITION_WAIT_MS`, default 5 000: how long a query with `min_position` waits for the
    /// read models before `503 projection_behind`.
    pub min_position_wait: Duration,
    /// `COMPUTE_CONCURRENCY`, default the number of CPUs: availability and stats computations
    /// running at once in the process; more wait (within `REQUEST_TIMEOUT_MS`).
    pub compute_concurrency: usize,
    /// `COMPUTE_MAX_WORK`, default 200 000 000: the steps of computation one request may take,
    /// each about a nanosecond of one core (units looked at per slot start, units × open
    /// periods, rendered slots and rows, summed over its resources and days); past it,
    /// `422 too_much_work`.
    pub compute_max_work: u64,
}

/// The secret used when none is configured: fine on a laptop, logged loudly.
pub const DEV_JWT_SECRET: &str = "dev-secret-change-me";

impl Default for Settings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: "postgres://bookings:bookings@127.0.0.1:5432/bookings".to_owned(),
            database_max_connections: 16,
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_key_prefix: String::new(),
            redis_timeout: Duration::from_millis(200),
            changed_subject: "bookings-changed".to_owned(),
            jwt_secret: DEV_JWT_SECRET.to_owned(),
            rate_limit_per_second: 1000,
            rate_limit_burst: 2000,
            request_timeout: Duration::from_millis(10_000),
            l1_capacity: 10_000,
            l1_ttl: Duration::from_secs(60),
            l1_answer_bytes: 8 << 20,
            min_position_wait: Duration::from_millis(5_000),
            compute_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            compute_max_work: 200_000_000,
        }
    }
}

impl Settings {
    /// Reads the environment; defaults work on a developer machine.
    pub fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        Ok(Self {
            addr: var("QUERY_API_ADDR", "127.0.0.1:8081")
                .parse()
                .context("QUERY_API_ADDR is not a socket address")?,
            database_url: var("DATABASE_URL", &defaults.database_url),
            database_max_connections: number(
                "DATABASE_MAX_CONNECTIONS",
                defaults.database_max_connections,
            )?,
            nats_url: var("NATS_URL", &defaults.nats_url),
            redis_url: var("REDIS_URL", &defaults.redis_url),
            redis_key_prefix: var("REDIS_KEY_PREFIX", ""),
            redis_timeout: millis("REDIS_TIMEOUT_MS", defaults.redis_timeout)?,
            changed_subject: var("CHANGED_SUBJECT", &defaults.changed_subject),
            jwt_secret: jwt_secret(),
            rate_limit_per_second: number("RATE_LIMIT_PER_SECOND", defaults.rate_limit_per_second)?,
            rate_limit_burst: number("RATE_LIMIT_BURST", defaults.rate_limit_burst)?,
            request_timeout: millis("REQUEST_TIMEOUT_MS", defaults.request_timeout)?,
            l1_capacity: number("L1_CAPACITY", defaults.l1_capacity)?,
            l1_ttl: millis("L1_TTL_MS", defaults.l1_ttl)?,
            l1_answer_bytes: number("L1_ANSWER_BYTES", defaults.l1_answer_bytes)?,
            min_position_wait: millis("MIN_POSITION_WAIT_MS", defaults.min_position_wait)?,
            compute_concurrency: number("COMPUTE_CONCURRENCY", defaults.compute_concurrency)?,
            compute_max_work: number("COMPUTE_MAX_WORK", defaults.compute_max_work)?,
        })
    }
}

/// `BOOKINGS_JWT_SECRET`, or the development secret with a warning.
pub fn jwt_secret() -> String {
    match std::env::var("BOOKINGS_JWT_SECRET") {
        Ok(secret) if !secret.is_empty() => secret,
        _ => {
            tracing::warn!("BOOKINGS_JWT_SECRET is not set; using the development secret");
            DEV_JWT_SECRET.to_owned()
        }
    }
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number, not {value:?}")),
        Err(_) => Ok(default),
    }
}

fn millis(name: &str, default: Duration) -> anyhow::Result<Duration> {
    let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    Ok(Duration::from_millis(number(name, default)?))
}
