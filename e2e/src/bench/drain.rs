//! Sections 1-3 of issue 6: drain time of drydock against `kubectl drain` on identical sibling nodes (pairs,
//! drydock first), the API requests each makes per evicted pod, and the raw eviction limit of this API server.
//!
//! Layout per pod count N: node `dd` (drained by drydock) and node `kc` (by kubectl), each reserved by a slot
//! taint for its own four Deployments of N/4 pods; two of each four have a PDB with room (minAvailable 1, and
//! maxUnavailable 50%). Two spare nodes take the replacement pods. Before each pair the spares are cordoned and
//! the pods on them deleted, so the ReplicaSets put N pods back on each node; the spares are then uncordoned.
//! Between drains the cluster is left to settle (replacements Ready, nothing terminating), so one drain's
//! aftermath never falls into the other's window.
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock::{
    api::v1alpha1::{NodeMaintenance, Phase},
    plan::pods::PodKey,
};
use drydock_e2e::{ENV_LABEL, workloads::pod_ready};
use futures::{StreamExt, stream};
use k8s_openapi::api::{
    core::v1::{Node, Pod},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
    runtime::watcher,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Notify;

use super::{
    Config, Mark, Result, Stats,
    apiserver::{self, AuditMark, RequestTotals},
    infra::{self, Drydock, Env, Footprint, Identities, NodeSpec, Sampler, sa_user},
    progress,
};

/// Upper bound for one drain (liveness only: kubectl at 5 requests/s needs minutes for 1000 pods).
const DRAIN_LIMIT: Duration = Duration::from_secs(45 * 60);
/// A drydock drain with no change on the node or in its status for this long is recorded as stuck.
const STALL: Duration = Duration::from_secs(120);
const SETTLE_LIMIT: Duration = Duration::from_secs(10 * 60);

/// When things happened in one drain, in seconds from its start.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// The node was seen cordoned (our watch).
    pub cordoned: Option<f64>,
    /// The drainer's first eviction request reached the API server (audit log).
    pub first_eviction: Option<f64>,
    /// Its last accepted eviction was answered (audit log).
    pub last_eviction: Option<f64>,
    /// The last pod of the node was gone from the API (our watch).
    pub last_pod_gone: Option<f64>,
    /// drydock: phase Drained seen; kubectl: the process exited.
    pub done: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrainRun {
    pub drainer: String,
    pub pods: usize,
    pub pair: usize,
    /// The drain finished (drydock: Drained; kubectl: exit code 0).
    pub completed: bool,
    /// Why not, when it did not.
    pub note: Option<String>,
    pub seconds: f64,
    /// Evictions the API server accepted (audit log; None without the audit rule).
    pub evictions_accepted: Option<usize>,
    /// Evictions refused with 429 (a PDB without room at that moment), retried later.
    pub evictions_refused: Option<usize>,
    /// The drainer's own requests by verb (audit log), None if the audit log has none of its requests.
    pub own_requests: Option<BTreeMap<String, f64>>,
    pub own_requests_detail: Option<BTreeMap<String, f64>>,
    /// apiserver_request_total delta over the window, by verb: the whole cluster.
    pub cluster_requests: BTreeMap<String, f64>,
    pub timeline: Timeline,
    /// drydock only: its process over the drain.
    pub footprint: Option<Footprint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pair {
    pub pods: usize,
    pub pair: usize,
    pub drydock_s: f64,
    pub kubectl_s: f64,
    pub ratio: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SizeSummary {
    pub pods: usize,
    /// Runs that did not finish (see each run's note); they are left out of the statistics.
    pub drydock_incomplete: usize,
    pub kubectl_incomplete: usize,
    pub drydock_s: Stats,
    pub kubectl_s: Stats,
    pub ratio: Stats,
    /// Own requests per evicted pod (audit log), medians over the runs: total and by verb.
    pub drydock_per_pod: Option<PerPod>,
    pub kubectl_per_pod: Option<PerPod>,
    /// apiserver_request_total delta per evicted pod (whole cluster), medians over the runs.
    pub drydock_cluster_per_pod: PerPod,
    pub kubectl_cluster_per_pod: PerPod,
    /// drydock's eviction rate (accepted evictions per second from its first eviction to its last), median.
    pub drydock_eviction_rate: Option<f64>,
    /// Pods per second over the whole drain (NodeMaintenance created -> Drained), median.
    pub drydock_drain_rate: f64,
    pub kubectl_eviction_rate: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PerPod {
    pub total: f64,
    pub by_verb: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RawRun {
    pub pods: usize,
    pub concurrency: usize,
    pub mode: RawMode,
    pub with_pdbs: bool,
    pub seconds: f64,
    /// Accepted evictions per second, first request to last acceptance.
    pub rate: f64,
    /// Answers that refused the eviction for now: 429s, and 409s on the PDB (conflicting budget updates).
    pub refused: usize,
    pub requests: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Limit {
    pub pods: usize,
    /// The best rate of the raw client on the drain's own workload (same Deployments and PDBs).
    pub raw_rate: f64,
    pub raw_concurrency: usize,
    pub raw_mode: RawMode,
    /// The raw client's best rate with the PDBs removed: the API server's eviction path alone.
    pub raw_rate_without_pdbs: Option<f64>,
    pub drydock_eviction_rate: Option<f64>,
    pub drydock_fraction: Option<f64>,
    pub drydock_drain_rate: f64,
    pub drydock_drain_fraction: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DrainResults {
    pub runs: Vec<DrainRun>,
    pub pairs: Vec<Pair>,
    pub sizes: Vec<SizeSummary>,
    pub raw: Vec<RawRun>,
    pub limit: Option<Limit>,
    /// The drydock process over the whole section.
    pub drydock_peak_rss_mib: f64,
}

struct Layout {
    size: usize,
    /// The node drydock drains, and its slot (the value of its slot taint and its pods' bench-slot label).
    dd: String,
    dd_slot: String,
    /// The node kubectl drains.
    kc: String,
    /// (deployment, replicas)
    deployments: Vec<(String, usize)>,
}

impl Layout {
    fn home(&self, slot: &str) -> &str {
        if slot == self.dd_slot { &self.dd } else { &self.kc }
    }
}

struct Ctx<'a> {
    cfg: &'a Config,
    env: &'a Env,
    ids: &'a Identities,
    spares: Vec<String>,
    sampler: Sampler,
    drydock: Drydock,
}

pub async fn run(cfg: &Config, ids: &Identities) -> Result<DrainResults> {
    let env = infra::Env::new("bench-drain").await?;
    let result = run_in(cfg, &env, ids).await;
    progress("drain: cleaning up");
    infra::cleanup(&env).await?;
    result
}

async fn run_in(cfg: &Config, env: &Env, ids: &Identities) -> Result<DrainResults> {
    let spare_room = 2 * cfg.sizes.iter().copied().max().unwrap_or(0) + 100;
    let spares = infra::create_nodes(
        env,
        vec![
            NodeSpec::new(env, "spare1", spare_room).cordoned(),
            NodeSpec::new(env, "spare2", spare_room).cordoned(),
        ],
        2,
    )
    .await?;
    let drydock = Drydock::start(cfg, env, ids.path("drydock"), &[], "drain").await?;
    let sampler = Sampler::start(drydock.pid, Duration::from_millis(200));
    let mut ctx = Ctx {
        cfg,
        env,
        ids,
        spares,
        sampler,
        drydock,
    };
    // kubectl as an admin runs it: its discovery cache warm (drain itself still asks the server whether it
    // serves evictions).
    let warm = std::process::Command::new(&cfg.kubectl)
        .args(kubectl_common(cfg, ids))
        .args(["api-resources", "-o", "name"])
        .output()?;
    if !warm.status.success() {
        return Err(format!(
            "kubectl api-resources failed: {}",
            String::from_utf8_lossy(&warm.stderr)
        )
        .into());
    }

    let mut out = DrainResults::default();
    let biggest = cfg.sizes.iter().copied().max().unwrap_or(0);
    for &size in &cfg.sizes {
        let layout = setup(&ctx, size).await?;
        for pair in 1..=cfg.pairs {
            prepare(&ctx, &layout).await?;
            progress(format!("drain: N={size} pair {pair}/{}: drydock", cfg.pairs));
            let d = drydock_drain(&mut ctx, &layout, pair).await?;
            progress(format!(
                "drain: N={size} pair {pair}: drydock {:.2}s; kubectl drain (about {}s: kubectl sends 5 requests/s)",
                d.seconds,
                size / 5 + 2
            ));
            let k = kubectl_drain(&ctx, &layout, pair).await?;
            progress(format!(
                "drain: N={size} pair {pair}: kubectl {:.2}s, ratio {:.3}",
                k.seconds,
                d.seconds / k.seconds
            ));
            if d.completed && k.completed {
                out.pairs.push(Pair {
                    pods: size,
                    pair,
                    drydock_s: d.seconds,
                    kubectl_s: k.seconds,
                    ratio: d.seconds / k.seconds,
                });
            }
            out.runs.push(d);
            out.runs.push(k);
        }
        out.sizes.push(summarize(size, &out.runs, &out.pairs));
        if size == biggest && !cfg.raw_concurrency.is_empty() {
            limit(&ctx, &layout, &mut out).await?;
        }
        teardown(&ctx, &layout).await?;
    }
    out.drydock_peak_rss_mib = ctx.sampler.sample().hwm_mib;
    Ok(out)
}

/// Section 3 on the biggest size: the raw client in each mode and concurrency on the drain's own workload, and
/// once with the PDBs removed (the API server's eviction path alone).
async fn limit(ctx: &Ctx<'_>, layout: &Layout, out: &mut DrainResults) -> Result<()> {
    let cfg = ctx.cfg;
    let top = cfg.raw_concurrency.iter().copied().max().unwrap_or(32);
    let mut runs: Vec<(RawMode, usize)> = cfg.raw_concurrency.iter().map(|&c| (RawMode::AllAtOnce, c)).collect();
    runs.extend(cfg.raw_per_pdb.iter().map(|&k| (RawMode::PerPdb(k), top)));
    for (mode, c) in runs {
        progress(format!(
            "limit: raw evictions of {} pods, {mode:?}, concurrency {c}",
            layout.size
        ));
        let r = raw(ctx, layout, c, mode).await?;
        progress(format!("limit: {:.0} evictions/s ({:.2}s)", r.rate, r.seconds));
        out.raw.push(r);
    }
    let best = out
        .raw
        .iter()
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
        .cloned()
        .ok_or("no raw run")?;
    let env = ctx.env;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns());
    let lp = ListParams::default().labels(&format!("bench-slot={}", layout.dd_slot));
    let saved = pdbs.list(&lp).await?.items;
    pdbs.delete_collection(&DeleteParams::default(), &lp).await?;
    progress(format!("limit: raw evictions without PDBs, concurrency {top}"));
    let r = raw(ctx, layout, top, RawMode::AllAtOnce).await;
    for mut p in saved {
        p.metadata = kube::api::ObjectMeta {
            name: p.metadata.name,
            labels: p.metadata.labels,
            ..Default::default()
        };
        p.status = None;
        pdbs.create(&PostParams::default(), &p).await?;
    }
    let r = r?;
    progress(format!("limit: {:.0} evictions/s without PDBs", r.rate));
    let without = r.rate;
    out.raw.push(r);
    if let Some(s) = out.sizes.last() {
        out.limit = Some(Limit {
            pods: layout.size,
            raw_rate: best.rate,
            raw_concurrency: best.concurrency,
            raw_mode: best.mode,
            raw_rate_without_pdbs: Some(without),
            drydock_eviction_rate: s.drydock_eviction_rate,
            drydock_fraction: s.drydock_eviction_rate.map(|r| r / best.rate),
            drydock_drain_rate: s.drydock_drain_rate,
            drydock_drain_fraction: s.drydock_drain_rate / best.rate,
        });
    }
    Ok(())
}

fn kubectl_common(cfg: &Config, ids: &Identities) -> Vec<String> {
    vec![
        "--kubeconfig".into(),
        ids.path("kubectl").display().to_string(),
        "--cache-dir".into(),
        cfg.repo.join(".cache/bench/kubectl-cache").display().to_string(),
    ]
}

/// Nodes, Deployments and PDBs for pod count `size`; the pods land on their nodes (the spares are cordoned).
async fn setup(ctx: &Ctx<'_>, size: usize) -> Result<Layout> {
    let env = ctx.env;
    progress(format!("drain: N={size}: nodes and {} pods", 2 * size));
    let room = size + 100;
    let dd_slot = format!("dd{size}");
    let kc_slot = format!("kc{size}");
    let nodes = infra::create_nodes(
        env,
        vec![
            NodeSpec::new(env, &format!("n{size}-dd"), room).slot(&dd_slot),
            NodeSpec::new(env, &format!("n{size}-kc"), room).slot(&kc_slot),
        ],
        2,
    )
    .await?;
    let mut deployments = Vec::new();
    for slot in [&dd_slot, &kc_slot] {
        for i in 0..4 {
            let replicas = size / 4 + usize::from(i < size % 4);
            let name = format!("{slot}-d{}", i + 1);
            let labels = json!({"bench-size": size.to_string(), "bench-slot": slot});
            infra::deployment(env, &name, replicas, labels.clone(), infra::slot_placement(env, slot)).await?;
            match i {
                0 => infra::pdb(env, &name, json!({"minAvailable": 1}), labels).await?,
                1 => infra::pdb(env, &name, json!({"maxUnavailable": "50%"}), labels).await?,
                _ => {}
            }
            deployments.push((name, replicas));
        }
    }
    Ok(Layout {
        size,
        dd: nodes[0].clone(),
        dd_slot,
        kc: nodes[1].clone(),
        deployments,
    })
}

/// Puts N pods back on each of the two nodes and waits until the cluster is quiet.
async fn prepare(ctx: &Ctx<'_>, l: &Layout) -> Result<()> {
    let client = &ctx.env.client;
    for s in &ctx.spares {
        infra::set_cordon(client, s, true).await?;
    }
    for n in [&l.dd, &l.kc] {
        infra::set_cordon(client, n, false).await?;
    }
    let pods = Api::<Pod>::namespaced(client.clone(), ctx.env.ns());
    for s in &ctx.spares {
        let lp = ListParams::default()
            .labels(&format!("bench-size={}", l.size))
            .fields(&format!("spec.nodeName={s}"));
        infra::delete_pods_now(&pods, lp).await?;
    }
    wait_settled(ctx, l, Where::Home).await?;
    for s in &ctx.spares {
        infra::set_cordon(client, s, false).await?;
    }
    // A quiet moment: the last kwok status updates and PDB syncs land before the window opens.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Where the pods of a size must be for the cluster to count as settled.
#[derive(Clone, Copy)]
enum Where<'a> {
    /// Each slot's pods on their own node (before a drain).
    Home,
    /// None on this node (after a drain).
    NotOn(&'a str),
    /// Anywhere (after a drain that did not finish).
    Anywhere,
}

/// Waits until every pod of this size is Running and Ready, none is terminating, they are `place`d, and the
/// PDBs are up to date.
async fn wait_settled(ctx: &Ctx<'_>, l: &Layout, place: Where<'_>) -> Result<()> {
    let pods = Api::<Pod>::namespaced(ctx.env.client.clone(), ctx.env.ns());
    let pdbs = Api::<PodDisruptionBudget>::namespaced(ctx.env.client.clone(), ctx.env.ns());
    let lp = ListParams::default().labels(&format!("bench-size={}", l.size));
    infra::wait(
        &format!("the {} pods of N={} settled", 2 * l.size, l.size),
        SETTLE_LIMIT,
        Duration::from_millis(500),
        || async {
            let all = pods.list(&lp).await.ok()?.items;
            if all.len() != 2 * l.size
                || all
                    .iter()
                    .any(|p| p.metadata.deletion_timestamp.is_some() || !pod_ready(p))
            {
                return None;
            }
            let mut per_app: BTreeMap<&str, usize> = BTreeMap::new();
            for p in &all {
                *per_app
                    .entry(p.labels().get("app").map_or("", |s| s.as_str()))
                    .or_default() += 1;
                let node = infra::pod_node(p);
                let slot = p.labels().get("bench-slot").map_or("", |s| s.as_str());
                let misplaced = match place {
                    Where::Home => node != l.home(slot),
                    Where::NotOn(d) => node == d,
                    Where::Anywhere => false,
                };
                if misplaced {
                    return None;
                }
            }
            if l.deployments.iter().any(|(d, r)| per_app.get(d.as_str()) != Some(r)) {
                return None;
            }
            let settled = pdbs.list(&lp).await.ok()?.items.iter().all(|p| {
                p.status.as_ref().is_some_and(|s| {
                    s.observed_generation == p.metadata.generation
                        && s.disrupted_pods.as_ref().is_none_or(|d| d.is_empty())
                        && s.expected_pods > 0
                        && s.current_healthy == s.expected_pods
                })
            });
            settled.then_some(())
        },
    )
    .await
}

/// What the watches of one drain saw.
#[derive(Default)]
struct Seen {
    /// The last change seen on the node's pods or in the NodeMaintenance.
    last_change: Option<Mark>,
    cordoned: Option<Mark>,
    pods: HashSet<String>,
    listed: bool,
    last_gone: Option<Mark>,
    drained: Option<Mark>,
}

/// Watches the node (cordon) and its pods (last one gone), opened before the window.
async fn watch_node(
    client: &Client,
    node: &str,
    seen: Arc<Mutex<Seen>>,
    notify: Arc<Notify>,
) -> Result<Vec<infra::Watch>> {
    let s = seen.clone();
    let n = notify.clone();
    let node_watch = infra::watch(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={node}")),
        move |at, e| {
            if let watcher::Event::Apply(n) | watcher::Event::InitApply(n) = e
                && n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
            {
                s.lock().unwrap_or_else(|p| p.into_inner()).cordoned.get_or_insert(at);
            }
        },
    )
    .await?;
    let s = seen;
    let pod_watch = infra::watch(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().fields(&format!("spec.nodeName={node}")),
        move |at, e| {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.last_change = Some(at);
            match e {
                watcher::Event::Init => s.pods.clear(),
                watcher::Event::InitDone => s.listed = true,
                watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                    s.pods.insert(p.uid().unwrap_or_default());
                }
                watcher::Event::Delete(p) => {
                    s.pods.remove(&p.uid().unwrap_or_default());
                    if s.listed && s.pods.is_empty() {
                        s.last_gone = Some(at);
                        n.notify_one();
                    }
                }
            }
        },
    )
    .await?;
    Ok(vec![node_watch, pod_watch])
}

/// The drainer's own requests in [t0, t1], and the timeline and counts they give.
struct Own {
    requests: Option<Vec<apiserver::Request>>,
}

impl Own {
    fn read(cfg: &Config, mark: &AuditMark, who: &str, t0: &Mark, t1: &Mark) -> Self {
        let requests = mark.requests(&sa_user(who)).ok().map(|rs| {
            rs.into_iter()
                .filter(|r| r.received >= t0.wall && r.received <= t1.wall)
                .collect::<Vec<_>>()
        });
        if requests.as_ref().is_some_and(|r| r.is_empty()) {
            progress(format!(
                "warning: no requests of {} in {}: is the drydock-bench audit rule in e2e/cluster/up.sh?",
                sa_user(who),
                cfg.audit_log.display()
            ));
            return Self { requests: None };
        }
        Self { requests }
    }

    fn evictions(&self) -> Option<Vec<&apiserver::Request>> {
        self.requests
            .as_ref()
            .map(|rs| rs.iter().filter(|r| r.resource == "pods/eviction").collect())
    }

    fn fill(&self, t0: &Mark, run: &mut DrainRun) {
        let Some(rs) = &self.requests else { return };
        run.own_requests = Some(apiserver::by_verb(rs));
        run.own_requests_detail = Some(apiserver::by_verb_resource(rs));
        let ev = self.evictions().unwrap_or_default();
        let ok: Vec<_> = ev.iter().filter(|r| r.code == 201).collect();
        run.evictions_accepted = Some(ok.len());
        run.evictions_refused = Some(ev.iter().filter(|r| r.code == 429).count());
        run.timeline.first_eviction = ev.first().map(|r| t0.secs_to_wall(r.received));
        run.timeline.last_eviction = ok.iter().map(|r| t0.secs_to_wall(r.done)).reduce(f64::max);
    }
}

async fn drydock_drain(ctx: &mut Ctx<'_>, l: &Layout, pair: usize) -> Result<DrainRun> {
    if !ctx.drydock.alive() {
        return Err(format!("drydock died; see {}", ctx.drydock.log.display()).into());
    }
    let env = ctx.env;
    let name = format!("{}-n{}-p{pair}", env.id, l.size);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let notify = Arc::new(Notify::new());
    let mut watches = watch_node(&env.client, &l.dd, seen.clone(), notify.clone()).await?;
    let (s, n) = (seen.clone(), notify.clone());
    watches.push(
        infra::watch(
            Api::<NodeMaintenance>::all(env.client.clone()),
            watcher::Config::default().fields(&format!("metadata.name={name}")),
            move |at, e| {
                if let watcher::Event::Apply(nm) = e {
                    let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                    s.last_change = Some(at);
                    if nm.status.as_ref().is_some_and(|s| s.phase == Phase::Drained) {
                        s.drained.get_or_insert(at);
                        n.notify_one();
                    }
                }
            },
        )
        .await?,
    );
    let nm: NodeMaintenance = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
        "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
        // The same pods may leave as with kubectl drain --ignore-daemonsets --delete-emptydir-data.
        "spec": {"nodeName": l.dd, "reason": "bench", "drain": {"deleteEmptyDirData": true}}
    }))?;
    let nms = Api::<NodeMaintenance>::all(env.client.clone());

    let before = RequestTotals::scrape(&env.client).await?;
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let s0 = ctx.sampler.sample();
    let t0 = Mark::now();
    nms.create(&PostParams::default(), &nm).await?;
    let outcome = wait_drained(&seen, &notify, &t0).await?;
    let t1 = outcome.unwrap_or_else(|_| Mark::now());
    let s1 = ctx.sampler.sample();
    let after = RequestTotals::scrape(&env.client).await?;
    drop(watches);

    let mut run = new_run("drydock", l.size, pair, &t0, &t1, &seen, after.since(&before));
    Own::read(ctx.cfg, &audit, "drydock", &t0, &t1).fill(&t0, &mut run);
    run.footprint = Some(Footprint::of(&ctx.sampler, &s0, &s1));
    if let Err(quiet) = outcome {
        let status = nms.get(&name).await?.status.unwrap_or_default();
        let left = seen.lock().unwrap_or_else(|p| p.into_inner()).pods.len();
        let last_error = status
            .last_error
            .map(|e| format!("; lastError: {e}"))
            .unwrap_or_default();
        let note = format!(
            "stuck: no change for {quiet:.0} s with {left} pod(s) still on the node; status {:?}: {}{last_error}",
            status.phase,
            status.message.unwrap_or_default(),
        );
        progress(format!("drain: drydock {note}"));
        run.completed = false;
        run.note = Some(note);
    }

    // Give the node back and let the replacements settle before kubectl's window.
    nms.delete(&name, &DeleteParams::default()).await?;
    infra::wait(
        "the NodeMaintenance gone and the node uncordoned",
        SETTLE_LIMIT,
        Duration::from_millis(200),
        || async {
            let gone = nms.get_opt(&name).await.ok()?.is_none();
            let node = Api::<Node>::all(env.client.clone()).get(&l.dd).await.ok()?;
            (gone && node.spec.and_then(|s| s.unschedulable) != Some(true)).then_some(())
        },
    )
    .await?;
    wait_settled(
        ctx,
        l,
        if run.completed {
            Where::NotOn(&l.dd)
        } else {
            Where::Anywhere
        },
    )
    .await?;
    Ok(run)
}

async fn kubectl_drain(ctx: &Ctx<'_>, l: &Layout, pair: usize) -> Result<DrainRun> {
    let env = ctx.env;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let notify = Arc::new(Notify::new());
    let watches = watch_node(&env.client, &l.kc, seen.clone(), notify).await?;
    let log = ctx
        .cfg
        .repo
        .join(format!(".cache/logs/bench-kubectl-n{}-p{pair}.log", l.size));
    let mut cmd = std::process::Command::new(&ctx.cfg.kubectl);
    cmd.args(kubectl_common(ctx.cfg, ctx.ids))
        .args([
            "drain",
            &l.kc,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=40m",
        ])
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err.log"))?);

    let before = RequestTotals::scrape(&env.client).await?;
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let t0 = Mark::now();
    let status = tokio::task::spawn_blocking(move || cmd.status()).await??;
    let t1 = Mark::now();
    let after = RequestTotals::scrape(&env.client).await?;
    drop(watches);
    let mut run = new_run("kubectl", l.size, pair, &t0, &t1, &seen, after.since(&before));
    Own::read(ctx.cfg, &audit, "kubectl", &t0, &t1).fill(&t0, &mut run);
    if !status.success() {
        let err = std::fs::read_to_string(log.with_extension("err.log")).unwrap_or_default();
        let last: Vec<&str> = err.lines().rev().take(3).collect();
        let note = format!("kubectl drain failed ({status}): {}", last.join(" / "));
        progress(format!("drain: {note}"));
        run.completed = false;
        run.note = Some(note);
    }

    infra::set_cordon(&env.client, &l.kc, false).await?;
    wait_settled(
        ctx,
        l,
        if run.completed {
            Where::NotOn(&l.kc)
        } else {
            Where::Anywhere
        },
    )
    .await?;
    Ok(run)
}

fn new_run(
    drainer: &str,
    pods: usize,
    pair: usize,
    t0: &Mark,
    t1: &Mark,
    seen: &Mutex<Seen>,
    cluster_requests: BTreeMap<String, f64>,
) -> DrainRun {
    let s = seen.lock().unwrap_or_else(|p| p.into_inner());
    DrainRun {
        drainer: drainer.into(),
        pods,
        pair,
        completed: true,
        note: None,
        seconds: t0.secs_to(t1),
        evictions_accepted: None,
        evictions_refused: None,
        own_requests: None,
        own_requests_detail: None,
        cluster_requests,
        timeline: Timeline {
            cordoned: s.cordoned.map(|m| t0.secs_to(&m)),
            first_eviction: None,
            last_eviction: None,
            last_pod_gone: s.last_gone.map(|m| t0.secs_to(&m)),
            done: t0.secs_to(t1),
        },
        footprint: None,
    }
}

/// Waits until the watches saw drydock's Drained; Err(seconds) when nothing changed for [`STALL`].
async fn wait_drained(seen: &Mutex<Seen>, notify: &Notify, t0: &Mark) -> Result<Result<Mark, f64>> {
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    loop {
        {
            let s = seen.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(m) = s.drained {
                return Ok(Ok(m));
            }
            let quiet = s.last_change.map_or(t0.elapsed(), |m| m.elapsed());
            if quiet > STALL.as_secs_f64() {
                return Ok(Err(quiet));
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("drydock's drain not done within {DRAIN_LIMIT:?}").into());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), notify.notified()).await;
    }
}

enum Raw {
    Accepted,
    Gone,
    /// 429: a PDB allows no disruption now (or the server sheds load).
    Refused,
    /// 409 on the PodDisruptionBudget: the server gave up decrementing the budget after 20 conflicting updates.
    /// The pod is still there. (drydock's classify() takes every 409 for "gone", see the report.)
    PdbConflict,
    Failed(String),
}

/// One eviction, read without drydock's classification: a 409 is "gone" only when it is about the pod.
async fn raw_evict(client: &Client, p: &PodKey) -> Raw {
    let eviction: k8s_openapi::api::policy::v1::Eviction = match serde_json::from_value(json!({
        "metadata": {"name": p.name, "namespace": p.namespace},
        "deleteOptions": {"preconditions": {"uid": p.uid}}
    })) {
        Ok(e) => e,
        Err(e) => return Raw::Failed(e.to_string()),
    };
    let api = Api::<Pod>::namespaced(client.clone(), &p.namespace);
    match api
        .create_subresource::<_, serde_json::Value>("eviction", &p.name, &PostParams::default(), &eviction)
        .await
    {
        Ok(_) => Raw::Accepted,
        Err(kube::Error::Api(s)) => match s.code {
            429 => Raw::Refused,
            409 if s.details.as_ref().is_some_and(|d| d.kind == "poddisruptionbudgets") => Raw::PdbConflict,
            404 | 409 => Raw::Gone,
            _ => Raw::Failed(format!("{}: {}", s.code, s.message)),
        },
        Err(e) => Raw::Failed(e.to_string()),
    }
}

/// How the raw client orders its evictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawMode {
    /// Every pod in random order (by UID), `concurrency` in flight: what a simple parallel drainer does.
    AllAtOnce,
    /// Each PDB's pods in their own stream with this many in flight, all streams at once (pods without a PDB:
    /// `concurrency` in flight). The API server decrements a PDB's budget with an optimistic update of its
    /// status and, on a conflict (another eviction, or the disruption controller's own status update), retries
    /// after 500 ms, up to 20 times, then answers 409: how many evictions per PDB are in flight matters.
    PerPdb(usize),
}

/// A minimal client: every pod of the node evicted as fast as the server accepts, a refused eviction (429)
/// tried again after 100 ms. The node is cordoned first (outside the window) so replacements go elsewhere, as
/// in a drain.
async fn raw(ctx: &Ctx<'_>, l: &Layout, concurrency: usize, mode: RawMode) -> Result<RawRun> {
    prepare(ctx, l).await?;
    let env = ctx.env;
    infra::set_cordon(&env.client, &l.dd, true).await?;
    let pods = Api::<Pod>::all(env.client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", l.dd)))
        .await?
        .items;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns())
        .list(&ListParams::default())
        .await?
        .items;
    // Pods grouped by the PDB that covers them; "" = none.
    let mut groups: BTreeMap<String, Vec<PodKey>> = BTreeMap::new();
    for p in &pods {
        let pdb = pdbs
            .iter()
            .find(|b| {
                let sel: Option<kube::core::Selector> = b
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .and_then(|s| s.try_into().ok());
                sel.is_some_and(|sel| kube::core::SelectorExt::matches(&sel, p.labels()))
            })
            .map(|b| b.name_any())
            .unwrap_or_default();
        groups.entry(pdb).or_default().push(PodKey::of(p));
    }
    let with_pdbs = groups.keys().any(|k| !k.is_empty());
    let client = infra::client_for(ctx.ids.path("raw"), false).await?;
    let evict_one = |p: PodKey| {
        let client = client.clone();
        async move {
            let mut refused = 0;
            for _ in 0..3000 {
                match raw_evict(&client, &p).await {
                    Raw::Accepted => return (Some(Mark::now()), refused),
                    Raw::Gone => return (None, refused),
                    Raw::Refused => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // The server already waited (20 conflicts, 500 ms apart): try again at once.
                    Raw::PdbConflict => refused += 1,
                    Raw::Failed(e) => {
                        progress(format!("raw eviction of {}/{} failed: {e}", p.namespace, p.name));
                        return (None, refused);
                    }
                }
            }
            (None, refused)
        }
    };
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let t0 = Mark::now();
    let outcomes: Vec<(Option<Mark>, usize)> = match mode {
        RawMode::AllAtOnce => {
            let mut all: Vec<PodKey> = groups.into_values().flatten().collect();
            all.sort_by(|a, b| a.uid.cmp(&b.uid));
            stream::iter(all)
                .map(evict_one)
                .buffer_unordered(concurrency)
                .collect()
                .await
        }
        RawMode::PerPdb(k) => {
            let free = groups.remove("").unwrap_or_default();
            let per_pdb = groups
                .into_values()
                .map(|g| stream::iter(g).map(evict_one).buffer_unordered(k).collect::<Vec<_>>());
            let (free, per_pdb) = tokio::join!(
                stream::iter(free)
                    .map(evict_one)
                    .buffer_unordered(concurrency)
                    .collect::<Vec<_>>(),
                futures::future::join_all(per_pdb)
            );
            free.into_iter().chain(per_pdb.into_iter().flatten()).collect()
        }
    };
    let t1 = Mark::now();
    let accepted: Vec<Mark> = outcomes.iter().filter_map(|(m, _)| *m).collect();
    let last = accepted.iter().map(|m| t0.secs_to(m)).fold(0.0, f64::max);
    let requests = audit
        .requests(&sa_user("raw"))
        .ok()
        .map(|rs| {
            rs.iter()
                .filter(|r| r.received >= t0.wall && r.received <= t1.wall)
                .count()
        })
        .filter(|n| *n > 0);
    wait_settled(ctx, l, Where::NotOn(&l.dd)).await?;
    infra::set_cordon(&env.client, &l.dd, false).await?;
    Ok(RawRun {
        pods: pods.len(),
        concurrency,
        mode,
        with_pdbs,
        seconds: last,
        rate: accepted.len() as f64 / last.max(1e-9),
        refused: outcomes.iter().map(|(_, r)| r).sum(),
        requests,
    })
}

async fn teardown(ctx: &Ctx<'_>, l: &Layout) -> Result<()> {
    let env = ctx.env;
    let lp = ListParams::default().labels(&format!("bench-size={}", l.size));
    let _ = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.client.clone(), env.ns())
        .delete_collection(&DeleteParams::background(), &lp)
        .await?;
    let _ = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns())
        .delete_collection(&DeleteParams::default(), &lp)
        .await?;
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    infra::wait(
        "the pods of this size gone",
        SETTLE_LIMIT,
        Duration::from_secs(1),
        || async {
            infra::delete_pods_now(&pods, lp.clone()).await.ok()?;
            pods.list_metadata(&lp.clone().limit(1))
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await?;
    let nodes = Api::<Node>::all(env.client.clone());
    for n in [&l.dd, &l.kc] {
        nodes.delete(n, &DeleteParams::default()).await?;
    }
    Ok(())
}

fn summarize(size: usize, runs: &[DrainRun], pairs: &[Pair]) -> SizeSummary {
    let pairs: Vec<&Pair> = pairs.iter().filter(|p| p.pods == size).collect();
    let all = |who: &str| -> Vec<&DrainRun> { runs.iter().filter(|r| r.pods == size && r.drainer == who).collect() };
    let of = |who: &str| -> Vec<&DrainRun> { all(who).into_iter().filter(|r| r.completed).collect() };
    let (dd, kc) = (of("drydock"), of("kubectl"));
    let per_pod = |rs: &[&DrainRun], own: bool| -> Option<PerPod> {
        let maps: Vec<BTreeMap<String, f64>> = rs
            .iter()
            .map(|r| {
                let m = if own {
                    r.own_requests.clone()
                } else {
                    Some(r.cluster_requests.clone())
                }?;
                let evicted = r.evictions_accepted.unwrap_or(r.pods).max(1) as f64;
                Some(m.into_iter().map(|(k, v)| (k, v / evicted)).collect())
            })
            .collect::<Option<Vec<_>>>()?;
        if maps.is_empty() {
            return None;
        }
        let verbs: std::collections::BTreeSet<&String> = maps.iter().flat_map(|m| m.keys()).collect();
        let by_verb = verbs
            .into_iter()
            .map(|v| {
                let xs: Vec<f64> = maps.iter().map(|m| m.get(v).copied().unwrap_or(0.0)).collect();
                (v.clone(), Stats::of(&xs).median)
            })
            .collect();
        let totals: Vec<f64> = maps.iter().map(|m| m.values().sum()).collect();
        Some(PerPod {
            total: Stats::of(&totals).median,
            by_verb,
        })
    };
    let rate = |rs: &[&DrainRun]| -> Option<f64> {
        let xs: Vec<f64> = rs
            .iter()
            .filter_map(|r| {
                let span = r.timeline.last_eviction? - r.timeline.first_eviction?;
                Some(r.evictions_accepted? as f64 / span.max(1e-9))
            })
            .collect();
        (!xs.is_empty()).then(|| Stats::of(&xs).median)
    };
    let secs = |rs: &[&DrainRun]| Stats::of(&rs.iter().map(|r| r.seconds).collect::<Vec<_>>());
    SizeSummary {
        pods: size,
        drydock_incomplete: all("drydock").len() - dd.len(),
        kubectl_incomplete: all("kubectl").len() - kc.len(),
        drydock_s: secs(&dd),
        kubectl_s: secs(&kc),
        ratio: Stats::of(&pairs.iter().map(|p| p.ratio).collect::<Vec<_>>()),
        drydock_per_pod: per_pod(&dd, true),
        kubectl_per_pod: per_pod(&kc, true),
        drydock_cluster_per_pod: per_pod(&dd, false).unwrap_or_default(),
        kubectl_cluster_per_pod: per_pod(&kc, false).unwrap_or_default(),
        drydock_eviction_rate: rate(&dd),
        drydock_drain_rate: Stats::of(&dd.iter().map(|r| size as f64 / r.seconds).collect::<Vec<_>>()).median,
        kubectl_eviction_rate: rate(&kc),
    }
}
