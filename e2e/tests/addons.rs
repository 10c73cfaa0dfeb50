//! A node full of workloads drydock's authors did not write: Kubernetes' own add-ons (cluster/addons of the pinned
//! k8s.io/kubernetes module: CoreDNS, kube-proxy, metrics-server, node-problem-detector, Calico, fluentd,
//! node-local DNS, ip-masq-agent...) and a Deployment that tolerates every taint, as Cilium's operator does.
use std::time::Duration;

use drydock::api::v1alpha1::{Phase, TaskPhase};
use drydock_e2e::{
    TestEnv, addons,
    audit::Expect,
    controller::{Drydock, drydock_annotations, taints, unschedulable},
    wait_for,
    workloads::{on_node, pod_ready},
};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use serde_json::json;

fn owner_kind(p: &Pod) -> String {
    p.owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.kind.clone())
        .unwrap_or_default()
}

/// What a person checks after draining a node of real add-ons: the drain finishes, every pod that had to leave
/// was evicted exactly once, DaemonSet pods and the pod that would come straight back stay, and the status names
/// each pod that stayed and why.
#[tokio::test]
async fn kubernetes_own_addons_and_an_operator_that_tolerates_everything_drain_cleanly() {
    let mut env = TestEnv::new("zoo").await;
    let zoo = addons::zoo(&env.id);
    let labels = serde_json::to_value(&zoo.node_labels).expect("labels");
    let a = env.node_with("a", json!({"labels": labels})).await;
    let refused = env.create_all(&zoo.objects).await;
    let count = |kind: &str| zoo.objects.iter().filter(|o| o["kind"] == kind).count();
    assert!(
        count("Deployment") + count("DaemonSet") + count("StatefulSet") >= 12,
        "the add-on folders hold at least a dozen workloads (unreadable: {:?})",
        zoo.skipped
    );
    assert!(refused.is_empty(), "the API server refused add-ons: {refused:#?}");
    // Cilium's operator: tolerates every taint, pinned here by a nodeSelector.
    let mut pinned = env.placement_on(&a);
    pinned["tolerations"] = json!([{"operator": "Exists"}]);
    env.deployment("cilium-operator", 1, pinned, json!({})).await;
    let replicas: usize = zoo
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .map(|o| o["spec"]["replicas"].as_u64().unwrap_or(1) as usize)
        .sum::<usize>()
        + 1;
    let daemonsets = count("DaemonSet");
    // Everything starts on the node to drain; the second node comes after, as a place to go.
    wait_for(
        "every add-on pod Ready on the first node",
        Duration::from_secs(120),
        || async {
            let pods = env.pods(None).await;
            (pods.len() == replicas + daemonsets && pods.iter().all(pod_ready)).then_some(())
        },
    )
    .await;
    let b = env.node_with("b", json!({"labels": labels})).await;
    let before = wait_for(
        "the DaemonSets' pods Ready on the second node",
        Duration::from_secs(120),
        || async {
            let pods = env.pods(None).await;
            let on_b = pods.iter().filter(|p| on_node(p, &b)).count();
            (on_b == daemonsets && pods.iter().all(pod_ready)).then_some(pods)
        },
    )
    .await;
    let on_a: Vec<&Pod> = before.iter().filter(|p| on_node(p, &a)).collect();
    let staying: Vec<&Pod> = on_a
        .iter()
        .copied()
        .filter(|p| owner_kind(p) == "DaemonSet" || p.name_any().starts_with("cilium-operator-"))
        .collect();
    let leaving: Vec<String> = on_a
        .iter()
        .filter(|p| !staying.iter().any(|s| s.uid() == p.uid()))
        .map(|p| p.name_any())
        .collect();
    assert!(
        !leaving.is_empty(),
        "some add-on pods run on the node to drain: {:?}",
        on_a.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );

    // The task (one that runs until stopped) is created once, and deleted by drydock when the maintenance ends.
    env.expect_audit(Expect {
        task_creates: 1,
        task_deletes: 1,
        ..Expect::restored(&a, leaving.len())
    });
    let drydock = Drydock::start(&env, 0);
    // Like `kubectl drain --delete-emptydir-data`: several add-ons keep scratch data in emptyDir volumes. And the
    // work itself, as a task on the drained node among the add-ons that stay.
    let task = json!({"template": {"spec": {"terminationGracePeriodSeconds": 1,
        "containers": [{"name": "upgrade", "image": "registry.example/kernel-upgrade:6.6"}]}}});
    let spec = json!({"drain": {"deleteEmptyDirData": true}, "task": task});
    env.maintenance("zoo", &a, spec).await;
    let nm = env
        .wait_nm("zoo", Phase::Drained, |nm| {
            nm.status
                .as_ref()
                .and_then(|s| s.task.as_ref())
                .is_some_and(|t| t.phase == TaskPhase::Running)
        })
        .await;
    let status = nm.status.clone().expect("status");

    let evictions = env.evictions_by_pod();
    let mut evicted: Vec<String> = evictions.keys().cloned().collect();
    let mut expected = leaving.clone();
    evicted.sort();
    expected.sort();
    assert_eq!(evicted, expected, "exactly the pods that had to leave were evicted");
    assert!(
        evictions.values().all(|n| *n == 1),
        "each pod evicted once, never again: {evictions:?}"
    );
    let pods = status.pods.clone().expect("pod counts");
    assert_eq!(
        (pods.evicted, pods.total),
        (leaving.len() as i32, leaving.len() as i32),
        "EVICTED counts pods, not eviction attempts"
    );

    // What stayed is still there, the same pods, and status says why for each.
    let after = env.pods(None).await;
    for pod in &staying {
        assert!(
            after.iter().any(|p| p.uid() == pod.uid() && on_node(p, &a)),
            "{} stays on {a}",
            pod.name_any()
        );
        let note = status
            .skipped_pods
            .iter()
            .find(|n| n.name == pod.name_any())
            .unwrap_or_else(|| {
                panic!(
                    "{} is listed in skippedPods: {:#?}",
                    pod.name_any(),
                    status.skipped_pods
                )
            });
        let expected_reason = if owner_kind(pod) == "DaemonSet" {
            "DaemonSet-managed pod"
        } else {
            "tolerates the cordon and the maintenance taint"
        };
        assert!(
            note.reason.starts_with(expected_reason),
            "{}: {}",
            note.name,
            note.reason
        );
    }
    let task = status.task.clone().expect("the task in status");
    assert!(
        status
            .skipped_pods
            .iter()
            .any(|n| n.name == task.pod_name && n.reason.starts_with("drydock's task pod")),
        "the task is left on the node, and said so: {:#?}",
        status.skipped_pods
    );
    assert!(
        after
            .iter()
            .filter(|p| on_node(p, &a) && p.metadata.deletion_timestamp.is_none())
            .all(|p| staying.iter().any(|s| s.uid() == p.uid())),
        "only the pods that stay are left on {a}"
    );
    let metrics = drydock.get("/metrics").map(|(_, body)| body).unwrap_or_default();
    assert!(
        metrics.contains(&format!(
            "drydock_evictions_total{{result=\"evicted\"}} {}",
            leaving.len()
        )),
        "the controller counted one eviction per pod: {}",
        metrics
            .lines()
            .filter(|l| l.starts_with("drydock_evictions_total"))
            .collect::<Vec<_>>()
            .join("; ")
    );

    env.delete_nm("zoo").await;
    let node = env.get_node(&a).await;
    assert!(!unschedulable(&node) && drydock_annotations(&node).is_empty());
    assert!(taints(&node).is_empty(), "{:?}", taints(&node));
}
