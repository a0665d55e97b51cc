//! Peak memory of the services, sampled from `/proc` while the scenarios run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Samples the resident set size of each process every 100 ms and keeps the largest seen.
pub struct Sampler {
    peaks: Arc<Mutex<BTreeMap<String, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pids: Vec<(String, u32)>) -> Sampler {
        let peaks: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let task = tokio::spawn({
            let peaks = Arc::clone(&peaks);
            async move {
                loop {
                    for (name, pid) in &pids {
                        if let Some(kib) = status_kib(*pid, "VmRSS:") {
                            record(&peaks, name, kib);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Sampler { peaks, task }
    }

    /// Adds a sample for a short-lived process (e.g. a replay) under `name`.
    pub fn record(&self, name: &str, kib: u64) {
        record(&self.peaks, name, kib);
    }

    /// Peak RSS in KiB per process name.
    pub fn stop(self) -> BTreeMap<String, u64> {
        self.task.abort();
        self.peaks.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

fn record(peaks: &Mutex<BTreeMap<String, u64>>, name: &str, kib: u64) {
    if let Ok(mut peaks) = peaks.lock() {
        let peak = peaks.entry(name.to_owned()).or_default();
        *peak = (*peak).max(kib);
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:` now, `VmHWM:` the peak so far).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_set_and_its_peak_is_not_below_it() {
        let pid = std::process::id();
        let now = status_kib(pid, "VmRSS:").unwrap();
        let peak = status_kib(pid, "VmHWM:").unwrap();
        assert!(now > 0 && peak >= now);
    }
}
