//! The controllers: NodeMaintenance (`reconcile`: observe, decide through `plan`, act through `act`) and
//! MaintenanceSchedule (`schedule`), wired to their watches here, with their error policies and metrics.
mod context;
mod drain;
mod health;
mod node_conditions;
mod nodes;
mod orphans;
mod pod_watch;
mod reconcile;
#[cfg(test)]
mod reconcile_tests;
mod schedule;
#[cfg(test)]
mod scripted;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use tracing::{info, warn};

pub use context::{Context, Parts};

use crate::{
    api::{
        lenient::Lenient,
        v1alpha1::{MaintenanceSchedule, NodeMaintenance},
    },
    error::{Error, Result},
    notify::{Notifier, secret},
    plan::{node::slim, retry, status},
    shutdown::Shutdown,
    telemetry::{
        http::Health,
        metrics::{Metrics, Which},
    },
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
    /// Publish the node lifecycle conditions (MaintenancePlanned, MaintenanceInProgress, DrainInProgress,
    /// Drained) on the nodes drydock maintains.
    pub node_conditions: bool,
    /// Where task pods run.
    pub task_namespace: String,
    /// The Prometheus health gates ask (`--prometheus-url`); None: every gate is "cannot check".
    pub prometheus: Option<crate::act::prometheus::Prometheus>,
    /// The Secret (namespace, name) that lists the notification receivers; None: no notifications.
    pub notify_secret: Option<(String, String)>,
}

/// How long the controller may finish the reconciles it is running once asked to stop; then they are dropped.
/// Safe because all state lives in the API server: an abandoned reconcile is a crash at that point, which
/// every step is built to resume from (the chaos test kills the controller mid-step). Kept short: the whole
/// process must be gone within 2 s of a SIGTERM, the Lease handed over included.
pub const GRACE: Duration = Duration::from_millis(300);
/// Nodes per page of the node cache's list. Each page is held in full (managed fields, images) until it is
/// slimmed, and the allocator keeps what a page once took: at 500 (kube's default) that was 8 MiB more resident
/// memory for good; at 50 it is under 1 MiB, for 40 list requests at start in a cluster of 2,000 nodes.
const NODE_PAGE: u32 = 50;
/// How long the controller waits at its start for the notification receivers' Secret, so the first
/// transitions reach them; an API server that does not answer by then delays nothing more.
const RECEIVERS_FIRST_READ: Duration = Duration::from_secs(10);

/// A spawned task that ends when this is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

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
        watcher(
            Api::<Node>::all(client.clone()),
            watcher::Config::default().page_size(NODE_PAGE),
        )
        .default_backoff()
        .modify(|node| *node = slim(std::mem::take(node))),
    )
    .touched_objects();
    let (wake, woken) = futures::channel::mpsc::unbounded();
    let notifier = Notifier::new(health.metrics.clone(), shutdown.clone());
    let _receivers = match settings.notify_secret.clone() {
        Some((namespace, name)) => {
            info!(secret = %format!("{namespace}/{name}"), "notification receivers from this Secret");
            let (tx, loaded) = tokio::sync::oneshot::channel();
            let watch = secret::watch(
                client.clone(),
                namespace,
                name,
                notifier.clone(),
                health.metrics.clone(),
                tx,
            );
            // Ends with the controller: dropped (aborted) on return, and at a stop.
            let watch = AbortOnDrop(tokio::spawn(futures::future::select(
                Box::pin(watch),
                Box::pin(shutdown.requested()),
            )));
            // The receivers are known before the first reconcile, so its transitions are not missed; a Secret
            // that cannot be read is reported and waited for no longer.
            let waited = shutdown
                .bounded(tokio::time::timeout(RECEIVERS_FIRST_READ, loaded), Duration::ZERO)
                .await;
            if matches!(waited, Some(Err(_))) {
                warn!(timeout = ?RECEIVERS_FIRST_READ, "the notification receivers' Secret was not read in time: starting without");
            }
            Some(watch)
        }
        None => {
            health.metrics.set_notify_config(true, 0);
            None
        }
    };
    let ctx = Arc::new(Context::new(
        Parts {
            client: client.clone(),
            notifier,
            evict_client,
            metrics: health.metrics.clone(),
            store: store.clone(),
            nodes,
            wake,
        },
        settings.clone(),
    ));

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

async fn reconcile(obj: Arc<Lenient<NodeMaintenance>>, ctx: Arc<Context>) -> Result<Action> {
    let nm = match &obj.decoded {
        Ok(nm) => nm,
        Err(why) => {
            ctx.unreadable(&obj, why).await;
            return Ok(Action::await_change());
        }
    };
    let result = timed(&ctx.metrics, Which::NodeMaintenance, reconcile::reconcile(nm, &ctx)).await;
    if result.is_ok() {
        ctx.succeeded(&nm.name_any());
    }
    result
}

/// kube-runtime has no per-object backoff: failures are counted per object here, reset on success. While it
/// retries, the object's status shows its phase and the error, in the API server's words.
fn error_policy(obj: Arc<Lenient<NodeMaintenance>>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = obj.name_any();
    let failures = ctx.failed(&name);
    ctx.metrics.reconcile_error(Which::NodeMaintenance, error.category());
    let delay = retry::after_failure(failures, error.is_conflict());
    if error.is_conflict() {
        return Action::requeue(delay);
    }
    warn!(nm = %name, category = error.category(), attempt = failures, error = %error, "reconcile failed");
    if let Some(nm) = obj.ok().cloned() {
        let (reason, message) = (error.category(), error.to_string());
        tokio::spawn(async move {
            let old = ctx.status_of(&nm);
            let report = status::retrying(&old, nm.metadata.generation, reason, &message, delay, Timestamp::now());
            reconcile::publish(&ctx, &nm, None, &report.events).await;
            if let Err(e) = reconcile::write_status(&ctx, &nm, &old, report.status, false).await {
                warn!(nm = %nm.name_any(), error = %e, "could not record the error in status");
            }
        });
    }
    Action::requeue(delay)
}

async fn reconcile_schedule(obj: Arc<Lenient<MaintenanceSchedule>>, ctx: Arc<Context>) -> Result<Action> {
    match &obj.decoded {
        Ok(ms) => timed(&ctx.metrics, Which::MaintenanceSchedule, schedule::reconcile(ms, &ctx)).await,
        Err(why) => {
            ctx.unreadable(&obj, why).await;
            Ok(Action::await_change())
        }
    }
}

fn schedule_error_policy(ms: Arc<Lenient<MaintenanceSchedule>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_error(Which::MaintenanceSchedule, error.category());
    // A conflict is news (a maintenance changed the node meanwhile): look again at once, as a maintenance does.
    if error.is_conflict() {
        return Action::requeue(crate::plan::retry::AFTER_CONFLICT);
    }
    warn!(ms = %ms.name_any(), category = error.category(), error = %error, "schedule reconcile failed");
    Action::requeue(Duration::from_secs(10))
}

/// Counts a reconcile and how long it took.
async fn timed<T>(metrics: &Metrics, which: Which, reconcile: impl Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let out = reconcile.await;
    metrics.reconciled(which, started.elapsed());
    out
}
