//! Settings the services share, as `clap` argument groups: every setting is a flag with an
//! environment variable and a default, listed by `--help`, and a service's `Settings` flattens
//! the groups it needs (database, NATS, the event stream, Redis, auth, rate limits) next to its
//! own. A value that does not parse is a usage error (exit 2) naming the flag and the variable.
//!
//! Secrets never show in `Debug` output or `--help`: URLs are shown without their credentials
//! and the values of secret variables are hidden.

use std::str::FromStr;
use std::time::Duration;

use clap::{Args, FromArgMatches};
use sqlx::postgres::PgConnectOptions;

/// `DATABASE_URL`'s default: the database `scripts/services` creates.
pub const DEFAULT_DATABASE_URL: &str = "postgres://bookings:bookings@127.0.0.1:5432/bookings";

/// Where the event store is and how many connections a process keeps to it.
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
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact(&self.url))
            .field("max_connections", &self.max_connections)
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

    /// How to connect: the URL's options. A malformed URL is an error here, at start.
    pub fn connect_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        PgConnectOptions::from_str(&self.url)
    }
}

/// Where Redis is and how this deployment's keys are told from others'.
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
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        defaults()
    }
}

impl RedisSettings {
    /// A client for these settings; a malformed URL is an error here, at start. Nothing is
    /// connected yet.
    pub fn client(&self) -> Result<redis::Client, redis::RedisError> {
        redis::Client::open(self.url.as_str())
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
        let shown = format!("{database:?} {redis:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db/bookings") && shown.contains("cache:6379"));
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
