//! `Application`: command-api assembled from its settings: the pool (migrated), the NATS client,
//! the router, the two single-leader workers (relay and hold sweeper) and the relay wake.

use anyhow::Context;
use axum::Router;
use eventstore::db::DbSettings;
use platform::auth::AuthState;
use platform::health::{self, Check};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::relay::{Relay, RelaySettings, RelayStatus};
use crate::routes::{self, AppState};
use crate::sweeper::Sweeper;
use crate::wake::RelayWake;

pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: PgPool,
    relay: Option<Relay>,
    sweeper: Option<Sweeper>,
    wake: RelayWake,
}

impl Application {
    /// Connects, migrates, binds the port; nothing runs until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Refuse a configuration that must not run before connecting to anything.
        settings.auth.check(settings.addr)?;
        // Install the metrics recorder before anything records.
        platform::metrics::handle();
        platform::tls::install_crypto_provider();
        let db = DbSettings {
            max_connections: settings.database.max_connections,
            lock_timeout: settings.lock_timeout,
            ..DbSettings::new(
                settings
                    .database
                    .connect_options()
                    .map_err(anyhow::Error::msg)?,
                "command-api",
            )
        };
        let pool = db.pool();
        // Waits for Postgres (logging what it waits for) rather than exiting when it is not up.
        platform::startup::migrate(&pool, &eventstore::db::MIGRATOR)
            .await
            .context("cannot run the database migrations")?;
        let (nats_options, nats_url) =
            platform::nats::connect_options(&settings.nats, "command-api")?;
        let nats = platform::nats::start(nats_options, &nats_url).await?;
        let wake = RelayWake::default();
        let relay = settings.relay_enabled.then(|| {
            Relay::new(
                db.clone(),
                pool.clone(),
                nats.clone(),
                RelaySettings {
                    stream: settings.stream.name.clone(),
                    subject_prefix: settings.stream.subject_prefix.clone(),
                    poll: settings.relay_poll,
                    batch_size: 500,
                },
                wake.clone(),
            )
        });
        let sweeper = settings.sweeper_enabled.then(|| Sweeper {
            db: db.clone(),
            pool: pool.clone(),
            interval: settings.sweep_interval,
            wake: wake.clone(),
        });
        let auth = AuthState::start(&settings.auth, settings.rate_limits).await?;
        let router = routes::router(
            AppState {
                pool: pool.clone(),
                wake: wake.clone(),
            },
            auth,
            readiness_checks(pool.clone(), nats),
            settings.request_timeout,
        );
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.addr))?;
        Ok(Self {
            listener,
            router,
            pool,
            relay,
            sweeper,
            wake,
        })
    }

    /// The port actually bound (tests bind port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The relay's counters, if this instance runs a relay.
    pub fn relay_status(&self) -> Option<RelayStatus> {
        self.relay.as_ref().map(Relay::status)
    }

    /// Serves until `shutdown`, then drains in-flight requests and stops the workers.
    ///
    /// Everything runs inside this one future (no detached tasks), so dropping or aborting it
    /// stops the relay and sweeper too, and their leader locks are released with their
    /// connections.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = ?self.listener.local_addr().ok(), "command-api listening");
        // The peer address keys the rate limit of requests without a valid token.
        let router = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let serve = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let relay = async {
            if let Some(relay) = &self.relay {
                platform::leader::run(relay, shutdown.clone()).await;
            }
        };
        let sweeper = async {
            if let Some(sweeper) = &self.sweeper {
                platform::leader::run(sweeper, shutdown.clone()).await;
            }
        };
        let notifier = self
            .wake
            .notify_other_instances(self.pool.clone(), shutdown.clone());
        let (served, (), (), ()) = tokio::join!(serve, relay, sweeper, notifier);
        self.pool.close().await;
        served.context("the HTTP server failed")
    }
}

impl platform::chassis::Service for Application {
    type Settings = Settings;

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings).await
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        Application::run_until_stopped(self, shutdown).await
    }
}

fn readiness_checks(pool: PgPool, nats: async_nats::Client) -> Vec<(&'static str, Check)> {
    vec![health::postgres(pool), health::nats(nats)]
}
