//! Checkpoints: the last position a named reader has fully handled.

use sqlx::PgConnection;

use crate::position::Position;

/// The checkpoint of `name`, created at [`Position::START`] if it does not exist yet.
pub async fn load(conn: &mut PgConnection, name: &str) -> Result<Position, sqlx::Error> {
    sqlx::query("insert into checkpoints (name) values ($1) on conflict do nothing")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    let (xid, global_position): (String, i64) = sqlx::query_as(
        "select transaction_id::text, global_position from checkpoints where name = $1",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    let transaction_id = xid
        .parse()
        .map_err(|_| sqlx::Error::Decode("xid8 is not a number".into()))?;
    Ok(Position::new(transaction_id, global_position))
}

/// Moves the checkpoint of `name` from `from` to `to`. Returns false (and changes nothing) if it
/// was not at `from`: someone else advanced it, and the caller must not go on as if it owned it.
pub async fn advance(
    conn: &mut PgConnection,
    name: &str,
    from: Position,
    to: Position,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update checkpoints
         set transaction_id = $2::text::xid8, global_position = $3, updated_at = now()
         where name = $1 and transaction_id = $4::text::xid8 and global_position = $5",
    )
    .bind(name)
    .bind(to.transaction_id.to_string())
    .bind(to.global_position)
    .bind(from.transaction_id.to_string())
    .bind(from.global_position)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}
