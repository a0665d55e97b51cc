//! Errors as `application/problem+json` (RFC 9457), always with a machine-readable `code`.
//!
//! A `Problem` is what a client sees. Services build one from their own error enums; anything
//! unexpected becomes [`Problem::internal`], whose body says nothing about the cause (the cause
//! goes to the log, once, where the error is converted).
//!
//! The OpenAPI documents describe these bodies with `api::problem::ProblemBody` (tests below keep
//! the two together).

use api::ErrorCode;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub use api::problem::FieldError;

/// An error answer in problem+json form. Its status and title are its code's (`api::ErrorCode`).
#[derive(Clone, Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra members of the body (e.g. `conflicts`, `current_version`).
    pub extra: Map<String, Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            headers: Vec::new(),
        }
    }

    /// `422 validation_failed` with one entry per invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut problem = Self::new(ErrorCode::ValidationFailed, detail);
        problem.errors = errors;
        problem
    }

    /// `422 validation_failed` for a single field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedRequest, detail)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// A `503` (a dependency that is down or slow); the client may retry after `retry_after_s`.
    pub fn unavailable(code: ErrorCode, detail: impl Into<String>, retry_after_s: u32) -> Self {
        Self::new(code, detail).with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_s))
    }

    /// `500` with an opaque body. Log the cause before calling this.
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalError,
            "the server could not complete the request; it has been logged",
        )
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The body as JSON (also what the idempotency store keeps for a rejected command).
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::String(format!(
                "https://bookings.dev/problems/{}",
                self.code.as_str()
            )),
        );
        body.insert("title".into(), self.code.title().into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.clone().into());
        body.insert("code".into(), self.code.as_str().into());
        if !self.errors.is_empty() {
            body.insert(
                "errors".into(),
                serde_json::to_value(&self.errors).unwrap_or(Value::Null),
            );
        }
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

/// The media type of every error body.
pub const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, PROBLEM_JSON);
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

/// Fallback for unknown paths, so even a 404 of the router is problem+json.
pub async fn not_found_fallback() -> Problem {
    Problem::new(ErrorCode::NotFound, "no such endpoint")
}

/// For the router's `method_not_allowed_fallback`.
pub async fn method_not_allowed_fallback() -> Problem {
    Problem::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_body_carries_code_status_and_extras() {
        let problem = Problem::new(ErrorCode::SlotUnavailable, "taken")
            .with_extra("conflicts", serde_json::json!([]));
        let body = problem.body();
        assert_eq!(body["code"], "slot_unavailable");
        assert_eq!(body["status"], 409);
        assert_eq!(body["conflicts"], serde_json::json!([]));
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn every_member_a_problem_body_can_have_is_in_the_documented_problem_schema() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(api::problem::ProblemBody::schema()).unwrap();
        let documented = schema["properties"].as_object().unwrap();
        let mut problem = Problem::invalid_field("name", "is required");
        for extra in ["conflicts", "current_version", "capacity", "work_limit"] {
            problem = problem.with_extra(extra, 1);
        }
        for member in problem.body().as_object().unwrap().keys() {
            assert!(
                documented.contains_key(member),
                "{member} is not documented"
            );
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|name| name.as_str())
            .collect();
        for member in required {
            assert!(Problem::internal().body().get(member).is_some(), "{member}");
        }
    }
}
