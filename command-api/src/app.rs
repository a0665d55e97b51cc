//! `Application`: command-api assembled from its settings: the pool (migrated), the NATS client,
//! the router, the two single-leader workers (relay and hold sweeper) and the relay wake.

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
        platform::chassis::prepare();
        let db = DbSettings {
            lock_timeout: settings.lock_timeout,
            ..platform::chassis::db_settings(&settings.database, "command-api")?
        };
        let pool = platform::chassis::migrated_pool(&db).await?;
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
        let listener = platform::chassis::listen(settings.addr).await?;
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
        let serve = platform::chassis::serve_http(self.listener, self.router, shutdown.clone());
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
        served
    }
}

fn readiness_checks(pool: PgPool, nats: async_nats::Client) -> Vec<(&'static str, Check)> {
    vec![health::postgres(pool), health::nats(nats)]
}
