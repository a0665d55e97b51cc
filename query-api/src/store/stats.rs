//! `read.daily_stats`: per resource, local day, service and currency, the counts (bookings,
//! cancellations, checked in, completed, no-shows), the booked unit-minutes and the revenue.
//!
//! A row whose figures are all zero means nothing (the projection leaves one where a booking's
//! contribution was taken out again): every query here skips it.

use chrono::NaiveDate;
use domain::ids::{ResourceId, TenantId};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::StoreError;

/// The figures of a group of rows, summed (one currency's revenue).
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Figures {
    pub bookings: i64,
    pub cancellations: i64,
    pub checked_in: i64,
    pub completed: i64,
    pub no_shows: i64,
    pub booked_minutes: i64,
    pub booked_minor: i64,
    pub realized_minor: i64,
}

impl Figures {
    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &Figures) {
        self.bookings += other.bookings;
        self.cancellations += other.cancellations;
        self.checked_in += other.checked_in;
        self.completed += other.completed;
        self.no_shows += other.no_shows;
        self.booked_minutes += other.booked_minutes;
        self.booked_minor += other.booked_minor;
        self.realized_minor += other.realized_minor;
    }
}

/// The sums every query selects, named as [`Figures`]' fields.
const SUMS: &str = "sum(bookings)::bigint as bookings, sum(cancellations)::bigint as cancellations, \
     sum(checked_in)::bigint as checked_in, sum(completed)::bigint as completed, \
     sum(no_shows)::bigint as no_shows, sum(booked_minutes)::bigint as booked_minutes, \
     sum(booked_minor)::bigint as booked_minor, sum(realized_minor)::bigint as realized_minor";

/// Groups whose figures are not all zero.
const MEANINGFUL: &str = " having sum(bookings) <> 0 or sum(cancellations) <> 0 \
     or sum(checked_in) <> 0 or sum(completed) <> 0 or sum(no_shows) <> 0 \
     or sum(booked_minutes) <> 0 or sum(booked_minor) <> 0 or sum(realized_minor) <> 0";

/// One resource's day in one currency (`None`: its unpriced bookings).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DayStats {
    #[sqlx(try_from = "Uuid")]
    pub resource_id: ResourceId,
    pub day: NaiveDate,
    pub currency: Option<String>,
    #[sqlx(flatten)]
    pub figures: Figures,
}

/// What `GET /v1/stats/daily` asks for: local days `from..=to`.
#[derive(Clone, Debug)]
pub struct StatsFilter {
    pub tenant: TenantId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub resource_id: Option<ResourceId>,
}

impl StatsFilter {
    fn push_where<'a>(&'a self, query: &mut QueryBuilder<'a, Postgres>) {
        query
            .push(" where tenant_id = ")
            .push_bind(self.tenant.as_str());
        query.push(" and day >= ").push_bind(self.from);
        query.push(" and day <= ").push_bind(self.to);
        if let Some(resource_id) = self.resource_id {
            query.push(" and resource_id = ").push_bind(resource_id.0);
        }
    }
}

/// The stats query: `daily_stats_tenant_day_idx` for a tenant's range (or `daily_stats_key`,
/// led by `resource_id`, for one resource). `prefix` lets tests prepend `explain`.
pub fn query<'a>(prefix: &str, filter: &'a StatsFilter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}select resource_id, day, currency, {SUMS} from read.daily_stats"
    ));
    filter.push_where(&mut query);
    query.push(" group by day, resource_id, currency");
    query.push(MEANINGFUL);
    query.push(" order by day, resource_id, currency nulls first");
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

/// What `GET /v1/stats/summary` sums its figures by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Resource,
    Service,
    Kind,
    Day,
}

impl GroupBy {
    pub const ALL: [GroupBy; 4] = [
        GroupBy::Resource,
        GroupBy::Service,
        GroupBy::Kind,
        GroupBy::Day,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Resource => "resource",
            GroupBy::Service => "service",
            GroupBy::Kind => "kind",
            GroupBy::Day => "day",
        }
    }

    pub fn parse(name: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == name)
    }

    /// The group of a row, as text (null: bookings made without a service).
    fn expression(self) -> &'static str {
        match self {
            GroupBy::Resource => "s.resource_id::text",
            GroupBy::Service => "s.service_id::text",
            GroupBy::Kind => "r.kind",
            GroupBy::Day => "to_char(s.day, 'YYYY-MM-DD')",
        }
    }
}

/// One group's figures in one currency.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GroupStats {
    pub group: Option<String>,
    pub currency: Option<String>,
    #[sqlx(flatten)]
    pub figures: Figures,
}

/// The summary query: a tenant's days `from..=to` (`daily_stats_tenant_day_idx`) summed per
/// group and currency; by kind through each row's resource (primary key). `prefix` lets tests
/// prepend `explain`.
pub fn summary_query<'a>(
    prefix: &str,
    filter: &'a StatsFilter,
    group_by: GroupBy,
) -> QueryBuilder<'a, Postgres> {
    let group = group_by.expression();
    let mut query = QueryBuilder::new(format!(
        "{prefix}select {group} as \"group\", s.currency, {SUMS} from read.daily_stats s"
    ));
    if group_by == GroupBy::Kind {
        query.push(" join read.resources r using (resource_id)");
    }
    query
        .push(" where s.tenant_id = ")
        .push_bind(filter.tenant.as_str());
    query.push(" and s.day >= ").push_bind(filter.from);
    query.push(" and s.day <= ").push_bind(filter.to);
    query.push(" group by 1, 2");
    query.push(MEANINGFUL);
    query.push(" order by 1 nulls first, 2 nulls first");
    query
}

/// The summary's rows: at most `limit` of them.
pub async fn summary(
    pool: &PgPool,
    filter: &StatsFilter,
    group_by: GroupBy,
    limit: i64,
) -> Result<Vec<GroupStats>, StoreError> {
    let mut query = summary_query("", filter, group_by);
    query.push(" limit ").push_bind(limit);
    Ok(query.build_query_as().fetch_all(pool).await?)
}
