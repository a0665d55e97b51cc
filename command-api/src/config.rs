//! `Settings`: everything command-api reads from its environment, read once in `main`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

/// The command-api's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `COMMAND_API_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 16.
    pub database_max_connections: u32,
    /// `NATS_URL`.
    pub nats_url: String,
    /// `NATS_STREAM` (default `BOOKINGS`) and `NATS_SUBJECT_PREFIX` (default `bookings`).
    pub nats_stream: String,
    pub nats_subject_prefix: String,
    /// `BOOKINGS_JWT_SECRET`.
    pub jwt_secret: String,
    /// `RATE_LIMIT_PER_SECOND` (0 = off) and `RATE_LIMIT_BURST`.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
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

/// The secret used when none is configured: fine on a laptop, refused nowhere, logged loudly.
pub const DEV_JWT_SECRET: &str = "dev-secret-change-me";

impl Settings {
    /// Reads the environment; defaults work on a developer machine.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            addr: var("COMMAND_API_ADDR", "127.0.0.1:8080")
                .parse()
                .context("COMMAND_API_ADDR is not a socket address")?,
            database_url: var(
                "DATABASE_URL",
                "postgres://bookings:bookings@127.0.0.1:5432/bookings",
            ),
            database_max_connections: number("DATABASE_MAX_CONNECTIONS", 16)?,
            nats_url: var("NATS_URL", "nats://127.0.0.1:4222"),
            nats_stream: var("NATS_STREAM", "BOOKINGS"),
            nats_subject_prefix: var("NATS_SUBJECT_PREFIX", "bookings"),
            jwt_secret: jwt_secret(),
            rate_limit_per_second: number("RATE_LIMIT_PER_SECOND", 1000)?,
            rate_limit_burst: number("RATE_LIMIT_BURST", 2000)?,
            request_timeout: Duration::from_millis(number("REQUEST_TIMEOUT_MS", 10_000)?),
            lock_timeout: Duration::from_millis(number("IDEMPOTENCY_WAIT_MS", 5_000)?),
            relay_enabled: flag("RELAY_ENABLED", true)?,
            sweeper_enabled: flag("SWEEPER_ENABLED", true)?,
            relay_poll: Duration::from_millis(number("RELAY_POLL_MS", 500)?),
            sweep_interval: Duration::from_millis(number("SWEEP_INTERVAL_MS", 500)?),
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

fn flag(name: &str, default: bool) -> anyhow::Result<bool> {
    match std::env::var(name).as_deref() {
        Ok("1" | "true" | "yes") => Ok(true),
        Ok("0" | "false" | "no") => Ok(false),
        Ok(other) => anyhow::bail!("{name} must be true or false, not {other:?}"),
        Err(_) => Ok(default),
    }
}
