//! `make bench`: drydock against `kubectl drain` and the Go drain helper (godrain) on the local control plane. Prints a Markdown table and writes
//! every measurement as JSON (target/bench/results.json). Knobs: see `bench::Config` (BENCH_* variables or
//! --flags); e.g. `BENCH_PAIRS=2 BENCH_SIZES=100 BENCH_ONLY=drain,reaction make bench` for a quick run.
#[path = "../bench/mod.rs"]
mod bench;

use std::process::ExitCode;

use bench::{Config, Mark, infra, progress, report};

#[tokio::main]
async fn main() -> ExitCode {
    let cfg = match Config::from_env_and_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &cfg.report {
        return match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<report::Results>(&b).map_err(|e| e.to_string()))
        {
            Ok(mut results) => {
                results.evaluate_targets();
                println!("{}", results.markdown());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bench: cannot read {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let godrain = cfg.runs("drain") && cfg.drainers.iter().any(|d| d.starts_with("go-drain"));
    for (what, p, needed) in [
        ("drydock", &cfg.drydock_bin, true),
        ("kubectl", &cfg.kubectl, true),
        ("godrain", &cfg.godrain, godrain),
    ] {
        if needed && !p.exists() {
            eprintln!(
                "bench: no {what} at {} (make bench builds drydock and godrain and starts the cluster)",
                p.display()
            );
            return ExitCode::from(2);
        }
    }
    match run(&cfg).await {
        Ok(results) => {
            println!("{}", results.markdown());
            eprintln!("results: {}", cfg.out.display());
            if results.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: &Config) -> bench::Result<report::Results> {
    let start = Mark::now();
    progress(format!("config: {cfg:?}"));
    let client = drydock_e2e::client(true).await;
    infra::delete_leftovers(&client).await?;
    let ids = infra::Identities::create(
        &client,
        cfg,
        &["drydock", "kubectl", bench::drain::godrain::IDENTITY, "raw"],
    )
    .await?;
    let mut results = report::Results {
        started: start.wall.round(jiff::Unit::Second)?.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: report::Machine::probe(cfg),
        config: serde_json::json!({
            "pairs": cfg.pairs, "sizes": cfg.sizes, "drainers": cfg.drainers,
            "kubectl_max_pods": cfg.kubectl_max_pods, "raw_concurrency": cfg.raw_concurrency, "raw_per_pdb": cfg.raw_per_pdb,
            "reaction": cfg.reaction, "fleet_nodes": cfg.fleet_nodes, "fleet_pods": cfg.fleet_pods,
            "fleet_max_unavailable": cfg.fleet_max_unavailable, "scale_nodes": cfg.scale_nodes,
            "scale_pods": cfg.scale_pods, "scale_reaction": cfg.scale_reaction, "scale_drain_pods": cfg.scale_drain_pods,
            "idle_seconds": cfg.idle_seconds, "only": cfg.only,
        }),
        ..Default::default()
    };
    results.machine.kube_apiserver = client
        .apiserver_version()
        .await
        .map(|v| format!("kube-apiserver {}", v.git_version))
        .unwrap_or_default();
    // Cheapest first, the 20,000-pod cluster last; a failed section is reported and the others still run.
    if cfg.runs("reaction") {
        progress("== reaction latency");
        match bench::reaction::run(cfg, &ids).await {
            Ok(r) => results.reaction = Some(r),
            Err(e) => results.errors.push(format!("reaction: {e}")),
        }
        write(cfg, &results)?;
    }
    if cfg.runs("drain") {
        progress("== drain time, requests per evicted pod, eviction limit");
        match bench::drain::run(cfg, &ids).await {
            Ok(r) => results.drain = Some(r),
            Err(e) => results.errors.push(format!("drain: {e}")),
        }
        write(cfg, &results)?;
    }
    if cfg.runs("fleet") {
        progress("== fleet");
        match bench::fleet::run(cfg, &ids).await {
            Ok(r) => results.fleet = Some(r),
            Err(e) => results.errors.push(format!("fleet: {e}")),
        }
        write(cfg, &results)?;
    }
    if cfg.runs("footprint") {
        progress("== controller footprint");
        match bench::footprint::run(cfg, &ids).await {
            Ok(r) => results.footprint = Some(r),
            Err(e) => results.errors.push(format!("footprint: {e}")),
        }
    }
    results.seconds = start.elapsed();
    results.machine.loadavg_end = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string();
    results.evaluate_targets();
    write(cfg, &results)?;
    infra::delete_identities(&client).await;
    Ok(results)
}

/// Writes what there is so far (a long run that dies late still leaves its numbers), JSON and Markdown.
fn write(cfg: &Config, results: &report::Results) -> bench::Result<()> {
    if let Some(dir) = cfg.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cfg.out, serde_json::to_vec_pretty(results)?)?;
    std::fs::write(cfg.out.with_extension("md"), results.markdown())?;
    Ok(())
}
