//! The runbook CLI against the real cluster, as a script would use it: output and exit codes.
use std::process::Output;

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{ENV_LABEL, TestEnv, controller::Drydock, controller::unschedulable, kubeconfig_path};
use serde_json::json;

fn drydock(args: &[&str]) -> Output {
    let bin = std::env::var_os("DRYDOCK_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/drydock"));
    std::process::Command::new(bin)
        .args(args)
        .env("KUBECONFIG", kubeconfig_path())
        .output()
        .expect("run drydock")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn preview_names_the_blockers_and_exits_3() {
    let mut env = TestEnv::new("cli-preview").await;
    let a = env.node("a").await;
    let _b = env.node("b").await;
    env.deployment("web", 2, env.placement_on(&a), json!({})).await;
    env.wait_ready_pods("web", 2).await;
    env.pdb("web", "web", 2).await;
    env.pdb_settled("web", 0).await;
    env.bare_pod("debug", &a, json!({})).await;
    env.wait_ready_pods("debug", 1).await;
    let out = drydock(&["preview", &a]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    assert!(t.contains("Pods that declare no controller"), "{t}");
    assert!(
        t.contains(&format!("PDB {}/web allows 0 disruptions now", env.ns())),
        "{t}"
    );
    assert!(t.contains("would not finish"), "{t}");

    // Nothing was changed by the preview.
    assert!(!unschedulable(&env.get_node(&a).await));
    env.set_min_available("web", 0).await;
    env.pdb_settled("web", 2).await;
    let out = drydock(&["preview", &a, "--evict-unmanaged"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("nowhere to go"),
        "pinned to node a by hostname: {}",
        text(&out)
    );
    assert!(
        !text(&out).contains("Pods that declare no controller"),
        "the flag allows the bare pod"
    );
}

#[tokio::test]
async fn hard_anti_affinity_with_no_free_node_cannot_move() {
    let mut env = TestEnv::new("cli-anti").await;
    let a = env.node("a").await;
    let _b = env.node("b").await;
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    env.deployment("spread", 2, env.placement(), anti).await;
    env.wait_ready_pods("spread", 2).await;
    let out = drydock(&["preview", &a]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("nowhere to go"), "{}", text(&out));
}

#[tokio::test]
async fn start_status_end_with_exit_codes() {
    let mut env = TestEnv::new("cli-run").await;
    let a = env.node("a").await;
    let _drydock = Drydock::start(&env, 0);
    let label = format!("{ENV_LABEL}={}", env.id);
    let name = env.nm_name("cli");
    let out = drydock(&[
        "start",
        &a,
        "--reason",
        "kernel",
        "--name",
        &name,
        "--label",
        &label,
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        unschedulable(&env.get_node(&a).await),
        "drained and cordoned when start --wait returns"
    );

    let out = drydock(&["status", &name]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("Phase:     Drained"), "{}", text(&out));
    assert!(drydock(&["list"]).stdout.starts_with(b"NAME"));

    let out = drydock(&["end", &name, "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!unschedulable(&env.get_node(&a).await), "restored");

    let out = drydock(&["status", "no-such-maintenance-xyz"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

#[tokio::test]
async fn start_wait_times_out_on_a_blocked_drain() {
    let mut env = TestEnv::new("cli-timeout").await;
    let a = env.node("a").await;
    env.bare_pod("pet", &a, json!({})).await;
    env.wait_ready_pods("pet", 1).await;
    let _drydock = Drydock::start(&env, 0);
    let label = format!("{ENV_LABEL}={}", env.id);
    let name = env.nm_name("stuck");
    let out = drydock(&[
        "start",
        &a,
        "--reason",
        "r",
        "--name",
        &name,
        "--label",
        &label,
        "--wait",
        "--timeout",
        "4s",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        text(&out).contains("blocked"),
        "progress lines name the blocker: {}",
        text(&out)
    );
    env.wait_nm("stuck", Phase::Draining, |_| true).await;
}
