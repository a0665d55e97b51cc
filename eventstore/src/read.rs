//! Reading events: one stream (to rebuild an aggregate), or everything after a position in the
//! safe global order (the relay, projector catch-up, replay), and where the store's head is.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::position::Position;

/// A stored event. Serializes as the public envelope published on NATS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i16,
    pub tenant_id: String,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub position: Position,
    pub recorded_at: DateTime<Utc>,
    #[serde(rename = "data")]
    pub payload: Value,
    pub metadata: Value,
}

const COLUMNS: &str = "global_position, transaction_id, tenant_id, stream_id, stream_version, \
     event_id, event_type, schema_version, payload, metadata, recorded_at";

impl FromRow<'_, PgRow> for RecordedEvent {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(RecordedEvent {
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("event_type")?,
            schema_version: row.try_get("schema_version")?,
            tenant_id: row.try_get("tenant_id")?,
            stream_id: row.try_get("stream_id")?,
            stream_version: row.try_get("stream_version")?,
            position: Position::from_row(row)?,
            recorded_at: row.try_get("recorded_at")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
        })
    }
}

/// All events of one stream of `tenant_id`, in version order (empty if it does not exist or
/// belongs to another tenant).
pub async fn load_stream(
    conn: &mut PgConnection,
    tenant_id: &str,
    stream_id: Uuid,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from events where stream_id = $1 and tenant_id = $2 order by stream_version"
    ))
    .bind(stream_id)
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

/// All events of the streams `stream_ids` of `tenant_id` (unknown ones and other tenants' are
/// left out), stream by stream, each in version order.
pub async fn load_streams(
    conn: &mut PgConnection,
    tenant_id: &str,
    stream_ids: &[Uuid],
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from events where stream_id = any($1) and tenant_id = $2
         order by stream_id, stream_version"
    ))
    .bind(stream_ids)
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

/// All events of every stream of `stream_type` in `tenant_id`, stream by stream, each in
/// version order (the `streams_tenant_type_idx` index finds the streams).
pub async fn load_streams_of_type(
    conn: &mut PgConnection,
    tenant_id: &str,
    stream_type: &str,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from events
         where tenant_id = $1
           and stream_id in (select stream_id from streams
                             where tenant_id = $1 and stream_type = $2)
         order by stream_id, stream_version"
    ))
    .bind(tenant_id)
    .bind(stream_type)
    .fetch_all(conn)
    .await
}

/// Up to `limit` events after `after` and at most `until`, in the safe order (for catching up
/// to a known position).
pub async fn read_range(
    conn: &mut PgConnection,
    after: Position,
    until: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from events
         where (transaction_id, global_position) > ($1, $2)
           and (transaction_id, global_position) <= ($3, $4)
           and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         order by transaction_id, global_position
         limit $5"
    ))
    .bind(after.xid())
    .bind(after.global_position)
    .bind(until.xid())
    .bind(until.global_position)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Up to `limit` events after `after` in the safe order: only events of transactions older than
/// every transaction still running, so nothing can later appear before the last one returned.
pub async fn read_after(
    conn: &mut PgConnection,
    after: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from events
         where (transaction_id, global_position) > ($1, $2)
           and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         order by transaction_id, global_position
         limit $3"
    ))
    .bind(after.xid())
    .bind(after.global_position)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The event stored at `position`, if there is one.
pub async fn at(
    conn: impl PgExecutor<'_>,
    position: Position,
) -> Result<Option<RecordedEvent>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from events where global_position = $1 and transaction_id = $2"
    ))
    .bind(position.global_position)
    .bind(position.xid())
    .fetch_optional(conn)
    .await
}

/// The events stored at `positions` (those there are, in no particular order).
pub async fn at_each(
    conn: impl PgExecutor<'_>,
    positions: &[Position],
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let globals: Vec<i64> = positions.iter().map(|p| p.global_position).collect();
    let found: Vec<RecordedEvent> = sqlx::query_as(&format!(
        "select {COLUMNS} from events where global_position = any($1)"
    ))
    .bind(&globals)
    .fetch_all(conn)
    .await?;
    // The global position is the key; the pair must match too.
    Ok(found
        .into_iter()
        .filter(|event| positions.contains(&event.position))
        .collect())
}

/// The last position the store has written, committed or not ([`Position::START`] when empty):
/// no reader's checkpoint and no client's token can be past it.
pub async fn last_written(conn: impl PgExecutor<'_>) -> Result<Position, sqlx::Error> {
    let last = sqlx::query_as(
        "select transaction_id, global_position from events
         order by transaction_id desc, global_position desc limit 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(last.unwrap_or(Position::START))
}

/// The last event up to `until` (or the last of all) below every running transaction: the
/// events up to it can no longer change ([`Position::START`] when there are none).
pub async fn safe_head(
    conn: impl PgExecutor<'_>,
    until: Option<Position>,
) -> Result<Position, sqlx::Error> {
    let until = until.unwrap_or(Position::new(u64::MAX >> 1, i64::MAX));
    let last = sqlx::query_as(
        "select transaction_id, global_position from events
         where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           and (transaction_id, global_position) <= ($1, $2)
         order by transaction_id desc, global_position desc limit 1",
    )
    .bind(until.xid())
    .bind(until.global_position)
    .fetch_optional(conn)
    .await?;
    Ok(last.unwrap_or(Position::START))
}
