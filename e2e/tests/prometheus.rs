//! What a user wiring drydock into Prometheus checks: a real Prometheus scrapes drydock's /metrics and shows what
//! drydock is doing, the shipped rules (config/prometheus/alerts.yaml) load and evaluate without error, and an
//! alert among them fires on the metrics it names and ends when they go. The harness's scrape target and
//! Prometheus themselves are checked too, since the health-gate tests will rely on them.
use std::time::Duration;

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::Drydock,
    prometheus::{MetricsTarget, Prometheus, Sample, shipped_rules},
    wait_for,
};
use serde_json::json;

/// Long enough for a scrape and a rule evaluation (every second) on a busy machine.
const SEEN: Duration = Duration::from_secs(30);

/// The one value of a query that should answer one series.
fn single(series: &[Sample]) -> Option<f64> {
    match series {
        [s] => Some(s.value),
        _ => None,
    }
}

/// The alert names of the shipped rule file, read from it.
fn shipped_alerts() -> Vec<String> {
    let text = std::fs::read_to_string(shipped_rules()).expect("read config/prometheus/alerts.yaml");
    let file: serde_json::Value = serde_yaml_ng::from_str(&text).expect("alerts.yaml is YAML");
    let mut names: Vec<String> = file["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["alert"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// drydock scraped by a real Prometheus loaded with the shipped rules: its metrics follow a maintenance, every
/// rule evaluates without error, and with drydock up and leading none of its alerts is even pending.
#[tokio::test]
async fn prometheus_scrapes_drydock_and_evaluates_the_shipped_rules() {
    let mut env = TestEnv::new("prom-drydock").await;
    let node = env.node("a").await;
    env.expect_audit(Expect::restored(&node, 0));
    let drydock = Drydock::start(&env, 0);
    wait_for("drydock's /readyz", SEEN, || async {
        drydock.get("/readyz").filter(|(code, _)| *code == 200)
    })
    .await;
    // The job is named "drydock", as the shipped DrydockDown alert expects of a scrape job.
    let prometheus = Prometheus::start(&[("drydock", &drydock.http)], &[shipped_rules()])
        .await
        .expect("start Prometheus");
    prometheus.wait_scraped(&drydock.http).await;

    // One drydock, leading (without leader election it leads from its start).
    prometheus
        .wait_until(r#"drydock_leader{job="drydock"}"#, SEEN, |s| single(s) == Some(1.0))
        .await;
    let phases = prometheus
        .query(r#"drydock_maintenances{job="drydock"}"#)
        .await
        .expect("query");
    let mut names: Vec<&str> = phases.iter().map(|s| s.label("phase")).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Completed",
            "Cordoned",
            "Drained",
            "Draining",
            "Failed",
            "Pending",
            "Waiting"
        ],
        "every phase is a series: {phases:?}"
    );

    // Every rule evaluated, healthy, and quiet: drydock is up and leads, nothing is blocked or overdue.
    let want = shipped_alerts();
    assert!(want.len() >= 5, "the shipped file has its alerts: {want:?}");
    let deadline = tokio::time::Instant::now() + SEEN;
    let rules = loop {
        let rules = prometheus.rules().await.expect("GET /api/v1/rules");
        let settled = rules
            .iter()
            .all(|r| r.evaluated && r.health == "ok" && r.state == "inactive");
        if (settled && !rules.is_empty()) || tokio::time::Instant::now() > deadline {
            break rules;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut loaded: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
    loaded.sort();
    assert_eq!(
        loaded, want,
        "Prometheus loaded every alert of alerts.yaml, and only those"
    );
    for r in &rules {
        assert!(r.evaluated, "{} was never evaluated: {r:?}", r.name);
        assert_eq!(
            (r.kind.as_str(), r.health.as_str(), r.last_error.as_str()),
            ("alerting", "ok", ""),
            "{} evaluates without error: {r:?}",
            r.name
        );
        assert_eq!(
            r.state, "inactive",
            "{} is quiet while drydock is healthy: {r:?}",
            r.name
        );
    }

    // A maintenance, seen through Prometheus: the node held while it lasts, given back when it is deleted.
    let held = r#"drydock_nodes_held{job="drydock"}"#;
    assert_eq!(single(&prometheus.query(held).await.expect("query")), Some(0.0));
    env.maintenance("m", &node, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    prometheus.wait_until(held, SEEN, |s| single(s) == Some(1.0)).await;
    prometheus
        .wait_until(r#"drydock_maintenances{job="drydock", phase="Drained"}"#, SEEN, |s| {
            single(s) == Some(1.0)
        })
        .await;
    env.delete_nm("m").await;
    prometheus.wait_until(held, SEEN, |s| single(s) == Some(0.0)).await;
}

/// The harness's own parts: what a test sets on a target shows in queries and goes when cleared, a shipped alert
/// fires on the series it names and resolves, and a stopped Prometheus no longer answers.
#[tokio::test]
async fn a_target_drives_queries_and_shipped_alerts() {
    let target = MetricsTarget::start();
    let mut prometheus = Prometheus::start(&[("target", &target.addr())], &[shipped_rules()])
        .await
        .expect("start Prometheus");
    prometheus.wait_scraped(&target.addr()).await;

    let unhealthy = "drydock_test_unhealthy";
    assert!(prometheus.query(unhealthy).await.expect("query").is_empty());
    target.set(r#"drydock_test_unhealthy{node="kwok-1"} 1"#);
    let series = prometheus.wait_until(unhealthy, SEEN, |s| !s.is_empty()).await;
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(
        (series[0].label("node"), series[0].label("job"), series[0].value),
        ("kwok-1", "target", 1.0)
    );
    assert_eq!(series[0].label("instance"), target.addr());
    target.clear();
    prometheus.wait_until(unhealthy, SEEN, <[Sample]>::is_empty).await;

    // A node held 10 minutes past its window: DrydockNodeHeldPastWindow fires at once (no `for`), and resolves
    // when the metric goes.
    let alert = r#"ALERTS{alertname="DrydockNodeHeldPastWindow", alertstate="firing"}"#;
    assert!(prometheus.query(alert).await.expect("query").is_empty());
    target.set(
        "# TYPE drydock_maintenance_overdue_seconds gauge\n\
         drydock_maintenance_overdue_seconds{name=\"m\",node=\"kwok-1\"} 600",
    );
    let firing = prometheus.wait_until(alert, SEEN, |s| !s.is_empty()).await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(
        (
            firing[0].label("name"),
            firing[0].label("node"),
            firing[0].label("severity")
        ),
        ("m", "kwok-1", "critical")
    );
    target.clear();
    prometheus.wait_until(alert, SEEN, <[Sample]>::is_empty).await;

    prometheus.stop();
    let after = prometheus.query("up").await;
    assert!(after.is_err(), "a stopped Prometheus does not answer: {after:?}");
}
