//! Loading an aggregate: read its stream (of the caller's tenant only) and fold it with the
//! domain's `evolve`.

use domain::Event;
use domain::aggregate::Aggregate;
use domain::ids::TenantId;
use sqlx::PgConnection;

use super::StreamId;
use crate::error::CommandError;

/// The aggregate of stream `id`, if it exists in this tenant.
pub async fn load<A: Aggregate>(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: impl StreamId,
) -> Result<Option<A>, CommandError> {
    let recorded = eventstore::read::load_stream(conn, tenant.as_str(), id.stream()).await?;
    let mut events = Vec::with_capacity(recorded.len());
    for stored in &recorded {
        let event = Event::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|err| {
                // A stream we wrote but cannot read is a bug or a missing upcaster: loud.
                tracing::error!(stream.id = %id, error = %err, "undecodable event");
                CommandError::Defect("an event of the stream cannot be decoded")
            })?;
        events.push((event, stored.recorded_at));
    }
    Ok(A::fold(events.iter().map(|(event, at)| (event, *at))))
}
