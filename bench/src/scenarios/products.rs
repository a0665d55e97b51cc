//! The booking products of v1.1, each beside the figure it is held against:
//! - **pools**: a booking over 20 listed candidates at 1,000/s offered, next to single-resource
//!   bookings at the same rate in the same run. The pools fill in order: the i-th request for a
//!   period finds the first i candidates taken, so a request passes over 9.5 taken candidates
//!   on average (the cost of a pool is its refusals);
//! - **search**: `availability/search` over 500 resources of one kind, uncached (every request
//!   a day no one asked before, so each of the 500 resource-days comes from Postgres) and
//!   cached (one warmed day);
//! - **stats**: `stats/summary` over 90 days × 200 resources with a booking on every
//!   resource-day, cycling through the four groupings.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use platform::auth::Role;
use serde_json::{Value, json};

use crate::Ctx;
use crate::client::{Client, midnight};
use crate::figures::{Figure, Unit};
use crate::load::{self, Load, Run};
use crate::scenarios::reads::get;

/// Candidates per pool request.
const POOL_SIZE: usize = 20;
/// Booking commands per second offered to both the single and the pool run.
const RATE: u64 = 1_000;

pub async fn pools(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let rate = if ctx.quick { RATE / 10 } else { RATE };
    let load = Load::Open {
        rate,
        seconds: ctx.seconds,
    };
    // Enough pools that requests for one period arrive spread out, as independent customers
    // would (at 1,000/s over 10 pools, one every 10 ms per pool).
    let groups = if ctx.quick { 2 } else { 10 };
    let client = Arc::new(Client::new(&ctx.engine, "benchpool", 64, Role::Client)?);
    let mut resources = Vec::with_capacity(groups * POOL_SIZE);
    for i in 0..groups * POOL_SIZE {
        resources.push(
            client
                .create_resource(json!({ "name": format!("pool {i:04}"), "kind": "desk",
                    "time_zone": "UTC" }))
                .await?,
        );
    }
    let base = midnight(1);
    let singles = Arc::new(resources.clone());
    // Single bookings: each request on a resource and half-hour of its own, as `commands` does.
    let single = load::drive(load, {
        let client = client.clone();
        move |k| {
            let (client, singles) = (client.clone(), singles.clone());
            async move {
                let count = singles.len() as u64;
                let resource = &singles[(k % count) as usize];
                let start = half_hour(base, k / count);
                let end = start + chrono::Duration::minutes(30);
                client.place(client.token(k), resource, start, end).await.0
            }
        }
    })
    .await;
    // Pool bookings, on the days after those the single run used.
    let pool_base = midnight(30);
    let pools: Arc<Vec<Vec<String>>> = Arc::new(
        resources
            .chunks(POOL_SIZE)
            .map(<[String]>::to_vec)
            .collect(),
    );
    let placed_on = Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
    let pool = load::drive(load, {
        let (client, placed_on) = (client.clone(), placed_on.clone());
        move |k| {
            let (client, pools, placed_on) = (client.clone(), pools.clone(), placed_on.clone());
            async move {
                let count = pools.len() as u64;
                let candidates = &pools[(k % count) as usize];
                // The requests of one pool, in turn: POOL_SIZE of them per period.
                let period = k / count / POOL_SIZE as u64;
                let start = half_hour(pool_base, period);
                let body = json!({ "resource_ids": candidates, "start": start,
                    "end": start + chrono::Duration::minutes(30) });
                let (outcome, answer) = client.book(client.token(k), &body).await;
                if let Some(resource) = answer
                    .as_ref()
                    .and_then(|a| a["booking"]["resource_id"].as_str())
                    && let Ok(mut placed) = placed_on.lock()
                {
                    placed.push((k % count + count * period, resource.to_owned()));
                }
                outcome
            }
        }
    })
    .await;
    let placed = placed_on.lock().map(|p| p.clone()).unwrap_or_default();
    let label = |what: &str| format!("{what}, {}", load.describe());
    let mut figures = at_rate(
        "products.single_at_1000",
        &label("single bookings"),
        &single,
    );
    figures.extend(at_rate(
        "products.pool_at_1000",
        &label("pool bookings over 20 listed candidates"),
        &pool,
    ));
    figures.push(Figure::new(
        "products.pool_at_1000.double_placed",
        "pool bookings: two bookings of one period on one resource",
        Unit::Count,
        doubly_placed(placed) as f64,
    ));
    Ok(figures)
}

/// The half-hour `n` after `base`, within 08:00–20:00 (24 per day).
fn half_hour(base: DateTime<Utc>, n: u64) -> DateTime<Utc> {
    let day = i64::try_from(n / 24).unwrap_or(0);
    let slot = i64::try_from(n % 24).unwrap_or(0);
    base + chrono::Duration::days(day) + chrono::Duration::minutes(8 * 60 + 30 * slot)
}

/// Pairs of (pool period, resource) placed twice: never expected (the guard forbids it).
fn doubly_placed(mut placed: Vec<(u64, String)>) -> usize {
    let before = placed.len();
    placed.sort();
    placed.dedup();
    before - placed.len()
}

fn at_rate(key: &str, label: &str, run: &Run) -> Vec<Figure> {
    let mut figures: Vec<Figure> = Figure::latencies(
        key,
        &format!("{label}:"),
        &run.latency,
        &crate::figures::P50_P99,
    )
    .collect();
    figures.push(Figure::new(
        format!("{key}.per_s"),
        format!("{label}: placed"),
        Unit::PerSecond,
        run.ok_per_second(),
    ));
    figures.push(Figure::failed(key, label, run.failed as f64));
    figures
}

pub async fn search(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let count = if ctx.quick { 20 } else { 500 };
    let client = Arc::new(Client::new(&ctx.engine, "benchsearch", 64, Role::Client)?);
    let mut last = None;
    for i in 0..count {
        let id = client
            .create_resource(json!({
                "name": format!("room {i:03}"), "kind": "classroom", "time_zone": "UTC",
                "attributes": { "building": if i % 2 == 0 { "A" } else { "B" }, "seats": 10 + i % 50,
                    "features": if i % 3 == 0 { json!(["projector"]) } else { json!([]) } },
                // Far-ahead days stay bookable, so every uncached request asks for a new one.
                "policy": { "max_advance_days": 3650 },
            }))
            .await?;
        // A booking on the searched hours of every resource but every fifth.
        let start = midnight(1) + chrono::Duration::hours(10);
        if i % 5 != 0 {
            let (_, answer) = client
                .place(
                    client.admin(),
                    &id,
                    start,
                    start + chrono::Duration::hours(1),
                )
                .await;
            if let Some(position) = answer.as_ref().and_then(|a| a["position"].as_str()) {
                last = Some(position.to_owned());
            }
        }
    }
    let position = last.context("the search fixture placed its bookings")?;
    let url = |days: i64| {
        let start = midnight(days) + chrono::Duration::hours(10);
        let end = start + chrono::Duration::hours(2);
        format!(
            "{}/v1/availability/search?kind=classroom&start={}&end={}",
            ctx.engine.query_url,
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
    };
    let first = format!("{}&min_position={position}", url(1));
    let warmed = wait_until_answered(&client, &first).await?;
    anyhow::ensure!(
        warmed["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty()),
        "the search found no free room: {warmed}"
    );

    let mut figures = Vec::new();
    // Cached: the day asked above, warmed for every resource.
    let cached_url = Arc::new(url(1));
    let hits = Arc::new(AtomicU64::new(0));
    let load = Load::Closed {
        workers: if ctx.quick { 2 } else { 8 },
        seconds: ctx.seconds,
    };
    let run = load::drive(load, {
        let (client, hits) = (client.clone(), hits.clone());
        move |k| {
            let (client, url, hits) = (client.clone(), cached_url.clone(), hits.clone());
            async move { get(&client, &url, client.token(k), &hits).await }
        }
    })
    .await;
    figures.extend(with_hits(
        "products.search_cached",
        &format!(
            "search over {count} resources, cached ({})",
            load.describe()
        ),
        &run,
        &hits,
    ));
    // Uncached: a new day per request (up to 3,000 days ahead), one at a time per worker.
    let uncached = Load::Open {
        rate: if ctx.quick { 10 } else { 20 },
        seconds: ctx.seconds,
    };
    let hits = Arc::new(AtomicU64::new(0));
    let urls: Arc<Vec<String>> = Arc::new((2..3_000).map(url).collect());
    let run = load::drive(uncached, {
        let (client, hits) = (client.clone(), hits.clone());
        move |k| {
            let (client, urls, hits) = (client.clone(), urls.clone(), hits.clone());
            async move {
                let url = &urls[(k % urls.len() as u64) as usize];
                get(&client, url, client.token(k), &hits).await
            }
        }
    })
    .await;
    figures.extend(with_hits(
        "products.search_uncached",
        &format!(
            "search over {count} resources, uncached ({})",
            uncached.describe()
        ),
        &run,
        &hits,
    ));
    Ok(figures)
}

fn with_hits(key: &str, label: &str, run: &Run, hits: &AtomicU64) -> Vec<Figure> {
    let mut figures = Figure::of_run(key, label, run);
    figures.push(Figure::new(
        format!("{key}.cache_hit_ratio"),
        format!("{label}: share answered `X-Cache: hit`"),
        Unit::Ratio,
        hits.load(Ordering::Relaxed) as f64 / run.ok.max(1) as f64,
    ));
    figures
}

pub async fn stats(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let (resources, days) = if ctx.quick { (10, 5) } else { (200, 90) };
    let client = Arc::new(Client::new(&ctx.engine, "benchstats", 64, Role::Client)?);
    let service = client
        .create_service(
            json!({ "name": "Cut", "duration_minutes": 45, "buffer_after_minutes": 10,
            "price": { "amount_minor": 2500, "currency": "EUR" }, "resource_kind": "barber" }),
        )
        .await?;
    let mut ids = Vec::with_capacity(resources);
    for i in 0..resources {
        let kind = if i % 2 == 0 { "barber" } else { "room" };
        ids.push(
            client
                .create_resource(json!({ "name": format!("stats {i:03}"), "kind": kind,
                    "time_zone": "UTC", "opening_hours": { "mon": [["08:00", "18:00"]],
                    "tue": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]],
                    "thu": [["08:00", "18:00"]], "fri": [["08:00", "18:00"]],
                    "sat": [["08:00", "18:00"]], "sun": [["08:00", "18:00"]] } }))
                .await?,
        );
    }
    // A booking on every resource-day: barbers book the priced service, rooms an hour.
    let total = resources * days;
    let placed: Vec<Option<eventstore::Position>> = futures::stream::iter(0..total)
        .map(|n| {
            let (client, ids, service) = (&client, &ids, &service);
            async move {
                let index = n % ids.len();
                let day = 1 + i64::try_from(n / ids.len()).unwrap_or(0);
                let start = midnight(day) + chrono::Duration::hours(10);
                let body = if index % 2 == 0 {
                    json!({ "resource_id": ids[index], "service_id": service, "start": start })
                } else {
                    json!({ "resource_id": ids[index], "start": start,
                        "end": start + chrono::Duration::hours(1) })
                };
                let (_, answer) = client.book(client.token(n as u64), &body).await;
                answer.and_then(|a| a["position"].as_str()?.parse().ok())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let booked = placed.iter().flatten().count();
    anyhow::ensure!(
        booked == total,
        "the stats fixture placed {booked} of {total} bookings"
    );
    let position = placed
        .into_iter()
        .flatten()
        .max()
        .context("the stats fixture's last position")?;
    let from = midnight(1).date_naive();
    let to = from + chrono::Duration::days(i64::try_from(days).unwrap_or(1) - 1);
    let url = |group_by: &str| {
        format!(
            "{}/v1/stats/summary?from={from}&to={to}&group_by={group_by}",
            ctx.engine.query_url
        )
    };
    let ready = format!("{}&min_position={position}", url("resource"));
    let answer = wait_until_answered(&client, &ready).await?;
    let counted: u64 = answer["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["bookings"].as_u64()).sum())
        .unwrap_or(0);
    anyhow::ensure!(
        counted == total as u64,
        "stats/summary counts {counted} bookings of {total}"
    );
    let urls: Arc<Vec<String>> = Arc::new(
        ["resource", "service", "kind", "day"]
            .into_iter()
            .map(url)
            .collect(),
    );
    let load = Load::Closed {
        workers: if ctx.quick { 2 } else { 8 },
        seconds: ctx.seconds,
    };
    let hits = Arc::new(AtomicU64::new(0));
    let run = load::drive(load, {
        let client = client.clone();
        move |k| {
            let (client, urls, hits) = (client.clone(), urls.clone(), hits.clone());
            async move {
                let url = &urls[(k % urls.len() as u64) as usize];
                // Viewers and admins read stats; the client tokens may not.
                get(&client, url, client.admin(), &hits).await
            }
        }
    })
    .await;
    Ok(Figure::of_run(
        "products.stats_summary",
        &format!(
            "stats/summary over {days} days × {resources} resources, the four groupings in turn ({})",
            load.describe()
        ),
        &run,
    ))
}

/// GETs `url` (with the admin token) until it answers 200, for up to 30 s; its body.
async fn wait_until_answered(client: &Client, url: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = client
            .http
            .get(url)
            .bearer_auth(client.admin())
            .send()
            .await?;
        if reply.status().is_success() {
            return Ok(reply.json().await?);
        }
        if Instant::now() > deadline {
            anyhow::bail!("{url} still answers {} after 30 s", reply.status());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
