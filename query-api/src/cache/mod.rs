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
pub use days::{CacheSettings, CachedDay, DayCache, Tier};
pub use notices::NoticeListener;
pub use resources::{CachedResource, ResourceCache};
