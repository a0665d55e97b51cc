//! `read.services`, kept by the `resources` projection: each service with its description
//! (`spec`, the domain's `ServiceSpec` as JSON), as query-api serves it.

use chrono::{DateTime, Utc};
use domain::{Event, StreamType};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Applied;
use super::copy::Copy;
use super::rows::{Rows, TableRow, column, keys};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ServiceRow {
    pub tenant_id: String,
    pub name: String,
    pub spec: Value,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The services' rows.
pub type State = Rows<ServiceRow>;

impl TableRow for ServiceRow {
    const TABLE: &'static str = "services";
    const KEY: &'static str = "service_id";
    const COLUMNS: &'static str =
        "service_id, tenant_id, name, spec, archived, version, created_at, updated_at";
    const STREAM: StreamType = StreamType::Service;
    const WHAT: &'static str = "service";

    fn encode(copy: &mut Copy<'_>, id: &Uuid, row: &Self) -> Result<(), sqlx::Error> {
        copy.row()?;
        copy.value(id)?;
        copy.value(&row.tenant_id)?;
        copy.value(&row.name)?;
        copy.jsonb(Some(&row.spec))?;
        copy.value(row.archived)?;
        copy.value(row.version)?;
        copy.value(row.created_at)?;
        copy.value(row.updated_at)
    }

    async fn upsert(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(Uuid, &Self)],
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "insert into {schema}.services ({})
             select * from unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[],
                                  $5::bool[], $6::bigint[], $7::timestamptz[],
                                  $8::timestamptz[])
             on conflict (service_id) do update set
                 name = excluded.name, spec = excluded.spec, archived = excluded.archived,
                 version = excluded.version, updated_at = excluded.updated_at",
            Self::COLUMNS
        );
        sqlx::query(&sql)
            .bind(keys(rows))
            .bind(column(rows, |r| r.tenant_id.as_str()))
            .bind(column(rows, |r| r.name.as_str()))
            .bind(column(rows, |r| r.spec.clone()))
            .bind(column(rows, |r| r.archived))
            .bind(column(rows, |r| r.version))
            .bind(column(rows, |r| r.created_at))
            .bind(column(rows, |r| r.updated_at))
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl Rows<ServiceRow> {
    pub fn apply(&mut self, applied: &Applied) {
        let id = applied.stream_id;
        let spec = match &applied.event {
            Event::ServiceCreated(created) => &created.spec,
            Event::ServiceUpdated(updated) => &updated.spec,
            _ => return,
        };
        let created_at = match (&applied.event, self.get(&id)) {
            (Event::ServiceCreated(_), _) => applied.at,
            (_, Some(row)) => row.created_at,
            (_, None) => return,
        };
        self.put(
            id,
            ServiceRow {
                tenant_id: applied.tenant.clone(),
                name: spec.name.clone(),
                spec: serde_json::to_value(spec).unwrap_or(Value::Null),
                archived: spec.archived,
                version: applied.version,
                created_at,
                updated_at: applied.at,
            },
        );
    }
}
