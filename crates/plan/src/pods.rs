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
pub fn selector(drain: &DrainSpec) -> Result<Option<Selector>, String> {
    drain
        .pod_selector
        .clone()
        .map(Selector::try_from)
        .transpose()
        .map_err(|e| {
            format!(
                "spec.drain.podSelector is not a valid label selector ({}): use operators In or NotIn with values, \
                 or Exists or DoesNotExist without",
                e.0
            )
        })
}

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
    selector: Result<Option<Selector>, String>,
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
            Some(Err(why)) => plan.nowhere.push((key, why)),
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
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PodSpec, PodStatus, Volume};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, Time};

    const NOW: &str = "2025-06-01T12:00:00Z";

    /// The drain's rules alone (the rules that need the node's surroundings have tests of their own below).
    fn classify(p: &Pod, drain: &DrainSpec, now: Timestamp) -> Disposition {
        super::classify(p, &DrainInputs::new(drain, now))
    }

    fn plan_drain<'a>(
        pods: impl IntoIterator<Item = &'a Pod>,
        drain: &'a DrainSpec,
        now: Timestamp,
        own_pod: Option<(&'a str, &'a str)>,
    ) -> DrainPlan {
        super::plan_drain(
            pods,
            DrainInputs {
                own_pod,
                ..DrainInputs::new(drain, now)
            },
        )
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn now() -> Timestamp {
        ts(NOW)
    }

    /// A running pod in namespace `app`, owned by a ReplicaSet: evicted under the default spec.
    fn pod(name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some("app".into());
        p.metadata.name = Some(name.into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        owned(p, "apps/v1", "ReplicaSet", true)
    }

    fn in_ns(mut p: Pod, namespace: &str) -> Pod {
        p.metadata.namespace = Some(namespace.into());
        p
    }

    /// Replaces the owner references with one owner.
    fn owned(mut p: Pod, api_version: &str, kind: &str, controller: bool) -> Pod {
        p.metadata.owner_references = Some(vec![OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "owner".into(),
            uid: "owner-uid".into(),
            controller: Some(controller),
            ..Default::default()
        }]);
        p
    }

    fn bare(mut p: Pod) -> Pod {
        p.metadata.owner_references = None;
        p
    }

    fn mirror(mut p: Pod) -> Pod {
        p.metadata.annotations = Some([(MIRROR_ANNOTATION.to_string(), "abc123".to_string())].into());
        p
    }

    fn empty_dir(mut p: Pod) -> Pod {
        p.spec = Some(PodSpec {
            volumes: Some(vec![Volume {
                name: "scratch".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    fn phase(mut p: Pod, phase: &str) -> Pod {
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        p
    }

    fn labels(mut p: Pod, labels: &[(&str, &str)]) -> Pod {
        p.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        p
    }

    fn deleted_at(mut p: Pod, at: &str) -> Pod {
        p.metadata.deletion_timestamp = Some(Time(ts(at)));
        p
    }

    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "app".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    fn keys(names: &[&str]) -> Vec<PodKey> {
        names.iter().map(|n| key(n)).collect()
    }

    fn classify_default(p: &Pod) -> Disposition {
        classify(p, &DrainSpec::default(), now())
    }

    fn permissive() -> DrainSpec {
        DrainSpec {
            delete_empty_dir_data: true,
            evict_unmanaged_pods: true,
            ..Default::default()
        }
    }

    fn select(match_labels: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> DrainSpec {
        DrainSpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(
                    match_labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                match_expressions: Some(exprs),
            }),
            ..Default::default()
        }
    }

    fn requirement(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.map(|vs| vs.iter().map(|v| v.to_string()).collect()),
        }
    }

    // ---- classify, rule by rule ----

    #[test]
    fn replicaset_pod_is_evicted() {
        assert_eq!(classify_default(&pod("web")), Disposition::Evict);
    }

    #[test]
    fn job_pod_is_managed_and_evicted() {
        let p = owned(pod("batch"), "batch/v1", "Job", true);
        assert_eq!(classify_default(&p), Disposition::Evict);
    }

    #[test]
    fn mirror_pod_is_skipped_even_when_terminating_finished_or_bare() {
        let p = mirror(deleted_at(
            phase(bare(empty_dir(pod("etcd"))), "Failed"),
            "2025-01-01T00:00:00Z",
        ));
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(1),
            ..Default::default()
        };
        assert_eq!(classify(&p, &drain, now()), Disposition::Skip(SkipReason::Mirror));
    }

    #[test]
    fn daemonset_pod_is_skipped() {
        let p = owned(pod("fluentd"), "apps/v1", "DaemonSet", true);
        assert_eq!(classify_default(&p), Disposition::Skip(SkipReason::DaemonSet));
    }

    #[test]
    fn daemonset_pod_is_skipped_even_with_local_storage_or_outside_selector() {
        let p = empty_dir(owned(pod("fluentd"), "apps/v1", "DaemonSet", true));
        assert_eq!(
            classify(&p, &select(&[("tier", "web")], vec![]), now()),
            Disposition::Skip(SkipReason::DaemonSet)
        );
    }

    #[test]
    fn daemonset_owner_that_is_not_the_controller_does_not_count() {
        let p = owned(pod("x"), "apps/v1", "DaemonSet", false);
        assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::Unmanaged));
    }

    #[test]
    fn daemonset_kind_from_another_group_is_an_ordinary_controller() {
        let p = owned(pod("x"), "apps.kruise.io/v1alpha1", "DaemonSet", true);
        assert_eq!(classify_default(&p), Disposition::Evict);
    }

    #[test]
    fn pod_outside_selector_is_skipped() {
        let drain = select(&[("tier", "web")], vec![]);
        assert_eq!(
            classify(&labels(pod("db"), &[("tier", "db")]), &drain, now()),
            Disposition::Skip(SkipReason::NotSelected)
        );
        assert_eq!(
            classify(&pod("nolabels"), &drain, now()),
            Disposition::Skip(SkipReason::NotSelected)
        );
        assert_eq!(
            classify(&labels(pod("web"), &[("tier", "web")]), &drain, now()),
            Disposition::Evict
        );
    }

    #[test]
    fn selector_with_match_expressions() {
        let drain = select(
            &[("team", "shop")],
            vec![
                requirement("tier", "In", Some(&["web", "api"])),
                requirement("canary", "DoesNotExist", None),
                requirement("env", "NotIn", Some(&["prod"])),
            ],
        );
        let c = |l: &[(&str, &str)]| classify(&labels(pod("p"), l), &drain, now());
        assert_eq!(c(&[("team", "shop"), ("tier", "api")]), Disposition::Evict);
        assert_eq!(
            c(&[("team", "shop"), ("tier", "web"), ("env", "dev")]),
            Disposition::Evict
        );
        assert_eq!(
            c(&[("team", "shop"), ("tier", "db")]),
            Disposition::Skip(SkipReason::NotSelected)
        );
        assert_eq!(
            c(&[("team", "shop"), ("tier", "web"), ("canary", "")]),
            Disposition::Skip(SkipReason::NotSelected)
        );
        assert_eq!(
            c(&[("team", "shop"), ("tier", "web"), ("env", "prod")]),
            Disposition::Skip(SkipReason::NotSelected)
        );
        assert_eq!(c(&[("tier", "web")]), Disposition::Skip(SkipReason::NotSelected));
    }

    #[test]
    fn empty_selector_selects_everything() {
        let drain = DrainSpec {
            pod_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        assert_eq!(selector(&drain).map(|s| s.map(|s| s.selects_all())), Ok(Some(true)));
        assert_eq!(classify(&pod("web"), &drain, now()), Disposition::Evict);
    }

    #[test]
    fn invalid_selector_is_reported_and_matches_nothing() {
        let drain = select(&[], vec![requirement("tier", "Equals", Some(&["web"]))]);
        let err = selector(&drain).unwrap_err();
        assert!(
            err.starts_with("spec.drain.podSelector is not a valid label selector"),
            "{err}"
        );
        assert_eq!(
            classify(&labels(pod("web"), &[("tier", "web")]), &drain, now()),
            Disposition::Skip(SkipReason::NotSelected)
        );
        let in_without_values = select(&[], vec![requirement("tier", "In", None)]);
        assert!(selector(&in_without_values).is_err());
    }

    #[test]
    fn no_selector_is_none() {
        assert_eq!(selector(&DrainSpec::default()), Ok(None));
    }

    #[test]
    fn terminating_pod_is_waited_for_even_with_local_storage_or_finished() {
        let p = bare(empty_dir(phase(
            deleted_at(pod("web"), "2025-06-01T11:59:00Z"),
            "Succeeded",
        )));
        assert_eq!(classify_default(&p), Disposition::Terminating);
    }

    #[test]
    fn terminating_pod_is_never_abandoned_without_skip_wait() {
        let p = deleted_at(pod("web"), "2000-01-01T00:00:00Z");
        assert_eq!(classify_default(&p), Disposition::Terminating);
    }

    #[test]
    fn skip_wait_boundary_is_exclusive() {
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(60),
            ..Default::default()
        };
        let at = |t: &str| classify(&deleted_at(pod("web"), t), &drain, now());
        assert_eq!(at("2025-06-01T11:59:00Z"), Disposition::Terminating, "exactly 60s past");
        assert_eq!(
            at("2025-06-01T11:58:59.999999999Z"),
            Disposition::Abandoned,
            "just over 60s past"
        );
        assert_eq!(
            at("2025-06-01T12:00:30Z"),
            Disposition::Terminating,
            "deletionTimestamp still ahead (grace period)"
        );
    }

    #[test]
    fn skip_wait_of_zero_or_less_means_wait_forever() {
        for n in [0, -5] {
            let drain = DrainSpec {
                skip_wait_for_delete_seconds: Some(n),
                ..Default::default()
            };
            assert_eq!(
                classify(&deleted_at(pod("web"), "2000-01-01T00:00:00Z"), &drain, now()),
                Disposition::Terminating
            );
        }
    }

    #[test]
    fn skip_wait_huge_does_not_overflow() {
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(i64::MAX),
            ..Default::default()
        };
        assert_eq!(
            classify(&deleted_at(pod("web"), "2000-01-01T00:00:00Z"), &drain, now()),
            Disposition::Terminating
        );
    }

    #[test]
    fn finished_pods_are_deleted() {
        assert_eq!(classify_default(&phase(pod("a"), "Succeeded")), Disposition::Delete);
        assert_eq!(classify_default(&phase(pod("b"), "Failed")), Disposition::Delete);
    }

    #[test]
    fn finished_bare_pod_with_empty_dir_is_deleted_not_refused() {
        assert_eq!(
            classify_default(&phase(bare(empty_dir(pod("x"))), "Failed")),
            Disposition::Delete
        );
    }

    #[test]
    fn pending_and_unknown_phases_are_evicted() {
        assert_eq!(classify_default(&phase(pod("a"), "Pending")), Disposition::Evict);
        assert_eq!(classify_default(&phase(pod("b"), "Unknown")), Disposition::Evict);
        let mut no_status = pod("c");
        no_status.status = None;
        assert_eq!(classify_default(&no_status), Disposition::Evict);
    }

    #[test]
    fn empty_dir_is_refused_unless_allowed() {
        let p = empty_dir(pod("cache"));
        assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::LocalStorage));
        let drain = DrainSpec {
            delete_empty_dir_data: true,
            ..Default::default()
        };
        assert_eq!(classify(&p, &drain, now()), Disposition::Evict);
    }

    #[test]
    fn other_volumes_are_not_local_storage() {
        let mut p = pod("web");
        p.spec = Some(PodSpec {
            volumes: Some(vec![Volume {
                name: "cfg".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(classify_default(&p), Disposition::Evict);
    }

    #[test]
    fn bare_pod_is_refused_unless_allowed() {
        let p = bare(pod("debug"));
        assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::Unmanaged));
        let drain = DrainSpec {
            evict_unmanaged_pods: true,
            ..Default::default()
        };
        assert_eq!(classify(&p, &drain, now()), Disposition::Evict);
    }

    #[test]
    fn orphaned_pod_without_controller_ref_is_unmanaged() {
        let p = owned(pod("orphan"), "apps/v1", "ReplicaSet", false);
        assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::Unmanaged));
    }

    #[test]
    fn bare_pod_with_empty_dir_reports_local_storage_first() {
        let p = bare(empty_dir(pod("x")));
        assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::LocalStorage));
        let drain = DrainSpec {
            delete_empty_dir_data: true,
            ..Default::default()
        };
        assert_eq!(classify(&p, &drain, now()), Disposition::Refuse(Refusal::Unmanaged));
        assert_eq!(classify(&p, &permissive(), now()), Disposition::Evict);
    }

    #[test]
    fn reasons_use_kubectl_wording() {
        assert!(Refusal::LocalStorage.reason().starts_with("Pods with local storage"));
        assert!(
            Refusal::Unmanaged
                .reason()
                .starts_with("Pods that declare no controller")
        );
        assert!(SkipReason::DaemonSet.reason().starts_with("DaemonSet-managed"));
        assert!(SkipReason::Mirror.reason().contains("mirror"));
        assert!(SkipReason::NotSelected.reason().contains("podSelector"));
    }

    #[test]
    fn pod_key_displays_namespace_and_name() {
        assert_eq!(PodKey::of(&pod("web")), key("web"));
        assert_eq!(key("web").to_string(), "app/web");
        assert_eq!(
            PodKey::of(&Pod::default()),
            PodKey {
                namespace: String::new(),
                name: String::new(),
                uid: String::new()
            }
        );
    }

    // ---- plan_drain ----

    #[test]
    fn empty_node_is_drained() {
        let plan = plan_drain(&[], &DrainSpec::default(), now(), None);
        assert_eq!(plan, DrainPlan::default());
        assert!(plan.is_drained());
        assert_eq!(plan.remaining(), 0);
    }

    #[test]
    fn sorts_every_pod_into_its_place() {
        let pods = [
            pod("web"),
            phase(pod("done"), "Succeeded"),
            owned(pod("ds"), "apps/v1", "DaemonSet", true),
            mirror(pod("static")),
            deleted_at(pod("going"), "2025-06-01T11:59:59Z"),
            deleted_at(pod("stuck"), "2025-06-01T00:00:00Z"),
        ];
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(600),
            ..Default::default()
        };
        let plan = plan_drain(&pods, &drain, now(), None);
        assert_eq!(
            plan,
            DrainPlan {
                evict: keys(&["web"]),
                delete: keys(&["done"]),
                refused: vec![],
                skipped: vec![(key("ds"), SkipReason::DaemonSet), (key("static"), SkipReason::Mirror)],
                terminating: keys(&["going"]),
                abandoned: keys(&["stuck"]),
                held_back: vec![],
                waiting: vec![],
                overdue: vec![],
                nowhere: vec![],
                owners: [(
                    "uid-web".to_string(),
                    Owner {
                        uid: "owner-uid".into(),
                        kind: "ReplicaSet".into(),
                        name: "app/owner".into(),
                    }
                )]
                .into(),
            }
        );
        assert_eq!(plan.remaining(), 3);
        assert!(!plan.is_drained());
    }

    #[test]
    fn only_skipped_and_abandoned_left_is_drained() {
        let pods = [
            owned(pod("ds"), "apps/v1", "DaemonSet", true),
            mirror(pod("static")),
            deleted_at(pod("stuck"), "2025-06-01T00:00:00Z"),
        ];
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(1),
            ..Default::default()
        };
        let plan = plan_drain(&pods, &drain, now(), None);
        assert!(plan.is_drained());
        assert_eq!(plan.abandoned, keys(&["stuck"]));
    }

    #[test]
    fn outputs_are_sorted_by_namespace_then_name() {
        let pods = [in_ns(pod("a"), "zz"), pod("c"), pod("b"), in_ns(pod("z"), "aa")];
        let plan = plan_drain(&pods, &DrainSpec::default(), now(), None);
        let names: Vec<String> = plan.evict.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["aa/z", "app/b", "app/c", "zz/a"]);
    }

    #[test]
    fn a_refusal_holds_back_everything() {
        let pods = [
            pod("web"),
            phase(pod("done"), "Failed"),
            bare(pod("debug")),
            empty_dir(pod("cache")),
        ];
        let plan = plan_drain(&pods, &DrainSpec::default(), now(), None);
        assert!(plan.evict.is_empty());
        assert!(plan.delete.is_empty());
        assert_eq!(plan.held_back, keys(&["done", "web"]));
        assert_eq!(
            plan.refused,
            vec![
                (key("cache"), Refusal::LocalStorage),
                (key("debug"), Refusal::Unmanaged)
            ]
        );
        assert_eq!(plan.remaining(), 4);
        assert!(!plan.is_drained());
    }

    #[test]
    fn a_refusal_does_not_hide_terminating_or_skipped_pods() {
        let pods = [bare(pod("debug")), deleted_at(pod("going"), NOW), mirror(pod("static"))];
        let plan = plan_drain(&pods, &DrainSpec::default(), now(), None);
        assert_eq!(plan.terminating, keys(&["going"]));
        assert_eq!(plan.skipped, vec![(key("static"), SkipReason::Mirror)]);
    }

    #[test]
    fn refusal_lifted_by_spec_evicts_all() {
        let pods = [pod("web"), bare(pod("debug")), empty_dir(pod("cache"))];
        let plan = plan_drain(&pods, &permissive(), now(), None);
        assert_eq!(plan.evict, keys(&["cache", "debug", "web"]));
        assert!(plan.held_back.is_empty());
    }

    #[test]
    fn own_pod_waits_while_others_must_leave() {
        let own = Some(("app", "drydock"));
        let plan = plan_drain(&[pod("drydock"), pod("web")], &DrainSpec::default(), now(), own);
        assert_eq!(plan.evict, keys(&["web"]));
        assert_eq!(plan.held_back, keys(&["drydock"]));
        assert_eq!(plan.remaining(), 2);

        let plan = plan_drain(
            &[pod("drydock"), phase(pod("done"), "Succeeded")],
            &DrainSpec::default(),
            now(),
            own,
        );
        assert_eq!(plan.held_back, keys(&["drydock"]));

        let plan = plan_drain(
            &[pod("drydock"), deleted_at(pod("web"), NOW)],
            &DrainSpec::default(),
            now(),
            own,
        );
        assert!(plan.evict.is_empty());
        assert_eq!(plan.held_back, keys(&["drydock"]));
        assert_eq!(plan.terminating, keys(&["web"]));
    }

    #[test]
    fn own_pod_goes_when_it_is_the_last() {
        let own = Some(("app", "drydock"));
        let pods = [
            pod("drydock"),
            owned(pod("ds"), "apps/v1", "DaemonSet", true),
            deleted_at(pod("stuck"), "2025-06-01T00:00:00Z"),
        ];
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(1),
            ..Default::default()
        };
        let plan = plan_drain(&pods, &drain, now(), own);
        assert_eq!(plan.evict, keys(&["drydock"]));
        assert!(plan.held_back.is_empty());
        assert_eq!(plan.remaining(), 1);
    }

    #[test]
    fn own_pod_is_matched_by_namespace_and_name() {
        let pods = [in_ns(pod("drydock"), "other"), pod("drydock"), pod("web")];
        let plan = plan_drain(&pods, &DrainSpec::default(), now(), Some(("app", "drydock")));
        let evict: Vec<String> = plan.evict.iter().map(ToString::to_string).collect();
        assert_eq!(evict, ["app/web", "other/drydock"]);
        assert_eq!(plan.held_back, keys(&["drydock"]));
    }

    #[test]
    fn own_pod_is_held_back_by_a_refusal_too() {
        let plan = plan_drain(
            &[pod("drydock"), bare(pod("debug"))],
            &DrainSpec::default(),
            now(),
            Some(("app", "drydock")),
        );
        assert_eq!(plan.held_back, keys(&["drydock"]));
        assert!(plan.evict.is_empty());
    }

    #[test]
    fn own_pod_alone_and_refused_is_refused() {
        let plan = plan_drain(
            &[empty_dir(pod("drydock"))],
            &DrainSpec::default(),
            now(),
            Some(("app", "drydock")),
        );
        assert_eq!(plan.refused, vec![(key("drydock"), Refusal::LocalStorage)]);
        assert!(plan.held_back.is_empty());
    }

    #[test]
    fn own_pod_terminating_is_waited_for_like_any_other() {
        let plan = plan_drain(
            &[deleted_at(pod("drydock"), NOW)],
            &DrainSpec::default(),
            now(),
            Some(("app", "drydock")),
        );
        assert_eq!(plan.terminating, keys(&["drydock"]));
    }

    #[test]
    fn selector_skips_pods_across_the_plan() {
        let pods = [
            labels(pod("web"), &[("tier", "web")]),
            labels(pod("db"), &[("tier", "db")]),
        ];
        let plan = plan_drain(&pods, &select(&[("tier", "web")], vec![]), now(), None);
        assert_eq!(plan.evict, keys(&["web"]));
        assert_eq!(plan.skipped, vec![(key("db"), SkipReason::NotSelected)]);
    }

    fn with_priority(mut p: Pod, priority: i32) -> Pod {
        p.spec.get_or_insert_with(Default::default).priority = Some(priority);
        p
    }

    fn annotated(mut p: Pod, key: &str, value: &str) -> Pod {
        p.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        p
    }

    fn managed(name: &str) -> Pod {
        let mut p = pod(name);
        p.metadata.owner_references = Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: "rs-uid".into(),
            controller: Some(true),
            ..Default::default()
        }]);
        p
    }

    #[test]
    fn lower_priority_groups_leave_first_and_each_group_finishes_before_the_next() {
        let drain = DrainSpec::default();
        let pods = vec![
            with_priority(managed("critical"), 2_000_000_000),
            with_priority(managed("web"), 0),
            with_priority(managed("batch"), -10),
            annotated(with_priority(managed("cache"), 1000), DRAIN_ORDER_ANNOTATION, "-10"),
        ];
        let plan = plan_drain(&pods, &drain, ts(NOW), None);
        let names = |v: &Vec<PodKey>| v.iter().map(|k| k.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&plan.evict),
            vec!["batch", "cache"],
            "lowest group first; the annotation overrides priority"
        );
        assert_eq!(names(&plan.held_back), vec!["critical", "web"]);
        // The first group is terminating: the next waits until it is gone.
        let terminating: Vec<Pod> = pods
            .iter()
            .cloned()
            .map(|p| if drain_order(&p) == -10 { terminating_pod(p) } else { p })
            .collect();
        let plan = plan_drain(&terminating, &drain, ts(NOW), None);
        assert!(plan.evict.is_empty(), "web waits for the -10 group to be gone");
        let rest: Vec<Pod> = pods.iter().filter(|p| drain_order(p) > -10).cloned().collect();
        assert_eq!(names(&plan_drain(&rest, &drain, ts(NOW), None).evict), vec!["web"]);
    }

    fn terminating_pod(mut p: Pod) -> Pod {
        p.metadata.deletion_timestamp = Some(Time(ts(NOW)));
        p
    }

    #[test]
    fn wait_for_pods_are_waited_for_not_evicted() {
        let drain = DrainSpec {
            wait_for_pods: Some(LabelSelector {
                match_labels: Some([("kind".to_string(), "batch".to_string())].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut job = managed("job-1");
        job.metadata.labels = Some([("kind".to_string(), "batch".to_string())].into());
        let annotated_pod = annotated(managed("etl"), DRAIN_ANNOTATION, "wait-completed");
        assert_eq!(classify(&job, &drain, ts(NOW)), Disposition::WaitFor);
        assert_eq!(
            classify(&annotated_pod, &DrainSpec::default(), ts(NOW)),
            Disposition::WaitFor
        );
        let plan = plan_drain(&[job.clone(), annotated_pod, managed("web")], &drain, ts(NOW), None);
        assert_eq!(plan.waiting.len(), 2);
        assert!(!plan.is_drained());
        job.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        assert_eq!(
            classify(&job, &drain, ts(NOW)),
            Disposition::Delete,
            "once finished, it is cleaned up"
        );
    }

    // ---- rules that need the node's surroundings ----

    fn tolerating(mut p: Pod, tolerations: serde_json::Value) -> Pod {
        let mut spec = p.spec.take().unwrap_or_default();
        spec.tolerations = Some(serde_json::from_value(tolerations).expect("tolerations"));
        p.spec = Some(spec);
        p
    }

    #[test]
    fn a_pod_that_tolerates_the_cordon_and_the_maintenance_taint_stays() {
        let taints = holding_taints("nm-1", &[]);
        let default = DrainSpec::default();
        let inputs = DrainInputs {
            holding_taints: &taints,
            ..DrainInputs::new(&default, now())
        };
        let everything = tolerating(pod("cilium-operator"), serde_json::json!([{"operator": "Exists"}]));
        assert_eq!(
            super::classify(&everything, &inputs),
            Disposition::Skip(SkipReason::ComesBack)
        );
        let both = tolerating(
            pod("agent"),
            serde_json::json!([
                {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "drydock.dev/maintenance", "operator": "Exists"}
            ]),
        );
        assert_eq!(
            super::classify(&both, &inputs),
            Disposition::Skip(SkipReason::ComesBack)
        );
        let cordon_only = tolerating(
            pod("web"),
            serde_json::json!([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]),
        );
        assert_eq!(
            super::classify(&cordon_only, &inputs),
            Disposition::Evict,
            "drydock's own taint keeps it away"
        );
        let no_execute_only = tolerating(
            pod("x"),
            serde_json::json!([{"operator": "Exists", "effect": "NoExecute"}]),
        );
        assert_eq!(super::classify(&no_execute_only, &inputs), Disposition::Evict);
        // A spec taint it does not tolerate keeps it away too.
        let extra = [MaintenanceTaint {
            key: "example.com/kernel".into(),
            value: None,
            effect: drydock_api::v1alpha1::TaintEffect::NoSchedule,
        }];
        let taints = holding_taints("nm-1", &extra);
        let inputs = DrainInputs {
            holding_taints: &taints,
            ..DrainInputs::new(&default, now())
        };
        assert_eq!(super::classify(&both, &inputs), Disposition::Evict);
        assert_eq!(
            super::classify(&everything, &inputs),
            Disposition::Skip(SkipReason::ComesBack)
        );
        // A bare pod comes back only if someone makes it again: the unmanaged rule applies.
        assert_eq!(
            super::classify(&bare(everything.clone()), &inputs),
            Disposition::Refuse(Refusal::Unmanaged)
        );
    }

    #[test]
    fn autoscaler_hints_block_until_the_spec_allows_them() {
        let karpenter = annotated(pod("etl"), KARPENTER_DO_NOT_DISRUPT, "true");
        let ca = annotated(pod("db"), AUTOSCALER_SAFE_TO_EVICT, "false");
        assert_eq!(
            classify_default(&karpenter),
            Disposition::Refuse(Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt))
        );
        assert_eq!(
            classify_default(&ca),
            Disposition::Refuse(Refusal::DoNotDisrupt(Hint::AutoscalerNotSafeToEvict))
        );
        assert_eq!(
            classify_default(&annotated(pod("a"), KARPENTER_DO_NOT_DISRUPT, "false")),
            Disposition::Evict
        );
        assert_eq!(
            classify_default(&annotated(pod("b"), AUTOSCALER_SAFE_TO_EVICT, "true")),
            Disposition::Evict
        );
        let allowed = DrainSpec {
            evict_do_not_disrupt: true,
            ..Default::default()
        };
        assert_eq!(classify(&karpenter, &allowed, now()), Disposition::Evict);
        assert_eq!(classify(&ca, &allowed, now()), Disposition::Evict);
        assert!(
            Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt)
                .reason()
                .contains("evictDoNotDisrupt")
        );
        // Like every refusal, it holds back the rest of the node.
        let plan = plan_drain(&[karpenter, pod("web")], &DrainSpec::default(), now(), None);
        assert_eq!(plan.held_back, keys(&["web"]));
    }

    fn node_named(name: &str) -> k8s_openapi::api::core::v1::Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .expect("node")
    }

    fn pinned(name: &str, host: &str) -> Pod {
        let mut p = pod(name);
        p.spec = Some(PodSpec {
            node_selector: Some([("kubernetes.io/hostname".to_string(), host.to_string())].into()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn a_pod_whose_replacement_has_nowhere_to_go_waits_while_the_others_leave() {
        let nodes = [node_named("a"), node_named("b")];
        let volumes = super::super::place::Volumes::new();
        let pods = [pinned("db", "a"), pod("web")];
        let room = || Some(Room::new("a", &nodes, &[], &volumes));
        let plan = super::plan_drain(
            &pods,
            DrainInputs {
                room: room(),
                ..DrainInputs::new(&DrainSpec::default(), now())
            },
        );
        assert_eq!(plan.evict, keys(&["web"]));
        assert_eq!(plan.nowhere.len(), 1);
        assert_eq!(plan.nowhere[0].0, key("db"));
        assert!(
            plan.nowhere[0]
                .1
                .starts_with("its replacement has nowhere to go (b: no label kubernetes.io/hostname=a"),
            "{:?}",
            plan.nowhere
        );
        assert!(!plan.is_drained());
        assert_eq!(plan.stuck(), 1);

        let allowed = DrainSpec {
            evict_unplaceable: true,
            ..Default::default()
        };
        let plan = super::plan_drain(
            &pods,
            DrainInputs {
                room: room(),
                ..DrainInputs::new(&allowed, now())
            },
        );
        assert_eq!(plan.evict, keys(&["db", "web"]), "evictUnplaceable lets it go");
        assert!(plan.nowhere.is_empty());
        assert_eq!(plan.owners.len(), 2, "each pod to evict is known by its owner");
    }

    #[test]
    fn pods_stuck_terminating_are_named_with_what_holds_them() {
        let mut held = deleted_at(pod("web"), "2025-06-01T11:59:00Z");
        held.metadata.finalizers = Some(vec!["example.com/backup".into()]);
        let fresh = deleted_at(pod("api"), "2025-06-01T11:59:55Z");
        let plan = plan_drain(&[held.clone(), fresh.clone()], &DrainSpec::default(), now(), None);
        assert_eq!(plan.terminating, keys(&["api", "web"]));
        assert_eq!(plan.overdue.len(), 1, "{:?}", plan.overdue);
        let (k, why) = &plan.overdue[0];
        assert_eq!(k, &key("web"));
        assert!(
            why.starts_with("terminating 60s past its grace period, held by finalizer example.com/backup"),
            "{why}"
        );
        assert!(why.contains("skipWaitForDeleteSeconds"), "{why}");

        let lost = deleted_at(pod("cache"), "2025-06-01T11:58:00Z");
        let plan = super::plan_drain(
            &[lost],
            DrainInputs {
                node_ready: false,
                ..DrainInputs::new(&DrainSpec::default(), now())
            },
        );
        assert!(plan.overdue[0].1.contains("NotReady node"), "{:?}", plan.overdue);
        assert!(
            plan.overdue[0].1.contains("whenNodeNotReady: OutOfService"),
            "{:?}",
            plan.overdue
        );
    }
}
