//! `GET /v1/stats/daily?from=&to=&resource_id=`: per resource and local day, bookings,
//! cancellations, completed, no-shows, booked unit-minutes and utilization (admins and viewers).
//!
//! `from` and `to` are local dates, both inclusive; by default the 30 days up to today (UTC).
//! Utilization divides the booked unit-minutes by the day's open unit-minutes: the resource's
//! current opening hours minus its blackouts that local day (23 or 25 hours on DST days), times
//! its capacity; it is 0 on a closed day.
//!
//! Computing it is CPU work (each row's day against the resource's hours and blackouts): it runs
//! within the request's budget (`crate::compute`), and no more rows are read than that pays for.

use api::ErrorCode;
use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc, Weekday};
use domain::ids::ResourceId;
use domain::resource::Resource;
use platform::Problem;
use platform::auth::Actor;
use readmodel::cache::day_span;
use readmodel::projections::Projection;
use uuid::Uuid;

use super::AppState;
use crate::availability::window_too_large;
use crate::compute::{Meter, Stop};
use crate::error::resource_not_found;
use crate::params::{self, MinPosition, QueryParams};
use crate::store::resources;
use crate::store::stats::{self as store, StatsFilter};
use crate::views::{DayStatsView, Items};

/// The most days one request may span.
pub const MAX_DAYS: i64 = 366;
/// The days covered when `from` is absent.
const DEFAULT_DAYS: i64 = 30;

/// The filters of `GET /v1/stats/daily`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct StatsFilters {
    /// The first local day; by default 29 days before `to`.
    from: Option<NaiveDate>,
    /// The last local day (included); by default today (UTC). At most 366 days from `from`.
    to: Option<NaiveDate>,
    /// Only this resource.
    resource_id: Option<Uuid>,
}

api::problems!(
    DailyProblems = [ResourceNotFound, InvalidPeriod, WindowTooLarge, TooMuchWork] + AUTHENTICATED,
    QUERY
);

/// Per resource and local day: bookings, cancellations, booked unit-minutes and utilization
/// (admins and viewers).
#[utoipa::path(
    get,
    path = "/v1/stats/daily",
    tag = "stats",
    operation_id = "daily_stats",
    params(StatsFilters, MinPosition),
    responses(
        (status = 200, description = "One item per resource and day with bookings",
            body = Items<DayStatsView>),
        DailyProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn daily(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let from = query.parse("from", params::date)?;
    let to = query.parse("to", params::date)?;
    let resource_id = query.parse("resource_id", params::uuid)?.map(ResourceId);
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    let to = to.unwrap_or_else(|| Utc::now().date_naive());
    let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if to < from {
        return Err(Problem::new(
            ErrorCode::InvalidPeriod,
            "`to` must not be before `from`",
        ));
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(window_too_large(MAX_DAYS));
    }
    state
        .freshness
        .wait(&state.pool, &[Projection::DailyStats], min_position)
        .await?;
    if let Some(id) = resource_id
        && resources::get(&state.pool, &actor.tenant, id)
            .await?
            .is_none()
    {
        return Err(resource_not_found());
    }
    let filter = StatsFilter {
        tenant: actor.tenant.clone(),
        from,
        to,
        resource_id,
    };
    // Every row is loaded, computed and rendered: each costs its share of the request's budget,
    // and no more rows are read than the budget pays for.
    let job = state.compute.job();
    let affordable = job.meter().left() / ROW_COST;
    let days = store::days(
        &state.pool,
        &filter,
        i64::try_from(affordable.saturating_add(1)).unwrap_or(i64::MAX),
    )
    .await?;
    job.meter()
        .charge(
            u64::try_from(days.len())
                .unwrap_or(u64::MAX)
                .saturating_mul(ROW_COST),
            ASK_FOR_LESS,
        )
        .map_err(Problem::from)?;
    let mut ids: Vec<_> = days.iter().map(|d| d.resource_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let found = resources::get_many(&state.pool, &actor.tenant, &ids).await?;
    let items = job.run(move |meter| items(&days, found, meter)).await?;
    Ok(Json(Items { items }).into_response())
}

/// What one row costs besides its day's open time, in the steps of `crate::availability`
/// (about nanoseconds): loading it, its day's span and rendering it.
const ROW_COST: u64 = 1024;
/// One blackout or opening interval in a day's open time.
const DAY_STEP_COST: u64 = 64;

/// How to ask for less when a stats request is over its budget.
const ASK_FOR_LESS: &str = "ask for fewer days, or for one resource (resource_id), at a time";

/// How many rows are computed between two looks at whether the request is still wanted.
const CHECK_EVERY: usize = 1024;

/// The answer's items: each row with its utilization (the resource's open time that local day,
/// which costs its blackouts and opening intervals).
fn items(
    days: &[store::DayStats],
    found: Vec<Resource>,
    meter: &Meter,
) -> Result<Vec<DayStatsView>, Stop> {
    let found: HashMap<ResourceId, Resource> = found.into_iter().map(|r| (r.id, r)).collect();
    let mut items = Vec::with_capacity(days.len());
    for (index, d) in days.iter().enumerate() {
        if index.is_multiple_of(CHECK_EVERY) {
            meter.check()?;
        }
        let utilization = match found.get(&d.resource_id) {
            Some(resource) => {
                meter.charge(day_cost(resource), ASK_FOR_LESS)?;
                utilization(resource, d.day, d.booked_minutes)
            }
            None => 0.0,
        };
        items.push(DayStatsView {
            resource_id: d.resource_id.0,
            day: d.day,
            bookings: d.bookings,
            cancellations: d.cancellations,
            completed: d.completed,
            no_shows: d.no_shows,
            booked_minutes: d.booked_minutes,
            utilization,
        });
    }
    Ok(items)
}

/// An upper bound of the steps of one day's open time: the resource's blackouts (merged for
/// every day) and its opening intervals.
fn day_cost(resource: &Resource) -> u64 {
    let intervals = resource.spec.opening_hours.as_ref().map_or(1, |hours| {
        let week = std::iter::successors(Some(Weekday::Mon), |day| Some(day.succ())).take(7);
        week.map(|day| hours.intervals(day).len())
            .max()
            .unwrap_or(0)
            + 1
    });
    u64::try_from(resource.blackouts.len() + intervals)
        .unwrap_or(u64::MAX)
        .saturating_mul(DAY_STEP_COST)
}

/// Booked unit-minutes over open unit-minutes of the local `day`, rounded to 4 decimals.
pub fn utilization(resource: &Resource, day: NaiveDate, booked_minutes: i64) -> f64 {
    let Some(span) = day_span(resource.spec.time_zone, day) else {
        return 0.0;
    };
    let open_seconds: i64 = resource
        .open_periods(span)
        .iter()
        .map(|p| p.duration().num_seconds())
        .sum();
    // Minutes of a day times a capacity of at most 10 000 are far below 2^52: exact as f64.
    let (open_unit_minutes, booked) = (
        open_seconds as f64 / 60.0 * f64::from(resource.spec.capacity),
        booked_minutes as f64,
    );
    if open_unit_minutes <= 0.0 {
        return 0.0;
    }
    (booked / open_unit_minutes * 10_000.0).round() / 10_000.0
}
