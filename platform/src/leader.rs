//! Single-leader background work, written once: whoever holds a role's session advisory lock
//! does the work; when its connection dies the lock goes with it and another instance takes over
//! within one poll. [`run`] is the whole life of such a worker: compete for the lock, lead, and
//! on an error log it, count it (`leader_errors_total{role}`), pause and compete again, until
//! shutdown.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio_util::sync::CancellationToken;

/// A leader role: one advisory lock (class 0x426b = "Bk") and the name it has in logs and
/// metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    name: &'static str,
    key: i32,
}

impl Role {
    /// command-api's relay to NATS.
    pub const RELAY: Role = Role {
        name: "relay",
        key: 1,
    };
    /// command-api's hold sweeper.
    pub const HOLD_SWEEPER: Role = Role {
        name: "hold-sweeper",
        key: 2,
    };

    /// The projector worker of one projection, by a stable number (its lock) and its name.
    pub const fn projection(number: u8, name: &'static str) -> Role {
        Role {
            name,
            key: 100 + number as i32,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

const LOCK_CLASS: i32 = 0x426b;

/// How long a worker pauses after an error before competing again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Work that one instance at a time does.
pub trait LeaderWork {
    /// The lock that decides who leads.
    fn role(&self) -> Role;

    /// How to open the connection that holds the lock (the work may use it too: the lock is
    /// lost with it, so whatever is written through it is written by the leader only).
    fn connect_options(&self) -> PgConnectOptions;

    /// How often a follower tries to take the lock.
    fn poll(&self) -> Duration;

    /// Does the work while leading, on `lock`, the connection holding the role's lock. Returns
    /// `Ok(())` on shutdown; an error ends this term (the lock is released with the connection).
    fn lead(
        &self,
        lock: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Called whenever a term ends, by an error or by shutdown (reset "leading" flags here).
    fn stepped_down(&self) {}
}

/// Competes for `work`'s role and leads whenever this instance holds it, until `shutdown`.
/// Errors are logged, counted and retried after a pause; they never end the loop.
pub async fn run(work: &impl LeaderWork, shutdown: CancellationToken) {
    let role = work.role();
    while !shutdown.is_cancelled() {
        let result = term(work, &shutdown).await;
        work.stepped_down();
        match result {
            Ok(()) => break,
            Err(err) => {
                tracing::warn!(
                    role = role.name,
                    error = format!("{err:#}"),
                    "{} stopped; retrying",
                    role.name
                );
                metrics::counter!("leader_errors_total", "role" => role.name).increment(1);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                }
            }
        }
    }
}

/// One connection's worth: wait for the lock, then lead until shutdown or an error.
async fn term(work: &impl LeaderWork, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut lock = work.connect_options().connect().await?;
    if !acquire(&mut lock, work.role(), work.poll(), shutdown).await? {
        return Ok(());
    }
    work.lead(&mut lock, shutdown).await
}

/// Waits until this connection holds the role's lock. Returns false if shutdown came first.
pub async fn acquire(
    conn: &mut PgConnection,
    role: Role,
    poll: Duration,
    shutdown: &CancellationToken,
) -> Result<bool, sqlx::Error> {
    loop {
        let acquired: bool = sqlx::query_scalar("select pg_try_advisory_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(role.key)
            .fetch_one(&mut *conn)
            .await?;
        if acquired {
            tracing::info!(role = role.name, "became leader");
            return Ok(true);
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(false),
            () = tokio::time::sleep(poll) => {}
        }
    }
}
