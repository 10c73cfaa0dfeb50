//! One pod's fate under the drain's rules, decided alone: `kubectl drain`'s filters in its order of precedence,
//! plus the rules kubectl lacks (pods that would come straight back, autoscaler "do not disrupt" hints).
//! Whether a pod's replacement has room elsewhere is a question about the whole node, left to the plan.
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube_core::{Selector, SelectorExt};

use super::{DrainInputs, controller_of};
use crate::place::tolerates;
use drydock_api::names::{AUTOSCALER_SAFE_TO_EVICT, DRAIN_ANNOTATION, KARPENTER_DO_NOT_DISRUPT, MIRROR_ANNOTATION};
use drydock_api::v1alpha1::DrainSpec;

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
    /// A NodeMaintenance's task: drydock runs it on the drained node, and stops it itself.
    Task,
}

impl SkipReason {
    /// For status.skippedPods.
    pub fn reason(&self) -> &'static str {
        match self {
            SkipReason::DaemonSet => "DaemonSet-managed pod: left in place (it would come straight back)",
            SkipReason::Mirror => "mirror (static) pod: managed by the kubelet, never touched",
            SkipReason::NotSelected => "not matched by spec.drain.podSelector",
            SkipReason::Task => "drydock's task pod: it runs on the drained node; drydock stops it itself",
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
/// and [`plan_drain`](super::plan_drain) treat an invalid selector as matching no pod, which evicts nothing but
/// also makes the node look drained.
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

/// Decides one pod's fate, in kubectl drain's order of precedence (see the module tests for each rule).
pub fn classify(pod: &Pod, inputs: &DrainInputs) -> Disposition {
    let rules = Rules::of(inputs);
    rules.classify(pod)
}

/// The drain's rules with its selectors parsed once for the whole node.
pub(super) struct Rules<'a> {
    drain: &'a DrainSpec,
    now: Timestamp,
    selector: Result<Option<Selector>, BadSelector>,
    wait: Option<Selector>,
    holding_taints: &'a [Taint],
}

impl<'a> Rules<'a> {
    pub(super) fn of(inputs: &DrainInputs<'a>) -> Self {
        Self {
            drain: inputs.drain,
            now: inputs.now,
            selector: selector(inputs.drain),
            wait: wait_selector(inputs.drain),
            holding_taints: inputs.holding_taints,
        }
    }

    pub(super) fn classify(&self, pod: &Pod) -> Disposition {
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
        // The task is why the node was drained: never evicted, and kept when finished (its log is the record).
        if controller.is_some_and(is_task) {
            return Disposition::Skip(SkipReason::Task);
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

/// A NodeMaintenance (any version of drydock's group) owns the pod: it is a task.
fn is_task(owner: &OwnerReference) -> bool {
    owner.kind == "NodeMaintenance"
        && owner
            .api_version
            .split_once('/')
            .is_some_and(|(group, _)| group == drydock_api::names::GROUP)
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
