//! `POST /v1/availability/check`: the live guard, not the cache.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::postgres::types::PgRange;
use uuid::Uuid;

use tests::{QueryApp, Reply, at, monday_after, rfc};

async fn allocate(
    app: &QueryApp,
    resource: Uuid,
    unit: i32,
    during: (DateTime<Utc>, DateTime<Utc>),
    expires_at: Option<DateTime<Utc>>,
) -> Uuid {
    let booking = Uuid::new_v4();
    sqlx::query(
        "insert into allocations (tenant_id, resource_id, unit, during, booking_id, expires_at)
         values ('acme', $1, $2, $3, $4, $5)",
    )
    .bind(resource)
    .bind(unit)
    .bind(PgRange::from(during.0..during.1))
    .bind(booking)
    .bind(expires_at)
    .execute(&app.pool)
    .await
    .expect("insert an allocation");
    booking
}

fn item(resource: Uuid, start: DateTime<Utc>, end: DateTime<Utc>, quantity: u64) -> Value {
    json!({ "resource_id": resource, "start": rfc(start), "end": rfc(end), "quantity": quantity })
}

fn verdicts(reply: &Reply) -> Vec<(bool, String)> {
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["available"].as_bool().expect("available"),
                i["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_live_check_reads_the_guard_with_buffers_and_ignores_expired_holds() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let t = |h, m| at(day, h, m);
    let resource = app
        .resource(json!({ "capacity": 2, "policy": { "buffer_before_minutes": 30 } }))
        .await;
    let hours = app
        .resource(json!({ "opening_hours": { "mon": [["09:00", "17:00"]] } }))
        .await;
    // Unit 0: a confirmed booking (its guard rows already include the buffer).
    allocate(&app, resource, 0, (t(9, 30), t(11, 30)), None).await;
    // Unit 1: a hold that expired a minute ago; the sweeper has not freed it yet.
    let hold = allocate(
        &app,
        resource,
        1,
        (t(9, 30), t(11, 30)),
        Some(Utc::now() - Duration::minutes(1)),
    )
    .await;
    let body = json!({ "items": [
        item(resource, t(10, 0), t(11, 0), 1),
        item(resource, t(10, 0), t(11, 0), 2),
        // Widened by the 30-minute buffer before: 11:30-12:30 touches nothing.
        item(resource, t(12, 0), t(12, 30), 2),
        item(Uuid::new_v4(), t(10, 0), t(11, 0), 1),
        item(resource, t(11, 0), t(10, 0), 1),
        item(resource, t(12, 0), t(12, 5), 1),
        item(resource, t(12, 0), t(13, 0), 3),
        item(hours, t(17, 0), t(18, 0), 1),
        item(hours, t(16, 0), t(17, 0), 1),
    ]});
    let reply = app
        .post_query("/v1/availability/check", &app.client("alice"), &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        verdicts(&reply),
        vec![
            (true, String::new()),
            (false, "slot_unavailable".into()),
            (true, String::new()),
            (false, "resource_not_found".into()),
            (false, "invalid_period".into()),
            (false, "duration_out_of_range".into()),
            (false, "quantity_exceeds_capacity".into()),
            (false, "outside_opening_hours".into()),
            (true, String::new()),
        ]
    );
    let first = &reply.body["items"][0];
    assert_eq!(first["resource_id"], resource.to_string());
    assert_eq!(first["start"], rfc(t(10, 0)));
    assert_eq!(first["end"], rfc(t(11, 0)));
    assert_eq!(first["quantity"], 1);
    assert!(first.get("reason").is_none());

    // The hold is live again (say it was confirmed): now both units are taken, and a period
    // whose buffer reaches back into 11:00-11:30 collides too.
    sqlx::query("update allocations set expires_at = null where booking_id = $1")
        .bind(hold)
        .execute(&app.pool)
        .await
        .unwrap();
    let body = json!({ "items": [
        item(resource, t(10, 0), t(11, 0), 1),
        item(resource, t(11, 45), t(12, 15), 1),
        item(resource, t(12, 0), t(12, 30), 1),
    ]});
    let reply = app
        .post_query("/v1/availability/check", &app.admin(), &body)
        .await;
    assert_eq!(
        verdicts(&reply),
        vec![
            (false, "slot_unavailable".into()),
            (false, "slot_unavailable".into()),
            (true, String::new()),
        ]
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_check_of_too_many_items_or_a_malformed_item_is_refused() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = Uuid::new_v4();
    let items: Vec<Value> = (0..101)
        .map(|_| item(resource, at(day, 10, 0), at(day, 11, 0), 1))
        .collect();
    let reply = app
        .post_query(
            "/v1/availability/check",
            &app.admin(),
            &json!({ "items": items }),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.field(), "items");

    let reply = app
        .post_query(
            "/v1/availability/check",
            &app.admin(),
            &json!({ "items": [{
                "resource_id": resource, "start": "soon", "end": rfc(at(day, 11, 0))
            }] }),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.code(), "validation_failed");
    assert_eq!(reply.field(), "items[0].start");

    // No units, and more units than any resource can have (and past what a 32-bit signed
    // integer holds).
    for quantity in [0, 2_147_483_648] {
        let items = json!({ "items": [item(resource, at(day, 10, 0), at(day, 11, 0), quantity)] });
        let reply = app
            .post_query("/v1/availability/check", &app.admin(), &items)
            .await;
        assert_eq!(reply.status, 422, "{quantity}");
        assert_eq!(reply.field(), "items[0].quantity", "{quantity}");
    }

    let reply = app
        .post_query(
            "/v1/availability/check",
            &app.admin(),
            &json!({ "items": [], "extra": true }),
        )
        .await;
    assert_eq!(reply.status, 422);
    app.cleanup().await;
}
