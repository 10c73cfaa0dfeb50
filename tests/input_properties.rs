//! Property tests over every text a user gives drydock: durations (window.duration, drain.timeout, a schedule's
//! duration, the CLI's --duration and --timeout), RFC 3339 times (window.start/end), cron expressions and time
//! zone names (MaintenanceSchedule), maxUnavailable, taint keys and values, node names, and the CLI's label
//! selectors, labels and names.
//!
//! Three kinds of property:
//! - nothing panics, whatever the text;
//! - a generated valid value parses to the value it was generated from (round trip, against a reference written
//!   here independently, e.g. a line-by-line port of Go's `time.ParseDuration`, which the CRD's CEL rules use);
//! - where the CRD says something about the same field (an OpenAPI pattern, a length, a CEL rule), the Rust
//!   parser and the schema agree: what the API server accepts, drydock can read and act on, and what drydock's
//!   CLI accepts, the API server accepts. The patterns are read from the CRDs drydock generates (`drydock crd`),
//!   so a schema change is checked too.
//!
//! Failing cases are saved in proptest-regressions/input_properties.txt and replayed first on every run.
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use drydock::{
    api::v1alpha1::{DrainSpec, MaintenanceSchedule, NodeMaintenance},
    cli::args,
    plan::{
        names::scheduled_maintenance,
        node::taint_value,
        pods,
        schedule::{self, Schedule, ScheduleError},
        window::{self, WindowError},
    },
};
use jiff::{Timestamp, civil, tz::TimeZone};
use k8s_openapi::apimachinery::pkg::{
    apis::meta::v1::{LabelSelector, Time},
    util::intstr::IntOrString,
};
use kube::{
    CustomResourceExt,
    core::{Selector, SelectorExt},
};
use proptest::prelude::*;
use regex::Regex;
use serde_json::Value;

/// Cases per property: enough to find the bugs these found, fast enough for `make unit` (a debug build).
const CASES: u32 = 512;

fn config(cases: u32) -> ProptestConfig {
    common::config(
        cases,
        concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/input_properties.txt"),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// The schema, as the API server sees it.

/// The spec schema of a CRD, as generated.
fn spec_schema(crd: impl serde::Serialize) -> Value {
    let crd = serde_json::to_value(crd).expect("crd json");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
}

/// The schema of `path` ("window.duration", "taints[].key") under a spec schema.
fn field(spec: &Value, path: &str) -> Value {
    let mut at = spec.clone();
    for part in path.split('.') {
        let (name, array) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        at = at["properties"][name].clone();
        assert!(!at.is_null(), "no field {path} in the CRD");
        if array {
            at = at["items"].clone();
        }
    }
    at
}

static NM_SPEC: LazyLock<Value> = LazyLock::new(|| spec_schema(NodeMaintenance::crd()));
static MS_SPEC: LazyLock<Value> = LazyLock::new(|| spec_schema(MaintenanceSchedule::crd()));

fn nm_field(path: &str) -> Value {
    field(&NM_SPEC, path)
}

fn ms_field(path: &str) -> Value {
    field(&MS_SPEC, path)
}

/// A schema's `pattern`, compiled with Go's meaning: the API server matches patterns with Go's regexp (RE2),
/// where `\s` is ASCII whitespace only, while the regex crate's `\s` is Unicode's.
fn go_pattern(schema: &Value) -> Regex {
    go_regex(schema["pattern"].as_str().expect("a pattern in the schema"))
}

/// A regex as Go's regexp (RE2, which CEL's `matches` uses too) reads it.
fn go_regex(pattern: &str) -> Regex {
    static COMPILED: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Mutex::default);
    let mut compiled = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| {
            let go = pattern
                .replace(r"\S", r"[^\t\n\f\r ]")
                .replace(r"\s", r"[\t\n\f\r ]")
                .replace(r"\d", "[0-9]");
            Regex::new(&go).expect("the CRD's pattern compiles")
        })
        .clone()
}

/// Whether `text` passes the schema's minLength/maxLength, which the API server counts in characters (runes).
fn length_ok(schema: &Value, text: &str) -> bool {
    let n = text.chars().count() as u64;
    schema["minLength"].as_u64().is_none_or(|min| n >= min) && schema["maxLength"].as_u64().is_none_or(|max| n <= max)
}

/// The regex of a schema's CEL rule `self.matches('...')` (or the raw string form `r'...'`).
fn rule_regex(schema: &Value) -> Regex {
    let rule = rules(schema)
        .into_iter()
        .find(|r| r.starts_with("self.matches("))
        .expect("a self.matches rule");
    let inner = rule
        .strip_prefix("self.matches(r'")
        .or_else(|| rule.strip_prefix("self.matches('"))
        .and_then(|r| r.strip_suffix("')"))
        .expect("one quoted regex");
    go_regex(inner)
}

/// The CEL rules of a schema.
fn rules(schema: &Value) -> Vec<String> {
    schema["x-kubernetes-validations"]
        .as_array()
        .map(|rs| rs.iter().filter_map(|r| r["rule"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------------------------
// Durations.

/// Go's `time.ParseDuration` (go1.22 src/time/format.go), ported line by line: the CEL function `duration()`
/// the CRD's rules call is this function. In nanoseconds; None where Go returns an error.
fn go_parse_duration(text: &str) -> Option<i64> {
    const OVER: u64 = 1 << 63;
    let mut s = text.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let (mut v, mut f, mut scale) = (0u64, 0u64, 1f64);
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return None;
        }
        // leadingInt
        let before = s.len();
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > OVER / 10 {
                return None;
            }
            v = v * 10 + u64::from(s[i] - b'0');
            if v > OVER {
                return None;
            }
            i += 1;
        }
        s = &s[i..];
        let pre = before != s.len();
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            // leadingFraction: stops accumulating precision on overflow, never fails
            let before = s.len();
            let mut i = 0;
            let mut overflow = false;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if f > (OVER - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[i] - b'0');
                        if y > OVER {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            s = &s[i..];
            post = before != s.len();
        }
        if !pre && !post {
            return None;
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return None;
        }
        let unit: u64 = match &s[..unit_len] {
            b"ns" => 1,
            b"us" => 1_000,
            u if u == "\u{00b5}s".as_bytes() || u == "\u{03bc}s".as_bytes() => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        s = &s[unit_len..];
        if v > OVER / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > OVER {
                return None;
            }
        }
        d += v;
        if d > OVER {
            return None;
        }
    }
    if neg {
        return Some((d as i64).wrapping_neg());
    }
    if d > OVER - 1 {
        return None;
    }
    Some(d as i64)
}

/// Every duration field of both CRDs: (where, schema).
fn duration_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("NodeMaintenance spec.window.duration", nm_field("window.duration")),
        ("NodeMaintenance spec.drain.timeout", nm_field("drain.timeout")),
        ("MaintenanceSchedule spec.duration", ms_field("duration")),
        (
            "MaintenanceSchedule spec.template.drain.timeout",
            ms_field("template.drain.timeout"),
        ),
    ]
}

/// What the API server decides about a duration field: its pattern, and its CEL rule
/// `duration(self) > duration('0s')` (a text Go cannot parse is an error, which refuses the object too).
fn schema_accepts_duration(schema: &Value, text: &str) -> bool {
    go_pattern(schema).is_match(text) && length_ok(schema, text) && go_parse_duration(text).is_some_and(|ns| ns > 0)
}

/// Strings made of what durations are made of, so that near misses are common.
fn duration_like() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        4 => "[0-9]{1,3}",
        1 => "[0-9]{15,22}",
        1 => Just(".".to_string()),
        1 => Just("+".to_string()),
        1 => Just("-".to_string()),
        3 => prop::sample::select(vec!["h", "m", "s", "ms", "us", "ns", "\u{00b5}s", "\u{03bc}s", "d", "H", " ", "x", "µ"])
            .prop_map(String::from),
    ];
    prop::collection::vec(atom, 0..8).prop_map(|parts| parts.concat())
}

/// A duration as a user writes one: components like `1h`, `30m`, `1.5s`, with the value Go gives it.
fn valid_duration() -> impl Strategy<Value = String> {
    let component = (
        prop_oneof![4 => 0u64..1000, 1 => 0u64..10_000_000, 1 => any::<u64>()],
        prop::option::of("[0-9]{1,12}"),
        prop::sample::select(vec!["h", "m", "s", "ms", "us", "\u{00b5}s", "ns"]),
    )
        .prop_map(|(v, frac, unit)| match frac {
            Some(f) => format!("{v}.{f}{unit}"),
            None => format!("{v}{unit}"),
        });
    prop::collection::vec(component, 1..4).prop_map(|c| c.concat())
}

fn check_duration(text: &str) -> Result<(), TestCaseError> {
    let parsed = window::parse_duration("f", text);
    // The CLI takes the same texts as the spec fields it fills in.
    prop_assert_eq!(
        args::duration(text).ok(),
        parsed.as_ref().ok().copied(),
        "{:?}: the CLI and the controller disagree",
        text
    );
    for (what, schema) in duration_fields() {
        let accepted = schema_accepts_duration(&schema, text);
        prop_assert_eq!(
            accepted,
            parsed.is_ok(),
            "{}: the API server {} {:?} but drydock's parser says {:?}",
            what,
            if accepted { "accepts" } else { "refuses" },
            text,
            parsed
        );
        if let Ok(d) = &parsed {
            let go = go_parse_duration(text).expect("accepted, so Go parses it");
            prop_assert_eq!(
                d.as_nanos(),
                go as u128,
                "{:?}: drydock and Go disagree on the value",
                text
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Any text at all: an error or a positive duration, never a panic (kube's own parser panics on some).
    #[test]
    fn durations_never_panic(text in any::<String>()) {
        if let Ok(d) = window::parse_duration("window.duration", &text) {
            prop_assert!(!d.is_zero());
        }
        let _ = args::duration(&text);
        let _ = args::go_duration(&text);
        let _ = Schedule::parse("0 2 * * *", "UTC", &text);
    }

    /// Written durations parse to the value Go gives them, exactly (integer parts exact, fractions as Go rounds
    /// them), and past Go's limit (2562047h47m16.854775807s) they are too long, not wrapped around.
    #[test]
    fn durations_round_trip(text in valid_duration()) {
        match (go_parse_duration(&text), window::parse_duration("f", &text)) {
            (Some(ns), Ok(d)) => prop_assert_eq!(d.as_nanos(), ns as u128),
            (Some(0), Err(WindowError::NotPositive { .. })) => {}
            (None, Err(WindowError::TooLong { .. })) => {}
            (go, ours) => prop_assert!(false, "{:?}: Go says {:?}, drydock {:?}", text, go, ours),
        }
        let whole: Option<u128> = (!text.contains('.')).then(|| exact_nanos(&text));
        if let (Some(exact), Ok(d)) = (whole, window::parse_duration("f", &text)) {
            prop_assert_eq!(d.as_nanos(), exact, "{:?}", text);
        }
    }

    /// The API server and drydock agree on every duration field: what one accepts the other does, with the same
    /// value. Texts made of duration pieces, so that near misses (`.5s`, `+2h`, `1h-5m`, `2562048h`) come up.
    #[test]
    fn durations_agree_with_the_crd_schema(text in prop_oneof![duration_like(), valid_duration()]) {
        check_duration(&text)?;
    }
}

/// Integer-only components, summed exactly (no Go, no floats): the round trip's independent check.
fn exact_nanos(text: &str) -> u128 {
    static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([0-9]+)(ns|us|µs|ms|s|m|h)").expect("regex"));
    RE.captures_iter(text)
        .map(|c| {
            let unit: u128 = match &c[2] {
                "ns" => 1,
                "us" | "µs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                _ => 3_600_000_000_000,
            };
            c[1].parse::<u128>().expect("digits") * unit
        })
        .sum()
}

#[test]
fn duration_fields_share_one_grammar_and_one_rule() {
    let fields = duration_fields();
    for (what, schema) in &fields {
        assert_eq!(schema["pattern"], fields[0].1["pattern"], "{what}");
        assert_eq!(rules(schema).len(), 1, "{what}");
        assert!(
            rules(schema)[0].starts_with("duration(self) > duration('0s')"),
            "{what}"
        );
    }
}

#[test]
fn duration_edges() {
    for text in [
        "2562047h47m16.854775807s",
        "2562047h47m16.854775808s",
        "9223372036854775807ns",
        "9223372036854775808ns",
        "1.0000000019s",
        "0.3s",
        ".5s",
        "1.s",
        "+2s",
        "-2s",
        "2\u{03bc}s",
        "2\u{00b5}s",
        "0",
        "0s",
        "1h1h",
        "00001h",
        "1e3s",
    ] {
        check_duration(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// RFC 3339 times (window.start, window.end): whatever the API server stores, drydock must read. A time it cannot
// read makes the whole list of NodeMaintenances unreadable to the controller, not just that one.

/// A date-time as a user might type one, valid or not: (text, its parts).
#[derive(Clone, Debug)]
struct TimeText {
    text: String,
    year: i32,
    month: i32,
    day: i32,
    hour: i32,
    minute: i32,
    second: i32,
    /// The fraction's digits as written.
    fraction: Option<String>,
    /// Offset east of UTC in minutes; None for Z.
    offset: Option<i32>,
    /// The offset written as ±hh:mm (not ±hhmm) and the separators as RFC 3339 has them.
    well_formed: bool,
}

fn time_text() -> impl Strategy<Value = TimeText> {
    (
        prop_oneof![8 => 1900i32..2200, 1 => 0i32..10000],
        (0i32..=13, 0i32..=32),
        (0i32..=24, 0i32..=60, 0i32..=60),
        prop::option::of("[0-9]{1,12}"),
        prop::option::of((-30i32..=30, 0i32..=61)),
        (
            prop::sample::select(vec!["T", "t", " "]),
            prop::sample::select(vec!["Z", "z"]),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(year, (month, day), (hour, minute, second), fraction, offset, (sep, zulu, colon))| {
                let offset_text = match offset {
                    None => zulu.to_string(),
                    Some((h, m)) => {
                        let sign = if h < 0 { '-' } else { '+' };
                        if colon {
                            format!("{sign}{:02}:{m:02}", h.abs())
                        } else {
                            format!("{sign}{:02}{m:02}", h.abs())
                        }
                    }
                };
                let frac = fraction.as_ref().map(|f| format!(".{f}")).unwrap_or_default();
                TimeText {
                    text: format!(
                        "{year:04}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}{frac}{offset_text}"
                    ),
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    fraction,
                    offset: offset.map(|(h, m)| if h < 0 { -1 } else { 1 } * (h.abs() * 60 + m)),
                    well_formed: sep != " " && (offset.is_none() || colon),
                }
            },
        )
}

/// What the API server's `format: date-time` check needs at least: a real calendar date and time of day. (It
/// accepts more than that; the properties only rely on it accepting no less.)
fn calendar_valid(t: &TimeText) -> bool {
    t.well_formed
        && (1..=12).contains(&t.month)
        && t.day >= 1
        && civil::date(t.year as i16, t.month as i8, 1).days_in_month() as i32 >= t.day
        && t.hour < 24
        && t.minute < 60
        && t.second < 60
}

/// The instant `t` names, computed from its parts.
fn instant_of(t: &TimeText) -> Option<Timestamp> {
    let nanos = t
        .fraction
        .as_ref()
        .map(|f| format!("{:0<9}", &f[..f.len().min(9)]).parse::<i32>().expect("digits"))
        .unwrap_or(0);
    let local =
        civil::date(t.year as i16, t.month as i8, t.day as i8).at(t.hour as i8, t.minute as i8, t.second as i8, nanos);
    let offset = jiff::tz::Offset::from_seconds(t.offset.unwrap_or(0) * 60).ok()?;
    local.to_zoned(TimeZone::fixed(offset)).ok().map(|z| z.timestamp())
}

fn window_time_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("spec.window.start", nm_field("window.start")),
        ("spec.window.end", nm_field("window.end")),
    ]
}

fn read_time(text: &str) -> Result<Timestamp, String> {
    serde_json::from_value::<Time>(Value::String(text.into()))
        .map(|t| t.0)
        .map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Every time the schema accepts (its pattern, on top of a real date and time) drydock reads as the instant
    /// it names. The API server's own date-time check lets through 10+ fractional digits, offsets like +99:00 and
    /// dates past jiff's last instant (9999-12-30T22:00Z), none of which drydock can read.
    #[test]
    fn window_times_the_schema_accepts_are_read_exactly(t in time_text()) {
        for (what, schema) in window_time_fields() {
            prop_assert_eq!(schema["format"].as_str(), Some("date-time"), "{}", what);
            if go_pattern(&schema).is_match(&t.text) && calendar_valid(&t) {
                let read = read_time(&t.text);
                prop_assert_eq!(read.clone().ok(), instant_of(&t), "{} {:?}: read as {:?}", what, t.text, read);
            }
        }
    }

    /// Any text: read or refused, never a panic.
    #[test]
    fn window_times_never_panic(text in any::<String>()) {
        let _ = read_time(&text);
    }
}

#[test]
fn times_the_api_server_accepts_but_drydock_cannot_read_are_refused_by_the_pattern() {
    // Each of these passes the API server's `format: date-time` (checked on kube-apiserver v1.33).
    for text in [
        "2030-01-01T00:00:00.1234567891Z",
        "2030-01-01T00:00:00+99:00",
        "2030-01-01T00:00:00+23:60",
        "2030-01-01T00:00:00,5Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:00",
    ] {
        assert!(
            read_time(text).is_err() || text.contains(','),
            "{text}: drydock reads it after all"
        );
        for (what, schema) in window_time_fields() {
            assert!(
                !go_pattern(&schema).is_match(text),
                "{what} accepts {text:?}, which drydock cannot read"
            );
        }
    }
    for text in [
        "2030-01-01T00:00:00Z",
        "2030-01-01t00:00:00.5z",
        "2030-01-01T02:00:00+01:00",
        "0000-01-01T00:00:00Z",
    ] {
        assert!(read_time(text).is_ok(), "{text}");
        for (what, schema) in window_time_fields() {
            assert!(go_pattern(&schema).is_match(text), "{what} refuses {text:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Cron expressions (MaintenanceSchedule spec.schedule), against a reference matcher written here from
// robfig/cron's rules (what a Kubernetes CronJob runs).

/// One cron field: its range and names.
#[derive(Clone, Copy, Debug)]
struct CronField {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    question_mark: bool,
    /// Day-of-week: 7 is Sunday too.
    weekday: bool,
}

const MINUTE: CronField = CronField {
    min: 0,
    max: 59,
    names: &[],
    question_mark: false,
    weekday: false,
};
const HOUR: CronField = CronField {
    min: 0,
    max: 23,
    ..MINUTE
};
const DOM: CronField = CronField {
    min: 1,
    max: 31,
    names: &[],
    question_mark: true,
    weekday: false,
};
const MONTH: CronField = CronField {
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    question_mark: false,
    weekday: false,
};
const DOW: CronField = CronField {
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    question_mark: true,
    weekday: true,
};

/// One item of a field's list.
#[derive(Clone, Debug)]
enum CronItem {
    Star { question: bool, step: Option<u32> },
    Value { v: u32, step: Option<u32> },
    Range { low: u32, high: u32, step: Option<u32> },
}

/// A field as text, with the values it selects and whether it counts as `*` for the day-field rule.
#[derive(Clone, Debug)]
struct FieldText {
    text: String,
    values: Vec<bool>,
    star: bool,
}

fn cron_item(f: CronField) -> impl Strategy<Value = CronItem> {
    let step = prop::option::weighted(0.3, prop_oneof![5 => 1u32..=12, 1 => 13u32..=100]);
    prop_oneof![
        1 => (any::<bool>(), step.clone()).prop_map(move |(q, step)| CronItem::Star { question: q && f.question_mark, step }),
        3 => (f.min..=f.max, step.clone()).prop_map(|(v, step)| CronItem::Value { v, step }),
        2 => (f.min..=f.max, f.min..=f.max, step).prop_map(|(a, b, step)| CronItem::Range { low: a.min(b), high: a.max(b), step }),
    ]
}

fn field_text(f: CronField) -> impl Strategy<Value = FieldText> {
    (prop::collection::vec((cron_item(f), any::<bool>(), any::<bool>()), 1..4)).prop_map(move |items| {
        let mut values = vec![false; 8 + f.max as usize];
        let mut star = false;
        let mut parts = Vec::new();
        let name = |v: u32, use_name: bool, lower: bool, range_end: bool| -> String {
            let index = (v - f.min) as usize;
            // Sunday as a range's end is written SUN but means 7; a range ending on 0 stays numeric.
            let named = use_name
                && match (f.weekday, v) {
                    (true, 7) => range_end,
                    (true, 0) => !range_end,
                    _ => index < f.names.len(),
                };
            if !named {
                return v.to_string();
            }
            let n = if f.weekday && v == 7 { "SUN" } else { f.names[index] };
            if lower { n.to_lowercase() } else { n.to_string() }
        };
        for (item, use_name, lower) in items {
            let (text, low, high, step) = match item {
                CronItem::Star { question, step } => {
                    let s = step.unwrap_or(1);
                    star |= s == 1;
                    let t = if question { "?" } else { "*" };
                    (
                        match step {
                            Some(n) => format!("{t}/{n}"),
                            None => t.to_string(),
                        },
                        f.min,
                        f.max,
                        s,
                    )
                }
                CronItem::Value { v, step: None } => (name(v, use_name, lower, false), v, v, 1),
                CronItem::Value { v, step: Some(n) } => {
                    (format!("{}/{n}", name(v, use_name, lower, false)), v, f.max, n)
                }
                CronItem::Range { low, high, step } => {
                    let t = format!(
                        "{}-{}",
                        name(low, use_name, lower, false),
                        name(high, use_name, lower, true)
                    );
                    match step {
                        Some(n) => (format!("{t}/{n}"), low, high, n),
                        None => (t, low, high, 1),
                    }
                }
            };
            let mut v = low;
            while v <= high {
                values[v as usize] = true;
                v += step;
            }
            parts.push(text);
        }
        if f.weekday && values[7] {
            values[0] = true;
        }
        FieldText {
            text: parts.join(","),
            values,
            star,
        }
    })
}

#[derive(Clone, Debug)]
struct CronText {
    text: String,
    fields: [FieldText; 5],
}

impl CronText {
    /// robfig/cron's match: minute, hour and month must match; the day fields both when either is `*`, else one.
    fn matches(&self, at: civil::DateTime) -> bool {
        let [minute, hour, dom, month, dow] = &self.fields;
        let dom_ok = dom.values[at.day() as usize];
        let dow_ok = dow.values[at.weekday().to_sunday_zero_offset() as usize];
        let day_ok = if dom.star || dow.star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        };
        at.second() == 0
            && at.subsec_nanosecond() == 0
            && minute.values[at.minute() as usize]
            && hour.values[at.hour() as usize]
            && month.values[at.month() as usize]
            && day_ok
    }

    /// No selected day exists in any selected month, and the weekday cannot rescue it.
    fn never_fires(&self) -> bool {
        const LONGEST: [usize; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let [_, _, dom, month, dow] = &self.fields;
        dow.star && !(1..=12).any(|m| month.values[m] && (1..=LONGEST[m - 1]).any(|d| dom.values[d]))
    }
}

/// Whitespace between and around fields, as people (and YAML) produce it.
fn blanks(at_least_one: bool) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![" ", " ", " ", "\t", "  "]),
        usize::from(at_least_one)..3,
    )
    .prop_map(|b| b.concat())
}

fn cron_text() -> impl Strategy<Value = CronText> {
    (
        (
            field_text(MINUTE),
            field_text(HOUR),
            field_text(DOM),
            field_text(MONTH),
            field_text(DOW),
        ),
        (
            blanks(false),
            blanks(true),
            blanks(true),
            blanks(true),
            blanks(true),
            blanks(false),
        ),
    )
        .prop_map(|((mi, h, d, mo, w), (b0, b1, b2, b3, b4, b5))| CronText {
            text: format!(
                "{b0}{}{b1}{}{b2}{}{b3}{}{b4}{}{b5}",
                mi.text, h.text, d.text, mo.text, w.text
            ),
            fields: [mi, h, d, mo, w],
        })
}

fn minute_of(t: Timestamp) -> civil::DateTime {
    t.to_zoned(TimeZone::UTC).datetime()
}

/// Strings made of cron pieces and of whitespace of every kind, for the schema agreement.
fn cron_like() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        6 => prop::sample::select(vec![
            "*", "0", "1", "2", "5", "7", "8", "12", "13", "23", "24", "31", "32", "59", "60", "007", "*/5", "*/0", "1-5",
            "5-1", "MON", "jan", "SUN", "Sat", "DEC", "?", ",", "/", "-", "@daily", "@hourly", "@every", "L", "W",
            "#", "TZ=UTC",
        ])
        .prop_map(String::from),
        4 => prop::sample::select(vec![" ", " ", "\t", "\n", "\r", "\u{0b}", "\u{0c}", "\u{a0}", "\u{2003}", "\u{85}"]).prop_map(String::from),
    ];
    prop::collection::vec(atom, 0..16).prop_map(|parts| parts.concat())
}

/// Five fields, each glued from values (in range or not), names, `*`, `?`, `-`, `/` and `,`: near misses of
/// every kind, in the shape the schema checks.
fn five_fields() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "*", "?", "0", "1", "5", "7", "8", "12", "13", "23", "24", "29", "31", "32", "59", "60", "00", "007", "MON",
        "sun", "Jan", "dec", "FOO", "-", "/", ",", "/0", "/2",
    ]);
    let field = prop::collection::vec(piece, 1..5).prop_map(|p| p.concat());
    prop::collection::vec(field, 5..=5).prop_map(|f| f.join(" "))
}

proptest! {
    #![proptest_config(config(256))]

    /// A generated cron expression parses (or is refused as never firing, exactly when no selected day exists),
    /// and its windows open where the reference matcher says: the next start matches, no minute in between
    /// does (checked over up to three days), and the window open now is the latest matching minute.
    #[test]
    fn cron_expressions_open_windows_where_cron_says(
        cron in cron_text(),
        from in 1_577_836_800i64..2_240_524_800, // 2020 to 2041
        minutes in 1i64..=180,
    ) {
        let parsed = Schedule::parse(&cron.text, "UTC", &format!("{minutes}m"));
        if cron.never_fires() {
            prop_assert!(matches!(parsed, Err(ScheduleError::NeverFires { .. })), "{:?}: {:?}", cron.text, parsed);
            return Ok(());
        }
        let s = parsed.map_err(|e| TestCaseError::fail(format!("{:?}: {e}", cron.text)))?;
        let now = Timestamp::from_second(from).expect("ts");
        let next = s.next_window(now).expect("a next window before the year 5000");
        prop_assert!(next.start > now);
        prop_assert!(cron.matches(minute_of(next.start)), "{:?}: next start {} does not match", cron.text, next.start);
        prop_assert_eq!(next.end.duration_since(next.start).as_secs(), minutes * 60);
        let step = jiff::SignedDuration::from_mins(1);
        let mut t = Timestamp::from_second(from - from.rem_euclid(60) + 60).expect("ts");
        let horizon = now.checked_add(jiff::SignedDuration::from_hours(72)).expect("ts");
        while t < next.start && t < horizon {
            prop_assert!(!cron.matches(minute_of(t)), "{:?}: {} matches but the next window is {}", cron.text, t, next.start);
            t = t.checked_add(step).expect("ts");
        }
        // The window open now: the latest matching minute in (now - duration, now], if any.
        let mut latest = None;
        let mut t = Timestamp::from_second(from - from.rem_euclid(60)).expect("ts");
        for _ in 0..minutes {
            if cron.matches(minute_of(t)) {
                latest = Some(t);
                break;
            }
            t = t.checked_sub(step).expect("ts");
        }
        prop_assert_eq!(s.open_window(now).map(|w| w.start), latest, "{:?}", cron.text);
    }

    /// Any text: a schedule or an error naming what is wrong, never a panic; and a parsed one always finds
    /// its windows without panicking, in any zone.
    #[test]
    fn cron_never_panics(
        text in prop_oneof![any::<String>(), cron_like()],
        zone in prop::sample::select(vec!["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]),
        from in -62_000_000_000i64..250_000_000_000,
    ) {
        if let Ok(s) = Schedule::parse(&text, zone, "90m") {
            let now = Timestamp::from_second(from).expect("ts");
            if let Some(w) = s.open_window(now) {
                prop_assert!(w.start <= now && now < w.end);
            }
            if let Some(w) = s.next_window(now) {
                prop_assert!(w.start > now);
                prop_assert_eq!(s.open_window(w.start).map(|o| o.start), Some(w.start));
            }
        }
    }

    /// spec.schedule's schema (its CEL rule and length) and the parser agree: whatever the parser accepts the
    /// schema accepts (unless longer than its 256 characters), and whatever the schema accepts the parser accepts,
    /// but for a range that runs backwards or a date that never comes (30 FEB), which it reports in status.
    #[test]
    fn cron_expressions_agree_with_the_crd_schema(text in prop_oneof![cron_like(), cron_text().prop_map(|c| c.text), five_fields()]) {
        check_cron_split(&text)?;
    }
}

fn check_cron_split(text: &str) -> Result<(), TestCaseError> {
    let schema = ms_field("schedule");
    let accepted = length_ok(&schema, text) && rule_regex(&schema).is_match(text);
    let parsed = Schedule::parse(text, "UTC", "1h");
    if parsed.is_ok() {
        prop_assert!(text.chars().count() >= 6, "{:?}", text);
        if text.chars().count() <= 256 {
            prop_assert!(accepted, "the parser accepts {:?}, the schema refuses it", text);
        }
    }
    if accepted {
        // What a regex cannot see: a range that runs backwards, a date that never comes. Anything else the
        // schema accepts, the parser accepts.
        let regex_blind = match &parsed {
            Ok(_) | Err(ScheduleError::NeverFires { .. }) => true,
            Err(ScheduleError::BadCron { reason, .. }) => reason.to_string().contains("runs backwards"),
            Err(_) => false,
        };
        prop_assert!(
            regex_blind,
            "the schema accepts {:?}, the parser says {:?}",
            text,
            parsed
        );
    }
    Ok(())
}

#[test]
fn cron_whitespace_edges() {
    // Go's `\s` (the API server's) is ASCII whitespace: a no-break space or an em space belongs to a field.
    for text in [
        "0 2 * * 0\u{a0}1",
        "0\u{a0}2 * * * *",
        "\u{a0}0 2 * * *",
        "0 2 * * *\u{0b}",
        "0\u{2003}2 * * * *",
        "0 2 * *\u{85}*",
        "\t0 2 * * *\n",
        "@daily\r\n",
    ] {
        check_cron_split(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Time zones (spec.timeZone).

#[test]
fn every_bundled_time_zone_parses_and_fits_the_schema() {
    let schema = ms_field("timeZone");
    let db = jiff::tz::TimeZoneDatabase::bundled();
    let mut n = 0;
    for name in db.available() {
        let name = name.as_str();
        if name == "Etc/Unknown" || name.eq_ignore_ascii_case("localtime") {
            continue;
        }
        assert!(Schedule::parse("0 2 * * *", name, "1h").is_ok(), "{name}");
        assert!(length_ok(&schema, name), "{name} is longer than the schema allows");
        assert!(
            rule_regex(&schema).is_match(name),
            "the schema refuses the time zone {name}"
        );
        n += 1;
    }
    assert!(n > 400, "only {n} zones bundled");
    for bad in [
        "",
        "Etc/Unknown",
        "Mars/Olympus",
        "Europe/Berlin ",
        "/etc/localtime",
        "../../etc/passwd",
        "UTC+5",
    ] {
        assert!(
            matches!(
                Schedule::parse("0 2 * * *", bad, "1h"),
                Err(ScheduleError::BadTimeZone { .. })
            ),
            "{bad:?}"
        );
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Any text: a zone of the bundled database (never a file on the host) or BadTimeZone naming the text.
    #[test]
    fn time_zones_are_bundled_names_or_refused(text in prop_oneof![
        any::<String>(),
        prop::sample::select(vec!["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC", "EST5EDT", "Etc/GMT+5"])
            .prop_flat_map(|z| (Just(z), 0..z.len() + 1, "[a-zA-Z/_+ .-]{0,2}"))
            .prop_map(|(z, cut, tail)| format!("{}{tail}", &z[..cut])),
    ]) {
        let db = jiff::tz::TimeZoneDatabase::bundled();
        match Schedule::parse("0 2 * * *", &text, "1h") {
            Ok(_) => {
                prop_assert!(db.available().any(|n| n.as_str().eq_ignore_ascii_case(&text)), "{:?}", text);
                let schema = ms_field("timeZone");
                prop_assert!(length_ok(&schema, &text) && rule_regex(&schema).is_match(&text), "the schema refuses {:?}", text);
            }
            Err(ScheduleError::BadTimeZone { zone }) => prop_assert_eq!(zone, text),
            Err(e) => prop_assert!(false, "{:?}: {}", text, e),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// maxUnavailable: the CEL rule and `schedule::budget` accept the same values.

fn max_unavailable_rule() -> (String, Regex) {
    let schema = ms_field("maxUnavailable");
    let rule = rules(&schema).into_iter().next().expect("a CEL rule on maxUnavailable");
    let re = rule
        .split_once("matches('")
        .and_then(|(_, rest)| rest.split_once("')"))
        .map(|(re, _)| re.replace(r"\\", r"\"))
        .expect("the rule matches strings against a regex");
    (rule, Regex::new(&re).expect("regex"))
}

/// The CEL rule, evaluated: a positive count (up to `self <= N` when the rule has such a bound), or a string its
/// regex matches.
fn cel_accepts_max_unavailable(rule: &str, re: &Regex, v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            let n = n.as_i64().expect("integer");
            let max = rule
                .split_once("self <= ")
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse::<i64>().ok())
                .unwrap_or(i64::MAX);
            n > 0 && n <= max
        }
        Value::String(s) => re.is_match(s),
        _ => false,
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Every maxUnavailable the CRD accepts, drydock reads (as the i32 of IntOrString) and turns into a budget
    /// of at least one node; every one it refuses, the budget refuses too.
    #[test]
    fn max_unavailable_agrees_with_the_cel_rule(
        v in prop_oneof![
            any::<i64>().prop_map(Value::from),
            (-5i64..300).prop_map(Value::from),
            "[0-9]{0,4}%?".prop_map(Value::from),
            "[-+ 0-9a-z.%]{0,5}".prop_map(Value::from),
        ],
        selected in 0usize..500,
    ) {
        let (rule, re) = max_unavailable_rule();
        let accepted = cel_accepts_max_unavailable(&rule, &re, &v);
        let read: Result<IntOrString, _> = serde_json::from_value(v.clone());
        if accepted {
            let read = read.map_err(|e| TestCaseError::fail(format!("the CRD accepts {v} but drydock cannot read it: {e}")))?;
            let budget = schedule::budget(&read, selected);
            prop_assert!(budget.as_ref().is_ok_and(|b| *b >= selected.min(1)), "{}: {:?}", v, budget);
        } else if let Ok(read) = read {
            // The one difference, on purpose: drydock reads `010%` as 10% (and `00%` as 0%, refused), where the
            // rule refuses a leading zero first; the controller never sees such a value from the API server.
            let leading_zero = v.as_str().is_some_and(|s| s.len() > 2 && s.starts_with('0'));
            let budget = schedule::budget(&read, selected);
            prop_assert!(budget.is_err() || leading_zero, "the CRD refuses {} but drydock takes it: {:?}", v, budget);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Names, taints and labels: Kubernetes' own rules (apimachinery's validation), written here as regexes.

fn dns1123_subdomain(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").expect("regex")
    });
    !s.is_empty() && s.len() <= 253 && RE.is_match(s)
}

fn label_value(s: &str) -> bool {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").expect("regex"));
    s.len() <= 63 && RE.is_match(s)
}

/// IsQualifiedName: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
fn qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(dns1123_subdomain) && !name.is_empty() && label_value(name)
}

fn dns_label() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?", 1 => "[a-z0-9]{60,64}"]
}

fn subdomain() -> impl Strategy<Value = String> {
    prop::collection::vec(dns_label(), 1..5).prop_map(|l| l.join("."))
}

/// Taint keys, valid and nearly so: prefixes and names around every length limit.
fn taint_key_like() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        4 => "[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?",
        1 => "[A-Za-z0-9][-A-Za-z0-9_.]{60,64}[A-Za-z0-9]",
        1 => "[-A-Za-z0-9_./ ]{0,6}",
    ];
    let prefix = prop_oneof![
        3 => Just(String::new()),
        3 => subdomain().prop_map(|p| format!("{p}/")),
        1 => prop::collection::vec("[a-z]{63}", 4..5).prop_map(|l| format!("{}/", l.join("."))),
        1 => prop::collection::vec("[a-z]{63}", 3..4).prop_map(|l| format!("{}.{}/", l.join("."), "b".repeat(61))),
        1 => "[-a-zA-Z0-9_.]{0,6}/",
    ];
    (prefix, name).prop_map(|(p, n)| format!("{p}{n}"))
}

proptest! {
    #![proptest_config(config(CASES))]

    /// spec.taints[].key: the schema accepts exactly the keys Kubernetes accepts on a node (other than
    /// drydock's own), so an accepted NodeMaintenance never fails later when its taint is put on the node.
    #[test]
    fn taint_keys_agree_with_kubernetes(key in taint_key_like()) {
        for schema in [nm_field("taints[].key"), ms_field("template.taints[].key")] {
            let accepted = go_pattern(&schema).is_match(&key) && length_ok(&schema, &key) && prefix_rule_ok(&key);
            prop_assert_eq!(accepted, qualified_name(&key), "{:?} ({} characters)", key, key.len());
        }
    }

    /// spec.taints[].value: exactly Kubernetes' label values.
    #[test]
    fn taint_values_agree_with_kubernetes(value in prop_oneof!["[-A-Za-z0-9_. /]{0,6}", "[A-Za-z0-9][-A-Za-z0-9_.]{58,64}"]) {
        for schema in [nm_field("taints[].value"), ms_field("template.taints[].value")] {
            let accepted = schema["pattern"].is_null() || go_pattern(&schema).is_match(&value);
            prop_assert_eq!(accepted && length_ok(&schema, &value), label_value(&value), "{:?}", value);
        }
    }

    /// spec.nodeName: exactly the names a Node can have.
    #[test]
    fn node_names_agree_with_kubernetes(name in prop_oneof![subdomain(), "[-a-zA-Z0-9_. ]{0,8}", prop::collection::vec("[a-z]{50}", 5..6).prop_map(|l| l.join("."))]) {
        let schema = nm_field("nodeName");
        let accepted = go_pattern(&schema).is_match(&name) && length_ok(&schema, &name);
        prop_assert_eq!(accepted, dns1123_subdomain(&name), "{:?}", name);
    }

    /// The value of drydock's own taint, made from any valid NodeMaintenance name, is a valid taint value.
    #[test]
    fn own_taint_values_are_valid(name in prop_oneof![subdomain(), prop::collection::vec("[a-z0-9]{40}", 1..7).prop_map(|l| l.join("-"))]) {
        prop_assume!(dns1123_subdomain(&name));
        let v = taint_value(&name);
        prop_assert!(label_value(&v), "{:?} -> {:?}", name, v);
        if name.len() <= 63 {
            prop_assert_eq!(v, name);
        }
    }

    /// The NodeMaintenance a schedule makes for a node has a valid object name, however long the two names: the
    /// API server would refuse it for ever otherwise.
    #[test]
    fn scheduled_maintenance_names_are_valid(
        schedule in prop_oneof![subdomain(), prop::collection::vec("[a-z0-9]{30}[.-]", 1..9).prop_map(|l| l.concat() + "z")],
        node in prop_oneof![subdomain(), prop::collection::vec("[a-z0-9]{20}[.-]", 1..13).prop_map(|l| l.concat() + "z")],
    ) {
        prop_assume!(dns1123_subdomain(&schedule) && dns1123_subdomain(&node));
        let name = scheduled_maintenance(&schedule, &node, "20261206t010000z");
        prop_assert!(dns1123_subdomain(&name), "{:?}", name);
    }
}

/// The CEL rule that bounds a taint key's prefix: Kubernetes allows 253 characters before the `/`.
fn prefix_rule_ok(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, _)) => prefix.chars().count() <= 253,
        None => true,
    }
}

#[test]
fn the_taint_key_prefix_rule_is_in_the_schema() {
    for schema in [nm_field("taints[]"), ms_field("template.taints[]")] {
        assert!(
            rules(&schema).iter().any(|r| r.contains("253")),
            "no rule bounds the prefix of a taint key: {:?}",
            rules(&schema)
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI: what it accepts, the API server and the controller accept.

/// A label selector requirement, as kubectl writes them.
#[derive(Clone, Debug)]
enum Req {
    Eq(String, String),
    DoubleEq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Req {
    fn text(&self) -> String {
        match self {
            Req::Eq(k, v) => format!("{k}={v}"),
            Req::DoubleEq(k, v) => format!("{k}=={v}"),
            Req::NotEq(k, v) => format!("{k}!={v}"),
            Req::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            Req::NotIn(k, vs) => format!("{k} notin ({})", vs.join(", ")),
            Req::Exists(k) => k.clone(),
            Req::NotExists(k) => format!("!{k}"),
        }
    }

    /// kubectl's (apimachinery's labels.Parse) meaning.
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Req::Eq(k, v) | Req::DoubleEq(k, v) => labels.get(k) == Some(v),
            Req::NotEq(k, v) => labels.get(k) != Some(v),
            Req::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
        }
    }
}

const KEYS: [&str; 4] = ["app", "tier", "example.com/team", "canary"];
const VALUES: [&str; 3] = ["web", "db", "a.b-c_1"];

fn req() -> impl Strategy<Value = Req> {
    let k = prop::sample::select(KEYS.to_vec()).prop_map(String::from);
    let v = prop::sample::select(VALUES.to_vec()).prop_map(String::from);
    let vs = prop::collection::vec(v.clone(), 1..3);
    prop_oneof![
        (k.clone(), v.clone()).prop_map(|(k, v)| Req::Eq(k, v)),
        (k.clone(), v.clone()).prop_map(|(k, v)| Req::DoubleEq(k, v)),
        (k.clone(), v).prop_map(|(k, v)| Req::NotEq(k, v)),
        (k.clone(), vs.clone()).prop_map(|(k, vs)| Req::In(k, vs)),
        (k.clone(), vs).prop_map(|(k, vs)| Req::NotIn(k, vs)),
        k.clone().prop_map(Req::Exists),
        k.prop_map(Req::NotExists),
    ]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(KEYS.to_vec()).prop_map(String::from),
        prop::sample::select(VALUES.to_vec()).prop_map(String::from),
        0..4,
    )
}

proptest! {
    #![proptest_config(config(CASES))]

    /// `--selector` reads a kubectl selector as kubectl does: for any labels, the parsed selector matches
    /// exactly when every requirement holds. And what the CLI accepts, the controller accepts as
    /// spec.drain.podSelector.
    #[test]
    fn cli_selectors_mean_what_kubectl_means(reqs in prop::collection::vec(req(), 1..4), pods in prop::collection::vec(labels(), 1..8)) {
        let text = reqs.iter().map(Req::text).collect::<Vec<_>>().join(",");
        let parsed = args::selector(&text).map_err(TestCaseError::fail)?;
        let drain = DrainSpec { pod_selector: Some(parsed.clone()), ..Default::default() };
        prop_assert!(pods::selector(&drain).is_ok(), "{:?}", text);
        let selector = Selector::try_from(parsed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for labels in pods {
            let kubectl = reqs.iter().all(|r| r.matches(&labels));
            prop_assert_eq!(selector.matches(&labels), kubectl, "{:?} on {:?}", text, labels);
        }
    }

    /// Any text: a selector or an error, never a panic; what it accepts the controller accepts.
    #[test]
    fn cli_selectors_never_panic(text in prop_oneof![any::<String>(), "[a-z=!(), ]{0,20}", "[-a-z./=!(), ]{0,20}"]) {
        if let Ok(s) = args::selector(&text) {
            let drain = DrainSpec { pod_selector: Some(s.clone()), ..Default::default() };
            prop_assert!(pods::selector(&drain).is_ok(), "{:?}", text);
            prop_assert!(Selector::try_from(s).is_ok(), "{:?}", text);
        }
        let _ = args::selector_text(&text);
    }

    /// `--label k=v`: accepted only when the API server takes it as a label.
    #[test]
    fn cli_labels_are_kubernetes_labels(text in prop_oneof![
        any::<String>(),
        "[-a-zA-Z0-9_./=]{0,16}",
        (taint_key_like(), "[-A-Za-z0-9_.]{0,5}").prop_map(|(k, v)| format!("{k}={v}")),
        ("[-a-z0-9.]{1,6}", "[a-z]{1,3}").prop_map(|(p, n)| format!("{p}/{n}=v")),
    ]) {
        if let Ok((k, v)) = args::label(&text) {
            prop_assert!(qualified_name(&k) && label_value(&v), "{:?} accepted as {:?}={:?}", text, k, v);
        }
    }

    /// `--name`: accepted only when it is a valid object name (a DNS subdomain) and a valid taint value.
    #[test]
    fn cli_names_are_object_names(text in prop_oneof![any::<String>(), "[-a-z0-9.]{0,12}", subdomain()]) {
        if let Ok(n) = args::name(&text) {
            prop_assert!(dns1123_subdomain(&n) && label_value(&n), "{:?} accepted", n);
        }
    }

    /// The name `drydock start` makes for any node: a valid object name and taint value.
    #[test]
    fn default_names_are_object_names(node in prop_oneof![subdomain(), prop::collection::vec("[a-z0-9]{30}", 1..9).prop_map(|l| l.join("."))], at in 0i64..253_402_000_000) {
        prop_assume!(dns1123_subdomain(&node));
        let name = args::default_name(&node, Timestamp::from_second(at).expect("ts"));
        prop_assert!(args::name(&name).is_ok(), "{:?} -> {:?}", node, name);
        prop_assert!(dns1123_subdomain(&name), "{:?} -> {:?}", node, name);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Label selectors in the spec (podSelector, waitForPods, nodeSelector): what the schema accepts, the controller
// can use.

fn requirement() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["In", "NotIn", "Exists", "DoesNotExist", "in", "Equals", ""]),
        prop::option::of(prop::collection::vec(prop::sample::select(vec!["a", "b"]), 0..3)),
    )
        .prop_map(|(op, values)| {
            let mut r = serde_json::json!({"key": "app", "operator": op});
            if let Some(v) = values {
                r["values"] = serde_json::json!(v);
            }
            r
        })
}

/// The selector rule in the CRD, evaluated here: In/NotIn with values, Exists/DoesNotExist without.
fn selector_rule_accepts(selector: &Value) -> bool {
    selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let n = e["values"].as_array().map_or(0, Vec::len);
            match e["operator"].as_str() {
                Some("In" | "NotIn") => n > 0,
                Some("Exists" | "DoesNotExist") => n == 0,
                _ => false,
            }
        })
    })
}

#[test]
fn spec_selectors_carry_the_operator_rule() {
    for (what, schema) in [
        ("podSelector", nm_field("drain.podSelector")),
        ("waitForPods", nm_field("drain.waitForPods")),
        ("template podSelector", ms_field("template.drain.podSelector")),
        ("nodeSelector", ms_field("nodeSelector")),
    ] {
        assert!(
            rules(&schema)
                .iter()
                .any(|r| r.contains("matchExpressions") && r.contains("DoesNotExist")),
            "{what} has no rule on its operators: {:?}",
            rules(&schema)
        );
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Every selector the schema's rule accepts, the controller can use (it would otherwise fail the
    /// maintenance as InvalidSpec after it was accepted).
    #[test]
    fn spec_selectors_the_schema_accepts_are_usable(exprs in prop::collection::vec(requirement(), 0..3)) {
        let selector = serde_json::json!({"matchExpressions": exprs});
        if selector_rule_accepts(&selector) {
            let ls: LabelSelector = serde_json::from_value(selector.clone()).expect("label selector");
            let drain = DrainSpec { pod_selector: Some(ls), ..Default::default() };
            prop_assert!(pods::selector(&drain).is_ok(), "{}", selector);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A schedule's template is stamped into NodeMaintenances: it must not accept what a NodeMaintenance refuses.

#[test]
fn the_schedule_template_is_validated_like_a_node_maintenance() {
    for path in ["reason", "taints", "drain", "completeWhen"] {
        let template = ms_field(&format!("template.{path}"));
        let nm = nm_field(path);
        for key in [
            "maxLength",
            "maxItems",
            "pattern",
            "x-kubernetes-validations",
            "items",
            "properties",
        ] {
            assert_eq!(
                template[key], nm[key],
                "MaintenanceSchedule spec.template.{path} and NodeMaintenance spec.{path} differ in {key}: a schedule \
                 would create NodeMaintenances the API server refuses"
            );
        }
    }
}

#[test]
fn durations_the_cli_takes_are_spec_durations() {
    // The CLI passes --duration through as spec.window.duration: same parser, same answers.
    for text in ["2h", "90m", "1.5h", "2h30m", "0s", ".5h", "2", "-1h"] {
        assert_eq!(
            args::go_duration(text).is_ok(),
            window::parse_duration("window.duration", text).is_ok(),
            "{text}"
        );
    }
    assert_eq!(args::duration("1h30m"), Ok(Duration::from_secs(5400)));
}
