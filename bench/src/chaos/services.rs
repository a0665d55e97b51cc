//! The engine as real processes: command-api, projector and query-api, each on a fixed port for
//! the whole run (a restarted service comes back where clients expect it), configured only
//! through the environment (README, "Configuration").

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::process::{Process, free_port};

/// The three services, in the order they start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    CommandApi,
    Projector,
    QueryApi,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::CommandApi, Service::Projector, Service::QueryApi];

    pub fn name(self) -> &'static str {
        match self {
            Service::CommandApi => "command-api",
            Service::Projector => "projector",
            Service::QueryApi => "query-api",
        }
    }

    fn addr_variable(self) -> &'static str {
        match self {
            Service::CommandApi => "COMMAND_API_ADDR",
            Service::Projector => "PROJECTOR_ADDR",
            Service::QueryApi => "QUERY_API_ADDR",
        }
    }
}

/// What every service of the run is told.
pub struct Config {
    pub database_url: String,
    pub nats_url: String,
    pub redis_url: String,
    pub stream: String,
    pub subject_prefix: String,
    pub changed_subject: String,
    pub key_prefix: String,
    pub secret: String,
}

impl Config {
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", self.database_url.as_str()),
            ("NATS_URL", &self.nats_url),
            ("REDIS_URL", &self.redis_url),
            ("NATS_STREAM", &self.stream),
            ("NATS_SUBJECT_PREFIX", &self.subject_prefix),
            ("CHANGED_SUBJECT", &self.changed_subject),
            ("REDIS_KEY_PREFIX", &self.key_prefix),
            ("PROJECTOR_CONSUMER_PREFIX", "chaos"),
            ("BOOKINGS_JWT_SECRET", &self.secret),
            // The load is many clients of one tenant; a rate limit would only add 429s.
            ("RATE_LIMIT_PER_SECOND", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        // Warnings tell what the faults did; CHAOS_RUST_LOG asks for more.
        .chain(std::iter::once((
            "RUST_LOG".to_owned(),
            std::env::var("CHAOS_RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )))
        .collect()
    }
}

pub struct Services {
    processes: Vec<(Service, u16, Process)>,
    http: reqwest::Client,
}

impl Services {
    /// Starts all three from `bin_dir` and waits until each is ready.
    pub async fn start(bin_dir: &Path, config: &Config, logs: &Path) -> anyhow::Result<Services> {
        let mut processes = Vec::new();
        for service in Service::ALL {
            let port = free_port()?;
            let mut env = config.env();
            env.push((
                service.addr_variable().to_owned(),
                format!("127.0.0.1:{port}"),
            ));
            let process =
                Process::new(service.name(), bin_dir.join(service.name()), &[], env, logs);
            processes.push((service, port, process));
        }
        let mut services = Services {
            processes,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
        };
        for service in Service::ALL {
            services.start_one(service, &[])?;
            services
                .wait_ready(service, Duration::from_secs(90))
                .await?;
        }
        Ok(services)
    }

    pub fn url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.port(service))
    }

    fn port(&self, service: Service) -> u16 {
        self.processes
            .iter()
            .find(|(s, _, _)| *s == service)
            .map_or(0, |(_, port, _)| *port)
    }

    pub fn process(&mut self, service: Service) -> &mut Process {
        let index = self
            .processes
            .iter()
            .position(|(s, _, _)| *s == service)
            .unwrap_or(0);
        &mut self.processes[index].2
    }

    pub fn start_one(&mut self, service: Service, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        self.process(service).start_with(extra)
    }

    pub async fn kill(&mut self, service: Service) {
        self.process(service).kill().await;
    }

    /// Starts whatever is not running (a process that died on its own is reported).
    pub fn revive(&mut self) -> anyhow::Result<Vec<String>> {
        let mut revived = Vec::new();
        for service in Service::ALL {
            let process = self.process(service);
            if let Some(status) = process.exited() {
                revived.push(format!("{} had exited ({status})", service.name()));
            }
            if !process.is_running() {
                process.start()?;
            }
        }
        Ok(revived)
    }

    pub async fn is_ready(&self, service: Service) -> bool {
        self.http
            .get(format!("{}/readyz", self.url(service)))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Waits until `service` answers `/readyz` with 200.
    pub async fn wait_ready(&mut self, service: Service, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_ready(service).await {
                return Ok(());
            }
            if let Some(status) = self.process(service).exited() {
                bail!(
                    "{} exited ({status}); last lines of its log:\n{}",
                    service.name(),
                    self.process(service).tail(30)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready after {timeout:?}; last lines of its log:\n{}",
                    service.name(),
                    self.process(service).tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until all three are ready; how long that took.
    pub async fn wait_all_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for service in Service::ALL {
            let left = timeout.saturating_sub(started.elapsed());
            self.wait_ready(service, left).await?;
        }
        Ok(started.elapsed())
    }

    pub async fn stop(&mut self) {
        for (_, _, process) in &mut self.processes {
            process.kill().await;
        }
    }
}
