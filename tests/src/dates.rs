//! Dates and instants for tests: never hard-coded, so the tests stay in the bookable future
//! whenever they run.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// An RFC 3339 UTC instant `days` days from today at `hour:minute` UTC (tests never hard-code
/// dates, so they stay in the bookable future whenever they run).
pub fn day_at(days: i64, hour: u32, minute: u32) -> String {
    rfc(at(
        Utc::now().date_naive() + chrono::Duration::days(days),
        hour,
        minute,
    ))
}

/// `[start, end)` as RFC 3339 UTC instants: `days` from today, starting `minute` minutes after
/// midnight UTC, `length` minutes long (either may cross midnight).
pub fn slot(days: i64, minute: i64, length: i64) -> (String, String) {
    let midnight = (Utc::now().date_naive() + chrono::Duration::days(days))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let start = midnight + chrono::Duration::minutes(minute);
    (rfc(start), rfc(start + chrono::Duration::minutes(length)))
}

/// The next last-Sunday-of-`month` that is more than a day away: the EU's DST switch days.
pub fn next_eu_dst_switch(month: u32) -> NaiveDate {
    let today = Utc::now().date_naive();
    for year in [today.year(), today.year() + 1] {
        let first_of_next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .expect("valid date");
        let mut day = first_of_next - chrono::Duration::days(1);
        while day.weekday() != chrono::Weekday::Sun {
            day -= chrono::Duration::days(1);
        }
        if day > today + chrono::Duration::days(1) {
            return day;
        }
    }
    unreachable!("a last Sunday of the month lies within two years")
}

/// A Monday at least `days` days from today (UTC).
pub fn monday_after(days: i64) -> NaiveDate {
    let mut day = Utc::now().date_naive() + chrono::Duration::days(days);
    while day.weekday() != chrono::Weekday::Mon {
        day += chrono::Duration::days(1);
    }
    day
}

/// `day` at `hh:mm` UTC.
pub fn at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, minute, 0)
        .expect("valid time")
        .and_utc()
}

/// The RFC 3339 form answers use.
pub fn rfc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
