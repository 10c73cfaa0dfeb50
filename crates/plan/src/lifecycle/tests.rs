use super::*;
use crate::conditions;
use drydock_api::names::{RESTORED, WINDOW_CLOSED};

fn t(s: &str) -> Timestamp {
    format!("2026-11-27T{s}Z").parse().expect("timestamp")
}

fn status(phase: Phase) -> NodeMaintenanceStatus {
    NodeMaintenanceStatus {
        phase,
        ..Default::default()
    }
}

fn ended(phase: Phase, reason: &str, message: &str) -> NodeMaintenanceStatus {
    let mut s = status(phase);
    s.message = Some(message.into());
    conditions::set(
        &mut s.conditions,
        COMPLETED,
        true,
        reason,
        message,
        t("10:00:00"),
        Some(1),
    );
    s
}

fn ready() -> NodeCondition {
    NodeCondition {
        type_: "Ready".into(),
        status: "True".into(),
        reason: Some("KubeletReady".into()),
        ..Default::default()
    }
}

/// What the API server's strategic merge by type makes of `node` after writing `patch`.
fn merged(node: &[NodeCondition], patch: &[NodeCondition]) -> Vec<NodeCondition> {
    let mut out = node.to_vec();
    for p in patch {
        match out.iter_mut().find(|c| c.type_ == p.type_) {
            Some(c) => *c = p.clone(),
            None => out.push(p.clone()),
        }
    }
    out
}

fn get<'a>(node: &'a [NodeCondition], type_: &str) -> &'a NodeCondition {
    node.iter().find(|c| c.type_ == type_).expect("condition present")
}

#[test]
fn a_maintenance_shows_its_phase_on_the_node_from_planned_to_restored() {
    let mut node = vec![ready()];
    let steps = [
        (Phase::Waiting, Some(Phase::Waiting)),
        (Phase::Cordoned, Some(Phase::Cordoned)),
        (Phase::Draining, Some(Phase::Draining)),
        (Phase::Drained, Some(Phase::Drained)),
    ];
    for (i, (phase, shown)) in steps.into_iter().enumerate() {
        let now = t(&format!("09:0{i}:00"));
        let patch = changes(&node, &for_maintenance("kernel", &status(phase)), now);
        assert!(!patch.is_empty(), "{phase:?} changes something");
        node = merged(&node, &patch);
        assert_eq!(phase_shown(&node), shown, "after {phase:?}: {node:?}");
        assert!(
            changes(&node, &for_maintenance("kernel", &status(phase)), now).is_empty(),
            "written once"
        );
    }
    let done = ended(Phase::Completed, RESTORED, "the node was restored");
    node = merged(&node, &changes(&node, &for_maintenance("kernel", &done), t("09:30:00")));
    assert_eq!(phase_shown(&node), None);
    // Turned False, not deleted: every type is there with the ending's reason, and Ready is untouched.
    for type_ in NODE_LIFECYCLE_CONDITIONS {
        let c = get(&node, type_);
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some(RESTORED)),
            "{type_}"
        );
        assert!(
            c.message
                .as_deref()
                .is_some_and(|m| m.starts_with("NodeMaintenance kernel: "))
        );
    }
    assert_eq!(get(&node, "Ready"), &ready());
    assert_eq!(node.len(), 5);
}

#[test]
fn transition_time_moves_only_when_the_status_flips() {
    let node = merged(
        &[],
        &changes(&[], &for_maintenance("m", &status(Phase::Cordoned)), t("09:00:00")),
    );
    let node = merged(
        &node,
        &changes(&node, &for_maintenance("m", &status(Phase::Draining)), t("09:01:00")),
    );
    // MaintenanceInProgress stayed True (its reason changed): its transition is the cordon's.
    let in_progress = get(&node, NODE_MAINTENANCE_IN_PROGRESS);
    assert_eq!(in_progress.last_transition_time, Some(Time(t("09:00:00"))));
    assert_eq!(in_progress.last_heartbeat_time, Some(Time(t("09:01:00"))));
    assert_eq!(
        get(&node, NODE_DRAIN_IN_PROGRESS).last_transition_time,
        Some(Time(t("09:01:00")))
    );
}

#[test]
fn pending_writes_nothing_and_planned_is_not_made_up_when_starting() {
    assert!(for_maintenance("m", &status(Phase::Pending)).is_empty());
    // Straight to the cordon: MaintenancePlanned was never set, so it is not written False.
    let patch = changes(
        &[ready()],
        &for_maintenance("m", &status(Phase::Cordoned)),
        t("09:00:00"),
    );
    let types: Vec<_> = patch.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(
        types,
        [NODE_MAINTENANCE_IN_PROGRESS, NODE_DRAIN_IN_PROGRESS, NODE_DRAINED]
    );
}

#[test]
fn an_ending_leaves_conditions_another_maintenance_wrote() {
    let node = merged(
        &[],
        &changes(&[], &for_maintenance("second", &status(Phase::Draining)), t("09:00:00")),
    );
    // The first, deleted while it waited, ends: the node is the second's.
    let first = ended(Phase::Completed, RESTORED, "deleted before its window");
    assert!(changes(&node, &for_maintenance("first", &first), t("09:05:00")).is_empty());
    // A name that only begins like another's is not that other.
    assert!(changes(&node, &for_maintenance("sec", &first), t("09:05:00")).is_empty());
}

#[test]
fn a_schedule_announces_and_withdraws_only_its_own_plan() {
    let node = merged(&[], &changes(&[], &[for_schedule("weekly", true)], t("09:00:00")));
    assert_eq!(phase_shown(&node), Some(Phase::Waiting));
    // The node's maintenance started: MaintenancePlanned is now the maintenance's, the schedule leaves it.
    let started = merged(
        &node,
        &changes(
            &node,
            &for_maintenance("weekly-n1", &status(Phase::Cordoned)),
            t("09:01:00"),
        ),
    );
    assert_eq!(
        get(&started, NODE_MAINTENANCE_PLANNED).reason.as_deref(),
        Some(MAINTENANCE_STARTED)
    );
    assert!(changes(&started, &[for_schedule("weekly", false)], t("09:02:00")).is_empty());
    // The window closed before the maintenance began: the schedule takes its announcement back.
    let withdrawn = changes(&node, &[for_schedule("weekly", false)], t("09:02:00"));
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(
        (withdrawn[0].status.as_str(), withdrawn[0].reason.as_deref()),
        ("False", Some(SCHEDULE_DONE))
    );
}

#[test]
fn a_failed_maintenance_says_why_on_the_node() {
    let node = merged(
        &[],
        &changes(&[], &for_maintenance("m", &status(Phase::Drained)), t("09:00:00")),
    );
    let failed = ended(Phase::Failed, WINDOW_CLOSED, "the window closed");
    let node = merged(&node, &changes(&node, &for_maintenance("m", &failed), t("10:00:00")));
    let drained = get(&node, NODE_DRAINED);
    assert_eq!(
        (drained.status.as_str(), drained.reason.as_deref()),
        ("False", Some(WINDOW_CLOSED))
    );
    assert_eq!(drained.message.as_deref(), Some("NodeMaintenance m: the window closed"));
}

#[test]
fn only_the_four_lifecycle_types_are_ever_written() {
    let phases = [
        Phase::Pending,
        Phase::Waiting,
        Phase::Cordoned,
        Phase::Draining,
        Phase::Drained,
        Phase::Completed,
        Phase::Failed,
    ];
    let mut node = vec![ready()];
    for phase in phases {
        let s = if matches!(phase, Phase::Completed | Phase::Failed) {
            ended(phase, RESTORED, "done")
        } else {
            status(phase)
        };
        let patch = changes(&node, &for_maintenance("m", &s), t("09:00:00"));
        assert!(
            patch
                .iter()
                .all(|c| NODE_LIFECYCLE_CONDITIONS.contains(&c.type_.as_str()))
        );
        let body = status_patch(&patch);
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only status");
        assert_eq!(
            body["status"].as_object().map(|o| o.len()),
            Some(1),
            "only status.conditions"
        );
        node = merged(&node, &patch);
    }
}
