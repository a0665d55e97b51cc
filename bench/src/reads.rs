//! `bench reads`: availability reads against query-api, cached (`--mode hit`: a few hot days,
//! warmed first) or uncached (`--mode miss`: every request a (resource, day) never asked before).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use platform::auth::{Claims, Role, TokenKeys};
use serde_json::json;
use tokio::sync::Mutex;

pub struct Options {
    pub url: String,
    pub query_url: String,
    pub secret: String,
    pub resources: u64,
    pub concurrency: u64,
    pub seconds: u64,
    pub rate: Option<u64>,
    pub miss: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            url: "http://127.0.0.1:8080".into(),
            query_url: "http://127.0.0.1:8081".into(),
            secret: std::env::var("BOOKINGS_JWT_SECRET")
                .unwrap_or_else(|_| "dev-secret-change-me".into()),
            resources: 50,
            concurrency: 32,
            seconds: 10,
            rate: None,
            miss: false,
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
                "--query-url" => options.query_url = value.clone(),
                "--resources" => options.resources = number()?.max(1),
                "--concurrency" => options.concurrency = number()?.max(1),
                "--seconds" => options.seconds = number()?.max(1),
                "--rate" => options.rate = Some(number()?.max(1)),
                "--mode" => {
                    options.miss = match value.as_str() {
                        "hit" => false,
                        "miss" => true,
                        other => bail!("--mode is hit or miss, not {other}"),
                    }
                }
                other => bail!("unknown flag {other}"),
            }
        }
        Ok(options)
    }
}

struct Shared {
    http: reqwest::Client,
    tokens: Vec<String>,
    query_url: String,
    resources: Vec<String>,
    next: AtomicU64,
    miss: bool,
    today: chrono::NaiveDate,
    latency: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    failed: AtomicU64,
    hits: AtomicU64,
}

impl Shared {
    async fn read(&self, intended: Instant) {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.resources.len() as u64;
        let (resource, day) = if self.miss {
            (&self.resources[(k % count) as usize], 1 + k / count)
        } else {
            // Ten hot (resource, day) pairs.
            (&self.resources[(k % count.min(10)) as usize], 1)
        };
        let date = self.today + chrono::Duration::days(i64::try_from(day).unwrap_or(0));
        let response = self
            .http
            .get(format!(
                "{}/v1/resources/{resource}/availability?from={date}&to={date}&duration_minutes=30",
                self.query_url
            ))
            .bearer_auth(&self.tokens[(k % self.tokens.len() as u64) as usize])
            .send()
            .await;
        let latency = intended.elapsed().as_micros().max(1) as u64;
        let _ = self.latency.lock().await.record(latency);
        match response {
            Ok(response) if response.status().is_success() => {
                if response
                    .headers()
                    .get("x-cache")
                    .is_some_and(|v| v == "hit")
                {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                }
                let _ = response.bytes().await;
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let tenant = format!("benchreads{}", chrono::Utc::now().timestamp());
    let tokens: Vec<String> = (0..64)
        .map(|i| {
            TokenKeys::new(&options.secret).sign(&Claims {
                sub: format!("reader-{i}"),
                tenant: tenant.clone(),
                roles: vec![Role::Admin],
                exp: chrono::Utc::now().timestamp() + 3600,
            })
        })
        .collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let mut resources = Vec::new();
    let mut position = String::new();
    for i in 0..options.resources {
        let body: serde_json::Value = http
            .post(format!("{}/v1/resources", options.url))
            .bearer_auth(&tokens[0])
            .json(&json!({ "name": format!("read bench {i}"), "kind": "meeting_room", "time_zone": "UTC",
                           "capacity": 2, "policy": { "buffer_after_minutes": 10 } }))
            .send()
            .await
            .context("is command-api running?")?
            .json()
            .await?;
        let id = body["resource"]["id"]
            .as_str()
            .context("a resource id")?
            .to_owned();
        // A few bookings so each day has something to subtract.
        for hour in [9, 11, 14] {
            let date = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
            let start = date.and_hms_opt(hour, 0, 0).context("time")?.and_utc();
            let booked: serde_json::Value = http
                .post(format!("{}/v1/bookings", options.url))
                .bearer_auth(&tokens[0])
                .json(&json!({ "resource_id": id, "start": start, "end": start + chrono::Duration::hours(1) }))
                .send()
                .await?
                .json()
                .await?;
            if let Some(p) = booked["position"].as_str() {
                position = p.to_owned();
            }
        }
        resources.push(id);
    }
    // Wait until the read side has it all.
    let first = resources.first().context("at least one resource")?;
    let ready = http
        .get(format!(
            "{}/v1/resources/{first}?min_position={position}",
            options.query_url
        ))
        .bearer_auth(&tokens[0])
        .send()
        .await?;
    if !ready.status().is_success() {
        bail!("query-api did not catch up: {}", ready.status());
    }
    let shared = Arc::new(Shared {
        http,
        tokens,
        query_url: options.query_url.clone(),
        resources,
        next: AtomicU64::new(0),
        miss: options.miss,
        today: chrono::Utc::now().date_naive(),
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        hits: AtomicU64::new(0),
    });
    if !options.miss {
        for _ in 0..20 {
            shared.read(Instant::now()).await;
        }
        *shared.latency.lock().await = Histogram::new_with_bounds(1, 60_000_000, 3)?;
        shared.ok.store(0, Ordering::Relaxed);
        shared.hits.store(0, Ordering::Relaxed);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    match options.rate {
        None => {
            let workers: Vec<_> = (0..options.concurrency)
                .map(|_| {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        while Instant::now() < deadline {
                            shared.read(Instant::now()).await;
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
                tasks.push(tokio::spawn(async move { shared.read(at).await }));
                intended += interval;
            }
            for task in tasks {
                task.await?;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let latency = shared.latency.lock().await;
    let ok = shared.ok.load(Ordering::Relaxed);
    let mode = options.rate.map_or_else(
        || format!("closed loop, {} workers", options.concurrency),
        |r| format!("open loop, {r}/s offered"),
    );
    println!(
        "reads: availability, {} ({mode}, {} s)",
        if options.miss {
            "uncached (every day new)"
        } else {
            "cached (10 hot days)"
        },
        options.seconds
    );
    println!(
        "  ok {ok} · failed {} · X-Cache hit {} · {:.0} reads/s",
        shared.failed.load(Ordering::Relaxed),
        shared.hits.load(Ordering::Relaxed),
        ok as f64 / elapsed
    );
    println!(
        "  latency ms: p50 {:.2} · p95 {:.2} · p99 {:.2} · max {:.2}",
        latency.value_at_quantile(0.50) as f64 / 1000.0,
        latency.value_at_quantile(0.95) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0
    );
    Ok(())
}
