//! Replay: `projector replay` rebuilding all projections from a stored history of about 1,000,000
//! events, in a database of its own (`bench_replay`, seeded once and reused while it holds
//! enough events), timed from process start to exit, its memory sampled while it runs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};

use crate::Ctx;
use crate::engine::sibling_database;
use crate::figures::{Figure, Unit};
use crate::memory::status_kib;

/// A database holding a seeded history.
pub struct Seeded {
    url: String,
    events: u64,
}

/// Seeds (or reuses) the replay database with about `events` events, and moves every
/// projection's checkpoint to its head, as a live projector that is caught up would have.
pub async fn prepare(ctx: &Ctx, events: u64) -> anyhow::Result<Seeded> {
    let name = if ctx.quick {
        "bench_replay_quick"
    } else {
        "bench_replay"
    };
    let url = sibling_database(&ctx.engine.database_url, name)?;
    let mut admin = PgConnection::connect(&ctx.engine.database_url).await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await?;
    let mut stored = 0;
    if exists {
        let mut conn = PgConnection::connect(&url).await?;
        stored = sqlx::query_scalar::<_, i64>("select count(*) from events")
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0);
    }
    if u64::try_from(stored)? < events {
        sqlx::query(&format!("drop database if exists {name} with (force)"))
            .execute(&mut admin)
            .await?;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await?;
        let started = Instant::now();
        eprintln!("  seeding {events} events into {name} (once; later runs reuse it)");
        crate::seed::seed(&url, events, 1000, "seeded").await?;
        eprintln!("  seeded in {:.1} s", started.elapsed().as_secs_f64());
    }
    let mut conn = PgConnection::connect(&url).await?;
    let stored: i64 = sqlx::query_scalar("select count(*) from events")
        .fetch_one(&mut conn)
        .await?;
    // As if the live projectors had caught up: the replay's wait for them ends at once.
    let head = eventstore::read::last_written(&mut conn).await?;
    for projection in readmodel::projections::Projection::ALL {
        eventstore::checkpoint::load(&mut conn, projection.checkpoint()).await?;
        if !eventstore::checkpoint::set(&mut conn, projection.checkpoint(), head).await? {
            anyhow::bail!("the seeded history has no events");
        }
    }
    Ok(Seeded {
        url,
        events: u64::try_from(stored)?,
    })
}

pub async fn run(ctx: &Ctx, seeded: &Seeded) -> anyhow::Result<Vec<Figure>> {
    let binary = ctx.bin_dir.join("projector");
    if !binary.is_file() {
        bail!(
            "{} is missing: build it first (cargo build --release -p projector)",
            binary.display()
        );
    }
    let logs = ctx.bin_dir.join("bench-logs");
    std::fs::create_dir_all(&logs)?;
    let log_path = logs.join("replay.log");
    let log = std::fs::File::create(&log_path)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&binary)
        .arg("replay")
        .env("DATABASE_URL", &seeded.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let pid = child.id().context("the replay has a pid")?;
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = status_kib(pid, "VmHWM:") {
            peak_kib = peak_kib.max(kib);
        }
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "projector replay failed ({status}):\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    ctx.sampler.record("replay", peak_kib);
    let label = format!(
        "replay of {} events, all projections, rebuild and swap",
        seeded.events
    );
    Ok(vec![
        Figure::new(
            "replay.events.per_s",
            format!("{label} (process start to exit)"),
            Unit::PerSecond,
            seeded.events as f64 / seconds,
        ),
        Figure::new(
            "replay.seconds",
            format!("{label}: wall time"),
            Unit::Seconds,
            seconds,
        ),
    ])
}
