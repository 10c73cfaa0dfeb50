//! When to try again: a pod whose eviction was refused waits a backoff that doubles per refusal, and a
//! reconcile that failed is requeued after a backoff that doubles per failure. Pure: the time is passed in.
//!
//! The per-pod memory is only an optimisation: after a restart it is empty, and a second eviction of a
//! terminating pod is harmless.
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};

use crate::{
    comeback::Tally,
    pods::{DrainPlan, PodKey},
};
use drydock_api::v1alpha1::PodNote;

/// First retry of a refused eviction; doubles per refusal up to [`MAX_POD_RETRY`]. Never zero: no hot loop.
pub const FIRST_POD_RETRY: Duration = Duration::from_secs(1);
/// A PDB's room usually comes back within seconds (a replacement becomes Ready); half a minute bounds the wait.
pub const MAX_POD_RETRY: Duration = Duration::from_secs(30);
/// A reconcile that failed on a conflict (someone wrote the object first) is tried again at once, almost.
pub const AFTER_CONFLICT: Duration = Duration::from_millis(200);
/// The longest wait between tries of a reconcile that keeps failing.
pub const MAX_RECONCILE_RETRY: Duration = Duration::from_secs(300);

/// How long a reconcile that failed `failures` times in a row (this one included) waits before the next try.
pub fn after_failure(failures: u32, conflict: bool) -> Duration {
    if conflict {
        return AFTER_CONFLICT;
    }
    Duration::from_secs(1u64 << failures.min(8)).min(MAX_RECONCILE_RETRY)
}

/// How one eviction (or deletion) went, as far as retrying is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tried {
    /// Accepted: the pod is terminating.
    Evicted,
    /// It was gone already (or replaced by a new pod of the same name).
    Gone,
    /// Not now, for this reason (for people): tried again after a backoff.
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Refusal {
    key: PodKey,
    reason: String,
    attempts: u32,
    retry_at: Timestamp,
}

/// What the controller remembers of one maintenance's evictions between reconciles.
#[derive(Clone, Debug, Default)]
pub struct Retries {
    evicted: BTreeSet<String>,
    refused: BTreeMap<String, Refusal>,
    /// Evictions per pod owner: the bound that stops a pod that keeps coming back.
    tally: Tally,
}

/// What a round tries now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Due {
    pub evict: Vec<PodKey>,
    pub delete: Vec<PodKey>,
    /// Pods held back because their owner's evictions are used up: recorded as refused already.
    pub came_back: usize,
}

impl Retries {
    /// The pods to evict and delete now: not evicted before, not waiting out a backoff, and (for evictions)
    /// within their owner's bound. Forgets pods no longer on the node first, so memory stays bounded.
    pub fn due(&mut self, plan: &DrainPlan, now: Timestamp) -> Due {
        self.retain(plan);
        let due =
            |k: &&PodKey| !self.evicted.contains(&k.uid) && self.refused.get(&k.uid).is_none_or(|r| r.retry_at <= now);
        let want: Vec<PodKey> = plan.evict.iter().filter(due).cloned().collect();
        let delete: Vec<PodKey> = plan.delete.iter().filter(due).cloned().collect();
        let (evict, came_back) = self.tally.admit(plan, want);
        let n = came_back.len();
        for (key, reason) in came_back {
            self.refuse(key, reason, now);
        }
        Due {
            evict,
            delete,
            came_back: n,
        }
    }

    /// Records how a try of `key` (one [`Retries::due`] returned) went.
    pub fn record(&mut self, plan: &DrainPlan, key: PodKey, tried: Tried, now: Timestamp) {
        if tried != Tried::Evicted {
            self.tally.undo(plan, &key);
        }
        match tried {
            Tried::Evicted | Tried::Gone => {
                self.refused.remove(&key.uid);
                self.evicted.insert(key.uid);
            }
            Tried::Refused(reason) => self.refuse(key, reason, now),
        }
    }

    /// Pods refused at their last attempt and still to go: these make the drain "blocked".
    pub fn blocked(&self, plan: &DrainPlan) -> Vec<PodNote> {
        let mut notes: Vec<PodNote> = plan
            .evict
            .iter()
            .chain(&plan.delete)
            .filter_map(|k| self.refused.get(&k.uid))
            .map(|r| PodNote {
                namespace: r.key.namespace.clone(),
                name: r.key.name.clone(),
                reason: r.reason.clone(),
            })
            .collect();
        notes.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        notes
    }

    /// How long until the earliest refused pod may be tried again (zero when one is due now).
    pub fn next_retry(&self, now: Timestamp) -> Option<Duration> {
        self.refused
            .values()
            .map(|r| r.retry_at.duration_since(now).max(SignedDuration::ZERO).unsigned_abs())
            .min()
    }

    fn retain(&mut self, plan: &DrainPlan) {
        let live: BTreeSet<&str> = plan
            .evict
            .iter()
            .chain(&plan.delete)
            .chain(&plan.terminating)
            .chain(&plan.held_back)
            .map(|k| k.uid.as_str())
            .collect();
        self.evicted.retain(|uid| live.contains(uid.as_str()));
        self.refused.retain(|uid, _| live.contains(uid.as_str()));
    }

    fn refuse(&mut self, key: PodKey, reason: String, now: Timestamp) {
        let attempts = self.refused.get(&key.uid).map_or(0, |r| r.attempts) + 1;
        let delay = FIRST_POD_RETRY
            .saturating_mul(1 << attempts.min(6).saturating_sub(1))
            .min(MAX_POD_RETRY);
        let retry_at = SignedDuration::try_from(delay)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
            .unwrap_or(Timestamp::MAX);
        self.refused.insert(
            key.uid.clone(),
            Refusal {
                key,
                reason,
                attempts,
                retry_at,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "shop".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    fn plan(evict: &[&str]) -> DrainPlan {
        DrainPlan {
            evict: evict.iter().map(|n| key(n)).collect(),
            ..Default::default()
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + s).expect("timestamp")
    }

    #[test]
    fn a_refused_pod_waits_a_backoff_that_doubles_up_to_half_a_minute() {
        let p = plan(&["web"]);
        let mut r = Retries::default();
        let mut now = at(0);
        let mut waits = Vec::new();
        for _ in 0..8 {
            let due = r.due(&p, now);
            assert_eq!(due.evict, vec![key("web")], "due again once its backoff is over");
            r.record(
                &p,
                key("web"),
                Tried::Refused("PDB shop/web allows 0 disruptions".into()),
                now,
            );
            assert!(
                r.due(&p, now).evict.is_empty(),
                "not tried again before its backoff is over"
            );
            let wait = r.next_retry(now).expect("a retry is pending");
            waits.push(wait.as_secs());
            now += SignedDuration::try_from(wait).expect("small");
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(r.blocked(&p).len(), 1);
    }

    #[test]
    fn an_evicted_pod_is_not_evicted_again_and_a_gone_pod_is_forgotten() {
        let p = plan(&["web", "db"]);
        let mut r = Retries::default();
        let due = r.due(&p, at(0));
        assert_eq!(due.evict.len(), 2);
        r.record(&p, key("web"), Tried::Evicted, at(0));
        r.record(&p, key("db"), Tried::Refused("no".into()), at(0));
        assert_eq!(r.due(&p, at(60)).evict, vec![key("db")]);
        r.record(&p, key("db"), Tried::Gone, at(60));
        assert!(r.due(&p, at(120)).evict.is_empty());
        assert!(r.blocked(&p).is_empty());
        // Off the node: forgotten, so a new pod of the same UID (never, in practice) would start clean.
        r.due(&plan(&[]), at(180));
        assert!(r.evicted.is_empty() && r.refused.is_empty());
    }

    #[test]
    fn a_failing_reconcile_backs_off_to_five_minutes_and_a_conflict_retries_at_once() {
        let waits: Vec<u64> = (1..=10).map(|n| after_failure(n, false).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 256, 256]);
        assert!(after_failure(50, false) <= MAX_RECONCILE_RETRY);
        assert_eq!(after_failure(7, true), AFTER_CONFLICT);
    }
}
