//! Weekly opening hours in local wall time, and their projection onto UTC periods.
//!
//! Owns [`LocalTime`] ("HH:MM" on the wall clock), [`OpeningHours`] (per-weekday intervals with
//! their JSON form and validation) and the wall-clock → UTC rules for DST days: a time inside a
//! DST gap moves forward to the end of the gap, an ambiguous time takes its first occurrence.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::{GapInfo, Tz};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::period::{Period, merge};

/// Minutes in a local day on the wall clock (DST days still have 24 wall-clock hours).
const MINUTES_PER_DAY: u16 = 24 * 60;

/// A time of day on the local wall clock, as minutes since local midnight (`0..=1440`).
///
/// Written "HH:MM". `24:00` is the next local midnight and only makes sense as an interval end;
/// [`OpeningHours`] rejects it as a start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(u16);

/// A local time that is not "HH:MM" between 00:00 and 24:00.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid local time {0:?}: expected \"HH:MM\" from 00:00 to 24:00")]
pub struct InvalidLocalTime(String);

impl LocalTime {
    /// Local midnight at the start of the day.
    pub const MIDNIGHT: LocalTime = LocalTime(0);
    /// Local midnight at the end of the day (`24:00`).
    pub const END_OF_DAY: LocalTime = LocalTime(MINUTES_PER_DAY);

    /// The time `hour:minute`; `24:00` is allowed, anything later is not.
    pub fn from_hm(hour: u32, minute: u32) -> Result<Self, InvalidLocalTime> {
        if minute < 60 && (hour < 24 || (hour == 24 && minute == 0)) {
            // Both factors are bounded above, so the value fits in u16.
            Ok(LocalTime((hour * 60 + minute) as u16))
        } else {
            Err(InvalidLocalTime(format!("{hour:02}:{minute:02}")))
        }
    }

    /// The time `minutes` after local midnight; at most 1440 (`24:00`).
    pub fn from_minutes(minutes: u16) -> Result<Self, InvalidLocalTime> {
        if minutes <= MINUTES_PER_DAY {
            Ok(LocalTime(minutes))
        } else {
            Err(InvalidLocalTime(format!("{minutes} minutes")))
        }
    }

    /// Minutes since local midnight (`0..=1440`).
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl FromStr for LocalTime {
    type Err = InvalidLocalTime;

    /// Parses exactly "HH:MM" (two digits each): lenient forms like "8:00" are more likely typos
    /// in hand-written configuration than intent, so they are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidLocalTime(s.to_owned());
        let bytes = s.as_bytes();
        if bytes.len() != 5 || bytes[2] != b':' {
            return Err(invalid());
        }
        let two_digits = |hi: u8, lo: u8| {
            (hi.is_ascii_digit() && lo.is_ascii_digit())
                .then(|| u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
        };
        let hour = two_digits(bytes[0], bytes[1]).ok_or_else(invalid)?;
        let minute = two_digits(bytes[3], bytes[4]).ok_or_else(invalid)?;
        LocalTime::from_hm(hour, minute).map_err(|_| invalid())
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocalTimeVisitor;

        impl Visitor<'_> for LocalTimeVisitor {
            type Value = LocalTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a local time \"HH:MM\" from 00:00 to 24:00")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<LocalTime, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(LocalTimeVisitor)
    }
}

/// Opening hours per weekday: half-open intervals `[start, end)` of local wall time.
///
/// JSON: `{ "mon": [["08:00","18:00"]], "sat": [["10:00","14:00"], ["15:00","17:00"]] }`; a
/// missing weekday is closed all day. Every interval starts before it ends, the intervals of a
/// day do not overlap (touching is fine), and they are kept sorted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WeekTable", into = "WeekTable")]
pub struct OpeningHours {
    /// Indexed by `Weekday::num_days_from_monday`.
    days: [Vec<(LocalTime, LocalTime)>; 7],
}

/// Opening hours that cannot be valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOpeningHours {
    /// An interval does not start before it ends (this includes starting at 24:00).
    #[error("{}: interval {start}-{end} must start before it ends", day_key(*.day))]
    EmptyInterval {
        day: Weekday,
        start: LocalTime,
        end: LocalTime,
    },
    /// Two intervals of the same day share some time.
    #[error("{}: intervals {}-{} and {}-{} overlap", day_key(*.day), .first.0, .first.1, .second.0, .second.1)]
    Overlap {
        day: Weekday,
        first: (LocalTime, LocalTime),
        second: (LocalTime, LocalTime),
    },
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The JSON key of a weekday.
fn day_key(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

impl OpeningHours {
    /// Opening hours from `(weekday, start, end)` intervals, in any order; days without an
    /// interval are closed.
    pub fn new(
        intervals: impl IntoIterator<Item = (Weekday, LocalTime, LocalTime)>,
    ) -> Result<Self, InvalidOpeningHours> {
        let mut days: [Vec<(LocalTime, LocalTime)>; 7] = Default::default();
        for (day, start, end) in intervals {
            if start >= end {
                return Err(InvalidOpeningHours::EmptyInterval { day, start, end });
            }
            days[day.num_days_from_monday() as usize].push((start, end));
        }
        for (day, intervals) in WEEK.into_iter().zip(days.iter_mut()) {
            intervals.sort_unstable();
            if let Some(pair) = intervals.windows(2).find(|pair| pair[1].0 < pair[0].1) {
                return Err(InvalidOpeningHours::Overlap {
                    day,
                    first: pair[0],
                    second: pair[1],
                });
            }
        }
        Ok(Self { days })
    }

    /// The intervals of `day`, sorted; empty when closed.
    pub fn intervals(&self, day: Weekday) -> &[(LocalTime, LocalTime)] {
        &self.days[day.num_days_from_monday() as usize]
    }
}

/// The JSON shape of [`OpeningHours`]: weekday keys to intervals. Unknown keys such as "monday"
/// are rejected rather than silently leaving a day closed; closed days are left out.
type WeekTable = BTreeMap<DayKey, Vec<(LocalTime, LocalTime)>>;

/// A weekday as a JSON key, in the week's order (so a [`WeekTable`] prints Monday first).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DayKey {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

const DAY_KEYS: [DayKey; 7] = [
    DayKey::Mon,
    DayKey::Tue,
    DayKey::Wed,
    DayKey::Thu,
    DayKey::Fri,
    DayKey::Sat,
    DayKey::Sun,
];

impl TryFrom<WeekTable> for OpeningHours {
    type Error = InvalidOpeningHours;

    fn try_from(table: WeekTable) -> Result<Self, Self::Error> {
        OpeningHours::new(table.into_iter().flat_map(|(key, intervals)| {
            let day = WEEK[key as usize];
            intervals
                .into_iter()
                .map(move |(start, end)| (day, start, end))
        }))
    }
}

impl From<OpeningHours> for WeekTable {
    fn from(hours: OpeningHours) -> Self {
        DAY_KEYS
            .into_iter()
            .zip(hours.days)
            .filter(|(_, intervals)| !intervals.is_empty())
            .collect()
    }
}

/// The UTC instant at which the wall clock of `tz` on `date` first reads `time` or later.
///
/// - `24:00` is `00:00` of the next date.
/// - A time in a DST gap does not exist; it maps to the first instant after the gap (the
///   transition), so 02:30 on a Berlin spring-forward day is 03:00 CEST.
/// - An ambiguous time (the repeated hour when clocks fall back) takes its first occurrence.
pub fn local_to_utc(tz: Tz, date: NaiveDate, time: LocalTime) -> DateTime<Utc> {
    let local = date
        .and_time(NaiveTime::MIN)
        .checked_add_signed(Duration::minutes(i64::from(time.minutes())))
        // Only the last representable date can overflow; saturating keeps this total.
        .unwrap_or(NaiveDateTime::MAX);
    wall_clock_to_utc(tz, local)
}

/// [`local_to_utc`] for any naive local date-time.
fn wall_clock_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(first) = tz.from_local_datetime(&local).earliest() {
        return first.with_timezone(&Utc);
    }
    match GapInfo::new(&local, &tz).and_then(|gap| gap.end) {
        Some(after_gap) => after_gap.with_timezone(&Utc),
        // chrono-tz only lacks the end of a gap at the edge of its tables, which no real
        // date reaches; reading the wall clock as UTC keeps the function total.
        None => local.and_utc(),
    }
}

/// The UTC periods inside `window` during which the resource is open, sorted and merged.
///
/// `None` means open around the clock. Intervals that touch across midnight (sun 00:00-24:00
/// and mon 00:00-…) merge into one period. Periods are elapsed time, so a day open 00:00-24:00
/// lasts 23 or 25 hours on DST days.
pub fn open_periods(hours: Option<&OpeningHours>, tz: Tz, window: Period) -> Vec<Period> {
    let Some(hours) = hours else {
        return vec![window];
    };
    // One local day of margin on each side: the local dates of the window's ends are where
    // intervals can straddle its edges, and the margin covers any oddity in between.
    let first = window.start().with_timezone(&tz).date_naive();
    let last = window.end().with_timezone(&tz).date_naive();
    let first = first.pred_opt().unwrap_or(first);
    let last = last.succ_opt().unwrap_or(last);

    let mut periods = Vec::new();
    for date in first.iter_days().take_while(|date| *date <= last) {
        for &(start, end) in hours.intervals(date.weekday()) {
            let utc = Period::new(local_to_utc(tz, date, start), local_to_utc(tz, date, end));
            // An interval entirely inside a DST gap maps to an empty period: it never happens.
            if let Some(open) = utc.ok().and_then(|period| period.intersect(&window)) {
                periods.push(open);
            }
        }
    }
    merge(periods)
}

/// The OpenAPI schema of [`OpeningHours`]: its JSON form is hand-made ([`WeekTable`] of
/// [`LocalTime`] pairs), so its schema is too.
#[cfg(feature = "openapi")]
mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{
        AdditionalProperties, ArrayBuilder, ArrayItems, ObjectBuilder, Schema, Type,
    };
    use utoipa::{PartialSchema, ToSchema};

    use super::{OpeningHours, WEEK, day_key};

    fn local_time() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))
            .description(Some(
                "A time of day on the local wall clock, \"HH:MM\" from 00:00 to 24:00 (24:00 \
                 only as an interval's end).",
            ))
            .examples(["08:00"])
            .into()
    }

    impl PartialSchema for OpeningHours {
        fn schema() -> RefOr<Schema> {
            // One `[start, end)` interval: exactly two local times.
            let interval = ArrayBuilder::new()
                .prefix_items([local_time(), local_time()])
                .items(ArrayItems::False)
                .min_items(Some(2))
                .max_items(Some(2));
            let day = ArrayBuilder::new()
                .items(interval)
                .description(Some(
                    "The day's half-open intervals; each starts before it ends, none overlap.",
                ))
                .build();
            WEEK.iter()
                .fold(ObjectBuilder::new(), |object, weekday| {
                    object.property(day_key(*weekday), day.clone())
                })
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                .description(Some(
                    "Opening hours per weekday in the resource's time zone; a weekday that is \
                     absent is closed all day.",
                ))
                .examples([serde_json::json!({
                    "mon": [["08:00", "18:00"]],
                    "sat": [["10:00", "14:00"]]
                })])
                .into()
        }
    }

    impl ToSchema for OpeningHours {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("OpeningHours")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> LocalTime {
        s.parse().expect("valid local time")
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn hours(json: &str) -> OpeningHours {
        serde_json::from_str(json).expect("valid opening hours")
    }

    fn total(periods: &[Period]) -> Duration {
        periods.iter().map(Period::duration).sum()
    }

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    #[test]
    fn local_times_parse_and_print_as_hh_mm() {
        assert_eq!(t("08:30").minutes(), 510);
        assert_eq!(t("00:00"), LocalTime::MIDNIGHT);
        assert_eq!(t("24:00"), LocalTime::END_OF_DAY);
        assert_eq!(t("07:05").to_string(), "07:05");
        assert_eq!(
            serde_json::to_string(&t("23:59")).expect("serializes"),
            "\"23:59\""
        );
    }

    #[test]
    fn malformed_local_times_are_rejected_with_a_clear_message() {
        for bad in [
            "8:00", "24:01", "25:00", "12:60", "12-00", "ab:cd", "", "12:000", "+1:00",
        ] {
            assert!(bad.parse::<LocalTime>().is_err(), "{bad} should not parse");
        }
        let err = serde_json::from_str::<LocalTime>("\"25:00\"").expect_err("out of range");
        assert!(err.to_string().contains("\"25:00\""), "{err}");
        assert!(err.to_string().contains("HH:MM"), "{err}");
        assert!(serde_json::from_str::<LocalTime>("510").is_err());
    }

    #[test]
    fn opening_hours_round_trip_through_json_omitting_closed_days() {
        let json = r#"{"mon":[["08:00","18:00"]],"sat":[["10:00","14:00"],["15:00","17:00"]]}"#;
        let parsed = hours(json);
        assert_eq!(parsed.intervals(Weekday::Mon), &[(t("08:00"), t("18:00"))]);
        assert!(parsed.intervals(Weekday::Tue).is_empty());
        assert_eq!(serde_json::to_string(&parsed).expect("serializes"), json);
    }

    #[test]
    fn intervals_are_stored_sorted() {
        let parsed = hours(r#"{"sat":[["15:00","17:00"],["10:00","14:00"]]}"#);
        assert_eq!(
            parsed.intervals(Weekday::Sat),
            &[(t("10:00"), t("14:00")), (t("15:00"), t("17:00"))]
        );
    }

    #[test]
    fn unknown_weekday_keys_are_rejected() {
        assert!(serde_json::from_str::<OpeningHours>(r#"{"monday":[["08:00","18:00"]]}"#).is_err());
    }

    #[test]
    fn reversed_empty_and_midnight_start_intervals_are_rejected() {
        for json in [
            r#"{"mon":[["18:00","08:00"]]}"#,
            r#"{"mon":[["08:00","08:00"]]}"#,
            r#"{"mon":[["24:00","24:00"]]}"#,
        ] {
            let err = serde_json::from_str::<OpeningHours>(json).expect_err(json);
            assert!(
                err.to_string().contains("must start before it ends"),
                "{err}"
            );
        }
    }

    #[test]
    fn overlapping_intervals_are_rejected_but_touching_ones_are_fine() {
        let err = serde_json::from_str::<OpeningHours>(
            r#"{"tue":[["08:00","12:00"],["11:00","13:00"]]}"#,
        )
        .expect_err("overlap");
        assert!(
            err.to_string()
                .contains("tue: intervals 08:00-12:00 and 11:00-13:00 overlap"),
            "{err}"
        );
        hours(r#"{"tue":[["08:00","12:00"],["12:00","13:00"]]}"#);
    }

    #[test]
    fn no_hours_means_open_for_the_whole_window() {
        let window = span("2026-03-01 05:17..2026-03-09 00:00");
        assert_eq!(open_periods(None, BERLIN, window), vec![window]);
    }

    /// `"2026-03-29 01:00"` as a UTC instant.
    fn at(utc: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M")
            .expect("a UTC time as YYYY-MM-DD HH:MM")
            .and_utc()
    }

    /// Opening hours in a zone, looked at through a UTC window, give these open UTC periods (and,
    /// where the case is about a day's length, this many hours in all).
    ///
    /// A case is one line: `zone | hours | window | open periods (a..b, …) | total hours or -`,
    /// with instants as `YYYY-MM-DD HH:MM` in UTC.
    const OPEN_PERIOD_CASES: &str = r#"
        # weekday hours become UTC periods clipped to the window (2026-12-07 is a Monday; Berlin is UTC+1)
        Europe/Berlin | {"mon":[["08:00","18:00"]],"tue":[["08:00","18:00"]]} | 2026-12-07 10:00..2026-12-09 00:00 | 2026-12-07 10:00..2026-12-07 17:00, 2026-12-08 07:00..2026-12-08 17:00 | -
        # intervals touching across midnight merge: Sunday all day and Monday morning are one stretch
        Europe/Berlin | {"sun":[["00:00","24:00"]],"mon":[["00:00","06:00"]]} | 2026-12-12 00:00..2026-12-15 00:00 | 2026-12-12 23:00..2026-12-14 05:00 | -
        # spring forward (Sunday 2026-03-29, 02:00 CET to 03:00 CEST) skips the missing hour
        Europe/Berlin | {"sun":[["00:00","24:00"]]} | 2026-03-27 00:00..2026-04-01 00:00 | 2026-03-28 23:00..2026-03-29 22:00 | 23
        # fall back (Sunday 2026-10-25, 03:00 CEST to 02:00 CET) makes a 25-hour day
        Europe/Berlin | {"sun":[["00:00","24:00"]]} | 2026-10-23 00:00..2026-10-28 00:00 | 2026-10-24 22:00..2026-10-25 23:00 | 25
        # an interval inside the gap never opens
        Europe/Berlin | {"sun":[["02:00","02:45"],["09:00","10:00"]]} | 2026-03-28 00:00..2026-03-30 00:00 | 2026-03-29 07:00..2026-03-29 08:00 | -
        # an interval straddling the gap is an hour shorter
        Europe/Berlin | {"sun":[["01:00","04:00"]]} | 2026-03-28 00:00..2026-03-30 00:00 | 2026-03-29 00:00..2026-03-29 02:00 | 2
        # an interval spanning the repeated hour is an hour longer
        Europe/Berlin | {"sun":[["01:00","04:00"]]} | 2026-10-24 00:00..2026-10-26 00:00 | 2026-10-24 23:00..2026-10-25 03:00 | 4
        # New York springs forward on Sunday 2026-03-08 (a 23-hour day) ...
        America/New_York | {"sun":[["00:00","24:00"]]} | 2026-03-07 00:00..2026-03-10 00:00 | 2026-03-08 05:00..2026-03-09 04:00 | 23
        # ... and falls back on Sunday 2026-11-01 (a 25-hour day)
        America/New_York | {"sun":[["00:00","24:00"]]} | 2026-10-31 00:00..2026-11-03 00:00 | 2026-11-01 04:00..2026-11-02 05:00 | 25
    "#;

    fn span(text: &str) -> Period {
        let (start, end) = text.trim().split_once("..").expect("a period as a..b");
        Period::new(at(start), at(end)).expect("non-empty period")
    }

    #[test]
    fn opening_hours_become_utc_periods_across_weekdays_midnight_and_dst() {
        let cases = OPEN_PERIOD_CASES.lines().map(str::trim);
        let (mut why, mut checked) = ("", 0);
        for line in cases.filter(|line| !line.is_empty()) {
            if let Some(comment) = line.strip_prefix('#') {
                why = comment.trim();
                continue;
            }
            let fields: Vec<&str> = line.split(" | ").collect();
            let [zone, json, window, open, total_hours] = fields[..] else {
                panic!("a case has five fields: {line}");
            };
            let zone: Tz = zone.parse().expect("a time zone");
            let found = open_periods(Some(&hours(json)), zone, span(window));
            let expected: Vec<Period> = open.split(", ").map(span).collect();
            assert_eq!(found, expected, "{why}");
            if let Ok(hours) = total_hours.parse() {
                assert_eq!(total(&found), Duration::hours(hours), "{why}");
            }
            checked += 1;
        }
        assert_eq!(checked, 9, "every case line is read");
    }

    #[test]
    fn local_times_in_gaps_repeats_and_at_twenty_four_hundred_follow_one_rule() {
        // (zone, local date and time, the UTC instant it maps to, why)
        let cases = [
            (
                BERLIN,
                "2026-03-29 02:30",
                "2026-03-29 01:00",
                "in the gap: the transition",
            ),
            (
                BERLIN,
                "2026-03-29 02:00",
                "2026-03-29 01:00",
                "the gap's start: the transition",
            ),
            (
                BERLIN,
                "2026-03-29 03:00",
                "2026-03-29 01:00",
                "the gap's end: the transition",
            ),
            (
                BERLIN,
                "2026-03-29 01:59",
                "2026-03-29 00:59",
                "before the gap: CET",
            ),
            (
                BERLIN,
                "2026-10-25 02:30",
                "2026-10-25 00:30",
                "repeated: the first (CEST)",
            ),
            (
                BERLIN,
                "2026-10-25 03:00",
                "2026-10-25 02:00",
                "after the repeat: CET",
            ),
            (
                BERLIN,
                "2026-12-31 24:00",
                "2026-12-31 23:00",
                "24:00: next local midnight",
            ),
            (
                BERLIN,
                "2026-03-28 24:00",
                "2026-03-28 23:00",
                "24:00 before the gap",
            ),
            (
                NEW_YORK,
                "2026-03-08 02:30",
                "2026-03-08 07:00",
                "New York's gap",
            ),
            (
                NEW_YORK,
                "2026-11-01 01:30",
                "2026-11-01 05:30",
                "New York's repeat: EDT",
            ),
        ];
        for (zone, local, utc, why) in cases {
            let (day, time) = local.split_once(' ').expect("a local date and time");
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("a date");
            assert_eq!(local_to_utc(zone, day, t(time)), at(utc), "{why}");
        }
        assert_eq!(
            local_to_utc(BERLIN, date(2026, 3, 28), t("24:00")),
            local_to_utc(BERLIN, date(2026, 3, 29), t("00:00")),
            "24:00 is the next day's 00:00"
        );
    }

    #[test]
    fn a_window_covering_a_whole_week_sees_every_open_day_once() {
        let h = hours(
            r#"{"mon":[["09:00","17:00"]],"tue":[["09:00","17:00"]],"wed":[["09:00","17:00"]],
                "thu":[["09:00","17:00"]],"fri":[["09:00","12:00"],["13:00","17:00"]]}"#,
        );
        let open = open_periods(
            Some(&h),
            NEW_YORK,
            span("2026-12-06 00:00..2026-12-13 00:00"),
        );
        assert_eq!(open.len(), 6);
        assert_eq!(total(&open), Duration::hours(39));
    }
}
