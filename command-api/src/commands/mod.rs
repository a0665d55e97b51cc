//! Running a command: one Postgres transaction that takes the stream locks, settles the
//! `Idempotency-Key`, does the command's work (load, decide, guard, append) and stores the answer.
//!
//! The work of each command lives in [`resources`] and [`bookings`]; this module owns the
//! transaction around it, the retries after a lost race, and turning rejections into answers.

pub mod bookings;
pub mod resources;

use std::future::Future;
use std::pin::Pin;

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::error::{self, CommandError};
use crate::store::idempotency::{self, Claim, Idempotency};
use crate::store::{CommandMeta, guard};
use crate::views::Reply;
use crate::wake::RelayWake;

/// The future of a command's work, borrowing the transaction's connection.
pub type Work<'c> = Pin<Box<dyn Future<Output = Result<Reply, CommandError>> + Send + 'c>>;

/// Everything about a command but its input.
#[derive(Clone, Debug)]
pub struct CommandRequest {
    pub meta: CommandMeta,
    pub idempotency: Option<Idempotency>,
    /// The streams the command appends to; locked before the first write (see
    /// `eventstore::append`).
    pub streams: Vec<Uuid>,
}

/// How often a command is retried after losing a race (a stream conflict or a deadlock).
const MAX_ATTEMPTS: u32 = 5;

/// Runs `work` in one transaction and returns the answer: a success, a rejection (both stored
/// for idempotent retries), or an error for infrastructure failures. After a commit the relay
/// is woken through `wake`.
pub async fn run<I, F>(
    pool: &PgPool,
    wake: &RelayWake,
    request: &CommandRequest,
    input: &I,
    work: F,
) -> Result<Reply, CommandError>
where
    I: Sync,
    F: for<'c> Fn(&'c mut PgConnection, &'c CommandMeta, &'c I) -> Work<'c> + Send + Sync,
{
    let meta = &request.meta;
    let mut attempt = 1;
    loop {
        let mut tx = guard::begin(pool).await?;
        if let Some(idem) = &request.idempotency {
            idempotency::lock(&mut tx, &meta.tenant, idem).await?;
        }
        eventstore::append::lock_streams(&mut tx, &request.streams).await?;
        let outcome = match &request.idempotency {
            None => work(&mut tx, meta, input).await,
            Some(idem) => {
                if let Claim::Replay(reply) =
                    idempotency::claim(&mut tx, &meta.tenant, idem).await?
                {
                    return Ok(reply);
                }
                // A savepoint, so that a rejection can still be recorded under the key.
                let mut savepoint = tx.begin().await?;
                let outcome = work(&mut savepoint, meta, input).await;
                if outcome.is_ok() {
                    savepoint.commit().await?;
                } else {
                    savepoint.rollback().await?;
                }
                outcome
            }
        };
        let reply = match outcome {
            Ok(reply) => reply,
            Err(CommandError::Conflict) if attempt < MAX_ATTEMPTS => {
                attempt += 1;
                continue;
            }
            Err(err) if err.is_rejection() => {
                if request.idempotency.is_none() {
                    return refuse(pool, tx, err).await;
                }
                rejection(&mut tx, err).await?
            }
            Err(err) => return Err(err),
        };
        if let Some(idem) = &request.idempotency {
            idempotency::record(&mut tx, &meta.tenant, idem, &reply).await?;
        }
        tx.commit().await?;
        if reply.status.is_success() {
            wake.committed();
        }
        return Ok(reply);
    }
}

/// The answer for a rejected command that has no idempotency record, and the end of its
/// transaction. A `409`'s conflicts are read on the transaction's own connection before it is
/// given back: going through the pool again would queue the refusal behind every waiting
/// command a second time (a flash crowd is mostly refusals). If a failed statement aborted the
/// transaction, they are read after the rollback instead.
async fn refuse(
    pool: &PgPool,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    err: CommandError,
) -> Result<Reply, CommandError> {
    let again = match &err {
        CommandError::SlotUnavailable {
            resource_id,
            booking_id,
            blocked,
        } => Some(CommandError::SlotUnavailable {
            resource_id: *resource_id,
            booking_id: *booking_id,
            blocked: *blocked,
        }),
        _ => None,
    };
    let answer = rejection(&mut tx, err).await;
    tx.rollback().await?;
    match (answer, again) {
        (Ok(reply), _) => Ok(reply),
        (Err(_), Some(err)) => rejection(&mut *pool.acquire().await?, err).await,
        (Err(err), None) => Err(err),
    }
}

/// The answer for a rejected command.
async fn rejection(conn: &mut PgConnection, err: CommandError) -> Result<Reply, CommandError> {
    let problem = match err {
        CommandError::SlotUnavailable {
            resource_id,
            booking_id,
            blocked,
        } => {
            error::slot_unavailable(guard::conflicts(conn, resource_id, booking_id, blocked).await?)
        }
        other => other.into_problem(),
    };
    Ok(Reply::new(problem.status, problem.body()))
}
