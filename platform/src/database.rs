//! Database failures, classified in one place: which ones mean "the database is down or
//! restarting" (answer `503 database_unavailable`, retry at start-up), which ones are a busy or
//! slow database (`503 busy` / `timeout`), which are a lost race (the caller retries) and which
//! are a real fault (`500`, logged).
//!
//! Classification goes by error kind and SQLSTATE, never by message text.

use api::ErrorCode;
use sqlx::migrate::MigrateError;

use crate::problem::Problem;

/// What a database error means for the request (or the start-up) that met it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The database cannot be reached or is going away: connection refused or cut, the pool
    /// could not get a connection in time, the server shutting down, starting up, out of
    /// connections or resources, or a read-only standby where a primary was expected. Waiting
    /// helps.
    Unavailable,
    /// A lock wait ran out (`lock_timeout`, SQLSTATE 55P03): the object is busy.
    Busy,
    /// The statement ran out of time (`statement_timeout`, 57014).
    Timeout,
    /// A deadlock (40P01) or serialization failure (40001): a lost race; run it again.
    LostRace,
    /// The database refuses this service: authentication failed (class 28) or the database
    /// does not exist (3D000). An outage for the clients all the same, but one an operator must
    /// fix (in the database or in `DATABASE_URL`); the service recovers as soon as it is fixed.
    Refused,
    /// TLS could not be set up: the server's certificate is not trusted (another CA, another
    /// host name, expired) or the server offers no TLS where the URL requires it. An outage
    /// that waiting does not cure: an operator fixes the CA file, the URL or the server.
    Tls,
    /// Anything else: a bug, a schema mismatch, bad data. Not the client's fault, not transient.
    Other,
}

/// How long clients are told to wait before retrying after `503 database_unavailable`.
pub const RETRY_AFTER_SECS: u32 = 2;

/// Classifies `err`.
pub fn classify(err: &sqlx::Error) -> Fault {
    match err {
        // Raised while setting TLS up (the server offers none where the URL requires it, a CA
        // file that does not parse).
        sqlx::Error::Tls(_) => Fault::Tls,
        // The TLS handshake reports an untrusted certificate as an I/O error.
        sqlx::Error::Io(_) if crate::tls::failure(err).is_some() => Fault::Tls,
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        // A connection cut in the middle of a message shows up as a protocol error.
        | sqlx::Error::Protocol(_) => Fault::Unavailable,
        sqlx::Error::Database(db) => db.code().map_or(Fault::Other, |code| sqlstate(&code)),
        sqlx::Error::Migrate(err) => match migration_fault(err) {
            Some(fault) => fault,
            None => Fault::Other,
        },
        _ => Fault::Other,
    }
}

/// The fault an SQLSTATE stands for (see the PostgreSQL manual, "PostgreSQL Error Codes").
fn sqlstate(code: &str) -> Fault {
    match code {
        // 40001 serialization_failure, 40P01 deadlock_detected.
        "40001" | "40P01" => Fault::LostRace,
        // lock_not_available: a `lock_timeout` ran out.
        "55P03" => Fault::Busy,
        // query_canceled: `statement_timeout`.
        "57014" => Fault::Timeout,
        // admin_shutdown (also pg_terminate_backend), crash_shutdown, cannot_connect_now.
        "57P01" | "57P02" | "57P03" => Fault::Unavailable,
        // read_only_sql_transaction: connected to a standby (a fail-over in progress).
        "25006" => Fault::Unavailable,
        // Class 08, connection exception; class 53, insufficient resources
        // (too_many_connections, disk_full, out_of_memory).
        _ if code.starts_with("08") || code.starts_with("53") => Fault::Unavailable,
        // invalid_catalog_name; class 28, invalid authorization specification.
        "3D000" => Fault::Refused,
        _ if code.starts_with("28") => Fault::Refused,
        _ => Fault::Other,
    }
}

/// The fault behind a failed migration run, if it is one of the database's (not a migration
/// that is missing, changed or failed on its own).
fn migration_fault(err: &MigrateError) -> Option<Fault> {
    match err {
        MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => Some(classify(err)),
        _ => None,
    }
}

/// Whether a migration run that failed with `err` may succeed when tried again later: the
/// database was unreachable, busy (another instance migrating holds the lock) or refused this
/// service (fixing the role or creating the database heals it without a restart). A migration
/// that is missing, changed or fails by itself will not.
pub fn migration_may_succeed_later(err: &MigrateError) -> bool {
    match err {
        MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => {
            may_succeed_later(err)
        }
        _ => false,
    }
}

/// Whether a connection or statement that failed with `err` may succeed when tried again later
/// (see [`migration_may_succeed_later`]).
pub fn may_succeed_later(err: &sqlx::Error) -> bool {
    matches!(
        classify(err),
        Fault::Unavailable | Fault::Busy | Fault::Timeout | Fault::Refused
    )
}

/// The client's view of a failed database call; the cause goes to the log here, once.
///
/// A lost race is shown as `503 concurrent_modification`, for callers that did not retry it
/// themselves.
pub fn problem(err: &sqlx::Error) -> Problem {
    match classify(err) {
        Fault::Unavailable => {
            tracing::warn!(error = %err, "database unavailable");
            database_unavailable()
        }
        Fault::Refused => {
            tracing::error!(error = %err, "database unavailable: it refuses this service");
            database_unavailable()
        }
        Fault::Tls => {
            tracing::error!(error = %err, "database unavailable: TLS failed");
            database_unavailable()
        }
        Fault::Busy => {
            tracing::warn!(error = %err, "lock wait timed out");
            Problem::unavailable(
                ErrorCode::Busy,
                "the object is busy with other requests; retry shortly",
                1,
            )
        }
        Fault::Timeout => {
            tracing::warn!(error = %err, "statement timed out");
            Problem::unavailable(ErrorCode::Timeout, "the query took too long; retry", 1)
        }
        Fault::LostRace => {
            tracing::warn!(error = %err, "lost a race too often");
            Problem::unavailable(
                ErrorCode::ConcurrentModification,
                "the object was changed concurrently too often; retry",
                1,
            )
        }
        Fault::Other => {
            tracing::error!(error = %err, "database call failed");
            Problem::internal()
        }
    }
}

/// `503 database_unavailable` with `Retry-After`.
pub fn database_unavailable() -> Problem {
    Problem::unavailable(
        ErrorCode::DatabaseUnavailable,
        "the database is not reachable at the moment; retry shortly",
        RETRY_AFTER_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn connection_and_shutdown_states_are_unavailable_and_the_rest_is_not() {
        for code in [
            "08000", "08001", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "53300",
            "53100", "53200", "25006",
        ] {
            assert_eq!(sqlstate(code), Fault::Unavailable, "{code}");
        }
        assert_eq!(sqlstate("55P03"), Fault::Busy);
        assert_eq!(sqlstate("57014"), Fault::Timeout);
        assert_eq!(sqlstate("40001"), Fault::LostRace);
        assert_eq!(sqlstate("40P01"), Fault::LostRace);
        assert_eq!(sqlstate("28P01"), Fault::Refused);
        assert_eq!(sqlstate("3D000"), Fault::Refused);
        for code in ["23505", "23P01", "42P01", "22008", "57P04", "XX000"] {
            assert_eq!(sqlstate(code), Fault::Other, "{code}");
        }
    }

    #[test]
    fn pool_and_io_errors_are_unavailable_and_answer_503_with_retry_after() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for err in [refused, sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            assert_eq!(classify(&err), Fault::Unavailable);
            let problem = problem(&err);
            assert_eq!(problem.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(problem.code.as_str(), "database_unavailable");
            assert!(
                problem
                    .headers
                    .iter()
                    .any(|(name, _)| name == axum::http::header::RETRY_AFTER)
            );
        }
        assert_eq!(classify(&sqlx::Error::RowNotFound), Fault::Other);
        assert_eq!(problem(&sqlx::Error::RowNotFound).status, 500);
    }

    #[test]
    fn only_a_migration_run_stopped_by_the_database_is_worth_retrying() {
        assert!(migration_may_succeed_later(&MigrateError::Execute(
            sqlx::Error::PoolTimedOut
        )));
        assert!(!migration_may_succeed_later(
            &MigrateError::VersionMismatch(3)
        ));
        assert!(!migration_may_succeed_later(&MigrateError::Execute(
            sqlx::Error::RowNotFound
        )));
    }
}
