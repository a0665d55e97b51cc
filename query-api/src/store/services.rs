//! `read.services`: one row per service, decoded back into the domain's `Service` (so a
//! service's availability uses the rules the command side books with).

use chrono::{DateTime, Utc};
use domain::ids::{ServiceId, TenantId};
use domain::service::{Service, ServiceSpec};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

const COLUMNS: &str = "service_id, spec, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    service_id: Uuid,
    spec: Value,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Service {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, StoreError> {
        let spec: ServiceSpec = serde_json::from_value(row.spec)
            .map_err(|e| StoreError::corrupt("read.services", format!("spec: {e}")))?;
        Ok(Service {
            id: ServiceId(row.service_id),
            spec,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The service, if it exists in `tenant` (primary key).
pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: ServiceId,
) -> Result<Option<Service>, StoreError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from read.services where service_id = $1 and tenant_id = $2"
    ))
    .bind(id.0)
    .bind(tenant.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(Service::try_from).transpose()
}

/// Up to `limit` services of `tenant` after `after`, by id (`services_tenant_id_idx`).
pub async fn list(
    pool: &PgPool,
    tenant: &TenantId,
    after: Option<ServiceId>,
    limit: i64,
) -> Result<Vec<Service>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from read.services
         where tenant_id = $1 and ($2::uuid is null or service_id > $2)
         order by service_id limit $3"
    ))
    .bind(tenant.as_str())
    .bind(after.map(|id| id.0))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(Service::try_from).collect()
}
