//! Free time and slots: values, local dates, DST days, several resources at once.

use chrono::Duration;
use serde_json::{Value, json};
use tests::{Booking, QueryApp, at, monday_after, next_eu_dst_switch, rfc};

fn free(start: &str, end: &str, units: u64) -> Value {
    json!({ "start": start, "end": end, "units_free": units })
}

fn slot(start: &str, end: &str) -> Value {
    json!({ "start": start, "end": end })
}

#[tokio::test]
async fn capacity_two_with_an_after_buffer_shows_units_free_and_the_slots_that_fit() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app
        .resource(json!({
            "capacity": 2,
            "opening_hours": { "mon": [["09:00", "13:00"]] },
            "policy": { "slot_step_minutes": 60, "buffer_after_minutes": 30 }
        }))
        .await;
    // Unit 0 is blocked 10:00-11:30 and unit 1 10:30-11:30 (each booking plus 30 minutes).
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let (_, written) = app
        .place(&Booking::new(resource, at(day, 10, 30), at(day, 11, 0)))
        .await;
    let position = app.project().await;
    assert_eq!(position, written);

    let t = |h, m| rfc(at(day, h, m));
    let path = format!(
        "/v1/resources/{resource}/availability?from={}&to={}&duration_minutes=60",
        t(9, 0),
        t(13, 0)
    );
    let reply = app.get(&path, Some(&app.client("alice"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["resource_id"], resource.to_string());
    assert_eq!(reply.body["time_zone"], "UTC");
    assert_eq!(reply.body["from"], t(9, 0));
    assert_eq!(reply.body["to"], t(13, 0));
    assert_eq!(reply.body["position"], position.to_string());
    assert_eq!(
        reply.body["free"],
        json!([
            free(&t(9, 0), &t(10, 0), 2),
            free(&t(10, 0), &t(10, 30), 1),
            free(&t(11, 30), &t(13, 0), 2),
        ])
    );
    // 09:00 fits on unit 1 (its buffer ends as unit 1's busy time starts); 10:00 and 11:00
    // collide on both units once the 30-minute buffer is added; 12:00 is free on both.
    assert_eq!(
        reply.body["slots"],
        json!([slot(&t(9, 0), &t(10, 0)), slot(&t(12, 0), &t(13, 0))])
    );

    let both_units = app.get_as_admin(&format!("{path}&quantity=2")).await;
    assert_eq!(
        both_units.body["slots"],
        json!([slot(&t(12, 0), &t(13, 0))])
    );

    // Without a duration there are no slots at all.
    let no_duration = app
        .get(
            &format!("/v1/resources/{resource}/availability?from={day}&to={day}"),
            Some(&app.viewer()),
        )
        .await;
    assert_eq!(no_duration.status, 200, "{}", no_duration.body);
    assert!(no_duration.body.get("slots").is_none());
    assert_eq!(no_duration.body["free"], reply.body["free"]);
    app.cleanup().await;
}

#[tokio::test]
async fn slots_respect_minimum_notice_and_maximum_advance() {
    let app = QueryApp::spawn().await;
    let resource = app
        .resource(json!({ "policy": {
            "slot_step_minutes": 60, "min_notice_minutes": 120, "max_advance_days": 2
        } }))
        .await;
    let today = chrono::Utc::now().date_naive();
    let path = format!(
        "/v1/resources/{resource}/availability?from={today}&to={}&duration_minutes=60",
        today + Duration::days(5)
    );
    let reply = app.get_as_admin(&path).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let now = chrono::Utc::now();
    let starts: Vec<chrono::DateTime<chrono::Utc>> = reply.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(!starts.is_empty());
    assert!(
        starts
            .iter()
            .all(|s| *s >= now + Duration::minutes(120) - Duration::seconds(5))
    );
    assert!(starts[0] <= now + Duration::minutes(180));
    assert!(starts.iter().all(|s| *s <= now + Duration::days(2)));
    // The free timeline is not limited by the booking rules.
    assert_eq!(
        reply.body["free"][0]["end"],
        rfc(at(today + Duration::days(6), 0, 0))
    );
    app.cleanup().await;
}

#[tokio::test]
async fn local_dates_mean_whole_local_days_and_the_spring_forward_day_has_23_hours() {
    let app = QueryApp::spawn().await;
    let resource = app.resource(json!({ "time_zone": "Europe/Berlin" })).await;
    let dst = next_eu_dst_switch(3);
    let reply = app
        .get_as_admin(&format!(
            "/v1/resources/{resource}/availability?from={dst}&to={dst}"
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Berlin is UTC+1 before the switch and UTC+2 after: the day runs 23:00Z to 22:00Z.
    let start = rfc(at(dst - Duration::days(1), 23, 0));
    let end = rfc(at(dst, 22, 0));
    assert_eq!(reply.body["from"], start);
    assert_eq!(reply.body["to"], end);
    assert_eq!(reply.body["free"], json!([free(&start, &end, 1)]));

    // Two winter days, inclusive: 48 hours from local midnight to local midnight.
    // A Monday and a Tuesday: never a DST day (the switches are on Sundays).
    let winter = monday_after(8);
    let reply = app
        .get_as_admin(&format!(
            "/v1/resources/{resource}/availability?from={winter}&to={}",
            winter + Duration::days(1)
        ))
        .await;
    let from: chrono::DateTime<chrono::Utc> = reply.body["from"].as_str().unwrap().parse().unwrap();
    let to: chrono::DateTime<chrono::Utc> = reply.body["to"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        from.with_timezone(&chrono_tz::Europe::Berlin)
            .format("%H:%M")
            .to_string(),
        "00:00"
    );
    assert_eq!(
        to.with_timezone(&chrono_tz::Europe::Berlin).date_naive(),
        winter + Duration::days(2)
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_booking_across_local_midnight_is_counted_once_on_both_days() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({ "capacity": 2 })).await;
    app.booking(&Booking::new(
        resource,
        at(day, 22, 0),
        at(day + Duration::days(1), 2, 0),
    ))
    .await;
    let reply = app
        .get_as_admin(&format!(
            "/v1/resources/{resource}/availability?from={day}&to={}",
            day + Duration::days(1)
        ))
        .await;
    assert_eq!(
        reply.body["free"],
        json!([
            free(&rfc(at(day, 0, 0)), &rfc(at(day, 22, 0)), 2),
            free(
                &rfc(at(day, 22, 0)),
                &rfc(at(day + Duration::days(1), 2, 0)),
                1
            ),
            free(
                &rfc(at(day + Duration::days(1), 2, 0)),
                &rfc(at(day + Duration::days(2), 0, 0)),
                2
            ),
        ])
    );
    app.cleanup().await;
}

#[tokio::test]
async fn several_resources_are_answered_in_the_order_asked() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let first = app.resource(json!({ "time_zone": "Europe/Berlin" })).await;
    let second = app.resource(json!({ "capacity": 3 })).await;
    let reply = app
        .get(
            &format!(
                "/v1/availability?resource_ids={second},{first}&from={day}&to={day}&duration_minutes=30"
            ),
            Some(&app.client("alice")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["resource_id"], second.to_string());
    assert_eq!(items[0]["free"][0]["units_free"], 3);
    assert_eq!(items[1]["resource_id"], first.to_string());
    assert_eq!(items[1]["time_zone"], "Europe/Berlin");
    // 24 hours of 30-minute slots every 15 minutes, the last one starting 23:30.
    assert_eq!(items[1]["slots"].as_array().unwrap().len(), 24 * 4 - 1);
    assert_eq!(reply.cache(), "miss");

    let unknown = uuid::Uuid::new_v4();
    let reply = app
        .get_as_admin(&format!(
            "/v1/availability?resource_ids={first},{unknown}&from={day}&to={day}"
        ))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "resource_not_found");

    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let reply = app
        .get_as_admin(&format!(
            "/v1/availability?resource_ids={}&from={day}&to={day}",
            many.join(",")
        ))
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.field(), "resource_ids");
    app.cleanup().await;
}
