//! Chaos: waves of NodeMaintenances run while the controller is SIGKILLed and kube-apiserver and etcd are
//! crashed and restarted at random moments. Every maintenance must still reach Completed, every node must end
//! exactly as it started, and the audit-log safety checks must hold.
//!
//! It restarts the shared control plane, so it runs alone: e2e/run.sh runs it after the other tests. The fault
//! schedule comes from a seed, printed (and written to .cache/logs/chaos.txt); rerun one with
//! `CHAOS_SEED=<seed> e2e/run.sh chaos`. Sizes: CHAOS_WAVES (default 8) waves of 3 maintenances.
use std::{collections::BTreeMap, future::Future, path::PathBuf, time::Duration};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    controller::{Drydock, drydock_annotations, taints, unschedulable},
    person::kubectl_ok,
};
use kube::api::PostParams;
use serde_json::json;
use tokio::sync::watch;

const NODES: usize = 6;
const PER_WAVE: usize = 3;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Retries `f` through API server restarts (up to a minute).
async fn retry<T, E: std::fmt::Debug, Fut: Future<Output = Result<T, E>>>(what: &str, f: impl Fn() -> Fut) -> T {
    let mut last = None;
    for _ in 0..120 {
        match f().await {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what} kept failing through a minute of retries: {last:?}");
}

#[derive(Debug, Default)]
struct Faults {
    controller_kills: u32,
    apiserver_restarts: u32,
    etcd_restarts: u32,
}

/// Injects a fault every 2–6 s until told to stop; returns what it did and the controller it left running (the
/// maintenances still open finish under it).
async fn inject(env_args: (String, Vec<String>), seed: u64, mut stop: watch::Receiver<bool>) -> (Faults, Drydock) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let (env_id, args) = env_args;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut n = 0;
    let start = |n: u32| Drydock::start_for(&env_id, n, &args, None);
    let mut drydock = start(n);
    let mut faults = Faults::default();
    loop {
        let pause = Duration::from_millis(rng.u64(2000..6000));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => break,
        }
        match rng.u8(0..10) {
            0..5 => {
                drydock.kill();
                faults.controller_kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.u64(0..3000))).await;
                n += 1;
                drydock = start(n);
            }
            5..8 => {
                restart("kube-apiserver", rng.u64(0..2)).await;
                faults.apiserver_restarts += 1;
            }
            _ => {
                restart("etcd", rng.u64(0..2)).await;
                faults.etcd_restarts += 1;
            }
        }
    }
    (faults, drydock)
}

async fn restart(component: &str, down_for: u64) {
    let (component, down) = (component.to_string(), down_for.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(root().join("e2e/cluster/restart.sh"))
            .args([&component, &down])
            .output()
    })
    .await
    .expect("join")
    .expect("run restart.sh");
    assert!(
        out.status.success(),
        "restart.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a person would compare before and after: cordoned or not, the taints, no drydock annotation left.
async fn node_states(env: &TestEnv, nodes: &[String]) -> BTreeMap<String, (bool, Vec<String>, Vec<String>)> {
    let api = kube::Api::<k8s_openapi::api::core::v1::Node>::all(env.client.clone());
    let mut states = BTreeMap::new();
    for n in nodes {
        let node = retry("get node", || api.get(n)).await;
        states.insert(
            n.clone(),
            (unschedulable(&node), taints(&node), drydock_annotations(&node)),
        );
    }
    states
}

#[tokio::test]
async fn maintenances_survive_chaos() {
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let waves: usize = std::env::var("CHAOS_WAVES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let banner = format!("chaos seed {seed} ({waves} waves); rerun with CHAOS_SEED={seed} e2e/run.sh chaos");
    println!("{banner}");
    let _ = std::fs::write(root().join(".cache/logs/chaos.txt"), format!("{banner}\n"));
    let mut rng = fastrand::Rng::with_seed(seed);

    let mut env = TestEnv::new("chaos").await;
    // Nodes that start in different states: plain, cordoned by someone, with someone's taint, both.
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let spec = if i % 3 == 2 {
            json!({"spec": {"unschedulable": true}})
        } else {
            json!({})
        };
        let name = env.node_with(&format!("n{i}"), spec).await;
        if i % 2 == 1 {
            kubectl_ok(&["taint", "node", &name, "team=db:NoSchedule"]);
        }
        nodes.push(name);
    }
    let tolerate_team = json!({"key": "team", "operator": "Exists", "effect": "NoSchedule"});
    let mut placement = env.placement();
    placement["tolerations"]
        .as_array_mut()
        .expect("tolerations")
        .push(tolerate_team);
    env.deployment("web", 10, placement, json!({})).await;
    env.wait_ready_pods("web", 10).await;
    env.pdb("web", "web", 7).await;
    let before = node_states(&env, &nodes).await;

    let args = vec![
        "--leader-elect=false".to_string(),
        "--max-concurrent-maintenances".to_string(),
        PER_WAVE.to_string(),
    ];
    let (stop_tx, stop_rx) = watch::channel(false);
    let injector = tokio::spawn(inject((env.id.clone(), args), seed, stop_rx));

    let bounded = tokio::time::timeout(Duration::from_secs(600), async {
        let mut names = Vec::new();
        for wave in 0..waves {
            let mut pool = nodes.clone();
            rng.shuffle(&mut pool);
            let mut this_wave = Vec::new();
            for node in pool.into_iter().take(PER_WAVE) {
                let short = format!("w{wave}-{}", node.rsplit('-').next().unwrap_or("n"));
                let mut spec = json!({"nodeName": node, "window": {"duration": format!("{}s", rng.u32(6..14))}});
                if rng.bool() {
                    let effect = if rng.u8(0..4) == 0 { "NoExecute" } else { "NoSchedule" };
                    spec["taints"] = json!([{"key": "chaos", "value": "x", "effect": effect}]);
                }
                let nm: NodeMaintenance = serde_json::from_value(json!({
                    "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
                    "metadata": {"name": env.nm_name(&short), "labels": {ENV_LABEL: env.id}},
                    "spec": spec
                }))
                .expect("nodemaintenance json");
                // A create whose answer was lost in a restart comes back 409 on the retry: it exists, done.
                let (api, pp) = (env.nms(), PostParams::default());
                retry("create NodeMaintenance", || async {
                    match api.create(&pp, &nm).await {
                        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                        other => other.map(|_| ()),
                    }
                })
                .await;
                this_wave.push(short);
            }
            for short in &this_wave {
                env.wait_nm(short, Phase::Completed, |_| true).await;
            }
            names.extend(this_wave);
        }
        names
    })
    .await;
    let _ = stop_tx.send(true);
    let (faults, _drydock) = injector.await.expect("fault injector");
    let names = bounded.expect("the chaos run ends within 10 minutes");

    let after = node_states(&env, &nodes).await;
    for n in &nodes {
        assert_eq!(
            after[n], before[n],
            "node {n} ends as it started (cordoned, taints, annotations)"
        );
    }
    let audit = env.audit();
    let summary = format!(
        "{banner}\nmaintenances completed: {}\nfaults: {} controller SIGKILLs, {} kube-apiserver restarts, {} etcd restarts\n\
         audit: {} evictions, {} pod deletes, {} node writes by drydock checked; violations: {}",
        names.len(),
        faults.controller_kills,
        faults.apiserver_restarts,
        faults.etcd_restarts,
        audit.evictions,
        audit.pod_deletes,
        audit.node_writes,
        audit.violations.len()
    );
    println!("{summary}");
    let _ = std::fs::write(root().join(".cache/logs/chaos.txt"), format!("{summary}\n"));
    assert!(audit.violations.is_empty(), "{}", audit.violations.join("\n"));
    assert_eq!(names.len(), waves * PER_WAVE);
}
