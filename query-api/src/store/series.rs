//! `read.series`: one series by id (primary key), as the `bookings` projection keeps it; its
//! occurrences are the bookings carrying its id ([`super::bookings::of_series`]).

use api::views::{OccurrenceView, SeriesView};
use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use domain::series::OnConflict;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

const COLUMNS: &str = "series_id, resource_id, customer_id, start_at, end_at, rrule, on_conflict, \
                       quantity, hold, service_id, metadata, booking_ids, skipped, version, \
                       created_at, updated_at";

/// A series as the read model holds it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SeriesRow {
    pub series_id: Uuid,
    pub resource_id: Uuid,
    pub customer_id: String,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub rrule: String,
    pub on_conflict: String,
    pub quantity: i32,
    pub hold: bool,
    pub service_id: Option<Uuid>,
    pub metadata: Value,
    pub booking_ids: Vec<Uuid>,
    pub skipped: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The series, if it exists in `tenant`.
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<SeriesRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from read.series where series_id = $1 and tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await?)
}

impl SeriesRow {
    /// The API's view of the row (the same as command-api answers with).
    pub fn view(self) -> Result<SeriesView, StoreError> {
        let corrupt = |detail: String| StoreError::corrupt("read.series", detail);
        let on_conflict = match self.on_conflict.as_str() {
            "fail" => OnConflict::Fail,
            "skip" => OnConflict::Skip,
            other => return Err(corrupt(format!("on_conflict {other:?}"))),
        };
        let metadata = match self.metadata {
            Value::Object(metadata) => metadata,
            other => return Err(corrupt(format!("metadata {other}"))),
        };
        let skipped: Vec<OccurrenceView> = serde_json::from_value(self.skipped)
            .map_err(|err| corrupt(format!("skipped: {err}")))?;
        Ok(SeriesView {
            id: self.series_id,
            resource_id: self.resource_id,
            customer_id: self.customer_id,
            start: self.start_at,
            end: self.end_at,
            rrule: self.rrule,
            on_conflict,
            quantity: u32::try_from(self.quantity)
                .map_err(|_| corrupt(format!("quantity {}", self.quantity)))?,
            hold: self.hold,
            service_id: self.service_id,
            metadata,
            booking_ids: self.booking_ids,
            skipped,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
