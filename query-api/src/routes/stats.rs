//! The dashboards' figures (admins and viewers), from `read.daily_stats`:
//! - `GET /v1/stats/daily?from=&to=&resource_id=`: per resource and local day;
//! - `GET /v1/stats/summary?from=&to=&group_by=resource|service|kind|day`: the same figures
//!   summed per group, with the no-show and cancellation rates.
//!
//! `from` and `to` are local dates, both inclusive; by default the 30 days up to today (UTC).
//! Open unit-minutes are each resource's current opening hours minus its blackouts on that local
//! day (23 or 25 hours on DST days), times its capacity; utilization divides the booked
//! unit-minutes by them, and is 0 when there are none.
//!
//! Open time is CPU work (each day against the resource's hours and blackouts): it runs within
//! the request's budget (`crate::compute`), and no more rows are read than that pays for.

use std::collections::{BTreeMap, HashMap};

use api::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc, Weekday};
use domain::Period;
use domain::ids::ResourceId;
use domain::resource::Resource;
use domain::service::Service;
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
use crate::store::stats::{self as store, Figures, GroupBy, StatsFilter};
use crate::store::{resources, services};
use crate::views::{DayStatsView, FiguresView, Items, RevenueView, SummaryItemView};

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
struct DailyFilters {
    /// The first local day; by default 29 days before `to`.
    from: Option<NaiveDate>,
    /// The last local day (included); by default today (UTC). At most 366 days from `from`.
    to: Option<NaiveDate>,
    /// Only this resource.
    resource_id: Option<Uuid>,
}

/// The parameters of `GET /v1/stats/summary`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes what the handler parses by hand (`QueryParams`)"
)]
struct SummaryParams {
    /// The first local day; by default 29 days before `to`.
    from: Option<NaiveDate>,
    /// The last local day (included); by default today (UTC). At most 366 days from `from`.
    to: Option<NaiveDate>,
    /// What to sum the figures by.
    #[param(inline)]
    group_by: GroupByParam,
}

/// What `GET /v1/stats/summary` sums by.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "describes `GroupBy` as the handler parses it")]
enum GroupByParam {
    Resource,
    Service,
    Kind,
    Day,
}

api::problems!(
    DailyProblems = [ResourceNotFound, InvalidPeriod, WindowTooLarge, TooMuchWork] + AUTHENTICATED,
    QUERY
);

api::problems!(
    SummaryProblems = [InvalidPeriod, WindowTooLarge, TooMuchWork] + AUTHENTICATED,
    QUERY
);

/// Per resource and local day: bookings, cancellations, completed, no-shows, booked and open
/// unit-minutes, utilization and revenue (admins and viewers).
#[utoipa::path(
    get,
    path = "/v1/stats/daily",
    tag = "stats",
    operation_id = "daily_stats",
    params(DailyFilters, MinPosition),
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
    let (from, to) = range(&mut query)?;
    let resource_id = query.parse("resource_id", params::uuid)?.map(ResourceId);
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
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
    let days = store::days(&state.pool, &filter, affordable(job.meter())).await?;
    charge_rows(job.meter(), days.len())?;
    let mut ids: Vec<_> = days.iter().map(|d| d.resource_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let found = resources::get_many(&state.pool, &actor.tenant, &ids).await?;
    let items = job
        .run(move |meter| daily_items(&days, found, meter))
        .await?;
    Ok(Json(Items { items }).into_response())
}

/// The figures summed per resource, service, kind or local day, with the no-show and
/// cancellation rates (admins and viewers).
#[utoipa::path(
    get,
    path = "/v1/stats/summary",
    tag = "stats",
    operation_id = "stats_summary",
    params(SummaryParams, MinPosition),
    responses(
        (status = 200, description = "One item per group: every resource, service, kind or day \
            with open time or bookings in the range", body = Items<SummaryItemView>),
        SummaryProblems,
    ),
)]
#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn summary(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    let (from, to) = range(&mut query)?;
    let group_by = query
        .parse("group_by", group_by)?
        .ok_or_else(|| Problem::invalid_field("group_by", GROUP_BY_NAMES))?;
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    // Open time and kinds come from the resources' read model.
    state
        .freshness
        .wait(
            &state.pool,
            &[Projection::DailyStats, Projection::Resources],
            min_position,
        )
        .await?;
    let filter = StatsFilter {
        tenant: actor.tenant.clone(),
        from,
        to,
        resource_id: None,
    };
    let job = state.compute.job();
    let rows = store::summary(&state.pool, &filter, group_by, affordable(job.meter())).await?;
    charge_rows(job.meter(), rows.len())?;
    let days = (to - from).num_days() + 1;
    let per_resource = u64::try_from(days).unwrap_or(u64::MAX);
    let affordable_resources = job.meter().left() / per_resource.saturating_mul(ROW_COST).max(1);
    let all = resources::all(
        &state.pool,
        &actor.tenant,
        i64::try_from(affordable_resources.saturating_add(1)).unwrap_or(i64::MAX),
    )
    .await?;
    let services = if group_by == GroupBy::Service {
        services::list(&state.pool, &actor.tenant, None, i64::MAX).await?
    } else {
        Vec::new()
    };
    let ask = Summary {
        from,
        to,
        group_by,
        rows,
        resources: all,
        services,
    };
    let items = job.run(move |meter| ask.items(meter)).await?;
    Ok(Json(Items { items }).into_response())
}

/// `from` and `to` (both local days, inclusive), defaulted and checked.
fn range(query: &mut QueryParams) -> Result<(NaiveDate, NaiveDate), Problem> {
    let from = query.parse("from", params::date)?;
    let to = query.parse("to", params::date)?;
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
    Ok((from, to))
}

const GROUP_BY_NAMES: &str = "must be one of resource, service, kind, day";

fn group_by(name: &'static str, value: &str) -> Result<GroupBy, Problem> {
    GroupBy::parse(value).ok_or_else(|| Problem::invalid_field(name, GROUP_BY_NAMES))
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

/// How many rows the request's budget pays for, plus one (to know when there are more).
fn affordable(meter: &Meter) -> i64 {
    i64::try_from((meter.left() / ROW_COST).saturating_add(1)).unwrap_or(i64::MAX)
}

/// Charges loading and rendering `rows` rows.
fn charge_rows(meter: &Meter, rows: usize) -> Result<(), Problem> {
    meter
        .charge(
            u64::try_from(rows)
                .unwrap_or(u64::MAX)
                .saturating_mul(ROW_COST),
            ASK_FOR_LESS,
        )
        .map_err(Problem::from)
}

/// Per currency of a group: its figures. Revenue is listed per currency; the counts are summed.
#[derive(Default)]
struct Group {
    figures: Figures,
    revenue: BTreeMap<String, (i64, i64)>,
    open_minutes: i64,
}

impl Group {
    fn add(&mut self, currency: Option<&String>, figures: &Figures) {
        self.figures.add(figures);
        if let Some(currency) = currency {
            let revenue = self.revenue.entry(currency.clone()).or_default();
            revenue.0 += figures.booked_minor;
            revenue.1 += figures.realized_minor;
        }
    }

    fn view(self) -> FiguresView {
        let f = self.figures;
        FiguresView {
            bookings: f.bookings,
            cancellations: f.cancellations,
            completed: f.completed,
            no_shows: f.no_shows,
            booked_minutes: f.booked_minutes,
            open_minutes: self.open_minutes,
            utilization: ratio(f.booked_minutes, self.open_minutes),
            revenue: self
                .revenue
                .into_iter()
                .map(|(currency, (booked_minor, realized_minor))| RevenueView {
                    currency,
                    booked_minor,
                    realized_minor,
                })
                .collect(),
        }
    }
}

/// `part / whole` to 4 decimals; 0 when `whole` is not positive.
fn ratio(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    // Counts and minutes far below 2^52: exact as f64.
    (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
}

/// The daily answer's items: the rows of each resource's day (one per currency) as one item,
/// with its open time (which costs its blackouts and opening intervals).
fn daily_items(
    rows: &[store::DayStats],
    found: Vec<Resource>,
    meter: &Meter,
) -> Result<Vec<DayStatsView>, Stop> {
    let found: HashMap<ResourceId, Resource> = found.into_iter().map(|r| (r.id, r)).collect();
    let mut items = Vec::new();
    let mut rows = rows.iter().enumerate().peekable();
    while let Some((index, first)) = rows.next() {
        if index.is_multiple_of(CHECK_EVERY) {
            meter.check()?;
        }
        let mut group = Group::default();
        group.add(first.currency.as_ref(), &first.figures);
        while let Some((_, next)) =
            rows.next_if(|(_, r)| (r.day, r.resource_id) == (first.day, first.resource_id))
        {
            group.add(next.currency.as_ref(), &next.figures);
        }
        if let Some(resource) = found.get(&first.resource_id) {
            meter.charge(day_cost(resource), ASK_FOR_LESS)?;
            group.open_minutes = open_minutes(resource, first.day, first.day)
                .first()
                .map_or(0, |(_, minutes)| *minutes);
        }
        items.push(DayStatsView {
            resource_id: first.resource_id.0,
            day: first.day,
            figures: group.view(),
        });
    }
    Ok(items)
}

/// What a summary is computed from.
struct Summary {
    from: NaiveDate,
    to: NaiveDate,
    group_by: GroupBy,
    rows: Vec<store::GroupStats>,
    resources: Vec<Resource>,
    services: Vec<Service>,
}

impl Summary {
    /// One item per group with open time or bookings: each resource's open time goes to its
    /// group (by kind: its kind; by day: each day's to that day; by service: to every service
    /// offered on it, and to the bookings made without one).
    fn items(self, meter: &Meter) -> Result<Vec<SummaryItemView>, Stop> {
        let mut groups: BTreeMap<Option<String>, Group> = BTreeMap::new();
        if self.group_by == GroupBy::Day {
            for day in self.from.iter_days().take_while(|day| *day <= self.to) {
                groups.entry(Some(day.to_string())).or_default();
            }
        }
        for service in &self.services {
            groups.entry(Some(service.id.0.to_string())).or_default();
        }
        for row in &self.rows {
            groups
                .entry(row.group.clone())
                .or_default()
                .add(row.currency.as_ref(), &row.figures);
        }
        let days = u64::try_from((self.to - self.from).num_days() + 1).unwrap_or(u64::MAX);
        for (index, resource) in self.resources.iter().enumerate() {
            if index.is_multiple_of(CHECK_EVERY / 8) {
                meter.check()?;
            }
            let services = u64::try_from(self.services.len()).unwrap_or(u64::MAX);
            meter.charge(
                day_cost(resource)
                    .saturating_mul(days)
                    .saturating_add(services.saturating_mul(DAY_STEP_COST)),
                ASK_FOR_LESS,
            )?;
            let by_day = open_minutes(resource, self.from, self.to);
            let total: i64 = by_day.iter().map(|(_, minutes)| minutes).sum();
            match self.group_by {
                GroupBy::Resource => {
                    groups
                        .entry(Some(resource.id.0.to_string()))
                        .or_default()
                        .open_minutes += total;
                }
                GroupBy::Kind => {
                    groups
                        .entry(Some(resource.spec.kind.clone()))
                        .or_default()
                        .open_minutes += total;
                }
                GroupBy::Day => {
                    for (day, minutes) in by_day {
                        groups
                            .entry(Some(day.to_string()))
                            .or_default()
                            .open_minutes += minutes;
                    }
                }
                GroupBy::Service => {
                    for service in self.services.iter().filter(|s| s.offered_on(resource)) {
                        groups
                            .entry(Some(service.id.0.to_string()))
                            .or_default()
                            .open_minutes += total;
                    }
                    if let Some(none) = groups.get_mut(&None) {
                        none.open_minutes += total;
                    }
                }
            }
        }
        Ok(groups
            .into_iter()
            .filter(|(_, g)| g.open_minutes > 0 || g.figures != Figures::default())
            .map(|(group, g)| {
                let f = &g.figures;
                let no_show_rate = ratio(f.no_shows, f.no_shows + f.checked_in + f.completed);
                let cancellation_rate = ratio(f.cancellations, f.bookings);
                SummaryItemView {
                    group,
                    figures: g.view(),
                    no_show_rate,
                    cancellation_rate,
                }
            })
            .collect())
    }
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

/// Open unit-minutes of `resource` on each local day `from..=to`: its opening hours minus its
/// blackouts, times its capacity. The open time of the whole range is computed once and cut at
/// the days' bounds.
pub fn open_minutes(resource: &Resource, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, i64)> {
    let tz = resource.spec.time_zone;
    let days: Vec<(NaiveDate, Option<Period>)> = from
        .iter_days()
        .take_while(|day| *day <= to)
        .map(|day| (day, day_span(tz, day)))
        .collect();
    let mut bounds = days.iter().filter_map(|(_, span)| *span);
    let first = bounds.next();
    let open = match (first, bounds.next_back().or(first)) {
        (Some(first), Some(last)) => Period::new(first.start(), last.end())
            .map(|window| resource.open_periods(window))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let capacity = i64::from(resource.spec.capacity);
    let mut next = 0;
    days.into_iter()
        .map(|(day, span)| {
            let Some(span) = span else {
                return (day, 0);
            };
            // Both are sorted: skip what ended before this day, add what overlaps it.
            while open.get(next).is_some_and(|p| p.end() <= span.start()) {
                next += 1;
            }
            let seconds: i64 = open[next..]
                .iter()
                .take_while(|p| p.start() < span.end())
                .filter_map(|p| p.intersect(&span))
                .map(|p| p.duration().num_seconds())
                .sum();
            (day, seconds * capacity / 60)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use domain::ids::{BlackoutId, ResourceId};
    use domain::resource::{Blackout, Policy, ResourceSpec};
    use serde_json::json;

    use super::*;

    /// Two units in Berlin, open 08:00–20:00 every day.
    fn resource(blackouts: Vec<Blackout>) -> Resource {
        let week = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(|day| (day, json!([["08:00", "20:00"]])));
        let hours = serde_json::from_value(json!(serde_json::Map::from_iter(
            week.map(|(day, hours)| (day.to_owned(), hours))
        )))
        .expect("opening hours");
        let mut resource = Resource::created(
            &Resource::create(
                ResourceId::generate(),
                ResourceSpec {
                    name: "Room".into(),
                    kind: "room".into(),
                    capacity: 2,
                    time_zone: chrono_tz::Europe::Berlin,
                    opening_hours: Some(hours),
                    policy: Policy::default(),
                    attributes: Default::default(),
                    archived: false,
                },
            )
            .expect("a valid resource"),
            Utc::now(),
        );
        resource.blackouts = blackouts;
        resource
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, day).expect("a date")
    }

    #[test]
    fn open_minutes_are_each_days_hours_minus_blackouts_times_capacity() {
        // 19:00 on the 23rd to 09:00 on the 24th (Berlin, UTC+2): an hour off each day.
        let overnight = Period::new(
            Utc.with_ymd_and_hms(2026, 10, 23, 17, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 24, 7, 0, 0).unwrap(),
        )
        .expect("a period");
        let room = resource(vec![Blackout {
            id: BlackoutId::generate(),
            period: overnight,
            reason: "works".into(),
        }]);
        // The 25th is the 25-hour day when summer time ends; its open hours are still 12.
        assert_eq!(
            open_minutes(&room, date(22), date(26)),
            vec![
                (date(22), 1440),
                (date(23), 1320),
                (date(24), 1320),
                (date(25), 1440),
                (date(26), 1440),
            ]
        );
        // A single day, as the daily stats ask, is the same as within a range.
        assert_eq!(
            open_minutes(&room, date(23), date(23)),
            vec![(date(23), 1320)]
        );
    }

    #[test]
    fn a_ratio_has_four_decimals_and_is_zero_without_a_whole() {
        assert_eq!(ratio(1, 3), 0.3333);
        assert_eq!(ratio(150, 4320), 0.0347);
        assert_eq!(ratio(5, 0), 0.0);
    }
}
