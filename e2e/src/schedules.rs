//! MaintenanceSchedules in tests: a window that opens now, and a watch on how many of a pool are cordoned at once.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use drydock::api::v1alpha1::{MaintenanceSchedule, NodeMaintenance, Phase};
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;

use crate::{ENV_LABEL, TestEnv, controller::unschedulable};

impl TestEnv {
    /// `n` kwok nodes labelled `pool=<pool>`, named n1..n<n> after the environment.
    pub async fn pool(&mut self, pool: &str, n: usize) -> Vec<String> {
        let mut nodes = Vec::new();
        for i in 1..=n {
            nodes.push(
                self.node_with(&format!("n{i}"), json!({"labels": {"pool": pool}}))
                    .await,
            );
        }
        nodes
    }

    /// Waits until no node of `pool` has a taint left: the schedule takes the upcoming taint off the last node on
    /// its next look, just after that node's maintenance ended.
    pub async fn wait_pool_untainted(&self, pool: &[String]) {
        let nodes = Api::<Node>::all(self.client.clone());
        crate::wait_until(
            "the upcoming taint gone from the pool",
            Duration::from_secs(10),
            || async {
                let mut clean = true;
                for n in pool {
                    clean &= nodes
                        .get(n)
                        .await
                        .is_ok_and(|node| crate::controller::taints(&node).is_empty());
                }
                clean
            },
        )
        .await;
    }
}

/// A cron expression that fired at the start of the current UTC minute (and next fires tomorrow), and how long
/// ago that was.
pub fn this_minute() -> (String, Duration) {
    let now = jiff::Timestamp::now();
    let utc = now.to_zoned(jiff::tz::TimeZone::UTC);
    let elapsed = Duration::from_secs(utc.second() as u64) + Duration::from_nanos(utc.subsec_nanosecond() as u64);
    (format!("{} {} * * *", utc.minute(), utc.hour()), elapsed)
}

/// Creates the schedule `<env id>-<name>` over the nodes labelled `pool=<pool>`, its window opening this minute
/// for `duration`, `max_unavailable` nodes at a time, each getting `template`; returns its name.
pub async fn create_schedule(
    env: &TestEnv,
    name: &str,
    pool: &str,
    duration: &str,
    max_unavailable: u32,
    template: serde_json::Value,
) -> String {
    create_rollout(
        env,
        name,
        pool,
        max_unavailable,
        template,
        serde_json::Value::Null,
        duration,
    )
    .await
}

/// [`create_schedule`] with spec.rollout (`rollout`, none when null) and a window of `duration`.
pub async fn create_rollout(
    env: &TestEnv,
    name: &str,
    pool: &str,
    max_unavailable: u32,
    template: serde_json::Value,
    rollout: serde_json::Value,
    duration: &str,
) -> String {
    let (cron, _) = this_minute();
    let mut spec = json!({
        "schedule": cron, "timeZone": "UTC", "duration": duration,
        "nodeSelector": {"matchLabels": {"pool": pool}},
        "maxUnavailable": max_unavailable,
        "template": template
    });
    if !rollout.is_null() {
        spec["rollout"] = rollout;
    }
    let ms: MaintenanceSchedule = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
        "metadata": {"name": format!("{}-{name}", env.id), "labels": {ENV_LABEL: env.id}},
        "spec": spec
    }))
    .expect("schedule json");
    Api::<MaintenanceSchedule>::all(env.client.clone())
        .create(&PostParams::default(), &ms)
        .await
        .expect("create schedule");
    format!("{}-{name}", env.id)
}

/// The schedule's NodeMaintenances (by its label).
pub async fn of_schedule(env: &TestEnv, schedule: &str) -> Vec<NodeMaintenance> {
    let lp = ListParams::default().labels(&format!("drydock.dev/schedule={schedule}"));
    Api::<NodeMaintenance>::all(env.client.clone())
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// The schedule as it is now.
pub async fn schedule(env: &TestEnv, name: &str) -> MaintenanceSchedule {
    Api::<MaintenanceSchedule>::all(env.client.clone())
        .get(name)
        .await
        .expect("get schedule")
}

/// Waits until the schedule's status.waiting says `reason`; returns the schedule.
pub async fn wait_waiting(env: &TestEnv, name: &str, reason: &str) -> MaintenanceSchedule {
    crate::wait_for(
        &format!("schedule {name} waiting for {reason}"),
        Duration::from_secs(30),
        || async {
            let ms = schedule(env, name).await;
            let waits = ms
                .status
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| w.reason == reason);
            waits.then_some(ms)
        },
    )
    .await
}

/// Waits until `count` of the schedule's NodeMaintenances are Completed (within `limit`).
pub async fn wait_completed(env: &TestEnv, name: &str, count: usize, limit: Duration) -> Vec<NodeMaintenance> {
    crate::wait_for(
        &format!("{count} maintenances of schedule {name} completed"),
        limit,
        || async {
            let ours = of_schedule(env, name).await;
            let done = ours
                .iter()
                .filter(|nm| nm.status.as_ref().is_some_and(|s| s.phase == Phase::Completed))
                .count();
            (done >= count).then_some(ours)
        },
    )
    .await
}

/// Samples the pool every 100 ms in the background: the most nodes ever cordoned at once.
pub fn sample_max_cordoned(env: &TestEnv, nodes: Vec<String>) -> (Arc<AtomicUsize>, Arc<AtomicBool>) {
    let (max, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let (m, s, api) = (max.clone(), stop.clone(), Api::<Node>::all(env.client.clone()));
    tokio::spawn(async move {
        while !s.load(Ordering::Relaxed) {
            let mut n = 0;
            for name in &nodes {
                if api.get(name).await.is_ok_and(|node| unschedulable(&node)) {
                    n += 1;
                }
            }
            m.fetch_max(n, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (max, stop)
}
