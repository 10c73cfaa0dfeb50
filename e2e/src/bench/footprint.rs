//! Section 4: the controller's footprint and reaction as the cluster grows. A fresh drydock process per size is
//! sampled from /proc: startup (its initial lists), idle, reaction (NodeMaintenances created -> cordoned on empty
//! nodes of the big cluster) and one drain of the cluster's average pod count. Sizes grow the nodes first (pods
//! fixed) and then the pods (nodes fixed), so each figure gets a slope per node and per pod, from three sizes each.
//! drydock should not cache what it does not need: its memory should follow the nodes it must see (all of them,
//! for placement) at a few KiB each, and the pods on nodes under maintenance, not the cluster's pods.
//!
//! The cluster's pods are bound to their nodes directly (spec.nodeName, no controller): the scheduler and the
//! ReplicaSet controller would only make setting up 60,000 pods slower, and drydock sees pods the same way
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
    reaction::{self, ReactionResults},
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
    /// NodeMaintenance created -> node cordoned, on empty nodes of this cluster.
    #[serde(default)]
    pub reaction: Option<ReactionResults>,
    pub drain_pods: usize,
    /// NodeMaintenance created -> Drained.
    pub drain: Footprint,
    /// VmHWM at the end: the process's peak.
    pub peak_mib: f64,
}

/// How a figure grows: a least-squares line over three or more sizes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Slope {
    /// Growth per unit (per node, or per 1,000 pods), and the value at zero.
    pub per: f64,
    pub at_zero: f64,
    /// The sizes it was fitted over.
    pub sizes: usize,
}

impl Slope {
    fn fit(points: &[(f64, f64)]) -> Option<Self> {
        let n = points.len() as f64;
        if points.len() < 2 {
            return None;
        }
        let (mx, my) = (
            points.iter().map(|p| p.0).sum::<f64>() / n,
            points.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        (sxx > 0.0).then(|| Slope {
            per: sxy / sxx,
            at_zero: my - sxy / sxx * mx,
            sizes: points.len(),
        })
    }
}

/// Each figure's growth per node (pods fixed) and per 1,000 pods (nodes fixed).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Growth {
    pub idle_rss_mib: Option<Slope>,
    pub idle_cpu_s_per_min: Option<Slope>,
    pub reaction_p99_ms: Option<Slope>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FootprintResults {
    pub sizes: Vec<SizeFootprint>,
    /// Idle RSS growth from the smallest to the largest size, per 10,000 pods (and the nodes that came with
    /// them).
    pub idle_growth_mib_per_10k_pods: f64,
    /// Per node, over the sizes with the fewest pods.
    #[serde(default)]
    pub per_node: Growth,
    /// Per 1,000 pods, over the sizes with the most nodes.
    #[serde(default)]
    pub per_1k_pods: Growth,
    /// Idle RSS at the published limit of a Kubernetes cluster (5,000 nodes, 150,000 pods), from the slopes, when
    /// that size was not measured.
    #[serde(default)]
    pub extrapolated_idle_rss_mib_at_5000x150000: Option<f64>,
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

/// Empty nodes for the reaction at each size.
const REACTION_NODES: usize = 5;
/// The label that picks them out for the bench's watch (not every node of the environment).
const REACTION_LABEL: &str = "bench-reaction";
/// Pause after the cluster has grown, before drydock starts.
const QUIET: Duration = Duration::from_secs(15);
/// The label of the two nodes the drain's pods take turns on.
const DRAIN_LABEL: &str = "bench-drain";

async fn run_in(cfg: &Config, env: &Env, ids: &Identities) -> Result<FootprintResults> {
    // Two nodes take turns: each size drains the one holding the pods, whose replacements go to the other (the
    // placement check refuses an eviction whose replacement has nowhere to go).
    let room = cfg.scale_drain_pods + 20;
    let drain_nodes = infra::create_nodes(
        env,
        vec![
            NodeSpec::new(env, "drain-a", room)
                .slot("drain")
                .label(DRAIN_LABEL, "true"),
            NodeSpec::new(env, "drain-b", room)
                .slot("drain")
                .label(DRAIN_LABEL, "true")
                .cordoned(),
        ],
        2,
    )
    .await?;
    let reaction_nodes = infra::create_nodes(
        env,
        (0..REACTION_NODES)
            .map(|i| NodeSpec::new(env, &format!("react{i}"), 110).label(REACTION_LABEL, "true"))
            .collect(),
        REACTION_NODES,
    )
    .await?;
    let mut placement = infra::slot_placement(env, "drain");
    placement["nodeSelector"][DRAIN_LABEL] = json!("true");
    infra::deployment(env, "drain", cfg.scale_drain_pods, json!({}), placement).await?;
    wait_running(env, &drain_nodes[0], cfg.scale_drain_pods).await?;
    infra::set_cordon(&env.client, &drain_nodes[1], false).await?;

    let mut out = FootprintResults::default();
    let (mut nodes, mut pods) = (Vec::<String>::new(), 0usize);
    let (n, p) = (cfg.scale_nodes, cfg.scale_pods);
    // Nodes first with no pods of their own, then pods on all of them: three sizes per slope.
    let sizes = [(0, 0), (n / 2, 0), (n, 0), (n, p / 2), (n, p)];
    for (k, (want_nodes, want_pods)) in sizes.into_iter().enumerate() {
        if want_nodes > nodes.len() {
            progress(format!("footprint: growing the cluster to {want_nodes} nodes"));
            let specs = (nodes.len()..want_nodes)
                .map(|i| NodeSpec::new(env, &format!("s{i:04}"), 110))
                .collect();
            nodes.extend(infra::create_nodes(env, specs, 16).await?);
        }
        if want_pods > pods {
            create_pods(env, &nodes, pods, want_pods).await?;
            pods = want_pods;
        }
        let drain_node = &drain_nodes[k % 2];
        wait_running(env, drain_node, cfg.scale_drain_pods).await?;
        if k > 0 {
            // kwok and the API server are still busy a while after the last pod runs: measure a quiet cluster.
            tokio::time::sleep(QUIET).await;
        }
        let size = measure(cfg, env, ids, drain_node, &reaction_nodes, k).await?;
        progress(format!(
            "footprint: {} nodes, {} pods: idle {:.1} MiB, peak {:.1} MiB, idle CPU {:.2} s/min, reaction p99 {:.1} ms, drain {:.2}s",
            size.cluster_nodes,
            size.cluster_pods,
            size.idle.rss_median_mib,
            size.peak_mib,
            size.idle_cpu_s_per_min,
            size.reaction.as_ref().map_or(f64::NAN, |r| r.p99_ms),
            size.drain.seconds
        ));
        out.sizes.push(size);
    }
    out.summarize();
    Ok(out)
}

impl FootprintResults {
    /// The slopes: per node over the sizes with the fewest pods, per 1,000 pods over those with the most nodes.
    fn summarize(&mut self) {
        let s = &self.sizes;
        if let (Some(a), Some(b)) = (s.first(), s.last()) {
            let dp = (b.cluster_pods as f64 - a.cluster_pods as f64).max(1.0);
            self.idle_growth_mib_per_10k_pods = (b.idle.rss_median_mib - a.idle.rss_median_mib) / dp * 10_000.0;
        }
        let fewest_pods = s.iter().map(|x| x.cluster_pods).min().unwrap_or(0);
        let most_nodes = s.iter().map(|x| x.cluster_nodes).max().unwrap_or(0);
        let by_nodes: Vec<&SizeFootprint> = s.iter().filter(|x| x.cluster_pods == fewest_pods).collect();
        let by_pods: Vec<&SizeFootprint> = s.iter().filter(|x| x.cluster_nodes == most_nodes).collect();
        let growth = |xs: &[&SizeFootprint], x: &dyn Fn(&SizeFootprint) -> f64| Growth {
            idle_rss_mib: Slope::fit(&xs.iter().map(|s| (x(s), s.idle.rss_median_mib)).collect::<Vec<_>>()),
            idle_cpu_s_per_min: Slope::fit(&xs.iter().map(|s| (x(s), s.idle_cpu_s_per_min)).collect::<Vec<_>>()),
            reaction_p99_ms: Slope::fit(
                &xs.iter()
                    .filter_map(|s| Some((x(s), s.reaction.as_ref()?.p99_ms)))
                    .collect::<Vec<_>>(),
            ),
        };
        self.per_node = growth(&by_nodes, &|s| s.cluster_nodes as f64);
        self.per_1k_pods = growth(&by_pods, &|s| s.cluster_pods as f64 / 1000.0);
        let measured_there = s.iter().any(|x| x.cluster_nodes >= 5000 && x.cluster_pods >= 150_000);
        if let (false, Some(n), Some(p)) = (
            measured_there,
            self.per_node.idle_rss_mib.as_ref(),
            self.per_1k_pods.idle_rss_mib.as_ref(),
        ) {
            // The node line at 5,000 nodes (its own pods included), plus what the pods beyond add.
            let pods_of_node_line = fewest_pods as f64 / 1000.0;
            self.extrapolated_idle_rss_mib_at_5000x150000 =
                Some(n.at_zero + n.per * 5000.0 + p.per * (150.0 - pods_of_node_line));
        }
    }
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

async fn measure(
    cfg: &Config,
    env: &Env,
    ids: &Identities,
    drain_node: &str,
    reaction_nodes: &[String],
    k: usize,
) -> Result<SizeFootprint> {
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
    let reaction = match cfg.scale_reaction {
        0 => None,
        count => {
            let selector = format!("{REACTION_LABEL}=true,{ENV_LABEL}={}", env.id);
            Some(reaction::measure(cfg, env, reaction_nodes, &selector, count, &format!("fp{k}r")).await?)
        }
    };

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
        reaction,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn size(nodes: usize, pods: usize, rss: f64) -> SizeFootprint {
        SizeFootprint {
            cluster_nodes: nodes,
            cluster_pods: pods,
            idle: Footprint {
                rss_median_mib: rss,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn slopes_per_node_and_per_pod_come_from_their_own_sizes() {
        // 16 MiB empty, 6 MiB per 1,000 nodes, 0.5 MiB per 10,000 pods.
        let mut f = FootprintResults {
            sizes: vec![
                size(0, 40, 16.0),
                size(1000, 40, 22.0),
                size(2000, 40, 28.0),
                size(2000, 30_040, 29.5),
                size(2000, 60_040, 31.0),
            ],
            ..Default::default()
        };
        f.summarize();
        let per_node = f.per_node.idle_rss_mib.as_ref().expect("a node slope");
        assert!((per_node.per * 1000.0 - 6.0).abs() < 1e-9 && per_node.sizes == 3);
        let per_pods = f.per_1k_pods.idle_rss_mib.as_ref().expect("a pod slope");
        assert!((per_pods.per * 10.0 - 0.5).abs() < 1e-9 && per_pods.sizes == 3);
        let at_limit = f.extrapolated_idle_rss_mib_at_5000x150000.expect("extrapolated");
        assert!(
            (at_limit - (16.0 + 30.0 + 0.05 * (150.0 - 0.04))).abs() < 1e-6,
            "{at_limit}"
        );
        assert!(Slope::fit(&[(1.0, 2.0)]).is_none(), "one size is no slope");
    }
}
