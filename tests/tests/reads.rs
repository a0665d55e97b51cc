//! The read side end to end: read-your-writes, the cache tiers, Redis going away, and replays
//! under live load, with command-api, projector and query-api all running.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Reply, TestApp, day_at, slot};

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Whether one free range of the answer covers `[start, end)`.
fn is_free(answer: &Value, start: &str, end: &str) -> bool {
    let (start, end): (DateTime<Utc>, DateTime<Utc>) =
        (start.parse().unwrap(), end.parse().unwrap());
    answer["free"]
        .as_array()
        .unwrap()
        .iter()
        .any(|range| instant(&range["start"]) <= start && end <= instant(&range["end"]))
}

fn availability(resource: &Value, day: i64, min_position: Option<&str>) -> String {
    let date = (Utc::now().date_naive() + chrono::Duration::days(day)).to_string();
    let mut path = format!(
        "/v1/resources/{}/availability?from={date}&to={date}",
        resource["id"].as_str().unwrap()
    );
    if let Some(position) = min_position {
        path.push_str(&format!("&min_position={position}"));
    }
    path
}

fn cache(reply: &Reply) -> &str {
    reply
        .headers
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_writes_in_a_row_are_each_visible_to_the_next_read_with_their_position() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let admin = app.admin();
    for i in 0..200_u32 {
        let day = 2 + i64::from(i / 96);
        let (start, end) = slot(day, i64::from(i % 96) * 15, 15);
        let placed = app.book(&admin, &room, &start, &end).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        let position = placed.body["position"].as_str().unwrap();
        let read = app
            .query(&availability(&room, day, Some(position)), &admin)
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert!(
            !is_free(&read.body, &start, &end),
            "booking {i} not visible: {}",
            read.body
        );

        let id = placed.body["booking"]["id"].as_str().unwrap();
        let cancelled = app.cancel(&admin, id).await;
        let position = cancelled.body["position"].as_str().unwrap();
        let read = app
            .query(&availability(&room, day, Some(position)), &admin)
            .await;
        assert!(
            is_free(&read.body, &start, &end),
            "cancellation {i} not visible: {}",
            read.body
        );
    }
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_read_misses_the_second_hits_and_a_booking_invalidates_the_day() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app
        .create_resource(json!({ "time_zone": "Europe/Berlin" }))
        .await;
    let admin = app.admin();
    app.wait_for_projections(Duration::from_secs(10)).await;
    let first = app.query(&availability(&room, 3, None), &admin).await;
    assert_eq!(
        (first.status, cache(&first)),
        (StatusCode::OK, "miss"),
        "{}",
        first.body
    );
    let second = app.query(&availability(&room, 3, None), &admin).await;
    assert_eq!(cache(&second), "hit");
    assert_eq!(first.body["free"], second.body["free"]);

    let (start, end) = (day_at(3, 10, 0), day_at(3, 11, 0));
    assert_eq!(
        app.book(&admin, &room, &start, &end).await.status,
        StatusCode::CREATED
    );
    app.wait_for_projections(Duration::from_secs(10)).await;
    // Without min_position: once the projector's invalidation and notice are through, the day
    // is recomputed; a stale answer may only be seen for that short moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let read = app.query(&availability(&room, 3, None), &admin).await;
        if !is_free(&read.body, &start, &end) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cached day was never invalidated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = app.query(&availability(&room, 3, None), &admin).await;
    assert_eq!(cache(&again), "hit");
    assert!(!is_free(&again.body, &start, &end));
    app.cleanup().await;
}

/// A Redis server of this test's own, so stopping it disturbs no other test.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/services installs it)");
        PrivateRedis { port, child }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn wait_until_up(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start on {}", self.port);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn readyz(url: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{url}/readyz")).await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_stopped_queries_still_answer_from_postgres_and_caching_resumes_when_it_returns()
{
    let mut app = TestApp::spawn().await;
    let port = PrivateRedis::free_port();
    let mut redis = PrivateRedis::start(port);
    redis.wait_until_up().await;
    let redis_url = format!("redis://127.0.0.1:{port}");
    // The projector invalidates through the same private Redis.
    app.start_projector_with(|s| s.redis.url = redis_url.clone())
        .await;
    let mut settings = app.query_settings();
    settings.redis.url = redis_url.clone();
    let query_url = app.start_query_api_with(settings).await;
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let admin = app.admin();
    app.wait_for_projections(Duration::from_secs(10)).await;
    app.query(&availability(&room, 3, None), &admin).await;
    assert_eq!(
        cache(&app.query(&availability(&room, 3, None), &admin).await),
        "hit"
    );

    redis.stop();
    let (start, end) = (day_at(3, 9, 0), day_at(3, 10, 0));
    let placed = app.book(&admin, &room, &start, &end).await;
    let position = placed.body["position"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        let read = app
            .query(&availability(&room, 3, Some(&position)), &admin)
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert!(!is_free(&read.body, &start, &end));
    }
    let (status, body) = readyz(&query_url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["down"], json!(["redis"]));

    let mut redis = PrivateRedis::start(port);
    redis.wait_until_up().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while readyz(&query_url).await.0 != StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "query-api never saw Redis again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Caching resumes, and what it serves is current.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let read = app.query(&availability(&room, 3, None), &admin).await;
        assert!(
            !is_free(&read.body, &start, &end),
            "stale after Redis returned: {}",
            read.body
        );
        if cache(&read) == "hit" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "caching never resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    redis.stop();
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_of_all_projections_under_live_writes_keeps_query_api_answering() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let admin = app.admin();
    let mut rooms = Vec::new();
    for _ in 0..5 {
        rooms.push(app.create_resource(json!({ "time_zone": "UTC" })).await);
    }
    app.wait_for_projections(Duration::from_secs(10)).await;
    let app = Arc::new(app);
    let writer = {
        let (app, rooms) = (Arc::clone(&app), rooms.clone());
        tokio::spawn(async move {
            for i in 0..400_u32 {
                let room = &rooms[(i % 5) as usize];
                let index = i64::from(i / 5);
                let (start, end) = slot(2 + index / 48, (index % 48) * 30, 30);
                let reply = app.book(&app.admin(), room, &start, &end).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            }
        })
    };
    let reader = {
        let (app, room) = (Arc::clone(&app), rooms[0].clone());
        tokio::spawn(async move {
            let mut answered = 0;
            while answered < 2000 {
                let read = app.query(&availability(&room, 2, None), &app.admin()).await;
                assert_eq!(read.status, StatusCode::OK, "{}", read.body);
                let list = app.query("/v1/bookings?limit=50", &app.admin()).await;
                assert_eq!(list.status, StatusCode::OK, "{}", list.body);
                answered += 1;
                if answered % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            answered
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = app.replay(&[]).await;
    assert!(report.differences.is_empty(), "{report}");
    writer.await.unwrap();
    assert!(reader.await.unwrap() >= 2000);
    app.wait_for_projections(Duration::from_secs(30)).await;
    let verify = app.replay(&["--verify"]).await;
    assert!(verify.differences.is_empty(), "{verify}");
    let listed = app.query("/v1/bookings?limit=500", &admin).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 400);
    Arc::into_inner(app).expect("sole owner").cleanup().await;
}

#[tokio::test]
async fn the_live_check_sees_a_resource_created_or_changed_a_moment_ago_before_any_projection() {
    let mut app = TestApp::spawn().await;
    // No projector: the read models never hear of the resource.
    let settings = app.query_settings();
    let query = app.start_query_api_with(settings).await;
    let room = app
        .create_resource(json!({ "time_zone": "UTC", "capacity": 2 }))
        .await;
    let (start, end) = (day_at(3, 9, 0), day_at(3, 10, 0));
    let check = |quantity: u32| {
        let body = json!({ "items": [
            { "resource_id": room["id"], "start": start, "end": end, "quantity": quantity }
        ] });
        let request = app
            .http
            .post(format!("{query}/v1/availability/check"))
            .bearer_auth(app.admin())
            .json(&body);
        async move {
            let reply = Reply::read(request.send().await.unwrap()).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let item = reply.body["items"][0].clone();
            (
                item["available"].as_bool().unwrap(),
                item["reason"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    assert_eq!(check(2).await, (true, String::new()));
    let booked = app.book(&app.admin(), &room, &start, &end).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    assert_eq!(check(2).await, (false, "slot_unavailable".to_owned()));
    assert_eq!(check(1).await, (true, String::new()));
    // Capacity down to 1: the check judges by the resource as the write side has it now.
    let id = room["id"].as_str().unwrap();
    let patched = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/resources/{id}"),
            Some(&app.admin()),
            Some(&json!({ "capacity": 1 })),
            &[("if-match", "1")],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(check(1).await, (false, "slot_unavailable".to_owned()));
    assert_eq!(
        check(2).await,
        (false, "quantity_exceeds_capacity".to_owned())
    );
    app.cleanup().await;
}
