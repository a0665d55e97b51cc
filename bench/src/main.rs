//! `bench`: measures the engine and the references that bound it, in one run, and reports
//! medians, ratios and targets as a table and a JSON file.
//!
//! ```text
//! bench [SCENARIO…] [--spawn] [--quick] [--runs N] [--seconds S] [--json FILE]
//!       [--replay-events N] [--command-url URL] [--query-url URL]
//! bench seed-events N          (fill $DATABASE_URL with a history, for a manual replay)
//! bench chaos [--short] …      (the chaos suite: see `chaos`)
//! ```
//! Scenarios, all by default, in this order: `references` (pgbench with the booking transaction;
//! axum returning an availability body from memory, and with one Redis GET), `commands`
//! (saturation, and 1,000/s with relay and projection lag), `hot` (200 clients on one resource
//! of capacity 20), `reads` (cached at saturation and at 30,000/s; uncached), `mix` (80/20 Zipf),
//! `replay` (1,000,000 events). Peak RSS of each service is sampled throughout.
//!
//! Without `--spawn` it drives the engine `scripts/start` runs (its addresses and environment);
//! with `--spawn` it starts the three service binaries that sit next to its own executable on a
//! database, stream and key prefix of their own, and removes them afterwards. `--quick` runs
//! every scenario for about a second at small sizes: it checks the tool and the engine work
//! together (CI runs it), its numbers mean nothing.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
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

const SCENARIOS: [&str; 6] = ["references", "commands", "hot", "reads", "mix", "replay"];

struct Options {
    scenarios: Vec<String>,
    spawn: bool,
    quick: bool,
    runs: u32,
    seconds: Option<f64>,
    json: Option<PathBuf>,
    replay_events: Option<u64>,
    command_url: Option<String>,
    query_url: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            scenarios: Vec::new(),
            spawn: false,
            quick: false,
            runs: 3,
            seconds: None,
            json: None,
            replay_events: None,
            command_url: None,
            query_url: None,
        };
        let mut runs = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .with_context(|| format!("{arg} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--spawn" => options.spawn = true,
                "--quick" => options.quick = true,
                "--runs" => runs = Some(value()?.parse::<u32>().context("--runs N")?.max(1)),
                "--seconds" => options.seconds = Some(value()?.parse().context("--seconds S")?),
                "--json" => options.json = Some(value()?.into()),
                "--replay-events" => {
                    options.replay_events = Some(value()?.parse().context("--replay-events N")?);
                }
                "--command-url" => options.command_url = Some(value()?),
                "--query-url" => options.query_url = Some(value()?),
                "-h" | "--help" => bail!("{USAGE}"),
                name if SCENARIOS.contains(&name) => options.scenarios.push(name.to_owned()),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if options.scenarios.is_empty() {
            options.scenarios = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
        }
        options.runs = runs.unwrap_or(if options.quick { 1 } else { 3 });
        Ok(options)
    }
}

const USAGE: &str = "usage: bench [references|commands|hot|reads|mix|replay …] [--spawn] [--quick] [--runs N] [--seconds S] [--json FILE] [--replay-events N] [--command-url URL] [--query-url URL]
       bench seed-events N
       bench chaos [--short] [--rounds N] [--seed N] [--shared-postgres]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve-reference") => reference_server::serve(&args[1..]).await,
        Some("chaos") => chaos::main(&args[1..]).await,
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
        _ => suite(Options::parse(&args)?).await,
    }
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
    let wants = |name: &str| options.scenarios.iter().any(|s| s == name);
    let seeded = if wants("replay") {
        let events = options
            .replay_events
            .unwrap_or(if ctx.quick { 20_000 } else { 1_000_000 });
        Some(scenarios::replay::prepare(ctx, events).await?)
    } else {
        None
    };
    let mut figures = Vec::new();
    for run in 1..=options.runs {
        for scenario in &options.scenarios {
            eprintln!("run {run}/{}: {scenario}", options.runs);
            let started = Instant::now();
            let measured = match scenario.as_str() {
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
    key.ends_with(".failed") || key.ends_with("_unseen") || key == "hot.rounds_not_exact"
}

async fn report(options: &Options, figures: &[Figure]) -> anyhow::Result<()> {
    let summary = figures::summarise(figures, !options.quick);
    println!(
        "\n{} run(s), median per figure{}:\n",
        options.runs,
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
        "runs": options.runs,
        "machine": machine(),
        "commit": commit(),
        "summary": summary,
    });
    let path = options
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench/latest.json"));
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
pub(crate) fn commit() -> Option<String> {
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
