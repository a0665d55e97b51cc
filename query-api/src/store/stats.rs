//! `read.daily_stats`: per resource and local day, the counts (bookings, cancellations,
//! completed, no-shows) and booked unit-minutes.

use chrono::NaiveDate;
use domain::ids::{ResourceId, TenantId};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::StoreError;

/// One resource's day.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DayStats {
    #[sqlx(try_from = "Uuid")]
    pub resource_id: ResourceId,
    pub day: NaiveDate,
    pub bookings: i32,
    pub cancellations: i32,
    pub completed: i32,
    pub no_shows: i32,
    pub booked_minutes: i64,
}

/// What `GET /v1/stats/daily` asks for: local days `from..=to`.
#[derive(Clone, Debug)]
pub struct StatsFilter {
    pub tenant: TenantId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub resource_id: Option<ResourceId>,
}

/// The stats query: `daily_stats_tenant_day_idx` for a tenant's range (or the primary key
/// `(resource_id, day)` for one resource). `prefix` lets tests prepend `explain`.
pub fn query<'a>(prefix: &str, filter: &'a StatsFilter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}select resource_id, day, bookings, cancellations, completed, no_shows, booked_minutes \
         from read.daily_stats where tenant_id = "
    ));
    query.push_bind(filter.tenant.as_str());
    query.push(" and day >= ").push_bind(filter.from);
    query.push(" and day <= ").push_bind(filter.to);
    if let Some(resource_id) = filter.resource_id {
        query.push(" and resource_id = ").push_bind(resource_id.0);
    }
    query.push(" order by day, resource_id");
    query
}

/// At most `limit` rows of the stats query.
pub async fn days(
    pool: &PgPool,
    filter: &StatsFilter,
    limit: i64,
) -> Result<Vec<DayStats>, StoreError> {
    let mut query = query("", filter);
    query.push(" limit ").push_bind(limit);
    Ok(query.build_query_as().fetch_all(pool).await?)
}
