//! The after-test safety check is not blind: with the controller's own credentials (no controller running), this
//! test breaks each rule once in its own namespace and on its own nodes, and the check over the API server's audit
//! log must name every one, attributed to the identity the API server gives those credentials.
use std::time::Duration;

use drydock_e2e::{
    TestEnv, audit,
    controller::{controller_client, taints},
    person::kubectl_ok,
    wait_for,
};
use k8s_openapi::api::{
    core::v1::{Node, Pod},
    policy::v1::Eviction,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

#[tokio::test]
async fn the_check_names_each_rule_broken_with_drydocks_credentials() {
    let mut env = TestEnv::new("audit-proof").await;
    // Node a: cordoned by someone, with their taint. Node b: never held by drydock, with two running pods.
    let a = env.node_with("a", json!({"spec": {"unschedulable": true}})).await;
    kubectl_ok(&["taint", "node", &a, "theirs=x:NoSchedule"]);
    let b = env.node("b").await;
    env.bare_pod("running", &b, json!({})).await;
    env.bare_pod("evictee", &b, json!({})).await;
    env.wait_ready_pods("running", 1).await;
    env.wait_ready_pods("evictee", 1).await;
    // The node-lifecycle controller adds its unschedulable taint to a cordoned node: wait, so that the taint
    // write below takes away only "theirs".
    let nodes_admin = Api::<Node>::all(env.client.clone());
    wait_for("node a's unschedulable taint", Duration::from_secs(30), || async {
        let n = nodes_admin.get(&a).await.ok()?;
        let t = n.spec.as_ref()?.taints.clone().unwrap_or_default();
        t.iter()
            .any(|t| t.key == "node.kubernetes.io/unschedulable")
            .then_some(())
    })
    .await;

    let as_drydock = controller_client().await;
    let pods = Api::<Pod>::namespaced(as_drydock.clone(), env.ns());
    let nodes = Api::<Node>::all(as_drydock);

    // 1. Delete a running pod.
    pods.delete("running", &DeleteParams::default())
        .await
        .expect("delete a running pod");
    // 2. Evict a pod on a node drydock does not hold.
    let eviction: Eviction =
        serde_json::from_value(json!({"metadata": {"name": "evictee", "namespace": env.ns()}})).expect("eviction");
    pods.create_subresource::<_, serde_json::Value>("eviction", "evictee", &PostParams::default(), &eviction)
        .await
        .expect("evict a pod on a node not held");
    // 3. Remove a taint drydock never added (the resourceVersion makes it exactly this change).
    let node = nodes.get(&a).await.expect("get node a");
    let kept: Vec<_> = node
        .spec
        .clone()
        .and_then(|s| s.taints)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key != "theirs")
        .collect();
    let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "spec": {"taints": kept}});
    nodes
        .patch(&a, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("remove their taint");
    // 4. Uncordon a node someone else cordoned.
    nodes
        .patch(
            &a,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": false}})),
        )
        .await
        .expect("uncordon node a");
    // 5, 6. Requests its RBAC refuses: an attempt is a broken promise all the same.
    let refused = |r: Result<_, kube::Error>| matches!(r, Err(kube::Error::Api(s)) if s.code == 403);
    assert!(refused(nodes.delete(&a, &DeleteParams::default()).await.map(|_| ())));
    let collection = pods
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=nothing-here"),
        )
        .await;
    assert!(refused(collection.map(|_| ())));

    // Each event is logged as its request completes: wait for all six.
    wait_for("six violations in the audit log", Duration::from_secs(30), || async {
        (env.audit().violations.len() >= 6).then_some(())
    })
    .await;
    // Judged here, so the environment does not fail on these when it is dropped.
    let report = env.take_audit();
    let ns = env.ns();
    let expected = [
        format!("drydock deleted pod {ns}/running while it was \"Running\""),
        format!("drydock evicted pod {ns}/evictee on node {b} "),
        format!("drydock removed taint theirs:NoSchedule from node {a} "),
        format!("drydock uncordoned node {a} "),
        format!("drydock sent a DELETE of node {a} "),
        format!("drydock sent a deletecollection of pods in namespace {ns} "),
    ];
    for e in &expected {
        assert!(
            report.violations.iter().any(|v| v.starts_with(e.as_str())),
            "no violation starting {e:?} in {:#?}",
            report.violations
        );
    }
    assert_eq!(report.violations.len(), 6, "{:#?}", report.violations);
    assert_eq!(
        (report.evictions, report.pod_deletes, report.node_writes),
        (1, 1, 2),
        "counted as drydock's"
    );
    assert!(report.blind_spots.is_empty(), "{:?}", report.blind_spots);
    // The declared lower bounds fire on the same log when it shows less than declared.
    let short = report.shortfalls(&audit::Expect {
        evictions: 2,
        restored: vec![a.clone()],
        ..Default::default()
    });
    assert_eq!(
        short,
        vec![
            "1 accepted evictions by drydock, the test expects at least 2".to_string(),
            format!("no write by drydock that restored node {a}"),
        ]
    );
    println!(
        "drydock's identity (SelfSubjectReview): {}; violations found:\n{}",
        audit::controller_user(),
        report.violations.join("\n")
    );
    let node = env.get_node(&a).await;
    assert!(
        taints(&node).is_empty() && !drydock_e2e::controller::unschedulable(&node),
        "the writes took effect: their taint and their cordon are gone"
    );
}
