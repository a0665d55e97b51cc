//! Single-leader background work: whoever holds a session advisory lock does the work; when its
//! connection dies the lock goes with it and another instance takes over within one poll.

use std::time::Duration;

use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

/// The advisory-lock keys of the leader roles (class 0x426b = "Bk").
#[derive(Clone, Copy, Debug)]
pub enum Role {
    Relay = 1,
    HoldSweeper = 2,
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
            .bind(role as i32)
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
