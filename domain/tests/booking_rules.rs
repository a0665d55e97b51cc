//! Given/when/then over the booking aggregate: placement rules and the lifecycle.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::Period;
use domain::aggregate::{Aggregate, given};
use domain::booking::Booking;
use domain::booking::{BookingCommand, BookingError, PlaceBooking, plan_placement};
use domain::event::{BookingStatus, BookingTransition, Event};
use domain::hours::OpeningHours;
use domain::ids::{BlackoutId, BookingId, CustomerId, ResourceId};
use domain::resource::{Policy, Resource, ResourceSpec};
use serde_json::Map;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn berlin_room(policy: Policy) -> Resource {
    let hours: OpeningHours = serde_json::from_value(serde_json::json!({
        "mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]],
        "thu": [["08:00", "18:00"]], "fri": [["08:00", "18:00"]],
        "sat": [["08:00", "18:00"]], "sun": [["08:00", "18:00"]]
    }))
    .unwrap();
    let spec = ResourceSpec {
        name: "Room".into(),
        kind: "meeting_room".into(),
        capacity: 2,
        time_zone: chrono_tz::Europe::Berlin,
        opening_hours: Some(hours),
        policy,
        attributes: Default::default(),
        archived: false,
    };
    let created = Resource::create(ResourceId::generate(), spec).unwrap();
    Resource::created(&created, utc(2026, 1, 1, 0, 0))
}

fn request(resource: &Resource, start: DateTime<Utc>, minutes: i64) -> PlaceBooking {
    PlaceBooking {
        booking_id: BookingId::generate(),
        resource_id: resource.id,
        period: Period::new(start, start + Duration::minutes(minutes)).unwrap(),
        quantity: 1,
        customer_id: CustomerId("alice".into()),
        hold: false,
        metadata: Map::new(),
    }
}

const NOW: fn() -> DateTime<Utc> = || utc(2026, 3, 1, 12, 0);

#[test]
fn berlin_opening_hours_follow_the_spring_forward_day() {
    // 2026-03-29: clocks jump 02:00 → 03:00; 08:00 local is 06:00 UTC (CEST).
    let room = berlin_room(Policy::default());
    let ok = request(&room, utc(2026, 3, 29, 6, 0), 60);
    assert!(plan_placement(&room, ok, NOW()).is_ok());
    // 07:00 local (05:00 UTC) is before opening on that day…
    let early = request(&room, utc(2026, 3, 29, 5, 0), 60);
    assert_eq!(
        plan_placement(&room, early, NOW()),
        Err(BookingError::OutsideOpeningHours)
    );
    // …but the day before, in winter time, 07:00 UTC is 08:00 local and fine, 06:00 UTC is not.
    assert!(plan_placement(&room, request(&room, utc(2026, 3, 28, 7, 0), 60), NOW()).is_ok());
    assert_eq!(
        plan_placement(&room, request(&room, utc(2026, 3, 28, 6, 0), 60), NOW()),
        Err(BookingError::OutsideOpeningHours)
    );
    // Closing at 18:00 CEST = 16:00 UTC: 15:00–16:00 UTC fits, 15:30–16:30 does not.
    assert!(plan_placement(&room, request(&room, utc(2026, 3, 29, 15, 0), 60), NOW()).is_ok());
    assert_eq!(
        plan_placement(&room, request(&room, utc(2026, 3, 29, 15, 30), 60), NOW()),
        Err(BookingError::OutsideOpeningHours)
    );
}

#[test]
fn berlin_opening_hours_follow_the_fall_back_day() {
    // 2026-10-25: clocks go 03:00 → 02:00; 08:00 local is 07:00 UTC (CET).
    let room = berlin_room(Policy::default());
    let now = utc(2026, 10, 1, 0, 0);
    assert!(plan_placement(&room, request(&room, utc(2026, 10, 25, 7, 0), 60), now).is_ok());
    assert_eq!(
        plan_placement(&room, request(&room, utc(2026, 10, 25, 6, 0), 60), now),
        Err(BookingError::OutsideOpeningHours)
    );
    // The day before (CEST) 06:00 UTC is 08:00 local.
    assert!(plan_placement(&room, request(&room, utc(2026, 10, 24, 6, 0), 60), now).is_ok());
    // 18:00 CET = 17:00 UTC.
    assert!(plan_placement(&room, request(&room, utc(2026, 10, 25, 16, 0), 60), now).is_ok());
    assert_eq!(
        plan_placement(&room, request(&room, utc(2026, 10, 25, 16, 30), 60), now),
        Err(BookingError::OutsideOpeningHours)
    );
}

#[test]
fn each_placement_rule_is_named_when_broken() {
    let policy = Policy {
        min_duration_minutes: 30,
        max_duration_minutes: 120,
        min_notice_minutes: 60,
        max_advance_days: 30,
        ..Policy::default()
    };
    let room = berlin_room(policy);
    let now = utc(2026, 3, 2, 8, 0);
    let tomorrow_9 = utc(2026, 3, 3, 9, 0);
    let cases = [
        (
            request(&room, tomorrow_9, 15),
            BookingError::DurationOutOfRange {
                min_minutes: 30,
                max_minutes: 120,
            },
        ),
        (
            request(&room, tomorrow_9, 180),
            BookingError::DurationOutOfRange {
                min_minutes: 30,
                max_minutes: 120,
            },
        ),
        (
            request(&room, utc(2026, 3, 2, 8, 30), 60),
            BookingError::InsufficientNotice {
                min_notice_minutes: 60,
            },
        ),
        (
            request(&room, utc(2026, 3, 2, 7, 0), 60),
            BookingError::InsufficientNotice {
                min_notice_minutes: 60,
            },
        ),
        (
            request(&room, utc(2026, 5, 2, 9, 0), 60),
            BookingError::TooFarInAdvance {
                max_advance_days: 30,
            },
        ),
        (
            PlaceBooking {
                quantity: 3,
                ..request(&room, tomorrow_9, 60)
            },
            BookingError::QuantityExceedsCapacity { capacity: 2 },
        ),
        (
            PlaceBooking {
                quantity: 0,
                ..request(&room, tomorrow_9, 60)
            },
            BookingError::InvalidQuantity,
        ),
    ];
    for (command, expected) in cases {
        assert_eq!(plan_placement(&room, command, now), Err(expected));
    }
}

#[test]
fn a_blackout_closes_the_resource() {
    let room = berlin_room(Policy::default());
    let start = utc(2026, 3, 3, 9, 0);
    let blackout = room
        .add_blackout(
            BlackoutId::generate(),
            Period::new(start, start + Duration::hours(2)).unwrap(),
            "painting".into(),
        )
        .unwrap();
    let room = Resource::evolve(Some(room), &Event::BlackoutAdded(blackout), NOW()).unwrap();
    assert_eq!(room.version, 2);
    assert_eq!(
        plan_placement(&room, request(&room, utc(2026, 3, 3, 10, 0), 60), NOW()),
        Err(BookingError::OutsideOpeningHours)
    );
    assert!(plan_placement(&room, request(&room, utc(2026, 3, 3, 11, 0), 60), NOW()).is_ok());
}

#[test]
fn buffers_widen_the_blocked_period_but_not_the_booking() {
    let room = berlin_room(Policy {
        buffer_before_minutes: 5,
        buffer_after_minutes: 10,
        ..Policy::default()
    });
    let start = utc(2026, 3, 3, 9, 0);
    let placement = plan_placement(&room, request(&room, start, 60), NOW()).unwrap();
    assert_eq!(placement.period.start(), start);
    assert_eq!(placement.blocked.start(), start - Duration::minutes(5));
    assert_eq!(placement.blocked.end(), start + Duration::minutes(70));
}

fn placed_hold(room: &Resource, now: DateTime<Utc>) -> Booking {
    let command = PlaceBooking {
        hold: true,
        ..request(room, utc(2026, 3, 3, 9, 0), 60)
    };
    let placement = plan_placement(room, command, now).unwrap();
    assert_eq!(placement.status, BookingStatus::Held);
    let event = Event::BookingPlaced(placement.placed(vec![0]));
    Booking::evolve(None, &event, now).unwrap()
}

#[test]
fn a_hold_confirms_within_its_ttl_and_is_gone_after_it() {
    let room = berlin_room(Policy {
        hold_ttl_seconds: 60,
        ..Policy::default()
    });
    let hold = placed_hold(&room, NOW());
    let confirmed = hold
        .decide(
            BookingCommand::Confirm {
                requires_approval: false,
            },
            NOW() + Duration::seconds(59),
        )
        .unwrap();
    assert!(matches!(confirmed, Event::BookingConfirmed(_)));
    let late = NOW() + Duration::seconds(60);
    assert_eq!(
        hold.decide(
            BookingCommand::Confirm {
                requires_approval: false
            },
            late
        ),
        Err(BookingError::HoldExpired)
    );
    assert!(matches!(
        hold.decide(BookingCommand::Expire, late),
        Ok(Event::HoldExpired(_))
    ));
    let expired = Booking::evolve(Some(hold), &hold_expired_event(&room), late).unwrap();
    assert_eq!(expired.status, BookingStatus::Expired);
    assert_eq!(
        expired.decide(BookingCommand::Cancel { reason: None }, late),
        Err(BookingError::HoldExpired)
    );
}

fn hold_expired_event(room: &Resource) -> Event {
    Event::HoldExpired(domain::event::BookingTransition {
        booking_id: BookingId::generate(),
        resource_id: room.id,
        reason: None,
    })
}

#[test]
fn approval_goes_through_pending_and_only_pending_can_be_approved_or_declined() {
    let room = berlin_room(Policy {
        requires_approval: true,
        ..Policy::default()
    });
    let placement =
        plan_placement(&room, request(&room, utc(2026, 3, 3, 9, 0), 60), NOW()).unwrap();
    assert_eq!(placement.status, BookingStatus::Pending);
    let placed = Event::BookingPlaced(placement.placed(vec![0]));
    let transition = |booking: &Booking, reason: Option<&str>| BookingTransition {
        booking_id: booking.id,
        resource_id: booking.resource_id,
        reason: reason.map(str::to_owned),
    };
    let pending = given::<Booking>(std::slice::from_ref(&placed), NOW())
        .state
        .unwrap();

    let confirmed = given::<Booking>(std::slice::from_ref(&placed), NOW())
        .when(BookingCommand::Approve, NOW())
        .then(&[Event::BookingApproved(transition(&pending, None))]);
    assert_eq!(confirmed.status, BookingStatus::Confirmed);
    assert_eq!(confirmed.version, 2);

    let approved = Event::BookingApproved(transition(&pending, None));
    given::<Booking>(&[placed.clone(), approved], NOW())
        .when(BookingCommand::Decline { reason: None }, NOW())
        .then_refused(BookingError::InvalidState {
            status: "confirmed",
            action: "declined",
        });
    let declined = given::<Booking>(&[placed], NOW())
        .when(
            BookingCommand::Decline {
                reason: Some("no".into()),
            },
            NOW(),
        )
        .then(&[Event::BookingDeclined(transition(&pending, Some("no")))]);
    assert_eq!(declined.status, BookingStatus::Declined);
}

#[test]
fn a_command_on_a_booking_that_does_not_exist_is_refused() {
    given::<Booking>(&[], NOW())
        .when(BookingCommand::Cancel { reason: None }, NOW())
        .then_refused(BookingError::NotFound);
}

#[test]
fn a_confirmed_hold_on_an_approval_resource_becomes_pending() {
    let room = berlin_room(Policy::default());
    let hold = placed_hold(&room, NOW());
    let event = hold
        .decide(
            BookingCommand::Confirm {
                requires_approval: true,
            },
            NOW(),
        )
        .unwrap();
    assert!(matches!(event, Event::BookingSubmittedForApproval(_)));
    assert_eq!(
        Booking::evolve(Some(hold), &event, NOW()).unwrap().status,
        BookingStatus::Pending
    );
}

#[test]
fn only_confirmed_bookings_reschedule_and_the_new_period_follows_the_rules() {
    let room = berlin_room(Policy::default());
    let hold = placed_hold(&room, NOW());
    let period = Period::new(utc(2026, 3, 3, 10, 0), utc(2026, 3, 3, 11, 0)).unwrap();
    assert_eq!(
        hold.plan_reschedule(&room, period, NOW()),
        Err(BookingError::InvalidState {
            status: "held",
            action: "rescheduled"
        })
    );
    let confirm = hold
        .decide(
            BookingCommand::Confirm {
                requires_approval: false,
            },
            NOW(),
        )
        .unwrap();
    let booking = Booking::evolve(Some(hold), &confirm, NOW()).unwrap();
    let night = Period::new(utc(2026, 3, 3, 22, 0), utc(2026, 3, 3, 23, 0)).unwrap();
    assert_eq!(
        booking.plan_reschedule(&room, night, NOW()),
        Err(BookingError::OutsideOpeningHours)
    );
    let plan = booking.plan_reschedule(&room, period, NOW()).unwrap();
    let moved = Booking::evolve(
        Some(booking.clone()),
        &booking.rescheduled(plan, vec![1]),
        NOW(),
    )
    .unwrap();
    assert_eq!(moved.period, period);
    assert_eq!(moved.units, vec![1]);
    assert_eq!(moved.status, BookingStatus::Confirmed);
}

#[test]
fn an_archived_resource_takes_no_placement_or_move_but_its_bookings_go_on() {
    let mut room = berlin_room(Policy::default());
    let hold = placed_hold(&room, NOW());
    let archived = room
        .update(domain::resource::ResourceChanges {
            archived: Some(true),
            ..Default::default()
        })
        .unwrap();
    room.apply(&Event::ResourceUpdated(archived), NOW());
    let ask = request(&room, utc(2026, 3, 3, 9, 0), 60);
    assert_eq!(
        plan_placement(&room, ask, NOW()),
        Err(BookingError::ResourceArchived)
    );
    // The hold placed before still confirms and cancels.
    let confirm = BookingCommand::Confirm {
        requires_approval: false,
    };
    let confirmed = Booking::evolve(
        Some(hold.clone()),
        &hold.decide(confirm, NOW()).unwrap(),
        NOW(),
    )
    .unwrap();
    let period = Period::new(utc(2026, 3, 3, 10, 0), utc(2026, 3, 3, 11, 0)).unwrap();
    assert_eq!(
        confirmed.plan_reschedule(&room, period, NOW()),
        Err(BookingError::ResourceArchived)
    );
    assert!(matches!(
        confirmed.decide(BookingCommand::Cancel { reason: None }, NOW()),
        Ok(Event::BookingCancelled(_))
    ));
}
