//! A process the chaos suite owns and kills: started from a fixed command line and environment
//! as often as asked, killed the hard way (`SIGKILL`, as `kill -9`), its output appended to one
//! log across all its lives so a failure can be read back in order.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

pub struct Process {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    lives: u32,
}

impl Process {
    pub fn new(
        name: &str,
        program: impl Into<PathBuf>,
        args: &[&str],
        env: Vec<(String, String)>,
        logs: &Path,
    ) -> Process {
        Process {
            name: name.to_owned(),
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env,
            log: logs.join(format!("{name}.log")),
            child: None,
            lives: 0,
        }
    }

    /// Starts it, with `extra` environment on top of its own (for this life only).
    pub fn start_with(&mut self, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "{} is already running", self.name);
        self.lives += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        writeln!(
            log,
            "=== chaos: life {} of {} starts at {}{}",
            self.lives,
            self.name,
            chrono::Utc::now().to_rfc3339(),
            if extra.is_empty() {
                String::new()
            } else {
                format!(" with {extra:?}")
            }
        )
        .with_context(|| format!("cannot write to {}", self.log.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn start(&mut self) -> anyhow::Result<()> {
        self.start_with(&[])
    }

    /// `kill -9`, and waits until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Whether it has exited on its own; takes the exit status if so.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        Some(status)
    }

    /// Waits up to `timeout` for it to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .ok()?
            .ok()?;
        self.child = None;
        Some(status)
    }

    pub fn is_running(&mut self) -> bool {
        self.exited();
        self.child.is_some()
    }

    /// The last `lines` lines of its log.
    pub fn tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.reverse();
        tail.join("\n")
    }
}

/// Whether `status` is a death by `SIGABRT` (what an armed failpoint does).
pub fn aborted(status: ExitStatus) -> bool {
    status.signal() == Some(6)
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
