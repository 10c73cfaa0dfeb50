//! What a platform team checks before installing an operator: two replicas fail over mid-drain, the
//! controller works with exactly the RBAC in config/, and /metrics, /healthz and /readyz tell the truth.
use std::time::Duration;

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, taints, unschedulable},
    wait_for,
    workloads::on_node,
};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

/// Two controllers with leader election: only the leader works; when it is killed mid-drain, the other takes
/// the Lease and finishes the maintenance.
#[tokio::test]
async fn leader_failover_mid_drain() {
    let mut env = TestEnv::new("ops-failover").await;
    let a = env.web_on_a(3, Some(3)).await;
    env.expect_audit(Expect::restored(&a, 3));

    // config/rbac lets the controller hold Leases in drydock-system only; each test its own Lease there.
    let lease = format!("drydock-{}", env.id);
    let start = |n: u32| Drydock::replica(&env, n, &lease, None);
    let mut replicas = [start(0), start(1)];
    let leases = Api::<Lease>::namespaced(env.client.clone(), "drydock-system");
    let holder = wait_for("a leader", Duration::from_secs(60), || async {
        leases.get_opt(&lease).await.ok().flatten()?.spec?.holder_identity
    })
    .await;
    let leader: usize = holder
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("identity ends in the replica number");
    let standby = 1 - leader;

    env.maintenance("ha", &a, json!({})).await;
    env.wait_blocked("ha", 3).await;
    let leading = |d: &Drydock| d.get("/metrics").and_then(|(_, body)| metric(&body, "drydock_leader "));
    assert_eq!(leading(&replicas[leader]), Some(1.0));
    assert_eq!(leading(&replicas[standby]), Some(0.0), "the standby does not reconcile");

    replicas[leader].kill();
    env.set_min_available("web", 2).await;
    // The dead leader's Lease expires (15 s) and the standby takes it; no wall-clock assertion, just liveness.
    let nm = env.wait_nm("ha", Phase::Drained, |_| true).await;
    assert_eq!(nm.status.and_then(|s| s.pods).map(|p| p.evicted), Some(3));
    let new_holder = leases
        .get(&lease)
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(
        new_holder,
        Some(format!("{}-{standby}", env.id)),
        "the standby took over"
    );
    assert!(env.wait_ready_pods("web", 3).await.iter().all(|p| !on_node(p, &a)));
    env.delete_nm("ha").await;
    let node = env.get_node(&a).await;
    assert!(!unschedulable(&node) && taints(&node).is_empty());
    let _ = leases.delete(&lease, &Default::default()).await;
}

/// After a maintenance, the metrics endpoint counts what happened; health endpoints answer.
#[tokio::test]
async fn metrics_match_what_happened() {
    let mut env = TestEnv::new("ops-metrics").await;
    let a = env.web_on_a(3, Some(3)).await;
    env.expect_audit(Expect::restored(&a, 3));
    let drydock = Drydock::start(&env, 0);
    let (code, _) = wait_for("/readyz", Duration::from_secs(30), || async { drydock.get("/readyz") }).await;
    assert_eq!(code, 200);
    assert_eq!(drydock.get("/healthz").map(|(c, _)| c), Some(200));

    env.maintenance("m", &a, json!({})).await;
    env.wait_blocked("m", 3).await;
    let (_, text) = drydock.get("/metrics").expect("metrics");
    assert_eq!(
        metric(&text, "drydock_maintenances_blocked{reason=\"pdb\"} "),
        Some(1.0),
        "{text}"
    );
    env.set_min_available("web", 2).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    let (_, text) = drydock.get("/metrics").expect("metrics");
    assert_eq!(
        metric(&text, "drydock_evictions_total{result=\"evicted\"} "),
        Some(3.0),
        "{text}"
    );
    assert!(
        metric(&text, "drydock_evictions_total{result=\"blocked_by_pdb\"} ").unwrap_or(0.0) >= 3.0,
        "the PDB refused evictions at first: {text}"
    );
    assert_eq!(metric(&text, "drydock_drain_duration_seconds_count "), Some(1.0));
    assert_eq!(metric(&text, "drydock_maintenances{phase=\"Drained\"} "), Some(1.0));
    assert_eq!(metric(&text, "drydock_nodes_held "), Some(1.0));
    assert_eq!(
        metric(&text, "drydock_maintenances_blocked{reason=\"pdb\"} "),
        None,
        "no longer blocked"
    );
    // Reconciles are counted and timed per controller: a cordon, a drain of several rounds, the hold.
    let runs = metric(&text, "drydock_reconciles_total{controller=\"nodemaintenance\"} ").unwrap_or(0.0);
    assert!(runs >= 4.0, "{text}");
    assert_eq!(
        metric(
            &text,
            "drydock_reconcile_duration_seconds_count{controller=\"nodemaintenance\"} "
        ),
        Some(runs),
        "{text}"
    );
    env.delete_nm("m").await;
    let (_, text) = drydock.get("/metrics").expect("metrics");
    assert_eq!(metric(&text, "drydock_nodes_held "), Some(0.0));
}

/// The controller completes a maintenance with exactly config/rbac's permissions: a ServiceAccount token, the
/// ClusterRole and the leader-election Role, nothing more.
#[tokio::test]
async fn rbac_from_config_is_sufficient() {
    let mut env = TestEnv::new("ops-rbac").await;
    let a = env.web_on_a(2, Some(1)).await;
    // Both web pods were on a (b came later).
    env.expect_audit(Expect::restored(&a, 2));
    let lease = format!("drydock-{}", env.id);
    // Every e2e controller runs as config/rbac's ServiceAccount (controller::controller_kubeconfig); this test
    // adds leader election, whose Role is namespaced.
    let mut drydock = Drydock::replica(&env, 0, &lease, None);
    env.maintenance("rbac", &a, json!({})).await;
    env.wait_nm("rbac", Phase::Drained, |_| true).await;
    env.delete_nm("rbac").await;
    assert!(!unschedulable(&env.get_node(&a).await));
    assert!(drydock.alive(), "no permission error stopped the controller");
    let log = std::fs::read_to_string(&drydock.log).unwrap_or_default();
    assert!(!log.contains("forbidden"), "no request was forbidden:\n{log}");
    let _ = Api::<Lease>::namespaced(env.client.clone(), "drydock-system")
        .delete(&lease, &Default::default())
        .await;
}
