//! Cluster-wide safety and drain policy, on the real control plane: the limit on nodes under maintenance, the
//! control-plane guard, completion when the work is found done, drain order, and pods that are waited for.
use std::time::Duration;

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, taints, unschedulable},
    wait_until,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

fn held(node: &Node) -> bool {
    unschedulable(node) && taints(node).iter().any(|t| t.starts_with("drydock.dev/maintenance="))
}

/// With the default limit of 1, a second maintenance on another node waits (QuotaExceeded) until the first
/// ends; the two nodes are never held at once.
#[tokio::test]
async fn cluster_limit_keeps_one_node_at_a_time() {
    let mut env = TestEnv::new("pol-quota").await;
    let a = env.node("a").await;
    let b = env.node("b").await;
    // Each node held, then restored.
    env.expect_audit(Expect {
        node_writes: 4,
        restored: vec![a.clone(), b.clone()],
        ..Expect::default()
    });
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("one", &a, json!({})).await;
    env.wait_nm("one", Phase::Drained, |_| true).await;
    env.maintenance("two", &b, json!({})).await;
    let nm = env
        .wait_nm("two", Phase::Pending, |nm| {
            nm.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.reason == "QuotaExceeded"))
        })
        .await;
    assert!(
        nm.status
            .and_then(|s| s.message)
            .unwrap_or_default()
            .contains("limit is 1")
    );
    assert!(!held(&env.get_node(&b).await), "the second node is untouched");
    env.delete_nm("one").await;
    env.wait_nm("two", Phase::Drained, |_| true).await;
    assert!(!held(&env.get_node(&a).await) && held(&env.get_node(&b).await));
    env.delete_nm("two").await;
}

/// Control-plane nodes are taken one at a time; the cluster's only control-plane node needs an opt-in.
#[tokio::test]
async fn control_plane_guard() {
    let mut env = TestEnv::new("pol-cp").await;
    let cp = json!({"labels": {"node-role.kubernetes.io/control-plane": ""}});
    let cp1 = env.node_with("cp1", cp.clone()).await;
    let cp2 = env.node_with("cp2", cp).await;
    env.expect_audit(Expect {
        node_writes: 4,
        restored: vec![cp1.clone(), cp2.clone()],
        ..Expect::default()
    });
    let _drydock = Drydock::start_with(
        &env,
        0,
        &["--leader-elect=false", "--max-concurrent-maintenances", "5"],
        None,
    );
    env.maintenance("first", &cp1, json!({})).await;
    env.wait_nm("first", Phase::Drained, |_| true).await;
    env.maintenance("second", &cp2, json!({})).await;
    let nm = env
        .wait_nm("second", Phase::Pending, |nm| {
            nm.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.reason == "ControlPlaneGuard"))
        })
        .await;
    let message = nm.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.contains(&cp1) && message.contains("one at a time"), "{message}");
    assert!(!held(&env.get_node(&cp2).await));
    env.delete_nm("first").await;
    env.wait_nm("second", Phase::Drained, |_| true).await;
    env.delete_nm("second").await;
}

/// completeWhen.rebooted ends the maintenance when the node's bootID changes and it is Ready, without waiting
/// for the window.
#[tokio::test]
async fn rebooted_node_completes_the_maintenance() {
    let mut env = TestEnv::new("pol-reboot").await;
    let a = env.node("a").await;
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("kernel", &a, json!({"completeWhen": {"rebooted": true}}))
        .await;
    let nm = env
        .wait_nm("kernel", Phase::Drained, |nm| {
            nm.status.as_ref().is_some_and(|s| s.boot_id_at_drain.is_some())
        })
        .await;
    let boot = nm.status.and_then(|s| s.boot_id_at_drain).unwrap_or_default();
    // What a kubelet reports after a reboot: a new bootID.
    Api::<Node>::all(env.client.clone())
        .patch_status(
            &a,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"nodeInfo": {"bootID": format!("{boot}-rebooted")}}})),
        )
        .await
        .expect("patch node status");
    let nm = env.wait_nm("kernel", Phase::Completed, |_| true).await;
    let status = nm.status.expect("status");
    assert!(status.message.unwrap_or_default().contains("rebooted"));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Completed" && c.reason == "WorkDone")
    );
    let node = env.get_node(&a).await;
    assert!(
        !unschedulable(&node) && taints(&node).is_empty(),
        "node restored without waiting for a window"
    );
    env.delete_nm("kernel").await;
}

/// Pods leave in groups by drain order (annotation, else priority), lowest first; each group is gone before the
/// next is evicted.
#[tokio::test]
async fn drain_order_groups_leave_one_after_another() {
    let mut env = TestEnv::new("pol-order").await;
    let a = env.node("a").await;
    // Two batch pods, then two critical ones.
    env.expect_audit(Expect::held(4));
    let first = json!({"terminationGracePeriodSeconds": 3});
    env.deployment("batch", 2, env.placement_on(&a), first).await;
    env.deployment("critical", 2, env.placement_on(&a), json!({})).await;
    // The annotation on the pod template orders the groups (no PriorityClass needed).
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.client.clone(), env.ns());
    for (name, order) in [("batch", "-5"), ("critical", "100")] {
        deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"template": {"metadata": {"annotations": {"drydock.dev/drain-order": order}}}}}),
                ),
            )
            .await
            .expect("annotate");
    }
    env.wait_ready_pods("batch", 2).await;
    env.wait_ready_pods("critical", 2).await;
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    wait_until(
        "only the rolled-out, annotated pods",
        Duration::from_secs(60),
        || async {
            pods.list(&Default::default()).await.is_ok_and(|l| {
                l.items.len() == 4
                    && l.items.iter().all(|p| {
                        p.metadata.deletion_timestamp.is_none()
                            && p.metadata
                                .annotations
                                .as_ref()
                                .is_some_and(|a| a.contains_key("drydock.dev/drain-order"))
                            && drydock_e2e::workloads::pod_ready(p)
                    })
            })
        },
    )
    .await;
    let _drydock = Drydock::start(&env, 0);
    // Pinned to node a, the replacements wait Pending (evictUnplaceable): the order of leaving is the point.
    env.maintenance("o", &a, json!({"drain": {"evictUnplaceable": true}}))
        .await;
    // While the batch group is terminating (3 s grace), no critical pod has been evicted yet.
    wait_until("batch pods terminating", Duration::from_secs(30), || async {
        env.pods(Some("batch"))
            .await
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .count()
            == 2
    })
    .await;
    assert!(
        env.pods(Some("critical"))
            .await
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_none()),
        "critical waits for the batch group"
    );
    env.wait_nm("o", Phase::Drained, |_| true).await;
}

/// A pod annotated drydock.dev/drain: wait-completed is not evicted: the drain waits for it to finish.
#[tokio::test]
async fn wait_completed_pods_are_waited_for() {
    let mut env = TestEnv::new("pol-wait").await;
    let a = env.node("a").await;
    // Held; the pod waited for is never evicted (the test deletes it).
    env.expect_audit(Expect::held(0));
    env.bare_pod("etl", &a, json!({})).await;
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    pods.patch(
        "etl",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"drydock.dev/drain": "wait-completed"}}})),
    )
    .await
    .expect("annotate");
    env.wait_ready_pods("etl", 1).await;
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("w", &a, json!({})).await;
    env.wait_nm("w", Phase::Draining, |nm| {
        nm.status.as_ref().is_some_and(|s| {
            s.blocked_pods
                .iter()
                .any(|p| p.name == "etl" && p.reason.contains("waiting for it to complete"))
        })
    })
    .await;
    // An eviction would show: the controller has reconciled the object since, still waiting.
    env.nudge_nm("w", Phase::Draining, |nm| {
        nm.status
            .as_ref()
            .is_some_and(|s| s.blocked_pods.iter().any(|p| p.name == "etl"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let etl = pods.get("etl").await.expect("still there");
    assert!(etl.metadata.deletion_timestamp.is_none(), "not evicted");
    // The job finishes: its pod goes (here: deleted, as a finished pod would be cleaned up).
    pods.delete("etl", &Default::default()).await.expect("finish");
    env.wait_nm("w", Phase::Drained, |_| true).await;
}
