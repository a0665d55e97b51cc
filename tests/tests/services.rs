//! Services and prices (API.md v1.1): services are created, changed (with `If-Match`), retired,
//! listed and read; a service booking takes its end, buffers and price from the service and
//! keeps that price; availability for a `service_id` offers exactly the bookable starts; and
//! replay rebuilds it all without drift.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem, day_at, merged};

fn id(object: &Value) -> &str {
    object["id"].as_str().unwrap()
}

/// `POST /v1/services` as admin, `overrides` merged over a 45-minute €25 cut.
async fn create_service(app: &TestApp, overrides: Value) -> Reply {
    let cut = json!({
        "name": "Cut", "duration_minutes": 45,
        "price": {"amount_minor": 2500, "currency": "EUR"},
    });
    let body = merged(cut, overrides);
    app.post("/v1/services", &app.admin(), &body).await
}

/// `PATCH /v1/services/{id}` as admin with `If-Match` when given.
async fn patch(app: &TestApp, service: &Value, if_match: Option<i64>, body: Value) -> Reply {
    let version = if_match.map(|v| v.to_string());
    let headers: Vec<(&str, &str)> = version
        .as_deref()
        .map(|v| vec![("if-match", v)])
        .unwrap_or_default();
    app.send(
        Method::PATCH,
        &format!("/v1/services/{}", id(service)),
        Some(&app.admin()),
        Some(&body),
        &headers,
    )
    .await
}

/// Books `service` on `resource` from `start` as `token`.
async fn book_service(
    app: &TestApp,
    token: &str,
    resource: &Value,
    service: &Value,
    start: &str,
) -> Reply {
    app.post(
        "/v1/bookings",
        token,
        &json!({"resource_id": resource["id"], "service_id": service["id"], "start": start}),
    )
    .await
}

fn position(reply: &Reply) -> &str {
    reply.body["position"].as_str().unwrap()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn services_are_created_changed_retired_listed_and_read_with_if_match() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let admin = app.admin();

    let created = create_service(
        &app,
        json!({"buffer_after_minutes": 10, "resource_kind": "barber"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let service = created.body["service"].clone();
    assert_eq!(service["duration_minutes"], 45);
    assert_eq!(
        service["price"],
        json!({"amount_minor": 2500, "currency": "EUR"})
    );
    assert_eq!(service["archived"], false);
    assert_eq!(service["version"], 1);
    assert!(created.body["position"].is_string());

    // Only admins; bad prices, currencies and durations are refused by field.
    let by_client = app
        .post("/v1/services", &app.client("c"), &json!({"name": "x", "duration_minutes": 1, "price": {"amount_minor": 0, "currency": "EUR"}}))
        .await;
    assert_problem(&by_client, StatusCode::FORBIDDEN, "forbidden");
    for bad in [
        json!({"price": {"amount_minor": -1, "currency": "EUR"}}),
        json!({"price": {"amount_minor": 100, "currency": "eur"}}),
        json!({"price": {"amount_minor": 100, "currency": "EURO"}}),
        // Three upper-case letters, but no currency of ISO 4217.
        json!({"price": {"amount_minor": 100, "currency": "XYZ"}}),
        json!({"duration_minutes": 0}),
    ] {
        let reply = create_service(&app, bad.clone()).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }

    // PATCH needs If-Match, and the current version.
    let missing = patch(&app, &service, None, json!({"name": "Long cut"})).await;
    assert_problem(
        &missing,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
    );
    let stale = patch(&app, &service, Some(7), json!({"name": "Long cut"})).await;
    assert_problem(&stale, StatusCode::PRECONDITION_FAILED, "version_conflict");
    let renamed = patch(&app, &service, Some(1), json!({"name": "Long cut"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["service"]["version"], 2);
    let archived = patch(&app, &service, Some(2), json!({"archived": true})).await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["service"]["archived"], true);
    let unknown = app
        .send(
            Method::PATCH,
            &format!("/v1/services/{}", uuid::Uuid::now_v7()),
            Some(&admin),
            Some(&json!({})),
            &[("if-match", "1")],
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "service_not_found");

    // The query side: one by id, and pages by id.
    let other = create_service(&app, json!({"name": "Shave"})).await;
    let at = position(&other);
    let read = app
        .query(
            &format!("/v1/services/{}?min_position={at}", id(&service)),
            &admin,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body, archived.body["service"]);
    let missing = app
        .query(
            &format!("/v1/services/{}?min_position={at}", uuid::Uuid::now_v7()),
            &admin,
        )
        .await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "service_not_found");
    let first = app
        .query(&format!("/v1/services?limit=1&min_position={at}"), &admin)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .query(&format!("/v1/services?limit=1&cursor={cursor}"), &admin)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let mut seen = vec![
        first.body["items"][0]["id"].clone(),
        second.body["items"][0]["id"].clone(),
    ];
    seen.sort_by_key(|v| v.as_str().unwrap().to_owned());
    let mut expected = vec![service["id"].clone(), other.body["service"]["id"].clone()];
    expected.sort_by_key(|v| v.as_str().unwrap().to_owned());
    assert_eq!(seen, expected);
    app.cleanup().await;
}

#[tokio::test]
async fn a_service_booking_takes_end_buffers_and_price_from_the_service_and_keeps_its_price() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (admin, client) = (app.admin(), app.client("anna"));
    let chair = app
        .create_resource(
            json!({"name": "Chair", "kind": "barber", "time_zone": "UTC",
                                "policy": {"buffer_after_minutes": 5}}),
        )
        .await;
    let room = app.create_resource(json!({"time_zone": "UTC"})).await;
    let cut = create_service(
        &app,
        json!({"buffer_after_minutes": 15, "resource_kind": "barber"}),
    )
    .await
    .body["service"]
        .clone();

    let start = day_at(3, 10, 0);
    let booked = book_service(&app, &client, &chair, &cut, &start).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let booking = booked.body["booking"].clone();
    assert_eq!(booking["end"], day_at(3, 10, 45));
    assert_eq!(booking["service_id"], cut["id"]);
    assert_eq!(
        booking["price"],
        json!({"amount_minor": 2500, "currency": "EUR"})
    );
    // The service's 15 minutes after (not the resource's 5) are kept free.
    let inside = app.book_day(&client, &chair, 3, (10, 55), (11, 30)).await;
    assert_problem(&inside, StatusCode::CONFLICT, "slot_unavailable");
    let after = app.book_day(&client, &chair, 3, (11, 0), (11, 30)).await;
    assert_eq!(after.status, StatusCode::CREATED, "{}", after.body);

    // Not offered on a resource of another kind; an end beside a service is refused.
    let elsewhere = book_service(&app, &client, &room, &cut, &start).await;
    assert_problem(
        &elsewhere,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_not_offered",
    );
    let with_end = app
        .post(
            "/v1/bookings",
            &client,
            &json!({"resource_id": chair["id"], "service_id": cut["id"],
                                               "start": day_at(3, 12, 0), "end": day_at(3, 13, 0)}),
        )
        .await;
    assert_problem(
        &with_end,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let unknown = app
        .post("/v1/bookings", &client, &json!({"resource_id": chair["id"], "service_id": uuid::Uuid::now_v7(), "start": day_at(3, 12, 0)}))
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "service_not_found");

    // A price without a service: admins set it, clients may not (403).
    let priced = json!({"resource_id": room["id"], "start": day_at(3, 9, 0), "end": day_at(3, 10, 0),
                        "price": {"amount_minor": 990, "currency": "USD"}});
    let by_client = app.post("/v1/bookings", &client, &priced).await;
    assert_problem(&by_client, StatusCode::FORBIDDEN, "forbidden");
    let by_admin = app.post("/v1/bookings", &admin, &priced).await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.body);
    assert_eq!(by_admin.body["booking"]["price"], priced["price"]);
    assert_eq!(by_admin.body["booking"]["service_id"], Value::Null);
    let negative = app
        .post(
            "/v1/bookings",
            &admin,
            &json!({"resource_id": room["id"], "start": day_at(3, 11, 0), "end": day_at(3, 12, 0),
                                              "price": {"amount_minor": -5, "currency": "USD"}}),
        )
        .await;
    assert_problem(
        &negative,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // A later price change leaves the booking as it was, on both sides; new bookings get it.
    let repriced = patch(
        &app,
        &cut,
        Some(1),
        json!({"price": {"amount_minor": 3000, "currency": "EUR"}}),
    )
    .await;
    assert_eq!(repriced.status, StatusCode::OK, "{}", repriced.body);
    let later = book_service(&app, &client, &chair, &cut, &day_at(3, 14, 0)).await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    assert_eq!(later.body["booking"]["price"]["amount_minor"], 3000);
    let at = position(&later);
    let read = app
        .query(
            &format!("/v1/bookings/{}?min_position={at}", id(&booking)),
            &admin,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(
        read.body["price"],
        json!({"amount_minor": 2500, "currency": "EUR"})
    );
    assert_eq!(read.body["service_id"], cut["id"]);
    assert_eq!(read.body["end"], booking["end"]);
    let admin_priced = app
        .query(
            &format!(
                "/v1/bookings/{}?min_position={at}",
                id(&by_admin.body["booking"])
            ),
            &admin,
        )
        .await;
    assert_eq!(admin_priced.body["price"], priced["price"]);

    // A retired service takes no new bookings.
    let retired = patch(&app, &cut, Some(2), json!({"archived": true})).await;
    assert_eq!(retired.status, StatusCode::OK, "{}", retired.body);
    let after_retired = book_service(&app, &client, &chair, &cut, &day_at(3, 16, 0)).await;
    assert_problem(
        &after_retired,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_not_offered",
    );

    app.wait_for_projections(std::time::Duration::from_secs(10))
        .await;
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}

/// The slot starts of an availability answer.
fn starts(reply: &Reply) -> Vec<DateTime<Utc>> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| instant(&slot["start"]))
        .collect()
}

#[tokio::test]
async fn availability_for_a_service_offers_exactly_the_bookable_starts() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (admin, client) = (app.admin(), app.client("anna"));
    let chair = app
        .create_resource(
            json!({"name": "Chair", "kind": "barber", "time_zone": "UTC",
                                "policy": {"slot_step_minutes": 15, "buffer_before_minutes": 5}}),
        )
        .await;
    let room = app.create_resource(json!({"time_zone": "UTC"})).await;
    let cut = create_service(
        &app,
        json!({"buffer_before_minutes": 10, "buffer_after_minutes": 20,
                                         "resource_ids": [chair["id"]]}),
    )
    .await
    .body["service"]
        .clone();
    let taken = app.book_day(&client, &chair, 5, (12, 0), (13, 0)).await;
    assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.body);
    let at = position(&taken);
    let window = format!(
        "from={}&to={}&min_position={at}",
        day_at(5, 9, 0),
        day_at(5, 16, 0)
    );
    let chair_path = format!("/v1/resources/{}/availability", id(&chair));
    let offered = starts(
        &app.query(
            &format!("{chair_path}?{window}&service_id={}", id(&cut)),
            &admin,
        )
        .await,
    );
    let plain = starts(
        &app.query(
            &format!("{chair_path}?{window}&duration_minutes=45"),
            &admin,
        )
        .await,
    );
    // The service's buffers keep more starts off than the resource's own.
    assert!(offered.iter().all(|start| plain.contains(start)));
    assert!(offered.len() < plain.len(), "{offered:?} vs {plain:?}");

    // Every start on the step between 10:00 and 15:00 is offered exactly when it can be booked.
    for quarter in 0..20 {
        let start = day_at(5, 10, 0).parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::minutes(15 * quarter);
        let text = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let reply = book_service(&app, &client, &chair, &cut, &text).await;
        assert_eq!(
            reply.status == StatusCode::CREATED,
            offered.contains(&start),
            "{text}: {}",
            reply.body
        );
        if reply.status == StatusCode::CREATED {
            let cancel = app
                .post(
                    &format!("/v1/bookings/{}/cancel", id(&reply.body["booking"])),
                    &admin,
                    &json!({}),
                )
                .await;
            assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
        } else {
            assert_problem(&reply, StatusCode::CONFLICT, "slot_unavailable");
        }
    }

    // A service not offered on the resource, or unknown.
    let elsewhere = app
        .query(
            &format!(
                "/v1/resources/{}/availability?{window}&service_id={}",
                id(&room),
                id(&cut)
            ),
            &admin,
        )
        .await;
    assert_problem(
        &elsewhere,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_not_offered",
    );
    let unknown = app
        .query(
            &format!("{chair_path}?{window}&service_id={}", uuid::Uuid::now_v7()),
            &admin,
        )
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "service_not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn a_service_booked_on_a_pool_goes_on_the_first_resource_it_is_offered_on() {
    let app = TestApp::spawn().await;
    let chair = |name: &str, kind: &str| {
        let body = json!({ "name": name, "kind": kind, "time_zone": "UTC" });
        let app = &app;
        async move { app.create_resource(body).await }
    };
    let sink = chair("A sink", "sink").await;
    let first = chair("B chair", "chair").await;
    let second = chair("C chair", "chair").await;
    let cut = create_service(&app, json!({ "resource_kind": "chair" })).await;
    assert_eq!(cut.status, StatusCode::CREATED, "{}", cut.body);
    let cut = &cut.body["service"];
    let book = |token: String| {
        let body = json!({
            "resource_ids": [sink["id"], first["id"], second["id"]],
            "service_id": cut["id"], "start": day_at(3, 10, 0),
        });
        let app = &app;
        async move { app.post("/v1/bookings", &token, &body).await }
    };
    // The sink is not offered the cut: the first chair takes it, with the service's end and price.
    let placed = book(app.client("ann")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let booking = &placed.body["booking"];
    assert_eq!(booking["resource_id"], first["id"]);
    assert_eq!(booking["end"], day_at(3, 10, 45));
    assert_eq!(booking["price"]["amount_minor"], 2500);
    assert_eq!(
        book(app.client("bob")).await.body["booking"]["resource_id"],
        second["id"]
    );
    // Both chairs taken, the sink never offered it: the slot is gone.
    assert_problem(
        &book(app.client("cat")).await,
        StatusCode::CONFLICT,
        "slot_unavailable",
    );
    app.cleanup().await;
}
