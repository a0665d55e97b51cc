//! The live projector of one projection: a durable JetStream consumer, applied in batches.
//!
//! Postgres is the truth and NATS the transport. Every event the worker applies is read from the
//! event store, in the safe order after the projection's checkpoint; a JetStream message only
//! wakes the worker sooner and is checked against what the store holds at the position it names
//! (`eventstore::wire`): one that names a position past the store's head, or whose body is not
//! the stored event, is counted and logged, never applied. When JetStream is down or quiet for
//! the idle poll, the worker reads the store anyway, so the read side never waits for NATS.
//!
//! Each batch is one Postgres transaction that applies the events and moves the projection's
//! checkpoint (its row is locked first, so two workers can never interleave); redeliveries are
//! harmless because nothing at or below the checkpoint is applied twice: exactly-once effect.
//! The same transaction records the cache invalidations the batch owes; after commit (never
//! inside the transaction) they are sent to Redis, announced to query-api with a "changed"
//! notice, and deleted. Whatever a crash leaves recorded is sent at the next start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use eventstore::db::DbSettings;
use eventstore::wire::{self, Claim, Verdict};
use eventstore::{Position, RecordedEvent};
use futures::StreamExt;
use platform::leader::{LeaderWork, Role};
use readmodel::cache::RedisCache;
use readmodel::projections::Projection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::catch_up;
use crate::invalidations::Invalidations;

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
    /// How long a quiet consumer waits before reading the store for anything it was not told of.
    pub idle_poll: Duration,
}

/// Counters shared with whoever started the worker (tests, metrics).
#[derive(Clone, Debug, Default)]
pub struct WorkerStatus {
    applied: Arc<AtomicU64>,
    leading: Arc<AtomicBool>,
    caught_up_from_postgres: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl WorkerStatus {
    /// Events applied by this instance.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// Events this instance applied without any JetStream message telling of them (read while
    /// JetStream was quiet, down, or behind).
    pub fn caught_up_from_postgres(&self) -> u64 {
        self.caught_up_from_postgres.load(Ordering::Relaxed)
    }

    /// JetStream messages this instance refused: not the event the store holds where they say.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

pub struct Worker {
    projection: Projection,
    context: WorkerContext,
    status: WorkerStatus,
    invalidations: Invalidations,
}

/// A JetStream message and what it claims to be.
struct Delivery {
    claim: Option<Claim>,
    message: jetstream::Message,
}

/// How long a batch waits for more messages after its first.
const BATCH_LINGER: Duration = Duration::from_millis(2);

impl Worker {
    pub fn new(projection: Projection, context: WorkerContext) -> Self {
        let invalidations = Invalidations {
            pool: context.pool.clone(),
            cache: context.cache.clone(),
            nats: context.nats.clone(),
            changed_subject: context.changed_subject.clone(),
        };
        Self {
            projection,
            context,
            status: WorkerStatus::default(),
            invalidations,
        }
    }

    pub fn status(&self) -> WorkerStatus {
        self.status.clone()
    }

    pub fn projection(&self) -> Projection {
        self.projection
    }

    /// The failpoint between a commit that owes cache invalidations and sending them.
    fn failpoint_after_commit(&self) -> &'static str {
        match self.projection {
            Projection::Resources => "projector.resources.after_commit",
            Projection::Bookings => "projector.bookings.after_commit",
            Projection::DailyStats => "projector.daily_stats.after_commit",
        }
    }

    /// What a worker does when JetStream has told it nothing for a while: read the store, send
    /// what invalidations are still owed, and check that its leader connection is alive.
    async fn idle(&self, lock: &mut PgConnection) -> anyhow::Result<()> {
        self.catch_up().await?;
        self.invalidations.send_owed().await;
        sqlx::query("select 1").execute(&mut *lock).await?;
        Ok(())
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
                    filter_subject: wire::all_subjects(&self.context.subject_prefix),
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
                    self.idle(lock).await?;
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

    /// Applies what the store holds after the checkpoint, chunk by chunk, each chunk in one
    /// transaction, checking the messages of `deliveries` against it on the way.
    async fn handle_batch(&self, deliveries: &[Delivery]) -> anyhow::Result<()> {
        let mut unchecked: Vec<&Delivery> = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match delivery.claim {
                Some(_) => unchecked.push(delivery),
                None => self.refuse(delivery, Verdict::Mismatch),
            }
        }
        unchecked.sort_by_key(|d| d.claim.map(|c| c.position));
        let mut first = true;
        loop {
            let mut tx = self.context.pool.begin().await?;
            let (from, events) = catch_up::pending(&mut tx, self.projection).await?;
            if first {
                let covered = unchecked
                    .iter()
                    .take_while(|d| d.claim.is_some_and(|c| c.position <= from))
                    .count();
                let seen: Vec<&Delivery> = unchecked.drain(..covered).collect();
                self.check_seen(&mut tx, &seen, from).await?;
                first = false;
            }
            let Some(to) = events.last().map(|e| e.position) else {
                break;
            };
            let told = self.check(&mut unchecked, &events);
            let count = events.len();
            self.status
                .caught_up_from_postgres
                .fetch_add((count - told) as u64, Ordering::Relaxed);
            let (touched, applied) = catch_up::apply(&mut tx, self.projection, &events).await?;
            self.status
                .applied
                .fetch_add(applied as u64, Ordering::Relaxed);
            let owed = catch_up::settle(&mut tx, self.projection, &touched, to).await?;
            tx.commit().await?;
            if !owed.is_empty() {
                platform::failpoint::hit(self.failpoint_after_commit());
            }
            self.invalidations.send(owed, to, touched).await;
            if (count as i64) < catch_up::CHUNK {
                break;
            }
        }
        if !unchecked.is_empty() {
            // Past everything the store has (safely) written: what no relay could have sent.
            let head = eventstore::read::last_written(&self.context.pool).await?;
            for delivery in unchecked {
                let beyond = delivery.claim.is_some_and(|c| c.position > head);
                self.refuse(
                    delivery,
                    if beyond {
                        Verdict::BeyondHead
                    } else {
                        Verdict::Mismatch
                    },
                );
            }
        }
        Ok(())
    }

    /// Checks the messages that claim a position among `events` (read from the store, in order)
    /// and takes them off `unchecked`; returns how many were genuine.
    fn check(&self, unchecked: &mut Vec<&Delivery>, events: &[RecordedEvent]) -> usize {
        let Some(last) = events.last().map(|e| e.position) else {
            return 0;
        };
        let covered = unchecked
            .iter()
            .take_while(|d| d.claim.is_some_and(|c| c.position <= last))
            .count();
        let mut genuine = 0;
        for delivery in unchecked.drain(..covered) {
            let Some(claim) = delivery.claim else {
                continue;
            };
            let stored = events
                .binary_search_by_key(&claim.position, |e| e.position)
                .ok()
                .map(|i| &events[i]);
            match wire::judge(claim, &delivery.message.payload, stored, last) {
                Verdict::Genuine => genuine += 1,
                verdict => self.refuse(delivery, verdict),
            }
        }
        genuine
    }

    /// Checks messages that claim positions this projection has already applied (redeliveries,
    /// or forgeries naming old positions): nothing of them is applied either way, but one that
    /// is not the store's event there is refused and counted like any other.
    async fn check_seen(
        &self,
        conn: &mut PgConnection,
        seen: &[&Delivery],
        checkpoint: Position,
    ) -> anyhow::Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let claimed: Vec<Position> = seen
            .iter()
            .filter_map(|d| d.claim.map(|c| c.position))
            .collect();
        let stored = eventstore::read::at_each(&mut *conn, &claimed).await?;
        let mut duplicates = 0;
        for delivery in seen {
            let Some(claim) = delivery.claim else {
                continue;
            };
            let event = stored.iter().find(|e| e.position == claim.position);
            match wire::judge(claim, &delivery.message.payload, event, checkpoint) {
                Verdict::Genuine => duplicates += 1,
                verdict => self.refuse(delivery, verdict),
            }
        }
        metrics::counter!("projector_duplicates_skipped_total", "projection" => self.projection.name())
            .increment(duplicates);
        Ok(())
    }

    /// Counts and logs a message that is not what it claims to be; it is never applied.
    fn refuse(&self, delivery: &Delivery, verdict: Verdict) {
        self.status.refused.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(
            "projector_refused_messages_total",
            "projection" => self.projection.name(),
            "verdict" => verdict.as_str()
        )
        .increment(1);
        let sequence = delivery
            .message
            .info()
            .map(|info| info.stream_sequence)
            .ok();
        tracing::warn!(
            projection = self.projection.name(),
            subject = %delivery.message.subject,
            sequence,
            claimed = ?delivery.claim.map(|c| c.position),
            verdict = verdict.as_str(),
            "refused a message on the events subjects: it is not the event the store holds"
        );
    }

    /// Applies everything the store holds after the checkpoint.
    async fn catch_up(&self) -> anyhow::Result<()> {
        self.handle_batch(&[]).await
    }
}

fn parse(message: jetstream::Message) -> Delivery {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let claim = Claim::read(
        header(wire::HEADER_POSITION).as_deref(),
        header(async_nats::header::NATS_MESSAGE_ID.as_ref()).as_deref(),
        &message.payload,
    );
    Delivery { claim, message }
}

impl LeaderWork for Worker {
    fn role(&self) -> Role {
        let index = Projection::ALL
            .iter()
            .position(|p| *p == self.projection)
            .unwrap_or(0);
        let name = match self.projection {
            Projection::Resources => "projector-resources",
            Projection::Bookings => "projector-bookings",
            Projection::DailyStats => "projector-daily_stats",
        };
        Role::projection(u8::try_from(index).unwrap_or(u8::MAX), name)
    }

    fn connect_options(&self) -> PgConnectOptions {
        self.context.db.connect_options()
    }

    fn poll(&self) -> Duration {
        self.context.idle_poll
    }

    async fn lead(
        &self,
        lock: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        self.status.leading.store(true, Ordering::Relaxed);
        // What a predecessor committed but could not send to Redis, then what the store holds
        // beyond what JetStream may still have (purged, deleted, new).
        self.invalidations.send_owed().await;
        self.catch_up().await?;
        loop {
            match self.consume(lock, shutdown).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    // JetStream unavailable or the stream gone: keep the read model fresh from
                    // Postgres while retrying.
                    tracing::warn!(
                        projection = self.projection.name(),
                        error = format!("{err:#}"),
                        "JetStream consumer failed; reading the event store until it is back"
                    );
                    self.idle(lock).await?;
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(self.context.idle_poll) => {}
                    }
                }
            }
        }
    }

    fn stepped_down(&self) {
        self.status.leading.store(false, Ordering::Relaxed);
    }
}
