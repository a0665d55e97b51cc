//! A replay's bulk load (`COPY` in binary) must store every value exactly as folded: resource
//! names, customer ids and metadata are free text from the API, so tabs, newlines, backslashes,
//! quotes and any Unicode have to survive, as do NULLs, arrays, ranges and JSON.

use chrono::{DateTime, Utc};
use domain::Event;
use eventstore::Position;
use projector::projections::{Applied, State, Touched, Write};
use readmodel::projections::Projection;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const TENANT: &str = "tenant\twith\ttabs";
/// Everything COPY's text format would have to escape, and more.
const AWKWARD: &str = "tab\there, newline\nthere, cr\rthere, backslash\\ and \\N and \\t, \
                       'single' \"double\" `back`, comma, {brace} [bracket] |pipe|, \
                       ünïcødé 日本語 🚀, zero-width\u{200b}joiner, trailing space ";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a valid time")
        .with_timezone(&Utc)
}

/// An event as the projections get it, from its stored payload.
fn event(
    position: i64,
    stream_id: Uuid,
    version: i64,
    event_type: &str,
    payload: Value,
) -> Applied {
    Applied {
        tenant: TENANT.to_owned(),
        stream_id,
        version,
        at: at("2026-11-20T08:00:00.123456Z") + chrono::Duration::seconds(position),
        position: Position::new(1000, position),
        event_id: Uuid::new_v4(),
        event: Event::decode(event_type, 1, &payload).expect("a valid payload"),
    }
}

fn history() -> Vec<Applied> {
    let room = Uuid::new_v4();
    let desk = Uuid::new_v4();
    let (held, pending, cancelled) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let booking = |id: Uuid, resource: Uuid, status: &str, expires: Value, units: Value| {
        json!({
            "booking_id": id, "resource_id": resource,
            "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:30:00Z",
            "blocked": { "start": "2026-12-01T08:45:00Z", "end": "2026-12-01T10:45:00Z" },
            "units": units, "quantity": units.as_array().map_or(0, Vec::len),
            "customer_id": AWKWARD, "status": status, "expires_at": expires,
            "metadata": { AWKWARD: AWKWARD, "nested": { "list": [1, 2.5, null, true, AWKWARD] } },
        })
    };
    vec![
        event(
            1,
            room,
            1,
            "ResourceCreated",
            json!({
                "resource_id": room, "name": AWKWARD, "kind": "kind\\with\\backslashes\n",
                "capacity": 2, "time_zone": "Europe/Berlin",
                "opening_hours": { "mon": [["08:00", "18:00"]] }, "policy": {},
            }),
        ),
        event(
            2,
            desk,
            1,
            "ResourceCreated",
            json!({
                "resource_id": desk, "name": "\\.", "kind": "", "capacity": 1,
                "time_zone": "America/New_York", "opening_hours": null, "policy": {},
            }),
        ),
        event(
            3,
            room,
            2,
            "BlackoutAdded",
            json!({
                "resource_id": room, "blackout_id": Uuid::new_v4(),
                "start": "2026-12-24T00:00:00Z", "end": "2026-12-27T00:00:00Z", "reason": AWKWARD,
            }),
        ),
        event(
            4,
            held,
            1,
            "BookingPlaced",
            booking(
                held,
                room,
                "held",
                json!("2026-11-20T08:15:00.5Z"),
                json!([0, 1]),
            ),
        ),
        event(
            5,
            pending,
            1,
            "BookingPlaced",
            booking(pending, desk, "pending", Value::Null, json!([0])),
        ),
        event(
            6,
            cancelled,
            1,
            "BookingPlaced",
            booking(cancelled, room, "confirmed", Value::Null, json!([0])),
        ),
        event(
            7,
            cancelled,
            2,
            "BookingCancelled",
            json!({
                "booking_id": cancelled, "resource_id": room, "reason": AWKWARD,
            }),
        ),
    ]
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_copied_load_reads_back_exactly_as_folded_whatever_the_text(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("a connection");
    let events = history();
    for projection in Projection::ALL {
        let mut folded = State::empty(projection);
        for applied in &events {
            folded
                .apply(applied, &mut Touched::default())
                .expect("the event applies");
        }
        folded
            .write(&mut conn, "read", Write::Fresh)
            .await
            .expect("the copy succeeds");
        let stored = State::load_all(projection, &mut conn, "read")
            .await
            .expect("the rows load");
        assert_eq!(
            folded.differences(&stored),
            Vec::<String>::new(),
            "{}",
            projection.name()
        );
    }
    // And byte for byte in SQL, not only through the same decoder.
    let resources: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select name, kind, blackouts -> 0 ->> 'reason' from read.resources order by created_at",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("resources");
    assert_eq!(
        resources,
        vec![
            (
                AWKWARD.to_owned(),
                "kind\\with\\backslashes\n".to_owned(),
                Some(AWKWARD.to_owned())
            ),
            ("\\.".to_owned(), String::new(), None),
        ]
    );
    let customers: Vec<String> = sqlx::query_scalar("select customer_id from read.bookings")
        .fetch_all(&mut *conn)
        .await
        .expect("customers");
    assert_eq!(customers, vec![AWKWARD.to_owned(); 3]);
    type Busy = (String, DateTime<Utc>, DateTime<Utc>, bool, bool);
    let busy: Vec<Busy> = sqlx::query_as(
        "select tenant_id, lower(during), upper(during), lower_inc(during), upper_inc(during)
         from read.busy",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("busy rows");
    // The held booking's two units and the pending one's: [blocked start, blocked end).
    let blocked = (
        TENANT.to_owned(),
        at("2026-12-01T08:45:00Z"),
        at("2026-12-01T10:45:00Z"),
        true,
        false,
    );
    assert_eq!(busy, vec![blocked; 3]);
    let expires: Vec<Option<DateTime<Utc>>> =
        sqlx::query_scalar("select expires_at from read.bookings order by expires_at nulls last")
            .fetch_all(&mut *conn)
            .await
            .expect("expiries");
    assert_eq!(
        expires,
        vec![Some(at("2026-11-20T08:15:00.5Z")), None, None]
    );
}
