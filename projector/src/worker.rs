//! The live projector of one projection: a durable JetStream consumer, applied in batches.
//!
//! Each batch is one Postgres transaction that applies the events and moves the projection's
//! checkpoint (its row is locked first, so two workers can never interleave); events at or
//! below the checkpoint are skipped, which makes redeliveries harmless: exactly-once effect.
//! A message whose previous-position header is not the checkpoint means JetStream lost or never
//! had something: the missing range is read from Postgres first. When JetStream is quiet, the
//! worker also catches up from Postgres to what the relay has published, so a purged or deleted
//! stream never leaves a read model behind. After commit (never inside the transaction) it
//! invalidates exactly the cache days the batch touched and publishes a "changed" notice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use eventstore::db::DbSettings;
use eventstore::{Position, RecordedEvent, checkpoint, leader};
use futures::StreamExt;
use readmodel::cache::RedisCache;
use readmodel::notice::Changed;
use readmodel::projections::Projection;
use sqlx::{ConnectOptions, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::projections::{Applied, State, Touched, Write};

/// Everything a worker needs besides its projection.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: DbSettings,
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub stream: String,
    pub subject_prefix: String,
    pub consumer_prefix: String,
    pub changed_subject: String,
    pub cache: RedisCache,
    pub batch_size: usize,
    /// How long a quiet consumer waits before checking Postgres for anything it missed.
    pub idle_poll: Duration,
}

/// Counters shared with whoever started the worker (tests, metrics).
#[derive(Clone, Debug, Default)]
pub struct WorkerStatus {
    applied: Arc<AtomicU64>,
    leading: Arc<AtomicBool>,
    caught_up_from_postgres: Arc<AtomicU64>,
}

impl WorkerStatus {
    /// Events applied by this instance.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// Events this instance read from Postgres because JetStream did not deliver them.
    pub fn caught_up_from_postgres(&self) -> u64 {
        self.caught_up_from_postgres.load(Ordering::Relaxed)
    }
}

pub struct Worker {
    projection: Projection,
    context: WorkerContext,
    status: WorkerStatus,
    /// Invalidations that did not reach Redis yet: retried after every later batch (each keeps
    /// the position it was made at, so a late one can never erase a newer entry).
    pending: tokio::sync::Mutex<Vec<(Invalidation, Position)>>,
    /// Where this instance last committed the checkpoint: a batch that continues from there
    /// needs no look at the stored checkpoint before its transaction (which still locks and
    /// checks it).
    committed: std::sync::Mutex<Option<Position>>,
}

type Invalidation = (String, uuid::Uuid, chrono::NaiveDate);

/// At most this many invalidations wait for Redis; past it the oldest are dropped (their entries
/// expire with the cache TTL) and counted.
const MAX_PENDING_INVALIDATIONS: usize = 100_000;
/// Invalidations per pipelined round trip.
const INVALIDATION_CHUNK: usize = 500;

/// A JetStream message, parsed.
struct Delivery {
    position: Position,
    previous: Option<Position>,
    event: Option<RecordedEvent>,
    message: jetstream::Message,
}

/// How long a batch waits for more messages after its first.
const BATCH_LINGER: Duration = Duration::from_millis(2);

/// The largest range read from Postgres in one transaction while catching up.
const CATCH_UP_CHUNK: i64 = 5000;

impl Worker {
    pub fn new(projection: Projection, context: WorkerContext) -> Self {
        Self {
            projection,
            context,
            status: WorkerStatus::default(),
            pending: tokio::sync::Mutex::default(),
            committed: std::sync::Mutex::default(),
        }
    }

    pub fn status(&self) -> WorkerStatus {
        self.status.clone()
    }

    pub fn projection(&self) -> Projection {
        self.projection
    }

    fn role(&self) -> leader::Role {
        let index = Projection::ALL
            .iter()
            .position(|p| *p == self.projection)
            .unwrap_or(0);
        leader::Role::Projection(u8::try_from(index).unwrap_or(u8::MAX))
    }

    /// Competes for this projection's leadership and projects until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let result = self.lead(&shutdown).await;
            self.status.leading.store(false, Ordering::Relaxed);
            match result {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(
                        projection = self.projection.name(),
                        error = format!("{err:#}"),
                        "projector stopped; retrying"
                    );
                    metrics::counter!("projector_errors_total", "projection" => self.projection.name()).increment(1);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }

    async fn lead(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let mut lock = self.context.db.connect_options()?.connect().await?;
        if !leader::acquire(&mut lock, self.role(), self.context.idle_poll, shutdown).await? {
            return Ok(());
        }
        self.status.leading.store(true, Ordering::Relaxed);
        // Catch up first: the stream may hold less than the store (purged, deleted, new).
        self.catch_up().await?;
        loop {
            match self.consume(&mut lock, shutdown).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    // JetStream unavailable or the stream gone: keep the read model fresh from
                    // Postgres while retrying.
                    tracing::warn!(
                        projection = self.projection.name(),
                        error = format!("{err:#}"),
                        "JetStream consumer failed; catching up from Postgres"
                    );
                    self.catch_up().await?;
                    sqlx::query("select 1").execute(&mut lock).await?;
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(self.context.idle_poll) => {}
                    }
                }
            }
        }
    }

    async fn consumer(&self) -> anyhow::Result<jetstream::consumer::PullConsumer> {
        let context = jetstream::new(self.context.nats.clone());
        let stream = context
            .get_stream(&self.context.stream)
            .await
            .context("the JetStream stream is not there (yet)")?;
        let name = format!(
            "{}-{}",
            self.context.consumer_prefix,
            self.projection.name()
        );
        stream
            .get_or_create_consumer(
                &name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::All,
                    filter_subject: format!("{}.>", self.context.subject_prefix),
                    max_ack_pending: 50_000,
                    ..Default::default()
                },
            )
            .await
            .context("cannot create the durable consumer")
    }

    /// Reads the consumer until shutdown (Ok) or a JetStream failure (Err).
    async fn consume(
        &self,
        lock: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let consumer = self.consumer().await?;
        let mut messages = consumer.messages().await?;
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
                () = tokio::time::sleep(self.context.idle_poll) => {
                    self.catch_up().await?;
                    // Keep the leader connection alive, and notice if it died.
                    sqlx::query("select 1").execute(&mut *lock).await?;
                    continue;
                }
            };
            let first = first.context("the consumer's message stream ended")??;
            let mut batch = vec![first];
            // Linger a moment for more: under load one transaction per few milliseconds costs
            // far less than one per event, and the added latency is bounded by the linger.
            let linger = tokio::time::sleep(BATCH_LINGER);
            tokio::pin!(linger);
            while batch.len() < self.context.batch_size {
                tokio::select! {
                    next = messages.next() => match next {
                        Some(Ok(message)) => batch.push(message),
                        Some(Err(err)) => return Err(err.into()),
                        None => break,
                    },
                    () = &mut linger => break,
                }
            }
            let deliveries: Vec<Delivery> = batch.into_iter().map(parse).collect();
            let started = std::time::Instant::now();
            self.handle_batch(&deliveries).await?;
            let name = self.projection.name();
            metrics::histogram!("projector_batch_seconds", "projection" => name)
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!("projector_batch_events", "projection" => name)
                .record(deliveries.len() as f64);
            if let Some(last) = deliveries.last() {
                // AckPolicy::All: acknowledging the last acknowledges the batch.
                last.message
                    .ack()
                    .await
                    .map_err(|err| anyhow::anyhow!("ack failed: {err}"))?;
            }
        }
    }

    /// Applies one batch of deliveries in one transaction, then invalidates caches.
    async fn handle_batch(&self, deliveries: &[Delivery]) -> anyhow::Result<()> {
        // A hole before the batch (JetStream lost messages, or this consumer is new): catch up
        // in bounded chunks first, so the batch transaction stays short.
        if let Some(first) = deliveries.first()
            && (first.previous.is_none() || first.previous != self.last_committed())
        {
            let checkpoint = self.checkpoint().await?;
            if first.position > checkpoint
                && let Some(previous) = first.previous.filter(|p| *p > checkpoint)
            {
                self.catch_up_to(Some(previous)).await?;
            }
        }
        let mut tx = self.context.pool.begin().await?;
        let mut cursor = lock_checkpoint(&mut tx, self.projection).await?;
        let mut events = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if delivery.position <= cursor {
                metrics::counter!("projector_duplicates_skipped_total", "projection" => self.projection.name()).increment(1);
                continue;
            }
            match (&delivery.event, delivery.previous) {
                (Some(event), Some(previous)) if previous == cursor => events.push(event.clone()),
                _ => {
                    // A hole inside the batch (or a message we cannot read): take the range
                    // from the store, which is the source of truth.
                    let missing =
                        eventstore::read::read_range(&mut tx, cursor, delivery.position, i64::MAX)
                            .await?;
                    metrics::counter!("projector_holes_total", "projection" => self.projection.name()).increment(1);
                    self.status
                        .caught_up_from_postgres
                        .fetch_add(missing.len() as u64, Ordering::Relaxed);
                    events.extend(missing);
                }
            }
            cursor = delivery.position;
        }
        if events.is_empty() {
            return Ok(());
        }
        let touched = self.apply(&mut tx, events).await?;
        advance(&mut tx, self.projection, cursor).await?;
        tx.commit().await?;
        self.set_committed(cursor);
        self.after_commit(touched, cursor).await;
        Ok(())
    }

    fn last_committed(&self) -> Option<Position> {
        self.committed.lock().ok().and_then(|c| *c)
    }

    fn set_committed(&self, position: Position) {
        if let Ok(mut committed) = self.committed.lock() {
            *committed = Some(position);
        }
    }

    async fn checkpoint(&self) -> anyhow::Result<Position> {
        let mut conn = self.context.pool.acquire().await?;
        Ok(checkpoint::load(&mut conn, self.projection.checkpoint()).await?)
    }

    /// Catches up from Postgres to what the relay has published.
    async fn catch_up(&self) -> anyhow::Result<()> {
        let relayed = {
            let mut conn = self.context.pool.acquire().await?;
            checkpoint::load(&mut conn, "relay").await?
        };
        self.catch_up_to(Some(relayed)).await
    }

    /// Applies events from the store, chunk by chunk, until `until` (or the end).
    pub async fn catch_up_to(&self, until: Option<Position>) -> anyhow::Result<()> {
        loop {
            let mut tx = self.context.pool.begin().await?;
            let from = lock_checkpoint(&mut tx, self.projection).await?;
            let events = match until {
                Some(until) if until <= from => return Ok(()),
                Some(until) => {
                    eventstore::read::read_range(&mut tx, from, until, CATCH_UP_CHUNK).await?
                }
                None => eventstore::read::read_after(&mut tx, from, CATCH_UP_CHUNK).await?,
            };
            let Some(to) = events.last().map(|e| e.position) else {
                return Ok(());
            };
            let count = events.len();
            self.status
                .caught_up_from_postgres
                .fetch_add(count as u64, Ordering::Relaxed);
            let touched = self.apply(&mut tx, events).await?;
            advance(&mut tx, self.projection, to).await?;
            tx.commit().await?;
            self.set_committed(to);
            self.after_commit(touched, to).await;
            if (count as i64) < CATCH_UP_CHUNK {
                return Ok(());
            }
        }
    }

    /// Decodes, folds and writes `events`; undecodable or inapplicable events go to the
    /// dead-letter table (in the same transaction) with their error.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: Vec<RecordedEvent>,
    ) -> anyhow::Result<Touched> {
        let mut applied = Vec::with_capacity(events.len());
        let mut sources = Vec::with_capacity(events.len());
        for event in &events {
            match Applied::decode(event) {
                Ok(decoded) => {
                    applied.push(decoded);
                    sources.push(event);
                }
                Err(err) => dead_letter(tx, self.projection, event, &err.to_string()).await?,
            }
        }
        let mut state = State::load(self.projection, tx, "read", &applied).await?;
        let mut touched = Touched::default();
        for (event, source) in applied.iter().zip(sources) {
            if let Err(err) = state.apply(event, &mut touched) {
                dead_letter(tx, self.projection, source, &err.to_string()).await?;
            }
        }
        state.write(tx, "read", Write::Upsert).await?;
        self.status
            .applied
            .fetch_add(applied.len() as u64, Ordering::Relaxed);
        metrics::counter!("projector_events_applied_total", "projection" => self.projection.name())
            .increment(applied.len() as u64);
        if let Some(last) = events.last() {
            let lag = chrono::Utc::now() - last.recorded_at;
            metrics::gauge!("projection_lag_seconds", "projection" => self.projection.name())
                .set(lag.as_seconds_f64());
        }
        Ok(touched)
    }

    /// Side effects, after the commit and never inside it: cache invalidation (one pipelined
    /// round trip per batch) and one notice per changed resource.
    async fn after_commit(&self, touched: Touched, position: Position) {
        let mut pending = self.pending.lock().await;
        pending.extend(
            touched
                .resources
                .iter()
                .flat_map(|((tenant, resource), days)| {
                    days.iter()
                        .flatten()
                        .map(move |day| ((tenant.clone(), *resource, *day), position))
                }),
        );
        if !pending.is_empty() {
            // Same position within a chunk is not required: send per position group.
            let mut sent = 0;
            for chunk in pending.chunks(INVALIDATION_CHUNK) {
                let at = chunk.iter().map(|(_, p)| *p).max().unwrap_or(position);
                let days: Vec<Invalidation> = chunk.iter().map(|(day, _)| day.clone()).collect();
                // A marker at a later position than the change is still correct: it only
                // refuses fills older than itself, and every such fill predates the commit.
                if let Err(err) = self.context.cache.invalidate_many(&days, at).await {
                    metrics::counter!("cache_invalidation_failures_total").increment(1);
                    tracing::debug!(error = %err, "cache invalidation failed; will retry");
                    break;
                }
                sent += chunk.len();
            }
            pending.drain(..sent);
            if pending.len() > MAX_PENDING_INVALIDATIONS {
                let excess = pending.len() - MAX_PENDING_INVALIDATIONS;
                pending.drain(..excess);
                metrics::counter!("cache_invalidations_dropped_total").increment(excess as u64);
                tracing::warn!(
                    dropped = excess,
                    "Redis unreachable too long; oldest invalidations dropped (entries expire by TTL)"
                );
            }
        }
        drop(pending);
        for ((tenant, resource), days) in touched.resources {
            let notice = Changed {
                tenant: tenant.clone(),
                resource_id: resource,
                days: days.map(|d| d.into_iter().collect()).unwrap_or_default(),
                position,
            };
            if let Ok(payload) = serde_json::to_vec(&notice) {
                let subject = readmodel::notice::subject(&self.context.changed_subject, &tenant);
                if let Err(err) = self.context.nats.publish(subject, payload.into()).await {
                    tracing::debug!(error = %err, "change notice not published");
                }
            }
        }
    }
}

fn header_position(message: &jetstream::Message, name: &str) -> Option<Position> {
    message.headers.as_ref()?.get(name)?.as_str().parse().ok()
}

fn parse(message: jetstream::Message) -> Delivery {
    let event: Option<RecordedEvent> = serde_json::from_slice(&message.payload).ok();
    let position = header_position(&message, "Bookings-Position")
        .or_else(|| event.as_ref().map(|e| e.position))
        .unwrap_or(Position::START);
    Delivery {
        position,
        previous: header_position(&message, "Bookings-Previous-Position"),
        event,
        message,
    }
}

/// Locks the projection's checkpoint row for this transaction and returns it.
async fn lock_checkpoint(
    tx: &mut PgConnection,
    projection: Projection,
) -> anyhow::Result<Position> {
    let select = || {
        sqlx::query_as(
            "select transaction_id::text, global_position from checkpoints where name = $1 for update",
        )
        .bind(projection.checkpoint())
    };
    let row: Option<(String, i64)> = select().fetch_optional(&mut *tx).await?;
    let (xid, global_position) = match row {
        Some(row) => row,
        None => {
            // The projection's first run: create its row.
            checkpoint::load(tx, projection.checkpoint()).await?;
            select().fetch_one(&mut *tx).await?
        }
    };
    Ok(Position::new(xid.parse().context("xid8")?, global_position))
}

async fn advance(
    tx: &mut PgConnection,
    projection: Projection,
    to: Position,
) -> anyhow::Result<()> {
    sqlx::query(
        "update checkpoints set transaction_id = $2::text::xid8, global_position = $3, updated_at = now()
         where name = $1",
    )
    .bind(projection.checkpoint())
    .bind(to.transaction_id.to_string())
    .bind(to.global_position)
    .execute(tx)
    .await?;
    Ok(())
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
