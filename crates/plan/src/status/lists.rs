//! The pod lists and counts of a drain's status: which pods are blocked and why, which are skipped, how many
//! left, and the Blocked condition's reason, named after the first blocker's kind.
use crate::pods::DrainPlan;
use drydock_api::{
    names::*,
    v1alpha1::{NodeMaintenanceStatus, PodCounts, PodNote},
};

/// How a pod the drain waits for (drain.waitForPods) is listed.
pub const WAITING_REASON: &str = "waiting for it to complete (drain.waitForPods or drydock.dev/drain: wait-completed)";

/// Lists in status stay readable and far below the object size limit: the first this many pods are named.
pub const MAX_LISTED_PODS: usize = 50;

pub(super) fn note(namespace: &str, name: &str, reason: &str) -> PodNote {
    PodNote {
        namespace: namespace.into(),
        name: name.into(),
        reason: reason.into(),
    }
}

pub(super) fn evicted_before(status: &NodeMaintenanceStatus) -> i32 {
    status.pods.as_ref().map_or(0, |p| p.evicted)
}

pub(super) fn counts(plan: &DrainPlan, evicted: i32, blocked: usize) -> PodCounts {
    // Terminating pods were evicted already (by drydock, or deleted by someone): counted apart, not twice.
    let terminating = plan.terminating.len() as i32;
    let remaining = plan.remaining() as i32 - terminating;
    let total = evicted + remaining;
    PodCounts {
        total,
        evicted,
        remaining,
        terminating,
        blocked: blocked as i32,
        skipped: (plan.skipped.len() + plan.abandoned.len()) as i32,
        progress: format!("{evicted}/{total}"),
    }
}

pub(super) fn skipped(plan: &DrainPlan) -> Vec<PodNote> {
    const ABANDONED: &str = "terminating past spec.drain.skipWaitForDeleteSeconds: no longer waited for";
    plan.skipped
        .iter()
        .map(|(k, r)| (k, r.reason()))
        .chain(plan.abandoned.iter().map(|k| (k, ABANDONED)))
        .take(MAX_LISTED_PODS)
        .map(|(k, reason)| note(&k.namespace, &k.name, reason))
        .collect()
}

/// The kind of what blocks a pod, from its reason's words: the Blocked condition's reason, and what "once per
/// blocker" compares (crate::notify).
pub fn blocker_kind(reason: &str) -> &'static str {
    let r = reason;
    if r.starts_with("PDB ") || r.contains("PodDisruptionBudget") {
        BLOCKED_BY_PDB
    } else if r.starts_with("Pods with local storage") {
        BLOCKED_BY_LOCAL_STORAGE
    } else if r.starts_with("Pods that declare no controller") {
        BLOCKED_BY_UNMANAGED
    } else if r.starts_with("annotated karpenter.sh/") || r.starts_with("annotated cluster-autoscaler") {
        BLOCKED_BY_DO_NOT_DISRUPT
    } else if r == WAITING_REASON {
        BLOCKED_WAITING_FOR_PODS
    } else if r.starts_with("its replacement") {
        BLOCKED_NOWHERE_TO_GO
    } else if r.starts_with("keeps coming back") {
        BLOCKED_KEEPS_COMING_BACK
    } else if r.starts_with("terminating ") {
        BLOCKED_STUCK_TERMINATING
    } else {
        BLOCKED_EVICTION_REFUSED
    }
}

/// The Blocked condition: reason from the first blocker's kind, message naming up to five pods.
pub(super) fn blocked_condition(blocked: &[PodNote]) -> (&'static str, String) {
    let Some(first) = blocked.first() else {
        return (NOT_BLOCKED, String::new());
    };
    let reason = blocker_kind(&first.reason);
    let listed: Vec<String> = blocked
        .iter()
        .take(5)
        .map(|p| format!("{}/{}: {}", p.namespace, p.name, p.reason))
        .collect();
    let more = if blocked.len() > 5 {
        format!(" (and {} more)", blocked.len() - 5)
    } else {
        String::new()
    };
    (reason, format!("{}{more}", listed.join("; ")))
}
