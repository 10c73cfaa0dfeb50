//! The Grafana dashboard (config/grafana/drydock-dashboard.json) and the alert rules (config/prometheus/alerts.yaml)
//! query only metrics drydock serves: a renamed or misspelt metric would leave a panel empty, or an alert silent,
//! without any error. Checked against the /metrics of a real drydock that has just run a maintenance, plus drydock's
//! own metrics registry with one sample of everything (a labelled series appears only once something happened:
//! reconcile errors, notifications, a node held past its window do not in a healthy run). Each query is read by
//! Prometheus's own PromQL parser.
use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use drydock::{
    api::v1alpha1::{NodeMaintenance, NodeMaintenanceSpec, NodeMaintenanceStatus, Phase},
    plan::gates::Verdict,
    telemetry::metrics::{EvictionResult, Metrics, NotifyResult, Which},
};
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::Drydock,
    prometheus::{Prometheus, shipped_rules},
    wait_for,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

/// Series Prometheus makes itself for every scrape target; the rules may use them.
const SCRAPE_SERIES: [&str; 1] = ["up"];

/// What the dashboard must show, as the metrics that carry it: maintenances by phase, nodes held, blocked reasons,
/// evictions by result, drain durations, reconcile errors and the leader.
const DASHBOARD_MUST_SHOW: [&str; 7] = [
    "drydock_maintenances",
    "drydock_nodes_held",
    "drydock_maintenances_blocked",
    "drydock_evictions_total",
    "drydock_drain_duration_seconds_bucket",
    "drydock_reconcile_errors_total",
    "drydock_leader",
];

/// Grafana's variables in the dashboard's queries, with a value of the kind Grafana puts there.
const GRAFANA_VARIABLES: [(&str, &str); 3] = [("$__rate_interval", "1m"), ("$__range", "1h"), ("$job", "drydock")];

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Every PromQL query of the dashboard, `(panel title, query)`, with Grafana's variables filled in; a template
/// variable's `label_values(metric, label)` counts as a query of that metric.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_file("config/grafana/drydock-dashboard.json")).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let mut expr = target["expr"]
                .as_str()
                .expect("a target with a PromQL expr")
                .to_string();
            for (variable, value) in GRAFANA_VARIABLES {
                expr = expr.replace(variable, value);
            }
            assert!(
                !expr.contains('$'),
                "a Grafana variable this test does not know in {expr}"
            );
            queries.push((format!("panel {:?}", panel["title"].as_str().unwrap_or("?")), expr));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(q) = variable["query"]["query"].as_str() {
            let metric = q
                .strip_prefix("label_values(")
                .and_then(|rest| rest.split(',').next())
                .unwrap_or_else(|| {
                    panic!(
                        "variable {}: a label_values(metric, label) query, not {q}",
                        variable["name"]
                    )
                });
            queries.push((
                format!("variable {}", variable["name"].as_str().unwrap_or("?")),
                metric.trim().to_string(),
            ));
        }
    }
    queries
}

/// Every alert's expression in the shipped rule file, `(alert, expr)`.
fn alert_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(shipped_rules()).expect("read alerts.yaml");
    let file: Value = serde_yaml_ng::from_str(&text).expect("alerts.yaml is YAML");
    file["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            let name = r["alert"].as_str().or(r["record"].as_str()).expect("a named rule");
            (format!("rule {name}"), r["expr"].as_str().expect("an expr").to_string())
        })
        .collect()
}

/// The series names of an exposition: each sample's metric name.
fn served_series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line[..line.find(['{', ' ']).unwrap_or(line.len())].to_string())
        .collect()
}

/// What drydock's metrics registry serves once every one of its recorders has been called and a scrape sees a
/// maintenance blocked under a drain.timeout, one waiting for its window and one held past it.
fn every_series_of_the_registry() -> BTreeSet<String> {
    let m = Metrics::default();
    m.eviction(EvictionResult::Evicted);
    m.drained_after(1.0);
    m.reconciled(Which::NodeMaintenance, Duration::from_millis(5));
    m.reconcile_error(Which::NodeMaintenance, "PatchNodeFailed");
    m.health_gate_checked(&Verdict::Clear);
    m.notification("chat", "Drained", NotifyResult::Failed);
    m.notification_attempt("chat", "5xx");
    m.set_notify_config(true, 1);
    m.set_leader(true);
    let at = |s: &str| Time(s.parse().expect("timestamp"));
    let nm = |name: &str, status: NodeMaintenanceStatus| {
        let mut nm = NodeMaintenance::new(
            name,
            NodeMaintenanceSpec {
                node_name: format!("{name}-node"),
                ..Default::default()
            },
        );
        nm.spec.drain.timeout = Some("30m".into());
        nm.status = Some(status);
        std::sync::Arc::new(nm)
    };
    let blocked = nm(
        "blocked",
        NodeMaintenanceStatus {
            phase: Phase::Draining,
            blocked_since: Some(at("2026-01-01T00:00:00Z")),
            ..Default::default()
        },
    );
    // Waiting for its window counts as blocked (reason window).
    let waiting = nm(
        "waiting",
        NodeMaintenanceStatus {
            phase: Phase::Waiting,
            ..Default::default()
        },
    );
    let late = nm(
        "late",
        NodeMaintenanceStatus {
            phase: Phase::Drained,
            window_end: Some(at("2026-01-01T00:50:00Z")),
            ..Default::default()
        },
    );
    let text = m.render(
        &[blocked, late, waiting],
        1,
        "2026-01-01T01:00:00Z".parse().expect("timestamp"),
    );
    served_series(&text)
}

/// A drydock that has drained a node and restored it serves every metric the dashboard and the alert rules ask
/// for, and the dashboard shows what an operator looks for first.
#[tokio::test]
async fn dashboard_and_alerts_query_only_metrics_drydock_serves() {
    let mut env = TestEnv::new("dashboard").await;
    let a = env.web_on_a(2, None).await;
    env.expect_audit(Expect::restored(&a, 2));
    let drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({"window": {"duration": "8s"}})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    env.wait_nm("m", Phase::Completed, |_| true).await;
    let exposition = wait_for("drydock's /metrics", Duration::from_secs(30), || async {
        drydock
            .get("/metrics")
            .filter(|(code, _)| *code == 200)
            .map(|(_, body)| body)
    })
    .await;
    let real = served_series(&exposition);
    let registry = every_series_of_the_registry();
    // The registry is the binary's: every series the running drydock serves is among it.
    let unknown: Vec<&String> = real.difference(&registry).collect();
    assert!(
        unknown.is_empty(),
        "drydock serves series the registry check does not cover: {unknown:?}"
    );
    let served: BTreeSet<String> = real.union(&registry).cloned().collect();
    // The maintenance was counted: the check below reads a drydock that has really evicted and drained.
    assert!(
        exposition.contains("drydock_evictions_total{result=\"evicted\"} 2"),
        "{exposition}"
    );
    assert!(
        exposition.contains("drydock_drain_duration_seconds_count 1"),
        "{exposition}"
    );

    // Prometheus parses the queries (nothing is scraped: no target).
    let prometheus = Prometheus::start(&[], &[]).await.expect("start Prometheus");
    let dashboard = dashboard_queries();
    let alerts = alert_queries();
    assert!(
        dashboard.len() >= 15 && alerts.len() >= 8,
        "{} dashboard, {} alert queries",
        dashboard.len(),
        alerts.len()
    );
    let mut missing = Vec::new();
    let mut on_dashboard = BTreeSet::new();
    for (i, (place, query)) in dashboard.iter().chain(&alerts).enumerate() {
        let names = prometheus
            .selected_metrics(query)
            .await
            .unwrap_or_else(|e| panic!("{place}: Prometheus cannot parse {query}: {e}"));
        assert!(!names.is_empty(), "{place}: {query} selects no metric");
        for name in names {
            if !served.contains(&name) && !SCRAPE_SERIES.contains(&name.as_str()) {
                missing.push(format!("{place}: {name} (in {query})"));
            }
            if i < dashboard.len() {
                on_dashboard.insert(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "queries name metrics drydock does not serve:\n{}\n\ndrydock serves: {served:?}",
        missing.join("\n")
    );
    for metric in DASHBOARD_MUST_SHOW {
        assert!(on_dashboard.contains(metric), "no dashboard panel shows {metric}");
    }
    env.delete_nm("m").await;
}
