//! `bench`: measures the engine and the references that bound it, in one run, and reports
//! medians, ratios and targets as a table and a JSON file.
//!
//! ```text
//! bench SCENARIO… [--spawn] [--quick] [--runs N] [--seconds S] [--json FILE]
//!       [--replay-events N] [--command-url URL] [--query-url URL]
//! bench seed-events N          (fill $DATABASE_URL with a history, for a manual replay)
//! bench chaos [--short]        (the chaos suite: scripts/chaos)
//! ```
//! Scenarios (`all` for every one; without one, `bench` prints its usage and exits 2): `references` (pgbench with the booking transaction;
//! axum returning an availability body from memory, and with one Redis GET), `commands`
//! (saturation, and 1,000/s with relay and projection lag), `hot` (200 clients on one resource
//! of capacity 20), `reads` (cached at saturation and at 30,000/s; uncached), `mix` (80/20 Zipf),
//! `products` (pool bookings over 20 candidates beside single ones, search over 500 resources,
//! stats/summary over 90 days × 200 resources), `replay` (1,000,000 events). Peak RSS of each service is sampled throughout.
//!
//! Without `--spawn` it drives the engine `scripts/start` runs (its addresses and environment);
//! with `--spawn` it starts the three service binaries that sit next to its own executable on a
//! database, stream and key prefix of their own, and removes them afterwards. `--quick` runs
//! every scenario for about a second at small sizes: it checks the tool and the engine work
//! together (CI runs it), its numbers mean nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use platform::settings::DatabaseSettings;
use serde_json::json;

mod chaos;
mod client;
mod engine;
mod figures;
mod load;
mod memory;
mod pgbench;
mod reference_server;
mod scenarios;
mod seed;

use engine::Engine;
use figures::{Figure, Unit};

/// What every scenario gets.
pub struct Ctx {
    pub engine: Engine,
    pub quick: bool,
    /// How long each timed phase runs.
    pub seconds: f64,
    /// Where the service binaries are (next to `bench`).
    pub bin_dir: PathBuf,
    pub sampler: memory::Sampler,
}

/// Measures the booking engine and the references that bound it, and reports medians, ratios
/// and targets as a table and a JSON file. Name the scenarios to run (`all` for every one).
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The scenarios to run, in this order (`all`: every one, in the order listed here)
    #[arg(value_enum, value_name = "SCENARIO", required = true)]
    scenarios: Vec<Scenario>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill $DATABASE_URL with a history of N events, for a manual `projector replay`
    SeedEvents {
        #[arg(default_value_t = 1_000_000)]
        events: u64,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// The chaos suite: the engine as real processes on NATS, Redis and Postgres of its own,
    /// faults injected under booking load, then checks that nothing was lost, duplicated,
    /// double-booked or left stale
    Chaos(chaos::Args),
    /// The reference HTTP server the `references` scenario starts (internal)
    #[command(hide = true)]
    ServeReference(reference_server::Args),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    /// pgbench with a booking command's transaction; axum answering from memory and from Redis
    References,
    /// Commands at saturation, and at 1,000/s with relay and projection lag
    Commands,
    /// 200 clients on one resource of capacity 20
    Hot,
    /// Cached reads at saturation and at 30,000/s; uncached reads
    Reads,
    /// 80% reads / 20% writes over Zipf-skewed resources and days
    Mix,
    /// Pool bookings over 20 candidates beside single ones; search over 500 resources;
    /// stats/summary over 90 days × 200 resources
    Products,
    /// `projector replay` of 1,000,000 events
    Replay,
    /// Every scenario above
    All,
}

impl Scenario {
    const EVERY: [Scenario; 7] = [
        Scenario::References,
        Scenario::Commands,
        Scenario::Hot,
        Scenario::Reads,
        Scenario::Mix,
        Scenario::Products,
        Scenario::Replay,
    ];
}

#[derive(Clone, Debug, clap::Args)]
struct Options {
    /// Start the three services (next to this executable) on a database, stream and key prefix
    /// of their own, and remove them afterwards; without it, drive the engine already running
    #[arg(long)]
    spawn: bool,
    /// Every scenario for about a second at small sizes: checks the tool and the engine work
    /// together; the numbers mean nothing
    #[arg(long)]
    quick: bool,
    /// Runs of each scenario (default: 3, with --quick 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    runs: Option<u32>,
    /// How long each timed phase runs, in seconds (default: 10, with --quick 1)
    #[arg(long, value_name = "S")]
    seconds: Option<f64>,
    /// Where the results go
    #[arg(long, value_name = "FILE", default_value = "target/bench/latest.json")]
    json: PathBuf,
    /// Events in the replay scenario's history (default: 1,000,000, with --quick 20,000)
    #[arg(long, value_name = "N")]
    replay_events: Option<u64>,
    /// The command-api to drive without --spawn
    #[arg(long, value_name = "URL")]
    command_url: Option<String>,
    /// The query-api to drive without --spawn
    #[arg(long, value_name = "URL")]
    query_url: Option<String>,
    /// The scenarios chosen, `all` expanded (filled in from the positional arguments).
    #[arg(skip)]
    scenarios: Vec<&'static str>,
}

impl Options {
    fn runs(&self) -> u32 {
        self.runs.unwrap_or(if self.quick { 1 } else { 3 })
    }
}

fn scenario_names(chosen: &[Scenario]) -> Vec<&'static str> {
    let mut names = Vec::new();
    for scenario in chosen {
        let expanded: &[Scenario] = if *scenario == Scenario::All {
            &Scenario::EVERY
        } else {
            std::slice::from_ref(scenario)
        };
        for one in expanded {
            let name = match one {
                Scenario::References => "references",
                Scenario::Commands => "commands",
                Scenario::Hot => "hot",
                Scenario::Reads => "reads",
                Scenario::Mix => "mix",
                Scenario::Products => "products",
                Scenario::Replay | Scenario::All => "replay",
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

impl platform::chassis::Cli for Cli {
    async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Some(Command::ServeReference(args)) => reference_server::serve(args).await?,
            Some(Command::Chaos(args)) => chaos::main(args).await?,
            Some(Command::SeedEvents { events, database }) => {
                let started = Instant::now();
                let written = seed::seed(&database.url, events, 1000, "seeded").await?;
                println!(
                    "seeded {written} events in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            None => {
                let mut options = self.options;
                options.scenarios = scenario_names(&self.scenarios);
                suite(options).await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn main() -> ExitCode {
    platform::chassis::main::<Cli>()
}

async fn suite(options: Options) -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("bench lives in a directory")?
        .to_path_buf();
    let engine = if options.spawn {
        eprintln!("starting the engine from {}", bin_dir.display());
        Engine::spawn(&bin_dir).await?
    } else {
        Engine::running(options.command_url.clone(), options.query_url.clone())
    };
    let ctx = Ctx {
        sampler: memory::Sampler::start(engine.pids.clone()),
        engine,
        quick: options.quick,
        seconds: options
            .seconds
            .unwrap_or(if options.quick { 1.0 } else { 10.0 }),
        bin_dir,
    };
    let measured = measure(&ctx, &options).await;
    let Ctx {
        engine, sampler, ..
    } = ctx;
    let peaks = sampler.stop();
    let stopped = engine.stop().await;
    let mut figures = measured?;
    stopped?;
    for (name, kib) in &peaks {
        figures.push(Figure::new(
            format!("memory.{name}.peak_mib"),
            format!("{name}: peak RSS during the runs"),
            Unit::MiB,
            *kib as f64 / 1024.0,
        ));
    }
    report(&options, &figures).await
}

async fn measure(ctx: &Ctx, options: &Options) -> anyhow::Result<Vec<Figure>> {
    let wants = |name: &str| options.scenarios.contains(&name);
    let seeded = if wants("replay") {
        let events = options
            .replay_events
            .unwrap_or(if ctx.quick { 20_000 } else { 1_000_000 });
        Some(scenarios::replay::prepare(ctx, events).await?)
    } else {
        None
    };
    let mut figures = Vec::new();
    for run in 1..=options.runs() {
        for scenario in &options.scenarios {
            eprintln!("run {run}/{}: {scenario}", options.runs());
            let started = Instant::now();
            let measured = match *scenario {
                "references" => {
                    let mut all = if pgbench_installed() {
                        scenarios::references::pgbench(ctx).await?
                    } else {
                        eprintln!("  pgbench is not installed: the write ceiling is skipped");
                        Vec::new()
                    };
                    all.extend(scenarios::references::http(ctx).await?);
                    all
                }
                "commands" => {
                    let mut all = scenarios::commands::saturation(ctx).await?;
                    all.extend(scenarios::commands::at_rate(ctx).await?);
                    all
                }
                "hot" => scenarios::hot::run(ctx).await?,
                "reads" => {
                    let mut all = scenarios::reads::hit(ctx).await?;
                    all.extend(scenarios::reads::miss(ctx).await?);
                    all
                }
                "mix" => scenarios::mix::run(ctx).await?,
                "products" => {
                    let mut all = scenarios::products::pools(ctx).await?;
                    all.extend(scenarios::products::search(ctx).await?);
                    all.extend(scenarios::products::stats(ctx).await?);
                    all
                }
                "replay" => {
                    let seeded = seeded.as_ref().context("the replay database")?;
                    scenarios::replay::run(ctx, seeded).await?
                }
                other => bail!("unknown scenario {other}"),
            };
            for figure in &measured {
                eprintln!("  {:<45} {:>12}", figure.key, figures::number(figure.value));
            }
            eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
            figures.extend(measured);
        }
    }
    Ok(figures)
}

fn pgbench_installed() -> bool {
    std::process::Command::new("pgbench")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Figures that count things that must not happen: any run with one fails the suite.
fn is_failure_count(key: &str) -> bool {
    key.ends_with(".failed")
        || key.ends_with("_unseen")
        || key.ends_with(".double_placed")
        || key == "hot.rounds_not_exact"
}

async fn report(options: &Options, figures: &[Figure]) -> anyhow::Result<()> {
    let summary = figures::summarise(figures, !options.quick);
    println!(
        "\n{} run(s), median per figure{}:\n",
        options.runs(),
        if options.quick {
            " (--quick: a smoke test, not a measurement)"
        } else {
            ""
        }
    );
    println!("{}", figures::table(&summary));
    let json = json!({
        "started_by": std::env::args().collect::<Vec<_>>().join(" "),
        "finished_at": chrono::Utc::now(),
        "quick": options.quick,
        "runs": options.runs(),
        "machine": machine(),
        "commit": commit(),
        "summary": summary,
    });
    let path = options.json.clone();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?)?;
    println!("results: {}", path.display());
    let failures: Vec<String> = figures
        .iter()
        .filter(|f| is_failure_count(&f.key) && f.value > 0.0)
        .map(|f| format!("{} = {}", f.key, f.value))
        .collect();
    if !failures.is_empty() {
        bail!("the engine misbehaved under load: {}", failures.join(", "));
    }
    Ok(())
}

/// What the figures were measured on.
fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        });
    let memory_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
    });
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": memory_kib.map(|k| (k as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0),
    })
}

/// The commit measured, with `-dirty` when tracked files differ from it (the binaries may then
/// hold code no commit has).
fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|changes| !changes.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}
