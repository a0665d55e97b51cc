//! `Idempotency-Key` records.
//!
//! The first request with a key inserts `(tenant, key, fingerprint)` in its command transaction
//! and stores its answer there before commit, so the record and the command's effects commit or
//! vanish together. Requests with the same key are serialized on an advisory lock taken before
//! anything else: a retry waits (at most the lock timeout) for the first one to finish, then
//! finds its answer. A wait that runs out is `409 idempotency_key_in_flight`.

use api::ErrorCode;
use axum::http::StatusCode;
use domain::ids::TenantId;
use serde_json::Value;
use sqlx::PgConnection;

use crate::error::CommandError;
use crate::reply::Reply;

/// A request's key and what identifies the request itself (method, path, actor, body).
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: Value,
}

/// What a key lookup found.
pub enum Claim {
    /// First use: go ahead, and `record` the answer.
    Fresh,
    /// Seen before with the same request: this is its answer.
    Replay(Reply),
}

/// Keys are kept at least this long (API.md: 24 h); the sweeper purges older ones.
pub const RETENTION_HOURS: i32 = 25;

/// Waits for any other request with this key to finish. Take it first in the transaction.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: &TenantId,
    idempotency: &Idempotency,
) -> Result<(), CommandError> {
    // Tenant ids never contain '/', so (tenant, key) pairs cannot collide through the join.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7))")
        .bind(tenant.as_str())
        .bind(&idempotency.key)
        .execute(conn)
        .await
        .map_err(|err| match &err {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03") => {
                CommandError::refused(
                    ErrorCode::IdempotencyKeyInFlight,
                    "retry once the first request with this Idempotency-Key has finished",
                )
            }
            _ => err.into(),
        })?;
    Ok(())
}

const FINGERPRINT: &str = "sha256(convert_to($3::jsonb::text, 'UTF8'))";

/// Claims the key or returns the stored answer; same key with another request is `422`.
pub async fn claim(
    conn: &mut PgConnection,
    tenant: &TenantId,
    idempotency: &Idempotency,
) -> Result<Claim, CommandError> {
    let inserted = sqlx::query(&format!(
        "insert into idempotency_keys (tenant_id, key, fingerprint)
         values ($1, $2, {FINGERPRINT}) on conflict do nothing"
    ))
    .bind(tenant.as_str())
    .bind(&idempotency.key)
    .bind(&idempotency.fingerprint)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let (same, status, body): (bool, Option<i16>, Option<Value>) = sqlx::query_as(&format!(
        "select fingerprint = {FINGERPRINT}, response_status, response_body
         from idempotency_keys where tenant_id = $1 and key = $2"
    ))
    .bind(tenant.as_str())
    .bind(&idempotency.key)
    .bind(&idempotency.fingerprint)
    .fetch_one(&mut *conn)
    .await?;
    if !same {
        return Err(CommandError::refused(
            ErrorCode::IdempotencyKeyReused,
            "this key was first used with a different request; use a new key",
        ));
    }
    match (status, body) {
        (Some(status), Some(body)) => {
            let status = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            Ok(Claim::Replay(Reply::new(status, body)))
        }
        // Committed records always carry their answer; this is unreachable short of manual edits.
        _ => Err(CommandError::Defect(
            "an idempotency record without its answer",
        )),
    }
}

/// Stores the answer for the key claimed in this transaction.
pub async fn record(
    conn: &mut PgConnection,
    tenant: &TenantId,
    idempotency: &Idempotency,
    reply: &Reply,
) -> Result<(), CommandError> {
    sqlx::query(
        "update idempotency_keys set response_status = $3, response_body = $4
         where tenant_id = $1 and key = $2",
    )
    .bind(tenant.as_str())
    .bind(&idempotency.key)
    .bind(i16::try_from(reply.status.as_u16()).unwrap_or(500))
    .bind(&reply.body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes keys past the retention window, a bounded batch at a time.
pub async fn purge_expired(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "delete from idempotency_keys where ctid in (
             select ctid from idempotency_keys
             where created_at < now() - make_interval(hours => $1) limit 1000)",
    )
    .bind(RETENTION_HOURS)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}
