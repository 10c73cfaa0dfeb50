//! Chaos: waves of NodeMaintenances run while the controller is SIGKILLed and kube-apiserver and etcd are
//! crashed and restarted at random moments. Every maintenance must still reach Completed, every node must end
//! exactly as it started, and the audit-log safety checks must hold.
//!
//! The run must also have exercised what it claims: each wave drains the node with the most pods of a
//! Deployment whose PDB lets 5 of its 10 pods go at a time, a fault lands while the wave's drains run, and the
//! run ends with at least as many evictions and faults of each kind as that design guarantees (asserted).
//! Between waves the faults pause until the PDB has room again, so every wave can drain.
//!
//! It restarts the shared control plane, so it runs alone: e2e/run.sh runs it after the other tests. The fault
//! schedule comes from a seed, printed (and written to .cache/logs/chaos.txt); rerun one with
//! `CHAOS_SEED=<seed> e2e/run.sh chaos`. Sizes: CHAOS_WAVES (default 8) waves of 3 maintenances.
use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    path::PathBuf,
    time::{Duration, Instant},
};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    audit::Expect,
    controller::{Drydock, drydock_annotations, taints, unschedulable},
    person::kubectl_ok,
    wait_until,
    workloads::on_node,
};
use kube::api::{ListParams, PostParams};
use serde_json::json;
use tokio::sync::watch;

const NODES: usize = 6;
const PER_WAVE: usize = 3;
/// The Deployment drained in every wave, and its PDB: 5 of its pods may be away at a time. A tighter budget
/// stalls for minutes under faults: a replacement the scheduler shelved while every node was cordoned, or an
/// eviction charged to the budget but cut short by an etcd restart, counts against it.
const REPLICAS: i32 = 10;
const MIN_AVAILABLE: i32 = 5;
/// Every bag of faults holds one of each kind and a second controller kill, shuffled.
const BAG: [Fault; 4] = [Fault::Kill, Fault::Kill, Fault::Apiserver, Fault::Etcd];

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

#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill,
    Apiserver,
    Etcd,
}

#[derive(Debug, Default)]
struct Faults {
    controller_kills: usize,
    apiserver_restarts: usize,
    etcd_restarts: usize,
}

/// Injects a fault every 2–6 s while `active`, and one 0.2–1.5 s after each wave begins (while its drains run),
/// until told to stop; kinds come from shuffled [`BAG`]s. Returns what it did and the controller it left running
/// (the maintenances still open finish under it).
async fn inject(
    env_args: (String, Vec<String>),
    seed: u64,
    mut waves: watch::Receiver<usize>,
    mut active: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> (Faults, Drydock) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let (env_id, args) = env_args;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut n = 0;
    let start = |n: u32| Drydock::start_for(&env_id, n, &args, None);
    let mut drydock = start(n);
    let mut faults = Faults::default();
    let mut bag = Vec::new();
    loop {
        if !*active.borrow_and_update() {
            tokio::select! {
                _ = active.changed() => continue,
                _ = stop.changed() => break,
            }
        }
        let pause = Duration::from_millis(rng.u64(2000..6000));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = waves.changed() => tokio::time::sleep(Duration::from_millis(rng.u64(200..1500))).await,
            _ = stop.changed() => break,
        }
        if bag.is_empty() {
            bag = BAG.to_vec();
            rng.shuffle(&mut bag);
        }
        match bag.pop().expect("a fault") {
            Fault::Kill => {
                drydock.kill();
                faults.controller_kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.u64(0..3000))).await;
                n += 1;
                drydock = start(n);
            }
            Fault::Apiserver => {
                restart("kube-apiserver", rng.u64(0..2)).await;
                faults.apiserver_restarts += 1;
            }
            Fault::Etcd => {
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

/// True once none of `nodes` carries a taint of the node-lifecycle controller (its health taints, not the one that
/// mirrors a cordon).
async fn free_of_health_taints(env: &TestEnv, nodes: &[String]) -> bool {
    let api = kube::Api::<k8s_openapi::api::core::v1::Node>::all(env.client.clone());
    for n in nodes {
        let node = retry("get node", || api.get(n)).await;
        if taints(&node).iter().any(|t| t.starts_with("node.kubernetes.io/")) {
            return false;
        }
    }
    true
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
    env.deployment("web", REPLICAS, placement, json!({})).await;
    env.wait_ready_pods("web", REPLICAS as usize).await;
    env.pdb("web", "web", MIN_AVAILABLE).await;
    env.pdb_settled("web", REPLICAS - MIN_AVAILABLE).await;
    let before = node_states(&env, &nodes).await;

    let args = vec![
        "--leader-elect=false".to_string(),
        "--max-concurrent-maintenances".to_string(),
        PER_WAVE.to_string(),
    ];
    let (stop_tx, stop_rx) = watch::channel(false);
    let (wave_tx, wave_rx) = watch::channel(0);
    let (active_tx, active_rx) = watch::channel(false);
    let injector = tokio::spawn(inject((env.id.clone(), args), seed, wave_rx, active_rx, stop_rx));
    let started = Instant::now();

    let bounded = tokio::time::timeout(Duration::from_secs(900), async {
        let mut names = Vec::new();
        let mut maintained = BTreeSet::new();
        let mut stalled = Duration::ZERO;
        for wave in 0..waves {
            // Between waves the faults pause, so the cluster (scheduler, kwok's watches) can settle.
            let _ = active_tx.send(false);
            stalled += pdb_room(&env).await;
            let _ = active_tx.send(true);
            // The node with the most web pods first (10 pods on at most 4 schedulable nodes: at least 3), so
            // every wave drains under the PDB; two more at random.
            let busiest = busiest_node(&env, &nodes, &mut rng).await;
            let mut rest: Vec<String> = nodes.iter().filter(|n| **n != busiest).cloned().collect();
            rng.shuffle(&mut rest);
            let mut this_wave = Vec::new();
            for node in std::iter::once(busiest).chain(rest).take(PER_WAVE) {
                maintained.insert(node.clone());
                let short = format!("w{wave}-{}", node.rsplit('-').next().unwrap_or("n"));
                let mut spec = json!({"nodeName": node, "window": {"duration": format!("{}s", rng.u32(8..16))}});
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
            let _ = wave_tx.send(wave + 1);
            for short in &this_wave {
                env.wait_nm(short, Phase::Completed, |_| true).await;
            }
            names.extend(this_wave);
        }
        (names, maintained, stalled)
    })
    .await;
    let _ = stop_tx.send(true);
    let (faults, _drydock) = injector.await.expect("fault injector");
    let (names, maintained, stalled) = bounded.expect("the chaos run ends within 15 minutes");
    let wall = started.elapsed();
    // Lower bounds: an eviction per wave at least (its busiest node has 3 pods or more and the PDB lets 5 go);
    // a hold and a restore for each maintenance whose status says it held its node (one whose window closed
    // while the controller could not reach the API server never touched it), and those nodes restored.
    let (api, mine) = (
        env.nms(),
        ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id)),
    );
    let held: Vec<NodeMaintenance> = retry("list NodeMaintenances", || api.list(&mine))
        .await
        .items
        .into_iter()
        .filter(|nm| nm.status.as_ref().is_some_and(|s| s.started_at.is_some()))
        .collect();
    let restored: BTreeSet<String> = held.iter().map(|nm| nm.spec.node_name.clone()).collect();
    assert!(restored.is_subset(&maintained));
    env.expect_audit(Expect {
        evictions: waves,
        node_writes: 2 * held.len(),
        restored: restored.into_iter().collect(),
        ..Expect::default()
    });

    // The node-lifecycle controller taints a node unreachable when its lease went stale while the API server was
    // down more than up (kwok could not renew it); that taint is the cluster's, not drydock's, and goes once kwok's
    // heartbeats land again. Compare once it has gone.
    let settling = Instant::now();
    wait_until(
        "the node-lifecycle controller to lift its taints after the faults",
        Duration::from_secs(180),
        || free_of_health_taints(&env, &nodes),
    )
    .await;
    let settled = settling.elapsed();
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
         {} of them held their node; audit: {} evictions, {} pod deletes, {} node writes, {} node condition writes by drydock \
         checked; \
         violations: {}\nwall time: {:.0} s, of which {:.0} s waiting for the PDB to have room again; node health taints gone {:.0} s \
         after the faults stopped\n\
         figures: seed={seed} maintenances={} evictions={} kills={} apiserver={} etcd={} violations={} wall_s={:.0}",
        names.len(),
        faults.controller_kills,
        faults.apiserver_restarts,
        faults.etcd_restarts,
        held.len(),
        audit.evictions,
        audit.pod_deletes,
        audit.node_writes,
        audit.condition_writes,
        audit.violations.len(),
        wall.as_secs_f64(),
        stalled.as_secs_f64(),
        settled.as_secs_f64(),
        names.len(),
        audit.evictions,
        faults.controller_kills,
        faults.apiserver_restarts,
        faults.etcd_restarts,
        audit.violations.len(),
        wall.as_secs_f64(),
    );
    println!("{summary}");
    let _ = std::fs::write(root().join(".cache/logs/chaos.txt"), format!("{summary}\n"));
    assert!(audit.violations.is_empty(), "{}", audit.violations.join("\n"));
    assert_eq!(names.len(), waves * PER_WAVE);
    // At least one fault per wave (plus those every 2-6 s), so at least waves/4 full bags.
    let bags = waves / BAG.len();
    assert!(
        faults.controller_kills >= 2 * bags && faults.apiserver_restarts >= bags && faults.etcd_restarts >= bags,
        "the run did not exercise enough faults (want at least {} controller kills, {bags} kube-apiserver and \
         {bags} etcd restarts): {faults:?}",
        2 * bags
    );
    assert!(
        audit.evictions >= waves,
        "{} evictions in {waves} waves: the drains did not happen under the faults",
        audit.evictions
    );
}

/// Waits until the web PDB allows a disruption; returns how long that took. An eviction that the API server
/// charged to the budget but failed to carry out (a 504 while etcd restarts) keeps that pod counted as disrupted
/// for two minutes: a wave started then could not evict anything.
async fn pdb_room(env: &TestEnv) -> Duration {
    let api = kube::Api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>::namespaced(env.client.clone(), env.ns());
    let start = Instant::now();
    loop {
        let pdb = retry("get the PDB", || api.get("web")).await;
        let room = pdb
            .status
            .as_ref()
            .is_some_and(|s| s.observed_generation == pdb.metadata.generation && s.disruptions_allowed >= 1);
        if room {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the PDB had no room for 5 minutes: {:?}",
            pdb.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The environment node with the most live web pods (ties broken by the seed).
async fn busiest_node(env: &TestEnv, nodes: &[String], rng: &mut fastrand::Rng) -> String {
    let api = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(env.client.clone(), env.ns());
    let lp = ListParams::default().labels("app=web");
    let pods = retry("list web pods", || api.list(&lp)).await;
    let mut shuffled = nodes.to_vec();
    rng.shuffle(&mut shuffled);
    shuffled
        .into_iter()
        .max_by_key(|n| {
            pods.items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && on_node(p, n))
                .count()
        })
        .expect("nodes")
}
