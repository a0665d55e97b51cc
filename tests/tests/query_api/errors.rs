//! Every refusal is problem+json with a `code`; bad input is never a 500.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use platform::auth::Role;
use serde_json::json;
use uuid::Uuid;

use tests::{QueryApp, monday_after, sign};

#[tokio::test]
async fn bad_availability_parameters_are_refused_with_their_codes_and_fields() {
    let app = QueryApp::spawn().await;
    let resource = app.resource(json!({})).await;
    let day = monday_after(8);
    let base = format!("/v1/resources/{resource}/availability");
    let cases = [
        (
            format!("from={day}&to={}", day + Duration::days(62)),
            "window_too_large",
            "",
        ),
        (
            format!(
                "from={day}T00:00:00Z&to={}T00:00:01Z",
                day + Duration::days(62)
            ),
            "window_too_large",
            "",
        ),
        (
            format!("from={day}T10:00:00Z&to={day}T10:00:00Z"),
            "invalid_period",
            "",
        ),
        (
            format!("from={}&to={day}", day + Duration::days(1)),
            "invalid_period",
            "",
        ),
        (format!("to={day}"), "validation_failed", "from"),
        (format!("from=monday&to={day}"), "validation_failed", "from"),
        (
            format!("from={day}&to=2026-02-30"),
            "validation_failed",
            "to",
        ),
        (
            format!("from={day}&to={day}&duration_minutes=abc"),
            "validation_failed",
            "duration_minutes",
        ),
        (
            format!("from={day}&to={day}&duration_minutes=0"),
            "validation_failed",
            "duration_minutes",
        ),
        (
            format!("from={day}&to={day}&duration_minutes=30&quantity=0"),
            "validation_failed",
            "quantity",
        ),
        (
            format!("from={day}&to={day}&form={day}"),
            "validation_failed",
            "form",
        ),
        (
            format!("from={day}&from={day}&to={day}"),
            "validation_failed",
            "from",
        ),
    ];
    for (query, code, field) in cases {
        let reply = app.get_as_admin(&format!("{base}?{query}")).await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.body);
        assert_eq!(reply.code(), code, "{query}");
        assert_eq!(reply.field(), field, "{query}");
        assert_eq!(reply.header("content-type"), "application/problem+json");
    }
    // Exactly 62 local days is allowed.
    let reply = app
        .get_as_admin(&format!(
            "{base}?from={day}&to={}",
            day + Duration::days(61)
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn lists_refuse_bad_limits_cursors_and_filters() {
    let app = QueryApp::spawn().await;
    for (path, field) in [
        ("/v1/resources?limit=501", "limit"),
        ("/v1/resources?limit=0", "limit"),
        ("/v1/bookings?limit=1000", "limit"),
        ("/v1/bookings?status=booked", "status"),
        ("/v1/bookings?resource_id=42", "resource_id"),
        ("/v1/bookings?from=later", "from"),
        ("/v1/bookings?resouce_id=42", "resouce_id"),
    ] {
        let reply = app.get_as_admin(path).await;
        assert_eq!(reply.status, 422, "{path}: {}", reply.body);
        assert_eq!(reply.code(), "validation_failed", "{path}");
        assert_eq!(reply.field(), field, "{path}");
    }
    let reply = app.get_as_admin("/v1/resources?cursor=nonsense").await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.code(), "invalid_cursor");
    assert_eq!(reply.field(), "cursor");
    // A cursor from one list is not a cursor of another.
    let resource = app.resource(json!({})).await;
    app.resource(json!({})).await;
    let page = app.get_as_admin("/v1/resources?limit=1").await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let reply = app
        .get_as_admin(&format!("/v1/bookings?cursor={cursor}"))
        .await;
    assert_eq!(reply.code(), "invalid_cursor");
    assert_eq!(reply.field(), "cursor");
    let reply = app
        .get_as_admin(&format!("/v1/resources/{resource}x"))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "resource_not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_and_without_a_role_403() {
    let app = QueryApp::spawn().await;
    let none = app.get("/v1/resources", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.code(), "unauthenticated");
    let expired = sign("acme", "alice", &[Role::Client], 1);
    assert_eq!(app.get("/v1/bookings", Some(&expired)).await.status, 401);
    let garbage = app.get("/v1/bookings", Some("not-a-token")).await;
    assert_eq!(garbage.status, 401);
    assert_eq!(garbage.header("content-type"), "application/problem+json");
    let roleless = app.token("acme", "nobody", &[]);
    let reply = app.get("/v1/resources", Some(&roleless)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), "forbidden");
    let unknown = app.get_as_admin("/v1/nothing").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.code(), "not_found");
    app.cleanup().await;
}

/// A small deterministic generator (xorshift64*), so a failing case can be found again.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = 1 + self.next() % max;
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

fn percent_encoded(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn crafted_cursors_are_422_invalid_cursor_never_a_500() {
    let app = QueryApp::spawn().await;
    let mut noise = Noise(0x5eed_cafe_f00d_0001);
    let id = Uuid::new_v4();
    // Never a cursor of either list.
    let mut bad: Vec<String> = vec![
        URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", i64::MAX)),
        URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", i64::MIN)),
        // Within chrono's range but before the year 0 (and PostgreSQL's 4713 BC).
        URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", -8_000_000_000_000_000_000_i64)),
        // After the year 9999, and after PostgreSQL's 294276 AD.
        URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", 8_000_000_000_000_000_000_i64)),
        URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", "9".repeat(40))),
        URL_SAFE_NO_PAD.encode(format!("b:1:{id}:extra")),
        URL_SAFE_NO_PAD.encode("b::"),
        URL_SAFE_NO_PAD.encode("r:"),
        URL_SAFE_NO_PAD.encode(format!("r:{id}x")),
        URL_SAFE_NO_PAD.encode("b:1:r:2"),
        "A".repeat(10_000),
        "%00".to_owned(),
        "====".to_owned(),
    ];
    for _ in 0..60 {
        bad.push(percent_encoded(&noise.bytes(200)));
        bad.push(URL_SAFE_NO_PAD.encode(noise.bytes(120)));
        let prefix = if noise.next().is_multiple_of(2) {
            "b:"
        } else {
            "r:"
        };
        let mut garbage = prefix.as_bytes().to_vec();
        garbage.extend(noise.bytes(60));
        bad.push(URL_SAFE_NO_PAD.encode(garbage));
    }
    let token = app.admin();
    for cursor in &bad {
        for list in ["/v1/bookings", "/v1/resources"] {
            let reply = app
                .get(&format!("{list}?cursor={cursor}"), Some(&token))
                .await;
            let shown: String = cursor.chars().take(80).collect();
            assert_eq!(reply.status, 422, "{list} {shown}: {}", reply.body);
            // U+0000 is refused in any parameter, before the cursor is read.
            let code = if cursor.contains("%00") {
                "validation_failed"
            } else {
                "invalid_cursor"
            };
            assert_eq!(reply.code(), code, "{list} {shown}");
            assert_eq!(reply.field(), "cursor", "{list} {shown}");
        }
    }
    // A well-formed key that this API never handed out is just a position in the list.
    let early = URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", -62_000_000_000_000_000_i64));
    let reply = app
        .get(&format!("/v1/bookings?cursor={early}"), Some(&token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}
