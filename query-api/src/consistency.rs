//! Read-your-writes: a query carrying `min_position` (the token of a command's answer) is
//! answered only once every projection it reads has checkpointed at or past it. The waits of a
//! process share one look at the checkpoints at a time, and a token past the store's head is
//! refused at once.

use api::ErrorCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstore::Position;
use platform::Problem;
use readmodel::projections::{Projection, reached};
use sqlx::PgPool;
use tokio::sync::{OnceCell, watch};
use tokio::time::Instant;

use crate::store::checkpoints;

/// How often the one request polling the checkpoints (for all that wait) looks again. A
/// projector applies a write within milliseconds, so the looks come quickly; they are one query
/// per interval for the whole process, however many requests wait.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How long a waiting request that is not the poller waits for news before checking whether
/// the poller has gone (reached its own position) and it should poll instead.
const FOLLOW_TIMEOUT: Duration = Duration::from_millis(10);

/// How long to wait at most, and the process's one watch over the checkpoints.
#[derive(Clone)]
pub struct Freshness {
    max_wait: Duration,
    watch: Arc<Watch>,
}

/// What every waiting request of the process shares.
struct Watch {
    /// The checkpoints last read, by [`Projection::ALL`] index. Checkpoints only move forward,
    /// so a value read a while ago that is already at a request's position settles it.
    latest: watch::Sender<Vec<Position>>,
    /// Held by the request that polls for everybody.
    polling: tokio::sync::Mutex<()>,
    /// The highest position the store was seen to have written: a `min_position` up to it is
    /// a real one, worth waiting for.
    head: Mutex<Position>,
}

impl Freshness {
    pub fn new(max_wait: Duration) -> Self {
        Self {
            max_wait,
            watch: Arc::new(Watch {
                latest: watch::Sender::new(vec![Position::START; Projection::ALL.len()]),
                polling: tokio::sync::Mutex::new(()),
                head: Mutex::new(Position::START),
            }),
        }
    }

    /// Waits until the checkpoints of `projections` are all at or past `min` (nothing to wait
    /// for without one), else `503 projection_behind` with `Retry-After`; a `min` past anything
    /// the store has written is `422 invalid_position` at once.
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
            freshness: self.clone(),
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
        if projections.is_empty() {
            // A read of the event store itself: it holds every position it has written.
            return self.check_head(pool, min).await;
        }
        let indexes: Vec<usize> = projections
            .iter()
            .filter_map(|p| Projection::ALL.iter().position(|q| q == p))
            .collect();
        let mut news = self.watch.latest.subscribe();
        let mut head_checked = false;
        loop {
            let at = {
                let latest = news.borrow_and_update();
                reached(&indexes.iter().map(|i| latest[*i]).collect::<Vec<_>>())
            };
            if at >= min {
                metrics::counter!("query_position_waits_total", "result" => "reached").increment(1);
                return Ok(());
            }
            if !head_checked {
                self.check_head(pool, min).await?;
                head_checked = true;
            }
            let now = Instant::now();
            if now >= deadline {
                metrics::counter!("query_position_waits_total", "result" => "behind").increment(1);
                return Err(Problem::unavailable(
                    ErrorCode::ProjectionBehind,
                    format!(
                        "the read models have not yet reached position {min} (they are at {at}); \
                         retry shortly"
                    ),
                    1,
                ));
            }
            let left = deadline - now;
            if let Ok(_polling) = self.watch.polling.try_lock() {
                let positions = checkpoints::positions(pool, &Projection::ALL).await?;
                self.watch.latest.send_if_modified(|latest| {
                    let changed = *latest != positions;
                    *latest = positions;
                    changed
                });
                // Holding the poll over the pause: one look per interval for everybody.
                tokio::time::sleep(POLL_INTERVAL.min(left)).await;
            } else {
                let _ = tokio::time::timeout(FOLLOW_TIMEOUT.min(left), news.changed()).await;
            }
        }
    }

    /// Refuses a position past anything the store has written: no command answered it, and no
    /// wait would ever reach it.
    async fn check_head(&self, pool: &PgPool, min: Position) -> Result<(), Problem> {
        let known = self.watch.head.lock().map(|head| *head).unwrap_or_default();
        if min <= known {
            return Ok(());
        }
        let head = eventstore::read::last_written(pool)
            .await
            .map_err(crate::store::StoreError::from)?;
        if let Ok(mut known) = self.watch.head.lock() {
            *known = (*known).max(head);
        }
        if min > head {
            return Err(Problem::new(
                ErrorCode::InvalidPosition,
                format!(
                    "min_position {min} is past the last position written ({head}); use the \
                     position of a command's answer"
                ),
            ));
        }
        Ok(())
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
