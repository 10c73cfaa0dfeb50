//! Which transitions people outside the cluster hear about: the notification kinds, and the rules that pick
//! them from what the planner already reports. Where they are sent is the operator's configuration alone (a
//! Secret named on `drydock run`), never anything a maintenance object says; this module only decides what.
//!
//! | from | reason | kind |
//! | --- | --- | --- |
//! | NodeMaintenance, first cordon | `Cordoned` | started |
//! | NodeMaintenance, drain blocked by a pod or reason not blocking before | `DrainBlocked` | blocked |
//! | NodeMaintenance, drain finished | `Drained` | drained |
//! | NodeMaintenance, ended Completed | its ending's (`Restored`, `WindowClosed`, `WorkDone`, ...) | completed |
//! | NodeMaintenance, ended Failed | its ending's (`TaskFailed`, `NodeRefused`, ...) | failed |
//! | NodeMaintenance, ended Failed | `DrainTimeout` (onTimeout: Abort) | timed_out |
//! | NodeMaintenance, blocked past drain.timeout under onTimeout: Hold | `DrainTimeout` | timed_out |
//! | MaintenanceSchedule | `RolloutBlocked` | blocked |
//! | MaintenanceSchedule | `RolloutStopped` | failed |
use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use drydock_api::{
    names::{DRAIN_TIMEOUT, ROLLOUT_BLOCKED, ROLLOUT_STOPPED},
    v1alpha1::{Phase, PodNote},
};

use crate::status::{Note, blocker_kind};

/// What happened, as a receiver filters on it (`events:` in the receivers' configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Started,
    Blocked,
    Drained,
    Completed,
    Failed,
    TimedOut,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Started,
        Kind::Blocked,
        Kind::Drained,
        Kind::Completed,
        Kind::Failed,
        Kind::TimedOut,
    ];

    /// The name in configuration, metrics and payloads (`timed_out`), and in the CloudEvents type
    /// (`dev.drydock.maintenance.timed_out`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Started => "started",
            Kind::Blocked => "blocked",
            Kind::Drained => "drained",
            Kind::Completed => "completed",
            Kind::Failed => "failed",
            Kind::TimedOut => "timed_out",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One transition to tell receivers about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub kind: Kind,
    /// The reason of the Event that reports the same transition.
    pub reason: String,
    pub message: String,
    /// Tells this transition apart from others of the same kind on the same object: empty for those that
    /// happen once per object (started, drained, the ending), a hash of the new blockers for `blocked`, of the
    /// blocked-since time for a timeout under Hold. With the object's UID it makes an ID that stays the same
    /// when the same transition is reported again (after a controller restart), so a receiver can drop repeats.
    pub key: String,
}

impl Notice {
    pub fn new(kind: Kind, reason: &str, message: &str, key: String) -> Self {
        Self {
            kind,
            reason: reason.into(),
            message: message.into(),
            key,
        }
    }
}

/// The kind of a maintenance's ending: a drain timeout (onTimeout: Abort) is `timed_out`, any other failure
/// `failed`, the rest `completed`.
pub fn ending(phase: Phase, reason: &str) -> Kind {
    match phase {
        Phase::Failed if reason == DRAIN_TIMEOUT => Kind::TimedOut,
        Phase::Failed => Kind::Failed,
        _ => Kind::Completed,
    }
}

/// The notice a MaintenanceSchedule's Event carries, if any: its rollout waits on a new blocker (the schedule
/// says each blocker once), or stopped (a failed task, a drain past its timeout under onDrainTimeout: Stop). A
/// node put aside (NodeQuarantined) sends nothing here: its NodeMaintenance already said `timed_out`.
pub fn from_schedule(note: &Note) -> Option<Notice> {
    let kind = match note.reason.as_str() {
        ROLLOUT_BLOCKED => Kind::Blocked,
        ROLLOUT_STOPPED => Kind::Failed,
        _ => return None,
    };
    Some(Notice::new(
        kind,
        &note.reason,
        &note.text,
        hash(&[&note.reason, &note.text]),
    ))
}

/// What blocks a drain, as far as "once per blocker" goes: the pod and the kind of its blocker (a PDB, local
/// storage, no controller...). A retry, or a PDB's counts changing in its message, is the same blocker.
fn blockers(pods: &[PodNote]) -> BTreeSet<(&str, &str, &'static str)> {
    pods.iter()
        .map(|p| (p.namespace.as_str(), p.name.as_str(), blocker_kind(&p.reason)))
        .collect()
}

/// The `blocked` notice when `new` names a blocker `old` did not (a pod newly blocked, or blocked for another
/// kind of reason); None when the same blockers stand, fewer of them, or none. Its key hashes the new blockers,
/// so the same news reported twice has one ID.
pub fn newly_blocked(old: &[PodNote], new: &[PodNote], message: &str) -> Option<Notice> {
    let before = blockers(old);
    let fresh: Vec<String> = blockers(new)
        .difference(&before)
        .map(|(ns, name, kind)| format!("{ns}/{name}:{kind}"))
        .collect();
    if fresh.is_empty() {
        return None;
    }
    let parts: Vec<&str> = fresh.iter().map(String::as_str).collect();
    Some(Notice::new(
        Kind::Blocked,
        drydock_api::names::DRAIN_BLOCKED,
        message,
        hash(&parts),
    ))
}

/// 16 hex digits of the SHA-256 of `parts`, each ended by a NUL: a fixed function, the same on every build.
pub fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_api::names::{
        DRAIN_BLOCKED, INVALID_SPEC, NODE_REFUSED, RESTORED, TASK_FAILED, WINDOW_CLOSED, WORK_DONE,
    };

    fn pod(name: &str, reason: &str) -> PodNote {
        PodNote {
            namespace: "shop".into(),
            name: name.into(),
            reason: reason.into(),
        }
    }

    fn note(reason: &str) -> Note {
        Note {
            warning: true,
            reason: reason.into(),
            text: "something".into(),
            on_node: false,
        }
    }

    const PDB: &str = "PDB shop/web allows 0 disruptions (needs 3 healthy pods and has 3)";

    #[test]
    fn kinds_have_stable_names_and_parse_back() {
        let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            ["started", "blocked", "drained", "completed", "failed", "timed_out"]
        );
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.name()), Some(k));
        }
        assert_eq!(Kind::parse("TimedOut"), None);
    }

    #[test]
    fn endings_map_to_completed_failed_or_timed_out() {
        for reason in [RESTORED, WINDOW_CLOSED, WORK_DONE, "TaskSucceeded"] {
            assert_eq!(ending(Phase::Completed, reason), Kind::Completed, "{reason}");
        }
        for reason in [TASK_FAILED, NODE_REFUSED, INVALID_SPEC, "NodeNotFound"] {
            assert_eq!(ending(Phase::Failed, reason), Kind::Failed, "{reason}");
        }
        assert_eq!(ending(Phase::Failed, DRAIN_TIMEOUT), Kind::TimedOut);
    }

    #[test]
    fn schedule_events_map_by_reason_and_others_send_nothing() {
        let kind = |r| from_schedule(&note(r)).map(|n| n.kind);
        assert_eq!(kind(ROLLOUT_BLOCKED), Some(Kind::Blocked));
        assert_eq!(kind(ROLLOUT_STOPPED), Some(Kind::Failed));
        assert_eq!(
            kind(drydock_api::names::NODE_QUARANTINED),
            None,
            "its maintenance already said timed_out"
        );
        for other in [
            "OverlappingWindows",
            "InvalidSpec",
            "Unreadable",
            DRAIN_BLOCKED,
            "Cordoned",
        ] {
            assert_eq!(kind(other), None, "{other}");
        }
        let n = from_schedule(&note(ROLLOUT_BLOCKED)).expect("notice");
        assert_eq!((n.reason.as_str(), n.message.as_str()), (ROLLOUT_BLOCKED, "something"));
        assert_eq!(n.key, from_schedule(&note(ROLLOUT_BLOCKED)).expect("notice").key);
        assert_ne!(n.key, from_schedule(&note(ROLLOUT_STOPPED)).expect("notice").key);
    }

    #[test]
    fn a_new_blocker_is_news_once_and_a_retry_with_the_same_blocker_is_not() {
        let first = newly_blocked(&[], &[pod("web-0", PDB)], "blocked").expect("first blocker");
        assert_eq!(first.kind, Kind::Blocked);
        assert_eq!(first.reason, DRAIN_BLOCKED);
        // The retry: same pod, same PDB, its counts changed in the words.
        let retry = "PDB shop/web allows 0 disruptions (needs 3 healthy pods and has 2)";
        assert_eq!(
            newly_blocked(&[pod("web-0", PDB)], &[pod("web-0", retry)], "blocked"),
            None
        );
        // One of two blockers leaves: nothing new.
        let both = [pod("web-0", PDB), pod("web-1", PDB)];
        assert_eq!(newly_blocked(&both, &both[1..], "blocked"), None);
        assert_eq!(newly_blocked(&both, &[], "blocked"), None);
    }

    #[test]
    fn another_pod_or_another_kind_of_blocker_is_news_with_its_own_key() {
        let old = [pod("web-0", PDB)];
        let another_pod = newly_blocked(&old, &[pod("web-0", PDB), pod("db-0", PDB)], "b").expect("new pod");
        let local = "Pods with local storage (use --delete-emptydir-data to override)";
        let another_kind = newly_blocked(&old, &[pod("web-0", local)], "b").expect("new kind");
        let first = newly_blocked(&[], &old, "b").expect("first");
        assert_ne!(another_pod.key, another_kind.key);
        assert_ne!(another_pod.key, first.key);
        // The same news twice (a restart before the status was written) keeps its key.
        assert_eq!(newly_blocked(&[], &old, "other words").expect("again").key, first.key);
    }

    #[test]
    fn the_hash_is_pinned() {
        // printf 'a\0b\0' | sha256sum | cut -c1-16
        assert_eq!(hash(&["a", "b"]), "8fb20ef63ced4145");
    }
}
