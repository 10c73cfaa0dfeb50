//! Section 4: the controller's footprint as the cluster grows. At three sizes (none, half and all of
//! BENCH_SCALE's nodes and pods) a fresh drydock process is started and sampled from /proc: startup (its
//! initial lists), idle, and while draining one node of the cluster's average pod count. drydock should not
//! cache what it does not need: its memory should follow the pods on nodes under maintenance, not the cluster.
//!
//! The cluster's pods are bound to their nodes directly (spec.nodeName, no controller): the scheduler and the
//! ReplicaSet controller would only make setting up 20,000 pods slower, and drydock sees pods the same way
//! whoever created them. kwok still runs every pod and heartbeats every node.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{ENV_LABEL, workloads::pod_ready};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
    runtime::watcher,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

use super::{
    Config, Mark, Result,
    infra::{self, Drydock, Env, Footprint, Identities, NodeSpec, Sampler},
    progress,
};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SizeFootprint {
    /// Nodes and pods in the whole cluster while measured.
    pub cluster_nodes: usize,
    pub cluster_pods: usize,
    /// The first ~11 s from the process's start: initial lists and watches.
    pub startup: Footprint,
    pub idle: Footprint,
    /// CPU seconds per minute while idle.
    pub idle_cpu_s_per_min: f64,
    pub drain_pods: usize,
    /// NodeMaintenance created -> Drained.
    pub drain: Footprint,
    /// VmHWM at the end: the process's peak.
    pub peak_mib: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FootprintResults {
    pub sizes: Vec<SizeFootprint>,
    /// Idle RSS growth from the smallest to the largest size, per 10,000 pods (and the nodes that came with
    /// them).
    pub idle_growth_mib_per_10k_pods: f64,
}

pub async fn run(cfg: &Config, ids: &Identities) -> Result<FootprintResults> {
    let env = infra::Env::new("bench-scale").await?;
    let result = run_in(cfg, &env, ids).await;
    progress("footprint: cleaning up (deleting the cluster's pods)");
    delete_batches(&env).await;
    infra::cleanup(&env).await?;
    result
}

const BATCH: usize = 500;

async fn run_in(cfg: &Config, env: &Env, ids: &Identities) -> Result<FootprintResults> {
    let drain_node = infra::create_nodes(
        env,
        vec![NodeSpec::new(env, "drain", cfg.scale_drain_pods + 20).slot("drain")],
        1,
    )
    .await?
    .remove(0);
    // Pinned to the node: replacements stay Pending while it is drained and come back when it is restored.
    let mut placement = infra::slot_placement(env, "drain");
    placement["nodeSelector"]["kubernetes.io/hostname"] = json!(drain_node);
    infra::deployment(env, "drain", cfg.scale_drain_pods, json!({}), placement).await?;

    let mut out = FootprintResults::default();
    let (mut nodes, mut pods) = (Vec::<String>::new(), 0usize);
    for (k, (want_nodes, want_pods)) in [
        (0, 0),
        (cfg.scale_nodes / 2, cfg.scale_pods / 2),
        (cfg.scale_nodes, cfg.scale_pods),
    ]
    .into_iter()
    .enumerate()
    {
        if want_nodes > nodes.len() {
            progress(format!(
                "footprint: growing the cluster to {want_nodes} nodes and {want_pods} pods"
            ));
            let specs = (nodes.len()..want_nodes)
                .map(|i| NodeSpec::new(env, &format!("s{i:04}"), 110))
                .collect();
            nodes.extend(infra::create_nodes(env, specs, 16).await?);
        }
        let bare = want_pods.saturating_sub(cfg.scale_drain_pods);
        if bare > pods {
            create_pods(env, &nodes, pods, bare).await?;
            pods = bare;
        }
        wait_running(env, &drain_node, cfg.scale_drain_pods).await?;
        let size = measure(cfg, env, ids, &drain_node, k).await?;
        progress(format!(
            "footprint: {} nodes, {} pods: idle {:.1} MiB, peak {:.1} MiB, idle CPU {:.2} s/min, drain {:.2}s",
            size.cluster_nodes,
            size.cluster_pods,
            size.idle.rss_median_mib,
            size.peak_mib,
            size.idle_cpu_s_per_min,
            size.drain.seconds
        ));
        out.sizes.push(size);
    }
    if let (Some(a), Some(b)) = (out.sizes.first(), out.sizes.last()) {
        let dp = (b.cluster_pods as f64 - a.cluster_pods as f64).max(1.0);
        out.idle_growth_mib_per_10k_pods = (b.idle.rss_median_mib - a.idle.rss_median_mib) / dp * 10_000.0;
    }
    Ok(out)
}

/// Bare pods `from..to`, pod k bound to node k mod nodes, labelled by batch of 500 (for a quick cleanup).
async fn create_pods(env: &Env, nodes: &[String], from: usize, to: usize) -> Result<()> {
    progress(format!("footprint: creating pods {from}..{to}"));
    let api = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    let start = Mark::now();
    stream::iter(from..to)
        .map(|k| {
            let api = api.clone();
            let node = nodes[k % nodes.len()].clone();
            let id = env.id.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("p{k:05}"), "labels": {"bench-batch": (k / BATCH).to_string()}},
                    "spec": {
                        "containers": drydock_e2e::workloads::container(),
                        "nodeName": node,
                        "terminationGracePeriodSeconds": 1,
                        "tolerations": [{"key": ENV_LABEL, "operator": "Equal", "value": id, "effect": "NoSchedule"}]
                    }
                }))?;
                match api.create(&PostParams::default(), &pod).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    Err(e) => Result::<()>::Err(e.into()),
                }
            }
        })
        .buffer_unordered(48)
        .try_collect::<Vec<()>>()
        .await?;
    progress(format!(
        "footprint: created {} pods in {:.0}s; waiting for kwok to run them",
        to - from,
        start.elapsed()
    ));
    Ok(())
}

/// Waits until no pod of the environment is Pending and the drain node's Deployment is all Ready there.
async fn wait_running(env: &Env, drain_node: &str, drain_pods: usize) -> Result<()> {
    let api = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    infra::wait(
        "every pod Running",
        Duration::from_secs(900),
        Duration::from_secs(2),
        || async {
            let pending = api
                .list_metadata(&ListParams::default().fields("status.phase!=Running").limit(1))
                .await
                .ok()?;
            let on_node = api.list(&ListParams::default().labels("app=drain")).await.ok()?.items;
            let ready = on_node
                .iter()
                .filter(|p| infra::pod_node(p) == drain_node && pod_ready(p) && p.metadata.deletion_timestamp.is_none())
                .count();
            (pending.items.is_empty() && ready == drain_pods && on_node.len() == drain_pods).then_some(())
        },
    )
    .await
}

async fn count_all(client: &Client) -> Result<(usize, usize)> {
    let count = |lp: ListParams| async move {
        let mut n = 0;
        let mut lp = lp.limit(500);
        loop {
            let page = Api::<Pod>::all(client.clone()).list_metadata(&lp).await?;
            n += page.items.len();
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                _ => return Result::<usize>::Ok(n),
            }
        }
    };
    let pods = count(ListParams::default()).await?;
    let nodes = Api::<Node>::all(client.clone())
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len();
    Ok((nodes, pods))
}

async fn measure(cfg: &Config, env: &Env, ids: &Identities, drain_node: &str, k: usize) -> Result<SizeFootprint> {
    let (cluster_nodes, cluster_pods) = count_all(&env.client).await?;
    progress(format!(
        "footprint: measuring drydock with {cluster_nodes} nodes and {cluster_pods} pods in the cluster"
    ));
    // The bench's own watch is opened first, so drydock's startup is all drydock.
    let drained: Arc<Mutex<Option<Mark>>> = Arc::default();
    let notify = Arc::new(Notify::new());
    let name = format!("{}-fp{k}", env.id);
    let (d, n) = (drained.clone(), notify.clone());
    let _watch = infra::watch(
        Api::<NodeMaintenance>::all(env.client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
        move |at, e| {
            if let watcher::Event::Apply(nm) = e
                && nm.status.as_ref().is_some_and(|s| s.phase == Phase::Drained)
            {
                d.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(at);
                n.notify_one();
            }
        },
    )
    .await?;
    let drydock = Drydock::start(cfg, env, ids.path("drydock"), &[], &format!("footprint-{k}")).await?;
    let sampler = Sampler::start(drydock.pid, Duration::from_millis(250));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let s1 = sampler.sample();
    tokio::time::sleep(Duration::from_secs(cfg.idle_seconds)).await;
    let s2 = sampler.sample();

    let nm: NodeMaintenance = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
        "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
        "spec": {"nodeName": drain_node, "reason": "bench", "drain": {"deleteEmptyDirData": true}}
    }))?;
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let t0 = Mark::now();
    let s3 = sampler.sample();
    nms.create(&PostParams::default(), &nm).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while drained.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
        if tokio::time::timeout_at(deadline, notify.notified()).await.is_err() {
            return Err("the footprint drain did not finish within 10 minutes".into());
        }
    }
    let s4 = sampler.sample();
    let idle = Footprint::of(&sampler, &s1, &s2);
    let mut drain = Footprint::of(&sampler, &s3, &s4);
    drain.seconds = t0.elapsed();
    nms.delete(&name, &DeleteParams::default()).await?;
    infra::wait(
        "the NodeMaintenance gone",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || async { nms.get_opt(&name).await.ok()?.is_none().then_some(()) },
    )
    .await?;
    let end = sampler.sample();
    Ok(SizeFootprint {
        cluster_nodes,
        cluster_pods,
        // From the process's start: its CPU time counts from zero, VmHWM holds any peak before the first sample.
        startup: Footprint::of(&sampler, &infra::ProcSample::default(), &s1),
        idle_cpu_s_per_min: idle.cpu_s / idle.seconds.max(1e-9) * 60.0,
        idle,
        drain_pods: cfg.scale_drain_pods,
        drain,
        peak_mib: end.hwm_mib,
    })
}

/// Deletes the bare pods a batch at a time (one request per 500 pods, grace 0).
async fn delete_batches(env: &Env) {
    let api = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    let Ok(batches) = api.list_metadata(&ListParams::default().labels("bench-batch")).await else {
        return;
    };
    let mut ids: Vec<String> = batches
        .items
        .iter()
        .filter_map(|p| p.metadata.labels.as_ref()?.get("bench-batch").cloned())
        .collect();
    ids.sort();
    ids.dedup();
    stream::iter(ids)
        .map(|b| {
            let api = api.clone();
            async move {
                let _ = api
                    .delete_collection(
                        &DeleteParams::default().grace_period(0),
                        &ListParams::default().labels(&format!("bench-batch={b}")),
                    )
                    .await;
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}
