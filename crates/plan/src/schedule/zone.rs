//! The time zone of a MaintenanceSchedule: an IANA name, looked up in the database compiled into the binary.
use std::sync::LazyLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

use super::ScheduleError;

/// The time zone database compiled into the binary, never the host's `/usr/share/zoneinfo`: the controller's
/// image may have none, and a schedule must open at the same instants on every machine and in every test.
static ZONES: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

pub(super) fn parse(name: &str) -> Result<TimeZone, ScheduleError> {
    let bad = || ScheduleError::BadTimeZone { zone: name.to_owned() };
    let zone = ZONES.get(name).map_err(|_| bad())?;
    // jiff answers Etc/Unknown with a placeholder zone that behaves like UTC: not what anyone meant.
    if zone.is_unknown() {
        return Err(bad());
    }
    Ok(zone)
}
