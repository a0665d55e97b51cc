//! Recurring series (API.md v1.1 "Recurring series"): every occurrence an ordinary booking
//! carrying the series' id, kept at its local wall-clock time across DST; `fail` all or
//! nothing, `skip` the rest; one transaction under races; cancelling from a point on; the read
//! model rebuilt by replay without drift.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use platform::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem, day_at, next_eu_dst_switch, rfc};

/// `POST /v1/series` as `token`.
async fn create(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.post("/v1/series", token, body).await
}

/// A series body on `resource`: `[start, end)` repeating by `rrule`.
fn series(resource: &Value, (start, end): (&str, &str), rrule: &str, on_conflict: &str) -> Value {
    json!({
        "resource_id": resource["id"], "start": start, "end": end, "rrule": rrule,
        "on_conflict": on_conflict,
    })
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().or(item["id"].as_str()).unwrap().to_owned())
        .collect()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Rows counted by `sql` in the test's database.
async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

/// `GET /v1/series/{id}` once the read side has the write at `position`.
async fn read_series(app: &TestApp, token: &str, id: &str, position: &Value) -> Reply {
    let position = position.as_str().unwrap();
    app.query(&format!("/v1/series/{id}?min_position={position}"), token)
        .await
}

#[tokio::test]
async fn a_weekly_series_keeps_its_berlin_wall_clock_time_across_both_dst_changes_of_the_year() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app
        .create_resource(json!({ "policy": { "max_advance_days": 500 } }))
        .await;
    // From the Monday a week before the first switch (to summer or to winter time) to the
    // Wednesday a week after the second: both of 2027 as these tests run in 2026 and 2027.
    let (spring, autumn) = (next_eu_dst_switch(3), next_eu_dst_switch(10));
    let (first, last) = (spring.min(autumn), spring.max(autumn));
    assert!(first.year() == 2027 || last.year() == 2027);
    let monday = first - chrono::Duration::days(13);
    let until = last + chrono::Duration::days(10);
    let local = |day: NaiveDate, hour| {
        Berlin
            .from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
            .single()
            .unwrap()
            .with_timezone(&Utc)
    };
    let (start, end) = (local(monday, 18), local(monday, 19));
    let rrule = format!("FREQ=WEEKLY;BYDAY=MO,WE;UNTIL={}", until.format("%Y%m%d"));
    let body = series(&room, (&rfc(start), &rfc(end)), &rrule, "fail");
    let reply = create(&app, &app.client("alice"), &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    // Every Monday and Wednesday from the start to UNTIL, each 18:00–19:00 Berlin time.
    let expected: Vec<NaiveDate> = monday
        .iter_days()
        .take_while(|day| *day <= until)
        .filter(|day| matches!(day.weekday(), Weekday::Mon | Weekday::Wed))
        .collect();
    let bookings = reply.body["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), expected.len(), "{}", reply.body);
    assert!(reply.body["skipped"].as_array().unwrap().is_empty());
    let series_id = reply.body["series"]["id"].as_str().unwrap();
    for (booking, day) in bookings.iter().zip(&expected) {
        let (start, end) = (instant(&booking["start"]), instant(&booking["end"]));
        assert_eq!((start, end), (local(*day, 18), local(*day, 19)), "{day}");
        let wall = start.with_timezone(&Berlin);
        assert_eq!((wall.date_naive(), wall.hour()), (*day, 18));
        // In UTC the start moves by an hour at each switch: 17:00 in winter, 16:00 in summer.
        let summer = *day > spring && *day <= autumn;
        assert_eq!(start.hour(), if summer { 16 } else { 17 }, "{day}");
        assert_eq!(booking["series_id"], series_id);
        assert_eq!(booking["customer_id"], "alice");
        assert_eq!(booking["status"], "confirmed");
    }
    let starts: Vec<u32> = bookings
        .iter()
        .map(|b| instant(&b["start"]).hour())
        .collect();
    assert!(starts.contains(&16) && starts.contains(&17), "{starts:?}");

    // The read side has the series and the same occurrences.
    let read = read_series(
        &app,
        &app.client("alice"),
        series_id,
        &reply.body["position"],
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["series"], reply.body["series"]);
    assert_eq!(read.body["series"]["rrule"], rrule);
    assert_eq!(read.body["occurrences"], reply.body["bookings"]);
    app.cleanup().await;
}

#[tokio::test]
async fn fail_with_one_occurrence_taken_books_nothing_and_skip_books_the_rest() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app.create_resource(json!({})).await;
    let (admin, bob) = (app.admin(), app.client("bob"));
    // Five days from day 3, 09:00–10:00 UTC; bob holds day 5 already.
    let body = |on_conflict| {
        series(
            &room,
            (&day_at(3, 9, 0), &day_at(3, 10, 0)),
            "FREQ=DAILY;COUNT=5",
            on_conflict,
        )
    };
    let taken = app.book_day(&bob, &room, 5, (9, 30), (10, 30)).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);

    let refused = create(&app, &admin, &body("fail")).await;
    assert_problem(&refused, StatusCode::CONFLICT, "series_conflict");
    assert_eq!(
        refused.body["conflicts"],
        json!([{ "start": day_at(5, 9, 0), "end": day_at(5, 10, 0), "code": "slot_unavailable" }])
    );
    // Nothing of the series was written: bob's booking is the only one, in every table.
    let placed = "select count(*) from events where event_type = 'BookingPlaced'";
    assert_eq!(count(&app, placed).await, 1);
    assert_eq!(
        count(&app, "select count(*) from events where stream_id in (select stream_id from streams where stream_type = 'series')").await,
        0
    );
    assert_eq!(count(&app, "select count(*) from allocations").await, 1);

    let skipped = create(&app, &admin, &body("skip")).await;
    assert_eq!(skipped.status, StatusCode::CREATED, "{}", skipped.body);
    let bookings = skipped.body["bookings"].as_array().unwrap();
    let booked: Vec<String> = bookings
        .iter()
        .map(|b| b["start"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        booked,
        [3, 4, 6, 7].map(|day| day_at(day, 9, 0)).to_vec(),
        "{}",
        skipped.body
    );
    let expected_skip =
        json!([{ "start": day_at(5, 9, 0), "end": day_at(5, 10, 0), "code": "slot_unavailable" }]);
    assert_eq!(skipped.body["skipped"], expected_skip);
    assert_eq!(skipped.body["series"]["skipped"], expected_skip);
    assert_eq!(skipped.body["series"]["on_conflict"], "skip");
    assert_eq!(
        ids(&skipped.body["series"]["booking_ids"]),
        ids(&skipped.body["bookings"])
    );
    assert_eq!(count(&app, placed).await, 5);

    let id = skipped.body["series"]["id"].as_str().unwrap();
    let read = read_series(&app, &app.viewer(), id, &skipped.body["position"]).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["occurrences"], skipped.body["bookings"]);
    // Each occurrence is an ordinary booking: listed and read as any other.
    let one = bookings[0]["id"].as_str().unwrap();
    let single = app.query(&format!("/v1/bookings/{one}"), &admin).await;
    assert_eq!(single.body, bookings[0]);

    // A series nobody can book any of is refused with `skip` too, each occurrence listed.
    let none = create(&app, &admin, &body("skip")).await;
    assert_problem(&none, StatusCode::CONFLICT, "series_conflict");
    assert_eq!(none.body["conflicts"].as_array().unwrap().len(), 5);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_ten_concurrent_overlapping_fail_series_exactly_one_is_booked_and_the_others_book_nothing()
 {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app.create_resource(json!({})).await;
    let app = Arc::new(app);
    // Series i runs five days from day 3 + i % 3: every two share days 5 to 7.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let app = Arc::clone(&app);
        let day = 3 + i % 3;
        let body = series(
            &room,
            (&day_at(day, 9, 0), &day_at(day, 10, 0)),
            "FREQ=DAILY;COUNT=5",
            "fail",
        );
        tasks.push(tokio::spawn(async move {
            create(&app, &app.client(&format!("client-{i}")), &body).await
        }));
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut winner = None;
    let mut last_position = Value::Null;
    for task in tasks {
        let reply = task.await.unwrap();
        *statuses.entry(reply.status.as_u16()).or_default() += 1;
        if reply.status == StatusCode::CREATED {
            winner = Some(reply.body["series"]["id"].as_str().unwrap().to_owned());
            last_position = reply.body["position"].clone();
        } else {
            assert_problem(&reply, StatusCode::CONFLICT, "series_conflict");
            assert!(!reply.body["conflicts"].as_array().unwrap().is_empty());
        }
    }
    assert_eq!(statuses, HashMap::from([(201, 1), (409, 9)]));
    let winner = winner.unwrap();

    // No half series anywhere: five bookings, all the winner's, in the store, the guard and
    // the read models.
    let placed = "select count(*) from events where event_type = 'BookingPlaced'";
    assert_eq!(count(&app, placed).await, 5);
    let series_events = "select count(*) from events where event_type = 'SeriesCreated'";
    assert_eq!(count(&app, series_events).await, 1);
    assert_eq!(count(&app, "select count(*) from allocations").await, 5);
    let read = read_series(&app, &app.admin(), &winner, &last_position).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    app.wait_for_projections(Duration::from_secs(10)).await;
    let rows: Vec<(Option<uuid::Uuid>, i64)> =
        sqlx::query_as("select series_id, count(*) from read.bookings group by series_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows, vec![(Some(winner.parse().unwrap()), 5)]);
    assert_eq!(count(&app, "select count(*) from read.series").await, 1);
    Arc::into_inner(app).unwrap().cleanup().await;
}

#[tokio::test]
async fn cancel_from_cancels_exactly_the_occurrences_from_there_on_and_replay_finds_no_drift() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app.create_resource(json!({})).await;
    let (alice, bob, admin) = (app.client("alice"), app.client("bob"), app.admin());
    let body = series(
        &room,
        (&day_at(3, 9, 0), &day_at(3, 10, 0)),
        "FREQ=DAILY;COUNT=6",
        "fail",
    );
    let created = create(&app, &alice, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["series"]["id"].as_str().unwrap().to_owned();
    let occurrences = ids(&created.body["bookings"]);
    let cancel = |token: &str, body: Value| {
        let path = format!("/v1/series/{id}/cancel");
        let token = token.to_owned();
        let app = &app;
        async move { app.post(&path, &token, &body).await }
    };

    // Someone else's series does not exist for them; another tenant's neither.
    let stranger = cancel(&bob, json!({})).await;
    assert_problem(&stranger, StatusCode::NOT_FOUND, "series_not_found");
    let elsewhere = app.token("globex", "admin-2", &[Role::Admin]);
    let other_tenant = cancel(&elsewhere, json!({})).await;
    assert_problem(&other_tenant, StatusCode::NOT_FOUND, "series_not_found");
    let unknown = app
        .post(
            &format!("/v1/series/{}/cancel", uuid::Uuid::now_v7()),
            &admin,
            &json!({}),
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "series_not_found");

    // From the fourth occurrence's start: the fourth, fifth and sixth, nothing before.
    let from = cancel(&alice, json!({ "from": day_at(6, 9, 0) })).await;
    assert_eq!(from.status, StatusCode::OK, "{}", from.body);
    assert_eq!(ids(&from.body["cancelled"]), occurrences[3..].to_vec());
    assert_eq!(from.body["series"]["version"], 2);
    let read = read_series(&app, &alice, &id, &from.body["position"]).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let statuses: Vec<&str> = read.body["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "confirmed",
            "confirmed",
            "confirmed",
            "cancelled",
            "cancelled",
            "cancelled"
        ]
    );
    assert_eq!(read.body["series"]["version"], 2);
    // The cancelled time is free for others again; the rest is not.
    let freed = app.book_day(&bob, &room, 7, (9, 0), (10, 0)).await;
    assert_eq!(freed.status, StatusCode::CREATED, "{}", freed.body);
    let kept = app.book_day(&bob, &room, 5, (9, 0), (10, 0)).await;
    assert_problem(&kept, StatusCode::CONFLICT, "slot_unavailable");
    for (token, visible) in [(&bob, false), (&app.viewer(), true), (&elsewhere, false)] {
        let seen = read_series(&app, token, &id, &from.body["position"]).await;
        if visible {
            assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
        } else {
            assert_problem(&seen, StatusCode::NOT_FOUND, "series_not_found");
        }
    }

    // Without `from`: every occurrence not yet started, i.e. the three left.
    let rest = cancel(&admin, json!({})).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
    assert_eq!(ids(&rest.body["cancelled"]), occurrences[..3].to_vec());
    let again = cancel(&admin, json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(ids(&again.body["cancelled"]).is_empty());

    // The series, its occurrences and their cancellations replay to exactly the live rows.
    app.wait_for_projections(Duration::from_secs(10)).await;
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    let before: Value = read_series(&app, &admin, &id, &again.body["position"])
        .await
        .body;
    let rebuilt = app.replay(&["--projection", "bookings"]).await;
    assert!(rebuilt.differences.is_empty(), "{rebuilt}");
    let after = read_series(&app, &admin, &id, &again.body["position"]).await;
    assert_eq!(after.body, before);
    let verify = app.replay(&["--verify"]).await;
    assert!(verify.differences.is_empty(), "{verify}");
    app.cleanup().await;
}

#[tokio::test]
async fn rules_outside_the_subset_or_over_366_occurrences_are_invalid_rrule() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let admin = app.admin();
    let (start, end) = (day_at(3, 9, 0), day_at(3, 10, 0));
    let two_years = (Utc::now() + chrono::Duration::days(800))
        .format("%Y%m%d")
        .to_string();
    let weekday = |offset: i64| {
        let day = Utc::now().date_naive() + chrono::Duration::days(3 + offset);
        day.weekday().to_string()[..2].to_uppercase()
    };
    for rule in [
        "FREQ=YEARLY;COUNT=3".to_owned(),
        "FREQ=HOURLY;COUNT=3".to_owned(),
        "FREQ=WEEKLY;BYSETPOS=1;COUNT=2".to_owned(),
        "FREQ=WEEKLY;WKST=SU;COUNT=2".to_owned(),
        "FREQ=DAILY".to_owned(),
        "FREQ=DAILY;COUNT=2;UNTIL=20300101".to_owned(),
        "FREQ=DAILY;COUNT=367".to_owned(),
        format!("FREQ=DAILY;UNTIL={two_years}"),
        "FREQ=DAILY;INTERVAL=0;COUNT=2".to_owned(),
        "FREQ=WEEKLY;BYDAY=1MO;COUNT=2".to_owned(),
        "not a rule".to_owned(),
        // The start is not an occurrence of its own rule.
        format!("FREQ=WEEKLY;BYDAY={};COUNT=2", weekday(1)),
    ] {
        let reply = create(&app, &admin, &series(&room, (&start, &end), &rule, "fail")).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_rrule");
        assert!(!reply.body["detail"].as_str().unwrap().is_empty(), "{rule}");
    }
    // 366 is the limit, not over it (daily for a year fits the default max_advance_days).
    let year = create(
        &app,
        &admin,
        &series(&room, (&start, &end), "FREQ=DAILY;COUNT=360", "fail"),
    )
    .await;
    assert_eq!(year.status, StatusCode::CREATED, "{}", year.body);
    assert_eq!(year.body["bookings"].as_array().unwrap().len(), 360);
    // An occurrence beyond max_advance_days refuses the whole series as a booking would be.
    let far = create(
        &app,
        &admin,
        &series(
            &room,
            (&day_at(3, 11, 0), &day_at(3, 12, 0)),
            "FREQ=WEEKLY;COUNT=60",
            "skip",
        ),
    )
    .await;
    assert_problem(&far, StatusCode::UNPROCESSABLE_ENTITY, "too_far_in_advance");
    assert_eq!(
        count(
            &app,
            "select count(*) from events where event_type = 'SeriesCreated'"
        )
        .await,
        1
    );
    // A valid rule with an unknown field is refused like any body with one.
    let mut typo = series(&room, (&start, &end), "FREQ=DAILY;COUNT=2", "fail");
    typo["on_conflit"] = json!("skip");
    let reply = create(&app, &admin, &typo).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    app.cleanup().await;
}

#[tokio::test]
async fn an_idempotent_retry_answers_the_first_answer_and_books_nothing_more() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let alice = app.client("alice");
    let body = series(
        &room,
        (&day_at(4, 9, 0), &day_at(4, 10, 0)),
        "FREQ=WEEKLY;COUNT=3",
        "fail",
    );
    let send = |body: Value, key: &'static str| {
        let alice = alice.clone();
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "/v1/series",
                Some(&alice),
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = send(body.clone(), "series-1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let events = app.event_count().await;
    let again = send(body.clone(), "series-1").await;
    assert_eq!((again.status, &again.text), (first.status, &first.text));
    assert_eq!(app.event_count().await, events);
    let mut other = body.clone();
    other["on_conflict"] = json!("skip");
    let reused = send(other, "series-1").await;
    assert_problem(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    // A refusal is an answer too: its retry is the same refusal, even once the time is free.
    let refused = send(body.clone(), "series-2").await;
    assert_problem(&refused, StatusCode::CONFLICT, "series_conflict");
    let id = first.body["series"]["id"].as_str().unwrap();
    let cancelled = app
        .post(&format!("/v1/series/{id}/cancel"), &alice, &json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let retried = send(body, "series-2").await;
    assert_eq!(
        (retried.status, &retried.text),
        (refused.status, &refused.text)
    );
    app.cleanup().await;
}

#[tokio::test]
async fn occurrences_follow_what_a_single_booking_does_holds_and_approvals() {
    let app = TestApp::spawn().await;
    let approval = app
        .create_resource(json!({ "policy": { "requires_approval": true } }))
        .await;
    let admin = app.admin();
    let reply = create(
        &app,
        &admin,
        &series(
            &approval,
            (&day_at(3, 9, 0), &day_at(3, 10, 0)),
            "FREQ=DAILY;COUNT=2",
            "fail",
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    for booking in reply.body["bookings"].as_array().unwrap() {
        assert_eq!(booking["status"], "pending");
    }
    let room = app.create_resource(json!({})).await;
    let mut held = series(
        &room,
        (&day_at(3, 9, 0), &day_at(3, 10, 0)),
        "FREQ=DAILY;COUNT=2",
        "fail",
    );
    held["hold"] = json!(true);
    let reply = create(&app, &admin, &held).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    for booking in reply.body["bookings"].as_array().unwrap() {
        assert_eq!(booking["status"], "held");
        assert!(booking["expires_at"].is_string());
    }
    // A client cannot book a series for someone else.
    let mut for_bob = series(
        &room,
        (&day_at(5, 9, 0), &day_at(5, 10, 0)),
        "FREQ=DAILY;COUNT=2",
        "fail",
    );
    for_bob["customer_id"] = json!("bob");
    let reply = create(&app, &app.client("alice"), &for_bob).await;
    assert_problem(&reply, StatusCode::FORBIDDEN, "forbidden");
    app.cleanup().await;
}
