//! Names drydock makes up: a schedule's NodeMaintenances, and a NodeMaintenance's name as a taint value. A name
//! longer than its limit is cut and made unique again with a hash of the whole. The hash is SHA-256, a fixed
//! function, so a name comes out the same on every build and release: a restarted or upgraded controller finds
//! what it created instead of creating it twice (std's `DefaultHasher` makes no such promise).
use sha2::{Digest, Sha256};

/// Hex digits of the hash in a shortened name (64 bits).
const HASH_DIGITS: usize = 16;
/// The longest object name (a DNS subdomain).
pub const MAX_NAME: usize = 253;
/// The longest label value, and so taint value.
pub const MAX_LABEL_VALUE: usize = 63;

/// `text` itself if it has at most `max` bytes; else as much of its start as leaves room for `-` and 16 hex
/// digits of the SHA-256 of the whole `text`. The start loses any trailing character that is not a letter or
/// digit, so a DNS subdomain stays one (no `.-`) and a label value still ends well.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max.saturating_sub(HASH_DIGITS + 1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let start = text[..cut].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    let digest = Sha256::digest(text.as_bytes());
    let hash: String = digest[..HASH_DIGITS / 2].iter().map(|b| format!("{b:02x}")).collect();
    format!("{start}-{hash}")
}

/// The NodeMaintenance a schedule creates for `node` in the window `window_id`:
/// `<schedule>-<node>-<window id>`, shortened to an object name's 253 characters.
pub fn scheduled_maintenance(schedule: &str, node: &str, window_id: &str) -> String {
    shorten(&format!("{schedule}-{node}-{window_id}"), MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected hashes were computed outside Rust, e.g.
    // `printf '%s' "$name" | sha256sum | cut -c1-16`: they pin the function, not this implementation of it.

    #[test]
    fn short_names_are_kept() {
        assert_eq!(shorten("worker-1-kernel", MAX_LABEL_VALUE), "worker-1-kernel");
        let schedule = "a".repeat(234); // 253 characters with the node and the window
        let name = scheduled_maintenance(&schedule, "n", "20261206t010000z");
        assert_eq!(name, format!("{schedule}-n-20261206t010000z"));
    }

    #[test]
    fn long_schedule_names_are_pinned() {
        let schedule = format!("{}kernel", "fleet-".repeat(40));
        let name = scheduled_maintenance(
            &schedule,
            "ip-10-0-12-34.eu-central-1.compute.internal",
            "20261206t010000z",
        );
        assert_eq!(name, format!("{}-9180e1ed9f5c8a11", &schedule[..236]));
        assert_eq!(name.len(), MAX_NAME);

        // Cut just after a `.`: the dot goes, so the name is still a DNS subdomain.
        let schedule = format!("{}xxxxxxx", "batch-pool-kernel-".repeat(11));
        let name = scheduled_maintenance(
            &schedule,
            "worker-17.rack-4.dc-frankfurt.example.com",
            "20261206t010000z",
        );
        assert_eq!(
            name,
            format!("{schedule}-worker-17.rack-4.dc-frankfurt-d06359a3c8562c27"),
        );
    }

    #[test]
    fn long_taint_values_are_pinned() {
        let nm = format!("{}-node-20261122t010000z", "a-very-long-schedule-name".repeat(4));
        // The first 46 characters end in `-`, which goes.
        assert_eq!(
            shorten(&nm, MAX_LABEL_VALUE),
            "a-very-long-schedule-namea-very-long-schedule-c9491f0fa2ac8cd9"
        );
    }

    #[test]
    fn different_names_stay_different() {
        let long = "x".repeat(300);
        assert_ne!(shorten(&long, MAX_NAME), shorten(&format!("{long}y"), MAX_NAME));
        assert!(shorten(&long, MAX_LABEL_VALUE).len() <= MAX_LABEL_VALUE);
    }
}
