//! Section 6: a MaintenanceSchedule over a pool of nodes (default 200, maxUnavailable 10), against the ideal of the
//! sum of single drains divided by maxUnavailable, and drydock's hand-over from a finished node to the next.
//!
//! Each pool node holds its own Deployment's pods (a slot taint keeps them there); replacements go to spare
//! nodes. The template's `completeWhen: {nodeInfo: {kernelVersion: "*"}}` says "the work is done once the node
//! is drained", so each maintenance is cordon + drain + restore and the schedule moves on at once: what is
//! measured is drydock, not a simulated upgrade agent. "Single drain" is measured two ways: the same
//! maintenance of a node of the same shape, alone (before the schedule), and each maintenance's own duration
//! inside the rollout (created -> Completed).
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock::api::v1alpha1::{MaintenanceSchedule, NodeMaintenance, Phase};
use drydock_e2e::{ENV_LABEL, workloads::pod_ready};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
    runtime::watcher,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

use super::{
    Config, Mark, Result, Stats,
    infra::{self, Drydock, Env, Identities, NodeSpec},
    progress,
};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FleetResults {
    pub nodes: usize,
    pub pods_per_node: usize,
    pub max_unavailable: usize,
    /// Schedule created -> every NodeMaintenance Completed.
    pub total_s: f64,
    /// The same maintenance alone, on nodes of the same shape (seconds, created -> Completed).
    pub lone_s: Stats,
    /// nodes x median(lone) / maxUnavailable.
    pub ideal_lone_s: f64,
    /// Each maintenance inside the rollout, created -> Completed.
    pub in_fleet_s: Stats,
    /// Sum of the in-rollout durations / maxUnavailable.
    pub ideal_in_fleet_s: f64,
    pub ratio_to_ideal_lone: f64,
    pub ratio_to_ideal_in_fleet: f64,
    /// A maintenance Completed -> the schedule's next one created (the schedule's own reaction), seconds.
    pub handover_s: Stats,
    /// Its 99th percentile (nearest rank), seconds.
    #[serde(default)]
    pub handover_p99_s: f64,
    /// Most maintenances in progress at once (never above maxUnavailable).
    pub max_in_progress: usize,
    pub failed: usize,
}

pub async fn run(cfg: &Config, ids: &Identities) -> Result<FleetResults> {
    let env = infra::Env::new("bench-fleet").await?;
    let result = run_in(cfg, &env, ids).await;
    progress("fleet: cleaning up");
    let schedules = Api::<MaintenanceSchedule>::all(env.client.clone());
    let _ = schedules
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id)),
        )
        .await;
    infra::cleanup(&env).await?;
    result
}

const LONE: usize = 3;

async fn run_in(cfg: &Config, env: &Env, ids: &Identities) -> Result<FleetResults> {
    let (n, per) = (cfg.fleet_nodes, cfg.fleet_pods);
    progress(format!(
        "fleet: {n} pool nodes with {per} pods each, {LONE} more for lone drains"
    ));
    let pool_label = format!("{}-pool", env.id);
    let mut specs: Vec<NodeSpec> = (0..n)
        .map(|i| {
            NodeSpec::new(env, &format!("f{i:03}"), per + 20)
                .slot(&format!("f{i:03}"))
                .label("bench-pool", &pool_label)
        })
        .collect();
    specs.extend((0..LONE).map(|i| NodeSpec::new(env, &format!("c{i}"), per + 20).slot(&format!("c{i}"))));
    let room = (n + LONE) * per + 100;
    specs.push(NodeSpec::new(env, "spare1", room).cordoned());
    specs.push(NodeSpec::new(env, "spare2", room).cordoned());
    let nodes = infra::create_nodes(env, specs, 16).await?;
    let spares = &nodes[nodes.len() - 2..];
    let slots: Vec<String> = (0..n)
        .map(|i| format!("f{i:03}"))
        .chain((0..LONE).map(|i| format!("c{i}")))
        .collect();
    for s in &slots {
        infra::deployment(env, s, per, json!({"bench-slot": s}), infra::slot_placement(env, s)).await?;
    }
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    infra::wait(
        "the fleet's pods Ready",
        Duration::from_secs(600),
        Duration::from_secs(1),
        || async {
            let all = pods.list(&ListParams::default()).await.ok()?.items;
            (all.len() == slots.len() * per && all.iter().all(pod_ready)).then_some(())
        },
    )
    .await?;
    for s in spares {
        infra::set_cordon(&env.client, s, false).await?;
    }
    let max = cfg.fleet_max_unavailable.to_string();
    let _drydock = Drydock::start(
        cfg,
        env,
        ids.path("drydock"),
        &["--max-concurrent-maintenances", &max],
        "fleet",
    )
    .await?;

    let seen: Arc<Mutex<BTreeMap<String, Seen>>> = Arc::default();
    let notify = Arc::new(Notify::new());
    let (s, no) = (seen.clone(), notify.clone());
    let _watch = infra::watch(
        Api::<NodeMaintenance>::all(env.client.clone()),
        watcher::Config::default().labels(&format!("{ENV_LABEL}={}", env.id)),
        move |at, e| {
            if let watcher::Event::Apply(nm) | watcher::Event::InitApply(nm) = e {
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                let entry = s.entry(nm.name_any()).or_insert((at, None, false));
                let phase = nm.status.as_ref().map(|s| s.phase);
                if entry.1.is_none() && matches!(phase, Some(Phase::Completed | Phase::Failed)) {
                    entry.1 = Some(at);
                    entry.2 = phase == Some(Phase::Failed);
                    no.notify_one();
                }
            }
        },
    )
    .await?;
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let done = |name: &str| -> Option<(Mark, Mark)> {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b, _) = s.get(name)?;
        Some((*a, (*b)?))
    };
    let template = json!({
        "reason": "bench fleet",
        "drain": {"deleteEmptyDirData": true},
        "completeWhen": {"nodeInfo": {"kernelVersion": "*"}}
    });

    let mut lone = Vec::new();
    for i in 0..LONE {
        let name = format!("{}-lone{i}", env.id);
        let nm: NodeMaintenance = serde_json::from_value(json!({
            "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
            "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
            "spec": {"nodeName": format!("{}-c{i}", env.id), "reason": template["reason"],
                     "drain": template["drain"], "completeWhen": template["completeWhen"]}
        }))?;
        let t0 = Mark::now();
        nms.create(&PostParams::default(), &nm).await?;
        let (_, t1) = wait_for(&notify, || done(&name)).await?;
        lone.push(t0.secs_to(&t1));
        progress(format!("fleet: lone maintenance {}: {:.2}s", i + 1, t0.secs_to(&t1)));
        // Let the replacements settle before the next.
        settle(&pods, slots.len() * per).await?;
    }

    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    // A window that opened at the start of this minute (cron matches it) and stays open an hour.
    let schedule: MaintenanceSchedule = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
        "metadata": {"name": format!("{}-roll", env.id), "labels": {ENV_LABEL: env.id}},
        "spec": {
            "schedule": format!("{} {} * * *", now.minute(), now.hour()),
            "timeZone": "UTC", "duration": "1h",
            "nodeSelector": {"matchLabels": {"bench-pool": pool_label}},
            "maxUnavailable": cfg.fleet_max_unavailable,
            "template": template
        }
    }))?;
    progress(format!(
        "fleet: schedule over {n} nodes, maxUnavailable {}",
        cfg.fleet_max_unavailable
    ));
    let t0 = Mark::now();
    Api::<MaintenanceSchedule>::all(env.client.clone())
        .create(&PostParams::default(), &schedule)
        .await?;
    let prefix = format!("{}-roll-", env.id);
    let t_end = wait_for(&notify, || {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        let ours: Vec<_> = s.iter().filter(|(k, _)| k.starts_with(&prefix)).collect();
        if ours.len() < n || ours.iter().any(|(_, v)| v.1.is_none()) {
            return None;
        }
        ours.iter().filter_map(|(_, v)| v.1).max_by_key(|m| m.at)
    })
    .await?;
    let s = seen.lock().unwrap_or_else(|p| p.into_inner());
    let ours: Vec<(Mark, Mark, bool)> = s
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .filter_map(|(_, (a, b, f))| Some((*a, (*b)?, *f)))
        .collect();
    let durations: Vec<f64> = ours.iter().map(|(a, b, _)| a.secs_to(b)).collect();
    // Hand-overs: each maintenance created after the first wave, from the latest completion before it.
    let mut by_creation: Vec<Mark> = ours.iter().map(|(a, _, _)| *a).collect();
    by_creation.sort_by_key(|m| m.at);
    let mut handovers = Vec::new();
    for created in by_creation.iter().skip(cfg.fleet_max_unavailable) {
        if let Some(prev) = ours
            .iter()
            .map(|(_, c, _)| *c)
            .filter(|c| c.at <= created.at)
            .max_by_key(|c| c.at)
        {
            handovers.push(prev.secs_to(created));
        }
    }
    let mut edges: Vec<(std::time::Instant, i32)> = ours.iter().flat_map(|(a, b, _)| [(a.at, 1), (b.at, -1)]).collect();
    edges.sort();
    let (mut cur, mut max_in_progress) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        max_in_progress = max_in_progress.max(cur);
    }
    let total = t0.secs_to(&t_end);
    let k = cfg.fleet_max_unavailable as f64;
    let lone = Stats::of(&lone);
    let ideal_lone = n as f64 * lone.median / k;
    let ideal_in_fleet = durations.iter().sum::<f64>() / k;
    progress(format!(
        "fleet: {total:.1}s for {n} nodes (ideal {ideal_lone:.1}s from lone drains, {ideal_in_fleet:.1}s from the rollout's own)"
    ));
    Ok(FleetResults {
        nodes: n,
        pods_per_node: per,
        max_unavailable: cfg.fleet_max_unavailable,
        total_s: total,
        ideal_lone_s: ideal_lone,
        lone_s: lone,
        in_fleet_s: Stats::of(&durations),
        ideal_in_fleet_s: ideal_in_fleet,
        ratio_to_ideal_lone: total / ideal_lone,
        ratio_to_ideal_in_fleet: total / ideal_in_fleet,
        handover_p99_s: super::percentile(&handovers, 99.0),
        handover_s: Stats::of(&handovers),
        max_in_progress: max_in_progress.max(0) as usize,
        failed: ours.iter().filter(|(_, _, f)| *f).count(),
    })
}

/// Per NodeMaintenance: when first seen, when seen Completed (or Failed), and whether it failed.
type Seen = (Mark, Option<Mark>, bool);

async fn wait_for<T>(notify: &Notify, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30 * 60);
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if tokio::time::timeout_at(deadline, notify.notified()).await.is_err() {
            return Err("the fleet did not finish within 30 minutes".into());
        }
    }
}

async fn settle(pods: &Api<Pod>, count: usize) -> Result<()> {
    infra::wait(
        "the fleet's pods settled",
        Duration::from_secs(300),
        Duration::from_millis(500),
        || async {
            let all = pods.list(&ListParams::default()).await.ok()?.items;
            (all.len() == count
                && all
                    .iter()
                    .all(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p)))
            .then_some(())
        },
    )
    .await
}
