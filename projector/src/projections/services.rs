//! `read.services`, kept by the `resources` projection: each service with its description
//! (`spec`, the domain's `ServiceSpec` as JSON), as query-api serves it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use domain::Event;
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::Copy;
use super::{Applied, CHUNK, Write, diff_maps};

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRow {
    pub tenant_id: String,
    pub name: String,
    pub spec: Value,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct State {
    rows: BTreeMap<Uuid, ServiceRow>,
    dirty: BTreeSet<Uuid>,
}

const COLUMNS: &str =
    "service_id, tenant_id, name, spec, archived, version, created_at, updated_at";

impl State {
    async fn select(
        conn: &mut PgConnection,
        sql: &str,
        ids: Option<&[Uuid]>,
    ) -> Result<State, sqlx::Error> {
        let mut query = sqlx::query(sql);
        if let Some(ids) = ids {
            query = query.bind(ids);
        }
        let mut rows = BTreeMap::new();
        for row in query.fetch_all(conn).await? {
            rows.insert(
                row.try_get("service_id")?,
                ServiceRow {
                    tenant_id: row.try_get("tenant_id")?,
                    name: row.try_get("name")?,
                    spec: row.try_get("spec")?,
                    archived: row.try_get("archived")?,
                    version: row.try_get("version")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                },
            );
        }
        Ok(State {
            rows,
            dirty: BTreeSet::new(),
        })
    }

    pub async fn load(
        conn: &mut PgConnection,
        schema: &str,
        events: &[Applied],
    ) -> Result<State, sqlx::Error> {
        let ids: Vec<Uuid> = events
            .iter()
            .filter(|e| e.event.stream_type() == domain::StreamType::Service)
            .map(|e| e.stream_id)
            .collect();
        if ids.is_empty() {
            return Ok(State::default());
        }
        let sql = format!("select {COLUMNS} from {schema}.services where service_id = any($1)");
        Self::select(conn, &sql, Some(&ids)).await
    }

    pub async fn load_all(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        let sql = format!("select {COLUMNS} from {schema}.services");
        Self::select(conn, &sql, None).await
    }

    pub fn apply(&mut self, applied: &Applied) {
        let id = applied.stream_id;
        let spec = match &applied.event {
            Event::ServiceCreated(created) => &created.spec,
            Event::ServiceUpdated(updated) => &updated.spec,
            _ => return,
        };
        let created_at = match (&applied.event, self.rows.get(&id)) {
            (Event::ServiceCreated(_), _) => applied.at,
            (_, Some(row)) => row.created_at,
            (_, None) => return,
        };
        self.rows.insert(
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
        self.dirty.insert(id);
    }

    pub async fn write(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        mode: Write,
    ) -> Result<(), sqlx::Error> {
        if mode == Write::Fresh {
            return self.copy_table(conn, schema).await;
        }
        let all: Vec<(&Uuid, &ServiceRow)> = self
            .dirty
            .iter()
            .filter_map(|id| self.rows.get_key_value(id))
            .collect();
        for rows in all.chunks(CHUNK) {
            let sql = format!(
                "insert into {schema}.services ({COLUMNS})
                 select * from unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[],
                                      $5::bool[], $6::bigint[], $7::timestamptz[],
                                      $8::timestamptz[])
                 on conflict (service_id) do update set
                     name = excluded.name, spec = excluded.spec, archived = excluded.archived,
                     version = excluded.version, updated_at = excluded.updated_at"
            );
            sqlx::query(&sql)
                .bind(rows.iter().map(|(id, _)| **id).collect::<Vec<_>>())
                .bind(
                    rows.iter()
                        .map(|(_, r)| r.tenant_id.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(rows.iter().map(|(_, r)| r.name.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|(_, r)| r.spec.clone()).collect::<Vec<_>>())
                .bind(rows.iter().map(|(_, r)| r.archived).collect::<Vec<_>>())
                .bind(rows.iter().map(|(_, r)| r.version).collect::<Vec<_>>())
                .bind(rows.iter().map(|(_, r)| r.created_at).collect::<Vec<_>>())
                .bind(rows.iter().map(|(_, r)| r.updated_at).collect::<Vec<_>>())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Copies the changed rows into an empty `services` table.
    pub async fn copy_table(
        &self,
        conn: &mut PgConnection,
        schema: &str,
    ) -> Result<(), sqlx::Error> {
        let rows = self
            .dirty
            .iter()
            .filter_map(|id| self.rows.get_key_value(id));
        let mut copy = Copy::start(conn, &format!("{schema}.services"), COLUMNS).await?;
        for (id, row) in rows {
            copy.row()?;
            copy.value(*id)?;
            copy.value(&row.tenant_id)?;
            copy.value(&row.name)?;
            copy.jsonb(Some(&row.spec))?;
            copy.value(row.archived)?;
            copy.value(row.version)?;
            copy.value(row.created_at)?;
            copy.value(row.updated_at)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    pub fn differences(&self, live: &State) -> Vec<String> {
        diff_maps("service", &self.rows, &live.rows)
    }
}
