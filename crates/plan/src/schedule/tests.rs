use std::collections::BTreeSet;

use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn schedule(cron: &str, zone: &str, duration: &str) -> Schedule {
    Schedule::parse(cron, zone, duration).unwrap()
}

fn window(start: &str, end: &str) -> Occurrence {
    Occurrence {
        start: ts(start),
        end: ts(end),
    }
}

/// The next `n` window starts after `from`, each in the schedule's zone.
fn starts(s: &Schedule, from: &str, n: usize) -> Vec<String> {
    let mut now = ts(from);
    let mut out = Vec::new();
    for _ in 0..n {
        let next = s.next_window(now).unwrap();
        out.push(next.start_in(s.time_zone()).to_string());
        now = next.start;
    }
    out
}

fn cron_error(cron: &str) -> String {
    Schedule::parse(cron, "UTC", "1h").unwrap_err().to_string()
}

// Parsing

#[test]
fn parses_the_kubernetes_cronjob_forms() {
    let s = |cron| schedule(cron, "UTC", "1h");
    let from = "2026-01-01T00:00:00Z"; // a Thursday
    assert_eq!(starts(&s("0 2 * * 0"), from, 1), ["2026-01-04T02:00:00+00:00[UTC]"]);
    assert_eq!(starts(&s("0 2 * * sun"), from, 1), ["2026-01-04T02:00:00+00:00[UTC]"]);
    assert_eq!(starts(&s("0 2 * * 7"), from, 1), ["2026-01-04T02:00:00+00:00[UTC]"]);
    assert_eq!(starts(&s("0 2 ? * SUN"), from, 1), ["2026-01-04T02:00:00+00:00[UTC]"]);
    assert_eq!(
        starts(&s("  */20 1 * * *  "), from, 4),
        [
            "2026-01-01T01:00:00+00:00[UTC]",
            "2026-01-01T01:20:00+00:00[UTC]",
            "2026-01-01T01:40:00+00:00[UTC]",
            "2026-01-02T01:00:00+00:00[UTC]",
        ]
    );
    // `a/n` runs from a to the end of the field, as in CronJob.
    assert_eq!(
        starts(&s("5/20 1 * * *"), from, 3),
        [
            "2026-01-01T01:05:00+00:00[UTC]",
            "2026-01-01T01:25:00+00:00[UTC]",
            "2026-01-01T01:45:00+00:00[UTC]",
        ]
    );
    assert_eq!(
        starts(&s("0 3 1 jan,Jul *"), from, 2),
        ["2026-01-01T03:00:00+00:00[UTC]", "2026-07-01T03:00:00+00:00[UTC]"]
    );
    assert_eq!(
        starts(&s("0 3 * * FRI-SUN"), from, 4),
        [
            "2026-01-02T03:00:00+00:00[UTC]",
            "2026-01-03T03:00:00+00:00[UTC]",
            "2026-01-04T03:00:00+00:00[UTC]",
            "2026-01-09T03:00:00+00:00[UTC]",
        ]
    );
    assert_eq!(
        starts(&s("30 4 1-10/3 * *"), from, 4),
        [
            "2026-01-01T04:30:00+00:00[UTC]",
            "2026-01-04T04:30:00+00:00[UTC]",
            "2026-01-07T04:30:00+00:00[UTC]",
            "2026-01-10T04:30:00+00:00[UTC]",
        ]
    );
}

#[test]
fn restricted_day_of_month_and_day_of_week_match_either_as_in_cronjob() {
    // The 13th, or any Friday.
    let s = schedule("0 0 13 * 5", "UTC", "1h");
    assert_eq!(
        starts(&s, "2026-01-01T00:00:00Z", 3),
        [
            "2026-01-02T00:00:00+00:00[UTC]",
            "2026-01-09T00:00:00+00:00[UTC]",
            "2026-01-13T00:00:00+00:00[UTC]",
        ]
    );
}

#[test]
fn a_stepped_day_field_is_restricted_as_in_cronjob() {
    // Odd days, or Mondays (12 January): `*/2` is not a wildcard, so the two day fields match either.
    let s = schedule("0 0 */2 * MON", "UTC", "1h");
    assert_eq!(
        starts(&s, "2026-01-09T12:00:00Z", 3),
        [
            "2026-01-11T00:00:00+00:00[UTC]",
            "2026-01-12T00:00:00+00:00[UTC]",
            "2026-01-13T00:00:00+00:00[UTC]",
        ]
    );
    // `*/1` is: Mondays only.
    let s = schedule("0 0 */1 * MON", "UTC", "1h");
    assert_eq!(
        starts(&s, "2026-01-09T12:00:00Z", 2),
        ["2026-01-12T00:00:00+00:00[UTC]", "2026-01-19T00:00:00+00:00[UTC]"]
    );
}

#[test]
fn cronjob_macros_are_accepted() {
    let from = "2026-01-01T10:00:00Z";
    for (cron, next) in [
        ("@yearly", "2027-01-01T00:00:00+00:00[UTC]"),
        ("@annually", "2027-01-01T00:00:00+00:00[UTC]"),
        ("@monthly", "2026-02-01T00:00:00+00:00[UTC]"),
        ("@weekly", "2026-01-04T00:00:00+00:00[UTC]"),
        ("@daily", "2026-01-02T00:00:00+00:00[UTC]"),
        ("@midnight", "2026-01-02T00:00:00+00:00[UTC]"),
        ("@hourly", "2026-01-01T11:00:00+00:00[UTC]"),
    ] {
        assert_eq!(starts(&schedule(cron, "UTC", "1h"), from, 1), [next], "{cron}");
    }
}

#[test]
fn other_macros_are_refused() {
    for cron in ["@every 1h", "@reboot", "@Daily", "@"] {
        assert_eq!(
            cron_error(cron),
            format!(
                "schedule {cron:?} is not a cron expression: {cron} is not supported: write 5 fields, or one of \
                 @yearly @annually @monthly @weekly @daily @midnight @hourly"
            )
        );
    }
}

#[test]
fn wrong_field_counts_are_refused() {
    assert_eq!(
        cron_error("* * *"),
        r#"schedule "* * *" is not a cron expression: it has 3 fields: write 5 fields (minute hour day-of-month month day-of-week), like "0 2 * * 0" for Sundays at 02:00"#
    );
    assert_eq!(
        cron_error("0 0 2 * * 0"),
        r#"schedule "0 0 2 * * 0" is not a cron expression: it has 6 fields: write 5 fields (minute hour day-of-month month day-of-week), like "0 2 * * 0" for Sundays at 02:00; seconds and years are not supported"#
    );
    assert!(cron_error("0 0 2 * * 0 2026").contains("it has 7 fields"));
    assert!(cron_error("").contains("it has 0 fields"));
    assert!(cron_error("   ").contains("it has 0 fields"));
}

#[test]
fn zone_prefixes_are_refused() {
    for cron in ["TZ=Europe/Berlin 0 2 * * *", "CRON_TZ=UTC 0 2 * * *"] {
        assert_eq!(
            cron_error(cron),
            format!("schedule {cron:?} is not a cron expression: set the time zone in timeZone, not in schedule")
        );
    }
}

#[test]
fn out_of_range_values_name_their_field() {
    for (cron, reason) in [
        (
            "61 * * * *",
            r#"minute field "61" has 61, out of range: write a number from 0 to 59"#,
        ),
        (
            "0 24 * * *",
            r#"hour field "24" has 24, out of range: write a number from 0 to 23"#,
        ),
        (
            "0 0 0 * *",
            r#"day-of-month field "0" has 0, out of range: write a number from 1 to 31"#,
        ),
        (
            "0 0 32 * *",
            r#"day-of-month field "32" has 32, out of range: write a number from 1 to 31"#,
        ),
        (
            "0 0 * 13 *",
            r#"month field "13" has 13, out of range: write a number from 1 to 12 or a name like JAN"#,
        ),
        (
            "0 0 * * 1,8",
            r#"day-of-week field "1,8" has 8, out of range: write a number from 0 to 7 (0 and 7 are Sunday) or a name like MON"#,
        ),
        (
            "99999999999 * * * *",
            r#"minute field "99999999999" has 99999999999, out of range: write a number from 0 to 59"#,
        ),
        (
            "1-60/5 * * * *",
            r#"minute field "1-60/5" has 60, out of range: write a number from 0 to 59"#,
        ),
    ] {
        assert_eq!(
            cron_error(cron),
            format!("schedule {cron:?} is not a cron expression: {reason}")
        );
    }
}

#[test]
fn malformed_fields_name_their_field() {
    for (cron, field, text) in [
        ("x * * * *", "minute", "x"),
        ("MON 0 * * *", "minute", "MON"),
        ("? 0 * * *", "minute", "?"),
        ("/5 * * * *", "minute", "/5"),
        ("*/ * * * *", "minute", "*/"),
        ("*/-1 * * * *", "minute", "*/-1"),
        ("1,,2 * * * *", "minute", "1,,2"),
        ("1, * * * *", "minute", "1,"),
        ("1-2-3 * * * *", "minute", "1-2-3"),
        ("+1 * * * *", "minute", "+1"),
        ("0 0 L * *", "day-of-month", "L"),
        ("0 0 15W * *", "day-of-month", "15W"),
        ("0 0 * * 5L", "day-of-week", "5L"),
        ("0 0 * * 1#2", "day-of-week", "1#2"),
        ("0 0 * * +1", "day-of-week", "+1"),
        ("0 0 * JANUARY *", "month", "JANUARY"),
        ("0 0 * MON *", "month", "MON"),
        // Only ASCII whitespace separates fields, as in the CRD's pattern (Go's `\s`): a no-break space made 5
        // fields for the API server and 6 here (tests/input_properties.rs checks that the two split alike).
        ("0 2 * * 0\u{a0}1", "day-of-week", "0\u{a0}1"),
        ("0\u{2003}2 * * * *", "minute", "0\u{2003}2"),
    ] {
        let error = cron_error(cron);
        let expected = format!("schedule {cron:?} is not a cron expression: {field} field {text:?} is not valid:");
        assert!(error.starts_with(&expected), "{cron}: {error}");
    }
    assert_eq!(
        cron_error("0 0 L * *"),
        r#"schedule "0 0 L * *" is not a cron expression: day-of-month field "L" is not valid: write *, a number from 1 to 31, a range like 1-5, a list like 1,3 or a step like */10"#
    );
}

#[test]
fn backwards_ranges_and_zero_steps_are_refused() {
    assert_eq!(
        cron_error("0 0 5-3 * *"),
        r#"schedule "0 0 5-3 * *" is not a cron expression: day-of-month field "5-3" has the range 5-3, which runs backwards: write the smaller value first"#
    );
    assert!(cron_error("0 0 * * SAT-MON").contains("has the range 6-1, which runs backwards"));
    assert_eq!(
        cron_error("*/0 * * * *"),
        r#"schedule "*/0 * * * *" is not a cron expression: minute field "*/0" has a step of 0: write 1 or more, like */10"#
    );
}

#[test]
fn huge_steps_select_only_the_first_value() {
    let s = schedule("*/90 0/99999999999 * * *", "UTC", "1h");
    assert_eq!(
        starts(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-01-02T00:00:00+00:00[UTC]", "2026-01-03T00:00:00+00:00[UTC]"]
    );
}

#[test]
fn impossible_dates_are_refused() {
    for cron in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 FEB ?"] {
        assert_eq!(
            cron_error(cron),
            format!("schedule {cron:?} never matches a real date (like 30 February): change its day-of-month or month")
        );
    }
}

#[test]
fn rare_but_real_dates_are_accepted() {
    let leap = schedule("0 0 29 2 *", "UTC", "1h");
    assert_eq!(
        starts(&leap, "2026-01-01T00:00:00Z", 2),
        ["2028-02-29T00:00:00+00:00[UTC]", "2032-02-29T00:00:00+00:00[UTC]"]
    );
    // 2100 is not a leap year.
    assert_eq!(
        starts(&leap, "2096-03-01T00:00:00Z", 1),
        ["2104-02-29T00:00:00+00:00[UTC]"]
    );
    // A weekday alone is enough to match, so this is every Monday in February.
    let monday = schedule("0 0 30 2 1", "UTC", "1h");
    assert_eq!(
        starts(&monday, "2026-01-01T00:00:00Z", 1),
        ["2026-02-02T00:00:00+00:00[UTC]"]
    );
}

#[test]
fn unknown_time_zones_are_refused() {
    for zone in [
        "Mars/Olympus",
        "",
        "Local",
        "Etc/Unknown",
        "CEST",
        "+02:00",
        "../../etc/passwd",
    ] {
        assert_eq!(
            Schedule::parse("0 2 * * *", zone, "3h").unwrap_err(),
            ScheduleError::BadTimeZone { zone: zone.into() },
            "{zone:?}"
        );
    }
    assert_eq!(
        Schedule::parse("0 2 * * *", "Mars/Olympus", "3h")
            .unwrap_err()
            .to_string(),
        r#"timeZone "Mars/Olympus" is not an IANA time zone: write a name like Europe/Berlin, America/New_York or UTC"#
    );
}

#[test]
fn iana_zones_are_accepted() {
    for zone in [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Etc/GMT+5",
        "europe/berlin",
    ] {
        assert!(Schedule::parse("0 2 * * *", zone, "3h").is_ok(), "{zone}");
    }
    let s = schedule("0 2 * * *", "Europe/Berlin", "3h");
    assert_eq!(s.time_zone().iana_name(), Some("Europe/Berlin"));
    assert_eq!(s.duration(), Duration::from_secs(3 * 3600));
}

#[test]
fn bad_durations_name_the_field() {
    assert_eq!(
        Schedule::parse("0 2 * * *", "UTC", "3 hours").unwrap_err().to_string(),
        r#"duration "3 hours" is not a duration: write it like 2h or 90m"#
    );
    assert_eq!(
        Schedule::parse("0 2 * * *", "UTC", "0s").unwrap_err().to_string(),
        r#"duration "0s" is not positive: write a duration longer than zero, like 2h"#
    );
}

// Windows

#[test]
fn windows_open_at_start_and_close_at_end() {
    let s = schedule("0 2 * * 0", "UTC", "3h");
    let w = window("2026-12-06T02:00:00Z", "2026-12-06T05:00:00Z");
    assert_eq!(s.open_window(ts("2026-12-06T01:59:59.999999999Z")), None);
    assert_eq!(s.open_window(ts("2026-12-06T02:00:00Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-12-06T04:59:59.999999999Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-12-06T05:00:00Z")), None);
    assert_eq!(s.open_window(ts("2026-12-09T00:00:00Z")), None);
}

#[test]
fn next_window_is_strictly_after_now() {
    let s = schedule("0 2 * * 0", "UTC", "3h");
    let this = window("2026-12-06T02:00:00Z", "2026-12-06T05:00:00Z");
    let next = window("2026-12-13T02:00:00Z", "2026-12-13T05:00:00Z");
    assert_eq!(s.next_window(ts("2026-12-06T01:59:59.999999999Z")), Some(this));
    assert_eq!(s.next_window(ts("2026-12-06T02:00:00Z")), Some(next));
    assert_eq!(s.next_window(ts("2026-12-06T02:00:00.000000001Z")), Some(next));
    assert_eq!(s.next_window(ts("2026-12-10T00:00:00Z")), Some(next));
}

#[test]
fn overlapping_windows_the_latest_start_wins() {
    let s = schedule("0 * * * *", "UTC", "2h");
    // 10:30 is in the 09:00 and the 10:00 window; the 10:00 one is open.
    assert_eq!(
        s.open_window(ts("2026-06-01T10:30:00Z")),
        Some(window("2026-06-01T10:00:00Z", "2026-06-01T12:00:00Z"))
    );
    assert_eq!(
        s.open_window(ts("2026-06-01T11:00:00Z")),
        Some(window("2026-06-01T11:00:00Z", "2026-06-01T13:00:00Z"))
    );
}

// Overlapping windows

fn overlap(cron: &str, zone: &str, duration: &str, from: &str) -> Option<(String, String)> {
    let s = schedule(cron, zone, duration);
    s.first_overlap(ts(from)).map(|(a, b)| {
        (
            a.start_in(s.time_zone()).to_string(),
            b.start_in(s.time_zone()).to_string(),
        )
    })
}

#[test]
fn windows_longer_than_the_time_between_starts_overlap() {
    let from = "2026-06-01T10:30:00Z";
    assert_eq!(
        overlap("*/1 * * * *", "UTC", "2h", from),
        Some((
            "2026-06-01T10:30:00+00:00[UTC]".into(),
            "2026-06-01T10:31:00+00:00[UTC]".into()
        )),
        "from the window open now"
    );
    assert_eq!(
        overlap("0 * * * *", "UTC", "1h", from),
        None,
        "back to back is not overlap"
    );
    assert_eq!(
        overlap("0 * * * *", "UTC", "61m", from).map(|(a, _)| a),
        Some("2026-06-01T10:00:00+00:00[UTC]".into())
    );
    assert_eq!(overlap("0 2 * * 0", "Europe/Berlin", "3h", from), None);
    assert_eq!(
        overlap("* * * * *", "UTC", "59s", from),
        None,
        "10,000 starts looked at, quickly"
    );
    // Uneven gaps: 00:00 and 00:10, then 23h50m.
    assert_eq!(
        overlap("0,10 0 * * *", "UTC", "11m", from),
        Some((
            "2026-06-02T00:00:00+00:00[UTC]".into(),
            "2026-06-02T00:10:00+00:00[UTC]".into()
        ))
    );
    // The 31st and the 1st: a day apart only after months of 31 days.
    assert_eq!(
        overlap("0 0 1,31 * *", "UTC", "25h", "2026-06-02T00:00:00Z").map(|(a, _)| a),
        Some("2026-07-31T00:00:00+00:00[UTC]".into())
    );
}

#[test]
fn overlap_when_the_clocks_go_forward() {
    // 01:30 to 03:30 is two hours, except on 2027-03-28 in Berlin, where it is one: found months ahead.
    assert_eq!(
        overlap("30 1,3 * * *", "Europe/Berlin", "90m", "2026-06-01T00:00:00Z"),
        Some((
            "2027-03-28T01:30:00+01:00[Europe/Berlin]".into(),
            "2027-03-28T03:30:00+02:00[Europe/Berlin]".into()
        ))
    );
    assert_eq!(overlap("30 1,3 * * *", "UTC", "90m", "2026-06-01T00:00:00Z"), None);
}

#[test]
fn an_overlap_is_refused_naming_the_cron_the_gap_and_the_duration() {
    let s = schedule("*/1 * * * *", "UTC", "2h");
    let error = s
        .check_overlap(" */1 * * * * ", "2h", ts("2026-06-01T10:30:20Z"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "schedule \"*/1 * * * *\" opens windows as little as 1m apart (first on 2026-06-01) but duration 2h \
         keeps each open longer, so a window would open while the one before still holds nodes: make duration \
         shorter than 1m, or the starts further apart"
    );
    assert_eq!(
        schedule("0 2 * * 0", "UTC", "3h").check_overlap("0 2 * * 0", "3h", ts("2026-06-01T10:30:20Z")),
        Ok(())
    );
}

#[test]
fn monthly_windows() {
    let day = schedule("0 3 1 * *", "UTC", "24h");
    assert_eq!(
        day.open_window(ts("2026-07-01T10:00:00Z")),
        Some(window("2026-07-01T03:00:00Z", "2026-07-02T03:00:00Z"))
    );
    assert_eq!(day.open_window(ts("2026-07-15T10:00:00Z")), None);
    assert_eq!(
        day.next_window(ts("2026-07-15T10:00:00Z")),
        Some(window("2026-08-01T03:00:00Z", "2026-08-02T03:00:00Z"))
    );
    // Over New Year.
    assert_eq!(
        day.open_window(ts("2027-01-01T02:59:59Z")),
        None,
        "December's window closed on 2 December"
    );
    assert_eq!(
        day.next_window(ts("2026-12-31T23:00:00Z")),
        Some(window("2027-01-01T03:00:00Z", "2027-01-02T03:00:00Z"))
    );
    // 400h is 16 days and 16 hours: the window found by searching back half a month.
    let long = schedule("0 3 1 * *", "UTC", "400h");
    assert_eq!(
        long.open_window(ts("2026-07-15T10:00:00Z")),
        Some(window("2026-07-01T03:00:00Z", "2026-07-17T19:00:00Z"))
    );
    // The 31st: months without one are skipped, back and forth.
    let last = schedule("0 3 31 * *", "UTC", "1000h");
    assert_eq!(
        last.open_window(ts("2026-05-15T00:00:00Z")),
        None,
        "March's closed on 11 May"
    );
    assert_eq!(
        last.open_window(ts("2026-05-01T00:00:00Z")),
        Some(window("2026-03-31T03:00:00Z", "2026-05-11T19:00:00Z"))
    );
    assert_eq!(
        last.next_window(ts("2026-04-01T00:00:00Z")),
        Some(window("2026-05-31T03:00:00Z", "2026-07-11T19:00:00Z"))
    );
}

#[test]
fn yearly_window_searches_back_a_year() {
    let s = schedule("@yearly", "Europe/Berlin", "8760h");
    assert_eq!(
        s.open_window(ts("2026-12-30T00:00:00Z")),
        Some(window("2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z"))
    );
}

#[test]
fn a_window_ending_past_year_9999_never_ends() {
    let s = schedule("0 0 1 1 *", "UTC", "2562047h");
    let w = s.occurrence(ts("9999-01-01T00:00:00Z"));
    assert_eq!(w.end, Timestamp::MAX);
    // croner searches no further than the year 5000.
    assert_eq!(
        s.next_window(ts("4999-06-01T00:00:00Z")).map(|w| w.start),
        Some(ts("5000-01-01T00:00:00Z"))
    );
    assert_eq!(s.next_window(ts("5000-06-01T00:00:00Z")), None);
}

#[test]
fn zoned_schedule_across_midnight_utc() {
    // Sunday 22:00 in New York is Monday 03:00 UTC in winter: the weekday is the zone's, not UTC's.
    let s = schedule("0 22 * * SUN", "America/New_York", "3h");
    let w = window("2026-12-07T03:00:00Z", "2026-12-07T06:00:00Z");
    assert_eq!(s.next_window(ts("2026-12-06T12:00:00Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-12-07T04:00:00Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-12-07T02:59:59Z")), None);
    assert_eq!(
        w.start_in(s.time_zone()).to_string(),
        "2026-12-06T22:00:00-05:00[America/New_York]"
    );
    assert_eq!(w.id(), "20261207t030000z");
    // Monday 00:00 in Berlin is Sunday 23:00 UTC in winter, Sunday 22:00 UTC in summer.
    let s = schedule("0 0 * * MON", "Europe/Berlin", "1h");
    assert_eq!(
        s.next_window(ts("2026-12-06T12:00:00Z")),
        Some(window("2026-12-06T23:00:00Z", "2026-12-07T00:00:00Z"))
    );
    assert_eq!(
        s.next_window(ts("2026-06-07T12:00:00Z")),
        Some(window("2026-06-07T22:00:00Z", "2026-06-07T23:00:00Z"))
    );
    assert_eq!(
        s.open_window(ts("2026-06-07T22:30:00Z")),
        Some(window("2026-06-07T22:00:00Z", "2026-06-07T23:00:00Z"))
    );
}

// Daylight saving: Europe/Berlin goes 02:00 CET -> 03:00 CEST on 2026-03-29 (01:00 UTC) and 03:00 CEST ->
// 02:00 CET on 2026-10-25 (01:00 UTC); America/New_York goes 02:00 EST -> 03:00 EDT on 2026-03-08 (07:00 UTC)
// and 02:00 EDT -> 01:00 EST on 2026-11-01 (06:00 UTC).

#[test]
fn a_start_the_clocks_skip_opens_when_they_land() {
    let s = schedule("30 2 * * *", "Europe/Berlin", "3h");
    let w = window("2026-03-29T01:00:00Z", "2026-03-29T04:00:00Z");
    assert_eq!(
        starts(&s, "2026-03-28T12:00:00Z", 2),
        [
            "2026-03-29T03:00:00+02:00[Europe/Berlin]",
            "2026-03-30T02:30:00+02:00[Europe/Berlin]"
        ]
    );
    assert_eq!(s.next_window(ts("2026-03-29T00:59:59Z")), Some(w));
    assert_eq!(
        s.open_window(ts("2026-03-29T00:59:59Z")),
        None,
        "the 28th's closed at 04:30 UTC"
    );
    assert_eq!(s.open_window(ts("2026-03-29T01:00:00Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-03-29T03:59:59Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-03-29T04:00:00Z")), None);
    assert_eq!(w.id(), "20260329t010000z");

    let ny = schedule("30 2 * * SUN", "America/New_York", "1h");
    assert_eq!(
        ny.next_window(ts("2026-03-08T00:00:00Z")),
        Some(window("2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"))
    );
}

#[test]
fn skipped_starts_of_multi_time_expressions_are_not_lost() {
    // croner alone would drop 02:00 here, because the expression has two hours.
    let s = schedule("0 2,14 * * *", "Europe/Berlin", "1h");
    assert_eq!(
        starts(&s, "2026-03-28T12:00:00Z", 3),
        [
            "2026-03-28T14:00:00+01:00[Europe/Berlin]",
            "2026-03-29T03:00:00+02:00[Europe/Berlin]",
            "2026-03-29T14:00:00+02:00[Europe/Berlin]",
        ]
    );
    // Every skipped time opens at 03:00, which is also a start of its own: one window.
    let s = schedule("*/30 * * * *", "Europe/Berlin", "10m");
    assert_eq!(
        starts(&s, "2026-03-29T00:00:00Z", 4),
        [
            "2026-03-29T01:30:00+01:00[Europe/Berlin]",
            "2026-03-29T03:00:00+02:00[Europe/Berlin]",
            "2026-03-29T03:30:00+02:00[Europe/Berlin]",
            "2026-03-29T04:00:00+02:00[Europe/Berlin]",
        ]
    );
    assert_eq!(
        s.open_window(ts("2026-03-29T01:05:00Z")),
        Some(window("2026-03-29T01:00:00Z", "2026-03-29T01:10:00Z"))
    );
}

#[test]
fn a_window_over_the_repeated_hour_lasts_its_real_duration() {
    let s = schedule("0 2 * * *", "Europe/Berlin", "3h");
    // 02:00 CEST + 3h = 04:00 CET: the clocks show only 2 hours later.
    let w = window("2026-10-25T00:00:00Z", "2026-10-25T03:00:00Z");
    assert_eq!(s.next_window(ts("2026-10-24T12:00:00Z")), Some(w));
    assert_eq!(
        w.start_in(s.time_zone()).to_string(),
        "2026-10-25T02:00:00+02:00[Europe/Berlin]"
    );
    assert_eq!(
        w.end_in(s.time_zone()).to_string(),
        "2026-10-25T04:00:00+01:00[Europe/Berlin]"
    );
    assert_eq!(s.open_window(ts("2026-10-25T02:59:59Z")), Some(w));
    assert_eq!(s.open_window(ts("2026-10-25T03:00:00Z")), None);
    // 02:00 CET, an hour after the start, opens no second window.
    assert_eq!(s.open_window(ts("2026-10-25T01:00:00Z")), Some(w));
    assert_eq!(
        s.next_window(ts("2026-10-25T01:00:00Z")),
        Some(window("2026-10-26T01:00:00Z", "2026-10-26T04:00:00Z"))
    );
}

#[test]
fn a_repeated_start_opens_once_at_its_first_occurrence() {
    let s = schedule("30 2 * * *", "Europe/Berlin", "30m");
    let first = window("2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z"); // 02:30 CEST
    let tomorrow = window("2026-10-26T01:30:00Z", "2026-10-26T02:00:00Z"); // 02:30 CET
    assert_eq!(s.next_window(ts("2026-10-24T12:00:00Z")), Some(first));
    assert_eq!(s.next_window(ts("2026-10-25T00:30:00Z")), Some(tomorrow));
    // In the second pass (02:10 and 02:40 CET), 02:30 already had its window.
    assert_eq!(s.next_window(ts("2026-10-25T01:10:00Z")), Some(tomorrow));
    assert_eq!(s.open_window(ts("2026-10-25T01:10:00Z")), None);
    assert_eq!(s.open_window(ts("2026-10-25T01:30:00Z")), None);
    assert_eq!(s.open_window(ts("2026-10-25T01:40:00Z")), None);
    let long = schedule("30 2 * * *", "Europe/Berlin", "3h");
    assert_eq!(
        long.open_window(ts("2026-10-25T01:40:00Z")),
        Some(window("2026-10-25T00:30:00Z", "2026-10-25T03:30:00Z"))
    );

    // Two hours a day, both in the repeated hour once: still one window each.
    let twice = schedule("30 2,14 * * *", "Europe/Berlin", "1h");
    assert_eq!(
        starts(&twice, "2026-10-24T20:00:00Z", 3),
        [
            "2026-10-25T02:30:00+02:00[Europe/Berlin]",
            "2026-10-25T14:30:00+01:00[Europe/Berlin]",
            "2026-10-26T02:30:00+01:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn a_start_before_the_repeated_hour_opens_once() {
    let s = schedule("30 1 * * *", "Europe/Berlin", "3h");
    assert_eq!(
        starts(&s, "2026-10-24T12:00:00Z", 2),
        [
            "2026-10-25T01:30:00+02:00[Europe/Berlin]",
            "2026-10-26T01:30:00+01:00[Europe/Berlin]"
        ]
    );
    // New York repeats 01:00-02:00: 01:30 EDT only.
    let ny = schedule("30 1 * * *", "America/New_York", "3h");
    let w = window("2026-11-01T05:30:00Z", "2026-11-01T08:30:00Z");
    assert_eq!(ny.next_window(ts("2026-11-01T00:00:00Z")), Some(w));
    assert_eq!(ny.open_window(ts("2026-11-01T06:30:00Z")), Some(w), "01:30 EST");
    assert_eq!(
        ny.next_window(ts("2026-11-01T06:30:00Z")),
        Some(window("2026-11-02T06:30:00Z", "2026-11-02T09:30:00Z"))
    );
}

#[test]
fn hourly_windows_skip_the_repeated_hour() {
    let s = schedule("0 * * * *", "Europe/Berlin", "30m");
    assert_eq!(
        starts(&s, "2026-10-24T22:30:00Z", 4),
        [
            "2026-10-25T01:00:00+02:00[Europe/Berlin]",
            "2026-10-25T02:00:00+02:00[Europe/Berlin]",
            "2026-10-25T03:00:00+01:00[Europe/Berlin]",
            "2026-10-25T04:00:00+01:00[Europe/Berlin]",
        ]
    );
    // Ids stay distinct and in order, whatever the local times do.
    let ids: Vec<String> = (0..4)
        .scan(ts("2026-10-24T22:30:00Z"), |now, _| {
            let next = s.next_window(*now)?;
            *now = next.start;
            Some(next.id())
        })
        .collect();
    assert_eq!(
        ids,
        [
            "20261024t230000z",
            "20261025t000000z",
            "20261025t020000z",
            "20261025t030000z"
        ]
    );
}

/// Every window start from `from` for `days` days, found the slow way: each wall-clock minute that matches,
/// mapped to its instant.
fn brute_force_starts(s: &Schedule, from: DateTime, days: i64) -> Vec<Timestamp> {
    let mut out: Vec<Timestamp> = Vec::new();
    let mut wall = from;
    let end = from.checked_add(jiff::Span::new().days(days)).unwrap();
    while wall < end {
        if s.cron.is_time_matching(&wall).unwrap() {
            let start = s.instant(wall).unwrap();
            if out.last() != Some(&start) {
                out.push(start);
            }
        }
        wall = wall.checked_add(jiff::Span::new().minutes(1)).unwrap();
    }
    assert!(out.windows(2).all(|w| w[0] < w[1]), "starts not increasing: {out:?}");
    out
}

#[test]
fn searches_agree_with_brute_force_around_clock_changes() {
    let days: [(&str, &str); 4] = [
        ("Europe/Berlin", "2026-03-28T12:00"),
        ("Europe/Berlin", "2026-10-24T12:00"),
        ("America/New_York", "2026-03-07T12:00"),
        ("America/New_York", "2026-10-31T12:00"),
    ];
    let crons = [
        "0 2 * * *",
        "30 2 * * *",
        "0 3 * * *",
        "30 1 * * *",
        "*/20 * * * *",
        "0 2,14 * * *",
        "59 1,2 * * *",
    ];
    for (zone, from) in days {
        for cron in crons {
            let s = schedule(cron, zone, "45m");
            let from: DateTime = from.parse().unwrap();
            let all = brute_force_starts(&s, from, 2);
            let first = from.to_zoned(s.zone.clone()).unwrap().timestamp();
            // Every 5 minutes, plus a nanosecond either side of every start and end, over the middle day
            // (so that the brute force has every start that matters).
            let mut nows: Vec<Timestamp> = (0..(24 * 12))
                .map(|i| first + SignedDuration::from_hours(12) + SignedDuration::from_mins(5 * i))
                .collect();
            for &start in &all {
                for t in [start, start + SignedDuration::from_mins(45)] {
                    nows.extend([t - SignedDuration::from_nanos(1), t, t + SignedDuration::from_nanos(1)]);
                }
            }
            let last = first + SignedDuration::from_hours(36);
            for now in nows
                .into_iter()
                .filter(|now| *now >= first + SignedDuration::from_hours(12) && *now < last)
            {
                let latest = all.iter().rev().find(|start| **start <= now).copied();
                let open = latest.map(|start| s.occurrence(start)).filter(|w| w.end > now);
                assert_eq!(s.open_window(now), open, "{cron} {zone} open at {now}");
                let next = all.iter().find(|start| **start > now).map(|start| s.occurrence(*start));
                assert_eq!(s.next_window(now), next, "{cron} {zone} next after {now}");
            }
        }
    }
}

#[test]
fn id_is_the_utc_start() {
    let s = schedule("0 2 * * SUN", "Europe/Berlin", "3h");
    let w = s.next_window(ts("2026-12-01T00:00:00Z")).unwrap();
    assert_eq!(w.id(), "20261206t010000z");
    assert_eq!(
        w.start_in(s.time_zone()).to_string(),
        "2026-12-06T02:00:00+01:00[Europe/Berlin]"
    );
    assert_eq!(w.start_in(&TimeZone::UTC).to_string(), "2026-12-06T01:00:00+00:00[UTC]");
}

// Budget

fn int(n: i32) -> IntOrString {
    IntOrString::Int(n)
}

fn text(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

#[test]
fn a_count_is_the_budget() {
    assert_eq!(budget(&int(1), 10), Ok(1));
    assert_eq!(budget(&int(3), 10), Ok(3));
    assert_eq!(budget(&int(30), 10), Ok(30));
    assert_eq!(budget(&int(2), 0), Ok(2));
}

#[test]
fn a_percent_rounds_down_but_takes_at_least_one_node() {
    assert_eq!(budget(&text("10%"), 100), Ok(10));
    assert_eq!(budget(&text("10%"), 19), Ok(1));
    assert_eq!(budget(&text("10%"), 20), Ok(2));
    assert_eq!(budget(&text("10%"), 5), Ok(1));
    assert_eq!(budget(&text("1%"), 1), Ok(1));
    assert_eq!(budget(&text("50%"), 3), Ok(1));
    assert_eq!(budget(&text("100%"), 7), Ok(7));
    assert_eq!(budget(&text("010%"), 100), Ok(10));
    assert_eq!(budget(&text("10%"), 0), Ok(0), "no node selected, none to take");
}

#[test]
fn zero_and_negative_budgets_are_refused() {
    for (value, shown) in [(int(0), "0"), (int(-1), "-1"), (text("0%"), "0%"), (text("00%"), "00%")] {
        let error = budget(&value, 10).unwrap_err();
        assert_eq!(error, ScheduleError::ZeroMaxUnavailable { value: shown.into() });
    }
    assert_eq!(
        budget(&int(0), 10).unwrap_err().to_string(),
        "maxUnavailable 0 would never let a node be maintained: write at least 1 or 1%"
    );
}

#[test]
fn malformed_budgets_are_refused() {
    for value in [
        "10",
        "101%",
        "-10%",
        "+10%",
        "10.5%",
        " 10%",
        "10 %",
        "%",
        "",
        "ten%",
        "99999999999999999999999%",
    ] {
        assert_eq!(
            budget(&text(value), 10),
            Err(ScheduleError::BadMaxUnavailable { value: value.into() }),
            "{value:?}"
        );
    }
    assert_eq!(
        budget(&text("10"), 10).unwrap_err().to_string(),
        r#"maxUnavailable "10" is not a count or a percent: write a count like 1 or a percent from 1% to 100%"#
    );
}

// Picking

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn input(selected: &[&str], budget: usize) -> PickInput {
    PickInput {
        selected: names(selected),
        budget,
        window_open: true,
        ..PickInput::default()
    }
}

#[test]
fn picks_in_name_order_up_to_the_budget() {
    assert_eq!(pick(&input(&["c", "a", "b"], 1)), ["a"]);
    assert_eq!(pick(&input(&["c", "a", "b"], 2)), ["a", "b"]);
    assert_eq!(pick(&input(&["c", "a", "b"], 10)), ["a", "b", "c"]);
    assert_eq!(pick(&input(&[], 1)), Vec::<String>::new());
}

#[test]
fn picks_nothing_once_the_window_closes() {
    let closed = PickInput {
        window_open: false,
        ..input(&["a", "b"], 2)
    };
    assert!(pick(&closed).is_empty());
}

#[test]
fn skips_done_busy_and_excluded_nodes() {
    let i = PickInput {
        done: names(&["a"]),
        excluded: names(&["c"]),
        busy: names(&["b"]),
        ..input(&["a", "b", "c", "d", "e", "f"], 3)
    };
    // b takes one of the three.
    assert_eq!(pick(&i), ["d", "e"]);
}

#[test]
fn busy_selected_nodes_use_up_the_budget() {
    let i = PickInput {
        busy: names(&["x", "y"]),
        ..input(&["a", "x", "y"], 2)
    };
    assert!(pick(&i).is_empty());
    let over = PickInput {
        busy: names(&["x", "y"]),
        ..input(&["a", "x", "y"], 1)
    };
    assert!(pick(&over).is_empty(), "more busy than the budget");
}

#[test]
fn busy_excluded_and_done_nodes_still_count_if_selected() {
    // c is excluded and NotReady, a finished but is NotReady: both unavailable.
    let i = PickInput {
        done: names(&["a"]),
        excluded: names(&["c"]),
        busy: names(&["a", "c"]),
        ..input(&["a", "b", "c", "d"], 3)
    };
    assert_eq!(pick(&i), ["b"]);
}

#[test]
fn busy_nodes_outside_the_selection_do_not_count() {
    let i = PickInput {
        busy: names(&["other-1", "other-2"]),
        ..input(&["a", "b"], 1)
    };
    assert_eq!(pick(&i), ["a"]);
}
