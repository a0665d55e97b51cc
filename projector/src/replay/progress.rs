//! Progress of a replay, with rate and ETA.

use std::io::{IsTerminal, Write as _};
use std::time::Instant;

use sqlx::PgConnection;

/// Progress with rate and ETA: a live line on a terminal, plain lines every few seconds
/// otherwise.
pub(super) struct Progress {
    pub(super) total: u64,
    pub(super) started: Instant,
    pub(super) last: Instant,
    pub(super) phase_started: Instant,
    pub(super) terminal: bool,
    pub(super) quiet: bool,
}

impl Progress {
    pub(super) async fn new(conn: &mut PgConnection) -> anyhow::Result<Progress> {
        let total: i64 = sqlx::query_scalar("select count(*) from events")
            .fetch_one(conn)
            .await?;
        Ok(Progress {
            total: u64::try_from(total).unwrap_or(0),
            started: Instant::now(),
            last: Instant::now(),
            phase_started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            quiet: false,
        })
    }

    pub(super) fn quiet() -> Progress {
        Progress {
            total: 0,
            started: Instant::now(),
            last: Instant::now(),
            phase_started: Instant::now(),
            terminal: false,
            quiet: true,
        }
    }

    pub(super) fn tick(&mut self, done: u64) {
        let every = if self.terminal { 0.2 } else { 5.0 };
        if self.quiet || self.last.elapsed().as_secs_f64() < every {
            return;
        }
        self.last = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let eta = self.total.saturating_sub(done) as f64 / rate.max(1.0);
        let line = format!(
            "replay: {done}/{} events ({:.0}/s, ETA {:.0} s)",
            self.total, rate, eta
        );
        let mut stderr = std::io::stderr();
        if self.terminal {
            let _ = write!(stderr, "\r{line}   ");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
    }

    /// Says how long a stage of the replay took (since the previous one).
    pub(super) fn phase(&mut self, what: &str) {
        let now = Instant::now();
        self.note(&format!(
            "{what} in {:.2} s",
            now.duration_since(self.phase_started).as_secs_f64()
        ));
        self.phase_started = now;
    }

    /// A line of its own (after a live progress line, if any).
    pub(super) fn note(&self, what: &str) {
        if self.quiet {
            return;
        }
        let line = format!("replay: {what}");
        let mut stderr = std::io::stderr();
        if self.terminal {
            let _ = write!(stderr, "\r{line}\x1b[K\n");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
    }

    pub(super) fn finish(&self) {
        if self.terminal && !self.quiet {
            let _ = writeln!(std::io::stderr());
        }
    }
}
