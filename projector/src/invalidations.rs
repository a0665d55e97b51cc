//! Cache invalidations that survive a crash. A projector batch records the cache days it
//! changed in `read.cache_invalidations`, in its own transaction ([`record`]); after the commit
//! they are sent to Redis, announced to query-api with a "changed" notice, and deleted
//! ([`Invalidations::send`]). Whatever a crash (or Redis being away) leaves recorded is sent at
//! the next start or idle moment ([`Invalidations::send_owed`]), so no cached day outlives a
//! change.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use domain::ids::{ResourceId, TenantId};
use eventstore::{Position, Xid8};
use readmodel::cache::{RedisCache, ResourceDay};
use readmodel::notice::Changed;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projections::Touched;

/// A resource's cache entries to invalidate: one local day, or (`None`) the resource itself.
pub type Invalidation = (String, Uuid, Option<NaiveDate>);

/// The most recorded invalidations sent in one pipelined round trip.
const INVALIDATION_CHUNK: i64 = 500;

/// Where invalidations go: Redis, and query-api's change notices.
#[derive(Clone)]
pub struct Invalidations {
    pub pool: PgPool,
    pub cache: RedisCache,
    pub nats: async_nats::Client,
    pub changed_subject: String,
}

impl Invalidations {
    /// After a commit: sends the invalidations the batch recorded, then one notice per changed
    /// resource so query-api instances drop their in-process entries.
    pub async fn send(&self, owed: Vec<Invalidation>, position: Position, touched: Touched) {
        if self.invalidate(&owed, position).await {
            self.forget(&owed, position).await;
        }
        for ((tenant, resource), days) in touched.resources {
            // Command-api checks every tenant; one it never wrote has no cache to drop.
            let Ok(tenant) = TenantId::parse(tenant) else {
                continue;
            };
            self.announce(Changed {
                tenant,
                resource_id: ResourceId(resource),
                days: days.map(|d| d.into_iter().collect()).unwrap_or_default(),
                position,
            })
            .await;
        }
    }

    /// Sends whatever invalidations are still recorded (left by a crash, or by Redis being
    /// away), with their notices, a chunk at a time.
    pub async fn send_owed(&self) {
        loop {
            let owed = match owed_invalidations(&self.pool, INVALIDATION_CHUNK).await {
                Ok(owed) => owed,
                Err(err) => {
                    tracing::debug!(error = %err, "cannot read the owed cache invalidations");
                    return;
                }
            };
            let Some(position) = owed.iter().map(|(_, p)| *p).max() else {
                return;
            };
            let days: Vec<Invalidation> = owed.iter().map(|(i, _)| i.clone()).collect();
            if !self.invalidate(&days, position).await {
                return;
            }
            let mut notices: BTreeMap<(String, Uuid), BTreeSet<NaiveDate>> = BTreeMap::new();
            for (tenant, resource, day) in &days {
                let entry = notices.entry((tenant.clone(), *resource)).or_default();
                entry.extend(day);
            }
            for ((tenant, resource_id), days) in notices {
                let Ok(tenant) = TenantId::parse(tenant) else {
                    continue;
                };
                self.announce(Changed {
                    tenant,
                    resource_id: ResourceId(resource_id),
                    days: days.into_iter().collect(),
                    position,
                })
                .await;
            }
            self.forget(&days, position).await;
            if (owed.len() as i64) < INVALIDATION_CHUNK {
                return;
            }
        }
    }

    /// Marks the recorded days invalid in Redis as of `position`; false if Redis could not be
    /// reached (they stay recorded and are sent later).
    async fn invalidate(&self, owed: &[Invalidation], position: Position) -> bool {
        let days: Vec<ResourceDay> = owed
            .iter()
            .filter_map(|(tenant, resource, day)| {
                Some(ResourceDay {
                    tenant: TenantId::parse(tenant.as_str()).ok()?,
                    resource: ResourceId(*resource),
                    date: (*day)?,
                })
            })
            .collect();
        for chunk in days.chunks(INVALIDATION_CHUNK as usize) {
            // A marker at a later position than the change is still correct: it only refuses
            // fills older than itself, and every such fill predates the commit.
            if let Err(err) = self.cache.invalidate_many(chunk, position).await {
                metrics::counter!("cache_invalidation_failures_total").increment(1);
                tracing::debug!(error = %err, "cache invalidation failed; will retry");
                return false;
            }
        }
        true
    }

    /// Deletes recorded invalidations that have been sent (unless a later batch recorded the
    /// same day again since, at a later position).
    async fn forget(&self, owed: &[Invalidation], position: Position) {
        if owed.is_empty() {
            return;
        }
        if let Err(err) = forget_invalidations(&self.pool, owed, position).await {
            // Sent again later: harmless.
            tracing::debug!(error = %err, "cannot delete sent cache invalidations");
        }
    }

    async fn announce(&self, notice: Changed) {
        if let Ok(payload) = serde_json::to_vec(&notice) {
            let subject = readmodel::notice::subject(&self.changed_subject, &notice.tenant);
            if let Err(err) = self.nats.publish(subject, payload.into()).await {
                tracing::debug!(error = %err, "change notice not published");
            }
        }
    }
}

/// Records, in the batch's transaction, the invalidations `touched` calls for at `position`;
/// returns them.
pub async fn record(
    tx: &mut PgConnection,
    touched: &Touched,
    position: Position,
) -> anyhow::Result<Vec<Invalidation>> {
    let owed: Vec<Invalidation> = touched
        .resources
        .iter()
        .flat_map(|((tenant, resource), days)| {
            let days: Vec<Option<NaiveDate>> = match days {
                Some(days) => days.iter().copied().map(Some).collect(),
                None => vec![None],
            };
            days.into_iter()
                .map(move |day| (tenant.clone(), *resource, day))
        })
        .collect();
    if owed.is_empty() {
        return Ok(owed);
    }
    let tenants: Vec<&str> = owed.iter().map(|(t, _, _)| t.as_str()).collect();
    let resources: Vec<Uuid> = owed.iter().map(|(_, r, _)| *r).collect();
    let days: Vec<Option<NaiveDate>> = owed.iter().map(|(_, _, d)| *d).collect();
    sqlx::query(
        "insert into read.cache_invalidations (tenant_id, resource_id, day, transaction_id, global_position)
         select t, r, d, $4, $5 from unnest($1::text[], $2::uuid[], $3::date[]) as k(t, r, d)
         on conflict (tenant_id, resource_id, day) do update
         set transaction_id = excluded.transaction_id, global_position = excluded.global_position",
    )
    .bind(&tenants)
    .bind(&resources)
    .bind(&days)
    .bind(position.xid())
    .bind(position.global_position)
    .execute(tx)
    .await?;
    Ok(owed)
}

/// Up to `limit` recorded invalidations, oldest first, each with its position.
async fn owed_invalidations(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<(Invalidation, Position)>, sqlx::Error> {
    let rows: Vec<(String, Uuid, Option<NaiveDate>, Xid8, i64)> = sqlx::query_as(
        "select tenant_id, resource_id, day, transaction_id, global_position
         from read.cache_invalidations
         order by transaction_id, global_position limit $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, resource, day, Xid8(xid), global_position)| {
            ((tenant, resource, day), Position::new(xid, global_position))
        })
        .collect())
}

/// Deletes the recorded invalidations of `owed` that are at or before `position`.
async fn forget_invalidations(
    pool: &PgPool,
    owed: &[Invalidation],
    position: Position,
) -> Result<(), sqlx::Error> {
    let tenants: Vec<&str> = owed.iter().map(|(t, _, _)| t.as_str()).collect();
    let resources: Vec<Uuid> = owed.iter().map(|(_, r, _)| *r).collect();
    let days: Vec<Option<NaiveDate>> = owed.iter().map(|(_, _, d)| *d).collect();
    sqlx::query(
        "delete from read.cache_invalidations c
         using unnest($1::text[], $2::uuid[], $3::date[]) as k(t, r, d)
         where c.tenant_id = k.t and c.resource_id = k.r and c.day is not distinct from k.d
           and (c.transaction_id, c.global_position) <= ($4, $5)",
    )
    .bind(&tenants)
    .bind(&resources)
    .bind(&days)
    .bind(position.xid())
    .bind(position.global_position)
    .execute(pool)
    .await?;
    Ok(())
}
