//! The write side's storage: aggregates loaded from their streams, appends, the allocation
//! guard and idempotency records. Every function works inside the caller's transaction.

pub mod aggregates;
pub mod guard;
pub mod idempotency;

use chrono::{DateTime, Utc};
use domain::Event;
use eventstore::{Appended, ExpectedVersion, NewEvent};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::CommandError;

/// Who caused a command, stored in every event's metadata.
#[derive(Clone, Debug)]
pub struct CommandMeta {
    pub tenant: String,
    pub actor: String,
    pub command_id: Uuid,
    pub correlation_id: String,
    pub now: DateTime<Utc>,
}

impl CommandMeta {
    fn metadata(&self) -> Value {
        serde_json::json!({
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "actor": self.actor,
        })
    }
}

/// Appends domain events to `stream_id`, expected at `expected`.
pub async fn append(
    conn: &mut PgConnection,
    meta: &CommandMeta,
    stream_id: Uuid,
    expected: ExpectedVersion,
    events: &[Event],
) -> Result<Appended, CommandError> {
    let Some(first) = events.first() else {
        return Err(CommandError::Conflict);
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
        &meta.tenant,
        stream_id,
        first.stream_type().as_str(),
        expected,
        &new_events,
        meta.now,
    )
    .await?;
    // The relay is woken after the commit (see `crate::wake`), not from inside the transaction.
    Ok(appended)
}
