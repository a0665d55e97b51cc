//! The load driver every scenario shares: a closed loop (N workers, each sending its next request
//! when the previous answer arrives: saturation) or an open loop (requests sent on a fixed
//! schedule whatever happens to earlier ones). Latency is measured from each request's
//! *intended* send time, so a stall in the system under test shows up as latency of everything
//! scheduled behind it instead of silently lowering the request rate (no coordinated omission).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The connections an open loop sends on (each carries one request at a time): 30,000 requests
/// per second at up to 2 ms each. Past what the system can answer, requests wait for a free
/// connection (timed from their intended send time) instead of opening ever more.
const OPEN_LOOP_CONNECTIONS: usize = 64;

/// How load is offered.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// `workers` requests in flight at all times, for `seconds`.
    Closed { workers: u64, seconds: f64 },
    /// `rate` requests per second on a fixed schedule, for `seconds`.
    Open { rate: u64, seconds: f64 },
}

impl Load {
    pub fn describe(self) -> String {
        match self {
            Load::Closed { workers, seconds } => {
                format!("closed loop, {workers} workers, {seconds} s")
            }
            Load::Open { rate, seconds } => format!("open loop, {rate}/s offered, {seconds} s"),
        }
    }
}

/// How one request ended, as the scenario judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Did what was asked (a booking placed, an answer read).
    Ok,
    /// Refused by a rule the client must expect (a conflict): counted, not an error.
    Refused,
    /// Anything else: a 5xx, a transport error, an unexpected status.
    Failed,
}

/// Latencies in microseconds, one histogram per shard so that concurrent recorders rarely meet.
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            shards: (0..16).map(|_| Mutex::new(histogram())).collect(),
        }
    }

    pub fn record(&self, shard: u64, since: Instant) {
        let micros = since.elapsed().as_micros().max(1) as u64;
        let index = (shard % self.shards.len() as u64) as usize;
        if let Ok(mut histogram) = self.shards[index].lock() {
            // Values beyond the bounds saturate instead of being dropped.
            histogram.saturating_record(micros);
        }
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            if let Ok(shard) = shard.lock() {
                // Same bounds on both sides: adding cannot fail.
                let _ = all.add(&*shard);
            }
        }
        all
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("1 µs to 60 s at 3 digits is a valid range")
}

/// What a run of the driver measured.
pub struct Run {
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub refused: u64,
    pub failed: u64,
    pub elapsed: Duration,
}

impl Run {
    pub fn ok_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub fn answered_per_second(&self) -> f64 {
        (self.ok + self.refused) as f64 / self.elapsed.as_secs_f64()
    }
}

/// Drives `request(k)` (k = 0, 1, 2 … a request counter) under `load` and measures it.
pub async fn drive<F, Fut>(load: Load, request: F) -> Run
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let all = Arc::new(Latencies::new());
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let record = {
        let (all, counts) = (all.clone(), counts.clone());
        move |k: u64, intended: Instant, outcome: Outcome| {
            all.record(k, intended);
            let slot = match outcome {
                Outcome::Ok => 0,
                Outcome::Refused => 1,
                Outcome::Failed => 2,
            };
            counts[slot].fetch_add(1, Ordering::Relaxed);
        }
    };
    match load {
        Load::Closed { workers, seconds } => {
            let deadline = started + Duration::from_secs_f64(seconds);
            let tasks: Vec<_> = (0..workers)
                .map(|_| {
                    let (request, next, record) = (request.clone(), next.clone(), record.clone());
                    tokio::spawn(async move {
                        while Instant::now() < deadline {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let intended = Instant::now();
                            let outcome = request(k).await;
                            record(k, intended, outcome);
                        }
                    })
                })
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        }
        Load::Open { rate, seconds } => {
            // As wrk2 does it: a fixed set of connections, each sending its next request when
            // it is free, on a schedule that does not wait for anyone. The schedule is kept by
            // an OS thread (tokio's timer ticks in milliseconds, which would send a high rate
            // in bursts; a thread sleeping to each send time is within ~0.1 ms) that hands each
            // request to the next free connection. A request that waits for one (the system is
            // behind) is still timed from its intended send time.
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let total = (seconds * rate as f64) as u64;
            let (due_tx, due_rx) = flume::unbounded::<(u64, Instant)>();
            let dispatcher = std::thread::spawn(move || {
                for k in 0..total {
                    let intended = started + interval.mul_f64(k as f64);
                    let now = Instant::now();
                    if intended > now {
                        std::thread::sleep(intended - now);
                    }
                    if due_tx.send((k, intended)).is_err() {
                        break;
                    }
                }
            });
            let connections: Vec<_> = (0..OPEN_LOOP_CONNECTIONS)
                .map(|_| {
                    let (request, record, due) = (request.clone(), record.clone(), due_rx.clone());
                    tokio::spawn(async move {
                        while let Ok((k, intended)) = due.recv_async().await {
                            let outcome = request(k).await;
                            record(k, intended, outcome);
                        }
                    })
                })
                .collect();
            drop(due_rx);
            for connection in connections {
                let _ = connection.await;
            }
            let _ = tokio::task::spawn_blocking(move || dispatcher.join()).await;
        }
    }
    Run {
        latency: all.merged(),
        ok: counts[0].load(Ordering::Relaxed),
        refused: counts[1].load(Ordering::Relaxed),
        failed: counts[2].load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

/// Microseconds as milliseconds.
pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
