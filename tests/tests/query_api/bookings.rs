//! `GET /v1/bookings` and `GET /v1/bookings/{id}`: pagination, filters, who sees what.

use std::collections::HashSet;

use chrono::Duration;
use serde_json::Value;
use serde_json::json;
use uuid::Uuid;

use tests::{Booking, QueryApp, at, monday_after, rfc};

/// Follows `next_cursor` from `path` to the end; returns every item in order.
async fn all_pages(app: &QueryApp, path: &str, token: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let reply = app.get(&url, Some(token)).await;
        assert_eq!(reply.status, 200, "{url}: {}", reply.body);
        pages += 1;
        items.extend(
            reply.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .cloned(),
        );
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 100, "pagination does not end");
    }
    (items, pages)
}

#[tokio::test]
async fn pages_of_bookings_cover_every_booking_once_in_start_order() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({ "capacity": 5 })).await;
    let other = app.resource(json!({})).await;
    let mut ids = HashSet::new();
    for i in 0..25 {
        // Pairs of bookings share a start, so the booking id breaks ties.
        let start = at(day, 8, 0) + Duration::minutes(30 * (i / 2));
        let status = if i % 5 == 0 { "cancelled" } else { "confirmed" };
        let (id, _) = app
            .place(&Booking::new(resource, start, start + Duration::minutes(30)).status(status))
            .await;
        ids.insert(id.to_string());
    }
    app.booking(&Booking::new(other, at(day, 8, 0), at(day, 9, 0)))
        .await;

    let (items, pages) = all_pages(
        &app,
        &format!("/v1/bookings?resource_id={resource}&limit=10"),
        &app.admin(),
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(items.len(), 25);
    let seen: HashSet<String> = items
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, ids);
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap().to_owned(),
                b["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // The representation is command-api's.
    let first = items[0].as_object().unwrap();
    let mut fields: Vec<&str> = first.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec![
            "created_at",
            "customer",
            "customer_id",
            "end",
            "expires_at",
            "id",
            "metadata",
            "price",
            "quantity",
            "resource_id",
            "series_id",
            "service_id",
            "start",
            "status",
            "updated_at",
            "version"
        ]
    );

    let (unfiltered, _) = all_pages(&app, "/v1/bookings?limit=7", &app.viewer()).await;
    assert_eq!(unfiltered.len(), 26);
    let (cancelled, _) =
        all_pages(&app, "/v1/bookings?status=cancelled&limit=2", &app.admin()).await;
    assert_eq!(cancelled.len(), 5);
    assert!(cancelled.iter().all(|b| b["status"] == "cancelled"));
    // `from`/`to` select by start: [08:30, 10:00) holds starts 08:30, 09:00 and 09:30.
    let (window, _) = all_pages(
        &app,
        &format!(
            "/v1/bookings?resource_id={resource}&from={}&to={}",
            rfc(at(day, 8, 30)),
            rfc(at(day, 10, 0))
        ),
        &app.admin(),
    )
    .await;
    assert_eq!(window.len(), 6);
    app.cleanup().await;
}

#[tokio::test]
async fn clients_see_only_their_own_bookings() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app.resource(json!({ "capacity": 2 })).await;
    let alices = app
        .booking(&Booking::new(resource, at(day, 9, 0), at(day, 10, 0)).customer("alice"))
        .await;
    let bobs = app
        .booking(&Booking::new(resource, at(day, 9, 0), at(day, 10, 0)).customer("bob"))
        .await;
    let alice = app.client("alice");

    let list = app.get("/v1/bookings", Some(&alice)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], alices.to_string());
    assert_eq!(
        app.get("/v1/bookings?customer_id=alice", Some(&alice))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let forbidden = app.get("/v1/bookings?customer_id=bob", Some(&alice)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.code(), "forbidden");

    assert_eq!(
        app.get(&format!("/v1/bookings/{alices}"), Some(&alice))
            .await
            .status,
        200
    );
    let hidden = app.get(&format!("/v1/bookings/{bobs}"), Some(&alice)).await;
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.code(), "booking_not_found");

    // Admins and viewers see everyone's, and may filter by customer.
    for token in [app.admin(), app.viewer()] {
        let reply = app.get(&format!("/v1/bookings/{bobs}"), Some(&token)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["customer_id"], "bob");
        let bob_only = app.get("/v1/bookings?customer_id=bob", Some(&token)).await;
        assert_eq!(bob_only.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(
            app.get("/v1/bookings", Some(&token)).await.body["items"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    let missing = app
        .get_as_admin(&format!("/v1/bookings/{}", Uuid::new_v4()))
        .await;
    assert_eq!(missing.code(), "booking_not_found");
    app.cleanup().await;
}
