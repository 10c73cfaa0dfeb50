//! The MaintenanceSchedule controller: while a schedule's window is open it creates one NodeMaintenance per
//! selected node, at most maxUnavailable at once, named after the window so a restart never creates
//! duplicates; the NodeMaintenances carry the window's end, so they restore their nodes when it closes.
//! Observe (the pool, the schedule's NodeMaintenances), decide (`plan::fleet`, `plan::rollout`), act (`act`).
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::{Node, Taint},
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::{Api, ResourceExt, api::ListParams, core::Selector, runtime::controller::Action};
use tracing::{info, instrument};

use super::{Context, health, node_conditions};
use crate::{
    act,
    api::{
        names::{
            APPROVED_ANNOTATION, EXCLUDE_ANNOTATION, HELD_BY_ANNOTATION, QUARANTINE_LABEL, UPCOMING_TAINT, WINDOW_LABEL,
        },
        v1alpha1::{MaintenanceSchedule, NodeMaintenance, RolloutPolicy},
    },
    error::{Error, Result},
    plan::{
        fleet::{self, FleetPlan, PoolNode},
        gates::{self, Verdict},
        lifecycle, names,
        node::is_ready,
        pacing::{self, Pace, Wait},
        rollout,
        schedule::{self, Occurrence, Schedule},
        window::parse_duration,
    },
};

/// How often an open window is looked at even without a change: NotReady nodes and budget changes are not
/// watched (NodeMaintenance changes are).
const OPEN_RESYNC: Duration = Duration::from_secs(15);
const CLOSED_RESYNC: Duration = Duration::from_secs(300);

#[instrument(skip_all, fields(ms = %ms.name_any()))]
pub(super) async fn reconcile(ms: &MaintenanceSchedule, ctx: &Context) -> Result<Action> {
    let now = Timestamp::now();
    let name = ms.name_any();
    let spec = &ms.spec;
    let parsed = Schedule::parse(&spec.schedule, &spec.time_zone, &spec.duration);
    let selector = spec
        .node_selector
        .clone()
        .try_into()
        .map_err(|e: kube::core::ParseExpressionError| e.0);
    let (sched, selector) = match (parsed, selector) {
        (Ok(s), Ok(sel)) => (s, sel),
        (Err(e), _) => return invalid(ctx, ms, &e.to_string(), now).await,
        (_, Err(e)) => return invalid(ctx, ms, &format!("nodeSelector is invalid: {e}"), now).await,
    };
    let selector: Selector = selector;
    // The CRD refuses bad durations at apply; an older CRD may not have.
    let policy = spec.rollout.clone().unwrap_or_default();
    let soak = policy
        .soak
        .as_deref()
        .map(|s| parse_duration("rollout.soak", s))
        .transpose();
    let drain_timeout = spec
        .template
        .drain
        .timeout
        .as_deref()
        .map(|t| parse_duration("template.drain.timeout", t))
        .transpose();
    let (soak, drain_timeout) = match (soak, drain_timeout) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => return invalid(ctx, ms, &e.to_string(), now).await,
    };
    let nodes_api = Api::<Node>::all(ctx.client.clone());
    // Listed, not read from the node cache: a node created a moment ago must count in its pool, and nothing wakes
    // a schedule when a node joins it.
    let nodes = nodes_api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(|source| Error::ListNodes {
            which: format!("nodes of schedule {name}"),
            source,
        })?
        .items;
    let budget = schedule::budget(
        spec.max_unavailable.as_ref().unwrap_or(&IntOrString::Int(1)),
        nodes.len(),
    );
    let budget = match budget {
        Ok(b) => b,
        Err(e) => return invalid(ctx, ms, &e.to_string(), now).await,
    };
    // Overlapping windows would start every node again in each new window. Refused like an invalid spec (no
    // window opens), but the schedule still counts what its earlier windows hold and clears its taints.
    let refused = sched
        .check_overlap(&spec.schedule, &spec.duration, now)
        .err()
        .map(|e| e.to_string());
    let open = sched.open_window(now).filter(|_| !spec.suspend && refused.is_none());
    let window_id = open.map(|w| w.id());
    let owned: Vec<Arc<NodeMaintenance>> = ctx
        .maintenances()
        .into_iter()
        .filter(|nm| nm.owner_references().iter().any(|o| Some(&o.uid) == ms.uid().as_ref()))
        .collect();
    // The last of this window's maintenances to finish, for the soak; the next drain to pass its timeout.
    let mut last_finished: Option<(jiff::Timestamp, String)> = None;
    let mut next_timeout: Option<jiff::Timestamp> = None;
    let pool: BTreeMap<String, PoolNode> = nodes
        .iter()
        .map(|n| {
            let node = n.name_any();
            let this_window = window_id.as_ref().and_then(|id| {
                owned
                    .iter()
                    .find(|nm| nm.spec.node_name == node && nm.labels().get(WINDOW_LABEL) == Some(id))
                    .map(|nm| (nm.name_any(), ctx.status_of(nm)))
            });
            let maintenance = this_window.as_ref().map(|(_, s)| s.phase);
            let failed_task = this_window
                .as_ref()
                .and_then(|(nm, status)| fleet::task_failure(nm, status));
            let drain_timed_out = this_window
                .as_ref()
                .and_then(|(nm, status)| fleet::drain_timeout(nm, &node, status, drain_timeout, now));
            let times_out = this_window
                .as_ref()
                .and_then(|(_, status)| fleet::drain_timeout_at(status, drain_timeout))
                .filter(|t| *t > now);
            next_timeout = next_timeout.into_iter().chain(times_out).min();
            if let Some(at) = this_window.as_ref().and_then(|(_, s)| s.completed_at.as_ref())
                && last_finished.as_ref().is_none_or(|(t, _)| at.0 > *t)
            {
                last_finished = Some((at.0, node.clone()));
            }
            let holder = n.annotations().get(HELD_BY_ANNOTATION);
            let pool_node = PoolNode {
                ready: is_ready(n),
                held: holder.is_some(),
                holding: holder.is_some_and(|h| owned.iter().any(|nm| nm.name_any() == *h)),
                excluded: n.annotations().get(EXCLUDE_ANNOTATION).map(String::as_str) == Some("true"),
                upcoming: n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_some_and(|ts| ts.iter().any(|t| t.key == UPCOMING_TAINT)),
                maintenance,
                failed_task,
                drain_timed_out,
                quarantined: n.labels().contains_key(QUARANTINE_LABEL),
            };
            (node, pool_node)
        })
        .collect();
    let plan = fleet::plan(
        &pool,
        budget,
        open.is_some(),
        policy.on_drain_timeout.unwrap_or_default(),
    );
    for node in &plan.quarantine {
        let value = names::shorten(&name, names::MAX_LABEL_VALUE);
        ctx.nodes
            .wrote(&act::node::set_label(&nodes_api, node, QUARANTINE_LABEL, &value).await?);
        info!(node, "schedule put aside a node whose drain timed out");
    }
    let (start, wait) = match open {
        Some(window) => {
            let last = last_finished.as_ref().map(|(t, n)| (*t, n.as_str()));
            pace(ctx, ms, &policy, soak, &window, &plan, last, now).await
        }
        None => (Vec::new(), None),
    };

    let upcoming = Taint {
        key: UPCOMING_TAINT.into(),
        value: Some(name.clone()),
        effect: "PreferNoSchedule".into(),
        time_added: None,
    };
    for n in nodes.iter() {
        let node = n.name_any();
        // MaintenancePlanned goes with the upcoming taint, written first (a crash in between taints again); the
        // taint is then written over the node as the condition's write left it.
        let upcoming_now = if plan.taint.contains(&node) {
            true
        } else if plan.untaint.contains(&node) {
            false
        } else {
            continue;
        };
        let wanted = [lifecycle::for_schedule(&name, upcoming_now)];
        let written = node_conditions::show(ctx, n, &wanted, act::events::reference(ms), now).await?;
        if let Some(written) =
            act::node::set_taint(&nodes_api, written.as_ref().unwrap_or(n), &upcoming, upcoming_now).await?
        {
            ctx.nodes.wrote(&written);
        }
    }
    if let Some(window) = open {
        for node in &start {
            let nm = rollout::maintenance(ms, &window, node);
            if act::maintenance::create(&ctx.client, &nm).await? {
                info!(nm = %nm.name_any(), node, "schedule started a maintenance");
            }
        }
    }
    let report = rollout::status(ms, &sched, open, &plan, wait.as_ref(), refused.as_deref(), now);
    write(ctx, ms, report).await?;
    // Look again when the soak ends or a drain passes its timeout, if that comes before the usual look.
    let soak_ends = wait
        .as_ref()
        .and_then(|w| w.until)
        .into_iter()
        .chain(next_timeout)
        .min()
        .map(|until| {
            until
                .duration_since(now)
                .unsigned_abs()
                .clamp(Duration::from_millis(100), OPEN_RESYNC)
        });
    Ok(Action::requeue(match open {
        Some(_) => soak_ends.unwrap_or(OPEN_RESYNC),
        None => sched
            .next_window(now)
            .map(|w| {
                w.start
                    .duration_since(now)
                    .unsigned_abs()
                    .clamp(Duration::from_secs(1), CLOSED_RESYNC)
            })
            .unwrap_or(CLOSED_RESYNC),
    }))
}

/// Which of the candidates start now, and what the rollout waits for: the pacing's limits first (no query
/// needed), then the fleet's gates, then each approved node's own gates, in order, until the free slots are
/// filled. Prometheus is asked only when a node could start.
#[allow(clippy::too_many_arguments)]
async fn pace(
    ctx: &Context,
    ms: &MaintenanceSchedule,
    policy: &RolloutPolicy,
    soak: Option<Duration>,
    window: &Occurrence,
    plan: &FleetPlan,
    last_finished: Option<(jiff::Timestamp, &str)>,
    now: jiff::Timestamp,
) -> (Vec<String>, Option<Wait>) {
    if plan.stopped.is_some() || plan.candidates.is_empty() {
        return (Vec::new(), None);
    }
    let name = ms.name_any();
    let id = window.id();
    let approved: BTreeSet<String> = pacing::approvals(ms.annotations().get(APPROVED_ANNOTATION).map(String::as_str));
    let p = Pace {
        schedule: &name,
        window: &id,
        approval: policy.approval,
        approved: &approved,
        soak,
        max_nodes_per_window: policy.max_nodes_per_window.map(|n| n.max(0) as usize),
        started: plan.started,
        last_finished,
        now,
    };
    if let Some(wait) = pacing::hold_all(&p, plan.candidates.len()) {
        return (Vec::new(), Some(wait));
    }
    let free = pacing::free(&p, plan.free);
    if free == 0 {
        return (Vec::new(), None);
    }
    let (approved_nodes, awaiting) = pacing::approved(&p, &plan.candidates);
    let (per_node, fleet_wide): (Vec<_>, Vec<_>) = policy.health_gates.iter().partition(|g| gates::per_node(g));
    let fleet = match fleet_wide.is_empty() || approved_nodes.is_empty() {
        true => Verdict::Clear,
        false => health::check(ctx, &fleet_wide, "").await,
    };
    let mut verdicts = BTreeMap::new();
    if fleet.is_clear() {
        let mut clear = 0;
        for node in approved_nodes.iter() {
            if clear == free {
                break;
            }
            let verdict = match per_node.is_empty() {
                true => Verdict::Clear,
                false => health::check(ctx, &per_node, node).await,
            };
            clear += usize::from(verdict.is_clear());
            verdicts.insert(node.clone(), verdict);
        }
    }
    pacing::choose(&p, &approved_nodes, &awaiting, &fleet, &verdicts, free)
}

/// Writes the schedule's status when it changed, then the Events that go with it.
async fn write(ctx: &Context, ms: &MaintenanceSchedule, report: rollout::Report) -> Result<()> {
    if ms.status.as_ref() == Some(&report.status) {
        return Ok(());
    }
    act::status::schedule(&ctx.client, &ms.name_any(), &report.status).await?;
    for note in &report.events {
        act::events::publish(&ctx.recorder, note, "Validate", &[act::events::reference(ms)]).await;
    }
    Ok(())
}

/// A schedule drydock cannot use: say so, create nothing, look again later.
async fn invalid(ctx: &Context, ms: &MaintenanceSchedule, message: &str, now: Timestamp) -> Result<Action> {
    write(ctx, ms, rollout::invalid(ms, message, now)).await?;
    Ok(Action::requeue(CLOSED_RESYNC))
}
