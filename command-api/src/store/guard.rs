//! The allocation guard: rows `(resource_id, unit, during, booking_id)` under an exclusion
//! constraint, so no unit of a resource is ever given twice for overlapping time, whatever
//! number of command-api instances race for it.
//!
//! Capacity 1 inserts straight into unit 0 and lets the constraint decide. Capacity > 1 first
//! takes a transaction-scoped advisory lock on the resource and picks the lowest free units
//! (always the lowest, so a capacity cut to the number in use can succeed): a flash crowd then
//! queues for a few milliseconds each instead of failing and retrying.
//!
//! Holds past their TTL still own their rows until someone records `HoldExpired` (the constraint
//! cannot look at the clock). When only such holds are in the way, [`allocate`] says which, and
//! the command expires them (`commands::ExpireHold`) and asks again: the guard stores, commands
//! decide.
//!
//! Every transaction that uses the guard starts with [`begin`], at READ COMMITTED, named rather
//! than left to the server's `default_transaction_isolation`.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use domain::Period;
use domain::ids::{BookingId, ResourceId};
use domain::resource::Resource;
use sqlx::postgres::types::PgRange;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::CommandMeta;
use crate::error::CommandError;

/// READ COMMITTED: each statement sees everything committed before it started. The guard relies
/// on that: after waiting for a resource's lock it reads again and must see the units the
/// previous holder took, and a refusal judged on a plain read is as good as arriving a moment
/// earlier. Under REPEATABLE READ or SERIALIZABLE (a server or database default could say so)
/// it would judge by the snapshot from before its wait, pick units already taken and fail on
/// the constraint (40001): a queue turned into retries and spurious `503`s.
const BEGIN: &str = "begin isolation level read committed";

/// Starts a transaction for work that touches the guard (every command, the hold sweeper).
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with(BEGIN).await
}

fn range(period: Period) -> PgRange<DateTime<Utc>> {
    PgRange::from(period.start()..period.end())
}

/// Serializes allocation on one resource (capacity > 1 only; see the module documentation).
async fn lock_resource(
    conn: &mut PgConnection,
    resource_id: ResourceId,
) -> Result<(), CommandError> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('resource:' || $1::text, 0))")
        .bind(resource_id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// What [`allocate`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allocated {
    /// These units are now the booking's.
    Units(Vec<u32>),
    /// Holds past their TTL are in the way (these bookings): expire them, then ask again.
    ExpiredHolds(Vec<BookingId>),
}

/// What a booking asks of the guard: `quantity` units over `blocked`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub booking_id: BookingId,
    pub blocked: Period,
    pub quantity: u32,
    /// A hold's end; its rows stay in the way after it until the hold is expired.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Reserves the units `wanted` on the resource. A refusal is
/// [`CommandError::SlotUnavailable`] with what is in the way.
///
/// A refusal is an answer, not a failure, so nothing is logged here (database errors are logged
/// where they become a `5xx`).
#[tracing::instrument(level = "debug", skip_all, fields(resource.id = %resource.id, booking.id = %wanted.booking_id))]
pub async fn allocate(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    wanted: &Reservation,
) -> Result<Allocated, CommandError> {
    let quantity = wanted.quantity;
    let asked = Asked {
        meta,
        resource_id: resource.id,
        capacity: i32::try_from(resource.spec.capacity).unwrap_or(i32::MAX),
        wanted,
    };
    if asked.capacity == 1 {
        // The common case in one statement: the unit is taken, or the collision is reported
        // without writing anything. (No transaction id is assigned then, so expiring colliding
        // holds next still keeps HoldExpired after the holds' own events; see
        // `commands::ExpireHold`.)
        if asked.insert(conn, &[0]).await? {
            return Ok(Allocated::Units(vec![0]));
        }
        let room = asked.room(conn).await?;
        return room.refused_or_expired();
    }
    // A flash crowd mostly hears "no": answer that without queueing for the lock when a plain
    // read already shows too few free units. (Refusing on a slightly old read is the same as
    // having arrived a moment earlier; only a success needs the lock.) The read includes the
    // resource's version, so it never judges by rules that changed since the load.
    let seen = asked.room(conn).await?;
    if seen.version != resource.version {
        return Err(CommandError::Retry);
    }
    if seen.free(&asked).len() < quantity as usize && seen.expired.is_empty() {
        return Err(seen.refusal());
    }
    // Everyone queued here decides under the lock in one read, so a refusal holds the lock for
    // one round trip (the crowd that arrived before the slot filled up is refused here).
    lock_resource(conn, asked.resource_id).await?;
    let room = asked.room(conn).await?;
    // A capacity change that committed since the load (its check runs under the same lock)
    // makes the resource stale: reload and decide again.
    if room.version != resource.version {
        return Err(CommandError::Retry);
    }
    let free = room.free(&asked);
    if free.len() < quantity as usize {
        return room.refused_or_expired();
    }
    if !asked.insert(conn, &free).await? {
        // Only a writer outside the resource's lock can have got there first.
        return Err(asked.room(conn).await?.refusal());
    }
    Ok(Allocated::Units(
        free.into_iter().map(|u| u.unsigned_abs()).collect(),
    ))
}

/// A reservation on one resource, as the guard judges and writes it.
struct Asked<'a> {
    meta: &'a CommandMeta,
    resource_id: ResourceId,
    capacity: i32,
    wanted: &'a Reservation,
}

impl Asked<'_> {
    /// Inserts one row per unit; false if any collided (`on conflict do nothing` works with
    /// exclusion constraints, and leaves the transaction usable to read what is in the way).
    /// The caller then refuses, and the rows that did go in are rolled back with the command.
    async fn insert(&self, conn: &mut PgConnection, units: &[i32]) -> Result<bool, CommandError> {
        let done = sqlx::query(
            "insert into allocations (tenant_id, resource_id, unit, during, booking_id, expires_at)
             select $1, $2, u, $3, $4, $5 from unnest($6::int[]) as u
             on conflict do nothing",
        )
        .bind(self.meta.tenant.as_str())
        .bind(self.resource_id.0)
        .bind(range(self.wanted.blocked))
        .bind(self.wanted.booking_id.0)
        .bind(self.wanted.expires_at)
        .bind(units)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == units.len() as u64)
    }
}

// The guard's reads, as fragments that share one parameter numbering: $1 resource, $2 blocked
// range, $3 now; the booking asking is where the caller says. Their plans must not depend on
// the parameters' values: a plan whose estimate does (a `generate_series` up to the capacity,
// say) is planned again on every execution, and that was a quarter of Postgres's CPU in a
// flash crowd.

/// The units allocated over the range, ascending.
macro_rules! taken_units_sql {
    () => {
        "select distinct unit from allocations where resource_id = $1 and during && $2 order by unit"
    };
}

/// The bookings of holds past their TTL overlapping the range.
macro_rules! expired_holds_sql {
    () => {
        "select distinct booking_id from allocations
         where resource_id = $1 and during && $2 and expires_at <= $3"
    };
}

/// The distinct blocked periods of other bookings (than `$booking`) overlapping the range.
macro_rules! conflicts_sql {
    ($booking:literal) => {
        concat!(
            "select distinct during from allocations
             where resource_id = $1 and during && $2 and booking_id <> ",
            $booking,
            " order by during limit 50"
        )
    };
}

/// What one statement sees of a placement's chances, all in the same snapshot.
#[derive(sqlx::FromRow)]
struct Room {
    /// The resource's stream version: the rest holds for the resource at this version.
    version: i64,
    /// The units taken over the blocked period, ascending.
    taken: Vec<i32>,
    /// The holds past their TTL that overlap it (the command frees those first).
    expired: Vec<Uuid>,
    /// The periods other bookings block there, as ranges.
    conflicts: Vec<PgRange<DateTime<Utc>>>,
}

impl Room {
    /// Up to the quantity asked of the lowest units free over the blocked period.
    fn free(&self, asked: &Asked) -> Vec<i32> {
        lowest_free(&self.taken, asked.capacity, asked.wanted.quantity)
    }

    /// The `409` listing what is in the way.
    fn refusal(self) -> CommandError {
        CommandError::SlotUnavailable {
            conflicts: periods(self.conflicts),
        }
    }

    /// No room: the refusal, unless holds past their TTL are in the way (then the command is to
    /// expire them and ask again).
    fn refused_or_expired(self) -> Result<Allocated, CommandError> {
        if self.expired.is_empty() {
            Err(self.refusal())
        } else {
            Ok(Allocated::ExpiredHolds(
                self.expired.into_iter().map(BookingId).collect(),
            ))
        }
    }
}

impl Asked<'_> {
    /// What is in the way of the reservation now, in one statement.
    async fn room(&self, conn: &mut PgConnection) -> Result<Room, CommandError> {
        Ok(sqlx::query_as(concat!(
            "select s.version,
                array(",
            taken_units_sql!(),
            ") as taken,
                array(",
            expired_holds_sql!(),
            ") as expired,
                array(",
            conflicts_sql!("$4"),
            ") as conflicts
         from streams s where s.stream_id = $1"
        ))
        .bind(self.resource_id.0)
        .bind(range(self.wanted.blocked))
        .bind(self.meta.now)
        .bind(self.wanted.booking_id.0)
        .fetch_one(conn)
        .await?)
    }
}

/// A placement a pool considers, as [`seen_full`] reads it.
#[derive(Clone, Copy, Debug)]
pub struct Glance {
    pub resource_id: ResourceId,
    pub blocked: Period,
    pub capacity: u32,
    pub quantity: u32,
}

/// For each of `glances`, whether a plain read already shows fewer free units than it asks:
/// units taken by anything but a hold past its TTL (a placement may expire those, so they do
/// not count). One statement for all, taking no lock. A pool skips the candidates seen full, as
/// the guard's own crowd path refuses on a plain read: being refused on a read a moment old is
/// the answer of having arrived a moment earlier. Only candidates that look free pay for a try
/// (a savepoint, the quota, the guard's insert).
pub async fn seen_full(
    conn: &mut PgConnection,
    glances: &[Glance],
    now: DateTime<Utc>,
) -> Result<Vec<bool>, CommandError> {
    if glances.is_empty() {
        return Ok(Vec::new());
    }
    let resources: Vec<Uuid> = glances.iter().map(|g| g.resource_id.0).collect();
    let starts: Vec<DateTime<Utc>> = glances.iter().map(|g| g.blocked.start()).collect();
    let ends: Vec<DateTime<Utc>> = glances.iter().map(|g| g.blocked.end()).collect();
    let capacities: Vec<i32> = glances.iter().map(|g| to_i32(g.capacity)).collect();
    let quantities: Vec<i32> = glances.iter().map(|g| to_i32(g.quantity)).collect();
    let full: Vec<bool> = sqlx::query_scalar(
        "select (select count(distinct x.unit) from allocations x
                 where x.resource_id = a.resource_id
                   and x.during && tstzrange(a.starts, a.ends)
                   and x.unit < a.capacity
                   and (x.expires_at is null or x.expires_at > $6))
                > a.capacity - a.quantity
         from unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::int[], $5::int[])
              with ordinality as a(resource_id, starts, ends, capacity, quantity, n)
         order by a.n",
    )
    .bind(resources)
    .bind(starts)
    .bind(ends)
    .bind(capacities)
    .bind(quantities)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(full)
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Up to `quantity` of the lowest units below `capacity` that are not in `taken` (ascending).
fn lowest_free(taken: &[i32], capacity: i32, quantity: u32) -> Vec<i32> {
    (0..capacity)
        .filter(|unit| taken.binary_search(unit).is_err())
        .take(quantity as usize)
        .collect()
}

/// Overlapping and touching periods merged, for a `409`.
fn periods(ranges: Vec<PgRange<DateTime<Utc>>>) -> Vec<Period> {
    domain::period::merge(
        ranges
            .into_iter()
            .filter_map(|range| match (range.start, range.end) {
                (
                    Bound::Included(start) | Bound::Excluded(start),
                    Bound::Included(end) | Bound::Excluded(end),
                ) => Period::new(start, end).ok(),
                _ => None,
            })
            .collect(),
    )
}

/// Frees the booking's units.
pub async fn release(conn: &mut PgConnection, booking_id: BookingId) -> Result<(), CommandError> {
    sqlx::query("delete from allocations where booking_id = $1")
        .bind(booking_id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// The booking keeps its units only over `blocked` (a shorter period than it had: a no-show
/// frees the rest of its time for others at once).
pub async fn trim(
    conn: &mut PgConnection,
    booking_id: BookingId,
    blocked: Period,
) -> Result<(), CommandError> {
    sqlx::query("update allocations set during = $2 where booking_id = $1")
        .bind(booking_id.0)
        .bind(range(blocked))
        .execute(conn)
        .await?;
    Ok(())
}

/// A confirmed (or pending) hold no longer expires.
pub async fn keep(conn: &mut PgConnection, booking_id: BookingId) -> Result<(), CommandError> {
    sqlx::query("update allocations set expires_at = null where booking_id = $1")
        .bind(booking_id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether units at or above `capacity` are still allocated for time that has not ended
/// (a capacity decrease must not strand them).
pub async fn units_in_use_from(
    conn: &mut PgConnection,
    resource_id: ResourceId,
    capacity: u32,
    now: DateTime<Utc>,
) -> Result<bool, CommandError> {
    lock_resource(conn, resource_id).await?;
    let in_use: bool = sqlx::query_scalar(
        "select exists (select 1 from allocations
                        where resource_id = $1 and unit >= $2 and upper(during) > $3)",
    )
    .bind(resource_id.0)
    .bind(i32::try_from(capacity).unwrap_or(i32::MAX))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(in_use)
}

#[cfg(test)]
mod tests {
    use super::lowest_free;

    #[test]
    fn the_lowest_free_units_are_taken_in_order_up_to_the_quantity() {
        assert_eq!(lowest_free(&[], 20, 1), vec![0]);
        assert_eq!(lowest_free(&[0, 1, 3], 20, 3), vec![2, 4, 5]);
        assert_eq!(lowest_free(&[1, 2], 4, 5), vec![0, 3]);
        assert!(lowest_free(&[0, 1, 2], 3, 1).is_empty());
        // Units at or above a (lowered) capacity never count as free.
        assert_eq!(lowest_free(&[0, 5, 7], 2, 2), vec![1]);
        assert!(lowest_free(&[], 0, 1).is_empty());
    }
}
