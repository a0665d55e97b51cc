//! Recurrence rules of a series: the RFC 5545 `RRULE` subset the API accepts, and its expansion
//! into the occurrences' UTC periods in a resource's time zone.
//!
//! # The subset
//!
//! `NAME=VALUE` parts separated by `;`, names and values case-insensitive, an optional leading
//! `RRULE:`; each part at most once:
//!
//! - `FREQ=DAILY|WEEKLY|MONTHLY` (required; `YEARLY` and finer frequencies are refused).
//! - `INTERVAL=n`, `n ≥ 1` (default 1): every n-th day, week or month.
//! - `BYDAY=MO,WE,…`: with `DAILY` it keeps only those weekdays, with `WEEKLY` it names the
//!   days of each week (weeks start on Monday, RFC 5545's default `WKST=MO`; `INTERVAL` counts
//!   those weeks), with `MONTHLY` it names every such weekday of the month. Only with `MONTHLY`
//!   may a day carry an ordinal, `1MO`…`5MO` (the n-th Monday) or `-1MO`…`-5MO` (counted from
//!   the month's end); a month without that day is skipped.
//! - `BYMONTHDAY=d,…` (`MONTHLY` only): `1`…`31`, or `-1`…`-31` counted from the month's end
//!   (`-1` is the last day), as in RFC 5545. A day a month does not have is skipped for that
//!   month (`BYMONTHDAY=31` has no occurrence in April). With `BYDAY` too, a day must match
//!   both (`BYDAY=FR;BYMONTHDAY=13`: every Friday the 13th).
//! - Exactly one of `COUNT=n` (`1 ≤ n ≤ 366`) and `UNTIL`. `UNTIL` is a UTC date-time
//!   (`20270301T000000Z`: occurrences starting at or before that instant) or a date
//!   (`20270301`: occurrences starting on or before that date on the resource's wall clock).
//!   Both are inclusive.
//!
//! Without `BYDAY`/`BYMONTHDAY`, `WEEKLY` repeats the start's weekday and `MONTHLY` the
//! start's day of the month (skipping months without it). Repeated values in a list count once.
//! Anything else, `WKST`, `BYSETPOS`, `BYMONTH`, …, is refused: a [`RecurrenceError`] that the
//! API answers as `422 invalid_rrule` with the error's message.
//!
//! # Expansion
//!
//! [`RecurrenceRule::expand`] takes the first occurrence (a [`Period`]) and the resource's zone:
//!
//! - **The start is the first occurrence, and must match the rule.** RFC 5545 counts `DTSTART`
//!   as the first instance but leaves a set whose `DTSTART` does not match the rule undefined
//!   (and implementations disagree: some add it, some drop it). A start on a day the rule does
//!   not produce (a Tuesday with `BYDAY=MO,WE`) is refused ([`RecurrenceError::StartNotInRule`]),
//!   so a client never gets an occurrence more or less than it meant.
//! - **Every occurrence starts at the start's local wall-clock time**, whatever the UTC offset
//!   of its day. A time that does not exist on a spring-forward day is read with the offset
//!   before the gap, i.e. moved forward by the gap's length (02:30 in Berlin becomes 03:30
//!   CEST); an ambiguous time on a fall-back day takes its first (earlier) occurrence. Both are
//!   what RFC 5545 (3.3.5) prescribes for `DTSTART;TZID=…`, and what the `rrule` crate does.
//! - **Every occurrence ends at the same wall-clock distance from its start** as the first one
//!   (nominal length), so a 15:00 → 11:00 hotel stay still ends at 11:00 on a night whose
//!   clocks change, and an 18:00–19:00 meeting is 18:00–19:00 everywhere: a booking engine's
//!   times are wall-clock times (opening hours, check-out) and an occurrence an hour off would
//!   be refused or surprising. The elapsed length differs only when a DST change falls inside
//!   an occurrence. The length is counted from the start's actual wall-clock time, so a start
//!   moved forward by a gap moves its end along (02:30–03:30 on a Berlin spring-forward day
//!   becomes 03:30–04:30 CEST). Should the wall-clock end still not lie after the start (a
//!   first occurrence that itself crosses a fall-back, 02:30 CEST to 02:10 CET, has no
//!   positive wall-clock length), the occurrence lasts the first one's elapsed length instead.
//! - At most [`MAX_OCCURRENCES`]; more is an error, as is a rule that yields none (an `UNTIL`
//!   before the start). Generation looks at most [`HORIZON_YEARS`] years past the start: a
//!   rule whose `COUNT` or `UNTIL` is not reached by then is refused rather than searched
//!   further (this bounds the work of sparse rules such as Fridays the 13th).

use chrono::{
    DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc, Weekday,
};
use chrono_tz::{GapInfo, Tz};
use serde::{Deserialize, Serialize};

use crate::Period;

/// The most occurrences one series may have.
pub const MAX_OCCURRENCES: usize = 366;

/// How far past the start generation looks for the end of a rule.
pub const HORIZON_YEARS: u32 = 100;

/// A rule that is outside the supported subset, malformed, or whose expansion is refused.
///
/// Every variant becomes `422 invalid_rrule`; its message names the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    #[error("the rule is empty")]
    Empty,
    #[error("the rule has an empty part (two `;` in a row, or one at the end)")]
    EmptyPart,
    #[error("`{part}` is not a NAME=VALUE rule part")]
    MalformedPart { part: String },
    #[error(
        "{name} is not supported (the supported parts are FREQ, INTERVAL, BYDAY, BYMONTHDAY, \
         COUNT and UNTIL)"
    )]
    UnsupportedPart { name: String },
    #[error("{name} is given more than once")]
    RepeatedPart { name: &'static str },
    #[error("FREQ is required")]
    MissingFreq,
    #[error("FREQ={value} is not supported (only DAILY, WEEKLY and MONTHLY)")]
    UnsupportedFrequency { value: String },
    #[error("{part}={value} is invalid: expected {expected}")]
    InvalidValue {
        part: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{part} is only supported with FREQ=MONTHLY")]
    OnlyWithMonthly { part: String },
    #[error("exactly one of COUNT or UNTIL is required, the rule has neither")]
    MissingEnd,
    #[error("exactly one of COUNT or UNTIL is required, the rule has both")]
    BothEnds,
    #[error("COUNT={count} is over the limit of {MAX_OCCURRENCES} occurrences of a series")]
    CountOverLimit { count: u64 },
    #[error("the rule yields more than the limit of {MAX_OCCURRENCES} occurrences of a series")]
    TooManyOccurrences,
    #[error("the rule yields no occurrence (UNTIL is before the start)")]
    NoOccurrence,
    #[error(
        "the start ({local_start} local time) is not an occurrence of the rule: the first \
         occurrence must be the start itself (check BYDAY and BYMONTHDAY)"
    )]
    StartNotInRule { local_start: NaiveDateTime },
    #[error("the rule's COUNT or UNTIL is not reached within {HORIZON_YEARS} years of the start")]
    BeyondHorizon,
}

/// How often the rule repeats (`FREQ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        }
    }
}

/// One `BYDAY` entry: a weekday, with `MONTHLY` optionally its n-th (or n-th last) of the month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ByDay {
    ordinal: Option<i8>,
    weekday: Weekday,
}

impl ByDay {
    /// `Some(n)` for the n-th such weekday of the month (`-1` the last one), `None` for every one.
    pub fn ordinal(&self) -> Option<i8> {
        self.ordinal
    }

    pub fn weekday(&self) -> Weekday {
        self.weekday
    }

    /// The canonical order: plain days first, then by ordinal; Monday to Sunday within each.
    fn sort_key(&self) -> (i8, u32) {
        (
            self.ordinal.unwrap_or(i8::MIN),
            self.weekday.num_days_from_monday(),
        )
    }

    /// Whether `date` is a day this entry names (for `MONTHLY`; the ordinal counts in its month).
    fn matches_in_month(&self, date: NaiveDate, days_in_month: u32) -> bool {
        if date.weekday() != self.weekday {
            return false;
        }
        match self.ordinal {
            None => true,
            Some(n) if n > 0 => (date.day() - 1) / 7 + 1 == u32::from(n.unsigned_abs()),
            Some(n) => (days_in_month - date.day()) / 7 + 1 == u32::from(n.unsigned_abs()),
        }
    }
}

/// The inclusive `UNTIL` bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Until {
    /// `20270301T000000Z`: occurrences starting at or before this instant.
    Instant(DateTime<Utc>),
    /// `20270301`: occurrences starting on or before this date on the resource's wall clock.
    Date(NaiveDate),
}

/// Where the series ends: after `COUNT` occurrences or at `UNTIL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    Count(u16),
    Until(Until),
}

/// A parsed, validated recurrence rule of the supported subset (see the module documentation).
///
/// Parse it with [`str::parse`]; it prints (and serializes) in a canonical form that parses
/// back to the same rule: parts in the order FREQ, INTERVAL (when not 1), BYDAY, BYMONTHDAY,
/// COUNT/UNTIL, lists sorted without repeats.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecurrenceRule {
    freq: Frequency,
    interval: u32,
    by_day: Vec<ByDay>,
    by_month_day: Vec<i8>,
    end: End,
}

impl RecurrenceRule {
    pub fn freq(&self) -> Frequency {
        self.freq
    }

    pub fn interval(&self) -> u32 {
        self.interval
    }

    /// The `BYDAY` entries in canonical order; empty when absent.
    pub fn by_day(&self) -> &[ByDay] {
        &self.by_day
    }

    /// The `BYMONTHDAY` values, sorted; empty when absent.
    pub fn by_month_day(&self) -> &[i8] {
        &self.by_month_day
    }

    pub fn end(&self) -> End {
        self.end
    }

    /// The occurrences of the series whose first occurrence is `first`, in the zone `tz`, in
    /// order. The first element is `first` itself. See the module documentation for the rules.
    pub fn expand(&self, first: Period, tz: Tz) -> Result<Vec<Period>, RecurrenceError> {
        let local_start = first.start().with_timezone(&tz).naive_local();
        let local_end = first.end().with_timezone(&tz).naive_local();
        let day0 = local_start.date();
        let time = local_start.time();
        let nominal = Some(local_end - local_start).filter(|length| *length > Duration::zero());
        let horizon = day0
            .checked_add_months(Months::new(HORIZON_YEARS * 12))
            .unwrap_or(NaiveDate::MAX);
        // Periods that start after this local date can hold no occurrence within UNTIL (a day
        // of slack for offsets).
        let last_date = match self.end {
            End::Count(_) => None,
            End::Until(Until::Date(date)) => Some(date),
            End::Until(Until::Instant(instant)) => {
                instant.with_timezone(&tz).date_naive().succ_opt()
            }
        };

        // The start must be one of the dates of its own period (the first one): checked
        // before any bound, so a start the rule does not produce is named as such.
        let start_matches = self
            .period_start(day0, 0)
            .is_some_and(|period| self.dates_in_period(day0, period).contains(&day0));
        if !start_matches {
            return Err(RecurrenceError::StartNotInRule { local_start });
        }

        let mut occurrences: Vec<Period> = Vec::new();
        for index in 0u64.. {
            let Some(period_start) = self.period_start(day0, index) else {
                break;
            };
            if period_start > horizon || last_date.is_some_and(|last| period_start > last) {
                break;
            }
            for date in self.dates_in_period(day0, period_start) {
                if date < day0 {
                    continue;
                }
                // The first date at or after the start is the start itself (checked above).
                let occurrence = if date == day0 {
                    first
                } else {
                    occurrence_on(date, time, nominal, first.duration(), tz)
                        .ok_or(RecurrenceError::BeyondHorizon)?
                };
                let past_until = match self.end {
                    End::Count(_) => false,
                    End::Until(Until::Instant(until)) => occurrence.start() > until,
                    End::Until(Until::Date(until)) => date > until,
                };
                if past_until {
                    return finish(occurrences);
                }
                if occurrences.len() == MAX_OCCURRENCES {
                    return Err(RecurrenceError::TooManyOccurrences);
                }
                occurrences.push(occurrence);
                if let End::Count(count) = self.end
                    && occurrences.len() == usize::from(count)
                {
                    return Ok(occurrences);
                }
            }
        }
        if last_date.is_some_and(|last| last <= horizon) {
            finish(occurrences)
        } else {
            // Every date up to the horizon was looked at and COUNT or UNTIL was not reached.
            Err(RecurrenceError::BeyondHorizon)
        }
    }

    /// The first day of the `index`-th period (day, week or month) of the rule; `None` past
    /// the calendar's end.
    fn period_start(&self, day0: NaiveDate, index: u64) -> Option<NaiveDate> {
        let steps = index.checked_mul(u64::from(self.interval))?;
        match self.freq {
            Frequency::Daily => day0.checked_add_days(Days::new(steps)),
            Frequency::Weekly => day0
                .checked_sub_days(Days::new(u64::from(day0.weekday().num_days_from_monday())))?
                .checked_add_days(Days::new(steps.checked_mul(7)?)),
            Frequency::Monthly => day0
                .with_day(1)?
                .checked_add_months(Months::new(u32::try_from(steps).ok()?)),
        }
    }

    /// The dates the rule produces in the period starting at `period_start`, ascending.
    fn dates_in_period(&self, day0: NaiveDate, period_start: NaiveDate) -> Vec<NaiveDate> {
        match self.freq {
            Frequency::Daily => {
                let keep = self.by_day.is_empty()
                    || self
                        .by_day
                        .iter()
                        .any(|d| d.weekday == period_start.weekday());
                if keep { vec![period_start] } else { Vec::new() }
            }
            Frequency::Weekly => {
                let mut offsets: Vec<u32> = if self.by_day.is_empty() {
                    vec![day0.weekday().num_days_from_monday()]
                } else {
                    self.by_day
                        .iter()
                        .map(|d| d.weekday.num_days_from_monday())
                        .collect()
                };
                offsets.sort_unstable();
                offsets.dedup();
                offsets
                    .into_iter()
                    .filter_map(|offset| period_start.checked_add_days(Days::new(offset.into())))
                    .collect()
            }
            Frequency::Monthly => {
                let days_in_month = days_in_month(period_start);
                let by_month_day = |day: u32| {
                    self.by_month_day.iter().any(|&d| {
                        let wanted = if d > 0 {
                            i64::from(d)
                        } else {
                            i64::from(days_in_month) + 1 + i64::from(d)
                        };
                        wanted == i64::from(day)
                    })
                };
                (1..=days_in_month)
                    .filter_map(|day| period_start.with_day(day))
                    .filter(|date| {
                        let day_matches = self.by_day.is_empty()
                            || self
                                .by_day
                                .iter()
                                .any(|d| d.matches_in_month(*date, days_in_month));
                        let month_day_matches = if self.by_month_day.is_empty() {
                            // Neither list: the start's day of the month.
                            !self.by_day.is_empty() || date.day() == day0.day()
                        } else {
                            by_month_day(date.day())
                        };
                        day_matches && month_day_matches
                    })
                    .collect()
            }
        }
    }
}

/// The occurrences found, or the error for none.
fn finish(occurrences: Vec<Period>) -> Result<Vec<Period>, RecurrenceError> {
    if occurrences.is_empty() {
        Err(RecurrenceError::NoOccurrence)
    } else {
        Ok(occurrences)
    }
}

/// The occurrence on local `date` at local `time`, `nominal` wall-clock long from the start's
/// actual wall-clock time (or `elapsed` long when that gives no later end). `None` only past
/// the calendar's end.
fn occurrence_on(
    date: NaiveDate,
    time: NaiveTime,
    nominal: Option<Duration>,
    elapsed: Duration,
    tz: Tz,
) -> Option<Period> {
    let start = local_to_utc(tz, date.and_time(time));
    // Measured from the wall-clock time the start really has (later than asked when it fell
    // in a gap), so a moved start moves its end along instead of shortening the occurrence.
    let local_start = start.with_timezone(&tz).naive_local();
    let end = nominal
        .and_then(|length| local_start.checked_add_signed(length))
        .map(|local_end| local_to_utc(tz, local_end))
        .filter(|end| *end > start)
        .or_else(|| start.checked_add_signed(elapsed))?;
    Period::new(start, end).ok()
}

/// The instant the wall clock of `tz` reads `local`, by RFC 5545's rules: an ambiguous time is
/// its first occurrence, a time in a gap is read with the offset before the gap.
fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(first) = tz.from_local_datetime(&local).earliest() {
        return first.with_timezone(&Utc);
    }
    let before_gap = GapInfo::new(&local, &tz)
        .and_then(|gap| gap.begin)
        .and_then(|(_, offset)| offset.fix().from_local_datetime(&local).single());
    match before_gap {
        Some(instant) => instant.with_timezone(&Utc),
        // chrono-tz lacks the offset before a gap only at the edge of its tables, which no real
        // date reaches; reading the wall clock as UTC keeps the function total.
        None => local.and_utc(),
    }
}

fn days_in_month(first_of_month: NaiveDate) -> u32 {
    first_of_month
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

mod syntax;
#[cfg(test)]
mod tests;
