//! The references that bound us, measured in the same run on the same machine:
//! - `pgbench` running the SQL transaction a booking command issues: at saturation (the write
//!   ceiling) and at 1,000/s (the latency floor of a booking at that rate);
//! - a minimal axum handler returning an availability-sized JSON body from memory (the HTTP
//!   ceiling), and the same with one Redis GET per request (the cache ceiling), both served by a
//!   child process (`bench serve-reference`) and driven by the same load generator and request
//!   shape as the availability reads.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::Ctx;
use crate::figures::{Figure, P50_P99, Unit};
use crate::load::{self, Load};
use crate::pgbench;
use crate::scenarios::reads::{Fixture, availability_url, get};

pub async fn pgbench(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    let clients = if ctx.quick { 4 } else { 16 };
    let seconds = ctx.seconds.ceil().max(1.0) as u64;
    let pgbench = pgbench::Pgbench::prepare(&ctx.engine.database_url).await?;
    let ceiling = pgbench.ceiling(clients, seconds)?;
    let label =
        format!("write ceiling: pgbench, a booking command's transaction, {clients} clients");
    // The same transaction at the rate the commands' latency targets are set for.
    let rate = if ctx.quick { 100 } else { 1000 };
    let at_rate = pgbench.at_rate(clients, rate, seconds)?;
    let rate_label = format!(
        "pgbench, a booking command's transaction, {rate}/s, timed from each scheduled start"
    );
    Ok(vec![
        Figure::new(
            "reference.pgbench.tps",
            label.clone(),
            Unit::PerSecond,
            ceiling.tps,
        ),
        Figure::new(
            "reference.pgbench.latency_avg_ms",
            format!("{label}: average latency"),
            Unit::Millis,
            ceiling.latency_ms,
        ),
        Figure::new(
            "reference.pgbench_at_1000.p50_ms",
            format!("{rate_label}: p50"),
            Unit::Millis,
            at_rate.p50_ms,
        ),
        Figure::new(
            "reference.pgbench_at_1000.p99_ms",
            format!("{rate_label}: p99"),
            Unit::Millis,
            at_rate.p99_ms,
        ),
    ])
}

pub async fn http(ctx: &Ctx) -> anyhow::Result<Vec<Figure>> {
    // A real availability answer, so the body has the size and shape we serve.
    let fixture = Fixture::new(ctx, 1).await?;
    let url = availability_url(&ctx.engine.query_url, &fixture.resources[0], 1);
    let body = fixture
        .client
        .http
        .get(&url)
        .bearer_auth(fixture.client.admin())
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let logs = ctx.bin_dir.join("bench-logs");
    std::fs::create_dir_all(&logs)?;
    let body_path = logs.join("reference-body.json");
    std::fs::write(&body_path, &body)?;
    let key = format!("bench:reference:{}", std::process::id());
    let redis = redis::Client::open(ctx.engine.redis_url.as_str())?;
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(body.as_ref())
        .arg("EX")
        .arg(3600)
        .query_async(&mut conn)
        .await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve-reference", "--port", &port.to_string()])
        .arg("--body")
        .arg(&body_path)
        .args(["--redis-url", &ctx.engine.redis_url, "--key", &key])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the reference server")?;
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fixture
        .client
        .http
        .get(format!("{base}/memory"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > deadline {
            bail!("the reference server did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let workers = if ctx.quick { 4 } else { 32 };
    let closed = Load::Closed {
        workers,
        seconds: ctx.seconds,
    };
    // The bare handler also at the cached reads' 30,000/s offered, by the same open loop: how
    // much of that tail is the machine and the load generator rather than query-api.
    let open = Load::Open {
        rate: if ctx.quick { 300 } else { 30_000 },
        seconds: ctx.seconds,
    };
    let memory = "HTTP ceiling: axum, the same body from memory";
    let mut figures = Vec::new();
    for (route, name, what, load) in [
        ("memory", "http_memory", memory, closed),
        (
            "redis",
            "http_redis",
            "cache ceiling: axum, one Redis GET per request",
            closed,
        ),
        ("memory", "http_memory_at_30000", memory, open),
    ] {
        let url = Arc::new(format!("{base}/{route}"));
        let client = fixture.client.clone();
        let hits = Arc::new(AtomicU64::new(0));
        let run = load::drive(load, move |k| {
            let (client, url, hits) = (client.clone(), url.clone(), hits.clone());
            async move { get(&client, &url, client.token(k), &hits).await }
        })
        .await;
        let label = format!("{what} ({} B, {})", body.len(), load.describe());
        figures.push(Figure::new(
            format!("reference.{name}.per_s"),
            label.clone(),
            Unit::PerSecond,
            run.ok_per_second(),
        ));
        let key = format!("reference.{name}");
        let p99 = &P50_P99[1..];
        figures.extend(Figure::latencies(
            &key,
            &format!("{label}:"),
            &run.latency,
            p99,
        ));
        figures.push(Figure::failed(&key, &label, run.failed as f64));
    }
    server.kill().await?;
    let _: Result<(), _> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
    Ok(figures)
}
