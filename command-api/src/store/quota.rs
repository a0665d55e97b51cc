//! The customer quotas' bookkeeping: one `customer_bookings` row per booking that still counts
//! (see the migration), written in the transaction of every command that changes a booking.
//!
//! A booking that may be refused by a quota is decided under a transaction-scoped advisory lock
//! on its (resource, customer): concurrent bookings of one customer queue there, and each counts
//! (READ COMMITTED, after the lock) what the ones before it committed. Without a quota in the
//! resource's policy nothing is locked or counted, only recorded, so a quota set later counts
//! what is already there. Which statuses count is the lifecycle's
//! ([`domain::lifecycle::BookingStatus::is_active`], [`BookingStatus::counts_per_day`]).

use chrono::{DateTime, NaiveDate, Utc};
use domain::Period;
use domain::booking::Booking;
use domain::event::BookingStatus;
use domain::ids::{BookingId, CustomerId};
use domain::resource::{QuotaUse, Resource};
use sqlx::PgConnection;

use super::CommandMeta;
use crate::error::CommandError;

/// A booking as the quotas count it.
#[derive(Clone, Copy, Debug)]
pub struct Counted<'a> {
    pub booking_id: BookingId,
    pub customer: &'a CustomerId,
    pub period: Period,
    /// A hold's end (it stops counting then).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a booking is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// A new booking: both quotas apply.
    New,
    /// An existing booking moved to another period: it adds nothing at a time, only perhaps to
    /// another day.
    Move,
}

/// Checks the resource's quotas for `booking` (refusing with `quota_exceeded`) and records it.
pub async fn claim(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    resource: &Resource,
    booking: Counted<'_>,
    claim: Claim,
) -> Result<(), CommandError> {
    let day = resource.local_day(booking.period.start());
    let policy = &resource.spec.policy;
    if policy.has_quota() {
        lock(conn, resource, booking.customer).await?;
        let mut used = used(conn, meta.now, resource, day, booking).await?;
        if claim == Claim::Move {
            used.active = 0;
        }
        policy.check_quota(used)?;
    }
    sqlx::query(
        "insert into customer_bookings
             (booking_id, tenant_id, resource_id, customer_id, local_day, end_at, active,
              expires_at)
         values ($1, $2, $3, $4, $5, $6, true, $7)
         on conflict (booking_id) do update
             set local_day = excluded.local_day, end_at = excluded.end_at",
    )
    .bind(booking.booking_id.0)
    .bind(meta.tenant.as_str())
    .bind(resource.id.0)
    .bind(&booking.customer.0)
    .bind(day)
    .bind(booking.period.end())
    .bind(booking.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Follows a booking's new status: whether it is still active, or no longer counts at all.
pub async fn follow(conn: &mut PgConnection, booking: &Booking) -> Result<(), CommandError> {
    let status = booking.status;
    if status.counts_per_day() {
        sqlx::query(
            "update customer_bookings set active = $2, expires_at = $3 where booking_id = $1",
        )
        .bind(booking.id.0)
        .bind(status.is_active())
        .bind(booking.expires_at.filter(|_| status == BookingStatus::Held))
        .execute(conn)
        .await?;
    } else {
        sqlx::query("delete from customer_bookings where booking_id = $1")
            .bind(booking.id.0)
            .execute(conn)
            .await?;
    }
    Ok(())
}

async fn lock(
    conn: &mut PgConnection,
    resource: &Resource,
    customer: &CustomerId,
) -> Result<(), CommandError> {
    sqlx::query(
        "select pg_advisory_xact_lock(hashtextextended('quota:' || $1::text || ':' || $2, 0))",
    )
    .bind(resource.id.0)
    .bind(&customer.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the customer holds on the resource besides `booking` itself.
async fn used(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    resource: &Resource,
    day: NaiveDate,
    booking: Counted<'_>,
) -> Result<QuotaUse, CommandError> {
    let (active, on_day): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where active and end_at > $4),
                count(*) filter (where local_day = $5)
         from customer_bookings
         where resource_id = $1 and customer_id = $2 and booking_id <> $3
           and (expires_at is null or expires_at > $4)",
    )
    .bind(resource.id.0)
    .bind(&booking.customer.0)
    .bind(booking.booking_id.0)
    .bind(now)
    .bind(day)
    .fetch_one(conn)
    .await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(QuotaUse {
        active: count(active),
        on_day: count(on_day),
    })
}
