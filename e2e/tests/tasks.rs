//! spec.task on the real control plane: the pod drydock runs on a drained node. kwok plays the kubelet: a task of
//! image drydock.test/succeeds exits 0 after 3 s, drydock.test/fails exits 3 after 2 s, any other image runs
//! until deleted (e2e/cluster/kwok.yaml). The test plays the node's reboot: a new bootID and kernel version.
use std::{collections::BTreeSet, sync::atomic::Ordering, time::Duration};

use drydock::api::v1alpha1::{MaintenanceSchedule, NodeMaintenance, Phase, TaskPhase};
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, taints, unschedulable},
    schedules::{create_schedule, of_schedule, sample_max_cordoned},
    wait_for, wait_until,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};

/// Where drydock runs tasks (its default, set up by config/manager and config/rbac).
const TASKS: &str = "drydock-tasks";

/// A task of `image` that reboots into kernel 6.6: restartPolicy OnFailure, as a task that reboots its node
/// needs (after the reboot it runs again and finds its work done). A short grace period, so a stopped task is
/// gone within the test.
fn task(image: &str, on_failure: &str) -> Value {
    json!({
        "onFailure": on_failure,
        "template": {
            "metadata": {"labels": {"app": "kernel-upgrade"}},
            "spec": {
                "restartPolicy": "OnFailure",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "upgrade", "image": image, "command": ["/upgrade.sh", "6.6.30"]}]
            }
        }
    })
}

/// The task pods of the NodeMaintenance named `nm` (by drydock's label).
async fn task_pods(env: &TestEnv, nm: &str) -> Vec<Pod> {
    let lp = ListParams::default().labels(&format!("drydock.dev/task-of={nm}"));
    Api::<Pod>::namespaced(env.client.clone(), TASKS)
        .list(&lp)
        .await
        .expect("list task pods")
        .items
}

fn task_phase(nm: &NodeMaintenance) -> Option<TaskPhase> {
    nm.status.as_ref()?.task.as_ref().map(|t| t.phase)
}

/// Loses the status write that recorded the task, as if the controller had died right after the create.
async fn forget_task(env: &TestEnv, nm: &str) {
    let lost = json!({"status": {"task": null}});
    env.nms()
        .patch_status(nm, &PatchParams::default(), &Patch::Merge(&lost))
        .await
        .expect("forget the task in status");
}

fn held(node: &Node) -> bool {
    unschedulable(node) && taints(node).iter().any(|t| t.starts_with("drydock.dev/maintenance="))
}

/// What a kubelet reports after booting a new kernel.
async fn reboot(env: &TestEnv, node: &str, boot_before: &str) {
    let patch = json!({"status": {"nodeInfo": {"bootID": format!("{boot_before}-rebooted"), "kernelVersion": "6.6.30-drydock"}}});
    Api::<Node>::all(env.client.clone())
        .patch_status(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("reboot the node");
}

/// The whole GitOps story: one MaintenanceSchedule upgrades the kernel of a pool of 4, one node at a time. On
/// each node drydock drains, runs the task once, and gives the node back only when the task succeeded, the node
/// rebooted and reports the new kernel.
#[tokio::test]
async fn a_schedule_rolls_a_kernel_upgrade_task_through_a_pool() {
    let mut env = TestEnv::new("task-roll").await;
    let pool = env.pool("kernel", 4).await;
    env.expect_audit(Expect {
        node_writes: 8,
        restored: pool.clone(),
        task_creates: 4,
        ..Expect::default()
    });
    let (max, stop) = sample_max_cordoned(&env, pool.clone());
    let _drydock = Drydock::start(&env, 0);
    let template = json!({
        "reason": "kernel 6.6.30",
        "completeWhen": {"rebooted": true, "nodeInfo": {"kernelVersion": "6.6.*"}},
        "task": task("drydock.test/succeeds", "Hold")
    });
    let schedule = create_schedule(&env, "kernel", "kernel", "10m", 1, template).await;
    let nodes = Api::<Node>::all(env.client.clone());
    let mut rebooted = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        let ours = of_schedule(&env, &schedule).await;
        if ours.len() == 4
            && ours
                .iter()
                .all(|nm| nm.status.as_ref().is_some_and(|s| s.phase == Phase::Completed))
        {
            break;
        }
        // The node reboots while its task runs, as a real upgrade's would.
        for nm in &ours {
            let status = nm.status.clone().unwrap_or_default();
            if task_phase(nm) == Some(TaskPhase::Running) && rebooted.insert(nm.spec.node_name.clone()) {
                let before = status.boot_id_at_drain.expect("bootID recorded at the drain");
                let node = nodes.get(&nm.spec.node_name).await.expect("node");
                assert!(held(&node), "the task runs on a node drydock holds");
                reboot(&env, &nm.spec.node_name, &before).await;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; maintenances: {:#?}",
            ours.iter()
                .map(|nm| (&nm.spec.node_name, &nm.status))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        max.load(Ordering::Relaxed),
        1,
        "never two nodes of the pool cordoned at once"
    );
    for nm in of_schedule(&env, &schedule).await {
        let status = nm.status.clone().unwrap_or_default();
        let message = status.message.unwrap_or_default();
        assert!(
            message.starts_with("task drydock-tasks/") && message.contains("succeeded; work done: the node rebooted"),
            "{}: {message}",
            nm.name_any()
        );
        let task = status.task.expect("task status");
        assert_eq!((task.phase, task.exit_code), (TaskPhase::Succeeded, Some(0)));
        assert_eq!(task.message.as_deref(), Some("kernel 6.6.30 installed"));
        // One pod per node, ever: the one status names, on that node, finished and kept for its log.
        let pods = task_pods(&env, &nm.name_any()).await;
        assert_eq!(pods.len(), 1, "{}: {pods:#?}", nm.name_any());
        let pod = &pods[0];
        assert_eq!(pod.name_any(), task.pod_name);
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(spec.node_name.as_deref(), Some(nm.spec.node_name.as_str()));
        assert_eq!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded"));
        let events = env.events("NodeMaintenance", &nm.name_any()).await;
        for reason in ["TaskStarted", "TaskSucceeded", "WorkDone"] {
            assert!(events.iter().any(|(r, _)| r == reason), "{reason} in {events:?}");
        }
    }
    env.wait_pool_untainted(&pool).await;
    for n in &pool {
        let node = nodes.get(n).await.expect("node");
        assert!(
            !unschedulable(&node) && taints(&node).is_empty(),
            "{n} restored: {:?}",
            taints(&node)
        );
        let kernel = node
            .status
            .and_then(|s| s.node_info)
            .map(|i| i.kernel_version)
            .unwrap_or_default();
        assert_eq!(kernel, "6.6.30-drydock", "{n}");
    }
    let counts = Api::<MaintenanceSchedule>::all(env.client.clone())
        .get(&schedule)
        .await
        .expect("schedule")
        .status
        .and_then(|s| s.nodes)
        .expect("counts");
    assert_eq!(
        (counts.selected, counts.done, counts.remaining, counts.failed),
        (4, 4, 0, 0)
    );
}

/// A task that fails with task.onFailure: Hold keeps the node drained and cordoned for a person, with the exit
/// code and the end of the log in status; deleting the NodeMaintenance gives the node back.
#[tokio::test]
async fn a_failed_task_holds_its_node_for_a_person() {
    let mut env = TestEnv::new("task-hold").await;
    let node = env.node("a").await;
    env.expect_audit(Expect {
        task_creates: 1,
        ..Expect::restored(&node, 0)
    });
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("kernel", &node, json!({"task": task("drydock.test/fails", "Hold")}))
        .await;
    let nm = env
        .wait_nm("kernel", Phase::Drained, |nm| task_phase(nm) == Some(TaskPhase::Failed))
        .await;
    let status = nm.status.clone().unwrap_or_default();
    let task = status.task.clone().expect("task");
    assert_eq!(task.exit_code, Some(3));
    assert_eq!(
        task.message.as_deref(),
        Some("Reading package lists...\nE: Unable to locate package linux-image-6.6.30\nupgrade failed")
    );
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("failed (exit 3): Reading package lists... / E: Unable to locate package")
            && message.ends_with(
                "node held for a person (task.onFailure: Hold): delete this NodeMaintenance to give it back"
            ),
        "{message}"
    );
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == "TaskSucceeded")
        .expect("TaskSucceeded");
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("False", "TaskFailed")
    );
    // Held, and it stays held: nothing is retried, nothing restored.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(held(&env.get_node(&node).await), "held for a person");
    assert_eq!(env.nm("kernel").await.status.map(|s| s.phase), Some(Phase::Drained));
    assert_eq!(task_pods(&env, &nm.name_any()).await.len(), 1, "not started again");
    let events = env.events("NodeMaintenance", &nm.name_any()).await;
    assert!(
        events.iter().any(|(r, n)| r == "TaskFailed" && n.contains("exit 3")),
        "{events:?}"
    );
    env.delete_nm("kernel").await;
    let after = env.get_node(&node).await;
    assert!(
        !unschedulable(&after) && taints(&after).is_empty(),
        "given back on delete"
    );
}

/// With task.onFailure: Restore the failed node is given back and its maintenance fails, and the schedule stops
/// there: no other node is started, although the budget would allow it, and the schedule's status says why.
/// Fixing the task and deleting the failed NodeMaintenance lets the rollout go on.
#[tokio::test]
async fn a_failed_task_stops_the_rollout_until_a_person_deletes_it() {
    let mut env = TestEnv::new("task-stop").await;
    let pool = env.pool("stop", 3).await;
    env.expect_audit(Expect {
        node_writes: 6,
        restored: pool.clone(),
        task_creates: 4,
        ..Expect::default()
    });
    let _drydock = Drydock::start(&env, 0);
    let template = json!({"task": task("drydock.test/fails", "Restore")});
    let schedule = create_schedule(&env, "kernel", "stop", "10m", 1, template).await;
    let schedules = Api::<MaintenanceSchedule>::all(env.client.clone());
    let failed = wait_for("the first task to fail", Duration::from_secs(90), || async {
        of_schedule(&env, &schedule)
            .await
            .into_iter()
            .find(|nm| nm.status.as_ref().is_some_and(|s| s.phase == Phase::Failed))
    })
    .await;
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!(
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Completed")
            .map(|c| c.reason.as_str()),
        Some("TaskFailed")
    );
    assert!(
        status
            .message
            .unwrap_or_default()
            .ends_with("; node restored (task.onFailure: Restore)"),
        "{:?}",
        failed.status
    );
    assert!(!held(&env.get_node(&failed.spec.node_name).await), "restored");
    // Several looks of the schedule later, still only the one maintenance.
    let message = wait_for(
        "the schedule to say the rollout stopped",
        Duration::from_secs(30),
        || async {
            let ms = schedules.get(&schedule).await.expect("schedule");
            ms.status
                .and_then(|s| s.message)
                .filter(|m| m.starts_with("rollout stopped: "))
        },
    )
    .await;
    assert!(
        message.contains(&format!("the task of NodeMaintenance {}", failed.name_any()))
            && message.contains("failed (exit 3)")
            && message.contains("delete that NodeMaintenance to go on"),
        "{message}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(of_schedule(&env, &schedule).await.len(), 1, "no other node started");
    let events = env.events("MaintenanceSchedule", &schedule).await;
    assert!(events.iter().any(|(r, _)| r == "RolloutStopped"), "{events:?}");
    // The fix: a task that works, then the failed maintenance deleted. The rollout goes on to its end.
    let fixed = json!({"spec": {"template": {"task": task("drydock.test/succeeds", "Restore")}}});
    schedules
        .patch(&schedule, &PatchParams::default(), &Patch::Merge(&fixed))
        .await
        .expect("fix the task");
    Api::<NodeMaintenance>::all(env.client.clone())
        .delete(&failed.name_any(), &DeleteParams::default())
        .await
        .expect("delete the failed maintenance");
    wait_until("the rollout to finish", Duration::from_secs(120), || async {
        let ours = of_schedule(&env, &schedule).await;
        ours.len() == 3
            && ours
                .iter()
                .all(|nm| nm.status.as_ref().is_some_and(|s| s.phase == Phase::Completed))
    })
    .await;
    for n in &pool {
        assert!(!held(&env.get_node(n).await), "{n} restored");
    }
}

/// The task is created once per maintenance: a controller killed while it runs, and one that finds the pod it
/// created but never recorded, take the pod over instead of starting another.
#[tokio::test]
async fn a_restarted_controller_never_starts_a_task_twice() {
    let mut env = TestEnv::new("task-once").await;
    let node = env.node("a").await;
    env.expect_audit(Expect {
        task_creates: 1,
        ..Expect::held(0)
    });
    let mut first = Drydock::start(&env, 0);
    let nm = env
        .maintenance(
            "kernel",
            &node,
            json!({"task": task("registry.example/kernel-upgrade:6.6", "Hold")}),
        )
        .await;
    let running = env
        .wait_nm("kernel", Phase::Drained, |nm| {
            task_phase(nm) == Some(TaskPhase::Running)
        })
        .await;
    let pods = task_pods(&env, &nm.name_any()).await;
    assert_eq!(pods.len(), 1);
    let uid = pods[0].uid();
    first.kill();
    forget_task(&env, &nm.name_any()).await;
    let _second = Drydock::start(&env, 1);
    env.wait_nm("kernel", Phase::Drained, |nm| {
        task_phase(nm) == Some(TaskPhase::Running)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pods = task_pods(&env, &nm.name_any()).await;
    assert_eq!(pods.len(), 1, "{pods:#?}");
    assert_eq!(pods[0].uid(), uid, "the same pod, adopted");
    let after = env.nm("kernel").await;
    assert_eq!(
        after.status.and_then(|s| s.task).map(|t| t.pod_name),
        running.status.and_then(|s| s.task).map(|t| t.pod_name)
    );
}

/// A window that closes while the task runs restores the node and deletes the task pod; status says the task
/// was stopped.
#[tokio::test]
async fn a_window_closing_mid_task_stops_it_and_restores_the_node() {
    let mut env = TestEnv::new("task-window").await;
    let node = env.node("a").await;
    env.expect_audit(Expect {
        task_creates: 1,
        task_deletes: 1,
        ..Expect::restored(&node, 0)
    });
    let _drydock = Drydock::start(&env, 0);
    let nm = env
        .maintenance(
            "kernel",
            &node,
            json!({"window": {"duration": "15s"}, "task": task("registry.example/kernel-upgrade:6.6", "Hold")}),
        )
        .await;
    env.wait_nm("kernel", Phase::Drained, |nm| {
        task_phase(nm) == Some(TaskPhase::Running)
    })
    .await;
    let done = env
        .wait_nm("kernel", Phase::Completed, |nm| {
            task_phase(nm) == Some(TaskPhase::Stopped)
        })
        .await;
    let status = done.status.unwrap_or_default();
    assert!(
        status
            .message
            .unwrap_or_default()
            .ends_with("stopped before it finished"),
        "{:?}",
        status.task
    );
    assert_eq!(
        status.task.and_then(|t| t.message).as_deref(),
        Some("deleted by drydock before it finished (WindowClosed)")
    );
    let after = env.get_node(&node).await;
    assert!(!unschedulable(&after) && taints(&after).is_empty(), "restored");
    wait_until("the task pod to be gone", Duration::from_secs(30), || async {
        task_pods(&env, &nm.name_any()).await.is_empty()
    })
    .await;
}

/// A task the API server would refuse (here an invalid container name) fails the maintenance before the node is
/// touched, with the API server's words; nothing is retried.
#[tokio::test]
async fn a_task_the_api_server_refuses_fails_before_the_node_is_touched() {
    let mut env = TestEnv::new("task-refused").await;
    let node = env.node("a").await;
    env.expect_audit(Expect::default());
    let _drydock = Drydock::start(&env, 0);
    let mut bad = task("registry.example/kernel-upgrade:6.6", "Hold");
    bad["template"]["spec"]["containers"][0]["name"] = json!("Upgrade_Kernel");
    env.maintenance("kernel", &node, json!({"task": bad})).await;
    let nm = env.wait_nm("kernel", Phase::Failed, |_| true).await;
    let status = nm.status.clone().unwrap_or_default();
    let message = status.message.unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "the API server refuses the task pod, so node {node} was not touched: "
        )) && message.contains("Upgrade_Kernel")
            && message.ends_with("fix spec.task (or the task namespace) and create a new NodeMaintenance"),
        "{message}"
    );
    assert_eq!(
        status
            .conditions
            .iter()
            .find(|c| c.type_ == "Completed")
            .map(|c| c.reason.as_str()),
        Some("TaskRefused")
    );
    assert!(status.started_at.is_none(), "never started");
    let after = env.get_node(&node).await;
    assert!(!unschedulable(&after) && taints(&after).is_empty());
    assert!(task_pods(&env, &nm.name_any()).await.is_empty());
}

/// The task among what real nodes hold: a DaemonSet, an operator that tolerates every taint (it stays, as it
/// would come straight back), workloads that leave, and a NoExecute taint from spec.taints that comes once the
/// drain is done. Kubernetes' taint-eviction controller deletes every pod on the node that does not tolerate it;
/// the task tolerates exactly drydock's taints, so it runs on, and the drain never touches it.
#[tokio::test]
async fn the_task_runs_past_the_noexecute_taint_among_pods_that_stay() {
    let mut env = TestEnv::new("task-zoo").await;
    let a = env.node("a").await;
    env.daemonset("agent").await;
    let mut everything = env.placement_on(&a);
    everything["tolerations"] = json!([{"operator": "Exists"}]);
    env.deployment("operator", 1, everything, json!({})).await;
    // Everything starts on the node to drain; the second node comes after, as a place to go.
    let web = env.ready_deployment("web", 2, env.placement()).await;
    env.node("b").await;
    env.wait_ready_pods("agent", 2).await;
    env.wait_ready_pods("operator", 1).await;
    env.expect_audit(Expect {
        task_creates: 1,
        ..Expect::held(web.len())
    });
    let _drydock = Drydock::start(&env, 0);
    let spec = json!({
        "taints": [{"key": "example.com/kernel-upgrade", "value": "6.6", "effect": "NoExecute"}],
        "task": task("registry.example/kernel-upgrade:6.6", "Hold")
    });
    let nm = env.maintenance("zoo", &a, spec).await;
    env.wait_nm("zoo", Phase::Drained, |nm| task_phase(nm) == Some(TaskPhase::Running))
        .await;
    wait_until(
        "the NoExecute taint after the drain",
        Duration::from_secs(30),
        || async {
            taints(&env.get_node(&a).await)
                .iter()
                .any(|t| t.starts_with("example.com/kernel-upgrade=6.6:NoExecute"))
        },
    )
    .await;
    // Long enough for the taint-eviction controller to have deleted whatever it would.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pods = task_pods(&env, &nm.name_any()).await;
    assert_eq!(pods.len(), 1);
    assert!(
        pods[0].metadata.deletion_timestamp.is_none(),
        "the task was not deleted under the taint"
    );
    let now = env.nm("zoo").await;
    assert_eq!(task_phase(&now), Some(TaskPhase::Running));
    let status = now.status.unwrap_or_default();
    let task_note = status
        .skipped_pods
        .iter()
        .find(|n| n.name == pods[0].name_any())
        .unwrap_or_else(|| {
            panic!(
                "the task is listed among the pods left on the node: {:#?}",
                status.skipped_pods
            )
        });
    assert!(
        task_note.reason.starts_with("drydock's task pod"),
        "{}",
        task_note.reason
    );
    let evicted = env.evictions_by_pod();
    assert_eq!(evicted.len(), web.len(), "only the web pods were evicted: {evicted:?}");
}

/// A controller that died between creating the task and recording it, and comes back only after its
/// NodeMaintenance was deleted, still finds the task by its name and stops it itself before it gives the node
/// back (the audit log must show drydock's delete of the running pod, not only the garbage collector's).
#[tokio::test]
async fn a_task_never_recorded_is_still_stopped_when_its_maintenance_is_deleted() {
    let mut env = TestEnv::new("task-unrecorded").await;
    let node = env.node("a").await;
    env.expect_audit(Expect {
        task_creates: 1,
        task_deletes: 1,
        ..Expect::restored(&node, 0)
    });
    let mut first = Drydock::start(&env, 0);
    let nm = env
        .maintenance(
            "kernel",
            &node,
            json!({"task": task("registry.example/kernel-upgrade:6.6", "Hold")}),
        )
        .await;
    env.wait_nm("kernel", Phase::Drained, |nm| {
        task_phase(nm) == Some(TaskPhase::Running)
    })
    .await;
    first.kill();
    forget_task(&env, &nm.name_any()).await;
    // Deleted while no controller runs: the finalizer keeps it until drydock restores the node.
    env.nms()
        .delete(&nm.name_any(), &DeleteParams::default())
        .await
        .expect("delete the maintenance");
    let _second = Drydock::start(&env, 1);
    wait_until("the maintenance to be gone", Duration::from_secs(60), || async {
        env.nms().get_opt(&nm.name_any()).await.is_ok_and(|n| n.is_none())
    })
    .await;
    assert!(!held(&env.get_node(&node).await), "restored");
    wait_until("the task pod to be gone", Duration::from_secs(30), || async {
        task_pods(&env, &nm.name_any()).await.is_empty()
    })
    .await;
}
