//! What every reconcile shares: clients, caches, the Event recorder, metrics, and what the controller keeps
//! between reconciles (drain memory, the statuses it wrote, failure counts).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Client, ResourceExt,
    runtime::{
        events::{Recorder, Reporter},
        reflector::{ObjectRef, Store},
    },
};
use tracing::warn;

use super::{Settings, drain, nodes::Nodes, pod_watch::PodWatches};
use crate::{
    act,
    api::{
        lenient::Lenient,
        names::{HELD_BY_ANNOTATION, UNREADABLE},
        v1alpha1::{NodeMaintenance, NodeMaintenanceStatus, Phase},
    },
    notify::Notifier,
    plan::status::Note,
    telemetry::metrics::Metrics,
};

pub struct Context {
    pub(super) client: Client,
    /// Same credentials, kube's retry layer off: an eviction's 429 must come back to us at once.
    pub(super) evict_client: Client,
    /// Events, and the notifications that go with them.
    pub(super) recorder: act::events::Publisher,
    pub(super) pods: PodWatches,
    memory: Mutex<HashMap<String, drain::Memory>>,
    /// The status this controller last computed, per object UID. The watch cache can lag behind our own writes, and
    /// a decision or a server-side apply made from a stale status would undo what was just recorded (e.g. the
    /// node's prior state). drydock is the only writer of status, so its last write is the truth; a drain's
    /// progress may be kept here a moment before it is written (`reconcile::write_status`).
    statuses: Mutex<HashMap<String, Kept>>,
    failures: Mutex<HashMap<String, u32>>,
    pub(super) settings: Settings,
    pub(super) metrics: Arc<Metrics>,
    /// Every NodeMaintenance this controller handles (the controller's own cache), readable or not.
    pub(super) store: Store<Lenient<NodeMaintenance>>,
    /// Every node, slimmed to what decisions read: the node of each maintenance, the orphan sweep, and where an
    /// evicted pod's replacement could go. (Schedules list their pools from the API server.)
    pub(super) nodes: Nodes,
    /// Taken while a maintenance that does not hold its node yet decides whether it may: two reconciles must
    /// not both see room under the limit and both start.
    pub(super) admission: tokio::sync::Mutex<()>,
    /// Nodes whose lifecycle conditions the API server refused for good, already reported.
    conditions_refused: Mutex<std::collections::HashSet<String>>,
}

/// A status this controller computed: written at `written_at`, or since then held back (`pending`).
struct Kept {
    status: NodeMaintenanceStatus,
    written_at: Instant,
    pending: bool,
}

/// What the controller is built from besides its settings.
pub struct Parts {
    pub client: Client,
    pub evict_client: Client,
    pub metrics: Arc<Metrics>,
    pub store: Store<Lenient<NodeMaintenance>>,
    pub nodes: Store<Node>,
    /// Wakes a NodeMaintenance (a pod on its node changed).
    pub wake: UnboundedSender<ObjectRef<Lenient<NodeMaintenance>>>,
    /// The notification receivers (none unless `--notify-secret` names some).
    pub notifier: Notifier,
}

impl Context {
    pub fn new(parts: Parts, settings: Settings) -> Self {
        Self {
            recorder: act::events::Publisher::new(
                Recorder::new(
                    parts.client.clone(),
                    Reporter {
                        controller: "drydock".into(),
                        instance: Some(instance_name()),
                    },
                ),
                parts.notifier,
            ),
            pods: PodWatches::new(parts.client.clone(), parts.wake),
            nodes: Nodes::new(parts.client.clone(), parts.nodes),
            client: parts.client,
            evict_client: parts.evict_client,
            memory: Mutex::default(),
            statuses: Mutex::default(),
            failures: Mutex::default(),
            settings,
            metrics: parts.metrics,
            store: parts.store,
            admission: tokio::sync::Mutex::new(()),
            conditions_refused: Mutex::default(),
        }
    }

    /// The freshest status known: our own last write to this object (keyed by UID, so a new object of an old
    /// name starts clean), else the cached one.
    pub(super) fn status_of(&self, nm: &NodeMaintenance) -> NodeMaintenanceStatus {
        let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        match nm.uid().and_then(|uid| statuses.get(&uid)) {
            Some(kept) => kept.status.clone(),
            None => nm.status.clone().unwrap_or_default(),
        }
    }

    /// Nodes held by the other maintenances this controller handles, by their freshest status. One that cannot
    /// be read counts when a node names it as its holder.
    pub(super) fn held_elsewhere(&self, name: &str) -> usize {
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
                    .cached()
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

    /// Whether this is the first refusal of `node`'s lifecycle conditions since they were last written (the only
    /// one reported).
    pub(super) fn first_refusal_of_conditions(&self, node: &str) -> bool {
        let mut refused = self.conditions_refused.lock().unwrap_or_else(|p| p.into_inner());
        refused.insert(node.to_string())
    }

    /// `node`'s lifecycle conditions were written: a refusal after this is news again. A 403 while a restarted
    /// API server fills its RBAC cache heals by itself, and must not hide a real one later.
    pub(super) fn conditions_written(&self, node: &str) {
        let mut refused = self.conditions_refused.lock().unwrap_or_else(|p| p.into_inner());
        refused.remove(node);
    }

    /// A maintenance ended: those waiting for room under the limit (or the control-plane guard) look again.
    pub(super) fn wake_pending(&self) {
        for nm in self.store.state() {
            if nm.ok().is_some_and(|m| self.status_of(m).phase == Phase::Pending) {
                self.pods.wake(ObjectRef::from_obj(&*nm));
            }
        }
    }

    /// An object that cannot be read is reported (log, Warning Event) and left alone; every other one carries
    /// on. The `objects_unreadable` gauge counts them from the cache.
    pub(super) async fn unreadable<K>(&self, obj: &Lenient<K>, why: &str)
    where
        Lenient<K>: kube::Resource<DynamicType = ()>,
    {
        let kind = <Lenient<K> as kube::Resource>::kind(&());
        warn!(kind = %kind, name = %obj.name_any(), error = %why, "cannot read this object: skipped until it changes");
        let note = Note {
            warning: true,
            reason: UNREADABLE.into(),
            text: format!(
                "drydock cannot read this {kind} and leaves it alone until it changes: {why}. Fix or delete it \
                 (kubectl get {} {} -o yaml shows it)",
                <Lenient<K> as kube::Resource>::plural(&()),
                obj.name_any()
            ),
            on_node: false,
        };
        act::events::publish(&self.recorder, &note, "Read", &[act::events::reference(obj)]).await;
    }

    /// Keeps `status` as this object's truth: `written` now, or held back (a drain's progress, written later).
    pub(super) fn remember(&self, nm: &NodeMaintenance, status: NodeMaintenanceStatus, written: bool) {
        let Some(uid) = nm.uid() else { return };
        let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let written_at = match (written, statuses.get(&uid)) {
            (false, Some(kept)) => kept.written_at,
            _ => now,
        };
        statuses.insert(
            uid,
            Kept {
                status,
                written_at,
                pending: !written,
            },
        );
    }

    /// When this controller last wrote the object's status, and whether it holds a newer one back.
    pub(super) fn last_write(&self, nm: &NodeMaintenance) -> Option<(Instant, bool)> {
        let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        nm.uid()
            .and_then(|uid| statuses.get(&uid))
            .map(|k| (k.written_at, k.pending))
    }

    pub(super) fn forget(&self, nm: &NodeMaintenance) {
        if let Some(uid) = nm.uid() {
            self.statuses.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
        }
    }

    /// Counts a failed reconcile of `name`; returns how many in a row.
    pub(super) fn failed(&self, name: &str) -> u32 {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(name.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    pub(super) fn succeeded(&self, name: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

fn instance_name() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| format!("drydock-{}", std::process::id()))
}

/// A maintenance's drain memory, taken out of the context for one reconcile and put back when it ends, errors
/// included, so the bound on evictions per owner is never forgotten by accident (unless `keep` was turned off:
/// the drain is over).
pub(super) struct MemoryGuard<'a> {
    ctx: &'a Context,
    name: String,
    pub memory: drain::Memory,
    pub keep: bool,
}

impl<'a> MemoryGuard<'a> {
    pub fn take(ctx: &'a Context, name: &str) -> Self {
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
