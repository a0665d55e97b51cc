//! `projector replay` folds the history stream by stream (each booking's events together, its
//! rows loaded as soon as its stream ends), where the live projector folds it in the global
//! order. These tests store histories whose streams interleave and check that a rebuild, a
//! verify and a rebuild of the past all equal the fold in the global order.

use chrono::{DateTime, Utc};
use eventstore::Position;
use projector::projections::{Applied, State, Touched, Write};
use projector::replay::{Options, Report};
use readmodel::projections::Projection;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

mod support;
use support::{caught_up, placed, resource, store, time, url_of};

fn transition(id: Uuid, resource: Uuid) -> Value {
    json!({ "booking_id": id, "resource_id": resource, "reason": "because" })
}

/// A history whose streams interleave: every kind of booking event (a no-show trimming its
/// time among them), bookings across midnight in a zone far from UTC, two tenants, and a
/// resource changed between its bookings' events.
async fn interleaved_history(pool: &PgPool) -> Vec<Position> {
    let (room, desk) = (Uuid::new_v4(), Uuid::new_v4());
    let b: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
    let mut positions = Vec::new();
    let steps: Vec<(&str, Uuid, &str, &str, Value)> = vec![
        (
            "acme",
            room,
            "resource",
            "ResourceCreated",
            resource(room, "Pacific/Auckland"),
        ),
        (
            "acme",
            b[0],
            "booking",
            "BookingPlaced",
            placed(b[0], room, 0, 2, "held", &[0, 1]),
        ),
        (
            "globex",
            desk,
            "resource",
            "ResourceCreated",
            resource(desk, "America/New_York"),
        ),
        (
            "acme",
            b[1],
            "booking",
            "BookingPlaced",
            placed(b[1], room, 10, 20, "confirmed", &[2]),
        ),
        (
            "acme",
            b[0],
            "booking",
            "BookingConfirmed",
            transition(b[0], room),
        ),
        (
            "globex",
            b[2],
            "booking",
            "BookingPlaced",
            placed(b[2], desk, 3, 1, "held", &[0]),
        ),
        (
            "acme",
            room,
            "resource",
            "BlackoutAdded",
            json!({
                "resource_id": room, "blackout_id": Uuid::new_v4(),
                "start": time(48), "end": time(72), "reason": "works",
            }),
        ),
        (
            "acme",
            b[3],
            "booking",
            "BookingPlaced",
            placed(b[3], room, 30, 1, "pending", &[0]),
        ),
        (
            "globex",
            b[2],
            "booking",
            "HoldExpired",
            transition(b[2], desk),
        ),
        (
            "acme",
            b[1],
            "booking",
            "BookingCancelled",
            transition(b[1], room),
        ),
        (
            "acme",
            b[3],
            "booking",
            "BookingApproved",
            transition(b[3], room),
        ),
        (
            "globex",
            b[4],
            "booking",
            "BookingPlaced",
            placed(b[4], desk, 5, 3, "held", &[0]),
        ),
        (
            "acme",
            b[5],
            "booking",
            "BookingPlaced",
            placed(b[5], room, 40, 2, "pending", &[1]),
        ),
        (
            "globex",
            b[4],
            "booking",
            "BookingSubmittedForApproval",
            transition(b[4], desk),
        ),
        (
            "acme",
            b[5],
            "booking",
            "BookingDeclined",
            transition(b[5], room),
        ),
        (
            "acme",
            b[0],
            "booking",
            "BookingRescheduled",
            json!({
                "booking_id": b[0], "resource_id": room,
                "start": time(50), "end": time(53),
                "blocked": { "start": time(50), "end": time(53) },
                "units": [2], "previous": { "start": time(0), "end": time(2) },
            }),
        ),
        (
            "globex",
            b[4],
            "booking",
            "BookingApproved",
            transition(b[4], desk),
        ),
        (
            "acme",
            b[6],
            "booking",
            "BookingPlaced",
            placed(b[6], room, 60, 1, "confirmed", &[0]),
        ),
        (
            "acme",
            b[0],
            "booking",
            "BookingCancelled",
            transition(b[0], room),
        ),
        (
            "globex",
            b[7],
            "booking",
            "BookingPlaced",
            placed(b[7], desk, 70, 2, "confirmed", &[0]),
        ),
        (
            "acme",
            b[6],
            "booking",
            "BookingRescheduled",
            json!({
                "booking_id": b[6], "resource_id": room,
                "start": time(61), "end": time(62),
                "blocked": { "start": time(61), "end": time(62) },
                "units": [1], "previous": { "start": time(60), "end": time(61) },
            }),
        ),
        (
            "globex",
            b[7],
            "booking",
            "BookingCheckedIn",
            transition(b[7], desk),
        ),
        (
            "acme",
            b[3],
            "booking",
            "BookingMarkedNoShow",
            json!({
                "booking_id": b[3], "resource_id": room,
                "blocked": { "start": time(30), "end": "2026-12-02T14:20:00Z" },
            }),
        ),
        (
            "globex",
            b[7],
            "booking",
            "BookingCompleted",
            transition(b[7], desk),
        ),
    ];
    for (tenant, stream, kind, event_type, payload) in steps {
        positions.push(store(pool, tenant, stream, kind, event_type, payload).await);
    }
    positions
}

/// Waits until no running transaction can precede `head` (readers of the global order, the
/// replay included, read only that far; other tests' transactions on the server hold it back).
async fn settled(pool: &PgPool, head: Position) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let visible: bool =
            sqlx::query_scalar("select $1::text::xid8 < pg_snapshot_xmin(pg_current_snapshot())")
                .bind(head.transaction_id.to_string())
                .fetch_one(pool)
                .await
                .expect("the snapshot");
        if visible {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{head} never settled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The live projector's fold: every event up to `until`, in the global order, into empty
/// states; with the events it could not apply.
async fn fold_in_global_order(pool: &PgPool, until: Position) -> (Vec<(Projection, State)>, usize) {
    settled(pool, until).await;
    let mut conn = pool.acquire().await.expect("a connection");
    let events = eventstore::read::read_range(&mut conn, Position::START, until, i64::MAX)
        .await
        .expect("the events");
    let mut states: Vec<(Projection, State)> = Projection::ALL
        .iter()
        .map(|p| (*p, State::empty(*p)))
        .collect();
    let mut refused = 0;
    for recorded in &events {
        let applied = Applied::decode(recorded).expect("a known event");
        for (_, state) in &mut states {
            if state.apply(&applied, &mut Touched::default()).is_err() {
                refused += 1;
            }
        }
    }
    (states, refused)
}

/// What `schema` holds differs from `expected` in these rows.
async fn differences(pool: &PgPool, expected: &[(Projection, State)], schema: &str) -> Vec<String> {
    let mut conn = pool.acquire().await.expect("a connection");
    let mut out = Vec::new();
    for (projection, state) in expected {
        let stored = State::load_all(*projection, &mut conn, schema)
            .await
            .expect("the rows load");
        out.extend(
            state
                .differences(&stored)
                .into_iter()
                .map(|line| format!("{}: {line}", projection.name())),
        );
    }
    out
}

/// The live read model as the live projector would have left it at `head`.
async fn project_live(pool: &PgPool, head: Position) -> Vec<(Projection, State)> {
    let (states, _) = fold_in_global_order(pool, head).await;
    let mut conn = pool.acquire().await.expect("a connection");
    for (_, state) in &states {
        state
            .write(&mut conn, "read", Write::Fresh)
            .await
            .expect("the rows are written");
    }
    caught_up(pool, head).await;
    states
}

async fn replay(pool: &PgPool, args: &[&str]) -> Report {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let options = Options::parse(&args).expect("valid options");
    projector::replay::run(&url_of(pool).await, &options)
        .await
        .expect("the replay runs")
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_rebuild_of_interleaved_streams_equals_the_fold_in_the_global_order(pool: PgPool) {
    let positions = interleaved_history(&pool).await;
    let head = *positions.last().expect("events");
    let live = project_live(&pool, head).await;

    let verify = replay(&pool, &["--verify"]).await;
    assert_eq!(verify.differences, Vec::<String>::new(), "{verify}");
    assert_eq!(verify.events, 3 * positions.len() as u64);

    let rebuild = replay(&pool, &[]).await;
    assert_eq!(rebuild.differences, Vec::<String>::new(), "{rebuild}");
    assert_eq!(rebuild.events, positions.len() as u64);
    assert_eq!(rebuild.position, head);
    assert_eq!(
        differences(&pool, &live, "read").await,
        Vec::<String>::new()
    );
    // And a verify after the rebuild finds nothing either.
    let verify = replay(&pool, &["--verify"]).await;
    assert_eq!(verify.differences, Vec::<String>::new(), "{verify}");

    // The fields that depend on the order of a stream's events are its last event's.
    let (version, updated, last): (i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "select b.version, b.updated_at, e.recorded_at
         from read.bookings b join events e on e.stream_id = b.booking_id
         where e.stream_version = (select max(stream_version) from events where stream_id = b.booking_id)
         order by b.version desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .expect("the booking placed, confirmed, moved and cancelled");
    assert_eq!((version, updated), (4, last));
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_rebuild_of_the_past_equals_the_fold_up_to_that_position(pool: PgPool) {
    let positions = interleaved_history(&pool).await;
    project_live(&pool, *positions.last().expect("events")).await;
    for until in [positions[0], positions[9], positions[16]] {
        let (past, _) = fold_in_global_order(&pool, until).await;
        let report = replay(&pool, &["--until", &until.to_string()]).await;
        assert_eq!(report.differences, Vec::<String>::new(), "{report}");
        assert_eq!(report.position, until);
        assert_eq!(
            differences(&pool, &past, "replay_until").await,
            Vec::<String>::new(),
            "until {until}"
        );
    }
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_booking_stored_before_its_resource_is_refused_by_the_rebuild_as_by_the_live_fold(
    pool: PgPool,
) {
    // Written straight into the store: a command could never place it, but a rebuild that folds
    // the resources first must not accept what the live projector refused.
    let (room, early, late) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    store(
        &pool,
        "acme",
        early,
        "booking",
        "BookingPlaced",
        placed(early, room, 0, 1, "confirmed", &[0]),
    )
    .await;
    store(
        &pool,
        "acme",
        room,
        "resource",
        "ResourceCreated",
        resource(room, "Europe/Berlin"),
    )
    .await;
    let head = store(
        &pool,
        "acme",
        late,
        "booking",
        "BookingPlaced",
        placed(late, room, 2, 1, "confirmed", &[0]),
    )
    .await;
    let (expected, refused) = fold_in_global_order(&pool, head).await;
    assert_eq!(
        refused, 1,
        "the live fold refuses the early booking's stats"
    );
    caught_up(&pool, head).await;

    let report = replay(&pool, &[]).await;
    assert_eq!(report.differences.len(), 1, "{report}");
    assert!(
        report.differences[0].starts_with("daily_stats: event "),
        "{report}"
    );
    assert_eq!(
        differences(&pool, &expected, "read").await,
        Vec::<String>::new()
    );
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_verify_names_every_row_that_differs_whether_compared_streamed_or_whole(pool: PgPool) {
    let positions = interleaved_history(&pool).await;
    project_live(&pool, *positions.last().expect("events")).await;
    for tamper in [
        // The first and the last booking in key order, and one between.
        "update read.bookings set version = 99
         where booking_id = (select booking_id from read.bookings order by booking_id limit 1)",
        "delete from read.bookings
         where booking_id = (select booking_id from read.bookings order by booking_id desc limit 1)",
        "delete from read.busy
         where booking_id = (select booking_id from read.busy order by booking_id offset 1 limit 1)",
        "insert into read.stats_bookings (booking_id, resource_id, start_at, end_at, quantity,
             status, counted, service_id, price_minor, currency)
         select gen_random_uuid(), resource_id, start_at, end_at, quantity, status, counted,
                service_id, price_minor, currency
         from read.stats_bookings limit 1",
        "update read.daily_stats set booked_minutes = booked_minutes + 1
         where (resource_id, day) = (select resource_id, day from read.daily_stats
                                     where booked_minutes > 0 limit 1)",
        "update read.resources set name = 'renamed'
         where resource_id = (select resource_id from read.resources limit 1)",
    ] {
        sqlx::query(tamper).execute(&pool).await.expect("tampered");
    }
    let report = replay(&pool, &["--verify"]).await;
    let mut found: Vec<String> = report
        .differences
        .iter()
        .map(|line| {
            let what = [
                "bookings: booking ",
                "bookings: busy ",
                "daily_stats: stats booking ",
                "daily_stats: stats day ",
                "resources: resource ",
            ]
            .into_iter()
            .find(|what| line.starts_with(what))
            .unwrap_or("?");
            let how = if line.ends_with(": in live only") {
                "in live only"
            } else if line.ends_with(": missing in live") {
                "missing in live"
            } else {
                "differs"
            };
            format!("{what}{how}")
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            "bookings: booking differs",
            "bookings: booking missing in live",
            "bookings: busy missing in live",
            "daily_stats: stats booking in live only",
            "daily_stats: stats day differs",
            "resources: resource differs",
        ],
        "{report}"
    );
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_resource_from_before_attributes_is_rebuilt_with_the_attributes_and_archiving_it_got_later(
    pool: PgPool,
) {
    let id = Uuid::new_v4();
    // Its creation has the v1 shape (no attributes, no archived): read as none and active.
    store(
        &pool,
        "acme",
        id,
        "resource",
        "ResourceCreated",
        resource(id, "UTC"),
    )
    .await;
    let mut changed = resource(id, "UTC");
    changed["attributes"] = json!({ "building": "A", "seats": 30, "features": ["tv"] });
    changed["archived"] = json!(true);
    let head = store(&pool, "acme", id, "resource", "ResourceUpdated", changed).await;
    let live = project_live(&pool, head).await;
    let rebuild = replay(&pool, &[]).await;
    assert_eq!(rebuild.differences, Vec::<String>::new(), "{rebuild}");
    assert_eq!(
        differences(&pool, &live, "read").await,
        Vec::<String>::new()
    );
    let (attributes, archived): (Value, bool) =
        sqlx::query_as("select attributes, archived from read.resources where resource_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("the resource");
    assert_eq!(
        attributes,
        json!({ "building": "A", "seats": 30, "features": ["tv"] })
    );
    assert!(archived);
    let verify = replay(&pool, &["--verify"]).await;
    assert_eq!(verify.differences, Vec::<String>::new(), "{verify}");
    // Drift in either column is named by a verify.
    sqlx::query("update read.resources set archived = false, attributes = '{}'")
        .execute(&pool)
        .await
        .expect("the drift");
    let verify = replay(&pool, &["--verify"]).await;
    assert_eq!(verify.differences.len(), 1, "{verify}");
}
