//! Cache invalidations survive a crash: the batch's transaction records the invalidations it
//! owes, so a projector killed between its commit and Redis sends them at its next start and no
//! cached day outlives the change. The projector runs as a real process here, crashed by a
//! failpoint exactly between the two.

use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use domain::ids::ResourceId;
use eventstore::Position;
use readmodel::cache::{DayEntry, Keys, Lookup, RedisCache, ResourceDay};
use sqlx::PgPool;
use uuid::Uuid;

mod support;
use support::{placed, resource, store, url_of};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The projector binary on the test's database, with its own stream name, Redis prefix and
/// notice subject; `failpoints` armed.
fn projector(database_url: &str, id: &str, failpoints: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_projector"));
    command
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", env("NATS_URL", "nats://127.0.0.1:4222"))
        // No such stream: the projector reads the event store, as it does while NATS is away.
        .env("NATS_STREAM", format!("BKT_NONE_{id}"))
        .env("NATS_SUBJECT_PREFIX", format!("bkt_none_{id}"))
        .env("REDIS_URL", env("REDIS_URL", "redis://127.0.0.1:6379"))
        .env("REDIS_KEY_PREFIX", format!("bkt:{id}:"))
        .env("CHANGED_SUBJECT", format!("bkt_changed_{id}"))
        .env("PROJECTOR_ADDR", "127.0.0.1:0")
        .env("PROJECTOR_IDLE_POLL_MS", "100")
        .env("RUST_LOG", "warn")
        .env(platform::failpoint::VARIABLE, failpoints)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

async fn exit_of(mut child: std::process::Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the projector did not stop within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn owed(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from read.cache_invalidations")
        .fetch_one(pool)
        .await
        .expect("count the owed invalidations")
}

#[sqlx::test(migrator = "eventstore::db::MIGRATOR")]
async fn a_projector_killed_between_its_commit_and_redis_leaves_no_stale_day(pool: PgPool) {
    let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let (room, booking) = (Uuid::new_v4(), Uuid::new_v4());
    store(
        &pool,
        "acme",
        room,
        "resource",
        "ResourceCreated",
        resource(room, "UTC"),
    )
    .await;
    // A day cached while it was still free.
    let cache = RedisCache::connect_lazy(
        &env("REDIS_URL", "redis://127.0.0.1:6379"),
        Keys::new(format!("bkt:{id}:")),
    )
    .expect("a Redis URL");
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date");
    let acme_room_day = ResourceDay {
        tenant: "acme".parse().expect("a tenant"),
        resource: ResourceId(room),
        date: day,
    };
    let free = DayEntry { busy: Vec::new() };
    assert!(
        cache
            .fill(&acme_room_day, Position::new(1, 1), &free)
            .await
            .expect("Redis")
    );
    // Then booked 08:00-09:00 that day.
    store(
        &pool,
        "acme",
        booking,
        "booking",
        "BookingPlaced",
        placed(booking, room, 0, 1, "confirmed", &[0]),
    )
    .await;

    // The bookings projection commits the booking, and the process dies before Redis hears.
    let url = url_of(&pool).await;
    let crashed = projector(&url, &id, "projector.bookings.after_commit")
        .spawn()
        .expect("the projector starts");
    let status = exit_of(crashed, Duration::from_secs(30)).await;
    assert!(!status.success(), "the failpoint aborted it: {status}");
    let projected: i64 =
        sqlx::query_scalar("select count(*) from read.bookings where booking_id = $1")
            .bind(booking)
            .fetch_one(&pool)
            .await
            .expect("the read model");
    assert_eq!(projected, 1, "the batch committed before the crash");
    assert!(
        owed(&pool).await > 0,
        "the invalidations it owes are recorded"
    );
    assert!(
        matches!(
            cache.get(&acme_room_day).await.expect("Redis"),
            Lookup::Hit { .. }
        ),
        "Redis still holds the stale day: the crash came before the invalidation"
    );

    // The next start sends what is owed.
    let mut restarted = projector(&url, &id, "")
        .spawn()
        .expect("the projector starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while owed(&pool).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the owed invalidations were sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = restarted.kill();
    let _ = restarted.wait();
    assert_eq!(
        cache.get(&acme_room_day).await.expect("Redis"),
        Lookup::Miss,
        "the stale day is gone"
    );
    assert!(
        !cache
            .fill(&acme_room_day, Position::new(1, 1), &free)
            .await
            .expect("Redis"),
        "and a late fill from before the booking cannot bring it back"
    );
}
