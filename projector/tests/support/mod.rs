//! What the projector's integration tests share: events stored straight into the store (as
//! commands would store them) and the test database's URL.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the support module"
)]

use chrono::{DateTime, Duration, Utc};
use eventstore::Position;
use readmodel::projections::Projection;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a valid time")
        .with_timezone(&Utc)
}

pub fn time(hours: i64) -> String {
    (at("2026-12-01T08:00:00Z") + Duration::hours(hours)).to_rfc3339()
}

/// Stores one event in a transaction of its own (as a command would), creating or moving its
/// stream; returns its position.
pub async fn store(
    pool: &PgPool,
    tenant: &str,
    stream: Uuid,
    kind: &str,
    event_type: &str,
    payload: Value,
) -> Position {
    let mut tx = pool.begin().await.expect("a transaction");
    let (version,): (i64,) = sqlx::query_as(
        "insert into streams (stream_id, tenant_id, stream_type, version) values ($1, $2, $3, 1)
         on conflict (stream_id) do update set version = streams.version + 1
         returning version",
    )
    .bind(stream)
    .bind(tenant)
    .bind(kind)
    .fetch_one(&mut *tx)
    .await
    .expect("the stream");
    let position: Position = sqlx::query_as(
        "insert into events (tenant_id, stream_id, stream_version, event_id, event_type,
                             schema_version, payload)
         values ($1, $2, $3, gen_random_uuid(), $4, 1, $5)
         returning transaction_id, global_position",
    )
    .bind(tenant)
    .bind(stream)
    .bind(version)
    .bind(event_type)
    .bind(payload)
    .fetch_one(&mut *tx)
    .await
    .expect("the event");
    tx.commit().await.expect("commit");
    position
}

pub fn resource(id: Uuid, zone: &str) -> Value {
    json!({
        "resource_id": id, "name": format!("room {id}"), "kind": "room", "capacity": 3,
        "time_zone": zone, "opening_hours": null, "policy": {},
    })
}

pub fn placed(
    id: Uuid,
    resource: Uuid,
    start: i64,
    hours: i64,
    status: &str,
    units: &[u32],
) -> Value {
    json!({
        "booking_id": id, "resource_id": resource,
        "start": time(start), "end": time(start + hours),
        "blocked": { "start": time(start), "end": time(start + hours) },
        "units": units, "quantity": units.len(), "customer_id": format!("customer of {id}"),
        "status": status,
        "expires_at": if status == "held" { Value::String(time(-1)) } else { Value::Null },
        "metadata": { "note": "kept as given" },
    })
}

/// Every projection's checkpoint at `head`, as a live projector that has caught up leaves it
/// (a rebuild waits for the live projector to reach its head before it swaps).
pub async fn caught_up(pool: &PgPool, head: Position) {
    for projection in Projection::ALL {
        let mut conn = pool.acquire().await.expect("a connection");
        eventstore::checkpoint::load(&mut conn, projection.checkpoint())
            .await
            .expect("the checkpoint");
        assert!(
            eventstore::checkpoint::set(&mut conn, projection.checkpoint(), head)
                .await
                .expect("the checkpoint"),
            "{head} is an event"
        );
    }
}

/// The URL of the test's own database (the replay connects by URL, as the command line does).
pub async fn url_of(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("the database name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for sqlx::test");
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    format!("{server}/{name}")
}
