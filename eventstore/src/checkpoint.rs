//! Checkpoints: the last position a named reader (the relay, each projection) has fully handled.
//! Every statement on the `checkpoints` table is here.
//!
//! A checkpoint only ever names an event the store holds: [`advance`] and [`set`] refuse any
//! other position, so a position read from outside (a NATS header, a client's token) can never
//! move a reader past what Postgres has written.

use sqlx::{PgConnection, PgExecutor};

use crate::position::Position;

/// The checkpoint named by `$1` as a one-row subquery (no row if it does not exist yet), with
/// the columns `transaction_id` and `global_position`: for a reader that must read a checkpoint
/// and the rows it covers from one snapshot, in one statement (`left join {BY_NAME} c on true`).
pub const BY_NAME: &str =
    "(select transaction_id, global_position from checkpoints where name = $1)";

/// Creates the checkpoint of `name` at [`Position::START`] unless it exists.
async fn create(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into checkpoints (name) values ($1) on conflict do nothing")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// The checkpoint of `name`, created at [`Position::START`] if it does not exist yet.
pub async fn load(conn: &mut PgConnection, name: &str) -> Result<Position, sqlx::Error> {
    create(conn, name).await?;
    sqlx::query_as("select transaction_id, global_position from checkpoints where name = $1")
        .bind(name)
        .fetch_one(conn)
        .await
}

/// The checkpoint of `name` as it is ([`Position::START`] if it does not exist), without
/// creating it: for readers that must not write (a verify, a query).
pub async fn peek(conn: impl PgExecutor<'_>, name: &str) -> Result<Position, sqlx::Error> {
    let position =
        sqlx::query_as("select transaction_id, global_position from checkpoints where name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(position.unwrap_or(Position::START))
}

/// Locks the checkpoint row of `name` for the caller's transaction (creating it first if need
/// be) and returns it. Whoever holds the lock is the only writer of what the checkpoint covers
/// until commit: a second worker, or a rebuild's swap, waits here.
pub async fn lock(conn: &mut PgConnection, name: &str) -> Result<Position, sqlx::Error> {
    let select = || {
        sqlx::query_as(
            "select transaction_id, global_position from checkpoints where name = $1 for update",
        )
        .bind(name)
    };
    if let Some(position) = select().fetch_optional(&mut *conn).await? {
        return Ok(position);
    }
    // The reader's first run.
    create(conn, name).await?;
    select().fetch_one(conn).await
}

/// Moves the checkpoint of `name` from `from` to `to`. Returns false (and changes nothing) if it
/// was not at `from` (someone else advanced it, and the caller must not go on as if it owned it)
/// or if `to` is not an event in the store.
pub async fn advance(
    conn: &mut PgConnection,
    name: &str,
    from: Position,
    to: Position,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update checkpoints
         set transaction_id = $2, global_position = $3, updated_at = now()
         where name = $1 and transaction_id = $4 and global_position = $5
           and exists (select 1 from events where global_position = $3 and transaction_id = $2)",
    )
    .bind(name)
    .bind(to.xid())
    .bind(to.global_position)
    .bind(from.xid())
    .bind(from.global_position)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets the checkpoint of `name` to `to`, in a transaction that holds its [`lock`]. Returns false
/// (and changes nothing) if `to` is not an event in the store.
pub async fn set(conn: &mut PgConnection, name: &str, to: Position) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "update checkpoints
         set transaction_id = $2, global_position = $3, updated_at = now()
         where name = $1
           and exists (select 1 from events where global_position = $3 and transaction_id = $2)",
    )
    .bind(name)
    .bind(to.xid())
    .bind(to.global_position)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Moves the checkpoint of `name` back to [`Position::START`] (creating it if need be): its
/// reader starts over from the first event. For tooling and tests; a relay or projector that
/// finds its checkpoint reset re-reads the store (and consumers skip what they applied).
pub async fn reset(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    create(conn, name).await?;
    sqlx::query(
        "update checkpoints set transaction_id = '0', global_position = 0, updated_at = now()
         where name = $1",
    )
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}

/// The checkpoints of `names`, in that order; one without a row yet is at [`Position::START`].
pub async fn positions(
    conn: impl PgExecutor<'_>,
    names: &[&str],
) -> Result<Vec<Position>, sqlx::Error> {
    let rows: Vec<(String, crate::position::Xid8, i64)> = sqlx::query_as(
        "select name, transaction_id, global_position from checkpoints where name = any($1)",
    )
    .bind(names)
    .fetch_all(conn)
    .await?;
    Ok(names
        .iter()
        .map(|name| {
            rows.iter()
                .find(|(n, _, _)| n == name)
                .map_or(Position::START, |(_, xid, global_position)| {
                    Position::new(xid.0, *global_position)
                })
        })
        .collect())
}
