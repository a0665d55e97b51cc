//! `Settings`: everything command-api is configured with. Each setting is a flag with an
//! environment variable and a default (`command-api --help` lists them); the groups the services
//! share come from `platform`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use platform::auth::AuthSettings;
use platform::nats::{EventStreamSettings, NatsSettings};
use platform::rate_limit::RateLimitSettings;
use platform::settings::{DatabaseSettings, boolean, millis};

/// The command-api's configuration. `Debug` shows no secret.
///
/// [`Settings::default`] is what the binary runs with when nothing is set, read without the
/// environment, so a test harness writes `Settings { addr, ..Settings::default() }`. Its `auth`
/// has no secret: set one (`AuthSettings::with_secret`) or development mode.
#[derive(Clone, Debug, Args)]
pub struct Settings {
    /// Where the HTTP API listens
    #[arg(
        long = "addr",
        env = "COMMAND_API_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub addr: SocketAddr,
    /// Past it a request is dropped (its transaction rolls back) and answered `503 timeout`, in
    /// milliseconds
    #[arg(
        long = "request-timeout-ms",
        env = "REQUEST_TIMEOUT_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = millis
    )]
    pub request_timeout: Duration,
    /// How long a retry waits for a request with the same `Idempotency-Key` still running before
    /// `409 idempotency_key_in_flight`; also the database lock timeout, in milliseconds
    #[arg(
        long = "idempotency-wait-ms",
        env = "IDEMPOTENCY_WAIT_MS",
        value_name = "MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub lock_timeout: Duration,
    /// Whether this instance competes for the relay's leadership
    #[arg(
        long = "relay-enabled",
        env = "RELAY_ENABLED",
        value_name = "BOOL",
        default_value = "true",
        action = clap::ArgAction::Set,
        value_parser = boolean
    )]
    pub relay_enabled: bool,
    /// Whether this instance competes for the hold sweeper's leadership
    #[arg(
        long = "sweeper-enabled",
        env = "SWEEPER_ENABLED",
        value_name = "BOOL",
        default_value = "true",
        action = clap::ArgAction::Set,
        value_parser = boolean
    )]
    pub sweeper_enabled: bool,
    /// How often the relay looks for events when no commit woke it, in milliseconds
    #[arg(
        long = "relay-poll-ms",
        env = "RELAY_POLL_MS",
        value_name = "MS",
        default_value = "500",
        value_parser = millis
    )]
    pub relay_poll: Duration,
    /// How often the hold sweeper looks for expired holds, in milliseconds
    #[arg(
        long = "sweep-interval-ms",
        env = "SWEEP_INTERVAL_MS",
        value_name = "MS",
        default_value = "500",
        value_parser = millis
    )]
    pub sweep_interval: Duration,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub nats: NatsSettings,
    #[command(flatten)]
    pub stream: EventStreamSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub rate_limits: RateLimitSettings,
}

impl Default for Settings {
    fn default() -> Self {
        platform::settings::defaults()
    }
}
