//! The fold of a replay: the history read stream by stream (resource streams first) and folded
//! on a blocking thread, the rows of each finished stream handed to a load as it ends.

use std::collections::HashSet;

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::Event;
use domain::event::DecodeError;
use eventstore::Position;
use futures::TryStreamExt as _;
use readmodel::projections::Projection;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{ConnectOptions, Connection, FromRow, Row};
use uuid::Uuid;

use crate::projections::load::Rows;
use crate::projections::{Applied, Finished, State, Touched};

use super::progress::Progress;

/// Events handed from the reader to the fold at a time.
const READ_BATCH: usize = 2_000;
/// Batches read ahead of the fold.
const READ_AHEAD: usize = 2;
/// Rows of finished streams collected before they go to the copies.
const LOAD_BATCH: usize = 2_000;

/// The events a fold takes: every event up to `head`, and only those recorded by `time` if
/// given.
#[derive(Clone, Copy, Debug)]
pub(super) struct Range {
    /// A position below every running transaction: the events up to it can no longer change.
    pub(super) head: Position,
    pub(super) time: Option<DateTime<Utc>>,
}

/// What a fold leaves.
pub(super) struct Folded {
    /// What the states hold after the fold: everything without `rows` to hand finished rows to;
    /// with them, only what spans streams (see [`State::take_finished`]).
    pub(super) states: Vec<(Projection, State)>,
    /// Events applied.
    pub(super) events: u64,
    /// Where the fold ended (its range's head).
    pub(super) position: Position,
    /// Events that could not be decoded or applied.
    pub(super) problems: Vec<String>,
    pub(super) progress: Progress,
}

/// The two passes of a fold. The few resource streams come first, in the global order, so that
/// every booking finds its resource's zone; then all other streams one by one, each in one
/// piece, so a booking's rows are final when its stream ends and can be loaded at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pass {
    Resources,
    Streams,
}

pub(super) const EVENT_COLUMNS: &str = "global_position, transaction_id, tenant_id, \
     stream_id, stream_version, event_id, event_type, schema_version, payload::text, recorded_at";

/// Folds the events of `range` stream by stream into empty states of `projections`, in three
/// stages that overlap: a reader task streams the rows on a connection of its own, a blocking
/// thread decodes and folds them, and the rows of each finished stream go to `rows` (the
/// copies of a streaming load, whose own tasks encode and send them). Without `rows` the
/// states keep every row (a verify compares them).
pub(super) async fn fold(
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
pub(super) async fn read_streams(
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
pub(super) struct Stored {
    pub(super) position: Position,
    pub(super) event_id: Uuid,
    pub(super) stream_id: Uuid,
    pub(super) recorded_at: DateTime<Utc>,
    pub(super) applied: Result<Applied, DecodeError>,
}

impl Stored {
    /// Decodes a row of [`EVENT_COLUMNS`], the payload straight from its JSON text.
    pub(super) fn from_row(row: &PgRow) -> Result<Stored, sqlx::Error> {
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
pub(super) struct StreamFold {
    pub(super) states: Vec<(Projection, State)>,
    pub(super) events: u64,
    pub(super) problems: Vec<String>,
    /// The streams of the first pass, skipped in the second.
    pub(super) resource_streams: HashSet<Uuid>,
    /// The events of the stream being read.
    pub(super) stream: Vec<Stored>,
    /// Rows of finished streams not yet handed to the load.
    pub(super) finished: Finished,
    pub(super) rows: Option<Rows>,
    pub(super) progress: Progress,
}

impl StreamFold {
    pub(super) fn run(
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
    pub(super) fn end_stream(&mut self) -> anyhow::Result<()> {
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

    pub(super) fn apply(&mut self, event: &Stored) {
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
