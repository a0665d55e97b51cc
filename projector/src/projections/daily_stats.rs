//! Projection `daily_stats` → `read.daily_stats`: per resource and local day (in the resource's
//! zone), how many bookings there are, how many were cancelled, completed or missed, and the
//! unit-minutes booked.
//!
//! - `bookings` counts bookings that start that day and were placed or confirmed (booked for
//!   real, as the lifecycle says: a hold counts once it is confirmed, a declined request stops
//!   counting);
//! - `cancellations`, `completed` and `no_shows` count live bookings cancelled, completed or
//!   marked a no-show, on their start day;
//! - `booked_minutes` is the unit-minutes of live (booked) bookings within each day they span.
//!
//! It keeps its own memory (`read.stats_resources`, `read.stats_bookings`) so it depends on no
//! other projection's progress. Changes are deltas, written with additive upserts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use domain::event::BookingStatus;
use domain::lifecycle::{self, Allocation};
use domain::{Event, Period};
use eventstore::Position;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::copy::Copy;
use super::{Applied, ApplyError, CHUNK, Write, diff_maps};

/// What one booking currently contributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsBooking {
    pub resource_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub quantity: i32,
    pub live: bool,
    pub counted: bool,
}

/// A day's figures (or, during a live batch, the change to them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Day {
    pub tenant_id: String,
    pub bookings: i64,
    pub cancellations: i64,
    pub completed: i64,
    pub no_shows: i64,
    pub booked_minutes: i64,
}

#[derive(Debug, Default)]
pub struct State {
    zones: BTreeMap<Uuid, String>,
    bookings: BTreeMap<Uuid, StatsBooking>,
    days: BTreeMap<(Uuid, NaiveDate), Day>,
    dirty_zones: BTreeSet<Uuid>,
    dirty_bookings: BTreeSet<Uuid>,
    /// Where each zone applied here was created. A replay folds the few resource streams first
    /// and then the bookings stream by stream, so it can know a zone before the events that
    /// precede its creation in the global order; the live fold never does. A booking event
    /// before its resource's creation must fail in both (see [`State::zone`]).
    created: BTreeMap<Uuid, Position>,
}

/// The columns of `read.daily_stats`, in the order [`State::copy_days`] writes them.
const DAY_COLUMNS: &str =
    "resource_id, day, tenant_id, bookings, cancellations, completed, no_shows, booked_minutes";

/// The columns of `read.stats_bookings`, in the order [`encode_booking`] writes them.
pub const BOOKING_COLUMNS: &str =
    "booking_id, resource_id, start_at, end_at, quantity, live, counted";

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

    fn day(&mut self, tenant: &str, resource: Uuid, day: NaiveDate) -> &mut Day {
        self.days.entry((resource, day)).or_insert_with(|| Day {
            tenant_id: tenant.to_owned(),
            ..Day::default()
        })
    }

    /// Adds (`sign` = 1) or removes (−1) a booking's minutes.
    fn minutes(&mut self, tenant: &str, tz: Tz, booking: &StatsBooking, sign: i64) {
        for (day, minutes) in minutes_by_day(tz, booking.start_at, booking.end_at, booking.quantity)
        {
            self.day(tenant, booking.resource_id, day).booked_minutes += sign * minutes;
        }
    }

    fn count(&mut self, tenant: &str, tz: Tz, booking: &StatsBooking, sign: i64) {
        let day = booking.start_at.with_timezone(&tz).date_naive();
        self.day(tenant, booking.resource_id, day).bookings += sign;
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
                let live = placed.status.is_booked();
                let booking = StatsBooking {
                    resource_id: placed.resource_id.0,
                    start_at: placed.period.start(),
                    end_at: placed.period.end(),
                    quantity: i32::try_from(placed.quantity).unwrap_or(i32::MAX),
                    live,
                    counted: live,
                };
                if live {
                    self.count(tenant, tz, &booking, 1);
                    self.minutes(tenant, tz, &booking, 1);
                }
                self.bookings.insert(id, booking);
                self.dirty_bookings.insert(id);
                return Ok(());
            }
            _ => {}
        }
        let Some(transition) = lifecycle::transition(&applied.event) else {
            return Ok(());
        };
        let mut booking = self
            .bookings
            .get(&id)
            .cloned()
            .ok_or(ApplyError::Unknown(applied.event_id, "booking"))?;
        let tz = self.zone(booking.resource_id, applied.position)?;
        // Booked minutes follow whether the status is booked; the count of bookings keeps a
        // booking once it was booked for real, unless it was refused after all.
        let (live, counted) = match transition.status {
            None => (booking.live, booking.counted),
            Some(after) if after.is_booked() => (true, true),
            Some(after) => (false, booking.counted && !after.is_refused()),
        };
        let moved = match transition.allocation {
            Allocation::Moved(moved) => Some(moved),
            _ => None,
        };
        // What the status change ends the live booking as, counted on its start day.
        let ended: Option<fn(&mut Day) -> &mut i64> = match transition.status {
            _ if !booking.live => None,
            Some(BookingStatus::Cancelled) => Some(|day| &mut day.cancellations),
            Some(BookingStatus::Completed) => Some(|day| &mut day.completed),
            Some(BookingStatus::NoShow) => Some(|day| &mut day.no_shows),
            _ => None,
        };
        if (live, counted) == (booking.live, booking.counted) && moved.is_none() && ended.is_none()
        {
            return Ok(());
        }
        if booking.live && (!live || moved.is_some()) {
            self.minutes(tenant, tz, &booking, -1);
        }
        if booking.counted && (!counted || moved.is_some()) {
            self.count(tenant, tz, &booking, -1);
        }
        if let Some(tally) = ended {
            let day = booking.start_at.with_timezone(&tz).date_naive();
            *tally(self.day(tenant, booking.resource_id, day)) += 1;
        }
        if let Some(moved) = moved {
            booking.start_at = moved.period.start();
            booking.end_at = moved.period.end();
        }
        if live && (!booking.live || moved.is_some()) {
            self.minutes(tenant, tz, &booking, 1);
        }
        if counted && (!booking.counted || moved.is_some()) {
            self.count(tenant, tz, &booking, 1);
        }
        booking.live = live;
        booking.counted = counted;
        self.bookings.insert(id, booking);
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
        let days: Vec<(&(Uuid, NaiveDate), &Day)> = self.days.iter().collect();
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
        for ((resource, day), stats) in &self.days {
            copy.row()?;
            copy.value(resource)?;
            copy.value(day)?;
            copy.value(&stats.tenant_id)?;
            copy.value(i32::try_from(stats.bookings).unwrap_or(i32::MAX))?;
            copy.value(i32::try_from(stats.cancellations).unwrap_or(i32::MAX))?;
            copy.value(i32::try_from(stats.completed).unwrap_or(i32::MAX))?;
            copy.value(i32::try_from(stats.no_shows).unwrap_or(i32::MAX))?;
            copy.value(stats.booked_minutes)?;
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
        days: &[(&(Uuid, NaiveDate), &Day)],
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
                "insert into {schema}.stats_bookings
                     (booking_id, resource_id, start_at, end_at, quantity, live, counted)
                 select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[],
                                      $5::int[], $6::bool[], $7::bool[])
                 on conflict (booking_id) do update set
                     start_at = excluded.start_at, end_at = excluded.end_at,
                     live = excluded.live, counted = excluded.counted"
            ))
            .bind(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.resource_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.start_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.end_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.quantity).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.live).collect::<Vec<_>>())
            .bind(rows.iter().map(|(_, b)| b.counted).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        for days in days.chunks(CHUNK) {
            sqlx::query(&format!(
                "insert into {schema}.daily_stats ({DAY_COLUMNS})
                 select * from unnest($1::uuid[], $2::date[], $3::text[], $4::int[], $5::int[],
                                      $6::int[], $7::int[], $8::bigint[])
                 on conflict (resource_id, day) do update set
                     bookings = daily_stats.bookings + excluded.bookings,
                     cancellations = daily_stats.cancellations + excluded.cancellations,
                     completed = daily_stats.completed + excluded.completed,
                     no_shows = daily_stats.no_shows + excluded.no_shows,
                     booked_minutes = daily_stats.booked_minutes + excluded.booked_minutes"
            ))
            .bind(days.iter().map(|((r, _), _)| *r).collect::<Vec<_>>())
            .bind(days.iter().map(|((_, d), _)| *d).collect::<Vec<_>>())
            .bind(
                days.iter()
                    .map(|(_, d)| d.tenant_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(count(days, |d| d.bookings))
            .bind(count(days, |d| d.cancellations))
            .bind(count(days, |d| d.completed))
            .bind(count(days, |d| d.no_shows))
            .bind(
                days.iter()
                    .map(|(_, d)| d.booked_minutes)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub fn differences(&self, live: &State) -> Vec<String> {
        let mut out = diff_maps("stats day", &self.days, &live.days);
        out.extend(diff_maps("stats booking", &self.bookings, &live.bookings));
        out.extend(diff_maps("stats zone", &self.zones, &live.zones));
        out
    }
}

/// One count of each day, as its `integer` column stores it.
fn count(days: &[(&(Uuid, NaiveDate), &Day)], field: fn(&Day) -> i64) -> Vec<i32> {
    days.iter()
        .map(|(_, d)| i32::try_from(field(d)).unwrap_or(i32::MAX))
        .collect()
}

/// A row of `read.daily_stats` selected with [`DAY_COLUMNS`].
fn decode_day(row: &PgRow) -> Result<((Uuid, NaiveDate), Day), sqlx::Error> {
    let count = |column: &str| row.try_get::<i32, _>(column).map(i64::from);
    Ok((
        (row.try_get("resource_id")?, row.try_get("day")?),
        Day {
            tenant_id: row.try_get("tenant_id")?,
            bookings: count("bookings")?,
            cancellations: count("cancellations")?,
            completed: count("completed")?,
            no_shows: count("no_shows")?,
            booked_minutes: row.try_get("booked_minutes")?,
        },
    ))
}

/// A row of `read.stats_bookings` selected with [`BOOKING_COLUMNS`].
pub(super) fn decode_booking(row: &PgRow) -> Result<(Uuid, StatsBooking), sqlx::Error> {
    Ok((
        row.try_get("booking_id")?,
        StatsBooking {
            resource_id: row.try_get("resource_id")?,
            start_at: row.try_get("start_at")?,
            end_at: row.try_get("end_at")?,
            quantity: row.try_get("quantity")?,
            live: row.try_get("live")?,
            counted: row.try_get("counted")?,
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
    copy.value(booking.live)?;
    copy.value(booking.counted)
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
