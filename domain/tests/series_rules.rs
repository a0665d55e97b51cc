//! Given/when/then over the series aggregate: the series-wide rules, `fail` and `skip`, and
//! which occurrences a cancellation takes.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::Period;
use domain::aggregate::given;
use domain::booking::BookingError;
use domain::event::{BookingStatus, Event, SeriesCancelled};
use domain::ids::{BookingId, CustomerId, ResourceId, SeriesId};
use domain::recurrence::RecurrenceError;
use domain::resource::{Policy, Resource, ResourceSpec};
use domain::series::{
    CreateSeries, OnConflict, Series, SeriesCommand, SeriesError, SeriesSpec, Skipped, plan_series,
};
use serde_json::Map;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn room(policy: Policy) -> Resource {
    let spec = ResourceSpec {
        name: "Classroom".into(),
        kind: "classroom".into(),
        capacity: 1,
        time_zone: chrono_tz::Europe::Berlin,
        opening_hours: None,
        policy,
        attributes: Default::default(),
        archived: false,
    };
    let created = Resource::create(ResourceId::generate(), spec).unwrap();
    Resource::created(&created, utc(2027, 1, 1, 0, 0))
}

const NOW: fn() -> DateTime<Utc> = || utc(2027, 1, 4, 12, 0);

/// Mondays and Wednesdays 18:00–19:00 Berlin (17:00 UTC in winter) from Monday 2027-03-22.
fn request(resource: &Resource, rule: &str, on_conflict: OnConflict) -> CreateSeries {
    let start = utc(2027, 3, 22, 17, 0);
    CreateSeries {
        series_id: SeriesId::generate(),
        spec: SeriesSpec {
            resource_id: resource.id,
            customer_id: CustomerId("alice".into()),
            period: Period::new(start, start + Duration::hours(1)).unwrap(),
            rrule: rule.parse().unwrap(),
            on_conflict,
            quantity: 1,
            hold: false,
            service_id: None,
            metadata: Map::new(),
        },
    }
}

#[test]
fn a_series_expands_in_the_resources_zone_keeping_its_wall_clock_time_across_dst() {
    let room = room(Policy::default());
    let plan = plan_series(
        &room,
        request(&room, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", OnConflict::Fail),
        NOW(),
    )
    .unwrap();
    // Berlin springs forward on Sunday 2027-03-28: 18:00 local is 17:00 UTC before, 16:00 after.
    let starts: Vec<_> = plan.occurrences.iter().map(Period::start).collect();
    assert_eq!(
        starts,
        [
            utc(2027, 3, 22, 17, 0),
            utc(2027, 3, 24, 17, 0),
            utc(2027, 3, 29, 16, 0),
            utc(2027, 3, 31, 16, 0),
        ]
    );
    assert!(
        plan.occurrences
            .iter()
            .all(|o| o.duration() == Duration::hours(1))
    );
}

#[test]
fn series_wide_rules_refuse_the_whole_series_as_a_single_booking_would_be() {
    let near = room(Policy {
        max_advance_days: 90,
        ..Policy::default()
    });
    // The 20th occurrence (10 weeks on) starts beyond 90 days from now: the rule reaches too far.
    assert_eq!(
        plan_series(
            &near,
            request(&near, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=20", OnConflict::Skip),
            NOW(),
        ),
        Err(SeriesError::Booking(BookingError::TooFarInAdvance {
            max_advance_days: 90
        }))
    );
    let short = room(Policy {
        max_duration_minutes: 30,
        ..Policy::default()
    });
    assert_eq!(
        plan_series(
            &short,
            request(&short, "FREQ=DAILY;COUNT=2", OnConflict::Skip),
            NOW(),
        ),
        Err(SeriesError::Booking(BookingError::DurationOutOfRange {
            min_minutes: 15,
            max_minutes: 30
        }))
    );
    let room = room(Policy::default());
    let mut two = request(&room, "FREQ=DAILY;COUNT=2", OnConflict::Fail);
    two.spec.quantity = 2;
    assert_eq!(
        plan_series(&room, two, NOW()),
        Err(SeriesError::Booking(
            BookingError::QuantityExceedsCapacity { capacity: 1 }
        ))
    );
    // A Monday start with a Tuesday rule is not an occurrence of its own rule.
    assert!(matches!(
        plan_series(
            &room,
            request(&room, "FREQ=WEEKLY;BYDAY=TU;COUNT=2", OnConflict::Fail),
            NOW(),
        ),
        Err(SeriesError::InvalidRule(
            RecurrenceError::StartNotInRule { .. }
        ))
    ));
}

#[test]
fn fail_refuses_the_series_on_any_conflict_and_skip_only_when_nothing_was_booked() {
    let room = room(Policy::default());
    let taken = Skipped {
        period: Period::new(utc(2027, 3, 24, 17, 0), utc(2027, 3, 24, 18, 0)).unwrap(),
        code: "slot_unavailable".into(),
    };
    let booked = vec![BookingId::generate()];
    let plan = |on_conflict| {
        plan_series(
            &room,
            request(&room, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=2", on_conflict),
            NOW(),
        )
        .unwrap()
    };
    let create = |plan, booked: &Vec<BookingId>, skipped: Vec<Skipped>| SeriesCommand::Create {
        plan: Box::new(plan),
        booked: booked.clone(),
        skipped,
    };
    given::<Series>(&[], NOW())
        .when(
            create(plan(OnConflict::Fail), &booked, vec![taken.clone()]),
            NOW(),
        )
        .then_refused(SeriesError::Conflict {
            conflicts: vec![taken.clone()],
        });
    given::<Series>(&[], NOW())
        .when(
            create(plan(OnConflict::Skip), &Vec::new(), vec![taken.clone()]),
            NOW(),
        )
        .then_refused(SeriesError::Conflict {
            conflicts: vec![taken.clone()],
        });
    let skip = plan(OnConflict::Skip);
    let expected = skip
        .clone()
        .created(booked.clone(), vec![taken.clone()])
        .unwrap();
    let series = given::<Series>(&[], NOW())
        .when(create(skip, &booked, vec![taken.clone()]), NOW())
        .then(&[Event::SeriesCreated(expected.clone())]);
    assert_eq!(series.booking_ids, booked);
    assert_eq!(series.skipped, [taken]);

    // Cancelling records which occurrences went, on the series' own stream.
    let from = utc(2027, 3, 24, 0, 0);
    let series = given::<Series>(&[Event::SeriesCreated(expected.clone())], NOW())
        .when(
            SeriesCommand::Cancel {
                from,
                cancelled: booked.clone(),
            },
            NOW(),
        )
        .then(&[Event::SeriesCancelled(SeriesCancelled {
            series_id: expected.series_id,
            from,
            booking_ids: booked,
        })]);
    assert_eq!(series.version, 2);
    given::<Series>(&[], NOW())
        .when(
            SeriesCommand::Cancel {
                from,
                cancelled: Vec::new(),
            },
            NOW(),
        )
        .then_refused(SeriesError::NotFound);
}

#[test]
fn a_cancellation_takes_the_live_occurrences_starting_at_or_after_from() {
    let from = utc(2027, 3, 24, 17, 0);
    let before = from - Duration::minutes(1);
    assert!(Series::cancellable(from, BookingStatus::Confirmed, from));
    assert!(Series::cancellable(from, BookingStatus::Held, from));
    assert!(Series::cancellable(from, BookingStatus::Pending, from));
    assert!(!Series::cancellable(before, BookingStatus::Confirmed, from));
    for status in [
        BookingStatus::Cancelled,
        BookingStatus::Declined,
        BookingStatus::Expired,
        BookingStatus::CheckedIn,
        BookingStatus::Completed,
        BookingStatus::NoShow,
    ] {
        assert!(!Series::cancellable(from, status, from), "{status:?}");
    }
    assert_eq!(Series::cancel_from(None, from), from);
    assert_eq!(Series::cancel_from(Some(before), from), before);
}
