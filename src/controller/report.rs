//! Tells people what is happening: the NodeMaintenance's status (written by server-side apply, field manager
//! "drydock", only when it changed) and Kubernetes Events on the NodeMaintenance and its Node at each step.
use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::{Node, ObjectReference},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use tracing::{info, warn};

use super::{Context, drain::Round};
use crate::{
    api::{
        names::{BLOCKED, COMPLETED, CORDONED, DRAINED, OUT_OF_SERVICE_TAINT},
        v1alpha1::{NodeMaintenance, NodeMaintenanceStatus, Phase, PodCounts, PodNote},
    },
    error::{Error, Result},
    plan::{
        conditions,
        node::{NodeChange, NodeView},
        phase::Ending,
        pods::DrainPlan,
    },
};

/// How a pod the drain waits for (drain.waitForPods) is listed.
const WAITING_REASON: &str = "waiting for it to complete (drain.waitForPods or drydock.dev/drain: wait-completed)";

/// Lists in status stay readable and far below the object size limit: the first this many pods are named.
const MAX_LISTED_PODS: usize = 50;

pub struct Report<'a> {
    ctx: &'a Context,
    nm: &'a NodeMaintenance,
    node: Option<&'a Node>,
    old: NodeMaintenanceStatus,
    new: NodeMaintenanceStatus,
    now: Timestamp,
}

impl<'a> Report<'a> {
    pub fn new(ctx: &'a Context, nm: &'a NodeMaintenance) -> Self {
        let old = ctx.status_of(nm);
        let mut new = old.clone();
        new.observed_generation = nm.metadata.generation;
        Self {
            ctx,
            nm,
            node: None,
            new,
            old,
            now: Timestamp::now(),
        }
    }

    pub fn with_node(mut self, node: Option<&'a Node>) -> Self {
        self.node = node;
        self
    }

    /// While drydock holds the node, status mirrors the node's own record of its prior state (and a start
    /// time), so a status write lost at the moment of the cordon is made good by the next one.
    pub fn with_hold(mut self, view: Option<&NodeView>) -> Self {
        if let Some(v) = view.filter(|v| v.held_by.as_deref() == Some(self.nm.name_any().as_str())) {
            if v.prior.is_some() {
                self.new.prior = v.prior.clone();
            }
            self.new.started_at.get_or_insert(Time(self.now));
        }
        self
    }

    pub fn with_window_end(mut self, end: Option<Timestamp>) -> Self {
        self.new.window_end = end.map(Time);
        self
    }

    pub async fn waiting(mut self, phase: Phase, reason: &str, message: &str) -> Result<()> {
        self.new.phase = phase;
        self.new.message = Some(message.into());
        self.new.last_error = None;
        self.condition(CORDONED, false, reason, message);
        if self.old.phase != phase || self.old.message.as_deref() != Some(message) {
            self.event(EventType::Normal, reason, message, false).await;
        }
        self.write().await
    }

    pub async fn held(mut self, before: Option<&NodeView>, change: &NodeChange) -> Result<()> {
        let node = self.nm.spec.node_name.clone();
        let first = self.old.started_at.is_none();
        let recordon = !first
            && before
                .is_some_and(|b| !b.unschedulable || !b.has_taint(crate::api::names::MAINTENANCE_TAINT, "NoSchedule"));
        self.new.prior = change.prior.clone();
        if first {
            self.new.phase = Phase::Cordoned;
            self.new.started_at = Some(Time(self.now));
            let message = format!(
                "node {node} tainted {}={}:NoSchedule and cordoned",
                crate::api::names::MAINTENANCE_TAINT,
                self.nm.name_any()
            );
            self.new.message = Some(message.clone());
            self.condition(CORDONED, true, "Cordoned", &message);
            self.event(EventType::Normal, "Cordoned", &message, true).await;
        } else if recordon {
            let message = format!(
                "node {node} was uncordoned or lost drydock's taint while under maintenance: cordoned and tainted again"
            );
            self.event(EventType::Warning, "Recordoned", &message, true).await;
        } else if !out_of_service(before) && change.taints.iter().any(is_out_of_service) {
            let message = format!(
                "node {node} is NotReady with pods that cannot finish: tainted {OUT_OF_SERVICE_TAINT}=nodeshutdown:NoExecute \
                 (spec.drain.whenNodeNotReady: OutOfService), so Kubernetes deletes its pods by force and detaches \
                 their volumes"
            );
            self.new.message = Some(message.clone());
            self.event(EventType::Warning, "OutOfService", &message, true).await;
        } else if out_of_service(before) && !change.taints.iter().any(is_out_of_service) {
            let message = format!("node {node} is Ready again: the out-of-service taint drydock added is removed");
            self.event(EventType::Normal, "BackInService", &message, true).await;
        } else {
            let message = format!("drain finished: NoExecute taints from spec.taints applied to node {node}");
            self.event(EventType::Normal, "DeferredTaintsApplied", &message, true)
                .await;
        }
        self.write().await
    }

    /// `evicted`: pods evicted so far, this round included.
    pub async fn draining(
        mut self,
        plan: &DrainPlan,
        round: &Round,
        evicted: i32,
        pdb_blocked: Vec<PodNote>,
    ) -> Result<()> {
        let mut blocked: Vec<PodNote> = plan
            .refused
            .iter()
            .map(|(k, r)| PodNote {
                namespace: k.namespace.clone(),
                name: k.name.clone(),
                reason: r.reason().into(),
            })
            .collect();
        let refused_by_server = pdb_blocked.len();
        blocked.extend(pdb_blocked);
        blocked.extend(plan.waiting.iter().map(|k| PodNote {
            namespace: k.namespace.clone(),
            name: k.name.clone(),
            reason: WAITING_REASON.into(),
        }));
        blocked.extend(plan.nowhere.iter().chain(&plan.overdue).map(|(k, why)| PodNote {
            namespace: k.namespace.clone(),
            name: k.name.clone(),
            reason: why.clone(),
        }));
        let old_left = self.old.pods.as_ref().map(|p| p.remaining + p.terminating);
        let progressed = round.done > 0 || old_left.is_some_and(|r| (plan.remaining() as i32) < r);
        let still_blocked = crate::plan::phase::still_blocked(plan, refused_by_server, progressed);
        // The drain.timeout clock runs while pods are blocked and nothing leaves; any progress restarts it.
        self.new.blocked_since = still_blocked.then(|| self.old.blocked_since.clone().unwrap_or(Time(self.now)));
        self.new.phase = Phase::Draining;
        self.new.pods = Some(counts(plan, evicted, blocked.len()));
        let message = if blocked.is_empty() {
            format!("draining: {} pods still to leave", plan.remaining())
        } else {
            format!(
                "drain blocked: {} of {} pods cannot leave now; first: {}/{}: {}",
                blocked.len(),
                plan.remaining(),
                blocked[0].namespace,
                blocked[0].name,
                blocked[0].reason
            )
        };
        self.new.message = Some(message.clone());
        self.condition(DRAINED, false, "Draining", &message);
        let (reason, text) = blocked_condition(&blocked);
        self.condition(BLOCKED, !blocked.is_empty(), reason, &text);
        self.new.blocked_pods = blocked.iter().take(MAX_LISTED_PODS).cloned().collect();
        self.new.skipped_pods = skipped(plan);
        self.new.last_error = round.errors.first().cloned();
        if self.old.phase != Phase::Draining {
            let note = format!(
                "evicting {} pods from node {}",
                plan.remaining(),
                self.nm.spec.node_name
            );
            self.event(EventType::Normal, "Draining", &note, true).await;
        }
        let was_blocked: Vec<_> = self
            .old
            .blocked_pods
            .iter()
            .map(|p| (&p.namespace, &p.name, &p.reason))
            .collect();
        let now_blocked: Vec<_> = self
            .new
            .blocked_pods
            .iter()
            .map(|p| (&p.namespace, &p.name, &p.reason))
            .collect();
        if !now_blocked.is_empty() && was_blocked != now_blocked {
            self.event(EventType::Warning, "DrainBlocked", &text, false).await;
        }
        self.write().await
    }

    pub async fn drained(mut self, plan: &DrainPlan, evicted: i32) -> Result<()> {
        self.new.phase = Phase::Drained;
        self.new.pods = Some(counts(plan, evicted, 0));
        self.new.blocked_pods.clear();
        self.new.blocked_since = None;
        self.new.skipped_pods = skipped(plan);
        self.new.last_error = None;
        let until = match &self.new.window_end {
            Some(t) => format!("until the window closes at {}", t.0),
            None => "until this NodeMaintenance is deleted".into(),
        };
        let message = format!(
            "node {} drained ({evicted} pods evicted); held {until}",
            self.nm.spec.node_name
        );
        self.new.message = Some(message.clone());
        self.condition(DRAINED, true, "Drained", &message);
        self.condition(BLOCKED, false, "NotBlocked", "");
        if self.old.drained_at.is_none() {
            self.new.drained_at = Some(Time(self.now));
            // For completeWhen.rebooted: a different bootID later means the node restarted after the drain.
            self.new.boot_id_at_drain = self
                .node
                .and_then(|n| n.status.as_ref()?.node_info.as_ref())
                .map(|i| i.boot_id.clone());
            if let Some(started) = &self.old.started_at {
                self.ctx
                    .metrics
                    .drained_after(self.now.duration_since(started.0).as_secs_f64());
            }
            self.event(EventType::Normal, "Drained", &message, true).await;
        }
        self.write().await
    }

    pub async fn ended(mut self, ending: &Ending, restored: bool) -> Result<()> {
        let first = self.old.phase != ending.phase || self.old.completed_at.is_none();
        self.new.phase = ending.phase;
        self.new.message = Some(ending.message.clone());
        self.new.blocked_pods.clear();
        self.new.blocked_since = None;
        if first {
            self.new.completed_at = Some(Time(self.now));
        }
        if ending.phase == Phase::Failed {
            self.new.last_error = Some(ending.message.clone());
        }
        if restored || self.old.started_at.is_some() {
            self.condition(CORDONED, false, ending.reason, &ending.message);
        }
        self.condition(BLOCKED, false, "NotBlocked", "");
        self.condition(COMPLETED, true, ending.reason, &ending.message);
        if first || restored {
            let kind = if ending.phase == Phase::Failed {
                EventType::Warning
            } else {
                EventType::Normal
            };
            self.event(kind, ending.reason, &ending.message, restored).await;
        }
        self.write().await
    }

    /// A reconcile failed and is retried after `delay`: status keeps its phase and says so, with the error.
    pub async fn retrying(mut self, reason: &str, error: &str, delay: std::time::Duration) -> Result<()> {
        self.new.last_error = Some(error.into());
        self.new.message = Some(format!("retrying in {}s after an error: {error}", delay.as_secs()));
        self.event(EventType::Warning, reason, error, false).await;
        self.write().await
    }

    fn condition(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        conditions::set(
            &mut self.new.conditions,
            type_,
            status,
            reason,
            message,
            self.now,
            self.nm.metadata.generation,
        );
    }

    async fn event(&self, type_: EventType, reason: &str, note: &str, on_node_too: bool) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: reason.into(),
            secondary: None,
        };
        info!(reason, note, "event");
        if let Err(e) = self.ctx.recorder.publish(&ev, &self.nm.object_ref(&())).await {
            warn!(error = %e, "could not publish an Event on the NodeMaintenance");
        }
        if let (true, Some(node)) = (on_node_too, self.node) {
            if let Err(e) = self.ctx.recorder.publish(&ev, &node_ref(node)).await {
                warn!(error = %e, "could not publish an Event on the Node");
            }
        }
    }

    /// Server-side apply of the whole status, only when something changed.
    async fn write(self) -> Result<()> {
        if self.new == self.old {
            return Ok(());
        }
        let name = self.nm.name_any();
        let api = Api::<NodeMaintenance>::all(self.ctx.client.clone());
        let body = serde_json::json!({
            "apiVersion": "drydock.dev/v1alpha1",
            "kind": "NodeMaintenance",
            "status": self.new,
        });
        api.patch_status(&name, &PatchParams::apply("drydock").force(), &Patch::Apply(body))
            .await
            .map_err(|source| Error::WriteObject {
                name: name.clone(),
                source,
            })?;
        self.ctx.remember(self.nm, self.new);
        Ok(())
    }
}

fn counts(plan: &DrainPlan, evicted: i32, blocked: usize) -> PodCounts {
    // Terminating pods were evicted already (by drydock, or deleted by someone): counted apart, not twice.
    let terminating = plan.terminating.len() as i32;
    let remaining = plan.remaining() as i32 - terminating;
    let total = evicted + remaining;
    PodCounts {
        total,
        evicted,
        remaining,
        terminating,
        blocked: blocked as i32,
        skipped: (plan.skipped.len() + plan.abandoned.len()) as i32,
        progress: format!("{evicted}/{total}"),
    }
}

fn skipped(plan: &DrainPlan) -> Vec<PodNote> {
    plan.skipped
        .iter()
        .map(|(k, r)| (k, r.reason()))
        .chain(plan.abandoned.iter().map(|k| {
            (
                k,
                "terminating past spec.drain.skipWaitForDeleteSeconds: no longer waited for",
            )
        }))
        .take(MAX_LISTED_PODS)
        .map(|(k, reason)| PodNote {
            namespace: k.namespace.clone(),
            name: k.name.clone(),
            reason: reason.into(),
        })
        .collect()
}

/// The Blocked condition: reason from the first blocker's kind, message naming up to five pods.
fn blocked_condition(blocked: &[PodNote]) -> (&'static str, String) {
    let Some(first) = blocked.first() else {
        return ("NotBlocked", String::new());
    };
    let r = first.reason.as_str();
    let reason = if r.starts_with("PDB ") || r.contains("PodDisruptionBudget") {
        "PodDisruptionBudget"
    } else if r.starts_with("Pods with local storage") {
        "LocalStorage"
    } else if r.starts_with("Pods that declare no controller") {
        "Unmanaged"
    } else if r.starts_with("annotated karpenter.sh/") || r.starts_with("annotated cluster-autoscaler") {
        "DoNotDisrupt"
    } else if r == WAITING_REASON {
        "WaitingForPods"
    } else if r.starts_with("its replacement") {
        "NowhereToGo"
    } else if r.starts_with("keeps coming back") {
        "KeepsComingBack"
    } else if r.starts_with("terminating ") {
        "StuckTerminating"
    } else {
        "EvictionRefused"
    };
    let listed: Vec<String> = blocked
        .iter()
        .take(5)
        .map(|p| format!("{}/{}: {}", p.namespace, p.name, p.reason))
        .collect();
    let more = if blocked.len() > 5 {
        format!(" (and {} more)", blocked.len() - 5)
    } else {
        String::new()
    };
    (reason, format!("{}{more}", listed.join("; ")))
}

fn is_out_of_service(t: &k8s_openapi::api::core::v1::Taint) -> bool {
    t.key == OUT_OF_SERVICE_TAINT && t.effect == "NoExecute"
}

fn out_of_service(node: Option<&NodeView>) -> bool {
    node.is_some_and(|n| n.taints.iter().any(is_out_of_service))
}

/// What an Event about a Node points at.
pub(super) fn node_ref(node: &Node) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(node.name_any()),
        uid: node.uid(),
        ..Default::default()
    }
}
