//! Tokens end to end through the authentication middleware: HS256 with the shared secret, and
//! RS256/ES256 verified against a JWKS read from a file or fetched from a local HTTP server.
//! Every refusal is `401 unauthenticated`. The keys are test-only fixtures (`fixtures/`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{
    Actor, AuthSettings, AuthState, JwksSettings, JwksSource, TokenError, TokenKeys,
};
use platform::rate_limit::RateLimitSettings;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "tokens-test-secret-of-at-least-32-bytes";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// Claims for tenant `acme`, valid for an hour, with `extra` merged in.
fn claims(extra: Value) -> Value {
    let mut claims =
        json!({"sub": "alice", "tenant": "acme", "roles": ["admin"], "exp": now() + 3600});
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    claims
}

fn rs256(kid: &str, key: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(&pem(key)).expect("RSA key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn es256(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_ec_pem(&pem("ec-1.pem")).expect("EC key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_secret(secret).expect("secret");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn settings(source: JwksSource) -> AuthSettings {
    AuthSettings {
        jwks: JwksSettings {
            source: Some(source),
            refresh: Duration::from_secs(300),
            min_refresh: Duration::from_secs(60),
        },
        ..AuthSettings::with_secret(SECRET).expect("a long secret")
    }
}

/// A router answering `200 {sub}` behind the authentication middleware.
async fn service(settings: &AuthSettings) -> Router {
    let auth = AuthState::start(settings, RateLimitSettings::OFF)
        .await
        .expect("auth starts");
    Router::new()
        .route("/", get(|actor: Actor| async move { actor.id }))
        .route_layer(from_fn_with_state(auth, platform::auth::authenticate))
}

/// Status and problem `code` (or body text) of a request with `token`.
async fn call(router: &Router, token: &str) -> (StatusCode, String) {
    let request = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let code = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|body| body["code"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, code)
}

fn refused() -> (StatusCode, String) {
    (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
}

fn accepted() -> (StatusCode, String) {
    (StatusCode::OK, "alice".to_owned())
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_a_jwks_file_beside_hs256() {
    let router = service(&settings(JwksSource::File(fixture("jwks.json")))).await;
    assert_eq!(
        call(&router, &rs256("rsa-1", "rsa-1.pem", &claims(json!({})))).await,
        accepted()
    );
    assert_eq!(
        call(&router, &es256("ec-1", &claims(json!({})))).await,
        accepted()
    );
    assert_eq!(
        call(&router, &hs256(SECRET.as_bytes(), None, &claims(json!({})))).await,
        accepted()
    );
}

#[tokio::test]
async fn a_wrong_kid_a_wrong_key_or_a_wrong_algorithm_is_401() {
    let router = service(&settings(JwksSource::File(fixture("jwks.json")))).await;
    let claims = claims(json!({}));
    let cases = [
        ("unknown kid", rs256("rsa-9", "rsa-1.pem", &claims)),
        ("no kid", {
            let key = EncodingKey::from_rsa_pem(&pem("rsa-1.pem")).expect("key");
            jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign")
        }),
        (
            "signed by a key not in the set",
            rs256("rsa-1", "rsa-2.pem", &claims),
        ),
        (
            "RS256 naming the EC key",
            rs256("ec-1", "rsa-1.pem", &claims),
        ),
        ("RS384", {
            let mut header = Header::new(Algorithm::RS384);
            header.kid = Some("rsa-1".into());
            let key = EncodingKey::from_rsa_pem(&pem("rsa-1.pem")).expect("key");
            jsonwebtoken::encode(&header, &claims, &key).expect("sign")
        }),
        // A symmetric key published in the JWKS is never a verification key.
        (
            "HS256 with the JWKS's oct key",
            hs256(
                b"a-symmetric-key-that-must-never-be-used",
                Some("hmac-1"),
                &claims,
            ),
        ),
        (
            "HS256 with another secret",
            hs256(b"another-secret-of-at-least-32-bytes!", None, &claims),
        ),
        ("alg none", {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.",
                b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                b64.encode(claims.to_string())
            )
        }),
    ];
    for (case, token) in cases {
        assert_eq!(call(&router, &token).await, refused(), "{case}");
    }
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let strict = AuthSettings {
        issuer: Some("https://idp.test/".into()),
        audience: Some("bookings".into()),
        ..settings(JwksSource::File(fixture("jwks.json")))
    };
    let router = service(&strict).await;
    let token = |extra: Value| rs256("rsa-1", "rsa-1.pem", &claims(extra));
    let good = json!({"iss": "https://idp.test/", "aud": "bookings"});
    assert_eq!(call(&router, &token(good)).await, accepted());
    let listed = json!({"iss": "https://idp.test/", "aud": ["other", "bookings"]});
    assert_eq!(call(&router, &token(listed)).await, accepted());
    for (case, extra) in [
        (
            "wrong issuer",
            json!({"iss": "https://evil.test/", "aud": "bookings"}),
        ),
        ("no issuer", json!({"aud": "bookings"})),
        (
            "wrong audience",
            json!({"iss": "https://idp.test/", "aud": "other"}),
        ),
        ("no audience", json!({"iss": "https://idp.test/"})),
    ] {
        assert_eq!(call(&router, &token(extra)).await, refused(), "{case}");
    }
    // Without configured values, a token's own iss and aud are not judged.
    let lax = service(&settings(JwksSource::File(fixture("jwks.json")))).await;
    let any = json!({"iss": "https://elsewhere.test/", "aud": "someone-else"});
    assert_eq!(call(&lax, &token(any)).await, accepted());
}

#[tokio::test]
async fn exp_and_nbf_have_60_seconds_of_leeway_and_no_more() {
    let router = service(&settings(JwksSource::File(fixture("jwks.json")))).await;
    let token = |extra: Value| es256("ec-1", &claims(extra));
    assert_eq!(
        call(&router, &token(json!({"exp": now() - 30}))).await,
        accepted()
    );
    assert_eq!(
        call(&router, &token(json!({"exp": now() - 90}))).await,
        refused()
    );
    assert_eq!(
        call(&router, &token(json!({"nbf": now() + 30}))).await,
        accepted()
    );
    assert_eq!(
        call(&router, &token(json!({"nbf": now() + 120}))).await,
        refused()
    );
    // The HS256 path follows the same rules.
    let hs = |extra: Value| hs256(SECRET.as_bytes(), None, &claims(extra));
    assert_eq!(
        call(&router, &hs(json!({"exp": now() - 90}))).await,
        refused()
    );
    assert_eq!(
        call(&router, &hs(json!({"nbf": now() + 120}))).await,
        refused()
    );
}

#[tokio::test]
async fn a_remembered_token_still_expires() {
    let keys = TokenKeys::new(SECRET);
    let token = hs256(SECRET.as_bytes(), None, &claims(json!({"exp": now() + 10})));
    let at = Utc::now();
    assert!(keys.verify(&token, at).await.is_ok());
    assert!(keys.verify(&token, at).await.is_ok(), "remembered");
    assert_eq!(
        keys.verify(&token, at + chrono::Duration::seconds(71))
            .await,
        Err(TokenError::Expired)
    );
    // A token differing from the remembered one in its signature only is not taken for it.
    let mut forged = token.clone();
    let last = forged.pop().expect("a character");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(keys.verify(&forged, at).await.is_err());
}

#[tokio::test]
async fn a_jwks_that_cannot_be_read_stops_the_start() {
    let missing = settings(JwksSource::File(fixture("no-such-jwks.json")));
    assert!(
        AuthState::start(&missing, RateLimitSettings::OFF)
            .await
            .is_err()
    );
}

/// A JWKS endpoint on a local port whose document the test can swap; counts its fetches.
struct Provider {
    url: String,
    document: Arc<Mutex<Vec<u8>>>,
    fetches: Arc<AtomicUsize>,
}

async fn provider(initial: &str) -> Provider {
    let document = Arc::new(Mutex::new(
        std::fs::read(fixture(initial)).expect("fixture"),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (document.clone(), fetches.clone());
    let app = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let (served, counted) = (served.clone(), counted.clone());
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                served.lock().expect("lock").clone()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider {
        url,
        document,
        fetches,
    }
}

/// The least time between two fetches of the key set that an unknown `kid` may cause.
const MIN_REFRESH: Duration = Duration::from_millis(500);

#[tokio::test]
async fn a_jwks_over_http_is_fetched_again_for_a_rotated_key_at_a_bounded_rate() {
    let idp = provider("jwks.json").await;
    let settings = AuthSettings {
        jwks: JwksSettings {
            source: Some(JwksSource::Url(idp.url.clone())),
            refresh: Duration::from_secs(300),
            min_refresh: MIN_REFRESH,
        },
        ..AuthSettings::with_secret(SECRET).expect("a long secret")
    };
    let router = service(&settings).await;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "fetched at start");
    let old = rs256("rsa-1", "rsa-1.pem", &claims(json!({})));
    assert_eq!(call(&router, &old).await, accepted());
    assert_eq!(call(&router, &old).await, accepted());
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "known keys are not fetched again"
    );

    // The provider rotates rsa-1 out and rsa-2 in. The first token naming rsa-2 fetches the set
    // (the start was long enough ago), and the withdrawn key stops working at once although a
    // token of it was remembered.
    *idp.document.lock().expect("lock") =
        std::fs::read(fixture("jwks-rotated.json")).expect("fixture");
    tokio::time::sleep(MIN_REFRESH + Duration::from_millis(50)).await;
    let new = rs256("rsa-2", "rsa-2.pem", &claims(json!({})));
    assert_eq!(call(&router, &new).await, accepted());
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(call(&router, &old).await, refused());

    // Made-up kids fetch at most once per min_refresh, however many arrive: however slowly
    // this machine answers them, no more than one fetch per started min_refresh.
    let bogus: Vec<String> = (0..20)
        .map(|i| rs256(&format!("made-up-{i}"), "rsa-1.pem", &claims(json!({}))))
        .collect();
    let started = std::time::Instant::now();
    for token in &bogus {
        assert_eq!(call(&router, token).await, refused());
    }
    let periods = started.elapsed().as_millis() / MIN_REFRESH.as_millis() + 1;
    let fetches = idp.fetches.load(Ordering::SeqCst);
    assert!(
        fetches - 2 <= periods as usize && fetches < 2 + bogus.len(),
        "{fetches} fetches for {} made-up kids in {periods} refresh periods",
        bogus.len()
    );
}

#[tokio::test]
async fn an_identity_provider_down_at_start_does_not_stop_the_service_and_its_tokens_are_401() {
    // Nothing listens on port 1: the first fetch fails, HS256 keeps working.
    let router = service(&settings(JwksSource::Url(
        "https://127.0.0.1:1/.well-known/jwks.json".into(),
    )))
    .await;
    assert_eq!(
        call(&router, &rs256("rsa-1", "rsa-1.pem", &claims(json!({})))).await,
        refused()
    );
    assert_eq!(
        call(&router, &hs256(SECRET.as_bytes(), None, &claims(json!({})))).await,
        accepted()
    );
}
