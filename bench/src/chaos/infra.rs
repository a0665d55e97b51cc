//! The infrastructure the suite runs the engine on and breaks: a Postgres cluster, a NATS server
//! (JetStream on) and a Redis server, each of its own, on ports of its own. The shared servers on
//! the standard ports are never touched, except to create and drop a database when a cluster of
//! our own cannot be made (then the suite says so, and cuts the database's connections instead of
//! restarting a server others use).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use tokio::process::Command;

use super::process::{Process, free_port};

/// The event store's Postgres.
pub struct Postgres {
    /// The database the services use.
    pub url: String,
    pub kind: PostgresKind,
}

pub enum PostgresKind {
    /// A cluster of our own (`initdb`), restarted with `pg_ctl`.
    Own(Cluster),
    /// A database of our own on the shared server: `admin_url` created it and drops it.
    Shared { admin_url: String, database: String },
}

pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    /// Running as root: every tool runs as `postgres` (`runuser`), which owns the data.
    as_postgres: bool,
}

impl Postgres {
    /// A cluster of our own under `dir` if this machine allows it, else a database on the
    /// shared server (`fallback_url`'s); `why_not` says why a cluster could not be made.
    pub async fn start(
        dir: &Path,
        fallback_url: &str,
        force_shared: bool,
    ) -> anyhow::Result<Postgres> {
        let why_not = if force_shared {
            "--shared-postgres was given".to_owned()
        } else {
            match Cluster::start(dir).await {
                Ok((cluster, port)) => {
                    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                    let mut conn = PgConnection::connect(&admin).await?;
                    sqlx::query("create database chaos")
                        .execute(&mut conn)
                        .await?;
                    conn.close().await?;
                    return Ok(Postgres {
                        url: format!("postgres://postgres@127.0.0.1:{port}/chaos"),
                        kind: PostgresKind::Own(cluster),
                    });
                }
                Err(err) => format!("{err:#}"),
            }
        };
        let database = format!(
            "chaos_{}_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            std::process::id()
        );
        eprintln!(
            "NOTE: no Postgres cluster of our own ({why_not}); using a fresh database {database} on the shared server. \
             The 'Postgres restarted' fault becomes 'every connection to that database terminated'."
        );
        let mut admin = PgConnection::connect(fallback_url)
            .await
            .context("cannot reach the shared Postgres (eval \"$(scripts/services)\")")?;
        sqlx::query(&format!("create database {database}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(Postgres {
            url: crate::engine::sibling_database(fallback_url, &database)?,
            kind: PostgresKind::Shared {
                admin_url: fallback_url.to_owned(),
                database,
            },
        })
    }

    pub fn is_own(&self) -> bool {
        matches!(self.kind, PostgresKind::Own(_))
    }

    /// Restarts the cluster (`immediate`: as a crash, recovering from the WAL; else `fast`), or,
    /// on the shared server, terminates every connection to our database.
    pub async fn restart(&self, immediate: bool) -> anyhow::Result<()> {
        match &self.kind {
            PostgresKind::Own(cluster) => {
                let mode = if immediate { "immediate" } else { "fast" };
                // Without `-l` the new server would log to (and hold open) our pipe.
                let log = cluster.log.display().to_string();
                cluster
                    .pg_ctl(&["-l", &log, "-m", mode, "-w", "-t", "60", "restart"])
                    .await
            }
            PostgresKind::Shared {
                admin_url,
                database,
            } => {
                let mut admin = PgConnection::connect(admin_url).await?;
                sqlx::query(
                    "select pg_terminate_backend(pid) from pg_stat_activity
                     where datname = $1 and pid <> pg_backend_pid()",
                )
                .bind(database)
                .execute(&mut admin)
                .await?;
                Ok(())
            }
        }
    }

    /// Stops the cluster and removes its data, or drops our database from the shared server.
    /// The server's log is copied to `logs` first.
    pub async fn stop(&self, logs: &Path) -> anyhow::Result<()> {
        match &self.kind {
            PostgresKind::Own(cluster) => {
                let _ = std::fs::copy(&cluster.log, logs.join("postgres.log"));
                cluster.pg_ctl(&["-m", "immediate", "-w", "stop"]).await
            }
            PostgresKind::Shared {
                admin_url,
                database,
            } => {
                let mut admin = PgConnection::connect(admin_url).await?;
                sqlx::query(&format!("drop database if exists {database} with (force)"))
                    .execute(&mut admin)
                    .await?;
                Ok(())
            }
        }
    }
}

impl Cluster {
    /// `initdb` and `pg_ctl start` on a free port; the data directory lives under `dir`.
    async fn start(dir: &Path) -> anyhow::Result<(Cluster, u16)> {
        let bin = postgres_bin().context("no /usr/lib/postgresql/*/bin/initdb")?;
        let as_postgres = running_as_root();
        let home = dir.join("postgres");
        std::fs::create_dir_all(&home)?;
        if as_postgres {
            // The cluster's files must belong to the user the server runs as.
            let chown = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&home)
                .status()
                .await?;
            anyhow::ensure!(
                chown.success(),
                "cannot give {} to postgres",
                home.display()
            );
        }
        let cluster = Cluster {
            bin,
            data: home.join("data"),
            log: home.join("postgres.log"),
            as_postgres,
        };
        let port = free_port()?;
        let data = cluster.data.display().to_string();
        cluster
            .run(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            )
            .await?;
        let options = format!(
            "-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200 \
             -c shared_buffers=128MB -c fsync=on -c full_page_writes=on"
        );
        let log = cluster.log.display().to_string();
        cluster
            .pg_ctl(&["-l", &log, "-o", &options, "-w", "-t", "60", "start"])
            .await?;
        Ok((cluster, port))
    }

    async fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let data = self.data.display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all).await
    }

    async fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        // pg_ctl's server inherits these: it must not write into our terminal or hold our pipes.
        let output = command
            .args(args)
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "{tool} {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A `nats-server -js` of our own, with its own store directory that outlives a kill.
pub struct Nats {
    pub url: String,
    pub process: Process,
}

impl Nats {
    pub async fn start(dir: &Path, logs: &Path) -> anyhow::Result<Nats> {
        let binary =
            std::env::var("NATS_SERVER_BIN").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
        let port = free_port()?;
        let store = dir.join("nats");
        let (port_arg, store_arg) = (port.to_string(), store.display().to_string());
        let mut nats = Nats {
            url: format!("nats://127.0.0.1:{port}"),
            process: Process::new(
                "nats-server",
                binary,
                &["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd", &store_arg],
                Vec::new(),
                logs,
            ),
        };
        nats.restart().await?;
        Ok(nats)
    }

    /// Starts it (again) on the same port and store, and waits until it takes connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill().await;
        self.process.start()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while async_nats::connect(&self.url).await.is_err() {
            if Instant::now() > deadline || !self.process.is_running() {
                bail!("nats-server did not start:\n{}", self.process.tail(20));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// A `redis-server` of our own that keeps nothing on disk: a restart comes back empty.
pub struct Redis {
    pub url: String,
    pub process: Process,
}

impl Redis {
    pub async fn start(logs: &Path) -> anyhow::Result<Redis> {
        let port = free_port()?;
        let port_arg = port.to_string();
        let mut redis = Redis {
            url: format!("redis://127.0.0.1:{port}"),
            process: Process::new(
                "redis-server",
                "redis-server",
                &[
                    "--port",
                    &port_arg,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    "/tmp",
                ],
                Vec::new(),
                logs,
            ),
        };
        redis.restart().await?;
        Ok(redis)
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill().await;
        self.process.start()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ping(&self.url).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline || !self.process.is_running() {
                bail!("redis-server did not start:\n{}", self.process.tail(20));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn ping(url: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(())
}
