//! Kubernetes' node lifecycle conditions, as drydock publishes them: the three views a person has of a
//! maintenance (`drydock status`, `kubectl get nm -o wide`, the Node's conditions) agree at every step, on every
//! supported version; and on 1.37, what the EvictionRequest API does in that release.
use std::time::Duration;

use drydock::{
    api::{names::NODE_LIFECYCLE_CONDITIONS, v1alpha1::Phase},
    plan::lifecycle::phase_shown,
};
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, cli},
    kubernetes_minor,
    person::kubectl_ok,
    wait_until,
};
use k8s_openapi::api::core::v1::NodeCondition;
use serde_json::json;

/// What each view says: the phase in `drydock status`, the PHASE column of `kubectl get nm -o wide`, and the
/// phase the node's lifecycle conditions describe (None: nothing planned or in progress).
#[derive(Debug, PartialEq)]
struct Views {
    status: String,
    table: String,
    node: Option<Phase>,
}

async fn lifecycle_conditions(env: &TestEnv, node: &str) -> Vec<NodeCondition> {
    let n = env.get_node(node).await;
    n.status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| NODE_LIFECYCLE_CONDITIONS.contains(&c.type_.as_str()))
        .collect()
}

async fn views(env: &TestEnv, nm: &str, node: &str) -> Views {
    let out = cli(&["status", nm]);
    assert!(
        out.status.success(),
        "drydock status {nm}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let status = text
        .lines()
        .find_map(|l| l.strip_prefix("Phase:"))
        .map(|p| p.trim().to_string())
        .unwrap_or_default();
    let table = kubectl_ok(&["get", "nodemaintenance", nm, "-o", "wide"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    let column = header.iter().position(|h| *h == "PHASE").expect("a PHASE column");
    let row: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    Views {
        status,
        table: row.get(column).unwrap_or(&"").to_string(),
        node: phase_shown(&lifecycle_conditions(env, node).await),
    }
}

/// Waits until the three views agree on `phase` (the node is written a moment before the status), and returns
/// `drydock status`'s text then.
async fn agree(env: &TestEnv, nm: &str, node: &str, phase: Phase, on_node: Option<Phase>) -> String {
    let want = Views {
        status: format!("{phase:?}"),
        table: format!("{phase:?}"),
        node: on_node,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = views(env, nm, node).await;
        if seen == want {
            let out = cli(&["status", nm]);
            return String::from_utf8_lossy(&out.stdout).to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the three views disagree on {nm} for 60 s: wanted {want:?}, saw {seen:?}; node conditions: {:#?}",
            lifecycle_conditions(env, node).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A maintenance from its announcement to its end, read at each step the way three different people would:
/// the on-call engineer (`drydock status`), the platform team (`kubectl get nm -o wide`) and a storage operator
/// watching the Node's conditions.
#[tokio::test]
async fn status_table_and_node_conditions_agree_at_every_step() {
    let mut env = TestEnv::new("lc-parity").await;
    let a = env.node("a").await;
    env.ready_deployment("web", 3, env.placement()).await;
    env.settled_pdb("web", 2, 1).await;
    // Planned, then held (Cordoned, Draining), Drained, and False at the end: at least four writes.
    env.expect_audit(Expect {
        condition_writes: 4,
        ..Expect::restored(&a, 3)
    });
    let _drydock = Drydock::start(&env, 0);
    let nm = env.nm_name("kernel");
    // Whole seconds: metav1.Time keeps no fractions. The window is long enough to drain, short enough to end.
    let start = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + 6).expect("timestamp");
    env.maintenance(
        "kernel",
        &a,
        json!({"window": {"start": start.to_string(), "duration": "45s"}, "drain": {"evictUnplaceable": true}}),
    )
    .await;

    let text = agree(&env, &nm, &a, Phase::Waiting, Some(Phase::Waiting)).await;
    assert!(
        text.contains("MaintenancePlanned") && text.contains("MaintenanceScheduled"),
        "drydock status shows the node's conditions: {text}"
    );

    // The window opens; the budget lets one pod go and the others wait for a second node.
    agree(&env, &nm, &a, Phase::Draining, Some(Phase::Draining)).await;
    let conditions = lifecycle_conditions(&env, &a).await;
    let drain = conditions
        .iter()
        .find(|c| c.type_ == "DrainInProgress")
        .expect("DrainInProgress");
    assert_eq!(drain.reason.as_deref(), Some("Draining"));
    assert!(
        drain
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with(&format!("NodeMaintenance {nm}:"))),
        "the message names the maintenance: {drain:?}"
    );
    let planned = conditions
        .iter()
        .find(|c| c.type_ == "MaintenancePlanned")
        .expect("MaintenancePlanned");
    assert_eq!(
        (planned.status.as_str(), planned.reason.as_deref()),
        ("False", Some("MaintenanceStarted"))
    );

    let _b = env.node("b").await;
    agree(&env, &nm, &a, Phase::Drained, Some(Phase::Drained)).await;

    // The window closes: the node is given back, and its conditions turn False (not deleted) saying why.
    agree(&env, &nm, &a, Phase::Completed, None).await;
    let conditions = lifecycle_conditions(&env, &a).await;
    assert_eq!(conditions.len(), 4, "all four kept: {conditions:#?}");
    for c in &conditions {
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("WindowClosed")),
            "{c:?}"
        );
    }
    let node = env.get_node(&a).await;
    let ready = node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status);
    assert_eq!(ready.as_deref(), Some("True"), "the kubelet's conditions are untouched");
    env.delete_nm("kernel").await;
}

/// With --node-lifecycle-conditions=false drydock writes no condition, and the maintenance runs as before.
#[tokio::test]
async fn conditions_can_be_turned_off() {
    let mut env = TestEnv::new("lc-off").await;
    let a = env.node("a").await;
    env.expect_audit(Expect {
        condition_writes: 0,
        ..Expect::held(0)
    });
    let _drydock = Drydock::start_with(
        &env,
        0,
        &["--leader-elect=false", "--node-lifecycle-conditions=false"],
        None,
    );
    env.maintenance("quiet", &a, json!({})).await;
    env.wait_nm("quiet", Phase::Drained, |_| true).await;
    assert_eq!(lifecycle_conditions(&env, &a).await, Vec::new());
    assert_eq!(env.audit().condition_writes, 0, "no write of node status at all");
}

/// What Kubernetes 1.37.2 does with an EvictionRequest, which decides how drydock drains there: the API is
/// served (lifecycle.k8s.io/v1alpha1 with the EvictionRequestAPI gate), but no controller in the release acts on
/// requests: no Eviction object is made, the request's status stays empty and the pod stays. So drydock drains
/// through the Eviction API on every version. The day a pinned release ships the evictionrequest controller,
/// this test fails, and the EvictionRequest path can be built on it.
#[tokio::test]
async fn eviction_requests_are_served_but_not_acted_on_in_this_release() {
    if kubernetes_minor() < 37 {
        eprintln!("skipped: the EvictionRequest API is new in 1.37");
        return;
    }
    let mut env = TestEnv::new("lc-er").await;
    let a = env.node("a").await;
    let pod = env.bare_pod("target", &a, json!({})).await;
    env.expect_audit(Expect::default()); // drydock is not running here
    let request = json!({
        "apiVersion": "lifecycle.k8s.io/v1alpha1",
        "kind": "EvictionRequest",
        "metadata": {"name": "target-drydock", "namespace": env.ns()},
        "spec": {
            "target": {"pod": {"name": "target", "uid": pod.metadata.uid}},
            "requester": "drydock.dev/maintenance",
            "intent": "Eviction"
        }
    });
    let (ok, out) = drydock_e2e::person::kubectl(&["create", "-f", "-"], Some(&request.to_string()));
    assert!(ok, "the API server takes an EvictionRequest: {out}");
    // The fallback responder would evict at once; give a controller ample time to make an Eviction.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let ns = env.ns().to_string();
    let evictions = kubectl_ok(&["get", "evictions.lifecycle.k8s.io", "-n", &ns, "-o", "name"]);
    let status = kubectl_ok(&[
        "get",
        "evictionrequests.lifecycle.k8s.io",
        "target-drydock",
        "-n",
        &ns,
        "-o",
        "jsonpath={.status}",
    ]);
    let still_there = env
        .pods(None)
        .await
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("target"));
    assert!(
        !evictions.contains("eviction.lifecycle.k8s.io/") && matches!(status.trim(), "" | "{}") && still_there,
        "an EvictionRequest is acted on in this release (evictions: {evictions:?}, request status: {status:?}, pod \
         still there: {still_there}): build the EvictionRequest drain path on it"
    );
    wait_until(
        "the request can be withdrawn and deleted",
        Duration::from_secs(10),
        || async {
            drydock_e2e::person::kubectl(
                &[
                    "delete",
                    "evictionrequests.lifecycle.k8s.io",
                    "target-drydock",
                    "-n",
                    &ns,
                ],
                None,
            )
            .0
        },
    )
    .await;
}
