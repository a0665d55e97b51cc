//! Stats for dashboards (API.md v1.1): `stats/daily` and `stats/summary` on a hand-computed day —
//! bookings, cancellations, no-shows, completed, open minutes, utilization, revenue booked and
//! realized per currency, the rates — and a replay that rebuilds them identically.
//!
//! The resources live in a fixed-offset zone where it is about noon when the test runs, so every
//! booking of "now" and of the afternoon falls on one local day, whenever the suite runs.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem};

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A zone without DST whose local time is now between 12:00 and 13:00, its offset in hours.
fn noon_zone() -> (String, i64) {
    let offset = 12 - i64::from(Utc::now().hour());
    // The Etc zones' signs are POSIX's: Etc/GMT-3 is three hours ahead of UTC.
    let name = match offset {
        0 => "Etc/GMT".to_owned(),
        ahead if ahead > 0 => format!("Etc/GMT-{ahead}"),
        behind => format!("Etc/GMT+{}", -behind),
    };
    (name, offset)
}

struct Day {
    date: NaiveDate,
    offset: i64,
}

impl Day {
    /// The instant of local `hour:00` on this day.
    fn at(&self, hour: i64) -> DateTime<Utc> {
        let midnight = self.date.and_time(chrono::NaiveTime::MIN).and_utc();
        midnight + Duration::hours(hour - self.offset)
    }
}

fn id(object: &Value) -> &str {
    object["id"].as_str().expect("an id")
}

#[track_caller]
fn created(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    id(&reply.body["booking"]).to_owned()
}

#[track_caller]
fn ok(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["position"]
        .as_str()
        .expect("a position")
        .to_owned()
}

/// The item of `items` whose `field` is `value`.
fn item<'a>(reply: &'a Reply, field: &str, value: &Value) -> &'a Value {
    reply.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| &i[field] == value))
        .unwrap_or_else(|| panic!("no item with {field} {value} in {}", reply.body))
}

/// The figures every stats item has, in a comparable shape.
fn figures(item: &Value) -> Value {
    json!({
        "bookings": item["bookings"], "cancellations": item["cancellations"],
        "completed": item["completed"], "no_shows": item["no_shows"],
        "booked_minutes": item["booked_minutes"], "open_minutes": item["open_minutes"],
        "utilization": item["utilization"], "revenue": item["revenue"],
    })
}

#[allow(clippy::too_many_arguments)]
fn expected(
    bookings: i64,
    cancellations: i64,
    completed: i64,
    no_shows: i64,
    booked_minutes: i64,
    open_minutes: i64,
    utilization: f64,
    revenue: Value,
) -> Value {
    json!({
        "bookings": bookings, "cancellations": cancellations, "completed": completed,
        "no_shows": no_shows, "booked_minutes": booked_minutes, "open_minutes": open_minutes,
        "utilization": utilization, "revenue": revenue,
    })
}

#[tokio::test]
async fn daily_and_summary_give_exact_figures_on_a_hand_computed_day_and_replay_rebuilds_them() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (alice, admin) = (app.client("alice"), app.admin());
    let (zone, offset) = noon_zone();
    let today = (Utc::now() + Duration::hours(offset)).date_naive();
    let day = Day {
        date: today,
        offset,
    };
    let next = today.succ_opt().expect("a next day");

    // A: open around the clock, three units: 3 × 1440 open unit-minutes a day.
    let studio = app
        .create_resource(json!({
            "kind": "studio", "capacity": 3, "time_zone": zone,
            "policy": { "no_show_grace_minutes": 0 },
        }))
        .await;
    // B: open 08:00–20:00 (720 minutes), on approval; two hours blacked out the next day (600).
    let week: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| ((*d).to_owned(), json!([["08:00", "20:00"]])))
        .collect();
    let room = app
        .create_resource(json!({
            "kind": "meeting_room", "time_zone": zone, "opening_hours": week,
            "policy": { "requires_approval": true },
        }))
        .await;
    let blackout = app
        .post(
            &format!("/v1/resources/{}/blackouts", id(&room)),
            &admin,
            &json!({
                "start": rfc3339(Day { date: next, offset }.at(10)),
                "end": rfc3339(Day { date: next, offset }.at(12)),
                "reason": "cleaning",
            }),
        )
        .await;
    assert_eq!(blackout.status, StatusCode::CREATED, "{}", blackout.body);
    // A 45-minute €25 cut with 10 minutes to clean up, offered on every resource.
    let cut = app
        .post(
            "/v1/services",
            &admin,
            &json!({
                "name": "Cut", "duration_minutes": 45, "buffer_after_minutes": 10,
                "price": {"amount_minor": 2500, "currency": "EUR"},
            }),
        )
        .await;
    assert_eq!(cut.status, StatusCode::CREATED, "{}", cut.body);
    let cut = cut.body["service"].clone();

    // Three cuts on A starting together in a few seconds (booked first, so that they are still
    // ahead under load): completed, a no-show, checked in.
    let start = Utc::now() + Duration::seconds(6);
    let start = DateTime::from_timestamp(start.timestamp(), 0).expect("an instant");
    let mut cuts = Vec::new();
    for _ in 0..3 {
        cuts.push(created(
            &app.post(
                "/v1/bookings",
                &alice,
                &json!({"resource_id": studio["id"], "service_id": cut["id"], "start": rfc3339(start)}),
            )
            .await,
        ));
    }
    // Unpriced-by-service bookings on A: an hour at $10 set by an admin; half an hour cancelled.
    created(
        &app.post(
            "/v1/bookings",
            &admin,
            &json!({
                "resource_id": studio["id"], "start": rfc3339(day.at(16)), "end": rfc3339(day.at(17)),
                "price": {"amount_minor": 1000, "currency": "USD"},
            }),
        )
        .await,
    );
    let cancelled = created(
        &app.book(
            &alice,
            &studio,
            &rfc3339(day.at(17)),
            &rfc3339(day.at(17) + Duration::minutes(30)),
        )
        .await,
    );
    // On B, a request waiting for approval: counted, but books no minutes.
    let pending = app
        .book(&alice, &room, &rfc3339(day.at(15)), &rfc3339(day.at(16)))
        .await;
    assert_eq!(pending.status, StatusCode::ACCEPTED, "{}", pending.body);
    assert_eq!(pending.body["booking"]["status"], "pending");

    let act = |booking: &str, action: &str, token: &str| {
        let path = format!("/v1/bookings/{booking}/{action}");
        let token = token.to_owned();
        let app = &app;
        async move { app.post(&path, &token, &json!({})).await }
    };
    ok(&act(&cancelled, "cancel", &alice).await);
    let wait = (start - Utc::now() + Duration::milliseconds(50))
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    ok(&act(&cuts[0], "complete", &admin).await);
    ok(&act(&cuts[1], "no-show", &admin).await);
    let position = ok(&act(&cuts[2], "check-in", &alice).await);

    // stats/daily for the day: A's and B's items.
    let daily = app
        .query(
            &format!("/v1/stats/daily?from={today}&to={today}&min_position={position}"),
            &admin,
        )
        .await;
    assert_eq!(daily.status, StatusCode::OK, "{}", daily.body);
    assert_eq!(daily.body["items"].as_array().map(Vec::len), Some(2));
    let money = json!([
        {"currency": "EUR", "booked_minor": 5000, "realized_minor": 2500},
        {"currency": "USD", "booked_minor": 1000, "realized_minor": 0},
    ]);
    // 45 (completed) + 45 (checked in) + 60 minutes over 4320: 0.034722…
    assert_eq!(
        figures(item(&daily, "resource_id", &studio["id"])),
        expected(5, 1, 1, 1, 150, 4320, 0.0347, money.clone()),
    );
    assert_eq!(
        figures(item(&daily, "resource_id", &room["id"])),
        expected(1, 0, 0, 0, 0, 720, 0.0, json!([])),
    );

    // stats/summary over the day and the next, by each grouping.
    let summary = |group_by: &'static str| {
        let path = format!(
            "/v1/stats/summary?from={today}&to={next}&group_by={group_by}&min_position={position}"
        );
        let (app, admin) = (&app, admin.clone());
        async move {
            let reply = app.query(&path, &admin).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply
        }
    };
    let rates = |item: &Value| {
        (
            item["no_show_rate"].clone(),
            item["cancellation_rate"].clone(),
        )
    };

    let by_resource = summary("resource").await;
    assert_eq!(by_resource.body["items"].as_array().map(Vec::len), Some(2));
    let a = item(&by_resource, "group", &studio["id"]);
    assert_eq!(
        figures(a),
        expected(5, 1, 1, 1, 150, 8640, 0.0174, money.clone())
    );
    // One no-show of three that came due (no-show, checked in, completed); one of five cancelled.
    assert_eq!(rates(a), (json!(0.3333), json!(0.2)));
    let b = item(&by_resource, "group", &room["id"]);
    assert_eq!(figures(b), expected(1, 0, 0, 0, 0, 1320, 0.0, json!([])));
    assert_eq!(rates(b), (json!(0.0), json!(0.0)));

    let by_day = summary("day").await;
    assert_eq!(
        figures(item(&by_day, "group", &json!(today.to_string()))),
        expected(6, 1, 1, 1, 150, 5040, 0.0298, money.clone()),
    );
    assert_eq!(
        figures(item(&by_day, "group", &json!(next.to_string()))),
        expected(0, 0, 0, 0, 0, 4920, 0.0, json!([])),
    );

    let by_kind = summary("kind").await;
    assert_eq!(
        figures(item(&by_kind, "group", &json!("studio"))),
        expected(5, 1, 1, 1, 150, 8640, 0.0174, money.clone()),
    );
    assert_eq!(
        figures(item(&by_kind, "group", &json!("meeting_room"))),
        expected(1, 0, 0, 0, 0, 1320, 0.0, json!([])),
    );

    // By service: the cut against the open time of every resource (it is offered on all), and
    // the bookings made without a service as the group null.
    let by_service = summary("service").await;
    assert_eq!(by_service.body["items"].as_array().map(Vec::len), Some(2));
    let with_cut = item(&by_service, "group", &cut["id"]);
    assert_eq!(
        figures(with_cut),
        expected(
            3,
            0,
            1,
            1,
            90,
            9960,
            0.009,
            json!([{"currency": "EUR", "booked_minor": 5000, "realized_minor": 2500}]),
        ),
    );
    assert_eq!(rates(with_cut), (json!(0.3333), json!(0.0)));
    let without = item(&by_service, "group", &Value::Null);
    assert_eq!(
        figures(without),
        expected(
            3,
            1,
            0,
            0,
            60,
            9960,
            0.006,
            json!([{"currency": "USD", "booked_minor": 1000, "realized_minor": 0}]),
        ),
    );
    assert_eq!(rates(without), (json!(0.0), json!(0.3333)));

    // A replay rebuilds the same figures: verify first, then a rebuild and the same answers.
    app.wait_for_projections(std::time::Duration::from_secs(10))
        .await;
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    let before: Vec<Value> = [&by_resource, &by_day, &by_kind, &by_service]
        .iter()
        .map(|r| r.body.clone())
        .collect();
    app.replay(&["--projection", "daily_stats"]).await;
    let mut after = Vec::new();
    for group_by in ["resource", "day", "kind", "service"] {
        after.push(summary(group_by).await.body);
    }
    assert_eq!(before, after);
    let rebuilt = app
        .query(&format!("/v1/stats/daily?from={today}&to={today}"), &admin)
        .await;
    assert_eq!(rebuilt.body, daily.body);
    app.cleanup().await;
}

#[tokio::test]
async fn a_summary_needs_a_known_grouping_and_a_reader_role() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let admin = app.admin();
    for bad in ["", "?group_by=week", "?group_by=resource&from=2026-13-01"] {
        let reply = app.query(&format!("/v1/stats/summary{bad}"), &admin).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let backwards = app
        .query(
            "/v1/stats/summary?group_by=day&from=2026-12-02&to=2026-12-01",
            &admin,
        )
        .await;
    assert_problem(
        &backwards,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_period",
    );
    let long = app
        .query(
            "/v1/stats/summary?group_by=day&from=2025-01-01&to=2026-12-01",
            &admin,
        )
        .await;
    assert_problem(&long, StatusCode::UNPROCESSABLE_ENTITY, "window_too_large");
    let client = app
        .query("/v1/stats/summary?group_by=day", &app.client("alice"))
        .await;
    assert_problem(&client, StatusCode::FORBIDDEN, "forbidden");
    app.cleanup().await;
}

/// What the migration that brought revenue does to a running deployment: the projection's
/// tables emptied and its checkpoint removed (here: moved back to the start, which a reader
/// treats alike). The projector rebuilds it from the event store.
#[tokio::test]
async fn stats_emptied_with_their_checkpoint_are_rebuilt_by_the_projector_from_the_store() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let (alice, admin) = (app.client("alice"), app.admin());
    let room = app.create_resource(json!({ "time_zone": "UTC" })).await;
    let day = (Utc::now() + Duration::days(3)).date_naive();
    let at = |hour: i64| {
        rfc3339(
            Day {
                date: day,
                offset: 0,
            }
            .at(hour),
        )
    };
    for hour in [9, 11, 13] {
        created(&app.book(&alice, &room, &at(hour), &at(hour + 1)).await);
    }
    let cancelled = created(&app.book(&alice, &room, &at(15), &at(16)).await);
    let position = ok(&app
        .post(
            &format!("/v1/bookings/{cancelled}/cancel"),
            &alice,
            &json!({}),
        )
        .await);
    let path = format!("/v1/stats/daily?from={day}&to={day}&min_position={position}");
    let before = app.query(&path, &admin).await;
    assert_eq!(
        figures(item(&before, "resource_id", &room["id"])),
        expected(4, 1, 0, 0, 180, 1440, 0.125, json!([])),
    );

    app.kill_projector();
    sqlx::query("truncate read.daily_stats, read.stats_bookings, read.stats_resources")
        .execute(&app.pool)
        .await
        .expect("emptied");
    let mut conn = app.pool.acquire().await.expect("a connection");
    eventstore::checkpoint::reset(&mut conn, "projection:daily_stats")
        .await
        .expect("reset");
    drop(conn);
    app.start_projector().await;
    app.wait_for_projections(std::time::Duration::from_secs(20))
        .await;
    let after = app.query(&path, &admin).await;
    assert_eq!(after.body, before.body);
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}
