//! Applying what the event store holds after a projection's checkpoint, read from Postgres.
//!
//! The live worker takes these steps for every batch (a JetStream message only tells it to
//! look sooner), and [`catch_up`] loops them to the store's head without NATS or Redis: for
//! whoever needs the read models current without running a worker (the end-to-end tests seed
//! the read models this way, so they hold exactly what the projector would write).

use eventstore::{Position, RecordedEvent, checkpoint};
use platform::trace::TraceContext;
use readmodel::projections::Projection;
use sqlx::{PgConnection, PgPool};

use crate::invalidations::{self, Invalidation};
use crate::projections::{Applied, State, Touched, Write};

/// The most events read from the store and applied in one transaction.
pub const CHUNK: i64 = 5000;

/// Locks the checkpoint of `projection` in `tx` and reads up to [`CHUNK`] events after it, in
/// the store's safe order: the checkpoint and what follows it.
pub async fn pending(
    tx: &mut PgConnection,
    projection: Projection,
) -> anyhow::Result<(Position, Vec<RecordedEvent>)> {
    let from = checkpoint::lock(&mut *tx, projection.checkpoint()).await?;
    let events = eventstore::read::read_after(&mut *tx, from, CHUNK).await?;
    Ok((from, events))
}

/// Decodes, folds and writes `events` in `tx`; undecodable or inapplicable events go to the
/// dead-letter table (in the same transaction) with their error. Returns what the events
/// changed and how many were applied.
pub async fn apply(
    tx: &mut PgConnection,
    projection: Projection,
    events: &[RecordedEvent],
) -> anyhow::Result<(Touched, usize)> {
    let mut applied = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    for event in events {
        match Applied::decode(event) {
            Ok(decoded) => {
                applied.push(decoded);
                sources.push(event);
            }
            Err(err) => dead_letter(tx, projection, event, &err.to_string()).await?,
        }
    }
    let mut state = State::load(projection, tx, "read", &applied).await?;
    let mut touched = Touched::default();
    for (event, source) in applied.iter().zip(sources) {
        // The event's span continues the trace of the command that wrote it.
        let trace = eventstore::wire::traceparent(source).and_then(TraceContext::parse);
        let span = tracing::info_span!(
            "project",
            projection = projection.name(),
            event.id = %source.event_id,
            event.r#type = %source.event_type,
            trace_id = trace.map(|t| t.trace_id()).unwrap_or_default(),
            parent_id = trace.map(|t| t.span_id()).unwrap_or_default(),
        );
        let applied = span.in_scope(|| state.apply(event, &mut touched));
        if let Err(err) = applied {
            dead_letter(tx, projection, source, &err.to_string()).await?;
        }
    }
    state.write(tx, "read", Write::Upsert).await?;
    metrics::counter!("projector_events_applied_total", "projection" => projection.name())
        .increment(applied.len() as u64);
    if let Some(last) = events.last() {
        let lag = chrono::Utc::now() - last.recorded_at;
        metrics::gauge!("projection_lag_seconds", "projection" => projection.name())
            .set(lag.as_seconds_f64());
    }
    Ok((touched, applied.len()))
}

/// Records the cache invalidations `touched` owes and moves the checkpoint of `projection` to
/// `to`, in `tx`: what makes a chunk's effect final once `tx` commits. Returns what is owed, to
/// be sent after the commit.
pub async fn settle(
    tx: &mut PgConnection,
    projection: Projection,
    touched: &Touched,
    to: Position,
) -> anyhow::Result<Vec<Invalidation>> {
    let owed = invalidations::record(&mut *tx, touched, to).await?;
    if !checkpoint::set(&mut *tx, projection.checkpoint(), to).await? {
        anyhow::bail!("the checkpoint would pass the store's head");
    }
    Ok(owed)
}

/// Applies to `projection` everything the store holds after its checkpoint, a chunk per
/// transaction, as the live worker does; returns the position reached. The cache invalidations
/// the chunks owe stay recorded (`read.cache_invalidations`) for a worker to send.
pub async fn catch_up(pool: &PgPool, projection: Projection) -> anyhow::Result<Position> {
    loop {
        let mut tx = pool.begin().await?;
        let (from, events) = pending(&mut tx, projection).await?;
        let Some(to) = events.last().map(|e| e.position) else {
            return Ok(from);
        };
        let (touched, _) = apply(&mut tx, projection, &events).await?;
        settle(&mut tx, projection, &touched, to).await?;
        tx.commit().await?;
        if (events.len() as i64) < CHUNK {
            return Ok(to);
        }
    }
}

async fn dead_letter(
    tx: &mut PgConnection,
    projection: Projection,
    event: &RecordedEvent,
    error: &str,
) -> anyhow::Result<()> {
    tracing::error!(projection = projection.name(), event.id = %event.event_id, event.r#type = %event.event_type, error, "event sent to the dead-letter table");
    metrics::counter!("projector_dead_letters_total", "projection" => projection.name())
        .increment(1);
    sqlx::query(
        "insert into read.dead_letters (projection, event_id, global_position, event_type, error)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(projection.name())
    .bind(event.event_id)
    .bind(event.position.global_position)
    .bind(&event.event_type)
    .bind(error)
    .execute(tx)
    .await?;
    Ok(())
}
