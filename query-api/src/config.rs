//! `Settings`: everything query-api is configured with. Each setting is a flag with an
//! environment variable and a default (`query-api --help` lists them); the groups the services
//! share come from `platform`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use platform::auth::AuthSettings;
use platform::nats::NatsSettings;
use platform::rate_limit::RateLimitSettings;
use platform::settings::{DatabaseSettings, RedisSettings, millis};

/// The query-api's configuration. `Debug` shows no secret.
///
/// [`Settings::default`] is what the binary runs with when nothing is set, read without the
/// environment, so a test harness writes `Settings { addr, ..Settings::default() }`. Its `auth`
/// has no secret: set one (`AuthSettings::with_secret`) or development mode.
#[derive(Clone, Debug, Args)]
pub struct Settings {
    /// Where the HTTP API listens
    #[arg(
        long = "addr",
        env = "QUERY_API_ADDR",
        default_value = "127.0.0.1:8081"
    )]
    pub addr: SocketAddr,
    /// Past it a request is dropped (a computation stops) and answered `503 timeout`, in
    /// milliseconds
    #[arg(
        long = "request-timeout-ms",
        env = "REQUEST_TIMEOUT_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = millis
    )]
    pub request_timeout: Duration,
    /// Where the projector's change notices arrive (`{subject}.{tenant}`)
    #[arg(
        long = "changed-subject",
        env = "CHANGED_SUBJECT",
        value_name = "SUBJECT",
        default_value = "bookings-changed"
    )]
    pub changed_subject: String,
    /// The longest any Redis call may take before the request goes on without Redis (from
    /// Postgres), in milliseconds
    #[arg(
        long = "redis-timeout-ms",
        env = "REDIS_TIMEOUT_MS",
        value_name = "MS",
        default_value = "200",
        value_parser = millis
    )]
    pub redis_timeout: Duration,
    /// Entries (resource-days, and resource rows) of the in-process cache
    #[arg(
        long = "l1-capacity",
        env = "L1_CAPACITY",
        value_name = "N",
        default_value_t = 10_000
    )]
    pub l1_capacity: u64,
    /// How long an in-process entry lives, in milliseconds; it bounds how stale an entry can get
    /// when a change notice is lost
    #[arg(
        long = "l1-ttl-ms",
        env = "L1_TTL_MS",
        value_name = "MS",
        default_value = "60000",
        value_parser = millis
    )]
    pub l1_ttl: Duration,
    /// Bytes of rendered availability answers kept in process (0 keeps none); the process grows
    /// by about twice this
    #[arg(
        long = "l1-answer-bytes",
        env = "L1_ANSWER_BYTES",
        value_name = "BYTES",
        default_value_t = 8 << 20
    )]
    pub l1_answer_bytes: u64,
    /// The longest wait for `min_position` before `503 projection_behind`, in milliseconds
    #[arg(
        long = "min-position-wait-ms",
        env = "MIN_POSITION_WAIT_MS",
        value_name = "MS",
        default_value = "5000",
        value_parser = millis
    )]
    pub min_position_wait: Duration,
    /// Availability and stats computations running at once in the process (default: the number
    /// of CPUs); more wait for a place within the request timeout
    #[arg(
        long = "compute-concurrency",
        env = "COMPUTE_CONCURRENCY",
        value_name = "N",
        default_value_t = cpus()
    )]
    pub compute_concurrency: usize,
    /// The work one request may cost, in steps of about a nanosecond of one core (units looked
    /// at per slot start, units × open periods, rendered slots and rows, summed over its
    /// resources and days); past it `422 too_much_work`
    #[arg(
        long = "compute-max-work",
        env = "COMPUTE_MAX_WORK",
        value_name = "STEPS",
        default_value_t = 200_000_000
    )]
    pub compute_max_work: u64,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub nats: NatsSettings,
    #[command(flatten)]
    pub redis: RedisSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub rate_limits: RateLimitSettings,
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl Default for Settings {
    fn default() -> Self {
        platform::settings::defaults()
    }
}
