//! Projection `daily_stats` → `read.daily_stats`: per resource, local day (in the resource's
//! zone), service and currency, the bookings by status, the unit-minutes booked and the revenue.
//!
//! What a booking contributes is a function of what it is now ([`StatsBooking::add_to`]); an
//! event takes the booking's old contribution out and puts its new one in. On its start day:
//! - `bookings` once it was booked for real (pending or beyond: a hold counts once confirmed),
//!   unless it was refused after all (a declined request);
//! - `cancellations`, `checked_in`, `completed` and `no_shows` when it is now in that status;
//! - `booked_minor` (its price) when firmly booked ([`BookingStatus::is_firm`]: confirmed, checked
//!   in or completed), and `realized_minor` when completed.
//!
//! `booked_minutes` is the unit-minutes of firmly booked bookings within each day they span.
//!
//! It keeps its own memory (`read.stats_resources`, `read.stats_bookings`) so it depends on no
//! other projection's progress. Changes are deltas, written with additive upserts; a row whose
//! figures all net to zero means nothing (queries and `--verify` ignore it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use domain::event::BookingStatus;
use domain::lifecycle::{self, Allocation};
use domain::service::Price;
use domain::{Event, Period};
use eventstore::Position;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::Copy;
use super::{Applied, ApplyError, CHUNK, Write, diff_maps};

/// What the stats know of one booking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsBooking {
    pub resource_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub quantity: i32,
    pub status: BookingStatus,
    /// Whether it counts among its day's bookings (see the module's rules).
    pub counted: bool,
    pub service_id: Option<Uuid>,
    pub price: Option<Price>,
}

/// Where a booking's figures go: one row of `read.daily_stats`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DayKey {
    pub resource_id: Uuid,
    pub day: NaiveDate,
    pub service_id: Option<Uuid>,
    pub currency: Option<String>,
}

/// A row's figures (or, during a live batch, the change to them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Day {
    pub tenant_id: String,
    pub bookings: i64,
    pub cancellations: i64,
    pub checked_in: i64,
    pub completed: i64,
    pub no_shows: i64,
    pub booked_minutes: i64,
    pub booked_minor: i64,
    pub realized_minor: i64,
}

impl Day {
    /// Whether every figure is zero: a row that means nothing (or a change that changes nothing).
    fn is_zero(&self) -> bool {
        [
            self.bookings,
            self.cancellations,
            self.checked_in,
            self.completed,
            self.no_shows,
            self.booked_minutes,
            self.booked_minor,
            self.realized_minor,
        ]
        .iter()
        .all(|figure| *figure == 0)
    }
}

impl StatsBooking {
    /// Adds (`sign` = 1) or takes out (−1) what this booking, as it is, contributes to the rows
    /// of its local days in `tz` (rows made for `tenant` where missing).
    fn add_to(&self, tz: Tz, sign: i64, tenant: &str, days: &mut BTreeMap<DayKey, Day>) {
        let key = |day| DayKey {
            resource_id: self.resource_id,
            day,
            service_id: self.service_id,
            currency: self.price.as_ref().map(|p| p.currency.clone()),
        };
        let firm = self.status.is_firm();
        if self.counted {
            let price = self.price.as_ref().map_or(0, |p| p.amount_minor);
            let start = row(
                days,
                tenant,
                key(self.start_at.with_timezone(&tz).date_naive()),
            );
            start.bookings += sign;
            match self.status {
                BookingStatus::Cancelled => start.cancellations += sign,
                BookingStatus::CheckedIn => start.checked_in += sign,
                BookingStatus::Completed => {
                    start.completed += sign;
                    start.realized_minor += sign * price;
                }
                BookingStatus::NoShow => start.no_shows += sign,
                _ => {}
            }
            if firm {
                start.booked_minor += sign * price;
            }
        }
        if firm {
            for (day, minutes) in minutes_by_day(tz, self.start_at, self.end_at, self.quantity) {
                row(days, tenant, key(day)).booked_minutes += sign * minutes;
            }
        }
    }
}

/// The row of `key`, made for `tenant` if missing.
fn row<'a>(days: &'a mut BTreeMap<DayKey, Day>, tenant: &str, key: DayKey) -> &'a mut Day {
    days.entry(key).or_insert_with(|| Day {
        tenant_id: tenant.to_owned(),
        ..Day::default()
    })
}

#[derive(Debug, Default)]
pub struct State {
    zones: BTreeMap<Uuid, String>,
    bookings: BTreeMap<Uuid, StatsBooking>,
    days: BTreeMap<DayKey, Day>,
    dirty_zones: BTreeSet<Uuid>,
    dirty_bookings: BTreeSet<Uuid>,
    /// Where each zone applied here was created. A replay folds the few resource streams first
    /// and then the bookings stream by stream, so it can know a zone before the events that
    /// precede its creation in the global order; the live fold never does. A booking event
    /// before its resource's creation must fail in both (see [`State::zone`]).
    created: BTreeMap<Uuid, Position>,
}

/// The columns of `read.daily_stats`, in the order [`State::copy_days`] writes them.
const DAY_COLUMNS: &str = "resource_id, day, service_id, currency, tenant_id, bookings, \
     cancellations, checked_in, completed, no_shows, booked_minutes, booked_minor, realized_minor";

/// The columns of `read.stats_bookings`, in the order [`encode_booking`] writes them.
pub const BOOKING_COLUMNS: &str = "booking_id, resource_id, start_at, end_at, quantity, status, \
     counted, service_id, price_minor, currency";

/// Unit-minutes of `[start, end)` × `quantity` falling in each local day of `tz`.
fn minutes_by_day(
    tz: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    quantity: i32,
) -> Vec<(NaiveDate, i64)> {
    let Ok(period) = Period::new(start, end) else {
        return Vec::new();
    };
    readmodel::cache::days_touched(tz, &period)
        .into_iter()
        .filter_map(|day| {
            let span = readmodel::cache::day_span(tz, day)?;
            let part = span.intersect(&period)?;
            Some((day, part.duration().num_minutes() * i64::from(quantity)))
        })
        .collect()
}

impl State {
    pub async fn load(
        conn: &mut PgConnection,
        schema: &str,
        events: &[Applied],
    ) -> Result<State, sqlx::Error> {
        let resources: Vec<Uuid> = events
            .iter()
            .filter_map(|e| resource_of(&e.event))
            .collect();
        let bookings: Vec<Uuid> = events
            .iter()
            .filter(|e| e.event.stream_type() == domain::StreamType::Booking)
            .map(|e| e.stream_id)
            .collect();
        let mut state = State::default();
        if !resources.is_empty() {
            state.zones = Self::zones(conn, schema, Some(&resources)).await?;
        }
        if !bookings.is_empty() {
            state.bookings = Self::bookings(conn, schema, Some(&bookings)).await?;
        }
        Ok(state)
    }

    pub async fn load_all(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        let mut state = Self::load_held(conn, schema).await?;
        state.bookings = Self::bookings(conn, schema, None).await?;
        Ok(state)
    }

    /// The rows that span streams: every zone and every day (a verify compares the bookings'
    /// rows one by one instead).
    pub async fn load_held(conn: &mut PgConnection, schema: &str) -> Result<State, sqlx::Error> {
        let rows = sqlx::query(&format!("select {DAY_COLUMNS} from {schema}.daily_stats"))
            .fetch_all(&mut *conn)
            .await?;
        Ok(State {
            zones: Self::zones(conn, schema, None).await?,
            days: rows.iter().map(decode_day).collect::<Result<_, _>>()?,
            ..State::default()
        })
    }

    async fn zones(
        conn: &mut PgConnection,
        schema: &str,
        ids: Option<&[Uuid]>,
    ) -> Result<BTreeMap<Uuid, String>, sqlx::Error> {
        let sql = format!(
            "select resource_id, time_zone from {schema}.stats_resources{}",
            if ids.is_some() {
                " where resource_id = any($1)"
            } else {
                ""
            }
        );
        let mut query = sqlx::query_as::<_, (Uuid, String)>(&sql);
        if let Some(ids) = ids {
            query = query.bind(ids);
        }
        Ok(query.fetch_all(conn).await?.into_iter().collect())
    }

    async fn bookings(
        conn: &mut PgConnection,
        schema: &str,
        ids: Option<&[Uuid]>,
    ) -> Result<BTreeMap<Uuid, StatsBooking>, sqlx::Error> {
        let sql = format!(
            "select {BOOKING_COLUMNS} from {schema}.stats_bookings{}",
            if ids.is_some() {
                " where booking_id = any($1)"
            } else {
                ""
            }
        );
        let mut query = sqlx::query(&sql);
        if let Some(ids) = ids {
            query = query.bind(ids);
        }
        query
            .fetch_all(conn)
            .await?
            .iter()
            .map(decode_booking)
            .collect()
    }

    /// The zone of `resource` for an event at `at`.
    fn zone(&self, resource: Uuid, at: Position) -> Result<Tz, ApplyError> {
        let unknown = ApplyError::Unknown(resource, "resource");
        if self
            .created
            .get(&resource)
            .is_some_and(|created| *created > at)
        {
            return Err(unknown);
        }
        let name = self.zones.get(&resource).ok_or(unknown)?;
        name.parse().map_err(|_| ApplyError::TimeZone(name.clone()))
    }

    /// Takes out (`sign` = −1) or puts in (1) what `booking` contributes, in `tenant`'s rows.
    fn add(&mut self, tenant: &str, tz: Tz, booking: &StatsBooking, sign: i64) {
        booking.add_to(tz, sign, tenant, &mut self.days);
    }

    pub fn apply(&mut self, applied: &Applied) -> Result<(), ApplyError> {
        let tenant = applied.tenant.as_str();
        let id = applied.stream_id;
        match &applied.event {
            Event::ResourceCreated(created) => {
                self.zones
                    .insert(id, created.spec.time_zone.name().to_owned());
                self.created.insert(id, applied.position);
                self.dirty_zones.insert(id);
                return Ok(());
            }
            Event::BookingPlaced(placed) => {
                let tz = self.zone(placed.resource_id.0, applied.position)?;
                let booking = StatsBooking {
                    resource_id: placed.resource_id.0,
                    start_at: placed.period.start(),
                    end_at: placed.period.end(),
                    quantity: i32::try_from(placed.quantity).unwrap_or(i32::MAX),
                    status: placed.status,
                    counted: placed.status.is_booked(),
                    service_id: placed.service_id.map(|s| s.0),
                    price: placed.price.clone(),
                };
                self.add(tenant, tz, &booking, 1);
                self.bookings.insert(id, booking);
                self.dirty_bookings.insert(id);
                return Ok(());
            }
            _ => {}
        }
        let Some(transition) = lifecycle::transition(&applied.event) else {
            return Ok(());
        };
        let before = self
            .bookings
            .get(&id)
            .cloned()
            .ok_or(ApplyError::Unknown(applied.event_id, "booking"))?;
        let tz = self.zone(before.resource_id, applied.position)?;
        let mut after = before.clone();
        if let Some(status) = transition.status {
            after.status = status;
            // Counted once booked for real, until refused after all.
            after.counted = status.is_booked() || (before.counted && !status.is_refused());
        }
        if let Allocation::Moved(moved) = transition.allocation {
            after.start_at = moved.period.start();
            after.end_at = moved.period.end();
        }
        if after == before {
            return Ok(());
        }
        self.add(tenant, tz, &before, -1);
        self.add(tenant, tz, &after, 1);
        self.bookings.insert(id, after);
        self.dirty_bookings.insert(id);
        Ok(())
    }

    pub async fn write(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        mode: Write,
    ) -> Result<(), sqlx::Error> {
        if mode == Write::Fresh {
            for table in ["stats_resources", "stats_bookings", "daily_stats"] {
                self.copy_table(&mut *conn, schema, table).await?;
            }
            return Ok(());
        }
        let zones: Vec<(Uuid, &str)> = self
            .dirty_zones
            .iter()
            .filter_map(|id| self.zones.get(id).map(|tz| (*id, tz.as_str())))
            .collect();
        let bookings: Vec<(Uuid, &StatsBooking)> = self
            .dirty_bookings
            .iter()
            .filter_map(|id| self.bookings.get(id).map(|b| (*id, b)))
            .collect();
        let days: Vec<(&DayKey, &Day)> = self.days.iter().filter(|(_, d)| !d.is_zero()).collect();
        Self::upsert_rows(conn, schema, &zones, &bookings, &days).await
    }

    /// Copies the changed rows of one of the tables into an empty one.
    pub async fn copy_table(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        table: &str,
    ) -> Result<(), sqlx::Error> {
        match table {
            "stats_resources" => self.copy_zones(conn, schema).await,
            "stats_bookings" => self.copy_bookings(conn, schema).await,
            "daily_stats" => self.copy_days(conn, schema).await,
            other => Err(sqlx::Error::Protocol(format!(
                "the daily_stats projection has no table {other}"
            ))),
        }
    }

    async fn copy_zones(&self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        let table = format!("{schema}.stats_resources");
        let mut copy = Copy::start(conn, &table, "resource_id, time_zone").await?;
        for id in &self.dirty_zones {
            let Some(tz) = self.zones.get(id) else {
                continue;
            };
            copy.row()?;
            copy.value(id)?;
            copy.value(tz)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    async fn copy_bookings(
        &self,
        conn: &mut PgConnection,
        schema: &str,
    ) -> Result<(), sqlx::Error> {
        let table = format!("{schema}.stats_bookings");
        let mut copy = Copy::start(conn, &table, BOOKING_COLUMNS).await?;
        for id in &self.dirty_bookings {
            let Some(booking) = self.bookings.get(id) else {
                continue;
            };
            encode_booking(&mut copy, id, booking)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    /// Hands on what the folded bookings contribute and forgets it (the zones and the days
    /// stay): a replay folding stream by stream loads each booking's row as soon as its stream
    /// is folded.
    pub fn take_bookings(&mut self, into: &mut Vec<(Uuid, StatsBooking)>) {
        for id in std::mem::take(&mut self.dirty_bookings) {
            if let Some(booking) = self.bookings.remove(&id) {
                into.push((id, booking));
            }
        }
        self.bookings.clear();
    }

    async fn copy_days(&self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        let table = format!("{schema}.daily_stats");
        let mut copy = Copy::start(conn, &table, DAY_COLUMNS).await?;
        for (key, stats) in self.days.iter().filter(|(_, d)| !d.is_zero()) {
            copy.row()?;
            copy.value(key.resource_id)?;
            copy.value(key.day)?;
            copy.value(key.service_id)?;
            copy.value(key.currency.as_deref())?;
            copy.value(&stats.tenant_id)?;
            for figure in [
                stats.bookings,
                stats.cancellations,
                stats.checked_in,
                stats.completed,
                stats.no_shows,
            ] {
                copy.value(i32::try_from(figure).unwrap_or(i32::MAX))?;
            }
            copy.value(stats.booked_minutes)?;
            copy.value(stats.booked_minor)?;
            copy.value(stats.realized_minor)?;
            copy.send_when_full().await?;
        }
        copy.finish().await?;
        Ok(())
    }

    async fn upsert_rows(
        conn: &mut PgConnection,
        schema: &str,
        zones: &[(Uuid, &str)],
        bookings: &[(Uuid, &StatsBooking)],
        days: &[(&DayKey, &Day)],
    ) -> Result<(), sqlx::Error> {
        for zones in zones.chunks(CHUNK) {
            sqlx::query(&format!(
                "insert into {schema}.stats_resources (resource_id, time_zone)
                 select * from unnest($1::uuid[], $2::text[])
                 on conflict (resource_id) do update set time_zone = excluded.time_zone"
            ))
            .bind(zones.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind(zones.iter().map(|(_, tz)| *tz).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        for rows in bookings.chunks(CHUNK) {
            sqlx::query(&format!(
                "insert into {schema}.stats_bookings ({BOOKING_COLUMNS})
                 select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[],
                                      $5::int[], $6::text[], $7::bool[], $8::uuid[], $9::bigint[],
                                      $10::text[])
                 on conflict (booking_id) do update set
                     start_at = excluded.start_at, end_at = excluded.end_at,
                     status = excluded.status, counted = excluded.counted"
            ))
            .bind(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.resource_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.start_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.end_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.quantity).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|(_, b)| b.status.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|(_, b)| b.counted).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.service_id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|(_, b)| b.price.as_ref().map(|p| p.amount_minor))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, b)| b.price.as_ref().map(|p| p.currency.as_str()))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
        }
        for days in days.chunks(CHUNK) {
            sqlx::query(&format!(
                "insert into {schema}.daily_stats ({DAY_COLUMNS})
                 select * from unnest($1::uuid[], $2::date[], $3::uuid[], $4::text[], $5::text[],
                                      $6::int[], $7::int[], $8::int[], $9::int[], $10::int[],
                                      $11::bigint[], $12::bigint[], $13::bigint[])
                 on conflict (resource_id, day, service_id, currency) do update set
                     bookings = daily_stats.bookings + excluded.bookings,
                     cancellations = daily_stats.cancellations + excluded.cancellations,
                     checked_in = daily_stats.checked_in + excluded.checked_in,
                     completed = daily_stats.completed + excluded.completed,
                     no_shows = daily_stats.no_shows + excluded.no_shows,
                     booked_minutes = daily_stats.booked_minutes + excluded.booked_minutes,
                     booked_minor = daily_stats.booked_minor + excluded.booked_minor,
                     realized_minor = daily_stats.realized_minor + excluded.realized_minor"
            ))
            .bind(days.iter().map(|(k, _)| k.resource_id).collect::<Vec<_>>())
            .bind(days.iter().map(|(k, _)| k.day).collect::<Vec<_>>())
            .bind(days.iter().map(|(k, _)| k.service_id).collect::<Vec<_>>())
            .bind(
                days.iter()
                    .map(|(k, _)| k.currency.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                days.iter()
                    .map(|(_, d)| d.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(count(days, |d| d.bookings))
            .bind(count(days, |d| d.cancellations))
            .bind(count(days, |d| d.checked_in))
            .bind(count(days, |d| d.completed))
            .bind(count(days, |d| d.no_shows))
            .bind(sum(days, |d| d.booked_minutes))
            .bind(sum(days, |d| d.booked_minor))
            .bind(sum(days, |d| d.realized_minor))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub fn differences(&self, live: &State) -> Vec<String> {
        // A row whose figures are all zero means nothing: the live table keeps one where a
        // booking's contribution was taken out again; a rebuild never writes it.
        let meaningful = |days: &BTreeMap<DayKey, Day>| -> BTreeMap<DayKey, Day> {
            days.iter()
                .filter(|(_, d)| !d.is_zero())
                .map(|(k, d)| (k.clone(), d.clone()))
                .collect()
        };
        let mut out = diff_maps(
            "stats day",
            &meaningful(&self.days),
            &meaningful(&live.days),
        );
        out.extend(diff_maps("stats booking", &self.bookings, &live.bookings));
        out.extend(diff_maps("stats zone", &self.zones, &live.zones));
        out
    }
}

/// One count of each row, as its `integer` column stores it.
fn count(days: &[(&DayKey, &Day)], field: fn(&Day) -> i64) -> Vec<i32> {
    days.iter()
        .map(|(_, d)| i32::try_from(field(d)).unwrap_or(i32::MAX))
        .collect()
}

/// One `bigint` figure of each row.
fn sum(days: &[(&DayKey, &Day)], field: fn(&Day) -> i64) -> Vec<i64> {
    days.iter().map(|(_, d)| field(d)).collect()
}

/// A row of `read.daily_stats` selected with [`DAY_COLUMNS`].
fn decode_day(row: &PgRow) -> Result<(DayKey, Day), sqlx::Error> {
    let count = |column: &str| row.try_get::<i32, _>(column).map(i64::from);
    Ok((
        DayKey {
            resource_id: row.try_get("resource_id")?,
            day: row.try_get("day")?,
            service_id: row.try_get("service_id")?,
            currency: row.try_get("currency")?,
        },
        Day {
            tenant_id: row.try_get("tenant_id")?,
            bookings: count("bookings")?,
            cancellations: count("cancellations")?,
            checked_in: count("checked_in")?,
            completed: count("completed")?,
            no_shows: count("no_shows")?,
            booked_minutes: row.try_get("booked_minutes")?,
            booked_minor: row.try_get("booked_minor")?,
            realized_minor: row.try_get("realized_minor")?,
        },
    ))
}

/// A row of `read.stats_bookings` selected with [`BOOKING_COLUMNS`].
pub(super) fn decode_booking(row: &PgRow) -> Result<(Uuid, StatsBooking), sqlx::Error> {
    let status: String = row.try_get("status")?;
    let price_minor: Option<i64> = row.try_get("price_minor")?;
    let currency: Option<String> = row.try_get("currency")?;
    Ok((
        row.try_get("booking_id")?,
        StatsBooking {
            resource_id: row.try_get("resource_id")?,
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
            quantity: row.try_get("quantity")?,
            status: BookingStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "status".into(),
                source: format!("unknown booking status {status:?}").into(),
            })?,
            counted: row.try_get("counted")?,
            service_id: row.try_get("service_id")?,
            price: price_minor
                .zip(currency)
                .map(|(amount_minor, currency)| Price {
                    amount_minor,
                    currency,
                }),
        },
    ))
}

/// One row of `read.stats_bookings` into a `COPY` of [`BOOKING_COLUMNS`].
pub(super) fn encode_booking(
    copy: &mut Copy<'_>,
    id: &Uuid,
    booking: &StatsBooking,
) -> Result<(), sqlx::Error> {
    copy.row()?;
    copy.value(id)?;
    copy.value(booking.resource_id)?;
    copy.value(booking.start_at)?;
    copy.value(booking.end_at)?;
    copy.value(booking.quantity)?;
    copy.value(booking.status.as_str())?;
    copy.value(booking.counted)?;
    copy.value(booking.service_id)?;
    copy.value(booking.price.as_ref().map(|p| p.amount_minor))?;
    copy.value(booking.price.as_ref().map(|p| p.currency.as_str()))
}

fn resource_of(event: &Event) -> Option<Uuid> {
    match event {
        Event::ResourceCreated(e) => Some(e.resource_id.0),
        Event::BookingPlaced(e) => Some(e.resource_id.0),
        Event::BookingConfirmed(e)
        | Event::BookingSubmittedForApproval(e)
        | Event::BookingApproved(e)
        | Event::BookingDeclined(e)
        | Event::BookingCancelled(e)
        | Event::HoldExpired(e)
        | Event::BookingCheckedIn(e)
        | Event::BookingCompleted(e) => Some(e.resource_id.0),
        Event::BookingMarkedNoShow(e) => Some(e.resource_id.0),
        Event::BookingRescheduled(e) => Some(e.resource_id.0),
        _ => None,
    }
}
