//! One reconcile of a NodeMaintenance: observe (its node, the pods on it, its freshest status), decide
//! (`plan::phase::decide`), act (through `act`), and record what happened (`plan::status::report`, written
//! through `act`). The clock is read once, at the start. Reconcile never blocks waiting for pods: it is woken
//! by watches on the node and on its pods.
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{Api, ResourceExt, api::ListParams, runtime::controller::Action};
use tracing::instrument;

use super::{
    context::{Context, MemoryGuard},
    drain, health, node_conditions, pod_watch,
};
use crate::{
    act,
    api::{
        names::{CONTROL_PLANE_LABEL, FINALIZER, HEALTH_GATE_BLOCKED, NODE_REFUSED, TASK_REFUSED},
        v1alpha1::{NodeMaintenance, NodeMaintenanceStatus, OnTimeout, Phase, TaskStatus},
    },
    error::{Error, Result},
    gather,
    notify::{Notification, Object},
    plan::{
        lifecycle,
        node::NodeView,
        notify::Notice,
        phase::{self, Ending, Observed, Peers, Quota, Step},
        place::Room,
        pods::{DrainInputs, DrainPlan, holding_taints, plan_drain},
        spec::{self, Checked, SpecError},
        status::{self, Outcome},
        task,
    },
};

/// Longest sleep between looks at an active maintenance when no watch wakes it: a safety net only.
const RESYNC: Duration = Duration::from_secs(60);
/// A drain's progress (counts and pod lists) is written at most this often; any other change at once. A drain of
/// 1000 pods wrote its status on most of its ~150 reconciles before.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often a maintenance held back by its health gates asks again (nothing watches Prometheus).
const GATE_RECHECK: Duration = Duration::from_secs(10);

/// What one reconcile read before deciding.
struct Seen {
    node: Option<Node>,
    view: Option<NodeView>,
    /// The node's annotations name this maintenance as its holder.
    holds: bool,
    status: NodeMaintenanceStatus,
    checked: Result<Checked, SpecError>,
    /// The drain as planned from the pods on the node now, while this maintenance holds it.
    plan: Option<DrainPlan>,
    /// The task pod, when it was looked for and found.
    task_pod: Option<Pod>,
    /// The task as seen now (`task::observe`).
    task: Option<TaskStatus>,
}

#[instrument(skip_all, fields(nm = %nm.name_any(), node = %nm.spec.node_name))]
pub(super) async fn reconcile(nm: &NodeMaintenance, ctx: &Context) -> Result<Action> {
    let began = Timestamp::now();
    let mut memory = MemoryGuard::take(ctx, &nm.name_any());
    let seen = observe(ctx, nm, &mut memory.memory, began).await?;
    // Deciding to take a node is serialized, so the limit and the control-plane guard see each other's starts.
    let _admission = if seen.holds {
        None
    } else {
        Some(ctx.admission.lock().await)
    };
    let quota = Quota {
        limit: ctx.settings.max_concurrent,
        held_elsewhere: ctx.held_elsewhere(&nm.name_any()),
    };
    let peers = match &seen.view {
        Some(v) if v.control_plane && !seen.holds => Some(control_plane_peers(ctx, &v.name).await?),
        _ => None,
    };
    let refused = seen.plan.as_ref().map_or(0, |p| memory.memory.retries.blocked(p).len());
    // Decided as of now, not as of `began`: observing may wait for a new watch to list (up to 30 s on a busy API
    // server), and a drain first seen blocked after such a wait was recorded as blocked since before it, so
    // drain.timeout fired on that first sight.
    let now = Timestamp::now();
    let mut observed = Observed {
        name: &nm.name_any(),
        spec: &nm.spec,
        status: &seen.status,
        now,
        deleting: nm.metadata.deletion_timestamp.is_some(),
        has_finalizer: nm.finalizers().iter().any(|f| f == FINALIZER),
        checked: seen.checked.clone(),
        node: seen.view.as_ref(),
        drain: seen.plan.as_ref(),
        task: seen.task.as_ref(),
        pdb_blocked: refused,
        exclude_remediation: ctx.settings.exclude_remediation,
        quota,
        control_plane_peers: peers,
    };
    let mut step = phase::decide(&observed);
    // The finalizer and the next step are one reconcile: only the finalizer changed, so what was observed still
    // holds, and waiting for the finalizer's own watch event doubled the time to take a node on a busy server.
    let written;
    let nm = if matches!(step, Step::AddFinalizer) {
        written = act::finalizer::add(&ctx.client, nm).await?;
        observed.has_finalizer = true;
        step = phase::decide(&observed);
        &written
    } else {
        nm
    };
    tracing::debug!(?step, "decided");
    memory.keep = matches!(
        step,
        Step::Drain | Step::Drained { .. } | Step::Hold(_) | Step::StartTask | Step::AwaitTask { .. }
    );
    carry_out(ctx, nm, seen, &mut memory.memory, step, now).await
}

async fn observe(ctx: &Context, nm: &NodeMaintenance, memory: &mut drain::Memory, now: Timestamp) -> Result<Seen> {
    let name = nm.name_any();
    let node_name = &nm.spec.node_name;
    let node = ctx.nodes.get(node_name).await?;
    let view = node.as_ref().map(NodeView::of);
    let holds = view
        .as_ref()
        .is_some_and(|v| v.held_by.as_deref() == Some(name.as_str()));
    let status = ctx.status_of(nm);
    let created = nm.creation_timestamp().map_or(now, |t| t.0);
    let deleting = nm.metadata.deletion_timestamp.is_some();
    let plan = if holds && !deleting && !matches!(status.phase, Phase::Completed | Phase::Failed) {
        let ready = view.as_ref().is_some_and(|v| v.ready);
        Some(plan_now(ctx, nm, ready, memory, now).await?)
    } else {
        None
    };
    // The task pod is read only where it may exist: once recorded, or on a node this maintenance holds (drydock
    // may have created it and stopped before recording it; a restore must find it to stop it).
    let look = nm.spec.task.is_some() && (status.task.is_some() || holds);
    let task_pod = if look {
        let (namespace, name) = match &status.task {
            Some(t) => (t.namespace.clone(), t.pod_name.clone()),
            None => (ctx.settings.task_namespace.clone(), task::pod_name(nm)),
        };
        act::task::get(&ctx.client, &namespace, &name).await?
    } else {
        None
    };
    let task = seen_task(nm, task_pod.as_ref(), status.task.as_ref(), now);
    Ok(Seen {
        node,
        view,
        holds,
        status,
        checked: spec::check(&nm.spec, created),
        plan,
        task_pod: task_pod.filter(|p| task::is_ours(p, nm)),
        task,
    })
}

/// The task as seen now: a pod of its name that is not this maintenance's is reported, never adopted.
fn seen_task(
    nm: &NodeMaintenance,
    pod: Option<&Pod>,
    recorded: Option<&TaskStatus>,
    now: Timestamp,
) -> Option<TaskStatus> {
    match pod {
        Some(p) if !task::is_ours(p, nm) => Some(task::foreign(p, now)),
        _ => task::observe(pod, recorded, now),
    }
}

async fn carry_out(
    ctx: &Context,
    nm: &NodeMaintenance,
    mut seen: Seen,
    memory: &mut drain::Memory,
    step: Step,
    now: Timestamp,
) -> Result<Action> {
    let (name, node_name) = (nm.name_any(), &nm.spec.node_name);
    let nodes = Api::<Node>::all(ctx.client.clone());
    // The plan is there whenever the step drains; an empty one stands in otherwise.
    let none = DrainPlan::default();
    Ok(match step {
        // Added in `reconcile` before deciding again; never decided twice in a row.
        Step::AddFinalizer => Action::await_change(),
        Step::Wait {
            phase,
            reason,
            message,
            until,
        } => {
            let outcome = Outcome::Waiting {
                phase,
                reason,
                message: &message,
            };
            record(ctx, nm, &seen, outcome, now).await?;
            Action::requeue(until.map_or(RESYNC, |t| until_then(now, t)))
        }
        Step::Hold(change) => {
            let Some(node) = seen.node.as_ref() else {
                return Ok(Action::requeue(Duration::from_secs(1)));
            };
            // Health gates hold the node back until they are clear; checked only when the node would be taken.
            if !nm.spec.health_gates.is_empty() && !seen.holds && seen.status.started_at.is_none() {
                let gates: Vec<_> = nm.spec.health_gates.iter().collect();
                let verdict = health::check(ctx, &gates, node_name).await;
                if let Some(message) = verdict.message(&format!("node {node_name}")) {
                    let outcome = Outcome::Waiting {
                        phase: Phase::Pending,
                        reason: HEALTH_GATE_BLOCKED,
                        message: &message,
                    };
                    record(ctx, nm, &seen, outcome, now).await?;
                    return Ok(Action::requeue(GATE_RECHECK));
                }
            }
            // A task the API server would refuse is found out before the node is touched.
            if let (Some(spec), false, None) = (&nm.spec.task, seen.holds, &seen.status.started_at) {
                let pod = task::pod(nm, spec, &ctx.settings.task_namespace);
                let tried = act::task::try_create(&ctx.client, &pod).await;
                if let Some(refusal) = tried.as_ref().err().and_then(refusal) {
                    // Refused for good: end here. (Anything else that failed is retried below, by `tried?`.)
                    let message = format!(
                        "the API server refuses the task pod, so node {node_name} was not touched: {refusal}; fix \
                         spec.task (or the task namespace) and create a new NodeMaintenance"
                    );
                    fail(ctx, nm, &seen, TASK_REFUSED, message, now).await?;
                    return Ok(Action::await_change());
                }
                tried?;
            }
            match act::node::apply(&nodes, node, &change).await {
                Ok(written) => {
                    ctx.nodes.wrote(&written);
                    record(ctx, nm, &seen, Outcome::Held { change: &change }, now).await?;
                }
                // Retrying the same write cannot heal: end here, and give back what an earlier write took.
                Err(e) if e.is_permanent() => {
                    let message = format!(
                        "the API server refused to change node {node_name}: {}; fix the spec and create a new \
                         NodeMaintenance",
                        e.api_message()
                    );
                    fail(ctx, nm, &seen, NODE_REFUSED, message, now).await?;
                }
                Err(e) => return Err(e),
            }
            Action::requeue(Duration::from_millis(50))
        }
        Step::Drain => {
            let plan = seen.plan.as_ref().unwrap_or(&none);
            let round = drain::round(
                &ctx.metrics,
                &ctx.evict_client,
                &mut memory.retries,
                plan,
                nm.spec.drain.grace_period_seconds,
                ctx.settings.eviction_concurrency,
                now,
            )
            .await;
            let outcome = Outcome::Draining {
                plan,
                done: round.done,
                errors: &round.errors,
                refused: memory.retries.blocked(plan),
            };
            let held_back = record(ctx, nm, &seen, outcome, now).await?;
            let next = memory.retries.next_retry(now);
            let after = next.map_or(RESYNC, |d| d.max(Duration::from_millis(500)));
            Action::requeue(if held_back { after.min(PROGRESS_EVERY) } else { after })
        }
        Step::Drained { until } => {
            let plan = seen.plan.as_ref().unwrap_or(&none);
            record(ctx, nm, &seen, Outcome::Drained { plan }, now).await?;
            Action::requeue(until.map_or(RESYNC, |t| until_then(now, t).min(RESYNC)))
        }
        Step::StartTask => {
            let Some(spec) = &nm.spec.task else {
                return Ok(Action::requeue(RESYNC));
            };
            let (namespace, name) = (&ctx.settings.task_namespace, task::pod_name(nm));
            let pod = task::pod(nm, spec, namespace);
            seen.task = match act::task::create(&ctx.client, &pod).await {
                // Created, or found already there (a restart between the create and the status write).
                Ok(found) => seen_task(nm, found.as_ref(), None, now)
                    .or_else(|| Some(task::refused(namespace, &name, "created, then gone at once", now))),
                Err(e) => match refusal(&e) {
                    Some(why) => Some(task::refused(namespace, &name, &why, now)),
                    None => return Err(e),
                },
            };
            let plan = seen.plan.as_ref().unwrap_or(&none);
            record(ctx, nm, &seen, Outcome::Task { plan }, now).await?;
            Action::requeue(Duration::from_secs(1))
        }
        Step::AwaitTask { until } => {
            let plan = seen.plan.as_ref().unwrap_or(&none);
            record(ctx, nm, &seen, Outcome::Task { plan }, now).await?;
            Action::requeue(until.map_or(RESYNC, |t| until_then(now, t).min(RESYNC)))
        }
        Step::Restore {
            change,
            ending,
            stop_task,
        } => {
            // The task goes first: nothing of drydock's runs on a node it gives back.
            if let (true, Some(pod)) = (stop_task, seen.task_pod.as_ref()) {
                act::task::delete(&ctx.client, pod).await?;
            }
            if let (Some(change), Some(node)) = (change.as_ref(), seen.node.as_ref()) {
                ctx.nodes.wrote(&act::node::apply(&nodes, node, change).await?);
            }
            ctx.pods.stop(node_name, &name);
            let outcome = Outcome::Ended {
                ending: &ending,
                restored: change.is_some(),
                stopped_task: stop_task,
            };
            record(ctx, nm, &seen, outcome, now).await?;
            ctx.wake_pending();
            Action::requeue(Duration::from_millis(50))
        }
        Step::ReleaseFinalizer => {
            ctx.pods.stop(node_name, &name);
            ctx.forget(nm);
            act::finalizer::remove(&ctx.client, nm).await?;
            Action::await_change()
        }
        Step::Done => {
            ctx.pods.stop(node_name, &name);
            ctx.forget(nm);
            Action::await_change()
        }
    })
}

/// Ends the maintenance Failed without touching the node (nothing, or nothing more, was changed), and lets the
/// maintenances waiting for a slot look again.
async fn fail(
    ctx: &Context,
    nm: &NodeMaintenance,
    seen: &Seen,
    reason: &'static str,
    message: String,
    now: Timestamp,
) -> Result<()> {
    let ending = Ending {
        phase: Phase::Failed,
        reason,
        message,
    };
    let outcome = Outcome::Ended {
        ending: &ending,
        restored: false,
        stopped_task: false,
    };
    record(ctx, nm, seen, outcome, now).await?;
    ctx.wake_pending();
    Ok(())
}

/// Tells people what happened: the Events `plan::status` chose, and the status it computed, written only when
/// it changed.
/// Returns whether the new status was held back (a drain's progress, written within [`PROGRESS_EVERY`]).
async fn record(
    ctx: &Context,
    nm: &NodeMaintenance,
    seen: &Seen,
    outcome: Outcome<'_>,
    now: Timestamp,
) -> Result<bool> {
    let name = nm.name_any();
    let draining = matches!(outcome, Outcome::Draining { .. });
    let facts = status::Seen {
        name: &name,
        node_name: &nm.spec.node_name,
        generation: nm.metadata.generation,
        node: seen.view.as_ref(),
        window_end: seen.checked.as_ref().ok().and_then(|c| c.window.end),
        task: seen.task.as_ref(),
        hold_timeout: seen
            .checked
            .as_ref()
            .ok()
            .and_then(|c| c.drain_timeout)
            .filter(|_| nm.spec.drain.on_timeout == OnTimeout::Hold),
    };
    let report = status::report(&seen.status, &facts, outcome, now);
    if let Some(d) = report.drained_after {
        ctx.metrics.drained_after(d.as_secs_f64());
    }
    // The node shows the new phase before the status records it: a crash in between writes it again.
    if let Some(node) = &seen.node {
        let wanted = lifecycle::for_maintenance(&name, &report.status);
        node_conditions::show(ctx, node, &wanted, act::events::reference(nm), now).await?;
    }
    publish(ctx, nm, seen.node.as_ref(), &report.events).await;
    let phase = report.status.phase;
    // Progress may wait; what people are told about (an Event, a notification) is written with it.
    let may_wait = draining && report.events.is_empty() && report.notices.is_empty();
    let held_back = write_status(ctx, nm, &seen.status, report.status, may_wait).await?;
    // Only once the status records the transition: a reconcile that fails before sends nothing, and the one that
    // retries it sends the same notification (same ID) once.
    notify(ctx, nm, phase, &report.notices, now);
    Ok(held_back)
}

/// Hands the maintenance's notices to the notification receivers (queued; never waits).
fn notify(ctx: &Context, nm: &NodeMaintenance, phase: Phase, notices: &[Notice], now: Timestamp) {
    for notice in notices {
        let object = Object {
            kind: "NodeMaintenance".into(),
            name: nm.name_any(),
            uid: nm.uid().unwrap_or_default(),
        };
        let mut n = Notification::new(notice, object, now);
        n.node = Some(nm.spec.node_name.clone());
        n.phase = Some(format!("{phase:?}"));
        n.schedule = nm
            .owner_references()
            .iter()
            .find(|o| o.kind == "MaintenanceSchedule")
            .map(|o| o.name.clone());
        ctx.recorder.notifier.send(&n);
    }
}

/// Publishes Events on the NodeMaintenance, and on its Node where the note says so.
pub(super) async fn publish(ctx: &Context, nm: &NodeMaintenance, node: Option<&Node>, notes: &[status::Note]) {
    for note in notes {
        let mut on = vec![act::events::reference(nm)];
        if let (true, Some(node)) = (note.on_node, node) {
            on.push(act::events::node_reference(node));
        }
        act::events::publish(&ctx.recorder, note, &note.reason, &on).await;
    }
}

/// Writes `new` when it differs from `old`, and remembers it as the freshest status of `nm`.
pub(super) async fn write_status(
    ctx: &Context,
    nm: &NodeMaintenance,
    old: &NodeMaintenanceStatus,
    new: NodeMaintenanceStatus,
    may_wait: bool,
) -> Result<bool> {
    let last = ctx.last_write(nm);
    let pending = last.is_some_and(|(_, pending)| pending);
    if new == *old && !pending {
        return Ok(false);
    }
    let recent = last.is_some_and(|(at, _)| at.elapsed() < PROGRESS_EVERY);
    if may_wait && recent && status::progress_only(old, &new) {
        ctx.remember(nm, new, false);
        return Ok(true);
    }
    act::status::maintenance(&ctx.client, &nm.name_any(), &new).await?;
    ctx.remember(nm, new, true);
    Ok(false)
}

/// The drain as planned from the pods on the node now: the drain's rules, the taints that hold the node (pods that
/// tolerate them all would come straight back), and, unless drain.evictUnplaceable, where each evicted pod's
/// replacement could go (the node cache, plus what `gather` reads for anti-affinity and volumes).
async fn plan_now(
    ctx: &Context,
    nm: &NodeMaintenance,
    node_ready: bool,
    memory: &mut drain::Memory,
    now: Timestamp,
) -> Result<DrainPlan> {
    let (name, node_name) = (nm.name_any(), &nm.spec.node_name);
    let pods = ctx.pods.pods(node_name, &name).await?;
    let on_node: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
    let look = !nm.spec.drain.evict_unplaceable;
    if look {
        pod_watch::synced(ctx.nodes.store(), node_name, "the node cache").await?;
        if gather::needs_lookups(&on_node) {
            gather::room(&ctx.client, &mut memory.room, &on_node)
                .await
                .map_err(|source| Error::ReadSurroundings {
                    node: node_name.clone(),
                    source,
                })?;
        }
    }
    let nodes = if look { ctx.nodes.cached() } else { Vec::new() };
    let taints = holding_taints(&name, &nm.spec.taints);
    let room = look.then(|| {
        Room::new(
            node_name,
            nodes.iter().map(|n| &**n),
            memory.room.pods(),
            memory.room.volumes(),
        )
    });
    Ok(plan_drain(
        on_node.iter().copied(),
        DrainInputs {
            drain: &nm.spec.drain,
            now,
            own_pod: ctx.settings.own_pod.as_ref().map(|(ns, n)| (ns.as_str(), n.as_str())),
            holding_taints: &taints,
            node_ready,
            room,
        },
    ))
}

/// The control-plane nodes other than `target`: how many, how many Ready, which are held by drydock.
async fn control_plane_peers(ctx: &Context, target: &str) -> Result<Peers> {
    let list = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default().labels(CONTROL_PLANE_LABEL))
        .await
        .map_err(|source| Error::ListNodes {
            which: format!("control-plane nodes, for {target}"),
            source,
        })?;
    let others: Vec<NodeView> = list
        .items
        .iter()
        .map(NodeView::of)
        .filter(|v| v.name != target)
        .collect();
    Ok(Peers {
        total: others.len(),
        ready: others.iter().filter(|v| v.ready).count(),
        held: others
            .iter()
            .filter(|v| v.held_by.is_some())
            .map(|v| v.name.clone())
            .collect(),
    })
}

/// A refusal by the API server (a 4xx other than a conflict or throttling: invalid, forbidden by Pod Security
/// or a policy, no such namespace) in its own words; None for errors that are retried.
fn refusal(e: &Error) -> Option<String> {
    e.api_code()
        .filter(|code| (400..500).contains(code) && !matches!(code, 408 | 409 | 429))
        .map(|_| e.api_message())
}

/// Sleep until `t`, at least a second (clocks differ) and at most [`RESYNC`].
fn until_then(now: Timestamp, t: Timestamp) -> Duration {
    let d = t.duration_since(now).unsigned_abs();
    d.clamp(Duration::from_secs(1), RESYNC)
}
