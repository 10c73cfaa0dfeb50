//! The results: JSON (everything, per run) and a Markdown table (the summary a README can carry).
use std::{collections::BTreeSet, fmt::Write};

use serde::{Deserialize, Serialize};

use super::{
    Config,
    drain::{DrainResults, PerPod},
    fleet::FleetResults,
    footprint::FootprintResults,
    reaction::ReactionResults,
};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub ram_gib: f64,
    pub kernel: String,
    pub kube_apiserver: String,
    pub kubectl: String,
    /// /proc/loadavg when the bench started and ended: other work on the machine shows here.
    pub loadavg_start: String,
    pub loadavg_end: String,
}

impl Machine {
    pub fn probe(cfg: &Config) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let ram_kib: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        let run = |cmd: &std::path::Path, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        let kubectl_version = run(&cfg.kubectl, &["version", "--client"]);
        Self {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            ram_gib: ram_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            kube_apiserver: String::new(),
            kubectl: kubectl_version.lines().next().unwrap_or("").to_string(),
            loadavg_start: read("/proc/loadavg").trim().to_string(),
            loadavg_end: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub what: String,
    pub goal: String,
    pub measured: String,
    pub met: Option<bool>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Results {
    pub started: String,
    pub seconds: f64,
    pub command: String,
    pub machine: Machine,
    pub config: serde_json::Value,
    pub drain: Option<DrainResults>,
    pub reaction: Option<ReactionResults>,
    pub fleet: Option<FleetResults>,
    pub footprint: Option<FootprintResults>,
    pub targets: Vec<Target>,
    /// Sections that failed, with the error.
    pub errors: Vec<String>,
}

impl Results {
    pub fn evaluate_targets(&mut self) {
        let mut t = Vec::new();
        // Against kubectl at the biggest size it drained (it is left out above BENCH_KUBECTL_MAX_PODS).
        if let Some(d) = &self.drain
            && let Some((s, k)) = d
                .sizes
                .iter()
                .filter_map(|s| Some((s, s.rival("kubectl")?)))
                .max_by_key(|(s, _)| s.pods)
        {
            // A drain that never finishes is not fast: the target is missed if any did not.
            let unfinished = match s.drydock_incomplete {
                0 => String::new(),
                n => format!("; {n} of {} drydock drains never finished", s.drydock_s.n + n),
            };
            t.push(Target {
                what: format!("drain time drydock / kubectl at N = {}", s.pods),
                goal: "≤ 0.8".into(),
                measured: format!(
                    "{:.3} (median of {} finished pairs{unfinished})",
                    k.ratio.median, k.ratio.n
                ),
                met: Some(k.ratio.median <= 0.8 && s.drydock_incomplete == 0),
            });
        }
        // At N = 1000, or the size nearest to it.
        if let Some(d) = &self.drain
            && let Some(s) = d.sizes.iter().min_by_key(|s| s.pods.abs_diff(1000))
        {
            let verbs = |p: &PerPod| {
                p.by_verb
                    .iter()
                    .filter(|(_, v)| **v >= 0.005)
                    .map(|(k, v)| format!("{k} {v:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match &s.drydock_per_pod {
                Some(p) => t.push(Target {
                    what: format!("drydock's API requests per evicted pod (N = {})", s.pods),
                    goal: "≤ 1.10".into(),
                    measured: format!("{:.2} ({})", p.total, verbs(p)),
                    met: Some(p.total <= 1.10),
                }),
                None => t.push(Target {
                    what: "drydock's API requests per evicted pod".into(),
                    goal: "≤ 1.10".into(),
                    measured: "not measured: the audit log has no drydock-bench requests".into(),
                    met: None,
                }),
            }
        }
        if let Some(l) = self.drain.as_ref().and_then(|d| d.limit.as_ref()) {
            let (measured, met) = match (l.drydock_fraction, l.drydock_eviction_rate) {
                (Some(f), Some(r)) => (
                    format!(
                        "{:.0}% of the raw client on the same pods and PDBs ({:.0}/s); {:.0}% of the rate without PDBs ({:.0}/s)",
                        f * 100.0,
                        l.raw_rate,
                        r / l.raw_rate_without_pdbs.unwrap_or(f64::NAN) * 100.0,
                        l.raw_rate_without_pdbs.unwrap_or(f64::NAN)
                    ),
                    Some(f >= 0.7),
                ),
                _ => ("not measured (audit log)".into(), None),
            };
            t.push(Target {
                what: "drydock's eviction rate / raw eviction limit".into(),
                goal: "≥ 70%".into(),
                measured,
                met,
            });
        }
        if let Some(f) = &self.footprint
            && let Some(s) = f.sizes.last()
        {
            t.push(Target {
                what: format!(
                    "controller idle RSS at {} nodes / {} pods",
                    s.cluster_nodes, s.cluster_pods
                ),
                goal: "< 40 MiB".into(),
                measured: format!(
                    "{:.1} MiB (peak while draining {} pods: {:.1} MiB; CPU {:.2} s per idle minute)",
                    s.idle.rss_median_mib, s.drain_pods, s.peak_mib, s.idle_cpu_s_per_min
                ),
                met: Some(s.idle.rss_median_mib < 40.0),
            });
            if let Some(r) = &s.reaction {
                t.push(Target {
                    what: format!(
                        "reaction p99 at {} nodes / {} pods, over {} objects",
                        s.cluster_nodes, s.cluster_pods, r.objects
                    ),
                    goal: "< 50 ms".into(),
                    measured: format!("{:.1} ms (p50 {:.1} ms)", r.p99_ms, r.p50_ms),
                    met: Some(r.p99_ms < 50.0),
                });
            }
        }
        if let Some(r) = &self.reaction {
            t.push(Target {
                what: format!("reaction p99 over {} objects (a small cluster)", r.objects),
                goal: "< 50 ms".into(),
                measured: format!("{:.1} ms", r.p99_ms),
                met: Some(r.p99_ms < 50.0),
            });
        }
        self.targets = t;
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(
            o,
            "Run {} ({:.0} min) on {} × {}, {:.0} GiB RAM, Linux {}; {}; kubectl {}. Load average at start {}, at end {}.\n",
            self.started,
            self.seconds / 60.0,
            m.nproc,
            m.cpu,
            m.ram_gib,
            m.kernel,
            m.kube_apiserver,
            m.kubectl.trim_start_matches("Client Version: "),
            m.loadavg_start.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            m.loadavg_end.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        );
        if let Some(d) = &self.drain {
            drain_tables(&mut o, d);
        }
        if let Some(f) = &self.footprint {
            let _ = writeln!(
                o,
                "**4. Controller footprint** (a fresh `drydock run` per size; startup = its first 10 s, idle = the next {:.0} s, drain = one node of {} pods, NodeMaintenance created → Drained)\n",
                f.sizes.first().map_or(0.0, |s| s.idle.seconds),
                f.sizes.first().map_or(0, |s| s.drain_pods)
            );
            let _ = writeln!(
                o,
                "| cluster nodes / pods | startup: RSS max, CPU | idle: RSS, CPU | reaction p50, p99 | drain: time, RSS max, CPU | peak RSS (VmHWM) |\n|---|---|---|---|---|---|"
            );
            for s in &f.sizes {
                let reaction = s
                    .reaction
                    .as_ref()
                    .map_or("–".into(), |r| format!("{:.1} ms, {:.1} ms", r.p50_ms, r.p99_ms));
                let _ = writeln!(
                    o,
                    "| {} / {} | {:.1} MiB, {:.2} s | {:.1} MiB, {:.2} s/min | {reaction} | {:.2} s, {:.1} MiB, {:.2} s | {:.1} MiB |",
                    s.cluster_nodes,
                    s.cluster_pods,
                    s.startup.rss_max_mib,
                    s.startup.cpu_s,
                    s.idle.rss_median_mib,
                    s.idle_cpu_s_per_min,
                    s.drain.seconds,
                    s.drain.rss_max_mib,
                    s.drain.cpu_s,
                    s.peak_mib
                );
            }
            o.push('\n');
            for s in &f.sizes {
                if let Some(r) = s.reaction.as_ref().filter(|r| !r.steps_p99_ms.is_empty()) {
                    let _ = writeln!(
                        o,
                        "- reaction steps at {} / {}, p99 (audit log): {}.",
                        s.cluster_nodes,
                        s.cluster_pods,
                        steps(&r.steps_p99_ms)
                    );
                }
            }
            o.push('\n');
            growth_table(&mut o, f);
        }
        if let Some(r) = &self.reaction {
            let _ = writeln!(
                o,
                "**5. Reaction latency**, NodeMaintenance created → node cordoned (our watch), {} objects one at a time\n",
                r.objects
            );
            let _ = writeln!(
                o,
                "| p50 | p99 | max | mean |\n|---|---|---|---|\n| {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |\n",
                r.p50_ms, r.p99_ms, r.max_ms, r.mean_ms
            );
            if !r.steps_median_ms.is_empty() {
                let _ = writeln!(o, "Medians of the steps (audit log): {}.", steps(&r.steps_median_ms));
                let _ = writeln!(o, "Their p99: {}.\n", steps(&r.steps_p99_ms));
            }
        }
        if let Some(f) = &self.fleet {
            let _ = writeln!(
                o,
                "**6. Fleet**: a MaintenanceSchedule over {} nodes of {} pods, maxUnavailable {} (each maintenance: cordon, drain, restore)\n",
                f.nodes, f.pods_per_node, f.max_unavailable
            );
            let _ = writeln!(
                o,
                "| total | ideal: lone drains ({} × median {:.2} s / {}) | total / ideal | ideal: the rollout's own drains (sum / {}) | total / ideal | hand-over p50, p99 (max) | most at once | failed |\n|---|---|---|---|---|---|---|---|",
                f.nodes, f.lone_s.median, f.max_unavailable, f.max_unavailable
            );
            let _ = writeln!(
                o,
                "| {:.1} s | {:.1} s | {:.2} | {:.1} s | {:.2} | {:.2} s, {:.2} s ({:.2} s) | {} | {} |\n",
                f.total_s,
                f.ideal_lone_s,
                f.ratio_to_ideal_lone,
                f.ideal_in_fleet_s,
                f.ratio_to_ideal_in_fleet,
                f.handover_s.median,
                f.handover_p99_s,
                f.handover_s.max,
                f.max_in_progress,
                f.failed
            );
        }
        if !self.targets.is_empty() {
            let _ = writeln!(
                o,
                "**Targets**\n\n| target | goal | measured | met |\n|---|---|---|---|"
            );
            for t in &self.targets {
                let met = match t.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "?",
                };
                let _ = writeln!(o, "| {} | {} | {} | {} |", t.what, t.goal, t.measured, met);
            }
            o.push('\n');
        }
        for e in &self.errors {
            let _ = writeln!(o, "**Error**: {e}\n");
        }
        o
    }
}

/// How a drainer is named in the tables.
fn label(drainer: &str) -> String {
    match drainer {
        "kubectl" => "kubectl drain".into(),
        d => d.replacen("go-drain-", "go-drain ", 1),
    }
}

/// How each footprint figure grows: per 1,000 nodes (pods fixed) and per 10,000 pods (nodes fixed).
fn growth_table(o: &mut String, f: &FootprintResults) {
    let cell = |s: &Option<super::footprint::Slope>, scale: f64, unit: &str| {
        s.as_ref().map_or("–".into(), |s| {
            format!("{:+.2} {unit} (from {} sizes)", s.per * scale, s.sizes)
        })
    };
    let _ = writeln!(
        o,
        "| grows by | idle RSS | idle CPU | reaction p99 |\n|---|---|---|---|"
    );
    for (what, g, scale) in [
        ("per 1,000 nodes", &f.per_node, 1000.0),
        ("per 10,000 pods", &f.per_1k_pods, 10.0),
    ] {
        let _ = writeln!(
            o,
            "| {what} | {} | {} | {} |",
            cell(&g.idle_rss_mib, scale, "MiB"),
            cell(&g.idle_cpu_s_per_min, scale, "s/min"),
            cell(&g.reaction_p99_ms, scale, "ms")
        );
    }
    if let Some(x) = f.extrapolated_idle_rss_mib_at_5000x150000 {
        let _ = writeln!(
            o,
            "\nIdle RSS at 5,000 nodes and 150,000 pods (the published limit of a cluster), from these slopes: {x:.1} MiB."
        );
    }
    o.push('\n');
}

fn drain_tables(o: &mut String, d: &DrainResults) {
    let pairs = d.runs.iter().map(|r| r.pair).max().unwrap_or(0);
    // Every rival that ran or was left out at some size, in the order they run.
    let mut rivals: Vec<String> = vec![];
    let names = d
        .runs
        .iter()
        .map(|r| r.drainer.clone())
        .chain(d.sizes.iter().flat_map(|s| {
            s.rivals
                .iter()
                .map(|r| r.drainer.clone())
                .chain(s.skipped.keys().cloned())
        }));
    for name in names {
        if name != "drydock" && !rivals.contains(&name) {
            rivals.push(name);
        }
    }
    rivals.sort_by_key(|r| super::RIVALS.iter().position(|x| x == r).unwrap_or(super::RIVALS.len()));
    let _ = writeln!(
        o,
        "**1. Drain time**, one node with N Deployment pods (4 Deployments, 2 with a PDB), drydock (NodeMaintenance created → Drained) and each rival (process start → exit) on an identical sibling node: `kubectl drain --ignore-daemonsets --delete-emptydir-data`; go-drain, the Go helper k8s.io/kubectl/pkg/drain set as medik8s's node-maintenance-operator sets it, with controller-runtime's default client limits (qps20: 20 requests/s, burst 30) or none (unthrottled). {pairs} pairs, drydock first, then the rivals in that order; median (min–max), and drydock / rival pair by pair\n"
    );
    let mut head = String::from("| N pods | drydock |");
    for r in &rivals {
        let _ = write!(head, " {} | drydock / {} |", label(r), label(r));
    }
    let _ = writeln!(
        o,
        "{head} did not finish |\n|---|---|{}---|",
        "---|---|".repeat(rivals.len())
    );
    let range = |s: &super::Stats, digits: usize, unit: &str| -> String {
        format!("{:.digits$}{unit} ({:.digits$}–{:.digits$})", s.median, s.min, s.max)
    };
    for s in &d.sizes {
        let mut row = format!("| {} | {} |", s.pods, range(&s.drydock_s, 2, " s"));
        let mut unfinished = vec![];
        if s.drydock_incomplete > 0 {
            unfinished.push(format!("drydock {}", s.drydock_incomplete));
        }
        for r in &rivals {
            match s.rival(r) {
                Some(x) => {
                    let ratio = if x.ratio.n > 0 {
                        range(&x.ratio, 3, "")
                    } else {
                        "—".into()
                    };
                    let secs = if x.seconds.n > 0 {
                        range(&x.seconds, 2, " s")
                    } else {
                        "—".into()
                    };
                    let _ = write!(row, " {secs} | {ratio} |");
                    if x.incomplete > 0 {
                        unfinished.push(format!("{} {}", label(r), x.incomplete));
                    }
                }
                None => row.push_str(" — | — |"),
            }
        }
        let unfinished = if unfinished.is_empty() {
            "none".to_string()
        } else {
            unfinished.join(", ")
        };
        let _ = writeln!(o, "{row} {unfinished} |");
    }
    o.push('\n');
    for s in &d.sizes {
        for (who, why) in &s.skipped {
            let _ = writeln!(o, "- {} at N = {}: {why}", label(who), s.pods);
        }
    }
    for r in d.runs.iter().filter(|r| !r.completed) {
        let _ = writeln!(
            o,
            "- {} N={} pair {}: {}",
            r.drainer,
            r.pods,
            r.pair,
            r.note.as_deref().unwrap_or("")
        );
    }
    if d.runs.iter().any(|r| !r.completed) || d.sizes.iter().any(|s| !s.skipped.is_empty()) {
        o.push('\n');
    }

    let verbs = |pp: &[Option<&PerPod>]| -> Vec<String> {
        let set: BTreeSet<String> = pp.iter().flatten().flat_map(|p| p.by_verb.keys().cloned()).collect();
        set.into_iter().collect()
    };
    // (size, drainer, own per pod, whole cluster per pod) for drydock and every rival with a finished drain.
    let mut rows: Vec<(usize, String, Option<PerPod>, PerPod)> = vec![];
    for s in &d.sizes {
        if s.drydock_s.n > 0 {
            rows.push((
                s.pods,
                "drydock".into(),
                s.drydock_per_pod.clone(),
                s.drydock_cluster_per_pod.clone(),
            ));
        }
        for r in s.rivals.iter().filter(|r| r.seconds.n > 0) {
            rows.push((s.pods, label(&r.drainer), r.per_pod.clone(), r.cluster_per_pod.clone()));
        }
    }
    let own: Vec<Option<&PerPod>> = rows.iter().map(|r| r.2.as_ref()).collect();
    if own.iter().any(Option::is_some) {
        let v = verbs(&own);
        let _ = writeln!(
            o,
            "**2. API requests per evicted pod**, the drainer's own (audit log: each drainer runs as its own ServiceAccount), median over the runs\n"
        );
        let _ = writeln!(o, "| N pods | drainer | total | {} |", v.join(" | "));
        let _ = writeln!(o, "|---|---|---|{}", "---|".repeat(v.len()));
        for (pods, who, p, _) in &rows {
            if let Some(p) = p {
                let cells: Vec<String> = v
                    .iter()
                    .map(|k| format!("{:.2}", p.by_verb.get(k).copied().unwrap_or(0.0)))
                    .collect();
                let _ = writeln!(o, "| {pods} | {who} | {:.2} | {} |", p.total, cells.join(" | "));
            }
        }
        o.push('\n');
    }
    let cluster: Vec<Option<&PerPod>> = rows.iter().map(|r| Some(&r.3)).collect();
    let v = verbs(&cluster);
    let _ = writeln!(
        o,
        "The whole API server per evicted pod over each drain (`apiserver_request_total` before and after: the drainer plus the cluster's reaction — ReplicaSet controller, scheduler, kwok, disruption controller — for the replacement pods), median\n"
    );
    let _ = writeln!(o, "| N pods | drain by | total | {} |", v.join(" | "));
    let _ = writeln!(o, "|---|---|---|{}", "---|".repeat(v.len()));
    for (pods, who, _, p) in &rows {
        let cells: Vec<String> = v
            .iter()
            .map(|k| format!("{:.2}", p.by_verb.get(k).copied().unwrap_or(0.0)))
            .collect();
        let _ = writeln!(o, "| {pods} | {who} | {:.2} | {} |", p.total, cells.join(" | "));
    }
    o.push('\n');

    if let Some(l) = &d.limit {
        let _ = writeln!(
            o,
            "**3. Eviction throughput** at N = {}: a minimal client evicting every pod of the node (cordoned first) as fast as the server accepts, 429s retried after 100 ms\n",
            l.pods
        );
        let _ = writeln!(
            o,
            "| client | order | in flight | PDBs | accepted evictions/s |\n|---|---|---|---|---|"
        );
        for r in &d.raw {
            let _ = writeln!(
                o,
                "| raw | {} | {} | {} | {:.0} ({:.2} s, {} refused: 429 or PDB conflict) |",
                match r.mode {
                    super::drain::RawMode::AllAtOnce => "all at once, random order".to_string(),
                    super::drain::RawMode::PerPdb(k) => format!("a stream per PDB, {k} in flight in each"),
                },
                r.concurrency,
                if r.with_pdbs { "yes" } else { "removed" },
                r.rate,
                r.seconds,
                r.refused
            );
        }
        if let Some(r) = l.drydock_eviction_rate {
            let _ = writeln!(
                o,
                "| drydock, first to last eviction | all at once | 32 (default) | yes | {:.0} = **{:.0}%** of the limit ({:.0}) |",
                r,
                l.drydock_fraction.unwrap_or(0.0) * 100.0,
                l.raw_rate
            );
        }
        let _ = writeln!(
            o,
            "| drydock, whole drain (created → Drained) | all at once | 32 (default) | yes | {:.0} pods/s = {:.0}% of the limit |",
            l.drydock_drain_rate,
            l.drydock_drain_fraction * 100.0
        );
        o.push('\n');
    }

    // Where the time goes, from the timelines (medians of the drains that finished).
    let _ = writeln!(
        o,
        "Where a drain's time goes: median seconds from the start to the node seen cordoned, the drainer's first eviction request, its last accepted eviction, the last pod gone from the API, and the end (drains that finished)\n"
    );
    let _ = writeln!(
        o,
        "| N pods | drainer | cordoned | first eviction | last eviction | last pod gone | done |\n|---|---|---|---|---|---|---|"
    );
    for s in &d.sizes {
        for who in std::iter::once("drydock").chain(rivals.iter().map(String::as_str)) {
            let rs: Vec<_> = d
                .runs
                .iter()
                .filter(|r| r.pods == s.pods && r.drainer == who && r.completed)
                .collect();
            let med = |f: &dyn Fn(&super::drain::DrainRun) -> Option<f64>| -> String {
                let xs: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
                if xs.is_empty() {
                    "–".into()
                } else {
                    format!("{:.2}", super::Stats::of(&xs).median)
                }
            };
            if rs.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.pods,
                label(who),
                med(&|r| r.timeline.cordoned),
                med(&|r| r.timeline.first_eviction),
                med(&|r| r.timeline.last_eviction),
                med(&|r| r.timeline.last_pod_gone),
                med(&|r| Some(r.timeline.done))
            );
        }
    }
    o.push('\n');
}

/// The reaction's steps as one line: "created -> finalizer patch received 3.7 ms; ...".
fn steps(medians_or_p99s: &std::collections::BTreeMap<String, f64>) -> String {
    medians_or_p99s
        .iter()
        .map(|(k, v)| format!("{} {:.1} ms", k.split_once(' ').map_or(k.as_str(), |x| x.1), v))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(median: f64) -> serde_json::Value {
        serde_json::json!({"n": 1, "median": median, "min": median, "max": median, "mean": median})
    }

    /// The JSON of a run from before the rival list (kubectl's figures as fields of their own) still renders.
    #[test]
    fn old_json_renders_kubectl() {
        let per_pod = serde_json::json!({"total": 2.0, "by_verb": {"create": 1.0, "get": 1.0}});
        let old = serde_json::json!({
            "started": "", "seconds": 1.0, "command": "", "machine": Machine::default(), "config": {},
            "drain": {
                "runs": [], "raw": [], "limit": null, "drydock_peak_rss_mib": 1.0,
                "pairs": [{"pods": 100, "pair": 1, "drydock_s": 5.0, "kubectl_s": 20.0, "ratio": 0.25}],
                "sizes": [{
                    "pods": 100, "drydock_incomplete": 0, "kubectl_incomplete": 0,
                    "drydock_s": stats(5.0), "kubectl_s": stats(20.0), "ratio": stats(0.25),
                    "drydock_per_pod": per_pod, "kubectl_per_pod": per_pod,
                    "drydock_cluster_per_pod": per_pod, "kubectl_cluster_per_pod": per_pod,
                    "drydock_eviction_rate": null, "drydock_drain_rate": 20.0, "kubectl_eviction_rate": null
                }]
            },
            "targets": [], "errors": []
        });
        let mut r: Results = serde_json::from_value(old).unwrap();
        let d = r.drain.as_ref().unwrap();
        assert_eq!(d.pairs[0].drainer, "kubectl");
        assert_eq!(d.pairs[0].rival_s, 20.0);
        let k = d.sizes[0].rival("kubectl").unwrap();
        assert_eq!((k.seconds.median, k.ratio.median), (20.0, 0.25));
        r.evaluate_targets();
        assert!(r.targets[0].measured.starts_with("0.250"), "{:?}", r.targets);
        let md = r.markdown();
        assert!(
            md.contains("| 100 | 5.00 s (5.00–5.00) | 20.00 s (20.00–20.00) | 0.250 (0.250–0.250) | none |"),
            "{md}"
        );
        assert!(md.contains("| 100 | kubectl drain | 2.00 | 1.00 | 1.00 |"), "{md}");
        // Written again, the old fields are gone and the rival list holds kubectl.
        let again: serde_json::Value = serde_json::to_value(&r).unwrap();
        let size = &again["drain"]["sizes"][0];
        assert!(size.get("kubectl_s").is_none());
        assert_eq!(size["rivals"][0]["drainer"], "kubectl");
    }

    /// A rival left out at a size shows as a dash and a note; the target is taken where kubectl ran.
    #[test]
    fn skipped_rival_is_a_dash() {
        let rival = |who: &str, secs: f64| super::super::drain::RivalSummary {
            drainer: who.into(),
            seconds: serde_json::from_value(stats(secs)).unwrap(),
            ratio: serde_json::from_value(stats(1.0 / secs)).unwrap(),
            ..Default::default()
        };
        let size = |pods: usize, rivals: Vec<super::super::drain::RivalSummary>, skipped: &[(&str, &str)]| {
            let mut v = serde_json::json!({
                "pods": pods, "drydock_incomplete": 0, "drydock_s": stats(1.0), "drydock_per_pod": null,
                "drydock_cluster_per_pod": {"total": 0.0, "by_verb": {}}, "drydock_eviction_rate": null,
                "drydock_drain_rate": 1.0, "rivals": rivals,
            });
            v["skipped"] = skipped
                .iter()
                .map(|(k, w)| (k.to_string(), serde_json::json!(w)))
                .collect();
            serde_json::from_value(v).unwrap()
        };
        let mut r = Results {
            drain: Some(DrainResults {
                sizes: vec![
                    size(100, vec![rival("kubectl", 4.0), rival("go-drain-qps20", 2.0)], &[]),
                    size(
                        3000,
                        vec![rival("go-drain-qps20", 8.0)],
                        &[("kubectl", "not run above 1000")],
                    ),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        r.evaluate_targets();
        assert_eq!(r.targets[0].what, "drain time drydock / kubectl at N = 100");
        let md = r.markdown();
        assert!(md.contains("| N pods | drydock | kubectl drain | drydock / kubectl drain | go-drain qps20 | drydock / go-drain qps20 | did not finish |"), "{md}");
        assert!(
            md.contains("| 3000 | 1.00 s (1.00–1.00) | — | — | 8.00 s (8.00–8.00) | 0.125 (0.125–0.125) | none |"),
            "{md}"
        );
        assert!(md.contains("- kubectl drain at N = 3000: not run above 1000"), "{md}");
    }
}
