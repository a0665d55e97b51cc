//! What command answers look like: the booking representation of API.md (the resource one is
//! `domain::resource::ResourceView`, shared with query-api) and the
//! `Reply` (status and body) that the idempotency store keeps.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::booking::Booking;
use domain::event::BookingStatus;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct BookingView<'a> {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub quantity: u32,
    pub customer_id: &'a str,
    pub status: BookingStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: &'a Map<String, Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'a> From<&'a Booking> for BookingView<'a> {
    fn from(booking: &'a Booking) -> Self {
        Self {
            id: booking.id.0,
            resource_id: booking.resource_id.0,
            start: booking.period.start(),
            end: booking.period.end(),
            quantity: booking.quantity,
            customer_id: &booking.customer_id.0,
            status: booking.status,
            expires_at: booking.expires_at,
            metadata: &booking.metadata,
            version: booking.version,
            created_at: booking.created_at,
            updated_at: booking.updated_at,
        }
    }
}

/// A command's answer: what is sent, and what an idempotent retry gets back byte for byte.
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
