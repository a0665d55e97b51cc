//! The write side's storage: aggregates loaded from their streams, appends, the allocation
//! guard and idempotency records. Every function works inside the caller's transaction.

pub mod aggregates;
pub mod candidates;
pub mod guard;
pub mod idempotency;
pub mod quota;

use chrono::{DateTime, Utc};
use domain::Event;
use domain::ids::{BookingId, ResourceId, SeriesId, ServiceId, TenantId};
use eventstore::wire;
use eventstore::{Appended, ExpectedVersion, NewEvent};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::CommandError;

/// Who caused a command, stored in every event's metadata.
#[derive(Clone, Debug)]
pub struct CommandMeta {
    pub tenant: TenantId,
    pub actor: String,
    pub command_id: Uuid,
    pub correlation_id: String,
    /// The W3C `traceparent` of the command's span, continued by whoever handles its events.
    pub traceparent: Option<String>,
    pub now: DateTime<Utc>,
}

impl CommandMeta {
    fn metadata(&self) -> Value {
        let mut metadata = serde_json::json!({
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "actor": self.actor,
        });
        if let (Some(traceparent), Value::Object(fields)) = (&self.traceparent, &mut metadata) {
            fields.insert(
                wire::METADATA_TRACEPARENT.into(),
                traceparent.clone().into(),
            );
        }
        metadata
    }
}

/// The id of an aggregate, which is also the id of its event stream.
pub trait StreamId: Copy + std::fmt::Display + Send + Sync {
    /// The stream's id as the event store keys it.
    fn stream(self) -> Uuid;
}

impl StreamId for ResourceId {
    fn stream(self) -> Uuid {
        self.0
    }
}

impl StreamId for ServiceId {
    fn stream(self) -> Uuid {
        self.0
    }
}

impl StreamId for BookingId {
    fn stream(self) -> Uuid {
        self.0
    }
}

/// A customer's own stream (its erasure): an id derived from tenant and customer id, which are
/// opaque strings rather than UUIDs (`eventstore::personal::customer_stream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomerStream(pub Uuid);

impl std::fmt::Display for CustomerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl StreamId for CustomerStream {
    fn stream(self) -> Uuid {
        self.0
    }
}

impl StreamId for SeriesId {
    fn stream(self) -> Uuid {
        self.0
    }
}

/// Appends domain events to the stream of `id`, expected at `expected`.
pub async fn append(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    id: impl StreamId,
    expected: ExpectedVersion,
    events: &[Event],
) -> Result<Appended, CommandError> {
    let Some(first) = events.first() else {
        return Err(CommandError::Defect("a command decided no event"));
    };
    let metadata = meta.metadata();
    let new_events: Vec<NewEvent> = events
        .iter()
        .map(|event| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.payload(),
            metadata: metadata.clone(),
        })
        .collect();
    let appended = eventstore::append::append(
        conn,
        meta.tenant.as_str(),
        id.stream(),
        first.stream_type().as_str(),
        expected,
        &new_events,
        meta.now,
    )
    .await?;
    // The relay is woken after the commit (see `crate::wake`), not from inside the transaction.
    Ok(appended)
}

/// Whether a stream with this id exists (in any tenant: ids are global).
pub async fn stream_exists(
    conn: &mut PgConnection,
    id: impl StreamId,
) -> Result<bool, CommandError> {
    Ok(
        sqlx::query_scalar("select exists (select 1 from streams where stream_id = $1)")
            .bind(id.stream())
            .fetch_one(conn)
            .await?,
    )
}

/// Whether the stream has events written by a transaction newer than this one (which may
/// already hold a transaction id from an earlier write): appending to it now would put the new
/// event before those in the global order.
pub async fn stream_newer_than_transaction(
    conn: &mut PgConnection,
    id: impl StreamId,
) -> Result<bool, CommandError> {
    Ok(sqlx::query_scalar(
        "select coalesce(pg_current_xact_id_if_assigned() < max(transaction_id), false)
         from events where stream_id = $1",
    )
    .bind(id.stream())
    .fetch_one(conn)
    .await?)
}

/// [`stream_newer_than_transaction`] for several streams at once: whether any of them has such
/// events.
pub async fn streams_newer_than_transaction(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<bool, CommandError> {
    if ids.is_empty() {
        return Ok(false);
    }
    Ok(sqlx::query_scalar(
        "select coalesce(pg_current_xact_id_if_assigned() < max(transaction_id), false)
         from events where stream_id = any($1)",
    )
    .bind(ids)
    .fetch_one(conn)
    .await?)
}
