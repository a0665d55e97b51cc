//! The allocation guard: rows `(resource_id, unit, during, booking_id)` under an exclusion
//! constraint, so no unit of a resource is ever given twice for overlapping time, whatever
//! number of command-api instances race for it.
//!
//! Capacity 1 inserts straight into unit 0 and lets the constraint decide. Capacity > 1 first
//! takes a transaction-scoped advisory lock on the resource and picks the lowest free units:
//! a flash crowd then queues for a few milliseconds each instead of failing and retrying.

use chrono::{DateTime, Utc};
use domain::Period;
use domain::booking::BookingCommand;
use domain::resource::Resource;
use eventstore::ExpectedVersion;
use sqlx::PgConnection;
use sqlx::postgres::types::PgRange;
use uuid::Uuid;

use super::{CommandMeta, aggregates};
use crate::error::CommandError;

const NO_OVERLAP: &str = "allocations_no_overlap";

fn range(period: Period) -> PgRange<DateTime<Utc>> {
    PgRange::from(period.start()..period.end())
}

/// Serializes allocation on one resource (capacity > 1 only; see the module documentation).
async fn lock_resource(conn: &mut PgConnection, resource_id: Uuid) -> Result<(), CommandError> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('resource:' || $1::text, 0))")
        .bind(resource_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Reserves `quantity` units over `blocked` for the booking and returns them.
#[tracing::instrument(skip_all, fields(resource.id = %resource.id, booking.id = %booking_id), err(Debug))]
pub async fn allocate(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    booking_id: Uuid,
    blocked: Period,
    quantity: u32,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Vec<u32>, CommandError> {
    let resource_id = resource.id.0;
    let capacity = i32::try_from(resource.spec.capacity).unwrap_or(i32::MAX);
    let unavailable = || CommandError::SlotUnavailable {
        resource_id,
        booking_id,
        blocked,
    };
    let insert = Insert {
        meta,
        resource_id,
        blocked,
        booking_id,
        expires_at,
    };
    if capacity == 1 {
        // The common case in one statement: the unit is taken, or the collision is reported
        // without writing anything. (No transaction id is assigned then, so expiring colliding
        // holds next still keeps HoldExpired after the holds' own events; see `expire_hold`.)
        if insert.units(conn, &[0], true).await? == 1 {
            return Ok(vec![0]);
        }
        if !expire_colliding_holds(conn, meta, resource_id, blocked).await? {
            return Err(unavailable());
        }
        insert.units(conn, &[0], false).await?;
        return Ok(vec![0]);
    }
    // A flash crowd mostly hears "no": answer that without queueing for the lock when a plain
    // read already shows too few free units. (Refusing on a slightly old read is the same as
    // having arrived a moment earlier; only a success needs the lock.)
    let (free, expired_holds) =
        free_units_and_expired_holds(conn, resource_id, capacity, blocked, quantity, meta.now)
            .await?;
    if free.len() < quantity as usize && !expired_holds {
        return Err(unavailable());
    }
    lock_resource(conn, resource_id).await?;
    // The capacity was read before the lock; a capacity change that committed in between (its
    // check ran under the same lock) would make it stale. Reload and decide again.
    let version: i64 = sqlx::query_scalar("select version from streams where stream_id = $1")
        .bind(resource_id)
        .fetch_one(&mut *conn)
        .await?;
    if version != resource.version {
        return Err(CommandError::Conflict);
    }
    expire_colliding_holds(conn, meta, resource_id, blocked).await?;
    let units = free_units(conn, resource_id, capacity, blocked, quantity).await?;
    if units.len() < quantity as usize {
        return Err(unavailable());
    }
    insert.units(conn, &units, false).await?;
    Ok(units.into_iter().map(|u| u.unsigned_abs()).collect())
}

/// The allocation rows of one booking.
struct Insert<'a> {
    meta: &'a CommandMeta,
    resource_id: Uuid,
    blocked: Period,
    booking_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
}

impl Insert<'_> {
    /// Inserts one row per unit and returns how many went in. With `skip_conflicts`, rows that
    /// collide are left out (`on conflict do nothing` works with exclusion constraints);
    /// otherwise a collision is [`CommandError::SlotUnavailable`].
    async fn units(
        &self,
        conn: &mut PgConnection,
        units: &[i32],
        skip_conflicts: bool,
    ) -> Result<u64, CommandError> {
        let sql = if skip_conflicts {
            "insert into allocations (tenant_id, resource_id, unit, during, booking_id, expires_at)
             select $1, $2, u, $3, $4, $5 from unnest($6::int[]) as u
             on conflict do nothing"
        } else {
            "insert into allocations (tenant_id, resource_id, unit, during, booking_id, expires_at)
             select $1, $2, u, $3, $4, $5 from unnest($6::int[]) as u"
        };
        let done = sqlx::query(sql)
            .bind(&self.meta.tenant)
            .bind(self.resource_id)
            .bind(range(self.blocked))
            .bind(self.booking_id)
            .bind(self.expires_at)
            .bind(units)
            .execute(&mut *conn)
            .await
            .map_err(|err| match &err {
                sqlx::Error::Database(db) if db.constraint() == Some(NO_OVERLAP) => {
                    CommandError::SlotUnavailable {
                        resource_id: self.resource_id,
                        booking_id: self.booking_id,
                        blocked: self.blocked,
                    }
                }
                _ => err.into(),
            })?;
        Ok(done.rows_affected())
    }
}

/// Up to `quantity` of the lowest units with no allocation overlapping `blocked`.
async fn free_units(
    conn: &mut PgConnection,
    resource_id: Uuid,
    capacity: i32,
    blocked: Period,
    quantity: u32,
) -> Result<Vec<i32>, CommandError> {
    Ok(sqlx::query_scalar(
        "select u from generate_series(0, $2 - 1) as u
         where not exists (select 1 from allocations a
                           where a.resource_id = $1 and a.unit = u and a.during && $3)
         order by u
         limit $4",
    )
    .bind(resource_id)
    .bind(capacity)
    .bind(range(blocked))
    .bind(i64::from(quantity))
    .fetch_all(conn)
    .await?)
}

/// [`free_units`], and whether an expired hold (which the command would free first) overlaps
/// `blocked`, in one round trip.
async fn free_units_and_expired_holds(
    conn: &mut PgConnection,
    resource_id: Uuid,
    capacity: i32,
    blocked: Period,
    quantity: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<i32>, bool), CommandError> {
    Ok(sqlx::query_as(
        "select array(select u from generate_series(0, $2 - 1) as u
                      where not exists (select 1 from allocations a
                                        where a.resource_id = $1 and a.unit = u and a.during && $3)
                      order by u
                      limit $4),
                exists (select 1 from allocations
                        where resource_id = $1 and during && $3 and expires_at <= $5)",
    )
    .bind(resource_id)
    .bind(capacity)
    .bind(range(blocked))
    .bind(i64::from(quantity))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Frees the booking's units.
pub async fn release(conn: &mut PgConnection, booking_id: Uuid) -> Result<(), CommandError> {
    sqlx::query("delete from allocations where booking_id = $1")
        .bind(booking_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A confirmed (or pending) hold no longer expires.
pub async fn keep(conn: &mut PgConnection, booking_id: Uuid) -> Result<(), CommandError> {
    sqlx::query("update allocations set expires_at = null where booking_id = $1")
        .bind(booking_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The constraint cannot look at the clock, so holds past their TTL still own their rows until
/// someone records `HoldExpired`. A command that would collide with such a hold does it first.
///
/// Those streams are locked after this transaction's first write, so `expire_hold` checks that
/// the hold's events are older than this transaction (else the command is retried).
/// Returns whether there were any.
async fn expire_colliding_holds(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource_id: Uuid,
    blocked: Period,
) -> Result<bool, CommandError> {
    let expired: Vec<Uuid> = sqlx::query_scalar(
        "select distinct booking_id from allocations
         where resource_id = $1 and during && $2 and expires_at <= $3",
    )
    .bind(resource_id)
    .bind(range(blocked))
    .bind(meta.now)
    .fetch_all(&mut *conn)
    .await?;
    for booking_id in &expired {
        expire_hold(conn, meta, *booking_id).await?;
    }
    Ok(!expired.is_empty())
}

/// Records `HoldExpired` for one hold and frees its units, if it really has expired.
/// Returns whether it did.
pub async fn expire_hold(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    booking_id: Uuid,
) -> Result<bool, CommandError> {
    eventstore::append::lock_streams(conn, &[booking_id]).await?;
    // This transaction may already hold a transaction id (an earlier write of the command):
    // if the hold's own events are newer, appending now would put HoldExpired before them in
    // the global order. Start over with a fresh transaction instead.
    let older: bool = sqlx::query_scalar(
        "select coalesce(pg_current_xact_id_if_assigned() < max(transaction_id), false)
         from events where stream_id = $1",
    )
    .bind(booking_id)
    .fetch_one(&mut *conn)
    .await?;
    if older {
        return Err(CommandError::Conflict);
    }
    let Some(booking) = aggregates::load_booking(conn, &meta.tenant, booking_id).await? else {
        return Ok(false);
    };
    match booking.decide(BookingCommand::Expire, meta.now) {
        Ok(event) => {
            super::append(
                conn,
                meta,
                booking_id,
                ExpectedVersion::Exact(booking.version),
                &[event],
            )
            .await?;
            release(conn, booking_id).await?;
            Ok(true)
        }
        // Confirmed, cancelled or already expired by someone else in the meantime.
        Err(_) => Ok(false),
    }
}

/// The blocked periods of other bookings that overlap `blocked` on the resource (for a `409`'s
/// `conflicts`).
pub async fn conflicts(
    conn: &mut PgConnection,
    resource_id: Uuid,
    booking_id: Uuid,
    blocked: Period,
) -> Result<Vec<Period>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "select distinct lower(during), upper(during) from allocations
         where resource_id = $1 and during && $2 and booking_id <> $3
         order by 1 limit 50",
    )
    .bind(resource_id)
    .bind(range(blocked))
    .bind(booking_id)
    .fetch_all(conn)
    .await?;
    Ok(domain::period::merge(
        rows.into_iter()
            .filter_map(|(start, end)| Period::new(start, end).ok())
            .collect(),
    ))
}

/// Whether units at or above `capacity` are still allocated for time that has not ended
/// (a capacity decrease must not strand them).
pub async fn units_in_use_from(
    conn: &mut PgConnection,
    resource_id: Uuid,
    capacity: u32,
    now: DateTime<Utc>,
) -> Result<bool, CommandError> {
    lock_resource(conn, resource_id).await?;
    let in_use: bool = sqlx::query_scalar(
        "select exists (select 1 from allocations
                        where resource_id = $1 and unit >= $2 and upper(during) > $3)",
    )
    .bind(resource_id)
    .bind(i32::try_from(capacity).unwrap_or(i32::MAX))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(in_use)
}
