//! The shape of every error answer: `application/problem+json` (RFC 9457) with a `code`.
//!
//! `platform::Problem` builds the bodies; [`ProblemBody`] is their schema in the OpenAPI
//! documents (platform's tests hold the two together), and [`FieldError`] is shared by both.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ErrorCode;

/// One invalid field of a request body or query string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's path in the body (`policy.slot_step_minutes`, `items[2].quantity`), or the
    /// query parameter's name.
    pub field: String,
    pub message: String,
}

/// A conflicting period of a `slot_unavailable` answer (what is in the way, with its buffers;
/// nothing about whose it is), or an occurrence of a `series_conflict` answer (with the `code`
/// a single booking of it was refused with).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Conflict {
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
    /// `series_conflict` only: the refusal a single booking of this occurrence gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(examples("slot_unavailable"))]
    pub code: Option<String>,
}

/// An error answer (`application/problem+json`). `code` says what happened; `title` and
/// `status` follow from it. Some codes add members: `errors` (`validation_failed`),
/// `conflicts` (`slot_unavailable`), `current_version` (`version_conflict`), `capacity`
/// (`quantity_exceeds_capacity`), `work_limit` (`too_much_work`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// `https://bookings.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    pub code: ErrorCode,
    /// One entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// What holds the time asked for (`slot_unavailable`), or the occurrences that could not
    /// be booked (`series_conflict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<Conflict>>,
    /// The resource's version now (`If-Match` named another).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// The resource's capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// The work one request may cost (`COMPUTE_MAX_WORK`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_limit: Option<u64>,
}
