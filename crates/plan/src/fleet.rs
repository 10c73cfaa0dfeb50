//! What a MaintenanceSchedule does with its nodes in one look: which get a NodeMaintenance now, which carry the
//! `drydock.dev/upcoming` taint, and the counts for status. Pure; the schedule controller gathers the inputs.
use std::collections::{BTreeMap, BTreeSet};

use drydock_api::v1alpha1::{NodeCounts, Phase};

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
    /// Create a NodeMaintenance for these nodes now.
    pub start: Vec<String>,
    /// Add the upcoming taint to these nodes.
    pub taint: Vec<String>,
    /// Remove it from these.
    pub untaint: Vec<String>,
    pub counts: NodeCounts,
    pub excluded: Vec<String>,
    /// The rollout stopped: a task failed, and no node is started until that NodeMaintenance is deleted.
    pub stopped: Option<String>,
}

fn finished(p: Option<Phase>) -> bool {
    matches!(p, Some(Phase::Completed | Phase::Failed))
}

/// `window_open`: the schedule's window is open now (and the schedule not suspended); `budget` from
/// `schedule::budget`.
pub fn plan(nodes: &BTreeMap<String, PoolNode>, budget: usize, window_open: bool) -> FleetPlan {
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
    // A failed task stops the rollout where it is: the next node would most likely fail the same way.
    let stopped = nodes.values().find_map(|n| n.failed_task.clone());
    let start = super::schedule::pick(&super::schedule::PickInput {
        selected: nodes.keys().cloned().collect(),
        done: done.clone(),
        busy: busy.clone(),
        excluded: excluded.clone(),
        budget,
        window_open: window_open && stopped.is_none(),
    });
    // Nodes still to be maintained this window avoid new pods (PreferNoSchedule), so pods evicted from one node
    // do not land on the next; a node loses the taint once its own maintenance is over, or when the window closes.
    let upcoming = |name: &String, n: &PoolNode| window_open && !n.excluded && !done.contains(name);
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
    let accounted = done.union(&in_progress).chain(&excluded).collect::<BTreeSet<_>>().len();
    let counts = NodeCounts {
        selected: nodes.len() as i32,
        done: done.difference(&in_progress).filter(|n| !failed.contains(*n)).count() as i32,
        in_progress: in_progress.len() as i32,
        failed: failed.len() as i32,
        remaining: nodes.len().saturating_sub(accounted) as i32,
    };
    FleetPlan {
        start,
        taint,
        untaint,
        counts,
        excluded: excluded.into_iter().collect(),
        stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let p = plan(&nodes, 1, true);
        assert_eq!(p.start, vec!["n1"]);
        assert_eq!(p.taint, vec!["n1", "n2", "n3"]);
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Draining);
            n.upcoming = true;
        }
        assert!(
            plan(&nodes, 1, true).start.is_empty(),
            "the next waits for the first to finish"
        );
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Completed);
        }
        let p = plan(&nodes, 1, true);
        assert_eq!(p.start, vec!["n2"]);
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
        let p = plan(&nodes, 2, true);
        assert!(p.start.is_empty(), "no node starts after a failed task: {:?}", p.start);
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
        let p = plan(&nodes, 2, true);
        assert_eq!(p.start, vec!["n1", "n2"]);
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
        let p = plan(&nodes, 3, true);
        assert_eq!(
            p.start,
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
        let p = plan(&nodes, 2, false);
        assert!(p.start.is_empty());
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
        let closed = plan(&nodes, 1, false);
        assert_eq!((closed.counts.in_progress, closed.counts.remaining), (1, 2));
        // A new window: this window has nothing for n1 yet, and the budget is used by n1's hold.
        let open = plan(&nodes, 1, true);
        assert!(open.start.is_empty());
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
        assert_eq!(plan(&nodes, 1, false).counts.in_progress, 0);
    }

    #[test]
    fn failed_nodes_are_done_for_this_window_and_counted() {
        let mut nodes = pool(2);
        if let Some(n) = nodes.get_mut("n1") {
            n.maintenance = Some(Phase::Failed);
        }
        let p = plan(&nodes, 1, true);
        assert_eq!(
            p.start,
            vec!["n2"],
            "a failure does not block the pool or get retried in the same window"
        );
        assert_eq!((p.counts.failed, p.counts.done), (1, 0));
    }
}
