//! The NodeMaintenance controller: each reconcile reads the object, its node and the pods on the node, asks
//! `plan::phase::decide` for the next step, carries it out through `act`, and records the result in status and
//! Events. Reconcile never blocks waiting for pods: it is woken by watches on the node and on its pods.
mod drain;
mod orphans;
mod pod_watch;
mod report;
mod schedule;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        events::{Recorder, Reporter},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tracing::{info, instrument, warn};

use crate::{
    act,
    api::{
        lenient::Lenient,
        names::{CONTROL_PLANE_LABEL, FINALIZER, HELD_BY_ANNOTATION},
        v1alpha1::{MaintenanceSchedule, NodeMaintenance, NodeMaintenanceSpec, NodeMaintenanceStatus, Phase},
    },
    error::{Error, Result},
    gather,
    plan::{
        node::NodeView,
        phase::{self, Ending, Observed, Peers, Quota, Step},
        place::Room,
        pods::{self, DrainInputs, holding_taints, plan_drain},
        window::{self, Resolved},
    },
};
use report::Report;

use crate::{
    shutdown::Shutdown,
    telemetry::{http::Health, metrics::Metrics},
};

/// How the controller runs.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Only NodeMaintenances with these labels (a label selector); None = all.
    pub selector: Option<String>,
    /// Evictions in flight at once, per maintenance.
    pub eviction_concurrency: usize,
    /// The controller's own pod (namespace, name), evicted last if it runs on a node being drained.
    pub own_pod: Option<(String, String)>,
    /// Label held nodes remediation.medik8s.io/exclude-from-remediation=true.
    pub exclude_remediation: bool,
    /// Nodes under maintenance at once, across all NodeMaintenances this controller handles.
    pub max_concurrent: usize,
}

/// Longest sleep between looks at an active maintenance when no watch wakes it: a safety net only.
const RESYNC: Duration = Duration::from_secs(60);

pub struct Context {
    client: Client,
    /// Same credentials, kube's retry layer off: an eviction's 429 must come back to us at once.
    evict_client: Client,
    recorder: Recorder,
    pods: pod_watch::PodWatches,
    memory: Mutex<HashMap<String, drain::Memory>>,
    /// The status this controller last wrote, per object UID. The watch cache can lag behind our own writes, and a
    /// decision or a server-side apply made from a stale status would undo what was just recorded (e.g. the
    /// node's prior state). drydock is the only writer of status, so its last write is the truth.
    statuses: Mutex<HashMap<String, NodeMaintenanceStatus>>,
    failures: Mutex<HashMap<String, u32>>,
    settings: Settings,
    metrics: Arc<Metrics>,
    /// Every NodeMaintenance this controller handles (the controller's own cache), readable or not.
    store: Store<Lenient<NodeMaintenance>>,
    /// Every node, trimmed of what no decision reads: where an evicted pod's replacement could go.
    nodes: Store<Node>,
    /// Taken while a maintenance that does not hold its node yet decides whether it may: two reconciles must
    /// not both see room under the limit and both start.
    admission: tokio::sync::Mutex<()>,
}

/// How long the controller may finish the reconciles it is running once asked to stop; then they are dropped.
/// Safe because all state lives in the API server: an abandoned reconcile is a crash at that point, which
/// every step is built to resume from (the chaos test kills the controller mid-step). Kept short: the whole
/// process must be gone within 2 s of a SIGTERM, the Lease handed over included.
pub const GRACE: Duration = Duration::from_millis(300);

/// Runs the controller until `shutdown`, then at most [`GRACE`] more. Publishes its cache of NodeMaintenances to
/// `health` for the metrics endpoint.
pub async fn run(config: kube::Config, settings: Settings, health: Health, shutdown: Shutdown) -> Result<()> {
    let client = Client::try_from(config.clone()).map_err(Error::Client)?;
    let mut no_retry = config;
    no_retry.default_retry = false;
    let evict_client = Client::try_from(no_retry).map_err(Error::Client)?;
    let mut wc = watcher::Config::default();
    if let Some(s) = &settings.selector {
        wc = wc.labels(s);
    }
    let controller = Controller::new(Api::<Lenient<NodeMaintenance>>::all(client.clone()), wc);
    let store = controller.store();
    *health.store.lock().unwrap_or_else(|p| p.into_inner()) = Some(store.clone());
    let (nodes, node_writer) = reflector::store();
    let node_events = reflector::reflector(
        node_writer,
        watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .modify(trim_node),
    )
    .touched_objects();
    let (wake, woken) = futures::channel::mpsc::unbounded();
    let ctx = Arc::new(Context {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "drydock".into(),
                instance: Some(instance_name()),
            },
        ),
        pods: pod_watch::PodWatches::new(client.clone(), wake),
        evict_client,
        memory: Mutex::default(),
        statuses: Mutex::default(),
        failures: Mutex::default(),
        settings: settings.clone(),
        client: client.clone(),
        metrics: health.metrics.clone(),
        store: store.clone(),
        nodes,
        admission: tokio::sync::Mutex::new(()),
    });

    info!(selector = ?settings.selector, "drydock controller starting");
    let maintenances = controller
        // A node change (someone uncordoned it, the holder let go, it disappeared) wakes every maintenance of it.
        .watches_stream(node_events, move |node: Node| {
            let name = node.name_any();
            store
                .state()
                .into_iter()
                .filter(|nm| nm.ok().is_some_and(|nm| nm.spec.node_name == name))
                .map(|nm| ObjectRef::from_obj(&*nm))
                .collect::<Vec<_>>()
        })
        .reconcile_on(woken)
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|r| async move { log_outcome("NodeMaintenance", r) });
    // Schedules create NodeMaintenances; a change to one of theirs wakes the schedule.
    let mut sc = watcher::Config::default();
    if let Some(s) = &settings.selector {
        sc = sc.labels(s);
    }
    let schedules = Controller::new(Api::<Lenient<MaintenanceSchedule>>::all(ctx.client.clone()), sc.clone())
        .owns(Api::<Lenient<NodeMaintenance>>::all(ctx.client.clone()), sc)
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile_schedule, schedule_error_policy, ctx.clone())
        .for_each(|r| async move { log_outcome("MaintenanceSchedule", r) });
    let orphans = futures::future::select(Box::pin(orphans::watch(&ctx)), Box::pin(shutdown.requested()));
    // kube-runtime's graceful shutdown waits for every running reconcile, and for a watch that never synced
    // (e.g. its CRD is not installed): bounded here.
    let all = async { tokio::join!(maintenances, schedules, orphans) };
    if shutdown.bounded(all, GRACE).await.is_none() {
        warn!(
            grace = ?GRACE,
            "the controller did not stop in time (a reconcile waiting for the API server, or a watch that never \
             synced): abandoned; the next leader resumes from what the API server holds"
        );
    }
    info!("drydock controller stopped");
    Ok(())
}

/// Reconcile errors are logged (and retried) by the error policies; a failing watch is only seen here. It is
/// retried with backoff, but nothing of that kind is handled until it lists: say so, and what to check.
fn log_outcome<T>(kind: &str, outcome: Result<T, kube::runtime::controller::Error<Error, watcher::Error>>) {
    match outcome {
        Err(kube::runtime::controller::Error::QueueError(e)) => warn!(
            kind,
            error = %e,
            "a watch failed (retried with backoff): check that drydock's CRDs are installed (crds/) and that the \
             controller may list and watch what config/rbac grants"
        ),
        Err(e) => tracing::debug!(kind, error = %e, "reconcile ended with an error (retried with backoff)"),
        Ok(_) => {}
    }
}

impl Context {
    /// The freshest status known: our own last write to this object (keyed by UID, so a new object of an old
    /// name starts clean), else the cached one.
    fn status_of(&self, nm: &NodeMaintenance) -> NodeMaintenanceStatus {
        let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        match nm.uid().and_then(|uid| statuses.get(&uid)) {
            Some(written) => written.clone(),
            None => nm.status.clone().unwrap_or_default(),
        }
    }

    /// Nodes held by the other maintenances this controller handles, by their freshest status. One that cannot
    /// be read counts when a node names it as its holder.
    fn held_elsewhere(&self, name: &str) -> usize {
        self.store
            .state()
            .iter()
            .filter(|nm| nm.name_any() != name)
            .filter(|nm| match nm.ok() {
                Some(nm) => matches!(
                    self.status_of(nm).phase,
                    Phase::Cordoned | Phase::Draining | Phase::Drained
                ),
                None => self
                    .nodes
                    .state()
                    .iter()
                    .any(|n| n.annotations().get(HELD_BY_ANNOTATION) == Some(&nm.name_any())),
            })
            .count()
    }

    /// The NodeMaintenances this controller handles that could be read.
    pub fn maintenances(&self) -> Vec<Arc<NodeMaintenance>> {
        self.store
            .state()
            .iter()
            .filter_map(|nm| nm.ok().cloned().map(Arc::new))
            .collect()
    }

    /// A maintenance ended: those waiting for room under the limit (or the control-plane guard) look again.
    fn wake_pending(&self) {
        for nm in self.store.state() {
            if nm.ok().is_some_and(|m| self.status_of(m).phase == Phase::Pending) {
                self.pods.wake(ObjectRef::from_obj(&*nm));
            }
        }
    }

    /// An object that cannot be read is reported (log, Warning Event, the `objects_unreadable` gauge) and
    /// left alone; every other one carries on.
    async fn unreadable<K>(&self, obj: &Lenient<K>, why: &str)
    where
        Lenient<K>: kube::Resource<DynamicType = ()>,
    {
        let kind = <Lenient<K> as kube::Resource>::kind(&());
        warn!(kind = %kind, name = %obj.name_any(), error = %why, "cannot read this object: skipped until it changes");
        let note = format!(
            "drydock cannot read this {kind} and leaves it alone until it changes: {why}. Fix or delete it \
             (kubectl get {} {} -o yaml shows it)",
            <Lenient<K> as kube::Resource>::plural(&()),
            obj.name_any()
        );
        let ev = kube::runtime::events::Event {
            type_: kube::runtime::events::EventType::Warning,
            reason: "Unreadable".into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Read".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &kube::Resource::object_ref(obj, &())).await {
            warn!(error = %e, "could not publish an Event");
        }
    }

    fn remember(&self, nm: &NodeMaintenance, status: NodeMaintenanceStatus) {
        if let Some(uid) = nm.uid() {
            self.statuses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(uid, status);
        }
    }

    fn forget(&self, nm: &NodeMaintenance) {
        if let Some(uid) = nm.uid() {
            self.statuses.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
        }
    }
}

fn instance_name() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| format!("drydock-{}", std::process::id()))
}

async fn reconcile(obj: Arc<Lenient<NodeMaintenance>>, ctx: Arc<Context>) -> Result<Action> {
    let nm = match &obj.decoded {
        Ok(nm) => nm,
        Err(why) => {
            ctx.unreadable(&obj, why).await;
            return Ok(Action::await_change());
        }
    };
    let result = reconcile_one(nm, &ctx).await;
    if result.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&nm.name_any());
    }
    result
}

/// kube-runtime has no per-object backoff: count failures per object here, reset on success. While it retries,
/// the object's status shows its phase and the error, in the API server's words.
fn error_policy(obj: Arc<Lenient<NodeMaintenance>>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = obj.name_any();
    let n = {
        let mut f = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(name.clone()).or_insert(0);
        *n += 1;
        *n
    };
    ctx.metrics.reconcile_error(error.category());
    if error.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    let delay = Duration::from_secs(1u64 << n.min(8)).min(Duration::from_secs(300));
    warn!(nm = %name, category = error.category(), attempt = n, error = %error, "reconcile failed");
    if let Some(nm) = obj.ok().cloned() {
        let (reason, message) = (error.category(), error.to_string());
        tokio::spawn(async move {
            if let Err(e) = Report::new(&ctx, &nm).retrying(reason, &message, delay).await {
                warn!(nm = %nm.name_any(), error = %e, "could not record the error in status");
            }
        });
    }
    Action::requeue(delay)
}

async fn reconcile_schedule(obj: Arc<Lenient<MaintenanceSchedule>>, ctx: Arc<Context>) -> Result<Action> {
    match &obj.decoded {
        Ok(ms) => schedule::reconcile(Arc::new(ms.clone()), ctx).await,
        Err(why) => {
            ctx.unreadable(&obj, why).await;
            Ok(Action::await_change())
        }
    }
}

fn schedule_error_policy(ms: Arc<Lenient<MaintenanceSchedule>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error(error.category());
    warn!(ms = %ms.name_any(), category = error.category(), error = %error, "schedule reconcile failed");
    Action::requeue(Duration::from_secs(if error.is_conflict() { 1 } else { 10 }))
}

/// What the node cache keeps: what placement reads (labels, taints, cordon, Ready), not the image list or the
/// managed fields, which are most of a real node's size.
fn trim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    if let Some(status) = node.status.as_mut() {
        status.images = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
    }
}

/// Resolves the window and checks what the API server's schema cannot (or an older CRD did not).
fn check_spec(spec: &NodeMaintenanceSpec, created: Timestamp) -> Result<(Resolved, Option<Duration>), String> {
    let window = window::resolve(spec.window.as_ref(), created).map_err(|e| e.to_string())?;
    pods::selector(&spec.drain).map_err(|e| format!("spec.drain.podSelector is invalid: {e}"))?;
    let timeout = match &spec.drain.timeout {
        Some(t) => Some(window::parse_duration("drain.timeout", t).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok((window, timeout))
}

#[instrument(skip_all, fields(nm = %nm.name_any(), node = %nm.spec.node_name))]
async fn reconcile_one(nm: &NodeMaintenance, ctx: &Context) -> Result<Action> {
    let name = nm.name_any();
    let now = Timestamp::now();
    let node_name = nm.spec.node_name.clone();
    let nodes = Api::<Node>::all(ctx.client.clone());
    let node = nodes.get_opt(&node_name).await.map_err(|source| Error::ReadNode {
        node: node_name.clone(),
        source,
    })?;
    let view = node.as_ref().map(NodeView::of);
    let holds = view
        .as_ref()
        .is_some_and(|v| v.held_by.as_deref() == Some(name.as_str()));
    let status = ctx.status_of(nm);
    let deleting = nm.metadata.deletion_timestamp.is_some();
    let created = nm.creation_timestamp().map(|t| t.0).unwrap_or(now);
    let checked = check_spec(&nm.spec, created);

    // Drain memory lives while the node is held and being drained; it goes back to the context however this
    // reconcile ends, errors included, so the bound on evictions per owner is never forgotten by accident.
    let mut memory = MemoryGuard::take(ctx, &name);
    let plan = if holds && !deleting && !matches!(status.phase, Phase::Completed | Phase::Failed) {
        let ready = view.as_ref().is_some_and(|v| v.ready);
        Some(plan_now(ctx, nm, ready, &mut memory, now).await?)
    } else {
        None
    };
    // Deciding to take a node is serialized, so the limit and the control-plane guard see each other's starts.
    let _admission = if holds { None } else { Some(ctx.admission.lock().await) };
    let quota = Quota {
        limit: ctx.settings.max_concurrent,
        held_elsewhere: ctx.held_elsewhere(&name),
    };
    let control_plane_peers = match &view {
        Some(v) if v.control_plane && !holds => Some(control_plane_peers(&nodes, &node_name).await?),
        _ => None,
    };
    let pdb_blocked = plan.as_ref().map_or(0, |p| memory.blocked(p).len());
    let step = phase::decide(&Observed {
        name: &name,
        spec: &nm.spec,
        status: &status,
        now,
        deleting,
        has_finalizer: nm.finalizers().iter().any(|f| f == FINALIZER),
        window: checked.as_ref().map(|(w, _)| *w).map_err(Clone::clone),
        drain_timeout: checked.as_ref().ok().and_then(|(_, t)| *t),
        node: view.as_ref(),
        drain: plan.as_ref(),
        pdb_blocked,
        exclude_remediation: ctx.settings.exclude_remediation,
        quota,
        control_plane_peers,
    });
    tracing::debug!(?step, "decided");
    let window_end = checked.as_ref().ok().and_then(|(w, _)| w.end);
    let report = Report::new(ctx, nm)
        .with_node(node.as_ref())
        .with_window_end(window_end)
        .with_hold(view.as_ref());

    memory.keep = matches!(step, Step::Drain | Step::Drained { .. } | Step::Hold(_));
    let action = match step {
        Step::AddFinalizer => {
            let mut finalizers = nm.finalizers().to_vec();
            finalizers.push(FINALIZER.into());
            patch_finalizers(ctx, nm, finalizers).await?;
            Action::await_change()
        }
        Step::Wait {
            phase,
            reason,
            message,
            until,
        } => {
            report.waiting(phase, reason, &message).await?;
            Action::requeue(until.map_or(RESYNC, |t| until_then(now, t)))
        }
        Step::Hold(change) => {
            let Some(node) = node.as_ref() else {
                return Ok(Action::requeue(Duration::from_secs(1)));
            };
            match act::node::apply(&nodes, node, &change).await {
                Ok(_) => report.held(view.as_ref(), &change).await?,
                // Retrying the same write cannot heal: end here, and give back what an earlier write took.
                Err(e) if e.is_permanent() => {
                    let ending = Ending {
                        phase: Phase::Failed,
                        reason: "NodeRefused",
                        message: format!(
                            "the API server refused to change node {node_name}: {}; fix the spec and create a new \
                             NodeMaintenance",
                            e.api_message()
                        ),
                    };
                    report.ended(&ending, false).await?;
                    ctx.wake_pending();
                }
                Err(e) => return Err(e),
            }
            Action::requeue(Duration::from_millis(50))
        }
        Step::Drain => {
            let plan = plan.unwrap_or_default();
            let round = drain::round(
                &ctx.metrics,
                &ctx.evict_client,
                &mut memory.memory,
                &plan,
                nm.spec.drain.grace_period_seconds,
                ctx.settings.eviction_concurrency,
            )
            .await;
            let blocked = memory.blocked(&plan);
            let evicted = evicted_so_far(&status) + round.done as i32;
            report.draining(&plan, &round, evicted, blocked).await?;
            Action::requeue(
                memory
                    .next_retry()
                    .map_or(RESYNC, |d| d.max(Duration::from_millis(500))),
            )
        }
        Step::Drained { until } => {
            let evicted = evicted_so_far(&status);
            report.drained(&plan.unwrap_or_default(), evicted).await?;
            Action::requeue(until.map_or(RESYNC, |t| until_then(now, t).min(RESYNC)))
        }
        Step::Restore { change, mut ending } => {
            if let (Some(change), Some(node)) = (change.as_ref(), node.as_ref()) {
                act::node::apply(&nodes, node, change).await?;
            }
            let kept = view.as_ref().and_then(|v| v.cordoned_by.as_deref());
            if let (Some(who), Some(change)) = (kept, change.as_ref())
                && change.unschedulable
                && !view
                    .as_ref()
                    .and_then(|v| v.prior.as_ref())
                    .or(status.prior.as_ref())
                    .is_some_and(|p| p.was_unschedulable)
            {
                ending.message = format!(
                    "{}; left cordoned: {who} cordoned it during the maintenance (uncordon it when it is ready)",
                    ending.message
                );
            }
            ctx.pods.stop(&node_name, &name);
            report.ended(&ending, change.is_some()).await?;
            ctx.wake_pending();
            Action::requeue(Duration::from_millis(50))
        }
        Step::ReleaseFinalizer => {
            ctx.pods.stop(&node_name, &name);
            ctx.forget(nm);
            let finalizers = nm.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
            patch_finalizers(ctx, nm, finalizers).await?;
            Action::await_change()
        }
        Step::Done => {
            ctx.pods.stop(&node_name, &name);
            ctx.forget(nm);
            Action::await_change()
        }
    };
    Ok(action)
}

/// A maintenance's drain memory, taken out of the context for one reconcile and put back when it ends (unless
/// `keep` was turned off: the drain is over).
struct MemoryGuard<'a> {
    ctx: &'a Context,
    name: String,
    memory: drain::Memory,
    keep: bool,
}

impl<'a> MemoryGuard<'a> {
    fn take(ctx: &'a Context, name: &str) -> Self {
        let memory = ctx
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .unwrap_or_default();
        Self {
            ctx,
            name: name.to_string(),
            memory,
            keep: true,
        }
    }
}

impl std::ops::Deref for MemoryGuard<'_> {
    type Target = drain::Memory;
    fn deref(&self) -> &drain::Memory {
        &self.memory
    }
}

impl std::ops::DerefMut for MemoryGuard<'_> {
    fn deref_mut(&mut self) -> &mut drain::Memory {
        &mut self.memory
    }
}

impl Drop for MemoryGuard<'_> {
    fn drop(&mut self) {
        if self.keep {
            self.ctx
                .memory
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(std::mem::take(&mut self.name), std::mem::take(&mut self.memory));
        }
    }
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
) -> Result<pods::DrainPlan> {
    let (name, node_name) = (nm.name_any(), &nm.spec.node_name);
    let pods = ctx.pods.pods(node_name, &name).await?;
    let on_node: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
    let look = !nm.spec.drain.evict_unplaceable;
    if look {
        pod_watch::synced(&ctx.nodes, node_name, "the node cache").await?;
        if gather::needs_lookups(&on_node) {
            gather::room(&ctx.client, &mut memory.room, &on_node)
                .await
                .map_err(|source| Error::ReadSurroundings {
                    node: node_name.clone(),
                    source,
                })?;
        }
    }
    let nodes = if look { ctx.nodes.state() } else { Vec::new() };
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

fn evicted_so_far(status: &NodeMaintenanceStatus) -> i32 {
    status.pods.as_ref().map_or(0, |p| p.evicted)
}

/// The control-plane nodes other than `target`: how many, how many Ready, which are held by drydock.
async fn control_plane_peers(nodes: &Api<Node>, target: &str) -> Result<Peers> {
    let list = nodes
        .list(&ListParams::default().labels(CONTROL_PLANE_LABEL))
        .await
        .map_err(|source| Error::ReadNode {
            node: format!("(control-plane nodes, for {target})"),
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

/// Sleep until `t`, at least a second (clocks differ) and at most [`RESYNC`].
fn until_then(now: Timestamp, t: Timestamp) -> Duration {
    let d = t.duration_since(now).unsigned_abs();
    d.clamp(Duration::from_secs(1), RESYNC)
}

async fn patch_finalizers(ctx: &Context, nm: &NodeMaintenance, finalizers: Vec<String>) -> Result<()> {
    let api = Api::<NodeMaintenance>::all(ctx.client.clone());
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": nm.resource_version()}});
    api.patch(&nm.name_any(), &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::WriteObject {
            name: nm.name_any(),
            source,
        })?;
    Ok(())
}
