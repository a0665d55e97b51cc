//! query-api under test: the shared [`TestApp`] world with a query-api started on it, and the
//! projector's own catch-up ([`projector::catch_up`]) run when a test says so instead of a live
//! projector.
//!
//! Writes go through command-api as in production, so the store holds real events at real
//! positions and the read models hold exactly what the projector makes of them; a test decides
//! when the read models move (to see a query wait for them, or a cache answer from before). What
//! the projector does after a commit besides (invalidating Redis, publishing a change notice) a
//! test does itself, when it wants it to have happened ([`QueryApp::redis`], [`QueryApp::notify`]).

use std::ops::Deref;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use eventstore::Position;
use platform::auth::Role;
use readmodel::cache::{Keys, RedisCache, ResourceDay};
use readmodel::notice::Changed;
use readmodel::projections::Projection;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Reply, TestApp, redis_url};

/// A [`TestApp`] with a query-api and no live projector.
pub struct QueryApp {
    pub app: TestApp,
    /// The first query-api's base URL.
    pub url: String,
    /// A cache client on this world's Redis prefix: the projector's view of Redis.
    pub redis: RedisCache,
}

impl Deref for QueryApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl QueryApp {
    pub async fn spawn() -> QueryApp {
        Self::spawn_with(|_| {}).await
    }

    /// A fresh world whose query-api settings `configure` adjusts.
    pub async fn spawn_with(configure: impl FnOnce(&mut query_api::Settings)) -> QueryApp {
        let mut app = TestApp::spawn().await;
        let mut settings = app.query_settings();
        configure(&mut settings);
        let url = app.start_query_api_with(settings).await;
        let client = redis::Client::open(redis_url()).expect("REDIS_URL is valid");
        let manager = redis::aio::ConnectionManager::new(client)
            .await
            .expect("connect to Redis");
        let redis = RedisCache::new(manager, Keys::new(app.redis_prefix.clone()));
        QueryApp { app, url, redis }
    }

    /// Another query-api on the same database, Redis prefix and notice subject (a replica).
    pub async fn spawn_instance(
        &mut self,
        configure: impl FnOnce(&mut query_api::Settings),
    ) -> String {
        let mut settings = self.app.query_settings();
        configure(&mut settings);
        self.app.start_query_api_with(settings).await
    }

    /// `GET` on the first query-api.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.get_from(&self.url, path, token).await
    }

    /// `GET` on the first query-api as an admin of `acme`.
    pub async fn get_as_admin(&self, path: &str) -> Reply {
        self.get(path, Some(&self.admin())).await
    }

    /// `GET` on the query-api at `base`.
    pub async fn get_from(&self, base: &str, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.expect("the request is answered")).await
    }

    /// `POST` of a JSON body on the first query-api.
    pub async fn post_query(&self, path: &str, token: &str, body: &Value) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body);
        Reply::read(request.send().await.expect("the request is answered")).await
    }

    /// Applies every event the store holds to every read model, with the projector's own code;
    /// returns the store's head, which the read models have now reached.
    pub async fn project(&self) -> Position {
        self.project_only(&Projection::ALL).await
    }

    /// [`QueryApp::project`] for some projections only (the others stay behind).
    pub async fn project_only(&self, projections: &[Projection]) -> Position {
        let head = self.head().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut reached = head;
            for projection in projections {
                let at = projector::catch_up::catch_up(&self.pool, *projection)
                    .await
                    .expect("the projector applies the store's events");
                reached = reached.min(at);
            }
            // The store hands out events only once every older transaction of the cluster has
            // ended (another test's may still run): the head can be ahead for a moment.
            if reached >= head {
                return head;
            }
            assert!(
                Instant::now() < deadline,
                "projected to {reached}, head {head}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Creates a resource through command-api from `overrides` merged over a meeting room
    /// open around the clock in UTC (`tenant` names another tenant than `acme`; each of
    /// `blackouts` is added after), projects it and returns its id.
    pub async fn resource(&self, overrides: Value) -> Uuid {
        let Value::Object(mut fields) = overrides else {
            panic!("resource overrides are an object");
        };
        let tenant = fields
            .remove("tenant")
            .and_then(|t| t.as_str().map(str::to_owned))
            .unwrap_or_else(|| "acme".into());
        let blackouts = fields.remove("blackouts");
        let room = json!({
            "name": "Room", "kind": "meeting_room", "capacity": 1, "time_zone": "UTC"
        });
        let body = crate::merged(room, Value::Object(fields));
        let admin = self.token(&tenant, "admin-1", &[Role::Admin]);
        let id = created(&self.post("/v1/resources", &admin, &body).await, "resource");
        for blackout in blackouts
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = format!("/v1/resources/{id}/blackouts");
            let reply = self.post(&path, &admin, blackout).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        }
        self.project().await;
        id
    }

    /// Changes a resource of `acme` through command-api (`PATCH` at its current version) and
    /// returns the position of the change, not yet projected.
    pub async fn change_resource(&self, resource: Uuid, changes: &Value) -> Position {
        let version: i64 = sqlx::query_scalar("select version from streams where stream_id = $1")
            .bind(resource)
            .fetch_one(&self.pool)
            .await
            .expect("the resource's stream");
        let version = version.to_string();
        let reply = self
            .send(
                reqwest::Method::PATCH,
                &format!("/v1/resources/{resource}"),
                Some(&self.admin()),
                Some(changes),
                &[("if-match", &version)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        position_of(&reply)
    }

    /// Places `booking` through command-api as its tenant's admin (and cancels it when its
    /// status says so) without projecting it; returns its id and the position of its last event.
    pub async fn place(&self, booking: &Booking) -> (Uuid, Position) {
        let admin = self.token(&booking.tenant, "admin-1", &[Role::Admin]);
        let body = json!({
            "resource_id": booking.resource, "start": crate::rfc(booking.period.0),
            "end": crate::rfc(booking.period.1), "customer_id": booking.customer
        });
        let placed = self.post("/v1/bookings", &admin, &body).await;
        let id = created(&placed, "booking");
        match booking.status.as_str() {
            "confirmed" => (id, position_of(&placed)),
            "cancelled" => {
                let path = format!("/v1/bookings/{id}/cancel");
                let cancelled = self.post(&path, &admin, &json!({})).await;
                assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
                (id, position_of(&cancelled))
            }
            other => panic!("no way to place a booking {other} here"),
        }
    }

    /// [`QueryApp::place`], then projected; returns the booking's id.
    pub async fn booking(&self, booking: &Booking) -> Uuid {
        let (id, _) = self.place(booking).await;
        self.project().await;
        id
    }

    /// Appends `events` to stream `stream` of `tenant` as history that command-api would not
    /// accept now (bookings in the past, on a day since closed), as it appends them, then
    /// projects them.
    pub async fn history(&self, tenant: &str, stream: Uuid, events: &[domain::Event]) {
        let kind = events.first().expect("some events").stream_type();
        let new: Vec<eventstore::NewEvent> = events
            .iter()
            .map(|event| eventstore::NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema_version: event.schema_version(),
                payload: event.payload(),
                metadata: json!({}),
            })
            .collect();
        let mut conn = self.pool.acquire().await.expect("a connection");
        eventstore::append::append(
            &mut conn,
            tenant,
            stream,
            kind.as_str(),
            eventstore::ExpectedVersion::NoStream,
            &new,
            Utc::now(),
        )
        .await
        .expect("append the history");
        drop(conn);
        self.project().await;
    }

    /// Publishes a change notice, as the projector does after a commit.
    pub async fn notify(&self, changed: &Changed) {
        let subject = readmodel::notice::subject(&self.changed_subject, &changed.tenant);
        self.nats
            .publish(
                subject,
                serde_json::to_vec(changed).expect("serializes").into(),
            )
            .await
            .expect("publish the notice");
        self.nats.flush().await.expect("flush NATS");
    }

    /// Sends `changed` and asks `path` as admin until `seen` finds the notice took effect in the
    /// answer, which it returns (sent again each time: the subscription may still be starting).
    /// Fails with `what` after 5 s.
    pub async fn notify_until(
        &self,
        changed: &Changed,
        path: &str,
        what: &str,
        seen: impl Fn(&Reply) -> bool,
    ) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.notify(changed).await;
            let reply = self.get_as_admin(path).await;
            if seen(&reply) {
                return reply;
            }
            assert!(Instant::now() < deadline, "{what}: {}", reply.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks `path` as admin until the answer comes from the cache (after a refill, a notice
    /// still in flight keeps the day out of the cache for a moment, by design).
    pub async fn until_cached(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.get_as_admin(path).await.cache() != "hit" {
            assert!(Instant::now() < deadline, "{path} was never cached again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn cleanup(self) {
        self.app.cleanup().await;
    }
}

/// The id of the `object` a command's answer says it created.
#[track_caller]
fn created(reply: &Reply, object: &str) -> Uuid {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body[object]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a {object} id in {}", reply.body))
}

/// The `position` of a command's answer.
pub fn position_of(reply: &Reply) -> Position {
    reply.body["position"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a position in {}", reply.body))
}

/// The cache's day of `resource` in tenant `acme`.
pub fn acme_day(resource: Uuid, date: chrono::NaiveDate) -> ResourceDay {
    ResourceDay {
        tenant: "acme".parse().expect("a test tenant in the safe alphabet"),
        resource: domain::ids::ResourceId(resource),
        date,
    }
}

/// A booking to place: confirmed, by `alice` in tenant `acme`, unless changed.
#[derive(Clone, Debug)]
pub struct Booking {
    tenant: String,
    resource: Uuid,
    customer: String,
    /// `confirmed` or `cancelled`.
    status: String,
    period: (DateTime<Utc>, DateTime<Utc>),
}

impl Booking {
    pub fn new(resource: Uuid, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            tenant: "acme".into(),
            resource,
            customer: "alice".into(),
            status: "confirmed".into(),
            period: (start, end),
        }
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
