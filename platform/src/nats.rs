//! Connecting to NATS as this service's own user.
//!
//! Credentials come from `NATS_USER` and `NATS_PASSWORD`, or else from the URL
//! (`nats://user:password@host:4222`); a server without authentication needs neither. The
//! client never sees (or logs) the credentials inside the URL: they are taken out and passed as
//! options. Each service's replies arrive under `_INBOX.<service>.`, so the server can let each
//! user read its own replies only (see `deploy/nats.conf`).

/// `NATS_USER` and `NATS_PASSWORD`; never shown by `Debug`.
#[derive(Clone, Default)]
pub struct NatsAuth {
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl NatsAuth {
    pub fn from_env() -> Self {
        let set = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            user: set("NATS_USER"),
            password: set("NATS_PASSWORD"),
        }
    }
}

/// Options for `url` with the credentials set and replies under `_INBOX.{service}`, and the
/// URL without credentials (what to pass to `connect`).
pub fn connect_options(
    url: &str,
    auth: &NatsAuth,
    service: &str,
) -> (async_nats::ConnectOptions, String) {
    let (bare, from_url) = split_credentials(url);
    let options = async_nats::ConnectOptions::new()
        .name(service)
        .custom_inbox_prefix(format!("_INBOX.{service}"));
    let options = match (&auth.user, from_url) {
        (Some(user), _) => {
            options.user_and_password(user.clone(), auth.password.clone().unwrap_or_default())
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
    let (options, url) = connect_options(url, &NatsAuth::default(), service);
    options.connect(url).await
}

/// `url` with any `user:password@` removed, for logs and `Debug` output.
pub fn redact(url: &str) -> String {
    split_credentials(url).0
}

/// The URL(s) without user information, and the first user and password found (decoded).
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
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
    fn credentials_are_taken_out_of_the_url() {
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
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let auth = NatsAuth {
            user: Some("relay".into()),
            password: Some("hunter2-hunter2".into()),
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("relay"));
    }
}
