//! Faults answer cleanly: Postgres going away (a proxy of the test's own is cut, or the
//! service's connections are terminated) is `503 database_unavailable` with `Retry-After` on
//! every route, mid-transaction too, and the services answer normally once it is back, without a
//! restart; services started before Postgres wait for it; the guard keeps its isolation level
//! whatever the database's default.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tests::proxy::Proxy;
use tests::{Reply, TestApp, assert_problem, day_at};
use tokio_util::sync::CancellationToken;

/// Sends `method path` with a bearer token and an optional JSON body to `base`.
async fn call(
    app: &TestApp,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app
        .http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::read(request.send().await.expect("an answer")).await
}

/// `503 database_unavailable`, problem+json, with `Retry-After`.
fn assert_database_unavailable(what: &str, reply: &Reply) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.code(), "database_unavailable", "{what}");
    assert_eq!(reply.content_type(), "application/problem+json", "{what}");
    assert!(
        reply.headers.get("retry-after").is_some(),
        "{what}: no Retry-After"
    );
}

/// Waits until `base/readyz` answers 200.
async fn ready(app: &TestApp, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = app.http.get(format!("{base}/readyz")).send().await;
        if answer.is_ok_and(|a| a.status() == StatusCode::OK) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} is not ready after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/readyz` answers 503 and names postgres among the dependencies that are down.
async fn assert_postgres_down(app: &TestApp, base: &str) {
    let answer = app.http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["down"]
            .as_array()
            .unwrap()
            .contains(&json!("postgres")),
        "{body}"
    );
    assert_eq!(body["checks"]["postgres"], json!({ "status": "down" }));
}

/// One request and what it should answer once the database is back.
struct Route {
    base: String,
    method: Method,
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    after: StatusCode,
}

impl Route {
    fn new(base: &str, method: Method, path: String, body: Option<Value>, after: u16) -> Route {
        Route {
            base: base.to_owned(),
            method,
            path,
            body,
            headers: Vec::new(),
            after: StatusCode::from_u16(after).unwrap(),
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Route {
        self.headers.push((name, value.to_owned()));
        self
    }

    async fn send(&self, app: &TestApp, token: &str) -> Reply {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        call(
            app,
            &self.base,
            self.method.clone(),
            &self.path,
            token,
            self.body.clone(),
            &headers,
        )
        .await
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A proxy to this world's database and a command-api that reaches Postgres through it only:
/// the proxy, its URL for the database and the command-api's base URL.
async fn command_api_through_proxy(app: &mut TestApp) -> (Arc<Proxy>, String, String) {
    let proxy = Proxy::start(&app.database_url).await;
    let through = proxy.url(&app.database_url);
    let command = app.spawn_instance(through_only(&through)).await.url.clone();
    (proxy, through, command)
}

/// Settings for a command-api that reaches Postgres at `url` only (through a proxy), with no
/// relay or sweeper of its own (the world's first instance keeps those).
fn through_only(url: &str) -> impl FnOnce(&mut command_api::Settings) + '_ {
    move |settings| {
        settings.database.url = url.to_owned();
        settings.relay_enabled = false;
        settings.sweeper_enabled = false;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_postgres_is_away_every_route_answers_503_database_unavailable_and_then_normally_again()
 {
    let mut app = TestApp::spawn().await;
    // The services under test reach Postgres through the proxy; the relay and the projector
    // (which this test does not look at) keep their direct connections.
    let (proxy, through, command) = command_api_through_proxy(&mut app).await;
    app.start_projector().await;
    let mut settings = app.query_settings();
    settings.database.url = through.clone();
    let query = app.start_query_api_with(settings).await;
    ready(&app, &command).await;
    ready(&app, &query).await;

    // The world the commands act on.
    let admin = app.admin();
    let (world, base, token) = (&app, &command, &admin);
    let post = |path: String, body: Value| async move {
        call(world, base, Method::POST, &path, token, Some(body), &[]).await
    };
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let approval = app
        .create_resource(json!({ "time_zone": "UTC", "policy": { "requires_approval": true } }))
        .await;
    let (room_id, approval_id) = (
        room["id"].as_str().unwrap(),
        approval["id"].as_str().unwrap(),
    );
    let blackout = post(
        format!("/v1/resources/{room_id}/blackouts"),
        json!({ "start": day_at(20, 0, 0), "end": day_at(20, 6, 0) }),
    )
    .await;
    assert_eq!(blackout.status, StatusCode::CREATED, "{}", blackout.body);
    let blackout_id = blackout.body["blackout"]["id"].as_str().unwrap().to_owned();
    let book = |start: String, end: String, resource: &str, hold: bool| {
        let body = json!({ "resource_id": resource, "start": start, "end": end, "hold": hold });
        post("/v1/bookings".to_owned(), body)
    };
    let id = |reply: Reply| {
        assert!(reply.status.is_success(), "{}", reply.body);
        reply.booking_id()
    };
    let confirmed = id(book(day_at(3, 9, 0), day_at(3, 10, 0), room_id, false).await);
    let moved = id(book(day_at(3, 11, 0), day_at(3, 12, 0), room_id, false).await);
    let held = id(book(day_at(3, 13, 0), day_at(3, 14, 0), room_id, true).await);
    let pending = id(book(day_at(3, 9, 0), day_at(3, 10, 0), approval_id, false).await);
    let declined = id(book(day_at(3, 11, 0), day_at(3, 12, 0), approval_id, false).await);
    app.wait_for_projections(Duration::from_secs(20)).await;
    let position = app.head().await.to_string();

    let (c, q) = (command.as_str(), query.as_str());
    let routes = vec![
        Route::new(
            c,
            Method::POST,
            "/v1/resources".into(),
            Some(json!({ "name": "Room B", "kind": "meeting_room", "time_zone": "UTC" })),
            201,
        ),
        Route::new(
            c,
            Method::PATCH,
            format!("/v1/resources/{room_id}"),
            Some(json!({ "name": "Room A" })),
            200,
        )
        .header("if-match", "2"),
        Route::new(
            c,
            Method::POST,
            format!("/v1/resources/{approval_id}/blackouts"),
            Some(json!({ "start": day_at(21, 0, 0), "end": day_at(21, 6, 0) })),
            201,
        ),
        Route::new(
            c,
            Method::DELETE,
            format!("/v1/resources/{room_id}/blackouts/{blackout_id}"),
            None,
            200,
        ),
        Route::new(
            c,
            Method::POST,
            "/v1/bookings".into(),
            Some(json!({ "resource_id": room_id, "start": day_at(4, 9, 0), "end": day_at(4, 10, 0) })),
            201,
        ),
        Route::new(
            c,
            Method::POST,
            "/v1/bookings".into(),
            Some(json!({ "resource_id": room_id, "start": day_at(4, 11, 0), "end": day_at(4, 12, 0) })),
            201,
        )
        .header("idempotency-key", "during-the-outage"),
        Route::new(c, Method::POST, format!("/v1/bookings/{held}/confirm"), None, 200),
        Route::new(c, Method::POST, format!("/v1/bookings/{pending}/approve"), None, 200),
        Route::new(c, Method::POST, format!("/v1/bookings/{declined}/decline"), None, 200),
        Route::new(c, Method::POST, format!("/v1/bookings/{confirmed}/cancel"), None, 200),
        Route::new(
            c,
            Method::POST,
            format!("/v1/bookings/{moved}/reschedule"),
            Some(json!({ "start": day_at(5, 11, 0), "end": day_at(5, 12, 0) })),
            200,
        ),
        Route::new(q, Method::GET, "/v1/resources".into(), None, 200),
        Route::new(q, Method::GET, format!("/v1/resources/{room_id}"), None, 200),
        // Never read before the cut, so no cache tier holds it.
        Route::new(
            q,
            Method::GET,
            format!("/v1/resources/{room_id}/availability?from={}&to={}&duration_minutes=60",
                day_at(6, 0, 0), day_at(7, 0, 0)),
            None,
            200,
        ),
        Route::new(
            q,
            Method::GET,
            format!("/v1/availability?resource_ids={approval_id}&from={}&to={}",
                day_at(8, 0, 0), day_at(9, 0, 0)),
            None,
            200,
        ),
        Route::new(
            q,
            Method::POST,
            "/v1/availability/check".into(),
            Some(json!({ "items": [
                { "resource_id": room_id, "start": day_at(10, 9, 0), "end": day_at(10, 10, 0) }
            ] })),
            200,
        ),
        Route::new(q, Method::GET, "/v1/bookings".into(), None, 200),
        Route::new(q, Method::GET, format!("/v1/bookings/{confirmed}"), None, 200),
        Route::new(
            q,
            Method::GET,
            format!("/v1/bookings?resource_id={room_id}&min_position={position}"),
            None,
            200,
        ),
        Route::new(q, Method::GET, "/v1/stats/daily".into(), None, 200),
    ];

    proxy.cut();
    let during =
        futures::future::join_all(routes.iter().map(|route| route.send(&app, &admin))).await;
    for (route, reply) in routes.iter().zip(&during) {
        assert_database_unavailable(&route.name(), reply);
    }
    assert_postgres_down(&app, &command).await;
    assert_postgres_down(&app, &query).await;

    proxy.restore().await;
    ready(&app, &command).await;
    ready(&app, &query).await;
    // In order: the PATCH expects the room's version before the blackout is removed.
    for route in &routes {
        let reply = route.send(&app, &admin).await;
        assert_eq!(
            reply.status,
            route.after,
            "{}: {}",
            route.name(),
            reply.body
        );
    }
    app.cleanup().await;
}

/// Waits until a command-api backend of this test's database waits for a lock.
async fn blocked_on_a_lock(admin: &mut PgConnection) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and application_name = 'command-api'
               and wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *admin)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command never blocked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_whose_connection_is_cut_mid_transaction_answers_503_and_its_key_works_afterwards()
 {
    let mut app = TestApp::spawn().await;
    let (proxy, _, command) = command_api_through_proxy(&mut app).await;
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let body =
        json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
    let key = "cut-mid-transaction";
    // Hold the key's lock, so the command waits for it inside its transaction.
    let mut holder = PgConnection::connect(&app.database_url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('acme' || '/' || $1, 7))")
        .bind(key)
        .execute(&mut *held)
        .await
        .unwrap();
    let app = Arc::new(app);
    let sent = {
        let (app, command, body, admin) = (app.clone(), command.clone(), body.clone(), app.admin());
        tokio::spawn(async move {
            call(
                &app,
                &command,
                Method::POST,
                "/v1/bookings",
                &admin,
                Some(body),
                &[("idempotency-key", key)],
            )
            .await
        })
    };
    let mut watcher = PgConnection::connect(&app.database_url).await.unwrap();
    blocked_on_a_lock(&mut watcher).await;
    proxy.cut();
    assert_database_unavailable("the cut command", &sent.await.unwrap());

    held.rollback().await.unwrap();
    proxy.restore().await;
    ready(&app, &command).await;
    let admin = app.admin();
    let headers = [("idempotency-key", key)];
    let send = || {
        call(
            &app,
            &command,
            Method::POST,
            "/v1/bookings",
            &admin,
            Some(body.clone()),
            &headers,
        )
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = send().await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    let placed: i64 =
        sqlx::query_scalar("select count(*) from events where event_type = 'BookingPlaced'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(placed, 1);
    Arc::into_inner(app).unwrap().cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_whose_backend_is_terminated_mid_transaction_answers_503_not_500() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let booking = uuid::Uuid::new_v4();
    // Hold the new booking's stream lock, so the command waits for it inside its transaction.
    let mut holder = PgConnection::connect(&app.database_url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(eventstore::append::stream_lock_key(booking))
        .execute(&mut *held)
        .await
        .unwrap();
    let body = json!({
        "id": booking, "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0)
    });
    let app = Arc::new(app);
    let sent = {
        let (app, body, admin) = (app.clone(), body.clone(), app.admin());
        tokio::spawn(async move { app.post("/v1/bookings", &admin, &body).await })
    };
    let mut admin_conn = PgConnection::connect(&app.database_url).await.unwrap();
    blocked_on_a_lock(&mut admin_conn).await;
    // What a Postgres shutdown or an operator does to a backend (SQLSTATE 57P01).
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and application_name = 'command-api'
           and wait_event_type = 'Lock'",
    )
    .execute(&mut admin_conn)
    .await
    .unwrap();
    assert_database_unavailable("the terminated command", &sent.await.unwrap());
    held.rollback().await.unwrap();
    let retried = app.post("/v1/bookings", &app.admin(), &body).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    Arc::into_inner(app).unwrap().cleanup().await;
}

/// What a start-up task built, within 30 s.
async fn started<T>(name: &str, task: tokio::task::JoinHandle<anyhow::Result<T>>) -> T {
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap_or_else(|_| panic!("{name} did not start within 30 s of Postgres coming"))
        .unwrap()
        .unwrap_or_else(|err| panic!("{name} failed to start: {err:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_started_while_postgres_is_away_wait_for_it_and_become_ready_when_it_comes() {
    let app = TestApp::spawn().await;
    let proxy = Proxy::start_cut(&app.database_url).await;
    let through = proxy.url(&app.database_url);
    let command = tokio::spawn(command_api::Application::build(
        app.command_settings(through_only(&through)),
    ));
    let mut settings = app.query_settings();
    settings.database.url = through.clone();
    let query = tokio::spawn(query_api::Application::build(settings));
    let mut settings = app.projector_settings();
    settings.database.url = through.clone();
    let projector = tokio::spawn(projector::Application::build(settings));

    // Longer than a pool waits for a connection (5 s): past it, a start-up that does not retry
    // has given up.
    tokio::time::sleep(Duration::from_secs(7)).await;
    for (name, finished) in [
        ("command-api", command.is_finished()),
        ("query-api", query.is_finished()),
        ("projector", projector.is_finished()),
    ] {
        assert!(!finished, "{name} did not wait for Postgres");
    }

    proxy.restore().await;
    let shutdown = CancellationToken::new();
    let command = started("command-api", command).await;
    let query = started("query-api", query).await;
    let projector = started("projector", projector).await;
    let urls = [command.port(), query.port(), projector.port()]
        .map(|port| format!("http://127.0.0.1:{port}"));
    let running = [
        tokio::spawn(command.run_until_stopped(shutdown.clone())),
        tokio::spawn(query.run_until_stopped(shutdown.clone())),
        tokio::spawn(projector.run_until_stopped(shutdown.clone())),
    ];
    for url in &urls {
        ready(&app, url).await;
    }
    shutdown.cancel();
    for service in running {
        let _ = tokio::time::timeout(Duration::from_secs(10), service).await;
    }
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flash_crowd_on_a_shared_resource_queues_even_where_the_database_defaults_to_serializable()
 {
    let mut app = TestApp::spawn().await;
    sqlx::query(&format!(
        "alter database {} set default_transaction_isolation = 'serializable'",
        app.database
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    // A new instance: its connections start with the new default.
    let command = app.spawn_instance(|_| {}).await.url.clone();
    let room = app
        .create_resource(json!({ "time_zone": "UTC", "capacity": 12 }))
        .await;
    let app = Arc::new(app);
    let body =
        json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
    let crowd: Vec<_> = (0..12)
        .map(|i| {
            let (app, command, body) = (app.clone(), command.clone(), body.clone());
            tokio::spawn(async move {
                let token = app.client(&format!("guest-{i}"));
                call(
                    &app,
                    &command,
                    Method::POST,
                    "/v1/bookings",
                    &token,
                    Some(body),
                    &[],
                )
                .await
            })
        })
        .collect();
    for reply in futures::future::join_all(crowd).await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    Arc::into_inner(app).unwrap().cleanup().await;
}

#[tokio::test]
async fn a_request_id_too_long_to_store_is_replaced_and_a_short_one_is_kept_in_the_events() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let admin = app.admin();
    let mut ids = Vec::new();
    for (hour, given) in [(9, "x".repeat(5_000)), (11, "order-42".to_owned())] {
        let body = json!({ "resource_id": room["id"], "start": day_at(3, hour, 0), "end": day_at(3, hour + 1, 0) });
        let reply = app
            .send(
                Method::POST,
                "/v1/bookings",
                Some(&admin),
                Some(&body),
                &[("x-request-id", &given)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let used = reply.headers["x-request-id"].to_str().unwrap().to_owned();
        let stored: String = sqlx::query_scalar(
            "select metadata->>'correlation_id' from events where stream_id = $1::text::uuid",
        )
        .bind(reply.body["booking"]["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(stored, used);
        ids.push(used);
    }
    assert!(uuid::Uuid::parse_str(&ids[0]).is_ok(), "{}", ids[0]);
    assert_eq!(ids[1], "order-42");
    app.cleanup().await;
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf_8_is_a_400_problem_on_both_apis() {
    let mut app = TestApp::spawn().await;
    let settings = app.query_settings();
    let query = app.start_query_api_with(settings).await;
    let admin = app.admin();
    for (base, method, path) in [
        (&app.command_url, Method::POST, "/v1/bookings/%FF/cancel"),
        (
            &app.command_url,
            Method::DELETE,
            "/v1/resources/%C3%28/blackouts/%FF",
        ),
        (&query, Method::GET, "/v1/resources/%FF"),
        (&query, Method::GET, "/v1/bookings/%FF"),
        (&query, Method::GET, "/v1/resources/%FF/availability"),
    ] {
        let reply = call(&app, base, method, path, &admin, None, &[]).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed_request");
        assert_eq!(reply.content_type(), "application/problem+json", "{path}");
    }
    app.cleanup().await;
}
