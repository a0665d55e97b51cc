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

use std::fmt;
use std::str::FromStr;

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

impl fmt::Display for ByDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.ordinal {
            write!(f, "{n}")?;
        }
        f.write_str(weekday_code(self.weekday))
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

fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn parse_weekday(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

const BYDAY_EXPECTED: &str =
    "a list of MO, TU, WE, TH, FR, SA, SU (with MONTHLY optionally after 1 to 5 or -1 to -5)";
const BYMONTHDAY_EXPECTED: &str = "a list of days 1 to 31 or -1 to -31";
const UNTIL_EXPECTED: &str = "a UTC date-time like 20270301T000000Z or a date like 20270301";

fn invalid(part: &'static str, value: &str, expected: &'static str) -> RecurrenceError {
    RecurrenceError::InvalidValue {
        part,
        value: value.to_owned(),
        expected,
    }
}

/// A positive decimal integer of digits only (no sign, no spaces).
fn parse_positive(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|n| *n > 0)
}

fn parse_by_day(value: &str) -> Result<Vec<ByDay>, RecurrenceError> {
    let error = || invalid("BYDAY", value, BYDAY_EXPECTED);
    let mut days = Vec::new();
    for item in value.split(',') {
        let split = item.len().checked_sub(2).ok_or_else(error)?;
        let (ordinal, code) = item.split_at_checked(split).ok_or_else(error)?;
        let weekday = parse_weekday(code).ok_or_else(error)?;
        let ordinal = match ordinal {
            "" => None,
            text => {
                let (negative, digits) = match text.as_bytes().first() {
                    Some(b'-') => (true, &text[1..]),
                    Some(b'+') => (false, &text[1..]),
                    _ => (false, text),
                };
                let n = parse_positive(digits)
                    .filter(|n| *n <= 5)
                    .and_then(|n| i8::try_from(n).ok())
                    .ok_or_else(error)?;
                Some(if negative { -n } else { n })
            }
        };
        days.push(ByDay { ordinal, weekday });
    }
    days.sort_by_key(ByDay::sort_key);
    days.dedup();
    Ok(days)
}

fn parse_by_month_day(value: &str) -> Result<Vec<i8>, RecurrenceError> {
    let error = || invalid("BYMONTHDAY", value, BYMONTHDAY_EXPECTED);
    let mut days = Vec::new();
    for item in value.split(',') {
        let (negative, digits) = match item.as_bytes().first() {
            Some(b'-') => (true, &item[1..]),
            Some(b'+') => (false, &item[1..]),
            _ => (false, item),
        };
        let day = parse_positive(digits)
            .filter(|d| *d <= 31)
            .and_then(|d| i8::try_from(d).ok())
            .ok_or_else(error)?;
        days.push(if negative { -day } else { day });
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

fn parse_until(value: &str) -> Result<Until, RecurrenceError> {
    let error = || invalid("UNTIL", value, UNTIL_EXPECTED);
    // chrono's parser alone would accept signs and spaces; only the two RFC shapes pass.
    let shape: Vec<bool> = value.bytes().map(|b| b.is_ascii_digit()).collect();
    let digits =
        |range: std::ops::Range<usize>| shape.get(range).is_some_and(|s| s.iter().all(|d| *d));
    match value.len() {
        8 if digits(0..8) => NaiveDate::parse_from_str(value, "%Y%m%d")
            .map(Until::Date)
            .map_err(|_| error()),
        16 if digits(0..8) && digits(9..15) => {
            let text = value
                .strip_suffix('Z')
                .filter(|text| text.as_bytes().get(8) == Some(&b'T'))
                .ok_or_else(error)?;
            NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S")
                .map(|local| Until::Instant(local.and_utc()))
                .map_err(|_| error())
        }
        _ => Err(error()),
    }
}

/// Stores a part's value, refusing a second one.
fn once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), RecurrenceError> {
    match slot.replace(value) {
        Some(_) => Err(RecurrenceError::RepeatedPart { name }),
        None => Ok(()),
    }
}

impl FromStr for RecurrenceRule {
    type Err = RecurrenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let upper = text.trim().to_ascii_uppercase();
        let body = upper.strip_prefix("RRULE:").unwrap_or(&upper);
        if body.is_empty() {
            return Err(RecurrenceError::Empty);
        }
        let mut freq = None;
        let mut interval = None;
        let mut by_day = None;
        let mut by_month_day = None;
        let mut count = None;
        let mut until = None;
        for part in body.split(';') {
            if part.is_empty() {
                return Err(RecurrenceError::EmptyPart);
            }
            let (name, value) = part
                .split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .ok_or_else(|| RecurrenceError::MalformedPart {
                    part: part.to_owned(),
                })?;
            match name {
                "FREQ" => {
                    let parsed = match value {
                        "DAILY" => Ok(Frequency::Daily),
                        "WEEKLY" => Ok(Frequency::Weekly),
                        "MONTHLY" => Ok(Frequency::Monthly),
                        other => Err(other.to_owned()),
                    };
                    // A repeated FREQ is reported before its value.
                    once(&mut freq, "FREQ", parsed)?;
                }
                "INTERVAL" => {
                    let n = parse_positive(value)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| invalid("INTERVAL", value, "a positive integer"))?;
                    once(&mut interval, "INTERVAL", n)?;
                }
                "BYDAY" => once(&mut by_day, "BYDAY", parse_by_day(value)?)?,
                "BYMONTHDAY" => once(&mut by_month_day, "BYMONTHDAY", parse_by_month_day(value)?)?,
                "COUNT" => {
                    let n = parse_positive(value).ok_or_else(|| {
                        invalid("COUNT", value, "a positive integer (at most 366)")
                    })?;
                    let n = u16::try_from(n)
                        .ok()
                        .filter(|n| usize::from(*n) <= MAX_OCCURRENCES)
                        .ok_or(RecurrenceError::CountOverLimit { count: n })?;
                    once(&mut count, "COUNT", n)?;
                }
                "UNTIL" => once(&mut until, "UNTIL", parse_until(value)?)?,
                other => {
                    return Err(RecurrenceError::UnsupportedPart {
                        name: other.to_owned(),
                    });
                }
            }
        }
        let freq = freq
            .ok_or(RecurrenceError::MissingFreq)?
            .map_err(|value| RecurrenceError::UnsupportedFrequency { value })?;
        let end = match (count, until) {
            (Some(count), None) => End::Count(count),
            (None, Some(until)) => End::Until(until),
            (Some(_), Some(_)) => return Err(RecurrenceError::BothEnds),
            (None, None) => return Err(RecurrenceError::MissingEnd),
        };
        let by_day = by_day.unwrap_or_default();
        let by_month_day = by_month_day.unwrap_or_default();
        if freq != Frequency::Monthly {
            if !by_month_day.is_empty() {
                return Err(RecurrenceError::OnlyWithMonthly {
                    part: "BYMONTHDAY".into(),
                });
            }
            if let Some(day) = by_day.iter().find(|d| d.ordinal.is_some()) {
                return Err(RecurrenceError::OnlyWithMonthly {
                    part: format!("BYDAY with an ordinal ({day})"),
                });
            }
        }
        Ok(Self {
            freq,
            interval: interval.unwrap_or(1),
            by_day,
            by_month_day,
            end,
        })
    }
}

impl fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq.as_str())?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        let list = |items: Vec<String>| items.join(",");
        if !self.by_day.is_empty() {
            let days = list(self.by_day.iter().map(ByDay::to_string).collect());
            write!(f, ";BYDAY={days}")?;
        }
        if !self.by_month_day.is_empty() {
            let days = list(self.by_month_day.iter().map(i8::to_string).collect());
            write!(f, ";BYMONTHDAY={days}")?;
        }
        match self.end {
            End::Count(count) => write!(f, ";COUNT={count}"),
            End::Until(Until::Date(date)) => write!(f, ";UNTIL={}", date.format("%Y%m%d")),
            End::Until(Until::Instant(at)) => {
                write!(f, ";UNTIL={}", at.format("%Y%m%dT%H%M%SZ"))
            }
        }
    }
}

impl TryFrom<String> for RecurrenceRule {
    type Error = RecurrenceError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<RecurrenceRule> for String {
    fn from(rule: RecurrenceRule) -> Self {
        rule.to_string()
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Berlin;

    use super::*;

    fn rule(text: &str) -> RecurrenceRule {
        text.parse().unwrap()
    }

    fn error(text: &str) -> RecurrenceError {
        text.parse::<RecurrenceRule>().unwrap_err()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn period(start: &str, end: &str) -> Period {
        Period::new(at(start), at(end)).unwrap()
    }

    /// The occurrences as "start/end" in the zone's local time with offsets.
    fn local(periods: &[Period], tz: Tz) -> Vec<String> {
        let show = |t: DateTime<Utc>| t.with_timezone(&tz).format("%F %H:%M%:z").to_string();
        periods
            .iter()
            .map(|p| format!("{} / {}", show(p.start()), show(p.end())))
            .collect()
    }

    #[test]
    fn rules_print_in_canonical_form_and_parse_back_to_themselves() {
        for (input, canonical) in [
            ("FREQ=DAILY;COUNT=3", "FREQ=DAILY;COUNT=3"),
            (
                "rrule:freq=weekly;byday=we,mo,MO;interval=1;count=5",
                "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5",
            ),
            (
                "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR,+1MO,TU;UNTIL=20270301T000000Z",
                "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU,-1FR,1MO;UNTIL=20270301T000000Z",
            ),
            (
                "FREQ=MONTHLY;BYMONTHDAY=31,-1,1;UNTIL=20271231",
                "FREQ=MONTHLY;BYMONTHDAY=-1,1,31;UNTIL=20271231",
            ),
        ] {
            let parsed = rule(input);
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(rule(canonical), parsed, "{input}");
        }
        let parsed = rule("FREQ=MONTHLY;BYDAY=-1FR;COUNT=2");
        assert_eq!(parsed.freq(), Frequency::Monthly);
        assert_eq!(parsed.interval(), 1);
        assert_eq!(parsed.by_day()[0].ordinal(), Some(-1));
        assert_eq!(parsed.by_day()[0].weekday(), Weekday::Fri);
        assert_eq!(parsed.end(), End::Count(2));
    }

    #[test]
    fn rules_serialize_as_their_canonical_string_and_refuse_bad_ones() {
        let parsed = rule("FREQ=WEEKLY;BYDAY=WE,MO;COUNT=4");
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(json, r#""FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4""#);
        assert_eq!(
            serde_json::from_str::<RecurrenceRule>(&json).unwrap(),
            parsed
        );
        let refused = serde_json::from_str::<RecurrenceRule>(r#""FREQ=YEARLY;COUNT=2""#);
        assert!(refused.unwrap_err().to_string().contains("FREQ=YEARLY"));
    }

    #[test]
    fn every_rule_outside_the_subset_is_a_typed_error_naming_its_part() {
        use RecurrenceError as E;
        let cases: Vec<(&str, E, &str)> = vec![
            ("", E::Empty, "empty"),
            ("RRULE:", E::Empty, "empty"),
            ("FREQ=DAILY;;COUNT=2", E::EmptyPart, "empty part"),
            ("FREQ=DAILY;COUNT=2;", E::EmptyPart, "empty part"),
            (
                "FREQ=DAILY;COUNT",
                E::MalformedPart {
                    part: "COUNT".into(),
                },
                "COUNT",
            ),
            (
                "=DAILY;COUNT=2",
                E::MalformedPart {
                    part: "=DAILY".into(),
                },
                "=DAILY",
            ),
            (
                "FREQ=WEEKLY;WKST=SU;COUNT=2",
                E::UnsupportedPart {
                    name: "WKST".into(),
                },
                "WKST",
            ),
            (
                "FREQ=MONTHLY;BYSETPOS=1;COUNT=2",
                E::UnsupportedPart {
                    name: "BYSETPOS".into(),
                },
                "BYSETPOS",
            ),
            (
                "FREQ=DAILY;BYHOUR=9;COUNT=2",
                E::UnsupportedPart {
                    name: "BYHOUR".into(),
                },
                "BYHOUR",
            ),
            (
                "FREQ=DAILY;FREQ=WEEKLY;COUNT=2",
                E::RepeatedPart { name: "FREQ" },
                "FREQ",
            ),
            (
                "FREQ=DAILY;COUNT=2;COUNT=3",
                E::RepeatedPart { name: "COUNT" },
                "COUNT",
            ),
            (
                "FREQ=WEEKLY;BYDAY=MO;BYDAY=TU;COUNT=2",
                E::RepeatedPart { name: "BYDAY" },
                "BYDAY",
            ),
            ("INTERVAL=2;COUNT=2", E::MissingFreq, "FREQ"),
            (
                "FREQ=YEARLY;COUNT=2",
                E::UnsupportedFrequency {
                    value: "YEARLY".into(),
                },
                "FREQ=YEARLY",
            ),
            (
                "FREQ=HOURLY;COUNT=2",
                E::UnsupportedFrequency {
                    value: "HOURLY".into(),
                },
                "FREQ=HOURLY",
            ),
            (
                "FREQ=DAILY;INTERVAL=0;COUNT=2",
                invalid("INTERVAL", "0", ""),
                "INTERVAL=0",
            ),
            (
                "FREQ=DAILY;INTERVAL=-1;COUNT=2",
                invalid("INTERVAL", "-1", ""),
                "INTERVAL=-1",
            ),
            (
                "FREQ=DAILY;INTERVAL= 2;COUNT=2",
                invalid("INTERVAL", " 2", ""),
                "INTERVAL= 2",
            ),
            (
                "FREQ=WEEKLY;BYDAY=XX;COUNT=2",
                invalid("BYDAY", "XX", ""),
                "BYDAY=XX",
            ),
            (
                "FREQ=WEEKLY;BYDAY=MO,;COUNT=2",
                invalid("BYDAY", "MO,", ""),
                "BYDAY=MO,",
            ),
            (
                "FREQ=MONTHLY;BYDAY=6MO;COUNT=2",
                invalid("BYDAY", "6MO", ""),
                "BYDAY=6MO",
            ),
            (
                "FREQ=MONTHLY;BYDAY=0MO;COUNT=2",
                invalid("BYDAY", "0MO", ""),
                "BYDAY=0MO",
            ),
            (
                "FREQ=MONTHLY;BYDAY=--1MO;COUNT=2",
                invalid("BYDAY", "--1MO", ""),
                "BYDAY=--1MO",
            ),
            (
                "FREQ=MONTHLY;BYMONTHDAY=0;COUNT=2",
                invalid("BYMONTHDAY", "0", ""),
                "BYMONTHDAY=0",
            ),
            (
                "FREQ=MONTHLY;BYMONTHDAY=32;COUNT=2",
                invalid("BYMONTHDAY", "32", ""),
                "BYMONTHDAY=32",
            ),
            (
                "FREQ=MONTHLY;BYMONTHDAY=-32;COUNT=2",
                invalid("BYMONTHDAY", "-32", ""),
                "BYMONTHDAY=-32",
            ),
            ("FREQ=DAILY;COUNT=0", invalid("COUNT", "0", ""), "COUNT=0"),
            (
                "FREQ=DAILY;COUNT=two",
                invalid("COUNT", "TWO", ""),
                "COUNT=TWO",
            ),
            (
                "FREQ=DAILY;COUNT=367",
                E::CountOverLimit { count: 367 },
                "366",
            ),
            (
                "FREQ=DAILY;COUNT=99999999999",
                E::CountOverLimit {
                    count: 99_999_999_999,
                },
                "366",
            ),
            (
                "FREQ=DAILY;UNTIL=20270301T000000",
                invalid("UNTIL", "20270301T000000", ""),
                "UNTIL",
            ),
            (
                "FREQ=DAILY;UNTIL=2027-03-01",
                invalid("UNTIL", "2027-03-01", ""),
                "UNTIL",
            ),
            (
                "FREQ=DAILY;UNTIL=20270230",
                invalid("UNTIL", "20270230", ""),
                "UNTIL",
            ),
            (
                "FREQ=DAILY;UNTIL=20270301X000000Z",
                invalid("UNTIL", "20270301X000000Z", ""),
                "UNTIL",
            ),
            (
                "FREQ=DAILY;UNTIL=2027030éT00000Z",
                invalid("UNTIL", "2027030éT00000Z", ""),
                "UNTIL",
            ),
            ("FREQ=DAILY", E::MissingEnd, "neither"),
            ("FREQ=DAILY;COUNT=2;UNTIL=20270301", E::BothEnds, "both"),
            (
                "FREQ=WEEKLY;BYMONTHDAY=1;COUNT=2",
                E::OnlyWithMonthly {
                    part: "BYMONTHDAY".into(),
                },
                "BYMONTHDAY",
            ),
            (
                "FREQ=DAILY;BYMONTHDAY=1;COUNT=2",
                E::OnlyWithMonthly {
                    part: "BYMONTHDAY".into(),
                },
                "BYMONTHDAY",
            ),
            (
                "FREQ=WEEKLY;BYDAY=MO,1TU;COUNT=2",
                E::OnlyWithMonthly {
                    part: "BYDAY with an ordinal (1TU)".into(),
                },
                "BYDAY",
            ),
        ];
        for (text, expected, named) in cases {
            let got = error(text);
            // The expected text of InvalidValue is not repeated above; compare the rest.
            match (&got, &expected) {
                (
                    E::InvalidValue { part, value, .. },
                    E::InvalidValue {
                        part: p, value: v, ..
                    },
                ) => assert_eq!((part, value), (p, v), "{text}"),
                _ => assert_eq!(got, expected, "{text}"),
            }
            assert!(got.to_string().contains(named), "{text}: {got}");
        }
    }

    #[test]
    fn a_daily_rule_repeats_the_start_and_counts_it_as_the_first_occurrence() {
        let first = period("2027-01-04T08:00:00Z", "2027-01-04T09:00:00Z");
        let got = rule("FREQ=DAILY;INTERVAL=2;COUNT=3")
            .expand(first, Berlin)
            .unwrap();
        assert_eq!(
            local(&got, Berlin),
            [
                "2027-01-04 09:00+01:00 / 2027-01-04 10:00+01:00",
                "2027-01-06 09:00+01:00 / 2027-01-06 10:00+01:00",
                "2027-01-08 09:00+01:00 / 2027-01-08 10:00+01:00",
            ]
        );
        assert_eq!(got[0], first);
    }

    #[test]
    fn a_start_the_rule_does_not_produce_is_refused() {
        // 2027-01-05 is a Tuesday.
        let first = period("2027-01-05T08:00:00Z", "2027-01-05T09:00:00Z");
        for text in [
            "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4",
            "FREQ=DAILY;BYDAY=MO;COUNT=4",
            "FREQ=MONTHLY;BYDAY=-1FR;COUNT=4",
            "FREQ=MONTHLY;BYMONTHDAY=4;UNTIL=20271231",
        ] {
            let got = rule(text).expand(first, Berlin).unwrap_err();
            assert_eq!(
                got,
                RecurrenceError::StartNotInRule {
                    local_start: NaiveDate::from_ymd_opt(2027, 1, 5)
                        .unwrap()
                        .and_hms_opt(9, 0, 0)
                        .unwrap()
                },
                "{text}"
            );
            assert!(got.to_string().contains("2027-01-05 09:00:00"), "{got}");
        }
    }

    #[test]
    fn until_is_inclusive_as_an_instant_and_as_a_local_date() {
        let first = period("2027-01-04T23:30:00Z", "2027-01-05T00:30:00Z"); // 00:30 in Berlin
        let daily = |until: &str| {
            rule(&format!("FREQ=DAILY;UNTIL={until}"))
                .expand(first, Berlin)
                .unwrap()
                .len()
        };
        assert_eq!(
            daily("20270106T233000Z"),
            3,
            "an occurrence starting at UNTIL counts"
        );
        assert_eq!(daily("20270106T232959Z"), 2);
        // 2027-01-07 00:30 Berlin is 2027-01-06T23:30Z: the local date decides.
        assert_eq!(daily("20270107"), 3);
        assert_eq!(daily("20270106"), 2);
        assert_eq!(daily("20270105"), 1);
        assert_eq!(
            rule("FREQ=DAILY;UNTIL=20270104").expand(first, Berlin),
            Err(RecurrenceError::NoOccurrence)
        );
        assert_eq!(
            rule("FREQ=DAILY;UNTIL=20270104T233000Z")
                .expand(first, Berlin)
                .unwrap(),
            [first]
        );
    }

    #[test]
    fn more_than_366_occurrences_is_refused_and_366_is_fine() {
        let first = period("2027-01-04T08:00:00Z", "2027-01-04T09:00:00Z");
        assert_eq!(
            rule("FREQ=DAILY;COUNT=366")
                .expand(first, Berlin)
                .unwrap()
                .len(),
            366
        );
        // 2027-01-04 + 365 days = 2028-01-04 (2027 is no leap year): 366 occurrences.
        assert_eq!(
            rule("FREQ=DAILY;UNTIL=20280104")
                .expand(first, Berlin)
                .unwrap()
                .len(),
            366
        );
        let over = rule("FREQ=DAILY;UNTIL=20280105")
            .expand(first, Berlin)
            .unwrap_err();
        assert_eq!(over, RecurrenceError::TooManyOccurrences);
        assert!(over.to_string().contains("366"));
        let far = rule("FREQ=DAILY;UNTIL=99991231").expand(first, Berlin);
        assert_eq!(far, Err(RecurrenceError::TooManyOccurrences));
    }

    #[test]
    fn a_rule_whose_end_lies_past_the_horizon_is_refused_without_searching_on() {
        // Friday 2027-08-13: Fridays the 13th come one to three times a year.
        let first = period("2027-08-13T08:00:00Z", "2027-08-13T09:00:00Z");
        let fridays_13 = |end: &str| {
            rule(&format!("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13;{end}")).expand(first, Berlin)
        };
        assert_eq!(fridays_13("COUNT=3").unwrap().len(), 3);
        assert_eq!(fridays_13("COUNT=366"), Err(RecurrenceError::BeyondHorizon));
        assert_eq!(
            fridays_13("UNTIL=22270101"),
            Err(RecurrenceError::BeyondHorizon)
        );
        let within = fridays_13("UNTIL=21261231").unwrap();
        assert!(within.len() > 100, "{}", within.len());
        // A huge interval: the second occurrence is past the horizon.
        let sparse = rule("FREQ=DAILY;INTERVAL=4294967295;COUNT=2").expand(first, Berlin);
        assert_eq!(sparse, Err(RecurrenceError::BeyondHorizon));
        assert_eq!(
            rule("FREQ=MONTHLY;INTERVAL=4294967295;UNTIL=20300101")
                .expand(first, Berlin)
                .unwrap(),
            [first]
        );
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_moves_forward_by_the_gap() {
        // 02:30 Berlin does not exist on 2027-03-28: it is read as CET, i.e. 03:30 CEST.
        let first = period("2027-03-27T01:30:00Z", "2027-03-27T02:30:00Z"); // 02:30-03:30 CET
        let got = rule("FREQ=DAILY;COUNT=3").expand(first, Berlin).unwrap();
        assert_eq!(
            local(&got, Berlin),
            [
                "2027-03-27 02:30+01:00 / 2027-03-27 03:30+01:00",
                // The start moved forward by the gap, and its end with it.
                "2027-03-28 03:30+02:00 / 2027-03-28 04:30+02:00",
                "2027-03-29 02:30+02:00 / 2027-03-29 03:30+02:00",
            ]
        );
        // A start at the gap's beginning keeps its 61 wall-clock minutes after the move.
        let first = period("2027-03-27T01:00:00Z", "2027-03-27T02:01:00Z"); // 02:00-03:01 CET
        let got = rule("FREQ=DAILY;COUNT=2").expand(first, Berlin).unwrap();
        assert_eq!(
            local(&got, Berlin)[1],
            "2027-03-28 03:00+02:00 / 2027-03-28 04:01+02:00"
        );
        // A start before the gap with an end inside it: the end moves forward too.
        let first = period("2027-03-27T00:30:00Z", "2027-03-27T01:30:00Z"); // 01:30-02:30 CET
        let got = rule("FREQ=DAILY;COUNT=2").expand(first, Berlin).unwrap();
        assert_eq!(
            local(&got, Berlin)[1],
            "2027-03-28 01:30+01:00 / 2027-03-28 03:30+02:00"
        );
    }

    #[test]
    fn an_ambiguous_time_on_the_fall_back_day_takes_the_earlier_offset() {
        // New York falls back on 2027-11-07 at 02:00 EDT; 01:30 happens twice.
        let first = period("2027-11-06T05:30:00Z", "2027-11-06T06:00:00Z"); // 01:30 EDT
        let got = rule("FREQ=DAILY;COUNT=3").expand(first, New_York).unwrap();
        assert_eq!(
            local(&got, New_York),
            [
                "2027-11-06 01:30-04:00 / 2027-11-06 02:00-04:00",
                // 01:30 EDT, ends at 02:00 EST: a wall-clock half hour, an hour and a half.
                "2027-11-07 01:30-04:00 / 2027-11-07 02:00-05:00",
                "2027-11-08 01:30-05:00 / 2027-11-08 02:00-05:00",
            ]
        );
    }

    #[test]
    fn an_overnight_stay_keeps_its_check_out_time_on_the_night_clocks_change() {
        // 15:00 to 11:00 the next day, weekly on Saturdays; 2027-10-30/31 falls back.
        let first = period("2027-10-23T13:00:00Z", "2027-10-24T09:00:00Z");
        let got = rule("FREQ=WEEKLY;COUNT=3").expand(first, Berlin).unwrap();
        assert_eq!(
            local(&got, Berlin),
            [
                "2027-10-23 15:00+02:00 / 2027-10-24 11:00+02:00",
                "2027-10-30 15:00+02:00 / 2027-10-31 11:00+01:00",
                "2027-11-06 15:00+01:00 / 2027-11-07 11:00+01:00",
            ]
        );
        assert_eq!(got[1].duration(), Duration::hours(21));
    }

    #[test]
    fn a_first_occurrence_crossing_fall_back_backwards_on_the_wall_clock_keeps_its_length() {
        // 02:30 CEST to 02:10 CET on 2027-10-31: 40 minutes elapsed, -20 on the wall clock.
        let first = period("2027-10-31T00:30:00Z", "2027-10-31T01:10:00Z");
        let got = rule("FREQ=DAILY;COUNT=2").expand(first, Berlin).unwrap();
        assert_eq!(
            local(&got, Berlin)[1],
            "2027-11-01 02:30+01:00 / 2027-11-01 03:10+01:00"
        );
    }

    #[test]
    fn weekly_intervals_count_weeks_starting_on_monday() {
        // Sunday 2027-01-10; every other week on SU and MO: the Monday after the start is in
        // the next week (weeks start on Monday), so it is skipped.
        let first = period("2027-01-10T09:00:00Z", "2027-01-10T10:00:00Z");
        let got = rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,SU;COUNT=4")
            .expand(first, Berlin)
            .unwrap();
        let days: Vec<_> = got
            .iter()
            .map(|p| p.start().date_naive().to_string())
            .collect();
        assert_eq!(
            days,
            ["2027-01-10", "2027-01-18", "2027-01-24", "2027-02-01"]
        );
    }

    #[test]
    fn monthly_rules_pick_ordinal_weekdays_and_month_days_and_skip_missing_ones() {
        let days = |text: &str, start: &str| -> Vec<String> {
            let start = at(start);
            let first = Period::new(start, start + Duration::hours(1)).unwrap();
            rule(text)
                .expand(first, Berlin)
                .unwrap()
                .iter()
                .map(|p| p.start().with_timezone(&Berlin).format("%F").to_string())
                .collect()
        };
        // 2027-01-30 is the fifth (and last) Saturday of January.
        assert_eq!(
            days("FREQ=MONTHLY;BYDAY=5SA;COUNT=3", "2027-01-30T10:00:00Z"),
            ["2027-01-30", "2027-05-29", "2027-07-31"]
        );
        assert_eq!(
            days("FREQ=MONTHLY;BYDAY=-5SA;COUNT=2", "2027-01-02T10:00:00Z"),
            ["2027-01-02", "2027-05-01"]
        );
        assert_eq!(
            days("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3", "2027-01-31T10:00:00Z"),
            ["2027-01-31", "2027-02-28", "2027-03-31"]
        );
        assert_eq!(
            days(
                "FREQ=MONTHLY;BYMONTHDAY=-31;COUNT=3",
                "2027-01-01T10:00:00Z"
            ),
            ["2027-01-01", "2027-03-01", "2027-05-01"]
        );
        // No BYDAY/BYMONTHDAY: the start's day of the month, months without it skipped.
        assert_eq!(
            days("FREQ=MONTHLY;COUNT=3", "2028-01-30T10:00:00Z"),
            ["2028-01-30", "2028-03-30", "2028-04-30"]
        );
        assert_eq!(
            days("FREQ=MONTHLY;BYDAY=MO;COUNT=6", "2027-02-01T10:00:00Z"),
            [
                "2027-02-01",
                "2027-02-08",
                "2027-02-15",
                "2027-02-22",
                "2027-03-01",
                "2027-03-08"
            ]
        );
    }
}
