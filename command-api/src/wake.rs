//! Waking the relay after a commit, outside the command's transaction.
//!
//! A `pg_notify` inside every command transaction costs each commit a turn on Postgres's global
//! notification queue lock (a sixth of the booking transaction's throughput in pgbench: see
//! BENCHMARKS.md, "Figures behind choices in the code"). So a committed write only *signals*
//! here. If this instance's relay is the leader it
//! is woken in process; otherwise one background task sends `NOTIFY events` for the leader in
//! another instance, and every commit that lands while one is in flight is covered by the next
//! one (a burst of commits costs a few notifications, not one each). Nothing depends on the wake
//! for correctness: if it is lost (a crash between commit and notify), the relay's poll finds
//! the events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The Postgres channel the relay listens on.
pub const CHANNEL: &str = "events";

#[derive(Clone, Default)]
pub struct RelayWake {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Whether this instance's relay is the leader (set by the relay).
    local_leader: AtomicBool,
    /// Wakes this instance's relay.
    local: Notify,
    /// Wakes the task that notifies other instances.
    remote: Notify,
}

impl RelayWake {
    /// Called after a transaction that appended events has committed.
    pub fn committed(&self) {
        if self.inner.local_leader.load(Ordering::Acquire) {
            self.inner.local.notify_one();
        } else {
            // `notify_one` keeps one permit when the task is busy: wakes coalesce.
            self.inner.remote.notify_one();
        }
    }

    /// The relay says whether it leads; while it does, wakes stay in process.
    pub fn set_local_leader(&self, leading: bool) {
        self.inner.local_leader.store(leading, Ordering::Release);
    }

    /// Resolves at the next in-process wake.
    pub async fn woken(&self) {
        self.inner.local.notified().await;
    }

    /// Sends `NOTIFY` for each (coalesced) wake until `shutdown`.
    pub async fn notify_other_instances(self, pool: PgPool, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.inner.remote.notified() => {}
            }
            if let Err(err) = sqlx::query("select pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&pool)
                .await
            {
                // The relay's poll covers a lost wake.
                tracing::debug!(error = %err, "could not notify the relay");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_leading_relay_is_woken_in_process_even_if_it_was_not_waiting_yet() {
        let wake = RelayWake::default();
        wake.set_local_leader(true);
        wake.committed();
        tokio::time::timeout(Duration::from_secs(1), wake.woken())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn without_a_local_leader_the_wake_goes_to_the_notifier_not_to_the_local_relay() {
        let wake = RelayWake::default();
        wake.committed();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), wake.woken())
                .await
                .is_err()
        );
        tokio::time::timeout(Duration::from_secs(1), wake.inner.remote.notified())
            .await
            .unwrap();
    }
}
