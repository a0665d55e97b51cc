//! The live check: what a booking command would find right now. The resources come from the
//! write side (their streams in the event store, folded by the domain, as the command side loads
//! them), never from the read model, which may not have caught up with a resource created or
//! changed a moment ago; the allocations from the guard table (`allocations`), never the cache.
//! Both are read in one snapshot ([`begin`]).

use chrono::{DateTime, Utc};
use domain::Event;
use domain::Period;
use domain::aggregate::Aggregate;
use domain::ids::{ResourceId, TenantId};
use domain::resource::Resource;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::StoreError;

/// A read-only transaction whose statements all see one snapshot, so the resources and the
/// allocations a check reads agree with each other.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    Ok(pool
        .begin_with("begin isolation level repeatable read read only")
        .await?)
}

/// The resources of `tenant` among `ids` as the write side has them (unknown ids are left
/// out; a stream that is not a resource's folds to nothing).
pub async fn resources(
    conn: &mut PgConnection,
    tenant: &TenantId,
    ids: &[ResourceId],
) -> Result<Vec<Resource>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let stored = eventstore::read::load_stream(conn, tenant.as_str(), id.0).await?;
        let mut resource = None;
        for event in &stored {
            let decoded = Event::decode(&event.event_type, event.schema_version, &event.payload)
                .map_err(|err| {
                    StoreError::corrupt("events", format!("{}: {err}", event.event_id))
                })?;
            resource = Resource::evolve(resource, &decoded, event.recorded_at);
        }
        found.extend(resource);
    }
    Ok(found)
}

/// One period to check on one resource of `capacity` units (the period already widened by the
/// resource's buffers, as the guard stores bookings).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub resource_id: ResourceId,
    pub blocked: Period,
    pub capacity: u32,
}

/// For each probe, how many of its units `0..capacity` hold a live row overlapping it. A hold
/// whose `expires_at` is at or before `now` does not count: the sweeper is about to free it, and
/// a booking command would free it first. One round trip for the whole batch; each probe is an
/// index lookup on the exclusion constraint's GiST index `(resource_id, unit, during)`.
pub async fn busy_units(
    conn: &mut PgConnection,
    tenant: &TenantId,
    probes: &[Probe],
    now: DateTime<Utc>,
) -> Result<Vec<u32>, StoreError> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = probes.iter().map(|p| p.resource_id.0).collect();
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
    .bind(tenant.as_str())
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(_, busy)| u32::try_from(busy).unwrap_or(u32::MAX))
        .collect())
}
