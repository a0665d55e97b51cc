//! `Settings`: everything the projector reads from its environment, read once in `main`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use platform::nats::{NatsAuth, redact};

/// The projector's configuration. `Debug` shows no secret.
#[derive(Clone)]
pub struct Settings {
    /// `PROJECTOR_ADDR`, default `127.0.0.1:8082` (health and metrics).
    pub addr: SocketAddr,
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 8.
    pub database_max_connections: u32,
    /// `NATS_URL` (credentials may be in it) and `NATS_USER`/`NATS_PASSWORD`.
    pub nats_url: String,
    pub nats_auth: NatsAuth,
    /// `NATS_STREAM`, `NATS_SUBJECT_PREFIX`: where the relay publishes.
    pub nats_stream: String,
    pub nats_subject_prefix: String,
    /// `PROJECTOR_CONSUMER_PREFIX`, default `projector`: durable consumers are `{prefix}-{projection}`.
    pub consumer_prefix: String,
    pub redis_url: String,
    /// `REDIS_KEY_PREFIX`, default empty.
    pub redis_key_prefix: String,
    /// `CHANGED_SUBJECT`, default `bookings-changed`: where change notices go.
    pub changed_subject: String,
    /// `PROJECTOR_BATCH_SIZE`, default 500.
    pub batch_size: usize,
    /// `PROJECTOR_IDLE_POLL_MS`, default 500.
    pub idle_poll: Duration,
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
            .field("redis_url", &redact(&self.redis_url))
            .field("changed_subject", &self.changed_subject)
            .finish_non_exhaustive()
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let number = |name: &str, default: u64| -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(value) => value
                    .parse()
                    .with_context(|| format!("{name} must be a number")),
                Err(_) => Ok(default),
            }
        };
        Ok(Self {
            addr: var("PROJECTOR_ADDR", "127.0.0.1:8082")
                .parse()
                .context("PROJECTOR_ADDR is not a socket address")?,
            database_url: var(
                "DATABASE_URL",
                "postgres://bookings:bookings@127.0.0.1:5432/bookings",
            ),
            database_max_connections: u32::try_from(number("DATABASE_MAX_CONNECTIONS", 8)?)?,
            nats_url: var("NATS_URL", "nats://127.0.0.1:4222"),
            nats_auth: NatsAuth::from_env(),
            nats_stream: var("NATS_STREAM", "BOOKINGS"),
            nats_subject_prefix: var("NATS_SUBJECT_PREFIX", "bookings"),
            consumer_prefix: var("PROJECTOR_CONSUMER_PREFIX", "projector"),
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
            redis_key_prefix: var("REDIS_KEY_PREFIX", ""),
            changed_subject: var("CHANGED_SUBJECT", "bookings-changed"),
            batch_size: usize::try_from(number("PROJECTOR_BATCH_SIZE", 500)?)?.max(1),
            idle_poll: Duration::from_millis(number("PROJECTOR_IDLE_POLL_MS", 500)?),
        })
    }
}
