//! `Settings`: everything command-api reads from its environment, read once in `main`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use platform::auth::{AuthSettings, JwtSecret};
use platform::nats::{NatsAuth, redact};
use platform::rate_limit::RateLimitSettings;

/// The command-api's configuration. `Debug` shows no secret (see below).
#[derive(Clone)]
pub struct Settings {
    /// `COMMAND_API_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 16.
    pub database_max_connections: u32,
    /// `NATS_URL` (credentials may be in it: `nats://user:password@host:4222`).
    pub nats_url: String,
    /// `NATS_USER` and `NATS_PASSWORD`, when not in the URL.
    pub nats_auth: NatsAuth,
    /// `NATS_STREAM` (default `BOOKINGS`) and `NATS_SUBJECT_PREFIX` (default `bookings`).
    pub nats_stream: String,
    pub nats_subject_prefix: String,
    /// `BOOKINGS_DEV`, `BOOKINGS_JWT_SECRET`, `BOOKINGS_JWKS_URL`, `BOOKINGS_JWT_ISSUER`,
    /// `BOOKINGS_JWT_AUDIENCE`: which tokens are accepted (see `platform::auth::AuthSettings`).
    pub auth: AuthSettings,
    /// `RATE_LIMIT_*`: per token, per tenant and per client address (0 = off).
    pub rate_limits: RateLimitSettings,
    /// `REQUEST_TIMEOUT_MS`, default 10 000.
    pub request_timeout: Duration,
    /// `IDEMPOTENCY_WAIT_MS`, default 5 000: how long a retry waits for the first request with
    /// the same key before answering `409 idempotency_key_in_flight`. Also the lock timeout.
    pub lock_timeout: Duration,
    /// `RELAY_ENABLED` (default true) and `SWEEPER_ENABLED` (default true): whether this instance
    /// competes for the relay and hold-sweeper leadership.
    pub relay_enabled: bool,
    pub sweeper_enabled: bool,
    /// `RELAY_POLL_MS`, default 500: the polling fallback when no NOTIFY arrives.
    pub relay_poll: Duration,
    /// `SWEEP_INTERVAL_MS`, default 500.
    pub sweep_interval: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("database_url", &redact(&self.database_url))
            .field("nats_url", &redact(&self.nats_url))
            .field("nats_auth", &self.nats_auth)
            .field("nats_stream", &self.nats_stream)
            .field("nats_subject_prefix", &self.nats_subject_prefix)
            .field("auth", &self.auth)
            .field("rate_limits", &self.rate_limits)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads the environment. Defaults work on a developer machine, except the token secret:
    /// set `BOOKINGS_JWT_SECRET` (32+ bytes) or, on a developer machine, `BOOKINGS_DEV=true`.
    pub fn from_env() -> anyhow::Result<Self> {
        let addr: SocketAddr = var("COMMAND_API_ADDR", "127.0.0.1:8080")
            .parse()
            .context("COMMAND_API_ADDR is not a socket address")?;
        Ok(Self {
            addr,
            database_url: var(
                "DATABASE_URL",
                "postgres://bookings:bookings@127.0.0.1:5432/bookings",
            ),
            database_max_connections: number("DATABASE_MAX_CONNECTIONS", 16)?,
            nats_url: var("NATS_URL", "nats://127.0.0.1:4222"),
            nats_auth: NatsAuth::from_env(),
            nats_stream: var("NATS_STREAM", "BOOKINGS"),
            nats_subject_prefix: var("NATS_SUBJECT_PREFIX", "bookings"),
            auth: AuthSettings::from_env(Some(addr))?,
            rate_limits: RateLimitSettings::from_env()?,
            request_timeout: Duration::from_millis(number("REQUEST_TIMEOUT_MS", 10_000)?),
            lock_timeout: Duration::from_millis(number("IDEMPOTENCY_WAIT_MS", 5_000)?),
            relay_enabled: flag("RELAY_ENABLED", true)?,
            sweeper_enabled: flag("SWEEPER_ENABLED", true)?,
            relay_poll: Duration::from_millis(number("RELAY_POLL_MS", 500)?),
            sweep_interval: Duration::from_millis(number("SWEEP_INTERVAL_MS", 500)?),
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

fn flag(name: &str, default: bool) -> anyhow::Result<bool> {
    match std::env::var(name).as_deref() {
        Ok("1" | "true" | "yes") => Ok(true),
        Ok("0" | "false" | "no") => Ok(false),
        Ok(other) => anyhow::bail!("{name} must be true or false, not {other:?}"),
        Err(_) => Ok(default),
    }
}
