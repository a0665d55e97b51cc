//! A realistic mix: 80% availability reads, 20% booking placements, both over a Zipf-skewed set
//! of resources and days (a few rooms and the next days are far more popular than the rest), so
//! writes keep invalidating exactly the days that are read most.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::Ctx;
use crate::client::{Zipf, midnight, unit};
use crate::figures::{Figure, P50_P99, Unit};
use crate::load::{self, Latencies, Load};
use crate::scenarios::reads::{Fixture, availability_url, get};

const DAYS: usize = 14;
/// Half-hour slots between 08:00 and 18:00.
const SLOTS: usize = 20;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let fixture = Fixture::new(ctx, if ctx.quick { 10 } else { 100 }).await?;
    let resources = Arc::new(fixture.resources);
    let client = fixture.client;
    let by_resource = Arc::new(Zipf::new(resources.len(), 1.0));
    let by_day = Arc::new(Zipf::new(DAYS, 1.0));
    let reads = Arc::new(Latencies::new());
    let writes = Arc::new(Latencies::new());
    let hits = Arc::new(AtomicU64::new(0));
    let query_url = ctx.engine.query_url.clone();
    let load = Load::Closed {
        workers: if ctx.quick { 4 } else { 32 },
        seconds: ctx.seconds,
    };
    let run = load::drive(load, {
        let (reads, writes, hits) = (reads.clone(), writes.clone(), hits.clone());
        move |k| {
            let (client, resources, by_resource, by_day, reads, writes, hits, query_url) = (
                client.clone(),
                resources.clone(),
                by_resource.clone(),
                by_day.clone(),
                reads.clone(),
                writes.clone(),
                hits.clone(),
                query_url.clone(),
            );
            async move {
                let started = Instant::now();
                let resource = &resources[by_resource.rank(unit(k, 1))];
                let days = 1 + by_day.rank(unit(k, 2)) as i64;
                let token = client.token(k);
                if unit(k, 3) < 0.2 {
                    let slot = (unit(k, 4) * SLOTS as f64) as i64;
                    let start = midnight(days)
                        + chrono::Duration::hours(8)
                        + chrono::Duration::minutes(30 * slot);
                    let end = start + chrono::Duration::minutes(30);
                    let (outcome, _) = client.place(token, resource, start, end).await;
                    writes.record(k, started);
                    outcome
                } else {
                    let url = availability_url(&query_url, resource, days);
                    let outcome = get(&client, &url, token, &hits).await;
                    reads.record(k, started);
                    outcome
                }
            }
        }
    })
    .await;
    let (reads, writes) = (reads.merged(), writes.merged());
    let label = format!(
        "80% reads / 20% writes, Zipf resources and days ({})",
        load.describe()
    );
    let read_count = reads.len().max(1) as f64;
    Ok(vec![
        Figure::new(
            "mix.per_s",
            format!("{label}: answered requests"),
            Unit::PerSecond,
            run.answered_per_second(),
        ),
        Figure::new(
            "mix.write.refused_ratio",
            format!("{label}: share of writes refused (slot taken)"),
            Unit::Ratio,
            run.refused as f64 / writes.len().max(1) as f64,
        ),
        Figure::new(
            "mix.read.cache_hit_ratio",
            format!("{label}: share of reads answered from cache"),
            Unit::Ratio,
            hits.load(Ordering::Relaxed) as f64 / read_count,
        ),
        Figure::failed("mix", &label, run.failed as f64),
    ]
    .into_iter()
    .chain(Figure::latencies(
        "mix.read",
        &format!("{label}: read"),
        &reads,
        &P50_P99,
    ))
    .chain(Figure::latencies(
        "mix.write",
        &format!("{label}: write"),
        &writes,
        &P50_P99,
    ))
    .collect())
}
