//! Maintenance window arithmetic: when a NodeMaintenance may hold its node.
//!
//! Pure: the current time is always a parameter, so every boundary can be tested exactly.
use std::time::Duration;

use jiff::Timestamp;

use drydock_api::v1alpha1::Window;

/// The resolved window of one maintenance: start and optional end, both absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// A window the spec describes but that cannot be resolved. The API server's validation refuses most of these
/// at apply; they are checked again because the CRD installed in a cluster may be older than this controller.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("{field} {text:?} is not a duration: write it like 2h or 90m")]
    NotADuration { field: String, text: String },
    #[error("{field} {text:?} is not positive: write a duration longer than zero, like 2h")]
    NotPositive { field: String, text: String },
    #[error("{field} {text:?} is too long: Kubernetes durations stop at 2562047h (about 292 years)")]
    TooLong { field: String, text: String },
    #[error("window.duration {text:?} ends the window past the year 9999: write a shorter duration")]
    EndOutOfRange { text: String },
    #[error("window has both end and duration: give only one of them")]
    EndAndDuration,
    #[error("window.end {end} is not after window.start {start}: set an end later than the start")]
    EndNotAfterStart { start: Timestamp, end: Timestamp },
}

/// `created` = when the NodeMaintenance was created (metadata.creationTimestamp): the start of a window without
/// `start`. Duration counts from `start` if given, else from `created`.
///
/// An `end` alone may lie before `created` (the maintenance was created after its window): that resolves to a
/// window that is already [`WindowState::Closed`], not an error, so the controller simply never touches the
/// node. `created` comes from the API server's clock: a controller whose clock lags may briefly see a window
/// without `start` as not yet open.
pub fn resolve(window: Option<&Window>, created: Timestamp) -> Result<Resolved, WindowError> {
    let Some(window) = window else {
        return Ok(Resolved {
            start: created,
            end: None,
        });
    };
    let start = window.start.as_ref().map_or(created, |t| t.0);
    let end = match (&window.end, &window.duration) {
        (Some(_), Some(_)) => return Err(WindowError::EndAndDuration),
        (Some(end), None) => {
            if window.start.is_some() && end.0 <= start {
                return Err(WindowError::EndNotAfterStart { start, end: end.0 });
            }
            Some(end.0)
        }
        (None, Some(text)) => {
            let length = parse_duration("window.duration", text)?;
            let end = start
                .checked_add(length)
                .map_err(|_| WindowError::EndOutOfRange { text: text.clone() })?;
            Some(end)
        }
        (None, None) => None,
    };
    Ok(Resolved { start, end })
}

/// Where `now` falls relative to a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowState {
    NotYetOpen { opens: Timestamp },
    Open { closes: Option<Timestamp> },
    Closed,
}

impl Resolved {
    /// The end is exclusive, so at `end` the node is already being restored. A window that ends before it begins
    /// (an `end` before `created`) is empty, so it is closed at every instant rather than awaited.
    pub fn state(&self, now: Timestamp) -> WindowState {
        match self.end {
            Some(end) if now >= end || end <= self.start => WindowState::Closed,
            _ if now < self.start => WindowState::NotYetOpen { opens: self.start },
            end => WindowState::Open { closes: end },
        }
    }
}

/// Nanoseconds in each unit a duration may use. Go also reads `\u{03bc}s` (Greek mu) as microseconds, but the
/// CRD's pattern has only the micro sign, so drydock refuses it as the API server does.
const UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{00b5}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration as the NodeMaintenance and MaintenanceSchedule CRDs define one: the pattern
/// `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$` (one or more numbers, each with its unit, like `2h30m` or
/// `1.5h`), and the value Go's `time.ParseDuration` gives it, which is what the CRD's CEL rule
/// `duration(self) > duration('0s')` computes. So the API server, the controller and the CLI accept exactly
/// the same texts, with the same value to the nanosecond. Errors name `field`.
///
/// Go's own grammar is wider (`.5h`, `1.h`, `+2h`, `-2h`, a bare `0`) but the CRD refuses those, and so does
/// this: the CLI must not accept a `--duration` the API server then refuses. A value beyond Go's range (about
/// 292 years) is [`WindowError::TooLong`], as it is an error for Go.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, WindowError> {
    let err = |make: fn(String, String) -> WindowError| make(field.to_owned(), text.to_owned());
    let not_a_duration = |field, text| WindowError::NotADuration { field, text };
    let not_positive = |field, text| WindowError::NotPositive { field, text };
    let too_long = |field, text| WindowError::TooLong { field, text };
    if let Some(rest) = text.strip_prefix('-') {
        // A negative duration in the CRD's grammar, or Go's bare zero: well formed, but not a length of time.
        return Err(if rest == "0" || go_nanos(rest).is_some() {
            err(not_positive)
        } else {
            err(not_a_duration)
        });
    }
    if text == "0" {
        return Err(err(not_positive));
    }
    match go_nanos(text) {
        None => Err(err(not_a_duration)),
        Some(None) => Err(err(too_long)),
        Some(Some(0)) => Err(err(not_positive)),
        Some(Some(nanos)) => Ok(Duration::from_nanos(nanos)),
    }
}

/// The CRD's grammar and Go's arithmetic: None when `text` does not follow the grammar, Some(None) when Go
/// refuses the value as too large (more nanoseconds than an int64 holds), else the nanoseconds.
///
/// Go's arithmetic, step by step (src/time/format.go): the integer part is exact and must stay within 2^63
/// after scaling by the unit; the fraction keeps at most as many digits as fit in a u64, and its contribution is
/// `fraction * (unit / 10^digits)` in float64, truncated.
fn go_nanos(text: &str) -> Option<Option<u64>> {
    const LIMIT: u64 = 1 << 63;
    let mut rest = text;
    let mut total: Option<u64> = Some(0);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if int_len == 0 {
            return None;
        }
        let (int, tail) = rest.split_at(int_len);
        let (fraction, tail) = match tail.strip_prefix('.') {
            Some(after) => {
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                if len == 0 {
                    return None;
                }
                after.split_at(len)
            }
            None => ("", tail),
        };
        let (unit, scale) = UNITS
            .iter()
            .filter(|(name, _)| tail.starts_with(name))
            .max_by_key(|(name, _)| name.len())?;
        let next = &tail[unit.len()..];
        // The unit ends where the next number starts: `1hx` or `1h 5m` are not durations.
        if !next.is_empty() && !next.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        rest = next;
        total = total.and_then(|sum| {
            let v = leading_int(int)?;
            if v > LIMIT / scale {
                return None;
            }
            let mut v = v * scale;
            let (f, digits) = leading_fraction(fraction);
            if f > 0 {
                v += (f as f64 * (*scale as f64 / digits)) as u64;
                if v > LIMIT {
                    return None;
                }
            }
            sum.checked_add(v).filter(|&s| s < LIMIT)
        });
    }
    Some(total)
}

/// Go's leadingInt: the digits' value, None past 2^63.
fn leading_int(digits: &str) -> Option<u64> {
    const LIMIT: u64 = 1 << 63;
    digits.bytes().try_fold(0u64, |x, c| {
        if x > LIMIT / 10 {
            return None;
        }
        let x = x * 10 + u64::from(c - b'0');
        (x <= LIMIT).then_some(x)
    })
}

/// Go's leadingFraction: the digits' value and 10^(digits kept); it stops keeping digits once more would
/// overflow, without failing.
fn leading_fraction(digits: &str) -> (u64, f64) {
    const LIMIT: u64 = 1 << 63;
    let (mut x, mut scale) = (0u64, 1f64);
    for c in digits.bytes() {
        if x > (LIMIT - 1) / 10 {
            break;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > LIMIT {
            break;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window(start: Option<&str>, end: Option<&str>, duration: Option<&str>) -> Window {
        Window {
            start: start.map(|s| Time(ts(s))),
            end: end.map(|s| Time(ts(s))),
            duration: duration.map(str::to_owned),
        }
    }

    const CREATED: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn no_window_opens_at_creation_and_never_closes() {
        let r = resolve(None, ts(CREATED)).unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts(CREATED),
                end: None
            }
        );
        assert_eq!(r.state(ts("2030-01-01T00:00:00Z")), WindowState::Open { closes: None });
    }

    #[test]
    fn empty_window_is_like_no_window() {
        let r = resolve(Some(&Window::default()), ts(CREATED)).unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts(CREATED),
                end: None
            }
        );
    }

    #[test]
    fn start_only_waits_then_stays_open() {
        let r = resolve(Some(&window(Some("2025-01-02T00:00:00Z"), None, None)), ts(CREATED)).unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts("2025-01-02T00:00:00Z"),
                end: None
            }
        );
        assert_eq!(
            r.state(ts("2025-01-01T12:00:00Z")),
            WindowState::NotYetOpen {
                opens: ts("2025-01-02T00:00:00Z")
            }
        );
        assert_eq!(r.state(ts("2099-01-01T00:00:00Z")), WindowState::Open { closes: None });
    }

    #[test]
    fn end_only_opens_at_creation() {
        let r = resolve(Some(&window(None, Some("2025-01-01T06:00:00Z"), None)), ts(CREATED)).unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts(CREATED),
                end: Some(ts("2025-01-01T06:00:00Z"))
            }
        );
        assert_eq!(
            r.state(ts("2025-01-01T01:00:00Z")),
            WindowState::Open {
                closes: Some(ts("2025-01-01T06:00:00Z"))
            }
        );
    }

    #[test]
    fn end_only_before_creation_is_already_closed() {
        let r = resolve(Some(&window(None, Some("2024-12-31T00:00:00Z"), None)), ts(CREATED)).unwrap();
        assert_eq!(r.state(ts(CREATED)), WindowState::Closed);
        assert_eq!(r.state(ts("2024-12-30T00:00:00Z")), WindowState::Closed);
    }

    #[test]
    fn start_and_end() {
        let r = resolve(
            Some(&window(
                Some("2025-01-02T00:00:00Z"),
                Some("2025-01-02T04:00:00Z"),
                None,
            )),
            ts(CREATED),
        )
        .unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts("2025-01-02T00:00:00Z"),
                end: Some(ts("2025-01-02T04:00:00Z"))
            }
        );
    }

    #[test]
    fn end_not_after_start_is_refused() {
        let w = window(Some("2025-01-02T00:00:00Z"), Some("2025-01-02T00:00:00Z"), None);
        assert_eq!(
            resolve(Some(&w), ts(CREATED)),
            Err(WindowError::EndNotAfterStart {
                start: ts("2025-01-02T00:00:00Z"),
                end: ts("2025-01-02T00:00:00Z")
            })
        );
    }

    #[test]
    fn end_and_duration_together_are_refused() {
        let w = window(None, Some("2025-01-02T00:00:00Z"), Some("1h"));
        assert_eq!(resolve(Some(&w), ts(CREATED)), Err(WindowError::EndAndDuration));
    }

    #[test]
    fn duration_counts_from_start() {
        let r = resolve(
            Some(&window(Some("2025-01-02T00:00:00Z"), None, Some("2h"))),
            ts(CREATED),
        )
        .unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts("2025-01-02T00:00:00Z"),
                end: Some(ts("2025-01-02T02:00:00Z"))
            }
        );
    }

    #[test]
    fn duration_alone_counts_from_creation() {
        let r = resolve(Some(&window(None, None, Some("90m"))), ts(CREATED)).unwrap();
        assert_eq!(
            r,
            Resolved {
                start: ts(CREATED),
                end: Some(ts("2025-01-01T01:30:00Z"))
            }
        );
    }

    #[test]
    fn duration_past_year_9999_is_refused() {
        let w = window(Some("9999-12-30T00:00:00Z"), None, Some("48h"));
        assert_eq!(
            resolve(Some(&w), ts(CREATED)),
            Err(WindowError::EndOutOfRange { text: "48h".into() })
        );
    }

    #[test]
    fn bad_duration_in_window_names_the_field() {
        let err = resolve(Some(&window(None, None, Some("2x"))), ts(CREATED)).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"window.duration "2x" is not a duration: write it like 2h or 90m"#
        );
    }

    #[test]
    fn start_is_inclusive_end_is_exclusive() {
        let r = Resolved {
            start: ts("2025-01-02T00:00:00Z"),
            end: Some(ts("2025-01-02T02:00:00Z")),
        };
        let open = WindowState::Open { closes: r.end };
        assert_eq!(
            r.state(ts("2025-01-01T23:59:59.999999999Z")),
            WindowState::NotYetOpen { opens: r.start }
        );
        assert_eq!(r.state(r.start), open);
        assert_eq!(r.state(ts("2025-01-02T01:59:59.999999999Z")), open);
        assert_eq!(r.state(ts("2025-01-02T02:00:00Z")), WindowState::Closed);
    }

    #[test]
    fn parses_go_durations() {
        let p = |s| parse_duration("f", s);
        assert_eq!(p("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(p("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(p("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(p("1h0.5s"), Ok(Duration::from_millis(3_600_500)));
        assert_eq!(p("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(p("2\u{00b5}s"), Ok(Duration::from_micros(2)));
        assert_eq!(p("2us"), Ok(Duration::from_micros(2)));
        assert_eq!(p("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(p("2562047h"), Ok(Duration::from_secs(2_562_047 * 3600)));
    }

    #[test]
    fn malformed_durations_are_not_durations() {
        for text in [
            "",
            "2x",
            "2",
            "h",
            "1.2.3h",
            ".h",
            "1h-5m",
            "1h 5m",
            "1e5h",
            "-",
            "+",
            "1H",
            "inf h",
            "NaNh",
            "1hx",
            // Go reads these, the CRD's pattern does not: the CLI must not accept what the API server refuses.
            "+2s",
            ".5s",
            "1.s",
            "2\u{03bc}s",
        ] {
            assert_eq!(
                parse_duration("drain.timeout", text),
                Err(WindowError::NotADuration {
                    field: "drain.timeout".into(),
                    text: text.into()
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn zero_and_negative_durations_are_not_positive() {
        for text in ["0", "0s", "0h0m", "-0", "-1h", "-1.5m", "0.0000000001ns"] {
            assert_eq!(
                parse_duration("window.duration", text),
                Err(WindowError::NotPositive {
                    field: "window.duration".into(),
                    text: text.into()
                }),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_duration("window.duration", "0s").unwrap_err().to_string(),
            r#"window.duration "0s" is not positive: write a duration longer than zero, like 2h"#
        );
    }

    #[test]
    fn values_are_go_s_to_the_nanosecond() {
        // Found by tests/input_properties.rs: kube's parser (f64 arithmetic) gave 1ns for 0.5ns, where Go (and so
        // the CRD's CEL rule) gives 0; and it accepted one nanosecond past Go's largest duration.
        let p = |s| parse_duration("f", s);
        assert!(matches!(p("0.5ns"), Err(WindowError::NotPositive { .. })));
        assert_eq!(p("1.0000000019s"), Ok(Duration::from_nanos(1_000_000_001)));
        assert_eq!(p("0.3s"), Ok(Duration::from_millis(300)));
        assert_eq!(p("2562047h47m16.854775807s"), Ok(Duration::from_nanos(i64::MAX as u64)));
        assert!(matches!(
            p("2562047h47m16.854775808s"),
            Err(WindowError::TooLong { .. })
        ));
        assert!(matches!(p("9223372036854775808ns"), Err(WindowError::TooLong { .. })));
    }

    #[test]
    fn huge_durations_are_too_long_not_a_panic() {
        for text in [
            "2562048h",
            "99999999999999999999999999h",
            &format!("{}h", "9".repeat(400)),
        ] {
            assert_eq!(
                parse_duration("window.duration", text),
                Err(WindowError::TooLong {
                    field: "window.duration".into(),
                    text: text.to_string()
                }),
                "{text:?}"
            );
        }
    }
}
