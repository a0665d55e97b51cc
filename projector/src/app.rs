//! `Application`: the projector assembled: one worker per projection, plus health and metrics.

use std::collections::HashMap;

use axum::Router;
use eventstore::db::DbSettings;
use platform::health::{self, Check};
use readmodel::cache::{Keys, RedisCache};
use readmodel::projections::Projection;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::worker::{Worker, WorkerContext, WorkerStatus};

pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: PgPool,
    workers: Vec<Worker>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        platform::chassis::prepare();
        let db = DbSettings {
            // Each statement carries a batch, so planning it is cheap next to running it; a
            // generic plan from when the read model was empty would scan it whole.
            custom_plans: true,
            ..platform::chassis::db_settings(&settings.database, "projector")?
        };
        let pool = platform::chassis::migrated_pool(&db).await?;
        let (nats_options, nats_url) =
            platform::nats::connect_options(&settings.nats, "projector")?;
        let nats = platform::nats::start(nats_options, &nats_url).await?;
        let redis = settings
            .redis
            .checked_client()
            .await
            .map_err(anyhow::Error::msg)?;
        let cache = RedisCache::lazy(redis, Keys::new(&settings.redis.key_prefix));
        let context = WorkerContext {
            db,
            pool: pool.clone(),
            nats: nats.clone(),
            stream: settings.stream.name.clone(),
            subject_prefix: settings.stream.subject_prefix.clone(),
            consumer_prefix: settings.consumer_prefix.clone(),
            changed_subject: settings.changed_subject.clone(),
            cache: cache.clone(),
            batch_size: usize::try_from(settings.batch_size).unwrap_or(usize::MAX),
            idle_poll: settings.idle_poll,
        };
        let workers = Projection::ALL
            .into_iter()
            .map(|projection| Worker::new(projection, context.clone()))
            .collect();
        let router = platform::health::router(readiness_checks(pool.clone(), nats, cache))
            .fallback(platform::problem::not_found_fallback);
        let listener = platform::chassis::listen(settings.addr).await?;
        Ok(Self {
            listener,
            router,
            pool,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The workers' counters, by projection name.
    pub fn status(&self) -> HashMap<&'static str, WorkerStatus> {
        self.workers
            .iter()
            .map(|worker| (worker.projection().name(), worker.status()))
            .collect()
    }

    /// Serves and projects until `shutdown`; like command-api, everything runs inside this one
    /// future, so aborting it stops the workers and releases their leader locks.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = ?self.listener.local_addr().ok(), "projector listening");
        let serve = platform::chassis::serve_http(self.listener, self.router, shutdown.clone());
        let workers = futures::future::join_all(
            self.workers
                .iter()
                .map(|worker| platform::leader::run(worker, shutdown.clone())),
        );
        let (served, _) = tokio::join!(serve, workers);
        self.pool.close().await;
        served
    }
}

fn readiness_checks(
    pool: PgPool,
    nats: async_nats::Client,
    cache: RedisCache,
) -> Vec<(&'static str, Check)> {
    let redis = health::check("redis", move || {
        let cache = cache.clone();
        async move { cache.ping().await.map_err(|err| err.to_string()) }
    });
    vec![health::postgres(pool), health::nats(nats), redis]
}
