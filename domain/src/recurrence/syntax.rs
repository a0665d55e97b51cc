//! The text of a rule: parsing the RRULE subset (with an error naming the part at fault) and
//! printing the canonical form.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, Weekday};

use super::{ByDay, End, Frequency, MAX_OCCURRENCES, RecurrenceError, RecurrenceRule, Until};

impl fmt::Display for ByDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.ordinal {
            write!(f, "{n}")?;
        }
        f.write_str(weekday_code(self.weekday))
    }
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

pub(super) fn invalid(part: &'static str, value: &str, expected: &'static str) -> RecurrenceError {
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
