//! Personal data and its erasure (API.md v1.1 "History and personal data", issue #13): a
//! booking's `customer` is shown to admins, viewers and its owner only; after
//! `POST /v1/customers/{id}/erase` its values are nowhere readable: not in a full `pg_dump` of
//! the database, not in JetStream's messages, not in Redis, not in the logs; replay and
//! `--verify` still succeed; erasing is idempotent and stays within its tenant.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use platform::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::nats::{read_all, wait_until_relayed};
use tests::{Reply, TestApp, assert_problem, day_at, redis_url};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

/// Everything logged in this process: every event and every span opened, with their fields,
/// at DEBUG and above (more than any deployment logs).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// Installs the capture once per process (before any service starts, so theirs is a no-op).
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE);
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with(layer);
        tracing::subscriber::set_global_default(subscriber)
            .expect("this test binary's only subscriber");
        logs
    })
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Personal data unique to this run, so finding it anywhere can only mean this test put it
/// there.
struct Person {
    name: String,
    email: String,
    phone: String,
}

impl Person {
    fn new(label: &str) -> Person {
        let id = uuid::Uuid::new_v4();
        let digits = format!("{:012}", id.as_u128() % 1_000_000_000_000);
        Person {
            name: format!("{label} Lovelace {}", id.simple()),
            email: format!("{label}.{}@example.com", id.simple()),
            phone: format!("+49 {} {}", &digits[..4], &digits[4..]),
        }
    }

    fn json(&self) -> Value {
        json!({ "name": self.name, "email": self.email, "phone": self.phone })
    }

    /// Each value, and the phone's digits alone (a copy without its separators is a copy).
    fn needles(&self) -> Vec<String> {
        let digits: String = self.phone.chars().filter(char::is_ascii_digit).collect();
        let local = self.email.split('@').next().unwrap_or_default().to_owned();
        vec![
            self.name.clone(),
            self.email.clone(),
            self.phone.clone(),
            digits,
            local,
        ]
    }
}

#[track_caller]
fn assert_absent(place: &str, haystack: &str, person: &Person) {
    for needle in person.needles() {
        assert!(
            !haystack.contains(&needle),
            "{place} holds personal data ({} bytes searched)",
            haystack.len()
        );
    }
}

/// A full plain-text `pg_dump` of the test's database.
fn pg_dump(app: &TestApp) -> String {
    let output = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg("--dbname")
        .arg(&app.database_url)
        .output()
        .expect("pg_dump runs");
    assert!(
        output.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every key under the test's Redis prefix with its value (by type; DUMP for the rest).
async fn redis_contents(prefix: &str) -> String {
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut out = String::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await
            .unwrap();
        for key in keys {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap();
            let command = match kind.as_str() {
                "string" => redis::cmd("GET").arg(&key).clone(),
                "hash" => redis::cmd("HGETALL").arg(&key).clone(),
                "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).clone(),
                "set" => redis::cmd("SMEMBERS").arg(&key).clone(),
                "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).clone(),
                _ => redis::cmd("DUMP").arg(&key).clone(),
            };
            let value: redis::Value = command.query_async(&mut redis).await.unwrap();
            out.push_str(&format!("{key} = {value:?}\n"));
        }
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

async fn book(app: &TestApp, token: &str, body: &Value, key: &str) -> Reply {
    app.book_with_key(token, body, key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_customers_data_is_nowhere_readable_and_replay_still_verifies() {
    let logs = logs();
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (admin, viewer) = (app.admin(), app.viewer());
    let customer = format!("cust-{}", uuid::Uuid::new_v4().simple());
    let owner = app.client(&customer);
    let (ada, other_ada) = (Person::new("Ada"), Person::new("Other"));
    let room = app.create_resource(json!({})).await;

    // The owner books with personal data (with an Idempotency-Key: its answer is stored); an
    // admin books a hold for the same customer and confirms it.
    let body = json!({
        "resource_id": room["id"], "start": day_at(2, 9, 0), "end": day_at(2, 10, 0),
        "customer": ada.json(),
    });
    let placed = book(&app, &owner, &body, "erasure-key-1").await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(placed.body["booking"]["customer"], ada.json());
    let first = placed.booking_id();
    let hold = app
        .post(
            "/v1/bookings",
            &admin,
            &json!({
                "resource_id": room["id"], "start": day_at(2, 11, 0), "end": day_at(2, 12, 0),
                "customer_id": customer, "hold": true, "customer": { "email": ada.email },
            }),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let second = hold.booking_id();
    let confirmed = app
        .post(
            &format!("/v1/bookings/{second}/confirm"),
            &owner,
            &json!({}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(
        confirmed.body["booking"]["customer"],
        json!({"email": ada.email})
    );

    // The same customer id in another tenant, with other data: untouched by acme's erasure.
    let other_admin = app.token("other", "admin-9", &[Role::Admin]);
    let other_room = app
        .post(
            "/v1/resources",
            &other_admin,
            &json!({"name": "Room", "kind": "meeting_room", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(
        other_room.status,
        StatusCode::CREATED,
        "{}",
        other_room.body
    );
    let elsewhere = app
        .post(
            "/v1/bookings",
            &other_admin,
            &json!({
                "resource_id": other_room.body["resource"]["id"], "start": day_at(2, 9, 0),
                "end": day_at(2, 10, 0), "customer_id": customer, "customer": other_ada.json(),
            }),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
    let elsewhere = elsewhere.booking_id();

    // Admins, viewers and the owner see the data; another client does not see the booking.
    let at = confirmed.body["position"].as_str().unwrap().to_owned();
    for token in [&admin, &viewer, &owner] {
        let got = app
            .query(&format!("/v1/bookings/{first}?min_position={at}"), token)
            .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        assert_eq!(got.body["customer"], ada.json());
        let history = app
            .query(&format!("/v1/bookings/{first}/history"), token)
            .await;
        assert_eq!(history.body["items"][0]["data"]["customer"], ada.json());
        let listed = app
            .query(&format!("/v1/bookings?customer_id={customer}"), token)
            .await;
        assert_eq!(
            listed.body["items"][0]["customer"],
            ada.json(),
            "{}",
            listed.body
        );
    }
    let bob = app.client("bob");
    for path in [
        format!("/v1/bookings/{first}"),
        format!("/v1/bookings/{first}/history"),
    ] {
        assert_problem(
            &app.query(&path, &bob).await,
            StatusCode::NOT_FOUND,
            "booking_not_found",
        );
    }
    let bobs = app.query("/v1/bookings", &bob).await;
    assert_eq!(bobs.body["items"], json!([]), "{}", bobs.body);

    // Only admins erase.
    let erase = format!("/v1/customers/{customer}/erase");
    for token in [&owner, &viewer] {
        let refused = app.post(&erase, token, &json!({})).await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
    }
    let erased = app
        .send(Method::POST, &erase, Some(&admin), None, &[])
        .await;
    assert_eq!(erased.status, StatusCode::ACCEPTED, "{}", erased.body);
    let position = erased.body["position"].as_str().unwrap().to_owned();
    assert_eq!(erased.body, json!({ "position": position }));

    // Every answer now shows the erasure: reads, the history, a retried command's stored answer.
    let gone = json!({"erased": true});
    for id in [&first, &second] {
        let got = app
            .query(
                &format!("/v1/bookings/{id}?min_position={position}"),
                &admin,
            )
            .await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        assert_eq!(got.body["customer"], gone, "{}", got.body);
        assert_eq!(got.body["customer_id"], customer.as_str());
        let history = app
            .query(&format!("/v1/bookings/{id}/history"), &owner)
            .await;
        assert_eq!(history.body["items"][0]["data"]["customer"], gone);
    }
    let listed = app
        .query(&format!("/v1/bookings?customer_id={customer}"), &viewer)
        .await;
    assert_eq!(listed.body["items"][0]["customer"], gone);
    let retried = book(&app, &owner, &body, "erasure-key-1").await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body["booking"]["id"], first.as_str());
    assert_eq!(retried.body["booking"]["customer"], gone);
    let cancelled = app.cancel(&owner, &second).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["booking"]["customer"], gone);

    // Erasing again is harmless: the same answer, no second event.
    let again = app.post(&erase, &admin, &json!({})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body, erased.body);
    let erasures: i64 =
        sqlx::query_scalar("select count(*) from events where event_type = 'CustomerErased'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(erasures, 1);

    // The other tenant's customer of the same id keeps its data.
    let kept = app
        .query(&format!("/v1/bookings/{elsewhere}"), &other_admin)
        .await;
    assert_eq!(kept.body["customer"], other_ada.json(), "{}", kept.body);

    // Replay rebuilds the same read models and --verify finds no drift; answers stay erased.
    app.wait_for_projections(Duration::from_secs(10)).await;
    let verify = app.replay(&["--verify"]).await;
    assert!(verify.differences.is_empty(), "{verify}");
    let rebuilt = app.replay(&[]).await;
    assert!(rebuilt.differences.is_empty(), "{rebuilt}");
    let verify = app.replay(&["--verify"]).await;
    assert!(verify.differences.is_empty(), "{verify}");
    let got = app.query(&format!("/v1/bookings/{first}"), &admin).await;
    assert_eq!(got.body["customer"], gone, "{}", got.body);
    let got = app
        .query(&format!("/v1/bookings/{elsewhere}"), &other_admin)
        .await;
    assert_eq!(got.body["customer"], other_ada.json(), "{}", got.body);

    // An availability read fills Redis, so there is something there to search.
    let availability = app
        .query(
            &format!(
                "/v1/resources/{}/availability?from={}&to={}",
                room["id"].as_str().unwrap(),
                day_at(2, 0, 0),
                day_at(3, 0, 0)
            ),
            &owner,
        )
        .await;
    assert_eq!(availability.status, StatusCode::OK, "{}", availability.body);

    // Now search for the values: in the database, on JetStream, in Redis, in the logs.
    wait_until_relayed(&app, Duration::from_secs(10)).await;
    let dump = pg_dump(&app);
    assert!(
        dump.contains("CustomerErased") && dump.contains(&customer),
        "the dump is the test's database"
    );
    assert_absent("the database", &dump, &ada);
    let published = read_all(&app.nats, &app.stream).await;
    let placed_message = published
        .iter()
        .find(|m| {
            m.envelope["type"] == "BookingPlaced"
                && m.envelope["data"]["booking_id"] == first.as_str()
        })
        .expect("the booking's event was published");
    // The event keeps its shape: the sealed customer is still there, unreadable.
    assert_eq!(
        placed_message.envelope["data"]["customer"]["alg"],
        "CHACHA20-POLY1305"
    );
    assert!(
        published
            .iter()
            .any(|m| m.envelope["type"] == "CustomerErased")
    );
    let messages: String = published
        .iter()
        .map(|m| m.envelope.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_absent("JetStream", &messages, &ada);
    // The day cache is written to Redis beside the answer: wait until it is there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let cached = loop {
        let cached = redis_contents(&app.redis_prefix).await;
        if !cached.is_empty() {
            break cached;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis holds the test's cache"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_absent("Redis", &cached, &ada);
    let logged = logs.text();
    assert!(logged.contains(&first), "the logs were captured");
    assert_absent("the logs", &logged, &ada);
    // The other tenant's customer is in none of them either (its key still exists, but nothing
    // holds its data in the clear).
    assert_absent("the database", &dump, &other_ada);
    assert_absent("JetStream", &messages, &other_ada);
    assert_absent("the logs", &logged, &other_ada);

    // The customer books again with data: a new key, readable; the erased stays erased.
    let later = Person::new("Later");
    let again = app
        .post(
            "/v1/bookings",
            &owner,
            &json!({
                "resource_id": room["id"], "start": day_at(4, 9, 0), "end": day_at(4, 10, 0),
                "customer": later.json(),
            }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["booking"]["customer"], later.json());
    let at = again.body["position"].as_str().unwrap();
    let old = app
        .query(&format!("/v1/bookings/{first}?min_position={at}"), &owner)
        .await;
    assert_eq!(old.body["customer"], gone);
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_personal_data_is_refused_by_field_without_repeating_it() {
    let logs = logs();
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let secret = format!("not-an-email-{}", uuid::Uuid::new_v4().simple());
    let base =
        json!({"resource_id": room["id"], "start": day_at(2, 9, 0), "end": day_at(2, 10, 0)});
    for (customer, field) in [
        (json!({"email": secret}), "customer.email"),
        (json!({"name": "", "email": "a@b.example"}), "customer.name"),
        (json!({"phone": format!("{secret}-call")}), "customer.phone"),
    ] {
        let body = tests::merged(base.clone(), json!({ "customer": customer }));
        let refused = app.post("/v1/bookings", &app.client("carol"), &body).await;
        assert_problem(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(refused.field(), field, "{}", refused.body);
        assert!(!refused.text.contains(&secret), "{}", refused.text);
    }
    let unknown = tests::merged(base.clone(), json!({"customer": {"address": "Main St 1"}}));
    let refused = app
        .post("/v1/bookings", &app.client("carol"), &unknown)
        .await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    // An empty `customer` is no personal data at all.
    let empty = tests::merged(base, json!({"customer": {}}));
    let placed = app.post("/v1/bookings", &app.client("carol"), &empty).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(placed.body["booking"]["customer"], Value::Null);
    assert!(!logs.text().contains(&secret));
    let keys: i64 = sqlx::query_scalar("select count(*) from personal_data_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(keys, 0, "no key is made for no data");
    app.cleanup().await;
}
