//! The relay: the events table is the outbox, and this publishes it to NATS JetStream.
//!
//! One instance leads (`platform::leader`). It reads events after its checkpoint in the safe
//! `(transaction_id, global_position)` order, publishes each with `Nats-Msg-Id = event_id` and
//! the position of the event published before it (so consumers can detect holes), waits for
//! every ack of the batch, and only then advances its checkpoint.
//!
//! Publishes are pipelined, so each one also says which stream sequence it must follow
//! (`Nats-Expected-Last-Sequence`): if one is lost on the way (a dropped connection), every later
//! one is refused instead of being stored out of order, and the relay starts over.
//!
//! Starting over (or taking over after a crash) resumes from the relay's own checkpoint, moved
//! past the events a previous leader published but could not checkpoint: those are found by
//! reading the stream backwards from its tail to the last message that is genuinely ours, the
//! event the store holds at the position it names (`eventstore::wire`). So events already
//! stored are not sent twice, however long ago, and a message anyone else published on the
//! subjects (a forged position far in the future, say) can neither stop the relay nor make it
//! skip anything.
//! It wakes on `LISTEN events` and polls as a fallback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use eventstore::db::DbSettings;
use eventstore::wire::{self, Claim, Verdict};
use eventstore::{Position, RecordedEvent, checkpoint};
use platform::leader::{LeaderWork, Role};
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::wake::{self, RelayWake};

/// The relay's checkpoint name.
pub const CHECKPOINT: &str = "relay";
/// How far back from the stream's tail a new leader looks for the last message a previous one
/// published. Only messages that others published after it can be in the way, and with NATS
/// credentials nobody else may publish there; past this many it resumes at its checkpoint (and
/// may send a few events a second time, which consumers skip).
const MAX_TAIL_SCAN: u64 = 1_000;

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
        headers.insert(wire::HEADER_POSITION, event.position.to_string().as_str());
        headers.insert(wire::HEADER_PREVIOUS, previous.to_string().as_str());
        headers.insert(wire::HEADER_STREAM, event.stream_id.to_string().as_str());
        headers.insert(
            wire::HEADER_VERSION,
            event.stream_version.to_string().as_str(),
        );
        headers.insert(wire::HEADER_TYPE, event.event_type.as_str());
        if let Some(traceparent) = wire::traceparent(event) {
            headers.insert(wire::HEADER_TRACEPARENT, traceparent);
        }
        let subject = wire::subject(&self.settings.subject_prefix, event);
        let payload = serde_json::to_vec(event)?;
        let publish = PublishMessage::build()
            .payload(payload.into())
            .headers(headers)
            .message_id(event.event_id.to_string())
            .expected_last_sequence(after_sequence);
        Ok(self.jetstream.send_publish(subject, publish).await?)
    }

    /// The stream's last sequence, and the position of the last event a relay published there
    /// (`checkpoint` if that is not past it): the newest message from the tail back that is
    /// genuinely one of ours. Messages that are not (forged, garbage, or naming a position the
    /// store has not written) are counted and passed over.
    async fn stream_tail(
        &self,
        conn: &mut PgConnection,
        checkpoint: Position,
    ) -> anyhow::Result<(u64, Position)> {
        let mut stream = self.jetstream.get_stream(&self.settings.stream).await?;
        let (first, last) = {
            let state = &stream.info().await?.state;
            (state.first_sequence, state.last_sequence)
        };
        let head = eventstore::read::last_written(&mut *conn).await?;
        let oldest = first.max(last.saturating_sub(MAX_TAIL_SCAN - 1)).max(1);
        for sequence in (oldest..=last).rev() {
            // Purged or deleted: look further back.
            let Ok(message) = stream.get_raw_message(sequence).await else {
                continue;
            };
            let header = |name: &str| {
                message
                    .headers
                    .get(name)
                    .map(|value| value.as_str().to_owned())
            };
            let claim = Claim::read(
                header(wire::HEADER_POSITION).as_deref(),
                header(async_nats::header::NATS_MESSAGE_ID.as_ref()).as_deref(),
                &message.payload,
            );
            let verdict = match claim {
                Some(claim) if claim.position <= checkpoint => {
                    // Anything at or below the checkpoint is covered already, ours or not.
                    return Ok((last, checkpoint));
                }
                Some(claim) => {
                    let stored = if claim.position > head {
                        None
                    } else {
                        eventstore::read::at(&mut *conn, claim.position).await?
                    };
                    let verdict = wire::judge(claim, &message.payload, stored.as_ref(), head);
                    if verdict == Verdict::Genuine {
                        return Ok((last, claim.position));
                    }
                    verdict
                }
                None => Verdict::Mismatch,
            };
            metrics::counter!("relay_foreign_messages_total", "verdict" => verdict.as_str())
                .increment(1);
            tracing::warn!(
                sequence,
                verdict = verdict.as_str(),
                "a message on the events subjects that the relay did not publish; passed over"
            );
        }
        Ok((last, checkpoint))
    }

    async fn ensure_stream(&self) -> anyhow::Result<()> {
        self.jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: self.settings.stream.clone(),
                subjects: vec![wire::all_subjects(&self.settings.subject_prefix)],
                duplicate_window: Duration::from_secs(120),
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("cannot create or find the JetStream stream")?;
        Ok(())
    }
}

impl LeaderWork for Relay {
    fn role(&self) -> Role {
        Role::RELAY
    }

    /// The leader's connection is also the one the checkpoint is written through, so a relay
    /// that lost its connection cannot write one. Its commits need not wait for the disk: a
    /// checkpoint that a Postgres crash loses only sends the next leader to the stream's tail,
    /// which it skips to anyway (see `lead`), and the commands' own commits then share fewer WAL
    /// flushes.
    fn connect_options(&self) -> PgConnectOptions {
        self.db
            .connect_options()
            .options([("synchronous_commit", "off")])
    }

    fn poll(&self) -> Duration {
        self.settings.poll
    }

    async fn lead(
        &self,
        conn: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        self.ensure_stream().await?;
        // Commits in other instances wake us by NOTIFY, those in this one in process.
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(wake::CHANNEL).await?;
        self.wake.set_local_leader(true);
        // Leading, and from here on no commit's wake is lost.
        self.status.leading.store(true, Ordering::Relaxed);
        let mut position = checkpoint::load(&mut *conn, CHECKPOINT).await?;
        let (mut sequence, published) = self.stream_tail(conn, position).await?;
        // Published by a leader that died before it could move the checkpoint: skip, don't resend.
        if published > position {
            if !checkpoint::advance(&mut *conn, CHECKPOINT, position, published).await? {
                anyhow::bail!("the relay checkpoint moved under this leader");
            }
            position = published;
        }
        loop {
            let published = self.relay_batch(conn, &mut position, &mut sequence).await?;
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
                while self.relay_batch(conn, &mut position, &mut sequence).await? == 0
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

    fn stepped_down(&self) {
        self.status.leading.store(false, Ordering::Relaxed);
        self.wake.set_local_leader(false);
    }
}
