//! `read.bookings`: one booking by id, and keyset-paginated lists by resource, customer, status
//! or the whole tenant, each ordered by `(start_at, booking_id)` straight from its index.

use chrono::{DateTime, Utc};
use domain::ids::{BookingId, ResourceId, TenantId};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::StoreError;

const COLUMNS: &str = "booking_id, resource_id, customer_id, status, start_at, end_at, quantity, \
                       expires_at, metadata, version, created_at, updated_at, service_id, \
                       price_amount_minor, price_currency, customer, series_id";

/// A booking as the read model holds it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BookingRow {
    #[sqlx(try_from = "Uuid")]
    pub booking_id: BookingId,
    #[sqlx(try_from = "Uuid")]
    pub resource_id: ResourceId,
    pub customer_id: String,
    pub status: String,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub quantity: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub service_id: Option<Uuid>,
    pub price_amount_minor: Option<i64>,
    pub price_currency: Option<String>,
    /// The personal data as its event sealed it (opened by `super::personal`), if any.
    pub customer: Option<Value>,
    pub series_id: Option<Uuid>,
}

/// The booking, if it exists in `tenant` (primary key).
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: BookingId,
) -> Result<Option<BookingRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from read.bookings where booking_id = $1 and tenant_id = $2"
    ))
    .bind(id.0)
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await?)
}

/// The occurrences of a series in `tenant`, by start (`bookings_series_start_idx`).
pub async fn of_series(
    pool: &PgPool,
    tenant: &TenantId,
    series_id: Uuid,
) -> Result<Vec<BookingRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from read.bookings
         where tenant_id = $1 and series_id = $2
         order by start_at, booking_id"
    ))
    .bind(tenant.as_str())
    .bind(series_id)
    .fetch_all(pool)
    .await?)
}

/// What `GET /v1/bookings` asks for (a client's `customer_id` is already forced to itself).
#[derive(Clone, Debug)]
pub struct BookingFilter {
    pub tenant: TenantId,
    pub resource_id: Option<ResourceId>,
    pub customer_id: Option<String>,
    pub status: Option<String>,
    /// Bookings starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Bookings starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Keyset: only bookings after this `(start_at, booking_id)`.
    pub after: Option<(DateTime<Utc>, BookingId)>,
    pub limit: i64,
}

impl BookingFilter {
    /// At most `limit` of the tenant's bookings, unfiltered.
    pub fn new(tenant: TenantId, limit: i64) -> Self {
        Self {
            tenant,
            resource_id: None,
            customer_id: None,
            status: None,
            from: None,
            to: None,
            after: None,
            limit,
        }
    }
}

/// The list query. With the tenant and the most selective equality filter leading, one of
/// `bookings_resource_start_idx`, `bookings_customer_start_idx`, `bookings_status_start_idx` or
/// `bookings_tenant_start_idx` yields the rows already in `(start_at, booking_id)` order; the
/// keyset condition is a row comparison the index can start from. `prefix` lets tests prepend
/// `explain`.
pub fn list_query<'a>(prefix: &str, filter: &'a BookingFilter) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{prefix}select {COLUMNS} from read.bookings where tenant_id = "
    ));
    query.push_bind(filter.tenant.as_str());
    if let Some(resource_id) = filter.resource_id {
        query.push(" and resource_id = ").push_bind(resource_id.0);
    }
    if let Some(customer_id) = &filter.customer_id {
        query.push(" and customer_id = ").push_bind(customer_id);
    }
    if let Some(status) = &filter.status {
        query.push(" and status = ").push_bind(status);
    }
    if let Some(from) = filter.from {
        query.push(" and start_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and start_at < ").push_bind(to);
    }
    if let Some((start, id)) = filter.after {
        query
            .push(" and (start_at, booking_id) > (")
            .push_bind(start)
            .push(", ")
            .push_bind(id.0)
            .push(")");
    }
    query
        .push(" order by start_at, booking_id limit ")
        .push_bind(filter.limit);
    query
}

/// One page of bookings.
pub async fn list(pool: &PgPool, filter: &BookingFilter) -> Result<Vec<BookingRow>, StoreError> {
    Ok(list_query("", filter)
        .build_query_as()
        .fetch_all(pool)
        .await?)
}
