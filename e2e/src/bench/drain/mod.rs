//! Sections 1-3 of issue 6: drain time of drydock against its rivals on identical sibling nodes (pairs, drydock
//! first), the API requests each makes per evicted pod, and the raw eviction limit of this API server. The rivals
//! (BENCH_DRAINERS): `kubectl drain`, and godrain, the Go helper k8s.io/kubectl/pkg/drain that medik8s's
//! node-maintenance-operator, kured and Cluster API drain with, at controller-runtime's default client limits
//! (`go-drain-qps20`) and with none (`go-drain-unthrottled`).
//!
//! Layout per pod count N: node `dd` (drained by drydock) and node `kc` (by each rival in turn), each reserved by
//! a slot taint for its own four Deployments of N/4 pods; two of each four have a PDB with room (minAvailable 1,
//! and maxUnavailable 50%). Two spare nodes take the replacement pods. Before each pair the spares are cordoned
//! and the pods on them deleted, so the ReplicaSets put N pods back on each node; the spares are then uncordoned.
//! Before each rival's drain the same is done for the kc node's pods alone. Between drains the cluster is left to
//! settle (replacements Ready, nothing terminating), so one drain's aftermath never falls into another's window.
//!
//! Here the results, the section's loop and their summary; [`setup`] builds the workload and says when the
//! cluster is settled, [`measure`] reads what one drain's watches and the audit log saw, [`drydock`] runs
//! drydock's drain, [`rival`] a rival's process ([`kubectl`], [`godrain`]), and [`raw`] finds the eviction limit.
mod drydock;
pub mod godrain;
mod kubectl;
mod measure;
mod raw;
mod rival;
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
    /// drydock: phase Drained seen; a rival: its process exited.
    pub done: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrainRun {
    /// drydock, or one of the rivals (bench::RIVALS).
    pub drainer: String,
    pub pods: usize,
    pub pair: usize,
    /// The drain finished (drydock: Drained; a rival: exit code 0).
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

/// One pair's drydock drain and one rival's, both finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pair {
    pub pods: usize,
    pub pair: usize,
    /// The rival (absent from the JSON of runs that had kubectl alone).
    #[serde(default = "kubectl")]
    pub drainer: String,
    pub drydock_s: f64,
    #[serde(alias = "kubectl_s")]
    pub rival_s: f64,
    /// drydock_s / rival_s.
    pub ratio: f64,
}

fn kubectl() -> String {
    "kubectl".into()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SizeSummary {
    pub pods: usize,
    /// Runs that did not finish (see each run's note); they are left out of the statistics.
    pub drydock_incomplete: usize,
    pub drydock_s: Stats,
    /// Own requests per evicted pod (audit log), medians over the runs: total and by verb.
    pub drydock_per_pod: Option<PerPod>,
    /// apiserver_request_total delta per evicted pod (whole cluster), medians over the runs.
    pub drydock_cluster_per_pod: PerPod,
    /// drydock's eviction rate (accepted evictions per second from its first eviction to its last), median.
    pub drydock_eviction_rate: Option<f64>,
    /// Pods per second over the whole drain (NodeMaintenance created -> Drained), median.
    pub drydock_drain_rate: f64,
    /// The rivals that drained at this size, in the order they ran.
    #[serde(default)]
    pub rivals: Vec<RivalSummary>,
    /// Rivals not run at this size, and why.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    /// kubectl's figures as the JSON of runs before `rivals` had them: read, moved into `rivals` (see
    /// [`upgrade_sizes`]), never written.
    #[serde(flatten, skip_serializing)]
    legacy: LegacyKubectl,
}

impl SizeSummary {
    /// This rival's figures, if it drained at this size.
    pub fn rival(&self, drainer: &str) -> Option<&RivalSummary> {
        self.rivals.iter().find(|r| r.drainer == drainer)
    }
}

/// One rival's figures at one size.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RivalSummary {
    pub drainer: String,
    /// Its drains that did not finish (left out of the statistics).
    pub incomplete: usize,
    pub seconds: Stats,
    /// drydock / this rival, pair by pair (the pairs where both finished).
    pub ratio: Stats,
    /// Own requests per evicted pod (audit log), medians over the runs.
    pub per_pod: Option<PerPod>,
    /// apiserver_request_total delta per evicted pod (whole cluster), medians over the runs.
    pub cluster_per_pod: PerPod,
    /// Accepted evictions per second from its first eviction to its last, median.
    pub eviction_rate: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct LegacyKubectl {
    kubectl_incomplete: Option<usize>,
    kubectl_s: Option<Stats>,
    ratio: Option<Stats>,
    kubectl_per_pod: Option<PerPod>,
    kubectl_cluster_per_pod: Option<PerPod>,
    kubectl_eviction_rate: Option<f64>,
}

/// Reads the size summaries, those of older JSON too: kubectl's figures, then fields of their own, become its
/// entry in `rivals`.
fn upgrade_sizes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SizeSummary>, D::Error> {
    let mut sizes = Vec::<SizeSummary>::deserialize(d)?;
    for s in &mut sizes {
        let l = std::mem::take(&mut s.legacy);
        if let (true, Some(seconds)) = (s.rivals.is_empty(), l.kubectl_s) {
            s.rivals.push(RivalSummary {
                drainer: kubectl(),
                incomplete: l.kubectl_incomplete.unwrap_or(0),
                seconds,
                ratio: l.ratio.unwrap_or_default(),
                per_pod: l.kubectl_per_pod,
                cluster_per_pod: l.kubectl_cluster_per_pod.unwrap_or_default(),
                eviction_rate: l.kubectl_eviction_rate,
            });
        }
    }
    Ok(sizes)
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
    #[serde(deserialize_with = "upgrade_sizes")]
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
    /// The node each rival drains, and its slot.
    kc: String,
    kc_slot: String,
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
    if cfg.drainers.iter().any(|d| d == "kubectl") {
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
    }

    let mut out = DrainResults::default();
    // The eviction limit is found at the size nearest 1000 (where the request target is read too).
    let limit_at = cfg.sizes.iter().copied().min_by_key(|s| s.abs_diff(1000)).unwrap_or(0);
    for &size in &cfg.sizes {
        let layout = setup::setup(&ctx, size).await?;
        let (rivals, skipped) = cfg.rivals_at(size);
        for (who, why) in &skipped {
            progress(format!("drain: N={size}: {who} {why}"));
        }
        for pair in 1..=cfg.pairs {
            setup::prepare(&ctx, &layout).await?;
            progress(format!("drain: N={size} pair {pair}/{}: drydock", cfg.pairs));
            let d = drydock::drain(&mut ctx, &layout, pair).await?;
            progress(format!("drain: N={size} pair {pair}: drydock {:.2}s", d.seconds));
            let mut runs = vec![];
            for &who in &rivals {
                // The rival node's pods back home (drydock's stay where its drain sent them).
                setup::prepare_rival(&ctx, &layout).await?;
                progress(format!("drain: N={size} pair {pair}: {who}{}", hint(who, size)));
                let r = if who == "kubectl" {
                    kubectl::drain(&ctx, &layout, pair).await?
                } else {
                    godrain::drain(&ctx, &layout, pair, who).await?
                };
                progress(format!(
                    "drain: N={size} pair {pair}: {who} {:.2}s, drydock / {who} {:.3}",
                    r.seconds,
                    d.seconds / r.seconds
                ));
                if d.completed && r.completed {
                    out.pairs.push(Pair {
                        pods: size,
                        pair,
                        drainer: who.to_string(),
                        drydock_s: d.seconds,
                        rival_s: r.seconds,
                        ratio: d.seconds / r.seconds,
                    });
                }
                runs.push(r);
            }
            out.runs.push(d);
            out.runs.extend(runs);
        }
        let skipped = skipped.into_iter().map(|(w, why)| (w.to_string(), why)).collect();
        out.sizes.push(summarize(size, &rivals, skipped, &out.runs, &out.pairs));
        if size == limit_at && !cfg.raw_concurrency.is_empty() {
            raw::limit(&ctx, &layout, &mut out).await?;
        }
        setup::teardown(&ctx, &layout).await?;
    }
    out.drydock_peak_rss_mib = ctx.sampler.sample().hwm_mib;
    Ok(out)
}

/// How long a rival's drain should take, for the progress line.
fn hint(who: &str, size: usize) -> String {
    match who {
        "kubectl" => format!(
            " (about {}s: throttled by client-go's defaults, it drains about 5 pods/s)",
            size / 5 + 2
        ),
        _ => String::new(),
    }
}

fn summarize(
    size: usize,
    rivals: &[&str],
    skipped: BTreeMap<String, String>,
    runs: &[DrainRun],
    pairs: &[Pair],
) -> SizeSummary {
    let all = |who: &str| -> Vec<&DrainRun> { runs.iter().filter(|r| r.pods == size && r.drainer == who).collect() };
    let of = |who: &str| -> Vec<&DrainRun> { all(who).into_iter().filter(|r| r.completed).collect() };
    let dd = of("drydock");
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
    let rivals = rivals
        .iter()
        .map(|&who| {
            let rs = of(who);
            let ratios: Vec<f64> = pairs
                .iter()
                .filter(|p| p.pods == size && p.drainer == who)
                .map(|p| p.ratio)
                .collect();
            RivalSummary {
                drainer: who.to_string(),
                incomplete: all(who).len() - rs.len(),
                seconds: secs(&rs),
                ratio: Stats::of(&ratios),
                per_pod: per_pod(&rs, true),
                cluster_per_pod: per_pod(&rs, false).unwrap_or_default(),
                eviction_rate: rate(&rs),
            }
        })
        .collect();
    SizeSummary {
        pods: size,
        drydock_incomplete: all("drydock").len() - dd.len(),
        drydock_s: secs(&dd),
        drydock_per_pod: per_pod(&dd, true),
        drydock_cluster_per_pod: per_pod(&dd, false).unwrap_or_default(),
        drydock_eviction_rate: rate(&dd),
        drydock_drain_rate: Stats::of(&dd.iter().map(|r| size as f64 / r.seconds).collect::<Vec<_>>()).median,
        rivals,
        skipped,
        legacy: LegacyKubectl::default(),
    }
}
