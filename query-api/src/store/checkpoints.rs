//! Where the projections have got to: their rows in `checkpoints`.

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
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "select name, transaction_id::text, global_position from checkpoints where name = any($1)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await?;
    names
        .iter()
        .map(|name| match rows.iter().find(|(n, _, _)| n == name) {
            None => Ok(Position::START),
            Some((_, xid, global_position)) => position(xid, *global_position),
        })
        .collect()
}

/// A checkpoint row's `(transaction_id::text, global_position)` as a position.
pub fn position(xid: &str, global_position: i64) -> Result<Position, StoreError> {
    let transaction_id = xid
        .parse()
        .map_err(|_| StoreError::corrupt("checkpoints", format!("xid8 {xid:?}")))?;
    Ok(Position::new(transaction_id, global_position))
}
