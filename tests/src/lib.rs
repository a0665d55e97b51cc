//! The end-to-end harness: every test gets its own PostgreSQL database, NATS stream (and
//! subject prefix) and services started in process on port 0, so tests run in parallel against
//! the real Postgres and NATS without touching each other.
//!
//! Connection URLs come from `DATABASE_URL` and `NATS_URL` (as `scripts/services` exports them).
//! Databases and streams left behind by crashed runs are dropped after two hours.

use std::time::Duration;

use chrono::Utc;
use command_api::relay::RelayStatus;
use domain::ids::TenantId;
use platform::auth::{AuthSettings, Claims, Role, TokenKeys};
use platform::nats::{EventStreamSettings, NatsSettings};
use platform::rate_limit::RateLimitSettings;
use platform::settings::{DatabaseSettings, RedisSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub mod dates;
pub mod nats;
pub mod nats_server;
pub mod proxy;
pub mod query;
mod reply;
pub mod tls;

pub use dates::{at, day_at, monday_after, next_eu_dst_switch, rfc, slot};
pub use query::{Booking, QueryApp};
pub use reply::{Reply, assert_problem};

/// The HS256 secret every end-to-end service is started with, and [`sign`] signs with: at least
/// 32 bytes, as the services require outside development mode.
pub const SECRET: &str = "end-to-end-test-secret-0123456789abcdef";
const STALE_AFTER_SECS: i64 = 2 * 3600;

/// Where the test infrastructure is.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://bookings:bookings@127.0.0.1:5432/bookings".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, rest) = url
        .rsplit_once('/')
        .expect("DATABASE_URL has a database name");
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{base}/{name}{query}")
}

/// One test's isolated world.
pub struct TestApp {
    /// The command-api's base URL, e.g. `http://127.0.0.1:41234`.
    pub command_url: String,
    pub database_url: String,
    pub database: String,
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub stream: String,
    pub subject_prefix: String,
    pub http: reqwest::Client,
    pub relay: Option<RelayStatus>,
    /// This test's Redis key prefix and change-notice subject.
    pub redis_prefix: String,
    pub changed_subject: String,
    instances: Vec<Instance>,
    projector: Option<Projector>,
    queries: Vec<QueryApi>,
}

/// A running query-api.
pub struct QueryApi {
    pub url: String,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// A running projector.
pub struct Projector {
    pub url: String,
    pub status: std::collections::HashMap<&'static str, projector::worker::WorkerStatus>,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// A running command-api instance.
pub struct Instance {
    pub url: String,
    pub relay: Option<RelayStatus>,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    /// Stops it the hard way: the task is aborted mid-work, like a `kill -9` of the process
    /// (its connections drop, so its leader locks go with them).
    pub fn kill(&self) {
        self.handle.abort();
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
    }
}

/// The settings of a command-api for `app`, changed by `configure`.
fn settings(
    database_url: &str,
    stream: &str,
    subject_prefix: &str,
    configure: impl FnOnce(&mut command_api::Settings),
) -> command_api::Settings {
    let mut settings = command_api::Settings {
        addr: "127.0.0.1:0".parse().expect("valid address"),
        database: DatabaseSettings {
            url: database_url.to_owned(),
            // Several tests run at once against one server (max_connections is 100 by default).
            max_connections: 5,
            ..DatabaseSettings::default()
        },
        nats: NatsSettings::at(nats_url()),
        stream: EventStreamSettings {
            name: stream.to_owned(),
            subject_prefix: subject_prefix.to_owned(),
        },
        auth: AuthSettings::with_secret(SECRET).expect("a long enough secret"),
        rate_limits: RateLimitSettings::OFF,
        request_timeout: Duration::from_secs(30),
        lock_timeout: Duration::from_secs(10),
        relay_poll: Duration::from_millis(100),
        sweep_interval: Duration::from_millis(200),
        ..command_api::Settings::default()
    };
    configure(&mut settings);
    settings
}

/// Runs a service listening on `port` in a task of its own until its token is cancelled: its
/// base URL, the token and the task.
fn serve<F>(
    port: u16,
    run: impl FnOnce(CancellationToken) -> F,
) -> (String, CancellationToken, JoinHandle<anyhow::Result<()>>)
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(run(shutdown.clone()));
    (format!("http://127.0.0.1:{port}"), shutdown, handle)
}

async fn start(settings: command_api::Settings) -> Instance {
    let app = command_api::Application::build(settings)
        .await
        .expect("command-api starts");
    let relay = app.relay_status();
    let (url, shutdown, handle) = serve(app.port(), |stop| app.run_until_stopped(stop));
    Instance {
        url,
        relay,
        shutdown,
        handle,
    }
}

impl TestApp {
    /// A fresh world with default settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A fresh world whose command-api settings `configure` adjusts.
    pub async fn spawn_with(configure: impl FnOnce(&mut command_api::Settings)) -> TestApp {
        platform::telemetry::init("warn");
        let stamp = Utc::now().timestamp();
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("bk_test_{stamp}_{id}");
        let admin_url = database_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to DATABASE_URL (run scripts/services)");
        drop_stale_databases(&mut admin, stamp).await;
        admin
            .execute(format!("create database {database}").as_str())
            .await
            .expect("create the test database");
        let database_url = with_database(&admin_url, &database);
        let stream = format!("BKT_{stamp}_{id}");
        let subject_prefix = format!("bkt_{id}");
        let nats = platform::nats::connect(&nats_url(), "tests")
            .await
            .expect("connect to NATS");
        nats::drop_stale_streams(&nats, stamp - STALE_AFTER_SECS).await;
        let instance = start(settings(&database_url, &stream, &subject_prefix, configure)).await;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(3)
            .connect(&database_url)
            .await
            .expect("connect to the test database");
        TestApp {
            command_url: instance.url.clone(),
            relay: instance.relay.clone(),
            redis_prefix: format!("bkt:{id}:"),
            changed_subject: format!("bkt_changed_{id}"),
            projector: None,
            queries: Vec::new(),
            database_url,
            database,
            pool,
            nats,
            stream,
            subject_prefix,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("HTTP client"),
            instances: vec![instance],
        }
    }

    /// Another command-api on the same database and stream (a second replica).
    pub async fn spawn_instance(
        &mut self,
        configure: impl FnOnce(&mut command_api::Settings),
    ) -> &Instance {
        let instance = start(settings(
            &self.database_url,
            &self.stream,
            &self.subject_prefix,
            configure,
        ))
        .await;
        self.instances.push(instance);
        self.instances.last().expect("just pushed")
    }

    /// The settings of a command-api for this world, changed by `configure` (for tests that
    /// build an `Application` themselves).
    pub fn command_settings(
        &self,
        configure: impl FnOnce(&mut command_api::Settings),
    ) -> command_api::Settings {
        settings(
            &self.database_url,
            &self.stream,
            &self.subject_prefix,
            configure,
        )
    }

    /// A second handle on the same world for concurrent work (a load running while the test
    /// starts and kills instances). It owns no instance; only the original cleans up.
    pub fn attach(app: &TestApp) -> TestApp {
        TestApp {
            command_url: app.command_url.clone(),
            database_url: app.database_url.clone(),
            database: app.database.clone(),
            pool: app.pool.clone(),
            nats: app.nats.clone(),
            stream: app.stream.clone(),
            subject_prefix: app.subject_prefix.clone(),
            http: app.http.clone(),
            relay: None,
            redis_prefix: app.redis_prefix.clone(),
            changed_subject: app.changed_subject.clone(),
            instances: Vec::new(),
            projector: None,
            queries: Vec::new(),
        }
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// A signed token.
    pub fn token(&self, tenant: &str, sub: &str, roles: &[Role]) -> String {
        sign(tenant, sub, roles, Utc::now().timestamp() + 3600)
    }

    /// An admin of tenant `acme`.
    pub fn admin(&self) -> String {
        self.token("acme", "admin-1", &[Role::Admin])
    }

    /// A client of tenant `acme`.
    pub fn client(&self, sub: &str) -> String {
        self.token("acme", sub, &[Role::Client])
    }

    /// A viewer of tenant `acme`.
    pub fn viewer(&self) -> String {
        self.token("acme", "viewer-1", &[Role::Viewer])
    }

    /// Sends a JSON command and returns status, body (JSON or `null`) and headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.command_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the request is answered");
        Reply::read(response).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(token), Some(body), &[])
            .await
    }

    /// `POST /v1/bookings` with `body` and an `Idempotency-Key`.
    pub async fn book_with_key(&self, token: &str, body: &Value, key: &str) -> Reply {
        let headers = [("idempotency-key", key)];
        self.send(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(token),
            Some(body),
            &headers,
        )
        .await
    }

    /// Creates a resource (as admin) from `overrides` merged over a 24/7 meeting room.
    pub async fn create_resource(&self, overrides: Value) -> Value {
        let room = json!({
            "name": "Room", "kind": "meeting_room", "capacity": 1, "time_zone": "Europe/Berlin"
        });
        let reply = self
            .post("/v1/resources", &self.admin(), &merged(room, overrides))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["resource"].clone()
    }

    /// Places a booking as `token` on `resource` for `[start, end)`.
    pub async fn book(&self, token: &str, resource: &Value, start: &str, end: &str) -> Reply {
        self.post(
            "/v1/bookings",
            token,
            &json!({ "resource_id": resource["id"], "start": start, "end": end }),
        )
        .await
    }

    /// Places a booking as `token` on `resource`, `days` from today, from `from` to `to` (hours
    /// and minutes, UTC).
    pub async fn book_day(
        &self,
        token: &str,
        resource: &Value,
        days: i64,
        from: (u32, u32),
        to: (u32, u32),
    ) -> Reply {
        let start = day_at(days, from.0, from.1);
        self.book(token, resource, &start, &day_at(days, to.0, to.1))
            .await
    }

    /// Cancels booking `id` as `token`.
    pub async fn cancel(&self, token: &str, id: &str) -> Reply {
        self.post(&format!("/v1/bookings/{id}/cancel"), token, &json!({}))
            .await
    }

    /// Number of events in the store.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    /// This world's database for a read-side service (a few connections: tests run in parallel).
    fn read_side_database(&self) -> DatabaseSettings {
        DatabaseSettings {
            url: self.database_url.clone(),
            max_connections: 4,
            ..DatabaseSettings::default()
        }
    }

    /// This world's Redis key prefix.
    fn redis_settings(&self) -> RedisSettings {
        RedisSettings {
            url: redis_url(),
            key_prefix: self.redis_prefix.clone(),
            ..RedisSettings::default()
        }
    }

    /// The projector's settings for this world.
    pub fn projector_settings(&self) -> projector::Settings {
        projector::Settings {
            addr: "127.0.0.1:0".parse().expect("valid address"),
            database: self.read_side_database(),
            nats: NatsSettings::at(nats_url()),
            stream: EventStreamSettings {
                name: self.stream.clone(),
                subject_prefix: self.subject_prefix.clone(),
            },
            redis: self.redis_settings(),
            changed_subject: self.changed_subject.clone(),
            idle_poll: Duration::from_millis(200),
            ..projector::Settings::default()
        }
    }

    /// Starts the projector (replacing a stopped or killed one).
    pub async fn start_projector(&mut self) -> &Projector {
        self.start_projector_with(|_| {}).await
    }

    /// Starts the projector with adjusted settings.
    pub async fn start_projector_with(
        &mut self,
        configure: impl FnOnce(&mut projector::Settings),
    ) -> &Projector {
        let mut settings = self.projector_settings();
        configure(&mut settings);
        let app = projector::Application::build(settings)
            .await
            .expect("projector starts");
        let status = app.status();
        let (url, shutdown, handle) = serve(app.port(), |stop| app.run_until_stopped(stop));
        self.projector = Some(Projector {
            url,
            status,
            shutdown,
            handle,
        });
        self.projector.as_ref().expect("just set")
    }

    /// The query-api's settings for this world.
    pub fn query_settings(&self) -> query_api::Settings {
        query_api::Settings {
            addr: "127.0.0.1:0".parse().expect("valid address"),
            database: self.read_side_database(),
            nats: NatsSettings::at(nats_url()),
            redis: self.redis_settings(),
            changed_subject: self.changed_subject.clone(),
            auth: AuthSettings::with_secret(SECRET).expect("a long enough secret"),
            rate_limits: RateLimitSettings::OFF,
            ..query_api::Settings::default()
        }
    }

    /// Starts a query-api with these settings (see [`TestApp::query_settings`]); the first one
    /// started answers [`TestApp::query`].
    pub async fn start_query_api_with(&mut self, settings: query_api::Settings) -> String {
        let app = query_api::Application::build(settings)
            .await
            .expect("query-api starts");
        let (url, shutdown, handle) = serve(app.port(), |stop| app.run_until_stopped(stop));
        self.queries.push(QueryApi {
            url: url.clone(),
            shutdown,
            handle,
        });
        url
    }

    /// Starts the projector and a query-api: the whole read side.
    pub async fn start_read_side(&mut self) -> String {
        self.start_projector().await;
        let settings = self.query_settings();
        self.start_query_api_with(settings).await
    }

    /// `GET` on the query-api.
    pub async fn query(&self, path: &str, token: &str) -> Reply {
        let base = &self.queries.first().expect("query-api started").url;
        let response = self
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("the query is answered");
        Reply::read(response).await
    }

    /// Kills the projector mid-work (task abort: its transaction rolls back, its locks go).
    pub fn kill_projector(&mut self) {
        if let Some(projector) = self.projector.take() {
            projector.handle.abort();
        }
    }

    pub fn projector(&self) -> Option<&Projector> {
        self.projector.as_ref()
    }

    /// The smallest checkpoint of all projections.
    pub async fn projected(&self) -> eventstore::Position {
        let names: Vec<&str> = readmodel::projections::Projection::ALL
            .iter()
            .map(|p| p.checkpoint())
            .collect();
        eventstore::checkpoint::positions(&self.pool, &names)
            .await
            .expect("checkpoints")
            .into_iter()
            .min()
            .unwrap_or(eventstore::Position::START)
    }

    /// The position of the newest event in the store.
    pub async fn head(&self) -> eventstore::Position {
        eventstore::read::last_written(&self.pool)
            .await
            .expect("head")
    }

    /// Waits until every projection has applied every event in the store.
    pub async fn wait_for_projections(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (head, projected) = (self.head().await, self.projected().await);
            if projected >= head {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projections at {projected}, store at {head}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `projector replay` with these arguments against this world's database.
    pub async fn replay(&self, args: &[&str]) -> projector::replay::Report {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let options = projector::replay::Options::parse(&args).expect("valid replay options");
        projector::replay::run(&self.database_url, &options)
            .await
            .expect("replay runs")
    }

    /// Stops everything and drops the database and the stream.
    pub async fn cleanup(self) {
        for query in self.queries {
            query.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), query.handle).await;
        }
        if let Some(projector) = self.projector {
            projector.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(10), projector.handle).await;
        }
        for instance in self.instances {
            instance.stop().await;
        }
        self.pool.close().await;
        nats::delete_stream(&self.nats, &self.stream).await;
        delete_redis_keys(&self.redis_prefix).await;
        if let Ok(mut admin) = PgConnection::connect(&database_url()).await {
            let _ = admin
                .execute(format!("drop database if exists {} with (force)", self.database).as_str())
                .await;
        }
    }
}

/// `base` with the members of `overrides` (both JSON objects) set over its own.
pub fn merged(mut base: Value, overrides: Value) -> Value {
    if let (Some(base), Value::Object(overrides)) = (base.as_object_mut(), overrides) {
        base.extend(overrides);
    }
    base
}

/// Deletes the Redis keys under `prefix` (a test's cache).
async fn delete_redis_keys(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut connection)
            .await;
    }
}

/// A token signed with the tests' secret.
pub fn sign(tenant: &str, sub: &str, roles: &[Role], exp: i64) -> String {
    TokenKeys::new(SECRET)
        .sign(&Claims {
            sub: sub.to_owned(),
            tenant: TenantId::parse(tenant).expect("a test tenant in the safe alphabet"),
            roles: roles.to_vec(),
            exp,
        })
        .expect("sign a token")
}

async fn drop_stale_databases(admin: &mut PgConnection, now: i64) {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'bk\\_test\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let stamp: Option<i64> = name.split('_').nth(2).and_then(|s| s.parse().ok());
        if stamp.is_some_and(|stamp| now - stamp > STALE_AFTER_SECS) {
            let _ = admin
                .execute(format!("drop database if exists {name} with (force)").as_str())
                .await;
        }
    }
}
