//! Each test's own world: a fresh Postgres database (migrated), its own Redis key prefix and
//! change-notice subject, and query-api started in process on port 0. The projector is not
//! part of it: tests write the read models and checkpoints with SQL, as the projector would.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::resource::Policy;
use eventstore::Position;
use platform::auth::{AuthSettings, Claims, Role, TokenKeys};
use platform::nats::NatsSettings;
use platform::rate_limit::RateLimitSettings;
use platform::settings::{DatabaseSettings, RedisSettings};
use query_api::{Application, Settings};
use readmodel::cache::{Keys, RedisCache, ResourceDay};
use readmodel::notice::Changed;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::postgres::types::PgRange;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// At least 32 bytes, as query-api requires outside development mode.
const SECRET: &str = "query-api-test-secret-0123456789abcdef";
const STALE_AFTER_SECS: i64 = 2 * 3600;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://bookings:bookings@127.0.0.1:5432/bookings".into())
}

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
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

/// A running query-api.
pub struct Instance {
    pub url: String,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
    }
}

pub struct TestApp {
    pub url: String,
    pub database: String,
    pub database_url: String,
    pub pool: PgPool,
    /// This test's Redis key prefix and a cache client on it (the projector's view of Redis).
    pub prefix: String,
    pub redis: RedisCache,
    pub nats: async_nats::Client,
    /// This test's `CHANGED_SUBJECT`.
    pub subject: String,
    pub http: reqwest::Client,
    instances: Vec<Instance>,
}

/// The settings of a query-api in this world, changed by `configure`.
fn settings(
    database_url: &str,
    prefix: &str,
    subject: &str,
    configure: impl FnOnce(&mut Settings),
) -> Settings {
    let mut settings = Settings {
        addr: "127.0.0.1:0".parse().expect("valid address"),
        database: DatabaseSettings {
            url: database_url.to_owned(),
            max_connections: 8,
            ..DatabaseSettings::default()
        },
        nats: NatsSettings::at(nats_url()),
        redis: RedisSettings {
            url: redis_url(),
            key_prefix: prefix.to_owned(),
            ..RedisSettings::default()
        },
        changed_subject: subject.to_owned(),
        auth: AuthSettings::with_secret(SECRET).expect("a long enough secret"),
        rate_limits: RateLimitSettings::OFF,
        request_timeout: Duration::from_secs(30),
        ..Settings::default()
    };
    configure(&mut settings);
    settings
}

async fn start(settings: Settings) -> Instance {
    let app = Application::build(settings)
        .await
        .expect("query-api starts");
    let url = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    Instance {
        url,
        shutdown,
        handle,
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        platform::telemetry::init("warn");
        let stamp = Utc::now().timestamp();
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("qa_test_{stamp}_{id}");
        let admin_url = database_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to DATABASE_URL (run `eval \"$(scripts/services)\"`)");
        drop_stale_databases(&mut admin, stamp).await;
        admin
            .execute(format!("create database {database}").as_str())
            .await
            .expect("create the test database");
        let database_url = with_database(&admin_url, &database);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&database_url)
            .await
            .expect("connect to the test database");
        eventstore::db::migrate(&pool)
            .await
            .expect("migrations run");
        let prefix = format!("qa_test_{id}:");
        let subject = format!("qa_changed_{id}");
        let client = redis::Client::open(redis_url()).expect("REDIS_URL is valid");
        let manager = redis::aio::ConnectionManager::new(client)
            .await
            .expect("connect to Redis");
        let redis = RedisCache::new(manager, Keys::new(prefix.clone()));
        let nats = platform::nats::connect(&nats_url(), "tests")
            .await
            .expect("connect to NATS");
        let instance = start(settings(&database_url, &prefix, &subject, configure)).await;
        TestApp {
            url: instance.url.clone(),
            database,
            database_url,
            pool,
            prefix,
            redis,
            nats,
            subject,
            http: reqwest::Client::new(),
            instances: vec![instance],
        }
    }

    /// Another query-api on the same database, Redis prefix and subject (a second replica).
    pub async fn spawn_instance(&mut self, configure: impl FnOnce(&mut Settings)) -> String {
        let instance = start(settings(
            &self.database_url,
            &self.prefix,
            &self.subject,
            configure,
        ))
        .await;
        let url = instance.url.clone();
        self.instances.push(instance);
        url
    }

    pub fn token(&self, tenant: &str, sub: &str, roles: &[Role]) -> String {
        sign(tenant, sub, roles, Utc::now().timestamp() + 3600)
    }

    /// An admin of tenant `acme`.
    pub fn admin(&self) -> String {
        self.token("acme", "admin-1", &[Role::Admin])
    }

    /// A viewer of tenant `acme`.
    pub fn viewer(&self) -> String {
        self.token("acme", "viewer-1", &[Role::Viewer])
    }

    /// A client of tenant `acme`.
    pub fn client(&self, sub: &str) -> String {
        self.token("acme", sub, &[Role::Client])
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.get_from(&self.url, path, token).await
    }

    pub async fn get_from(&self, base: &str, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.expect("the request is answered")).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body);
        Reply::read(request.send().await.expect("the request is answered")).await
    }

    /// Writes a resource of tenant `acme` into `read.resources` from `overrides` (any of
    /// `id`, `tenant`, `name`, `kind`, `capacity`, `time_zone`, `opening_hours`, `policy` (merged
    /// over the default policy), `blackouts`) and returns its id.
    pub async fn resource(&self, overrides: Value) -> Uuid {
        let field = |name: &str| overrides.get(name).filter(|v| !v.is_null());
        let id = field("id")
            .and_then(Value::as_str)
            .map_or_else(Uuid::new_v4, |s| s.parse().expect("id is a uuid"));
        let mut policy = serde_json::to_value(Policy::default()).expect("policy serializes");
        if let (Some(policy), Some(Value::Object(changes))) =
            (policy.as_object_mut(), field("policy"))
        {
            policy.extend(changes.clone());
        }
        sqlx::query(
            "insert into read.resources (resource_id, tenant_id, name, kind, capacity, time_zone,
                 opening_hours, policy, blackouts, version, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, now(), now())",
        )
        .bind(id)
        .bind(field("tenant").and_then(Value::as_str).unwrap_or("acme"))
        .bind(field("name").and_then(Value::as_str).unwrap_or("Room"))
        .bind(
            field("kind")
                .and_then(Value::as_str)
                .unwrap_or("meeting_room"),
        )
        .bind(
            field("capacity")
                .and_then(Value::as_i64)
                .map_or(1, |c| i32::try_from(c).expect("small capacity")),
        )
        .bind(field("time_zone").and_then(Value::as_str).unwrap_or("UTC"))
        .bind(field("opening_hours").cloned())
        .bind(policy)
        .bind(field("blackouts").cloned().unwrap_or_else(|| json!([])))
        .execute(&self.pool)
        .await
        .expect("insert the resource");
        id
    }

    /// [`TestApp::resource`], and the same resource on the write side too: its `ResourceCreated`
    /// in the event store, as command-api appends it (what the live check reads).
    pub async fn resource_in_store(&self, overrides: Value) -> Uuid {
        let id = self.resource(overrides).await;
        let (tenant, mut payload): (String, Value) = sqlx::query_as(
            "select tenant_id, jsonb_build_object('resource_id', resource_id, 'name', name,
                 'kind', kind, 'capacity', capacity, 'time_zone', time_zone,
                 'opening_hours', opening_hours, 'policy', policy)
             from read.resources where resource_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .expect("the resource just written");
        if let Some(payload) = payload.as_object_mut() {
            payload.retain(|_, value| !value.is_null());
        }
        let event =
            domain::Event::decode("ResourceCreated", 1, &payload).expect("a valid ResourceCreated");
        let mut conn = self.pool.acquire().await.expect("a connection");
        eventstore::append::append(
            &mut conn,
            &tenant,
            id,
            event.stream_type().as_str(),
            eventstore::ExpectedVersion::NoStream,
            &[eventstore::NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload: event.payload(),
                metadata: json!({}),
            }],
            Utc::now(),
        )
        .await
        .expect("append ResourceCreated");
        id
    }

    /// Writes a booking into `read.bookings` and, while it is live, its busy rows (period
    /// widened by `buffers` minutes) into `read.busy`, as the bookings projection would.
    pub async fn booking(&self, booking: &Booking) -> Uuid {
        let id = Uuid::new_v4();
        let units: Vec<i32> = booking.units.clone();
        let (before, after) = booking.buffers;
        let blocked_start = booking.start - chrono::Duration::minutes(before);
        let blocked_end = booking.end + chrono::Duration::minutes(after);
        sqlx::query(
            "insert into read.bookings (booking_id, tenant_id, resource_id, customer_id, status,
                 start_at, end_at, blocked_start, blocked_end, quantity, units, expires_at,
                 metadata, version, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, null, '{}', 1, now(), now())",
        )
        .bind(id)
        .bind(&booking.tenant)
        .bind(booking.resource)
        .bind(&booking.customer)
        .bind(&booking.status)
        .bind(booking.start)
        .bind(booking.end)
        .bind(blocked_start)
        .bind(blocked_end)
        .bind(i32::try_from(units.len()).expect("few units"))
        .bind(&units)
        .execute(&self.pool)
        .await
        .expect("insert the booking");
        if matches!(booking.status.as_str(), "held" | "pending" | "confirmed") {
            let during = PgRange::from(blocked_start..blocked_end);
            sqlx::query(
                "insert into read.busy (booking_id, unit, tenant_id, resource_id, during)
                 select $1, u, $2, $3, $4 from unnest($5::int[]) as u",
            )
            .bind(id)
            .bind(&booking.tenant)
            .bind(booking.resource)
            .bind(during)
            .bind(&units)
            .execute(&self.pool)
            .await
            .expect("insert the busy rows");
        }
        id
    }

    /// Sets a projection's checkpoint, as the projector's commit would.
    pub async fn checkpoint(&self, name: &str, at: Position) {
        set_checkpoint(&self.pool, name, at).await;
    }

    /// Makes the store's head at least `at` (see [`written`]).
    pub async fn written(&self, at: Position) {
        written(&self.pool, at).await;
    }

    /// Sets the checkpoints of all three projections.
    pub async fn all_checkpoints(&self, at: Position) {
        for name in [
            "projection:resources",
            "projection:bookings",
            "projection:daily_stats",
        ] {
            self.checkpoint(name, at).await;
        }
    }

    /// Publishes a change notice, as the projector does after a commit.
    pub async fn notify(&self, changed: &Changed) {
        let subject = readmodel::notice::subject(&self.subject, &changed.tenant);
        self.nats
            .publish(
                subject,
                serde_json::to_vec(changed).expect("serializes").into(),
            )
            .await
            .expect("publish the notice");
        self.nats.flush().await.expect("flush NATS");
    }

    pub async fn cleanup(self) {
        for instance in self.instances {
            instance.stop().await;
        }
        self.pool.close().await;
        if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut connection) = client.get_multiplexed_async_connection().await
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
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
        if let Ok(mut admin) = PgConnection::connect(&database_url()).await {
            let _ = admin
                .execute(format!("drop database if exists {} with (force)", self.database).as_str())
                .await;
        }
    }
}

pub async fn set_checkpoint(pool: &PgPool, name: &str, at: Position) {
    written(pool, at).await;
    let mut conn = pool.acquire().await.expect("a connection");
    eventstore::checkpoint::load(&mut conn, name)
        .await
        .expect("the checkpoint");
    assert!(
        eventstore::checkpoint::set(&mut conn, name, at)
            .await
            .expect("set the checkpoint"),
        "{at} is an event"
    );
}

/// Makes the store's head at least `at`, as if a command had written there: these tests write
/// the read models by hand, and query-api refuses a `min_position` past the store's head. The
/// marker event is never projected (no projector runs here).
pub async fn written(pool: &PgPool, at: Position) {
    let stream = Uuid::new_v4();
    sqlx::query(
        "with stream as (
             insert into streams (stream_id, tenant_id, stream_type, version)
             values ($1, 'test-marker', 'marker', 1)
         )
         insert into events
             (global_position, transaction_id, tenant_id, stream_id, stream_version, event_id,
              event_type, schema_version, payload)
         overriding system value values ($2, $3, 'test-marker', $1, 1, gen_random_uuid(), 'TestMarker', 1, '{}')
         on conflict do nothing",
    )
    .bind(stream)
    .bind(at.global_position)
    .bind(at.xid())
    .execute(pool)
    .await
    .expect("a marker event at the position");
}

/// A booking to write into the read model.
#[derive(Clone, Debug)]
pub struct Booking {
    pub tenant: String,
    pub resource: Uuid,
    pub customer: String,
    pub status: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub units: Vec<i32>,
    /// Buffers before and after, in minutes (the busy rows are widened by them).
    pub buffers: (i64, i64),
}

impl Booking {
    /// A confirmed booking of unit 0 by `alice` in tenant `acme`.
    pub fn new(resource: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            tenant: "acme".into(),
            resource,
            customer: "alice".into(),
            status: "confirmed".into(),
            start,
            end,
            units: vec![0],
            buffers: (0, 0),
        }
    }

    pub fn unit(mut self, unit: i32) -> Self {
        self.units = vec![unit];
        self
    }

    pub fn buffers(mut self, before: i64, after: i64) -> Self {
        self.buffers = (before, after);
        self
    }

    pub fn customer(mut self, customer: &str) -> Self {
        self.customer = customer.into();
        self
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = tenant.into();
        self
    }
}

/// The cache's day of `resource` in tenant `acme`.
pub fn acme_day(resource: Uuid, date: NaiveDate) -> ResourceDay {
    ResourceDay {
        tenant: "acme".parse().expect("a test tenant in the safe alphabet"),
        resource: domain::ids::ResourceId(resource),
        date,
    }
}

pub fn sign(tenant: &str, sub: &str, roles: &[Role], exp: i64) -> String {
    TokenKeys::new(SECRET)
        .sign(&Claims {
            sub: sub.to_owned(),
            tenant: tenant.parse().expect("a test tenant in the safe alphabet"),
            roles: roles.to_vec(),
            exp,
        })
        .expect("sign a token")
}

async fn drop_stale_databases(admin: &mut PgConnection, now: i64) {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'qa\\_test\\_%'")
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

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// The body as text (for `/metrics`).
    pub text: String,
    pub headers: HeaderMap,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            headers,
        }
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `X-Cache` header.
    pub fn cache(&self) -> &str {
        self.header("x-cache")
    }

    /// The first field named in a validation error.
    pub fn field(&self) -> &str {
        self.body["errors"][0]["field"].as_str().unwrap_or("")
    }
}

/// A Monday at least `days` days from today (UTC).
pub fn monday_after(days: i64) -> NaiveDate {
    let mut day = Utc::now().date_naive() + chrono::Duration::days(days);
    while day.weekday() != chrono::Weekday::Mon {
        day += chrono::Duration::days(1);
    }
    day
}

/// `day` at `hh:mm` UTC.
pub fn at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, minute, 0)
        .expect("valid time")
        .and_utc()
}

/// The RFC 3339 form answers use.
pub fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The next last Sunday of March (the EU's spring-forward day) more than a day away.
pub fn next_eu_spring_forward() -> NaiveDate {
    let today = Utc::now().date_naive();
    for year in [today.year(), today.year() + 1] {
        let mut day = NaiveDate::from_ymd_opt(year, 3, 31).expect("valid date");
        while day.weekday() != chrono::Weekday::Sun {
            day -= chrono::Duration::days(1);
        }
        if day > today + chrono::Duration::days(1) {
            return day;
        }
    }
    unreachable!("a last Sunday of March lies within two years")
}
