//! `read.bookings`: one booking by id, and keyset-paginated lists by resource, customer, status
//! or the whole tenant, each ordered by `(start_at, booking_id)` straight from its index.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::StoreError;

const COLUMNS: &str = "booking_id, resource_id, customer_id, status, start_at, end_at, quantity, \
                       expires_at, metadata, version, created_at, updated_at";

/// A booking as the read model holds it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BookingRow {
    pub booking_id: Uuid,
    pub resource_id: Uuid,
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
}

/// The booking, if it exists in `tenant` (primary key).
pub async fn get(pool: &PgPool, tenant: &str, id: Uuid) -> Result<Option<BookingRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from read.bookings where booking_id = $1 and tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant)
    .fetch_optional(pool)
    .await?)
}

/// What `GET /v1/bookings` asks for (a client's `customer_id` is already forced to itself).
#[derive(Clone, Debug, Default)]
pub struct BookingFilter {
    pub tenant: String,
    pub resource_id: Option<Uuid>,
    pub customer_id: Option<String>,
    pub status: Option<String>,
    /// Bookings starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Bookings starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Keyset: only bookings after this `(start_at, booking_id)`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
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
    query.push_bind(&filter.tenant);
    if let Some(resource_id) = filter.resource_id {
        query.push(" and resource_id = ").push_bind(resource_id);
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
            .push_bind(id)
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
