//! MaintenanceSchedule on the real control plane: a window over a pool of kwok nodes, one node at a time,
//! each maintenance ending when "the kernel agent" (this test) reboots the node, and a window that closes
//! mid-pool. Windows are minutes of real time at most: the schedule's cron names the current minute.
use std::{collections::BTreeSet, sync::atomic::Ordering, time::Duration};

use drydock::api::v1alpha1::{MaintenanceSchedule, NodeMaintenance, Phase};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    audit::Expect,
    controller::{Drydock, taints, unschedulable},
    schedules::{create_schedule, sample_max_cordoned, this_minute},
    wait_until,
};
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

fn schedule_maintenances(all: &[NodeMaintenance], schedule: &str) -> Vec<NodeMaintenance> {
    all.iter()
        .filter(|nm| nm.labels().get("drydock.dev/schedule").map(String::as_str) == Some(schedule))
        .cloned()
        .collect()
}

/// The node shows MaintenancePlanned True, written by `schedule` because its open window will reach the node.
fn planned_by(node: &Node, schedule: &str) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "MaintenancePlanned"
                && c.status == "True"
                && c.reason.as_deref() == Some("UpcomingInWindow")
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(&format!("MaintenanceSchedule {schedule}:")))
        })
}

#[tokio::test]
async fn schedule_rolls_through_the_pool_one_node_at_a_time() {
    let mut env = TestEnv::new("sch-roll").await;
    let pool = env.pool("batch", 4).await;
    // Each of the 4 nodes held, then restored; on each, MaintenancePlanned, then the hold's and the end's
    // lifecycle conditions.
    env.expect_audit(Expect {
        node_writes: 8,
        restored: pool.clone(),
        condition_writes: 12,
        ..Expect::default()
    });
    let (max, stop) = sample_max_cordoned(&env, pool.clone());
    let _drydock = Drydock::start(&env, 0);
    create_schedule(
        &env,
        "kernel",
        "batch",
        "10m",
        1,
        json!({"reason": "kernel 6.6", "completeWhen": {"rebooted": true}}),
    )
    .await;
    let schedule = format!("{}-kernel", env.id);

    // Play the kernel agent: reboot each node once drydock has drained it.
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let nodes = Api::<Node>::all(env.client.clone());
    let mut rebooted = BTreeSet::new();
    let lp = ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    // Nodes seen announced on the Node itself while their turn had not come: MaintenancePlanned, by the schedule.
    let mut announced = BTreeSet::new();
    loop {
        for n in &pool {
            let node = nodes.get(n).await.expect("node");
            if planned_by(&node, &schedule) && !unschedulable(&node) {
                announced.insert(n.clone());
            }
        }
        let all = nms.list(&lp).await.map(|l| l.items).unwrap_or_default();
        let ours = schedule_maintenances(&all, &schedule);
        if ours.len() == 4
            && ours
                .iter()
                .all(|nm| nm.status.as_ref().is_some_and(|s| s.phase == Phase::Completed))
        {
            break;
        }
        for nm in &ours {
            let status = nm.status.clone().unwrap_or_default();
            if status.phase == Phase::Drained
                && status.boot_id_at_drain.is_some()
                && rebooted.insert(nm.spec.node_name.clone())
            {
                let boot = format!("{}-after-upgrade", status.boot_id_at_drain.unwrap_or_default());
                let patch = Patch::Merge(json!({"status": {"nodeInfo": {"bootID": boot}}}));
                nodes
                    .patch_status(&nm.spec.node_name, &PatchParams::default(), &patch)
                    .await
                    .expect("reboot");
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for all 4 nodes; maintenances: {ours:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        max.load(Ordering::Relaxed),
        1,
        "never two nodes of the pool cordoned at once"
    );
    assert!(
        announced.len() >= 3,
        "the nodes waiting their turn showed MaintenancePlanned: only {announced:?}"
    );
    env.wait_pool_untainted(&pool).await;
    for n in &pool {
        let node = nodes.get(n).await.expect("node");
        assert!(!unschedulable(&node), "{n} uncordoned");
        assert!(
            taints(&node).is_empty(),
            "{n}: no drydock taint left, upcoming included: {:?}",
            taints(&node)
        );
        assert!(!planned_by(&node, &schedule), "{n}: no longer planned");
    }
    let ms = Api::<MaintenanceSchedule>::all(env.client.clone())
        .get(&schedule)
        .await
        .expect("schedule");
    let counts = ms.status.and_then(|s| s.nodes).expect("counts");
    assert_eq!(
        (counts.selected, counts.done, counts.remaining, counts.failed),
        (4, 4, 0, 0)
    );
}

#[tokio::test]
async fn a_window_closing_mid_pool_leaves_the_rest_untouched() {
    let mut env = TestEnv::new("sch-close").await;
    let pool = env.pool("web", 3).await;
    // The first node's drain cannot finish (a pod without a controller), so the window closes on it.
    env.bare_pod("pet", &pool[0], json!({})).await;
    env.wait_ready_pods("pet", 1).await;
    // The first node held, then restored when the window closes; the pod stays.
    env.expect_audit(Expect::restored(&pool[0], 0));
    let (max, stop) = sample_max_cordoned(&env, pool.clone());
    let _drydock = Drydock::start(&env, 0);
    let (_, elapsed) = this_minute();
    let duration = format!("{}s", elapsed.as_secs() + 8);
    create_schedule(&env, "short", "web", &duration, 1, json!({})).await;
    let schedule = format!("{}-short", env.id);
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let lp = ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id));
    wait_until(
        "the first node's maintenance ends with the window",
        Duration::from_secs(60),
        || async {
            let all = nms.list(&lp).await.map(|l| l.items).unwrap_or_default();
            schedule_maintenances(&all, &schedule).iter().any(|nm| {
                nm.status.as_ref().is_some_and(|s| {
                    s.phase == Phase::Completed && s.message.as_deref().unwrap_or("").contains("window closed")
                })
            })
        },
    )
    .await;
    // A wrong start would show: the schedule's controller has seen the window close since.
    let schedules = Api::<MaintenanceSchedule>::all(env.client.clone());
    wait_until(
        "the schedule reports its window closed",
        Duration::from_secs(30),
        || async {
            schedules.get(&schedule).await.is_ok_and(|ms| {
                let generation = ms.metadata.generation;
                ms.status.is_some_and(|s| {
                    s.observed_generation == generation
                        && s.conditions
                            .iter()
                            .any(|c| c.type_ == "WindowOpen" && c.status == "False")
                })
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await; // room for a wrong start to show up
    stop.store(true, Ordering::Relaxed);
    let all = nms.list(&lp).await.expect("list").items;
    let ours = schedule_maintenances(&all, &schedule);
    assert_eq!(ours.len(), 1, "only the first node was started");
    assert_eq!(ours[0].spec.node_name, pool[0]);
    assert_eq!(max.load(Ordering::Relaxed), 1);
    let nodes = Api::<Node>::all(env.client.clone());
    for n in &pool {
        let node = nodes.get(n).await.expect("node");
        assert!(
            !unschedulable(&node) && taints(&node).is_empty(),
            "{n} as it was: {:?}",
            taints(&node)
        );
    }
}

/// A time zone the API server cannot check (CEL knows no zone names) is refused by the controller: status and
/// an Event say what to write, and no node is touched.
#[tokio::test]
async fn an_unknown_time_zone_is_reported_and_nothing_happens() {
    let mut env = TestEnv::new("sch-tz").await;
    let n = env.node_with("n1", json!({"labels": {"pool": "tz"}})).await;
    env.expect_audit(Expect::default()); // nothing may happen
    let _drydock = Drydock::start(&env, 0);
    let ms: MaintenanceSchedule = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
        "metadata": {"name": format!("{}-mars", env.id), "labels": {ENV_LABEL: env.id}},
        "spec": {"schedule": "* * * * *", "timeZone": "Mars/Olympus_Mons", "duration": "1h",
                 "nodeSelector": {"matchLabels": {"pool": "tz"}}}
    }))
    .expect("schedule json");
    let api = Api::<MaintenanceSchedule>::all(env.client.clone());
    api.create(&PostParams::default(), &ms).await.expect("create");
    let name = format!("{}-mars", env.id);
    wait_until("the schedule reported invalid", Duration::from_secs(30), || async {
        api.get(&name).await.ok().and_then(|m| m.status).is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Valid" && c.status == "False" && c.message.contains("Europe/Berlin"))
        })
    })
    .await;
    let node = Api::<Node>::all(env.client.clone()).get(&n).await.expect("node");
    assert!(!unschedulable(&node) && taints(&node).is_empty());
}

/// A schedule edited so that its windows overlap (one every minute, each open 2 h) is refused: status says
/// `Valid` False naming the cron, the gap and the duration, a Warning Event says it too, and no new window
/// starts; the node an earlier window still holds is counted as in progress.
#[tokio::test]
async fn overlapping_windows_are_refused_and_what_they_hold_is_counted() {
    let mut env = TestEnv::new("sch-overlap").await;
    let n1 = env.node_with("n1", json!({"labels": {"pool": "overlap"}})).await;
    let _n2 = env.node_with("n2", json!({"labels": {"pool": "overlap"}})).await;
    let _drydock = Drydock::start(&env, 0);
    // A window open now for 10 minutes takes the first node and holds it until the window closes.
    create_schedule(&env, "ovl", "overlap", "10m", 1, json!({})).await;
    let schedule = format!("{}-ovl", env.id);
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let lp = ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id));
    wait_until("the first node held", Duration::from_secs(60), || async {
        let all = nms.list(&lp).await.map(|l| l.items).unwrap_or_default();
        schedule_maintenances(&all, &schedule)
            .iter()
            .any(|nm| nm.spec.node_name == n1 && nm.status.as_ref().is_some_and(|s| s.phase == Phase::Drained))
    })
    .await;

    // Every minute for 2 hours, two nodes at a time: each new window would take the other node at once.
    let api = Api::<MaintenanceSchedule>::all(env.client.clone());
    let patch = json!({"spec": {"schedule": "* * * * *", "duration": "2h", "maxUnavailable": 2}});
    api.patch(&schedule, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patch schedule");
    let refused = |ms: &MaintenanceSchedule| {
        ms.status.as_ref().and_then(|s| {
            let valid = s.conditions.iter().find(|c| c.type_ == "Valid")?;
            let in_progress = s.nodes.as_ref()?.in_progress;
            (valid.status == "False" && valid.reason == "OverlappingWindows" && in_progress == 1)
                .then(|| valid.message.clone())
        })
    };
    let message = drydock_e2e::wait_for("the schedule refused", Duration::from_secs(30), || async {
        refused(&api.get(&schedule).await.ok()?)
    })
    .await;
    for part in ["\"* * * * *\"", "1m apart", "duration 2h"] {
        assert!(message.contains(part), "{part} in: {message}");
    }
    wait_until("the Warning Event", Duration::from_secs(30), || async {
        env.events("MaintenanceSchedule", &schedule)
            .await
            .iter()
            .any(|(reason, note)| reason == "OverlappingWindows" && note == &message)
    })
    .await;

    // Past the next minute's start: still the one maintenance, on the first node.
    let (_, elapsed) = this_minute();
    tokio::time::sleep(Duration::from_secs(63).saturating_sub(elapsed)).await;
    let all = nms.list(&lp).await.expect("list").items;
    let ours = schedule_maintenances(&all, &schedule);
    assert_eq!(ours.len(), 1, "no new window started: {ours:#?}");
    assert_eq!(ours[0].spec.node_name, n1);
    let ms = api.get(&schedule).await.expect("schedule");
    assert!(refused(&ms).is_some(), "{:#?}", ms.status);
}
