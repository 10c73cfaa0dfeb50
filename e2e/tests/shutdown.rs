//! Stopping `drydock run` the way Kubernetes stops a pod (SIGTERM), in each state a replica can be in: it must
//! be gone within 2 s with exit status 0, and a leader must free its Lease rather than make the next leader
//! wait for it to expire. A rollout waits for every old replica; one that ignores SIGTERM holds the rollout
//! until the kubelet kills it.
use std::time::Duration;

use drydock::api::v1alpha1::{MaintenanceSchedule, Phase};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    controller::{Drydock, Stopped, controller_kubeconfig, taints, unschedulable},
    relay::Relay,
    wait_for, wait_until,
};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, api::PostParams};
use serde_json::json;

/// What every state must meet, signal to exit.
const EXIT_WITHIN: Duration = Duration::from_secs(2);

fn leases(env: &TestEnv) -> Api<Lease> {
    Api::namespaced(env.client.clone(), "drydock-system")
}

async fn holder(env: &TestEnv, lease: &str) -> Option<String> {
    leases(env).get_opt(lease).await.ok().flatten()?.spec?.holder_identity
}

async fn wait_leading(env: &TestEnv, lease: &str, n: u32) {
    let identity = format!("{}-{n}", env.id);
    wait_until(&format!("{identity} leading"), Duration::from_secs(60), || async {
        holder(env, lease).await.as_deref() == Some(identity.as_str())
    })
    .await;
}

/// Exit status 0 within [`EXIT_WITHIN`] of the SIGTERM.
fn assert_prompt_clean_exit(state: &str, stopped: &Stopped, drydock: &Drydock) {
    eprintln!(
        "{state}: SIGTERM -> exit {:?} after {:?}",
        stopped.status, stopped.after
    );
    let log = drydock.log_text();
    let tail: Vec<&str> = log
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert!(
        stopped.status.is_some_and(|s| s.success()),
        "{state}: exit status {:?} after {:?}; log ends:\n{}",
        stopped.status,
        stopped.after,
        tail.join("\n")
    );
    assert!(
        stopped.after < EXIT_WITHIN,
        "{state}: exited only {:?} after SIGTERM; log ends:\n{}",
        stopped.after,
        tail.join("\n")
    );
}

/// A second replica waiting for the Lease leaves at once, and the leader keeps leading.
#[tokio::test]
async fn sigterm_stops_a_standby_at_once_and_leaves_the_leader_alone() {
    let env = TestEnv::new("stop-standby").await;
    let lease = format!("drydock-{}", env.id);
    let _leader = Drydock::replica(&env, 0, &lease, None);
    wait_leading(&env, &lease, 0).await;
    let mut standby = Drydock::replica(&env, 1, &lease, None);
    wait_until(
        "the second replica waiting for the Lease",
        Duration::from_secs(30),
        || async { standby.log_text().contains("waiting to lead") },
    )
    .await;

    let stopped = standby.terminate().await;
    assert_prompt_clean_exit("standby", &stopped, &standby);
    assert_eq!(
        holder(&env, &lease).await,
        Some(format!("{}-0", env.id)),
        "the leader keeps the Lease"
    );
    let _ = leases(&env).delete(&lease, &Default::default()).await;
}

/// A leader with nothing to do for a long time (a maintenance Drained for a 24 h window, a schedule whose next
/// window is months away: both requeued minutes ahead) exits at once and frees the Lease.
#[tokio::test]
async fn sigterm_stops_an_idle_leader_at_once_and_frees_the_lease() {
    let mut env = TestEnv::new("stop-leader").await;
    let a = env.node("a").await;
    let lease = format!("drydock-{}", env.id);
    let mut drydock = Drydock::replica(&env, 0, &lease, None);
    wait_leading(&env, &lease, 0).await;
    env.maintenance("long", &a, json!({"window": {"duration": "24h"}}))
        .await;
    env.wait_nm("long", Phase::Drained, |_| true).await;
    let schedules = Api::<MaintenanceSchedule>::all(env.client.clone());
    let ms: MaintenanceSchedule = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
        "metadata": {"name": format!("{}-yearly", env.id), "labels": {ENV_LABEL: env.id}},
        "spec": {"schedule": "@yearly", "duration": "1h", "nodeSelector": {"matchLabels": {"pool": "none"}}}
    }))
    .expect("schedule json");
    schedules
        .create(&PostParams::default(), &ms)
        .await
        .expect("create schedule");
    wait_for(
        "the schedule's next window in status",
        Duration::from_secs(30),
        || async {
            schedules
                .get(&ms.metadata.name.clone()?)
                .await
                .ok()?
                .status?
                .next_window
        },
    )
    .await;

    let stopped = drydock.terminate().await;
    assert_prompt_clean_exit("leading, requeues far ahead", &stopped, &drydock);
    assert_eq!(
        holder(&env, &lease).await,
        None,
        "the Lease is free for the next leader"
    );
    assert!(drydock.log_text().contains("drydock controller stopped"));
    let node = env.get_node(&a).await;
    assert!(unschedulable(&node), "the node stays held: the maintenance is not over");
    let _ = leases(&env).delete(&lease, &Default::default()).await;
}

/// Stopped while a PodDisruptionBudget blocks the drain: the leader exits at once, frees the Lease, and the next
/// leader finishes the drain from what the API server holds.
#[tokio::test]
async fn sigterm_mid_drain_stops_at_once_and_the_next_leader_carries_on() {
    let mut env = TestEnv::new("stop-drain").await;
    let a = env.web_on_a(2, Some(2)).await;
    let lease = format!("drydock-{}", env.id);
    let mut first = Drydock::replica(&env, 0, &lease, None);
    wait_leading(&env, &lease, 0).await;
    env.maintenance("m", &a, json!({})).await;
    env.wait_blocked("m", 2).await;

    let stopped = first.terminate().await;
    assert_prompt_clean_exit("leading, mid-drain", &stopped, &first);
    assert_eq!(
        holder(&env, &lease).await,
        None,
        "the Lease is free for the next leader"
    );

    let _second = Drydock::replica(&env, 1, &lease, None);
    wait_leading(&env, &lease, 1).await;
    env.set_min_available("web", 1).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    env.delete_nm("m").await;
    let node = env.get_node(&a).await;
    assert!(!unschedulable(&node) && taints(&node).is_empty(), "{:?}", taints(&node));
    let _ = leases(&env).delete(&lease, &Default::default()).await;
}

/// The API server stops answering (the connection stays open, nothing comes back: requests hang rather than
/// fail). A leader mid-drain, whose reconciles and Lease renewal now hang, still exits at once; so does a
/// process still waiting for its first answer.
#[tokio::test]
async fn sigterm_stops_drydock_when_the_api_server_stopped_answering() {
    let mut env = TestEnv::new("stop-dark").await;
    let a = env.web_on_a(2, Some(2)).await;
    let relay = Relay::start(Relay::upstream_of(&controller_kubeconfig())).await;
    let kubeconfig = relay.kubeconfig(&controller_kubeconfig());
    let lease = format!("drydock-{}", env.id);
    let mut leader = Drydock::replica(&env, 0, &lease, Some(&kubeconfig));
    wait_leading(&env, &lease, 0).await;
    env.maintenance("m", &a, json!({})).await;
    env.wait_blocked("m", 2).await;

    relay.go_dark();
    // The drain retries 1 s, 2 s and 4 s after a refusal: by now a reconcile is waiting for an answer.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stopped = leader.terminate().await;
    assert_prompt_clean_exit("leading, API server not answering", &stopped, &leader);
    assert_eq!(
        holder(&env, &lease).await,
        Some(format!("{}-0", env.id)),
        "it could not reach the API server to free the Lease (which expires instead)"
    );

    let mut waiting = Drydock::replica(&env, 1, &lease, Some(&kubeconfig));
    let (code, _) = wait_for("the new process's /readyz", Duration::from_secs(30), || async {
        waiting.get("/readyz")
    })
    .await;
    assert_eq!(code, 503, "it is still waiting for the API server's first answer");
    let stopped = waiting.terminate().await;
    assert_prompt_clean_exit("starting, API server not answering", &stopped, &waiting);
    drop(relay);
    let _ = leases(&env).delete(&lease, &Default::default()).await;
}
