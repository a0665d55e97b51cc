//! `bench seed-events`: fills a database with a realistic event history fast, straight in SQL
//! (resources, then bookings placed, half of them cancelled), to measure replay.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// Writes about `events` events for `resources` resources into the database at `url`, in
/// transactions of 100,000 bookings. Returns the number of events written.
pub async fn seed(url: &str, events: u64, resources: u64, tenant: &str) -> anyhow::Result<u64> {
    let mut conn = PgConnection::connect(url).await.context("cannot connect")?;
    eventstore::db::MIGRATOR.run(&mut conn).await?;
    let resources = i64::try_from(resources.max(1))?;
    // Each booking is placed; every second one is cancelled: 1.5 events per booking.
    let bookings = i64::try_from(events * 2 / 3)?;
    sqlx::query(
        "insert into streams (stream_id, tenant_id, stream_type, version)
         select md5($1 || 'r' || i)::uuid, $1, 'resource', 1 from generate_series(1, $2) i",
    )
    .bind(tenant)
    .bind(resources)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "insert into events (tenant_id, stream_id, stream_version, event_id, event_type, schema_version, payload)
         select $1, md5($1 || 'r' || i)::uuid, 1, gen_random_uuid(), 'ResourceCreated', 1,
                jsonb_build_object('resource_id', md5($1 || 'r' || i)::uuid, 'name', 'Room ' || i,
                                   'kind', 'meeting_room', 'capacity', 1, 'time_zone', 'UTC',
                                   'opening_hours', null, 'policy', '{}'::jsonb)
         from generate_series(1, $2) i",
    )
    .bind(tenant)
    .bind(resources)
    .execute(&mut conn)
    .await?;
    let mut written = u64::try_from(resources)?;
    if bookings == 0 {
        return Ok(written);
    }
    let chunk = 100_000_i64;
    let mut first = 1_i64;
    while first <= bookings {
        let last = (first + chunk - 1).min(bookings);
        let mut tx = conn.begin().await?;
        // Every statement of a chunk takes the tenant and the chunk's first and last booking
        // numbers ($1 to $3).
        let statement = |sql| sqlx::query(sql).bind(tenant).bind(first).bind(last);
        statement(
            "insert into streams (stream_id, tenant_id, stream_type, version)
             select md5($1 || 'b' || i)::uuid, $1, 'booking', 1 + (i % 2)
             from generate_series($2, $3) i",
        )
        .execute(&mut *tx)
        .await?;
        let placed = statement(
            "with b as (
                 select i, md5($1 || 'b' || i)::uuid as id, md5($1 || 'r' || (1 + i % $4))::uuid as resource,
                        date_trunc('day', now()) + interval '1 day'
                            + ((i / $4) * interval '30 minutes') as start_at
                 from generate_series($2, $3) i)
             insert into events (tenant_id, stream_id, stream_version, event_id, event_type, schema_version, payload)
             select $1, id, 1, gen_random_uuid(), 'BookingPlaced', 1,
                    jsonb_build_object(
                        'booking_id', id, 'resource_id', resource,
                        'start', to_char(start_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        'end', to_char((start_at + interval '30 minutes') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        'blocked', jsonb_build_object(
                            'start', to_char(start_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                            'end', to_char((start_at + interval '30 minutes') at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')),
                        'units', jsonb_build_array(0), 'quantity', 1, 'customer_id', 'customer-' || (i % 1000),
                        'status', 'confirmed', 'expires_at', null, 'metadata', '{}'::jsonb)
             from b order by i",
        )
        .bind(resources)
        .execute(&mut *tx)
        .await?;
        let cancelled = statement(
            "insert into events (tenant_id, stream_id, stream_version, event_id, event_type, schema_version, payload)
             select $1, md5($1 || 'b' || i)::uuid, 2, gen_random_uuid(), 'BookingCancelled', 1,
                    jsonb_build_object('booking_id', md5($1 || 'b' || i)::uuid,
                                       'resource_id', md5($1 || 'r' || (1 + i % $4))::uuid)
             from generate_series($2, $3) i where i % 2 = 1 order by i",
        )
        .bind(resources)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        written += placed.rows_affected() + cancelled.rows_affected();
        eprintln!("seeded {written} events");
        first = last + 1;
    }
    Ok(written)
}
