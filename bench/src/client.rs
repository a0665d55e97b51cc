//! An HTTP client for the engine with many tokens (rate limits are per token, as in production)
//! and the few calls the scenarios share.

use std::time::Duration;

use anyhow::Context;
use domain::ids::TenantId;
use platform::auth::{Claims, Role, TokenKeys};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::load::Outcome;

pub struct Client {
    pub http: reqwest::Client,
    pub command_url: String,
    pub query_url: String,
    /// `tokens[0]` is an admin; the rest hold `role`.
    tokens: Vec<String>,
}

impl Client {
    /// A client for a new tenant named after `tag`, with `count` tokens of `role`.
    pub fn new(engine: &Engine, tag: &str, count: usize, role: Role) -> anyhow::Result<Client> {
        let tenant = TenantId::parse(format!("{tag}{}", chrono::Utc::now().timestamp_micros()))?;
        let keys = TokenKeys::new(&engine.secret);
        let sign = |sub: String, role: Role| {
            keys.sign(&Claims {
                sub,
                tenant: tenant.clone(),
                roles: vec![role],
                exp: chrono::Utc::now().timestamp() + 3 * 3600,
            })
            .context("cannot sign a token")
        };
        let mut tokens = vec![sign(format!("{tag}-admin"), Role::Admin)?];
        for i in 0..count.max(1) {
            tokens.push(sign(format!("{tag}-{i}"), role)?);
        }
        Ok(Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .timeout(Duration::from_secs(30))
                .build()?,
            command_url: engine.command_url.clone(),
            query_url: engine.query_url.clone(),
            tokens,
        })
    }

    pub fn admin(&self) -> &str {
        &self.tokens[0]
    }

    /// The `k`-th request's token, round robin over the non-admin tokens.
    pub fn token(&self, k: u64) -> &str {
        let others = (self.tokens.len() - 1).max(1) as u64;
        &self.tokens[1 + (k % others) as usize]
    }

    /// Creates a resource (UTC unless the body says otherwise) and returns its id.
    pub async fn create_resource(&self, body: Value) -> anyhow::Result<String> {
        self.create("resources", "resource", body).await
    }

    /// Creates a service and returns its id.
    pub async fn create_service(&self, body: Value) -> anyhow::Result<String> {
        self.create("services", "service", body).await
    }

    /// `POST /v1/{collection}` as admin; the id of the `{what}` answered.
    async fn create(&self, collection: &str, what: &str, body: Value) -> anyhow::Result<String> {
        let reply: Value = self
            .http
            .post(format!("{}/v1/{collection}", self.command_url))
            .bearer_auth(self.admin())
            .json(&body)
            .send()
            .await
            .context("is command-api running?")?
            .error_for_status()?
            .json()
            .await?;
        Ok(reply[what]["id"]
            .as_str()
            .with_context(|| format!("the answer has a {what} id"))?
            .to_owned())
    }

    /// Places a booking on `resource`; see [`Client::book`].
    pub async fn place(
        &self,
        token: &str,
        resource: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> (Outcome, Option<Value>) {
        self.book(
            token,
            &json!({ "resource_id": resource, "start": start, "end": end }),
        )
        .await
    }

    /// `POST /v1/bookings` with `body`: a 201 is `Ok` with its answer, a 409 `Refused`,
    /// anything else `Failed`.
    pub async fn book(&self, token: &str, body: &Value) -> (Outcome, Option<Value>) {
        let reply = self
            .http
            .post(format!("{}/v1/bookings", self.command_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await;
        match reply {
            Ok(reply) if reply.status().as_u16() == 201 => {
                (Outcome::Ok, reply.json::<Value>().await.ok())
            }
            Ok(reply) if reply.status().as_u16() == 409 => (Outcome::Refused, None),
            _ => (Outcome::Failed, None),
        }
    }

    /// Waits until query-api has reached `position` (it holds the read up to its own limit).
    pub async fn wait_for(&self, resource: &str, position: &str) -> anyhow::Result<()> {
        for _ in 0..30 {
            let reply = self
                .http
                .get(format!(
                    "{}/v1/resources/{resource}?min_position={position}",
                    self.query_url
                ))
                .bearer_auth(self.admin())
                .send()
                .await?;
            if reply.status().is_success() {
                return Ok(());
            }
        }
        anyhow::bail!("query-api did not reach position {position}")
    }
}

/// Midnight UTC, `days` days from today.
pub fn midnight(days: i64) -> chrono::DateTime<chrono::Utc> {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// A deterministic pseudo-random number in [0, 1) for request `k` of stream `salt`
/// (splitmix64): requests draw independently without sharing a generator.
pub fn unit(k: u64, salt: u64) -> f64 {
    let mut z = k
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Zipf-distributed ranks over `n` items (rank 0 the most popular): P(rank r) ∝ 1 / (r + 1)^s.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (0..n.max(1))
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(s);
                total
            })
            .collect();
        for c in &mut cumulative {
            *c /= total;
        }
        Zipf { cumulative }
    }

    /// The rank a uniform `u` in [0, 1) falls on.
    pub fn rank(&self, u: f64) -> usize {
        self.cumulative
            .partition_point(|c| *c <= u)
            .min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks_in_the_expected_proportions() {
        let zipf = Zipf::new(100, 1.0);
        let mut counts = [0u64; 100];
        for k in 0..100_000 {
            counts[zipf.rank(unit(k, 7))] += 1;
        }
        // With s = 1 and n = 100, P(rank 0) = 1 / H(100) ≈ 0.193 and P(rank 1) is half of it.
        let first = counts[0] as f64 / 100_000.0;
        assert!((first - 0.193).abs() < 0.01, "rank 0 drew {first}");
        let ratio = counts[0] as f64 / counts[1] as f64;
        assert!((ratio - 2.0).abs() < 0.15, "rank 0 / rank 1 = {ratio}");
        assert!(counts[99] > 0);
    }

    #[test]
    fn unit_draws_are_in_range_and_differ_between_salts() {
        for k in 0..10_000 {
            let u = unit(k, 1);
            assert!((0.0..1.0).contains(&u));
        }
        assert_ne!(unit(5, 1), unit(5, 2));
        assert_eq!(unit(5, 1), unit(5, 1));
    }
}
