//! Health gates against a real Prometheus (built from its Go module like the control plane): it scrapes drydock's
//! own /metrics and a test target whose series the test sets and clears. A firing query holds the rollout (or
//! one node, when the query names the node), clearing it lets the rollout go on, and a Prometheus that stops
//! answering blocks again: never "healthy" by default.
use std::time::Duration;

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, free_port, unschedulable},
    prometheus::{MetricsTarget, Prometheus},
    schedules::{create_rollout, of_schedule, schedule, wait_completed, wait_waiting},
};
use serde_json::json;

const SEEN: Duration = Duration::from_secs(30);

/// Done once drained.
fn quick() -> serde_json::Value {
    json!({"completeWhen": {"nodeInfo": {"kernelVersion": "*"}}})
}

/// A Prometheus scraping `target` and a drydock not started yet (at the returned address), and that drydock,
/// configured with the Prometheus.
async fn stack(env: &TestEnv, target: &MetricsTarget) -> (Prometheus, Drydock) {
    let http = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(&[("drydock", &http), ("test", &target.addr())], &[])
        .await
        .expect("start Prometheus");
    let url = prometheus.url();
    let drydock = Drydock::start_on(
        &env.id,
        0,
        http.clone(),
        &["--leader-elect=false", "--prometheus-url", &url],
        None,
    );
    prometheus.wait_scraped(&target.addr()).await;
    prometheus.wait_scraped(&http).await;
    (prometheus, drydock)
}

/// A pool of 3 behind a fleet-wide gate and a per-node one: the firing fleet alert holds every node, and says
/// so once; cleared, the rollout goes on, passing over the one node whose own query fires until it clears too.
#[tokio::test]
async fn a_firing_query_holds_the_rollout_and_clearing_it_lets_it_go_on() {
    let mut env = TestEnv::new("gate-roll").await;
    let pool = env.pool("gated", 3).await;
    env.expect_audit(Expect {
        node_writes: 6,
        restored: pool.clone(),
        ..Expect::default()
    });
    let target = MetricsTarget::start();
    target.set(&format!(
        "drydock_test_alert{{alertname=\"KubeAPIErrorsHigh\",severity=\"critical\"}} 1\n\
         drydock_test_node_unhealthy{{node=\"{}\"}} 1\n",
        pool[0]
    ));
    let (prometheus, _drydock) = stack(&env, &target).await;
    prometheus
        .wait_until("drydock_test_alert", SEEN, |s| s.len() == 1)
        .await;
    let rollout = json!({"healthGates": [
        {"name": "no-critical-alerts", "query": "drydock_test_alert{severity=\"critical\"}"},
        {"name": "no-blocked-drains", "query": "drydock_maintenances_blocked{job=\"drydock\"} > 0"},
        {"name": "node-healthy", "query": "drydock_test_node_unhealthy{node=\"{{node}}\"} > 0"}
    ]});
    let name = create_rollout(&env, "kernel", "gated", 1, quick(), rollout, "10m").await;
    let ms = wait_waiting(&env, &name, "HealthGate").await;
    let wait = ms.status.as_ref().and_then(|s| s.waiting.clone()).expect("waiting");
    assert_eq!(wait.subject, "no-critical-alerts");
    assert!(
        wait.message.contains("holds back the rollout") && wait.message.contains("KubeAPIErrorsHigh"),
        "{}",
        wait.message
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        of_schedule(&env, &name).await.is_empty(),
        "nothing starts while the alert fires"
    );
    // drydock's own metrics, scraped by the same Prometheus, count what it asked.
    prometheus
        .wait_until(
            "drydock_health_gate_checks_total{job=\"drydock\",result=\"firing\"}",
            SEEN,
            |s| s.first().is_some_and(|s| s.value >= 1.0),
        )
        .await;

    // The fleet's alert clears; the first node's own query still fires: the others go first.
    target.set(&format!("drydock_test_node_unhealthy{{node=\"{}\"}} 1\n", pool[0]));
    let done = wait_completed(&env, &name, 2, Duration::from_secs(60)).await;
    let mut nodes: Vec<String> = done.iter().map(|nm| nm.spec.node_name.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, vec![pool[1].clone(), pool[2].clone()]);
    let ms = wait_waiting(&env, &name, "HealthGate").await;
    let wait = ms.status.as_ref().and_then(|s| s.waiting.clone()).expect("waiting");
    assert_eq!(wait.subject, format!("node-healthy/{}", pool[0]));
    assert!(
        !unschedulable(&env.get_node(&pool[0]).await),
        "the unhealthy node is untouched"
    );

    target.clear();
    wait_completed(&env, &name, 3, Duration::from_secs(60)).await;
    let blocked = env.event_count("MaintenanceSchedule", &name, "RolloutBlocked").await;
    assert_eq!(
        blocked, 2,
        "said once per blocker (the fleet's alert, then node 1's), not per look"
    );
    let ms = schedule(&env, &name).await;
    assert!(ms.status.and_then(|s| s.waiting).is_none());
}

/// A NodeMaintenance's own gate keeps it Pending, the node untouched, until the query clears; once Prometheus
/// stops answering, the next one waits with "cannot check".
#[tokio::test]
async fn a_maintenance_waits_for_its_gate_and_for_prometheus_to_answer() {
    let mut env = TestEnv::new("gate-nm").await;
    let a = env.node("a").await;
    let b = env.node("b").await;
    env.expect_audit(Expect::restored(&a, 0));
    let target = MetricsTarget::start();
    target.set(&format!("drydock_test_node_unhealthy{{node=\"{a}\"}} 1\n"));
    let (mut prometheus, _drydock) = stack(&env, &target).await;
    prometheus
        .wait_until("drydock_test_node_unhealthy", SEEN, |s| s.len() == 1)
        .await;
    let gate = json!({
        "completeWhen": {"nodeInfo": {"kernelVersion": "*"}},
        "healthGates": [{"name": "node-healthy", "query": "drydock_test_node_unhealthy{node=\"{{node}}\"} > 0"}]
    });
    env.maintenance("gated", &a, gate.clone()).await;
    env.wait_nm("gated", Phase::Pending, |nm| {
        nm.status
            .as_ref()
            .and_then(|s| s.message.as_deref())
            .is_some_and(|m| m.contains("health gate node-healthy holds back node"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !unschedulable(&env.get_node(&a).await),
        "untouched while the gate fires"
    );
    target.clear();
    env.wait_nm("gated", Phase::Completed, |_| true).await;

    prometheus.stop();
    env.maintenance("later", &b, gate).await;
    let nm = env
        .wait_nm("later", Phase::Pending, |nm| {
            nm.status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .is_some_and(|m| m.contains("cannot check it: Prometheus at"))
        })
        .await;
    assert!(
        nm.status
            .and_then(|s| s.message)
            .is_some_and(|m| m.contains("did not answer")),
        "an unreachable Prometheus is not healthy"
    );
    assert!(
        !unschedulable(&env.get_node(&b).await),
        "untouched while the gate cannot be checked"
    );
    env.delete_nm("later").await;
}

/// A query Prometheus refuses (a typo), or one that returns a number instead of series, is never taken as
/// "healthy": the maintenance waits, and its status quotes what is wrong so the author can fix the query.
#[tokio::test]
async fn a_query_prometheus_refuses_or_one_without_series_blocks_and_says_why() {
    let mut env = TestEnv::new("gate-bad").await;
    let a = env.node("a").await;
    let b = env.node("b").await;
    env.expect_audit(Expect::default());
    let target = MetricsTarget::start();
    let (_prometheus, _drydock) = stack(&env, &target).await;
    let cases = [
        ("typo", &a, "up{job=", "Prometheus refused the query"),
        ("scalar", &b, "1 + 1", "returns a scalar: a gate needs series"),
    ];
    for (name, node, query, _) in &cases {
        let spec = json!({"healthGates": [{"name": "check", "query": query}]});
        env.maintenance(name, node, spec).await;
    }
    for (name, node, _, says) in &cases {
        let nm = env
            .wait_nm(name, Phase::Pending, |nm| {
                nm.status
                    .as_ref()
                    .and_then(|s| s.message.as_deref())
                    .is_some_and(|m| m.contains(says))
            })
            .await;
        assert!(
            nm.status
                .and_then(|s| s.message)
                .is_some_and(|m| m.contains("cannot check it")),
            "{name}"
        );
        assert!(!unschedulable(&env.get_node(node).await), "{name}: node untouched");
    }
}
