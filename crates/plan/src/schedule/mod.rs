//! MaintenanceSchedule arithmetic: when a recurring window opens and closes, how many nodes it may take at once,
//! and which nodes to start next.
//!
//! Pure: the current time is always a parameter, so every boundary can be tested exactly.
mod budget;
mod cron;
mod windows;
mod zone;

use std::time::Duration;

use croner::Cron;
use jiff::tz::TimeZone;

use crate::window::{WindowError, parse_duration};
pub use budget::{PickInput, budget, pick};
pub use cron::CronError;
pub use windows::Occurrence;

/// A schedule the spec describes but that cannot be used. Each message says what to write instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("schedule {schedule:?} is not a cron expression: {reason}")]
    BadCron { schedule: String, reason: CronError },
    #[error("schedule {schedule:?} never matches a real date (like 30 February): change its day-of-month or month")]
    NeverFires { schedule: String },
    #[error("timeZone {zone:?} is not an IANA time zone: write a name like Europe/Berlin, America/New_York or UTC")]
    BadTimeZone { zone: String },
    #[error("{0}")]
    BadDuration(WindowError),
    #[error("maxUnavailable {value} would never let a node be maintained: write at least 1 or 1%")]
    ZeroMaxUnavailable { value: String },
    #[error("maxUnavailable {value:?} is not a count or a percent: write a count like 1 or a percent from 1% to 100%")]
    BadMaxUnavailable { value: String },
    #[error(
        "schedule {schedule:?} opens windows as little as {gap} apart (first on {date}) but duration {duration} \
         keeps each open longer, so a window would open while the one before still holds nodes: make duration \
         shorter than {gap}, or the starts further apart"
    )]
    OverlappingWindows {
        schedule: String,
        duration: String,
        /// The time between the two starts, like `1m` or `23h`.
        gap: String,
        /// The day (in the schedule's zone) the first of the two windows opens; only a date, so the message
        /// stays the same while a frequent schedule's next overlap moves on by the minute.
        date: jiff::civil::Date,
    },
}

/// A parsed MaintenanceSchedule timing: when windows open, in which zone, and for how long.
///
/// The expression is the 5-field cron of a Kubernetes CronJob: minute, hour, day-of-month, month, day-of-week,
/// each `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to the end), or a list of those;
/// `?` is `*` in the day fields; months and weekdays may be names (JAN, MON); day-of-week 7 is Sunday, as in
/// Vixie cron. When both day fields are restricted (`*/2` counts as restricted), a day matching either one
/// matches, as in CronJob; when one is `*`, the other decides. Also accepted: the CronJob macros @yearly,
/// @annually, @monthly, @weekly, @daily, @midnight and @hourly. Refused: seconds or year fields, `@every`, `TZ=`
/// prefixes, and croner's extensions (`L`, `W`, `#`, `+`), which a CronJob would not read the same way.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
    duration: Duration,
}

impl Schedule {
    /// `duration` is a Go duration (`3h`); errors name the spec fields schedule, timeZone and duration.
    pub fn parse(cron: &str, time_zone: &str, duration: &str) -> Result<Self, ScheduleError> {
        let cron = cron::parse(cron)?;
        let zone = zone::parse(time_zone)?;
        let duration = parse_duration("duration", duration).map_err(ScheduleError::BadDuration)?;
        Ok(Schedule { cron, zone, duration })
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }
}

#[cfg(test)]
mod tests;
