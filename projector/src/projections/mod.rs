//! The projections: how each read model follows the events.
//!
//! Every projection is an in-memory fold over typed rows, with the database only at the edges:
//! `load` the rows a batch of events touches, `apply` the events (pure), `write` the changed rows
//! back with set-based statements. The live worker does that per batch, inside the transaction
//! that also moves the projection's checkpoint; the replay tool folds the history stream by
//! stream into empty states and streams the rows of each finished stream into fresh tables with
//! `COPY` ([`load`]). One fold, two ways to persist it, so a replay is exactly what the live
//! projector would have built.

pub mod bookings;
pub mod compare;
mod copy;
pub mod daily_stats;
pub mod load;
pub mod resources;
pub mod rows;
pub mod series;
pub mod services;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use domain::{Event, Period};
use eventstore::{Position, RecordedEvent};
use readmodel::projections::Projection;
use sqlx::PgConnection;
use uuid::Uuid;

/// A decoded event with what the projections need from its envelope.
#[derive(Clone, Debug)]
pub struct Applied {
    pub tenant: String,
    pub stream_id: Uuid,
    pub version: i64,
    pub at: DateTime<Utc>,
    pub position: Position,
    pub event_id: Uuid,
    pub event: Event,
}

impl Applied {
    pub fn decode(recorded: &RecordedEvent) -> Result<Applied, domain::event::DecodeError> {
        Ok(Applied {
            tenant: recorded.tenant_id.clone(),
            stream_id: recorded.stream_id,
            version: recorded.stream_version,
            at: recorded.recorded_at,
            position: recorded.position,
            event_id: recorded.event_id,
            event: Event::decode(
                &recorded.event_type,
                recorded.schema_version,
                &recorded.payload,
            )?,
        })
    }
}

/// Why an event could not be applied (it goes to the dead-letter table).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("event {0} refers to a {1} this projection has never seen")]
    Unknown(Uuid, &'static str),
    #[error("time zone {0:?} is not known")]
    TimeZone(String),
}

/// What a batch changed, for cache invalidation after commit: per (tenant, resource), the
/// local days whose availability changed, or `None` when the resource itself changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub resources: BTreeMap<(String, Uuid), Option<BTreeSet<NaiveDate>>>,
    /// Records nothing (a replay invalidates no cache, and a million events' worth of days
    /// would only cost time).
    ignore: bool,
}

impl Touched {
    /// A `Touched` that records nothing.
    pub fn ignored() -> Touched {
        Touched {
            ignore: true,
            ..Touched::default()
        }
    }

    /// The busy time of a resource changed over `blocked`.
    ///
    /// Cache days are local to the resource's zone, which this projection does not track; so it
    /// names every date that could be that local day in any zone (UTC−12 to UTC+14). A few
    /// extra keys invalidated is far cheaper than a dependency on another projection.
    pub fn busy(&mut self, tenant: &str, resource: Uuid, blocked: Period) {
        if self.ignore {
            return;
        }
        let entry = self
            .resources
            .entry((tenant.to_owned(), resource))
            .or_insert_with(|| Some(BTreeSet::new()));
        if let Some(days) = entry {
            let first = (blocked.start() - chrono::Duration::hours(12)).date_naive();
            let last = (blocked.end() + chrono::Duration::hours(14)).date_naive();
            days.extend(first.iter_days().take_while(|day| *day <= last));
        }
    }

    /// The resource itself (hours, blackouts, capacity, policy) changed.
    pub fn resource(&mut self, tenant: &str, resource: Uuid) {
        if self.ignore {
            return;
        }
        self.resources.insert((tenant.to_owned(), resource), None);
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

/// How rows reach their tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Insert or update with set-based statements (a live batch, or a replay's catch-up).
    Upsert,
    /// `COPY` into empty tables without indexes yet (a replay's bulk load).
    Fresh,
}

/// The rows a replay folding stream by stream takes out of the states after each stream, to load
/// them while it folds on (see [`State::take_finished`]).
#[derive(Debug, Default)]
pub struct Finished {
    pub bookings: Vec<(Uuid, bookings::BookingRow)>,
    pub stats_bookings: Vec<(Uuid, daily_stats::StatsBooking)>,
}

impl Finished {
    pub fn len(&self) -> usize {
        self.bookings.len() + self.stats_bookings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rows per upsert statement: big enough to amortize round trips, small enough for memory.
pub const CHUNK: usize = 20_000;

/// The state of one projection during a batch (or a whole replay).
#[derive(Debug)]
pub enum State {
    Resources(resources::State),
    Bookings(bookings::State),
    DailyStats(daily_stats::State),
}

impl State {
    pub fn empty(projection: Projection) -> State {
        match projection {
            Projection::Resources => State::Resources(resources::State::default()),
            Projection::Bookings => State::Bookings(bookings::State::default()),
            Projection::DailyStats => State::DailyStats(daily_stats::State::default()),
        }
    }

    /// The rows `events` will touch, read from `schema`.
    pub async fn load(
        projection: Projection,
        conn: &mut PgConnection,
        schema: &str,
        events: &[Applied],
    ) -> Result<State, sqlx::Error> {
        Ok(match projection {
            Projection::Resources => {
                State::Resources(resources::State::load(conn, schema, events).await?)
            }
            Projection::Bookings => {
                State::Bookings(bookings::State::load(conn, schema, events).await?)
            }
            Projection::DailyStats => {
                State::DailyStats(daily_stats::State::load(conn, schema, events).await?)
            }
        })
    }

    /// Every row of `schema` (for verification).
    pub async fn load_all(
        projection: Projection,
        conn: &mut PgConnection,
        schema: &str,
    ) -> Result<State, sqlx::Error> {
        Ok(match projection {
            Projection::Resources => {
                State::Resources(resources::State::load_all(conn, schema).await?)
            }
            Projection::Bookings => State::Bookings(bookings::State::load_all(conn, schema).await?),
            Projection::DailyStats => {
                State::DailyStats(daily_stats::State::load_all(conn, schema).await?)
            }
        })
    }

    /// The rows of `schema` a replay's fold holds to the end (see [`State::take_finished`]):
    /// a verify compares those whole and the others one by one ([`compare`]).
    pub async fn load_held(
        projection: Projection,
        conn: &mut PgConnection,
        schema: &str,
    ) -> Result<State, sqlx::Error> {
        Ok(match projection {
            Projection::Resources => {
                State::Resources(resources::State::load_all(conn, schema).await?)
            }
            Projection::Bookings => {
                State::Bookings(bookings::State::load_held(conn, schema).await?)
            }
            Projection::DailyStats => {
                State::DailyStats(daily_stats::State::load_held(conn, schema).await?)
            }
        })
    }

    pub fn apply(&mut self, event: &Applied, touched: &mut Touched) -> Result<(), ApplyError> {
        match self {
            State::Resources(state) => {
                state.apply(event, touched);
                Ok(())
            }
            State::Bookings(state) => state.apply(event, touched),
            State::DailyStats(state) => state.apply(event),
        }
    }

    /// Writes the changed rows to `schema`: upserted, or each of the projection's tables copied
    /// whole ([`Write::Fresh`]).
    pub async fn write(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        mode: Write,
    ) -> Result<(), sqlx::Error> {
        match (self, mode) {
            (State::DailyStats(state), mode) => state.write(conn, schema, mode).await,
            (State::Resources(state), Write::Upsert) => state.upsert(conn, schema).await,
            (State::Bookings(state), Write::Upsert) => state.upsert(conn, schema).await,
            (State::Resources(_) | State::Bookings(_), Write::Fresh) => {
                for table in self.projection().tables() {
                    self.copy_table(&mut *conn, schema, table).await?;
                }
                Ok(())
            }
        }
    }

    /// The projection this is the state of.
    pub fn projection(&self) -> Projection {
        match self {
            State::Resources(_) => Projection::Resources,
            State::Bookings(_) => Projection::Bookings,
            State::DailyStats(_) => Projection::DailyStats,
        }
    }

    /// Copies the changed rows of `table` (one of the projection's tables) into an empty table of
    /// that name in `schema`: the bulk load of [`Write::Fresh`], one table at a time (a replay
    /// loads the tables its fold holds to the end this way; see [`load`] for the others).
    pub async fn copy_table(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        table: &str,
    ) -> Result<(), sqlx::Error> {
        match self {
            State::Resources(state) => state.copy_table(conn, schema, table).await,
            State::Bookings(state) => state.copy_table(conn, schema, table).await,
            State::DailyStats(state) => state.copy_table(conn, schema, table).await,
        }
    }

    /// Moves the rows that depend on nothing but their own stream into `into`, once that stream
    /// is folded to its end: bookings and what each contributes to the stats. What spans
    /// streams stays: resources (few), series (one row per series, not per occurrence), zones
    /// and the per-day sums (as many as the days of the `daily_stats` table, whatever the
    /// number of events).
    pub fn take_finished(&mut self, into: &mut Finished) {
        match self {
            State::Resources(_) => {}
            State::Bookings(state) => state.take_rows(&mut into.bookings),
            State::DailyStats(state) => state.take_bookings(&mut into.stats_bookings),
        }
    }

    /// The rows that differ between two full states (`self` rebuilt, `live` as stored).
    pub fn differences(&self, live: &State) -> Vec<String> {
        match (self, live) {
            (State::Resources(a), State::Resources(b)) => a.differences(b),
            (State::Bookings(a), State::Bookings(b)) => a.differences(b),
            (State::DailyStats(a), State::DailyStats(b)) => a.differences(b),
            _ => vec!["states of different projections".into()],
        }
    }
}

/// Compares two keyed row maps and names each row that is missing, extra or different.
pub fn diff_maps<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    what: &str,
    rebuilt: &BTreeMap<K, V>,
    live: &BTreeMap<K, V>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in rebuilt {
        match live.get(key) {
            None => out.push(format!("{what} {key:?}: missing in live")),
            Some(stored) if stored != value => {
                out.push(format!(
                    "{what} {key:?}: live {stored:?} ≠ rebuilt {value:?}"
                ));
            }
            Some(_) => {}
        }
    }
    for key in live.keys() {
        if !rebuilt.contains_key(key) {
            out.push(format!("{what} {key:?}: in live only"));
        }
    }
    out
}
