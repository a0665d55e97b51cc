//! Settings the services share, as `clap` argument groups: every setting is a flag with an
//! environment variable and a default, listed by `--help`, and a service's `Settings` flattens
//! the groups it needs (database, NATS, the event stream, Redis, auth, rate limits) next to its
//! own. A value that does not parse is a usage error (exit 2) naming the flag and the variable.
//!
//! Secrets never show in `Debug` output or `--help`: URLs are shown without their credentials
//! and the values of secret variables are hidden.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, FromArgMatches};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// `DATABASE_URL`'s default: the database `scripts/services` creates.
pub const DEFAULT_DATABASE_URL: &str = "postgres://bookings:bookings@127.0.0.1:5432/bookings";

/// Where the event store is, how it is reached and how many connections a process keeps to it.
///
/// TLS is what `sslmode` in the URL says (`disable`, `allow`, `prefer`, the default, `require`,
/// `verify-ca`, `verify-full`), trusting the system's CAs and `sslrootcert`/`DATABASE_CA_FILE`.
/// A CA file means the certificate is checked: `verify-full` unless the URL asks for
/// `verify-ca`, and a URL that turns TLS off (`disable`, `allow`) with a CA file is refused.
#[derive(Clone, Args)]
#[command(next_help_heading = "PostgreSQL")]
pub struct DatabaseSettings {
    /// The event store's PostgreSQL URL; credentials in it are never logged
    #[arg(
        id = "database_url",
        value_name = "URL",
        long = "database-url",
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub url: String,
    /// Connections in this process's pool
    #[arg(
        id = "database_max_connections",
        value_name = "N",
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub max_connections: u32,
    /// PEM file of the CA(s) that sign the server's certificate (as `sslrootcert` in the URL);
    /// when set, the server's certificate and host name are verified (`sslmode=verify-full`)
    #[arg(
        id = "database_ca_file",
        value_name = "FILE",
        long = "database-ca-file",
        env = "DATABASE_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact(&self.url))
            .field("max_connections", &self.max_connections)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        defaults()
    }
}

impl DatabaseSettings {
    /// The settings for `url`, the rest as by default (tests, tools).
    pub fn at(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// How to connect: the URL's options, with the CA file. A malformed URL, a CA file that
    /// cannot be read and a CA file with TLS turned off are errors here, at start.
    pub fn connect_options(&self) -> Result<PgConnectOptions, String> {
        let options = PgConnectOptions::from_str(&self.url)
            .map_err(|err| format!("DATABASE_URL is not a PostgreSQL URL: {err}"))?;
        let Some(path) = self
            .ca_file
            .as_ref()
            .filter(|path| !path.as_os_str().is_empty())
        else {
            return Ok(options);
        };
        let pem = crate::tls::read_ca_file(path, "DATABASE_CA_FILE")?;
        let mode = match options.get_ssl_mode() {
            PgSslMode::Disable | PgSslMode::Allow => {
                return Err(
                    "DATABASE_CA_FILE is set but DATABASE_URL turns TLS off (sslmode=disable or \
                     allow): use sslmode=verify-full"
                        .to_owned(),
                );
            }
            PgSslMode::VerifyCa => PgSslMode::VerifyCa,
            PgSslMode::Prefer | PgSslMode::Require | PgSslMode::VerifyFull => PgSslMode::VerifyFull,
        };
        Ok(options.ssl_mode(mode).ssl_root_cert_from_pem(pem))
    }
}

/// Where Redis is and how this deployment's keys are told from others'. `rediss://` URLs are
/// TLS, trusting the system's CAs or, when set, only `REDIS_CA_FILE`'s.
#[derive(Clone, Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisSettings {
    /// The Redis URL (`redis://host:6379`); credentials in it are never logged
    #[arg(
        id = "redis_url",
        value_name = "URL",
        long = "redis-url",
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub url: String,
    /// Prepended to every key, to isolate deployments (and tests) sharing one Redis
    #[arg(
        id = "redis_key_prefix",
        value_name = "PREFIX",
        long = "redis-key-prefix",
        env = "REDIS_KEY_PREFIX",
        default_value = ""
    )]
    pub key_prefix: String,
    /// PEM file of the CA(s) that sign the server's certificate (instead of the system's);
    /// needs a `rediss://` URL
    #[arg(
        id = "redis_ca_file",
        value_name = "FILE",
        long = "redis-ca-file",
        env = "REDIS_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        defaults()
    }
}

impl RedisSettings {
    /// A client for these settings; a malformed URL, a CA file that cannot be read and a CA
    /// file without TLS are errors here, at start. Nothing is connected yet.
    pub fn client(&self) -> Result<redis::Client, String> {
        let invalid = |err: redis::RedisError| format!("REDIS_URL is not a Redis URL: {err}");
        let Some(path) = self
            .ca_file
            .as_ref()
            .filter(|path| !path.as_os_str().is_empty())
        else {
            return redis::Client::open(self.url.as_str()).map_err(invalid);
        };
        if !self.url.starts_with("rediss://") {
            return Err("REDIS_CA_FILE is set but REDIS_URL is not a rediss:// (TLS) URL".into());
        }
        let root_cert = crate::tls::read_ca_file(path, "REDIS_CA_FILE")?;
        redis::Client::build_with_tls(
            self.url.as_str(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            },
        )
        .map_err(invalid)
    }

    /// A client for these settings that has answered a `PING`, or, if Redis cannot be reached
    /// yet, one that connects later (Redis is never waited for). A TLS failure is an error: a
    /// certificate the CA does not vouch for will not get better by waiting.
    pub async fn checked_client(&self) -> Result<redis::Client, String> {
        let client = self.client()?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let ping = async {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("PING").query_async::<()>(&mut connection).await
        };
        if let Err(err) = ping.await {
            let place = redact(&self.url);
            if let Some(tls) = crate::tls::failure(&err) {
                return Err(format!("Redis at {place}: TLS failed: {tls}"));
            }
            tracing::warn!(error = %err, "Redis at {place} does not answer yet; going on without it");
        }
        Ok(client)
    }
}

/// The settings `T` describes when nothing is given: every default, the environment not read.
/// What `Default` is for each service's `Settings`, so a test harness writes
/// `Settings { addr, ..Settings::default() }` and gets what the binary would run with.
///
/// # Panics
/// If a default does not parse, a bug that the settings' own tests catch.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"))
        .no_binary_name(true)
        .mut_args(|arg| arg.env(None));
    let parsed = command
        .try_get_matches_from(std::iter::empty::<String>())
        .and_then(|matches| T::from_arg_matches(&matches));
    match parsed {
        Ok(settings) => settings,
        Err(err) => panic!("the settings' defaults do not parse: {err}"),
    }
}

/// A number of milliseconds, as `*_MS` settings take them.
pub fn millis(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("{value:?} is not a whole number of milliseconds"))
}

/// A number of seconds, as `*_SECS` settings take them.
pub fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("{value:?} is not a whole number of seconds"))
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), as switches take them.
pub fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{value:?} is neither true nor false")),
    }
}

/// `url` with any `user:password@` removed, for logs and `Debug` output. Several URLs may be
/// given separated by commas (NATS).
pub fn redact(url: &str) -> String {
    split_credentials(url).0
}

/// The URL(s) without user information, and the first user and password found (decoded).
pub(crate) fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let mut found = None;
    let bare = url
        .split(',')
        .map(|one| {
            let one = one.trim();
            let (scheme, rest) = one.split_once("://").unwrap_or(("", one));
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let Some(at) = rest[..authority_end].rfind('@') else {
                return one.to_owned();
            };
            let (user, password) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
            if found.is_none() {
                found = Some((percent_decode(user), percent_decode(password)));
            }
            let host = &rest[at + 1..];
            if scheme.is_empty() {
                host.to_owned()
            } else {
                format!("{scheme}://{host}")
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    (bare, found)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_urls() {
        assert_eq!(
            split_credentials("nats://relay:s%40cret@127.0.0.1:4222"),
            (
                "nats://127.0.0.1:4222".to_owned(),
                Some(("relay".to_owned(), "s@cret".to_owned()))
            )
        );
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), None)
        );
        assert_eq!(
            redact("nats://a:b@one:4222, nats://a:b@two:4222"),
            "nats://one:4222,nats://two:4222"
        );
        assert_eq!(redact("tls://user@host"), "tls://host");
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/bookings?sslmode=verify-full"),
            "postgres://db:5432/bookings?sslmode=verify-full"
        );
    }

    #[test]
    fn defaults_ignore_the_environment_and_match_the_documented_values() {
        let database: DatabaseSettings = defaults();
        assert_eq!(database.url, DEFAULT_DATABASE_URL);
        assert_eq!(database.max_connections, 16);
        assert_eq!(database.ca_file, None);
        let redis: RedisSettings = defaults();
        assert_eq!(redis.url, "redis://127.0.0.1:6379");
        assert_eq!(redis.key_prefix, "");
    }

    #[test]
    fn urls_show_in_debug_output_without_their_passwords() {
        let database = DatabaseSettings::at("postgres://app:hunter2@db/bookings");
        let redis = RedisSettings {
            url: "redis://:hunter2@cache:6379".into(),
            ..RedisSettings::default()
        };
        assert!(format!("{:?}", DatabaseSettings::default()).contains("ca_file"));
        let shown = format!("{database:?} {redis:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db/bookings") && shown.contains("cache:6379"));
    }

    #[test]
    fn a_ca_file_makes_postgres_verify_the_certificate_and_cannot_go_without_tls() {
        let dir = std::env::temp_dir().join(format!("bk-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let ca = dir.join("ca.pem");
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        std::fs::write(&ca, issued.cert.pem()).expect("written");
        let with_ca = |url: &str| DatabaseSettings {
            ca_file: Some(ca.clone()),
            ..DatabaseSettings::at(url)
        };
        for (url, mode) in [
            ("postgres://db/bookings", PgSslMode::VerifyFull),
            (
                "postgres://db/bookings?sslmode=require",
                PgSslMode::VerifyFull,
            ),
            (
                "postgres://db/bookings?sslmode=verify-ca",
                PgSslMode::VerifyCa,
            ),
        ] {
            let options = with_ca(url).connect_options().expect("valid");
            assert_eq!(
                format!("{:?}", options.get_ssl_mode()),
                format!("{mode:?}"),
                "{url}"
            );
        }
        let off = with_ca("postgres://db/bookings?sslmode=disable").connect_options();
        assert!(off.unwrap_err().contains("turns TLS off"));
        let plain = DatabaseSettings::at("postgres://db/bookings").connect_options();
        let mode = plain.expect("valid").get_ssl_mode();
        assert!(matches!(mode, PgSslMode::Prefer), "{mode:?}");
        let redis = RedisSettings {
            url: "redis://cache:6379".into(),
            key_prefix: String::new(),
            ca_file: Some(ca.clone()),
        };
        assert!(redis.client().unwrap_err().contains("not a rediss://"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn switches_and_durations_parse_as_documented() {
        for yes in ["1", "true", "YES", "on"] {
            assert_eq!(boolean(yes), Ok(true));
        }
        for no in ["0", "false", "No", "off"] {
            assert_eq!(boolean(no), Ok(false));
        }
        assert!(boolean("").is_err() && boolean("maybe").is_err());
        assert_eq!(millis("250"), Ok(Duration::from_millis(250)));
        assert!(millis("1.5").is_err() && seconds("-1").is_err());
    }
}
