//! The live check: the write side's allocation guard (`allocations`), read directly, never the
//! cache, so "available" here means what a booking command would find right now.

use chrono::{DateTime, Utc};
use domain::Period;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

/// One period to check on one resource of `capacity` units (the period already widened by the
/// resource's buffers, as the guard stores bookings).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub resource_id: Uuid,
    pub blocked: Period,
    pub capacity: u32,
}

/// For each probe, how many of its units `0..capacity` hold a live row overlapping it. A hold
/// whose `expires_at` is at or before `now` does not count: the sweeper is about to free it, and
/// a booking command would free it first. One round trip for the whole batch; each probe is an
/// index lookup on the exclusion constraint's GiST index `(resource_id, unit, during)`.
pub async fn busy_units(
    pool: &PgPool,
    tenant: &str,
    probes: &[Probe],
    now: DateTime<Utc>,
) -> Result<Vec<u32>, StoreError> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = probes.iter().map(|p| p.resource_id).collect();
    let starts: Vec<DateTime<Utc>> = probes.iter().map(|p| p.blocked.start()).collect();
    let ends: Vec<DateTime<Utc>> = probes.iter().map(|p| p.blocked.end()).collect();
    let capacities: Vec<i32> = probes
        .iter()
        .map(|p| i32::try_from(p.capacity).unwrap_or(i32::MAX))
        .collect();
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "select p.ord, (select count(distinct a.unit) from allocations a
                        where a.resource_id = p.resource_id
                          and a.tenant_id = $5
                          and a.unit < p.capacity
                          and a.during && tstzrange(p.lo, p.hi)
                          and (a.expires_at is null or a.expires_at > $6))
         from unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::int[])
              with ordinality as p (resource_id, lo, hi, capacity, ord)
         order by p.ord",
    )
    .bind(&ids)
    .bind(&starts)
    .bind(&ends)
    .bind(&capacities)
    .bind(tenant)
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(_, busy)| u32::try_from(busy).unwrap_or(u32::MAX))
        .collect())
}
