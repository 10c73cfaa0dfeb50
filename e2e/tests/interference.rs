//! People act on a node while drydock holds it: drydock undoes what would break the maintenance, respects what a
//! person means to keep, and never loses a node whose NodeMaintenance vanished without it. (A node deleted
//! mid-maintenance: maintenance.rs, `node_deleted_mid_maintenance_fails_with_a_reason`.)
use std::time::Duration;

use drydock::api::{names::MAINTENANCE_TAINT, v1alpha1::Phase};
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, drydock_annotations, taints, unschedulable},
    person::{kubectl, kubectl_ok},
    wait_until,
};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

fn held(node: &k8s_openapi::api::core::v1::Node) -> bool {
    unschedulable(node) && taints(node).iter().any(|t| t.starts_with(MAINTENANCE_TAINT))
}

/// Someone uncordons the node or removes drydock's taint mid-maintenance: drydock puts both back and says so;
/// moving an active maintenance to another node is refused at apply.
#[tokio::test]
async fn uncordon_and_taint_removal_are_undone() {
    let mut env = TestEnv::new("intf-undo").await;
    let a = env.node("a").await;
    // Held, cordoned again, tainted again, restored.
    env.expect_audit(Expect {
        node_writes: 4,
        ..Expect::restored(&a, 0)
    });
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;

    kubectl_ok(&["uncordon", &a]);
    wait_until("node cordoned again", LIMIT, || async { held(&env.get_node(&a).await) }).await;
    // The Event follows the node patch: wait for it rather than race it.
    wait_until("a Recordoned Event on the NodeMaintenance", LIMIT, || async {
        let events = env.events("NodeMaintenance", &env.nm_name("m")).await;
        events.iter().any(|(r, _)| r == "Recordoned")
    })
    .await;

    kubectl_ok(&["taint", "node", &a, &format!("{MAINTENANCE_TAINT}:NoSchedule-")]);
    wait_until("drydock's taint back", LIMIT, || async {
        held(&env.get_node(&a).await)
    })
    .await;

    let (ok, out) = kubectl(
        &[
            "patch",
            "nodemaintenance",
            &env.nm_name("m"),
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"nodeName":"another-node"}}"#,
        ],
        None,
    );
    assert!(!ok && out.contains("spec.nodeName is immutable"), "refused: {out}");
    assert_eq!(env.nm("m").await.spec.node_name, a);

    env.delete_nm("m").await;
    let node = env.get_node(&a).await;
    assert!(
        !unschedulable(&node) && taints(&node).is_empty(),
        "restored: {:?}",
        taints(&node)
    );
}

/// A person cordons the node themselves while drydock holds it, with a server-side apply (which makes them an
/// owner of the cordon although it is already set) or with `kubectl uncordon` + `kubectl cordon` while the
/// controller is down: when the window closes drydock takes its taint away and leaves the node cordoned.
#[tokio::test]
async fn a_cordon_of_their_own_outlives_the_maintenance() {
    let mut env = TestEnv::new("intf-cordon").await;
    let a = env.node("a").await;
    let b = env.node("b").await;
    // Each node held, then restored (taint and hold taken away, their cordon left).
    env.expect_audit(Expect {
        node_writes: 4,
        restored: vec![a.clone(), b.clone()],
        ..Expect::default()
    });
    let args = ["--leader-elect=false", "--max-concurrent-maintenances", "5"];
    let mut drydock = Drydock::start_with(&env, 0, &args, None);
    let window = json!({"window": {"duration": "40s"}});
    env.maintenance("apply", &a, window.clone()).await;
    env.maintenance("cordon", &b, window).await;
    env.wait_nm("apply", Phase::Drained, |_| true).await;
    env.wait_nm("cordon", Phase::Drained, |_| true).await;

    let manifest =
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": a}, "spec": {"unschedulable": true}});
    let (ok, out) = kubectl(
        &["apply", "--server-side", "--field-manager", "oncall", "-f", "-"],
        Some(&manifest.to_string()),
    );
    assert!(ok, "server-side apply: {out}");

    drydock.kill();
    kubectl_ok(&["uncordon", &b]);
    kubectl_ok(&["cordon", &b]);
    let _drydock = Drydock::start_with(&env, 1, &args, None);

    for (short, node, who) in [("apply", &a, "oncall"), ("cordon", &b, "kubectl")] {
        let nm = env.wait_nm(short, Phase::Completed, |_| true).await;
        let message = nm.status.and_then(|s| s.message).unwrap_or_default();
        assert!(
            message.contains("left cordoned") && message.contains(who),
            "the status says who cordoned {node}: {message}"
        );
        let n = env.get_node(node).await;
        assert!(unschedulable(&n), "{node} stays cordoned");
        assert!(
            taints(&n).is_empty(),
            "drydock's taint is gone from {node}: {:?}",
            taints(&n)
        );
        assert!(drydock_annotations(&n).is_empty(), "and its annotations");
    }
}

/// The NodeMaintenance's finalizer is removed by force while drydock is down, so the object vanishes without
/// drydock restoring the node. The next controller finds the node's held-by annotation without a holder and
/// restores the node from its prior-state annotation: taints others set stay, the cordon goes.
#[tokio::test]
async fn a_hold_whose_finalizer_was_forced_off_is_restored_on_the_next_start() {
    let mut env = TestEnv::new("intf-orphan").await;
    let a = env.node("a").await;
    kubectl_ok(&["taint", "node", &a, "theirs=x:NoSchedule"]);
    // Held by the first controller, restored as an orphan by the second.
    env.expect_audit(Expect::restored(&a, 0));
    let mut drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    drydock.kill();

    let name = env.nm_name("m");
    kubectl_ok(&[
        "patch",
        "nodemaintenance",
        &name,
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    kubectl_ok(&["delete", "nodemaintenance", &name, "--wait=true"]);
    let node = env.get_node(&a).await;
    assert!(held(&node), "nobody restored it yet");

    let _drydock = Drydock::start(&env, 1);
    wait_until("the orphaned node restored", LIMIT, || async {
        let n = env.get_node(&a).await;
        !unschedulable(&n) && drydock_annotations(&n).is_empty()
    })
    .await;
    let node = env.get_node(&a).await;
    assert_eq!(
        taints(&node),
        vec!["theirs=x:NoSchedule".to_string()],
        "their taint stays"
    );
    wait_until("an OrphanedHoldRestored Event on the node", LIMIT, || async {
        let events = env.events("Node", &a).await;
        events
            .iter()
            .any(|(r, note)| r == "OrphanedHoldRestored" && note.contains(&name))
    })
    .await;
}
