//! How failures that are not the client's fault are shown: the cause goes to the log here, once,
//! and the client gets a `503` it may retry or an opaque `500`.

use api::ErrorCode;
use platform::Problem;

/// The client's view of a failed read-model query: `503` (with `Retry-After`) when the database
/// is down, busy or slow, else an opaque `500` (see `platform::database`, which logs the cause).
pub fn database_problem(err: &sqlx::Error) -> Problem {
    platform::database::problem(err)
}

/// A read-model row that does not decode into the domain (a projector bug): logged, `500`.
pub fn corrupt_row(what: &str, err: &dyn std::fmt::Display) -> Problem {
    tracing::error!(row = what, error = %err, "read-model row does not decode");
    Problem::internal()
}

/// `404 resource_not_found`.
pub fn resource_not_found() -> Problem {
    Problem::new(ErrorCode::ResourceNotFound, "no resource with this id")
}

/// `404 booking_not_found`.
pub fn booking_not_found() -> Problem {
    Problem::new(ErrorCode::BookingNotFound, "no booking with this id")
}

/// `404 service_not_found`.
pub fn service_not_found() -> Problem {
    Problem::new(ErrorCode::ServiceNotFound, "no service with this id")
}

/// `404 series_not_found`.
pub fn series_not_found() -> Problem {
    Problem::new(ErrorCode::SeriesNotFound, "no series with this id")
}
