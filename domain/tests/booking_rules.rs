//! Given/when/then over the booking aggregate: placement rules and the lifecycle.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::Period;
use domain::aggregate::{Aggregate, given};
use domain::booking::Booking;
use domain::booking::{BookingCommand, BookingError, PlaceBooking, Requester, plan_placement};
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
        customer: None,
        hold: false,
        metadata: Map::new(),
        service: None,
        price: None,
        series_id: None,
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
        expired.decide(
            BookingCommand::Cancel {
                reason: None,
                by: Requester::Admin,
            },
            late
        ),
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
        .when(
            BookingCommand::Cancel {
                reason: None,
                by: Requester::Admin,
            },
            NOW(),
        )
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
        hold.plan_reschedule(&room, period, Requester::Admin, NOW()),
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
        booking.plan_reschedule(&room, night, Requester::Admin, NOW()),
        Err(BookingError::OutsideOpeningHours)
    );
    let plan = booking
        .plan_reschedule(&room, period, Requester::Admin, NOW())
        .unwrap();
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

/// The events of a booking of `room`, 09:00–10:00 UTC on 2026-03-03, confirmed when placed.
fn confirmed_history(room: &Resource) -> Vec<Event> {
    let placement = plan_placement(room, request(room, utc(2026, 3, 3, 9, 0), 60), NOW()).unwrap();
    assert_eq!(placement.status, BookingStatus::Confirmed);
    vec![Event::BookingPlaced(placement.placed(vec![0]))]
}

/// The status-only event `make` for the booking of `history`.
fn transition_of(history: &[Event], make: fn(BookingTransition) -> Event) -> Event {
    let booking = given::<Booking>(history, NOW()).state.unwrap();
    make(BookingTransition {
        booking_id: booking.id,
        resource_id: booking.resource_id,
        reason: None,
    })
}

#[test]
fn check_in_opens_the_policys_minutes_before_the_start_and_closes_at_the_end() {
    let room = berlin_room(Policy {
        check_in_opens_minutes: 60,
        ..Policy::default()
    });
    let history = confirmed_history(&room);
    let checked_in = transition_of(&history, Event::BookingCheckedIn);
    let check_in = || BookingCommand::CheckIn {
        opens: room.spec.policy.check_in_opens(),
    };
    let window = BookingError::CheckInWindow {
        opens: utc(2026, 3, 3, 8, 0),
        closes: utc(2026, 3, 3, 10, 0),
    };
    let second = Duration::seconds(1);
    for at in [utc(2026, 3, 3, 8, 0), utc(2026, 3, 3, 10, 0) - second] {
        let booking = given::<Booking>(&history, NOW())
            .when(check_in(), at)
            .then(std::slice::from_ref(&checked_in));
        assert_eq!(booking.status, BookingStatus::CheckedIn);
    }
    for at in [utc(2026, 3, 3, 8, 0) - second, utc(2026, 3, 3, 10, 0)] {
        given::<Booking>(&history, NOW())
            .when(check_in(), at)
            .then_refused(window.clone());
    }
    // Once in, not again.
    given::<Booking>(&[history[0].clone(), checked_in], NOW())
        .when(check_in(), utc(2026, 3, 3, 9, 0))
        .then_refused(BookingError::InvalidState {
            status: "checked_in",
            action: "checked in",
        });
}

#[test]
fn only_a_confirmed_booking_is_checked_in_never_a_hold_live_or_expired() {
    let room = berlin_room(Policy {
        hold_ttl_seconds: 60,
        check_in_opens_minutes: 24 * 60,
        ..Policy::default()
    });
    let hold = placed_hold(&room, NOW());
    let check_in = BookingCommand::CheckIn {
        opens: room.spec.policy.check_in_opens(),
    };
    let inside_window = utc(2026, 3, 3, 8, 30);
    // A hold confirmed in time could be; the hold itself cannot.
    assert_eq!(
        hold.decide(check_in.clone(), NOW()),
        Err(BookingError::InvalidState {
            status: "held",
            action: "checked in"
        })
    );
    // Past its TTL (whether or not the sweeper recorded it), it is expired.
    assert_eq!(
        hold.decide(check_in.clone(), inside_window),
        Err(BookingError::HoldExpired)
    );
    let expired = Booking::evolve(Some(hold), &hold_expired_event(&room), inside_window).unwrap();
    assert_eq!(
        expired.decide(check_in, inside_window),
        Err(BookingError::HoldExpired)
    );
}

#[test]
fn a_checked_in_booking_completes_any_time_and_a_confirmed_one_once_started() {
    let room = berlin_room(Policy::default());
    let history = confirmed_history(&room);
    let completed = transition_of(&history, Event::BookingCompleted);
    let checked_in = transition_of(&history, Event::BookingCheckedIn);
    let before_start = utc(2026, 3, 3, 8, 30);
    given::<Booking>(&history, NOW())
        .when(BookingCommand::Complete, before_start)
        .then_refused(BookingError::NotStarted);
    let done = given::<Booking>(&history, NOW())
        .when(BookingCommand::Complete, utc(2026, 3, 3, 9, 0))
        .then(std::slice::from_ref(&completed));
    assert_eq!(done.status, BookingStatus::Completed);
    // Completing keeps the booking's time: nothing is freed.
    assert_eq!(
        done.blocked,
        given::<Booking>(&history, NOW()).state.unwrap().blocked
    );
    let in_and_done = given::<Booking>(&[history[0].clone(), checked_in], NOW())
        .when(BookingCommand::Complete, before_start)
        .then(std::slice::from_ref(&completed));
    assert_eq!(in_and_done.status, BookingStatus::Completed);
    given::<Booking>(&[history[0].clone(), completed], NOW())
        .when(BookingCommand::Complete, utc(2026, 3, 3, 11, 0))
        .then_refused(BookingError::InvalidState {
            status: "completed",
            action: "completed",
        });
}

#[test]
fn a_no_show_waits_for_the_grace_and_frees_the_rest_of_the_blocked_time() {
    let room = berlin_room(Policy {
        no_show_grace_minutes: 15,
        buffer_before_minutes: 5,
        buffer_after_minutes: 10,
        ..Policy::default()
    });
    let history = confirmed_history(&room);
    let booking = given::<Booking>(&history, NOW()).state.unwrap();
    let no_show = || BookingCommand::MarkNoShow {
        grace: room.spec.policy.no_show_grace(),
    };
    let from = utc(2026, 3, 3, 9, 15);
    given::<Booking>(&history, NOW())
        .when(no_show(), from - Duration::seconds(1))
        .then_refused(BookingError::NoShowTooEarly { from });
    let at = utc(2026, 3, 3, 9, 20);
    let kept = Period::new(utc(2026, 3, 3, 8, 55), at).unwrap();
    let missed = given::<Booking>(&history, NOW())
        .when(no_show(), at)
        .then(&[Event::BookingMarkedNoShow(
            domain::event::BookingMarkedNoShow {
                booking_id: booking.id,
                resource_id: booking.resource_id,
                blocked: kept,
            },
        )]);
    assert_eq!(missed.status, BookingStatus::NoShow);
    assert_eq!(missed.blocked, kept);
    assert_eq!(missed.period, booking.period);
    // Recorded after the end (and its buffer), there is nothing left to free.
    let late = given::<Booking>(&history, NOW())
        .when(no_show(), utc(2026, 3, 4, 0, 0))
        .then(&[Event::BookingMarkedNoShow(
            domain::event::BookingMarkedNoShow {
                booking_id: booking.id,
                resource_id: booking.resource_id,
                blocked: booking.blocked,
            },
        )]);
    assert_eq!(late.blocked, booking.blocked);
    // A checked-in customer came.
    let checked_in = transition_of(&history, Event::BookingCheckedIn);
    given::<Booking>(&[history[0].clone(), checked_in], NOW())
        .when(no_show(), at)
        .then_refused(BookingError::InvalidState {
            status: "checked_in",
            action: "marked a no-show",
        });
}

#[test]
fn a_client_inside_the_cutoff_cannot_cancel_or_reschedule_and_an_admin_can_until_the_start() {
    let room = berlin_room(Policy {
        cancel_cutoff_minutes: 120,
        ..Policy::default()
    });
    let history = confirmed_history(&room);
    let booking = given::<Booking>(&history, NOW()).state.unwrap();
    let client = Requester::client(&room.spec.policy);
    let cancel = |by| BookingCommand::Cancel { reason: None, by };
    let later = Period::new(utc(2026, 3, 3, 14, 0), utc(2026, 3, 3, 15, 0)).unwrap();
    let cut_off = BookingError::CutoffPassed {
        cutoff_minutes: 120,
    };
    // 2 h before the start is the last moment a client may.
    let last = utc(2026, 3, 3, 7, 0);
    assert!(booking.decide(cancel(client), last).is_ok());
    assert!(booking.plan_reschedule(&room, later, client, last).is_ok());
    let inside = last + Duration::seconds(1);
    assert_eq!(booking.decide(cancel(client), inside), Err(cut_off.clone()));
    assert_eq!(
        booking.plan_reschedule(&room, later, client, inside),
        Err(cut_off)
    );
    let just_before = utc(2026, 3, 3, 9, 0) - Duration::seconds(1);
    assert!(
        booking
            .decide(cancel(Requester::Admin), just_before)
            .is_ok()
    );
    assert!(
        booking
            .plan_reschedule(&room, later, Requester::Admin, just_before)
            .is_ok()
    );
    // Once started, nobody.
    for by in [client, Requester::Admin] {
        let start = utc(2026, 3, 3, 9, 0);
        assert_eq!(
            booking.decide(cancel(by), start),
            Err(BookingError::Started)
        );
        assert_eq!(
            booking.plan_reschedule(&room, later, by, start),
            Err(BookingError::Started)
        );
    }
}

#[test]
fn without_grace_a_no_show_at_the_very_start_waits_for_the_next_instant() {
    let room = berlin_room(Policy {
        no_show_grace_minutes: 0,
        ..Policy::default()
    });
    let history = confirmed_history(&room);
    let start = utc(2026, 3, 3, 9, 0);
    let no_show = || BookingCommand::MarkNoShow {
        grace: room.spec.policy.no_show_grace(),
    };
    given::<Booking>(&history, NOW())
        .when(no_show(), start)
        .then_refused(BookingError::NoShowTooEarly { from: start });
    let tick = start + Duration::microseconds(1);
    let missed = given::<Booking>(&history, NOW())
        .when(no_show(), tick)
        .then(&[Event::BookingMarkedNoShow(
            domain::event::BookingMarkedNoShow {
                booking_id: given::<Booking>(&history, NOW()).state.unwrap().id,
                resource_id: room.id,
                blocked: Period::new(start, tick).unwrap(),
            },
        )]);
    assert_eq!(missed.status, BookingStatus::NoShow);
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
        confirmed.plan_reschedule(&room, period, Requester::Admin, NOW()),
        Err(BookingError::ResourceArchived)
    );
    assert!(matches!(
        confirmed.decide(
            BookingCommand::Cancel {
                reason: None,
                by: Requester::Admin
            },
            NOW()
        ),
        Ok(Event::BookingCancelled(_))
    ));
}
