//! CPU-heavy reads are bounded: a budget per request (`422 too_much_work`), a process-wide
//! limit on computations at once, and cancellation when the request's deadline passes.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use tests::{Booking, QueryApp, at, monday_after};

fn availability(resource: Uuid, from: NaiveDate, days: i64, duration: Option<u32>) -> String {
    let to = from + chrono::Duration::days(days - 1);
    let mut path = format!("/v1/resources/{resource}/availability?from={from}&to={to}");
    if let Some(minutes) = duration {
        path.push_str(&format!("&duration_minutes={minutes}"));
    }
    path
}

#[tokio::test]
async fn availability_over_the_request_budget_is_422_too_much_work_and_less_is_answered() {
    // A day of one-minute slots on one unit costs about 1,441 × 257 steps.
    let app = QueryApp::spawn_with(|settings| settings.compute_max_work = 1_000_000).await;
    let every_minute = json!({ "policy": { "slot_step_minutes": 1 } });
    let room = app.resource(every_minute.clone()).await;
    let from = monday_after(3);
    let token = app.admin();

    let reply = app
        .get(&availability(room, from, 62, Some(60)), Some(&token))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.code(), "too_much_work");
    assert_eq!(reply.body["work_limit"], 1_000_000);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("fewer days"),
        "{}",
        reply.body
    );
    // The same window without slots, and one day with them, fit.
    let reply = app
        .get(&availability(room, from, 62, None), Some(&token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = app
        .get(&availability(room, from, 1, Some(60)), Some(&token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A batch shares one budget: two such days fit, three do not.
    let rooms = [
        app.resource(every_minute.clone()).await,
        app.resource(every_minute.clone()).await,
        app.resource(every_minute).await,
    ];
    let day = from + chrono::Duration::days(7);
    let batch = |ids: &[Uuid]| {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        format!(
            "/v1/availability?resource_ids={}&from={day}&to={day}&duration_minutes=60",
            ids.join(",")
        )
    };
    let reply = app.get(&batch(&rooms), Some(&token)).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.code(), "too_much_work");
    let reply = app.get(&batch(&rooms[..2]), Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}

#[tokio::test]
async fn daily_stats_over_the_request_budget_are_422_too_much_work() {
    // 1,024 steps a row (and a little more for each day's open time): 10 rows fit, 20 do not.
    let app = QueryApp::spawn_with(|settings| settings.compute_max_work = 1024 * 15).await;
    let monday = monday_after(3);
    let rooms = [app.resource(json!({})).await, app.resource(json!({})).await];
    for room in rooms {
        for offset in 0..10 {
            let day = monday + chrono::Duration::days(offset);
            app.place(&Booking::new(room, at(day, 9, 0), at(day, 10, 0)))
                .await;
        }
    }
    app.project().await;
    let to = monday + chrono::Duration::days(9);
    let all = format!("/v1/stats/daily?from={monday}&to={to}");
    let reply = app.get_as_admin(&all).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.code(), "too_much_work");
    let one = format!("{all}&resource_id={}", rooms[0]);
    let reply = app.get_as_admin(&one).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 10);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_computation_whose_request_timed_out_stops_and_frees_its_place() {
    // One computation at a time, and requests that may take half a second.
    let app = QueryApp::spawn_with(|settings| {
        settings.compute_concurrency = 1;
        settings.compute_max_work = u64::MAX;
        settings.request_timeout = Duration::from_millis(500);
    })
    .await;
    // Slots needing all 5,000 units at once, every minute for 62 days: each start looks at
    // every unit, hundreds of millions of steps, far longer than the deadline.
    let huge = app
        .resource(json!({ "capacity": 5000, "policy": { "slot_step_minutes": 1 } }))
        .await;
    let small = app.resource(json!({})).await;
    let from = monday_after(3);
    let token = app.admin();
    let heavy = format!("{}&quantity=5000", availability(huge, from, 62, Some(60)));
    let reply = app.get(&heavy, Some(&token)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.code(), "timeout");
    // The abandoned computation notices within a few thousand slot starts and gives its permit
    // back; a computation that ran on would hold it for seconds and this request would time out.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reply = app
        .get(&availability(small, from, 1, None), Some(&token))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.cleanup().await;
}
