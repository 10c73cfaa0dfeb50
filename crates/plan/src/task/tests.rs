use super::*;
use drydock_api::v1alpha1::{
    MaintenanceTaint, NodeMaintenanceSpec, OnTaskFailure, TaintEffect, TaskMetadata, TaskTemplate,
};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStateWaiting, PodStatus};
use serde_json::json;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + s).expect("timestamp")
}

fn maintenance() -> NodeMaintenance {
    let mut nm = NodeMaintenance::new(
        "worker-1-kernel",
        NodeMaintenanceSpec {
            node_name: "worker-1".into(),
            taints: vec![MaintenanceTaint {
                key: "example.com/upgrade".into(),
                value: Some("kernel".into()),
                effect: TaintEffect::NoExecute,
            }],
            ..Default::default()
        },
    );
    nm.metadata.uid = Some("0f2c9a4e-1111-2222-3333-444455556666".into());
    nm
}

fn task() -> TaskSpec {
    TaskSpec {
        template: TaskTemplate {
            metadata: Some(TaskMetadata {
                labels: [("app".to_string(), "kernel-upgrade".to_string())].into(),
                annotations: Default::default(),
            }),
            spec: serde_json::from_value(json!({
                "containers": [{"name": "upgrade", "image": "registry.example/kernel:6.6"}],
                "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]
            }))
            .expect("pod spec"),
        },
        on_failure: OnTaskFailure::Hold,
    }
}

/// The pod as the API server would return it.
fn typed(nm: &NodeMaintenance, t: &TaskSpec, namespace: &str) -> Pod {
    serde_json::from_value(pod(nm, t, namespace)).expect("a pod")
}

fn pod_in(phase: &str, containers: serde_json::Value) -> Pod {
    let mut pod = typed(&maintenance(), &task(), "drydock-tasks");
    pod.status = Some(PodStatus {
        phase: Some(phase.into()),
        container_statuses: serde_json::from_value(containers).expect("container statuses"),
        ..Default::default()
    });
    pod
}

#[test]
fn the_pod_is_the_template_pinned_to_the_node_tolerating_exactly_drydocks_taints() {
    let nm = maintenance();
    let p = typed(&nm, &task(), "drydock-tasks");
    assert_eq!(p.metadata.name.as_deref(), Some("worker-1-kernel-task-0f2c9a4e"));
    assert_eq!(p.metadata.namespace.as_deref(), Some("drydock-tasks"));
    let labels = p.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("app").map(String::as_str), Some("kernel-upgrade"));
    assert_eq!(labels.get(TASK_OF_LABEL).map(String::as_str), Some("worker-1-kernel"));
    assert!(is_ours(&p, &nm), "owned by the maintenance");
    let spec = p.spec.expect("spec");
    assert_eq!(spec.node_name.as_deref(), Some("worker-1"));
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let tolerations: Vec<_> = spec
        .tolerations
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            (
                t.key.unwrap_or_default(),
                t.operator,
                t.value,
                t.effect.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        tolerations,
        vec![
            (
                "node.kubernetes.io/unreachable".into(),
                Some("Exists".into()),
                None,
                "NoExecute".into()
            ),
            (
                "drydock.dev/maintenance".into(),
                Some("Equal".into()),
                Some("worker-1-kernel".into()),
                "NoSchedule".into()
            ),
            (
                "example.com/upgrade".into(),
                Some("Equal".into()),
                Some("kernel".into()),
                "NoExecute".into()
            ),
        ],
        "the template's own, then one per taint drydock adds, value included: nothing broader"
    );
}

#[test]
fn fields_the_typed_pod_does_not_know_reach_the_api_server_as_written() {
    let mut t = task();
    t.template.spec.insert("futureField".into(), json!({"enabled": true}));
    t.template.spec["containers"][0]["securityContext"] = json!({"someNewOption": "strict"});
    let p = pod(&maintenance(), &t, "drydock-tasks");
    assert_eq!(p["spec"]["futureField"], json!({"enabled": true}));
    assert_eq!(
        p["spec"]["containers"][0]["securityContext"],
        json!({"someNewOption": "strict"})
    );
    assert_eq!(p["spec"]["nodeName"], json!("worker-1"));
}

#[test]
fn a_restart_policy_in_the_template_is_kept_and_a_long_name_is_shortened() {
    let mut t = task();
    t.template.spec.insert("restartPolicy".into(), json!("OnFailure"));
    let mut nm = maintenance();
    nm.metadata.name = Some("k".repeat(100));
    let p = typed(&nm, &t, "tasks");
    assert_eq!(p.spec.and_then(|s| s.restart_policy).as_deref(), Some("OnFailure"));
    let name = p.metadata.name.unwrap_or_default();
    assert_eq!(name.len(), 63, "{name}");
    assert_eq!(pod_name(&nm), name, "the same every time");
}

#[test]
fn another_maintenances_pod_of_that_name_is_not_ours() {
    let p = typed(&maintenance(), &task(), "drydock-tasks");
    let mut other = maintenance();
    other.metadata.uid = Some("a-different-uid".into());
    assert!(!is_ours(&p, &other));
    let mut bare = p.clone();
    bare.metadata.owner_references = None;
    assert!(!is_ours(&bare, &maintenance()));
    let seen = foreign(&bare, at(0));
    assert_eq!(seen.phase, TaskPhase::Failed);
    assert!(
        seen.message
            .unwrap_or_default()
            .contains("is not this NodeMaintenance's task")
    );
}

#[test]
fn a_failed_pod_reports_the_failing_container_and_the_end_of_its_message() {
    let log: String = (1..=8).map(|i| format!("line {i}\n")).collect();
    let p = pod_in(
        "Failed",
        json!([
            {"name": "a", "image": "i", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "image": "i", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 3, "reason": "Error", "message": log}}}
        ]),
    );
    let recorded = observe(Some(&pod_in("Running", json!([]))), None, at(0)).expect("running");
    assert_eq!(
        (recorded.phase, recorded.finished_at.clone()),
        (TaskPhase::Running, None)
    );
    let seen = observe(Some(&p), Some(&recorded), at(30)).expect("seen");
    assert_eq!(seen.phase, TaskPhase::Failed);
    assert_eq!(seen.exit_code, Some(3));
    assert_eq!(seen.message.as_deref(), Some("line 4\nline 5\nline 6\nline 7\nline 8"));
    assert_eq!(seen.started_at, Some(Time(at(0))), "kept from when it was first seen");
    assert_eq!(seen.finished_at, Some(Time(at(30))));
    assert_eq!(
        summary(&seen),
        "failed (exit 3): line 4 / line 5 / line 6 / line 7 / line 8"
    );
    // Seen again later: the end keeps its time.
    assert_eq!(
        observe(Some(&p), Some(&seen), at(90)).expect("again").finished_at,
        Some(Time(at(30)))
    );
}

#[test]
fn a_pod_that_cannot_start_says_why() {
    let mut p = pod_in("Pending", json!([]));
    if let Some(s) = p.status.as_mut() {
        s.container_statuses = Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
            name: "upgrade".into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("ImagePullBackOff".into()),
                    message: Some("Back-off pulling image \"registry.example/kernel:6.6\"".into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }
    let seen = observe(Some(&p), None, at(0)).expect("seen");
    assert_eq!(seen.phase, TaskPhase::Pending);
    assert_eq!(
        seen.message.as_deref(),
        Some("ImagePullBackOff: Back-off pulling image \"registry.example/kernel:6.6\"")
    );
}

#[test]
fn a_task_whose_pod_went_away_unfinished_failed_and_a_finished_one_stays_as_recorded() {
    assert_eq!(observe(None, None, at(0)), None, "never started");
    let running = observe(Some(&pod_in("Running", json!([]))), None, at(0)).expect("running");
    let gone = observe(None, Some(&running), at(10)).expect("gone");
    assert_eq!(gone.phase, TaskPhase::Failed);
    assert_eq!(
        gone.message.as_deref(),
        Some("the task pod was deleted before it finished")
    );
    let mut done = pod_in("Succeeded", json!([]));
    if let Some(s) = done.status.as_mut() {
        s.container_statuses = Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
            name: "upgrade".into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 0,
                    reason: Some("Completed".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }
    let succeeded = observe(Some(&done), Some(&running), at(20)).expect("succeeded");
    assert_eq!((succeeded.phase, succeeded.exit_code), (TaskPhase::Succeeded, Some(0)));
    assert_eq!(
        observe(None, Some(&succeeded), at(30)),
        Some(succeeded),
        "its pod cleaned up later"
    );
    let mut deleting = pod_in("Running", json!([]));
    deleting.metadata.deletion_timestamp = Some(Time(at(5)));
    assert_eq!(
        observe(Some(&deleting), Some(&running), at(6)).map(|t| t.phase),
        Some(TaskPhase::Failed),
        "someone else is deleting it: it will not finish"
    );
}

#[test]
fn a_refused_task_failed_before_it_began() {
    let t = refused(
        "drydock-tasks",
        "worker-1-kernel-task-0f2c9a4e",
        "pods \"x\" is forbidden: violates PodSecurity \"baseline:latest\"",
        at(0),
    );
    assert_eq!(t.phase, TaskPhase::Failed);
    assert!(
        t.message
            .unwrap_or_default()
            .starts_with("the API server refused the task pod: pods")
    );
}
