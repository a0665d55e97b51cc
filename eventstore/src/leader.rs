//! Single-leader background work: whoever holds a session advisory lock does the work; when its
//! connection dies the lock goes with it and another instance takes over within one poll.

use std::time::Duration;

use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

/// The leader roles; each is one advisory lock (class 0x426b = "Bk").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// command-api's relay to NATS.
    Relay,
    /// command-api's hold sweeper.
    HoldSweeper,
    /// The projector worker of one projection (by a stable number).
    Projection(u8),
}

impl Role {
    fn key(self) -> i32 {
        match self {
            Role::Relay => 1,
            Role::HoldSweeper => 2,
            Role::Projection(n) => 100 + i32::from(n),
        }
    }
}

const LOCK_CLASS: i32 = 0x426b;

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
            .bind(role.key())
            .fetch_one(&mut *conn)
            .await?;
        if acquired {
            tracing::info!(role = ?role, "became leader");
            return Ok(true);
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(false),
            () = tokio::time::sleep(poll) => {}
        }
    }
}
