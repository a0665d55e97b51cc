//! The write ceiling: `pgbench` running the SQL transaction a booking command issues (resource
//! load, guard insert, append; a placement under an id the server generated takes no stream
//! lock), in a database of its own on the same server, so the engine's figure can be read as a
//! ratio of it. Keep it in step with `command-api/src/commands/bookings.rs`: the ratio means
//! nothing if the two drift apart.

use std::io::Write as _;
use std::process::Command;

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};

/// One booking command's statements, with random resources and far-apart random slots.
const SCRIPT: &str = r"\set r random(1, 200)
\set b random(1, 9000000000000000)
\set slot random(1, 50000000000)
BEGIN;
SELECT event_type, payload FROM events WHERE stream_id = md5('pgbench' || 'r' || :r)::uuid AND tenant_id = 'pgbench' ORDER BY stream_version;
INSERT INTO allocations (tenant_id, resource_id, unit, during, booking_id, expires_at) VALUES ('pgbench', md5('pgbench' || 'r' || :r)::uuid, 0, tstzrange(timestamptz '2030-01-01' + :slot * interval '1 minute', timestamptz '2030-01-01' + (:slot + 30) * interval '1 minute'), md5('b' || :b)::uuid, NULL) ON CONFLICT DO NOTHING;
WITH cas AS (INSERT INTO streams (stream_id, tenant_id, stream_type, version) VALUES (md5('b' || :b)::uuid, 'pgbench', 'booking', 1) ON CONFLICT DO NOTHING RETURNING 1) INSERT INTO events (tenant_id, stream_id, stream_version, event_id, event_type, schema_version, payload, metadata) SELECT 'pgbench', md5('b' || :b)::uuid, 1, gen_random_uuid(), 'BookingPlaced', 1, '{}'::jsonb, '{}'::jsonb WHERE EXISTS (SELECT 1 FROM cas) RETURNING global_position, transaction_id::text;
COMMIT;
";

/// What pgbench measured at saturation.
pub struct Ceiling {
    pub tps: f64,
    pub latency_ms: f64,
}

/// What pgbench measured at a fixed rate, each transaction timed from its scheduled start.
pub struct AtRate {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A fresh database `bench_pgbench` next to the one the engine uses, seeded like the engine's,
/// and the script file.
pub struct Pgbench {
    url: String,
    script: std::path::PathBuf,
}

impl Pgbench {
    pub async fn prepare(url: &str) -> anyhow::Result<Pgbench> {
        let (base, _) = url
            .rsplit_once('/')
            .context("DATABASE_URL has a database name")?;
        let bench_url = format!("{base}/bench_pgbench");
        let mut admin = PgConnection::connect(url).await?;
        sqlx::query("drop database if exists bench_pgbench with (force)")
            .execute(&mut admin)
            .await?;
        sqlx::query("create database bench_pgbench")
            .execute(&mut admin)
            .await?;
        crate::seed::seed(&bench_url, 0, 200, "pgbench").await?;
        let script = std::env::temp_dir().join(format!("bench-pgbench-{}.sql", std::process::id()));
        std::fs::File::create(&script)?.write_all(SCRIPT.as_bytes())?;
        Ok(Pgbench {
            url: bench_url,
            script,
        })
    }

    /// The transaction with `clients` connections as fast as they go, for `seconds`.
    pub fn ceiling(&self, clients: u64, seconds: u64) -> anyhow::Result<Ceiling> {
        let text = self.pgbench(clients, seconds, &[])?;
        let number_after = |label: &str| {
            text.lines()
                .find(|line| line.starts_with(label))
                .and_then(|line| line[label.len()..].split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        };
        Ok(Ceiling {
            tps: number_after("tps = ").context("no tps in pgbench's output")?,
            latency_ms: number_after("latency average = ").unwrap_or(f64::NAN),
        })
    }

    /// The transaction at `rate` per second for `seconds`. pgbench logs each transaction's run
    /// time and its lag behind the schedule; their sum is the latency from the scheduled start,
    /// as the engine's open loops measure it.
    pub fn at_rate(&self, clients: u64, rate: u64, seconds: u64) -> anyhow::Result<AtRate> {
        let dir = std::env::temp_dir().join(format!("bench-pgbench-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let prefix = dir.join("tx");
        let result = self
            .pgbench(
                clients,
                seconds,
                &[
                    "-R",
                    &rate.to_string(),
                    "-l",
                    "--log-prefix",
                    &prefix.to_string_lossy(),
                ],
            )
            .and_then(|_| {
                let mut latencies = crate::load::histogram();
                for entry in std::fs::read_dir(&dir)? {
                    let text = std::fs::read_to_string(entry?.path())?;
                    // client transaction time_us script epoch epoch_us schedule_lag_us
                    for line in text.lines() {
                        let fields: Vec<&str> = line.split_whitespace().collect();
                        if let (Some(time), Some(lag)) = (fields.get(2), fields.get(6))
                            && let (Ok(time), Ok(lag)) = (time.parse::<u64>(), lag.parse::<u64>())
                        {
                            latencies.saturating_record((time + lag).max(1));
                        }
                    }
                }
                if latencies.is_empty() {
                    bail!("pgbench logged no transactions");
                }
                Ok(AtRate {
                    p50_ms: crate::load::ms(latencies.value_at_quantile(0.50)),
                    p99_ms: crate::load::ms(latencies.value_at_quantile(0.99)),
                })
            });
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn pgbench(&self, clients: u64, seconds: u64, extra: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("pgbench")
            .args(["-n", "-f"])
            .arg(&self.script)
            .args([
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
            ])
            .args(extra)
            .arg(&self.url)
            .output()
            .context("pgbench is not installed (Debian: postgresql-client or postgresql)")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "pgbench failed: {}{}",
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(text)
    }
}

impl Drop for Pgbench {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.script);
    }
}
