//! One trace from an HTTP command, through its events in the store and on NATS, to the
//! projector's span for its event: W3C `traceparent` end to end.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::nats::read_all;
use tests::{TestApp, day_at};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Subscriber, subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// A span as it was opened: its name and fields.
type Span = (String, BTreeMap<String, String>);

fn spans() -> &'static Mutex<Vec<Span>> {
    static SPANS: OnceLock<Mutex<Vec<Span>>> = OnceLock::new();
    SPANS.get_or_init(Mutex::default)
}

/// Records every span opened in this process (this test binary's global subscriber).
struct Capture;

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        attributes.record(&mut fields);
        spans()
            .lock()
            .unwrap()
            .push((attributes.metadata().name().to_owned(), fields.0));
    }
}

fn find(name: &str, wanted: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    spans()
        .lock()
        .unwrap()
        .iter()
        .find(|(span, fields)| {
            span == name
                && wanted
                    .iter()
                    .all(|(key, value)| fields.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|(_, fields)| fields.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bookings_traceparent_is_followed_from_the_http_request_to_the_projectors_span() {
    subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
        .expect("this test binary's only subscriber");
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app.create_resource(json!({})).await;
    let (trace, caller) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace}-{caller}-01");
    let body =
        json!({"resource_id": room["id"], "start": day_at(1, 9, 0), "end": day_at(1, 10, 0)});
    let placed = app
        .send(
            Method::POST,
            "/v1/bookings",
            Some(&app.admin()),
            Some(&body),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    app.wait_for_projections(Duration::from_secs(10)).await;

    // The request's span: the caller's trace, a span of its own under the caller's.
    let request = find(
        "request",
        &[
            ("trace_id", trace),
            ("parent_id", caller),
            ("http.route", "/v1/bookings"),
        ],
    )
    .expect("the request's span");
    let command = request["span_id"].clone();
    assert!(!request["request_id"].is_empty(), "{request:?}");
    let continued = format!("00-{trace}-{command}-01");

    // Its event carries that context in the store and on NATS.
    let stored: String = sqlx::query_scalar(
        "select metadata->>'traceparent' from events where event_type = 'BookingPlaced'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, continued);
    tests::nats::wait_until_relayed(&app, Duration::from_secs(10)).await;
    let published = read_all(&app.nats, &app.stream).await;
    let message = published
        .iter()
        .find(|m| m.envelope["type"] == "BookingPlaced")
        .unwrap();
    assert_eq!(message.traceparent, continued);

    // And the projector's span for the event continues it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while find(
        "project",
        &[
            ("projection", "bookings"),
            ("trace_id", trace),
            ("parent_id", &command),
        ],
    )
    .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector's span for the booking's event continues the trace"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.cleanup().await;
}
