//! Projection `resources` → `read.resources`: each resource with its hours, policy and
//! blackouts, as query-api serves it; and `read.services` (see [`super::services`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use domain::Event;
use domain::resource::{Blackout, ResourceSpec};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::Copy;
use super::{Applied, CHUNK, Touched, Write, diff_maps, services};

#[derive(Clone, Debug, PartialEq)]
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
    rows: BTreeMap<Uuid, ResourceRow>,
    dirty: BTreeSet<Uuid>,
    services: services::State,
}

const COLUMNS: &str = "resource_id, tenant_id, name, kind, capacity, time_zone, opening_hours, \
                       policy, blackouts, attributes, archived, version, created_at, updated_at";

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
                row.try_get("resource_id")?,
                ResourceRow {
                    tenant_id: row.try_get("tenant_id")?,
                    name: row.try_get("name")?,
                    kind: row.try_get("kind")?,
                    capacity: row.try_get("capacity")?,
                    time_zone: row.try_get("time_zone")?,
                    opening_hours: row.try_get("opening_hours")?,
                    policy: row.try_get("policy")?,
                    blackouts: row.try_get("blackouts")?,
                    attributes: row.try_get("attributes")?,
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
            services: services::State::default(),
        })
    }

    pub async fn load(
        conn: &mut PgConnection,
        schema: &str,
        events: &[Applied],
    ) -> Result<State, sqlx::Error> {
        let ids: Vec<Uuid> = events
            .iter()
            .filter(|e| e.event.stream_type() == domain::StreamType::Resource)
            .map(|e| e.stream_id)
            .collect();
        let mut state = if ids.is_empty() {
            State::default()
        } else {
            let sql =
                format!("select {COLUMNS} from {schema}.resources where resource_id = any($1)");
            Self::select(conn, &sql, Some(&ids)).await?
        };
        state.services = services::State::load(conn, schema, events).await?;
        Ok(state)
    }

    pub async fn load_all(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        let mut state = Self::select(
            conn,
            &format!("select {COLUMNS} from {schema}.resources"),
            None,
        )
        .await?;
        state.services = services::State::load_all(conn, schema).await?;
        Ok(state)
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
                self.rows.insert(id, row);
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
            self.dirty.insert(id);
            touched.resource(&applied.tenant, id);
        }
    }

    pub async fn write(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        mode: Write,
    ) -> Result<(), sqlx::Error> {
        if mode == Write::Fresh {
            self.services.copy_table(conn, schema).await?;
            return self.copy_table(conn, schema, "resources").await;
        }
        self.services.write(conn, schema, mode).await?;
        let all: Vec<(&Uuid, &ResourceRow)> = self
            .dirty
            .iter()
            .filter_map(|id| self.rows.get_key_value(id))
            .collect();
        for rows in all.chunks(CHUNK) {
            Self::upsert_rows(conn, schema, rows).await?;
        }
        Ok(())
    }

    /// Copies the changed rows into an empty `resources` table.
    pub async fn copy_table(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        table: &str,
    ) -> Result<(), sqlx::Error> {
        match table {
            "resources" => {}
            "services" => return self.services.copy_table(conn, schema).await,
            _ => {
                return Err(sqlx::Error::Protocol(format!(
                    "the resources projection has no table {table}"
                )));
            }
        }
        let rows = self
            .dirty
            .iter()
            .filter_map(|id| self.rows.get_key_value(id));
        let mut copy = Copy::start(conn, &format!("{schema}.resources"), COLUMNS).await?;
        for (id, row) in rows {
            copy.row()?;
            copy.value(*id)?;
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
            copy.value(row.updated_at)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    async fn upsert_rows(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(&Uuid, &ResourceRow)],
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "insert into {schema}.resources ({COLUMNS})
             select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[],
                                  $6::text[], $7::jsonb[], $8::jsonb[], $9::jsonb[], $10::jsonb[],
                                  $11::bool[], $12::bigint[], $13::timestamptz[],
                                  $14::timestamptz[])
             on conflict (resource_id) do update set
                 name = excluded.name, kind = excluded.kind, capacity = excluded.capacity,
                 time_zone = excluded.time_zone, opening_hours = excluded.opening_hours,
                 policy = excluded.policy, blackouts = excluded.blackouts,
                 attributes = excluded.attributes, archived = excluded.archived,
                 version = excluded.version, updated_at = excluded.updated_at"
        );
        sqlx::query(&sql)
            .bind(rows.iter().map(|(id, _)| **id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|(_, r)| r.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, r)| r.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, r)| r.kind.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|(_, r)| r.capacity).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|(_, r)| r.time_zone.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, r)| r.opening_hours.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, r)| r.policy.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, r)| r.blackouts.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, r)| r.attributes.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|(_, r)| r.archived).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, r)| r.version).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, r)| r.created_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, r)| r.updated_at).collect::<Vec<_>>())
            .execute(conn)
            .await?;
        Ok(())
    }

    pub fn differences(&self, live: &State) -> Vec<String> {
        let mut out = diff_maps("resource", &self.rows, &live.rows);
        out.extend(self.services.differences(&live.services));
        out
    }
}
