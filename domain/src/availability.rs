//! Free time and bookable slots of a resource with one or more interchangeable units.
//!
//! Owns the arithmetic from "when is it open" (sorted, merged UTC periods as
//! [`crate::hours::open_periods`] returns them) and "which unit is blocked when" ([`Busy`]) to
//! free time per unit, the combined free timeline, and step-aligned slots.

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::period::{Period, merge, subtract};

/// A unit of a resource blocked over a period (the period already includes the booking's buffers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    pub unit: u32,
    pub period: Period,
}

/// A stretch of time during which `units_free` units are free.
///
/// Serializes flat: `{"start": …, "end": …, "units_free": …}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FreeRange {
    #[serde(flatten)]
    pub period: Period,
    pub units_free: u32,
}

/// What to look for when listing bookable slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotQuery {
    /// Length of each slot; no slots when not positive.
    pub duration: Duration,
    /// Spacing of slot starts on the local wall clock, in whole minutes; no slots when under a
    /// minute.
    pub step: Duration,
    /// How many units a slot needs at once; no slots when 0.
    pub quantity: u32,
    /// Time each unit must also be free before the slot (may lie outside opening hours);
    /// negative values count as zero.
    pub buffer_before: Duration,
    /// Time each unit must also be free after the slot; negative values count as zero.
    pub buffer_after: Duration,
    /// Time zone whose wall clock the step aligns to.
    pub tz: Tz,
}

/// Busy periods of units `0..capacity`, sorted and merged per unit; other units are dropped.
fn busy_by_unit(busy: &[Busy], capacity: u32) -> Vec<Vec<Period>> {
    let mut by_unit = vec![Vec::new(); capacity as usize];
    for entry in busy {
        if let Some(periods) = by_unit.get_mut(entry.unit as usize) {
            periods.push(entry.period);
        }
    }
    by_unit.into_iter().map(merge).collect()
}

/// For each unit `0..capacity`, the open time that none of its busy periods covers (sorted,
/// merged). Busy entries of units at or beyond `capacity` are ignored.
pub fn free_by_unit(open: &[Period], busy: &[Busy], capacity: u32) -> Vec<Vec<Period>> {
    busy_by_unit(busy, capacity)
        .iter()
        .map(|blocked| subtract(open, blocked))
        .collect()
}

/// How many units are free when: maximal stretches with a constant, non-zero number of free
/// units, sorted. Touching ranges always differ in `units_free`; times with no unit free are
/// left out.
///
/// A count says nothing about *which* units are free: one unit free 9-10 and another 10-11 show
/// as one unit free 9-11, yet no single unit can take 9-11 (see [`slots`]).
pub fn free_timeline(open: &[Period], busy: &[Busy], capacity: u32) -> Vec<FreeRange> {
    // Sweep over +1 at each free period's start and -1 at its end.
    let mut events: Vec<(DateTime<Utc>, i64)> = free_by_unit(open, busy, capacity)
        .iter()
        .flatten()
        .flat_map(|free| [(free.start(), 1), (free.end(), -1)])
        .collect();
    events.sort_unstable();

    let mut ranges = Vec::new();
    let mut free_units: i64 = 0;
    let mut since: Option<DateTime<Utc>> = None;
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        let mut count = free_units;
        // All events at one instant are applied together, so a unit freeing up exactly when
        // another becomes busy does not split the range.
        while i < events.len() && events[i].0 == at {
            count += events[i].1;
            i += 1;
        }
        if count == free_units {
            continue;
        }
        if let (Some(start), Ok(units_free)) = (since, u32::try_from(free_units))
            && units_free > 0
            && let Ok(period) = Period::new(start, at)
        {
            ranges.push(FreeRange { period, units_free });
        }
        free_units = count;
        since = Some(at);
    }
    ranges
}

/// Whether `period` lies inside a single period of `open` (sorted and merged).
pub fn fits(open: &[Period], period: &Period) -> bool {
    // The only candidate is the last open period starting at or before `period`.
    let after = open.partition_point(|o| o.start() <= period.start());
    after > 0 && open[after - 1].contains(period)
}

/// Bookable slots `[s, s + duration)`, sorted by start.
///
/// A start `s` qualifies when
/// - its local wall time in `q.tz` is a whole multiple of `q.step` minutes after local midnight
///   (local alignment: in Asia/Kolkata hourly slots start at :00 local, i.e. :30 UTC; on a day
///   when the clocks fall back, the repeated hour offers its starts twice);
/// - the slot lies inside one period of `open` (sorted and merged);
/// - at least `q.quantity` units each have no busy period overlapping the slot widened by the
///   buffers. The buffers may reach outside opening hours; they only must not hit that unit's
///   busy time.
pub fn slots(open: &[Period], busy: &[Busy], capacity: u32, q: &SlotQuery) -> Vec<Period> {
    slots_while(open, busy, capacity, q, || true).unwrap_or_default()
}

/// How many slot starts [`slots_while`] looks at between two questions.
pub const STARTS_PER_QUESTION: usize = 4096;

/// [`slots`], asking `go_on` every [`STARTS_PER_QUESTION`] starts whether it is still wanted;
/// `None` once `go_on` says no (a caller whose request was cancelled).
pub fn slots_while(
    open: &[Period],
    busy: &[Busy],
    capacity: u32,
    q: &SlotQuery,
    mut go_on: impl FnMut() -> bool,
) -> Option<Vec<Period>> {
    let Some(step_minutes) = u64::try_from(q.step.num_minutes()).ok().filter(|&m| m >= 1) else {
        return Some(Vec::new());
    };
    if q.duration <= Duration::zero() || q.quantity == 0 || q.quantity > capacity {
        return Some(Vec::new());
    }
    let before = q.buffer_before.max(Duration::zero());
    let after = q.buffer_after.max(Duration::zero());
    let blocked = busy_by_unit(busy, capacity);
    // Candidates come in increasing order, so each unit's first busy period that could still
    // overlap only ever moves forward: checking a candidate is amortised O(1) per unit.
    let mut cursor = vec![0usize; blocked.len()];

    let mut out = Vec::new();
    let mut looked_at = 0_usize;
    for period in open {
        let Some(last_start) = period.end().checked_sub_signed(q.duration) else {
            continue;
        };
        let mut starts = AlignedStarts::new(q.tz, period.start(), step_minutes);
        while let Some(start) = starts.next_until(last_start) {
            looked_at += 1;
            if looked_at.is_multiple_of(STARTS_PER_QUESTION) && !go_on() {
                return None;
            }
            let Some(slot) = start
                .checked_add_signed(q.duration)
                .and_then(|end| Period::new(start, end).ok())
            else {
                continue;
            };
            let from = slot
                .start()
                .checked_sub_signed(before)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            let until = slot
                .end()
                .checked_add_signed(after)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let mut free_units = 0;
            for (periods, at) in blocked.iter().zip(cursor.iter_mut()) {
                while *at < periods.len() && periods[*at].end() <= from {
                    *at += 1;
                }
                if periods.get(*at).is_none_or(|next| next.start() >= until) {
                    free_units += 1;
                    if free_units == q.quantity {
                        break;
                    }
                }
            }
            if free_units == q.quantity {
                out.push(slot);
            }
        }
    }
    Some(out)
}

/// Walks, in UTC order, the instants whose wall-clock time in a zone is a whole multiple of
/// `step` minutes after local midnight.
///
/// It works in UTC with the zone's current offset and only asks the zone again at each
/// candidate, so a long window costs one offset lookup per candidate rather than per minute.
struct AlignedStarts {
    tz: Tz,
    step_minutes: u64,
    /// Candidates are at or after (`inclusive`) or strictly after this instant.
    cursor: DateTime<Utc>,
    inclusive: bool,
}

impl AlignedStarts {
    fn new(tz: Tz, from: DateTime<Utc>, step_minutes: u64) -> Self {
        Self {
            tz,
            step_minutes,
            cursor: from,
            inclusive: true,
        }
    }

    /// The next aligned instant that is not after `last`, if any.
    fn next_until(&mut self, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
        while self.cursor <= last {
            let offset = self.offset_at(self.cursor);
            let wall = self.cursor.naive_utc().checked_add_offset(offset)?;
            let aligned_wall = next_aligned(wall, self.step_minutes, self.inclusive)?;
            // The instant at which the wall clock reads `aligned_wall`, if the offset holds.
            let candidate = aligned_wall.checked_sub_offset(offset)?.and_utc();
            if self.offset_at(candidate) == offset {
                if candidate > last {
                    return None;
                }
                self.cursor = candidate;
                self.inclusive = false;
                return Some(candidate);
            }
            // The offset changes before the candidate: continue from the transition with the
            // new offset. Past a spring-forward this skips wall times that never happen; past a
            // fall-back it revisits the repeated wall times, which are real, distinct instants.
            self.cursor = self.transition_after(self.cursor, candidate, offset);
            self.inclusive = true;
        }
        None
    }

    fn offset_at(&self, at: DateTime<Utc>) -> chrono::FixedOffset {
        self.tz.offset_from_utc_datetime(&at.naive_utc()).fix()
    }

    /// The first instant in `(from, to]` whose offset differs from `offset`, given that `to`'s
    /// does. Zone transitions fall on whole seconds, so a search over seconds finds it exactly.
    fn transition_after(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        offset: chrono::FixedOffset,
    ) -> DateTime<Utc> {
        let (mut lo, mut hi) = (from.timestamp(), to.timestamp());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let changed =
                DateTime::from_timestamp(mid, 0).is_none_or(|at| self.offset_at(at) != offset);
            if changed {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        // `hi` is after `from` and never past `to`, so progress is guaranteed.
        DateTime::from_timestamp(hi, 0)
            .filter(|at| *at > from)
            .unwrap_or(to)
    }
}

/// The first wall time at or after (`inclusive`) or strictly after `wall` that is a multiple of
/// `step` minutes after its local midnight; the count restarts at each midnight, so a step that
/// does not divide the day still starts every day at 00:00.
fn next_aligned(wall: NaiveDateTime, step: u64, inclusive: bool) -> Option<NaiveDateTime> {
    let seconds = u64::from(wall.num_seconds_from_midnight());
    let whole_minute = seconds % 60 == 0 && wall.nanosecond() == 0;
    let first_minute = if whole_minute && inclusive {
        seconds / 60
    } else {
        seconds / 60 + 1
    };
    let minute = first_minute.div_ceil(step).saturating_mul(step);
    if minute >= 24 * 60 {
        return Some(wall.date().succ_opt()?.and_time(NaiveTime::MIN));
    }
    let time = NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(minute * 60).ok()?, 0)?;
    Some(wall.date().and_time(time))
}

#[cfg(test)]
mod tests {
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
            vec![FreeRange {
                period: p((8, 0), (12, 0)),
                units_free: 1
            }]
        );
    }

    #[test]
    fn timeline_counts_free_units_and_leaves_out_fully_booked_times() {
        let open = [p((8, 0), (12, 0))];
        let blocked = [busy(0, (9, 0), (11, 0)), busy(1, (10, 0), (11, 0))];
        let range = |from, to, units_free| FreeRange {
            period: p(from, to),
            units_free,
        };
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
            vec![FreeRange {
                period: p((9, 0), (11, 0)),
                units_free: 1
            }]
        );
    }

    #[test]
    fn free_ranges_serialize_flat() {
        let range = FreeRange {
            period: p((9, 0), (10, 0)),
            units_free: 3,
        };
        assert_eq!(
            serde_json::to_value(range).expect("serializes"),
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
            vec![FreeRange {
                period: p((9, 0), (11, 0)),
                units_free: 1
            }]
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

    #[test]
    fn spring_forward_day_has_no_slots_in_the_missing_hour() {
        // Berlin, Sunday 2026-03-29, open 00:00-06:00 local = 23:00 UTC (Sat) to 04:00 UTC.
        let hours: OpeningHours =
            serde_json::from_str(r#"{"sun":[["00:00","06:00"]]}"#).expect("valid");
        let window = period(utc(2026, 3, 28, 0, 0), utc(2026, 3, 30, 0, 0));
        let open = open_periods(Some(&hours), BERLIN, window);
        let found = slots(&open, &[], 1, &query(60, 60, 1, BERLIN));
        let local: Vec<String> = found
            .iter()
            .map(|s| s.start().with_timezone(&BERLIN).format("%H:%M").to_string())
            .collect();
        assert_eq!(local, ["00:00", "01:00", "03:00", "04:00", "05:00"]);
        assert_eq!(found[2].start(), utc(2026, 3, 29, 1, 0));
    }

    #[test]
    fn fall_back_day_offers_the_repeated_hour_twice() {
        // Berlin, Sunday 2026-10-25, open 01:00-04:00 local = 23:00 UTC (Sat) to 03:00 UTC.
        let hours: OpeningHours =
            serde_json::from_str(r#"{"sun":[["01:00","04:00"]]}"#).expect("valid");
        let window = period(utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0));
        let open = open_periods(Some(&hours), BERLIN, window);
        let found = slots(&open, &[], 1, &query(60, 60, 1, BERLIN));
        let local: Vec<String> = found
            .iter()
            .map(|s| {
                s.start()
                    .with_timezone(&BERLIN)
                    .format("%H:%M %Z")
                    .to_string()
            })
            .collect();
        assert_eq!(
            local,
            ["01:00 CEST", "02:00 CEST", "02:00 CET", "03:00 CET"]
        );
        assert!(found.windows(2).all(|w| w[0].end() <= w[1].start()));
    }

    #[test]
    fn new_york_spring_forward_slots_skip_the_gap_with_half_hour_steps() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
        let open = [period(utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 8, 0))];
        let found = slots(&open, &[], 1, &query(30, 30, 1, NEW_YORK));
        let local: Vec<String> = found
            .iter()
            .map(|s| {
                s.start()
                    .with_timezone(&NEW_YORK)
                    .format("%H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(local, ["01:00", "01:30", "03:00", "03:30"]);
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
    fn a_long_window_with_many_units_is_computed_quickly() {
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
        let started = std::time::Instant::now();
        let found = slots(&open, &blocked, 20, &q);
        let elapsed = started.elapsed();
        assert!(!found.is_empty());
        // Generous so that unoptimised test builds pass; release builds take well under this.
        assert!(
            elapsed < std::time::Duration::from_millis(500),
            "took {elapsed:?}"
        );
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
}
