use super::*;
use crate::pods::{PodKey, Refusal};
use crate::spec::{Checked, SpecError};
use crate::window::{Resolved, WindowError};
use drydock_api::names::OUT_OF_SERVICE_TAINT;
use drydock_api::v1alpha1::NodeMaintenanceSpec;
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
fn open_window() -> Result<Resolved, SpecError> {
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
    window: Result<Resolved, SpecError>,
    timeout: Option<std::time::Duration>,
    node: Option<NodeView>,
    drain: Option<DrainPlan>,
    pdb_blocked: usize,
    quota: Quota,
    peers: Option<Peers>,
    task: Option<drydock_api::v1alpha1::TaskStatus>,
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
            task: None,
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
            checked: self.window.clone().map(|window| Checked {
                window,
                drain_timeout: self.timeout,
            }),
            node: self.node.as_ref(),
            drain: self.drain.as_ref(),
            task: self.task.as_ref(),
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
        Step::Restore {
            change: None, ending, ..
        } => {
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
            ..
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
    assert!(matches!(c.decide(), Step::Restore { change: None, ending, .. } if ending.phase == Phase::Completed));
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
        window: Err(SpecError::Window(WindowError::NotADuration {
            field: "window.duration".into(),
            text: "2x".into(),
        })),
        ..Case::new().holding()
    };
    match c.decide() {
        Step::Restore {
            change: Some(_),
            ending,
            ..
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
            ..
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
            ..
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

fn with_task(on_failure: drydock_api::v1alpha1::OnTaskFailure) -> Case {
    let mut c = Case::new().holding();
    c.spec.task = Some(drydock_api::v1alpha1::TaskSpec {
        on_failure,
        ..Default::default()
    });
    c.drain = Some(DrainPlan::default());
    c.status.drained_at = Some(Time(ts("2026-01-01T00:30:00Z")));
    if let Some(n) = c.node.as_mut() {
        n.ready = true;
    }
    c
}

fn task_in(phase: drydock_api::v1alpha1::TaskPhase) -> drydock_api::v1alpha1::TaskStatus {
    drydock_api::v1alpha1::TaskStatus {
        pod_name: "nm1-task-0f2c9a4e".into(),
        namespace: "drydock-tasks".into(),
        phase,
        exit_code: (phase == drydock_api::v1alpha1::TaskPhase::Failed).then_some(3),
        message: Some("no such package".into()),
        ..Default::default()
    }
}

#[test]
fn a_drained_node_with_a_task_starts_it_once_then_waits_for_it() {
    use drydock_api::v1alpha1::{OnTaskFailure, TaskPhase};
    let mut c = with_task(OnTaskFailure::Hold);
    assert_eq!(c.decide(), Step::StartTask);
    for phase in [TaskPhase::Pending, TaskPhase::Running] {
        c.task = Some(task_in(phase));
        assert_eq!(
            c.decide(),
            Step::AwaitTask {
                until: Some(ts("2026-01-01T02:00:00Z"))
            },
            "{phase:?}: never started again"
        );
    }
    // Not before the drain is done: the task is why the node is emptied.
    c.task = None;
    c.drain = Some(DrainPlan {
        evict: vec![key("web-1")],
        ..Default::default()
    });
    assert_eq!(c.decide(), Step::Drain);
}

#[test]
fn a_task_that_succeeded_ends_the_maintenance_when_complete_when_holds_too() {
    use drydock_api::v1alpha1::{CompleteWhen, NodeInfoMatch, OnTaskFailure, TaskPhase};
    let mut c = with_task(OnTaskFailure::Hold);
    c.task = Some(task_in(TaskPhase::Succeeded));
    match c.decide() {
        Step::Restore {
            change: Some(_),
            ending,
            stop_task: false,
        } => {
            assert_eq!((ending.phase, ending.reason), (Phase::Completed, "TaskSucceeded"));
            assert_eq!(
                ending.message,
                "task drydock-tasks/nm1-task-0f2c9a4e succeeded; node restored"
            );
        }
        s => panic!("expected a restore, got {s:?}"),
    }
    c.spec.complete_when = Some(CompleteWhen {
        rebooted: true,
        node_info: Some(NodeInfoMatch {
            kernel_version: Some("6.6.*".into()),
            ..Default::default()
        }),
    });
    c.status.boot_id_at_drain = Some("boot-1".into());
    if let Some(n) = c.node.as_mut() {
        n.boot_id = Some("boot-1".into());
        n.node_info.insert("kernelVersion".into(), "6.1.0".into());
    }
    assert!(
        matches!(c.decide(), Step::AwaitTask { .. }),
        "succeeded, not rebooted yet"
    );
    if let Some(n) = c.node.as_mut() {
        n.boot_id = Some("boot-2".into());
        n.node_info.insert("kernelVersion".into(), "6.6.30".into());
    }
    c.task = Some(task_in(TaskPhase::Running));
    assert!(
        matches!(c.decide(), Step::AwaitTask { .. }),
        "rebooted with the new kernel, but the task has not finished"
    );
    c.task = Some(task_in(TaskPhase::Succeeded));
    match c.decide() {
        Step::Restore { ending, .. } => {
            assert_eq!(ending.reason, "WorkDone");
            assert!(
                ending
                    .message
                    .starts_with("task drydock-tasks/nm1-task-0f2c9a4e succeeded; work done: the node rebooted"),
                "{}",
                ending.message
            );
        }
        s => panic!("expected WorkDone, got {s:?}"),
    }
}

#[test]
fn a_failed_task_holds_the_node_or_restores_it_as_on_failure_says() {
    use drydock_api::v1alpha1::{OnTaskFailure, TaskPhase};
    let mut hold = with_task(OnTaskFailure::Hold);
    hold.task = Some(task_in(TaskPhase::Failed));
    assert!(matches!(hold.decide(), Step::AwaitTask { .. }));
    let mut restore = with_task(OnTaskFailure::Restore);
    restore.task = Some(task_in(TaskPhase::Failed));
    match restore.decide() {
        Step::Restore {
            change: Some(change),
            ending,
            stop_task: false,
        } => {
            assert!(!change.unschedulable);
            assert_eq!((ending.phase, ending.reason), (Phase::Failed, "TaskFailed"));
            assert_eq!(
                ending.message,
                "task drydock-tasks/nm1-task-0f2c9a4e failed (exit 3): no such package; node restored (task.onFailure: Restore)"
            );
        }
        s => panic!("expected a restore, got {s:?}"),
    }
}

#[test]
fn whatever_ends_a_maintenance_stops_a_task_that_has_not_finished() {
    use drydock_api::v1alpha1::{OnTaskFailure, TaskPhase};
    let mut closed = with_task(OnTaskFailure::Hold);
    closed.task = Some(task_in(TaskPhase::Running));
    closed.now = ts("2026-01-01T02:00:01Z");
    match closed.decide() {
        Step::Restore {
            change: Some(_),
            ending,
            stop_task: true,
        } => {
            assert_eq!(ending.reason, "WindowClosed");
            assert!(
                ending
                    .message
                    .ends_with("; task drydock-tasks/nm1-task-0f2c9a4e stopped before it finished"),
                "{}",
                ending.message
            );
        }
        s => panic!("expected a restore that stops the task, got {s:?}"),
    }
    let mut deleted = with_task(OnTaskFailure::Hold);
    deleted.task = Some(task_in(TaskPhase::Pending));
    deleted.deleting = true;
    assert!(matches!(deleted.decide(), Step::Restore { stop_task: true, .. }));
    deleted.task = Some(task_in(TaskPhase::Failed));
    assert!(
        matches!(deleted.decide(), Step::Restore { stop_task: false, .. }),
        "a finished task is left for its log"
    );
}
