//! Running a command: one Postgres transaction that takes the stream locks, settles the
//! `Idempotency-Key`, lets the command do its work, and turns what it did (or why it refused)
//! into the answer, with the position of its write. A lost race is run again; a refusal is an
//! answer like a success (and stored for idempotent retries); anything else is an error.

use api::views::Written;
use axum::http::StatusCode;
use serde_json::Value;
use sqlx::{Connection, PgPool};

use crate::commands::{Command, Done, Effect};
use crate::error::CommandError;
use crate::reply::Reply;
use crate::store::idempotency::{self, Claim, Idempotency};
use crate::store::{CommandMeta, guard};
use crate::wake::RelayWake;

/// Everything about a command but the command itself.
#[derive(Clone, Debug)]
pub struct CommandRequest {
    pub meta: CommandMeta,
    pub idempotency: Option<Idempotency>,
}

/// How often a command is run after losing a race (a stream conflict or a deadlock).
const MAX_ATTEMPTS: u32 = 5;

/// Runs `command` in one transaction and returns the answer: a success or a refusal (both
/// stored for idempotent retries), or an error for a failure to answer. After a commit the relay
/// is woken through `wake`.
pub async fn run<C: Command>(
    pool: &PgPool,
    wake: &RelayWake,
    request: &CommandRequest,
    command: &C,
) -> Result<Reply, CommandError> {
    let meta = &request.meta;
    let streams = command.streams();
    let mut attempt = 1;
    loop {
        let mut tx = guard::begin(pool).await?;
        if let Some(idem) = &request.idempotency {
            idempotency::lock(&mut tx, &meta.tenant, idem).await?;
        }
        eventstore::append::lock_streams(&mut tx, &streams).await?;
        let outcome = match &request.idempotency {
            None => command.run(&mut tx, meta).await,
            Some(idem) => {
                if let Claim::Replay(reply) =
                    idempotency::claim(&mut tx, &meta.tenant, idem).await?
                {
                    return Ok(reply);
                }
                // A savepoint, so that a refusal can still be recorded under the key.
                let mut savepoint = tx.begin().await?;
                let outcome = command.run(&mut savepoint, meta).await;
                if outcome.is_ok() {
                    savepoint.commit().await?;
                } else {
                    savepoint.rollback().await?;
                }
                outcome
            }
        };
        let reply = match outcome {
            Ok(done) => render(done)?,
            Err(CommandError::Retry) if attempt < MAX_ATTEMPTS => {
                attempt += 1;
                continue;
            }
            Err(err) if err.is_rejection() => {
                let problem = err.into_problem();
                let reply = Reply::new(problem.status, problem.body());
                if request.idempotency.is_none() {
                    // Nothing to keep: the transaction wrote nothing that should stay.
                    tx.rollback().await?;
                    return Ok(reply);
                }
                reply
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

/// The answer to a command that did its work: its status, what it answers with, and the
/// position of its write (which a query can wait for with `min_position`).
fn render<A: serde::Serialize>(done: Done<A>) -> Result<Reply, CommandError> {
    let status = match done.effect {
        Effect::Created => StatusCode::CREATED,
        Effect::Pending | Effect::Accepted => StatusCode::ACCEPTED,
        Effect::Changed => StatusCode::OK,
    };
    let written = Written {
        subject: done.answer,
        position: done.position.to_string(),
    };
    match serde_json::to_value(&written) {
        Ok(body @ Value::Object(_)) => Ok(Reply::new(status, body)),
        _ => Err(CommandError::Defect(
            "a command's answer is not a JSON object",
        )),
    }
}
