//! Read-your-writes: a query carrying `min_position` (the token of a command's answer) is
//! answered only once every projection it reads has checkpointed at or past it.

use std::time::Duration;

use eventstore::Position;
use platform::Problem;
use readmodel::projections::{Projection, reached};
use sqlx::PgPool;
use tokio::sync::OnceCell;
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
        self.wait_until(pool, projections, min, Instant::now() + self.max_wait)
            .await
    }

    /// One request's waits, made only when needed: see [`Gate`].
    pub fn gate<'a>(&self, pool: &'a PgPool, min: Option<Position>) -> Gate<'a> {
        Gate {
            freshness: *self,
            pool,
            min,
            deadline: Instant::now() + self.max_wait,
            reached: Default::default(),
        }
    }

    async fn wait_until(
        &self,
        pool: &PgPool,
        projections: &[Projection],
        min: Option<Position>,
        deadline: Instant,
    ) -> Result<(), Problem> {
        let Some(min) = min else {
            return Ok(());
        };
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

/// The read-your-writes waits of one request that reads several projections through caches.
///
/// A cached entry carries the checkpoint it was read at, so one at or past `min_position`
/// proves its projection has reached it: a request served wholly from such entries needs no
/// look at the checkpoints. Only what must be loaded waits, each projection at most once per
/// request, all against one deadline (`MIN_POSITION_WAIT_MS` from the request's start).
pub struct Gate<'a> {
    freshness: Freshness,
    pool: &'a PgPool,
    min: Option<Position>,
    deadline: Instant,
    /// One per [`Projection::ALL`], in that order.
    reached: [OnceCell<()>; Projection::ALL.len()],
}

impl Gate<'_> {
    /// The request's `min_position`.
    pub fn min(&self) -> Option<Position> {
        self.min
    }

    /// Waits until `projection` has reached the request's `min_position` (at once without one).
    pub async fn reached(&self, projection: Projection) -> Result<(), Problem> {
        if self.min.is_none() {
            return Ok(());
        }
        let projections = [projection];
        let wait = || {
            self.freshness
                .wait_until(self.pool, &projections, self.min, self.deadline)
        };
        match Projection::ALL.iter().position(|p| *p == projection) {
            Some(index) => self.reached[index].get_or_try_init(wait).await.map(|_| ()),
            None => wait().await,
        }
    }
}
