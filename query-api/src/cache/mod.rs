//! The availability cache tiers, one resource's one local day at a time:
//!
//! 1. **L1**, in process: a bounded moka cache (key = the Redis key, value = the position and the
//!    day's busy timeline) with a short TTL. Concurrent misses of one key are coalesced into one
//!    load (`try_get_with`), so a burst of identical requests costs one Redis or Postgres read.
//! 2. **Redis** ([`readmodel::cache::RedisCache`]), shared by every instance. Every call has a
//!    short deadline, and after a failure Redis is skipped for a moment, so a dead Redis costs
//!    requests nothing but the cache: they go to Postgres.
//! 3. **Postgres**: the day's busy rows and the `bookings` checkpoint from one snapshot; the
//!    result is filled into Redis with the compare-and-set (a fill older than an invalidation
//!    marker is refused) and into L1.
//!
//! Staleness is bounded three ways: the projector's change notices drop L1 entries
//! ([`DayCache::on_changed`], fed by [`notices`]); a load that a notice overtook is not kept in L1 (see
//! [`NoticeLog`]); and a request with `min_position` never accepts an entry older than it, which
//! makes read-your-writes exact even before an invalidation arrives.
//!
//! The resource rows an answer also needs are cached in process by the same rules
//! ([`resources`]), so an answer whose days all come from L1 touches neither Redis
//! nor Postgres. Whole answers rendered from these entries are kept too
//! ([`answers`]): every drop or replacement of an entry here bumps the resource's
//! generation afterwards, which retires the answers made from it.
pub mod answers;
pub mod days;
pub mod notices;
pub mod resources;

pub use answers::{Answer, AnswerCache, AnswerKey, Generations, Rendered, Stamp};
pub use days::{CacheSettings, CachedDay, DayCache, DayLookup, Tier};
pub use notices::NoticeListener;
pub use resources::{CachedResource, ResourceCache};

use std::hash::Hash;

use eventstore::Position;
use moka::future::Cache;

/// An in-process entry, which knows the read-model position it was read at.
trait Positioned {
    fn position(&self) -> Position;

    /// Whether it may answer a request that asks for `min` (or for nothing in particular).
    fn is_fresh(&self, min: Option<Position>) -> bool {
        min.is_none_or(|min| self.position() >= min)
    }
}

/// The entries of `keys`, in that order, when every one is in `cache` at `min` or newer: the
/// in-process tier alone answers, nothing is loaded. Never while change notices are not
/// arriving (see [`Generations`]).
async fn all_fresh<K, V>(
    cache: &Cache<K, V>,
    generations: &Generations,
    keys: impl Iterator<Item = K>,
    min: Option<Position>,
) -> Option<Vec<V>>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Positioned + Clone + Send + Sync + 'static,
{
    if !generations.notices_live() {
        return None;
    }
    let mut found = Vec::with_capacity(keys.size_hint().0);
    for key in keys {
        found.push(cache.get(&key).await.filter(|entry| entry.is_fresh(min))?);
    }
    Some(found)
}
