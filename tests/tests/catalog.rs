//! The resource catalog (API.md v1.1 "Resources: attributes, archiving, search"): attributes and
//! their limits, filters, archiving, `PATCH` needing `If-Match`, and the availability search,
//! which must agree with the live check.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Reply, TestApp, assert_problem, day_at, slot};

/// A small deterministic generator (xorshift64*), seeded per run and printed, so a failure can
/// be replayed with `CATALOG_SEED`.
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        let seed = std::env::var("CATALOG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("CATALOG_SEED={seed}");
        Random(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn id(resource: &Value) -> &str {
    resource["id"].as_str().unwrap()
}

/// `PATCH /v1/resources/{id}` as admin with `If-Match: version`.
async fn patch(app: &TestApp, resource: &Value, version: i64, body: Value) -> Reply {
    let version = version.to_string();
    app.send(
        Method::PATCH,
        &format!("/v1/resources/{}", id(resource)),
        Some(&app.admin()),
        Some(&body),
        &[("if-match", version.as_str())],
    )
    .await
}

/// The ids of a query's items (`key` names the id field).
fn ids(reply: &Reply, key: &str) -> BTreeSet<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}

fn field_of(reply: &Reply) -> &str {
    reply.body["errors"][0]["field"].as_str().unwrap_or("")
}

#[tokio::test]
async fn attributes_over_any_limit_are_refused_naming_the_attribute() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let long = "x".repeat(201);
    let many_keys: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = [
        (json!({ "Building": "A" }), "attributes.Building"),
        (
            json!({ "k".repeat(41): 1 }),
            "attributes.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
        ),
        (json!({ "name": long }), "attributes.name"),
        (json!({ "features": vec!["a"; 21] }), "attributes.features"),
        (json!({ "features": [1, 2] }), "attributes.features"),
        (json!({ "features": [long] }), "attributes.features"),
        (json!({ "nothing": null }), "attributes.nothing"),
        (json!({ "nested": { "a": 1 } }), "attributes.nested"),
        (Value::Object(many_keys), "attributes"),
    ];
    for (attributes, field) in cases {
        let body = json!({ "name": "R", "kind": "room", "time_zone": "UTC",
                           "attributes": attributes });
        let reply = app.post("/v1/resources", &admin, &body).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(field_of(&reply), field, "{}", reply.body);
    }
    // At the limits it is fine; a PATCH is held to the same limits.
    let mut fine: serde_json::Map<String, Value> =
        (0..31).map(|i| (format!("k{i}"), json!(i))).collect();
    fine.insert("features".into(), json!(vec!["y".repeat(200); 20]));
    let room = app
        .create_resource(json!({ "attributes": Value::Object(fine) }))
        .await;
    assert_eq!(room["attributes"]["k3"], 3);
    let bad = patch(&app, &room, 1, json!({ "attributes": { "seats": [true] } })).await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(field_of(&bad), "attributes.seats");
    app.cleanup().await;
}

#[tokio::test]
async fn a_patch_without_if_match_is_428_and_replaces_the_attributes_whole_with_it() {
    let app = TestApp::spawn().await;
    let room = app
        .create_resource(json!({ "attributes": { "building": "A", "seats": 4 } }))
        .await;
    let bare = app
        .send(
            Method::PATCH,
            &format!("/v1/resources/{}", id(&room)),
            Some(&app.admin()),
            Some(&json!({ "name": "Renamed" })),
            &[],
        )
        .await;
    assert_problem(
        &bare,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition_required",
    );
    let replaced = patch(&app, &room, 1, json!({ "attributes": { "seats": 6 } })).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(
        replaced.body["resource"]["attributes"],
        json!({ "seats": 6 })
    );
    assert_eq!(replaced.body["resource"]["version"], 2);
    app.cleanup().await;
}

/// The catalog of the filter and archiving tests: name → attributes.
fn catalog() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "A1",
            "meeting_room",
            json!({ "building": "A", "seats": 30, "projector": true,
                                        "features": ["projector", "whiteboard"] }),
        ),
        (
            "A2",
            "meeting_room",
            json!({ "building": "A", "seats": 8, "projector": false,
                                        "features": ["whiteboard"] }),
        ),
        (
            "B1",
            "meeting_room",
            json!({ "building": "B", "seats": 30.5, "code": "30" }),
        ),
        ("B2", "desk", json!({ "building": "B", "seats": "many" })),
        ("C1", "meeting_room", json!({})),
    ]
}

#[tokio::test]
async fn filters_choose_by_kind_attribute_type_array_members_numbers_and_archiving() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let mut by_name = BTreeMap::new();
    for (name, kind, attributes) in catalog() {
        let resource = app
            .create_resource(json!({ "name": name, "kind": kind, "attributes": attributes }))
            .await;
        by_name.insert(id(&resource).to_owned(), name);
    }
    let a2 = by_name.iter().find(|(_, n)| **n == "A2").unwrap().0.clone();
    let archived = patch(&app, &json!({ "id": a2 }), 1, json!({ "archived": true })).await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["resource"]["archived"], true);
    app.wait_for_projections(Duration::from_secs(10)).await;

    let viewer = app.client("someone");
    let names = async |query: &str| -> Vec<&'static str> {
        let reply = app.query(&format!("/v1/resources?{query}"), &viewer).await;
        let mut found: Vec<&'static str> = ids(&reply, "id").iter().map(|id| by_name[id]).collect();
        found.sort_unstable();
        found
    };
    assert_eq!(names("").await, ["A1", "B1", "B2", "C1"]);
    assert_eq!(names("archived=true").await, ["A2"]);
    assert_eq!(names("kind=desk").await, ["B2"]);
    assert_eq!(names("attr.building=A").await, ["A1"]);
    assert_eq!(
        names("attr.building=A&archived=true&kind=meeting_room").await,
        ["A2"]
    );
    // A number is compared as a number, a string as a string ("30" matches both).
    assert_eq!(names("attr.seats=30").await, ["A1"]);
    assert_eq!(names("attr.seats=30.5").await, ["B1"]);
    assert_eq!(names("attr.code=30").await, ["B1"]);
    assert_eq!(names("attr.seats=many").await, ["B2"]);
    assert_eq!(names("attr.projector=true").await, ["A1"]);
    assert_eq!(names("attr.projector=false&archived=true").await, ["A2"]);
    // An array attribute: contains.
    assert_eq!(names("attr.features=whiteboard").await, ["A1"]);
    assert_eq!(
        names("attr.features=whiteboard&archived=true").await,
        ["A2"]
    );
    assert_eq!(
        names("attr.features=projector&attr.building=B").await,
        [""; 0]
    );
    // Numeric lower bounds skip resources without a number there.
    assert_eq!(names("min.seats=30").await, ["A1", "B1"]);
    assert_eq!(names("min.seats=30.1").await, ["B1"]);
    assert_eq!(names("min.seats=-1&kind=desk").await, [""; 0]);
    assert_eq!(names("attr.unknown=x").await, [""; 0]);
    // The resource's own answers carry its attributes and whether it is archived.
    let one = app.query(&format!("/v1/resources/{a2}"), &viewer).await;
    assert_eq!(one.body["archived"], true, "{}", one.body);
    assert_eq!(one.body["attributes"]["seats"], 8);

    for (query, field) in [
        ("attr.Building=A", "attr.Building"),
        ("attr.=A", "attr."),
        ("min.seats=lots", "min.seats"),
        ("archived=maybe", "archived"),
        ("attr.building=A&attr.building=B", "attr.building"),
    ] {
        let reply = app.query(&format!("/v1/resources?{query}"), &viewer).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_filter");
        assert_eq!(field_of(&reply), field, "{}", reply.body);
    }
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}

#[tokio::test]
async fn an_archived_resource_refuses_new_bookings_and_holds_while_its_bookings_go_on() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    let room = app
        .create_resource(json!({ "capacity": 3, "attributes": { "building": "A" } }))
        .await;
    let admin = app.admin();
    let (start, end) = (day_at(3, 9, 0), day_at(3, 10, 0));
    let booked = app.book(&admin, &room, &start, &end).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let hold = json!({ "resource_id": id(&room), "start": start, "end": end, "hold": true });
    let held = app.post("/v1/bookings", &admin, &hold).await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);

    let archived = patch(&app, &room, 1, json!({ "archived": true })).await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["resource"]["archived"], true);
    assert_problem(
        &app.book(&admin, &room, &start, &end).await,
        StatusCode::CONFLICT,
        "resource_archived",
    );
    assert_problem(
        &app.post("/v1/bookings", &admin, &hold).await,
        StatusCode::CONFLICT,
        "resource_archived",
    );
    let booking_id = booked.body["booking"]["id"].as_str().unwrap();
    let moved = app
        .post(
            &format!("/v1/bookings/{booking_id}/reschedule"),
            &admin,
            &json!({ "start": day_at(3, 11, 0), "end": day_at(3, 12, 0) }),
        )
        .await;
    assert_problem(&moved, StatusCode::CONFLICT, "resource_archived");
    // The bookings it has go on: the hold confirms, the booking cancels.
    let hold_id = held.body["booking"]["id"].as_str().unwrap();
    let confirmed = app
        .post(
            &format!("/v1/bookings/{hold_id}/confirm"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let cancelled = app.cancel(&admin, booking_id).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    // The live check and the search agree that it is not bookable.
    app.wait_for_projections(Duration::from_secs(10)).await;
    let search = format!("/v1/availability/search?start={start}&end={end}&attr.building=A");
    assert!(ids(&app.query(&search, &admin).await, "resource_id").is_empty());

    // Restored, it takes bookings again.
    let restored = patch(&app, &room, 2, json!({ "archived": false })).await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(restored.body["resource"]["archived"], false);
    let again = app.book(&admin, &room, &start, &end).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    app.wait_for_projections(Duration::from_secs(10)).await;
    let found = app.query(&search, &admin).await;
    assert_eq!(
        ids(&found, "resource_id"),
        BTreeSet::from([id(&room).to_owned()])
    );
    // Asked again, its days come from the cache.
    let again = app.query(&search, &admin).await;
    assert_eq!(again.headers["x-cache"], "hit");
    assert_eq!(again.body, found.body);
    assert_eq!(found.body["items"][0]["units_free"], 1, "{}", found.body);
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}

/// One resource of the randomized comparison, as the test made it.
struct Made {
    id: String,
    building: &'static str,
    seats: u64,
}

/// Places `count` random bookings on day 2 between 06:00 and 20:00 (many are refused; that is
/// fine) and cancels about one in five again; returns how many were placed.
async fn place_randomly(app: &TestApp, random: &mut Random, made: &[Made], count: usize) -> usize {
    let admin = app.admin();
    let mut placed = 0;
    for _ in 0..count {
        let resource = random.pick(made);
        let (start, end) = slot(
            2,
            360 + 15 * random.below(50) as i64,
            15 * (2 + random.below(8)) as i64,
        );
        let quantity = 1 + random.below(2);
        let body = json!({ "resource_id": resource.id, "start": start, "end": end,
                           "quantity": quantity });
        let reply = app.post("/v1/bookings", &admin, &body).await;
        if reply.status == StatusCode::CREATED {
            placed += 1;
            if random.below(5) == 0 {
                let booking = reply.body["booking"]["id"].as_str().unwrap();
                let cancel = format!("/v1/bookings/{booking}/cancel");
                assert_eq!(
                    app.post(&cancel, &admin, &json!({})).await.status,
                    StatusCode::OK
                );
            }
        }
    }
    placed
}

/// Which of the made resources a filter chooses, as the test knows them.
type Matcher = Box<dyn Fn(&Made) -> bool>;

/// Every search item's `(resource_id, units_free)`, following `next_cursor` pages of `limit`.
async fn search_all(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/v1/availability/search?{query}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let reply = app.query(&path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        let items = reply.body["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        for item in items {
            found.push((
                item["resource_id"].as_str().unwrap().to_owned(),
                item["units_free"].as_u64().unwrap(),
            ));
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
    panic!("more than 100 pages");
}

/// `POST /v1/availability/check` of `(resource, quantity)` items over one period: whether each
/// is available.
async fn check(
    app: &TestApp,
    query_url: &str,
    token: &str,
    period: &(String, String),
    items: &[(String, u64)],
) -> Vec<bool> {
    let body = json!({ "items": items.iter().map(|(id, quantity)| json!({
        "resource_id": id, "start": period.0, "end": period.1, "quantity": quantity
    })).collect::<Vec<_>>() });
    let response = app
        .http
        .post(format!("{query_url}/v1/availability/check"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let reply = Reply::read(response).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["available"].as_bool().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_finds_exactly_what_the_live_check_calls_available() {
    let mut app = TestApp::spawn().await;
    let query_url = app.start_read_side().await;
    let mut random = Random::seeded();
    let admin = app.admin();
    let buildings = ["A", "B", "C"];
    let features = ["projector", "whiteboard", "tv"];
    let mut made = Vec::new();
    for n in 0..40 {
        let building = *random.pick(&buildings);
        let seats = 2 + random.below(40);
        let mut attributes = json!({ "building": building, "seats": seats });
        let list: Vec<&str> = features
            .iter()
            .copied()
            .filter(|_| random.below(2) == 0)
            .collect();
        attributes["features"] = json!(list);
        let mut body = json!({
            "name": format!("Room {:02}", random.below(100)),
            "kind": if n % 5 == 0 { "desk" } else { "meeting_room" },
            "capacity": 1 + random.below(3),
            "time_zone": "UTC",
            "attributes": attributes,
            "policy": {
                "buffer_before_minutes": *random.pick(&[0, 0, 10, 15]),
                "buffer_after_minutes": *random.pick(&[0, 0, 10, 30]),
            },
        });
        if n % 4 == 0 {
            body["opening_hours"] = json!({
                "mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]],
                "wed": [["08:00", "18:00"]], "thu": [["08:00", "18:00"]],
                "fri": [["08:00", "18:00"]], "sat": [["10:00", "14:00"]]
            });
        }
        let reply = app.post("/v1/resources", &admin, &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let resource = reply.body["resource"].clone();
        if n % 13 == 7 {
            let archived = patch(&app, &resource, 1, json!({ "archived": true })).await;
            assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
        }
        made.push(Made {
            id: id(&resource).to_owned(),
            building,
            seats,
        });
    }
    let placed = place_randomly(&app, &mut random, &made, 140).await;
    assert!(placed > 20, "only {placed} bookings were placed");
    app.wait_for_projections(Duration::from_secs(20)).await;

    let viewer = app.token("acme", "viewer-1", &[platform::auth::Role::Viewer]);
    // Across the rounds, both answers must have been seen (else the comparison proves little).
    let (mut found_free, mut found_taken) = (0, 0);
    // Searches read their own writes through `min_position`, as clients do: a projection's
    // checkpoint can be ahead of the cache invalidations its batch sends after commit.
    let mut head = app.head().await;
    for round in 0..30 {
        if round % 10 == 9 {
            // More bookings and cancellations between rounds: the searches that follow must see
            // them (the cached days they read are invalidated).
            place_randomly(&app, &mut random, &made, 20).await;
            head = app.head().await;
        }
        let period = slot(
            2,
            330 + 15 * random.below(60) as i64,
            15 * (1 + random.below(12)) as i64,
        );
        let quantity = 1 + random.below(2);
        let (filter, matches): (String, Matcher) = match random.below(4) {
            0 => (String::new(), Box::new(|_: &Made| true)),
            1 => {
                let building = *random.pick(&buildings);
                (
                    format!("&attr.building={building}"),
                    Box::new(move |m: &Made| m.building == building),
                )
            }
            2 => {
                let seats = random.below(40);
                (
                    format!("&min.seats={seats}"),
                    Box::new(move |m: &Made| m.seats >= seats),
                )
            }
            _ => {
                let kind_of = made
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| n % 5 == 0)
                    .map(|(_, m)| m.id.clone())
                    .collect::<BTreeSet<_>>();
                (
                    "&kind=desk".to_owned(),
                    Box::new(move |m: &Made| kind_of.contains(&m.id)),
                )
            }
        };
        let query = format!(
            "start={}&end={}&quantity={quantity}{filter}&min_position={head}",
            period.0, period.1
        );
        let found = search_all(&app, &viewer, &query, 1 + round % 7).await;
        let everything = search_all(&app, &viewer, &query, 500).await;
        assert_eq!(found, everything, "pages differ from one page: {query}");
        let searched: BTreeMap<String, u64> = found.into_iter().collect();

        let candidates: Vec<(String, u64)> = made
            .iter()
            .filter(|m| matches(m))
            .map(|m| (m.id.clone(), quantity))
            .collect();
        let live = check(&app, &query_url, &viewer, &period, &candidates).await;
        let available: BTreeSet<String> = candidates
            .iter()
            .zip(live)
            .filter(|(_, ok)| *ok)
            .map(|((id, _), _)| id.clone())
            .collect();
        let searched_ids: BTreeSet<String> = searched.keys().cloned().collect();
        assert_eq!(searched_ids, available, "round {round}: {query}");
        found_free += available.len();
        found_taken += candidates.len() - available.len();
        // `units_free` is exact: that many fit, one more does not.
        let probes: Vec<(String, u64)> = searched
            .iter()
            .flat_map(|(id, free)| [(id.clone(), *free), (id.clone(), free + 1)])
            .collect();
        if !probes.is_empty() {
            let live = check(&app, &query_url, &viewer, &period, &probes).await;
            for (pair, (id, free)) in live.chunks(2).zip(&searched) {
                assert_eq!(pair, [true, false], "{id} has {free} free: {query}");
            }
        }
    }
    assert!(
        found_free > 30 && found_taken > 30,
        "{found_free} free and {found_taken} not"
    );
    let report = app.replay(&["--verify"]).await;
    assert!(report.differences.is_empty(), "{report}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_search_over_more_than_a_thousand_candidates_is_refused() {
    let mut app = TestApp::spawn().await;
    app.start_read_side().await;
    // The read model as 1,001 projected resources would leave it (the search reads only it).
    let insert = |count: i32| {
        sqlx::query(
            "insert into read.resources (resource_id, tenant_id, name, kind, capacity, time_zone,
                                         policy, attributes, version, created_at, updated_at)
             select gen_random_uuid(), 'acme', 'Bulk ' || i, 'bulk', 1, 'UTC', '{}'::jsonb,
                    jsonb_build_object('row', i), 1, now(), now()
             from generate_series(1, $1) as i",
        )
        .bind(count)
    };
    insert(1_000).execute(&app.pool).await.unwrap();
    let (start, end) = (day_at(2, 9, 0), day_at(2, 10, 0));
    let path = |filter: &str| format!("/v1/availability/search?start={start}&end={end}{filter}");
    let token = app.client("someone");
    let thousand = app.query(&path("&kind=bulk&limit=500"), &token).await;
    assert_eq!(thousand.status, StatusCode::OK, "{}", thousand.body);
    assert_eq!(thousand.body["items"].as_array().unwrap().len(), 500);
    assert!(thousand.body["next_cursor"].is_string());
    insert(1).execute(&app.pool).await.unwrap();
    assert_problem(
        &app.query(&path("&kind=bulk"), &token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_candidates",
    );
    // A narrower filter is fine.
    let one = app.query(&path("&kind=bulk&attr.row=7"), &token).await;
    assert_eq!(
        one.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        one.body
    );
    assert_problem(
        &app.query(&path("&min.row=x"), &token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_filter",
    );
    assert_problem(
        &app.query(
            &format!("/v1/availability/search?start={end}&end={start}"),
            &token,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_period",
    );
    app.cleanup().await;
}
