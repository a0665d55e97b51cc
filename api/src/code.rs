//! Error codes: the machine-readable `code` of every problem+json answer.
//!
//! A code decides its HTTP status and title, so an answer can never pair a code with another
//! status. Domain errors know their code through [`Coded`].

use serde::Serialize;

use domain::booking::BookingError;
use domain::resource::ResourceError;
use domain::series::SeriesError;
use domain::service::ServiceError;

macro_rules! codes {
    ($($variant:ident = $name:literal, $status:literal, $title:literal;)*) => {
        /// Every error code of the API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as clients read it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The HTTP status that goes with the code.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// The problem's `title`: the same for every answer with this code.
            pub fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $title,)*
                }
            }
        }
    };
}

codes! {
    MalformedRequest = "malformed_request", 400, "The request could not be read";
    Unauthenticated = "unauthenticated", 401, "Authentication required";
    Forbidden = "forbidden", 403, "Not allowed";
    NotFound = "not_found", 404, "Not found";
    ResourceNotFound = "resource_not_found", 404, "Not found";
    BookingNotFound = "booking_not_found", 404, "Not found";
    BlackoutNotFound = "blackout_not_found", 404, "Not found";
    ServiceNotFound = "service_not_found", 404, "Not found";
    SeriesNotFound = "series_not_found", 404, "Not found";
    MethodNotAllowed = "method_not_allowed", 405, "Method not allowed";
    SlotUnavailable = "slot_unavailable", 409, "The slot is not available";
    InvalidState = "invalid_state", 409, "Not possible in the booking's current state";
    IdempotencyKeyInFlight = "idempotency_key_in_flight", 409, "A request with this key is still running";
    AlreadyExists = "already_exists", 409, "Already exists";
    CapacityInUse = "capacity_in_use", 409, "Capacity still in use";
    CheckInWindow = "check_in_window", 409, "Outside the check-in window";
    NoShowTooEarly = "no_show_too_early", 409, "Too early to record a no-show";
    CutoffPassed = "cutoff_passed", 409, "The cancellation cut-off has passed";
    BookingStarted = "booking_started", 409, "The booking has started";
    QuotaExceeded = "quota_exceeded", 409, "The customer's booking quota is used up";
    ResourceArchived = "resource_archived", 409, "The resource is archived";
    SeriesConflict = "series_conflict", 409, "Occurrences of the series cannot be booked";
    HoldExpired = "hold_expired", 410, "The hold has expired";
    VersionConflict = "version_conflict", 412, "The resource has changed";
    PayloadTooLarge = "payload_too_large", 413, "The request body is too large";
    PreconditionRequired = "precondition_required", 428, "If-Match is required";
    UnsupportedMediaType = "unsupported_media_type", 415, "Unsupported media type";
    ValidationFailed = "validation_failed", 422, "The request is not valid";
    InvalidPeriod = "invalid_period", 422, "Invalid period";
    OutsideOpeningHours = "outside_opening_hours", 422, "Outside opening hours";
    DurationOutOfRange = "duration_out_of_range", 422, "Duration out of range";
    InsufficientNotice = "insufficient_notice", 422, "Too short notice";
    TooFarInAdvance = "too_far_in_advance", 422, "Too far in advance";
    QuantityExceedsCapacity = "quantity_exceeds_capacity", 422, "Quantity exceeds capacity";
    ServiceNotOffered = "service_not_offered", 422, "The service is not offered on this resource";
    InvalidRrule = "invalid_rrule", 422, "The recurrence rule is not supported";
    IdempotencyKeyReused = "idempotency_key_reused", 422, "Key was used for another request";
    WindowTooLarge = "window_too_large", 422, "The window is too large";
    InvalidCursor = "invalid_cursor", 422, "The cursor is not valid";
    InvalidFilter = "invalid_filter", 422, "The filter is not valid";
    TooManyCandidates = "too_many_candidates", 422, "Too many candidate resources";
    NoCandidates = "no_candidates", 422, "No resource to book";
    TooMuchWork = "too_much_work", 422, "Too much work for one request";
    InvalidPosition = "invalid_position", 422, "The position is not one the store has written";
    RateLimited = "rate_limited", 429, "Too many requests";
    InternalError = "internal_error", 500, "Internal error";
    DatabaseUnavailable = "database_unavailable", 503, "Temporarily unavailable";
    Busy = "busy", 503, "Temporarily unavailable";
    Timeout = "timeout", 503, "Temporarily unavailable";
    ProjectionBehind = "projection_behind", 503, "Temporarily unavailable";
    ConcurrentModification = "concurrent_modification", 503, "Temporarily unavailable";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that answers with one code.
pub trait Coded {
    fn code(&self) -> ErrorCode;
}

impl Coded for BookingError {
    fn code(&self) -> ErrorCode {
        match self {
            BookingError::InvalidQuantity | BookingError::MetadataTooLarge => {
                ErrorCode::ValidationFailed
            }
            BookingError::QuantityExceedsCapacity { .. } => ErrorCode::QuantityExceedsCapacity,
            BookingError::DurationOutOfRange { .. } => ErrorCode::DurationOutOfRange,
            BookingError::InsufficientNotice { .. } => ErrorCode::InsufficientNotice,
            BookingError::TooFarInAdvance { .. } => ErrorCode::TooFarInAdvance,
            BookingError::OutsideOpeningHours => ErrorCode::OutsideOpeningHours,
            BookingError::InvalidState { .. } => ErrorCode::InvalidState,
            BookingError::HoldExpired => ErrorCode::HoldExpired,
            BookingError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            BookingError::NotFound => ErrorCode::BookingNotFound,
            BookingError::CheckInWindow { .. } => ErrorCode::CheckInWindow,
            BookingError::NoShowTooEarly { .. } => ErrorCode::NoShowTooEarly,
            BookingError::NotStarted => ErrorCode::InvalidState,
            BookingError::CutoffPassed { .. } => ErrorCode::CutoffPassed,
            BookingError::Started => ErrorCode::BookingStarted,
            BookingError::ResourceArchived => ErrorCode::ResourceArchived,
        }
    }
}

impl Coded for ResourceError {
    fn code(&self) -> ErrorCode {
        match self {
            ResourceError::Invalid(_) => ErrorCode::ValidationFailed,
            ResourceError::BlackoutNotFound => ErrorCode::BlackoutNotFound,
            ResourceError::NotFound => ErrorCode::ResourceNotFound,
            ResourceError::AlreadyExists => ErrorCode::AlreadyExists,
        }
    }
}

impl Coded for ServiceError {
    fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Invalid(_) => ErrorCode::ValidationFailed,
            ServiceError::NotFound => ErrorCode::ServiceNotFound,
            ServiceError::AlreadyExists => ErrorCode::AlreadyExists,
            ServiceError::NotOffered => ErrorCode::ServiceNotOffered,
        }
    }
}

impl Coded for SeriesError {
    fn code(&self) -> ErrorCode {
        match self {
            SeriesError::InvalidRule(_) => ErrorCode::InvalidRrule,
            SeriesError::Booking(err) => err.code(),
            SeriesError::Conflict { .. } => ErrorCode::SeriesConflict,
            SeriesError::NotFound => ErrorCode::SeriesNotFound,
            SeriesError::AlreadyExists => ErrorCode::AlreadyExists,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_client_or_server_error_status_and_serializes_as_its_name() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.status()), "{code}");
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::String(code.as_str().to_owned()))
            );
        }
    }
}
