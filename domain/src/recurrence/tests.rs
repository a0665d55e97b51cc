//! Parsing, errors, bounds and DST edges of recurrence rules, as given/when/then on values.

use chrono_tz::America::New_York;
use chrono_tz::Europe::Berlin;

use super::syntax::invalid;
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
