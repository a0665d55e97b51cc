//! Every command error code of API.md, bad input of every kind, auth and tenant isolation,
//! and opening hours on both DST switch days — all answered in problem+json, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem, day_at, merged, next_eu_dst_switch};

async fn raw(app: &TestApp, token: &str, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let response = app
        .http
        .post(format!("{}{path}", app.command_url))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answered");
    Reply::read(response).await
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_4xx_problems_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let room = app.create_resource(json!({})).await;
    let booking = |extra: Value| {
        let body =
            json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
        merged(body, extra)
    };

    let broken = raw(
        &app,
        &admin,
        "/v1/bookings",
        "application/json",
        b"{\"resource_id\": ".to_vec(),
    )
    .await;
    assert_problem(&broken, StatusCode::BAD_REQUEST, "malformed_request");

    let unknown = app
        .post("/v1/bookings", &admin, &booking(json!({ "quantiti": 2 })))
        .await;
    assert_problem(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        unknown.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("quantiti")
    );

    // Each refused as 422 with its code, naming the field where it says which.
    let resource = |extra: Value| {
        merged(
            json!({ "name": "X", "kind": "meeting_room", "time_zone": "UTC" }),
            extra,
        )
    };
    for (path, body, code, field) in [
        (
            "/v1/bookings",
            booking(json!({ "quantity": "two" })),
            "validation_failed",
            "quantity",
        ),
        (
            "/v1/bookings",
            booking(json!({ "start": "2030-01-01T09:00:00+02:00" })),
            "validation_failed",
            "start",
        ),
        (
            "/v1/bookings",
            booking(json!({ "end": "tomorrow" })),
            "validation_failed",
            "",
        ),
        (
            "/v1/bookings",
            booking(json!({ "end": day_at(3, 9, 0) })),
            "invalid_period",
            "",
        ),
        (
            "/v1/resources",
            resource(json!({ "time_zone": "Mars/Olympus_Mons" })),
            "validation_failed",
            "time_zone",
        ),
        (
            "/v1/resources",
            resource(json!({ "opening_hours": { "mon": [["18:00", "08:00"]] } })),
            "validation_failed",
            "",
        ),
        (
            "/v1/bookings",
            booking(json!({ "metadata": { "note": "x".repeat(5000) } })),
            "validation_failed",
            "",
        ),
    ] {
        let reply = app.post(path, &admin, &body).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, code);
        if !field.is_empty() {
            assert_eq!(reply.field(), field, "{body}");
        }
    }

    let invalid = app
        .post(
            "/v1/resources",
            &admin,
            &json!({ "name": "", "kind": "Meeting Room", "capacity": 0, "time_zone": "UTC" }),
        )
        .await;
    assert_problem(
        &invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "kind", "capacity"]);

    let mut huge = br#"{"name":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    huge.extend(br#"","kind":"meeting_room","time_zone":"UTC"}"#);
    let too_large = raw(&app, &admin, "/v1/resources", "application/json", huge).await;
    assert_problem(
        &too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    let not_json = raw(
        &app,
        &admin,
        "/v1/resources",
        "text/plain",
        b"name=x".to_vec(),
    )
    .await;
    assert_problem(
        &not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let nowhere = app.post("/v1/nothing-here", &admin, &json!({})).await;
    assert_problem(&nowhere, StatusCode::NOT_FOUND, "not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn each_booking_rule_has_its_own_code() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let room = app
        .create_resource(json!({
            "capacity": 2,
            "time_zone": "UTC",
            "opening_hours": { "mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]],
                               "thu": [["08:00", "18:00"]], "fri": [["08:00", "18:00"]], "sat": [["08:00", "18:00"]],
                               "sun": [["08:00", "18:00"]] },
            "policy": { "min_duration_minutes": 30, "max_duration_minutes": 120, "min_notice_minutes": 120, "max_advance_days": 30 }
        }))
        .await;
    let book = |start: String, end: String, quantity: u32| json!({ "resource_id": room["id"], "start": start, "end": end, "quantity": quantity });
    let cases = [
        (
            book(day_at(3, 7, 0), day_at(3, 8, 0), 1),
            "outside_opening_hours",
        ),
        (
            book(day_at(3, 17, 30), day_at(3, 18, 30), 1),
            "outside_opening_hours",
        ),
        (
            book(day_at(3, 9, 0), day_at(3, 9, 15), 1),
            "duration_out_of_range",
        ),
        (
            book(day_at(3, 9, 0), day_at(3, 12, 0), 1),
            "duration_out_of_range",
        ),
        (
            book(day_at(-1, 9, 0), day_at(-1, 10, 0), 1),
            "insufficient_notice",
        ),
        (
            book(day_at(40, 9, 0), day_at(40, 10, 0), 1),
            "too_far_in_advance",
        ),
        (
            book(day_at(3, 9, 0), day_at(3, 10, 0), 3),
            "quantity_exceeds_capacity",
        ),
    ];
    for (body, code) in cases {
        let reply = app.post("/v1/bookings", &admin, &body).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let zero = app
        .post(
            "/v1/bookings",
            &admin,
            &book(day_at(3, 9, 0), day_at(3, 10, 0), 0),
        )
        .await;
    assert_problem(&zero, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // A blackout closes the resource too.
    let blackout = app
        .post(
            &format!("/v1/resources/{}/blackouts", room["id"].as_str().unwrap()),
            &admin,
            &json!({ "start": day_at(4, 8, 0), "end": day_at(4, 12, 0), "reason": "painting" }),
        )
        .await;
    assert_eq!(blackout.status, StatusCode::CREATED, "{}", blackout.body);
    let during = app
        .post(
            "/v1/bookings",
            &admin,
            &book(day_at(4, 9, 0), day_at(4, 10, 0), 1),
        )
        .await;
    assert_problem(
        &during,
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside_opening_hours",
    );
    // Removing it opens the time again.
    let blackout_id = blackout.body["blackout"]["id"].as_str().unwrap();
    let blackout = format!(
        "/v1/resources/{}/blackouts/{blackout_id}",
        room["id"].as_str().unwrap()
    );
    let remove = || app.send(Method::DELETE, &blackout, Some(&admin), None, &[]);
    let removed = remove().await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(removed.body["position"].is_string());
    assert_eq!(
        app.post(
            "/v1/bookings",
            &admin,
            &book(day_at(4, 9, 0), day_at(4, 10, 0), 1)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let again = remove().await;
    assert_problem(&again, StatusCode::NOT_FOUND, "blackout_not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn missing_objects_states_and_versions_have_their_codes() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let unknown = uuid::Uuid::new_v4();
    let no_resource = app
        .post(
            "/v1/bookings",
            &admin,
            &json!({ "resource_id": unknown, "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) }),
        )
        .await;
    assert_problem(&no_resource, StatusCode::NOT_FOUND, "resource_not_found");
    assert_problem(
        &app.post(
            &format!("/v1/bookings/{unknown}/confirm"),
            &admin,
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "booking_not_found",
    );
    assert_problem(
        &app.post("/v1/bookings/not-a-uuid/cancel", &admin, &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "booking_not_found",
    );

    let room = app.create_resource(json!({})).await;
    let id = app
        .book_day(&admin, &room, 3, (9, 0), (10, 0))
        .await
        .booking_id();
    assert_eq!(app.cancel(&admin, &id).await.status, StatusCode::OK);
    assert_problem(
        &app.cancel(&admin, &id).await,
        StatusCode::CONFLICT,
        "invalid_state",
    );
    assert_problem(
        &app.post(&format!("/v1/bookings/{id}/confirm"), &admin, &json!({}))
            .await,
        StatusCode::CONFLICT,
        "invalid_state",
    );

    // If-Match guards resource changes.
    let path = format!("/v1/resources/{}", room["id"].as_str().unwrap());
    let change = json!({ "name": "Renamed", "policy": { "buffer_after_minutes": 5 } });
    let patch = async |version: &str| {
        app.send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&change),
            &[("if-match", version)],
        )
        .await
    };
    let stale = patch("\"7\"").await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stale.body["current_version"], 1);
    let ok = patch("\"1\"").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["resource"]["name"], "Renamed");
    assert_eq!(ok.body["resource"]["version"], 2);
    assert_eq!(ok.body["resource"]["policy"]["buffer_after_minutes"], 5);
    assert_eq!(ok.body["resource"]["policy"]["slot_step_minutes"], 15);
    assert_problem(
        &patch("\"1\"").await,
        StatusCode::PRECONDITION_FAILED,
        "version_conflict",
    );
    let bad_policy = app
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({ "policy": { "buffer_aftr": 5 } })),
            &[("if-match", "2")],
        )
        .await;
    assert_problem(
        &bad_policy,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // A client-chosen id that is taken.
    let dup = app
        .post(
            "/v1/resources",
            &admin,
            &json!({ "id": room["id"], "name": "Dup", "kind": "meeting_room", "time_zone": "UTC" }),
        )
        .await;
    assert_problem(&dup, StatusCode::CONFLICT, "already_exists");
    app.cleanup().await;
}

#[tokio::test]
async fn a_capacity_cut_below_units_in_use_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let seats = app.create_resource(json!({ "capacity": 3 })).await;
    for _ in 0..3 {
        assert_eq!(
            app.book_day(&admin, &seats, 3, (9, 0), (10, 0))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let path = format!("/v1/resources/{}", seats["id"].as_str().unwrap());
    let cut = app
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({ "capacity": 2 })),
            &[("if-match", "1")],
        )
        .await;
    assert_problem(&cut, StatusCode::CONFLICT, "capacity_in_use");
    let raise = app
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(&json!({ "capacity": 4 })),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(raise.status, StatusCode::OK);
    assert_eq!(
        app.book_day(&admin, &seats, 3, (9, 0), (10, 0))
            .await
            .status,
        StatusCode::CREATED
    );
    app.cleanup().await;
}

#[tokio::test]
async fn berlin_opening_hours_accept_and_refuse_the_right_instants_on_both_dst_days() {
    let app = TestApp::spawn().await;
    let day = json!([["08:00", "18:00"]]);
    let room = app
        .create_resource(json!({
            "time_zone": "Europe/Berlin",
            "opening_hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day },
            "policy": { "max_advance_days": 730 }
        }))
        .await;
    let admin = app.admin();
    let at = |date: chrono::NaiveDate, hour: u32, minute: u32| {
        date.and_hms_opt(hour, minute, 0)
            .unwrap()
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    // Spring forward: from that day on 08:00–18:00 local is 06:00–16:00 UTC.
    let spring = next_eu_dst_switch(3);
    // Autumn back: from that day on 08:00–18:00 local is 07:00–17:00 UTC.
    let autumn = next_eu_dst_switch(10);
    let cases = [
        (at(spring, 6, 0), at(spring, 7, 0), true),
        (at(spring, 5, 30), at(spring, 6, 30), false),
        (at(spring, 15, 0), at(spring, 16, 0), true),
        (at(spring, 15, 30), at(spring, 16, 30), false),
        (at(autumn, 7, 0), at(autumn, 8, 0), true),
        (at(autumn, 6, 0), at(autumn, 7, 0), false),
        (at(autumn, 16, 0), at(autumn, 17, 0), true),
        (at(autumn, 16, 30), at(autumn, 17, 30), false),
    ];
    for (start, end, accepted) in cases {
        let reply = app
            .post(
                "/v1/bookings",
                &admin,
                &json!({ "resource_id": room["id"], "start": start, "end": end }),
            )
            .await;
        if accepted {
            assert_eq!(reply.status, StatusCode::CREATED, "{start}: {}", reply.body);
        } else {
            assert_problem(
                &reply,
                StatusCode::UNPROCESSABLE_ENTITY,
                "outside_opening_hours",
            );
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_nul_character_in_any_string_is_a_422_not_a_500() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let body = json!({ "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0), "metadata": { "note": "a\u{0}b" } });
    let reply = app.post("/v1/bookings", &app.admin(), &body).await;
    assert_problem(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(reply.body["errors"][0]["field"], "metadata.note");
    app.cleanup().await;
}

#[tokio::test]
async fn resending_a_booking_with_its_own_id_is_already_exists_not_a_conflict_with_itself() {
    let app = TestApp::spawn().await;
    let room = app.create_resource(json!({})).await;
    let body = json!({ "id": uuid::Uuid::new_v4(), "resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0) });
    assert_eq!(
        app.post("/v1/bookings", &app.admin(), &body).await.status,
        StatusCode::CREATED
    );
    let again = app.post("/v1/bookings", &app.admin(), &body).await;
    assert_problem(&again, StatusCode::CONFLICT, "already_exists");
    app.cleanup().await;
}
