//! Token verification: HS256 with the shared secret, RS256/ES256 against the identity provider's
//! JWKS, with the issuer, audience and time checks, and a memory of tokens already verified.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;

use super::jwks::Jwks;
use super::settings::{AuthSettings, ConfigError};
use domain::ids::TenantId;

use super::{Claims, Role};

/// Clock skew tolerated on `exp` and `nbf` (API.md v1.1).
pub const LEEWAY_SECONDS: i64 = 60;

/// How many verified tokens are remembered (a few hundred bytes each).
const VERIFIED_TOKENS: u64 = 10_000;
/// A remembered token unused this long is forgotten.
const VERIFIED_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// Why a token was refused. Shown to the client as the detail of a `401`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted here")]
    UnsupportedAlgorithm,
    #[error("the token names a key (kid) this service does not know")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(&'static str),
}

/// The claims as a token carries them; `nbf` is checked once and not kept.
#[derive(Deserialize)]
struct TokenClaims {
    sub: String,
    tenant: String,
    #[serde(default)]
    roles: Vec<Role>,
    exp: i64,
    nbf: Option<i64>,
}

/// Verifies tokens (and signs HS256 ones for tests and the `token` subcommand).
///
/// A client sends the same token with every request, and checking its signature is the largest
/// cost of a cached read (for HS256 about a third of its instructions, far more for RS256). So
/// tokens that verified are remembered by their exact text (signature included, so only a token
/// one of our keys signed can match) with their claims; the expiry is still checked on every
/// request. Bounded in count and idle time, and forgotten whenever the JWKS changes, so a key the
/// identity provider withdraws stops working at once.
#[derive(Clone)]
pub struct TokenKeys {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    encoding: Option<EncodingKey>,
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    /// One per accepted algorithm, with the issuer and audience rules.
    validations: Vec<(Algorithm, Validation)>,
    verified: moka::sync::Cache<String, Claims>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// HS256 with `secret` only, whatever its length: for tests and tools. Services use
    /// [`TokenKeys::from_settings`], which enforces the rules on the secret.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self::build(secret.as_ref(), None, None, None)
    }

    /// The verifier the settings describe; loads the JWKS once if one is configured.
    pub async fn from_settings(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let jwks = match settings.jwks.source() {
            Some(source) => Some(Jwks::load(source, settings.jwks.min_refresh).await?),
            None => None,
        };
        Ok(Self::build(
            settings.signing.secret()?.expose(),
            jwks,
            settings.issuer(),
            settings.audience(),
        ))
    }

    fn build(
        secret: &[u8],
        jwks: Option<Jwks>,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Self {
        let mut algorithms = vec![Algorithm::HS256];
        if jwks.is_some() {
            algorithms.extend([Algorithm::RS256, Algorithm::ES256]);
        }
        let validations = algorithms
            .into_iter()
            .map(|alg| {
                let mut validation = Validation::new(alg);
                // Time is checked here, against the caller's clock, for fresh and remembered
                // tokens alike (see `check_time`).
                validation.validate_exp = false;
                validation.validate_nbf = false;
                validation.set_required_spec_claims(&["exp"]);
                if let Some(issuer) = issuer {
                    validation.set_issuer(&[issuer]);
                    validation.required_spec_claims.insert("iss".to_owned());
                }
                match audience {
                    Some(audience) => {
                        validation.set_audience(&[audience]);
                        validation.required_spec_claims.insert("aud".to_owned());
                    }
                    // Without a configured audience, a token's `aud` is not ours to judge.
                    None => validation.validate_aud = false,
                }
                (alg, validation)
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                // Both refuse only an empty secret, which then signs and verifies nothing.
                encoding: EncodingKey::from_secret(secret).ok(),
                hs256: DecodingKey::from_secret(secret).ok(),
                jwks,
                validations,
                verified: moka::sync::Cache::builder()
                    .max_capacity(VERIFIED_TOKENS)
                    .time_to_idle(VERIFIED_IDLE)
                    .build(),
            }),
        }
    }

    /// An HS256 token for `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let key = self
            .inner
            .encoding
            .as_ref()
            .ok_or(TokenError::UnsupportedAlgorithm)?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key)
            .map_err(|_| TokenError::Malformed)
    }

    /// The claims of a valid token at `now`.
    pub async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if let Some(claims) = self.inner.verified.get(token) {
            check_time(claims.exp, None, now)?;
            return Ok(claims);
        }
        let claims = self.verify_signed(token, now).await?;
        self.inner.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// Fetches the JWKS again (the periodic refresh); forgets remembered tokens if it changed.
    pub async fn refresh_jwks(&self) {
        if let Some(jwks) = &self.inner.jwks {
            match jwks.refresh(false).await {
                Ok(true) => self.inner.verified.invalidate_all(),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "the JWKS could not be refreshed; keeping the keys we have")
                }
            }
        }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| Self { inner })
    }

    /// [`TokenKeys::verify`] without the memory of verified tokens.
    async fn verify_signed(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|err| match err.kind() {
            ErrorKind::InvalidAlgorithmName => TokenError::UnsupportedAlgorithm,
            _ => TokenError::Malformed,
        })?;
        let validation = self
            .inner
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .map(|(_, validation)| validation)
            .ok_or(TokenError::UnsupportedAlgorithm)?;
        let jwk;
        let key = if header.alg == Algorithm::HS256 {
            self.inner
                .hs256
                .as_ref()
                .ok_or(TokenError::UnsupportedAlgorithm)?
        } else {
            jwk = self.jwk(header.kid.as_deref(), header.alg).await?;
            &jwk
        };
        let data =
            jsonwebtoken::decode::<TokenClaims>(token, key, validation).map_err(|err| match err
                .kind()
            {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidAlgorithm => TokenError::UnsupportedAlgorithm,
                ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                    "iss" => TokenError::WrongIssuer,
                    "aud" => TokenError::WrongAudience,
                    _ => TokenError::InvalidClaims("exp is required"),
                },
                _ => TokenError::Malformed,
            })?;
        let claims = data.claims;
        check_time(claims.exp, claims.nbf, now)?;
        if claims.sub.is_empty()
            || claims.sub.len() > 255
            || claims.sub.chars().any(char::is_control)
        {
            return Err(TokenError::InvalidClaims(
                "sub must be 1 to 255 characters, none of them control characters",
            ));
        }
        let tenant = TenantId::parse(claims.tenant).map_err(|_| {
            TokenError::InvalidClaims("tenant must be 1 to 64 characters of a-z, A-Z, 0-9, _ or -")
        })?;
        Ok(Claims {
            sub: claims.sub,
            tenant,
            roles: claims.roles,
            exp: claims.exp,
        })
    }

    /// The JWKS key `kid` for `alg`; an unknown kid fetches the set again (rate-limited).
    async fn jwk(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, TokenError> {
        let jwks = self
            .inner
            .jwks
            .as_ref()
            .ok_or(TokenError::UnsupportedAlgorithm)?;
        let kid = kid.ok_or(TokenError::UnknownKey)?;
        let key = match jwks.get(kid) {
            Some(key) => key,
            None => {
                match jwks.refresh(true).await {
                    Ok(true) => self.inner.verified.invalidate_all(),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "the JWKS could not be fetched for an unknown kid")
                    }
                }
                jwks.get(kid).ok_or(TokenError::UnknownKey)?
            }
        };
        // The key decides the algorithm, never the token alone.
        if key.alg != alg {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        Ok(key.key)
    }
}

/// `exp` and `nbf` with [`LEEWAY_SECONDS`] of clock skew either way.
fn check_time(exp: i64, nbf: Option<i64>, now: DateTime<Utc>) -> Result<(), TokenError> {
    let now = now.timestamp();
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECONDS)) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}
