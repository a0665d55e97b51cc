//! `bench`: drives a running engine and reports what it measured. It starts nothing itself.
//!
//! ```text
//! bench commands [--url URL] [--nats-url URL] [--subject-prefix P] [--resources N]
//!                [--concurrency C] [--seconds S] [--rate R] [--json FILE]
//! ```
//! `commands` creates `N` resources, then places bookings on distinct slots for `S` seconds:
//! closed-loop with `C` workers (saturation), or open-loop at `R` requests per second, where
//! each latency is measured from the request's *intended* send time, so a stall is not hidden
//! (no coordinated omission). It also subscribes to the relay's subjects and reports relay lag:
//! the time from a command's answer to its event arriving from NATS.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use platform::auth::{Claims, Role, TokenKeys};
use serde_json::json;
use tokio::sync::Mutex;

mod hot;
mod pgbench;
mod reads;
mod seed;

#[derive(Debug, Clone)]
struct Options {
    url: String,
    nats_url: String,
    subject_prefix: String,
    changed_subject: String,
    secret: String,
    resources: u64,
    concurrency: u64,
    seconds: u64,
    rate: Option<u64>,
    json: Option<String>,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        nats_url: std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        subject_prefix: "bookings".into(),
        changed_subject: "bookings-changed".into(),
        secret: std::env::var("BOOKINGS_JWT_SECRET")
            .unwrap_or_else(|_| "dev-secret-change-me".into()),
        resources: 200,
        concurrency: 32,
        seconds: 10,
        rate: None,
        json: None,
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
            "--nats-url" => options.nats_url = value.clone(),
            "--subject-prefix" => options.subject_prefix = value.clone(),
            "--changed-subject" => options.changed_subject = value.clone(),
            "--resources" => options.resources = number()?.max(1),
            "--concurrency" => options.concurrency = number()?.max(1),
            "--seconds" => options.seconds = number()?.max(1),
            "--rate" => options.rate = Some(number()?.max(1)),
            "--json" => options.json = Some(value.clone()),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(options)
}

/// What one run measured.
#[derive(Default)]
struct Results {
    latency: Option<Histogram<u64>>,
    ok: u64,
    refused: u64,
    failed: u64,
    elapsed: Duration,
    /// Booking id → (resource id, position token, when its answer arrived).
    answered: HashMap<String, (String, eventstore::Position, Instant)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("commands") => commands(options(&args[1..])?).await,
        Some("reads") => reads::run(reads::Options::parse(&args[1..])?).await,
        Some("hot") => hot::run(hot::Options::parse(&args[1..])?).await,
        Some("pgbench") => {
            let clients: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(16);
            let seconds: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10);
            let url = std::env::var("DATABASE_URL").context("DATABASE_URL is required")?;
            let ceiling = pgbench::run(&url, clients, seconds).await?;
            println!(
                "pgbench, the booking transaction ({clients} clients, {seconds} s): {:.0} tps, latency average {:.2} ms",
                ceiling.tps, ceiling.latency_ms
            );
            Ok(())
        }
        Some("seed-events") => {
            let events: u64 = args
                .get(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000);
            let url = std::env::var("DATABASE_URL").context("DATABASE_URL is required")?;
            let started = Instant::now();
            let written = seed::seed(&url, events, 1000, "seeded").await?;
            println!(
                "seeded {written} events in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        _ => bail!(
            "usage: bench commands [--url URL] [--resources N] [--concurrency C] [--seconds S] [--rate R] [--json FILE]"
        ),
    }
}

async fn commands(options: Options) -> anyhow::Result<()> {
    // Many clients, each with its own token, as in production (limits are per token).
    let tenant = format!("bench{}", chrono::Utc::now().timestamp());
    let tokens: Vec<String> = (0..64)
        .map(|i| {
            TokenKeys::new(&options.secret).sign(&Claims {
                sub: format!("bench-{i}"),
                tenant: tenant.clone(),
                roles: vec![Role::Admin],
                exp: chrono::Utc::now().timestamp() + 3600,
            })
        })
        .collect();
    let token = tokens[0].clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let mut resources = Vec::new();
    for i in 0..options.resources {
        let reply = http
            .post(format!("{}/v1/resources", options.url))
            .bearer_auth(&token)
            .json(&json!({ "name": format!("bench {i}"), "kind": "meeting_room", "time_zone": "UTC" }))
            .send()
            .await
            .context("is command-api running?")?;
        let body: serde_json::Value = reply.json().await?;
        let id = body["resource"]["id"]
            .as_str()
            .context("a resource id")?
            .to_owned();
        resources.push(id);
    }

    // Relay lag: every event of ours arrives on the relay's subjects.
    let nats = async_nats::connect(&options.nats_url).await?;
    let mut subscription = nats
        .subscribe(format!("{}.*.BookingPlaced", options.subject_prefix))
        .await?;
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let collector = {
        let arrivals = Arc::clone(&arrivals);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                if let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&message.payload)
                    && let Some(id) = envelope["stream_id"].as_str()
                {
                    arrivals.lock().await.insert(id.to_owned(), Instant::now());
                }
            }
        })
    };

    // Projection lag: the projector publishes a notice per resource after each commit; the
    // first notice for a booking's resource at or past its position means it is visible.
    let mut notices_sub = nats
        .subscribe(format!("{}.*", options.changed_subject))
        .await?;
    type Notices = HashMap<String, Vec<(eventstore::Position, Instant)>>;
    let notices: Arc<Mutex<Notices>> = Arc::default();
    let notice_collector = {
        let notices = Arc::clone(&notices);
        tokio::spawn(async move {
            while let Some(message) = notices_sub.next().await {
                if let Ok(notice) = serde_json::from_slice::<serde_json::Value>(&message.payload)
                    && let (Some(resource), Some(position)) = (
                        notice["resource_id"].as_str(),
                        notice["position"].as_str().and_then(|p| p.parse().ok()),
                    )
                {
                    notices
                        .lock()
                        .await
                        .entry(resource.to_owned())
                        .or_default()
                        .push((position, Instant::now()));
                }
            }
        })
    };

    let shared = Arc::new(Shared {
        http,
        tokens,
        url: options.url.clone(),
        resources,
        next: AtomicU64::new(0),
        base: chrono::Utc::now().date_naive() + chrono::Duration::days(1),
        results: Mutex::new(Results {
            latency: Some(Histogram::new_with_bounds(1, 60_000_000, 3)?),
            ..Results::default()
        }),
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    match options.rate {
        None => {
            let workers: Vec<_> = (0..options.concurrency)
                .map(|_| {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        while Instant::now() < deadline {
                            let intended = Instant::now();
                            shared.place(intended).await;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.await?;
            }
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let mut tasks = Vec::new();
            let mut intended = started;
            while intended < deadline {
                tokio::time::sleep_until(intended.into()).await;
                let shared = Arc::clone(&shared);
                let at = intended;
                tasks.push(tokio::spawn(async move { shared.place(at).await }));
                intended += interval;
            }
            for task in tasks {
                task.await?;
            }
        }
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    collector.abort();
    notice_collector.abort();
    let notices = notices.lock().await;

    let mut results = shared.results.lock().await;
    results.elapsed = elapsed;
    let arrivals = arrivals.lock().await;
    let mut lag = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut missing = 0;
    let mut projection = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut unseen = 0;
    for (resource, position, answered) in results.answered.values() {
        let visible = notices.get(resource).and_then(|list| {
            list.iter()
                .filter(|(p, _)| p >= position)
                .map(|(_, at)| *at)
                .min()
        });
        match visible {
            Some(at) => projection
                .record(at.saturating_duration_since(*answered).as_micros().max(1) as u64)?,
            None => unseen += 1,
        }
    }
    for (id, (_, _, answered)) in &results.answered {
        match arrivals.get(id) {
            Some(arrived) => lag.record(
                arrived
                    .saturating_duration_since(*answered)
                    .as_micros()
                    .max(1) as u64,
            )?,
            None => missing += 1,
        }
    }
    report(&options, &results, &lag, missing, &projection, unseen)
}

struct Shared {
    http: reqwest::Client,
    tokens: Vec<String>,
    url: String,
    resources: Vec<String>,
    next: AtomicU64,
    base: chrono::NaiveDate,
    results: Mutex<Results>,
}

impl Shared {
    /// Places one booking on the next free slot (30 minutes; resources round-robin).
    async fn place(&self, intended: Instant) {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let resource = &self.resources[(k % self.resources.len() as u64) as usize];
        let slot = k / self.resources.len() as u64;
        let start = self
            .base
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default()
            + chrono::Duration::minutes(30 * slot as i64);
        let end = start + chrono::Duration::minutes(30);
        let reply = self
            .http
            .post(format!("{}/v1/bookings", self.url))
            .bearer_auth(&self.tokens[(k % self.tokens.len() as u64) as usize])
            .json(&json!({ "resource_id": resource, "start": start, "end": end }))
            .send()
            .await;
        let done = Instant::now();
        let latency = done.saturating_duration_since(intended).as_micros().max(1) as u64;
        let mut results = self.results.lock().await;
        if let Some(histogram) = results.latency.as_mut() {
            let _ = histogram.record(latency);
        }
        match reply {
            Ok(reply) if reply.status().as_u16() == 201 => {
                results.ok += 1;
                drop(results);
                if let Ok(body) = reply.json::<serde_json::Value>().await
                    && let Some(id) = body["booking"]["id"].as_str()
                    && let Some(position) = body["position"].as_str().and_then(|p| p.parse().ok())
                {
                    self.results
                        .lock()
                        .await
                        .answered
                        .insert(id.to_owned(), (resource.clone(), position, done));
                }
            }
            Ok(reply) if reply.status().is_client_error() => results.refused += 1,
            _ => results.failed += 1,
        }
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn report(
    options: &Options,
    results: &Results,
    lag: &Histogram<u64>,
    missing: usize,
    projection: &Histogram<u64>,
    unseen: usize,
) -> anyhow::Result<()> {
    let latency = results.latency.as_ref().context("histogram")?;
    let throughput = results.ok as f64 / results.elapsed.as_secs_f64();
    let mode = options.rate.map_or_else(
        || format!("closed loop, {} workers", options.concurrency),
        |r| format!("open loop, {r}/s offered"),
    );
    println!(
        "commands: place booking ({mode}, {} resources, {} s)",
        options.resources, options.seconds
    );
    println!(
        "  ok {} · refused {} · failed {} · {:.0} bookings/s",
        results.ok, results.refused, results.failed, throughput
    );
    println!(
        "  latency ms: p50 {:.2} · p95 {:.2} · p99 {:.2} · max {:.2}",
        ms(latency.value_at_quantile(0.50)),
        ms(latency.value_at_quantile(0.95)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max())
    );
    println!(
        "  relay lag ms (answer → NATS): p50 {:.2} · p99 {:.2} · max {:.2} · not seen {missing}",
        ms(lag.value_at_quantile(0.50)),
        ms(lag.value_at_quantile(0.99)),
        ms(lag.max())
    );
    println!(
        "  projection lag ms (answer → visible in the read model): p50 {:.2} · p99 {:.2} · max {:.2} · not seen {unseen}",
        ms(projection.value_at_quantile(0.50)),
        ms(projection.value_at_quantile(0.99)),
        ms(projection.max())
    );
    if let Some(path) = &options.json {
        let json = json!({
            "scenario": "commands",
            "mode": mode,
            "resources": options.resources,
            "seconds": options.seconds,
            "ok": results.ok, "refused": results.refused, "failed": results.failed,
            "throughput_per_s": throughput,
            "latency_ms": {
                "p50": ms(latency.value_at_quantile(0.50)), "p95": ms(latency.value_at_quantile(0.95)),
                "p99": ms(latency.value_at_quantile(0.99)), "max": ms(latency.max()),
            },
            "projection_lag_ms": {
                "p50": ms(projection.value_at_quantile(0.50)), "p99": ms(projection.value_at_quantile(0.99)),
                "max": ms(projection.max()), "not_seen": unseen,
            },
            "relay_lag_ms": {
                "p50": ms(lag.value_at_quantile(0.50)), "p99": ms(lag.value_at_quantile(0.99)),
                "max": ms(lag.max()), "not_seen": missing,
            },
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(())
}
