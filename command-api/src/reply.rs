//! `Reply`: a command's answer as sent (status and body), and what the idempotency store keeps
//! so that a retry gets it back byte for byte.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let content_type = if self.status.is_client_error() || self.status.is_server_error() {
            "application/problem+json"
        } else {
            "application/json"
        };
        (
            self.status,
            [(header::CONTENT_TYPE, content_type)],
            self.body.to_string(),
        )
            .into_response()
    }
}
