//! Free time, timelines and slots, over DST days, buffers, capacities and blackouts.

use super::*;
use crate::hours::{OpeningHours, open_periods};
use proptest::prelude::*;

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const NEW_YORK: Tz = chrono_tz::America::New_York;
const KOLKATA: Tz = chrono_tz::Asia::Kolkata;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid UTC time")
}

/// A time on 2026-12-01, a plain UTC day.
fn at(h: u32, mi: u32) -> DateTime<Utc> {
    utc(2026, 12, 1, h, mi)
}

fn period(start: DateTime<Utc>, end: DateTime<Utc>) -> Period {
    Period::new(start, end).expect("non-empty period")
}

fn p(from: (u32, u32), to: (u32, u32)) -> Period {
    period(at(from.0, from.1), at(to.0, to.1))
}

/// A stretch of the timeline with `units_free` units free.
fn range(from: (u32, u32), to: (u32, u32), units_free: u32) -> FreeRange {
    FreeRange {
        period: p(from, to),
        units_free,
    }
}

fn busy(unit: u32, from: (u32, u32), to: (u32, u32)) -> Busy {
    Busy {
        unit,
        period: p(from, to),
    }
}

fn query(duration_min: i64, step_min: i64, quantity: u32, tz: Tz) -> SlotQuery {
    SlotQuery {
        duration: Duration::minutes(duration_min),
        step: Duration::minutes(step_min),
        quantity,
        buffer_before: Duration::zero(),
        buffer_after: Duration::zero(),
        tz,
    }
}

/// The slots' starts as local wall-clock times in `zone`, written with `format`.
fn local_starts(slots: &[Period], zone: Tz, format: &str) -> Vec<String> {
    slots
        .iter()
        .map(|s| s.start().with_timezone(&zone).format(format).to_string())
        .collect()
}

fn starts(slots: &[Period]) -> Vec<(u32, u32)> {
    slots
        .iter()
        .map(|s| (s.start().hour(), s.start().minute()))
        .collect()
}

#[test]
fn each_unit_is_free_where_open_and_not_busy() {
    let open = [p((8, 0), (12, 0)), p((13, 0), (18, 0))];
    let blocked = [
        busy(0, (9, 0), (10, 0)),
        busy(1, (11, 0), (14, 0)),
        busy(0, (9, 30), (10, 30)),
    ];
    assert_eq!(
        free_by_unit(&open, &blocked, 2),
        vec![
            vec![p((8, 0), (9, 0)), p((10, 30), (12, 0)), p((13, 0), (18, 0))],
            vec![p((8, 0), (11, 0)), p((14, 0), (18, 0))],
        ]
    );
}

#[test]
fn busy_entries_of_units_beyond_capacity_are_ignored() {
    let open = [p((8, 0), (12, 0))];
    let blocked = [busy(5, (9, 0), (10, 0))];
    assert_eq!(
        free_by_unit(&open, &blocked, 1),
        vec![vec![p((8, 0), (12, 0))]]
    );
    assert_eq!(
        free_timeline(&open, &blocked, 1),
        vec![range((8, 0), (12, 0), 1)]
    );
}

#[test]
fn timeline_counts_free_units_and_leaves_out_fully_booked_times() {
    let open = [p((8, 0), (12, 0))];
    let blocked = [busy(0, (9, 0), (11, 0)), busy(1, (10, 0), (11, 0))];
    assert_eq!(
        free_timeline(&open, &blocked, 2),
        vec![
            range((8, 0), (9, 0), 2),
            range((9, 0), (10, 0), 1),
            range((11, 0), (12, 0), 2)
        ]
    );
}

#[test]
fn timeline_merges_a_handover_between_units_into_one_range() {
    let open = [p((9, 0), (11, 0))];
    let blocked = [busy(0, (10, 0), (11, 0)), busy(1, (9, 0), (10, 0))];
    assert_eq!(
        free_timeline(&open, &blocked, 2),
        vec![range((9, 0), (11, 0), 1)]
    );
}

#[test]
fn free_ranges_serialize_flat() {
    assert_eq!(
        serde_json::to_value(range((9, 0), (10, 0), 3)).expect("serializes"),
        serde_json::json!({"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z", "units_free": 3})
    );
}

#[test]
fn a_period_fits_only_inside_a_single_open_period() {
    let open = [p((8, 0), (12, 0)), p((13, 0), (18, 0))];
    assert!(fits(&open, &p((8, 0), (12, 0))));
    assert!(fits(&open, &p((13, 30), (14, 0))));
    assert!(!fits(&open, &p((11, 0), (13, 30))));
    assert!(!fits(&open, &p((7, 0), (9, 0))));
    assert!(!fits(&open, &p((17, 0), (19, 0))));
    assert!(!fits(&[], &p((9, 0), (10, 0))));
}

#[test]
fn slots_step_through_each_open_period() {
    let open = [p((9, 0), (11, 0)), p((13, 0), (14, 0))];
    let found = slots(&open, &[], 1, &query(60, 30, 1, chrono_tz::UTC));
    assert_eq!(starts(&found), vec![(9, 0), (9, 30), (10, 0), (13, 0)]);
    assert!(found.iter().all(|s| s.duration() == Duration::hours(1)));
}

#[test]
fn slot_starts_align_to_the_local_clock_not_to_the_open_period() {
    let open = [p((9, 10), (11, 0))];
    let found = slots(&open, &[], 1, &query(30, 15, 1, chrono_tz::UTC));
    assert_eq!(
        starts(&found),
        vec![(9, 15), (9, 30), (9, 45), (10, 0), (10, 15), (10, 30)]
    );
}

#[test]
fn half_hour_offset_zones_align_on_local_time() {
    // Kolkata is UTC+05:30, so local full hours are at :30 UTC.
    let open = [p((3, 0), (7, 0))];
    let found = slots(&open, &[], 1, &query(60, 60, 1, KOLKATA));
    assert_eq!(starts(&found), vec![(3, 30), (4, 30), (5, 30)]);
}

#[test]
fn a_step_that_does_not_divide_the_day_restarts_at_local_midnight() {
    // 25-minute steps: ..., 23:20, 23:45, then 00:00 of the next day (not 00:10).
    let open = [period(utc(2026, 12, 1, 23, 0), utc(2026, 12, 2, 1, 0))];
    let found = slots(&open, &[], 1, &query(10, 25, 1, chrono_tz::UTC));
    assert_eq!(
        starts(&found),
        vec![(23, 20), (23, 45), (0, 0), (0, 25), (0, 50)]
    );
}

#[test]
fn busy_units_and_buffers_remove_slots() {
    let open = [p((8, 0), (12, 0))];
    let blocked = [busy(0, (10, 0), (10, 30))];
    let mut q = query(60, 60, 1, chrono_tz::UTC);
    // 9:00-10:00 only touches the busy period, which is fine for half-open periods.
    assert_eq!(
        starts(&slots(&open, &blocked, 1, &q)),
        vec![(8, 0), (9, 0), (11, 0)]
    );

    // A 30-minute clean-up after each slot: 9:00-10:00 would run into the busy period.
    q.buffer_after = Duration::minutes(30);
    assert_eq!(
        starts(&slots(&open, &blocked, 1, &q)),
        vec![(8, 0), (11, 0)]
    );
    q.step = Duration::minutes(30);
    assert_eq!(
        starts(&slots(&open, &blocked, 1, &q)),
        vec![(8, 0), (8, 30), (10, 30), (11, 0)]
    );

    // A 30-minute set-up before instead: 10:30 would need 10:00-10:30, 9:00 is fine again.
    q.buffer_before = Duration::minutes(30);
    q.buffer_after = Duration::zero();
    assert_eq!(
        starts(&slots(&open, &blocked, 1, &q)),
        vec![(8, 0), (8, 30), (9, 0), (11, 0)]
    );
}

#[test]
fn buffers_may_reach_outside_opening_hours() {
    let open = [p((9, 0), (10, 0))];
    let mut q = query(60, 60, 1, chrono_tz::UTC);
    q.buffer_before = Duration::minutes(30);
    q.buffer_after = Duration::minutes(30);
    assert_eq!(starts(&slots(&open, &[], 1, &q)), vec![(9, 0)]);
    // ... but they still must not hit that unit's busy time outside the hours.
    let blocked = [busy(0, (8, 0), (8, 45))];
    assert!(slots(&open, &blocked, 1, &q).is_empty());
}

#[test]
fn a_fragmented_pair_of_units_offers_no_long_slot() {
    // The timeline shows one unit free 9-11, but neither unit is free for all of it.
    let open = [p((9, 0), (11, 0))];
    let blocked = [busy(0, (9, 0), (10, 0)), busy(1, (10, 0), (11, 0))];
    assert_eq!(
        free_timeline(&open, &blocked, 2),
        vec![range((9, 0), (11, 0), 1)]
    );
    assert!(slots(&open, &blocked, 2, &query(120, 60, 1, chrono_tz::UTC)).is_empty());
    assert_eq!(
        starts(&slots(
            &open,
            &blocked,
            2,
            &query(60, 60, 1, chrono_tz::UTC)
        )),
        vec![(9, 0), (10, 0)]
    );
}

#[test]
fn a_slot_needing_several_units_needs_them_all_free_at_once() {
    let open = [p((9, 0), (12, 0))];
    let blocked = [busy(0, (9, 0), (10, 0)), busy(2, (11, 0), (12, 0))];
    assert_eq!(
        starts(&slots(
            &open,
            &blocked,
            3,
            &query(60, 60, 2, chrono_tz::UTC)
        )),
        vec![(9, 0), (10, 0), (11, 0)]
    );
    assert_eq!(
        starts(&slots(
            &open,
            &blocked,
            3,
            &query(60, 60, 3, chrono_tz::UTC)
        )),
        vec![(10, 0)]
    );
    assert!(slots(&open, &blocked, 3, &query(60, 60, 4, chrono_tz::UTC)).is_empty());
}

#[test]
fn nonsensical_queries_find_nothing() {
    let open = [p((9, 0), (12, 0))];
    assert!(slots(&open, &[], 1, &query(0, 60, 1, chrono_tz::UTC)).is_empty());
    assert!(slots(&open, &[], 1, &query(60, 0, 1, chrono_tz::UTC)).is_empty());
    assert!(slots(&open, &[], 1, &query(60, 60, 0, chrono_tz::UTC)).is_empty());
    assert!(slots(&open, &[], 0, &query(60, 60, 1, chrono_tz::UTC)).is_empty());
}

/// The hour-long slots, one an hour, of a Berlin resource open `hours` within `window`.
fn berlin_hourly_slots(hours: &str, window: Period) -> Vec<Period> {
    let hours: OpeningHours = serde_json::from_str(hours).expect("valid");
    let open = open_periods(Some(&hours), BERLIN, window);
    slots(&open, &[], 1, &query(60, 60, 1, BERLIN))
}

#[test]
fn spring_forward_day_has_no_slots_in_the_missing_hour() {
    // Berlin, Sunday 2026-03-29, open 00:00-06:00 local = 23:00 UTC (Sat) to 04:00 UTC.
    let window = period(utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 0, 0));
    let found = berlin_hourly_slots(r#"{"sun":[["00:00","06:00"]]}"#, window);
    assert_eq!(
        local_starts(&found, BERLIN, "%H:%M"),
        ["00:00", "01:00", "03:00", "04:00", "05:00"]
    );
    assert_eq!(found[2].start(), utc(2026, 3, 29, 1, 0));
}

#[test]
fn fall_back_day_offers_the_repeated_hour_twice() {
    // Berlin, Sunday 2026-10-25, open 01:00-04:00 local = 23:00 UTC (Sat) to 03:00 UTC.
    let window = period(utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0));
    let found = berlin_hourly_slots(r#"{"sun":[["01:00","04:00"]]}"#, window);
    assert_eq!(
        local_starts(&found, BERLIN, "%H:%M %Z"),
        ["01:00 CEST", "02:00 CEST", "02:00 CET", "03:00 CET"]
    );
    assert!(found.windows(2).all(|w| w[0].end() <= w[1].start()));
}

#[test]
fn new_york_spring_forward_slots_skip_the_gap_with_half_hour_steps() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    let open = [period(utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 8, 0))];
    let found = slots(&open, &[], 1, &query(30, 30, 1, NEW_YORK));
    assert_eq!(
        local_starts(&found, NEW_YORK, "%H:%M"),
        ["01:00", "01:30", "03:00", "03:30"]
    );
}

#[test]
fn slots_stop_when_no_longer_wanted_and_are_the_same_when_they_go_on() {
    let window = period(utc(2026, 3, 1, 0, 0), utc(2026, 3, 8, 0, 0));
    let open = open_periods(None, BERLIN, window);
    let q = query(30, 1, 1, BERLIN);
    let mut questions = 0;
    let all = slots_while(&open, &[], 1, &q, || {
        questions += 1;
        true
    });
    assert_eq!(all.as_deref(), Some(slots(&open, &[], 1, &q).as_slice()));
    assert!(questions > 1, "{questions}");
    let mut asked = 0;
    let stopped = slots_while(&open, &[], 1, &q, || {
        asked += 1;
        asked < 2
    });
    assert_eq!(stopped, None);
    assert_eq!(asked, 2);
}

#[test]
/// Nine weeks, 20 units and 1,240 bookings: every slot found has three units free around it,
/// buffers included. (How fast this is is measured by `bench`, not here.)
fn a_long_window_with_many_units_offers_only_slots_with_enough_free_units() {
    let window = period(utc(2026, 3, 1, 0, 0), utc(2026, 5, 2, 0, 0));
    let hours: OpeningHours = serde_json::from_str(
        r#"{"mon":[["07:00","22:00"]],"tue":[["07:00","22:00"]],"wed":[["07:00","22:00"]],
            "thu":[["07:00","22:00"]],"fri":[["07:00","22:00"]],"sat":[["08:00","20:00"]],
            "sun":[["08:00","20:00"]]}"#,
    )
    .expect("valid");
    let open = open_periods(Some(&hours), BERLIN, window);
    let blocked: Vec<Busy> = (0..62 * 20)
        .map(|i| {
            let start = window.start()
                + Duration::hours(i64::from(i) * 7 % (62 * 24))
                + Duration::minutes(i64::from(i % 4) * 15);
            Busy {
                unit: i % 20,
                period: period(start, start + Duration::minutes(90)),
            }
        })
        .collect();
    let mut q = query(60, 15, 3, BERLIN);
    q.buffer_before = Duration::minutes(15);
    q.buffer_after = Duration::minutes(15);
    let found = slots(&open, &blocked, 20, &q);
    assert!(found.len() > 1000, "{}", found.len());
    for slot in &found {
        let around = period(slot.start() - q.buffer_before, slot.end() + q.buffer_after);
        let free_units = (0..20)
            .filter(|unit| {
                !blocked
                    .iter()
                    .any(|b| b.unit == *unit && b.period.overlaps(&around))
            })
            .count();
        assert!(free_units >= 3, "{slot:?} has {free_units} units free");
        assert!(fits(&open, slot), "{slot:?} is outside the opening hours");
    }
}

// ---- properties ----

const ZONES: [Tz; 5] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Lord_Howe,
];

/// Starting points of generated cases: a few days before a DST change in one of [`ZONES`]
/// (Berlin spring and fall, New York spring, Lord Howe's half-hour spring), so that
/// generated times often cross one.
fn arb_base() -> impl Strategy<Value = DateTime<Utc>> {
    prop::sample::select(vec![
        utc(2026, 3, 27, 0, 0),
        utc(2026, 10, 23, 0, 0),
        utc(2026, 3, 6, 0, 0),
        utc(2026, 10, 1, 0, 0),
    ])
}

fn minutes_period(base: DateTime<Utc>, start: i64, len: i64) -> Period {
    let start = base + Duration::minutes(start);
    period(start, start + Duration::minutes(len))
}

fn arb_open(base: DateTime<Utc>) -> impl Strategy<Value = Vec<Period>> {
    prop::collection::vec((0i64..6 * 1440, 1i64..600), 0..8).prop_map(move |raw| {
        merge(
            raw.into_iter()
                .map(|(s, l)| minutes_period(base, s, l))
                .collect(),
        )
    })
}

fn arb_busy(base: DateTime<Utc>, capacity: u32) -> impl Strategy<Value = Vec<Busy>> {
    prop::collection::vec((0..capacity + 1, 0i64..6 * 1440, 1i64..300), 0..20).prop_map(
        move |raw| {
            raw.into_iter()
                .map(|(unit, s, l)| Busy {
                    unit,
                    period: minutes_period(base, s, l),
                })
                .collect()
        },
    )
}

/// Open periods, busy entries (some for a unit beyond capacity) and the capacity.
fn arb_case() -> impl Strategy<Value = (Vec<Period>, Vec<Busy>, u32)> {
    (arb_base(), 1u32..5).prop_flat_map(|(base, capacity)| {
        (arb_open(base), arb_busy(base, capacity), Just(capacity))
    })
}

fn arb_query() -> impl Strategy<Value = SlotQuery> {
    (
        1i64..240,
        prop::sample::select(vec![5i64, 15, 25, 30, 60, 90]),
        1u32..4,
        0i64..60,
        0i64..60,
        prop::sample::select(ZONES.to_vec()),
    )
        .prop_map(|(duration, step, quantity, before, after, tz)| SlotQuery {
            duration: Duration::minutes(duration),
            step: Duration::minutes(step),
            quantity,
            buffer_before: Duration::minutes(before),
            buffer_after: Duration::minutes(after),
            tz,
        })
}

fn unit_is_clear(busy: &[Busy], unit: u32, range: &Period) -> bool {
    busy.iter()
        .all(|b| b.unit != unit || !b.period.overlaps(range))
}

proptest! {
    #[test]
    fn free_periods_never_overlap_their_units_busy_time((open, busy, capacity) in arb_case()) {
        for (unit, free) in free_by_unit(&open, &busy, capacity).iter().enumerate() {
            for f in free {
                prop_assert!(unit_is_clear(&busy, unit as u32, f));
            }
            prop_assert!(free.windows(2).all(|w| w[0].end() < w[1].start()));
        }
    }

    #[test]
    fn nothing_outside_open_is_free((open, busy, capacity) in arb_case()) {
        for free in free_by_unit(&open, &busy, capacity) {
            for f in free {
                prop_assert!(fits(&open, &f));
            }
        }
        for range in free_timeline(&open, &busy, capacity) {
            prop_assert!(fits(&open, &range.period));
        }
    }

    #[test]
    fn free_time_plus_busy_time_covers_open_time((open, busy, capacity) in arb_case()) {
        // Free time is exactly open minus busy: removing the unit's busy time from open
        // leaves its free time, and adding that free time back to busy covers open.
        for (unit, free) in free_by_unit(&open, &busy, capacity).iter().enumerate() {
            let mut cover: Vec<Period> = busy.iter().filter(|b| b.unit == unit as u32).map(|b| b.period).collect();
            cover.extend(free.iter().copied());
            prop_assert!(subtract(&open, &merge(cover)).is_empty());
        }
    }

    #[test]
    fn the_timeline_is_sorted_disjoint_merged_and_bounded((open, busy, capacity) in arb_case()) {
        let timeline = free_timeline(&open, &busy, capacity);
        for range in &timeline {
            prop_assert!(range.units_free >= 1 && range.units_free <= capacity);
        }
        for pair in timeline.windows(2) {
            prop_assert!(pair[0].period.end() <= pair[1].period.start());
            if pair[0].period.end() == pair[1].period.start() {
                prop_assert_ne!(pair[0].units_free, pair[1].units_free);
            }
        }
    }

    #[test]
    fn the_timeline_counts_the_units_free_at_each_instant((open, busy, capacity) in arb_case()) {
        let per_unit = free_by_unit(&open, &busy, capacity);
        let timeline = free_timeline(&open, &busy, capacity);
        let count_at = |t: DateTime<Utc>| per_unit.iter().filter(|free| free.iter().any(|f| f.contains_instant(t))).count() as u32;
        for range in &timeline {
            prop_assert_eq!(count_at(range.period.start()), range.units_free);
            prop_assert_eq!(count_at(range.period.end() - Duration::seconds(1)), range.units_free);
        }
        // Every instant with a free unit is covered by the timeline.
        for f in per_unit.iter().flatten() {
            prop_assert!(timeline.iter().any(|r| r.period.contains_instant(f.start())));
        }
    }

    #[test]
    fn every_slot_fits_is_aligned_and_respects_buffers(
        (open, busy, capacity) in arb_case(),
        q in arb_query(),
    ) {
        let found = slots(&open, &busy, capacity, &q);
        prop_assert!(found.windows(2).all(|w| w[0].start() < w[1].start()));
        for slot in &found {
            prop_assert!(fits(&open, slot));
            prop_assert_eq!(slot.duration(), q.duration);
            let local = slot.start().with_timezone(&q.tz);
            prop_assert_eq!(local.second(), 0);
            let minute_of_day = i64::from(local.hour() * 60 + local.minute());
            prop_assert_eq!(minute_of_day % q.step.num_minutes(), 0);
            let widened = slot.widen(q.buffer_before, q.buffer_after);
            let clear = (0..capacity).filter(|&u| unit_is_clear(&busy, u, &widened)).count();
            prop_assert!(clear >= q.quantity as usize);
        }
    }

    #[test]
    fn slots_are_exactly_the_qualifying_aligned_starts(
        (open, busy, capacity) in arb_case(),
        q in arb_query(),
    ) {
        // Brute force: every whole UTC minute of every open period, checked directly (all
        // generated times are whole minutes, and no zone in ZONES has a seconds offset).
        let found = slots(&open, &busy, capacity, &q);
        let mut expected = Vec::new();
        let minutes = open.iter().flat_map(|o| {
            (0..o.duration().num_minutes()).map(move |m| o.start() + Duration::minutes(m))
        });
        for start in minutes {
            let local = start.with_timezone(&q.tz);
            let minute_of_day = i64::from(local.hour() * 60 + local.minute());
            if local.second() != 0 || minute_of_day % q.step.num_minutes() != 0 {
                continue;
            }
            let slot = period(start, start + q.duration);
            if !fits(&open, &slot) {
                continue;
            }
            let widened = slot.widen(q.buffer_before, q.buffer_after);
            let clear = (0..capacity).filter(|&u| unit_is_clear(&busy, u, &widened)).count();
            if clear >= q.quantity as usize {
                expected.push(slot);
            }
        }
        prop_assert_eq!(found, expected);
    }
}
