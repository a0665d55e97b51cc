//! `projector replay`: rebuild or verify read models straight from the event store, while the
//! system runs.
//!
//! ```text
//! projector replay [--projection resources|bookings|daily_stats|all] [--verify | --until POSITION|TIME]
//! ```
//! - default: fold the history up to a fixed head (the last event below every running
//!   transaction) stream by stream, and load each booking's rows into index-less shadow tables
//!   (schema `replay`) with `COPY` as soon as its stream is folded, one connection per table, so
//!   memory stays flat whatever the length of the history: the fold holds one stream, the few
//!   resources, the zones and the per-day sums. Then load those, index the shadow tables several
//!   at a time, and, in one short transaction holding the projection's checkpoint row (the live
//!   worker waits on it), apply what arrived meanwhile the way the live worker applies a batch,
//!   and swap the shadow tables in. Query-api keeps answering; readers wait at most for the
//!   swap. Nothing is published and no cache is touched while rebuilding.
//! - `--verify`: fold up to the live checkpoint as a rebuild does, but compare each finished
//!   stream's rows with the live ones (read in the same snapshot as the checkpoint, in the same
//!   order, through cursors) instead of loading them, and report every row that differs; nothing
//!   is written. Exit status 1 if anything differs.
//! - `--until`: rebuild the past, up to a position token or an RFC 3339 time, into schema
//!   `replay_until` for inspection (folded and loaded as a rebuild is); live tables are
//!   untouched.
//!
//! Folding by stream gives the live fold's result because every row but the per-day sums belongs
//! to one stream and the sums only add up: each stream's events are applied in the global order
//! among themselves (the event store keeps a stream's versions in that order), the resource
//! streams first so that bookings find their zones (see `daily_stats::State::zone` for the one
//! check that needs the global order across streams).

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use eventstore::Position;
use readmodel::projections::Projection;
use sqlx::postgres::PgConnectOptions;

mod fold;
mod progress;
mod rebuild;
mod shadow;
mod verify;

use fold::Range;
use progress::Progress;

/// What to replay and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub projections: Vec<Projection>,
    pub mode: Mode,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Rebuild,
    Verify,
    Until(Until),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Until {
    Position(Position),
    Time(DateTime<Utc>),
}

/// `projector replay`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct ReplayArgs {
    /// The projection to replay
    #[arg(
        long,
        value_name = "NAME",
        default_value = "all",
        value_parser = ["resources", "bookings", "daily_stats", "all"]
    )]
    pub projection: String,
    /// Fold up to the live checkpoint and compare with the live read models instead of
    /// replacing them; report every row that differs and exit 1 if any does
    #[arg(long, conflicts_with = "until")]
    pub verify: bool,
    /// Rebuild the read models as of a position token or an RFC 3339 time, into schema
    /// `replay_until` (the live tables are untouched)
    #[arg(long, value_name = "POSITION_OR_TIME", value_parser = until)]
    pub until: Option<Until>,
}

fn until(value: &str) -> Result<Until, String> {
    match Position::from_str(value) {
        Ok(position) => Ok(Until::Position(position)),
        Err(_) => DateTime::parse_from_rfc3339(value)
            .map(|time| Until::Time(time.with_timezone(&Utc)))
            .map_err(|_| format!("{value:?} is neither a position nor an RFC 3339 time")),
    }
}

impl ReplayArgs {
    pub fn options(&self) -> Options {
        let projections = match Projection::from_name(&self.projection) {
            Some(one) => vec![one],
            None => Projection::ALL.to_vec(),
        };
        let mode = match (self.verify, self.until) {
            (true, _) => Mode::Verify,
            (false, Some(until)) => Mode::Until(until),
            (false, None) => Mode::Rebuild,
        };
        Options { projections, mode }
    }
}

impl Options {
    /// The options `projector replay ARGS…` would run with (tests, tools).
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        #[derive(clap::Parser)]
        #[command(name = "projector replay", no_binary_name = true)]
        struct Line {
            #[command(flatten)]
            args: ReplayArgs,
        }
        let line = <Line as clap::Parser>::try_parse_from(args)?;
        Ok(line.args.options())
    }
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Report {
    pub mode: String,
    pub projections: Vec<&'static str>,
    pub events: u64,
    pub seconds: f64,
    pub position: Position,
    /// Rows that differ (verify) or events that could not be applied (all modes).
    pub differences: Vec<String>,
}

impl Report {
    pub fn events_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replay {} of {}: {} events in {:.2} s ({:.0} events/s), up to position {}",
            self.mode,
            self.projections.join(", "),
            self.events,
            self.seconds,
            self.events_per_second(),
            self.position
        )?;
        if self.differences.is_empty() {
            write!(f, "no differences")
        } else {
            writeln!(f, "{} differences:", self.differences.len())?;
            for line in self.differences.iter().take(200) {
                writeln!(f, "  {line}")?;
            }
            Ok(())
        }
    }
}

/// Replays on the database at `database_url` (tests, tools).
pub async fn run(database_url: &str, options: &Options) -> anyhow::Result<Report> {
    run_on(PgConnectOptions::from_str(database_url)?, options).await
}

/// Replays on the database `server` names, waiting for it at first if it is not up yet.
pub async fn run_on(server: PgConnectOptions, options: &Options) -> anyhow::Result<Report> {
    let connect = server
        .application_name("projector-replay")
        .options([("statement_timeout", "0"), ("lock_timeout", "30s")]);
    let mut conn = platform::startup::connect(&connect, "to replay")
        .await
        .context("cannot connect to the database")?;
    let started = Instant::now();
    let mut report = Report {
        projections: options.projections.iter().map(|p| p.name()).collect(),
        ..Report::default()
    };
    let folded = match &options.mode {
        Mode::Rebuild => {
            report.mode = "rebuild".into();
            let head = eventstore::read::safe_head(&mut conn, None).await?;
            let progress = Progress::new(&mut conn).await?;
            rebuild::rebuild(&mut conn, &connect, &options.projections, head, progress).await?
        }
        Mode::Verify => {
            report.mode = "verify".into();
            let (folded, differences) =
                verify::verify(&mut conn, &connect, &options.projections).await?;
            report.differences = differences;
            folded
        }
        Mode::Until(until) => {
            report.mode = "until".into();
            let range = match until {
                Until::Position(position) => Range {
                    head: eventstore::read::safe_head(&mut conn, Some(*position)).await?,
                    time: None,
                },
                Until::Time(time) => Range {
                    head: eventstore::read::safe_head(&mut conn, None).await?,
                    time: Some(*time),
                },
            };
            sqlx::query("drop schema if exists replay_until cascade")
                .execute(&mut conn)
                .await?;
            sqlx::query("create schema replay_until")
                .execute(&mut conn)
                .await?;
            let progress = Progress::new(&mut conn).await?;
            let folded = shadow::load_shadow(
                &connect,
                &options.projections,
                "replay_until",
                range,
                progress,
            )
            .await?;
            eprintln!(
                "the read models as of {} are in schema replay_until",
                folded.position
            );
            folded
        }
    };
    folded.progress.finish();
    report.events = folded.events;
    report.position = folded.position;
    report.seconds = started.elapsed().as_secs_f64();
    report.differences.extend(folded.problems);
    Ok(report)
}
