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

use std::collections::HashSet;
use std::fmt;
use std::io::{IsTerminal, Write as _};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use domain::Event;
use domain::event::DecodeError;
use eventstore::{Position, checkpoint};
use futures::{StreamExt as _, TryStreamExt as _};
use readmodel::projections::Projection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, FromRow, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::projections::compare;
use crate::projections::load::{self, Rows};
use crate::projections::{Applied, Finished, State, Touched, Write};

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

/// Events handed from the reader to the fold at a time.
const READ_BATCH: usize = 2_000;
/// Batches read ahead of the fold.
const READ_AHEAD: usize = 2;
/// Rows of finished streams collected before they go to the copies.
const LOAD_BATCH: usize = 2_000;
/// Events per round trip when a rebuild catches up with the live projector before its swap.
const CATCH_UP_CHUNK: i64 = 5_000;

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
            rebuild(&mut conn, &connect, &options.projections, head, progress).await?
        }
        Mode::Verify => {
            report.mode = "verify".into();
            let (folded, differences) = verify(&mut conn, &connect, &options.projections).await?;
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
            let folded = load_shadow(
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

/// The events a fold takes: every event up to `head`, and only those recorded by `time` if
/// given.
#[derive(Clone, Copy, Debug)]
struct Range {
    /// A position below every running transaction: the events up to it can no longer change.
    head: Position,
    time: Option<DateTime<Utc>>,
}

/// What a fold leaves.
struct Folded {
    /// What the states hold after the fold: everything without `rows` to hand finished rows to;
    /// with them, only what spans streams (see [`State::take_finished`]).
    states: Vec<(Projection, State)>,
    /// Events applied.
    events: u64,
    /// Where the fold ended (its range's head).
    position: Position,
    /// Events that could not be decoded or applied.
    problems: Vec<String>,
    progress: Progress,
}

/// The two passes of a fold. The few resource streams come first, in the global order, so that
/// every booking finds its resource's zone; then all other streams one by one, each in one
/// piece, so a booking's rows are final when its stream ends and can be loaded at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Resources,
    Streams,
}

const EVENT_COLUMNS: &str = "global_position, transaction_id, tenant_id, \
     stream_id, stream_version, event_id, event_type, schema_version, payload::text, recorded_at";

/// Folds the events of `range` stream by stream into empty states of `projections`, in three
/// stages that overlap: a reader task streams the rows on a connection of its own, a blocking
/// thread decodes and folds them, and the rows of each finished stream go to `rows` (the
/// copies of a streaming load, whose own tasks encode and send them). Without `rows` the
/// states keep every row (a verify compares them).
async fn fold(
    connect: &PgConnectOptions,
    projections: &[Projection],
    range: Range,
    rows: Option<Rows>,
    progress: Progress,
) -> anyhow::Result<Folded> {
    let (fetched, batches) = tokio::sync::mpsc::channel(READ_AHEAD);
    // The read is one statement over the whole history: not a slow statement to warn about.
    let reader = tokio::spawn(read_streams(
        connect.clone().disable_statement_logging(),
        range.head,
        fetched,
    ));
    let states = projections.iter().map(|p| (*p, State::empty(*p))).collect();
    let folder = tokio::task::spawn_blocking(move || {
        let mut fold = StreamFold {
            states,
            events: 0,
            problems: Vec::new(),
            resource_streams: HashSet::new(),
            stream: Vec::new(),
            finished: Finished::default(),
            rows,
            progress,
        };
        fold.run(batches, range.time)?;
        Ok::<_, anyhow::Error>(Folded {
            states: fold.states,
            events: fold.events,
            position: range.head,
            problems: fold.problems,
            progress: fold.progress,
        })
    });
    let folded = folder.await.context("the fold stopped")?;
    let read = reader.await.context("the event reader stopped")?;
    // A failed fold stops the reader too: its error is the one that says why.
    let folded = folded?;
    read?;
    Ok(folded)
}

/// Streams the events up to `head` to the fold in batches: first the resource streams' events in
/// the global order, then every stream in stream order (each stream's events together).
async fn read_streams(
    connect: PgConnectOptions,
    head: Position,
    batches: tokio::sync::mpsc::Sender<(Pass, Vec<PgRow>)>,
) -> anyhow::Result<()> {
    let mut conn = connect.connect().await?;
    let mut tx = conn.begin().await?;
    // Two long scans: compiling them would gain nothing.
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    let passes = [
        (
            Pass::Resources,
            format!(
                "select {EVENT_COLUMNS} from events
                 where stream_id in (select stream_id from streams where stream_type = 'resource')
                   and (transaction_id, global_position) <= ($1, $2)
                 order by transaction_id, global_position"
            ),
        ),
        // Postgres sorts the events by stream with a (parallel) scan of the table and a sort that
        // spills to disk in `work_mem`-sized runs: about half the time it takes to follow the
        // (stream_id, stream_version) key, each of whose rows is on a random heap page.
        (
            Pass::Streams,
            format!(
                "select {EVENT_COLUMNS} from events
                 where (transaction_id, global_position) <= ($1, $2)
                 order by stream_id, stream_version"
            ),
        ),
    ];
    for (pass, sql) in passes {
        let mut rows = sqlx::query(&sql)
            .bind(head.xid())
            .bind(head.global_position)
            .fetch(&mut *tx);
        let mut batch = Vec::with_capacity(READ_BATCH);
        while let Some(row) = rows.try_next().await? {
            batch.push(row);
            if batch.len() >= READ_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                if batches.send((pass, full)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() && batches.send((pass, batch)).await.is_err() {
            return Ok(());
        }
    }
    drop(batches);
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// A stored event as the fold takes it.
struct Stored {
    position: Position,
    event_id: Uuid,
    stream_id: Uuid,
    recorded_at: DateTime<Utc>,
    applied: Result<Applied, DecodeError>,
}

impl Stored {
    /// Decodes a row of [`EVENT_COLUMNS`], the payload straight from its JSON text.
    fn from_row(row: &PgRow) -> Result<Stored, sqlx::Error> {
        let position = Position::from_row(row)?;
        let stream_id = row.try_get(3)?;
        let event_id = row.try_get(5)?;
        let recorded_at = row.try_get(9)?;
        let event_type: &str = row.try_get(6)?;
        let payload: &str = row.try_get(8)?;
        let applied = match Event::decode_json(event_type, row.try_get(7)?, payload) {
            Ok(event) => Ok(Applied {
                tenant: row.try_get(2)?,
                stream_id,
                version: row.try_get(4)?,
                at: recorded_at,
                position,
                event_id,
                event,
            }),
            Err(err) => Err(err),
        };
        Ok(Stored {
            position,
            event_id,
            stream_id,
            recorded_at,
            applied,
        })
    }
}

/// The fold of a replay, one stream at a time (runs on a blocking thread).
struct StreamFold {
    states: Vec<(Projection, State)>,
    events: u64,
    problems: Vec<String>,
    /// The streams of the first pass, skipped in the second.
    resource_streams: HashSet<Uuid>,
    /// The events of the stream being read.
    stream: Vec<Stored>,
    /// Rows of finished streams not yet handed to the load.
    finished: Finished,
    rows: Option<Rows>,
    progress: Progress,
}

impl StreamFold {
    fn run(
        &mut self,
        mut batches: tokio::sync::mpsc::Receiver<(Pass, Vec<PgRow>)>,
        time: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        while let Some((pass, batch)) = batches.blocking_recv() {
            for row in &batch {
                let event = Stored::from_row(row)?;
                match pass {
                    Pass::Resources => {
                        self.resource_streams.insert(event.stream_id);
                    }
                    Pass::Streams if self.resource_streams.contains(&event.stream_id) => {
                        continue;
                    }
                    Pass::Streams => {}
                }
                if time.is_some_and(|time| event.recorded_at > time) {
                    continue;
                }
                if self
                    .stream
                    .first()
                    .is_some_and(|first| first.stream_id != event.stream_id)
                {
                    self.end_stream()?;
                }
                self.stream.push(event);
            }
        }
        self.end_stream()?;
        if let Some(rows) = self.rows.take() {
            rows.blocking_send(std::mem::take(&mut self.finished))?;
        }
        Ok(())
    }

    /// Applies the events of the stream just read, then hands on the rows it finished.
    fn end_stream(&mut self) -> anyhow::Result<()> {
        let mut stream = std::mem::take(&mut self.stream);
        // The live projector applies a stream's events in the global order; should a stream's
        // versions ever have been stored out of that order, that order is still the one that
        // counts (the first pass is in it already).
        if !stream.is_sorted_by_key(|e| e.position) {
            stream.sort_by_key(|e| e.position);
        }
        for event in &stream {
            self.apply(event);
        }
        stream.clear();
        self.stream = stream;
        if let Some(rows) = &self.rows {
            for (_, state) in &mut self.states {
                state.take_finished(&mut self.finished);
            }
            if self.finished.len() >= LOAD_BATCH {
                rows.blocking_send(std::mem::take(&mut self.finished))?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: &Stored) {
        match &event.applied {
            Ok(applied) => {
                let mut touched = Touched::ignored();
                for (projection, state) in &mut self.states {
                    if let Err(err) = state.apply(applied, &mut touched) {
                        self.problems.push(format!(
                            "{}: event {} ({}) not applied: {err}",
                            projection.name(),
                            event.event_id,
                            applied.event.event_type()
                        ));
                    }
                }
            }
            Err(err) => self
                .problems
                .push(format!("event {} not decodable: {err}", event.event_id)),
        }
        self.events += 1;
        self.progress.tick(self.events);
    }
}

/// Folds each projection up to its live checkpoint and compares with the live rows read in the
/// same snapshot as that checkpoint: the rows of each finished stream as the fold hands them on,
/// against the live ones read in the same (key) order; what spans streams once the fold ends.
async fn verify(
    conn: &mut PgConnection,
    connect: &PgConnectOptions,
    projections: &[Projection],
) -> anyhow::Result<(Folded, Vec<String>)> {
    let mut differences = Vec::new();
    let mut total = Folded {
        states: Vec::new(),
        events: 0,
        position: Position::START,
        problems: Vec::new(),
        progress: Progress::quiet(),
    };
    for projection in projections {
        // Each projection on its own: fold fresh states up to exactly its checkpoint.
        let mut tx = conn.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        // The fold stops exactly there. A checkpoint only ever names an event that was below
        // every running transaction when its projector read it, so every event up to it is
        // committed and final, and the live rows read in this snapshot are the fold of exactly
        // those. (The horizon now may be lower: any long transaction anywhere in the cluster,
        // even in another database, holds it back; a fold cut at it would report the live rows
        // as ahead.)
        let live_position = checkpoint::peek(&mut *tx, projection.checkpoint()).await?;
        let range = Range {
            head: live_position,
            time: None,
        };
        let single = [*projection];
        let (rows, received) = load::channels(&single);
        let (folded, compared) = tokio::join!(
            fold(connect, &single, range, Some(rows), Progress::quiet()),
            compare::streamed(&mut tx, "read", received),
        );
        // A comparison that failed stopped the fold: its error is the one that says why.
        let compared = compared?;
        let folded = folded?;
        let live = State::load_held(*projection, &mut tx, "read").await?;
        tx.commit().await?;
        let held = folded
            .states
            .first()
            .map(|(_, rebuilt)| rebuilt.differences(&live))
            .unwrap_or_default();
        differences.extend(
            compared
                .into_iter()
                .chain(held)
                .map(|line| format!("{}: {line}", projection.name())),
        );
        total.events += folded.events;
        total.position = total.position.max(live_position);
        total.problems.extend(folded.problems);
    }
    Ok((total, differences))
}

/// Folds and loads the shadow tables, then swaps them in for each projection.
async fn rebuild(
    conn: &mut PgConnection,
    connect: &PgConnectOptions,
    projections: &[Projection],
    head: Position,
    progress: Progress,
) -> anyhow::Result<Folded> {
    sqlx::query("drop schema if exists replay cascade")
        .execute(&mut *conn)
        .await?;
    sqlx::query("create schema replay")
        .execute(&mut *conn)
        .await?;
    sqlx::query("create schema if not exists replay_old")
        .execute(&mut *conn)
        .await?;
    let range = Range { head, time: None };
    let mut folded = load_shadow(connect, projections, "replay", range, progress).await?;
    // Only the rows that span streams are left, and they are loaded: the catch-up below reads
    // what it needs from the shadow tables, as the live worker reads the live ones.
    folded.states.clear();
    folded
        .progress
        .phase("loaded and indexed the shadow tables");
    for projection in projections {
        // Let the live worker reach what the rebuild folded first: moving its checkpoint forward
        // over events it never applied would skip their cache invalidations and notices. With
        // no live worker running, go on after a while (and say so).
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while checkpoint::peek(&mut *conn, projection.checkpoint()).await? < head {
            if Instant::now() > deadline {
                eprintln!(
                    "warning: the live {} projector is behind the rebuild; caches may hold stale days until they expire",
                    projection.name()
                );
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut tx = conn.begin().await?;
        // The live worker takes this row lock for every batch: while we hold it, it waits.
        let live_position = checkpoint::lock(&mut tx, projection.checkpoint()).await?;
        // Whatever the live worker applied since the fold started goes into the shadow too,
        // the way the live worker applies a batch.
        if live_position > head {
            catch_up(&mut tx, connect, *projection, head, live_position).await?;
        }
        swap(&mut tx, *projection).await?;
        let position = live_position.max(head);
        if position != live_position
            && !checkpoint::set(&mut tx, projection.checkpoint(), position).await?
        {
            bail!("the rebuild's head {position} is not an event in the store");
        }
        tx.commit().await?;
        folded.progress.phase(&format!(
            "swapped in the rebuilt {} tables at position {position}",
            projection.name()
        ));
    }
    sqlx::query("drop schema if exists replay cascade")
        .execute(&mut *conn)
        .await?;
    sqlx::query("drop schema if exists replay_old cascade")
        .execute(&mut *conn)
        .await?;
    Ok(folded)
}

/// Applies the events after `from` up to `until` to the shadow tables of `projection`, in
/// chunks: the rows they touch are loaded, folded and upserted, as a live batch does.
async fn catch_up(
    tx: &mut PgConnection,
    connect: &PgConnectOptions,
    projection: Projection,
    mut from: Position,
    until: Position,
) -> anyhow::Result<()> {
    // Read on a connection of its own: this transaction holds a row lock, so its snapshot's
    // xmin could be held back by itself.
    let mut reader = connect.connect().await?;
    loop {
        let events = eventstore::read::read_range(&mut reader, from, until, CATCH_UP_CHUNK).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        // The live worker dead-lettered what it could not decode or apply; so does nothing here.
        let applied: Vec<Applied> = events
            .iter()
            .filter_map(|e| Applied::decode(e).ok())
            .collect();
        let mut state = State::load(projection, &mut *tx, "replay", &applied).await?;
        for event in &applied {
            let _ = state.apply(event, &mut Touched::ignored());
        }
        state.write(&mut *tx, "replay", Write::Upsert).await?;
        if (events.len() as i64) < CATCH_UP_CHUNK {
            break;
        }
        from = last;
    }
    reader.close().await?;
    Ok(())
}

/// Connections that load and index shadow tables side by side. The work is Postgres': a few
/// keep both cores busy (a parallel index build on one table, the GiST build or a `COPY` on
/// another); more would only queue. The streaming load takes one per streamed table.
const LOADERS: u32 = 3;

/// Creates the shadow tables of `projections` in `schema`, folds `range` into them (the tables
/// of finished streams loaded while the fold goes on, the others once it ends), then builds
/// their remaining indexes, several at a time.
async fn load_shadow(
    connect: &PgConnectOptions,
    projections: &[Projection],
    schema: &str,
    range: Range,
    progress: Progress,
) -> anyhow::Result<Folded> {
    let pool = PgPoolOptions::new()
        .max_connections(LOADERS.max(load::STREAMED.len() as u32))
        .connect_with(connect.clone())
        .await
        .context("cannot connect to the database")?;
    let tables: Vec<&'static str> = projections
        .iter()
        .flat_map(|projection| projection.tables().iter().copied())
        .collect();
    let mut late = Vec::new();
    for table in &tables {
        late.extend(create_table(&pool, schema, table).await?);
    }
    let (rows, copies) = load::start(&pool, schema, projections).await?;
    let folded = fold(connect, projections, range, Some(rows), progress).await;
    // The copies end once the fold has dropped its `rows`; a copy that failed stopped the fold,
    // so its error goes first.
    let stored = copies.finish().await?;
    let mut folded = folded?;
    for (table, rows) in stored {
        folded.progress.note(&format!("{table}: {rows} rows"));
    }
    let mut conn = pool.acquire().await?;
    for table in &tables {
        if load::STREAMED.contains(table) {
            continue;
        }
        if let Some((_, state)) = folded
            .states
            .iter()
            .find(|(projection, _)| projection.tables().contains(table))
        {
            state
                .copy_table(&mut conn, schema, table)
                .await
                .with_context(|| format!("cannot load {schema}.{table}"))?;
        }
    }
    drop(conn);
    folded.progress.phase("folded and loaded the history");
    // A GiST build cannot be split among parallel workers and is the longest: start it first,
    // so the b-tree builds share the other core with it instead of trailing after it.
    late.sort_by_key(|definition| !definition.contains(" USING gist "));
    let mut builds = futures::stream::iter(late)
        .map(|index| build_index(&pool, index))
        .buffer_unordered(LOADERS as usize);
    while let Some(built) = builds.next().await {
        folded.progress.note(&built?);
    }
    drop(builds);
    pool.close().await;
    Ok(folded)
}

/// Creates a shadow table, empty, with the live table's keys (under the same names: names are
/// per schema, so after the swap they are exactly what the migrations created). Returns the
/// statements for its other indexes, to run once it is loaded.
///
/// Keys are kept up while the table loads because every load writes in key order (streams in
/// id order, held rows from ordered maps), which only ever appends to the index. The other
/// indexes would get their rows in random order: building them after the load is several times
/// cheaper (even the GiST one: on 333,333 busy rows, 1.9 s after the load against 5.7 s kept up
/// during it).
async fn create_table(pool: &PgPool, schema: &str, table: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!("drop table if exists {schema}.{table}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "create table {schema}.{table} (like read.{table} including defaults including constraints)"
    ))
    .execute(&mut *conn)
    .await?;
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "select conname::text, pg_get_constraintdef(oid) from pg_constraint
         where conrelid = ('read.' || $1)::regclass and contype in ('p', 'u', 'x')",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    for (name, definition) in &constraints {
        sqlx::query(&format!(
            "alter table {schema}.{table} add constraint \"{name}\" {definition}"
        ))
        .execute(&mut *conn)
        .await?;
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "select indexname::text, indexdef from pg_indexes where schemaname = 'read' and tablename = $1",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut late = Vec::new();
    for (name, definition) in indexes {
        if constraints
            .iter()
            .any(|(constraint, _)| *constraint == name)
        {
            continue;
        }
        let definition = definition.replace(
            &format!(" ON read.{table} "),
            &format!(" ON {schema}.{table} "),
        );
        late.push(definition);
    }
    Ok(late)
}

/// Runs one index build of a loaded shadow table. Returns what it did, for the progress output.
async fn build_index(pool: &PgPool, definition: String) -> anyhow::Result<String> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // Sorts for the index build in memory (a parallel build splits this among its workers).
    sqlx::query("set local maintenance_work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    sqlx::query(&definition)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot run {definition}"))?;
    tx.commit().await?;
    Ok(format!(
        "{definition} in {:.2} s",
        started.elapsed().as_secs_f64()
    ))
}

/// Moves the shadow tables into `read` and the live ones out, and gives the new indexes the
/// names the migrations gave the old ones (so later migrations still find them).
async fn swap(tx: &mut PgConnection, projection: Projection) -> anyhow::Result<()> {
    for table in projection.tables() {
        // Index definitions without their names, to match old and new indexes.
        let old: Vec<(String, String)> = sqlx::query_as(
            "select indexname, regexp_replace(indexdef, '^.* USING ', '') from pg_indexes
             where schemaname = 'read' and tablename = $1",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(&format!("alter table read.{table} set schema replay_old"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("alter table replay.{table} set schema read"))
            .execute(&mut *tx)
            .await?;
        let new: Vec<(String, String)> = sqlx::query_as(
            "select indexname, regexp_replace(indexdef, '^.* USING ', '') from pg_indexes
             where schemaname = 'read' and tablename = $1",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(&format!("drop table replay_old.{table}"))
            .execute(&mut *tx)
            .await?;
        for (new_name, definition) in new {
            if let Some((old_name, _)) = old.iter().find(|(_, d)| *d == definition)
                && *old_name != new_name
            {
                sqlx::query(&format!(
                    "alter index read.\"{new_name}\" rename to \"{old_name}\""
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// Progress with rate and ETA: a live line on a terminal, plain lines every few seconds
/// otherwise.
struct Progress {
    total: u64,
    started: Instant,
    last: Instant,
    phase_started: Instant,
    terminal: bool,
    quiet: bool,
}

impl Progress {
    async fn new(conn: &mut PgConnection) -> anyhow::Result<Progress> {
        let total: i64 = sqlx::query_scalar("select count(*) from events")
            .fetch_one(conn)
            .await?;
        Ok(Progress {
            total: u64::try_from(total).unwrap_or(0),
            started: Instant::now(),
            last: Instant::now(),
            phase_started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            quiet: false,
        })
    }

    fn quiet() -> Progress {
        Progress {
            total: 0,
            started: Instant::now(),
            last: Instant::now(),
            phase_started: Instant::now(),
            terminal: false,
            quiet: true,
        }
    }

    fn tick(&mut self, done: u64) {
        let every = if self.terminal { 0.2 } else { 5.0 };
        if self.quiet || self.last.elapsed().as_secs_f64() < every {
            return;
        }
        self.last = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let eta = self.total.saturating_sub(done) as f64 / rate.max(1.0);
        let line = format!(
            "replay: {done}/{} events ({:.0}/s, ETA {:.0} s)",
            self.total, rate, eta
        );
        let mut stderr = std::io::stderr();
        if self.terminal {
            let _ = write!(stderr, "\r{line}   ");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
    }

    /// Says how long a stage of the replay took (since the previous one).
    fn phase(&mut self, what: &str) {
        let now = Instant::now();
        self.note(&format!(
            "{what} in {:.2} s",
            now.duration_since(self.phase_started).as_secs_f64()
        ));
        self.phase_started = now;
    }

    /// A line of its own (after a live progress line, if any).
    fn note(&self, what: &str) {
        if self.quiet {
            return;
        }
        let line = format!("replay: {what}");
        let mut stderr = std::io::stderr();
        if self.terminal {
            let _ = write!(stderr, "\r{line}\x1b[K\n");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
    }

    fn finish(&self) {
        if self.terminal && !self.quiet {
            let _ = writeln!(std::io::stderr());
        }
    }
}
