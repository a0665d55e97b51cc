//! CPU-heavy reads, bounded: availability computed from its days (free timelines and slots over
//! up to 62 days, for up to 100 resources) and daily stats (open time per resource and day).
//!
//! - They run on tokio's blocking pool, but at most `COMPUTE_CONCURRENCY` at once in the process
//!   (that pool alone would start up to 512 threads): the rest wait for a permit, within the
//!   request's deadline.
//! - Each request has a budget of `COMPUTE_MAX_WORK` steps: every computation charges an upper
//!   bound of its steps before it starts, and a request over budget is `422 too_much_work`
//!   (with how to ask for less) rather than minutes of CPU and an answer of gigabytes.
//! - When the request is gone (its `REQUEST_TIMEOUT_MS` passed, the client left) its
//!   computations stop at their next checkpoint, and no queued one starts.

use api::ErrorCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use platform::Problem;
use tokio::sync::Semaphore;

/// The process's computing capacity: permits and the per-request budget.
#[derive(Clone, Debug)]
pub struct Compute {
    permits: Arc<Semaphore>,
    max_work: u64,
}

impl Compute {
    /// At most `concurrency` computations at once (at least one), each request within
    /// `max_work` steps.
    pub fn new(concurrency: usize, max_work: u64) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            max_work,
        }
    }

    /// One request's share. Keep it for as long as the request runs: dropping it (the handler's
    /// future is dropped at the deadline) cancels what it still computes.
    pub fn job(&self) -> Job {
        Job {
            permits: self.permits.clone(),
            meter: Meter(Arc::new(Shared {
                left: AtomicU64::new(self.max_work),
                limit: self.max_work,
                cancelled: AtomicBool::new(false),
            })),
        }
    }
}

#[derive(Debug)]
struct Shared {
    /// Steps of the budget not yet charged.
    left: AtomicU64,
    limit: u64,
    cancelled: AtomicBool,
}

/// One request's computations. See [`Compute::job`].
#[derive(Debug)]
pub struct Job {
    permits: Arc<Semaphore>,
    meter: Meter,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.meter.0.cancelled.store(true, Ordering::Relaxed);
    }
}

/// Why a computation stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The request's budget would be exceeded; `hint` says how to ask for less.
    TooMuchWork { limit: u64, hint: &'static str },
    /// Nobody waits for the answer any more.
    Cancelled,
}

/// What a computation charges its steps to and checks for cancellation.
#[derive(Clone, Debug)]
pub struct Meter(Arc<Shared>);

impl Meter {
    /// A meter without a limit that is never cancelled (tests, tools).
    pub fn unlimited() -> Self {
        Meter(Arc::new(Shared {
            left: AtomicU64::new(u64::MAX),
            limit: u64::MAX,
            cancelled: AtomicBool::new(false),
        }))
    }

    /// Takes `steps` from the request's budget (or stops it, `hint` saying how to ask for
    /// less), and stops a cancelled request.
    pub fn charge(&self, steps: u64, hint: &'static str) -> Result<(), Stop> {
        self.check()?;
        let taken = self
            .0
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(steps)
            });
        match taken {
            Ok(_) => Ok(()),
            Err(_) => Err(Stop::TooMuchWork {
                limit: self.0.limit,
                hint,
            }),
        }
    }

    /// The budget not yet charged.
    pub fn left(&self) -> u64 {
        self.0.left.load(Ordering::Relaxed)
    }

    /// Stops a computation whose request is gone.
    pub fn check(&self) -> Result<(), Stop> {
        if self.0.cancelled.load(Ordering::Relaxed) {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }
}

impl Job {
    /// The request's meter, for charging work done outside [`Job::run`].
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit goes with the
    /// computation, not with the request: a computation still running after its request was
    /// dropped keeps its permit until it notices and stops.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(&Meter) -> Result<T, Stop> + Send + 'static,
    {
        let waiting = Instant::now();
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| {
            tracing::error!("the compute permits were closed");
            Problem::internal()
        })?;
        metrics::histogram!("query_compute_wait_seconds").record(waiting.elapsed().as_secs_f64());
        let meter = self.meter.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            meter.check()?;
            work(&meter)
        })
        .await;
        match done {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(stop)) => Err(stop.into()),
            Err(err) => {
                tracing::error!(error = %err, "a computation failed");
                Err(Problem::internal())
            }
        }
    }
}

impl From<Stop> for Problem {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::TooMuchWork { limit, hint } => too_much_work(limit, hint),
            // Only seen by a request that is already gone.
            Stop::Cancelled => {
                Problem::unavailable(ErrorCode::Timeout, "the request was cancelled", 1)
            }
        }
    }
}

/// `422 too_much_work`.
pub fn too_much_work(limit: u64, hint: &str) -> Problem {
    Problem::new(
        ErrorCode::TooMuchWork,
        format!("answering would take more than this service's {limit} steps per request; {hint}"),
    )
    .with_extra("work_limit", limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_charged_until_its_budget_is_spent() {
        let job = Compute::new(1, 100).job();
        let meter = job.meter();
        assert_eq!(meter.charge(60, "less"), Ok(()));
        assert_eq!(meter.charge(40, "less"), Ok(()));
        assert_eq!(
            meter.charge(1, "less"),
            Err(Stop::TooMuchWork {
                limit: 100,
                hint: "less"
            })
        );
        assert_eq!(meter.left(), 0);
    }

    #[tokio::test]
    async fn a_dropped_job_cancels_its_computations_and_frees_its_permit() {
        let compute = Compute::new(1, u64::MAX);
        let job = compute.job();
        let meter = job.meter().clone();
        let (started, running) = tokio::sync::oneshot::channel();
        let computation = tokio::spawn(async move {
            job.run(move |meter| -> Result<(), Stop> {
                let _ = started.send(());
                // Spins until the request is dropped.
                loop {
                    meter.check()?;
                    std::thread::yield_now();
                }
            })
            .await
        });
        running.await.unwrap();
        assert_eq!(meter.check(), Ok(()));
        // The request's deadline: its future (and the job in it) is dropped.
        computation.abort();
        let _ = computation.await;
        assert_eq!(meter.check(), Err(Stop::Cancelled));
        // The permit comes back once the computation has noticed.
        let next = compute.job();
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            next.run(|_| Ok::<_, Stop>(42)),
        )
        .await
        .unwrap();
        assert_eq!(answer.unwrap(), 42);
    }
}
