//! Section 5: reaction latency, NodeMaintenance created -> node cordoned, one object at a time on empty nodes
//! (so nothing queues behind another), measured by the bench's own watch of the nodes. drydock's requests in
//! between (from the audit log) show where the time goes: the finalizer is added first, then the node is cordoned
//! in the same reconcile; the p99 of each step says whether a slow sample was slow in drydock or in the API server.
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock::api::v1alpha1::NodeMaintenance;
use drydock_e2e::ENV_LABEL;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
    runtime::watcher,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

use super::{
    Config, Mark, Result, Stats,
    apiserver::AuditMark,
    infra::{self, Drydock, Env, Identities, NodeSpec, sa_user},
    percentile, progress,
};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReactionResults {
    pub objects: usize,
    /// Milliseconds, created -> cordoned.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub samples_ms: Vec<f64>,
    /// Medians of the steps, from the audit log: created -> drydock's finalizer patch received; finalizer patch
    /// answered -> node patch received; node patch answered -> our watch saw the cordon.
    pub steps_median_ms: BTreeMap<String, f64>,
    /// The same steps' p99.
    #[serde(default)]
    pub steps_p99_ms: BTreeMap<String, f64>,
}

pub async fn run(cfg: &Config, ids: &Identities) -> Result<ReactionResults> {
    let env = infra::Env::new("bench-react").await?;
    let result = run_in(cfg, &env, ids).await;
    progress("reaction: cleaning up");
    infra::cleanup(&env).await?;
    result
}

async fn run_in(cfg: &Config, env: &Env, ids: &Identities) -> Result<ReactionResults> {
    let nodes = infra::create_nodes(
        env,
        (0..5).map(|i| NodeSpec::new(env, &format!("r{i}"), 110)).collect(),
        5,
    )
    .await?;
    let _drydock = Drydock::start(cfg, env, ids.path("drydock"), &[], "reaction").await?;
    let selector = format!("{ENV_LABEL}={}", env.id);
    measure(cfg, env, &nodes, &selector, cfg.reaction, "r").await
}

/// Times `count` NodeMaintenances, one at a time over `nodes` (empty nodes that `selector` selects), against a
/// drydock already running: created -> cordoned, then deleted and the node seen uncordoned before the next.
pub async fn measure(
    cfg: &Config,
    env: &Env,
    nodes: &[String],
    selector: &str,
    count: usize,
    tag: &str,
) -> Result<ReactionResults> {
    // node -> when it was last seen going from schedulable to cordoned / back.
    let cordoned: Arc<Mutex<BTreeMap<String, (bool, Mark)>>> = Arc::default();
    let notify = Arc::new(Notify::new());
    let (c, n) = (cordoned.clone(), notify.clone());
    let _watch = infra::watch(
        Api::<Node>::all(env.client.clone()),
        watcher::Config::default().labels(selector),
        move |at, e| {
            if let watcher::Event::Apply(node) | watcher::Event::InitApply(node) = e {
                let now = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
                let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
                let entry = c.entry(node.name_any()).or_insert((now, at));
                if entry.0 != now {
                    *entry = (now, at);
                    n.notify_one();
                }
            }
        },
    )
    .await?;
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let audit = AuditMark::now(&cfg.audit_log);
    let mut samples = Vec::new();
    let mut starts = Vec::new();
    for i in 0..count {
        let node = &nodes[i % nodes.len()];
        let name = format!("{}-{tag}{i}", env.id);
        let nm: NodeMaintenance = serde_json::from_value(json!({
            "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
            "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
            "spec": {"nodeName": node, "reason": "bench"}
        }))?;
        let t0 = Mark::now();
        nms.create(&PostParams::default(), &nm).await?;
        let t1 = wait_state(&cordoned, &notify, node, true).await?;
        samples.push(t0.secs_to(&t1) * 1000.0);
        starts.push((name.clone(), node.clone(), t0, t1));
        nms.delete(&name, &DeleteParams::default()).await?;
        wait_state(&cordoned, &notify, node, false).await?;
        infra::wait(
            "the NodeMaintenance gone",
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async { nms.get_opt(&name).await.ok()?.is_none().then_some(()) },
        )
        .await?;
        if (i + 1) % 25 == 0 {
            progress(format!(
                "reaction: {}/{}, p50 so far {:.1} ms",
                i + 1,
                count,
                percentile(&samples, 50.0)
            ));
        }
    }
    let requests = audit.requests(&sa_user("drydock")).unwrap_or_default();
    let mut steps: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (name, node, t0, t1) in &starts {
        let after = |res: &str, obj: &str| {
            requests
                .iter()
                .find(|r| r.verb == "patch" && r.resource == res && r.name == *obj && r.received >= t0.wall)
        };
        if let (Some(fin), Some(cordon)) = (after("nodemaintenances", name), after("nodes", node)) {
            steps
                .entry("1 created -> finalizer patch received")
                .or_default()
                .push(t0.secs_to_wall(fin.received) * 1000.0);
            steps
                .entry("2 finalizer patch (server time)")
                .or_default()
                .push(fin.done.duration_since(fin.received).as_secs_f64() * 1000.0);
            steps
                .entry("3 finalizer patch answered -> node patch received")
                .or_default()
                .push(cordon.received.duration_since(fin.done).as_secs_f64() * 1000.0);
            steps
                .entry("4 node patch (server time)")
                .or_default()
                .push(cordon.done.duration_since(cordon.received).as_secs_f64() * 1000.0);
            steps
                .entry("5 node patch answered -> cordon seen by our watch")
                .or_default()
                .push(t0.secs_to(t1) * 1000.0 - t0.secs_to_wall(cordon.done) * 1000.0);
        }
    }
    let stats = Stats::of(&samples);
    Ok(ReactionResults {
        objects: samples.len(),
        p50_ms: percentile(&samples, 50.0),
        p99_ms: percentile(&samples, 99.0),
        max_ms: stats.max,
        mean_ms: stats.mean,
        steps_median_ms: steps
            .iter()
            .map(|(k, v)| (k.to_string(), Stats::of(v).median))
            .collect(),
        steps_p99_ms: steps
            .iter()
            .map(|(k, v)| (k.to_string(), percentile(v, 99.0)))
            .collect(),
        samples_ms: samples,
    })
}

/// Waits until the node was seen cordoned (`want` true) or uncordoned, returning when.
async fn wait_state(
    seen: &Mutex<BTreeMap<String, (bool, Mark)>>,
    notify: &Notify,
    node: &str,
    want: bool,
) -> Result<Mark> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((state, at)) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(node)
            && *state == want
        {
            return Ok(*at);
        }
        if tokio::time::timeout_at(deadline, notify.notified()).await.is_err() {
            return Err(format!(
                "node {node} not {} within 60s",
                if want { "cordoned" } else { "uncordoned" }
            )
            .into());
        }
    }
}
