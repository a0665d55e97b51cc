//! Loading an aggregate: read its stream (of the caller's tenant only) and fold it with the
//! domain's `evolve`.

use domain::Event;
use domain::booking::Booking;
use domain::resource::Resource;
use domain::stream::{evolve_booking, evolve_resource};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::CommandError;

async fn fold<S>(
    conn: &mut PgConnection,
    tenant: &str,
    stream_id: Uuid,
    evolve: impl Fn(Option<S>, &Event, chrono::DateTime<chrono::Utc>) -> Option<S>,
) -> Result<Option<S>, CommandError> {
    let recorded = eventstore::read::load_stream(conn, tenant, stream_id).await?;
    let mut state = None;
    for stored in &recorded {
        let event = Event::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|err| {
                // A stream we wrote but cannot read is a bug or a missing upcaster: loud.
                tracing::error!(stream.id = %stream_id, error = %err, "undecodable event");
                CommandError::Database(sqlx::Error::Decode(Box::new(err)))
            })?;
        state = evolve(state, &event, stored.recorded_at);
    }
    Ok(state)
}

/// The resource, if it exists in this tenant.
pub async fn load_resource(
    conn: &mut PgConnection,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Resource>, CommandError> {
    fold(conn, tenant, id, evolve_resource).await
}

/// The booking, if it exists in this tenant.
pub async fn load_booking(
    conn: &mut PgConnection,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Booking>, CommandError> {
    fold(conn, tenant, id, evolve_booking).await
}
