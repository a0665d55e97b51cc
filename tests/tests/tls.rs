//! Encryption in transit: the three services run against a PostgreSQL, a Redis and a NATS of the
//! test's own that accept TLS only, with a CA and server certificate made by the test, and the
//! whole engine works (a booking placed through command-api becomes readable through query-api).
//! A CA that did not sign the server's certificate stops the start with a message naming the
//! dependency and the certificate problem, never a panic or an endless wait.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use platform::auth::{AuthSettings, Role};
use platform::nats::{NatsSettings, connect_options};
use platform::rate_limit::RateLimitSettings;
use platform::settings::{DatabaseSettings, RedisSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tests::day_at;
use tests::nats_server::NatsServer;
use tests::tls::{Certificates, PostgresServer, RedisServer};
use tokio_util::sync::CancellationToken;

use tests::SECRET;

/// The TLS-only servers and the settings that reach them with `ca`.
struct World {
    postgres: PostgresServer,
    redis: RedisServer,
    nats: NatsServer,
}

impl World {
    async fn start(certificates: &Certificates) -> World {
        let world = World {
            postgres: PostgresServer::start_tls(certificates).await,
            redis: RedisServer::start_tls(certificates).await,
            nats: NatsServer::start_with_tls(&certificates.server_cert, &certificates.server_key)
                .await,
        };
        let mut admin = PgConnection::connect_with(
            &DatabaseSettings {
                ca_file: Some(certificates.ca.clone()),
                ..DatabaseSettings::at(world.postgres.url("postgres", "verify-full"))
            }
            .connect_options()
            .expect("valid settings"),
        )
        .await
        .expect("connects over TLS");
        admin
            .execute("create database bookings")
            .await
            .expect("a database");
        world
    }

    fn database(&self, ca: &Path) -> DatabaseSettings {
        DatabaseSettings {
            url: self.postgres.url("bookings", "verify-full"),
            max_connections: 4,
            ca_file: Some(ca.to_owned()),
        }
    }

    fn nats(&self, ca: &Path) -> NatsSettings {
        NatsSettings {
            ca_file: Some(ca.to_owned()),
            ..NatsSettings::at(self.nats.tls_url())
        }
    }

    fn redis(&self, ca: &Path) -> RedisSettings {
        RedisSettings {
            url: self.redis.url(),
            key_prefix: "tls:".into(),
            ca_file: Some(ca.to_owned()),
        }
    }

    fn command_api(&self, ca: &Path) -> command_api::Settings {
        command_api::Settings {
            addr: "127.0.0.1:0".parse().expect("an address"),
            database: self.database(ca),
            nats: self.nats(ca),
            auth: AuthSettings::with_secret(SECRET).expect("a long secret"),
            rate_limits: RateLimitSettings::OFF,
            relay_poll: Duration::from_millis(100),
            ..command_api::Settings::default()
        }
    }

    fn projector(&self, ca: &Path) -> projector::Settings {
        projector::Settings {
            addr: "127.0.0.1:0".parse().expect("an address"),
            database: self.database(ca),
            nats: self.nats(ca),
            redis: self.redis(ca),
            idle_poll: Duration::from_millis(200),
            ..projector::Settings::default()
        }
    }

    fn query_api(&self, ca: &Path) -> query_api::Settings {
        query_api::Settings {
            addr: "127.0.0.1:0".parse().expect("an address"),
            database: self.database(ca),
            nats: self.nats(ca),
            redis: self.redis(ca),
            auth: AuthSettings::with_secret(SECRET).expect("a long secret"),
            rate_limits: RateLimitSettings::OFF,
            ..query_api::Settings::default()
        }
    }
}

fn admin_token() -> String {
    tests::sign(
        "acme",
        "admin-1",
        &[Role::Admin, Role::Client],
        Utc::now().timestamp() + 3600,
    )
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(admin_token())
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn the_engine_works_end_to_end_over_tls_only_postgres_redis_and_nats() {
    platform::telemetry::init("warn");
    let certificates = Certificates::generate();
    let world = World::start(&certificates).await;
    let ca = certificates.ca.as_path();

    // Each server refuses plaintext: Postgres has no `host` line, Redis no plain port.
    let plain = PgConnection::connect(&world.postgres.url("bookings", "disable")).await;
    let Err(refused) = plain else {
        panic!("a plaintext connection was accepted");
    };
    let refused = refused.to_string();
    assert!(refused.contains("no encryption"), "{refused}");
    let plain_redis = redis::Client::open(format!("redis://localhost:{}", world.redis.port))
        .expect("a URL")
        .get_multiplexed_async_connection()
        .await;
    assert!(plain_redis.is_err());

    let shutdown = CancellationToken::new();
    let command = command_api::Application::build(world.command_api(ca))
        .await
        .expect("command-api starts over TLS");
    let command_url = format!("http://127.0.0.1:{}", command.port());
    let projector = projector::Application::build(world.projector(ca))
        .await
        .expect("the projector starts over TLS");
    let projector_url = format!("http://127.0.0.1:{}", projector.port());
    let query = query_api::Application::build(world.query_api(ca))
        .await
        .expect("query-api starts over TLS");
    let query_url = format!("http://127.0.0.1:{}", query.port());
    let tasks = [
        tokio::spawn(command.run_until_stopped(shutdown.clone())),
        tokio::spawn(projector.run_until_stopped(shutdown.clone())),
        tokio::spawn(query.run_until_stopped(shutdown.clone())),
    ];

    let http = reqwest::Client::new();
    let room = post(
        &http,
        format!("{command_url}/v1/resources"),
        json!({"name": "Room", "kind": "meeting_room", "capacity": 1, "time_zone": "Europe/Berlin"}),
    )
    .await;
    let booked = post(
        &http,
        format!("{command_url}/v1/bookings"),
        json!({
            "resource_id": room["resource"]["id"],
            "start": day_at(3, 9, 0),
            "end": day_at(3, 10, 0),
        }),
    )
    .await;
    let id = booked["booking"]["id"].as_str().expect("a booking id");
    let position = booked["position"].as_str().expect("a position");

    // Read back through query-api once the projector (fed through JetStream over TLS, writing
    // the read models over TLS) has it.
    let response = http
        .get(format!(
            "{query_url}/v1/bookings/{id}?min_position={position}"
        ))
        .bearer_auth(admin_token())
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value = response.json().await.expect("JSON");
    assert!(read.to_string().contains(id), "{read}");

    // Every dependency is up for the read side, Redis and NATS included.
    for base in [&projector_url, &query_url, &command_url] {
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("answered");
        let status = ready.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "{base}: {}",
            ready.text().await.unwrap_or_default()
        );
    }

    // The relay published both events to JetStream over TLS.
    let (options, url) = connect_options(&world.nats(ca), "tests").expect("valid settings");
    let client = options.connect(url).await.expect("connects over TLS");
    let jetstream = async_nats::jetstream::new(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut stream = jetstream.get_stream("BOOKINGS").await.expect("the stream");
        let messages = stream.info().await.expect("stream info").state.messages;
        if messages >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{messages} messages"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    shutdown.cancel();
    for task in tasks {
        let stopped = tokio::time::timeout(Duration::from_secs(10), task).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    }
}

/// `build` fails, quickly, with a message that names `dependency` and the CA problem.
async fn refused<T>(build: impl std::future::Future<Output = anyhow::Result<T>>, dependency: &str) {
    let result = tokio::time::timeout(Duration::from_secs(30), build)
        .await
        .unwrap_or_else(|_| panic!("the start waited on a wrong {dependency} CA"));
    let Err(err) = result else {
        panic!("started with a wrong {dependency} CA");
    };
    let message = format!("{err:#}");
    eprintln!("{dependency} with a wrong CA: {message}");
    assert!(message.contains(dependency), "{message}");
    assert!(message.contains("TLS failed"), "{message}");
    assert!(message.contains("not signed by a trusted CA"), "{message}");
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_servers_certificate_stops_the_start_naming_the_dependency() {
    platform::telemetry::init("warn");
    let certificates = Certificates::generate();
    let world = World::start(&certificates).await;
    let (right, wrong) = (certificates.ca.as_path(), certificates.wrong_ca.as_path());

    let mut settings = world.command_api(right);
    settings.database = world.database(wrong);
    refused(command_api::Application::build(settings), "postgres").await;

    let mut settings = world.command_api(right);
    settings.nats = world.nats(wrong);
    refused(command_api::Application::build(settings), "NATS").await;

    let mut settings = world.query_api(right);
    settings.redis = world.redis(wrong);
    refused(query_api::Application::build(settings), "Redis").await;

    let mut settings = world.projector(right);
    settings.redis = world.redis(wrong);
    refused(projector::Application::build(settings), "Redis").await;

    // With the right CA everything starts (the refusals were the CA's doing).
    query_api::Application::build(world.query_api(right))
        .await
        .expect("starts with the right CA");
}
