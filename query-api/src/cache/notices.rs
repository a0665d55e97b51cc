//! Listens for the projector's change notices (core NATS, `{CHANGED_SUBJECT}.{tenant}`) and
//! drops the L1 entries they name: days, and resource rows.
//!
//! Notices are at most once: one lost while NATS was away only leaves an L1 entry until its TTL,
//! and after a reconnect (or a slow-consumer drop) all of L1 is dropped anyway (see
//! `app::connect_nats`). Redis is invalidated by the projector itself, before it publishes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use readmodel::notice::Changed;
use tokio_util::sync::CancellationToken;

use super::days::DayCache;
use super::resources::ResourceCache;

pub struct NoticeListener {
    pub nats: async_nats::Client,
    /// The wildcard subject, `readmodel::notice::wildcard(CHANGED_SUBJECT)`.
    pub subject: String,
    pub cache: Arc<DayCache>,
    pub resources: Arc<ResourceCache>,
}

impl NoticeListener {
    /// Subscribes and handles notices until `shutdown`; resubscribes if the subscription ends.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let subscribed = tokio::select! {
                () = shutdown.cancelled() => return,
                subscribed = self.nats.subscribe(self.subject.clone()) => subscribed,
            };
            match subscribed {
                Ok(mut subscriber) => loop {
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            let _ = subscriber.unsubscribe().await;
                            return;
                        }
                        message = subscriber.next() => match message {
                            Some(message) => self.handle(&message.payload).await,
                            None => break,
                        },
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, subject = %self.subject, "cannot subscribe to change notices; retrying");
                }
            }
            // Drop L1 before subscribing again: notices may have been missed in between.
            self.cache.forget_everything();
            self.resources.forget_everything();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// One notice's payload.
    pub async fn handle(&self, payload: &[u8]) {
        match serde_json::from_slice::<Changed>(payload) {
            Ok(changed) => {
                self.cache.on_changed(&changed).await;
                self.resources.on_changed(&changed).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "ignoring a change notice that does not decode");
                metrics::counter!("query_cache_bad_notices_total").increment(1);
            }
        }
    }
}
