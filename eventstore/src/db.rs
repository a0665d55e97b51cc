//! Connecting to PostgreSQL and running the embedded migrations.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Every migration of the project, embedded at compile time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How a service connects.
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// Where and as whom (the URL's options, with TLS set up): the session limits below are
    /// added to these.
    pub server: PgConnectOptions,
    pub max_connections: u32,
    /// Longest wait for a row or advisory lock; past it the statement fails (`55P03`) instead of
    /// queueing forever behind a stuck transaction.
    pub lock_timeout: Duration,
    pub application_name: String,
    /// Plan every statement for its parameters and the tables as they are now
    /// (`plan_cache_mode = force_custom_plan`) instead of reusing a generic plan. For a service
    /// whose statements each carry a batch: a generic plan made while a table was small (a new
    /// database) keeps scanning it whole after it has grown, until the next `ANALYZE`.
    pub custom_plans: bool,
}

impl DbSettings {
    pub fn new(server: PgConnectOptions, application_name: impl Into<String>) -> Self {
        Self {
            server,
            max_connections: 16,
            lock_timeout: Duration::from_secs(5),
            application_name: application_name.into(),
            custom_plans: false,
        }
    }

    /// Connection options with the session limits the event store relies on.
    pub fn connect_options(&self) -> PgConnectOptions {
        let lock_timeout = format!("{}ms", self.lock_timeout.as_millis());
        let options = self
            .server
            .clone()
            .application_name(&self.application_name)
            .options([
                // Readers wait for every open transaction below their horizon, so an app
                // transaction left idle would stall the relay and projectors; cut it off.
                ("idle_in_transaction_session_timeout", "10s"),
                ("lock_timeout", lock_timeout.as_str()),
                ("statement_timeout", "30s"),
            ]);
        if self.custom_plans {
            options.options([("plan_cache_mode", "force_custom_plan")])
        } else {
            options
        }
    }

    /// A pool; connections are opened lazily so a service can start while Postgres is down
    /// and report it on `/readyz`.
    pub fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(self.connect_options())
    }
}

/// Applies pending migrations. Safe to run from several processes at once (sqlx takes an
/// advisory lock) and idempotent.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
