//! The mission end to end, as a user would check it: a NodeMaintenance taints, cordons, drains (PDB-aware),
//! holds and restores a node on the real control plane, with the real drydock binary.
use std::time::Duration;

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, blocked_reasons, drydock_annotations, taints, unschedulable},
    wait_until,
    workloads::{names, on_node, uids},
};
use k8s_openapi::api::{core::v1::Pod, policy::v1::PodDisruptionBudget};
use kube::{Api, ResourceExt};
use serde_json::json;

const MEDIK8S_EXCLUDE_LABEL: &str = "remediation.medik8s.io/exclude-from-remediation";
const AUTOSCALER_ANNOTATION: &str = "cluster-autoscaler.kubernetes.io/scale-down-disabled";

fn status(nm: &NodeMaintenance) -> &drydock::api::v1alpha1::NodeMaintenanceStatus {
    nm.status.as_ref().expect("status")
}

/// Asserts the node is back as it was: schedulable (or not, as before), no drydock taint, no annotation.
async fn assert_restored(env: &TestEnv, node: &str, was_unschedulable: bool) {
    let n = env.get_node(node).await;
    assert_eq!(
        unschedulable(&n),
        was_unschedulable,
        "node {node} schedulability restored"
    );
    assert!(
        taints(&n).iter().all(|t| !t.starts_with("drydock.dev/")),
        "no drydock taint left on {node}: {:?}",
        taints(&n)
    );
    assert!(
        drydock_annotations(&n).is_empty(),
        "drydock annotations removed from {node}"
    );
    assert!(
        !n.labels().contains_key(MEDIK8S_EXCLUDE_LABEL),
        "the medik8s exclusion label drydock added is removed"
    );
    assert!(
        !n.annotations().contains_key(AUTOSCALER_ANNOTATION),
        "the autoscaler annotation drydock added is removed"
    );
}

/// The classic runbook: 5 nginx replicas, a bare pod, DaemonSet pods, a pod with emptyDir. The drain is blocked
/// (nothing evicted) until the options allow each blocker; DaemonSet pods stay; Deployment pods move elsewhere.
#[tokio::test]
async fn runbook_drain_waits_for_explicit_permission_then_empties_the_node() {
    let mut env = TestEnv::new("nm-runbook").await;
    let a = env.node("a").await;
    env.deployment("nginx", 5, env.placement(), json!({})).await;
    env.deployment(
        "cache",
        1,
        env.placement(),
        json!({"volumes": [{"name": "scratch", "emptyDir": {}}]}),
    )
    .await;
    env.daemonset("agent").await;
    env.bare_pod("debug", &a, json!({})).await;
    let nginx_before = env.wait_ready_pods("nginx", 5).await;
    env.wait_ready_pods("cache", 1).await;
    env.wait_ready_pods("debug", 1).await;
    env.wait_ready_pods("agent", 1).await;
    let b = env.node("b").await; // somewhere for the evicted pods to go
    let agents = env.wait_ready_pods("agent", 2).await;
    // 5 nginx + cache + debug evicted from a; a cordoned, then restored.
    env.expect_audit(Expect::restored(&a, 7));

    let _drydock = Drydock::start(&env, 0);
    env.maintenance("kernel", &a, json!({"reason": "kernel 6.6.30"})).await;

    // Blocked by policy: both blockers named with kubectl's words, and nothing evicted.
    let nm = env.wait_blocked("kernel", 2).await;
    let reasons = blocked_reasons(&nm);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("debug: Pods that declare no controller")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("Pods with local storage")),
        "{reasons:?}"
    );
    let node = env.get_node(&a).await;
    assert!(unschedulable(&node), "node cordoned");
    assert_eq!(
        node.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(MEDIK8S_EXCLUDE_LABEL))
            .map(String::as_str),
        Some("true"),
        "medik8s NodeHealthCheck is told to leave the held node alone"
    );
    assert_eq!(
        node.annotations().get(AUTOSCALER_ANNOTATION).map(String::as_str),
        Some("true"),
        "cluster-autoscaler is told not to scale the held node down"
    );
    assert_eq!(
        taints(&node),
        vec![format!("drydock.dev/maintenance={}:NoSchedule", env.nm_name("kernel"))]
    );
    // An eviction past a blocker would show: the controller has reconciled the object since, still blocked.
    let nm = env
        .nudge_nm("kernel", Phase::Draining, |nm| {
            nm.status.as_ref().is_some_and(|s| s.blocked_pods.len() == 2)
        })
        .await;
    assert_eq!(
        status(&nm).pods.as_ref().map(|p| p.evicted),
        Some(0),
        "no eviction counted"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        uids(&env.pods(Some("nginx")).await),
        uids(&nginx_before),
        "no pod evicted while a blocker stands"
    );

    // Allow emptyDir data loss: the bare pod still blocks, still nothing evicted.
    env.patch_nm("kernel", json!({"drain": {"deleteEmptyDirData": true}}))
        .await;
    env.wait_nm("kernel", Phase::Draining, |nm| {
        let r = blocked_reasons(nm);
        r.len() == 1 && r[0].starts_with("debug:")
    })
    .await;
    assert_eq!(
        uids(&env.pods(Some("nginx")).await),
        uids(&nginx_before),
        "still nothing evicted"
    );

    // Allow unmanaged pods: the drain finishes.
    env.patch_nm("kernel", json!({"drain": {"evictUnmanagedPods": true}}))
        .await;
    let nm = env.wait_nm("kernel", Phase::Drained, |_| true).await;
    let s = status(&nm);
    let counts = s.pods.clone().expect("counts");
    assert_eq!(
        (counts.evicted, counts.total, counts.remaining),
        (7, 7, 0),
        "5 nginx + cache + debug evicted"
    );
    assert!(
        s.skipped_pods.iter().any(|p| p.reason.starts_with("DaemonSet-managed")),
        "DaemonSet pod listed as skipped"
    );
    assert!(s.conditions.iter().any(|c| c.type_ == "Drained" && c.status == "True"));

    let nginx = env.wait_ready_pods("nginx", 5).await;
    assert!(nginx.iter().all(|p| on_node(p, &b)), "nginx recreated on {b}");
    assert!(env.wait_ready_pods("cache", 1).await.iter().all(|p| on_node(p, &b)));
    assert!(
        env.pods(Some("debug")).await.is_empty(),
        "the bare pod is gone for good"
    );
    assert_eq!(
        uids(&env.pods(Some("agent")).await),
        uids(&agents),
        "DaemonSet pods untouched"
    );

    // Events tell the story on the NodeMaintenance.
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(env.client.clone(), "default")
        .list(&Default::default())
        .await
        .expect("events");
    let reasons: Vec<String> = events
        .items
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(env.nm_name("kernel").as_str()))
        .filter_map(|e| e.reason.clone())
        .collect();
    for r in ["Cordoned", "Draining", "DrainBlocked", "Drained"] {
        assert!(reasons.iter().any(|x| x == r), "Event {r} recorded: {reasons:?}");
    }
    let on_node: Vec<String> = events
        .items
        .iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some("Node") && r.name.as_deref() == Some(a.as_str()))
        })
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        on_node.iter().any(|x| x == "Cordoned") && on_node.iter().any(|x| x == "Drained"),
        "{on_node:?}"
    );
    let labels_before = node.metadata.labels.clone();
    assert_eq!(
        env.get_node(&a).await.metadata.labels,
        labels_before,
        "node labels untouched"
    );

    env.delete_nm("kernel").await;
    assert_restored(&env, &a, false).await;
}

/// A PDB with no room blocks the drain (status names it) until another node gives the replacement a home. The
/// replacements may wait Pending meanwhile (evictUnplaceable), so it is the PDB that holds the rest.
#[tokio::test]
async fn pdb_blocks_until_another_node_has_capacity() {
    let mut env = TestEnv::new("nm-pdb").await;
    let a = env.node("a").await;
    env.ready_deployment("web", 3, env.placement()).await;
    env.settled_pdb("web", 2, 1).await;
    // All three web pods leave a, one by one as the budget allows; the test ends with the node held.
    env.expect_audit(Expect::held(3));

    let _drydock = Drydock::start(&env, 0);
    env.maintenance("disk", &a, json!({"drain": {"evictUnplaceable": true}}))
        .await;
    let ns = env.ns().to_string();
    let nm = env
        .wait_nm("disk", Phase::Draining, |nm| {
            blocked_reasons(nm)
                .iter()
                .any(|r| r.contains(&format!("PDB {ns}/web allows 0 disruptions")))
        })
        .await;
    assert!(
        status(&nm)
            .conditions
            .iter()
            .any(|c| c.type_ == "Blocked" && c.status == "True" && c.reason == "PodDisruptionBudget"),
        "Blocked condition says why: {:#?}",
        status(&nm).conditions
    );
    // One pod was evicted (the budget had room for one); its replacement has nowhere to go, so two stay.
    wait_until("two web pods left on a", Duration::from_secs(30), || async {
        env.pods(Some("web")).await.iter().filter(|p| on_node(p, &a)).count() == 2
    })
    .await;

    let b = env.node("b").await;
    env.wait_nm("disk", Phase::Drained, |_| true).await;
    let web = env.wait_ready_pods("web", 3).await;
    assert!(
        web.iter().all(|p| on_node(p, &b)),
        "all web pods now on {b}: {:?}",
        names(&web)
    );
    let pdb = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns())
        .get("web")
        .await
        .expect("pdb");
    assert_eq!(
        pdb.status.map(|s| s.current_healthy),
        Some(3),
        "the budget was honoured all along"
    );
}

/// A window that closes restores the node by itself, and says whether the drain had finished.
#[tokio::test]
async fn closing_window_restores_the_node() {
    let mut env = TestEnv::new("nm-window").await;
    let a = env.node("a").await;
    let _b = env.node("b").await;
    env.ready_deployment("web", 2, env.placement_on(&a)).await;
    env.expect_audit(Expect::restored(&a, 2));
    // Pinned to node a by hostname, the replacements stay Pending (evictUnplaceable allows it): the drain holds
    // the node empty.
    let _drydock = Drydock::start(&env, 0);
    env.maintenance(
        "short",
        &a,
        json!({"window": {"duration": "8s"}, "drain": {"evictUnplaceable": true}}),
    )
    .await;
    let nm = env.wait_nm("short", Phase::Drained, |_| true).await;
    assert!(status(&nm).window_end.is_some(), "WINDOW-END shown");
    let nm = env.wait_nm("short", Phase::Completed, |_| true).await;
    assert!(
        status(&nm).message.as_deref().unwrap_or("").contains("window closed"),
        "{:?}",
        status(&nm).message
    );
    assert_restored(&env, &a, false).await;
    env.wait_ready_pods("web", 2).await; // the pending replacements land on the restored node
    env.delete_nm("short").await;
}

/// Deleting the object mid-drain stops the drain and gives the node back.
#[tokio::test]
async fn deletion_mid_drain_restores_the_node() {
    let mut env = TestEnv::new("nm-delete").await;
    let a = env.node("a").await;
    let before = env.ready_deployment("web", 2, env.placement()).await;
    env.settled_pdb("web", 2, 0).await;
    // The budget never has room: no eviction; held, then restored.
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance(
        "oops",
        &a,
        json!({"taints": [{"key": "example.com/firmware", "effect": "NoSchedule"}]}),
    )
    .await;
    env.wait_nm("oops", Phase::Draining, |nm| !blocked_reasons(nm).is_empty())
        .await;
    let held = env.get_node(&a).await;
    assert!(
        taints(&held).contains(&"example.com/firmware=:NoSchedule".to_string()),
        "{:?}",
        taints(&held)
    );

    env.delete_nm("oops").await;
    assert_restored(&env, &a, false).await;
    assert!(taints(&env.get_node(&a).await).is_empty(), "spec.taints removed too");
    assert_eq!(
        uids(&env.pods(Some("web")).await),
        uids(&before),
        "the PDB-protected pods were never touched"
    );
}

/// A node someone cordoned before the maintenance stays cordoned after it; taints it had stay.
#[tokio::test]
async fn a_node_cordoned_before_stays_cordoned_after() {
    let mut env = TestEnv::new("nm-cordoned").await;
    let spec = json!({"spec": {"unschedulable": true, "taints": [
        {"key": drydock_e2e::ENV_LABEL, "value": "x", "effect": "NoSchedule"},
        {"key": "example.com/broken-disk", "effect": "NoSchedule"}
    ]}});
    let a = env.node_with("a", spec).await;
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance(
        "m",
        &a,
        json!({"taints": [{"key": "example.com/broken-disk", "effect": "NoSchedule"}]}),
    )
    .await;
    let nm = env.wait_nm("m", Phase::Drained, |_| true).await;
    let prior = status(&nm).prior.clone().expect("prior state recorded");
    assert!(prior.was_unschedulable);
    assert_eq!(
        prior.added_taints,
        vec!["drydock.dev/maintenance:NoSchedule"],
        "the user's taint is not drydock's"
    );
    env.delete_nm("m").await;
    assert_restored(&env, &a, true).await;
    assert_eq!(
        taints(&env.get_node(&a).await),
        vec!["example.com/broken-disk=:NoSchedule"]
    );
}

/// Killing the controller mid-drain loses nothing: a new one resumes the same maintenance without evicting
/// any pod twice, and the node ends restored.
#[tokio::test]
async fn controller_restart_mid_drain_resumes() {
    let mut env = TestEnv::new("nm-restart").await;
    let a = env.web_on_a(4, Some(4)).await;
    env.expect_audit(Expect::restored(&a, 4));

    let mut first = Drydock::start(&env, 0);
    env.maintenance("crash", &a, json!({})).await;
    env.wait_blocked("crash", 4).await;
    first.kill();

    // While no controller runs, the budget gets room; the new controller must pick up from the API server.
    env.set_min_available("web", 3).await;
    let _second = Drydock::start(&env, 1);
    let nm = env.wait_nm("crash", Phase::Drained, |_| true).await;
    let counts = status(&nm).pods.clone().expect("counts");
    assert_eq!(
        (counts.evicted, counts.total),
        (4, 4),
        "each pod evicted once: {counts:?}"
    );
    assert!(env.wait_ready_pods("web", 4).await.iter().all(|p| !on_node(p, &a)));
    env.delete_nm("crash").await;
    assert_restored(&env, &a, false).await;
}

/// A second maintenance of a held node waits, names the holder, and starts when the first ends.
#[tokio::test]
async fn second_maintenance_waits_for_the_first() {
    let mut env = TestEnv::new("nm-queue").await;
    let a = env.node("a").await;
    // Two holds of a, each restored.
    env.expect_audit(Expect {
        node_writes: 4,
        ..Expect::restored(&a, 0)
    });
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("first", &a, json!({})).await;
    env.wait_nm("first", Phase::Drained, |_| true).await;
    env.maintenance("second", &a, json!({})).await;
    let first = env.nm_name("first");
    let nm = env
        .wait_nm("second", Phase::Pending, |nm| {
            status(nm).message.as_deref().unwrap_or("").contains(&first)
        })
        .await;
    assert!(status(&nm).started_at.is_none());
    env.delete_nm("first").await;
    env.wait_nm("second", Phase::Drained, |_| true).await;
    let node = env.get_node(&a).await;
    assert_eq!(
        taints(&node),
        vec![format!("drydock.dev/maintenance={}:NoSchedule", env.nm_name("second"))]
    );
    env.delete_nm("second").await;
    assert_restored(&env, &a, false).await;
}

/// A node that does not exist fails clearly, without touching anything.
#[tokio::test]
async fn missing_node_fails_with_a_reason() {
    let env = TestEnv::new("nm-missing").await;
    env.expect_audit(Expect::default()); // no node: nothing for drydock to do
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("ghost", "no-such-node-drydock", json!({})).await;
    let nm = env.wait_nm("ghost", Phase::Failed, |_| true).await;
    let message = status(&nm).message.clone().unwrap_or_default();
    assert!(message.contains("does not exist"), "{message}");
    env.delete_nm("ghost").await;
}

/// Pods that appear on the node during the maintenance (pinned with spec.nodeName, past the cordon) are
/// drained too, and finished pods are deleted rather than evicted.
#[tokio::test]
async fn late_pods_are_drained_and_finished_pods_deleted() {
    let mut env = TestEnv::new("nm-late").await;
    let a = env.node("a").await;
    // The finished Job pod deleted, the late bare pod evicted; a held, then restored.
    env.expect_audit(Expect {
        pod_deletes: 1,
        ..Expect::restored(&a, 1)
    });
    // A Job's pod on the node, finished (kwok completes Job pods): it must be deleted, not evicted.
    let mut pod_spec = json!({"containers": drydock_e2e::workloads::container(), "restartPolicy": "Never"});
    drydock_e2e::workloads::merge(&mut pod_spec, env.placement_on(&a));
    let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
        "metadata": {"name": "report"},
        "spec": {"template": {"metadata": {"labels": {"app": "report"}}, "spec": pod_spec}}
    }))
    .expect("job json");
    Api::<k8s_openapi::api::batch::v1::Job>::namespaced(env.client.clone(), env.ns())
        .create(&Default::default(), &job)
        .await
        .expect("create job");
    wait_until("job pod Succeeded", Duration::from_secs(60), || async {
        env.pods(Some("report"))
            .await
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
    })
    .await;
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({"drain": {"evictUnmanagedPods": true}}))
        .await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    assert!(
        env.pods(Some("report")).await.is_empty(),
        "the finished Job pod was deleted"
    );
    env.bare_pod("sneaky", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |nm| {
        status(nm).pods.as_ref().is_some_and(|p| p.evicted == 1)
    })
    .await;
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    wait_until("late pod gone", Duration::from_secs(30), || async {
        pods.get_opt("sneaky").await.ok().flatten().is_none()
    })
    .await;
    env.delete_nm("m").await;
    assert_restored(&env, &a, false).await;
}

/// A window that starts in the future leaves the node untouched (phase Waiting) until it opens.
#[tokio::test]
async fn future_window_waits_then_starts() {
    let mut env = TestEnv::new("nm-future").await;
    let a = env.node("a").await;
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    // Whole seconds: metav1.Time keeps no fractions.
    let start = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 6).expect("timestamp");
    env.maintenance(
        "later",
        &a,
        json!({"window": {"start": start.to_string(), "duration": "1h"}}),
    )
    .await;
    env.wait_nm("later", Phase::Waiting, |_| true).await;
    let node = env.get_node(&a).await;
    assert!(
        !unschedulable(&node) && taints(&node).is_empty(),
        "untouched before the window opens"
    );
    env.wait_nm("later", Phase::Drained, |_| true).await;
    assert!(jiff::Timestamp::now() >= start, "started only once the window opened");
    assert!(unschedulable(&env.get_node(&a).await));
    env.delete_nm("later").await;
    assert_restored(&env, &a, false).await;
}

/// A node deleted mid-maintenance fails the maintenance with a reason; deleting the object then just works.
#[tokio::test]
async fn node_deleted_mid_maintenance_fails_clearly() {
    let mut env = TestEnv::new("nm-nodegone").await;
    let a = env.node("a").await;
    // Held; the node is gone before any restore.
    env.expect_audit(Expect::held(0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    Api::<k8s_openapi::api::core::v1::Node>::all(env.client.clone())
        .delete(&a, &Default::default())
        .await
        .expect("delete node");
    let nm = env.wait_nm("m", Phase::Failed, |_| true).await;
    let message = status(&nm).message.clone().unwrap_or_default();
    assert!(message.contains("was deleted during the maintenance"), "{message}");
    env.delete_nm("m").await;
}

/// A NodeMaintenance name longer than a taint value may be (63) still cordons and restores its node.
#[tokio::test]
async fn long_names_still_hold_the_node() {
    let mut env = TestEnv::new("nm-long").await;
    let a = env.node("a").await;
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    let short = "a-maintenance-name-much-longer-than-sixty-three-characters-for-a-taint";
    env.maintenance(short, &a, json!({})).await;
    env.wait_nm(short, Phase::Drained, |_| true).await;
    let node = env.get_node(&a).await;
    assert!(unschedulable(&node));
    assert!(
        taints(&node)
            .iter()
            .any(|t| t.starts_with("drydock.dev/maintenance=") && t.len() < 100)
    );
    env.delete_nm(short).await;
    assert_restored(&env, &a, false).await;
}
