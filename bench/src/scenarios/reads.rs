//! Availability reads against query-api: cached (a few hot resource-days, warmed first) at
//! saturation and at a fixed offered rate, and uncached (every request a resource-day never
//! asked before, so each one is computed from Postgres).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use platform::auth::Role;
use serde_json::json;

use crate::Ctx;
use crate::client::{Client, midnight};
use crate::figures::{Figure, Unit};
use crate::load::{self, Load, Outcome, Run};

/// Resources with three bookings on the first day each (so the answer has gaps to compute).
pub struct Fixture {
    pub client: Arc<Client>,
    pub resources: Vec<String>,
}

impl Fixture {
    pub async fn new(ctx: &Ctx, count: usize) -> anyhow::Result<Fixture> {
        // 256 tokens: the engine's rate limit is per token, as it is for real clients.
        let client = Client::new(&ctx.engine, "benchreads", 256, Role::Client)?;
        let mut resources = Vec::with_capacity(count);
        let mut position = String::new();
        for i in 0..count {
            let id = client
                .create_resource(
                    json!({ "name": format!("read bench {i}"), "kind": "meeting_room",
                    "time_zone": "UTC", "capacity": 2, "policy": { "buffer_after_minutes": 10 } }),
                )
                .await?;
            for hour in [9, 11, 14] {
                let start = midnight(1) + chrono::Duration::hours(hour);
                let (_, body) = client
                    .place(
                        client.admin(),
                        &id,
                        start,
                        start + chrono::Duration::hours(1),
                    )
                    .await;
                if let Some(p) = body.as_ref().and_then(|b| b["position"].as_str()) {
                    p.clone_into(&mut position);
                }
            }
            resources.push(id);
        }
        let last = resources.last().context("at least one resource")?;
        client.wait_for(last, &position).await?;
        Ok(Fixture {
            client: Arc::new(client),
            resources,
        })
    }
}

/// The availability URL of `resource` on the day `days` from today, 30-minute slots.
pub fn availability_url(query_url: &str, resource: &str, days: i64) -> String {
    let date = midnight(days).date_naive();
    format!(
        "{query_url}/v1/resources/{resource}/availability?from={date}&to={date}&duration_minutes=30"
    )
}

/// Sends one GET; `Ok` for a 2xx (counting `X-Cache: hit` in `hits`).
pub async fn get(client: &Client, url: &str, token: &str, hits: &AtomicU64) -> Outcome {
    match client.http.get(url).bearer_auth(token).send().await {
        Ok(reply) if reply.status().is_success() => {
            if reply.headers().get("x-cache").is_some_and(|v| v == "hit") {
                hits.fetch_add(1, Ordering::Relaxed);
            }
            match reply.bytes().await {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Failed,
            }
        }
        _ => Outcome::Failed,
    }
}

pub async fn hit(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let fixture = Fixture::new(ctx, 10).await?;
    let urls: Arc<Vec<String>> = Arc::new(
        fixture
            .resources
            .iter()
            .map(|r| availability_url(&ctx.engine.query_url, r, 1))
            .collect(),
    );
    let hits = Arc::new(AtomicU64::new(0));
    let read = {
        let (client, urls, hits) = (fixture.client.clone(), urls.clone(), hits.clone());
        move |k: u64| {
            let (client, urls, hits) = (client.clone(), urls.clone(), hits.clone());
            async move {
                let url = &urls[(k % urls.len() as u64) as usize];
                get(&client, url, client.token(k), &hits).await
            }
        }
    };
    // Warm every hot day.
    for k in 0..urls.len() as u64 * 2 {
        read(k).await;
    }
    let mut figures = Vec::new();
    let workers = if ctx.quick { 4 } else { 32 };
    let closed = Load::Closed {
        workers,
        seconds: ctx.seconds,
    };
    hits.store(0, Ordering::Relaxed);
    let run = load::drive(closed, read.clone()).await;
    let label = format!("cached availability reads ({})", closed.describe());
    figures.extend(read_figures("reads.hit", &label, &run, &hits));

    // The 30,000/s, and 10,000/s: below what this machine's HTTP ceiling allows.
    for (key, rate) in [
        ("reads.hit_at_10000", 10_000),
        ("reads.hit_at_30000", 30_000),
    ] {
        let open = Load::Open {
            rate: if ctx.quick { rate / 100 } else { rate },
            seconds: ctx.seconds,
        };
        hits.store(0, Ordering::Relaxed);
        let run = load::drive(open, read.clone()).await;
        let label = format!("cached availability reads ({})", open.describe());
        figures.extend(read_figures(key, &label, &run, &hits));
    }
    Ok(figures)
}

pub async fn miss(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let fixture = Fixture::new(ctx, if ctx.quick { 10 } else { 200 }).await?;
    let hits = Arc::new(AtomicU64::new(0));
    let resources = Arc::new(fixture.resources);
    let (client, query_url) = (fixture.client.clone(), ctx.engine.query_url.clone());
    let load = Load::Closed {
        workers: if ctx.quick { 2 } else { 8 },
        seconds: ctx.seconds,
    };
    let run = load::drive(load, {
        let hits = hits.clone();
        move |k| {
            let (client, resources, hits, query_url) = (
                client.clone(),
                resources.clone(),
                hits.clone(),
                query_url.clone(),
            );
            async move {
                let count = resources.len() as u64;
                let resource = &resources[(k % count) as usize];
                // Day 1 holds the bookings; every later day is new for its resource.
                let days = i64::try_from(1 + k / count).unwrap_or(1);
                let url = availability_url(&query_url, resource, days);
                get(&client, &url, client.token(k), &hits).await
            }
        }
    })
    .await;
    let label = format!("uncached availability reads ({})", load.describe());
    Ok(read_figures("reads.miss", &label, &run, &hits))
}

fn read_figures(key: &str, label: &str, run: &Run, hits: &AtomicU64) -> Vec<Figure> {
    let answered = run.ok.max(1) as f64;
    let mut figures = Figure::of_run(key, label, run);
    figures.push(Figure::new(
        format!("{key}.cache_hit_ratio"),
        format!("{label}: share answered `X-Cache: hit`"),
        Unit::Ratio,
        hits.load(Ordering::Relaxed) as f64 / answered,
    ));
    figures
}
