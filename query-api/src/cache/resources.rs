//! Resource rows in process, so that an availability read whose days are all cached touches
//! neither Postgres nor Redis.
//!
//! A bounded moka cache keyed by (tenant, resource id); each entry holds the row (or the fact
//! that there is none) and the `resources` projection's checkpoint it was read at, from the same
//! statement ([`resources::AT_CHECKPOINT_SQL`]). Entries live at most `L1_TTL_MS`; an unknown id
//! only [`MISS_TTL`]. Concurrent misses of one key are coalesced into one load, and the misses
//! of one batch are read with one statement.
//!
//! Staleness is bounded as for the day cache ([`crate::cache`]): the resources projection's
//! change notice (empty `days`) drops the row; a load that such a notice overtook is not kept;
//! a NATS reconnect drops everything; and a request with `min_position` never accepts a row
//! read at an older checkpoint. Every drop or replacement of a row bumps the resource's
//! generation afterwards, which retires the answers rendered from it ([`super::answers`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ids::{ResourceId, TenantId};
use domain::resource::Resource;
use eventstore::Position;
use futures::FutureExt;
use futures::future::BoxFuture;
use moka::Expiry;
use moka::future::Cache;
use readmodel::notice::Changed;
use sqlx::PgPool;

use super::answers::Generations;
use super::days::{CacheSettings, NoticeLog};
use super::{Positioned, all_fresh};
use crate::store::{StoreError, resources};

/// How long "no such resource" is kept at most: long enough to absorb a burst of requests for
/// an unknown id, short enough that a lost creation notice costs little.
pub const MISS_TTL: Duration = Duration::from_secs(1);

/// A resource row (`None`: no such resource in the tenant), the `resources` projection's
/// checkpoint it was read at, and when it was loaded (it leaves the cache `L1_TTL_MS` later).
#[derive(Clone, Debug)]
pub struct CachedResource {
    pub position: Position,
    pub resource: Option<Arc<Resource>>,
    pub loaded_at: Instant,
}

impl Positioned for CachedResource {
    fn position(&self) -> Position {
        self.position
    }
}

type Key = (TenantId, ResourceId);

/// One load: the checkpoint, the rows found by id, and when.
type Loaded = Arc<(Position, HashMap<ResourceId, Arc<Resource>>, Instant)>;

/// Misses expire after [`MISS_TTL`]; rows after the cache's TTL.
struct MissesExpireSooner {
    miss_ttl: Duration,
}

impl MissesExpireSooner {
    fn ttl(&self, value: &CachedResource) -> Option<Duration> {
        value.resource.is_none().then_some(self.miss_ttl)
    }
}

impl Expiry<Key, CachedResource> for MissesExpireSooner {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &CachedResource,
        _created_at: Instant,
    ) -> Option<Duration> {
        self.ttl(value)
    }

    fn expire_after_update(
        &self,
        _key: &Key,
        value: &CachedResource,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.ttl(value)
    }
}

pub struct ResourceCache {
    entries: Cache<Key, CachedResource>,
    notices: NoticeLog,
    generations: Arc<Generations>,
    pool: PgPool,
}

impl ResourceCache {
    /// As many rows as the day cache has entries (`L1_CAPACITY`), for `L1_TTL_MS`;
    /// `generations` is told of every row dropped or replaced.
    pub fn new(pool: PgPool, settings: &CacheSettings, generations: Arc<Generations>) -> Self {
        let entries = Cache::builder()
            .max_capacity(settings.l1_capacity)
            .time_to_live(settings.l1_ttl)
            .expire_after(MissesExpireSooner {
                miss_ttl: MISS_TTL.min(settings.l1_ttl),
            })
            .build();
        Self {
            entries,
            notices: NoticeLog::new(settings.l1_ttl),
            generations,
            pool,
        }
    }

    /// The rows of `ids` when every one is in the cache at `min` or newer; nothing is loaded.
    pub async fn cached(
        &self,
        tenant: &TenantId,
        ids: &[ResourceId],
        min: Option<Position>,
    ) -> Option<Vec<CachedResource>> {
        let keys = ids.iter().map(|id| (tenant.clone(), *id));
        let found = all_fresh(&self.entries, &self.generations, keys, min).await?;
        count("hit", found.len());
        Some(found)
    }

    /// The rows of `ids`, in that order, each read at `min` or newer: from the cache, else
    /// from Postgres (one statement for all that are missing). The caller has made sure the
    /// `resources` projection has reached `min`.
    pub async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[ResourceId],
        min: Option<Position>,
    ) -> Result<Vec<CachedResource>, Arc<StoreError>> {
        if !self.generations.notices_live() {
            // No change notices: the cache could not learn of a change (see `Generations`).
            count("miss", ids.len());
            let loaded = self.load(tenant, ids).await?;
            return Ok(ids.iter().map(|id| entry_of(&loaded, *id)).collect());
        }
        let mut found: Vec<Option<CachedResource>> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for (index, id) in ids.iter().enumerate() {
            let key = (tenant.clone(), *id);
            match self.entries.get(&key).await {
                Some(entry) if entry.is_fresh(min) => {
                    found.push(Some(entry));
                    continue;
                }
                // Older than the caller's own write: never serve it, and replace it.
                Some(_) => {
                    self.entries.invalidate(&key).await;
                    self.generations.changed(*id);
                }
                None => {}
            }
            found.push(None);
            missing.push(index);
        }
        count("hit", ids.len() - missing.len());
        if missing.is_empty() {
            return Ok(found.into_iter().flatten().collect());
        }
        count("miss", missing.len());

        let since = self.notices.current();
        let wanted: Vec<ResourceId> = missing.iter().map(|&index| ids[index]).collect();
        // Every missing key is loaded through the cache (so a concurrent miss of the same key
        // waits for this load instead of making its own), and the keys whose load runs here
        // share one statement, made at most once.
        let batch = self.load(tenant, &wanted).shared();
        let loads = wanted.iter().map(|id| {
            let batch = batch.clone();
            let id = *id;
            self.entries.try_get_with((tenant.clone(), id), async move {
                let loaded = batch.await?;
                Ok::<_, Arc<StoreError>>(entry_of(&loaded, id))
            })
        });
        let results = futures::future::join_all(loads).await;
        let mut stale = Vec::new();
        for (&index, result) in missing.iter().zip(results) {
            let entry = result.map_err(|err| Arc::clone(&*err))?;
            if entry.is_fresh(min) {
                found[index] = Some(entry);
            } else {
                // Joined a load that started without our `min_position` and found something
                // older.
                stale.push(index);
            }
        }
        if !stale.is_empty() {
            let wanted: Vec<ResourceId> = stale.iter().map(|&index| ids[index]).collect();
            let loaded = self.load(tenant, &wanted).await?;
            for &index in &stale {
                let entry = entry_of(&loaded, ids[index]);
                self.entries
                    .insert((tenant.clone(), ids[index]), entry.clone())
                    .await;
                self.generations.changed(ids[index]);
                found[index] = Some(entry);
            }
        }
        // A notice that arrived while loading may describe a change the load did not see.
        for id in &wanted {
            if self.notices.changed_since(tenant, *id, since).await {
                self.entries.invalidate(&(tenant.clone(), *id)).await;
                self.generations.changed(*id);
            }
        }
        found
            .into_iter()
            .map(|entry| {
                entry.ok_or_else(|| {
                    Arc::new(StoreError::corrupt(
                        "resource cache",
                        "a looked-up resource went missing",
                    ))
                })
            })
            .collect()
    }

    /// One statement for `ids`, owning what it needs (it is shared between cache loads).
    fn load(
        &self,
        tenant: &TenantId,
        ids: &[ResourceId],
    ) -> BoxFuture<'static, Result<Loaded, Arc<StoreError>>> {
        let pool = self.pool.clone();
        let tenant = tenant.clone();
        let ids = ids.to_vec();
        async move {
            let (position, rows) = resources::get_many_at_checkpoint(&pool, &tenant, &ids)
                .await
                .map_err(Arc::new)?;
            let rows = rows
                .into_iter()
                .map(|resource| (resource.id, Arc::new(resource)))
                .collect();
            Ok(Arc::new((position, rows, Instant::now())))
        }
        .boxed()
    }

    /// A change notice: one naming no days says the resource itself changed (the resources
    /// projection's); its row is dropped. Notices naming days are about bookings and leave the
    /// row alone.
    pub async fn on_changed(&self, changed: &Changed) {
        if !changed.days.is_empty() {
            return;
        }
        self.notices
            .record(&changed.tenant, changed.resource_id)
            .await;
        self.entries
            .invalidate(&(changed.tenant.clone(), changed.resource_id))
            .await;
        self.generations.changed(changed.resource_id);
    }

    /// Drops every row (notices may have been lost).
    pub fn forget_everything(&self) {
        self.entries.invalidate_all();
        self.generations.changed_all();
    }
}

fn entry_of(loaded: &Loaded, id: ResourceId) -> CachedResource {
    let (position, rows, loaded_at) = &**loaded;
    CachedResource {
        position: *position,
        resource: rows.get(&id).cloned(),
        loaded_at: *loaded_at,
    }
}

fn count(result: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!("query_resource_cache_lookups_total", "result" => result)
            .increment(n as u64);
    }
}
