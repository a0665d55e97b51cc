//! `read.series`, kept by the `bookings` projection: each recurring series as it was asked for,
//! with the occurrences it booked and skipped, as query-api serves it next to its occurrences
//! (the bookings whose `series_id` it is).

use chrono::{DateTime, Utc};
use domain::{Event, StreamType};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Applied;
use super::copy::Copy;
use super::rows::{Rows, TableRow, column, keys};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct SeriesRow {
    pub tenant_id: String,
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

/// The series' rows.
pub type State = Rows<SeriesRow>;

impl TableRow for SeriesRow {
    const TABLE: &'static str = "series";
    const KEY: &'static str = "series_id";
    const COLUMNS: &'static str = "series_id, tenant_id, resource_id, customer_id, start_at, \
                                   end_at, rrule, on_conflict, quantity, hold, service_id, \
                                   metadata, booking_ids, skipped, version, created_at, updated_at";
    const STREAM: StreamType = StreamType::Series;
    const WHAT: &'static str = "series";

    fn encode(copy: &mut Copy<'_>, id: &Uuid, row: &Self) -> Result<(), sqlx::Error> {
        copy.row()?;
        copy.value(id)?;
        copy.value(&row.tenant_id)?;
        copy.value(row.resource_id)?;
        copy.value(&row.customer_id)?;
        copy.value(row.start_at)?;
        copy.value(row.end_at)?;
        copy.value(&row.rrule)?;
        copy.value(&row.on_conflict)?;
        copy.value(row.quantity)?;
        copy.value(row.hold)?;
        copy.value(row.service_id)?;
        copy.jsonb(Some(&row.metadata))?;
        copy.value(&row.booking_ids)?;
        copy.jsonb(Some(&row.skipped))?;
        copy.value(row.version)?;
        copy.value(row.created_at)?;
        copy.value(row.updated_at)
    }

    async fn upsert(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(Uuid, &Self)],
    ) -> Result<(), sqlx::Error> {
        // `unnest` cannot take an array of arrays of uneven length: the occurrence ids go as
        // text (`{a,b}`) and are cast back per row.
        let booking_ids: Vec<String> = column(rows, |r| {
            let ids: Vec<String> = r.booking_ids.iter().map(Uuid::to_string).collect();
            format!("{{{}}}", ids.join(","))
        });
        let sql = format!(
            "insert into {schema}.series ({})
             select x.id, x.tenant, x.resource, x.customer, x.start_at, x.end_at, x.rrule,
                    x.on_conflict, x.quantity, x.hold, x.service_id, x.metadata,
                    x.booking_ids::uuid[], x.skipped, x.version, x.created_at, x.updated_at
             from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[],
                         $6::timestamptz[], $7::text[], $8::text[], $9::int[], $10::bool[],
                         $11::uuid[], $12::jsonb[], $13::text[], $14::jsonb[], $15::bigint[],
                         $16::timestamptz[], $17::timestamptz[])
                  as x(id, tenant, resource, customer, start_at, end_at, rrule, on_conflict,
                       quantity, hold, service_id, metadata, booking_ids, skipped, version,
                       created_at, updated_at)
             on conflict (series_id) do update set
                 version = excluded.version, updated_at = excluded.updated_at",
            Self::COLUMNS
        );
        sqlx::query(&sql)
            .bind(keys(rows))
            .bind(column(rows, |r| r.tenant_id.as_str()))
            .bind(column(rows, |r| r.resource_id))
            .bind(column(rows, |r| r.customer_id.as_str()))
            .bind(column(rows, |r| r.start_at))
            .bind(column(rows, |r| r.end_at))
            .bind(column(rows, |r| r.rrule.as_str()))
            .bind(column(rows, |r| r.on_conflict.as_str()))
            .bind(column(rows, |r| r.quantity))
            .bind(column(rows, |r| r.hold))
            .bind(column(rows, |r| r.service_id))
            .bind(column(rows, |r| r.metadata.clone()))
            .bind(&booking_ids)
            .bind(column(rows, |r| r.skipped.clone()))
            .bind(column(rows, |r| r.version))
            .bind(column(rows, |r| r.created_at))
            .bind(column(rows, |r| r.updated_at))
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl Rows<SeriesRow> {
    pub fn apply(&mut self, applied: &Applied) {
        let id = applied.stream_id;
        match &applied.event {
            Event::SeriesCreated(created) => {
                let spec = &created.spec;
                self.put(
                    id,
                    SeriesRow {
                        tenant_id: applied.tenant.clone(),
                        resource_id: spec.resource_id.0,
                        customer_id: spec.customer_id.0.clone(),
                        start_at: spec.period.start(),
                        end_at: spec.period.end(),
                        rrule: spec.rrule.to_string(),
                        on_conflict: spec.on_conflict.as_str().to_owned(),
                        quantity: i32::try_from(spec.quantity).unwrap_or(i32::MAX),
                        hold: spec.hold,
                        service_id: spec.service_id.map(|id| id.0),
                        metadata: Value::Object(spec.metadata.clone()),
                        booking_ids: created.booking_ids.iter().map(|id| id.0).collect(),
                        skipped: serde_json::to_value(&created.skipped)
                            .unwrap_or(Value::Array(Vec::new())),
                        version: applied.version,
                        created_at: applied.at,
                        updated_at: applied.at,
                    },
                );
            }
            // The occurrences' own `BookingCancelled` events change them; the series records
            // that it changed.
            Event::SeriesCancelled(_) => {
                if let Some(row) = self.get_mut(&id) {
                    row.version = applied.version;
                    row.updated_at = applied.at;
                    self.changed(id);
                }
            }
            _ => {}
        }
    }
}
