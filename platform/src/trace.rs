//! One trace from an HTTP command to the projector that applies its events, by W3C Trace
//! Context (`traceparent: 00-<trace id>-<parent span id>-<flags>`).
//!
//! Every request gets a span id of its own under the caller's trace (or a new trace when the
//! caller sent none or a malformed one). [`propagate`] puts the request's own context in its
//! `traceparent` header for the handler, and on the request's INFO span. Commands store it in
//! their events' metadata; the relay sends it as a NATS header; the projector's span for each
//! event continues it. (Exporting to an OpenTelemetry collector is not built in: the ids are in
//! the logs, JSON with `RUST_LOG_FORMAT=json`.)

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The W3C header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A position in a trace: the trace, and the span that is the parent of what comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

impl TraceContext {
    /// Reads a `traceparent` value; `None` for anything but a valid version-00 one.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" {
            return None;
        }
        let trace_id = u128::from_str_radix(hex(trace, 32)?, 16).ok()?;
        let span_id = u64::from_str_radix(hex(span, 16)?, 16).ok()?;
        let flags = u8::from_str_radix(hex(flags, 2)?, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(TraceContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// A new trace.
    pub fn root() -> TraceContext {
        let random = uuid::Uuid::new_v4().as_u128();
        TraceContext {
            trace_id: random,
            span_id: new_span_id(),
            sampled: true,
        }
    }

    /// A new span in the same trace, whose parent is this one.
    pub fn child(self) -> TraceContext {
        TraceContext {
            span_id: new_span_id(),
            ..self
        }
    }

    pub fn trace_id(self) -> String {
        format!("{:032x}", self.trace_id)
    }

    pub fn span_id(self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The `traceparent` value that makes this span the parent.
    pub fn header(self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id(),
            self.span_id(),
            u8::from(self.sampled)
        )
    }
}

/// `s` if it is exactly `len` lowercase hex digits (as W3C requires).
fn hex(s: &str, len: usize) -> Option<&str> {
    (s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(s)
}

fn new_span_id() -> u64 {
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    (high ^ low).max(1)
}

/// Middleware: the request's INFO span (method, matched route, request id, trace and span ids),
/// and its own trace context in the `traceparent` header for the handler. Runs after the request
/// id is settled.
pub async fn propagate(mut request: Request, next: Next) -> Response {
    let parent = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::parse);
    let own = parent.map_or_else(TraceContext::root, TraceContext::child);
    if let Ok(value) = HeaderValue::from_str(&own.header()) {
        request.headers_mut().insert(TRACEPARENT, value);
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let request_id = request
        .headers()
        .get(crate::service::REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.route = %route,
        request_id = %request_id,
        trace_id = %own.trace_id(),
        span_id = %own.span_id(),
        parent_id = parent.map(|p| p.span_id()).unwrap_or_default(),
    );
    next.run(request).instrument(span).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_a_child_keeps_the_trace() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::parse(header).expect("a valid traceparent");
        assert_eq!(context.header(), header);
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_ne!(child.span_id, context.span_id);
    }

    #[test]
    fn malformed_or_zero_traceparents_are_refused() {
        for header in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header:?}");
        }
    }
}
