//! Sections 1-3 of issue 6: drain time of drydock against `kubectl drain` on identical sibling nodes (pairs,
//! drydock first), the API requests each makes per evicted pod, and the raw eviction limit of this API server.
//!
//! Layout per pod count N: node `dd` (drained by drydock) and node `kc` (by kubectl), each reserved by a slot
//! taint for its own four Deployments of N/4 pods; two of each four have a PDB with room (minAvailable 1, and
//! maxUnavailable 50%). Two spare nodes take the replacement pods. Before each pair the spares are cordoned and
//! the pods on them deleted, so the ReplicaSets put N pods back on each node; the spares are then uncordoned.
//! Between drains the cluster is left to settle (replacements Ready, nothing terminating), so one drain's
//! aftermath never falls into the other's window.
//!
//! Here the results, the section's loop and their summary; [`setup`] builds the workload and says when the
//! cluster is settled, [`measure`] reads what one drain's watches and the audit log saw, [`drydock`] and
//! [`kubectl`] run one drain each, and [`raw`] finds the eviction limit.
mod drydock;
mod kubectl;
mod measure;
mod raw;
mod setup;

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

pub use raw::RawMode;

use super::{
    Config, Result, Stats,
    infra::{self, Drydock, Env, Footprint, Identities, NodeSpec, Sampler},
    progress,
};

/// Upper bound for the cluster to settle between drains.
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
        .args(kubectl::common(cfg, ids))
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
        let layout = setup::setup(&ctx, size).await?;
        for pair in 1..=cfg.pairs {
            setup::prepare(&ctx, &layout).await?;
            progress(format!("drain: N={size} pair {pair}/{}: drydock", cfg.pairs));
            let d = drydock::drain(&mut ctx, &layout, pair).await?;
            progress(format!(
                "drain: N={size} pair {pair}: drydock {:.2}s; kubectl drain (about {}s: kubectl sends 5 requests/s)",
                d.seconds,
                size / 5 + 2
            ));
            let k = kubectl::drain(&ctx, &layout, pair).await?;
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
            raw::limit(&ctx, &layout, &mut out).await?;
        }
        setup::teardown(&ctx, &layout).await?;
    }
    out.drydock_peak_rss_mib = ctx.sampler.sample().hwm_mib;
    Ok(out)
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
