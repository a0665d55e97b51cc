//! Projection `resources` → `read.resources`: each resource with its hours, policy and
//! blackouts, as query-api serves it; and `read.services` (see [`super::services`]).

use chrono::{DateTime, Utc};
use domain::resource::{Blackout, ResourceSpec};
use domain::{Event, StreamType};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::copy::Copy;
use super::rows::{Rows, TableRow, column, keys};
use super::{Applied, Touched, services};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ResourceRow {
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    pub capacity: i32,
    pub time_zone: String,
    pub opening_hours: Option<Value>,
    pub policy: Value,
    pub blackouts: Value,
    pub attributes: Value,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct State {
    rows: Rows<ResourceRow>,
    services: services::State,
}

impl TableRow for ResourceRow {
    const TABLE: &'static str = "resources";
    const KEY: &'static str = "resource_id";
    const COLUMNS: &'static str = "resource_id, tenant_id, name, kind, capacity, time_zone, \
                                   opening_hours, policy, blackouts, attributes, archived, \
                                   version, created_at, updated_at";
    const STREAM: StreamType = StreamType::Resource;
    const WHAT: &'static str = "resource";

    fn encode(copy: &mut Copy<'_>, id: &Uuid, row: &Self) -> Result<(), sqlx::Error> {
        copy.row()?;
        copy.value(id)?;
        copy.value(&row.tenant_id)?;
        copy.value(&row.name)?;
        copy.value(&row.kind)?;
        copy.value(row.capacity)?;
        copy.value(&row.time_zone)?;
        copy.jsonb(row.opening_hours.as_ref())?;
        copy.jsonb(Some(&row.policy))?;
        copy.jsonb(Some(&row.blackouts))?;
        copy.jsonb(Some(&row.attributes))?;
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
            "insert into {schema}.resources ({})
             select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[],
                                  $6::text[], $7::jsonb[], $8::jsonb[], $9::jsonb[], $10::jsonb[],
                                  $11::bool[], $12::bigint[], $13::timestamptz[],
                                  $14::timestamptz[])
             on conflict (resource_id) do update set
                 name = excluded.name, kind = excluded.kind, capacity = excluded.capacity,
                 time_zone = excluded.time_zone, opening_hours = excluded.opening_hours,
                 policy = excluded.policy, blackouts = excluded.blackouts,
                 attributes = excluded.attributes, archived = excluded.archived,
                 version = excluded.version, updated_at = excluded.updated_at",
            Self::COLUMNS
        );
        sqlx::query(&sql)
            .bind(keys(rows))
            .bind(column(rows, |r| r.tenant_id.as_str()))
            .bind(column(rows, |r| r.name.as_str()))
            .bind(column(rows, |r| r.kind.as_str()))
            .bind(column(rows, |r| r.capacity))
            .bind(column(rows, |r| r.time_zone.as_str()))
            .bind(column(rows, |r| r.opening_hours.clone()))
            .bind(column(rows, |r| r.policy.clone()))
            .bind(column(rows, |r| r.blackouts.clone()))
            .bind(column(rows, |r| r.attributes.clone()))
            .bind(column(rows, |r| r.archived))
            .bind(column(rows, |r| r.version))
            .bind(column(rows, |r| r.created_at))
            .bind(column(rows, |r| r.updated_at))
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl State {
    pub async fn load(
        conn: &mut PgConnection,
        schema: &str,
        events: &[Applied],
    ) -> Result<State, sqlx::Error> {
        Ok(State {
            rows: Rows::load(conn, schema, events).await?,
            services: services::State::load(conn, schema, events).await?,
        })
    }

    pub async fn load_all(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        Ok(State {
            rows: Rows::load_all(conn, schema).await?,
            services: services::State::load_all(conn, schema).await?,
        })
    }

    fn spec_into(row: &mut ResourceRow, spec: &ResourceSpec) {
        row.name = spec.name.clone();
        row.kind = spec.kind.clone();
        row.capacity = i32::try_from(spec.capacity).unwrap_or(i32::MAX);
        row.time_zone = spec.time_zone.name().to_owned();
        row.opening_hours = spec
            .opening_hours
            .as_ref()
            .and_then(|hours| serde_json::to_value(hours).ok());
        row.policy = serde_json::to_value(spec.policy).unwrap_or(Value::Null);
        row.attributes = Value::Object(spec.attributes.as_map().clone());
        row.archived = spec.archived;
    }

    pub fn apply(&mut self, applied: &Applied, touched: &mut Touched) {
        // No cache holds services: query-api reads them from `read.services` every time.
        self.services.apply(applied);
        let id = applied.stream_id;
        match &applied.event {
            Event::ResourceCreated(created) => {
                let mut row = ResourceRow {
                    tenant_id: applied.tenant.clone(),
                    name: String::new(),
                    kind: String::new(),
                    capacity: 0,
                    time_zone: String::new(),
                    opening_hours: None,
                    policy: Value::Null,
                    blackouts: Value::Array(Vec::new()),
                    attributes: Value::Object(serde_json::Map::new()),
                    archived: false,
                    version: applied.version,
                    created_at: applied.at,
                    updated_at: applied.at,
                };
                Self::spec_into(&mut row, &created.spec);
                self.rows.put(id, row);
            }
            Event::ResourceUpdated(updated) => {
                let Some(row) = self.rows.get_mut(&id) else {
                    return;
                };
                Self::spec_into(row, &updated.spec);
            }
            Event::BlackoutAdded(added) => {
                let Some(row) = self.rows.get_mut(&id) else {
                    return;
                };
                let blackout = Blackout {
                    id: added.blackout_id,
                    period: added.period,
                    reason: added.reason.clone(),
                };
                if let (Value::Array(list), Ok(value)) =
                    (&mut row.blackouts, serde_json::to_value(blackout))
                {
                    list.push(value);
                }
            }
            Event::BlackoutRemoved(removed) => {
                let Some(row) = self.rows.get_mut(&id) else {
                    return;
                };
                let gone = removed.blackout_id.to_string();
                if let Value::Array(list) = &mut row.blackouts {
                    list.retain(|b| b["id"].as_str() != Some(gone.as_str()));
                }
            }
            _ => return,
        }
        if let Some(row) = self.rows.get_mut(&id) {
            row.version = applied.version;
            row.updated_at = applied.at;
            self.rows.changed(id);
            touched.resource(&applied.tenant, id);
        }
    }

    /// Inserts or updates the changed services and resources in `schema`.
    pub async fn upsert(&self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        self.services.upsert(&mut *conn, schema).await?;
        self.rows.upsert(conn, schema).await
    }

    /// Copies the changed rows of `table` (`resources` or `services`) into an empty one.
    pub async fn copy_table(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        table: &str,
    ) -> Result<(), sqlx::Error> {
        match table {
            "resources" => self.rows.copy_changed(conn, schema).await,
            "services" => self.services.copy_changed(conn, schema).await,
            _ => Err(sqlx::Error::Protocol(format!(
                "the resources projection has no table {table}"
            ))),
        }
    }

    pub fn differences(&self, live: &State) -> Vec<String> {
        let mut out = self.rows.differences(&live.rows);
        out.extend(self.services.differences(&live.services));
        out
    }
}
