//! `GET /v1/stats/daily`: values, utilization, defaults and refusals.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{TestApp, at, monday_after, next_eu_spring_forward, rfc};

async fn day_stats(app: &TestApp, resource: Uuid, day: NaiveDate, bookings: i32, minutes: i64) {
    sqlx::query(
        "insert into read.daily_stats (resource_id, day, tenant_id, bookings, cancellations,
             booked_minutes)
         values ($1, $2, 'acme', $3, 1, $4)",
    )
    .bind(resource)
    .bind(day)
    .bind(bookings)
    .bind(minutes)
    .execute(&app.pool)
    .await
    .expect("insert daily stats");
}

#[tokio::test]
async fn utilization_is_booked_over_open_unit_minutes_of_the_local_day() {
    let app = TestApp::spawn().await;
    let monday = monday_after(8);
    let next_monday = monday + Duration::days(7);
    // Open 8 hours on Mondays with 2 units: 960 unit-minutes; the next Monday loses 4 hours to
    // a blackout: 480.
    let room = app
        .resource(json!({
            "capacity": 2,
            "opening_hours": { "mon": [["09:00", "17:00"]] },
            "blackouts": [{ "id": Uuid::new_v4(), "start": rfc(at(next_monday, 13, 0)),
                            "end": rfc(at(next_monday, 17, 0)), "reason": "training" }]
        }))
        .await;
    day_stats(&app, room, monday, 3, 240).await;
    day_stats(&app, room, monday + Duration::days(1), 0, 0).await;
    day_stats(&app, room, next_monday, 1, 100).await;
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
              "bookings": 0, "cancellations": 1, "completed": 0, "no_shows": 0,
              "booked_minutes": 0, "open_minutes": 0, "utilization": 0.0, "revenue": [] },
            { "resource_id": room, "day": next_monday.to_string(), "bookings": 1,
              "cancellations": 1, "completed": 0, "no_shows": 0, "booked_minutes": 100, "open_minutes": 480, "utilization": 0.2083,
              "revenue": [] },
        ])
    );

    // A 23-hour local day, open around the clock: 1380 unit-minutes.
    let berlin = app.resource(json!({ "time_zone": "Europe/Berlin" })).await;
    let dst = next_eu_spring_forward();
    day_stats(&app, berlin, dst, 2, 138).await;
    let reply = app
        .get(
            &format!("/v1/stats/daily?from={dst}&to={dst}&resource_id={berlin}"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(reply.body["items"][0]["utilization"], 0.1);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn without_dates_the_last_30_days_are_reported_and_bad_ranges_are_refused() {
    let app = TestApp::spawn().await;
    let room = app.resource(json!({})).await;
    let today = Utc::now().date_naive();
    day_stats(&app, room, today, 1, 60).await;
    day_stats(&app, room, today - Duration::days(29), 1, 60).await;
    day_stats(&app, room, today - Duration::days(30), 1, 60).await;
    let reply = app.get("/v1/stats/daily", Some(&app.admin())).await;
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
        let reply = app
            .get(&format!("/v1/stats/daily?{query}"), Some(&app.admin()))
            .await;
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        assert_eq!(reply.code(), code, "{query}");
    }
    app.cleanup().await;
}
