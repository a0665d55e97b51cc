//! Read-your-writes: a query carrying `min_position` (the token of a command's answer) is
//! answered only once every projection it reads has checkpointed at or past it.

use std::time::Duration;

use eventstore::Position;
use platform::Problem;
use readmodel::projections::{Projection, reached};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::store::checkpoints;

/// The first pause between two looks at the checkpoints; it doubles up to [`MAX_PAUSE`]. A
/// projector applies a write within milliseconds, so the first looks come quickly.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(10);

/// How long to wait at most.
#[derive(Clone, Copy, Debug)]
pub struct Freshness {
    pub max_wait: Duration,
}

impl Freshness {
    /// Waits until the checkpoints of `projections` are all at or past `min` (nothing to wait
    /// for without one), else `503 projection_behind` with `Retry-After`.
    pub async fn wait(
        &self,
        pool: &PgPool,
        projections: &[Projection],
        min: Option<Position>,
    ) -> Result<(), Problem> {
        let Some(min) = min else {
            return Ok(());
        };
        let deadline = Instant::now() + self.max_wait;
        let mut pause = FIRST_PAUSE;
        loop {
            let at = reached(&checkpoints::positions(pool, projections).await?);
            if at >= min {
                metrics::counter!("query_position_waits_total", "result" => "reached").increment(1);
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                metrics::counter!("query_position_waits_total", "result" => "behind").increment(1);
                return Err(Problem::unavailable(
                    "projection_behind",
                    format!(
                        "the read models have not yet reached position {min} (they are at {at}); \
                         retry shortly"
                    ),
                    1,
                ));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}
