//! spec.rollout of a MaintenanceSchedule on the real control plane: approvals (by drydock approve and by the
//! annotation a GitOps tool writes), the soak time, the node limit per window, what a drain that times out does
//! to the rest of the pool, and health gates that cannot be checked. Health gates against a real Prometheus are
//! in tests/health_gates.rs. Each node's maintenance here ends as soon as its drain is done (completeWhen
//! matches any kernel), so a rollout takes seconds.
use std::time::Duration;

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, cli, taints, unschedulable},
    schedules::{create_rollout, of_schedule, schedule, wait_completed, wait_waiting},
    wait_for, wait_until,
};
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

/// Done once drained: every node matches.
fn quick() -> Value {
    json!({"completeWhen": {"nodeInfo": {"kernelVersion": "*"}}})
}

fn waiting_of(ms: &drydock::api::v1alpha1::MaintenanceSchedule) -> (String, String, String) {
    let w = ms
        .status
        .as_ref()
        .and_then(|s| s.waiting.clone())
        .expect("status.waiting");
    (w.reason, w.subject, w.message)
}

fn nodes_of(nms: &[NodeMaintenance]) -> Vec<String> {
    let mut v: Vec<String> = nms.iter().map(|nm| nm.spec.node_name.clone()).collect();
    v.sort();
    v
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "drydock failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A window that asks for approval starts nothing, says what it waits for (once, as an Event), and rolls once a
/// person runs `drydock approve`.
#[tokio::test]
async fn a_window_waits_for_approval_until_drydock_approve() {
    let mut env = TestEnv::new("ro-appr").await;
    let pool = env.pool("appr", 2).await;
    env.expect_audit(Expect {
        node_writes: 4,
        restored: pool.clone(),
        ..Expect::default()
    });
    let _drydock = Drydock::start(&env, 0);
    let name = create_rollout(&env, "kernel", "appr", 2, quick(), json!({"approval": "Window"}), "10m").await;
    let ms = wait_waiting(&env, &name, "Approval").await;
    let (_, window, message) = waiting_of(&ms);
    assert!(
        message.contains(&format!("drydock approve ms/{name}")),
        "status says what to run: {message}"
    );
    let line = ms.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
    assert!(line.contains("waiting for approval of window"), "{line}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(of_schedule(&env, &name).await.is_empty(), "nothing starts unapproved");
    let events = env.events("MaintenanceSchedule", &name).await;
    let blocked = events.iter().filter(|(r, _)| r == "RolloutBlocked").count();
    assert_eq!(
        blocked, 1,
        "one Event for the one blocker, not one per look: {events:?}"
    );

    let out = ok(&cli(&["approve", &format!("ms/{name}")]));
    assert!(out.contains(&format!("approved window {window}")), "{out}");
    let done = wait_completed(&env, &name, 2, Duration::from_secs(60)).await;
    assert_eq!(nodes_of(&done), pool);
    let ms = schedule(&env, &name).await;
    assert_eq!(
        ms.annotations().get("drydock.dev/approved").map(String::as_str),
        Some(window.as_str())
    );
    assert!(ms.status.and_then(|s| s.waiting).is_none(), "nothing waits any more");
}

/// Per-node approval: only the nodes approved go. A change-management system approves one by the annotation,
/// a person the others by `drydock approve --node`.
#[tokio::test]
async fn per_node_approval_starts_only_the_approved_nodes() {
    let mut env = TestEnv::new("ro-node").await;
    let pool = env.pool("pern", 3).await;
    env.expect_audit(Expect {
        node_writes: 6,
        restored: pool.clone(),
        ..Expect::default()
    });
    let _drydock = Drydock::start(&env, 0);
    let name = create_rollout(&env, "kernel", "pern", 3, quick(), json!({"approval": "Node"}), "10m").await;
    let ms = wait_waiting(&env, &name, "Approval").await;
    let (_, on, message) = waiting_of(&ms);
    let window = on.split('/').next().unwrap_or_default().to_string();
    assert!(message.contains(&pool[0]) && message.contains(&pool[2]), "{message}");

    // The GitOps way: the annotation, with the second node of this window.
    let approve = json!({"metadata": {"annotations": {"drydock.dev/approved": format!("{window}/{}", pool[1])}}});
    Api::<drydock::api::v1alpha1::MaintenanceSchedule>::all(env.client.clone())
        .patch(&name, &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .expect("approve by annotation");
    wait_completed(&env, &name, 1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(nodes_of(&of_schedule(&env, &name).await), vec![pool[1].clone()]);
    let ms = wait_waiting(&env, &name, "Approval").await;
    let (_, _, message) = waiting_of(&ms);
    assert!(
        message.contains(&pool[0]) && message.contains(&pool[2]) && !message.contains(&pool[1]),
        "{message}"
    );

    // A typo is refused and changes nothing.
    let out = cli(&["approve", &name, "--node", "no-such-node"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ok(&cli(&["approve", &name, "--node", &pool[0], "--node", &pool[2]]));
    assert!(out.contains(&pool[0]), "{out}");
    let done = wait_completed(&env, &name, 3, Duration::from_secs(60)).await;
    assert_eq!(nodes_of(&done), pool);
}

/// The soak time keeps the next node waiting after one finished; the window's node limit leaves the rest for the
/// next window, and status says so.
#[tokio::test]
async fn the_soak_spaces_the_nodes_and_the_window_limit_leaves_the_rest() {
    let mut env = TestEnv::new("ro-pace").await;
    let pool = env.pool("pace", 3).await;
    env.expect_audit(Expect {
        node_writes: 4,
        ..Expect::default()
    });
    let _drydock = Drydock::start(&env, 0);
    let rollout = json!({"soak": "5s", "maxNodesPerWindow": 2});
    let name = create_rollout(&env, "kernel", "pace", 1, quick(), rollout, "10m").await;
    let first = wait_completed(&env, &name, 1, Duration::from_secs(30)).await;
    assert_eq!(first.len(), 1, "one node at a time while soaking: {first:?}");
    let ms = wait_waiting(&env, &name, "Soak").await;
    assert!(waiting_of(&ms).2.contains("soaking until"), "{:?}", waiting_of(&ms));
    let done = wait_completed(&env, &name, 2, Duration::from_secs(30)).await;
    let finished = first[0]
        .status
        .as_ref()
        .and_then(|s| s.completed_at.clone())
        .expect("completedAt");
    let second = done
        .iter()
        .find(|nm| nm.spec.node_name != first[0].spec.node_name)
        .expect("the second node");
    let started = second.creation_timestamp().expect("created");
    let gap = started.0.duration_since(finished.0);
    assert!(
        gap >= jiff::SignedDuration::from_secs(4),
        "the second node started {gap:?} after the first finished; the soak is 5s"
    );
    // The limit holds from the second start on; once that node is done, the counts say what the window did.
    wait_waiting(&env, &name, "WindowLimit").await;
    wait_for("the window's counts", Duration::from_secs(20), || async {
        let ms = schedule(&env, &name).await;
        let counts = ms.status.as_ref().and_then(|s| s.nodes.clone()).unwrap_or_default();
        let waits = ms
            .status
            .and_then(|s| s.waiting)
            .is_some_and(|w| w.reason == "WindowLimit");
        (waits && (counts.done, counts.in_progress, counts.remaining) == (2, 0, 1)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        of_schedule(&env, &name).await.len(),
        2,
        "the third node waits for the next window"
    );
    let third = env.get_node(&pool[2]).await;
    assert!(!unschedulable(&third), "the third node is untouched");
}

/// A blocked drain that passes template.drain.timeout under onDrainTimeout: Quarantine gives the node back,
/// labels it, and the rollout goes on with the rest.
#[tokio::test]
async fn a_drain_that_times_out_is_quarantined_and_the_rollout_goes_on() {
    let mut env = TestEnv::new("ro-quar").await;
    let pool = env.pool("quar", 2).await;
    env.bare_pod("pet", &pool[0], json!({})).await;
    env.wait_ready_pods("pet", 1).await;
    env.expect_audit(Expect {
        node_writes: 5,
        restored: pool.clone(),
        ..Expect::default()
    });
    let _drydock = Drydock::start(&env, 0);
    let mut template = quick();
    template["drain"] = json!({"timeout": "3s"});
    let rollout = json!({"onDrainTimeout": "Quarantine"});
    let name = create_rollout(&env, "kernel", "quar", 1, template, rollout, "10m").await;
    wait_completed(&env, &name, 1, Duration::from_secs(60)).await;
    let nms = of_schedule(&env, &name).await;
    let timed_out = nms
        .iter()
        .find(|nm| nm.spec.node_name == pool[0])
        .expect("first node's");
    let status = timed_out.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Phase::Failed);
    // The schedule's status follows its maintenances on its next look.
    let st = wait_for("the schedule to count the window", Duration::from_secs(20), || async {
        let st = schedule(&env, &name).await.status.unwrap_or_default();
        let counts = st.nodes.clone().unwrap_or_default();
        ((counts.done, counts.failed, counts.remaining) == (1, 1, 0)).then_some(st)
    })
    .await;
    assert_eq!(st.quarantined_nodes, vec![pool[0].clone()]);
    let node = env.get_node(&pool[0]).await;
    assert_eq!(
        node.labels().get("drydock.dev/quarantined").map(String::as_str),
        Some(name.as_str())
    );
    assert!(
        !unschedulable(&node) && taints(&node).is_empty(),
        "given back as it was"
    );
    assert_eq!(
        env.pods(Some("pet")).await.len(),
        1,
        "the pod that blocked was never evicted"
    );
    assert_eq!(
        env.event_count("MaintenanceSchedule", &name, "NodeQuarantined").await,
        1
    );
}

/// Under onDrainTimeout: Stop a drain past its timeout stops the rollout: the node stays held for a person and
/// no other node starts, whatever the budget; the fix and a delete let it go on.
#[tokio::test]
async fn a_drain_that_times_out_stops_the_rollout_until_a_person_deletes_it() {
    let mut env = TestEnv::new("ro-stop").await;
    let pool = env.pool("stop", 3).await;
    env.bare_pod("pet", &pool[0], json!({})).await;
    env.wait_ready_pods("pet", 1).await;
    env.expect_audit(Expect {
        node_writes: 6,
        restored: pool.clone(),
        ..Expect::default()
    });
    // Two maintenances at once: the operator's cluster-wide limit (1 by default) must allow the schedule's budget.
    let _drydock = Drydock::start_with(
        &env,
        0,
        &["--leader-elect=false", "--max-concurrent-maintenances", "2"],
        None,
    );
    let mut template = quick();
    template["drain"] = json!({"timeout": "3s"});
    // Node approval lets the test release the third node only after the first timed out.
    let rollout = json!({"onDrainTimeout": "Stop", "approval": "Node"});
    let name = create_rollout(&env, "kernel", "stop", 2, template, rollout, "10m").await;
    ok(&cli(&["approve", &name, "--node", &pool[0], "--node", &pool[1]]));
    wait_completed(&env, &name, 1, Duration::from_secs(30)).await;
    let ms = wait_waiting(&env, &name, "Stopped").await;
    let line = ms.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
    assert!(
        line.starts_with("rollout stopped: the drain of node") && line.contains("held for a person"),
        "{line}"
    );
    ok(&cli(&["approve", &name, "--node", &pool[2]]));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        of_schedule(&env, &name).await.len(),
        2,
        "no node starts behind a stopped rollout"
    );
    let held = env.get_node(&pool[0]).await;
    assert!(unschedulable(&held), "the node that timed out stays held for a person");
    let events = env.events("MaintenanceSchedule", &name).await;
    assert!(events.iter().any(|(r, _)| r == "RolloutStopped"), "{events:?}");

    // The person's fix: the pod goes, then the maintenance is deleted. The rollout goes on, that node included.
    Api::<k8s_openapi::api::core::v1::Pod>::namespaced(env.client.clone(), env.ns())
        .delete("pet", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete the pod that blocks");
    let stuck = of_schedule(&env, &name)
        .await
        .into_iter()
        .find(|nm| nm.spec.node_name == pool[0])
        .expect("the stuck maintenance");
    env.nms()
        .delete(&stuck.name_any(), &DeleteParams::default())
        .await
        .expect("delete the stuck maintenance");
    wait_until("the rest of the rollout", Duration::from_secs(60), || async {
        let ours = of_schedule(&env, &name).await;
        ours.len() == 3
            && ours
                .iter()
                .all(|nm| nm.status.as_ref().is_some_and(|s| s.phase == Phase::Completed))
    })
    .await;
}

/// Health gates fail closed: with no Prometheus configured, or one that does not answer, a schedule starts
/// nothing and a NodeMaintenance does not touch its node, and both say why.
#[tokio::test]
async fn gates_that_cannot_be_checked_block_and_say_why() {
    let mut env = TestEnv::new("ro-down").await;
    let pool = env.pool("down", 1).await;
    let lone = env.node("lone").await;
    env.expect_audit(Expect::default());
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let _drydock = Drydock::start_with(
        &env,
        0,
        &["--leader-elect=false", "--prometheus-url", "http://127.0.0.1:1"],
        None,
    );
    let gates = json!({"healthGates": [{"name": "quiet", "query": "ALERTS{alertstate=\"firing\"}"}]});
    let name = create_rollout(&env, "kernel", "down", 1, quick(), gates, "10m").await;
    let ms = wait_waiting(&env, &name, "CannotCheck").await;
    let (_, on, message) = waiting_of(&ms);
    assert_eq!(on, "quiet");
    assert!(
        message.contains("cannot check it: Prometheus at http://127.0.0.1:1/api/v1/query did not answer"),
        "{message}"
    );
    env.maintenance(
        "gated",
        &lone,
        json!({"healthGates": [{"name": "node-ok", "query": "up{node=\"{{node}}\"} == 0"}]}),
    )
    .await;
    let nm = env
        .wait_nm("gated", Phase::Pending, |nm| {
            nm.status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .is_some_and(|m| m.contains("health gate node-ok holds back node"))
        })
        .await;
    let reason = nm
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Cordoned"))
        .map(|c| c.reason.clone());
    assert_eq!(reason.as_deref(), Some("HealthGateBlocked"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(of_schedule(&env, &name).await.is_empty());
    for n in [&pool[0], &lone] {
        let node: Node = env.get_node(n).await;
        assert!(!unschedulable(&node), "{n} untouched");
    }
}

/// The same, with drydock run without --prometheus-url: the message says to configure it.
#[tokio::test]
async fn gates_without_a_prometheus_configured_say_how_to_configure_one() {
    let mut env = TestEnv::new("ro-none").await;
    env.pool("none", 1).await;
    env.expect_audit(Expect::default());
    let _drydock = Drydock::start(&env, 0);
    let gates = json!({"healthGates": [{"name": "quiet", "query": "vector(1)"}]});
    let name = create_rollout(&env, "kernel", "none", 1, quick(), gates, "10m").await;
    let ms = wait_waiting(&env, &name, "CannotCheck").await;
    assert!(waiting_of(&ms).2.contains("--prometheus-url"), "{:?}", waiting_of(&ms));
}

/// What a tired person might write in spec.rollout is refused at apply, with the field and what to write.
#[tokio::test]
async fn bad_rollout_settings_are_refused_at_apply() {
    let env = TestEnv::new("ro-input").await;
    // Sent as written, untyped: drydock's own types would refuse some of these before the API server could.
    let resource = ApiResource::erase::<drydock::api::v1alpha1::MaintenanceSchedule>(&());
    let api = Api::<DynamicObject>::all_with(env.client.clone(), &resource);
    let cases: &[(&str, Value, &str)] = &[
        (
            "onDrainTimeout without a timeout",
            json!({"rollout": {"onDrainTimeout": "Quarantine"}}),
            "rollout.onDrainTimeout needs template.drain.timeout",
        ),
        (
            "two gates of one name",
            json!({"rollout": {"healthGates": [{"name": "a", "query": "x"}, {"name": "a", "query": "y"}]}}),
            "each gate needs its own name",
        ),
        (
            "a gate name with capitals",
            json!({"rollout": {"healthGates": [{"name": "NoAlerts", "query": "x"}]}}),
            "spec.rollout.healthGates[0].name",
        ),
        (
            "an empty query",
            json!({"rollout": {"healthGates": [{"name": "a", "query": ""}]}}),
            "query",
        ),
        (
            "a zero limit",
            json!({"rollout": {"maxNodesPerWindow": 0}}),
            "maxNodesPerWindow",
        ),
        (
            "a soak of zero",
            json!({"rollout": {"soak": "0s"}}),
            "rollout.soak must be positive",
        ),
        (
            "a soak in days",
            json!({"rollout": {"soak": "1d"}}),
            "spec.rollout.soak",
        ),
        (
            "an unknown approval",
            json!({"rollout": {"approval": "Team"}}),
            "spec.rollout.approval",
        ),
    ];
    for (what, extra, expect) in cases {
        let mut spec = json!({
            "schedule": "0 3 * * 0", "duration": "1h",
            "nodeSelector": {"matchLabels": {"pool": "x"}}
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            spec[k] = v.clone();
        }
        let ms = json!({
            "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
            "metadata": {"name": format!("{}-bad", env.id)}, "spec": spec
        });
        let ms: DynamicObject = serde_json::from_value(ms).expect("object json");
        let err = api.create(&PostParams::default(), &ms).await.expect_err(what);
        assert!(err.to_string().contains(expect), "{what}: {err}");
    }
}
