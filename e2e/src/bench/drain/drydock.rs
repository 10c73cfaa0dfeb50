//! One drain by drydock: a NodeMaintenance created, timed until the watches see it Drained, then deleted.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::ENV_LABEL;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api,
    api::{DeleteParams, PostParams},
    runtime::watcher,
};
use serde_json::json;
use tokio::sync::Notify;

use super::{
    Ctx, DrainRun, Layout, SETTLE_LIMIT,
    measure::{Own, Seen, new_run, watch_node},
    setup::{Where, wait_settled},
};
use crate::bench::{
    Mark, Result,
    apiserver::{AuditMark, RequestTotals},
    infra::{self, Footprint},
    progress,
};

/// Upper bound for one drain (liveness only: kubectl at 5 requests/s needs minutes for 1000 pods).
const DRAIN_LIMIT: Duration = Duration::from_secs(45 * 60);
/// A drydock drain with no change on the node or in its status for this long is recorded as stuck.
const STALL: Duration = Duration::from_secs(120);

pub(super) async fn drain(ctx: &mut Ctx<'_>, l: &Layout, pair: usize) -> Result<DrainRun> {
    if !ctx.drydock.alive() {
        return Err(format!("drydock died; see {}", ctx.drydock.log.display()).into());
    }
    let env = ctx.env;
    let name = format!("{}-n{}-p{pair}", env.id, l.size);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let notify = Arc::new(Notify::new());
    let mut watches = watch_node(&env.client, &l.dd, seen.clone(), notify.clone()).await?;
    let (s, n) = (seen.clone(), notify.clone());
    watches.push(
        infra::watch(
            Api::<NodeMaintenance>::all(env.client.clone()),
            watcher::Config::default().fields(&format!("metadata.name={name}")),
            move |at, e| {
                if let watcher::Event::Apply(nm) = e {
                    let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                    s.last_change = Some(at);
                    if nm.status.as_ref().is_some_and(|s| s.phase == Phase::Drained) {
                        s.drained.get_or_insert(at);
                        n.notify_one();
                    }
                }
            },
        )
        .await?,
    );
    let nm: NodeMaintenance = serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
        "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
        // The same pods may leave as with kubectl drain --ignore-daemonsets --delete-emptydir-data.
        "spec": {"nodeName": l.dd, "reason": "bench", "drain": {"deleteEmptyDirData": true}}
    }))?;
    let nms = Api::<NodeMaintenance>::all(env.client.clone());

    let before = RequestTotals::scrape(&env.client).await?;
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let s0 = ctx.sampler.sample();
    let t0 = Mark::now();
    nms.create(&PostParams::default(), &nm).await?;
    let outcome = wait_drained(&seen, &notify, &t0).await?;
    let t1 = outcome.unwrap_or_else(|_| Mark::now());
    let s1 = ctx.sampler.sample();
    let after = RequestTotals::scrape(&env.client).await?;
    drop(watches);

    let mut run = new_run("drydock", l.size, pair, &t0, &t1, &seen, after.since(&before));
    Own::read(ctx.cfg, &audit, "drydock", &t0, &t1).fill(&t0, &mut run);
    run.footprint = Some(Footprint::of(&ctx.sampler, &s0, &s1));
    if let Err(quiet) = outcome {
        let status = nms.get(&name).await?.status.unwrap_or_default();
        let left = seen.lock().unwrap_or_else(|p| p.into_inner()).pods.len();
        let last_error = status
            .last_error
            .map(|e| format!("; lastError: {e}"))
            .unwrap_or_default();
        let note = format!(
            "stuck: no change for {quiet:.0} s with {left} pod(s) still on the node; status {:?}: {}{last_error}",
            status.phase,
            status.message.unwrap_or_default(),
        );
        progress(format!("drain: drydock {note}"));
        run.completed = false;
        run.note = Some(note);
    }

    // Give the node back and let the replacements settle before kubectl's window.
    nms.delete(&name, &DeleteParams::default()).await?;
    infra::wait(
        "the NodeMaintenance gone and the node uncordoned",
        SETTLE_LIMIT,
        Duration::from_millis(200),
        || async {
            let gone = nms.get_opt(&name).await.ok()?.is_none();
            let node = Api::<Node>::all(env.client.clone()).get(&l.dd).await.ok()?;
            (gone && node.spec.and_then(|s| s.unschedulable) != Some(true)).then_some(())
        },
    )
    .await?;
    wait_settled(
        ctx,
        l,
        if run.completed {
            Where::NotOn(&l.dd)
        } else {
            Where::Anywhere
        },
    )
    .await?;
    Ok(run)
}

/// Waits until the watches saw drydock's Drained; Err(seconds) when nothing changed for [`STALL`].
async fn wait_drained(seen: &Mutex<Seen>, notify: &Notify, t0: &Mark) -> Result<Result<Mark, f64>> {
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    loop {
        {
            let s = seen.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(m) = s.drained {
                return Ok(Ok(m));
            }
            let quiet = s.last_change.map_or(t0.elapsed(), |m| m.elapsed());
            if quiet > STALL.as_secs_f64() {
                return Ok(Err(quiet));
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("drydock's drain not done within {DRAIN_LIMIT:?}").into());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), notify.notified()).await;
    }
}
