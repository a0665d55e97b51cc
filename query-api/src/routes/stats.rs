//! `GET /v1/stats/daily?from=&to=&resource_id=`: per resource and local day, bookings,
//! cancellations, booked unit-minutes and utilization (admins and viewers).
//!
//! `from` and `to` are local dates, both inclusive; by default the 30 days up to today (UTC).
//! Utilization divides the booked unit-minutes by the day's open unit-minutes: the resource's
//! current opening hours minus its blackouts that local day (23 or 25 hours on DST days), times
//! its capacity; it is 0 on a closed day.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use domain::resource::Resource;
use platform::Problem;
use platform::auth::{Actor, Role};
use readmodel::cache::day_span;
use readmodel::projections::Projection;

use super::AppState;
use crate::availability::window_too_large;
use crate::error::resource_not_found;
use crate::params::{self, QueryParams};
use crate::store::resources;
use crate::store::stats::{self as store, StatsFilter};
use crate::views::{DayStatsView, Items};

/// The most days one request may span.
pub const MAX_DAYS: i64 = 366;
/// The days covered when `from` is absent.
const DEFAULT_DAYS: i64 = 30;

#[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
pub async fn daily(
    State(state): State<AppState>,
    actor: Actor,
    mut query: QueryParams,
) -> Result<Response, Problem> {
    actor.require_any(&[Role::Admin, Role::Viewer])?;
    let from = query.parse("from", params::date)?;
    let to = query.parse("to", params::date)?;
    let resource_id = query.parse("resource_id", params::uuid)?;
    let min_position = query.parse("min_position", params::position)?;
    query.finish()?;
    let to = to.unwrap_or_else(|| Utc::now().date_naive());
    let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if to < from {
        return Err(Problem::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_period",
            "The period is empty",
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
    let days = store::days(&state.pool, &filter).await?;
    let mut ids: Vec<_> = days.iter().map(|d| d.resource_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let found = resources::get_many(&state.pool, &actor.tenant, &ids).await?;
    let items = days
        .into_iter()
        .map(|d| {
            let utilization = found
                .iter()
                .find(|r| r.id.0 == d.resource_id)
                .map_or(0.0, |resource| {
                    utilization(resource, d.day, d.booked_minutes)
                });
            DayStatsView {
                resource_id: d.resource_id,
                day: d.day,
                bookings: d.bookings,
                cancellations: d.cancellations,
                booked_minutes: d.booked_minutes,
                utilization,
            }
        })
        .collect();
    Ok(Json(Items { items }).into_response())
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
