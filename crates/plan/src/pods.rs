//! What happens to each pod on a node being drained: `kubectl drain`'s filters, made explicit so every pod's
//! fate can be reported and tested, plus the rules kubectl lacks: pods that would come straight back stay,
//! pods whose replacement has nowhere to go wait, and autoscaler "do not disrupt" hints are asked about.
//!
//! Pure: the pods, the node's surroundings and the current time are given, nothing is called.
use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube_core::{Selector, SelectorExt};

use super::place::{Room, tolerates};
use drydock_api::names::{
    AUTOSCALER_SAFE_TO_EVICT, DRAIN_ANNOTATION, DRAIN_ORDER_ANNOTATION, KARPENTER_DO_NOT_DISRUPT, MIRROR_ANNOTATION,
    UNSCHEDULABLE_TAINT,
};
use drydock_api::v1alpha1::{DrainSpec, MaintenanceTaint};

/// How long a pod may stay terminating past its deletionTimestamp before status names what holds it: a kubelet
/// needs a moment to confirm, and a blip is not worth a line.
const OVERDUE_AFTER: SignedDuration = SignedDuration::from_secs(10);

/// namespace/name plus uid, identifies one incarnation of a pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodKey {
    /// Missing fields become empty strings: pods read from the API always have them, and a key must never fail.
    pub fn of(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        PodKey {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
        }
    }

    /// Whether this is the pod named `namespace/name`, whichever incarnation.
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.name == name
    }
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The controller a pod belongs to (its controller owner reference), which makes a new pod when one is evicted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    pub uid: String,
    pub kind: String,
    /// namespace/name
    pub name: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// What the drain does with one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Through the Eviction API, so PodDisruptionBudgets are honoured.
    Evict,
    /// Phase Succeeded or Failed: deleted, not evicted (no budget counts a finished pod).
    Delete,
    /// Left on the node on purpose.
    Skip(SkipReason),
    /// A policy blocker: the drain cannot proceed until the spec allows it.
    Refuse(Refusal),
    /// Already has metadata.deletionTimestamp: wait for it to disappear.
    Terminating,
    /// Terminating for longer than drain.skipWaitForDeleteSeconds past its deletionTimestamp: stop waiting
    /// (kubectl's --skip-wait-for-delete-timeout).
    Abandoned,
    /// Not evicted but waited for until it finishes (drain.waitForPods, or the pod's annotation
    /// `drydock.dev/drain: wait-completed`): batch work that would only start over elsewhere.
    WaitFor,
}

/// Why a pod stays on the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    DaemonSet,
    Mirror,
    NotSelected,
    /// It tolerates the cordon and every taint the maintenance adds: its replacement would be scheduled straight
    /// back onto the node (an eviction loop), so it stays, as a DaemonSet pod does.
    ComesBack,
}

impl SkipReason {
    /// For status.skippedPods.
    pub fn reason(&self) -> &'static str {
        match self {
            SkipReason::DaemonSet => "DaemonSet-managed pod: left in place (it would come straight back)",
            SkipReason::Mirror => "mirror (static) pod: managed by the kubelet, never touched",
            SkipReason::NotSelected => "not matched by spec.drain.podSelector",
            SkipReason::ComesBack => {
                "tolerates the cordon and the maintenance taint: its replacement would be scheduled straight back \
                 onto this node, so it is left in place (like a DaemonSet pod)"
            }
        }
    }
}

/// Which autoscaler hint asked that a pod be left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// `karpenter.sh/do-not-disrupt: "true"`
    KarpenterDoNotDisrupt,
    /// `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`
    AutoscalerNotSafeToEvict,
}

/// Why a pod blocks the drain until the spec changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    LocalStorage,
    Unmanaged,
    /// An autoscaler hint says "do not disrupt". A maintenance is not a scale-down, but the pod's owner asked to
    /// be left alone, so drydock asks the person first (spec.drain.evictDoNotDisrupt).
    DoNotDisrupt(Hint),
}

impl Refusal {
    /// For status.blockedPods; starts with kubectl drain's own phrase where it has one, so users recognise it.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::LocalStorage => {
                "Pods with local storage (emptyDir): set spec.drain.deleteEmptyDirData: true to evict it and lose its data"
            }
            Refusal::Unmanaged => {
                "Pods that declare no controller: set spec.drain.evictUnmanagedPods: true to evict it (it will not come back)"
            }
            Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt) => {
                "annotated karpenter.sh/do-not-disrupt: \"true\": set spec.drain.evictDoNotDisrupt: true to evict it \
                 anyway (its PodDisruptionBudget still applies), or remove the annotation"
            }
            Refusal::DoNotDisrupt(Hint::AutoscalerNotSafeToEvict) => {
                "annotated cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\": set spec.drain.evictDoNotDisrupt: \
                 true to evict it anyway (its PodDisruptionBudget still applies), or remove the annotation"
            }
        }
    }
}

/// The drain's pod selector, parsed. Call it once per reconcile and report an error to the user: [`classify`]
/// and [`plan_drain`] treat an invalid selector as matching no pod, which evicts nothing but also makes the node
/// look drained.
pub fn selector(drain: &DrainSpec) -> Result<Option<Selector>, BadSelector> {
    drain
        .pod_selector
        .clone()
        .map(Selector::try_from)
        .transpose()
        .map_err(|e| BadSelector(e.0))
}

/// spec.drain.podSelector cannot be read as a label selector; carries the parser's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.drain.podSelector is not a valid label selector ({0}): use operators In or NotIn with values, or Exists \
     or DoesNotExist without"
)]
pub struct BadSelector(String);

/// drain.waitForPods, parsed (an invalid one waits for nothing; [`selector`]'s caveat applies likewise).
fn wait_selector(drain: &DrainSpec) -> Option<Selector> {
    drain.wait_for_pods.clone().and_then(|s| Selector::try_from(s).ok())
}

/// The taints a pod must tolerate to be scheduled back onto the node while the maintenance holds it: the
/// cordon's (`node.kubernetes.io/unschedulable`) and the NoSchedule taints the maintenance adds (drydock's own,
/// then spec.taints').
pub fn holding_taints(nm_name: &str, extra: &[MaintenanceTaint]) -> Vec<Taint> {
    let cordon = Taint {
        key: UNSCHEDULABLE_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    super::node::wanted_taints(nm_name, extra, false)
        .into_iter()
        .filter(|t| t.effect == "NoSchedule")
        .chain(std::iter::once(cordon))
        .collect()
}

/// Everything a drain plan depends on besides the pods.
pub struct DrainInputs<'a> {
    pub drain: &'a DrainSpec,
    pub now: Timestamp,
    /// The controller's own pod (namespace, name), if it runs on this node: it goes last, so the controller is
    /// there to see the rest of the drain through.
    pub own_pod: Option<(&'a str, &'a str)>,
    /// From [`holding_taints`]. Empty: no pod is taken for one that would come back.
    pub holding_taints: &'a [Taint],
    /// The node's Ready condition: on a node whose kubelet is gone, terminating pods cannot finish.
    pub node_ready: bool,
    /// Where replacements can go. None: not looked at, no pod waits for room.
    pub room: Option<Room<'a>>,
}

impl<'a> DrainInputs<'a> {
    /// The drain's rules alone: no holding taints, a Ready node, room not looked at.
    pub fn new(drain: &'a DrainSpec, now: Timestamp) -> Self {
        Self {
            drain,
            now,
            own_pod: None,
            holding_taints: &[],
            node_ready: true,
            room: None,
        }
    }
}

/// Decides one pod's fate, in kubectl drain's order of precedence (see the module tests for each rule).
pub fn classify(pod: &Pod, inputs: &DrainInputs) -> Disposition {
    let rules = Rules::of(inputs);
    rules.classify(pod)
}

/// When a pod leaves relative to others: its `drydock.dev/drain-order` annotation, else its priority (from its
/// PriorityClass), else 0. Lowest first, so system-critical pods go last.
pub fn drain_order(pod: &Pod) -> i64 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DRAIN_ORDER_ANNOTATION))
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| pod.spec.as_ref().and_then(|s| s.priority).map(i64::from))
        .unwrap_or(0)
}

/// The controller owner of a pod, if any.
pub fn owner(pod: &Pod) -> Option<Owner> {
    controller_of(pod).map(|r| Owner {
        uid: r.uid.clone(),
        kind: r.kind.clone(),
        name: format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), r.name),
    })
}

fn controller_of(pod: &Pod) -> Option<&OwnerReference> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// The drain's rules with its selectors parsed once for the whole node.
struct Rules<'a> {
    drain: &'a DrainSpec,
    now: Timestamp,
    selector: Result<Option<Selector>, BadSelector>,
    wait: Option<Selector>,
    holding_taints: &'a [Taint],
}

impl<'a> Rules<'a> {
    fn of(inputs: &DrainInputs<'a>) -> Self {
        Self {
            drain: inputs.drain,
            now: inputs.now,
            selector: selector(inputs.drain),
            wait: wait_selector(inputs.drain),
            holding_taints: inputs.holding_taints,
        }
    }

    fn classify(&self, pod: &Pod) -> Disposition {
        let meta = &pod.metadata;
        let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str);
        let labels = meta.labels.clone().unwrap_or_default();
        // A static pod's API object is only a reflection: deleting it does nothing, even if it looks terminating.
        if annotation(MIRROR_ANNOTATION).is_some() {
            return Disposition::Skip(SkipReason::Mirror);
        }
        let controller = controller_of(pod);
        // kubectl also fetches the DaemonSet and refuses a pod whose DaemonSet is gone; drydock does no lookups,
        // so an orphaned DaemonSet pod that still has its controller reference counts as DaemonSet-managed.
        if controller.is_some_and(is_daemonset) {
            return Disposition::Skip(SkipReason::DaemonSet);
        }
        let selected = match &self.selector {
            Ok(None) => true,
            Ok(Some(selector)) => selector.matches(&labels),
            Err(_) => false,
        };
        if !selected {
            return Disposition::Skip(SkipReason::NotSelected);
        }
        if let Some(deleted) = &meta.deletion_timestamp {
            // Like kubectl, 0 or less means "wait for ever", and the deadline itself still waits.
            let abandoned = self
                .drain
                .skip_wait_for_delete_seconds
                .is_some_and(|n| n > 0 && self.now.duration_since(deleted.0) > SignedDuration::from_secs(n));
            return if abandoned {
                Disposition::Abandoned
            } else {
                Disposition::Terminating
            };
        }
        // A finished pod has nothing left to lose or to restart, so none of the refusals below applies.
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return Disposition::Delete;
        }
        if annotation(DRAIN_ANNOTATION) == Some("wait-completed")
            || self.wait.as_ref().is_some_and(|w| w.matches(&labels))
        {
            return Disposition::WaitFor;
        }
        // Karpenter's rule: a pod that tolerates the disruption would land right back; evicting it only loops.
        if controller.is_some() && self.comes_back(pod) {
            return Disposition::Skip(SkipReason::ComesBack);
        }
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
        if !self.drain.delete_empty_dir_data && volumes.iter().copied().flatten().any(|v| v.empty_dir.is_some()) {
            return Disposition::Refuse(Refusal::LocalStorage);
        }
        if controller.is_none() && !self.drain.evict_unmanaged_pods {
            return Disposition::Refuse(Refusal::Unmanaged);
        }
        if !self.drain.evict_do_not_disrupt {
            if annotation(KARPENTER_DO_NOT_DISRUPT) == Some("true") {
                return Disposition::Refuse(Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt));
            }
            if annotation(AUTOSCALER_SAFE_TO_EVICT) == Some("false") {
                return Disposition::Refuse(Refusal::DoNotDisrupt(Hint::AutoscalerNotSafeToEvict));
            }
        }
        Disposition::Evict
    }

    /// Whether the pod tolerates every taint that holds the node (the cordon included).
    fn comes_back(&self, pod: &Pod) -> bool {
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        !self.holding_taints.is_empty()
            && self
                .holding_taints
                .iter()
                .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
    }
}

/// Any version of the apps group, so a future apps/v2 still counts; a DaemonSet kind from another group (a CRD)
/// is some other controller's business.
fn is_daemonset(owner: &OwnerReference) -> bool {
    owner.kind == "DaemonSet"
        && owner
            .api_version
            .split_once('/')
            .is_some_and(|(group, _)| group == "apps")
}

/// Every pod on the node, sorted into what the drain does now. Each vector is sorted by namespace, then name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrainPlan {
    /// Evict these now.
    pub evict: Vec<PodKey>,
    /// Delete these now (finished pods).
    pub delete: Vec<PodKey>,
    pub refused: Vec<(PodKey, Refusal)>,
    pub skipped: Vec<(PodKey, SkipReason)>,
    /// Wait for these.
    pub terminating: Vec<PodKey>,
    /// Of `terminating`, those still there well past their deletionTimestamp, with what holds them (a
    /// finalizer, a node whose kubelet is gone).
    pub overdue: Vec<(PodKey, String)>,
    pub abandoned: Vec<PodKey>,
    /// Pods that must go but are deliberately not evicted yet: everything while a pod is refused, pods of a
    /// later drain-order group while an earlier one still runs, and the controller's own pod while any other
    /// still has to leave.
    pub held_back: Vec<PodKey>,
    /// Pods left to finish by themselves (drain.waitForPods).
    pub waiting: Vec<PodKey>,
    /// Pods whose replacement could not run anywhere else, with why (unless drain.evictUnplaceable).
    pub nowhere: Vec<(PodKey, String)>,
    /// The controller of each pod that is to be evicted, now or later (by pod uid).
    pub owners: BTreeMap<String, Owner>,
}

impl DrainPlan {
    /// Nothing left that has to leave: no evict, delete, refused, terminating, held_back, waiting, nowhere.
    pub fn is_drained(&self) -> bool {
        self.remaining() == 0
    }

    /// Pods that still have to leave (evict + delete + refused + terminating + held_back + waiting + nowhere).
    pub fn remaining(&self) -> usize {
        self.evict.len()
            + self.delete.len()
            + self.refused.len()
            + self.terminating.len()
            + self.held_back.len()
            + self.waiting.len()
            + self.nowhere.len()
    }

    /// Pods that keep the drain from finishing for a reason a retry alone does not fix: refused by policy,
    /// waited for, nowhere to go, stuck terminating.
    pub fn stuck(&self) -> usize {
        self.refused.len() + self.waiting.len() + self.nowhere.len() + self.overdue.len()
    }
}

/// Plans the drain of a whole node.
///
/// Like kubectl, every pod is checked before any is evicted: while one pod is refused nothing is evicted or
/// deleted, so a drain that cannot finish never leaves the node half-emptied. A pod whose replacement has
/// nowhere to go waits (named in `nowhere`) while the others leave, unless drain.evictUnplaceable.
pub fn plan_drain<'a>(pods: impl IntoIterator<Item = &'a Pod>, inputs: DrainInputs<'a>) -> DrainPlan {
    let rules = Rules::of(&inputs);
    let mut plan = DrainPlan::default();
    let mut own: Option<(PodKey, Disposition)> = None;
    // Drain order of every pod still running or terminating: a later group waits for earlier ones to be gone.
    let mut order: BTreeMap<PodKey, i64> = BTreeMap::new();
    let mut to_place: Vec<(PodKey, &Pod)> = Vec::new();
    for pod in pods {
        let key = PodKey::of(pod);
        let disposition = rules.classify(pod);
        if matches!(disposition, Disposition::Evict | Disposition::Terminating) {
            order.insert(key.clone(), drain_order(pod));
        }
        if let (Disposition::Evict, Some(owner)) = (&disposition, owner(pod)) {
            plan.owners.insert(key.uid.clone(), owner);
        }
        let is_own = inputs.own_pod.is_some_and(|(namespace, name)| key.is(namespace, name));
        match disposition {
            Disposition::Evict | Disposition::Delete if is_own => own = Some((key, disposition)),
            Disposition::Evict if controller_of(pod).is_some() => to_place.push((key, pod)),
            Disposition::Evict => plan.evict.push(key),
            Disposition::Delete => plan.delete.push(key),
            Disposition::Skip(reason) => plan.skipped.push((key, reason)),
            Disposition::Refuse(refusal) => plan.refused.push((key, refusal)),
            Disposition::Terminating => {
                if let Some(why) = overdue(pod, inputs.now, inputs.node_ready) {
                    plan.overdue.push((key.clone(), why));
                }
                plan.terminating.push(key);
            }
            Disposition::Abandoned => plan.abandoned.push(key),
            Disposition::WaitFor => plan.waiting.push(key),
        }
    }
    // Replacements compete for the same room, so they are placed in a fixed order.
    to_place.sort_by(|a, b| a.0.cmp(&b.0));
    let mut room = inputs.room.filter(|_| !inputs.drain.evict_unplaceable);
    for (key, pod) in to_place {
        match room.as_mut().map(|r| r.place(pod)) {
            Some(Err(why)) => plan.nowhere.push((key, why.to_string())),
            _ => plan.evict.push(key),
        }
    }
    let first_group = plan
        .evict
        .iter()
        .chain(&plan.terminating)
        .chain(plan.nowhere.iter().map(|(k, _)| k))
        .filter_map(|k| order.get(k))
        .min()
        .copied();
    if let Some(first) = first_group {
        let (now_, later): (Vec<_>, Vec<_>) = plan.evict.drain(..).partition(|k| order.get(k) == Some(&first));
        plan.evict = now_;
        plan.held_back.extend(later);
    }
    if let Some((key, disposition)) = own {
        if plan.remaining() > 0 {
            plan.held_back.push(key);
        } else if disposition == Disposition::Delete {
            plan.delete.push(key);
        } else {
            plan.evict.push(key);
        }
    }
    if !plan.refused.is_empty() {
        plan.held_back.append(&mut plan.evict);
        plan.held_back.append(&mut plan.delete);
    }
    plan.evict.sort();
    plan.delete.sort();
    plan.refused.sort_by(|a, b| a.0.cmp(&b.0));
    plan.skipped.sort_by(|a, b| a.0.cmp(&b.0));
    plan.terminating.sort();
    plan.overdue.sort();
    plan.abandoned.sort();
    plan.held_back.sort();
    plan.waiting.sort();
    plan.nowhere.sort();
    plan
}

/// Why a terminating pod is still there well past its deletionTimestamp (the end of its grace period), or
/// None while it is not overdue.
pub fn overdue(pod: &Pod, now: Timestamp, node_ready: bool) -> Option<String> {
    let deadline = pod.metadata.deletion_timestamp.as_ref()?.0;
    let late = now.duration_since(deadline);
    if late <= OVERDUE_AFTER {
        return None;
    }
    let late = format!("terminating {}s past its grace period", late.as_secs());
    let finalizers = pod.metadata.finalizers.as_deref().unwrap_or_default();
    Some(if !finalizers.is_empty() {
        format!(
            "{late}, held by finalizer {}: whoever owns it must remove it (spec.drain.skipWaitForDeleteSeconds \
             stops waiting for it)",
            finalizers.join(", ")
        )
    } else if !node_ready {
        format!(
            "{late} on a NotReady node: its kubelet is not responding, and a pod is gone only once the kubelet \
             confirms; if the node is really down, spec.drain.whenNodeNotReady: OutOfService lets Kubernetes clean \
             up (non-graceful node shutdown)"
        )
    } else {
        format!("{late}: the kubelet has not confirmed it stopped yet")
    })
}

#[cfg(test)]
mod tests;
