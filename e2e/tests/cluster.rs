//! The test control plane itself behaves like a real cluster: kwok nodes become Ready, the scheduler and the
//! ReplicaSet controller place and replace pods, the disruption controller keeps PDB status, evictions are
//! refused with 429 when a budget forbids them, and DaemonSets cover every node.
use std::time::Duration;

use drydock_e2e::{TestEnv, audit::Expect, client, is_ready, wait_until, workloads::on_node};
use k8s_openapi::api::{core::v1::Pod, policy::v1::Eviction};
use kube::{Api, ResourceExt, api::PostParams};
use serde_json::json;

#[tokio::test]
async fn kwok_node_runs_a_deployment() {
    let mut env = TestEnv::new("cluster-deploy").await;
    env.expect_audit(Expect::default()); // no drydock here
    let node = env.node("a").await;
    assert!(is_ready(&env.get_node(&node).await), "kwok reports the node Ready");

    let pods = env.ready_deployment("web", 3, env.placement_on(&node)).await;
    assert!(pods.iter().all(|p| on_node(p, &node)), "all 3 pods run on {node}");
}

async fn evict(env: &TestEnv, pod: &Pod) -> Result<(), kube::Error> {
    // A client without kube's default retry: a 429 must reach us, not be retried for minutes.
    let api = Api::<Pod>::namespaced(client(false).await, env.ns());
    let eviction: Eviction = serde_json::from_value(json!({
        "metadata": {"name": pod.name_any(), "namespace": env.ns()},
        "deleteOptions": {"preconditions": {"uid": pod.uid()}}
    }))
    .expect("eviction json");
    api.create_subresource::<_, serde_json::Value>("eviction", &pod.name_any(), &PostParams::default(), &eviction)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn pdb_refuses_eviction_until_it_has_room() {
    let mut env = TestEnv::new("cluster-pdb").await;
    env.expect_audit(Expect::default()); // no drydock here
    let node = env.node("a").await;
    let pods = env.ready_deployment("web", 3, env.placement_on(&node)).await;

    env.pdb("web", "web", 3).await;
    let pdb = env.pdb_settled("web", 0).await;
    assert_eq!(pdb.status.as_ref().map(|s| s.current_healthy), Some(3));

    let victim = &pods[0];
    match evict(&env, victim).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 429, "a PDB refusal is HTTP 429: {s:?}"),
        other => {
            panic!("eviction past a PDB allowing 0 disruptions must be refused, got {other:?}")
        }
    }

    // Loosen the budget: the same eviction now goes through and the ReplicaSet replaces the pod.
    env.set_min_available("web", 2).await;
    env.pdb_settled("web", 1).await;
    evict(&env, victim)
        .await
        .expect("eviction allowed once the PDB has room");

    let replaced = env.wait_ready_pods("web", 3).await;
    assert!(
        replaced.iter().all(|p| p.uid() != victim.uid()),
        "the evicted pod is gone and a replacement with a new UID runs"
    );
}

#[tokio::test]
async fn daemonset_places_a_pod_on_every_node() {
    let mut env = TestEnv::new("cluster-ds").await;
    env.expect_audit(Expect::default()); // no drydock here
    let a = env.node("a").await;
    let b = env.node("b").await;
    env.daemonset("agent").await;
    let pods = env.wait_ready_pods("agent", 2).await;
    let mut nodes: Vec<_> = pods.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, vec![a, b], "one DaemonSet pod per kwok node");
}

#[tokio::test]
async fn graceful_deletion_waits_for_the_grace_period() {
    let mut env = TestEnv::new("cluster-grace").await;
    env.expect_audit(Expect::default()); // no drydock here
    let node = env.node("a").await;
    let pod = env
        .bare_pod("slow", &node, json!({"terminationGracePeriodSeconds": 3}))
        .await;
    env.wait_ready_pods("slow", 1).await;
    let api = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    api.delete("slow", &Default::default()).await.expect("delete pod");
    // kwok's stage keeps the pod until its deletionTimestamp (now + 3s): right after the delete it is still
    // there, terminating; then it goes.
    let p = api
        .get_opt("slow")
        .await
        .expect("get pod")
        .expect("pod still present during its grace period");
    assert_eq!(p.uid(), pod.uid());
    assert!(p.metadata.deletion_timestamp.is_some(), "pod is terminating");
    wait_until("pod gone after its grace period", Duration::from_secs(30), || async {
        api.get_opt("slow").await.ok().flatten().is_none()
    })
    .await;
}
