//! Booking commands: placements on distinct 30-minute slots over many resources, at saturation
//! (closed loop) and at 1,000 per second offered (open loop), with the lag from each answer to
//! its event on NATS (relay lag) and to its visibility in the read model (projection lag: the
//! projector's "changed" notice for the resource at or past the booking's position).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use platform::auth::Role;
use serde_json::json;

use crate::Ctx;
use crate::client::{Client, midnight};
use crate::figures::{Figure, Unit};
use crate::load::{self, Load, Run, histogram, ms};

const RESOURCES: usize = 200;

pub async fn saturation(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let workers = if ctx.quick { 4 } else { 16 };
    let load = Load::Closed {
        workers,
        seconds: ctx.seconds,
    };
    let (run, _) = place_many(ctx, load).await?;
    let label = format!("booking commands at saturation ({})", load.describe());
    Ok(Figure::of_run("commands.saturation", &label, &run))
}

pub async fn at_rate(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let rate = if ctx.quick { 100 } else { 1000 };
    let load = Load::Open {
        rate,
        seconds: ctx.seconds,
    };
    let (run, lags) = place_many(ctx, load).await?;
    let label = format!("booking commands, {}", load.describe());
    let key = "commands.at_1000";
    let quantiles = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)];
    let mut figures: Vec<Figure> =
        Figure::latencies(key, &format!("{label}:"), &run.latency, &quantiles).collect();
    figures.push(Figure::new(
        format!("{key}.max_ms"),
        format!("{label}: max"),
        Unit::Millis,
        ms(run.latency.max()),
    ));
    figures.push(Figure::failed(key, &label, run.failed as f64));
    for (name, histogram, unseen) in [
        ("relay_lag", &lags.relay, lags.relay_unseen),
        ("projection_lag", &lags.projection, lags.projection_unseen),
    ] {
        let what = if name == "relay_lag" {
            "relay lag (answer → event on NATS)"
        } else {
            "projection lag (answer → visible in the read model)"
        };
        for (q_name, q) in [("p50", 0.50), ("p99", 0.99)] {
            figures.push(Figure::new(
                format!("{key}.{name}_{q_name}_ms"),
                format!("{what} at {rate}/s: {q_name}"),
                Unit::Millis,
                ms(histogram.value_at_quantile(q)),
            ));
        }
        figures.push(Figure::new(
            format!("{key}.{name}_unseen"),
            format!("{what}: answers never seen"),
            Unit::Count,
            unseen as f64,
        ));
    }
    Ok(figures)
}

struct Lags {
    relay: hdrhistogram::Histogram<u64>,
    relay_unseen: usize,
    projection: hdrhistogram::Histogram<u64>,
    projection_unseen: usize,
}

/// Booking id → (resource id, position token, when its answer arrived).
type Answered = HashMap<String, (String, eventstore::Position, Instant)>;
/// Resource id → the projector's notices: (position reached, when it arrived).
type Notices = HashMap<String, Vec<(eventstore::Position, Instant)>>;

async fn place_many(ctx: &Ctx, load: Load) -> anyhow::Result<(Run, Lags)> {
    let client = Arc::new(Client::new(&ctx.engine, "benchcmd", 64, Role::Admin)?);
    let mut resources = Vec::with_capacity(RESOURCES);
    for i in 0..RESOURCES {
        resources.push(
            client
                .create_resource(json!({ "name": format!("bench {i}"), "kind": "meeting_room", "time_zone": "UTC" }))
                .await?,
        );
    }
    let resources = Arc::new(resources);

    let nats = platform::nats::connect(&ctx.engine.nats_url, "bench").await?;
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut placed = nats
        .subscribe(format!("{}.*.BookingPlaced", ctx.engine.subject_prefix))
        .await?;
    let relay_watch = tokio::spawn({
        let arrivals = Arc::clone(&arrivals);
        async move {
            while let Some(message) = placed.next().await {
                let at = Instant::now();
                if let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&message.payload)
                    && let Some(id) = envelope["stream_id"].as_str()
                    && let Ok(mut arrivals) = arrivals.lock()
                {
                    arrivals.insert(id.to_owned(), at);
                }
            }
        }
    });
    let notices: Arc<Mutex<Notices>> = Arc::default();
    let mut changed = nats
        .subscribe(format!("{}.*", ctx.engine.changed_subject))
        .await?;
    let notice_watch = tokio::spawn({
        let notices = Arc::clone(&notices);
        async move {
            while let Some(message) = changed.next().await {
                let at = Instant::now();
                if let Ok(notice) = serde_json::from_slice::<serde_json::Value>(&message.payload)
                    && let (Some(resource), Some(position)) = (
                        notice["resource_id"].as_str(),
                        notice["position"].as_str().and_then(|p| p.parse().ok()),
                    )
                    && let Ok(mut notices) = notices.lock()
                {
                    notices
                        .entry(resource.to_owned())
                        .or_default()
                        .push((position, at));
                }
            }
        }
    });
    // Make sure both subscriptions are registered before the first command.
    nats.flush().await?;

    let answered: Arc<Mutex<Answered>> = Arc::default();
    let slots = Arc::new(AtomicU64::new(0));
    let base = midnight(1);
    let run = load::drive(load, {
        let (client, resources, answered) = (client.clone(), resources.clone(), answered.clone());
        move |k| {
            let (client, resources, answered, slots) = (
                client.clone(),
                resources.clone(),
                answered.clone(),
                slots.clone(),
            );
            async move {
                let n = slots.fetch_add(1, Ordering::Relaxed);
                let resource = &resources[(n % resources.len() as u64) as usize];
                let slot = i64::try_from(n / resources.len() as u64).unwrap_or(0);
                let start = base + chrono::Duration::minutes(30 * slot);
                let end = start + chrono::Duration::minutes(30);
                let (outcome, body) = client.place(client.token(k), resource, start, end).await;
                let done = Instant::now();
                if let Some(body) = body
                    && let Some(id) = body["booking"]["id"].as_str()
                    && let Some(position) = body["position"].as_str().and_then(|p| p.parse().ok())
                    && let Ok(mut answered) = answered.lock()
                {
                    answered.insert(id.to_owned(), (resource.clone(), position, done));
                }
                outcome
            }
        }
    })
    .await;
    // Let the tail of the events arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay_watch.abort();
    notice_watch.abort();

    let answered = answered.lock().map(|a| a.clone()).unwrap_or_default();
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let notices = notices.lock().map(|n| n.clone()).unwrap_or_default();
    let mut lags = Lags {
        relay: histogram(),
        relay_unseen: 0,
        projection: histogram(),
        projection_unseen: 0,
    };
    for (id, (resource, position, answered_at)) in &answered {
        match arrivals.get(id) {
            Some(at) => lags
                .relay
                .saturating_record(micros_between(*answered_at, *at)),
            None => lags.relay_unseen += 1,
        }
        let visible = notices.get(resource).and_then(|list| {
            list.iter()
                .filter(|(p, _)| p >= position)
                .map(|(_, at)| *at)
                .min()
        });
        match visible {
            Some(at) => lags
                .projection
                .saturating_record(micros_between(*answered_at, at)),
            None => lags.projection_unseen += 1,
        }
    }
    if run.ok > 0 && answered.is_empty() {
        anyhow::bail!("no booking answer carried an id and a position");
    }
    Ok((run, lags))
}

/// Microseconds from `from` to `to`, at least 1 (a notice can beat the answer to the client).
fn micros_between(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_micros().max(1) as u64
}
