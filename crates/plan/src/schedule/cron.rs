//! The cron expression of a MaintenanceSchedule, checked against the CronJob grammar field by field so that
//! every error names its field and says what to write, then handed to croner as plain lists of numbers.
use croner::Cron;
use croner::parser::CronParser;

use super::ScheduleError;

/// The CronJob macros: robfig/cron's, less `@every`, which is an interval rather than a time of day.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// What is wrong with a cron expression, in words that say what to write instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CronError {
    #[error("set the time zone in timeZone, not in schedule")]
    ZonePrefix,
    #[error("{name} is not supported: write 5 fields, or one of {}", MACROS.map(|(name, _)| name).join(" "))]
    UnknownMacro { name: String },
    #[error(
        "it has {count} fields: write 5 fields (minute hour day-of-month month day-of-week), like \"0 2 * * 0\" for \
         Sundays at 02:00{}",
        if *.count > 5 { "; seconds and years are not supported" } else { "" }
    )]
    FieldCount { count: usize },
    #[error(
        "{field} field {text:?} is not valid: write *, {hint}, a range like 1-5, a list like 1,3 or a step like */10"
    )]
    Malformed {
        field: &'static str,
        text: String,
        hint: &'static str,
    },
    #[error("{field} field {text:?} has {value}, out of range: write {hint}")]
    OutOfRange {
        field: &'static str,
        text: String,
        value: String,
        hint: &'static str,
    },
    #[error("{field} field {text:?} has a step of 0: write 1 or more, like */10")]
    ZeroStep { field: &'static str, text: String },
    #[error("{field} field {text:?} has the range {low}-{high}, which runs backwards: write the smaller value first")]
    Backwards {
        field: &'static str,
        text: String,
        low: u32,
        high: u32,
    },
    /// croner refused the checked, canonical form: a gap between the checks above and croner's grammar.
    #[error("{0}")]
    Rejected(String),
}

/// Checks `text` field by field, so that errors name the field, then lets croner build the matcher.
pub(super) fn parse(text: &str) -> Result<Cron, ScheduleError> {
    let bad = |reason: CronError| ScheduleError::BadCron {
        schedule: text.to_owned(),
        reason,
    };
    // ASCII whitespace only, as the CRD's pattern (`\s` in Go's regexp) splits: a no-break space is part of a
    // field there, so it must be here too, or the two would count a different number of fields.
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
        return Err(bad(CronError::ZonePrefix));
    }
    let expanded = if trimmed.starts_with('@') {
        match MACROS.iter().find(|(name, _)| *name == trimmed) {
            Some((_, fields)) => *fields,
            None => {
                return Err(bad(CronError::UnknownMacro {
                    name: trimmed.to_owned(),
                }));
            }
        }
    } else {
        trimmed
    };
    let fields: Vec<&str> = expanded.split_ascii_whitespace().collect();
    let Ok(fields) = <[&str; 5]>::try_from(fields.as_slice()) else {
        return Err(bad(CronError::FieldCount { count: fields.len() }));
    };
    let [minute, hour, day, month, weekday] = &FIELDS;
    let [minutes, hours, days, months, weekdays] = fields;
    let minutes = minute.check(minutes).map_err(&bad)?;
    let hours = hour.check(hours).map_err(&bad)?;
    let days = day.check(days).map_err(&bad)?;
    let months = month.check(months).map_err(&bad)?;
    let weekdays = weekday.check(weekdays).map_err(&bad)?;
    if weekdays.star && !fits_some_month(days.values, months.values) {
        return Err(ScheduleError::NeverFires {
            schedule: text.to_owned(),
        });
    }
    // croner only ever sees plain lists of numbers, so it cannot read any field differently than checked here.
    let weekdays = Checked {
        values: (weekdays.values | weekdays.values >> 7) & 0x7f, // 7 is Sunday, croner's 0
        ..weekdays
    };
    let canonical = [minutes, hours, days, months, weekdays]
        .map(|field| field.to_string())
        .join(" ");
    CronParser::new()
        .parse(&canonical)
        .map_err(|e| bad(CronError::Rejected(e.to_string())))
}

/// Whether some day of `days` exists in some month of `months` (bit n = day or month n). With day-of-week
/// restricted, a day matches on the weekday alone, so only a `*` day-of-week can make an expression impossible.
fn fits_some_month(days: u64, months: u64) -> bool {
    const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12_u32)
        .any(|month| months & (1 << month) != 0 && (1..=LONGEST[month as usize - 1]).any(|day| days & (1 << day) != 0))
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for min, min+1, …
    names: &'static [&'static str],
    /// How to write a value of this field, for error messages.
    hint: &'static str,
    question_mark: bool,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        hint: "a number from 0 to 59",
        question_mark: false,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        hint: "a number from 0 to 23",
        question_mark: false,
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        hint: "a number from 1 to 31",
        question_mark: true,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
        hint: "a number from 1 to 12 or a name like JAN",
        question_mark: false,
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
        hint: "a number from 0 to 7 (0 and 7 are Sunday) or a name like MON",
        question_mark: true,
    },
];

/// One checked field: the values it selects (bit n = value n), and whether it is a wildcard. In the day fields
/// that decides how they combine: when either is a wildcard a day must match both, else either one.
struct Checked {
    values: u64,
    star: bool,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.star {
            return f.write_str("*");
        }
        let mut first = true;
        for value in (0..64).filter(|value| self.values & (1 << value) != 0) {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{value}")?;
        }
        Ok(())
    }
}

/// Why a value in a field is wrong.
enum BadValue {
    /// Neither a number nor one of the field's names.
    Malformed,
    OutOfRange,
}

impl Field {
    /// Checks one field against the CronJob grammar (robfig/cron's), or says what is wrong with it.
    fn check(&self, text: &str) -> Result<Checked, CronError> {
        let field = self.name;
        let hint = self.hint;
        let invalid = || CronError::Malformed {
            field,
            text: text.to_owned(),
            hint,
        };
        let value = |token: &str, range_end: bool| {
            self.value(token, range_end).map_err(|bad| match bad {
                BadValue::Malformed => invalid(),
                BadValue::OutOfRange => CronError::OutOfRange {
                    field,
                    text: text.to_owned(),
                    value: token.to_owned(),
                    hint,
                },
            })
        };
        let mut checked = Checked { values: 0, star: false };
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            let has_step = step.is_some();
            let step = match step {
                None => 1,
                Some(step) if !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) => match step.parse() {
                    Ok(0) => {
                        return Err(CronError::ZeroStep {
                            field,
                            text: text.to_owned(),
                        });
                    }
                    Ok(step) => step,
                    Err(_) => u32::MAX, // more digits than a u32 holds: selects only the first value
                },
                Some(_) => return Err(invalid()),
            };
            let (low, high) = if range == "*" || (range == "?" && self.question_mark) {
                // As in robfig/cron, `*/n` with n > 1 is a list, not a wildcard.
                checked.star |= step == 1;
                (self.min, self.max)
            } else if let Some((low, high)) = range.split_once('-') {
                let (low, high) = (value(low, false)?, value(high, true)?);
                if low > high {
                    return Err(CronError::Backwards {
                        field,
                        text: text.to_owned(),
                        low,
                        high,
                    });
                }
                (low, high)
            } else {
                let low = value(range, false)?;
                // `a/n` runs from a to the end of the field.
                (low, if has_step { self.max } else { low })
            };
            let mut v = low;
            while v <= high {
                checked.values |= 1 << v;
                v = v.saturating_add(step);
            }
        }
        Ok(checked)
    }

    /// One value: a number or, where the field has them, a name. A range may end on Sunday as 7 (FRI-SUN).
    fn value(&self, text: &str, range_end: bool) -> Result<u32, BadValue> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u32>() {
                Ok(value) if (self.min..=self.max).contains(&value) => Ok(value),
                _ => Err(BadValue::OutOfRange),
            };
        }
        let index = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
            .ok_or(BadValue::Malformed)?;
        let value = self.min + index as u32;
        Ok(if range_end && self.name == "day-of-week" && value == 0 {
            7
        } else {
            value
        })
    }
}
