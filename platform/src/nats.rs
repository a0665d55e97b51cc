//! Connecting to NATS as this service's own user.
//!
//! Credentials come from `NATS_USER` and `NATS_PASSWORD`, or else from the URL
//! (`nats://user:password@host:4222`); a server without authentication needs neither. The
//! client never sees (or logs) the credentials inside the URL: they are taken out and passed as
//! options. Each service's replies arrive under `_INBOX.<service>.`, so the server can let each
//! user read its own replies only (see `deploy/nats.conf`).
//!
//! TLS: a `tls://` URL, a server that requires TLS, or `NATS_CA_FILE` (which requires it and
//! trusts only the CAs in the file; otherwise the system's are trusted).

use std::path::PathBuf;

use anyhow::Context;
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
    /// PEM file of the CA(s) that sign the server's certificate (instead of the system's); TLS
    /// is then required, whatever the URL's scheme
    #[arg(
        id = "nats_ca_file",
        value_name = "FILE",
        long = "nats-ca-file",
        env = "NATS_CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field("url", &redact(&self.url))
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
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
/// as unset. A CA file that cannot be read is an error.
pub fn connect_options(
    settings: &NatsSettings,
    service: &str,
) -> anyhow::Result<(async_nats::ConnectOptions, String)> {
    let (bare, from_url) = split_credentials(&settings.url);
    let mut options = async_nats::ConnectOptions::new()
        .name(service)
        .custom_inbox_prefix(format!("_INBOX.{service}"));
    if let Some(path) = settings
        .ca_file
        .as_ref()
        .filter(|path| !path.as_os_str().is_empty())
    {
        crate::tls::read_ca_file(path, "NATS_CA_FILE").map_err(anyhow::Error::msg)?;
        options = options
            .add_root_certificates(path.clone())
            .require_tls(true);
    }
    let user = settings.user.as_ref().filter(|user| !user.is_empty());
    let options = match (user, from_url) {
        (Some(user), _) => {
            options.user_and_password(user.clone(), settings.password.clone().unwrap_or_default())
        }
        (None, Some((user, password))) => options.user_and_password(user, password),
        (None, None) => options,
    };
    Ok((options, bare))
}

/// A service's client: connected now if NATS answers, else connecting in the background (NATS
/// is never waited for) and reconnecting whenever it is lost. A TLS failure at the first attempt
/// ends the start-up instead: a certificate the CA does not vouch for will not get better by
/// waiting.
pub async fn start(
    options: async_nats::ConnectOptions,
    url: &str,
) -> anyhow::Result<async_nats::Client> {
    match options.clone().connect(url).await {
        Ok(client) => Ok(client),
        Err(err) => {
            if let Some(tls) = crate::tls::failure(&err) {
                anyhow::bail!("NATS at {url}: TLS failed: {tls}");
            }
            if err.kind() == async_nats::ConnectErrorKind::Tls {
                anyhow::bail!("NATS at {url}: TLS failed: {err}");
            }
            tracing::warn!(error = %err, "NATS at {url} does not answer yet; connecting in the background");
            options
                .retry_on_initial_connect()
                .connect(url)
                .await
                .context("cannot set up the NATS client")
        }
    }
}

/// A client for `url` (credentials in the URL are used), for tools and tests.
pub async fn connect(url: &str, service: &str) -> anyhow::Result<async_nats::Client> {
    let (options, url) = connect_options(&NatsSettings::at(url), service)?;
    Ok(options.connect(url).await?)
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
            ca_file: None,
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("relay"));
    }
}
