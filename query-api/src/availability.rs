//! Availability of one resource over a window, from its rules and its busy days: which window a
//! request means, which cached days it needs, and the free timeline and slots (computed by the
//! pure `domain` crate; nothing here does I/O).

use api::ErrorCode;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use domain::Period;
use domain::availability::{Busy, FreeRange, SlotQuery, free_timeline, slots_while};
use domain::resource::Resource;
use platform::Problem;
use readmodel::cache::{BusyInterval, day_start, days_touched};

use crate::compute::{Meter, Stop};
use crate::params::Bound;

/// The longest window one request may ask for, in days.
pub const MAX_WINDOW_DAYS: i64 = 62;

/// How far busy time can reach into a window from outside it: a booking's buffers are at most
/// 1440 minutes, so the days one day beyond each end are read too.
const MARGIN: Duration = Duration::days(1);

/// The UTC window `from`/`to` mean for a resource in `tz`.
///
/// A date `from` is the start of that local day; a date `to` is the END of that local day (the
/// range of dates is inclusive: `from=2026-12-01&to=2026-12-01` is that whole day, 23 or 25
/// hours on DST days). Instants are taken as they are.
pub fn window(tz: Tz, from: Bound, to: Bound) -> Result<Period, Problem> {
    let start = match from {
        Bound::Instant(at) => at,
        Bound::Date(day) => day_start(tz, day),
    };
    let end = match to {
        Bound::Instant(at) => at,
        Bound::Date(day) => day_start(tz, day.succ_opt().unwrap_or(day)),
    };
    let window = Period::new(start, end)
        .map_err(|_| Problem::new(ErrorCode::InvalidPeriod, "`to` must be after `from`"))?;
    let too_large = match (from, to) {
        // Dates count in local days, so a window of 62 days crossing a DST change is fine.
        (Bound::Date(first), Bound::Date(last)) => (last - first).num_days() + 1 > MAX_WINDOW_DAYS,
        _ => window.duration() > Duration::days(MAX_WINDOW_DAYS),
    };
    if too_large {
        return Err(window_too_large(MAX_WINDOW_DAYS));
    }
    Ok(window)
}

/// `422 window_too_large`.
pub fn window_too_large(days: i64) -> Problem {
    Problem::new(
        ErrorCode::WindowTooLarge,
        format!("ask for at most {days} days at a time"),
    )
}

/// The local days whose busy timelines an answer over `window` needs (the cache's unit).
pub fn days_needed(tz: Tz, window: Period) -> Vec<NaiveDate> {
    days_touched(tz, &window.widen(MARGIN, MARGIN))
}

/// What to compute besides the free timeline.
#[derive(Clone, Copy, Debug)]
pub struct SlotRequest {
    pub duration: Duration,
    pub quantity: u32,
    /// A service's buffers: they apply where larger than the resource's (zero without one).
    pub buffer_before: Duration,
    pub buffer_after: Duration,
}

impl SlotRequest {
    /// Slots of `duration` for `quantity` units, with the resource's buffers only.
    pub fn plain(duration: Duration, quantity: u32) -> Self {
        Self {
            duration,
            quantity,
            buffer_before: Duration::zero(),
            buffer_after: Duration::zero(),
        }
    }
}

/// What [`compute`] found.
#[derive(Debug)]
pub struct Computed {
    pub free: Vec<FreeRange>,
    /// Present when slots were asked for.
    pub slots: Option<Vec<Period>>,
    /// Until when (exclusive) a later `now` gives the same answer: the first moment a slot would
    /// fall within the minimum notice or come within the maximum advance. `None`: forever.
    pub stable_until: Option<DateTime<Utc>>,
}

// The weights of the steps, in about nanoseconds of one core (measured on the release build:
// looking at a unit for a slot start takes about 1 ns; a unit's free time over one open period,
// with its share of the timeline's sort and of the answer, about 120 ns).

/// A unit's free time over one open period.
const FREE_COST: u64 = 128;
/// One busy interval (sorted, merged, subtracted).
const BUSY_COST: u64 = 64;
/// One slot start besides the units it looks at: mostly rendering its share of the answer (about
/// 60 bytes of JSON), so that the budget bounds the answer's size too.
const SLOT_COST: u64 = 256;

/// How to ask for less when an availability request is over its budget.
pub const ASK_FOR_LESS: &str =
    "ask for fewer days or fewer resources at a time, or leave out duration_minutes";

/// The free timeline over `window` and, when asked, the bookable slots, charged to `meter`.
///
/// `busy` is the union of the days' entries; an interval spanning midnight is in both days'
/// entries and counted once. Slots follow every rule a booking command checks that does not
/// depend on other bookings: the slot step and buffers (by `domain::availability::slots`), the
/// policy's duration range (a duration outside it has no slots), minimum notice and maximum
/// advance from `now`.
///
/// An upper bound of the steps is charged before the work starts (see [`work`]); the request
/// is checked for cancellation again after the free timeline and every few thousand slot starts.
pub fn compute(
    resource: &Resource,
    window: Period,
    mut busy: Vec<BusyInterval>,
    slot_request: Option<SlotRequest>,
    now: DateTime<Utc>,
    meter: &Meter,
) -> Result<Computed, Stop> {
    busy.sort_unstable_by_key(|b| (b.unit, b.period));
    busy.dedup();
    let spec = &resource.spec;
    let policy = &spec.policy;
    let open = resource.open_periods(window);
    // `Some(None)`: slots were asked for, but this duration has none.
    let slot_query = slot_request.map(|request| {
        let minutes = request.duration.num_minutes();
        (minutes >= i64::from(policy.min_duration_minutes)
            && minutes <= i64::from(policy.max_duration_minutes))
        .then(|| SlotQuery {
            duration: request.duration,
            step: Duration::minutes(i64::from(policy.slot_step_minutes)),
            quantity: request.quantity,
            buffer_before: policy.buffer_before().max(request.buffer_before),
            buffer_after: policy.buffer_after().max(request.buffer_after),
            tz: spec.time_zone,
        })
    });
    meter.charge(
        work(spec.capacity, &open, &busy, slot_query.flatten().as_ref()),
        ASK_FOR_LESS,
    )?;
    let busy: Vec<Busy> = busy
        .into_iter()
        .map(|b| Busy {
            unit: b.unit,
            period: b.period,
        })
        .collect();
    let free = free_timeline(&open, &busy, spec.capacity);
    meter.check()?;
    let mut stable_until: Option<DateTime<Utc>> = None;
    let found = match slot_query {
        None => None,
        Some(None) => Some(Vec::new()),
        Some(Some(query)) => Some(
            slots_while(&open, &busy, spec.capacity, &query, || {
                meter.check().is_ok()
            })
            .ok_or(Stop::Cancelled)?,
        ),
    };
    let slots = found.map(|found| {
        let notice = Duration::minutes(i64::from(policy.min_notice_minutes));
        let advance = Duration::days(i64::from(policy.max_advance_days));
        let (earliest, latest) = (now + notice, now + advance);
        let mut until = |at: DateTime<Utc>| {
            stable_until = Some(stable_until.map_or(at, |until| until.min(at)));
        };
        let mut kept = Vec::new();
        for slot in found {
            if slot.start() < earliest {
                // Gone for good: `earliest` only moves on.
            } else if slot.start() > latest {
                // Comes in once `now + advance` reaches it.
                until(slot.start() - advance);
            } else {
                // Drops out once `now + notice` passes it.
                until(slot.start() - notice);
                kept.push(slot);
            }
        }
        kept
    });
    Ok(Computed {
        free,
        slots,
        stable_until,
    })
}

/// An upper bound of the steps [`compute`] takes: every unit against every open period (the free
/// timeline, and the size of its answer), every busy interval, and with slots, at each slot
/// start the units looked at (until `quantity` free ones are found: at most the units that are
/// ever busy plus the quantity, and never more than all of them) and the start's share of the
/// answer. `busy` is sorted by unit.
fn work(capacity: u32, open: &[Period], busy: &[BusyInterval], slots: Option<&SlotQuery>) -> u64 {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let units = u64::from(capacity);
    let mut steps = units
        .saturating_mul(count(open.len()).saturating_add(1))
        .saturating_mul(FREE_COST)
        .saturating_add(count(busy.len()).saturating_mul(BUSY_COST));
    if let Some(query) = slots {
        let step = u64::try_from(query.step.num_minutes()).unwrap_or(1).max(1);
        let starts = open.iter().fold(0_u64, |starts, period| {
            let minutes = u64::try_from(period.duration().num_minutes()).unwrap_or(0);
            starts.saturating_add(minutes / step + 1)
        });
        let busy_units = count(busy.chunk_by(|a, b| a.unit == b.unit).count());
        let looked_at = units.min(u64::from(query.quantity).saturating_add(busy_units));
        steps = steps.saturating_add(starts.saturating_mul(looked_at.saturating_add(SLOT_COST)));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::ResourceId;
    use domain::resource::{Policy, ResourceSpec};

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    fn date(s: &str) -> Bound {
        Bound::Date(s.parse().unwrap())
    }

    fn at(s: &str) -> Bound {
        Bound::Instant(s.parse().unwrap())
    }

    #[test]
    fn a_date_range_is_inclusive_in_local_days() {
        let w = window(BERLIN, date("2026-12-01"), date("2026-12-01")).unwrap();
        assert_eq!(
            w.start(),
            "2026-11-30T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            w.end(),
            "2026-12-01T23:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn the_spring_forward_day_is_23_hours_and_62_local_days_are_allowed() {
        let w = window(BERLIN, date("2027-03-28"), date("2027-03-28")).unwrap();
        assert_eq!(w.duration(), Duration::hours(23));
        assert!(window(BERLIN, date("2026-10-01"), date("2026-12-01")).is_ok());
        let problem = window(BERLIN, date("2026-10-01"), date("2026-12-02")).unwrap_err();
        assert_eq!(problem.code.as_str(), "window_too_large");
    }

    #[test]
    fn an_empty_or_reversed_window_is_an_invalid_period() {
        let problem = window(
            BERLIN,
            at("2026-12-01T10:00:00Z"),
            at("2026-12-01T10:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(problem.code.as_str(), "invalid_period");
    }

    fn room(policy: Policy) -> Resource {
        let created: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        Resource {
            id: ResourceId(uuid::Uuid::nil()),
            spec: ResourceSpec {
                name: "Room".into(),
                kind: "meeting_room".into(),
                capacity: 1,
                time_zone: chrono_tz::UTC,
                opening_hours: None,
                policy,
                attributes: Default::default(),
                archived: false,
            },
            blackouts: vec![],
            version: 1,
            created_at: created,
            updated_at: created,
        }
    }

    fn stable_until(policy: Policy, now: &str) -> Option<DateTime<Utc>> {
        let window = window(chrono_tz::UTC, date("2026-12-01"), date("2026-12-03")).unwrap();
        let hour = SlotRequest::plain(Duration::minutes(60), 1);
        compute(
            &room(policy),
            window,
            vec![],
            Some(hour),
            now.parse().unwrap(),
            &Meter::unlimited(),
        )
        .unwrap()
        .stable_until
    }

    /// Slots every `step` minutes, bookable from `notice` minutes ahead to a day ahead.
    fn a_day_ahead(step: u32, notice: u32) -> Policy {
        Policy {
            slot_step_minutes: step,
            min_notice_minutes: notice,
            max_advance_days: 1,
            ..Policy::default()
        }
    }

    #[test]
    fn slots_stay_the_same_until_one_falls_within_the_notice_or_one_comes_within_the_advance() {
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        // At 09:10 with 30 minutes' notice the first slot is 10:00; it drops out after 09:30.
        // (The first beyond a day's advance, tomorrow 10:00, would come in at 10:00.)
        assert_eq!(
            stable_until(a_day_ahead(60, 30), "2026-12-01T09:10:00Z"),
            t("2026-12-01T09:30:00Z")
        );
        // Every 15 minutes with 10 minutes' notice: the first slot is 09:30 (until 09:20), but
        // tomorrow 09:15 comes within the day's advance at 09:15.
        assert_eq!(
            stable_until(a_day_ahead(15, 10), "2026-12-01T09:10:00Z"),
            t("2026-12-01T09:15:00Z")
        );
        // Without slots, or with none that the clock can change, an answer stays the same.
        let window = window(chrono_tz::UTC, date("2026-12-01"), date("2026-12-01")).unwrap();
        let now = "2026-12-05T00:00:00Z".parse().unwrap();
        let meter = Meter::unlimited();
        let free_only =
            compute(&room(Policy::default()), window, vec![], None, now, &meter).unwrap();
        assert_eq!(free_only.stable_until, None);
        let past = SlotRequest::plain(Duration::minutes(60), 1);
        let all_past = compute(
            &room(Policy::default()),
            window,
            vec![],
            Some(past),
            now,
            &meter,
        )
        .unwrap();
        assert_eq!(all_past.slots, Some(vec![]));
        assert_eq!(all_past.stable_until, None);
    }

    #[test]
    fn the_budget_counts_the_units_a_slot_start_looks_at_not_every_unit() {
        let window = window(chrono_tz::UTC, date("2026-12-01"), date("2027-01-31")).unwrap();
        let mut hall = room(Policy {
            slot_step_minutes: 1,
            ..Policy::default()
        });
        hall.spec.capacity = 10_000;
        let now = "2026-11-01T00:00:00Z".parse().unwrap();
        let ask = |quantity| SlotRequest::plain(Duration::minutes(60), quantity);
        let budget = || crate::compute::Compute::new(1, 200_000_000).job();
        // 62 days of one-minute starts: with every unit free, one look finds one unit.
        let job = budget();
        assert!(compute(&hall, window, vec![], Some(ask(1)), now, job.meter()).is_ok());
        // Needing every unit at once, each start looks at all 10,000.
        let job = budget();
        let refused = compute(&hall, window, vec![], Some(ask(10_000)), now, job.meter());
        assert!(
            matches!(
                refused,
                Err(Stop::TooMuchWork {
                    limit: 200_000_000,
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn the_days_needed_reach_one_day_beyond_the_window() {
        let w = window(BERLIN, date("2026-12-01"), date("2026-12-02")).unwrap();
        let days = days_needed(BERLIN, w);
        assert_eq!(days.first().unwrap().to_string(), "2026-11-30");
        assert_eq!(days.last().unwrap().to_string(), "2026-12-03");
    }
}
