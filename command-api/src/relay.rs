//! The relay: the events table is the outbox, and this publishes it to NATS JetStream.
//!
//! One instance leads (see `leader`). It reads events after its checkpoint in the safe
//! `(transaction_id, global_position)` order, publishes each with `Nats-Msg-Id = event_id` and
//! the position of the event published before it (so consumers can detect holes), waits for
//! every ack of the batch, and only then advances its checkpoint.
//!
//! Publishes are pipelined, so each one also says which stream sequence it must follow
//! (`Nats-Expected-Last-Sequence`): if one is lost on the way (a dropped connection), every later
//! one is refused instead of being stored out of order, and the relay starts over. Starting over
//! (or taking over after a crash) begins at the stream's tail: events already stored are never
//! sent twice, however long ago, so the stream holds each event exactly once and in order.
//! It wakes on `LISTEN events` and polls as a fallback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use eventstore::db::DbSettings;
use eventstore::{Position, RecordedEvent, checkpoint};
use sqlx::postgres::PgListener;
use sqlx::{ConnectOptions, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::wake::{self, RelayWake};
use eventstore::leader;

/// The relay's checkpoint name.
pub const CHECKPOINT: &str = "relay";
/// Headers on every published event.
pub const HEADER_POSITION: &str = "Bookings-Position";
pub const HEADER_PREVIOUS: &str = "Bookings-Previous-Position";
pub const HEADER_STREAM: &str = "Bookings-Stream-Id";
pub const HEADER_VERSION: &str = "Bookings-Stream-Version";
pub const HEADER_TYPE: &str = "Bookings-Event-Type";

/// Where and how to publish.
#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub stream: String,
    pub subject_prefix: String,
    pub poll: Duration,
    pub batch_size: i64,
}

/// The relay and what it reports about itself.
#[derive(Clone)]
pub struct Relay {
    db: DbSettings,
    pool: PgPool,
    jetstream: jetstream::Context,
    settings: RelaySettings,
    status: RelayStatus,
    wake: RelayWake,
}

/// Counters shared with whoever started the relay (tests, `/metrics`).
#[derive(Clone, Debug, Default)]
pub struct RelayStatus {
    published: Arc<AtomicU64>,
    leading: Arc<AtomicBool>,
}

impl RelayStatus {
    /// Events this instance has published (and had acknowledged).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Whether this instance currently holds the relay lock.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }
}

/// How long a retry after an error waits (NATS or Postgres away).
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// The longest pause between looks for a woken batch whose events the read horizon still hides.
const MAX_RECHECK_PAUSE: Duration = Duration::from_millis(50);

impl Relay {
    pub fn new(
        db: DbSettings,
        pool: PgPool,
        client: async_nats::Client,
        settings: RelaySettings,
        wake: RelayWake,
    ) -> Self {
        Self {
            db,
            pool,
            jetstream: jetstream::new(client),
            settings,
            status: RelayStatus::default(),
            wake,
        }
    }

    pub fn status(&self) -> RelayStatus {
        self.status.clone()
    }

    /// Competes for leadership and relays until `shutdown`; errors are logged and retried.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let result = self.lead(&shutdown).await;
            self.status.leading.store(false, Ordering::Relaxed);
            self.wake.set_local_leader(false);
            match result {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "relay stopped; retrying");
                    metrics::counter!("relay_errors_total").increment(1);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(RETRY_DELAY) => {}
                    }
                }
            }
        }
    }

    async fn lead(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        // A dedicated connection: the leader lock lives and dies with it, and the checkpoint is
        // written through it, so a relay that lost its connection cannot write one. Its commits
        // need not wait for the disk: a checkpoint that a Postgres crash loses only sends the
        // next leader to the stream's tail, which it skips to anyway (below), and the commands'
        // own commits then share fewer WAL flushes.
        let mut conn = self
            .db
            .connect_options()?
            .options([("synchronous_commit", "off")])
            .connect()
            .await?;
        if !leader::acquire(&mut conn, leader::Role::Relay, self.settings.poll, shutdown).await? {
            return Ok(());
        }
        self.ensure_stream().await?;
        // Commits in other instances wake us by NOTIFY, those in this one in process.
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(wake::CHANNEL).await?;
        self.wake.set_local_leader(true);
        // Leading, and from here on no commit's wake is lost.
        self.status.leading.store(true, Ordering::Relaxed);
        let mut position = checkpoint::load(&mut conn, CHECKPOINT).await?;
        let (mut sequence, stored) = self.stream_tail().await?;
        // Published by a relay that died before it could move the checkpoint: skip, don't resend.
        if let Some(stored) = stored.filter(|stored| *stored > position) {
            if !checkpoint::advance(&mut conn, CHECKPOINT, position, stored).await? {
                anyhow::bail!("the relay checkpoint moved under this leader");
            }
            position = stored;
        }
        loop {
            let published = self
                .relay_batch(&mut conn, &mut position, &mut sequence)
                .await?;
            if published == self.settings.batch_size {
                continue;
            }
            let woken = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                notification = listener.recv() => notification.map(|_| true)?,
                () = self.wake.woken() => true,
                () = tokio::time::sleep(self.settings.poll) => false,
            };
            if woken {
                // The waking transaction has committed, but any older transaction still running
                // in the cluster (xids are cluster-wide: even one in another database) holds the
                // read horizon back. Keep looking, backing off, until its events show up or the
                // poll would have come anyway. (A wake whose events an earlier batch already took
                // costs a few cheap reads.)
                let deadline = tokio::time::Instant::now() + self.settings.poll;
                let mut pause = Duration::from_millis(1);
                while self
                    .relay_batch(&mut conn, &mut position, &mut sequence)
                    .await?
                    == 0
                    && tokio::time::Instant::now() + pause < deadline
                {
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_RECHECK_PAUSE);
                }
            }
        }
    }

    /// Publishes the next batch after `position` and advances the checkpoint past it.
    async fn relay_batch(
        &self,
        conn: &mut PgConnection,
        position: &mut Position,
        sequence: &mut u64,
    ) -> anyhow::Result<i64> {
        let events =
            eventstore::read::read_after(conn, *position, self.settings.batch_size).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(0);
        };
        let mut acks = Vec::with_capacity(events.len());
        let mut previous = *position;
        for event in &events {
            acks.push(self.publish(event, previous, *sequence).await?);
            previous = event.position;
            *sequence += 1;
        }
        for ack in acks {
            ack.await
                .context("JetStream did not acknowledge an event")?;
        }
        if !checkpoint::advance(conn, CHECKPOINT, *position, last).await? {
            anyhow::bail!("the relay checkpoint moved under this leader");
        }
        let count = events.len() as u64;
        self.status.published.fetch_add(count, Ordering::Relaxed);
        metrics::counter!("relay_events_published_total").increment(count);
        if let Some(newest) = events.last() {
            let lag = chrono::Utc::now() - newest.recorded_at;
            metrics::gauge!("relay_lag_seconds").set(lag.as_seconds_f64());
        }
        *position = last;
        Ok(events.len() as i64)
    }

    async fn publish(
        &self,
        event: &RecordedEvent,
        previous: Position,
        after_sequence: u64,
    ) -> anyhow::Result<jetstream::context::PublishAckFuture> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_POSITION, event.position.to_string().as_str());
        headers.insert(HEADER_PREVIOUS, previous.to_string().as_str());
        headers.insert(HEADER_STREAM, event.stream_id.to_string().as_str());
        headers.insert(HEADER_VERSION, event.stream_version.to_string().as_str());
        headers.insert(HEADER_TYPE, event.event_type.as_str());
        let subject = format!(
            "{}.{}.{}",
            self.settings.subject_prefix, event.tenant_id, event.event_type
        );
        let payload = serde_json::to_vec(event)?;
        let publish = PublishMessage::build()
            .payload(payload.into())
            .headers(headers)
            .message_id(event.event_id.to_string())
            .expected_last_sequence(after_sequence);
        Ok(self.jetstream.send_publish(subject, publish).await?)
    }

    /// The stream's last sequence, and the position of the event stored there (if it is one of
    /// ours and still there).
    async fn stream_tail(&self) -> anyhow::Result<(u64, Option<Position>)> {
        let mut stream = self.jetstream.get_stream(&self.settings.stream).await?;
        let last = stream.info().await?.state.last_sequence;
        if last == 0 {
            return Ok((0, None));
        }
        let stored = match stream.get_raw_message(last).await {
            Ok(message) => message
                .headers
                .get(HEADER_POSITION)
                .and_then(|value| value.as_str().parse().ok()),
            // Purged or deleted: nothing to skip.
            Err(_) => None,
        };
        Ok((last, stored))
    }

    async fn ensure_stream(&self) -> anyhow::Result<()> {
        self.jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: self.settings.stream.clone(),
                subjects: vec![format!("{}.>", self.settings.subject_prefix)],
                duplicate_window: Duration::from_secs(120),
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("cannot create or find the JetStream stream")?;
        Ok(())
    }
}
