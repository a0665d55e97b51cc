//! Connecting to NATS as this service's own user.
//!
//! Credentials come from `NATS_USER` and `NATS_PASSWORD`, or else from the URL
//! (`nats://user:password@host:4222`); a server without authentication needs neither. The
//! client never sees (or logs) the credentials inside the URL: they are taken out and passed as
//! options. Each service's replies arrive under `_INBOX.<service>.`, so the server can let each
//! user read its own replies only (see `deploy/nats.conf`).

use clap::Args;

use crate::settings::{defaults, redact, split_credentials};

/// Where NATS is and who this service is there.
#[derive(Clone, Args)]
#[command(next_help_heading = "NATS")]
pub struct NatsSettings {
    /// The NATS server(s), comma-separated; may carry this service's credentials
    /// (`nats://user:password@host:4222`), never logged
    #[arg(
        id = "nats_url",
        value_name = "URL",
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    pub url: String,
    /// This service's NATS user (wins over credentials in the URL); unset with a URL without
    /// credentials = no authentication
    #[arg(
        id = "nats_user",
        value_name = "USER",
        long = "nats-user",
        env = "NATS_USER"
    )]
    pub user: Option<String>,
    /// The NATS user's password
    #[arg(
        id = "nats_password",
        value_name = "PASSWORD",
        long = "nats-password",
        env = "NATS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field("url", &redact(&self.url))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for NatsSettings {
    fn default() -> Self {
        defaults()
    }
}

impl NatsSettings {
    /// The settings for `url` (credentials in it are used), the rest as by default.
    pub fn at(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

/// The JetStream stream the relay publishes the events to, and their subjects.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Event stream")]
pub struct EventStreamSettings {
    /// The JetStream stream of the events
    #[arg(
        id = "nats_stream",
        value_name = "STREAM",
        long = "nats-stream",
        env = "NATS_STREAM",
        default_value = "BOOKINGS"
    )]
    pub name: String,
    /// The events' subjects are `{prefix}.{tenant}.{EventType}`
    #[arg(
        id = "nats_subject_prefix",
        value_name = "PREFIX",
        long = "nats-subject-prefix",
        env = "NATS_SUBJECT_PREFIX",
        default_value = "bookings"
    )]
    pub subject_prefix: String,
}

impl Default for EventStreamSettings {
    fn default() -> Self {
        defaults()
    }
}

/// Options for these settings with the credentials set and replies under `_INBOX.{service}`,
/// and the URL without credentials (what to pass to `connect`). An empty `NATS_USER` counts
/// as unset.
pub fn connect_options(
    settings: &NatsSettings,
    service: &str,
) -> (async_nats::ConnectOptions, String) {
    let (bare, from_url) = split_credentials(&settings.url);
    let options = async_nats::ConnectOptions::new()
        .name(service)
        .custom_inbox_prefix(format!("_INBOX.{service}"));
    let user = settings.user.as_ref().filter(|user| !user.is_empty());
    let options = match (user, from_url) {
        (Some(user), _) => {
            options.user_and_password(user.clone(), settings.password.clone().unwrap_or_default())
        }
        (None, Some((user, password))) => options.user_and_password(user, password),
        (None, None) => options,
    };
    (options, bare)
}

/// A client for `url` (credentials in the URL are used), for tools and tests.
pub async fn connect(
    url: &str,
    service: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let (options, url) = connect_options(&NatsSettings::at(url), service);
    options.connect(url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let settings = NatsSettings {
            url: "nats://relay:hunter2-hunter2@127.0.0.1:4222".into(),
            user: Some("relay".into()),
            password: Some("hunter2-hunter2".into()),
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("relay"));
    }
}
