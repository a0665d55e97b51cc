//! `GET /v1/resources` and `GET /v1/resources/{id}`, and tenant isolation.

use std::collections::HashSet;

use serde_json::json;

use tests::{Booking, QueryApp, at, monday_after, rfc};

#[tokio::test]
async fn resources_are_listed_by_kind_in_pages_and_shown_like_command_api_shows_them() {
    let app = QueryApp::spawn().await;
    let mut rooms = HashSet::new();
    for i in 0..7 {
        rooms.insert(
            app.resource(json!({ "name": format!("Room {i}"), "kind": "meeting_room" }))
                .await
                .to_string(),
        );
    }
    for _ in 0..3 {
        app.resource(json!({ "kind": "desk" })).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/resources?kind=meeting_room&limit=3".to_owned();
    loop {
        let reply = app.get(&path, Some(&app.client("alice"))).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        for item in reply.body["items"].as_array().unwrap() {
            assert_eq!(item["kind"], "meeting_room");
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/resources?kind=meeting_room&limit=3&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), rooms);
    let all = app
        .get("/v1/resources?limit=500", Some(&app.viewer()))
        .await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 10);
    assert!(all.body["next_cursor"].is_null());

    let holidays = (
        rfc(at(monday_after(30), 0, 0)),
        rfc(at(monday_after(30) + chrono::Duration::days(3), 0, 0)),
    );
    let id = app
        .resource(json!({
            "name": "Room 101", "capacity": 2, "time_zone": "Europe/Berlin",
            "opening_hours": { "mon": [["08:00", "18:00"]] },
            "policy": { "buffer_after_minutes": 10 },
            "blackouts": [{ "start": holidays.0, "end": holidays.1, "reason": "holidays" }]
        }))
        .await;
    let reply = app.get_as_admin(&format!("/v1/resources/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["id"], id.to_string());
    assert_eq!(body["name"], "Room 101");
    assert_eq!(body["capacity"], 2);
    assert_eq!(body["time_zone"], "Europe/Berlin");
    assert_eq!(
        body["opening_hours"],
        json!({ "mon": [["08:00", "18:00"]] })
    );
    assert_eq!(body["policy"]["buffer_after_minutes"], 10);
    assert_eq!(body["policy"]["slot_step_minutes"], 15);
    assert_eq!(body["blackouts"][0]["reason"], "holidays");
    // Created, then its blackout added: two versions.
    assert_eq!(body["version"], 2);
    assert_eq!(body["attributes"], json!({}));
    assert_eq!(body["archived"], false);
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec![
            "archived",
            "attributes",
            "blackouts",
            "capacity",
            "created_at",
            "id",
            "kind",
            "name",
            "opening_hours",
            "policy",
            "time_zone",
            "updated_at",
            "version"
        ]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn another_tenants_objects_are_not_found() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let theirs = app.resource(json!({ "tenant": "globex" })).await;
    let booking = app
        .booking(&Booking::new(theirs, at(day, 9, 0), at(day, 10, 0)).tenant("globex"))
        .await;
    let ours = app.admin();
    for (path, code) in [
        (format!("/v1/resources/{theirs}"), "resource_not_found"),
        (
            format!("/v1/resources/{theirs}/availability?from={day}&to={day}"),
            "resource_not_found",
        ),
        (
            format!("/v1/availability?resource_ids={theirs}&from={day}&to={day}"),
            "resource_not_found",
        ),
        (format!("/v1/bookings/{booking}"), "booking_not_found"),
        (
            format!("/v1/stats/daily?resource_id={theirs}"),
            "resource_not_found",
        ),
    ] {
        let reply = app.get(&path, Some(&ours)).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert_eq!(reply.code(), code, "{path}");
    }
    assert_eq!(
        app.get("/v1/resources", Some(&ours)).await.body["items"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("/v1/bookings?resource_id={theirs}"), Some(&ours))
            .await
            .body["items"],
        json!([])
    );
    let check = app
        .post_query(
            "/v1/availability/check",
            &ours,
            &json!({ "items": [{ "resource_id": theirs, "start": format!("{day}T09:00:00Z"),
                                 "end": format!("{day}T10:00:00Z") }] }),
        )
        .await;
    assert_eq!(check.body["items"][0]["reason"], "resource_not_found");

    // Their own admin sees them.
    let globex = app.token("globex", "admin-2", &[platform::auth::Role::Admin]);
    assert_eq!(
        app.get(&format!("/v1/bookings/{booking}"), Some(&globex))
            .await
            .status,
        200
    );
    app.cleanup().await;
}
