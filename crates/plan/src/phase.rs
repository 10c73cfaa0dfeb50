//! The maintenance state machine: given what was observed (the object, its node, the pods on the node and the
//! clock), the one next step. The controller carries the step out and records the result; it never decides.
use jiff::Timestamp;

use super::{
    node::{self, NodeChange, NodeView},
    pods::DrainPlan,
    window::{Resolved, WindowState},
};
use drydock_api::names::{
    CONTROL_PLANE_GUARD, DRAIN_TIMEOUT, INVALID_SPEC, NODE_HELD, NODE_NOT_FOUND, QUOTA_EXCEEDED, RESTORED,
    WINDOW_CLOSED, WINDOW_NOT_OPEN, WORK_DONE,
};
use drydock_api::v1alpha1::{
    NodeMaintenanceSpec, NodeMaintenanceStatus, OnTimeout, Phase, PriorState, WhenNodeNotReady,
};

/// Everything a decision depends on.
pub struct Observed<'a> {
    pub name: &'a str,
    pub spec: &'a NodeMaintenanceSpec,
    pub status: &'a NodeMaintenanceStatus,
    pub now: Timestamp,
    pub deleting: bool,
    pub has_finalizer: bool,
    /// The resolved window, or what is wrong with the spec (window, selector, timeout) in a user's words.
    pub window: Result<Resolved, String>,
    /// drain.timeout, parsed.
    pub drain_timeout: Option<std::time::Duration>,
    /// None: the node does not exist.
    pub node: Option<&'a NodeView>,
    /// The drain as planned from the pods now on the node; None when the node is not held yet.
    pub drain: Option<&'a DrainPlan>,
    /// Pods whose eviction a PodDisruptionBudget (or webhook) refused recently and that are still on the node.
    pub pdb_blocked: usize,
    /// Label held nodes so medik8s remediation leaves them alone (operator flag).
    pub exclude_remediation: bool,
    /// The cluster-wide limit on nodes under maintenance at once.
    pub quota: Quota,
    /// The other control-plane nodes, when the target is one.
    pub control_plane_peers: Option<Peers>,
}

/// Nodes under maintenance at once: at most `limit`; `held_elsewhere` are held by other maintenances now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: usize,
    pub held_elsewhere: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            limit: usize::MAX,
            held_elsewhere: 0,
        }
    }
}

/// The other control-plane nodes: how many, how many Ready, which are under maintenance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peers {
    pub total: usize,
    pub ready: usize,
    pub held: Vec<String>,
}

/// Why a maintenance ended the way it did; also the Event reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    pub phase: Phase,
    pub reason: &'static str,
    pub message: String,
}

/// The one next thing to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    AddFinalizer,
    /// Not started, or not yet: nothing is done to the node.
    Wait {
        phase: Phase,
        reason: &'static str,
        message: String,
        until: Option<Timestamp>,
    },
    /// Write this to the node (first cordon, re-cordon after interference, deferred NoExecute taints).
    Hold(NodeChange),
    /// Evict and delete what the plan says; some pods may be blocked.
    Drain,
    /// Everything that had to leave is gone; hold until the window closes.
    Drained {
        until: Option<Timestamp>,
    },
    /// Give the node back (when held) and end the maintenance.
    Restore {
        change: Option<NodeChange>,
        ending: Ending,
    },
    ReleaseFinalizer,
    /// Completed or Failed, node given back: nothing more to do.
    Done,
}

fn ending(phase: Phase, reason: &'static str, message: String) -> Ending {
    Ending { phase, reason, message }
}

/// The next step for one NodeMaintenance.
pub fn decide(o: &Observed) -> Step {
    // While it holds the node, the maintenance's status keeps the node's prior state too: if someone removes
    // drydock's annotations from the node, the hold (and what to give back) is known from there.
    let recorded = o
        .status
        .prior
        .as_ref()
        .filter(|_| o.status.started_at.is_some() && !matches!(o.status.phase, Phase::Completed | Phase::Failed));
    let holds = o
        .node
        .is_some_and(|n| n.held_by.as_deref() == Some(o.name) || (n.held_by.is_none() && recorded.is_some()));
    let restore = |ending: Ending| Step::Restore {
        change: o.node.filter(|_| holds).map(|n| give_back(n, o.status)),
        ending,
    };

    if o.deleting {
        return if holds {
            restore(ending(
                Phase::Completed,
                RESTORED,
                "NodeMaintenance deleted: node restored".into(),
            ))
        } else if o.has_finalizer {
            Step::ReleaseFinalizer
        } else {
            Step::Done
        };
    }
    if matches!(o.status.phase, Phase::Completed | Phase::Failed) {
        // A restore interrupted by a crash is finished here; otherwise the end is final.
        return if holds {
            restore(ending(
                o.status.phase,
                RESTORED,
                o.status.message.clone().unwrap_or_default(),
            ))
        } else {
            Step::Done
        };
    }
    if !o.has_finalizer {
        return Step::AddFinalizer;
    }
    let window = match &o.window {
        Ok(w) => w,
        Err(e) => return restore(ending(Phase::Failed, INVALID_SPEC, e.clone())),
    };
    let Some(node) = o.node else {
        let message = if o.status.started_at.is_some() {
            format!("node {} was deleted during the maintenance", o.spec.node_name)
        } else {
            format!(
                "node {} does not exist: check spec.nodeName (kubectl get nodes)",
                o.spec.node_name
            )
        };
        return Step::Restore {
            change: None,
            ending: ending(Phase::Failed, NODE_NOT_FOUND, message),
        };
    };

    match window.state(o.now) {
        WindowState::NotYetOpen { opens } if !holds => Step::Wait {
            phase: Phase::Waiting,
            reason: WINDOW_NOT_OPEN,
            message: format!("the window opens at {opens}; the node is untouched until then"),
            until: Some(opens),
        },
        WindowState::Closed => {
            let message = match o.drain {
                Some(d) if holds && !d.is_drained() => format!(
                    "window closed before the drain finished ({} pods were still to leave): node restored",
                    d.remaining()
                ),
                _ if holds => "window closed: node restored".to_string(),
                _ => "window closed before the maintenance could start: node untouched".to_string(),
            };
            restore(ending(Phase::Completed, WINDOW_CLOSED, message))
        }
        WindowState::NotYetOpen { .. } | WindowState::Open { .. } => open(o, node, window.end, holds, recorded),
    }
}

fn open(o: &Observed, node: &NodeView, closes: Option<Timestamp>, holds: bool, recorded: Option<&PriorState>) -> Step {
    if let Some(other) = node.held_by.as_deref().filter(|h| *h != o.name) {
        return Step::Wait {
            phase: Phase::Pending,
            reason: NODE_HELD,
            message: format!(
                "node {} is held by NodeMaintenance {other}; waiting for it to complete",
                node.name
            ),
            until: None,
        };
    }
    if !holds && let Some(wait) = admission(o, node) {
        return wait;
    }
    // NoExecute taints only while nothing is left to drain: a pod that came after the drain finished would
    // otherwise be deleted by the taint-eviction controller, past its PodDisruptionBudget.
    let drained = o.status.drained_at.is_some() && o.drain.is_none_or(DrainPlan::is_drained);
    let mut wanted = node::wanted_taints(o.name, &o.spec.taints, drained);
    // Non-graceful node shutdown, when the person asked for it: only while the node is NotReady with pods left.
    let node_down = holds
        && !node.ready
        && o.spec.drain.when_node_not_ready == WhenNodeNotReady::OutOfService
        && o.drain.is_some_and(|d| !d.is_drained());
    if node_down {
        wanted.push(node::out_of_service_taint());
    }
    if let Some(change) = node::hold_as_recorded(node, o.name, &wanted, o.exclude_remediation, recorded) {
        return Step::Hold(change);
    }
    if holds
        && node.ready
        && let Some(change) = node
            .prior
            .as_ref()
            .or(recorded)
            .and_then(|p| node::drop_out_of_service(node, p))
    {
        return Step::Hold(change);
    }
    let Some(plan) = o.drain.filter(|_| holds) else {
        return Step::Drain;
    };
    if plan.is_drained() {
        if let Some(done) = o.spec.complete_when.as_ref().and_then(|c| work_done(c, node, o.status)) {
            return restore_now(node, o.status, ending(Phase::Completed, WORK_DONE, done));
        }
        return Step::Drained { until: closes };
    }
    let blocked = plan.stuck() > 0 || o.pdb_blocked > 0;
    if let (true, Some(limit), Some(since)) = (blocked, o.drain_timeout, o.status.blocked_since.as_ref()) {
        let waited = o.now.duration_since(since.0);
        if waited.unsigned_abs() >= limit && o.spec.drain.on_timeout == OnTimeout::Abort {
            return restore_now(
                node,
                o.status,
                ending(
                    Phase::Failed,
                    DRAIN_TIMEOUT,
                    format!(
                        "drain blocked for longer than drain.timeout ({}s) with {} pods left: node restored (onTimeout: Abort)",
                        limit.as_secs(),
                        plan.remaining()
                    ),
                ),
            );
        }
    }
    Step::Drain
}

/// Whether a maintenance that does not hold its node yet may take it now: the cluster-wide limit, and the
/// control-plane guard (one control-plane node at a time, only while the others are Ready, never the only one
/// unless the object opts in). Waiting is reported, never a failure.
fn admission(o: &Observed, node: &NodeView) -> Option<Step> {
    let pending = |reason, message: String| {
        Some(Step::Wait {
            phase: Phase::Pending,
            reason,
            message,
            until: None,
        })
    };
    if o.quota.held_elsewhere >= o.quota.limit {
        return pending(
            QUOTA_EXCEEDED,
            format!(
                "{} nodes are under maintenance, the limit is {} (drydock run --max-concurrent-maintenances): waiting for one to finish",
                o.quota.held_elsewhere, o.quota.limit
            ),
        );
    }
    let peers = o.control_plane_peers.as_ref().filter(|_| node.control_plane)?;
    if let Some(other) = peers.held.first() {
        return pending(
            CONTROL_PLANE_GUARD,
            format!(
                "control-plane node {other} is under maintenance: control-plane nodes are taken one at a time (etcd quorum)"
            ),
        );
    }
    if peers.ready < peers.total {
        return pending(
            CONTROL_PLANE_GUARD,
            format!(
                "{} of the {} other control-plane nodes are not Ready: waiting, so etcd keeps its quorum",
                peers.total - peers.ready,
                peers.total
            ),
        );
    }
    if peers.total == 0 && !o.spec.allow_sole_control_plane {
        return pending(
            CONTROL_PLANE_GUARD,
            format!(
                "{} is the cluster's only control-plane node: its restart takes the API server down (drydock's watch \
                 included); set spec.allowSoleControlPlane: true to go ahead",
                node.name
            ),
        );
    }
    None
}

/// A message when `complete_when` says the work is done; the node must be Ready in every case.
fn work_done(
    c: &drydock_api::v1alpha1::CompleteWhen,
    node: &NodeView,
    status: &NodeMaintenanceStatus,
) -> Option<String> {
    if !node.ready {
        return None;
    }
    let mut why = Vec::new();
    if c.rebooted {
        let (before, now) = (status.boot_id_at_drain.as_deref()?, node.boot_id.as_deref()?);
        if before == now {
            return None;
        }
        why.push("the node rebooted (bootID changed) and is Ready again".to_string());
    }
    if let Some(m) = &c.node_info {
        let wanted = [
            ("kernelVersion", &m.kernel_version),
            ("osImage", &m.os_image),
            ("kubeletVersion", &m.kubelet_version),
            ("containerRuntimeVersion", &m.container_runtime_version),
        ];
        for (field, pattern) in wanted {
            if let Some(pattern) = pattern {
                let actual = node.node_info.get(field).map(String::as_str).unwrap_or("");
                if !wildcard(pattern, actual) {
                    return None;
                }
                why.push(format!("{field} {actual} matches {pattern}"));
            }
        }
    }
    (!why.is_empty()).then(|| format!("work done: {}; node restored", why.join(", ")))
}

/// Shell-style match where `*` stands for any run of characters (no other metacharacters).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

fn restore_now(node: &NodeView, status: &NodeMaintenanceStatus, ending: Ending) -> Step {
    Step::Restore {
        change: Some(give_back(node, status)),
        ending,
    }
}

/// The restore of a held node. The node's own record of its prior state wins (it is written in the same patch
/// that cordons); the object's status is the fallback. With neither, only drydock's own taint is removed and
/// the node stays cordoned: uncordoning a node that may have been cordoned before is the one unsafe guess.
fn give_back(node: &NodeView, status: &NodeMaintenanceStatus) -> NodeChange {
    let prior = node
        .prior
        .clone()
        .or_else(|| status.prior.clone())
        .unwrap_or_else(node::safe_prior);
    node::restore(node, &prior)
}

/// Whether the drain's blocked clock should run: blocked, and nothing left the node since the last look.
pub fn still_blocked(plan: &DrainPlan, pdb_blocked: usize, progressed: bool) -> bool {
    !progressed && (plan.stuck() > 0 || pdb_blocked > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::{PodKey, Refusal};
    use drydock_api::names::OUT_OF_SERVICE_TAINT;
    use drydock_api::v1alpha1::{DrainSpec, MaintenanceTaint, TaintEffect};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }
    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }
    fn node() -> NodeView {
        NodeView {
            name: "n1".into(),
            ..Default::default()
        }
    }
    fn held(n: &NodeView, name: &str, spec: &NodeMaintenanceSpec, drained: bool) -> NodeView {
        let c = node::hold(n, name, &node::wanted_taints(name, &spec.taints, drained), false).expect("change");
        NodeView {
            name: n.name.clone(),
            unschedulable: c.unschedulable,
            taints: c.taints,
            held_by: c.held_by,
            prior: c.prior,
            labels: Vec::new(),
            annotations: c.annotations.into_keys().collect(),
            ..n.clone()
        }
    }
    fn spec() -> NodeMaintenanceSpec {
        NodeMaintenanceSpec {
            node_name: "n1".into(),
            ..Default::default()
        }
    }
    fn open_window() -> Result<Resolved, String> {
        Ok(Resolved {
            start: ts("2026-01-01T00:00:00Z"),
            end: Some(ts("2026-01-01T02:00:00Z")),
        })
    }
    struct Case {
        spec: NodeMaintenanceSpec,
        status: NodeMaintenanceStatus,
        now: Timestamp,
        deleting: bool,
        has_finalizer: bool,
        window: Result<Resolved, String>,
        timeout: Option<std::time::Duration>,
        node: Option<NodeView>,
        drain: Option<DrainPlan>,
        pdb_blocked: usize,
        quota: Quota,
        peers: Option<Peers>,
    }
    impl Case {
        fn new() -> Self {
            Case {
                spec: spec(),
                status: NodeMaintenanceStatus::default(),
                now: ts("2026-01-01T01:00:00Z"),
                deleting: false,
                has_finalizer: true,
                window: open_window(),
                timeout: None,
                node: Some(node()),
                drain: None,
                pdb_blocked: 0,
                quota: Quota::default(),
                peers: None,
            }
        }
        fn decide(&self) -> Step {
            decide(&Observed {
                name: "nm1",
                spec: &self.spec,
                status: &self.status,
                now: self.now,
                deleting: self.deleting,
                has_finalizer: self.has_finalizer,
                window: self.window.clone(),
                drain_timeout: self.timeout,
                node: self.node.as_ref(),
                drain: self.drain.as_ref(),
                pdb_blocked: self.pdb_blocked,
                exclude_remediation: false,
                quota: self.quota,
                control_plane_peers: self.peers.clone(),
            })
        }
        fn holding(mut self) -> Self {
            self.node = Some(held(&node(), "nm1", &self.spec, false));
            self
        }
    }

    #[test]
    fn finalizer_comes_first() {
        let c = Case {
            has_finalizer: false,
            ..Case::new()
        };
        assert_eq!(c.decide(), Step::AddFinalizer);
    }

    #[test]
    fn an_open_window_cordons_the_node() {
        match Case::new().decide() {
            Step::Hold(change) => {
                assert!(change.unschedulable);
                assert_eq!(change.held_by.as_deref(), Some("nm1"));
            }
            s => panic!("expected Hold, got {s:?}"),
        }
    }

    #[test]
    fn a_future_window_leaves_the_node_alone() {
        let c = Case {
            now: ts("2025-12-31T23:00:00Z"),
            ..Case::new()
        };
        assert!(matches!(
            c.decide(),
            Step::Wait {
                phase: Phase::Waiting,
                until: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn a_node_held_by_another_maintenance_waits() {
        let mut c = Case::new();
        c.node = Some(held(&node(), "other", &spec(), false));
        match c.decide() {
            Step::Wait {
                phase: Phase::Pending,
                message,
                ..
            } => assert!(message.contains("other")),
            s => panic!("expected Pending, got {s:?}"),
        }
    }

    #[test]
    fn a_missing_node_fails_with_a_reason() {
        let c = Case {
            node: None,
            ..Case::new()
        };
        match c.decide() {
            Step::Restore { change: None, ending } => {
                assert_eq!((ending.phase, ending.reason), (Phase::Failed, "NodeNotFound"));
                assert!(ending.message.contains("does not exist"));
            }
            s => panic!("expected Failed, got {s:?}"),
        }
        let mut c = Case {
            node: None,
            ..Case::new()
        };
        c.status.started_at = Some(Time(ts("2026-01-01T00:10:00Z")));
        let Step::Restore { ending, .. } = c.decide() else {
            panic!("expected Restore")
        };
        assert!(ending.message.contains("deleted during the maintenance"));
    }

    #[test]
    fn a_held_node_drains_then_holds() {
        let mut c = Case::new().holding();
        c.drain = Some(DrainPlan {
            evict: vec![key("a")],
            ..Default::default()
        });
        assert_eq!(c.decide(), Step::Drain);
        c.drain = Some(DrainPlan::default());
        assert_eq!(
            c.decide(),
            Step::Drained {
                until: Some(ts("2026-01-01T02:00:00Z"))
            }
        );
    }

    #[test]
    fn no_execute_taints_come_after_the_drain() {
        let mut c = Case::new();
        c.spec.taints = vec![MaintenanceTaint {
            key: "x/evict".into(),
            value: None,
            effect: TaintEffect::NoExecute,
        }];
        c = c.holding();
        c.drain = Some(DrainPlan::default());
        assert!(
            matches!(c.decide(), Step::Drained { .. }),
            "drained, NoExecute still withheld"
        );
        c.status.drained_at = Some(Time(c.now));
        match c.decide() {
            Step::Hold(change) => assert!(change.taints.iter().any(|t| t.effect == "NoExecute")),
            s => panic!("expected the deferred taint, got {s:?}"),
        }
    }

    #[test]
    fn someone_uncordoning_the_node_is_undone() {
        let mut c = Case::new().holding();
        if let Some(n) = c.node.as_mut() {
            n.unschedulable = false;
        }
        assert!(matches!(c.decide(), Step::Hold(ch) if ch.unschedulable));
    }

    #[test]
    fn the_window_closing_restores_the_node_and_says_whether_the_drain_finished() {
        let mut c = Case::new().holding();
        c.now = ts("2026-01-01T02:00:00Z");
        c.drain = Some(DrainPlan {
            evict: vec![key("a")],
            ..Default::default()
        });
        match c.decide() {
            Step::Restore {
                change: Some(ch),
                ending,
            } => {
                assert!(!ch.unschedulable && ch.held_by.is_none());
                assert_eq!(ending.phase, Phase::Completed);
                assert!(
                    ending.message.contains("before the drain finished"),
                    "{}",
                    ending.message
                );
            }
            s => panic!("expected Restore, got {s:?}"),
        }
    }

    #[test]
    fn a_window_closed_before_start_completes_without_touching_the_node() {
        let c = Case {
            now: ts("2026-01-01T03:00:00Z"),
            ..Case::new()
        };
        assert!(matches!(c.decide(), Step::Restore { change: None, ending } if ending.phase == Phase::Completed));
    }

    #[test]
    fn deletion_restores_then_releases_the_finalizer() {
        let c = Case {
            deleting: true,
            ..Case::new().holding()
        };
        assert!(matches!(c.decide(), Step::Restore { change: Some(_), .. }));
        let c = Case {
            deleting: true,
            ..Case::new()
        };
        assert_eq!(c.decide(), Step::ReleaseFinalizer);
        let c = Case {
            deleting: true,
            has_finalizer: false,
            ..Case::new()
        };
        assert_eq!(c.decide(), Step::Done);
    }

    #[test]
    fn an_interrupted_restore_is_finished_after_a_restart() {
        let mut c = Case::new().holding();
        c.status.phase = Phase::Completed;
        assert!(matches!(c.decide(), Step::Restore { change: Some(_), .. }));
        c.node = Some(node());
        assert_eq!(c.decide(), Step::Done);
    }

    #[test]
    fn restore_keeps_a_node_cordoned_that_was_cordoned_before() {
        let mut c = Case::new();
        let before = NodeView {
            unschedulable: true,
            ..node()
        };
        c.node = Some(held(&before, "nm1", &c.spec, false));
        c.deleting = true;
        let Step::Restore { change: Some(ch), .. } = c.decide() else {
            panic!("expected Restore")
        };
        assert!(ch.unschedulable);
        assert!(ch.taints.is_empty());
    }

    #[test]
    fn restore_without_any_record_of_the_prior_state_leaves_the_node_cordoned() {
        let mut c = Case {
            deleting: true,
            ..Case::new().holding()
        };
        if let Some(n) = c.node.as_mut() {
            n.prior = None;
        }
        let Step::Restore { change: Some(ch), .. } = c.decide() else {
            panic!("expected Restore")
        };
        assert!(ch.unschedulable, "never uncordon on a guess");
        assert!(ch.taints.is_empty(), "drydock's own taint is removed");
    }

    #[test]
    fn invalid_spec_fails_and_gives_a_held_node_back() {
        let c = Case {
            window: Err("window.duration \"2x\" is not a duration".into()),
            ..Case::new().holding()
        };
        match c.decide() {
            Step::Restore {
                change: Some(_),
                ending,
            } => assert_eq!(ending.reason, "InvalidSpec"),
            s => panic!("expected Restore, got {s:?}"),
        }
    }

    #[test]
    fn a_blocked_drain_times_out_per_on_timeout() {
        let mut c = Case::new().holding();
        c.timeout = Some(std::time::Duration::from_secs(600));
        c.status.blocked_since = Some(Time(ts("2026-01-01T00:40:00Z")));
        c.drain = Some(DrainPlan {
            refused: vec![(key("bare"), Refusal::Unmanaged)],
            ..Default::default()
        });
        assert_eq!(
            c.decide(),
            Step::Drain,
            "Hold (the default) keeps the node and keeps reporting"
        );
        c.spec.drain = DrainSpec {
            on_timeout: OnTimeout::Abort,
            ..Default::default()
        };
        match c.decide() {
            Step::Restore {
                change: Some(ch),
                ending,
            } => {
                assert_eq!((ending.phase, ending.reason), (Phase::Failed, "DrainTimeout"));
                assert!(!ch.unschedulable);
            }
            s => panic!("expected Abort to restore, got {s:?}"),
        }
        c.status.blocked_since = Some(Time(ts("2026-01-01T00:55:00Z")));
        assert_eq!(c.decide(), Step::Drain, "not yet timed out");
        c.status.blocked_since = Some(Time(ts("2026-01-01T00:40:00Z")));
        c.drain = Some(DrainPlan {
            evict: vec![key("web")],
            ..Default::default()
        });
        c.pdb_blocked = 1;
        assert!(
            matches!(c.decide(), Step::Restore { .. }),
            "a PDB block counts as blocked too"
        );
    }

    #[test]
    fn the_blocked_clock_runs_only_without_progress() {
        let blocked = DrainPlan {
            refused: vec![(key("a"), Refusal::LocalStorage)],
            ..Default::default()
        };
        assert!(still_blocked(&blocked, 0, false));
        assert!(!still_blocked(&blocked, 0, true));
        assert!(still_blocked(&DrainPlan::default(), 2, false));
        assert!(!still_blocked(&DrainPlan::default(), 0, false));
    }

    #[test]
    fn the_cluster_limit_holds_new_maintenances_back() {
        let c = Case {
            quota: Quota {
                limit: 1,
                held_elsewhere: 1,
            },
            ..Case::new()
        };
        assert!(matches!(
            c.decide(),
            Step::Wait {
                phase: Phase::Pending,
                reason: "QuotaExceeded",
                ..
            }
        ));
        let c = Case {
            quota: Quota {
                limit: 2,
                held_elsewhere: 1,
            },
            ..Case::new()
        };
        assert!(matches!(c.decide(), Step::Hold(_)));
        let held = Case {
            quota: Quota {
                limit: 1,
                held_elsewhere: 1,
            },
            ..Case::new().holding()
        };
        assert!(
            !matches!(held.decide(), Step::Wait { .. }),
            "a maintenance already holding its node goes on"
        );
    }

    #[test]
    fn control_plane_nodes_are_taken_one_at_a_time_while_the_rest_are_ready() {
        let cp = NodeView {
            control_plane: true,
            ..node()
        };
        let peers = |total, ready, held: &[&str]| Peers {
            total,
            ready,
            held: held.iter().map(|s| s.to_string()).collect(),
        };
        let case = |p: Peers| Case {
            node: Some(cp.clone()),
            peers: Some(p),
            ..Case::new()
        };
        let reason = |s: Step| match s {
            Step::Wait { reason, message, .. } => Some((reason, message)),
            _ => None,
        };
        let (r, m) = reason(case(peers(2, 2, &["cp-2"])).decide()).expect("waits");
        assert_eq!(r, "ControlPlaneGuard");
        assert!(m.contains("cp-2"), "{m}");
        let (_, m) = reason(case(peers(2, 1, &[])).decide()).expect("waits");
        assert!(m.contains("not Ready"), "{m}");
        let (_, m) = reason(case(peers(0, 0, &[])).decide()).expect("the sole control plane waits");
        assert!(m.contains("allowSoleControlPlane"), "{m}");
        let mut sole = case(peers(0, 0, &[]));
        sole.spec.allow_sole_control_plane = true;
        assert!(matches!(sole.decide(), Step::Hold(_)), "opted in");
        assert!(matches!(case(peers(2, 2, &[])).decide(), Step::Hold(_)));
    }

    #[test]
    fn complete_when_rebooted_ends_the_maintenance_once_the_boot_id_changes() {
        let mut c = Case::new().holding();
        c.spec.complete_when = Some(drydock_api::v1alpha1::CompleteWhen {
            rebooted: true,
            node_info: None,
        });
        c.drain = Some(DrainPlan::default());
        c.status.boot_id_at_drain = Some("boot-1".into());
        if let Some(n) = c.node.as_mut() {
            n.ready = true;
            n.boot_id = Some("boot-1".into());
        }
        assert!(matches!(c.decide(), Step::Drained { .. }), "same boot: still held");
        if let Some(n) = c.node.as_mut() {
            n.boot_id = Some("boot-2".into());
            n.ready = false;
        }
        assert!(matches!(c.decide(), Step::Drained { .. }), "rebooted but not Ready yet");
        if let Some(n) = c.node.as_mut() {
            n.ready = true;
        }
        match c.decide() {
            Step::Restore {
                change: Some(_),
                ending,
            } => assert_eq!((ending.phase, ending.reason), (Phase::Completed, "WorkDone")),
            s => panic!("expected WorkDone, got {s:?}"),
        }
    }

    #[test]
    fn complete_when_node_info_matches_patterns() {
        let mut c = Case::new().holding();
        c.spec.complete_when = Some(drydock_api::v1alpha1::CompleteWhen {
            rebooted: false,
            node_info: Some(drydock_api::v1alpha1::NodeInfoMatch {
                kernel_version: Some("6.6.*".into()),
                ..Default::default()
            }),
        });
        c.drain = Some(DrainPlan::default());
        if let Some(n) = c.node.as_mut() {
            n.ready = true;
            n.node_info.insert("kernelVersion".into(), "6.1.0-18-amd64".into());
        }
        assert!(matches!(c.decide(), Step::Drained { .. }));
        if let Some(n) = c.node.as_mut() {
            n.node_info.insert("kernelVersion".into(), "6.6.30-1".into());
        }
        assert!(matches!(c.decide(), Step::Restore { ending, .. } if ending.message.contains("6.6.30-1")));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("6.6.*", "6.6.30"));
        assert!(!wildcard("6.6.*", "6.16.1"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXcYYb"));
        assert!(wildcard("exact", "exact") && !wildcard("exact", "exactly"));
        assert!(!wildcard("ab*ba", "aba"), "prefix and suffix may not overlap");
    }

    #[test]
    fn waiting_pods_keep_the_drain_open_and_count_as_blocked_for_the_timeout() {
        let mut c = Case::new().holding();
        c.drain = Some(DrainPlan {
            waiting: vec![key("job")],
            ..Default::default()
        });
        assert_eq!(c.decide(), Step::Drain);
        c.timeout = Some(std::time::Duration::from_secs(60));
        c.status.blocked_since = Some(Time(ts("2026-01-01T00:00:00Z")));
        c.spec.drain.on_timeout = OnTimeout::Abort;
        assert!(matches!(c.decide(), Step::Restore { .. }));
    }

    /// A held node whose kubelet is gone, pods still to leave.
    fn dead_node(when: WhenNodeNotReady) -> Case {
        let mut c = Case::new().holding();
        c.spec.drain.when_node_not_ready = when;
        c.status.started_at = Some(Time(ts("2026-01-01T00:10:00Z")));
        c.drain = Some(DrainPlan {
            terminating: vec![key("web")],
            ..Default::default()
        });
        if let Some(n) = c.node.as_mut() {
            n.ready = false;
        }
        c
    }

    #[test]
    fn out_of_service_only_when_asked_and_only_while_the_node_is_not_ready() {
        assert_eq!(
            dead_node(WhenNodeNotReady::Wait).decide(),
            Step::Drain,
            "waiting is the default"
        );
        let Step::Hold(change) = dead_node(WhenNodeNotReady::OutOfService).decide() else {
            panic!("the out-of-service taint is added");
        };
        assert!(
            change
                .taints
                .iter()
                .any(|t| t.key == OUT_OF_SERVICE_TAINT && t.effect == "NoExecute")
        );
        assert!(
            change.prior.as_ref().is_some_and(|p| p
                .added_taints
                .contains(&node::taint_id(OUT_OF_SERVICE_TAINT, "NoExecute"))),
            "recorded as drydock's, so restore takes it away"
        );

        // The node is back: the taint goes at once, before anything else.
        let mut back = dead_node(WhenNodeNotReady::OutOfService);
        let tainted = NodeView {
            taints: change.taints.clone(),
            prior: change.prior.clone(),
            ready: true,
            ..back.node.clone().expect("node")
        };
        back.node = Some(tainted);
        let Step::Hold(undo) = back.decide() else {
            panic!("the out-of-service taint is removed");
        };
        assert!(!undo.taints.iter().any(|t| t.key == OUT_OF_SERVICE_TAINT));
        assert!(
            undo.unschedulable && undo.held_by.as_deref() == Some("nm1"),
            "still held"
        );

        // Nothing left to drain: not added.
        let mut drained = dead_node(WhenNodeNotReady::OutOfService);
        drained.drain = Some(DrainPlan::default());
        assert!(!matches!(drained.decide(), Step::Hold(_)));
    }
}
