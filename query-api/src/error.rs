//! How failures that are not the client's fault are shown: the cause goes to the log here, once,
//! and the client gets a `503` it may retry or an opaque `500`.

use platform::Problem;

/// The client's view of a failed read-model query.
pub fn database_problem(err: &sqlx::Error) -> Problem {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            tracing::warn!(error = %err, "database unavailable");
            Problem::unavailable("database_unavailable", "the database is not reachable", 1)
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
            tracing::warn!(error = %err, "query cancelled (statement timeout)");
            Problem::unavailable("timeout", "the query took too long; retry", 1)
        }
        _ => {
            tracing::error!(error = %err, "query failed");
            Problem::internal()
        }
    }
}

/// A read-model row that does not decode into the domain (a projector bug): logged, `500`.
pub fn corrupt_row(what: &str, err: &dyn std::fmt::Display) -> Problem {
    tracing::error!(row = what, error = %err, "read-model row does not decode");
    Problem::internal()
}

/// `404 resource_not_found`.
pub fn resource_not_found() -> Problem {
    Problem::not_found("resource_not_found", "no resource with this id")
}

/// `404 booking_not_found`.
pub fn booking_not_found() -> Problem {
    Problem::not_found("booking_not_found", "no booking with this id")
}
