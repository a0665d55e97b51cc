//! Cached availability against a fresh computation.

use serde_json::Value;

use super::Findings;
use crate::chaos::api::query_at;
use crate::chaos::load::Load;

/// One answer's content: what must not depend on where it came from (`position` says how
/// fresh it is and may differ).
fn content(body: &Value) -> (Value, Value) {
    (body["free"].clone(), body["slots"].clone())
}

/// Cached availability against a fresh computation.
///
/// The fresh answer comes from a query-api started now on a Redis key prefix nobody used: empty
/// caches in process and in Redis, so it computes every day from the read model, with the same
/// code. The read model itself is held to the event history by `replay --verify` and to the
/// guard by [`super::double_bookings`]. (A `min_position` at the head would not do: a cached entry
/// stamped at or past the head is served as it is, which is exactly the bookkeeping under test.)
///
/// `survivor` is the query-api that lived through the faults (its in-process caches, the
/// rendered answers, and Redis); `redis` a query-api started now on the run's Redis prefix, so
/// its answers come from Redis alone. Each resource's every day of the run, and the whole
/// window at once, are asked of all three.
pub async fn caches(
    findings: &mut Findings,
    load: &Load,
    survivor: &str,
    redis: &str,
    fresh: &str,
) -> anyhow::Result<()> {
    let http = load.api.http();
    let token = &load.api.admin;
    let mut paths = Vec::new();
    let (first, last) = (
        load.first_day,
        load.first_day + chrono::Days::new(u64::from(load.days - 1)),
    );
    for resource in &load.resources {
        let before = first - chrono::Days::new(1);
        for day in std::iter::once(before)
            .chain(load.days())
            .chain(std::iter::once(last + chrono::Days::new(1)))
        {
            paths.push(format!(
                "/v1/resources/{}/availability?from={day}&to={day}&duration_minutes=60",
                resource.id
            ));
        }
        paths.push(format!(
            "/v1/resources/{}/availability?from={first}&to={last}&duration_minutes=60",
            resource.id
        ));
    }
    for path in paths {
        let survived = query_at(http, survivor, token, &path).await?;
        let from_redis = query_at(http, redis, token, &path).await?;
        let computed = query_at(http, fresh, token, &path).await?;
        anyhow::ensure!(
            survived.0 == 200 && from_redis.0 == 200 && computed.0 == 200,
            "{path}: statuses {} / {} / {}",
            survived.0,
            from_redis.0,
            computed.0
        );
        findings.cache.compared += 1;
        let truth = content(&computed.2);
        for (who, (_, cache, body)) in [
            ("the surviving query-api", &survived),
            ("Redis", &from_redis),
        ] {
            let hit = cache.as_deref() == Some("hit");
            if who == "Redis" {
                findings.cache.redis_hits += usize::from(hit);
            } else {
                findings.cache.hits += usize::from(hit);
            }
            if content(body) != truth {
                findings.cache.mismatches.add(format!(
                        "{path}: {who} (x-cache {cache:?}, position {}) answered {}, fresh (position {}) {}",
                        body["position"], body["free"], computed.2["position"], computed.2["free"]
                    ),
                );
            }
        }
    }
    Ok(())
}
