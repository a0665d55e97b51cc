//! A booking's history, read from the event store itself (not a read model): every event of its
//! stream, in order, exactly as recorded — the audit trail. It is never behind a command.

use domain::Event;
use domain::ids::{BookingId, TenantId};
use eventstore::RecordedEvent;
use sqlx::PgPool;

use super::StoreError;

/// The booking's events and who it belongs to: `None` when `tenant` has no booking of that id
/// (a resource's or a service's stream is no booking either).
pub struct History {
    pub customer_id: String,
    pub events: Vec<RecordedEvent>,
}

pub async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: BookingId,
) -> Result<Option<History>, StoreError> {
    let mut conn = pool.acquire().await?;
    let events = eventstore::read::load_stream(&mut conn, tenant.as_str(), id.0).await?;
    let Some(first) = events.first() else {
        return Ok(None);
    };
    let placed = Event::decode(&first.event_type, first.schema_version, &first.payload)
        .map_err(|e| StoreError::corrupt("events", format!("{}: {e}", first.event_id)))?;
    let Event::BookingPlaced(placed) = placed else {
        return Ok(None);
    };
    Ok(Some(History {
        customer_id: placed.customer_id.0,
        events,
    }))
}
