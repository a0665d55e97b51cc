//! Reading events: one stream (to rebuild an aggregate), or everything after a position in the
//! safe global order (the relay, projector catch-up, replay).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
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

// The text form of the xid gets its own name: aliasing it `transaction_id` would make
// `order by transaction_id` sort by the text ("999" after "1000") instead of the xid.
const COLUMNS: &str = "global_position, transaction_id::text as xid_text, tenant_id, \
     stream_id, stream_version, event_id, event_type, schema_version, payload, metadata, recorded_at";

fn from_row(row: &PgRow) -> Result<RecordedEvent, sqlx::Error> {
    let xid: String = row.try_get("xid_text")?;
    let transaction_id = xid
        .parse()
        .map_err(|_| sqlx::Error::Decode("xid8 is not a number".into()))?;
    Ok(RecordedEvent {
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        tenant_id: row.try_get("tenant_id")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get("stream_version")?,
        position: Position::new(transaction_id, row.try_get("global_position")?),
        recorded_at: row.try_get("recorded_at")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
    })
}

/// All events of one stream of `tenant_id`, in version order (empty if it does not exist or
/// belongs to another tenant).
pub async fn load_stream(
    conn: &mut PgConnection,
    tenant_id: &str,
    stream_id: Uuid,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from events where stream_id = $1 and tenant_id = $2 order by stream_version"
    );
    let rows = sqlx::query(&sql)
        .bind(stream_id)
        .bind(tenant_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Up to `limit` events after `after` and at most `until`, in the safe order (for catching up
/// to a known position).
pub async fn read_range(
    conn: &mut PgConnection,
    after: Position,
    until: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from events
         where (transaction_id, global_position) > ($1::text::xid8, $2)
           and (transaction_id, global_position) <= ($3::text::xid8, $4)
           and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         order by transaction_id, global_position
         limit $5"
    );
    let rows = sqlx::query(&sql)
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(until.transaction_id.to_string())
        .bind(until.global_position)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Up to `limit` events after `after` in the safe order: only events of transactions older than
/// every transaction still running, so nothing can later appear before the last one returned.
pub async fn read_after(
    conn: &mut PgConnection,
    after: Position,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from events
         where (transaction_id, global_position) > ($1::text::xid8, $2)
           and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         order by transaction_id, global_position
         limit $3"
    );
    let rows = sqlx::query(&sql)
        .bind(after.transaction_id.to_string())
        .bind(after.global_position)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}
