//! What a MaintenanceSchedule does with its nodes in one look: which get a NodeMaintenance now, which carry the
//! `drydock.dev/upcoming` taint, and the counts for status. Pure; the schedule controller gathers the inputs.
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use drydock_api::{
    names::DRAIN_TIMEOUT,
    v1alpha1::{DrainTimeoutPolicy, NodeCounts, NodeMaintenanceStatus, Phase},
};

/// One selected node as the schedule sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolNode {
    pub ready: bool,
    /// Held by any NodeMaintenance (drydock.dev/held-by), this schedule's or not.
    pub held: bool,
    /// drydock.dev/exclude=true.
    pub excluded: bool,
    /// Carries the drydock.dev/upcoming taint now.
    pub upcoming: bool,
    /// The phase of this window's NodeMaintenance for the node, if the schedule created one.
    pub maintenance: Option<Phase>,
    /// Held now by one of this schedule's NodeMaintenances, whichever window created it.
    pub holding: bool,
    /// This window's NodeMaintenance for the node ran a task that failed: what it says (see [`task_failure`]).
    pub failed_task: Option<String>,
    /// This window's NodeMaintenance for the node passed drain.timeout: what it says (see [`drain_timeout`]).
    pub drain_timed_out: Option<String>,
    /// Carries drydock.dev/quarantined: put aside after a drain timed out, until a person removes the label.
    pub quarantined: bool,
}

/// When a maintenance whose drain is blocked passes `timeout`, for the schedule to look again then (nothing else
/// wakes it at that moment).
pub fn drain_timeout_at(status: &NodeMaintenanceStatus, timeout: Option<std::time::Duration>) -> Option<Timestamp> {
    let since = status.blocked_since.as_ref()?.0;
    let timeout = jiff::SignedDuration::try_from(timeout?).ok()?;
    (!finished(Some(status.phase)))
        .then(|| since.checked_add(timeout).ok())
        .flatten()
}

/// What a NodeMaintenance whose drain passed `timeout` says to its schedule: one that ended Failed for it
/// (onTimeout: Abort), or one still blocked past it (onTimeout: Hold); None otherwise.
pub fn drain_timeout(
    nm: &str,
    node: &str,
    status: &NodeMaintenanceStatus,
    timeout: Option<std::time::Duration>,
    now: Timestamp,
) -> Option<String> {
    let ended_by_it = status.phase == Phase::Failed
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == drydock_api::names::COMPLETED && c.reason == DRAIN_TIMEOUT);
    if ended_by_it {
        return Some(format!(
            "the drain of node {node} (NodeMaintenance {nm}) timed out: {}",
            status.message.as_deref().unwrap_or("drain.timeout passed")
        ));
    }
    let timeout = timeout?;
    let since = status.blocked_since.as_ref()?.0;
    let held = !finished(Some(status.phase));
    (held && now.duration_since(since).unsigned_abs() >= timeout).then(|| {
        let left = status.pods.as_ref().map_or(0, |p| p.remaining);
        let why = status
            .blocked_pods
            .first()
            .map(|p| format!(" ({}/{}: {})", p.namespace, p.name, p.reason))
            .unwrap_or_default();
        format!(
            "the drain of node {node} (NodeMaintenance {nm}) is blocked past drain.timeout ({}s) with {left} pods left{why}: the node is held for a person (rollout.onDrainTimeout: Stop)",
            timeout.as_secs()
        )
    })
}

/// What a NodeMaintenance whose task failed says to its schedule; None when its task did not fail.
pub fn task_failure(nm: &str, status: &drydock_api::v1alpha1::NodeMaintenanceStatus) -> Option<String> {
    let t = status
        .task
        .as_ref()
        .filter(|t| t.phase == drydock_api::v1alpha1::TaskPhase::Failed)?;
    Some(format!(
        "the task of NodeMaintenance {nm} ({}) {}",
        crate::task::display(t),
        crate::task::summary(t)
    ))
}

/// The schedule's decisions for this look.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetPlan {
    /// Add the upcoming taint to these nodes.
    pub taint: Vec<String>,
    /// Remove it from these.
    pub untaint: Vec<String>,
    pub counts: NodeCounts,
    pub excluded: Vec<String>,
    /// The rollout stopped: a task failed, or a drain timed out under onDrainTimeout: Stop, and no node is
    /// started until that NodeMaintenance is deleted.
    pub stopped: Option<String>,
    /// Every node that may start now, in the order they would, for the pacing to pick at most `free` of
    /// (`pacing::choose`), passing over those its gates or approvals hold back.
    pub candidates: Vec<String>,
    /// How many more nodes the budget lets start now.
    pub free: usize,
    /// Nodes this window started a NodeMaintenance for.
    pub started: usize,
    /// Put these aside: label them drydock.dev/quarantined (their drain timed out, onDrainTimeout: Quarantine).
    pub quarantine: Vec<String>,
    /// Nodes carrying the quarantine label now (passed over).
    pub quarantined: Vec<String>,
}

fn finished(p: Option<Phase>) -> bool {
    matches!(p, Some(Phase::Completed | Phase::Failed))
}

/// `window_open`: the schedule's window is open now (and the schedule not suspended); `budget` from
/// `schedule::budget`; `on_drain_timeout`: the schedule's rollout.onDrainTimeout.
pub fn plan(
    nodes: &BTreeMap<String, PoolNode>,
    budget: usize,
    window_open: bool,
    on_drain_timeout: DrainTimeoutPolicy,
) -> FleetPlan {
    let set = |f: &dyn Fn(&PoolNode) -> bool| -> BTreeSet<String> {
        nodes
            .iter()
            .filter(|(_, n)| f(n))
            .map(|(name, _)| name.clone())
            .collect()
    };
    let done = set(&|n| finished(n.maintenance));
    // Under maintenance (anyone's), NotReady, or started by us and not finished: all count against the budget.
    let busy = set(&|n| n.held || !n.ready || (n.maintenance.is_some() && !finished(n.maintenance)));
    let excluded = set(&|n| n.excluded);
    let quarantined = set(&|n| n.quarantined);
    let quarantine = match on_drain_timeout {
        DrainTimeoutPolicy::Quarantine => set(&|n| n.drain_timed_out.is_some() && !n.quarantined),
        DrainTimeoutPolicy::Stop => BTreeSet::new(),
    };
    // A failed task stops the rollout where it is: the next node would most likely fail the same way. So does a
    // drain that timed out, unless the schedule puts such nodes aside.
    let stopped = nodes
        .values()
        .find_map(|n| n.failed_task.clone())
        .or_else(|| match on_drain_timeout {
            DrainTimeoutPolicy::Stop => nodes.values().find_map(|n| n.drain_timed_out.clone()),
            DrainTimeoutPolicy::Quarantine => None,
        });
    let passed_over: BTreeSet<String> = excluded.union(&quarantined).cloned().collect();
    let input = super::schedule::PickInput {
        selected: nodes.keys().cloned().collect(),
        done: done.clone(),
        busy: busy.clone(),
        excluded: passed_over.clone(),
        budget: usize::MAX,
        window_open: window_open && stopped.is_none(),
    };
    let candidates = super::schedule::pick(&input);
    let used = input.selected.intersection(&busy).count();
    let free = budget.saturating_sub(used);
    // Nodes still to be maintained this window avoid new pods (PreferNoSchedule), so pods evicted from one node
    // do not land on the next; a node loses the taint once its own maintenance is over, or when the window closes.
    let upcoming = |name: &String, n: &PoolNode| window_open && !n.excluded && !n.quarantined && !done.contains(name);
    let taint = nodes
        .iter()
        .filter(|(name, n)| upcoming(name, n) && !n.upcoming)
        .map(|(k, _)| k.clone())
        .collect();
    let untaint = nodes
        .iter()
        .filter(|(name, n)| !upcoming(name, n) && n.upcoming)
        .map(|(k, _)| k.clone())
        .collect();
    // In progress: what the schedule holds now, from any window (an earlier window's maintenance may still hold
    // a node), and this window's maintenances not finished yet (e.g. Pending behind another's hold).
    let in_progress = set(&|n| n.holding || (n.maintenance.is_some() && !finished(n.maintenance)));
    let failed = set(&|n| n.maintenance == Some(Phase::Failed) && !n.holding);
    let accounted = done
        .union(&in_progress)
        .chain(&passed_over)
        .collect::<BTreeSet<_>>()
        .len();
    let counts = NodeCounts {
        selected: nodes.len() as i32,
        done: done.difference(&in_progress).filter(|n| !failed.contains(*n)).count() as i32,
        in_progress: in_progress.len() as i32,
        failed: failed.len() as i32,
        remaining: nodes.len().saturating_sub(accounted) as i32,
    };
    FleetPlan {
        taint,
        untaint,
        counts,
        excluded: excluded.into_iter().collect(),
        stopped,
        candidates,
        free,
        started: nodes.values().filter(|n| n.maintenance.is_some()).count(),
        quarantine: quarantine.into_iter().collect(),
        quarantined: quarantined.into_iter().collect(),
    }
}

#[cfg(test)]
impl FleetPlan {
    /// The nodes the budget alone would start now: the first `free` candidates.
    pub fn within_budget(&self) -> Vec<String> {
        self.candidates.iter().take(self.free).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_(nodes: &BTreeMap<String, PoolNode>, budget: usize, open: bool) -> FleetPlan {
        plan(nodes, budget, open, DrainTimeoutPolicy::Stop)
    }

    fn pool(n: usize) -> BTreeMap<String, PoolNode> {
        (1..=n)
            .map(|i| {
                (
                    format!("n{i}"),
                    PoolNode {
                        ready: true,
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn one_at_a_time_in_name_order_with_the_rest_marked_upcoming() {
        let mut nodes = pool(3);
        let p = plan_(&nodes, 1, true);
        assert_eq!(p.within_budget(), vec!["n1"]);
        assert_eq!(p.taint, vec!["n1", "n2", "n3"]);
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Draining);
            n.upcoming = true;
        }
        assert!(
            plan_(&nodes, 1, true).within_budget().is_empty(),
            "the next waits for the first to finish"
        );
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Completed);
        }
        let p = plan_(&nodes, 1, true);
        assert_eq!(p.within_budget(), vec!["n2"]);
        assert_eq!(p.untaint, vec!["n1"], "a finished node loses the upcoming taint");
        assert_eq!(
            p.counts,
            NodeCounts {
                selected: 3,
                done: 1,
                in_progress: 0,
                failed: 0,
                remaining: 2
            }
        );
    }

    #[test]
    fn a_failed_task_stops_the_rollout_until_its_maintenance_is_deleted() {
        let mut nodes = pool(3);
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Failed);
            n.upcoming = true;
            n.failed_task = Some("the task of NodeMaintenance m1 (t/m1-task) failed (exit 3)".into());
        }
        let p = plan_(&nodes, 2, true);
        assert!(
            p.within_budget().is_empty(),
            "no node starts after a failed task: {:?}",
            p.within_budget()
        );
        assert_eq!(
            p.stopped.as_deref(),
            Some("the task of NodeMaintenance m1 (t/m1-task) failed (exit 3)")
        );
        assert_eq!(p.counts.failed, 1);
        // Deleted by the person who looked: the node is back in the pool and the rollout goes on.
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = None;
            n.failed_task = None;
        }
        let p = plan_(&nodes, 2, true);
        assert_eq!(p.within_budget(), vec!["n1", "n2"]);
        assert_eq!(p.stopped, None);
    }

    #[test]
    fn busy_not_ready_and_excluded_nodes() {
        let mut nodes = pool(4);
        if let Some(n) = nodes.get_mut("n1") {
            n.held = true;
        } // someone else's maintenance
        if let Some(n) = nodes.get_mut("n2") {
            n.ready = false;
        }
        if let Some(n) = nodes.get_mut("n3") {
            n.excluded = true;
        }
        let p = plan_(&nodes, 3, true);
        assert_eq!(
            p.within_budget(),
            vec!["n4"],
            "two of the three slots are taken by unavailable nodes"
        );
        assert_eq!(p.excluded, vec!["n3"]);
        assert!(
            !p.taint.contains(&"n3".to_string()),
            "excluded nodes are not marked upcoming"
        );
    }

    #[test]
    fn a_closed_window_starts_nothing_and_clears_the_upcoming_taints() {
        let mut nodes = pool(2);
        nodes.values_mut().for_each(|n| n.upcoming = true);
        let p = plan_(&nodes, 2, false);
        assert!(p.within_budget().is_empty());
        assert_eq!(p.untaint, vec!["n1", "n2"]);
    }

    #[test]
    fn in_progress_counts_nodes_held_by_any_window_of_the_schedule() {
        let mut nodes = pool(3);
        // n1 is still held by the maintenance an earlier window made; no window is open now.
        if let Some(n) = nodes.get_mut("n1") {
            n.held = true;
            n.holding = true;
        }
        let closed = plan_(&nodes, 1, false);
        assert_eq!((closed.counts.in_progress, closed.counts.remaining), (1, 2));
        // A new window: this window has nothing for n1 yet, and the budget is used by n1's hold.
        let open = plan_(&nodes, 1, true);
        assert!(open.within_budget().is_empty());
        assert_eq!(
            open.counts,
            NodeCounts {
                selected: 3,
                done: 0,
                in_progress: 1,
                failed: 0,
                remaining: 2
            }
        );
        // Someone else's hold is not the schedule's work.
        if let Some(n) = nodes.get_mut("n1") {
            n.holding = false;
        }
        assert_eq!(plan_(&nodes, 1, false).counts.in_progress, 0);
    }

    #[test]
    fn failed_nodes_are_done_for_this_window_and_counted() {
        let mut nodes = pool(2);
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Failed);
        }
        let p = plan_(&nodes, 1, true);
        assert_eq!(
            p.within_budget(),
            vec!["n2"],
            "a failure does not block the pool or get retried in the same window"
        );
        assert_eq!((p.counts.failed, p.counts.done), (1, 0));
    }

    fn timed_out(nodes: &mut BTreeMap<String, PoolNode>, name: &str, phase: Phase) {
        if let Some(n) = nodes.get_mut(name) {
            n.maintenance = Some(phase);
            n.held = phase != Phase::Failed;
            n.holding = n.held;
            n.drain_timed_out = Some(format!("the drain of node {name} timed out"));
        }
    }

    #[test]
    fn a_timed_out_drain_stops_the_rollout_under_stop() {
        let mut nodes = pool(3);
        timed_out(&mut nodes, "n1", Phase::Draining);
        let p = plan(&nodes, 2, true, DrainTimeoutPolicy::Stop);
        assert!(
            p.within_budget().is_empty(),
            "nothing starts behind a timed-out drain: {:?}",
            p.within_budget()
        );
        assert_eq!(p.stopped.as_deref(), Some("the drain of node n1 timed out"));
        assert!(p.quarantine.is_empty());
    }

    #[test]
    fn a_timed_out_drain_is_put_aside_under_quarantine_and_the_rest_goes_on() {
        let mut nodes = pool(3);
        timed_out(&mut nodes, "n1", Phase::Failed);
        let p = plan(&nodes, 1, true, DrainTimeoutPolicy::Quarantine);
        assert_eq!(p.quarantine, vec!["n1"], "label the node that timed out");
        assert_eq!(p.within_budget(), vec!["n2"], "and go on with the rest");
        assert_eq!(p.stopped, None);
        // Labelled: it is passed over in later windows (no maintenance of this window yet) and not marked upcoming.
        if let Some(n) = nodes.get_mut("n1") {
            n.quarantined = true;
            n.maintenance = None;
            n.drain_timed_out = None;
        }
        let p = plan(&nodes, 3, true, DrainTimeoutPolicy::Quarantine);
        assert_eq!(p.within_budget(), vec!["n2", "n3"]);
        assert_eq!(p.quarantined, vec!["n1"]);
        assert!(p.quarantine.is_empty(), "labelled once");
        assert!(!p.taint.contains(&"n1".to_string()));
        assert_eq!(p.counts.remaining, 2);
    }

    #[test]
    fn candidates_list_every_node_that_could_start_and_free_what_the_budget_leaves() {
        let mut nodes = pool(4);
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Draining);
        }
        let p = plan_(&nodes, 2, true);
        assert_eq!(p.candidates, vec!["n2", "n3", "n4"]);
        assert_eq!((p.free, p.started), (1, 1));
        assert_eq!(p.within_budget(), vec!["n2"]);
    }

    #[test]
    fn drain_timeout_reads_a_failed_maintenance_or_one_blocked_past_the_limit() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
        let now: Timestamp = "2026-12-06T02:00:00Z".parse().unwrap_or_default();
        let minutes_ago = |m: i64| Time(now - jiff::SignedDuration::from_mins(m));
        let blocked = NodeMaintenanceStatus {
            phase: Phase::Draining,
            blocked_since: Some(minutes_ago(31)),
            ..Default::default()
        };
        let limit = Some(std::time::Duration::from_secs(30 * 60));
        assert!(drain_timeout("m", "n1", &blocked, limit, now).is_some_and(|m| m.contains("held for a person")));
        let young = NodeMaintenanceStatus {
            blocked_since: Some(minutes_ago(5)),
            ..blocked.clone()
        };
        assert_eq!(drain_timeout("m", "n1", &young, limit, now), None);
        assert_eq!(
            drain_timeout_at(&young, limit),
            Some(now - jiff::SignedDuration::from_mins(5) + jiff::SignedDuration::from_mins(30)),
            "the schedule looks again when the young one passes its timeout"
        );
        assert_eq!(
            drain_timeout("m", "n1", &blocked, None, now),
            None,
            "no timeout, no time-out"
        );
        let aborted = NodeMaintenanceStatus {
            phase: Phase::Failed,
            conditions: vec![Condition {
                type_: drydock_api::names::COMPLETED.into(),
                status: "True".into(),
                reason: DRAIN_TIMEOUT.into(),
                message: String::new(),
                last_transition_time: minutes_ago(1),
                observed_generation: None,
            }],
            ..Default::default()
        };
        assert!(drain_timeout("m", "n1", &aborted, limit, now).is_some());
        let failed_otherwise = NodeMaintenanceStatus {
            phase: Phase::Failed,
            ..Default::default()
        };
        assert_eq!(drain_timeout("m", "n1", &failed_otherwise, limit, now), None);
    }
}
