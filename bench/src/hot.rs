//! `bench hot`: a flash crowd on one resource. `--clients` clients (default 200) race for the
//! same slot of a resource of `--capacity` units (default 20), `--rounds` times on fresh slots.
//! Exactly `capacity` must win each round; the refusals must be cheap.

use std::time::Instant;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use platform::auth::{Claims, Role, TokenKeys};
use serde_json::json;

pub struct Options {
    pub url: String,
    pub secret: String,
    pub clients: u64,
    pub capacity: u64,
    pub rounds: u64,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            url: "http://127.0.0.1:8080".into(),
            secret: std::env::var("BOOKINGS_JWT_SECRET")
                .unwrap_or_else(|_| "dev-secret-change-me".into()),
            clients: 200,
            capacity: 20,
            rounds: 10,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .with_context(|| format!("{flag} takes a number"))
            };
            match flag.as_str() {
                "--url" => options.url = value.clone(),
                "--clients" => options.clients = number()?.max(1),
                "--capacity" => options.capacity = number()?.max(1),
                "--rounds" => options.rounds = number()?.max(1),
                other => bail!("unknown flag {other}"),
            }
        }
        Ok(options)
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let tenant = format!("benchhot{}", chrono::Utc::now().timestamp());
    let keys = TokenKeys::new(&options.secret);
    let token = |sub: String, role: Role| {
        keys.sign(&Claims {
            sub,
            tenant: tenant.clone(),
            roles: vec![role],
            exp: chrono::Utc::now().timestamp() + 3600,
        })
    };
    let admin = token("bench-admin".into(), Role::Admin);
    let clients: Vec<String> = (0..options.clients)
        .map(|i| token(format!("crowd-{i}"), Role::Client))
        .collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let body: serde_json::Value = http
        .post(format!("{}/v1/resources", options.url))
        .bearer_auth(&admin)
        .json(&json!({ "name": "hot", "kind": "class_session", "time_zone": "UTC", "capacity": options.capacity }))
        .send()
        .await
        .context("is command-api running?")?
        .json()
        .await?;
    let resource = body["resource"]["id"]
        .as_str()
        .context("a resource id")?
        .to_owned();
    let mut won = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut refused = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut wrong_rounds = 0;
    let mut refusal_seconds = 0.0;
    for round in 0..options.rounds {
        let start = (chrono::Utc::now().date_naive() + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .context("midnight")?
            .and_utc()
            + chrono::Duration::hours(i64::try_from(round)?);
        let end = start + chrono::Duration::hours(1);
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .iter()
            .map(|client| {
                let (http, url, client, resource) = (
                    http.clone(),
                    options.url.clone(),
                    client.clone(),
                    resource.clone(),
                );
                tokio::spawn(async move {
                    let sent = Instant::now();
                    let status = http
                        .post(format!("{url}/v1/bookings"))
                        .bearer_auth(client)
                        .json(&json!({ "resource_id": resource, "start": start, "end": end }))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    (status, sent.elapsed().as_micros().max(1) as u64)
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let (status, micros) = task.await?;
            match status {
                201 => {
                    winners += 1;
                    won.record(micros)?;
                }
                409 => refused.record(micros)?,
                other => bail!("unexpected status {other}"),
            }
        }
        refusal_seconds += started.elapsed().as_secs_f64();
        if winners != options.capacity {
            wrong_rounds += 1;
        }
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "hot resource: {} clients × {} rounds on capacity {}: rounds with exactly {} winners: {}/{}",
        options.clients,
        options.rounds,
        options.capacity,
        options.capacity,
        options.rounds - wrong_rounds,
        options.rounds
    );
    println!(
        "  refusals {} · {:.0} refusals/s · latency ms p50 {:.2} · p99 {:.2}",
        refused.len(),
        refused.len() as f64 / refusal_seconds,
        ms(&refused, 0.5),
        ms(&refused, 0.99)
    );
    println!(
        "  winners {} · latency ms p50 {:.2} · p99 {:.2}",
        won.len(),
        ms(&won, 0.5),
        ms(&won, 0.99)
    );
    if wrong_rounds > 0 {
        bail!(
            "{wrong_rounds} rounds did not have exactly {} winners",
            options.capacity
        );
    }
    Ok(())
}
