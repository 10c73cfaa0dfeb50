//! When a schedule's windows open and close, daylight saving included.
//!
//! # Daylight saving
//! The cron expression is read in the schedule's time zone, as wall-clock times. Every wall-clock time the
//! expression names opens exactly one window, whatever kind of expression it is:
//! - at that time when it happens once;
//! - at its first occurrence when the clocks go back and repeat it (02:30 on 2026-10-25 in Europe/Berlin is
//!   02:30 CEST; the 02:30 CET an hour later opens nothing, so an hourly schedule skips the repeated hour);
//! - at the first instant after the jump when the clocks go forward over it (02:30 on 2026-03-29 in
//!   Europe/Berlin never happens, so that window opens at 03:00 CEST). Several skipped times make one window.
//!
//! croner alone does this only for expressions with a single hour and minute: for the others (`0 2,14 * * *`,
//! `*/30 * * * *`) it drops the times that fall in the gap and runs the repeated ones twice. So croner here only
//! walks wall-clock times ([`jiff::civil::DateTime`], which has no gaps or repeats), and this module turns them
//! into instants.
//!
//! A window lasts its duration in elapsed time: 02:00 CEST + 3h on 2026-10-25 ends at 04:00 CET.
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};

use super::{Schedule, ScheduleError};

/// How far ahead [`Schedule::first_overlap`] looks: a year, so every daylight-saving change and month length is
/// seen, but at most this many starts, so a schedule of every minute costs a few milliseconds a look (its
/// first 10,000 starts, a week, already show every gap its minute and hour fields make).
const OVERLAP_HORIZON_STARTS: usize = 10_000;
const OVERLAP_HORIZON: SignedDuration = SignedDuration::from_hours(366 * 24);

/// One window of a schedule: `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Schedule {
    /// The window open at `now`, if any: the latest start at or before `now`, if it has not ended yet.
    ///
    /// When windows overlap (a duration longer than the time between starts, like hourly for 2h), the latest
    /// start wins: once the next window opens, it is the open one. Looking at the latest start alone is enough
    /// because every window lasts the same: if the latest one has ended, so has every earlier one.
    pub fn open_window(&self, now: Timestamp) -> Option<Occurrence> {
        let wall = self.search_position(now);
        let time = self.cron.find_previous_occurrence(&wall, true).ok()?;
        let start = self.instant(time)?;
        debug_assert!(start <= now, "{start} opens after {now}");
        let window = self.occurrence(start);
        (window.end > now).then_some(window)
    }

    /// The first window that starts strictly after `now`; None only if there is none before the year 5000.
    pub fn next_window(&self, now: Timestamp) -> Option<Occurrence> {
        let wall = self.search_position(now);
        let time = self.cron.find_next_occurrence(&wall, false).ok()?;
        let start = self.instant(time)?;
        debug_assert!(start > now, "{start} opens at or before {now}");
        Some(self.occurrence(start))
    }

    /// The first window, from the one open at `from` (else the next) on, that opens before the window before it
    /// has ended, with that earlier window; None if there is none within the horizon (a year, at most
    /// `OVERLAP_HORIZON_STARTS` starts). Every window lasts the same, so consecutive windows are enough. Daylight
    /// saving counts: `30 1,3 * * *` for 90m overlaps once a year, when 01:30 to 03:30 lasts one hour.
    pub fn first_overlap(&self, from: Timestamp) -> Option<(Occurrence, Occurrence)> {
        let horizon = from.checked_add(OVERLAP_HORIZON).unwrap_or(Timestamp::MAX);
        let mut earlier = self.open_window(from).or_else(|| self.next_window(from))?;
        for _ in 0..OVERLAP_HORIZON_STARTS {
            let later = self.next_window(earlier.start)?;
            if later.start < earlier.end {
                return Some((earlier, later));
            }
            if later.start > horizon {
                return None;
            }
            earlier = later;
        }
        None
    }

    /// Refuses windows that overlap ([`Schedule::first_overlap`] from `from`). `schedule` and `duration` are the
    /// spec's texts, for the message.
    pub fn check_overlap(&self, schedule: &str, duration: &str, from: Timestamp) -> Result<(), ScheduleError> {
        let Some((earlier, later)) = self.first_overlap(from) else {
            return Ok(());
        };
        let gap = later.start.duration_since(earlier.start);
        Err(ScheduleError::OverlappingWindows {
            schedule: schedule.trim().to_owned(),
            duration: duration.to_owned(),
            gap: format!("{gap:#}"),
            date: earlier.start_in(&self.zone).date(),
        })
    }

    pub(super) fn occurrence(&self, start: Timestamp) -> Occurrence {
        // Past the year 9999 only; a window that long simply never ends.
        let end = start.checked_add(self.duration).unwrap_or(Timestamp::MAX);
        Occurrence { start, end }
    }

    /// Where on the wall clock to search from for `now`: wall-clock times up to it have opened their windows
    /// at or before `now`, later ones will open after `now`.
    ///
    /// That is the wall clock at `now`, except while the clocks repeat an hour for the second time: every
    /// time in the repeated hour already opened its window on the first pass, so the search starts from the
    /// last moment before the clocks went back.
    fn search_position(&self, now: Timestamp) -> DateTime {
        let zoned = now.to_zoned(self.zone.clone());
        let wall = zoned.datetime();
        let AmbiguousOffset::Fold { after, .. } = self.zone.to_ambiguous_timestamp(wall).offset() else {
            return wall;
        };
        if zoned.offset() != after {
            return wall; // the first pass
        }
        let Some(back) = now.checked_add(SignedDuration::from_nanos(1)).ok().and_then(|next| {
            // The transition that set the clocks back: the latest one at or before `now`.
            self.zone.preceding(next).next()
        }) else {
            return wall;
        };
        match back.timestamp().checked_sub(SignedDuration::from_nanos(1)) {
            Ok(last) => last.to_zoned(self.zone.clone()).datetime(),
            Err(_) => wall,
        }
    }

    /// The instant a wall-clock time opens its window: its first occurrence if the clocks repeat it, the
    /// first instant after the jump if they skip it. Monotonic, which is what lets the searches above walk
    /// wall-clock times.
    pub(super) fn instant(&self, wall: DateTime) -> Option<Timestamp> {
        let ambiguous = self.zone.to_ambiguous_timestamp(wall);
        let gap = matches!(ambiguous.offset(), AmbiguousOffset::Gap { .. });
        // `earlier` is the unique instant, the first of a repeated time, or for a skipped time the instant with
        // the offset after the jump, which lies before the jump.
        let earlier = ambiguous.earlier().ok()?;
        if !gap {
            return Some(earlier);
        }
        self.zone.following(earlier).next().map(|jump| jump.timestamp())
    }
}

impl Occurrence {
    /// A stable id for this window, for naming and labelling its NodeMaintenances: the start in UTC, like
    /// `20261206t010000z`. UTC because local times repeat when the clocks go back; lowercase so it fits in an
    /// object name. The same window always gets the same id, so a restarted controller finds what it created.
    pub fn id(&self) -> String {
        self.start.strftime("%Y%m%dt%H%M%Sz").to_string()
    }

    /// The start in `zone`, for status: displays like `2026-12-06T02:00:00+01:00[Europe/Berlin]`.
    pub fn start_in(&self, zone: &TimeZone) -> Zoned {
        self.start.to_zoned(zone.clone())
    }

    /// The end in `zone`.
    pub fn end_in(&self, zone: &TimeZone) -> Zoned {
        self.end.to_zoned(zone.clone())
    }
}
