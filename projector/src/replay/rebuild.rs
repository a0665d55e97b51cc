//! A rebuild: the shadow tables folded and loaded, caught up with the live projector under its
//! checkpoint's lock, and swapped in.

use std::time::Instant;

use anyhow::bail;
use eventstore::{Position, checkpoint};
use readmodel::projections::Projection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::projections::{Applied, State, Touched, Write};

use super::fold::{Folded, Range};
use super::progress::Progress;
use super::shadow::load_shadow;

/// Events per round trip when a rebuild catches up with the live projector before its swap.
const CATCH_UP_CHUNK: i64 = 5_000;

/// Folds and loads the shadow tables, then swaps them in for each projection.
pub(super) async fn rebuild(
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
pub(super) async fn catch_up(
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

/// Moves the shadow tables into `read` and the live ones out, and gives the new indexes the
/// names the migrations gave the old ones (so later migrations still find them).
pub(super) async fn swap(tx: &mut PgConnection, projection: Projection) -> anyhow::Result<()> {
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
