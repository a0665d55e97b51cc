//! `projector replay`: rebuild or verify read models straight from the event store, while the
//! system runs.
//!
//! ```text
//! projector replay [--projection resources|bookings|daily_stats|all] [--verify] [--until POSITION|TIME]
//! ```
//! - default: fold the whole history into memory (the same fold the live workers use; reading,
//!   decoding and applying overlap), load it into index-less shadow tables (schema `replay`) with
//!   `COPY`, several tables side by side, index them, then, in one short transaction holding the
//!   projection's checkpoint row (the live worker waits on it), apply what arrived meanwhile and
//!   swap the shadow tables in. Query-api keeps answering; readers wait at most for the swap.
//!   Nothing is published and no cache is touched while rebuilding.
//! - `--verify`: fold up to the live checkpoint (read in the same snapshot as the live rows) and
//!   report every row that differs; nothing is written. Exit status 1 if anything differs.
//! - `--until`: rebuild the past, up to a position token or an RFC 3339 time, into schema
//!   `replay_until` for inspection; live tables are untouched.

use std::fmt;
use std::io::{IsTerminal, Write as _};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use domain::event::DecodeError;
use eventstore::{Position, RecordedEvent, checkpoint};
use futures::StreamExt as _;
use readmodel::projections::Projection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::projections::{Applied, State, Touched, Write};

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

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut projections = Projection::ALL.to_vec();
        let mut mode = Mode::Rebuild;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--projection" => {
                    let name = args.next().context("--projection needs a name")?;
                    projections = if name == "all" {
                        Projection::ALL.to_vec()
                    } else {
                        vec![Projection::from_name(name).with_context(|| {
                            format!("unknown projection {name:?} (resources, bookings, daily_stats, all)")
                        })?]
                    };
                }
                "--verify" => mode = Mode::Verify,
                "--until" => {
                    let value = args.next().context("--until needs a position or a time")?;
                    mode = Mode::Until(match Position::from_str(value) {
                        Ok(position) => Until::Position(position),
                        Err(_) => Until::Time(
                            DateTime::parse_from_rfc3339(value)
                                .with_context(|| {
                                    format!("{value:?} is neither a position nor an RFC 3339 time")
                                })?
                                .with_timezone(&Utc),
                        ),
                    });
                }
                other => bail!("unknown flag {other}"),
            }
        }
        Ok(Options { projections, mode })
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

/// Events read from the store per round trip.
const READ_BATCH: i64 = 20_000;

pub async fn run(database_url: &str, options: &Options) -> anyhow::Result<Report> {
    let connect = PgConnectOptions::from_str(database_url)?
        .application_name("projector-replay")
        .options([("statement_timeout", "0"), ("lock_timeout", "30s")]);
    let mut conn = connect
        .connect()
        .await
        .context("cannot connect to the database")?;
    let started = Instant::now();
    let mut replay = Replay {
        states: options
            .projections
            .iter()
            .map(|p| (*p, State::empty(*p)))
            .collect(),
        cursor: Position::START,
        events: 0,
        problems: Vec::new(),
        progress: Progress::new(&mut conn).await?,
    };
    let mut report = Report {
        projections: options.projections.iter().map(|p| p.name()).collect(),
        ..Report::default()
    };
    match &options.mode {
        Mode::Rebuild => {
            report.mode = "rebuild".into();
            replay.fold(&connect, Stop::Head).await?;
            replay.progress.phase("folded the history");
            rebuild(&mut conn, &connect, &mut replay).await?;
        }
        Mode::Verify => {
            report.mode = "verify".into();
            report.differences = verify(&mut conn, &connect, &mut replay).await?;
        }
        Mode::Until(until) => {
            report.mode = "until".into();
            replay.fold(&connect, Stop::At(*until)).await?;
            sqlx::query("drop schema if exists replay_until cascade")
                .execute(&mut conn)
                .await?;
            sqlx::query("create schema replay_until")
                .execute(&mut conn)
                .await?;
            load_shadow(
                &connect,
                &replay.states,
                "replay_until",
                &mut replay.progress,
            )
            .await?;
            eprintln!(
                "the read models as of {} are in schema replay_until",
                replay.cursor
            );
        }
    }
    replay.progress.finish();
    report.events = replay.events;
    report.position = replay.cursor;
    report.seconds = started.elapsed().as_secs_f64();
    report.differences.extend(replay.problems);
    Ok(report)
}

enum Stop {
    Head,
    At(Until),
}

struct Replay {
    states: Vec<(Projection, State)>,
    cursor: Position,
    events: u64,
    problems: Vec<String>,
    progress: Progress,
}

/// An event as the reader hands it to the fold: decoded already, its payload dropped.
struct Decoded {
    event_id: Uuid,
    event_type: String,
    position: Position,
    recorded_at: DateTime<Utc>,
    applied: Result<Applied, DecodeError>,
}

impl Decoded {
    fn new(recorded: RecordedEvent) -> Decoded {
        let applied = Applied::decode(&recorded);
        Decoded {
            event_id: recorded.event_id,
            event_type: recorded.event_type,
            position: recorded.position,
            recorded_at: recorded.recorded_at,
            applied,
        }
    }
}

impl Replay {
    fn apply(&mut self, event: &Decoded) {
        match &event.applied {
            Ok(applied) => {
                let mut touched = Touched::ignored();
                for (projection, state) in &mut self.states {
                    if let Err(err) = state.apply(applied, &mut touched) {
                        self.problems.push(format!(
                            "{}: event {} ({}) not applied: {err}",
                            projection.name(),
                            event.event_id,
                            event.event_type
                        ));
                    }
                }
            }
            Err(err) => self
                .problems
                .push(format!("event {} not decodable: {err}", event.event_id)),
        }
        self.cursor = event.position;
        self.events += 1;
        self.progress.tick(self.events);
    }

    /// Folds events after the cursor until `stop`, in three stages that overlap: a reader task
    /// fetches the events on a connection of its own, a blocking thread decodes them, and this
    /// task applies them. Postgres, the row and JSON parsing, the event decoding and the fold each
    /// work on their own batch.
    async fn fold(&mut self, connect: &PgConnectOptions, stop: Stop) -> anyhow::Result<()> {
        let until = match stop {
            Stop::At(Until::Position(until)) => Some(until),
            _ => None,
        };
        let (fetched, to_decode) = tokio::sync::mpsc::channel(READ_AHEAD);
        let (decoded, mut batches) = tokio::sync::mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(read_ahead(connect.clone(), self.cursor, until, fetched));
        let decoder = tokio::task::spawn_blocking(move || decode(to_decode, decoded));
        while let Some(batch) = batches.recv().await {
            let Some(last) = batch.last().map(|e: &Decoded| e.position) else {
                break;
            };
            for event in &batch {
                if let Stop::At(Until::Time(time)) = stop
                    && event.recorded_at > time
                {
                    continue;
                }
                self.apply(event);
            }
            self.cursor = last;
        }
        reader.await.context("the event reader stopped")??;
        decoder.await.context("the event decoder stopped")?;
        Ok(())
    }

    /// Folds the events after the cursor up to `until`.
    async fn fold_to(&mut self, connect: &PgConnectOptions, until: Position) -> anyhow::Result<()> {
        if until > self.cursor {
            self.fold(connect, Stop::At(Until::Position(until))).await?;
        }
        Ok(())
    }
}

/// Decodes the batches from the reader for the fold (CPU work: run it on a blocking thread).
fn decode(
    mut fetched: tokio::sync::mpsc::Receiver<Vec<RecordedEvent>>,
    decoded: tokio::sync::mpsc::Sender<Vec<Decoded>>,
) {
    while let Some(batch) = fetched.blocking_recv() {
        let batch = batch.into_iter().map(Decoded::new).collect();
        if decoded.blocking_send(batch).is_err() {
            return;
        }
    }
}

/// Batches read ahead of the fold (each up to [`READ_BATCH`] events).
const READ_AHEAD: usize = 2;

/// Reads the events after `after` (up to `until`, or to the head) in batches, in the safe order,
/// and hands them on until there are no more or nobody listens.
async fn read_ahead(
    connect: PgConnectOptions,
    mut after: Position,
    until: Option<Position>,
    batches: tokio::sync::mpsc::Sender<Vec<RecordedEvent>>,
) -> anyhow::Result<()> {
    let mut conn = connect.connect().await?;
    loop {
        let batch = match until {
            Some(until) => {
                eventstore::read::read_range(&mut conn, after, until, READ_BATCH).await?
            }
            None => eventstore::read::read_after(&mut conn, after, READ_BATCH).await?,
        };
        let full = batch.len() as i64 >= READ_BATCH;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.position;
        if batches.send(batch).await.is_err() || !full {
            break;
        }
    }
    conn.close().await?;
    Ok(())
}

/// Folds to the live checkpoints, then compares with the live rows read in the same snapshot as
/// their checkpoint.
async fn verify(
    conn: &mut PgConnection,
    connect: &PgConnectOptions,
    replay: &mut Replay,
) -> anyhow::Result<Vec<String>> {
    let mut differences = Vec::new();
    let projections: Vec<Projection> = replay.states.iter().map(|(p, _)| *p).collect();
    for projection in projections {
        // Each projection on its own: fold a fresh state up to exactly its checkpoint.
        let mut single = Replay {
            states: vec![(projection, State::empty(projection))],
            cursor: Position::START,
            events: 0,
            problems: Vec::new(),
            progress: Progress::quiet(),
        };
        let mut tx = conn.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        let live_position = checkpoint_of(&mut tx, projection).await?;
        single.fold_to(connect, live_position).await?;
        let live = State::load_all(projection, &mut tx, "read").await?;
        tx.commit().await?;
        if let Some((_, rebuilt)) = single.states.first() {
            differences.extend(
                rebuilt
                    .differences(&live)
                    .into_iter()
                    .map(|line| format!("{}: {line}", projection.name())),
            );
        }
        replay.events += single.events;
        replay.cursor = replay.cursor.max(live_position);
        replay.problems.extend(single.problems);
    }
    Ok(differences)
}

async fn checkpoint_of(
    conn: &mut PgConnection,
    projection: Projection,
) -> anyhow::Result<Position> {
    let (xid, position): (String, i64) = sqlx::query_as(
        "select transaction_id::text, global_position from checkpoints where name = $1",
    )
    .bind(projection.checkpoint())
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or_else(|| ("0".into(), 0));
    Ok(Position::new(xid.parse().context("xid8")?, position))
}

/// Writes the folded state into shadow tables, then swaps them in for each projection.
async fn rebuild(
    conn: &mut PgConnection,
    connect: &PgConnectOptions,
    replay: &mut Replay,
) -> anyhow::Result<()> {
    sqlx::query("drop schema if exists replay cascade")
        .execute(&mut *conn)
        .await?;
    sqlx::query("create schema replay")
        .execute(&mut *conn)
        .await?;
    sqlx::query("create schema if not exists replay_old")
        .execute(&mut *conn)
        .await?;
    load_shadow(connect, &replay.states, "replay", &mut replay.progress).await?;
    replay
        .progress
        .phase("loaded and indexed the shadow tables");
    for (_, state) in &mut replay.states {
        state.written();
    }
    let projections: Vec<Projection> = replay.states.iter().map(|(p, _)| *p).collect();
    for projection in projections {
        // Let the live worker reach what the rebuild folded first: moving its checkpoint forward
        // over events it never applied would skip their cache invalidations and notices. With
        // no live worker running, go on after a while (and say so).
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while checkpoint_of(conn, projection).await? < replay.cursor {
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
        checkpoint::load(&mut tx, projection.checkpoint()).await?;
        sqlx::query("select 1 from checkpoints where name = $1 for update")
            .bind(projection.checkpoint())
            .execute(&mut *tx)
            .await?;
        let live_position = checkpoint_of(&mut tx, projection).await?;
        // Whatever the live worker applied since the fold started goes into the shadow too.
        let mut single_events = Vec::new();
        if live_position > replay.cursor {
            let mut reader = connect.connect().await?;
            single_events =
                eventstore::read::read_range(&mut reader, replay.cursor, live_position, i64::MAX)
                    .await?;
            reader.close().await?;
        }
        let state = replay
            .states
            .iter_mut()
            .find(|(p, _)| *p == projection)
            .map(|(_, state)| state)
            .context("state of the projection")?;
        for recorded in &single_events {
            if let Ok(applied) = Applied::decode(recorded) {
                let _ = state.apply(&applied, &mut Touched::ignored());
            }
        }
        state.write(&mut tx, "replay", Write::Upsert).await?;
        state.written();
        swap(&mut tx, projection).await?;
        let position = live_position.max(replay.cursor);
        sqlx::query(
            "update checkpoints set transaction_id = $2::text::xid8, global_position = $3, updated_at = now()
             where name = $1",
        )
        .bind(projection.checkpoint())
        .bind(position.transaction_id.to_string())
        .bind(position.global_position)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        replay.progress.phase(&format!(
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
    Ok(())
}

/// Connections that load and index shadow tables side by side. The work is Postgres': a few
/// keep both cores busy (a parallel index build on one table, the GiST build or a `COPY` on
/// another); more would only queue.
const LOADERS: u32 = 3;

/// Creates, loads and indexes every shadow table of `states` in `schema`, several tables at a
/// time on connections of their own.
async fn load_shadow(
    connect: &PgConnectOptions,
    states: &[(Projection, State)],
    schema: &str,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(LOADERS)
        .connect_with(connect.clone())
        .await
        .context("cannot connect to the database")?;
    let jobs = states.iter().flat_map(|(projection, state)| {
        projection.tables().iter().map(move |table| (*table, state))
    });
    let mut loads = futures::stream::iter(jobs)
        .map(|(table, state)| load_table(&pool, state, schema, table))
        .buffer_unordered(LOADERS as usize);
    while let Some(loaded) = loads.next().await {
        progress.note(&loaded?);
    }
    drop(loads);
    pool.close().await;
    Ok(())
}

/// One shadow table: created empty and without indexes, loaded with `COPY`, then given the live
/// table's keys and indexes (loading first and indexing after is several times faster than
/// maintaining the indexes row by row). Returns what it did, for the progress output.
async fn load_table(
    pool: &PgPool,
    state: &State,
    schema: &str,
    table: &str,
) -> anyhow::Result<String> {
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    sqlx::query(&format!("drop table if exists {schema}.{table}"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "create table {schema}.{table} (like read.{table} including defaults including constraints)"
    ))
    .execute(&mut *conn)
    .await?;
    state
        .copy_table(&mut conn, schema, table)
        .await
        .with_context(|| format!("cannot load {schema}.{table}"))?;
    let loaded = started.elapsed().as_secs_f64();
    index_table(&mut conn, schema, table)
        .await
        .with_context(|| format!("cannot index {schema}.{table}"))?;
    Ok(format!(
        "{schema}.{table} loaded in {loaded:.2} s, indexed in {:.2} s",
        started.elapsed().as_secs_f64() - loaded
    ))
}

/// Gives a shadow table the live table's keys and indexes, under the same names (names are per
/// schema, so after the swap they are exactly what the migrations created).
async fn index_table(conn: &mut PgConnection, schema: &str, table: &str) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    // Sorts for the index builds in memory (a parallel build splits this among its workers).
    sqlx::query("set local maintenance_work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "select conname::text, pg_get_constraintdef(oid) from pg_constraint
         where conrelid = ('read.' || $1)::regclass and contype in ('p', 'u', 'x')",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?;
    for (name, definition) in &constraints {
        sqlx::query(&format!(
            "alter table {schema}.{table} add constraint \"{name}\" {definition}"
        ))
        .execute(&mut *tx)
        .await?;
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "select indexname::text, indexdef from pg_indexes where schemaname = 'read' and tablename = $1",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?;
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
        sqlx::query(&definition).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
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
