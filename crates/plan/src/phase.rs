//! The maintenance state machine: given what was observed (the object, its node, the pods on the node and the
//! clock), the one next step. The controller carries the step out and records the result; it never decides.
use jiff::Timestamp;

use super::{
    node::{self, NodeChange, NodeView},
    pods::DrainPlan,
    window::WindowState,
};
use drydock_api::names::{
    CONTROL_PLANE_GUARD, DRAIN_TIMEOUT, INVALID_SPEC, NODE_HELD, NODE_NOT_FOUND, QUOTA_EXCEEDED, RESTORED, TASK_FAILED,
    TASK_SUCCEEDED, WINDOW_CLOSED, WINDOW_NOT_OPEN, WORK_DONE,
};
use drydock_api::v1alpha1::{
    NodeMaintenanceStatus, OnTaskFailure, OnTimeout, Phase, PriorState, TaskPhase, TaskSpec, WhenNodeNotReady,
};

mod observed;
pub use observed::{Observed, Peers, Quota};

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
    /// The node is drained and spec.task has not been started: create its pod.
    StartTask,
    /// The task runs, or has ended and the node stays held (completeWhen not met yet, or it failed with
    /// onFailure: Hold); look again when its pod changes or the window closes.
    AwaitTask {
        until: Option<Timestamp>,
    },
    /// Give the node back (when held) and end the maintenance; `stop_task`: delete the task pod first, it has
    /// not finished.
    Restore {
        change: Option<NodeChange>,
        ending: Ending,
        stop_task: bool,
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
    match next(o) {
        Step::Restore { change, mut ending, .. } => {
            if let Some(note) = change
                .as_ref()
                .and_then(|c| o.node.and_then(|n| kept_cordon(n, o.status, c)))
            {
                ending.message = format!("{}; {note}", ending.message);
            }
            // Whatever ends the maintenance ends its task: nothing runs on a node drydock no longer holds.
            let running = o.task.filter(|t| !t.phase.is_final());
            if let Some(t) = running {
                ending.message = format!(
                    "{}; task {} stopped before it finished",
                    ending.message,
                    crate::task::display(t)
                );
            }
            Step::Restore {
                change,
                ending,
                stop_task: running.is_some(),
            }
        }
        step => step,
    }
}

/// A restore that leaves the node cordoned because someone else cordoned it during the maintenance says so.
fn kept_cordon(node: &NodeView, status: &NodeMaintenanceStatus, change: &NodeChange) -> Option<String> {
    let who = node.cordoned_by.as_deref()?;
    let was_cordoned = node
        .prior
        .as_ref()
        .or(status.prior.as_ref())
        .is_some_and(|p| p.was_unschedulable);
    (change.unschedulable && !was_cordoned)
        .then(|| format!("left cordoned: {who} cordoned it during the maintenance (uncordon it when it is ready)"))
}

fn next(o: &Observed) -> Step {
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
        stop_task: false,
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
    let window = match &o.checked {
        Ok(c) => &c.window,
        Err(e) => return restore(ending(Phase::Failed, INVALID_SPEC, e.to_string())),
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
            stop_task: false,
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
        if let Some(task) = &o.spec.task {
            return after_drain(o, node, task, closes);
        }
        if let Some(done) = o.spec.complete_when.as_ref().and_then(|c| work_done(c, node, o.status)) {
            return restore_now(node, o.status, ending(Phase::Completed, WORK_DONE, done));
        }
        return Step::Drained { until: closes };
    }
    let blocked = plan.stuck() > 0 || o.pdb_blocked > 0;
    if let (true, Some(limit), Some(since)) = (
        blocked,
        o.checked.as_ref().ok().and_then(|c| c.drain_timeout),
        o.status.blocked_since.as_ref(),
    ) {
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
        stop_task: false,
    }
}

/// A drained node with a task: start it once; then the maintenance is done when it succeeded and completeWhen
/// (if any) holds. A failed task holds the node for a person or gives it back, as task.onFailure says.
fn after_drain(o: &Observed, node: &NodeView, spec: &TaskSpec, closes: Option<Timestamp>) -> Step {
    let Some(task) = o.task else {
        return Step::StartTask;
    };
    let name = crate::task::display(task);
    match task.phase {
        TaskPhase::Pending | TaskPhase::Running => Step::AwaitTask { until: closes },
        TaskPhase::Succeeded => match &o.spec.complete_when {
            None => restore_now(
                node,
                o.status,
                ending(
                    Phase::Completed,
                    TASK_SUCCEEDED,
                    format!("task {name} succeeded; node restored"),
                ),
            ),
            Some(c) => match work_done(c, node, o.status) {
                Some(done) => restore_now(
                    node,
                    o.status,
                    ending(Phase::Completed, WORK_DONE, format!("task {name} succeeded; {done}")),
                ),
                None => Step::AwaitTask { until: closes },
            },
        },
        TaskPhase::Failed | TaskPhase::Stopped => match spec.on_failure {
            OnTaskFailure::Hold => Step::AwaitTask { until: closes },
            OnTaskFailure::Restore => restore_now(
                node,
                o.status,
                ending(
                    Phase::Failed,
                    TASK_FAILED,
                    format!(
                        "task {name} {}; node restored (task.onFailure: Restore)",
                        crate::task::summary(task)
                    ),
                ),
            ),
        },
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
mod tests;
