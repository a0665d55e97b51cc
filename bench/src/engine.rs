//! The engine under test: either one already running (`scripts/start`'s addresses by default) or,
//! with `--spawn`, the three service binaries built next to `bench` itself, started on a fresh
//! database, NATS stream, subjects and Redis prefix of their own, and removed again afterwards.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};
use uuid::Uuid;

pub const SERVICES: [&str; 3] = ["command-api", "projector", "query-api"];

/// Where the engine answers, and what the bench needs to watch it.
pub struct Engine {
    pub command_url: String,
    pub query_url: String,
    pub nats_url: String,
    pub redis_url: String,
    pub subject_prefix: String,
    pub changed_subject: String,
    pub secret: String,
    /// A database URL on the engine's server (pgbench and replay make databases next to it).
    pub database_url: String,
    /// The service processes, by name, for memory sampling.
    pub pids: Vec<(String, u32)>,
    spawned: Option<Spawned>,
}

struct Spawned {
    children: Vec<(String, Child)>,
    admin_url: String,
    database: String,
    stream: String,
    /// The services' Redis key prefix.
    key_prefix: String,
    logs: PathBuf,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl Engine {
    /// The engine `scripts/start` runs, configured from the same environment variables.
    pub fn running(command_url: Option<String>, query_url: Option<String>) -> Engine {
        let addr = |name: &str, default: &str| format!("http://{}", env_or(name, default));
        Engine {
            command_url: command_url.unwrap_or_else(|| addr("COMMAND_API_ADDR", "127.0.0.1:8080")),
            query_url: query_url.unwrap_or_else(|| addr("QUERY_API_ADDR", "127.0.0.1:8081")),
            nats_url: env_or("NATS_URL", "nats://127.0.0.1:4222"),
            redis_url: env_or("REDIS_URL", "redis://127.0.0.1:6379"),
            subject_prefix: env_or("NATS_SUBJECT_PREFIX", "bookings"),
            changed_subject: env_or("CHANGED_SUBJECT", "bookings-changed"),
            // `scripts/start` runs in development mode, with this secret unless one is set.
            secret: env_or("BOOKINGS_JWT_SECRET", "dev-secret-change-me"),
            database_url: env_or(
                "DATABASE_URL",
                "postgres://bookings:bookings@127.0.0.1:5432/bookings",
            ),
            pids: SERVICES
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), pid_of(name)?)))
                .collect(),
            spawned: None,
        }
    }

    /// Starts the three services from `bin_dir` on resources of their own and waits until each
    /// answers `/readyz`.
    pub async fn spawn(bin_dir: &Path) -> anyhow::Result<Engine> {
        for name in SERVICES {
            if !bin_dir.join(name).is_file() {
                bail!(
                    "{} is missing: build the services first (cargo build --release -p command-api -p projector -p query-api)",
                    bin_dir.join(name).display()
                );
            }
        }
        let admin_url = env_or(
            "DATABASE_URL",
            "postgres://bookings:bookings@127.0.0.1:5432/bookings",
        );
        let id = format!(
            "{}_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            std::process::id()
        );
        let database = format!("bench_{id}");
        let database_url = sibling_database(&admin_url, &database)?;
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .context("cannot reach Postgres (run `eval \"$(scripts/services)\"` first)")?;
        sqlx::query(&format!("create database {database}"))
            .execute(&mut admin)
            .await?;
        let mut conn = PgConnection::connect(&database_url).await?;
        eventstore::db::MIGRATOR.run(&mut conn).await?;
        conn.close().await?;

        let ports = [free_port()?, free_port()?, free_port()?];
        let mut engine = Engine {
            command_url: format!("http://127.0.0.1:{}", ports[0]),
            query_url: format!("http://127.0.0.1:{}", ports[2]),
            nats_url: env_or("NATS_URL", "nats://127.0.0.1:4222"),
            redis_url: env_or("REDIS_URL", "redis://127.0.0.1:6379"),
            subject_prefix: format!("bench_{id}"),
            changed_subject: format!("bench_changed_{id}"),
            // A secret of this run's own (the services refuse short ones outside development
            // mode).
            secret: format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
            database_url: database_url.clone(),
            pids: Vec::new(),
            spawned: None,
        };
        let logs = bin_dir.join("bench-logs");
        std::fs::create_dir_all(&logs)?;
        let mut spawned = Spawned {
            children: Vec::new(),
            admin_url,
            database,
            stream: format!("BENCH_{id}"),
            key_prefix: format!("bench:{id}:"),
            logs: logs.clone(),
        };
        let env = [
            ("DATABASE_URL", database_url),
            ("NATS_URL", engine.nats_url.clone()),
            ("REDIS_URL", engine.redis_url.clone()),
            ("NATS_STREAM", spawned.stream.clone()),
            ("NATS_SUBJECT_PREFIX", engine.subject_prefix.clone()),
            ("CHANGED_SUBJECT", engine.changed_subject.clone()),
            ("REDIS_KEY_PREFIX", spawned.key_prefix.clone()),
            ("PROJECTOR_CONSUMER_PREFIX", format!("bench_{id}")),
            ("BOOKINGS_JWT_SECRET", engine.secret.clone()),
            // The scenarios drive one tenant far past any sensible per-tenant budget: they measure
            // the engine, not its limiter. Per-token limits stay (the load spreads over tokens).
            ("RATE_LIMIT_TENANT_PER_SECOND", "0".to_owned()),
            ("COMMAND_API_ADDR", format!("127.0.0.1:{}", ports[0])),
            ("PROJECTOR_ADDR", format!("127.0.0.1:{}", ports[1])),
            ("QUERY_API_ADDR", format!("127.0.0.1:{}", ports[2])),
            ("RUST_LOG", env_or("RUST_LOG", "warn")),
        ];
        for (name, port) in SERVICES.iter().zip(ports) {
            let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
            let child = Command::new(bin_dir.join(name))
                .envs(env.iter().cloned())
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {name}"))?;
            if let Some(pid) = child.id() {
                engine.pids.push(((*name).to_owned(), pid));
            }
            spawned.children.push(((*name).to_owned(), child));
            wait_ready(&mut spawned, name, port).await?;
        }
        engine.spawned = Some(spawned);
        Ok(engine)
    }

    /// Stops what [`Engine::spawn`] started and removes its database and stream. A running
    /// engine is left alone.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Some(mut spawned) = self.spawned else {
            return Ok(());
        };
        for (_, child) in &mut spawned.children {
            let _ = child.kill().await;
        }
        let mut admin = PgConnection::connect(&spawned.admin_url).await?;
        sqlx::query(&format!(
            "drop database if exists {} with (force)",
            spawned.database
        ))
        .execute(&mut admin)
        .await?;
        let nats = platform::nats::connect(&self.nats_url, "bench").await?;
        let _ = async_nats::jetstream::new(nats)
            .delete_stream(&spawned.stream)
            .await;
        // The cache entries and markers would expire with their TTL; a run leaves ~100,000.
        if let Err(err) = remove_keys(&self.redis_url, &spawned.key_prefix).await {
            eprintln!(
                "could not remove the Redis keys {}*: {err:#}",
                spawned.key_prefix
            );
        }
        Ok(())
    }
}

/// Unlinks every Redis key under `prefix`.
async fn remove_keys(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn wait_ready(spawned: &mut Spawned, name: &str, port: u16) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(());
        }
        let exited = spawned
            .children
            .iter_mut()
            .find(|(n, _)| n == name)
            .and_then(|(_, child)| child.try_wait().ok().flatten());
        if exited.is_some() || Instant::now() > deadline {
            let log = std::fs::read_to_string(spawned.logs.join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            bail!(
                "{name} did not become ready ({}); last lines of its log:\n{}",
                if exited.is_some() {
                    "it exited"
                } else {
                    "60 s"
                },
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `url` with its database name replaced by `database`.
pub fn sibling_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, rest) = url
        .rsplit_once('/')
        .context("DATABASE_URL has a database name")?;
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
    Ok(format!("{base}/{database}{}", query.unwrap_or_default()))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The pid of a running process named `name` (Linux `/proc`), if exactly one runs.
fn pid_of(name: &str) -> Option<u32> {
    let mut found = std::fs::read_dir("/proc").ok()?.filter_map(|entry| {
        let entry = entry.ok()?;
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    });
    let pid = found.next()?;
    found.next().is_none().then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sibling_database_keeps_credentials_host_and_parameters() {
        assert_eq!(
            sibling_database("postgres://u:p@h:5432/bookings?sslmode=disable", "bench_x").ok(),
            Some("postgres://u:p@h:5432/bench_x?sslmode=disable".to_owned())
        );
        assert_eq!(
            sibling_database("postgres://u@h/db", "other").ok(),
            Some("postgres://u@h/other".to_owned())
        );
    }
}
