//! The read models in Postgres (schema `read`, filled by the projector) and the live guard table,
//! as query-api reads them. Every query filters on the tenant first, and each names the index it
//! is written for (see the migration); `tests/explain.rs` checks the plans.

pub mod bookings;
pub mod busy;
pub mod checkpoints;
pub mod guard;
pub mod history;
pub mod personal;
pub mod resources;
pub mod series;
pub mod services;
pub mod stats;

use platform::Problem;

/// Why a read-model query failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A row the projector wrote does not decode into the domain.
    #[error("{what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl StoreError {
    pub fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

impl From<&StoreError> for Problem {
    fn from(err: &StoreError) -> Self {
        match err {
            StoreError::Database(err) => crate::error::database_problem(err),
            StoreError::Corrupt { what, detail } => crate::error::corrupt_row(what, detail),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        Problem::from(&err)
    }
}
