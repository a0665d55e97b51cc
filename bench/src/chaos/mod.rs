//! `bench chaos [--short]`: the chaos suite. It runs the three services as real processes on a
//! Postgres, NATS and Redis of its own, puts booking load on them, kills and breaks everything
//! in turn (each service with `kill -9`, the projector at a failpoint, NATS, Redis, Postgres,
//! forged messages on the events subjects), then, with everything up again and the load
//! stopped, proves that nothing was lost, nothing happened twice, nothing is double-booked,
//! the read models have not drifted and no cache serves a stale answer (see `verify`).
//!
//! ```text
//! bench chaos [--short] [--rounds N] [--seed N] [--shared-postgres]
//! ```
//! `--short` (what CI runs) injects each fault once in 75 to 95 s; the full run injects each
//! three times and adds two storms (everything at once), in about 5 minutes.
//! `--sabotage read-busy|busy-row|booking-row|stream-message` damages the engine's state on
//! purpose after the load, before the verification: it shows that the checks can fail (the run
//! must then exit non-zero). Logs of every process (all their lives, in order) and the report go to
//! `target/chaos/<run>/`.

mod api;
mod faults;
mod infra;
mod ledger;
mod load;
mod process;
mod random;
mod report;
mod sabotage;
mod services;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use faults::{Forged, Injected};
use infra::{Nats, Postgres, Redis};
use load::Load;
use random::Rng;
use report::Report;
use services::{Config, Service, Services};

/// `bench chaos`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// One round of every fault (CI): about a minute and a half
    #[arg(long)]
    short: bool,
    /// Rounds of faults (default: 3, with --short 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// The seed of the run's random choices (default: from the process id and the clock)
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Use a fresh database on the shared Postgres server instead of a cluster of its own
    #[arg(long)]
    shared_postgres: bool,
    /// Damage the state before the checks, to see them fail (internal)
    #[arg(long, value_name = "KIND", hide = true)]
    sabotage: Option<String>,
}

struct Options {
    short: bool,
    rounds: usize,
    seed: u64,
    shared_postgres: bool,
    sabotage: Option<String>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        let default_rounds = if args.short { 1 } else { 3 };
        Options {
            short: args.short,
            rounds: args.rounds.map_or(default_rounds, |n| n as usize),
            seed: args.seed.unwrap_or_else(|| {
                u64::from(std::process::id()) ^ chrono::Utc::now().timestamp_micros() as u64
            }),
            shared_postgres: args.shared_postgres,
            sabotage: args.sabotage,
        }
    }
}

/// How a run is paced.
struct Pace {
    sessions: usize,
    readers: usize,
    days: u32,
    warmup: Duration,
    /// Between one fault's recovery and the next fault, `gap` ± a third.
    gap: Duration,
}

impl Pace {
    fn of(short: bool) -> Pace {
        if short {
            Pace {
                sessions: 10,
                readers: 2,
                days: 16,
                warmup: Duration::from_secs(4),
                gap: Duration::from_secs(6),
            }
        } else {
            Pace {
                sessions: 12,
                readers: 2,
                days: 60,
                warmup: Duration::from_secs(8),
                gap: Duration::from_secs(8),
            }
        }
    }
}

/// Everything the run owns and breaks.
pub struct Rig {
    pub postgres: Postgres,
    pub nats: Nats,
    pub redis: Redis,
    pub services: Services,
    pub config: Config,
    pub pool: PgPool,
    pub bin_dir: PathBuf,
    pub logs: PathBuf,
}

pub async fn main(args: Args) -> anyhow::Result<()> {
    let options = Options::from(args);
    let started = Instant::now();
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("bench lives in a directory")?
        .to_path_buf();
    let run = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        std::process::id()
    );
    let logs = bin_dir
        .parent()
        .unwrap_or(&bin_dir)
        .join("chaos")
        .join(&run);
    std::fs::create_dir_all(&logs)?;
    let dir = std::env::temp_dir().join(format!("bookings-chaos-{run}"));
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "chaos: {} run, seed {}, logs in {}",
        if options.short { "short" } else { "full" },
        options.seed,
        logs.display()
    );
    let fallback_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let postgres = Postgres::start(&dir, &fallback_url, options.shared_postgres).await?;
    let mut rig = match Rig::start(postgres, &dir, bin_dir, logs.clone()).await {
        Ok(rig) => rig,
        Err((postgres, err)) => {
            let _ = postgres.stop(&logs).await;
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
    };
    let outcome = tokio::select! {
        outcome = exercise(&mut rig, &options, started) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    rig.teardown().await;
    let _ = std::fs::remove_dir_all(&dir);
    let report = outcome?;
    let table = report.table();
    println!("\n{table}");
    std::fs::write(
        logs.join("report.md"),
        format!("{table}\n{}", report.timeline()),
    )?;
    let failures = report.failures();
    if failures.is_empty() {
        println!(
            "chaos: nothing lost, nothing duplicated, no drift, no stale cache ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        for detail in report.details() {
            eprintln!("{detail}");
        }
        bail!(
            "chaos: the engine failed: {} (logs in {})",
            failures.join("; "),
            logs.display()
        )
    }
}

impl Rig {
    async fn start(
        postgres: Postgres,
        dir: &Path,
        bin_dir: PathBuf,
        logs: PathBuf,
    ) -> Result<Rig, (Postgres, anyhow::Error)> {
        let started = async {
            let nats = Nats::start(dir, &logs).await?;
            let redis = Redis::start(&logs).await?;
            let config = Config {
                database_url: postgres.url.clone(),
                nats_url: nats.url.clone(),
                redis_url: redis.url.clone(),
                stream: "CHAOS".to_owned(),
                subject_prefix: "chaos".to_owned(),
                changed_subject: "chaos-changed".to_owned(),
                key_prefix: "chaos:".to_owned(),
                secret: "chaos-secret-of-at-least-thirty-two-bytes".to_owned(),
            };
            let services = Services::start(&bin_dir, &config, &logs).await?;
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&config.database_url)
                .await?;
            anyhow::Ok((nats, redis, config, services, pool))
        }
        .await;
        match started {
            Ok((nats, redis, config, services, pool)) => Ok(Rig {
                postgres,
                nats,
                redis,
                services,
                config,
                pool,
                bin_dir,
                logs,
            }),
            Err(err) => Err((postgres, err)),
        }
    }

    async fn teardown(&mut self) {
        self.services.stop().await;
        self.pool.close().await;
        self.nats.process.kill().await;
        self.redis.process.kill().await;
        if let Err(err) = self.postgres.stop(&self.logs).await {
            eprintln!("could not stop Postgres: {err:#}");
        }
    }
}

async fn exercise(rig: &mut Rig, options: &Options, started: Instant) -> anyhow::Result<Report> {
    let pace = Pace::of(options.short);
    let mut rng = Rng::new(options.seed);
    let api = Arc::new(api::Api::new(
        rig.services.url(Service::CommandApi),
        rig.services.url(Service::QueryApi),
        &rig.config.secret,
        "chaos",
    )?);
    let load = Load::prepare(Arc::clone(&api), pace.days, options.seed).await?;
    let (sessions, readers) = load.start(pace.sessions, pace.readers);
    let load_started = Instant::now();
    tokio::time::sleep(pace.warmup).await;

    let plan = faults::plan(options.rounds, &mut rng);
    let mut injected: Vec<Injected> = Vec::new();
    let mut forged = Forged::default();
    for fault in plan {
        let gap = pace
            .gap
            .mul_f64(0.67 + 0.66 * (rng.below(1000) as f64 / 1000.0));
        tokio::time::sleep(gap).await;
        let count = injected.iter().filter(|i| i.fault == fault).count();
        let at = load_started.elapsed().as_secs_f64();
        let (detail, mut problem) =
            match faults::inject(rig, fault, count, &mut rng, &mut forged).await {
                Ok(detail) => (detail, None),
                Err(err) => (String::new(), Some(format!("{err:#}"))),
            };
        let recovered_in = match rig.services.wait_all_ready(Duration::from_secs(60)).await {
            Ok(took) => Some(took),
            Err(err) => {
                problem = Some(format!(
                    "{}not recovered: {err:#}",
                    problem.map(|p| format!("{p}; ")).unwrap_or_default()
                ));
                None
            }
        };
        let died = rig.services.revive()?;
        if !died.is_empty() {
            problem = Some(format!(
                "{}{}",
                problem.map(|p| format!("{p}; ")).unwrap_or_default(),
                died.join(", ")
            ));
        }
        eprintln!(
            "  {at:6.1} s  {:<45} {detail}{}{}",
            fault.label(rig.postgres.is_own()),
            recovered_in
                .map(|d| format!(", ready again in {:.1} s", d.as_secs_f64()))
                .unwrap_or_default(),
            problem
                .as_deref()
                .map(|p| format!(" PROBLEM: {p}"))
                .unwrap_or_default()
        );
        injected.push(Injected {
            fault,
            at,
            detail,
            recovered_in,
            problem,
        });
    }
    tokio::time::sleep(pace.warmup).await;
    let load_seconds = load_started.elapsed().as_secs_f64();

    // Winding down: everything up, the sessions finish what they started (retrying for at most
    // 90 s more), holds expire or are settled, and the engine catches up with the store.
    eprintln!("chaos: faults over after {load_seconds:.0} s; letting the sessions finish");
    rig.services.revive()?;
    rig.services.wait_all_ready(Duration::from_secs(60)).await?;
    api.set_deadline(Instant::now() + Duration::from_secs(90));
    load.stop_sessions();
    for session in sessions {
        session.await?;
    }
    verify::settled(&rig.pool, Duration::from_secs(60)).await?;
    // Change notices are core NATS messages: give the last ones a moment to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.stop_readers();
    for reader in readers {
        reader.await?;
    }

    if let Some(what) = &options.sabotage {
        sabotage::damage(rig, what).await?;
    }
    eprintln!("chaos: verifying");
    // Every client has stopped: the ledger is complete.
    let ledger = std::mem::take(
        &mut *load
            .ledger
            .lock()
            .map_err(|_| anyhow::anyhow!("the ledger lock"))?,
    );
    let mut findings = verify::Findings::default();
    let events = verify::store_events(&rig.pool).await?;
    findings.events = events.len();
    let index = verify::Index::new(&events);
    let last_answers = verify::commands(&mut findings, &ledger, &index);
    verify::bookings(&mut findings, &index, &last_answers, &api).await?;
    verify::stream(
        &mut findings,
        &events,
        &rig.nats.url,
        &rig.config.stream,
        &forged,
    )
    .await?;
    verify::double_bookings(&mut findings, &rig.pool).await?;
    verify::replay(&mut findings, &rig.bin_dir, &rig.config.database_url).await?;
    check_caches(rig, &load, &mut findings).await?;

    Ok(Report::new(
        options.short,
        options.seed,
        rig.postgres.is_own(),
        injected,
        &ledger,
        &api.retries,
        findings,
        forged.messages,
        load_seconds,
        started.elapsed().as_secs_f64(),
    ))
}

/// Starts the two query-apis the cache check needs beside the one that lived through the
/// faults (one on the run's Redis prefix, one on a prefix nobody used), compares, stops them.
async fn check_caches(
    rig: &mut Rig,
    load: &Load,
    findings: &mut verify::Findings,
) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    for (name, prefix) in [
        ("query-api-redis", rig.config.key_prefix.clone()),
        ("query-api-fresh", "chaos-fresh:".to_owned()),
    ] {
        let port = process::free_port()?;
        let mut env = rig.config.env();
        env.retain(|(k, _)| k != "REDIS_KEY_PREFIX");
        env.push(("REDIS_KEY_PREFIX".to_owned(), prefix));
        env.push(("QUERY_API_ADDR".to_owned(), format!("127.0.0.1:{port}")));
        let mut query =
            process::Process::new(name, rig.bin_dir.join("query-api"), &[], env, &rig.logs);
        query.start()?;
        extra.push((query, format!("http://127.0.0.1:{port}")));
    }
    let http = reqwest::Client::new();
    let checked = async {
        for (process, url) in &mut extra {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                if Instant::now() > deadline || !process.is_running() {
                    bail!("{} did not start:\n{}", process.name, process.tail(20));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        verify::caches(
            findings,
            load,
            &rig.services.url(Service::QueryApi),
            &extra[0].1,
            &extra[1].1,
        )
        .await
    }
    .await;
    for (process, _) in &mut extra {
        process.kill().await;
    }
    checked
}
