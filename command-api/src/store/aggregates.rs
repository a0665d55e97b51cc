//! Loading aggregates: read their streams (of the caller's tenant only) and fold them with the
//! domain's `evolve`.

use domain::Event;
use domain::aggregate::Aggregate;
use domain::ids::TenantId;
use eventstore::read::RecordedEvent;
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
    fold(&recorded)
}

/// The aggregates of the streams `ids` that exist in this tenant (in stream id order).
pub async fn load_many<A: Aggregate>(
    conn: &mut PgConnection,
    tenant: &TenantId,
    ids: &[impl StreamId],
) -> Result<Vec<A>, CommandError> {
    let ids: Vec<_> = ids.iter().map(|id| id.stream()).collect();
    let recorded = eventstore::read::load_streams(conn, tenant.as_str(), &ids).await?;
    fold_each(&recorded)
}

/// The aggregates of every stream of the tenant of `A`'s stream type (in stream id order).
pub async fn load_all<A: Aggregate>(
    conn: &mut PgConnection,
    tenant: &TenantId,
    stream_type: domain::event::StreamType,
) -> Result<Vec<A>, CommandError> {
    let recorded =
        eventstore::read::load_streams_of_type(conn, tenant.as_str(), stream_type.as_str()).await?;
    fold_each(&recorded)
}

/// One aggregate per stream of `recorded` (events grouped by stream, in version order).
fn fold_each<A: Aggregate>(recorded: &[RecordedEvent]) -> Result<Vec<A>, CommandError> {
    recorded
        .chunk_by(|a, b| a.stream_id == b.stream_id)
        .filter_map(|stream| fold(stream).transpose())
        .collect()
}

/// The state one stream's events make.
fn fold<A: Aggregate>(recorded: &[RecordedEvent]) -> Result<Option<A>, CommandError> {
    let mut events = Vec::with_capacity(recorded.len());
    for stored in recorded {
        let event = Event::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|err| {
                // A stream we wrote but cannot read is a bug or a missing upcaster: loud.
                tracing::error!(stream.id = %stored.stream_id, error = %err, "undecodable event");
                CommandError::Defect("an event of the stream cannot be decoded")
            })?;
        events.push((event, stored.recorded_at));
    }
    Ok(A::fold(events.iter().map(|(event, at)| (event, *at))))
}
