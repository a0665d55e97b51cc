//! Projection `bookings` → `read.bookings` and `read.busy` (the blocked period of each live
//! booking, per unit, which availability is computed from), and `read.series` (see
//! [`super::series`]: the series whose occurrences these bookings are).
//!
//! A booking's personal data is copied as its event sealed it (`customer`), never opened: the
//! projector holds no keys, an erasure (`CustomerErased`, which this projection has nothing to
//! do for) makes the copy unreadable where it lies, and a replay writes the very same value.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::event::BookingStatus;
use domain::lifecycle::{self, Allocation};
use domain::{Event, Period, StreamType};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::postgres::types::PgRange;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

use super::copy::Copy;
use super::rows::{Rows, TableRow, column, keys};
use super::{Applied, ApplyError, Touched, diff_maps, series};

#[derive(Clone, Debug, PartialEq)]
pub struct BookingRow {
    pub tenant_id: String,
    pub resource_id: Uuid,
    pub customer_id: String,
    /// The sealed personal data (`domain::personal::Sealed` as JSON), if any.
    pub customer: Option<Value>,
    pub status: BookingStatus,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub blocked: Period,
    pub quantity: i32,
    pub units: Vec<i32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub service_id: Option<Uuid>,
    pub price_amount_minor: Option<i64>,
    pub price_currency: Option<String>,
    pub series_id: Option<Uuid>,
}

/// A row of `read.busy`: (booking, unit) → blocked period.
pub type BusyRow = (Uuid, i32);
/// The period a busy row blocks, as `[start, end)`.
pub type During = (DateTime<Utc>, DateTime<Utc>);

/// The columns of `read.busy`, in the order [`encode_busy`] writes them.
pub const BUSY_COLUMNS: &str = "booking_id, unit, tenant_id, resource_id, during";

#[derive(Debug, Default)]
pub struct State {
    rows: Rows<BookingRow>,
    /// Only filled by `load_all`, to verify `read.busy` itself.
    busy: BTreeMap<BusyRow, During>,
    /// Held to the end of a replay's fold (unlike the booking rows, handed on per stream).
    series: series::State,
}

fn status(raw: &str) -> Result<BookingStatus, sqlx::Error> {
    BookingStatus::parse(raw)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown booking status {raw:?}").into()))
}

/// A row of `read.bookings` selected with its columns; the blocked period is two of them.
impl FromRow<'_, PgRow> for BookingRow {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let blocked = Period::new(row.try_get("blocked_start")?, row.try_get("blocked_end")?)
            .map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
        Ok(BookingRow {
            tenant_id: row.try_get("tenant_id")?,
            resource_id: row.try_get("resource_id")?,
            customer_id: row.try_get("customer_id")?,
            customer: row.try_get("customer")?,
            status: status(row.try_get("status")?)?,
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
            blocked,
            quantity: row.try_get("quantity")?,
            units: row.try_get("units")?,
            expires_at: row.try_get("expires_at")?,
            metadata: row.try_get("metadata")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            service_id: row.try_get("service_id")?,
            price_amount_minor: row.try_get("price_amount_minor")?,
            price_currency: row.try_get("price_currency")?,
            series_id: row.try_get("series_id")?,
        })
    }
}

impl TableRow for BookingRow {
    const TABLE: &'static str = "bookings";
    const KEY: &'static str = "booking_id";
    const COLUMNS: &'static str = "booking_id, tenant_id, resource_id, customer_id, status, \
                                   start_at, end_at, blocked_start, blocked_end, quantity, units, \
                                   expires_at, metadata, version, created_at, updated_at, \
                                   service_id, price_amount_minor, price_currency, customer, \
                                   series_id";
    const STREAM: StreamType = StreamType::Booking;
    const WHAT: &'static str = "booking";

    fn encode(copy: &mut Copy<'_>, id: &Uuid, row: &Self) -> Result<(), sqlx::Error> {
        copy.row()?;
        copy.value(id)?;
        copy.value(&row.tenant_id)?;
        copy.value(row.resource_id)?;
        copy.value(&row.customer_id)?;
        copy.value(row.status.as_str())?;
        copy.value(row.start_at)?;
        copy.value(row.end_at)?;
        copy.value(row.blocked.start())?;
        copy.value(row.blocked.end())?;
        copy.value(row.quantity)?;
        copy.value(&row.units)?;
        copy.value(row.expires_at)?;
        copy.jsonb(Some(&row.metadata))?;
        copy.value(row.version)?;
        copy.value(row.created_at)?;
        copy.value(row.updated_at)?;
        copy.value(row.service_id)?;
        copy.value(row.price_amount_minor)?;
        copy.value(row.price_currency.as_deref())?;
        copy.jsonb(row.customer.as_ref())?;
        copy.value(row.series_id)
    }

    /// The bookings, and the busy rows that follow them: those of every changed booking are
    /// replaced.
    async fn upsert(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(Uuid, &Self)],
    ) -> Result<(), sqlx::Error> {
        let units: Vec<String> = column(rows, |r| {
            let list: Vec<String> = r.units.iter().map(i32::to_string).collect();
            format!("{{{}}}", list.join(","))
        });
        let sql = format!(
            "insert into {schema}.bookings ({})
             select x.id, x.tenant, x.resource, x.customer, x.status, x.start_at, x.end_at,
                    x.blocked_start, x.blocked_end, x.quantity, x.units::int[], x.expires_at,
                    x.metadata, x.version, x.created_at, x.updated_at, x.service_id,
                    x.price_amount_minor, x.price_currency, x.personal, x.series_id
             from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                         $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                         $10::int[], $11::text[], $12::timestamptz[], $13::jsonb[], $14::bigint[],
                         $15::timestamptz[], $16::timestamptz[], $17::uuid[], $18::bigint[],
                         $19::text[], $20::jsonb[], $21::uuid[])
                  as x(id, tenant, resource, customer, status, start_at, end_at, blocked_start,
                       blocked_end, quantity, units, expires_at, metadata, version, created_at,
                       updated_at, service_id, price_amount_minor, price_currency, personal,
                       series_id)
             on conflict (booking_id) do update set
                 status = excluded.status, start_at = excluded.start_at, end_at = excluded.end_at,
                 blocked_start = excluded.blocked_start, blocked_end = excluded.blocked_end,
                 units = excluded.units, expires_at = excluded.expires_at,
                 version = excluded.version, updated_at = excluded.updated_at",
            Self::COLUMNS
        );
        sqlx::query(&sql)
            .bind(keys(rows))
            .bind(column(rows, |r| r.tenant_id.as_str()))
            .bind(column(rows, |r| r.resource_id))
            .bind(column(rows, |r| r.customer_id.as_str()))
            .bind(column(rows, |r| r.status.as_str()))
            .bind(column(rows, |r| r.start_at))
            .bind(column(rows, |r| r.end_at))
            .bind(column(rows, |r| r.blocked.start()))
            .bind(column(rows, |r| r.blocked.end()))
            .bind(column(rows, |r| r.quantity))
            .bind(&units)
            .bind(column(rows, |r| r.expires_at))
            .bind(column(rows, |r| r.metadata.clone()))
            .bind(column(rows, |r| r.version))
            .bind(column(rows, |r| r.created_at))
            .bind(column(rows, |r| r.updated_at))
            .bind(column(rows, |r| r.service_id))
            .bind(column(rows, |r| r.price_amount_minor))
            .bind(column(rows, |r| r.price_currency.clone()))
            .bind(column(rows, |r| r.customer.clone()))
            .bind(column(rows, |r| r.series_id))
            .execute(&mut *conn)
            .await?;

        sqlx::query(&format!(
            "delete from {schema}.busy where booking_id = any($1)"
        ))
        .bind(keys(rows))
        .execute(&mut *conn)
        .await?;
        let busy: Vec<(Uuid, i32, &BookingRow)> = rows
            .iter()
            .filter(|(_, r)| r.status.holds_capacity())
            .flat_map(|(id, r)| r.units.iter().map(move |unit| (*id, *unit, *r)))
            .collect();
        if !busy.is_empty() {
            sqlx::query(&format!(
                "insert into {schema}.busy (booking_id, unit, tenant_id, resource_id, during)
                 select b, u, t, r, d from unnest($1::uuid[], $2::int[], $3::text[], $4::uuid[],
                                                  $5::tstzrange[]) as x(b, u, t, r, d)"
            ))
            .bind(busy.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
            .bind(busy.iter().map(|(_, unit, _)| *unit).collect::<Vec<_>>())
            .bind(
                busy.iter()
                    .map(|(_, _, r)| r.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                busy.iter()
                    .map(|(_, _, r)| r.resource_id)
                    .collect::<Vec<_>>(),
            )
            .bind(
                busy.iter()
                    .map(|(_, _, r)| PgRange::from(r.blocked.start()..r.blocked.end()))
                    .collect::<Vec<_>>(),
            )
            .execute(conn)
            .await?;
        }
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
            rows: Rows::load(&mut *conn, schema, events).await?,
            busy: BTreeMap::new(),
            series: series::State::load(conn, schema, events).await?,
        })
    }

    /// The rows a replay's fold holds to the end (the series), read from `schema`.
    pub async fn load_held(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        Ok(State {
            series: series::State::load_all(conn, schema).await?,
            ..State::default()
        })
    }

    pub async fn load_all(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        let rows = Rows::load_all(&mut *conn, schema).await?;
        let busy: Vec<(Uuid, i32, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(&format!(
            "select booking_id, unit, lower(during), upper(during) from {schema}.busy"
        ))
        .fetch_all(&mut *conn)
        .await?;
        let busy = busy
            .into_iter()
            .map(|(booking, unit, start, end)| ((booking, unit), (start, end)))
            .collect();
        let series = series::State::load_all(conn, schema).await?;
        Ok(State { rows, busy, series })
    }

    pub fn apply(&mut self, applied: &Applied, touched: &mut Touched) -> Result<(), ApplyError> {
        // A series changes no busy time: its occurrences' own events do.
        self.series.apply(applied);
        let id = applied.stream_id;
        if let Event::BookingPlaced(placed) = &applied.event {
            let row = BookingRow {
                tenant_id: applied.tenant.clone(),
                resource_id: placed.resource_id.0,
                customer_id: placed.customer_id.0.clone(),
                customer: placed
                    .customer
                    .as_ref()
                    .and_then(|sealed| serde_json::to_value(sealed).ok()),
                status: placed.status,
                start_at: placed.period.start(),
                end_at: placed.period.end(),
                blocked: placed.blocked,
                quantity: i32::try_from(placed.quantity).unwrap_or(i32::MAX),
                units: placed
                    .units
                    .iter()
                    .map(|u| i32::try_from(*u).unwrap_or(i32::MAX))
                    .collect(),
                expires_at: placed.expires_at,
                metadata: Value::Object(placed.metadata.clone()),
                service_id: placed.service_id.map(|id| id.0),
                price_amount_minor: placed.price.as_ref().map(|p| p.amount_minor),
                price_currency: placed.price.as_ref().map(|p| p.currency.clone()),
                series_id: placed.series_id.map(|id| id.0),
                version: applied.version,
                created_at: applied.at,
                updated_at: applied.at,
            };
            touched.busy(&applied.tenant, row.resource_id, row.blocked);
            self.rows.put(id, row);
            return Ok(());
        }
        let Some(transition) = lifecycle::transition(&applied.event) else {
            return Ok(());
        };
        let row = self
            .rows
            .get_mut(&id)
            .ok_or(ApplyError::Unknown(applied.event_id, "booking"))?;
        row.status = transition.status_after(row.status);
        match transition.allocation {
            Allocation::Unchanged => {}
            Allocation::Kept => row.expires_at = None,
            Allocation::Released => touched.busy(&applied.tenant, row.resource_id, row.blocked),
            Allocation::Moved(moved) => {
                touched.busy(&applied.tenant, row.resource_id, row.blocked);
                row.start_at = moved.period.start();
                row.end_at = moved.period.end();
                row.blocked = moved.blocked;
                row.units = moved
                    .units
                    .iter()
                    .map(|u| i32::try_from(*u).unwrap_or(i32::MAX))
                    .collect();
                touched.busy(&applied.tenant, row.resource_id, row.blocked);
            }
            Allocation::Trimmed(blocked) => {
                // The freed part lies within the old blocked period: its days are touched.
                touched.busy(&applied.tenant, row.resource_id, row.blocked);
                row.blocked = blocked;
            }
        }
        row.version = applied.version;
        row.updated_at = applied.at;
        self.rows.changed(id);
        Ok(())
    }

    /// Inserts or updates the changed bookings in `schema` (replacing their busy rows) and the
    /// changed series.
    pub async fn upsert(&self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        self.rows.upsert(&mut *conn, schema).await?;
        self.series.upsert(conn, schema).await
    }

    /// Copies the changed rows of one of the tables (`bookings`, `busy` or `series`) into an
    /// empty one.
    pub async fn copy_table(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        table: &str,
    ) -> Result<(), sqlx::Error> {
        let mut rows = self.rows.dirty();
        match table {
            "bookings" => {
                // In the order of `bookings_tenant_start_idx`: building that index then finds its
                // input sorted (one pass instead of a sort), and rows read by time are together.
                rows.sort_unstable_by(|(a_id, a), (b_id, b)| {
                    (&a.tenant_id, a.start_at, a_id).cmp(&(&b.tenant_id, b.start_at, b_id))
                });
                Rows::copy(conn, schema, &rows).await
            }
            "busy" => Self::copy_busy(conn, schema, &rows).await,
            "series" => self.series.copy_changed(conn, schema).await,
            other => Err(sqlx::Error::Protocol(format!(
                "the bookings projection has no table {other}"
            ))),
        }
    }

    /// The busy rows of the bookings that hold capacity, one per unit.
    async fn copy_busy(
        conn: &mut PgConnection,
        schema: &str,
        rows: &[(Uuid, &BookingRow)],
    ) -> Result<(), sqlx::Error> {
        let mut copy = Copy::start(conn, &format!("{schema}.busy"), BUSY_COLUMNS).await?;
        for (id, row) in rows {
            encode_busy(&mut copy, id, row)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    /// Hands on the folded booking rows and forgets them (see [`Rows::take`]); the series stay
    /// (one row per series, few beside their occurrences).
    pub fn take_rows(&mut self, into: &mut Vec<(Uuid, BookingRow)>) {
        self.rows.take(into);
    }

    pub fn differences(&self, live: &State) -> Vec<String> {
        let mut out = self.rows.differences(&live.rows);
        let expected: BTreeMap<BusyRow, During> = self
            .rows
            .all()
            .iter()
            .flat_map(|(id, r)| busy_rows(*id, r))
            .collect();
        out.extend(diff_maps("busy", &expected, &live.busy));
        out.extend(self.series.differences(&live.series));
        out
    }
}

/// The busy rows a booking holds, as `read.busy` has them: (booking, unit) → blocked period, in
/// key order.
pub(super) fn busy_rows(id: Uuid, row: &BookingRow) -> Vec<(BusyRow, During)> {
    if !row.status.holds_capacity() {
        return Vec::new();
    }
    let mut rows: Vec<_> = row
        .units
        .iter()
        .map(|unit| ((id, *unit), (row.blocked.start(), row.blocked.end())))
        .collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    rows
}

/// The rows of `read.busy` a booking holds (one per unit, none once it stopped holding
/// capacity) into a `COPY` of [`BUSY_COLUMNS`].
pub(super) fn encode_busy(
    copy: &mut Copy<'_>,
    id: &Uuid,
    row: &BookingRow,
) -> Result<(), sqlx::Error> {
    if !row.status.holds_capacity() {
        return Ok(());
    }
    for unit in &row.units {
        copy.row()?;
        copy.value(id)?;
        copy.value(unit)?;
        copy.value(&row.tenant_id)?;
        copy.value(row.resource_id)?;
        copy.value(PgRange::from(row.blocked.start()..row.blocked.end()))?;
    }
    Ok(())
}
