//! Where tokens come from and how strictly: the HS256 secret, the JWKS of an identity provider,
//! the expected issuer and audience, and development mode. Read once at start.
//!
//! Outside development mode a service refuses to start without a `BOOKINGS_JWT_SECRET` of at
//! least 32 bytes: a guessable secret lets anyone sign an admin token. `BOOKINGS_DEV=true` allows
//! the well-known development secret, but only on a loopback address, and says so loudly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The development secret: public knowledge, so only ever accepted in development mode.
const DEV_SECRET: &str = "dev-secret-change-me";

/// The shortest HS256 secret accepted outside development mode (RFC 7518 §3.2: a key of at least
/// the hash's size).
pub const MIN_SECRET_BYTES: usize = 32;

/// A configuration the service must not start with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The HS256 secret. Its bytes never appear in `Debug` output or logs.
#[derive(Clone)]
pub struct JwtSecret(Arc<[u8]>);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

impl JwtSecret {
    /// A production secret: at least [`MIN_SECRET_BYTES`] bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError(format!(
                "BOOKINGS_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {}); \
                 generate one with `openssl rand -hex 32`",
                secret.len()
            )));
        }
        Ok(Self(Arc::from(secret)))
    }

    /// Any non-empty secret, for development mode.
    fn development(secret: &[u8]) -> Self {
        Self(Arc::from(secret))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// Where the identity provider's public keys are published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// An `http://` or `https://` URL.
    Url(String),
    /// A local file (a path, or a `file://` URL).
    File(std::path::PathBuf),
}

impl JwksSource {
    pub fn parse(raw: &str) -> Self {
        if raw.starts_with("http://") || raw.starts_with("https://") {
            JwksSource::Url(raw.to_owned())
        } else {
            JwksSource::File(raw.strip_prefix("file://").unwrap_or(raw).into())
        }
    }
}

/// The JWKS and how it is kept fresh.
#[derive(Clone, Debug)]
pub struct JwksSettings {
    /// `BOOKINGS_JWKS_URL`.
    pub source: JwksSource,
    /// `BOOKINGS_JWKS_REFRESH_SECS`, default 300: how often the set is fetched again.
    pub refresh: Duration,
    /// `BOOKINGS_JWKS_MIN_REFRESH_SECS`, default 10: a token naming an unknown `kid` fetches the
    /// set again at most this often (a key rotated in is found at once, a flood of made-up kids
    /// costs one fetch per interval).
    pub min_refresh: Duration,
}

/// Everything the token verifier needs.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `BOOKINGS_DEV=true`: development mode.
    pub dev_mode: bool,
    /// `BOOKINGS_JWT_SECRET`: verifies (and, for the `token` subcommand, signs) HS256 tokens.
    pub secret: JwtSecret,
    /// `BOOKINGS_JWKS_URL` and its refresh settings: RS256/ES256 tokens are accepted when set.
    pub jwks: Option<JwksSettings>,
    /// `BOOKINGS_JWT_ISSUER`: when set, every token's `iss` must equal it.
    pub issuer: Option<String>,
    /// `BOOKINGS_JWT_AUDIENCE`: when set, every token's `aud` must contain it.
    pub audience: Option<String>,
}

impl AuthSettings {
    /// HS256 tokens with `secret` only (tests, tools); the secret must be long enough.
    pub fn with_secret(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self {
            dev_mode: false,
            secret: JwtSecret::new(secret)?,
            jwks: None,
            issuer: None,
            audience: None,
        })
    }

    /// Development mode with the development secret, as `BOOKINGS_DEV=true` gives on loopback
    /// (a default for harnesses; services read [`AuthSettings::from_env`]).
    pub fn development() -> Self {
        Self {
            dev_mode: true,
            secret: JwtSecret::development(DEV_SECRET.as_bytes()),
            jwks: None,
            issuer: None,
            audience: None,
        }
    }

    /// Reads the process environment. `listen` is the address the service binds (`None` for a
    /// command that binds nothing, like `token`): development mode refuses anything but
    /// loopback.
    pub fn from_env(listen: Option<SocketAddr>) -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok(), listen)
    }

    /// [`AuthSettings::from_env`] over any lookup, so the rules are testable without touching the
    /// process environment.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        listen: Option<SocketAddr>,
    ) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|value| !value.is_empty());
        let dev_mode = match set("BOOKINGS_DEV").as_deref() {
            None | Some("0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "BOOKINGS_DEV must be true or false, not {other:?}"
                )));
            }
        };
        let secret = match (set("BOOKINGS_JWT_SECRET"), dev_mode) {
            (Some(secret), false) => JwtSecret::new(secret)?,
            (None, false) => {
                return Err(ConfigError(format!(
                    "BOOKINGS_JWT_SECRET is not set: set it to at least {MIN_SECRET_BYTES} random \
                     bytes (`openssl rand -hex 32`), or set BOOKINGS_DEV=true on a developer \
                     machine"
                )));
            }
            (Some(secret), true) => {
                if secret.len() < MIN_SECRET_BYTES {
                    tracing::warn!(
                        "BOOKINGS_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes; accepted only because BOOKINGS_DEV=true"
                    );
                }
                JwtSecret::development(secret.as_bytes())
            }
            (None, true) => {
                tracing::warn!(
                    "BOOKINGS_JWT_SECRET is not set: using the PUBLICLY KNOWN development secret; anyone can sign tokens"
                );
                JwtSecret::development(DEV_SECRET.as_bytes())
            }
        };
        if dev_mode {
            if let Some(addr) = listen.filter(|addr| !addr.ip().is_loopback()) {
                return Err(ConfigError(format!(
                    "BOOKINGS_DEV=true is for a developer machine: listen on a loopback address \
                     (127.0.0.1 or [::1]), not {addr}"
                )));
            }
            tracing::warn!(
                "DEVELOPMENT MODE (BOOKINGS_DEV=true): relaxed token rules, loopback only; never run this in production"
            );
        }
        let seconds = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            match set(name) {
                None => Ok(Duration::from_secs(default)),
                Some(value) => value.parse().map(Duration::from_secs).map_err(|_| {
                    ConfigError(format!("{name} must be a number of seconds, not {value:?}"))
                }),
            }
        };
        let jwks = match set("BOOKINGS_JWKS_URL") {
            None => None,
            Some(raw) => Some(JwksSettings {
                source: JwksSource::parse(&raw),
                refresh: seconds("BOOKINGS_JWKS_REFRESH_SECS", 300)?.max(Duration::from_secs(1)),
                min_refresh: seconds("BOOKINGS_JWKS_MIN_REFRESH_SECS", 10)?,
            }),
        };
        Ok(Self {
            dev_mode,
            secret,
            jwks,
            issuer: set("BOOKINGS_JWT_ISSUER"),
            audience: set("BOOKINGS_JWT_AUDIENCE"),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)], listen: &str) -> Result<AuthSettings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AuthSettings::from_vars(
            |name| vars.get(name).cloned(),
            Some(listen.parse().expect("an address")),
        )
    }

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn without_a_secret_or_development_mode_nothing_starts() {
        let err = settings(&[], "127.0.0.1:8080").unwrap_err();
        assert!(err.0.contains("BOOKINGS_JWT_SECRET is not set"), "{err}");
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused_outside_development_mode() {
        let err = settings(&[("BOOKINGS_JWT_SECRET", &LONG[..31])], "127.0.0.1:8080").unwrap_err();
        assert!(err.0.contains("at least 32 bytes"), "{err}");
        assert!(settings(&[("BOOKINGS_JWT_SECRET", LONG)], "0.0.0.0:8080").is_ok());
    }

    #[test]
    fn development_mode_uses_the_dev_secret_on_loopback_only() {
        let dev = settings(&[("BOOKINGS_DEV", "true")], "127.0.0.1:8080").expect("loopback");
        assert!(dev.dev_mode);
        assert_eq!(dev.secret.expose(), DEV_SECRET.as_bytes());
        assert!(settings(&[("BOOKINGS_DEV", "true")], "[::1]:8080").is_ok());
        for public in ["0.0.0.0:8080", "[::]:8080", "192.0.2.10:8080"] {
            let err = settings(&[("BOOKINGS_DEV", "true")], public).unwrap_err();
            assert!(err.0.contains("loopback"), "{public}: {err}");
        }
        // Even with a proper secret, development mode stays on loopback.
        assert!(
            settings(
                &[("BOOKINGS_DEV", "true"), ("BOOKINGS_JWT_SECRET", LONG)],
                "0.0.0.0:8080"
            )
            .is_err()
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let settings = settings(&[("BOOKINGS_JWT_SECRET", LONG)], "127.0.0.1:8080").expect("ok");
        let shown = format!("{settings:?}");
        assert!(!shown.contains(LONG), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn jwks_issuer_and_audience_are_read_when_set() {
        let settings = settings(
            &[
                ("BOOKINGS_JWT_SECRET", LONG),
                ("BOOKINGS_JWKS_URL", "https://idp.example/jwks.json"),
                ("BOOKINGS_JWT_ISSUER", "https://idp.example/"),
                ("BOOKINGS_JWT_AUDIENCE", "bookings"),
            ],
            "127.0.0.1:8080",
        )
        .expect("ok");
        let jwks = settings.jwks.expect("a JWKS");
        assert_eq!(
            jwks.source,
            JwksSource::Url("https://idp.example/jwks.json".into())
        );
        assert_eq!(jwks.refresh, Duration::from_secs(300));
        assert_eq!(settings.issuer.as_deref(), Some("https://idp.example/"));
        assert_eq!(settings.audience.as_deref(), Some("bookings"));
        assert_eq!(
            JwksSource::parse("file:///etc/jwks.json"),
            JwksSource::File("/etc/jwks.json".into())
        );
    }
}
