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
mod tests;
