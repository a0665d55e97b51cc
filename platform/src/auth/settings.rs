//! Where tokens come from and how strictly: the HS256 secret, the JWKS of an identity provider,
//! the expected issuer and audience, and development mode. Read once at start.
//!
//! Outside development mode a service refuses to start without a `BOOKINGS_JWT_SECRET` of at
//! least 32 bytes: a guessable secret lets anyone sign an admin token. `BOOKINGS_DEV=true` allows
//! the well-known development secret, but only on a loopback address, and says so loudly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

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

    /// Any secret, unchecked: the development secret, or what the command line gives (the
    /// rules apply when it is used, see [`SigningSettings::secret`]).
    fn development(secret: &[u8]) -> Self {
        Self(Arc::from(secret))
    }

    fn given(value: &str) -> Result<Self, String> {
        Ok(Self::development(value.as_bytes()))
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

    fn given(raw: &str) -> Result<Self, String> {
        Ok(Self::parse(raw))
    }
}

/// The HS256 secret and development mode: what the services verify tokens with, and what the
/// `token` command signs with.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Tokens")]
pub struct SigningSettings {
    /// Development mode: the publicly known development secret when none is set, loopback
    /// addresses only, a warning in the log. Never on a server
    #[arg(
        id = "bookings_dev",
        long = "dev",
        env = "BOOKINGS_DEV",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = development_mode
    )]
    pub dev_mode: bool,
    /// The HS256 secret tokens are signed with: 32+ bytes (`openssl rand -hex 32`); required
    /// unless in development mode
    #[arg(
        id = "bookings_jwt_secret",
        long = "jwt-secret",
        env = "BOOKINGS_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        value_parser = JwtSecret::given
    )]
    pub secret: Option<JwtSecret>,
}

/// `BOOKINGS_DEV`: a switch, where an empty value means off.
fn development_mode(value: &str) -> Result<bool, String> {
    if value.is_empty() {
        Ok(false)
    } else {
        crate::settings::boolean(value)
    }
}

impl SigningSettings {
    /// The secret to sign and verify with, under the rules: outside development mode one of at
    /// least [`MIN_SECRET_BYTES`] bytes must be set; in development mode any secret, or the
    /// development secret when none is set. An empty secret counts as none.
    pub fn secret(&self) -> Result<JwtSecret, ConfigError> {
        let given = self.secret.as_ref().filter(|secret| !secret.0.is_empty());
        match (given, self.dev_mode) {
            (Some(secret), false) => JwtSecret::new(secret.expose()),
            (None, false) => Err(ConfigError(format!(
                "BOOKINGS_JWT_SECRET is not set: set it to at least {MIN_SECRET_BYTES} random \
                 bytes (`openssl rand -hex 32`), or set BOOKINGS_DEV=true on a developer machine"
            ))),
            (Some(secret), true) => Ok(secret.clone()),
            (None, true) => Ok(JwtSecret::development(DEV_SECRET.as_bytes())),
        }
    }
}

/// The JWKS and how it is kept fresh.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Tokens")]
pub struct JwksSettings {
    /// An identity provider's JWKS (an `http(s)` URL or a file path): RS256/ES256 tokens are
    /// accepted from the keys published there
    #[arg(
        id = "bookings_jwks_url",
        long = "jwks-url",
        env = "BOOKINGS_JWKS_URL",
        value_name = "URL_OR_FILE",
        value_parser = JwksSource::given
    )]
    pub source: Option<JwksSource>,
    /// How often the JWKS is fetched again, in seconds
    #[arg(
        id = "bookings_jwks_refresh_secs",
        long = "jwks-refresh-secs",
        env = "BOOKINGS_JWKS_REFRESH_SECS",
        value_name = "SECS",
        default_value = "300",
        value_parser = crate::settings::seconds
    )]
    pub refresh: Duration,
    /// How often at most a token naming an unknown `kid` fetches the JWKS again, in seconds (a
    /// key rotated in is found at once, a flood of made-up kids costs one fetch per interval)
    #[arg(
        id = "bookings_jwks_min_refresh_secs",
        long = "jwks-min-refresh-secs",
        env = "BOOKINGS_JWKS_MIN_REFRESH_SECS",
        value_name = "SECS",
        default_value = "10",
        value_parser = crate::settings::seconds
    )]
    pub min_refresh: Duration,
}

impl JwksSettings {
    /// Where the keys are, if anywhere (an empty `BOOKINGS_JWKS_URL` counts as unset).
    pub fn source(&self) -> Option<&JwksSource> {
        self.source.as_ref().filter(|source| match source {
            JwksSource::Url(url) => !url.is_empty(),
            JwksSource::File(path) => !path.as_os_str().is_empty(),
        })
    }

    /// How often the set is fetched again; at least a second.
    pub fn refresh(&self) -> Duration {
        self.refresh.max(Duration::from_secs(1))
    }
}

impl Default for JwksSettings {
    fn default() -> Self {
        crate::settings::defaults()
    }
}

/// Everything the token verifier needs.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Tokens")]
pub struct AuthSettings {
    #[command(flatten)]
    pub signing: SigningSettings,
    #[command(flatten)]
    pub jwks: JwksSettings,
    /// When set, every token's `iss` must equal it
    #[arg(
        id = "bookings_jwt_issuer",
        value_name = "ISSUER",
        long = "jwt-issuer",
        env = "BOOKINGS_JWT_ISSUER"
    )]
    pub issuer: Option<String>,
    /// When set, every token's `aud` must contain it
    #[arg(
        id = "bookings_jwt_audience",
        value_name = "AUDIENCE",
        long = "jwt-audience",
        env = "BOOKINGS_JWT_AUDIENCE"
    )]
    pub audience: Option<String>,
}

impl AuthSettings {
    /// HS256 tokens with `secret` only (tests, tools); the secret must be long enough.
    pub fn with_secret(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Ok(Self {
            signing: SigningSettings {
                dev_mode: false,
                secret: Some(JwtSecret::new(secret)?),
            },
            ..Self::development()
        })
    }

    /// Development mode with the development secret, as `BOOKINGS_DEV=true` gives on loopback.
    pub fn development() -> Self {
        Self {
            signing: SigningSettings {
                dev_mode: true,
                secret: None,
            },
            jwks: JwksSettings::default(),
            issuer: None,
            audience: None,
        }
    }

    /// Applies the rules for a service that listens on `listen`, before it connects to
    /// anything: a usable secret (see [`SigningSettings::secret`]), and development mode on
    /// loopback addresses only. Development mode is announced in the log.
    pub fn check(&self, listen: SocketAddr) -> Result<(), ConfigError> {
        self.signing.secret()?;
        if self.signing.dev_mode {
            if !listen.ip().is_loopback() {
                return Err(ConfigError(format!(
                    "BOOKINGS_DEV=true is for a developer machine: listen on a loopback address \
                     (127.0.0.1 or [::1]), not {listen}"
                )));
            }
            match self.signing.secret.as_ref().filter(|s| !s.0.is_empty()) {
                None => tracing::warn!(
                    "BOOKINGS_JWT_SECRET is not set: using the PUBLICLY KNOWN development secret; anyone can sign tokens"
                ),
                Some(secret) if secret.0.len() < MIN_SECRET_BYTES => tracing::warn!(
                    "BOOKINGS_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes; accepted only because BOOKINGS_DEV=true"
                ),
                Some(_) => {}
            }
            tracing::warn!(
                "DEVELOPMENT MODE (BOOKINGS_DEV=true): relaxed token rules, loopback only; never run this in production"
            );
        }
        Ok(())
    }

    /// The issuer to require, if any (empty counts as unset).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref().filter(|issuer| !issuer.is_empty())
    }

    /// The audience to require, if any (empty counts as unset).
    pub fn audience(&self) -> Option<&str> {
        self.audience
            .as_deref()
            .filter(|audience| !audience.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use clap::FromArgMatches;

    use super::*;

    /// The settings the variables `vars` give (passed as the flags that read them, so the
    /// process environment stays untouched), checked for a service listening on `listen`.
    fn settings(vars: &[(&str, &str)], listen: &str) -> Result<AuthSettings, ConfigError> {
        let command = AuthSettings::augment_args(clap::Command::new("test")).no_binary_name(true);
        let args: Vec<String> = vars
            .iter()
            .map(|(name, value)| {
                let arg = command
                    .get_arguments()
                    .find(|arg| arg.get_env() == Some(OsStr::new(name)))
                    .unwrap_or_else(|| panic!("no setting reads {name}"));
                format!("--{}={value}", arg.get_long().expect("a flag"))
            })
            .collect();
        let matches = command
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(args)
            .map_err(|err| ConfigError(err.to_string()))?;
        let settings =
            AuthSettings::from_arg_matches(&matches).map_err(|err| ConfigError(err.to_string()))?;
        settings.check(listen.parse().expect("an address"))?;
        Ok(settings)
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
        assert!(dev.signing.dev_mode);
        assert_eq!(
            dev.signing.secret().expect("a secret").expose(),
            DEV_SECRET.as_bytes()
        );
        assert!(
            !settings(&[("BOOKINGS_DEV", "")], "127.0.0.1:8080").is_ok_and(|s| s.signing.dev_mode)
        );
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
        assert_eq!(
            settings.jwks.source(),
            Some(&JwksSource::Url("https://idp.example/jwks.json".into()))
        );
        assert_eq!(settings.jwks.refresh(), Duration::from_secs(300));
        assert_eq!(settings.jwks.min_refresh, Duration::from_secs(10));
        assert_eq!(settings.issuer(), Some("https://idp.example/"));
        assert_eq!(settings.audience(), Some("bookings"));
        assert_eq!(
            JwksSource::parse("file:///etc/jwks.json"),
            JwksSource::File("/etc/jwks.json".into())
        );
    }
}
