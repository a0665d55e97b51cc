//! Bearer-token authentication: HS256 JWTs with `sub`, `tenant`, `roles` and `exp`.
//!
//! Only HS256 is accepted (the header's `alg` is checked, so `none` or an asymmetric algorithm
//! can never be smuggled in), and the signature is compared in constant time by `hmac`.
//! The middleware [`authenticate`] verifies the token, applies the per-token rate limit and puts
//! the [`Actor`] into the request's extensions, where handlers take it with the `Actor` extractor.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::problem::Problem;
use crate::rate_limit::{Decision, RateLimiter};

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages resources and any booking of its tenant.
    Admin,
    /// Books, confirms, cancels and reschedules its own bookings.
    Client,
    /// Reads everything of its tenant.
    Viewer,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "client" => Ok(Role::Client),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?} (admin, client or viewer)")),
        }
    }
}

/// The claims of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub exp: i64,
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub tenant: String,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// `403 forbidden` unless the actor has one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.iter().any(|role| self.has(*role)) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this needs one of the roles {}",
                roles
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Why a token was refused. Shown to the client as the detail of a `401`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("only HS256 tokens are accepted")]
    UnsupportedAlgorithm,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(&'static str),
}

/// Signs and verifies HS256 tokens with the shared secret (`BOOKINGS_JWT_SECRET`).
///
/// A client sends the same token with every request, and checking its signature is the largest
/// cost of a cached read (HMAC-SHA256 plus base64 and JSON: about a third of its instructions).
/// So tokens that verified are remembered by their exact text (signature included, so only a
/// token this secret signed can match) with their claims; the expiry is still checked on every
/// request. Bounded in count and idle time.
#[derive(Clone)]
pub struct TokenKeys {
    secret: Arc<[u8]>,
    verified: moka::sync::Cache<String, Claims>,
}

/// How many verified tokens are remembered (a few hundred bytes each).
const VERIFIED_TOKENS: u64 = 10_000;
/// A remembered token unused this long is forgotten.
const VERIFIED_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

impl TokenKeys {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: Arc::from(secret.as_ref()),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS)
                .time_to_idle(VERIFIED_IDLE)
                .build(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        #[expect(clippy::expect_used, reason = "HMAC takes keys of any length")]
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts any key length")
    }

    /// A signed token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_else(|_| b"{}".to_vec()));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            return if claims.exp <= now.timestamp() {
                Err(TokenError::Expired)
            } else {
                Ok(claims)
            };
        }
        let claims = self.verify_signed(token, now)?;
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// [`TokenKeys::verify`] without the memory of verified tokens.
    fn verify_signed(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_part(header)?;
        if header.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&token.as_bytes()[..header_and_payload_len(token)]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = decode_part(payload)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        if claims.sub.is_empty()
            || claims.sub.len() > 255
            || claims.sub.chars().any(char::is_control)
        {
            return Err(TokenError::InvalidClaims(
                "sub must be 1 to 255 characters, none of them control characters",
            ));
        }
        if !valid_tenant(&claims.tenant) {
            return Err(TokenError::InvalidClaims(
                "tenant must be 1 to 64 characters of a-z, A-Z, 0-9, _ or -",
            ));
        }
        Ok(claims)
    }
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// Tenant ids become part of NATS subjects and cache keys, so they are kept to a safe alphabet.
pub fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What the authentication middleware needs.
#[derive(Clone, Debug)]
pub struct AuthState {
    pub keys: TokenKeys,
    pub limiter: RateLimiter,
}

/// Middleware: verifies the bearer token, applies the per-token rate limit, and stores the
/// [`Actor`] for the handler. Rate-limit headers are added to every answer.
pub async fn authenticate(
    State(auth): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = match bearer_token(request.headers()) {
        Ok(token) => token,
        Err(problem) => return problem.into_response(),
    };
    let claims = match auth.keys.verify(token, Utc::now()) {
        Ok(claims) => claims,
        Err(err) => return Problem::unauthenticated(err.to_string()).into_response(),
    };
    let decision = auth
        .limiter
        .check(&format!("{}\u{0}{}", claims.tenant, claims.sub));
    if let Decision::Denied { .. } = decision {
        return decision.apply(
            Problem::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                "this token has used its request budget; retry after the given delay",
            )
            .into_response(),
        );
    }
    request.extensions_mut().insert(Actor {
        id: claims.sub,
        tenant: claims.tenant,
        roles: claims.roles,
    });
    decision.apply(next.run(request).await)
}

fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, Problem> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| Problem::unauthenticated("an Authorization: Bearer token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| Problem::unauthenticated("the Authorization header is not readable"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            Problem::unauthenticated("the Authorization header must be `Bearer <token>`")
        })
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| Problem::unauthenticated("an Authorization: Bearer token is required"))
    }
}

/// The `token` subcommand every binary offers: `--tenant T --role R [--role R2] [--sub S]
/// [--hours H]` → a signed token for local use.
pub fn token_from_args(args: &[String], secret: &str) -> Result<String, String> {
    let mut tenant = None;
    let mut roles = Vec::new();
    let mut sub = None;
    let mut hours: i64 = 24;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        match flag.as_str() {
            "--tenant" => tenant = Some(value),
            "--role" => roles.push(value.parse::<Role>()?),
            "--sub" => sub = Some(value),
            "--hours" => hours = value.parse().map_err(|_| "--hours must be a number")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let tenant = tenant.ok_or("--tenant is required")?;
    if !valid_tenant(&tenant) {
        return Err("--tenant must be 1 to 64 characters of a-z, A-Z, 0-9, _ or -".into());
    }
    if roles.is_empty() {
        return Err("at least one --role (admin, client, viewer) is required".into());
    }
    let claims = Claims {
        sub: sub
            .unwrap_or_else(|| format!("{tenant}-{}", format!("{:?}", roles[0]).to_lowercase())),
        tenant,
        roles,
        exp: Utc::now().timestamp() + hours * 3600,
    };
    Ok(TokenKeys::new(secret).sign(&claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            tenant: "acme".into(),
            roles: vec![Role::Client],
            exp,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_returns_its_claims() {
        let keys = TokenKeys::new("secret");
        let now = Utc::now();
        let token = keys.sign(&claims(now.timestamp() + 60));
        assert_eq!(keys.verify(&token, now), Ok(claims(now.timestamp() + 60)));
    }

    #[test]
    fn a_remembered_token_still_expires_and_another_secret_does_not_share_the_memory() {
        let keys = TokenKeys::new("secret");
        let now = Utc::now();
        let token = keys.sign(&claims(now.timestamp() + 60));
        assert!(keys.verify(&token, now).is_ok());
        // Verified once and remembered: the expiry is still checked.
        assert_eq!(
            keys.verify(&token, now + chrono::Duration::seconds(61)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            TokenKeys::new("other").verify(&token, now),
            Err(TokenError::BadSignature)
        );
        // A token differing in its signature only is not taken for the remembered one.
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&forged, now).is_err());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let now = Utc::now();
        let token = TokenKeys::new("other").sign(&claims(now.timestamp() + 60));
        assert_eq!(
            TokenKeys::new("secret").verify(&token, now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new("secret");
        let now = Utc::now();
        let token = keys.sign(&claims(now.timestamp() - 1));
        assert_eq!(keys.verify(&token, now), Err(TokenError::Expired));
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let now = Utc::now();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(now.timestamp() + 60)).expect("claims serialize"));
        let token = format!("{header}.{payload}.");
        assert_eq!(
            TokenKeys::new("secret").verify(&token, now),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let keys = TokenKeys::new("secret");
        let now = Utc::now();
        let token = keys.sign(&claims(now.timestamp() + 60));
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(now.timestamp() + 60);
        forged.roles = vec![Role::Admin];
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("serialize"));
        parts[1] = &forged;
        assert_eq!(
            keys.verify(&parts.join("."), now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tenants_outside_the_safe_alphabet_are_refused() {
        assert!(valid_tenant("acme-eu_1"));
        assert!(!valid_tenant("acme.eu"));
        assert!(!valid_tenant(""));
        assert!(!valid_tenant("a b"));
    }
}
