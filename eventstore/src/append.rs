//! Appending events to a stream inside the caller's transaction.
//!
//! Concurrency control is optimistic: the `streams` row is compared-and-set from the version the
//! caller decided on to the new one, in the same statement that inserts the batch (one round
//! trip), with the unique `(stream_id, stream_version)` as the backstop.
//!
//! Per-stream order in the global `(transaction_id, global_position)` order needs one more rule:
//! a transaction must take [`lock_streams`] before its first write. A transaction id is assigned at
//! the first write, and the advisory lock is held until commit, so the next writer of the same
//! stream can only get its id after the previous one committed, i.e. a larger one.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::position::{Position, Xid8};

/// An event about to be stored.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i16,
    pub payload: Value,
    pub metadata: Value,
}

/// What the caller believes the stream's version is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version.
    Exact(i64),
}

/// The stream's new version and the position of the last event written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub version: i64,
    pub position: Position,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Someone else appended first (or the stream exists, for `NoStream`). Reload and decide again.
    #[error("stream {stream_id} is not at the expected version")]
    Conflict { stream_id: Uuid },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The advisory-lock key of a stream: both halves of its id folded together. (The first half
/// alone would be the timestamp of a UUIDv7, shared by every id made in the same millisecond.)
pub fn stream_lock_key(stream_id: Uuid) -> i64 {
    let (high, low) = stream_id.as_u64_pair();
    i64::from_be_bytes((high ^ low).to_be_bytes())
}

/// Takes the transaction-scoped write locks of the streams (in a fixed order, so two
/// transactions locking the same pair cannot deadlock). Call before the transaction's first
/// write; see the module documentation for why.
pub async fn lock_streams(conn: &mut PgConnection, stream_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if stream_ids.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<i64> = stream_ids.iter().copied().map(stream_lock_key).collect();
    keys.sort_unstable();
    keys.dedup();
    sqlx::query("select pg_advisory_xact_lock(key) from unnest($1::bigint[]) with ordinality as k(key, n) order by n")
        .bind(&keys)
        .execute(conn)
        .await?;
    Ok(())
}

/// Appends `events` to the stream, which must be at `expected`. `recorded_at` is the command's
/// clock, so the answer and the stored events agree on it.
pub async fn append(
    conn: &mut PgConnection,
    tenant_id: &str,
    stream_id: Uuid,
    stream_type: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
    recorded_at: DateTime<Utc>,
) -> Result<Appended, AppendError> {
    let base = match expected {
        ExpectedVersion::NoStream => 0,
        ExpectedVersion::Exact(version) => version,
    };
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let new_version = base + count;
    let versions: Vec<i64> = (base + 1..=new_version).collect();
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let schema_versions: Vec<i16> = events.iter().map(|e| e.schema_version).collect();
    let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
    let metadata: Vec<&Value> = events.iter().map(|e| &e.metadata).collect();

    // The compare-and-set and the insert in one statement: the insert only happens when the
    // CTE touched the streams row.
    let cas = match expected {
        ExpectedVersion::NoStream => {
            "insert into streams (stream_id, tenant_id, stream_type, version)
             values ($1, $2, $3, $4) on conflict do nothing returning 1"
        }
        ExpectedVersion::Exact(_) => {
            "update streams set version = $4
             where stream_id = $1 and tenant_id = $2 and stream_type = $3 and version = $5
             returning 1"
        }
    };
    let sql = format!(
        "with cas as ({cas})
         insert into events (tenant_id, stream_id, stream_version, event_id, event_type,
                             schema_version, payload, metadata, recorded_at)
         select $2, $1, x.v, x.e, x.t, x.s, x.p, x.m, $12
         from unnest($6::bigint[], $7::uuid[], $8::text[], $9::smallint[], $10::jsonb[],
                     $11::jsonb[]) as x(v, e, t, s, p, m)
         where exists (select 1 from cas)
         order by x.v
         returning global_position, transaction_id"
    );
    let rows: Vec<(i64, Xid8)> = sqlx::query_as(&sql)
        .bind(stream_id)
        .bind(tenant_id)
        .bind(stream_type)
        .bind(new_version)
        .bind(base)
        .bind(&versions)
        .bind(&event_ids)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(recorded_at)
        .fetch_all(&mut *conn)
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db)
                if db.constraint() == Some("events_stream_version_key")
                    || db.constraint() == Some("streams_pkey") =>
            {
                AppendError::Conflict { stream_id }
            }
            _ => AppendError::Database(err),
        })?;
    let Some((global_position, Xid8(transaction_id))) =
        rows.into_iter().max_by_key(|(position, _)| *position)
    else {
        return Err(AppendError::Conflict { stream_id });
    };
    Ok(Appended {
        version: new_version,
        position: Position::new(transaction_id, global_position),
    })
}
