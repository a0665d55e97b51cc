//! `GET /v1/stats/daily`: values, utilization, defaults and refusals.

use chrono::{DateTime, Duration, Utc};
use domain::Event;
use serde_json::json;
use tests::{Booking, QueryApp, at, monday_after, next_eu_dst_switch, rfc};
use uuid::Uuid;

/// A booking of one unit in tenant `acme`, as history the store holds: one command-api would
/// not take now (in the past, or on a day the resource has since closed). Cancelled if asked.
async fn history(
    app: &QueryApp,
    resource: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cancelled: bool,
) {
    let booking = Uuid::new_v4();
    let (start, end) = (rfc(start), rfc(end));
    let placed = json!({
        "booking_id": booking, "resource_id": resource, "start": start, "end": end,
        "blocked": { "start": start, "end": end }, "units": [0], "quantity": 1,
        "customer_id": "alice", "status": "confirmed", "expires_at": null, "metadata": {}
    });
    let mut events = vec![Event::decode("BookingPlaced", 1, &placed).expect("a booking")];
    if cancelled {
        let transition = json!({ "booking_id": booking, "resource_id": resource });
        events.push(Event::decode("BookingCancelled", 1, &transition).expect("a cancellation"));
    }
    app.history("acme", booking, &events).await;
}

#[tokio::test]
async fn utilization_is_booked_over_open_unit_minutes_of_the_local_day() {
    let app = QueryApp::spawn().await;
    let monday = monday_after(8);
    let next_monday = monday + Duration::days(7);
    // Open 8 hours on Mondays with 2 units: 960 unit-minutes; the next Monday loses 4 hours to
    // a blackout: 480.
    let room = app
        .resource(json!({
            "capacity": 2,
            "opening_hours": { "mon": [["09:00", "17:00"]] },
            "blackouts": [{ "start": rfc(at(next_monday, 13, 0)),
                            "end": rfc(at(next_monday, 17, 0)), "reason": "training" }]
        }))
        .await;
    // Monday: three bookings, one of them cancelled; 240 minutes stay booked.
    for (from, to, status) in [
        ((9, 0), (11, 0), "confirmed"),
        ((11, 0), (13, 0), "confirmed"),
        ((13, 0), (14, 0), "cancelled"),
    ] {
        let booking = Booking::new(room, at(monday, from.0, from.1), at(monday, to.0, to.1));
        app.place(&booking.status(status)).await;
    }
    // Tuesday, closed: a booking from before it closed, cancelled.
    let tuesday = monday + Duration::days(1);
    history(&app, room, at(tuesday, 10, 0), at(tuesday, 11, 0), true).await;
    // The next Monday: 100 minutes booked, one booking cancelled.
    app.place(&Booking::new(
        room,
        at(next_monday, 9, 0),
        at(next_monday, 10, 40),
    ))
    .await;
    app.place(
        &Booking::new(room, at(next_monday, 11, 0), at(next_monday, 12, 0)).status("cancelled"),
    )
    .await;
    app.project().await;
    let reply = app
        .get(
            &format!("/v1/stats/daily?from={monday}&to={next_monday}"),
            Some(&app.viewer()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["items"],
        json!([
            { "resource_id": room, "day": monday.to_string(), "bookings": 3,
              "cancellations": 1, "completed": 0, "no_shows": 0, "booked_minutes": 240, "open_minutes": 960, "utilization": 0.25,
              "revenue": [] },
            { "resource_id": room, "day": (monday + Duration::days(1)).to_string(),
              "bookings": 1, "cancellations": 1, "completed": 0, "no_shows": 0,
              "booked_minutes": 0, "open_minutes": 0, "utilization": 0.0, "revenue": [] },
            { "resource_id": room, "day": next_monday.to_string(), "bookings": 2,
              "cancellations": 1, "completed": 0, "no_shows": 0, "booked_minutes": 100, "open_minutes": 480, "utilization": 0.2083,
              "revenue": [] },
        ])
    );

    // A 23-hour local day, open around the clock: 1380 unit-minutes.
    let berlin = app.resource(json!({ "time_zone": "Europe/Berlin" })).await;
    let dst = next_eu_dst_switch(3);
    app.booking(&Booking::new(berlin, at(dst, 10, 0), at(dst, 11, 0)))
        .await;
    app.booking(&Booking::new(berlin, at(dst, 12, 0), at(dst, 13, 18)))
        .await;
    let reply = app
        .get_as_admin(&format!(
            "/v1/stats/daily?from={dst}&to={dst}&resource_id={berlin}"
        ))
        .await;
    assert_eq!(reply.body["items"][0]["utilization"], 0.1);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn without_dates_the_last_30_days_are_reported_and_bad_ranges_are_refused() {
    let app = QueryApp::spawn().await;
    let room = app.resource(json!({})).await;
    let today = Utc::now().date_naive();
    for days_ago in [0, 29, 30] {
        let day = today - Duration::days(days_ago);
        history(&app, room, at(day, 9, 0), at(day, 10, 0), false).await;
    }
    let reply = app.get_as_admin("/v1/stats/daily").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let days: Vec<&str> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["day"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        vec![(today - Duration::days(29)).to_string(), today.to_string()]
    );

    let client = app.get("/v1/stats/daily", Some(&app.client("alice"))).await;
    assert_eq!(client.status, 403);
    assert_eq!(client.code(), "forbidden");
    for (query, status, code) in [
        ("from=2026-12-02&to=2026-12-01", 422, "invalid_period"),
        ("from=2026-01-01&to=2027-01-02", 422, "window_too_large"),
        ("from=2026-01-01&to=2026-12-31", 200, ""),
        ("from=yesterday", 422, "validation_failed"),
        ("from=2026-12-01T00:00:00Z", 422, "validation_failed"),
    ] {
        let reply = app.get_as_admin(&format!("/v1/stats/daily?{query}")).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        assert_eq!(reply.code(), code, "{query}");
    }
    app.cleanup().await;
}
