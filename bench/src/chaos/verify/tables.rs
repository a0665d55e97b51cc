//! The state the engine keeps: no unit taken twice, the guard and the read model alike, and no
//! drift between the read models and the history.

use std::path::Path;

use sqlx::PgPool;

use super::Findings;

/// Double bookings in the guard and in the read model, units past a resource's capacity, and
/// the rows one holds that the other does not.
pub async fn double_bookings(findings: &mut Findings, pool: &PgPool) -> anyhow::Result<()> {
    findings.double_booked_guard = sqlx::query_scalar(
        "select count(*) from allocations a join allocations b
           on a.resource_id = b.resource_id and a.unit = b.unit and a.during && b.during
          and a.ctid < b.ctid",
    )
    .fetch_one(pool)
    .await?;
    findings.double_booked_read = sqlx::query_scalar(
        "select count(*) from read.busy a join read.busy b
           on a.resource_id = b.resource_id and a.unit = b.unit and a.during && b.during
          and (a.booking_id, a.unit) < (b.booking_id, b.unit)",
    )
    .fetch_one(pool)
    .await?;
    findings.beyond_capacity = sqlx::query_scalar(
        "select (select count(*) from allocations a join read.resources r using (resource_id)
                  where a.unit >= r.capacity)
              + (select count(*) from read.busy b join read.resources r using (resource_id)
                  where b.unit >= r.capacity)",
    )
    .fetch_one(pool)
    .await?;
    findings.guard_read_differences = sqlx::query_scalar(
        "select count(*) from (
            (select booking_id, unit, during from allocations
             except select booking_id, unit, during from read.busy)
            union all
            (select booking_id, unit, during from read.busy
             except select booking_id, unit, during from allocations)) d",
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// `projector replay --verify`: the number of differences it reports (`None`: it did not run).
pub async fn replay(
    findings: &mut Findings,
    bin_dir: &Path,
    database_url: &str,
) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(bin_dir.join("projector"))
        .args(["replay", "--verify"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    findings.drift = if stdout.contains("no differences") && output.status.success() {
        Some(0)
    } else {
        stdout
            .lines()
            .find_map(|l| l.strip_suffix(" differences:"))
            .and_then(|n| n.trim().parse().ok())
    };
    findings.replay_output = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}
