//! The days tier of availability: one resource's busy timeline for one local day, from L1,
//! Redis or Postgres (see the module above for how the tiers fit together).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use chrono_tz::Tz;
use domain::ids::{ResourceId, TenantId};
use eventstore::Position;
use moka::future::Cache;
use readmodel::cache::{DayEntry, Keys, Lookup, RedisCache, ResourceDay, day_span};
use readmodel::notice::Changed;
use sqlx::PgPool;

use super::answers::Generations;
use super::{Positioned, all_fresh};
use crate::store::StoreError;
use crate::store::busy;

/// Where a day's entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    L1,
    Redis,
    Postgres,
}

impl Tier {
    /// Whether the answer counts as a cache hit (`X-Cache: hit`).
    pub fn is_hit(self) -> bool {
        !matches!(self, Tier::Postgres)
    }
}

/// One day's busy timeline, the position it reflects, where it came from, and when it was
/// loaded into L1 (it leaves L1 `L1_TTL_MS` later).
#[derive(Clone, Debug)]
pub struct CachedDay {
    pub position: Position,
    pub entry: Arc<DayEntry>,
    pub tier: Tier,
    pub loaded_at: Instant,
}

/// An L1 entry: the position, the timeline, and when it was loaded.
#[derive(Clone, Debug)]
struct L1Value {
    position: Position,
    entry: Arc<DayEntry>,
    loaded_at: Instant,
}

impl Positioned for L1Value {
    fn position(&self) -> Position {
        self.position
    }
}

impl L1Value {
    /// A value loaded just now.
    fn loaded(position: Position, entry: DayEntry) -> Self {
        Self {
            position,
            entry: Arc::new(entry),
            loaded_at: Instant::now(),
        }
    }

    fn day(self, tier: Tier) -> CachedDay {
        CachedDay {
            position: self.position,
            entry: self.entry,
            tier,
            loaded_at: self.loaded_at,
        }
    }
}

/// How long Redis is skipped after a failed call: long enough that a dead Redis costs at most
/// one deadline per second, short enough that a recovered one is used again at once.
const REDIS_PAUSE: Duration = Duration::from_secs(1);

/// The three tiers.
pub struct DayCache {
    l1: Cache<String, L1Value>,
    redis: RedisTier,
    notices: NoticeLog,
    generations: Arc<Generations>,
    pool: PgPool,
}

/// One lookup: a resource's local day (in its zone `tz`), at `min` or newer.
#[derive(Clone, Debug)]
pub struct DayLookup {
    pub day: ResourceDay,
    pub tz: Tz,
    pub min: Option<Position>,
}

/// What the cache needs to know.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    pub l1_capacity: u64,
    pub l1_ttl: Duration,
    pub redis_timeout: Duration,
    /// The most bytes of rendered answers kept ([`super::answers`]).
    pub answer_bytes: u64,
}

impl DayCache {
    /// `generations` is told of every entry dropped or replaced.
    pub fn new(
        pool: PgPool,
        redis: RedisCache,
        settings: &CacheSettings,
        generations: Arc<Generations>,
    ) -> Self {
        let l1 = Cache::builder()
            .max_capacity(settings.l1_capacity)
            .time_to_live(settings.l1_ttl)
            .support_invalidation_closures()
            .build();
        Self {
            l1,
            redis: RedisTier {
                cache: redis,
                timeout: settings.redis_timeout,
                paused_until: Mutex::new(None),
            },
            notices: NoticeLog::new(settings.l1_ttl),
            generations,
            pool,
        }
    }

    fn keys(&self) -> &Keys {
        self.redis.cache.keys()
    }

    /// The busy timeline of the day `lookup` names.
    pub async fn day(&self, lookup: &DayLookup) -> Result<CachedDay, Arc<StoreError>> {
        let (min, resource) = (lookup.min, lookup.day.resource);
        if !self.generations.notices_live() {
            // No change notices: L1 could not learn of a change (see `Generations`).
            let (value, tier) = self.load(lookup).await.map_err(Arc::new)?;
            return Ok(value.day(tier));
        }
        let key = self.keys().day(&lookup.day);
        if let Some(value) = self.l1.get(&key).await {
            if value.is_fresh(min) {
                metrics::counter!("query_cache_lookups_total", "tier" => "l1", "result" => "hit")
                    .increment(1);
                return Ok(value.day(Tier::L1));
            }
            // Older than the caller's own write: never serve it, and replace it.
            self.l1.invalidate(&key).await;
            self.generations.changed(resource);
        }
        metrics::counter!("query_cache_lookups_total", "tier" => "l1", "result" => "miss")
            .increment(1);

        let since = self.notices.current();
        // Set only if this call's loader ran (a coalesced caller gets the value without it).
        let loaded_from = OnceLock::new();
        let value = self
            .l1
            .try_get_with(key.clone(), async {
                let (value, tier) = self.load(lookup).await?;
                let _ = loaded_from.set(tier);
                Ok::<_, StoreError>(value)
            })
            .await?;
        if let Some(tier) = loaded_from.get() {
            self.forget_if_overtaken(&key, &lookup.day, since).await;
            return Ok(value.day(*tier));
        }
        if value.is_fresh(min) {
            return Ok(value.day(Tier::L1));
        }
        // Joined a load that started without our `min_position` and found something older.
        let since = self.notices.current();
        let (value, tier) = self.load(lookup).await.map_err(Arc::new)?;
        self.l1.insert(key.clone(), value.clone()).await;
        // It replaced the older entry.
        self.generations.changed(resource);
        self.forget_if_overtaken(&key, &lookup.day, since).await;
        Ok(value.day(tier))
    }

    /// The busy timelines of many days at once (a search over many resources), in the order of
    /// `lookups`: what [`DayCache::day`] gives for each, but the days L1 does not hold come
    /// from Redis in one `MGET` and the rest from Postgres in one statement (then filled into
    /// Redis and L1 as `day` fills them). Concurrent misses of one day are not coalesced here.
    pub async fn days(&self, lookups: &[DayLookup]) -> Result<Vec<CachedDay>, Arc<StoreError>> {
        let live = self.generations.notices_live();
        let since = self.notices.current();
        let mut found: Vec<Option<CachedDay>> = Vec::with_capacity(lookups.len());
        for lookup in lookups {
            let mut day = None;
            if live {
                let key = self.keys().day(&lookup.day);
                if let Some(value) = self.l1.get(&key).await {
                    if value.is_fresh(lookup.min) {
                        day = Some(value.day(Tier::L1));
                    } else {
                        self.l1.invalidate(&key).await;
                        self.generations.changed(lookup.day.resource);
                    }
                }
            }
            found.push(day);
        }
        let hits = found.iter().filter(|day| day.is_some()).count() as u64;
        metrics::counter!("query_cache_lookups_total", "tier" => "l1", "result" => "hit")
            .increment(hits);
        metrics::counter!("query_cache_lookups_total", "tier" => "l1", "result" => "miss")
            .increment(lookups.len() as u64 - hits);
        let missing: Vec<usize> = (0..lookups.len()).filter(|i| found[*i].is_none()).collect();
        let days: Vec<ResourceDay> = missing.iter().map(|i| lookups[*i].day.clone()).collect();
        let from_redis = self.redis.get_many(&days).await;
        let mut from_postgres = Vec::new();
        for (slot, index) in missing.iter().enumerate() {
            let min = lookups[*index].min;
            match from_redis.as_ref().and_then(|all| all.get(slot)) {
                Some(Lookup::Hit { position, entry }) if min.is_none_or(|min| *position >= min) => {
                    let value = L1Value::loaded(*position, entry.clone());
                    found[*index] = Some(
                        self.keep(&lookups[*index], value, Tier::Redis, since, live)
                            .await,
                    );
                }
                _ => from_postgres.push(*index),
            }
        }
        let redis_hits = (missing.len() - from_postgres.len()) as u64;
        metrics::counter!("query_cache_lookups_total", "tier" => "redis", "result" => "hit")
            .increment(redis_hits);
        metrics::counter!("query_cache_lookups_total", "tier" => "redis", "result" => "miss")
            .increment(from_postgres.len() as u64);
        if !from_postgres.is_empty() {
            let mut spans = Vec::with_capacity(from_postgres.len());
            for index in &from_postgres {
                let DayLookup { day, tz, .. } = &lookups[*index];
                let span = day_span(*tz, day.date).ok_or_else(|| {
                    Arc::new(StoreError::corrupt(
                        "day",
                        format!("{} has no span in {tz}", day.date),
                    ))
                })?;
                spans.push((&day.tenant, day.resource, span));
            }
            let (position, entries) = busy::load_days(&self.pool, &spans)
                .await
                .map_err(Arc::new)?;
            // The fills go out together (one multiplexed connection), not one after another.
            let fills = from_postgres
                .iter()
                .zip(&entries)
                .map(|(index, entry)| self.redis.fill(&lookups[*index].day, position, entry));
            futures::future::join_all(fills).await;
            for (index, entry) in from_postgres.iter().zip(entries) {
                let value = L1Value::loaded(position, entry);
                let lookup = &lookups[*index];
                found[*index] = Some(self.keep(lookup, value, Tier::Postgres, since, live).await);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// Puts a value [`DayCache::days`] loaded into L1 (when change notices arrive), unless a
    /// notice overtook its load, and returns it as the day's answer.
    async fn keep(
        &self,
        lookup: &DayLookup,
        value: L1Value,
        tier: Tier,
        since: u64,
        live: bool,
    ) -> CachedDay {
        if live {
            let key = self.keys().day(&lookup.day);
            self.l1.insert(key.clone(), value.clone()).await;
            self.forget_if_overtaken(&key, &lookup.day, since).await;
        }
        value.day(tier)
    }

    /// The days of `resource` from L1 alone, when every one is there at `min` or newer
    /// (nothing is loaded, Redis is not asked).
    pub async fn cached_days(
        &self,
        tenant: &TenantId,
        resource: ResourceId,
        days: &[NaiveDate],
        min: Option<Position>,
    ) -> Option<Vec<CachedDay>> {
        let keys = days.iter().map(|date| {
            self.keys().day(&ResourceDay {
                tenant: tenant.clone(),
                resource,
                date: *date,
            })
        });
        let found = all_fresh(&self.l1, &self.generations, keys, min).await?;
        metrics::counter!("query_cache_lookups_total", "tier" => "l1", "result" => "hit")
            .increment(found.len() as u64);
        Some(found.into_iter().map(|value| value.day(Tier::L1)).collect())
    }

    /// A change notice that arrived while the entry was being loaded may describe a change the
    /// load did not see; then the entry must not stay in L1 (it was inserted when the load
    /// finished, possibly after the notice dropped the key).
    async fn forget_if_overtaken(&self, key: &str, day: &ResourceDay, since: u64) {
        if self
            .notices
            .changed_since(&day.tenant, day.resource, since)
            .await
        {
            self.l1.invalidate(key).await;
            self.generations.changed(day.resource);
        }
    }

    /// Redis, then Postgres (filling Redis): a value loaded now, and where from.
    async fn load(&self, lookup: &DayLookup) -> Result<(L1Value, Tier), StoreError> {
        let DayLookup { day, tz, min } = lookup;
        match self.redis.get(day).await {
            Some(Lookup::Hit { position, entry }) if min.is_none_or(|min| position >= min) => {
                metrics::counter!("query_cache_lookups_total", "tier" => "redis", "result" => "hit")
                    .increment(1);
                return Ok((L1Value::loaded(position, entry), Tier::Redis));
            }
            _ => {
                metrics::counter!("query_cache_lookups_total", "tier" => "redis", "result" => "miss")
                    .increment(1);
            }
        }
        let date = day.date;
        let span = day_span(*tz, date)
            .ok_or_else(|| StoreError::corrupt("day", format!("{date} has no span in {tz}")))?;
        let (position, entry) = busy::load_day(&self.pool, &day.tenant, day.resource, span).await?;
        self.redis.fill(day, position, &entry).await;
        Ok((L1Value::loaded(position, entry), Tier::Postgres))
    }

    /// A change notice: drops the L1 entries of the days it names (every day of the resource
    /// when it names none). Redis is the projector's to invalidate.
    pub async fn on_changed(&self, changed: &Changed) {
        metrics::counter!("query_cache_notices_total").increment(1);
        self.notices
            .record(&changed.tenant, changed.resource_id)
            .await;
        if changed.days.is_empty() {
            self.forget_resource(&changed.tenant, changed.resource_id);
            return;
        }
        for date in &changed.days {
            let day = ResourceDay {
                tenant: changed.tenant.clone(),
                resource: changed.resource_id,
                date: *date,
            };
            self.l1.invalidate(&self.keys().day(&day)).await;
        }
        self.generations.changed(changed.resource_id);
    }

    fn forget_resource(&self, tenant: &TenantId, resource: ResourceId) {
        let prefix = self.keys().resource_prefix(tenant, resource);
        let dropped = self
            .l1
            .invalidate_entries_if(move |key, _| key.starts_with(&prefix));
        if dropped.is_err() {
            self.forget_everything();
        }
        self.generations.changed(resource);
    }

    /// Drops all of L1: after a NATS reconnect or a slow-consumer drop, notices may have been
    /// lost, so nothing in L1 can be trusted beyond what Redis and Postgres say.
    pub fn forget_everything(&self) {
        self.l1.invalidate_all();
        self.generations.changed_all();
    }

    /// Redis's readiness: `PING` within the deadline.
    pub async fn ping_redis(&self) -> Result<(), String> {
        self.redis.ping().await
    }
}

/// Redis behind a deadline and a short pause after failures.
struct RedisTier {
    cache: RedisCache,
    timeout: Duration,
    paused_until: Mutex<Option<Instant>>,
}

impl RedisTier {
    fn paused(&self) -> bool {
        self.paused_until
            .lock()
            .map(|until| until.is_some_and(|until| Instant::now() < until))
            .unwrap_or(false)
    }

    fn failed(&self, what: &'static str, error: &str) {
        tracing::warn!(
            redis.call = what,
            error,
            "redis call failed; going on without it"
        );
        metrics::counter!("query_cache_redis_errors_total", "call" => what).increment(1);
        if let Ok(mut until) = self.paused_until.lock() {
            *until = Some(Instant::now() + REDIS_PAUSE);
        }
    }

    fn recovered(&self) {
        if let Ok(mut until) = self.paused_until.lock() {
            *until = None;
        }
    }

    /// `call` within the deadline, unless Redis is paused; a failure pauses it.
    async fn call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Skipped> {
        if self.paused() {
            return Err(Skipped::Paused);
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                self.failed(what, &err.to_string());
                Err(Skipped::Failed)
            }
            Err(_) => {
                self.failed(what, "timed out");
                Err(Skipped::Failed)
            }
        }
    }

    async fn get(&self, day: &ResourceDay) -> Option<Lookup> {
        self.call("get", self.cache.get(day)).await.ok()
    }

    async fn get_many(&self, days: &[ResourceDay]) -> Option<Vec<Lookup>> {
        if days.is_empty() {
            return Some(Vec::new());
        }
        self.call("mget", self.cache.get_many(days)).await.ok()
    }

    async fn fill(&self, day: &ResourceDay, position: Position, entry: &DayEntry) {
        let result = match self
            .call("fill", self.cache.fill(day, position, entry))
            .await
        {
            Ok(true) => "stored",
            // A newer entry or invalidation marker is there: this fill was stale.
            Ok(false) => "rejected",
            Err(Skipped::Paused) => "skipped",
            Err(Skipped::Failed) => "error",
        };
        metrics::counter!("query_cache_fills_total", "result" => result).increment(1);
    }

    async fn ping(&self) -> Result<(), String> {
        match tokio::time::timeout(
            self.timeout.max(Duration::from_millis(500)),
            self.cache.ping(),
        )
        .await
        {
            Ok(Ok(())) => {
                self.recovered();
                Ok(())
            }
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

/// Why a Redis call was not made or gave nothing.
enum Skipped {
    /// Redis failed a moment ago: not asked.
    Paused,
    /// It failed or missed its deadline now.
    Failed,
}

/// Which resources had a change notice, in arrival order.
///
/// A load notes [`NoticeLog::current`] before it starts; if a notice for its resource arrives
/// before it has been inserted into L1, [`NoticeLog::changed_since`] says so and the entry is
/// dropped. Sequence numbers rather than positions, because notices of different projections
/// carry positions of different checkpoints. Each cache keeps its own log of the notices that
/// concern it.
pub(crate) struct NoticeLog {
    sequence: AtomicU64,
    last: Cache<(TenantId, ResourceId), u64>,
}

impl NoticeLog {
    pub(crate) fn new(l1_ttl: Duration) -> Self {
        Self {
            sequence: AtomicU64::new(0),
            // Only loads in flight look here; an entry older than any load is never needed, and
            // one that is evicted early only lets a load's entry live until its TTL.
            last: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(l1_ttl.max(Duration::from_secs(60)))
                .build(),
        }
    }

    pub(crate) fn current(&self) -> u64 {
        self.sequence.load(Ordering::SeqCst)
    }

    pub(crate) async fn record(&self, tenant: &TenantId, resource: ResourceId) {
        let sequence = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        self.last.insert((tenant.clone(), resource), sequence).await;
    }

    pub(crate) async fn changed_since(
        &self,
        tenant: &TenantId,
        resource: ResourceId,
        since: u64,
    ) -> bool {
        self.last
            .get(&(tenant.clone(), resource))
            .await
            .is_some_and(|sequence| sequence > since)
    }
}
