//! Where the projections have got to (the statements are `eventstore::checkpoint`'s).

use eventstore::Position;
use readmodel::projections::Projection;
use sqlx::PgPool;

use super::StoreError;

/// The checkpoints of `projections`, in that order; a projection without a row yet is at
/// [`Position::START`].
pub async fn positions(
    pool: &PgPool,
    projections: &[Projection],
) -> Result<Vec<Position>, StoreError> {
    let names: Vec<&str> = projections.iter().map(|p| p.checkpoint()).collect();
    Ok(eventstore::checkpoint::positions(pool, &names).await?)
}
