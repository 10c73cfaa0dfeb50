//! `make bench`: drydock against `kubectl drain` and the Go drain helper (`e2e/godrain`) on the real control plane
//! of `e2e/cluster/up.sh`, with kwok nodes and pods. Nothing here passes or fails on timing: it measures, prints a table and writes JSON.
//!
//! Sections (each can be run alone with BENCH_ONLY): `drain` (drain time, API requests per evicted pod and the
//! raw eviction limit), `reaction` (NodeMaintenance created -> node cordoned), `fleet` (a MaintenanceSchedule
//! rolling through a pool) and `footprint` (the controller's memory and CPU in a large cluster).
pub mod apiserver;
pub mod drain;
pub mod fleet;
pub mod footprint;
pub mod infra;
pub mod reaction;
pub mod report;

use std::{collections::BTreeSet, path::PathBuf, time::Instant};

use jiff::Timestamp;

pub type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// What to run and how big. Every knob is an env variable (BENCH_*) and a flag of the same name
/// (`--pairs 2`); the defaults are what issue 6 asks for.
#[derive(Clone, Debug)]
pub struct Config {
    /// Pairs per pod count: each a drydock drain, then one by each rival (BENCH_PAIRS, default 1, which keeps
    /// `make bench` within the hour; 3 or more for a spread).
    pub pairs: usize,
    /// Pod counts of the drained node (BENCH_SIZES, default 100,1000,3000).
    pub sizes: Vec<usize>,
    /// The rivals drydock is measured against, run in this order after drydock's drain: any of [`RIVALS`]
    /// (BENCH_DRAINERS, default all; empty = drydock alone).
    pub drainers: Vec<String>,
    /// Above this pod count kubectl drain is not run (BENCH_KUBECTL_MAX_PODS, default 1000): throttled by
    /// client-go's default limits it drains about 5 pods a second, 10 minutes a drain at N = 3000.
    pub kubectl_max_pods: usize,
    /// Concurrencies the raw eviction client tries at the size nearest 1000; the best is the limit
    /// (BENCH_RAW_CONCURRENCY, default 32).
    pub raw_concurrency: Vec<usize>,
    /// Evictions in flight per PDB the raw client also tries, each PDB's pods in its own stream
    /// (BENCH_RAW_PER_PDB, default 1).
    pub raw_per_pdb: Vec<usize>,
    /// NodeMaintenances timed for the reaction latency (BENCH_REACTION, default 100).
    pub reaction: usize,
    /// Nodes of the MaintenanceSchedule's pool (BENCH_FLEET, default 200).
    pub fleet_nodes: usize,
    /// Pods per pool node (BENCH_FLEET_PODS, default 20).
    pub fleet_pods: usize,
    /// The schedule's maxUnavailable (BENCH_FLEET_MAX_UNAVAILABLE, default 10).
    pub fleet_max_unavailable: usize,
    /// Cluster size for the footprint: nodes x pods (BENCH_SCALE, default 2000x60000). It is measured at five
    /// sizes: no nodes, half and all the nodes with no pods of their own, then half and all the pods on them.
    /// 5000x150000 is the published limit of a Kubernetes cluster.
    pub scale_nodes: usize,
    pub scale_pods: usize,
    /// NodeMaintenances timed for the reaction at each footprint size (BENCH_SCALE_REACTION, default 50; 0: none).
    pub scale_reaction: usize,
    /// Pods on the node drained during the footprint measurement (BENCH_SCALE_DRAIN_PODS, default 40: the
    /// cluster's average per node).
    pub scale_drain_pods: usize,
    /// Seconds of idle sampling per footprint size (BENCH_IDLE_SECONDS, default 30).
    pub idle_seconds: u64,
    /// Sections to run (BENCH_ONLY, default all).
    pub only: Option<BTreeSet<String>>,
    pub repo: PathBuf,
    /// The drydock binary (DRYDOCK_BIN; `make bench` builds it in release mode).
    pub drydock_bin: PathBuf,
    /// kubectl (BENCH_KUBECTL, default .cache/bin/kubectl: the cluster's own version).
    pub kubectl: PathBuf,
    /// The drainer on k8s.io/kubectl/pkg/drain (BENCH_GODRAIN, default .cache/bin/godrain: `make bench` builds
    /// it with `e2e/cluster/build.sh godrain`).
    pub godrain: PathBuf,
    /// The API server's audit log (BENCH_AUDIT_LOG, default .cache/logs/audit.log).
    pub audit_log: PathBuf,
    /// Where the JSON goes (BENCH_OUT, default target/bench/results.json).
    pub out: PathBuf,
    /// Only print the table of an earlier run's JSON (BENCH_REPORT=target/bench/results.json).
    pub report: Option<PathBuf>,
}

pub const SECTIONS: [&str; 4] = ["drain", "reaction", "fleet", "footprint"];

/// The drainers drydock's drain is measured against (drain::rival), in the order they run.
pub const RIVALS: [&str; 3] = ["kubectl", "go-drain-qps20", "go-drain-unthrottled"];

impl Config {
    pub fn from_env_and_args() -> Result<Self> {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let repo = repo.canonicalize().unwrap_or(repo);
        let mut vars: std::collections::BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("BENCH_") || k == "DRYDOCK_BIN")
            .collect();
        // `--pairs 2` is BENCH_PAIRS=2; flags win over the environment.
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let Some(name) = flag.strip_prefix("--") else {
                return Err(format!("unexpected argument {flag:?}; flags are --pairs N, --sizes 100,1000, ...").into());
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (
                    name.to_string(),
                    args.next().ok_or_else(|| format!("--{name} needs a value"))?,
                ),
            };
            vars.insert(format!("BENCH_{}", name.to_uppercase().replace('-', "_")), value);
        }
        let get = |k: &str| vars.get(k).cloned();
        let num = |k: &str, d: usize| -> Result<usize> {
            get(k).map_or(Ok(d), |v| v.parse().map_err(|e| format!("{k}={v}: {e}").into()))
        };
        let list = |k: &str, d: &[usize]| -> Result<Vec<usize>> {
            match get(k) {
                None => Ok(d.to_vec()),
                Some(v) if v.trim().is_empty() => Ok(vec![]),
                Some(v) => v
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|e| format!("{k}={v}: {e}").into()))
                    .collect(),
            }
        };
        let (scale_nodes, scale_pods) = match get("BENCH_SCALE") {
            None => (2000, 60_000),
            Some(v) => {
                let (n, p) = v
                    .split_once('x')
                    .ok_or_else(|| format!("BENCH_SCALE={v}: want NODESxPODS, e.g. 2000x60000"))?;
                (n.parse()?, p.parse()?)
            }
        };
        let only = get("BENCH_ONLY").map(|v| v.split(',').map(|s| s.trim().to_string()).collect::<BTreeSet<_>>());
        if let Some(o) = &only
            && let Some(bad) = o.iter().find(|s| !SECTIONS.contains(&s.as_str()))
        {
            return Err(format!("BENCH_ONLY: unknown section {bad:?}; sections: {}", SECTIONS.join(",")).into());
        }
        let drainers: Vec<String> = match get("BENCH_DRAINERS") {
            None => RIVALS.iter().map(|s| s.to_string()).collect(),
            Some(v) => v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        };
        if let Some(bad) = drainers.iter().find(|d| !RIVALS.contains(&d.as_str())) {
            return Err(format!(
                "BENCH_DRAINERS: unknown drainer {bad:?}; drainers: {} (drydock always runs)",
                RIVALS.join(",")
            )
            .into());
        }
        // Always in the order of RIVALS, each once.
        let drainers = RIVALS
            .iter()
            .filter(|r| drainers.iter().any(|d| d == *r))
            .map(|r| r.to_string())
            .collect();
        let path = |k: &str, d: PathBuf| get(k).map(PathBuf::from).unwrap_or(d);
        Ok(Self {
            pairs: num("BENCH_PAIRS", 1)?,
            sizes: list("BENCH_SIZES", &[100, 1000, 3000])?,
            drainers,
            kubectl_max_pods: num("BENCH_KUBECTL_MAX_PODS", 1000)?,
            raw_concurrency: list("BENCH_RAW_CONCURRENCY", &[32])?,
            raw_per_pdb: list("BENCH_RAW_PER_PDB", &[1])?,
            reaction: num("BENCH_REACTION", 100)?,
            fleet_nodes: num("BENCH_FLEET", 200)?,
            fleet_pods: num("BENCH_FLEET_PODS", 20)?,
            fleet_max_unavailable: num("BENCH_FLEET_MAX_UNAVAILABLE", 10)?,
            scale_nodes,
            scale_pods,
            scale_reaction: num("BENCH_SCALE_REACTION", 50)?,
            scale_drain_pods: num("BENCH_SCALE_DRAIN_PODS", 40)?,
            idle_seconds: num("BENCH_IDLE_SECONDS", 30)? as u64,
            only,
            drydock_bin: path("DRYDOCK_BIN", repo.join("target/release/drydock")),
            kubectl: path("BENCH_KUBECTL", repo.join(".cache/bin/kubectl")),
            godrain: path("BENCH_GODRAIN", repo.join(".cache/bin/godrain")),
            audit_log: path("BENCH_AUDIT_LOG", repo.join(".cache/logs/audit.log")),
            out: path("BENCH_OUT", repo.join("target/bench/results.json")),
            report: get("BENCH_REPORT").map(PathBuf::from),
            repo,
        })
    }

    pub fn runs(&self, section: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(section))
    }

    /// The rivals that drain at pod count `size`, and those left out with why.
    pub fn rivals_at(&self, size: usize) -> (Vec<&str>, Vec<(&str, String)>) {
        let (mut run, mut skip) = (Vec::new(), Vec::new());
        for d in &self.drainers {
            if d == "kubectl" && size > self.kubectl_max_pods {
                skip.push((
                    d.as_str(),
                    format!(
                        "not run above BENCH_KUBECTL_MAX_PODS = {} (at about 5 pods/s it would need {} s a drain)",
                        self.kubectl_max_pods,
                        size / 5
                    ),
                ));
            } else {
                run.push(d.as_str());
            }
        }
        (run, skip)
    }
}

/// A moment, both as a monotonic instant (for durations) and as wall-clock time (to compare with the audit
/// log's timestamps, written by the API server on the same machine).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pub at: Instant,
    pub wall: Timestamp,
}

impl Mark {
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            wall: Timestamp::now(),
        }
    }

    /// Seconds from `self` to `later`.
    pub fn secs_to(&self, later: &Mark) -> f64 {
        later.at.duration_since(self.at).as_secs_f64()
    }

    /// Seconds from `self` to a wall-clock time (negative if before).
    pub fn secs_to_wall(&self, t: Timestamp) -> f64 {
        t.duration_since(self.wall).as_secs_f64()
    }

    pub fn elapsed(&self) -> f64 {
        self.at.elapsed().as_secs_f64()
    }
}

/// Median, min, max and nearest-rank percentiles of a sample.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            n,
            median,
            min: v[0],
            max: v[n - 1],
            mean: v.iter().sum::<f64>() / n as f64,
        }
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of an unsorted sample.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// One line of progress on stderr, with the time since the bench started.
pub fn progress(msg: impl AsRef<str>) {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    let s = start.elapsed().as_secs();
    eprintln!("[bench {:02}:{:02}] {}", s / 60, s % 60, msg.as_ref());
}
