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

/// What pgbench measured.
pub struct Ceiling {
    pub tps: f64,
    pub latency_ms: f64,
}

/// Runs the transaction with `clients` connections for `seconds` against a fresh database
/// `bench_pgbench` next to the one in `url`.
pub async fn run(url: &str, clients: u64, seconds: u64) -> anyhow::Result<Ceiling> {
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
    let mut script = tempfile()?;
    script.1.write_all(SCRIPT.as_bytes())?;
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-f",
            &script.0,
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            &bench_url,
        ])
        .output()
        .context("pgbench is not installed (Debian: postgresql-client or postgresql)")?;
    let _ = std::fs::remove_file(&script.0);
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
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

fn tempfile() -> anyhow::Result<(String, std::fs::File)> {
    let path = std::env::temp_dir().join(format!("bench-pgbench-{}.sql", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path.to_string_lossy().into_owned(), file))
}
