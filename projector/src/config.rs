//! `Settings`: everything the projector is configured with. Each setting is a flag with an
//! environment variable and a default (`projector --help` lists them); the groups the services
//! share come from `platform`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use platform::nats::{EventStreamSettings, NatsSettings};
use platform::settings::{DatabaseSettings, RedisSettings, millis};

/// The projector's configuration. `Debug` shows no secret.
///
/// [`Settings::default`] is what the binary runs with when nothing is set, read without the
/// environment (for test harnesses: `Settings { addr, ..Settings::default() }`).
#[derive(Clone, Debug, Args)]
// The projector's workers each hold a connection of their own besides the pool.
#[command(mut_arg("database_max_connections", |arg| arg.default_value("8")))]
pub struct Settings {
    /// Where health and metrics are served
    #[arg(
        long = "addr",
        env = "PROJECTOR_ADDR",
        default_value = "127.0.0.1:8082"
    )]
    pub addr: SocketAddr,
    /// Durable JetStream consumers are named `{prefix}-{projection}`
    #[arg(
        long = "consumer-prefix",
        env = "PROJECTOR_CONSUMER_PREFIX",
        value_name = "PREFIX",
        default_value = "projector"
    )]
    pub consumer_prefix: String,
    /// Where change notices are published (`{subject}.{tenant}`)
    #[arg(
        long = "changed-subject",
        env = "CHANGED_SUBJECT",
        value_name = "SUBJECT",
        default_value = "bookings-changed"
    )]
    pub changed_subject: String,
    /// The most events applied in one transaction from JetStream
    #[arg(
        long = "batch-size",
        env = "PROJECTOR_BATCH_SIZE",
        value_name = "N",
        default_value = "500",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub batch_size: u32,
    /// How often a quiet worker reads Postgres for anything JetStream did not deliver, in
    /// milliseconds
    #[arg(
        long = "idle-poll-ms",
        env = "PROJECTOR_IDLE_POLL_MS",
        value_name = "MS",
        default_value = "500",
        value_parser = millis
    )]
    pub idle_poll: Duration,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub nats: NatsSettings,
    #[command(flatten)]
    pub stream: EventStreamSettings,
    #[command(flatten)]
    pub redis: RedisSettings,
}

impl Default for Settings {
    fn default() -> Self {
        platform::settings::defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projector_keeps_fewer_database_connections_by_default() {
        let settings = Settings::default();
        assert_eq!(settings.database.max_connections, 8);
        assert_eq!(settings.batch_size, 500);
        assert_eq!(settings.addr.port(), 8082);
    }
}
