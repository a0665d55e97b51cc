//! `Settings`: everything query-api reads from its environment, read once in `main`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use platform::auth::{AuthSettings, JwtSecret};
use platform::nats::{NatsAuth, redact};
use platform::rate_limit::RateLimitSettings;

/// The query-api's configuration.
///
/// [`Settings::default`] holds the developer-machine defaults without reading the environment,
/// so a test harness can write `Settings { addr, database_url, ..Settings::default() }`. Its
/// `auth` accepts development-mode tokens only; [`Settings::from_env`] applies the real rules.
/// `Debug` shows no secret.
#[derive(Clone)]
pub struct Settings {
    /// `QUERY_API_ADDR`, default `127.0.0.1:8081`.
    pub addr: SocketAddr,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 16.
    pub database_max_connections: u32,
    /// `NATS_URL`: where the projector's change notices arrive (credentials may be in it).
    pub nats_url: String,
    /// `NATS_USER` and `NATS_PASSWORD`, when not in the URL.
    pub nats_auth: NatsAuth,
    /// `REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `REDIS_KEY_PREFIX`, default empty: isolates deployments (and tests) sharing one Redis.
    pub redis_key_prefix: String,
    /// `REDIS_TIMEOUT_MS`, default 200: the longest any Redis call may take before the request
    /// goes on without Redis (a dead Redis never stalls an answer).
    pub redis_timeout: Duration,
    /// `CHANGED_SUBJECT`, default `bookings-changed`: notices arrive on `{subject}.{tenant}`.
    pub changed_subject: String,
    /// `BOOKINGS_DEV`, `BOOKINGS_JWT_SECRET`, `BOOKINGS_JWKS_URL`, `BOOKINGS_JWT_ISSUER`,
    /// `BOOKINGS_JWT_AUDIENCE`: which tokens are accepted (see `platform::auth::AuthSettings`).
    pub auth: AuthSettings,
    /// `RATE_LIMIT_*`: per token, per tenant and per client address (0 = off).
    pub rate_limits: RateLimitSettings,
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

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("database_url", &redact(&self.database_url))
            .field("nats_url", &redact(&self.nats_url))
            .field("nats_auth", &self.nats_auth)
            .field("redis_url", &redact(&self.redis_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("changed_subject", &self.changed_subject)
            .field("auth", &self.auth)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: "postgres://bookings:bookings@127.0.0.1:5432/bookings".to_owned(),
            database_max_connections: 16,
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            nats_auth: NatsAuth::default(),
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_key_prefix: String::new(),
            redis_timeout: Duration::from_millis(200),
            changed_subject: "bookings-changed".to_owned(),
            auth: AuthSettings::development(),
            rate_limits: RateLimitSettings::DEFAULT,
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
    /// Reads the environment. Defaults work on a developer machine, except the token secret:
    /// set `BOOKINGS_JWT_SECRET` (32+ bytes) or, on a developer machine, `BOOKINGS_DEV=true`.
    pub fn from_env() -> anyhow::Result<Self> {
        let defaults = Self::default();
        let addr: SocketAddr = var("QUERY_API_ADDR", "127.0.0.1:8081")
            .parse()
            .context("QUERY_API_ADDR is not a socket address")?;
        Ok(Self {
            addr,
            database_url: var("DATABASE_URL", &defaults.database_url),
            database_max_connections: number(
                "DATABASE_MAX_CONNECTIONS",
                defaults.database_max_connections,
            )?,
            nats_url: var("NATS_URL", &defaults.nats_url),
            nats_auth: NatsAuth::from_env(),
            redis_url: var("REDIS_URL", &defaults.redis_url),
            redis_key_prefix: var("REDIS_KEY_PREFIX", ""),
            redis_timeout: millis("REDIS_TIMEOUT_MS", defaults.redis_timeout)?,
            changed_subject: var("CHANGED_SUBJECT", &defaults.changed_subject),
            auth: AuthSettings::from_env(Some(addr))?,
            rate_limits: RateLimitSettings::from_env()?,
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

/// The secret the `token` subcommand signs with, under the same rules as the service's.
pub fn jwt_secret() -> anyhow::Result<JwtSecret> {
    Ok(AuthSettings::from_env(None)?.secret)
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
