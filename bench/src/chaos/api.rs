//! The engine as a careful client sees it: every command carries an `Idempotency-Key` and an
//! `X-Request-Id` (which the engine stores in each event's metadata as `correlation_id`, so the
//! suite can find in the store exactly what each command did), and is sent again, with the same
//! key, id and body, after a connection error, a timeout, a `5xx`, a `429` or a `409
//! idempotency_key_in_flight`, until it gets an answer that settles it (a success or a refusal)
//! or the run's last moment for retries passes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use domain::ids::TenantId;
use platform::auth::{Claims, Role, TokenKeys};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

/// How a command ended, as the client saw it.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `200`, `201` or `202`: the engine took it.
    Acked { status: u16, body: Value },
    /// A `4xx` that settles it (a conflict, a rule): nothing is expected to have happened.
    Refused { status: u16, code: String },
    /// No settling answer before the last moment for retries: its fate is unknown.
    GaveUp { last: String },
}

/// What retrying cost, for the report.
#[derive(Default)]
pub struct RetryCounts {
    pub connection_errors: AtomicU64,
    pub unavailable: AtomicU64,
    pub in_flight: AtomicU64,
    /// Answers no client should get (`500` and other statuses than the contract's), by status.
    pub unexpected: Mutex<BTreeMap<u16, u64>>,
}

impl RetryCounts {
    fn unexpected(&self, status: u16) {
        if let Ok(mut counts) = self.unexpected.lock() {
            *counts.entry(status).or_default() += 1;
        }
    }
}

pub struct Api {
    http: reqwest::Client,
    pub command_url: String,
    pub query_url: String,
    keys: TokenKeys,
    pub tenant: String,
    pub admin: String,
    pub retries: RetryCounts,
    /// Past this, a command is given up (set when the run winds down).
    deadline: Mutex<Option<Instant>>,
}

/// A query's status, `X-Cache` header and body.
pub type Reply = (u16, Option<String>, Value);

/// The longest a client waits for one answer (the services give up on a request after 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Api {
    pub fn new(
        command_url: String,
        query_url: String,
        secret: &str,
        tenant: &str,
    ) -> anyhow::Result<Api> {
        let keys = TokenKeys::new(secret);
        let admin = sign(&keys, tenant, "chaos-admin", Role::Admin)?;
        Ok(Api {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .pool_max_idle_per_host(64)
                .build()?,
            command_url,
            query_url,
            keys,
            tenant: tenant.to_owned(),
            admin,
            retries: RetryCounts::default(),
            deadline: Mutex::new(None),
        })
    }

    /// A client token for customer `sub`.
    pub fn client_token(&self, sub: &str) -> anyhow::Result<String> {
        sign(&self.keys, &self.tenant, sub, Role::Client)
    }

    pub fn set_deadline(&self, deadline: Instant) {
        if let Ok(mut slot) = self.deadline.lock() {
            *slot = Some(deadline);
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline
            .lock()
            .ok()
            .and_then(|d| *d)
            .is_some_and(|d| Instant::now() > d)
    }

    /// Sends `POST {command-api}{path}` with `body` until it is settled (see the module).
    pub async fn command(
        &self,
        token: &str,
        path: &str,
        body: &Value,
        key: &str,
        correlation: Uuid,
        jitter: u64,
    ) -> Answer {
        let url = format!("{}{path}", self.command_url);
        let mut backoff = FIRST_BACKOFF;
        let mut last;
        loop {
            let sent = self
                .http
                .post(&url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .header("x-request-id", correlation.to_string())
                .json(body)
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status();
                    match response.json::<Value>().await {
                        Ok(answer) => match settle(status, &answer) {
                            Settled::Yes(answer) => return answer,
                            Settled::Retry(why) => {
                                match why {
                                    Retry::Unavailable => &self.retries.unavailable,
                                    Retry::InFlight => &self.retries.in_flight,
                                    Retry::Unexpected => {
                                        self.retries.unexpected(status.as_u16());
                                        &self.retries.unavailable
                                    }
                                }
                                .fetch_add(1, Ordering::Relaxed);
                                last = format!("{status} {answer}");
                            }
                        },
                        Err(err) => {
                            // The answer was cut off: as good as no answer.
                            self.retries
                                .connection_errors
                                .fetch_add(1, Ordering::Relaxed);
                            last = format!("{status}, body unreadable: {err}");
                        }
                    }
                }
                Err(err) => {
                    self.retries
                        .connection_errors
                        .fetch_add(1, Ordering::Relaxed);
                    last = format!("{err}");
                }
            }
            if self.past_deadline() {
                return Answer::GaveUp { last };
            }
            // Exponential backoff with jitter, as a well-behaved client does after a failure.
            let spread = backoff.as_millis() as u64 / 2 + 1;
            tokio::time::sleep(backoff / 2 + Duration::from_millis(jitter % spread)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One `GET {query-api}{path_and_query}` as the admin: its status, `X-Cache`, and body.
    pub async fn query(&self, path_and_query: &str) -> anyhow::Result<Reply> {
        query_at(&self.http, &self.query_url, &self.admin, path_and_query).await
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// One `GET {base}{path_and_query}` with `token`: its status, `X-Cache`, and body.
pub async fn query_at(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path_and_query: &str,
) -> anyhow::Result<Reply> {
    let response = http
        .get(format!("{base}{path_and_query}"))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json::<Value>().await?;
    Ok((status, cache, body))
}

fn sign(keys: &TokenKeys, tenant: &str, sub: &str, role: Role) -> anyhow::Result<String> {
    Ok(keys.sign(&Claims {
        sub: sub.to_owned(),
        tenant: TenantId::parse(tenant)?,
        roles: vec![role],
        exp: chrono::Utc::now().timestamp() + 6 * 3600,
    })?)
}

enum Settled {
    Yes(Answer),
    Retry(Retry),
}

enum Retry {
    Unavailable,
    InFlight,
    Unexpected,
}

/// Whether an answer settles the command, or a real client would send it again.
fn settle(status: StatusCode, body: &Value) -> Settled {
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    match status.as_u16() {
        200..=202 => Settled::Yes(Answer::Acked {
            status: status.as_u16(),
            body: body.clone(),
        }),
        409 if code == "idempotency_key_in_flight" => Settled::Retry(Retry::InFlight),
        429 | 502 | 503 | 504 => Settled::Retry(Retry::Unavailable),
        400..=499 => Settled::Yes(Answer::Refused {
            status: status.as_u16(),
            code,
        }),
        _ => Settled::Retry(Retry::Unexpected),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_conflict_settles_a_command_but_a_key_in_flight_and_an_outage_do_not() {
        let settled = |status: u16, code: &str| {
            matches!(
                settle(
                    StatusCode::from_u16(status).expect("a status"),
                    &json!({ "code": code })
                ),
                Settled::Yes(_)
            )
        };
        assert!(settled(201, ""));
        assert!(settled(409, "slot_unavailable"));
        assert!(settled(410, "hold_expired"));
        assert!(!settled(409, "idempotency_key_in_flight"));
        assert!(!settled(503, "database_unavailable"));
        assert!(!settled(500, "internal"));
        assert!(!settled(429, "rate_limited"));
    }
}
