//! `GET /v1/availability/search`: the resources (chosen by the resource filter) that are free
//! for one exact period, by name, from the read models and the availability cache.
//!
//! A candidate is free when every rule a booking command checks without the guard passes
//! (`domain::booking::check_period`: not archived, quantity, duration, notice, advance, opening
//! hours and blackouts) and enough of its units have no busy interval overlapping the period
//! widened by its buffers. The busy intervals come from the same per-day cache entries the
//! availability reads use (L1, Redis, Postgres), fetched for many candidates at once.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::Period;
use domain::booking::check_period;
use domain::ids::TenantId;
use domain::resource::Resource;
use eventstore::Position;
use platform::Problem;
use platform::auth::Actor;
use readmodel::cache::{ResourceDay, days_touched};
use readmodel::projections::Projection;
use std::collections::BTreeSet;
use std::sync::Arc;
use utoipa::IntoParams;

use super::AppState;
use crate::cache::DayLookup;
use crate::cursor;
use crate::params::{self, Filter, MinPosition, QueryParams};
use crate::store::StoreError;
use crate::store::resources as store;
use crate::views::{Page, SearchItem};
use api::ErrorCode;

/// The most candidate resources (those the filter matches, after the cursor) one search
/// looks at.
pub const MAX_CANDIDATES: usize = 1_000;

/// The period and quantity of a search.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct SearchPeriod {
    /// An RFC 3339 instant.
    start: chrono::DateTime<Utc>,
    /// An RFC 3339 instant after `start`.
    end: chrono::DateTime<Utc>,
    /// The units that must be free.
    #[param(minimum = 1, maximum = 10000, default = 1)]
    quantity: Option<u32>,
    /// The page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

api::problems!(
    SearchProblems = [
        InvalidPeriod,
        InvalidFilter,
        InvalidCursor,
        TooManyCandidates
    ] + AUTHENTICATED,
    QUERY
);

/// The resources free for exactly `[start, end)` (buffers included), by name.
#[utoipa::path(
    get,
    path = "/v1/availability/search",
    tag = "availability",
    operation_id = "search_availability",
    params(SearchPeriod, Filter, MinPosition),
    responses(
        (status = 200, description = "The free resources, by name", body = Page<SearchItem>,
            headers(("X-Cache" = String, description = "`hit` when every day came from a cache, else `miss`."))),
        SearchProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn search(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let required = |name: &'static str| Problem::invalid_field(name, "is required");
    let start = query
        .parse("start", params::instant)?
        .ok_or_else(|| required("start"))?;
    let end = query
        .parse("end", params::instant)?
        .ok_or_else(|| required("end"))?;
    let quantity = query
        .parse(
            "quantity",
            params::number_in(1..=domain::resource::MAX_CAPACITY),
        )?
        .unwrap_or(1);
    let filter = query.take_filter()?;
    let limit = query
        .parse("limit", params::limit)?
        .unwrap_or(params::DEFAULT_LIMIT);
    let after = query.parse("cursor", cursor::parse_search)?;
    let min = query.parse("min_position", params::position)?;
    query.finish()?;
    let period = Period::new(start, end)
        .map_err(|_| Problem::new(ErrorCode::InvalidPeriod, "`end` must be after `start`"))?;
    state
        .freshness
        .wait(
            &state.pool,
            &[Projection::Resources, Projection::Bookings],
            min,
        )
        .await?;
    let tenant = &actor.tenant;
    let over = i64::try_from(MAX_CANDIDATES + 1).unwrap_or(i64::MAX);
    let ask = store::Candidates {
        tenant,
        filter: &filter,
        after: after.as_ref(),
        limit: over,
    };
    let candidates = store::candidates(&state.pool, &ask).await?;
    if candidates.len() > MAX_CANDIDATES {
        return Err(Problem::new(
            ErrorCode::TooManyCandidates,
            format!(
                "more than {MAX_CANDIDATES} resources match; narrow the search with kind, attr. \
                 or min. filters"
            ),
        ));
    }
    let now = Utc::now();
    // The rules first: only candidates that pass them need their busy days.
    let bookable: Vec<Resource> = candidates
        .into_iter()
        .filter(|resource| check_period(resource, &period, quantity, now).is_ok())
        .collect();
    let (free, hit) = units_free(&state, tenant, &bookable, period, min).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut items: Vec<(&Resource, u32)> = bookable
        .iter()
        .zip(free)
        .filter(|(_, free)| *free >= quantity)
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|(r, _)| cursor::search(&r.spec.name, r.id))
        })
        .flatten();
    let page = Json(Page {
        items: items
            .into_iter()
            .map(|(resource, units_free)| SearchItem {
                resource_id: resource.id.0,
                name: resource.spec.name.clone(),
                attributes: resource.spec.attributes.as_map().clone(),
                units_free,
            })
            .collect(),
        next_cursor,
    });
    let x_cache = HeaderValue::from_static(if hit { "hit" } else { "miss" });
    Ok(([(HeaderName::from_static("x-cache"), x_cache)], page).into_response())
}

/// For each resource, how many of its units have no busy interval overlapping `period` widened
/// by its buffers, from the cached days the widened period touches; and whether every day came
/// from a cache.
async fn units_free(
    state: &AppState,
    tenant: &TenantId,
    resources: &[Resource],
    period: Period,
    min: Option<Position>,
) -> Result<(Vec<u32>, bool), Problem> {
    let blocked: Vec<Period> = resources
        .iter()
        .map(|r| {
            let policy = &r.spec.policy;
            period.widen(policy.buffer_before(), policy.buffer_after())
        })
        .collect();
    let lookups: Vec<(usize, DayLookup)> = resources
        .iter()
        .zip(&blocked)
        .enumerate()
        .flat_map(|(index, (resource, blocked))| {
            let tz = resource.spec.time_zone;
            days_touched(tz, blocked).into_iter().map(move |date| {
                let day = ResourceDay {
                    tenant: tenant.clone(),
                    resource: resource.id,
                    date,
                };
                (index, DayLookup { day, tz, min })
            })
        })
        .collect();
    let (owners, lookups): (Vec<usize>, Vec<DayLookup>) = lookups.into_iter().unzip();
    let days = state
        .cache
        .days(&lookups)
        .await
        .map_err(|err: Arc<StoreError>| Problem::from(&*err))?;
    let hit = days.iter().all(|day| day.tier.is_hit());
    let days = owners.into_iter().zip(days);
    let mut busy: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); resources.len()];
    for (index, day) in days {
        let capacity = resources[index].spec.capacity;
        busy[index].extend(
            day.entry
                .busy
                .iter()
                .filter(|b| b.unit < capacity && b.period.overlaps(&blocked[index]))
                .map(|b| b.unit),
        );
    }
    let free = resources
        .iter()
        .zip(busy)
        .map(|(r, busy)| {
            r.spec
                .capacity
                .saturating_sub(u32::try_from(busy.len()).unwrap_or(u32::MAX))
        })
        .collect();
    Ok((free, hit))
}
