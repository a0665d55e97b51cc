//! Rendered answers kept in process: a write retires them exactly as it retires the cached days
//! they were made from, and no request is answered with another request's bytes.

use domain::ids::ResourceId;
use eventstore::Position;
use readmodel::notice::Changed;
use serde_json::{Value, json};
use uuid::Uuid;

use tests::query::acme_day;
use tests::{Booking, QueryApp, Reply, at, monday_after, rfc};

fn free(start: &str, end: &str, units: u64) -> Value {
    json!({ "start": start, "end": end, "units_free": units })
}

/// Asks twice: the first answer is computed, the second is the same bytes from the cache.
async fn twice(app: &QueryApp, path: &str) -> Reply {
    let first = app.get_as_admin(path).await;
    assert_eq!(first.status, 200, "{path}: {}", first.body);
    let again = app.get_as_admin(path).await;
    assert_eq!(again.cache(), "hit", "{path}");
    assert_eq!(again.text, first.text, "{path}");
    again
}

/// What the projector does after committing a booking at `position`: invalidate Redis.
async fn projector_invalidates(
    app: &QueryApp,
    resource: Uuid,
    day: chrono::NaiveDate,
    at: Position,
) {
    assert!(
        app.redis
            .invalidate(&acme_day(resource, day), at)
            .await
            .expect("invalidate in Redis")
    );
}

#[tokio::test]
async fn a_booking_retires_the_rendered_answer_for_reads_with_and_without_min_position() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let t = |h, m| rfc(at(day, h, m));
    let resource = app
        .resource(json!({ "opening_hours": { "mon": [["09:00", "17:00"]] },
                          "policy": { "slot_step_minutes": 60 } }))
        .await;
    let path =
        format!("/v1/resources/{resource}/availability?from={day}&to={day}&duration_minutes=60");
    let batch =
        format!("/v1/availability?resource_ids={resource}&from={day}&to={day}&duration_minutes=60");
    let plain = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let before = twice(&app, &path).await;
    assert_eq!(before.body["free"], json!([free(&t(9, 0), &t(17, 0), 1)]));
    assert_eq!(before.body["slots"].as_array().map(Vec::len), Some(8));
    twice(&app, &batch).await;
    twice(&app, &plain).await;

    // A booking 10-11; no notice yet.
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let first_write = app.project().await;
    projector_invalidates(&app, resource, day, first_write).await;
    // Without `min_position`, the answer is as stale as the cached days are until the notice.
    let stale = app.get_as_admin(&path).await;
    assert_eq!(stale.cache(), "hit");
    assert_eq!(stale.text, before.text);

    // The writer, with the token of its write, sees it at once, on both endpoints.
    let booked = json!([free(&t(9, 0), &t(10, 0), 1), free(&t(11, 0), &t(17, 0), 1)]);
    let own = app
        .get_as_admin(&format!("{path}&min_position={first_write}"))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.cache(), "miss");
    assert_eq!(own.body["position"], first_write.to_string());
    assert_eq!(own.body["free"], booked);
    assert_eq!(own.body["slots"].as_array().map(Vec::len), Some(7));
    let own_batch = app
        .get_as_admin(&format!("{batch}&min_position={first_write}"))
        .await;
    assert_eq!(own_batch.status, 200, "{}", own_batch.body);
    assert_eq!(own_batch.body["items"][0]["free"], booked);
    // Those reads replaced the days and the row they found too old, which retired every
    // answer made from them, whatever it was asked for: reads without `min_position` see the
    // booking too, and are cached again.
    let after = twice(&app, &path).await;
    assert_eq!(after.body["free"], booked);
    assert_eq!(after.body["position"], first_write.to_string());
    let plain_after = twice(&app, &plain).await;
    assert_eq!(plain_after.body["free"], booked);
    let again = twice(&app, &format!("{path}&min_position={first_write}")).await;
    assert_eq!(again.body, after.body);

    // A second booking 13-14, announced by the notice only (no `min_position`).
    app.booking(&Booking::new(resource, at(day, 13, 0), at(day, 14, 0)))
        .await;
    let second_write = app.project().await;
    projector_invalidates(&app, resource, day, second_write).await;
    let changed = Changed {
        tenant: "acme".parse().unwrap(),
        resource_id: ResourceId(resource),
        days: vec![day],
        position: second_write,
    };
    let twice_booked = json!([
        free(&t(9, 0), &t(10, 0), 1),
        free(&t(11, 0), &t(13, 0), 1),
        free(&t(14, 0), &t(17, 0), 1)
    ]);
    let retired = |reply: &Reply| {
        assert_eq!(reply.status, 200, "{}", reply.body);
        if reply.body["free"] != twice_booked {
            assert_eq!(
                reply.body["free"], booked,
                "neither the old nor the new day"
            );
        }
        reply.body["free"] == twice_booked
    };
    app.notify_until(
        &changed,
        &path,
        "the notice never retired the answer",
        retired,
    )
    .await;
    let batch_after = app.get_as_admin(&batch).await;
    assert_eq!(batch_after.body["items"][0]["free"], twice_booked);
    // Once L1 holds the day again (a notice in flight during a refill keeps it out, by
    // design), the new answer is served from the cache.
    app.until_cached(&path).await;
    // It vouches for the first write (the neighbouring days were cached then): a read at the
    // second reloads them, and is then cached itself.
    let cached = twice(&app, &format!("{path}&min_position={second_write}")).await;
    assert_eq!(cached.body["free"], twice_booked);
    assert_eq!(cached.body["position"], second_write.to_string());
    // A position past everything cached (another write, elsewhere) is never answered from the
    // cache.
    app.resource(json!({})).await;
    let third_write = app.project().await;
    let newer = app
        .get_as_admin(&format!("{path}&min_position={third_write}"))
        .await;
    assert_eq!(newer.status, 200, "{}", newer.body);
    assert_eq!(newer.cache(), "miss");
    assert_eq!(newer.body["position"], third_write.to_string());
    app.cleanup().await;
}

#[tokio::test]
async fn another_query_string_never_gets_another_querys_answer() {
    let app = QueryApp::spawn().await;
    let day = monday_after(8);
    let resource = app
        .resource(
            json!({ "capacity": 2, "opening_hours": { "mon": [["09:00", "13:00"]] },
                          "policy": { "slot_step_minutes": 30 } }),
        )
        .await;
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let base = format!("/v1/resources/{resource}/availability?from={day}&to={day}");
    let asked = [
        base.clone(),
        format!("{base}&duration_minutes=30"),
        format!("{base}&duration_minutes=60"),
        format!("{base}&duration_minutes=60&quantity=2"),
        format!(
            "/v1/resources/{resource}/availability?from={day}&to={}",
            day + chrono::Duration::days(1)
        ),
        format!(
            "/v1/resources/{resource}/availability?from={}&to={}&duration_minutes=60",
            rfc(at(day, 9, 0)),
            rfc(at(day, 12, 0))
        ),
    ];
    // Each asked in turn, each twice: the second time is the first one's bytes.
    let mut answers = Vec::new();
    for path in &asked {
        answers.push(twice(&app, path).await.body);
    }
    let slot_minutes = |answer: &Value| -> Vec<i64> {
        answer["slots"]
            .as_array()
            .map(|slots| {
                slots
                    .iter()
                    .map(|slot| {
                        let start: chrono::DateTime<chrono::Utc> =
                            slot["start"].as_str().unwrap().parse().unwrap();
                        let end: chrono::DateTime<chrono::Utc> =
                            slot["end"].as_str().unwrap().parse().unwrap();
                        (end - start).num_minutes()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(answers[0].get("slots").is_none());
    assert!(slot_minutes(&answers[1]).iter().all(|m| *m == 30));
    assert_eq!(slot_minutes(&answers[1]).len(), 8);
    assert!(slot_minutes(&answers[2]).iter().all(|m| *m == 60));
    assert_eq!(slot_minutes(&answers[2]).len(), 7);
    // Both units are free only outside 10-11: 09:00, 11:00, 11:30 and 12:00.
    assert_eq!(slot_minutes(&answers[3]).len(), 4);
    assert_eq!(
        answers[4]["to"],
        rfc(at(day + chrono::Duration::days(2), 0, 0))
    );
    assert_eq!(answers[5]["to"], rfc(at(day, 12, 0)));
    for (i, a) in answers.iter().enumerate() {
        for b in &answers[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // And asked again in another order, each still gets its own.
    for (path, answer) in asked.iter().zip(&answers).rev() {
        let reply = app.get_as_admin(path).await;
        assert_eq!(reply.cache(), "hit", "{path}");
        assert_eq!(&reply.body, answer, "{path}");
    }

    // Another tenant asking for the same id is not found, cached answer or not.
    let stranger = app.token("globex", "admin-2", &[platform::auth::Role::Admin]);
    let reply = app.get(&asked[1], Some(&stranger)).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.code(), "resource_not_found");
    app.cleanup().await;
}

#[tokio::test]
async fn with_rendered_answers_off_the_cached_days_still_answer() {
    let app = QueryApp::spawn_with(|s| s.l1_answer_bytes = 0).await;
    let day = monday_after(8);
    let resource = app.resource(json!({})).await;
    app.booking(&Booking::new(resource, at(day, 10, 0), at(day, 11, 0)))
        .await;
    let path =
        format!("/v1/resources/{resource}/availability?from={day}&to={day}&duration_minutes=30");
    let first = app.get_as_admin(&path).await;
    assert_eq!(first.cache(), "miss");
    twice(&app, &path).await;
    let metrics = app.get("/metrics", None).await;
    assert!(
        metrics
            .text
            .lines()
            .any(|line| line.starts_with("query_answer_cache_lookups_total")
                && line.contains(r#"result="miss""#)),
        "{}",
        metrics.text
    );
    app.cleanup().await;
}
