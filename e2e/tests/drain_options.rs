//! spec.drain options and spec.taints do what their names say, on the real control plane.
use std::time::Duration;

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, taints, unschedulable},
    wait_for, wait_until,
    workloads::on_node,
};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

/// gracePeriodSeconds reaches the pod through the Eviction API (kube's `evict` helper would drop it).
#[tokio::test]
async fn grace_period_reaches_the_evicted_pods() {
    let mut env = TestEnv::new("opt-grace").await;
    let a = env.node("a").await;
    env.deployment(
        "slow",
        2,
        env.placement_on(&a),
        json!({"terminationGracePeriodSeconds": 300}),
    )
    .await;
    env.wait_ready_pods("slow", 2).await;
    env.expect_audit(Expect::held(2));
    let _drydock = Drydock::start(&env, 0);
    // Pinned to node a, the replacements wait Pending: evictUnplaceable lets them (the grace period is the point).
    env.maintenance(
        "g",
        &a,
        json!({"drain": {"gracePeriodSeconds": 3, "evictUnplaceable": true}}),
    )
    .await;
    let graces = wait_for("evicted pods terminating", Duration::from_secs(60), || async {
        let terminating: Vec<Option<i64>> = env
            .pods(Some("slow"))
            .await
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
            .map(|p| p.metadata.deletion_grace_period_seconds)
            .collect();
        (terminating.len() == 2).then_some(terminating)
    })
    .await;
    assert_eq!(graces, vec![Some(3), Some(3)], "the pods got 3s, not their own 300s");
    env.wait_nm("g", Phase::Drained, |_| true).await;
}

/// Only pods matched by podSelector leave; the others stay and are listed as skipped.
#[tokio::test]
async fn pod_selector_limits_the_drain() {
    let mut env = TestEnv::new("opt-selector").await;
    let a = env.node("a").await;
    env.deployment("web", 2, env.placement_on(&a), json!({})).await;
    let db = env.ready_deployment("db", 1, env.placement_on(&a)).await;
    env.wait_ready_pods("web", 2).await;
    // The two web pods only.
    env.expect_audit(Expect::held(2));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance(
        "s",
        &a,
        json!({"drain": {"podSelector": {"matchLabels": {"app": "web"}}, "evictUnplaceable": true}}),
    )
    .await;
    let nm = env.wait_nm("s", Phase::Drained, |_| true).await;
    let status = nm.status.expect("status");
    assert_eq!(status.pods.expect("counts").evicted, 2);
    assert!(
        status
            .skipped_pods
            .iter()
            .any(|p| p.name == db[0].metadata.name.clone().unwrap_or_default() && p.reason.contains("podSelector"))
    );
    let db_now = env.pods(Some("db")).await;
    assert_eq!(db_now.len(), 1);
    assert_eq!(
        db_now[0].metadata.uid, db[0].metadata.uid,
        "the unselected pod was left alone"
    );
}

/// A drain blocked past drain.timeout with onTimeout: Abort restores the node and fails the maintenance.
#[tokio::test]
async fn timeout_with_abort_gives_the_node_back() {
    let mut env = TestEnv::new("opt-timeout").await;
    let a = env.node("a").await;
    env.bare_pod("pet", &a, json!({})).await;
    env.wait_ready_pods("pet", 1).await;
    // Nothing evicted; held, then restored by the abort.
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("t", &a, json!({"drain": {"timeout": "3s", "onTimeout": "Abort"}}))
        .await;
    env.wait_nm("t", Phase::Draining, |nm| {
        nm.status.as_ref().is_some_and(|s| s.blocked_since.is_some())
    })
    .await;
    let nm = env.wait_nm("t", Phase::Failed, |_| true).await;
    let status = nm.status.expect("status");
    assert!(
        status.message.as_deref().unwrap_or("").contains("drain.timeout"),
        "{:?}",
        status.message
    );
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Completed" && c.reason == "DrainTimeout")
    );
    let node = env.get_node(&a).await;
    assert!(!unschedulable(&node) && taints(&node).is_empty(), "node restored");
    assert_eq!(
        env.pods(Some("pet")).await.len(),
        1,
        "the blocking pod was never evicted"
    );
}

/// A NoExecute taint from spec.taints is applied only after the drain: until then PDB-protected pods stay.
#[tokio::test]
async fn no_execute_taint_waits_for_the_drain() {
    let mut env = TestEnv::new("opt-noexec").await;
    let a = env.web_on_a(2, Some(2)).await;
    // Both pods evicted once the budget has room; held, NoExecute added after the drain, restored.
    env.expect_audit(Expect {
        node_writes: 3,
        ..Expect::restored(&a, 2)
    });
    let _drydock = Drydock::start(&env, 0);
    let spec = json!({"taints": [{"key": "example.com/reboot", "effect": "NoExecute"}]});
    env.maintenance("x", &a, spec).await;
    env.wait_nm("x", Phase::Draining, |nm| {
        nm.status.as_ref().is_some_and(|s| !s.blocked_pods.is_empty())
    })
    .await;
    // A NoExecute taint added too early would show: the controller has reconciled the object since.
    env.nudge_nm("x", Phase::Draining, |nm| {
        nm.status.as_ref().is_some_and(|s| !s.blocked_pods.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !taints(&env.get_node(&a).await)
            .iter()
            .any(|t| t.ends_with(":NoExecute")),
        "no NoExecute while draining"
    );
    assert_eq!(
        env.pods(Some("web")).await.iter().filter(|p| on_node(p, &a)).count(),
        2,
        "PDB still protects the pods"
    );

    env.set_min_available("web", 1).await;
    env.wait_nm("x", Phase::Drained, |_| true).await;
    wait_until(
        "NoExecute taint applied after the drain",
        Duration::from_secs(30),
        || async { taints(&env.get_node(&a).await).contains(&"example.com/reboot=:NoExecute".to_string()) },
    )
    .await;
    env.delete_nm("x").await;
    assert!(
        taints(&env.get_node(&a).await).is_empty(),
        "NoExecute removed on restore"
    );
}

/// skipWaitForDeleteSeconds stops waiting for a pod stuck terminating (here: held by a finalizer).
#[tokio::test]
async fn skip_wait_for_delete_gives_up_on_stuck_pods() {
    let mut env = TestEnv::new("opt-skipwait").await;
    let a = env.node("a").await;
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    env.bare_pod("stuck", &a, json!({"terminationGracePeriodSeconds": 1}))
        .await;
    pods.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .expect("add finalizer");
    env.wait_ready_pods("stuck", 1).await;
    env.expect_audit(Expect::held(1));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance(
        "w",
        &a,
        json!({"drain": {"evictUnmanagedPods": true, "skipWaitForDeleteSeconds": 2}}),
    )
    .await;
    let nm = env.wait_nm("w", Phase::Drained, |_| true).await;
    let status = nm.status.expect("status");
    assert!(
        status
            .skipped_pods
            .iter()
            .any(|p| p.name == "stuck" && p.reason.contains("skipWaitForDeleteSeconds"))
    );
    assert!(
        pods.get("stuck")
            .await
            .expect("still there")
            .metadata
            .deletion_timestamp
            .is_some()
    );
    pods.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release finalizer");
}
