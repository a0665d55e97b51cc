//! Whole availability answers, rendered once and kept in process as the bytes of their JSON
//! body, so that a repeated read costs one lookup instead of gathering days, computing free
//! time and slots, and formatting a few hundred date-times.
//!
//! An answer is a pure function of its inputs (the resource row and the busy days in the day
//! cache, see [`super::days`] and [`super::resources`]), of what the request asked
//! ([`AnswerKey`]: tenant, resource, window, duration and quantity) and, for slots, of the
//! clock. So an entry is served only while all of those are unchanged:
//!
//! - **Inputs**: the input caches bump a generation ([`Generations`]) *after* every entry they
//!   drop or replace (change notices, loads a notice overtook, rows reloaded for a
//!   `min_position`, a reconnect's drop of everything). An answer carries the generation read
//!   *before* its inputs were gathered ([`Stamp`]) and is served only while it is still current.
//!   An input dropped before that read is not among those gathered after it; one dropped after
//!   it bumps the generation after the drop, so the answer is not served once its inputs would
//!   not be. (A load a notice overtook is inserted and only then dropped: the bump follows the
//!   drop, so an answer made from it in between is retired too.)
//! - **Age**: an answer expires when its oldest input would have (`L1_TTL_MS` after that input
//!   was loaded), so a lost notice leaves nothing stale for longer than it does today.
//! - **Clock**: slots depend on `now` (minimum notice, maximum advance); an answer expires at
//!   the first instant one of its slots would drop out or a new one come in.
//! - **`min_position`**: an answer carries the oldest position of its inputs and is served to a
//!   request with `min_position` only at or past it.
//!
//! Nothing in the body is request-specific (no request id, no actor); `X-Cache` and the other
//! headers are set per response. Memory is bounded by the bytes of the bodies
//! (`L1_ANSWER_BYTES`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use domain::ids::{ResourceId, TenantId};
use eventstore::Position;
use metrics::Counter;
use moka::future::Cache;
use moka::{Equivalent, Expiry};

use crate::params::Bound;

/// How much earlier than exactly an answer expires: its expiry is computed a moment before the
/// cache notes the insertion, so it ends a little early rather than a little late.
const EXPIRY_MARGIN: Duration = Duration::from_millis(10);

/// What the map itself costs per entry, beyond the body, for the weigher.
const ENTRY_OVERHEAD: usize = 160;

/// Everything that shapes an answer, besides its inputs: the tenant, the resource, the window as
/// given (the same bounds mean the same window for one resource row), and the slot request
/// (`(duration_minutes, quantity)`, absent without a duration: `quantity` alone changes
/// nothing). `min_position` is not part of it: it asks for freshness, not for another answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey<T = TenantId> {
    pub tenant: T,
    pub resource: ResourceId,
    pub from: Bound,
    pub to: Bound,
    pub slots: Option<(u32, u32)>,
}

impl AnswerKey<&TenantId> {
    /// The owned key, for an insertion.
    pub fn to_owned_key(&self) -> AnswerKey {
        AnswerKey {
            tenant: self.tenant.clone(),
            resource: self.resource,
            from: self.from,
            to: self.to,
            slots: self.slots,
        }
    }
}

/// A lookup borrows the tenant (no allocation on a hit). The derived `Hash` of both forms hashes
/// the same `TenantId`, as `Equivalent` requires.
impl Equivalent<AnswerKey> for AnswerKey<&TenantId> {
    fn equivalent(&self, key: &AnswerKey) -> bool {
        self.resource == key.resource
            && self.from == key.from
            && self.to == key.to
            && self.slots == key.slots
            && *self.tenant == key.tenant
    }
}

/// One rendered answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The JSON body, exactly as the first request was answered.
    pub body: Bytes,
    /// The oldest position among its inputs (resource row and days).
    pub fresh_at: Position,
    stamp: Stamp,
    /// How long it may be served, from its insertion.
    ttl: Duration,
}

/// An answer about to be stored: what it was computed from.
pub struct Rendered {
    pub body: Bytes,
    pub fresh_at: Position,
    /// The inputs' generation, read before they were gathered.
    pub stamp: Stamp,
    /// When the oldest input was loaded into its cache.
    pub oldest_input: Instant,
    /// Until when (exclusive) the clock does not change the answer; `None`: forever.
    pub stable_until: Option<DateTime<Utc>>,
}

struct AnswerExpiry;

impl Expiry<AnswerKey, Answer> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _key: &AnswerKey,
        value: &Answer,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &AnswerKey,
        value: &Answer,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The rendered answers of this process.
pub struct AnswerCache {
    answers: Cache<AnswerKey, Answer>,
    /// `false` when configured to keep none (the map would hold an entry until its next
    /// housekeeping).
    keeps: bool,
    generations: Arc<Generations>,
    l1_ttl: Duration,
    hits: Counter,
    misses: Counter,
    stale: Counter,
}

impl AnswerCache {
    /// At most `max_bytes` of answers (0 keeps none), none older than its inputs' `l1_ttl`.
    pub fn new(max_bytes: u64, l1_ttl: Duration, generations: Arc<Generations>) -> Self {
        let answers = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &AnswerKey, answer: &Answer| {
                let bytes = answer.body.len() + key.tenant.as_str().len() + ENTRY_OVERHEAD;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .expire_after(AnswerExpiry)
            .build();
        let lookups = |result: &'static str| metrics::counter!("query_answer_cache_lookups_total", "result" => result);
        Self {
            answers,
            keeps: max_bytes > 0,
            generations,
            l1_ttl,
            hits: lookups("hit"),
            misses: lookups("miss"),
            stale: lookups("stale"),
        }
    }

    /// The stored answer for `key`, if its inputs are unchanged and it is at `min` or newer.
    pub async fn get(&self, key: &AnswerKey<&TenantId>, min: Option<Position>) -> Option<Answer> {
        if !self.generations.notices_live() {
            self.misses.increment(1);
            return None;
        }
        let Some(answer) = self.answers.get(key).await else {
            self.misses.increment(1);
            return None;
        };
        if !self.generations.is_current(key.resource, answer.stamp)
            || min.is_some_and(|min| answer.fresh_at < min)
        {
            self.stale.increment(1);
            return None;
        }
        self.hits.increment(1);
        Some(answer)
    }

    /// The generation of `resource`'s inputs now; read it before gathering them.
    pub fn stamp(&self, resource: ResourceId) -> Stamp {
        self.generations.stamp(resource)
    }

    /// Keeps `rendered` for later reads of `key`, unless its inputs already changed or it would
    /// expire at once.
    pub async fn insert(&self, key: &AnswerKey<&TenantId>, rendered: Rendered) {
        if !self.keeps {
            return;
        }
        let mut ttl = self.l1_ttl.saturating_sub(rendered.oldest_input.elapsed());
        if let Some(until) = rendered.stable_until {
            ttl = ttl.min((until - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        }
        let ttl = ttl.saturating_sub(EXPIRY_MARGIN);
        // A stale answer would only be refused by `get`; don't let it replace a current one.
        if ttl.is_zero()
            || !self.generations.is_current(key.resource, rendered.stamp)
            || !self.generations.notices_live()
        {
            return;
        }
        let answer = Answer {
            body: rendered.body,
            fresh_at: rendered.fresh_at,
            stamp: rendered.stamp,
            ttl,
        };
        self.answers.insert(key.to_owned_key(), answer).await;
    }
}

/// Generations of the input caches' contents, per resource (striped) and for everything.
///
/// The day cache and the resource cache call [`Generations::changed`] after dropping or
/// replacing an entry of a resource, and [`Generations::changed_all`] after dropping everything.
/// Resources share a fixed number of stripes, so memory stays fixed and nothing is ever
/// forgotten; a change of one resource only makes the answers of the others on its stripe miss
/// once.
///
/// It also knows whether change notices are arriving at all. While they are not (NATS is
/// away), nothing in process can learn of a change, so the in-process tiers are neither read
/// nor filled: every read goes to Redis (which the projector invalidates itself, durably) and
/// Postgres.
pub struct Generations {
    everything: AtomicU64,
    stripes: Box<[AtomicU64]>,
    notices_live: AtomicBool,
}

/// The generations an answer's inputs were gathered at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    everything: u64,
    stripe: u64,
}

/// A power of two.
const STRIPES: usize = 4096;

impl Default for Generations {
    fn default() -> Self {
        Self {
            everything: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            notices_live: AtomicBool::new(true),
        }
    }
}

impl Generations {
    fn stripe(&self, resource: ResourceId) -> &AtomicU64 {
        // Ids may be chosen by clients (sequential, say), so they are mixed (Fibonacci hashing),
        // not truncated.
        let id = resource.0.as_u128();
        let folded = (id as u64) ^ ((id >> 64) as u64);
        let index = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - STRIPES.trailing_zeros());
        &self.stripes[usize::try_from(index).unwrap_or(0) & (STRIPES - 1)]
    }

    // SeqCst throughout: a stamp read after a bump must see the drop before it, and a check
    // after a bump must see the bump.
    pub fn stamp(&self, resource: ResourceId) -> Stamp {
        Stamp {
            everything: self.everything.load(Ordering::SeqCst),
            stripe: self.stripe(resource).load(Ordering::SeqCst),
        }
    }

    pub fn is_current(&self, resource: ResourceId, stamp: Stamp) -> bool {
        self.stamp(resource) == stamp
    }

    /// Call after dropping or replacing a cached input of `resource`.
    pub fn changed(&self, resource: ResourceId) {
        self.stripe(resource).fetch_add(1, Ordering::SeqCst);
    }

    /// Call after dropping every cached input.
    pub fn changed_all(&self) {
        self.everything.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether change notices arrive, so the in-process tiers may be used.
    pub fn notices_live(&self) -> bool {
        self.notices_live.load(Ordering::SeqCst)
    }

    /// Says whether change notices arrive (the NATS connection is up or not). Call after the
    /// in-process tiers have been dropped.
    pub fn set_notices_live(&self, live: bool) {
        self.notices_live.store(live, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn resource(n: u128) -> ResourceId {
        ResourceId(Uuid::from_u128(n))
    }

    fn key(tenant: &str, slots: Option<(u32, u32)>) -> AnswerKey<&'static TenantId> {
        let day = Bound::Date("2026-12-01".parse().unwrap());
        AnswerKey {
            // A test's few keys live as long as it does.
            tenant: Box::leak(Box::new(TenantId::parse(tenant).unwrap())),
            resource: resource(7),
            from: day,
            to: day,
            slots,
        }
    }

    fn rendered(cache: &AnswerCache, body: &'static str, fresh_at: Position) -> Rendered {
        Rendered {
            body: Bytes::from_static(body.as_bytes()),
            fresh_at,
            stamp: cache.stamp(resource(7)),
            oldest_input: Instant::now(),
            stable_until: None,
        }
    }

    fn cache() -> AnswerCache {
        AnswerCache::new(
            1 << 20,
            Duration::from_secs(60),
            Arc::new(Generations::default()),
        )
    }

    #[tokio::test]
    async fn an_answer_is_found_only_under_its_own_key() {
        let cache = cache();
        let thirty = key("acme", Some((30, 1)));
        cache
            .insert(&thirty, rendered(&cache, "thirty", Position::new(1, 1)))
            .await;
        let found = cache.get(&thirty, None).await.unwrap();
        assert_eq!(found.body, "thirty");
        for other in [
            key("acme", Some((60, 1))),
            key("acme", Some((30, 2))),
            key("acme", None),
            key("other", Some((30, 1))),
        ] {
            assert!(cache.get(&other, None).await.is_none(), "{other:?}");
        }
    }

    #[tokio::test]
    async fn a_change_of_the_resource_or_of_everything_retires_its_answers() {
        let generations = Arc::new(Generations::default());
        let cache = AnswerCache::new(1 << 20, Duration::from_secs(60), generations.clone());
        let key = key("acme", None);
        cache
            .insert(&key, rendered(&cache, "a", Position::new(1, 1)))
            .await;
        generations.changed(resource(8));
        // Another resource: unless it shares the stripe, nothing happens.
        let shares = std::ptr::eq(
            generations.stripe(resource(8)),
            generations.stripe(resource(7)),
        );
        assert_eq!(cache.get(&key, None).await.is_some(), !shares);
        generations.changed(resource(7));
        assert!(cache.get(&key, None).await.is_none());

        cache
            .insert(&key, rendered(&cache, "b", Position::new(1, 1)))
            .await;
        assert!(cache.get(&key, None).await.is_some());
        generations.changed_all();
        assert!(cache.get(&key, None).await.is_none());
    }

    #[tokio::test]
    async fn an_answer_rendered_from_inputs_that_changed_meanwhile_is_not_kept() {
        let generations = Arc::new(Generations::default());
        let cache = AnswerCache::new(1 << 20, Duration::from_secs(60), generations.clone());
        let key = key("acme", None);
        let late = rendered(&cache, "late", Position::new(1, 1));
        generations.changed(resource(7));
        cache.insert(&key, late).await;
        assert!(cache.get(&key, None).await.is_none());
    }

    #[tokio::test]
    async fn a_cache_of_zero_bytes_keeps_nothing() {
        let cache = AnswerCache::new(0, Duration::from_secs(60), Arc::new(Generations::default()));
        let key = key("acme", None);
        cache
            .insert(&key, rendered(&cache, "a", Position::new(1, 1)))
            .await;
        assert!(cache.get(&key, None).await.is_none());
    }

    #[tokio::test]
    async fn min_position_is_answered_only_at_or_past_the_oldest_input() {
        let cache = cache();
        let key = key("acme", None);
        cache
            .insert(&key, rendered(&cache, "a", Position::new(5, 2)))
            .await;
        assert!(cache.get(&key, Some(Position::new(5, 2))).await.is_some());
        assert!(cache.get(&key, Some(Position::new(5, 1))).await.is_some());
        assert!(cache.get(&key, Some(Position::new(5, 3))).await.is_none());
    }

    #[tokio::test]
    async fn an_answer_ends_with_its_oldest_input_or_when_the_clock_changes_its_slots() {
        let cache = AnswerCache::new(
            1 << 20,
            Duration::from_millis(300),
            Arc::new(Generations::default()),
        );
        let old = key("acme", None);
        let mut from_old_input = rendered(&cache, "old", Position::new(1, 1));
        from_old_input.oldest_input = Instant::now() - Duration::from_millis(250);
        cache.insert(&old, from_old_input).await;
        let clocked = key("acme", Some((30, 1)));
        let mut until_a_slot_passes = rendered(&cache, "slots", Position::new(1, 1));
        until_a_slot_passes.stable_until = Some(Utc::now() + Duration::from_millis(60));
        cache.insert(&clocked, until_a_slot_passes).await;
        let fresh = key("other", None);
        cache
            .insert(&fresh, rendered(&cache, "fresh", Position::new(1, 1)))
            .await;
        assert!(cache.get(&old, None).await.is_some());
        assert!(cache.get(&clocked, None).await.is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(cache.get(&old, None).await.is_none());
        assert!(cache.get(&clocked, None).await.is_none());
        assert!(cache.get(&fresh, None).await.is_some());

        let mut expired = rendered(&cache, "expired", Position::new(1, 1));
        expired.stable_until = Some(Utc::now());
        cache.insert(&old, expired).await;
        assert!(cache.get(&old, None).await.is_none());
    }
}
