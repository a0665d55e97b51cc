//! The recurrence expansion against a reference implementation (the `rrule` crate, a port of
//! python-dateutil) over generated rules, zones and starts, plus hand-computed cases.
//!
//! Where the two differ by design the comparison says so:
//! - a start the rule does not produce: `rrule` drops it (dateutil's reading), ours refuses
//!   the rule, so the property is "ours refuses exactly when `rrule`'s first date is not the
//!   start";
//! - `UNTIL` as a date is ours only; the reference gets the last second of that local day;
//! - `rrule` has no occurrence limit or horizon: ours must refuse exactly when the reference
//!   has more than 366 dates, or reaches COUNT only past 100 years;
//! - `rrule` 0.14 refuses a MONTHLY `-5MO` (it allows -4 to 5; RFC 5545 allows -5 as every
//!   month has at most five of a weekday), so generated rules stop at -4 and the unit tests
//!   in `src/recurrence.rs` pin `-5` down by hand;
//! - `rrule` 0.14 yields nothing for a MONTHLY `BYDAY` mixing plain and ordinal days, so the
//!   reference is run per half and merged (see [`reference`]).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on unexpected values"
)]

use chrono::{
    DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use chrono_tz::{America::New_York, Australia::Sydney, Europe::Berlin};
use domain::Period;
use domain::recurrence::{
    End, Frequency, HORIZON_YEARS, MAX_OCCURRENCES, RecurrenceError, RecurrenceRule, Until,
};
use proptest::prelude::*;

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn code(day: Weekday) -> &'static str {
    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][day.num_days_from_monday() as usize]
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The reference's dates for `rule` with the series starting at `start` in `tz` (at most
/// `MAX_OCCURRENCES + 1`), or `None` when it refuses the rule.
///
/// `rrule` 0.14 yields nothing for a MONTHLY `BYDAY` that mixes plain and ordinal days
/// (`MO,-1FR`; the bug it inherited from rrule.js, jkbrzt/rrule#71). RFC 5545 makes such a
/// list the union of its days, so the reference runs the two halves and merges them: each of
/// the union's first n dates is among the first n of its half, so COUNT and the limit still
/// cut in the right place.
fn reference(rule: &RecurrenceRule, start: DateTime<Utc>, tz: Tz) -> Option<Vec<DateTime<Utc>>> {
    let (plain, ordinal): (Vec<_>, Vec<_>) = rule
        .by_day()
        .iter()
        .map(|d| match d.ordinal() {
            None => rrule::NWeekday::Every(d.weekday()),
            Some(n) => rrule::NWeekday::Nth(n.into(), d.weekday()),
        })
        .partition(|d| matches!(d, rrule::NWeekday::Every(_)));
    if plain.is_empty() || ordinal.is_empty() {
        return reference_run(rule, plain.into_iter().chain(ordinal).collect(), start, tz);
    }
    let mut dates = reference_run(rule, plain, start, tz)?;
    dates.extend(reference_run(rule, ordinal, start, tz)?);
    dates.sort();
    dates.dedup();
    let keep = match rule.end() {
        End::Count(count) => usize::from(count),
        End::Until(_) => MAX_OCCURRENCES + 1,
    };
    dates.truncate(keep);
    Some(dates)
}

fn reference_run(
    rule: &RecurrenceRule,
    by_weekday: Vec<rrule::NWeekday>,
    start: DateTime<Utc>,
    tz: Tz,
) -> Option<Vec<DateTime<Utc>>> {
    let rtz = rrule::Tz::Tz(tz);
    let freq = match rule.freq() {
        Frequency::Daily => rrule::Frequency::Daily,
        Frequency::Weekly => rrule::Frequency::Weekly,
        Frequency::Monthly => rrule::Frequency::Monthly,
    };
    let mut builder = rrule::RRule::new(freq)
        .interval(u16::try_from(rule.interval()).unwrap())
        .week_start(Weekday::Mon)
        .by_weekday(by_weekday)
        .by_month_day(rule.by_month_day().to_vec());
    builder = match rule.end() {
        End::Count(count) => builder.count(count.into()),
        End::Until(Until::Instant(at)) => builder.until(at.with_timezone(&rrule::Tz::UTC)),
        End::Until(Until::Date(date)) => {
            let next_midnight = tz
                .from_local_datetime(&date.succ_opt().unwrap().and_time(NaiveTime::MIN))
                .earliest()
                .unwrap();
            let last_second = next_midnight.to_utc() - Duration::seconds(1);
            builder.until(last_second.with_timezone(&rrule::Tz::UTC))
        }
    };
    let set = builder.build(start.with_timezone(&rtz)).ok()?;
    let limit = u16::try_from(MAX_OCCURRENCES + 1).unwrap();
    Some(set.all(limit).dates.iter().map(|d| d.to_utc()).collect())
}

/// Compares our expansion with the reference; `Err` describes a difference.
fn compare(rule: &RecurrenceRule, first: Period, tz: Tz) -> Result<(), String> {
    let ours = rule.expand(first, tz);
    let Some(theirs) = reference(rule, first.start(), tz) else {
        // It refuses an UNTIL before the start, for which ours has no occurrence.
        return match ours {
            Err(RecurrenceError::NoOccurrence) => Ok(()),
            other => Err(format!("the reference refused {rule}; ours: {other:?}")),
        };
    };
    let context = || format!("{rule} from {} in {tz}", first.start().with_timezone(&tz));
    if theirs.first() != Some(&first.start()) {
        return match ours {
            Err(RecurrenceError::StartNotInRule { .. }) => Ok(()),
            other => Err(format!(
                "{}: the reference does not start with the start ({:?}); ours: {other:?}",
                context(),
                theirs.first()
            )),
        };
    }
    let horizon = first
        .start()
        .checked_add_months(Months::new(HORIZON_YEARS * 12))
        .unwrap();
    match ours {
        Err(RecurrenceError::TooManyOccurrences) if theirs.len() > MAX_OCCURRENCES => Ok(()),
        Err(RecurrenceError::BeyondHorizon)
            if matches!(rule.end(), End::Count(n) if theirs.len() < n.into()
                || theirs[usize::from(n) - 1] > horizon) =>
        {
            Ok(())
        }
        Err(error) => Err(format!(
            "{}: ours refused ({error}), the reference has {theirs:?}",
            context()
        )),
        Ok(occurrences) => {
            let starts: Vec<_> = occurrences.iter().map(Period::start).collect();
            if starts != theirs {
                return Err(format!(
                    "{}: ours {starts:?}, the reference {theirs:?}",
                    context()
                ));
            }
            check_ends(&occurrences, first, tz).map_err(|e| format!("{}: {e}", context()))
        }
    }
}

/// Each end lies the first occurrence's wall-clock length after its start whenever that local
/// time exists once and is later; otherwise the occurrence lasts the first one's elapsed time.
fn check_ends(occurrences: &[Period], first: Period, tz: Tz) -> Result<(), String> {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
    let nominal = local(first.end()) - local(first.start());
    for occurrence in &occurrences[1..] {
        let wanted_local_end = local(occurrence.start()) + nominal;
        let expected = match tz.from_local_datetime(&wanted_local_end).single() {
            Some(end) if nominal > Duration::zero() && end.to_utc() > occurrence.start() => {
                end.to_utc()
            }
            // Ambiguous or missing: the unit tests pin those down.
            None if nominal > Duration::zero() => continue,
            _ => occurrence.start() + first.duration(),
        };
        if occurrence.end() != expected {
            return Err(format!("{occurrence:?} should end at {expected}"));
        }
    }
    Ok(())
}

/// The instant of a local time, for generated starts: the earlier or later of an ambiguous
/// pair as asked, an hour later when it falls in a gap.
fn instant(tz: Tz, local: NaiveDateTime, later: bool) -> DateTime<Utc> {
    let resolved = tz.from_local_datetime(&local);
    match if later {
        resolved.latest()
    } else {
        resolved.earliest()
    } {
        Some(at) => at.to_utc(),
        None => instant(tz, local + Duration::hours(1), later),
    }
}

/// A generated series: a rule, its first occurrence and zone. The start's own weekday, ordinal
/// or month day is usually added to the rule so that most cases expand (a non-matching start
/// is still generated, and compared, often enough).
#[derive(Debug, Clone)]
struct Case {
    rule: String,
    first: Period,
    tz: Tz,
}

fn case() -> impl Strategy<Value = Case> {
    let zone = prop::sample::select(vec![Berlin, New_York, Sydney, chrono_tz::UTC]);
    // Hours around the DST changes (01:00-03:59) come up often.
    let time = prop_oneof![0u32..24, 1u32..4].prop_flat_map(|h| (Just(h), 0u32..4));
    let start = (0u64..1096, time, any::<bool>());
    let length = prop_oneof![15i64..=240, 600i64..=1500];
    let freq = 0u8..3;
    let interval = prop_oneof![4 => 1u32..=1, 4 => 2u32..=4, 1 => 5u32..=60];
    let days = prop::collection::vec(0usize..7, 0..4);
    let ordinals = prop::collection::vec((prop_oneof![1i8..=5, -4i8..=-1], 0usize..7), 0..3);
    let month_days = prop::collection::vec(prop_oneof![1i8..=31, -31i8..=-1], 0..3);
    let add_start = 0u8..10;
    let end = prop_oneof![
        3 => (1u16..=60).prop_map(|n| (Some(n), 0u64, false)),
        2 => (0u64..500, any::<bool>()).prop_map(|(d, date)| (None, d, date)),
        1 => (1u16..=366).prop_map(|n| (Some(n), 0u64, false)),
    ];
    (
        zone,
        start,
        length,
        (freq, interval, days, ordinals, month_days, add_start),
        end,
    )
        .prop_map(
            |(tz, (day, (hour, quarter), later), length, rule_parts, end)| {
                let (freq, interval, days, ordinals, month_days, add_start) = rule_parts;
                let date =
                    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(day as i64);
                let local = date.and_hms_opt(hour, quarter * 15, 0).unwrap();
                let start = instant(tz, local, later);
                let first = Period::new(start, start + Duration::minutes(length)).unwrap();
                let local_date = start.with_timezone(&tz).date_naive();
                let mut parts = vec![
                    format!("FREQ={}", ["DAILY", "WEEKLY", "MONTHLY"][freq as usize]),
                    format!("INTERVAL={interval}"),
                ];
                let mut by_day: Vec<String> =
                    days.iter().map(|d| code(WEEKDAYS[*d]).into()).collect();
                let mut by_month_day: Vec<String> = Vec::new();
                if freq == 2 {
                    by_day.extend(
                        ordinals
                            .iter()
                            .map(|(n, d)| format!("{n}{}", code(WEEKDAYS[*d]))),
                    );
                    by_month_day.extend(month_days.iter().map(i8::to_string));
                }
                // Mostly make the start match; 0 leaves the rule as generated.
                if add_start > 0 && !by_day.is_empty() {
                    let weekday = code(local_date.weekday());
                    if freq == 2 && add_start % 2 == 0 {
                        // Its ordinal from the start or from the end of the month.
                        let n = (local_date.day() - 1) / 7 + 1;
                        let last =
                            local_date.with_day(1).unwrap() + Months::new(1) - Duration::days(1);
                        let m = (last.day() - local_date.day()) / 7 + 1;
                        by_day.push(if add_start % 4 == 0 || m == 5 {
                            format!("{n}{weekday}")
                        } else {
                            format!("-{m}{weekday}")
                        });
                    } else {
                        by_day.push(weekday.into());
                    }
                }
                if freq == 2 && add_start > 0 && !by_month_day.is_empty() {
                    by_month_day.push(local_date.day().to_string());
                }
                if !by_day.is_empty() {
                    parts.push(format!("BYDAY={}", by_day.join(",")));
                }
                if !by_month_day.is_empty() {
                    parts.push(format!("BYMONTHDAY={}", by_month_day.join(",")));
                }
                parts.push(match end {
                    (Some(count), _, _) => format!("COUNT={count}"),
                    (None, days, false) => format!(
                        "UNTIL={}",
                        (start + Duration::days(days as i64)).format("%Y%m%dT%H%M%SZ")
                    ),
                    (None, days, true) => format!(
                        "UNTIL={}",
                        (local_date + Duration::days(days as i64)).format("%Y%m%d")
                    ),
                });
                Case {
                    rule: parts.join(";"),
                    first,
                    tz,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn generated_rules_expand_as_the_reference_does(case in case()) {
        let rule: RecurrenceRule = case.rule.parse().unwrap();
        prop_assert_eq!(rule.to_string().parse::<RecurrenceRule>().unwrap(), rule.clone());
        if let Err(difference) = compare(&rule, case.first, case.tz) {
            return Err(TestCaseError::fail(difference));
        }
    }
}

/// Each occurrence start on the wall clock of `tz`, with its offset.
fn local_starts(occurrences: &[Period], tz: Tz) -> Vec<String> {
    occurrences
        .iter()
        .map(|p| {
            p.start()
                .with_timezone(&tz)
                .format("%F %a %H:%M%:z")
                .to_string()
        })
        .collect()
}

fn series(rule: &str, start: &str, minutes: i64, tz: Tz) -> Result<Vec<Period>, RecurrenceError> {
    let start = utc(start);
    let first = Period::new(start, start + Duration::minutes(minutes)).unwrap();
    let rule: RecurrenceRule = rule.parse()?;
    compare(&rule, first, tz).unwrap();
    rule.expand(first, tz)
}

#[test]
fn a_weekly_monday_and_wednesday_series_in_berlin_keeps_18_00_across_both_dst_changes_of_2027() {
    // Monday 2027-03-22, 18:00 CET; clocks go forward on 2027-03-28 and back on 2027-10-31.
    let got = series(
        "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271104T000000Z",
        "2027-03-22T17:00:00Z",
        90,
        Berlin,
    )
    .unwrap();
    // 2027-03-22 to 2027-11-03 is 32 weeks and 2 days: 32 Mondays and Wednesdays, plus the
    // Monday 2027-11-01 and Wednesday 2027-11-03.
    assert_eq!(got.len(), 66);
    for occurrence in &got {
        let local = occurrence.start().with_timezone(&Berlin);
        assert_eq!(
            local.time(),
            NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
            "{local}"
        );
        assert!(
            matches!(local.weekday(), Weekday::Mon | Weekday::Wed),
            "{local}"
        );
        assert_eq!(occurrence.duration(), Duration::minutes(90));
    }
    let shown = local_starts(&got, Berlin);
    assert_eq!(
        shown[..4],
        [
            "2027-03-22 Mon 18:00+01:00",
            "2027-03-24 Wed 18:00+01:00",
            "2027-03-29 Mon 18:00+02:00",
            "2027-03-31 Wed 18:00+02:00",
        ]
    );
    assert_eq!(
        shown[shown.len() - 4..],
        [
            "2027-10-25 Mon 18:00+02:00",
            "2027-10-27 Wed 18:00+02:00",
            "2027-11-01 Mon 18:00+01:00",
            "2027-11-03 Wed 18:00+01:00",
        ]
    );
    // In UTC the series moves by an hour at each change.
    assert_eq!(got[1].start(), utc("2027-03-24T17:00:00Z"));
    assert_eq!(got[2].start(), utc("2027-03-29T16:00:00Z"));
    assert_eq!(got[shown.len() - 3].start(), utc("2027-10-27T16:00:00Z"));
    assert_eq!(got[shown.len() - 2].start(), utc("2027-11-01T17:00:00Z"));
}

#[test]
fn a_monthly_last_friday_series_lands_on_each_months_last_friday() {
    // Friday 2027-01-29, 09:30 in New York (EST).
    let got = series(
        "FREQ=MONTHLY;BYDAY=-1FR;COUNT=7",
        "2027-01-29T14:30:00Z",
        60,
        New_York,
    )
    .unwrap();
    assert_eq!(
        local_starts(&got, New_York),
        [
            "2027-01-29 Fri 09:30-05:00",
            "2027-02-26 Fri 09:30-05:00",
            "2027-03-26 Fri 09:30-04:00",
            "2027-04-30 Fri 09:30-04:00",
            "2027-05-28 Fri 09:30-04:00",
            "2027-06-25 Fri 09:30-04:00",
            "2027-07-30 Fri 09:30-04:00",
        ]
    );
}

#[test]
fn a_monthly_31st_series_skips_the_months_without_a_31st() {
    let got = series(
        "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=7",
        "2027-01-31T09:00:00Z",
        60,
        Berlin,
    )
    .unwrap();
    let days: Vec<_> = got
        .iter()
        .map(|p| p.start().with_timezone(&Berlin).format("%F").to_string())
        .collect();
    assert_eq!(
        days,
        [
            "2027-01-31",
            "2027-03-31",
            "2027-05-31",
            "2027-07-31",
            "2027-08-31",
            "2027-10-31",
            "2027-12-31"
        ]
    );
    // The same without BYMONTHDAY: the start's day of the month.
    assert_eq!(
        series("FREQ=MONTHLY;COUNT=7", "2027-01-31T09:00:00Z", 60, Berlin).unwrap(),
        got
    );
}

#[test]
fn count_and_until_bound_the_series_inclusively() {
    // Sydney, Monday 2027-04-05 10:00 AEST (00:00Z); Sydney fell back on 2027-04-04.
    let weekly = |end: &str| {
        series(
            &format!("FREQ=WEEKLY;{end}"),
            "2027-04-05T00:00:00Z",
            60,
            Sydney,
        )
        .map(|o| o.len())
    };
    assert_eq!(weekly("COUNT=1"), Ok(1));
    assert_eq!(weekly("COUNT=366"), Ok(366));
    assert_eq!(
        weekly("UNTIL=20270405T000000Z"),
        Ok(1),
        "UNTIL at the start includes it"
    );
    assert_eq!(
        weekly("UNTIL=20270503T000000Z"),
        Ok(5),
        "UNTIL at an occurrence includes it"
    );
    assert_eq!(weekly("UNTIL=20270502T235959Z"), Ok(4));
    assert_eq!(
        weekly("UNTIL=20270503"),
        Ok(5),
        "a date includes that local day"
    );
    assert_eq!(weekly("UNTIL=20270502"), Ok(4));
    assert_eq!(
        weekly("UNTIL=20270404T235959Z"),
        Err(RecurrenceError::NoOccurrence)
    );
    assert_eq!(
        "FREQ=WEEKLY;COUNT=367".parse::<RecurrenceRule>(),
        Err(RecurrenceError::CountOverLimit { count: 367 })
    );
    // 2027-04-05 + 365 weeks (2,555 days; 2027-04-05 to 2034-04-05 is 2,557 with the leap
    // days of 2028 and 2032) = 2034-04-03: the 366th occurrence; one week more is over.
    assert_eq!(weekly("UNTIL=20340402"), Ok(365));
    assert_eq!(weekly("UNTIL=20340403"), Ok(366));
    assert_eq!(weekly("UNTIL=20340409"), Ok(366));
    assert_eq!(
        weekly("UNTIL=20340410"),
        Err(RecurrenceError::TooManyOccurrences)
    );
}
