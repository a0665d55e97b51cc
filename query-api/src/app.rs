//! `Application`: query-api assembled from its settings: the pool (migrated), the cache tiers
//! (Redis connected lazily, so query-api starts and answers while Redis is down) and the rendered
//! answers made from them, the NATS client for change notices, and the router.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use platform::auth::AuthState;
use platform::health::{self, Check};
use readmodel::cache::{Keys, RedisCache};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cache::NoticeListener;
use crate::cache::ResourceCache;
use crate::cache::{AnswerCache, Generations};
use crate::cache::{CacheSettings, DayCache};
use crate::compute::Compute;
use crate::config::Settings;
use crate::consistency::Freshness;
use crate::routes::{self, AppState};

pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: PgPool,
    notices: NoticeListener,
}

impl Application {
    /// Connects, migrates, binds the port; nothing runs until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Refuse a configuration that must not run before connecting to anything.
        settings.auth.check(settings.addr)?;
        platform::chassis::prepare();
        let db = platform::chassis::db_settings(&settings.database, "query-api")?;
        let pool = platform::chassis::migrated_pool(&db).await?;
        let redis = connect_redis(&settings).await?;
        let cache_settings = CacheSettings {
            l1_capacity: settings.l1_capacity,
            l1_ttl: settings.l1_ttl,
            redis_timeout: settings.redis_timeout,
            answer_bytes: settings.l1_answer_bytes,
        };
        let generations = Arc::new(Generations::default());
        let cache = Arc::new(DayCache::new(
            pool.clone(),
            redis,
            &cache_settings,
            generations.clone(),
        ));
        let resources = Arc::new(ResourceCache::new(
            pool.clone(),
            &cache_settings,
            generations.clone(),
        ));
        let answers = Arc::new(AnswerCache::new(
            cache_settings.answer_bytes,
            cache_settings.l1_ttl,
            generations.clone(),
        ));
        let nats = connect_nats(&settings, cache.clone(), resources.clone(), generations).await?;
        let auth = AuthState::start(&settings.auth, settings.rate_limits).await?;
        let router = routes::router(
            AppState {
                pool: pool.clone(),
                cache: cache.clone(),
                resources: resources.clone(),
                answers,
                freshness: Freshness::new(settings.min_position_wait),
                compute: Compute::new(settings.compute_concurrency, settings.compute_max_work),
            },
            auth,
            readiness_checks(pool.clone(), nats.clone(), cache.clone()),
            settings.request_timeout,
        );
        let listener = platform::chassis::listen(settings.addr).await?;
        Ok(Self {
            listener,
            router,
            pool,
            notices: NoticeListener {
                nats,
                subject: readmodel::notice::wildcard(&settings.changed_subject),
                cache,
                resources,
            },
        })
    }

    /// The port actually bound (tests bind port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `shutdown`, then drains in-flight requests and stops listening for notices.
    ///
    /// Everything runs inside this one future (no detached tasks), so dropping or aborting it
    /// stops the notice listener too.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = ?self.listener.local_addr().ok(), "query-api listening");
        let serve = platform::chassis::serve_http(self.listener, self.router, shutdown.clone());
        let notices = self.notices.run(shutdown.clone());
        let (served, ()) = tokio::join!(serve, notices);
        self.pool.close().await;
        served
    }
}

/// A Redis connection that is made on first use and remade after failures, with deadlines on
/// connecting and on every answer. Only a malformed `REDIS_URL`, an unusable CA file and a TLS
/// failure are fatal; an unreachable Redis is not (it shows on `/readyz` and requests go to
/// Postgres).
async fn connect_redis(settings: &Settings) -> anyhow::Result<RedisCache> {
    let client = settings
        .redis
        .checked_client()
        .await
        .map_err(anyhow::Error::msg)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.redis_timeout))
        .set_response_timeout(Some(settings.redis_timeout))
        // One attempt per (re)connection: the requests' own deadlines and the pause after a
        // failure decide when to try again, not a backoff inside the manager.
        .set_number_of_retries(0);
    let manager = ConnectionManager::new_lazy_with_config(client, config)
        .context("cannot set up the Redis connection")?;
    Ok(RedisCache::new(
        manager,
        Keys::new(settings.redis.key_prefix.clone()),
    ))
}

/// The NATS client for change notices (see `platform::nats::start`). It keeps reconnecting on
/// its own. While it is not
/// connected the in-process tiers are off (nothing could tell them of a change; see
/// `Generations`), and on every (re)connect, and when the server drops messages for a slow
/// consumer, all of them are dropped, since notices may have been lost meanwhile.
async fn connect_nats(
    settings: &Settings,
    cache: Arc<DayCache>,
    resources: Arc<ResourceCache>,
    generations: Arc<Generations>,
) -> anyhow::Result<async_nats::Client> {
    // Off until the first connection.
    generations.set_notices_live(false);
    let (options, url) = platform::nats::connect_options(&settings.nats, "query-api")?;
    let options = options.event_callback(move |event| {
        let cache = cache.clone();
        let resources = resources.clone();
        let generations = generations.clone();
        async move {
            match event {
                async_nats::Event::Connected | async_nats::Event::SlowConsumer(_) => {
                    cache.forget_everything();
                    resources.forget_everything();
                    generations.set_notices_live(true);
                }
                async_nats::Event::Disconnected => {
                    generations.set_notices_live(false);
                    cache.forget_everything();
                    resources.forget_everything();
                    tracing::warn!(
                        "NATS disconnected; change notices paused, in-process caches off"
                    );
                }
                _ => {}
            }
        }
    });
    platform::nats::start(options, &url).await
}

fn readiness_checks(
    pool: PgPool,
    nats: async_nats::Client,
    cache: Arc<DayCache>,
) -> Vec<(&'static str, Check)> {
    let redis = health::check("redis", move || {
        let cache = cache.clone();
        async move { cache.ping_redis().await }
    });
    vec![health::postgres(pool), health::nats(nats), redis]
}
