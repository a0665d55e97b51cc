//! Opaque keyset cursors: the sort key of the last item of a page, base64url-encoded so
//! clients pass it back unchanged and never build one.
//!
//! Anything else in their place (a cursor of another list, random bytes, a crafted value) is
//! `422 invalid_cursor`: a cursor is read whole and checked before it reaches a query, so no
//! value can make the database fail (a start beyond what PostgreSQL can store, say).

use api::ErrorCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use domain::ids::{BookingId, ResourceId, ServiceId};
use platform::Problem;
use platform::problem::FieldError;
use uuid::Uuid;

/// Longer than any cursor this API makes (a booking's is 70 characters): not decoded at all.
const MAX_LEN: usize = 128;
/// A search cursor carries a resource's name (at most 200 characters, 800 bytes of UTF-8).
const MAX_SEARCH_LEN: usize = 1_200;

/// The cursor after a resource: its id.
pub fn resource(id: ResourceId) -> String {
    URL_SAFE_NO_PAD.encode(format!("r:{id}"))
}

/// The cursor after a service: its id.
pub fn service(id: ServiceId) -> String {
    URL_SAFE_NO_PAD.encode(format!("v:{id}"))
}

/// The cursor after a booking: its `(start_at, booking_id)`, the start in microseconds.
pub fn booking(start: DateTime<Utc>, id: BookingId) -> String {
    URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", start.timestamp_micros()))
}

fn decode(value: &str) -> Option<String> {
    decode_within(value, MAX_LEN)
}

fn decode_within(value: &str, max_len: usize) -> Option<String> {
    if value.len() > max_len {
        return None;
    }
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// `422 invalid_cursor`, naming the parameter.
fn invalid(name: &'static str) -> Problem {
    let mut problem = Problem::new(
        ErrorCode::InvalidCursor,
        format!("{name} is not a cursor this list returned; pass next_cursor back unchanged"),
    );
    problem.errors.push(FieldError {
        field: name.to_owned(),
        message: "is not a cursor this list returned".to_owned(),
    });
    problem
}

/// Whether `start` can be a booking's start: within the years an RFC 3339 instant can name,
/// which PostgreSQL can also store (chrono's range is wider than PostgreSQL's).
fn plausible_start(start: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&start.year())
}

/// Parses a resource list's cursor.
pub fn parse_resource(name: &'static str, value: &str) -> Result<ResourceId, Problem> {
    parse_id(name, value, "r:").map(ResourceId)
}

/// The id in a cursor of `prefix`.
fn parse_id(name: &'static str, value: &str, prefix: &str) -> Result<Uuid, Problem> {
    decode(value)
        .as_deref()
        .and_then(|raw| raw.strip_prefix(prefix))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| invalid(name))
}

pub fn parse_service(name: &'static str, value: &str) -> Result<ServiceId, Problem> {
    parse_id(name, value, "v:").map(ServiceId)
}

/// The cursor after a search result: its `(name, id)`.
pub fn search(name: &str, id: ResourceId) -> String {
    URL_SAFE_NO_PAD.encode(format!("s:{id}:{name}"))
}

/// Parses a search's cursor.
pub fn parse_search(name: &'static str, value: &str) -> Result<(String, ResourceId), Problem> {
    let raw = decode_within(value, MAX_SEARCH_LEN).ok_or_else(|| invalid(name))?;
    let rest = raw.strip_prefix("s:").ok_or_else(|| invalid(name))?;
    let (id, resource_name) = rest
        .split_at_checked(36)
        .and_then(|(id, tail)| Some((id, tail.strip_prefix(':')?)))
        .ok_or_else(|| invalid(name))?;
    let id = Uuid::parse_str(id).map_err(|_| invalid(name))?;
    if resource_name.contains('\0') {
        return Err(invalid(name));
    }
    Ok((resource_name.to_owned(), ResourceId(id)))
}

/// Parses a booking list's cursor.
pub fn parse_booking(
    name: &'static str,
    value: &str,
) -> Result<(DateTime<Utc>, BookingId), Problem> {
    let raw = decode(value).ok_or_else(|| invalid(name))?;
    let (micros, id) = raw
        .strip_prefix("b:")
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(|| invalid(name))?;
    let start = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(plausible_start)
        .ok_or_else(|| invalid(name))?;
    let id = Uuid::parse_str(id).map_err(|_| invalid(name))?;
    Ok((start, BookingId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_do_not_cross_lists() {
        let id = Uuid::new_v4();
        let start: DateTime<Utc> = "2026-12-01T09:00:00.123456Z".parse().unwrap();
        assert_eq!(
            parse_booking("cursor", &booking(start, BookingId(id))).unwrap(),
            (start, BookingId(id))
        );
        assert_eq!(
            parse_resource("cursor", &resource(ResourceId(id))).unwrap(),
            ResourceId(id)
        );
        assert!(parse_resource("cursor", &booking(start, BookingId(id))).is_err());
        let named = search("Room: 1", ResourceId(id));
        assert_eq!(
            parse_search("cursor", &named).unwrap(),
            ("Room: 1".to_owned(), ResourceId(id))
        );
        assert!(parse_search("cursor", &resource(ResourceId(id))).is_err());
        assert!(parse_booking("cursor", "garbage!").is_err());
    }

    #[test]
    fn a_start_postgresql_cannot_store_is_an_invalid_cursor() {
        let id = BookingId(Uuid::new_v4());
        // Within chrono's range (±262,000 years) but before PostgreSQL's (4713 BC).
        let ancient = URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", -8_000_000_000_000_000_000i64));
        assert_eq!(
            parse_booking("cursor", &ancient).unwrap_err().code.as_str(),
            "invalid_cursor"
        );
        let last: DateTime<Utc> = "9999-12-31T23:59:59Z".parse().unwrap();
        assert!(parse_booking("cursor", &booking(last, id)).is_ok());
        let too_long = "A".repeat(MAX_LEN + 4);
        assert_eq!(
            parse_resource("cursor", &too_long)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_cursor"
        );
    }
}
