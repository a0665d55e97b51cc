//! The hold sweeper: one leader records `HoldExpired` for holds past their TTL and frees their
//! units (the exclusion constraint cannot look at the clock), and purges old idempotency keys.

use std::time::Duration;

use eventstore::db::DbSettings;
use platform::leader::{LeaderWork, Role};
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use domain::ids::{BookingId, TenantId};

use crate::commands::ExpireHold;
use crate::runner::{self, CommandRequest};
use crate::store::{CommandMeta, idempotency};
use crate::wake::RelayWake;

/// How many holds one sweep handles at most.
const BATCH: i64 = 200;
/// How often idempotency keys are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

pub struct Sweeper {
    pub db: DbSettings,
    pub pool: PgPool,
    pub interval: Duration,
    pub wake: RelayWake,
}

impl LeaderWork for Sweeper {
    fn role(&self) -> Role {
        Role::HOLD_SWEEPER
    }

    fn connect_options(&self) -> PgConnectOptions {
        self.db.connect_options()
    }

    fn poll(&self) -> Duration {
        self.interval
    }

    async fn lead(
        &self,
        lock: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut last_purge = tokio::time::Instant::now();
        loop {
            let expired = self.sweep_once().await?;
            if expired > 0 {
                tracing::debug!(expired, "expired holds");
            }
            if last_purge.elapsed() >= PURGE_EVERY {
                let mut conn = self.pool.acquire().await?;
                idempotency::purge_expired(&mut conn).await?;
                last_purge = tokio::time::Instant::now();
            }
            // Keep the lock connection alive (and notice if it died).
            sqlx::query("select 1").execute(&mut *lock).await?;
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}

impl Sweeper {
    /// Expires every due hold (up to a batch), each as an [`ExpireHold`] command of its own.
    pub async fn sweep_once(&self) -> anyhow::Result<usize> {
        let now = chrono::Utc::now();
        let due: Vec<(String, Uuid)> = sqlx::query_as(
            "select distinct tenant_id, booking_id from allocations
             where expires_at <= $1 limit $2",
        )
        .bind(now)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut expired = 0;
        for (tenant, booking_id) in due {
            // Written from a checked tenant, so only a manual edit can make this fail.
            let Ok(tenant) = TenantId::parse(tenant) else {
                tracing::error!(booking.id = %booking_id, "a hold of an invalid tenant");
                metrics::counter!("hold_expiry_failures_total").increment(1);
                continue;
            };
            let request = CommandRequest {
                meta: CommandMeta {
                    tenant,
                    actor: "system:hold-sweeper".into(),
                    command_id: Uuid::now_v7(),
                    correlation_id: format!("sweep:{booking_id}"),
                    traceparent: Some(platform::trace::TraceContext::root().header()),
                    now,
                },
                idempotency: None,
            };
            let command = ExpireHold {
                booking_id: BookingId(booking_id),
            };
            match runner::run(&self.pool, &self.wake, &request, &command).await {
                Ok(reply) if reply.status.is_success() => expired += 1,
                // Confirmed, cancelled or expired by someone else in the meantime.
                Ok(_) => {}
                // One hold that cannot be expired must not stop the others; it stays loud.
                Err(err) => {
                    tracing::error!(booking.id = %booking_id, error = %err, "cannot expire hold");
                    metrics::counter!("hold_expiry_failures_total").increment(1);
                }
            }
        }
        metrics::counter!("holds_expired_total").increment(expired as u64);
        Ok(expired)
    }
}
