//! Opaque keyset cursors: the sort key of the last item of a page, base64url-encoded so
//! clients pass it back unchanged and never build one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use platform::Problem;
use uuid::Uuid;

/// The cursor after a resource: its id.
pub fn resource(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("r:{id}"))
}

/// The cursor after a booking: its `(start_at, booking_id)`, the start in microseconds.
pub fn booking(start: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("b:{}:{id}", start.timestamp_micros()))
}

fn decode(value: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

fn invalid(name: &'static str) -> Problem {
    Problem::invalid_field(name, "is not a cursor this list returned")
}

/// Parses a resource list's cursor.
pub fn parse_resource(name: &'static str, value: &str) -> Result<Uuid, Problem> {
    decode(value)
        .as_deref()
        .and_then(|raw| raw.strip_prefix("r:"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| invalid(name))
}

/// Parses a booking list's cursor.
pub fn parse_booking(name: &'static str, value: &str) -> Result<(DateTime<Utc>, Uuid), Problem> {
    let raw = decode(value).ok_or_else(|| invalid(name))?;
    let (micros, id) = raw
        .strip_prefix("b:")
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(|| invalid(name))?;
    let start = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| invalid(name))?;
    let id = Uuid::parse_str(id).map_err(|_| invalid(name))?;
    Ok((start, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_do_not_cross_lists() {
        let id = Uuid::new_v4();
        let start: DateTime<Utc> = "2026-12-01T09:00:00.123456Z".parse().unwrap();
        assert_eq!(
            parse_booking("cursor", &booking(start, id)).unwrap(),
            (start, id)
        );
        assert_eq!(parse_resource("cursor", &resource(id)).unwrap(), id);
        assert!(parse_resource("cursor", &booking(start, id)).is_err());
        assert!(parse_booking("cursor", "garbage!").is_err());
    }
}
