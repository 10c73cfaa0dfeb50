//! Maintenance window arithmetic: when a NodeMaintenance may hold its node.
//!
//! Pure: the current time is always a parameter, so every boundary can be tested exactly.
use std::time::Duration;

use jiff::Timestamp;

use crate::api::v1alpha1::Window;

/// The resolved window of one maintenance: start and optional end, both absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// A window the spec describes but that cannot be resolved. The API server's validation refuses most of these
/// at apply; they are checked again because the CRD installed in a cluster may be older than this controller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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

/// Go's `time.ParseDuration` refuses anything longer than an int64 of nanoseconds.
const MAX_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// Parses a Go-style duration string (as metav1.Duration / Go's time.ParseDuration) using kube's
/// `kube::core::Duration`, returning a positive std::time::Duration or an error naming `field`.
///
/// The text is first checked against Go's grammar and range here because kube's parser panics on some inputs
/// (a sign inside the text such as `1h-5m`, or a number too large for a `Duration`), and a spec must never be
/// able to crash the controller.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, WindowError> {
    let not_a_duration = || WindowError::NotADuration {
        field: field.to_owned(),
        text: text.to_owned(),
    };
    let (negative, seconds) = check_go_duration(text).ok_or_else(not_a_duration)?;
    if seconds > MAX_SECONDS {
        return Err(WindowError::TooLong {
            field: field.to_owned(),
            text: text.to_owned(),
        });
    }
    let parsed: kube::core::Duration = text.parse().map_err(|_| not_a_duration())?;
    let length = Duration::from(parsed);
    if negative || parsed.is_negative() || length.is_zero() {
        return Err(WindowError::NotPositive {
            field: field.to_owned(),
            text: text.to_owned(),
        });
    }
    Ok(length)
}

/// Checks `text` against Go's duration grammar (`[-+]?([0-9]*(\.[0-9]*)?[a-zµμ]+)+`, or a bare `0`), returning
/// whether it is negative and roughly how many seconds it spans (for the range check), or None if malformed.
fn check_go_duration(text: &str) -> Option<(bool, f64)> {
    let (negative, mut rest) = match (text.strip_prefix('-'), text.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, text),
    };
    if rest == "0" {
        return Some((negative, 0.0));
    }
    if rest.is_empty() {
        return None;
    }
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        if !number.chars().any(|c| c.is_ascii_digit()) || number.matches('.').count() > 1 {
            return None;
        }
        let unit_end = tail.find(|c: char| !c.is_alphabetic()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        let value: f64 = number.parse().ok()?;
        seconds += value * scale;
        rest = tail;
    }
    Some((negative, seconds))
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
        assert_eq!(p("+2s"), Ok(Duration::from_secs(2)));
        assert_eq!(p(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(p("1.s"), Ok(Duration::from_secs(1)));
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
            "", "2x", "2", "h", "1.2.3h", ".h", "1h-5m", "1h 5m", "1e5h", "-", "+", "1H", "inf h", "NaNh",
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
