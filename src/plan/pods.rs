//! What happens to each pod on a node being drained: `kubectl drain`'s filters, made explicit so every pod's
//! fate can be reported and tested.
//!
//! Pure: the pods are given, the current time is a parameter, nothing is called.
use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::{Selector, SelectorExt};

use crate::api::v1alpha1::DrainSpec;

/// Annotation the kubelet puts on the API's copy of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

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

/// Pod annotation: `wait-completed` makes the drain wait for the pod to finish instead of evicting it.
pub const DRAIN_ANNOTATION: &str = "drydock.dev/drain";
/// Pod annotation: an integer drain order that overrides the pod's priority (lower leaves first).
pub const DRAIN_ORDER_ANNOTATION: &str = "drydock.dev/drain-order";

/// Why a pod stays on the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    DaemonSet,
    Mirror,
    NotSelected,
}

impl SkipReason {
    /// For status.skippedPods.
    pub fn reason(&self) -> &'static str {
        match self {
            SkipReason::DaemonSet => "DaemonSet-managed pod: left in place (it would come straight back)",
            SkipReason::Mirror => "mirror (static) pod: managed by the kubelet, never touched",
            SkipReason::NotSelected => "not matched by spec.drain.podSelector",
        }
    }
}

/// Why a pod blocks the drain until the spec changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    LocalStorage,
    Unmanaged,
}

impl Refusal {
    /// For status.blockedPods; starts with kubectl drain's own phrase so users recognise it.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::LocalStorage => {
                "Pods with local storage (emptyDir): set spec.drain.deleteEmptyDirData: true to evict it and lose its data"
            }
            Refusal::Unmanaged => {
                "Pods that declare no controller: set spec.drain.evictUnmanagedPods: true to evict it (it will not come back)"
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

/// Decides one pod's fate, in kubectl drain's order of precedence (see the module tests for each rule).
pub fn classify(pod: &Pod, drain: &DrainSpec, now: Timestamp) -> Disposition {
    classify_with(pod, drain, &selector(drain), wait_selector(drain).as_ref(), now)
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

/// [`classify`] with the selector parsed once for the whole node.
fn classify_with(
    pod: &Pod,
    drain: &DrainSpec,
    selector: &Result<Option<Selector>, String>,
    wait: Option<&Selector>,
    now: Timestamp,
) -> Disposition {
    let meta = &pod.metadata;
    // A static pod's API object is only a reflection: deleting it does nothing, even if it looks terminating.
    if meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
    {
        return Disposition::Skip(SkipReason::Mirror);
    }
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    // kubectl also fetches the DaemonSet and refuses a pod whose DaemonSet is gone; drydock does no lookups, so
    // an orphaned DaemonSet pod that still has its controller reference counts as DaemonSet-managed.
    if controller.is_some_and(is_daemonset) {
        return Disposition::Skip(SkipReason::DaemonSet);
    }
    let selected = match selector {
        Ok(None) => true,
        Ok(Some(selector)) => selector.matches(meta.labels.as_ref().unwrap_or(&BTreeMap::new())),
        Err(_) => false,
    };
    if !selected {
        return Disposition::Skip(SkipReason::NotSelected);
    }
    if let Some(deleted) = &meta.deletion_timestamp {
        // Like kubectl, 0 or less means "wait for ever", and the deadline itself still waits.
        let abandoned = drain
            .skip_wait_for_delete_seconds
            .is_some_and(|n| n > 0 && now.duration_since(deleted.0) > SignedDuration::from_secs(n));
        return if abandoned {
            Disposition::Abandoned
        } else {
            Disposition::Terminating
        };
    }
    // A finished pod has nothing left to lose or to restart, so neither of the refusals below applies.
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return Disposition::Delete;
    }
    let wait_annotated = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(DRAIN_ANNOTATION))
        .map(String::as_str)
        == Some("wait-completed");
    if wait_annotated || wait.is_some_and(|w| w.matches(meta.labels.as_ref().unwrap_or(&BTreeMap::new()))) {
        return Disposition::WaitFor;
    }
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    if !drain.delete_empty_dir_data && volumes.iter().copied().flatten().any(|v| v.empty_dir.is_some()) {
        return Disposition::Refuse(Refusal::LocalStorage);
    }
    if controller.is_none() && !drain.evict_unmanaged_pods {
        return Disposition::Refuse(Refusal::Unmanaged);
    }
    Disposition::Evict
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
    pub abandoned: Vec<PodKey>,
    /// Pods that must go but are deliberately not evicted yet: everything while a pod is refused, pods of a
    /// later drain-order group while an earlier one still runs, and the controller's own pod while any other
    /// still has to leave.
    pub held_back: Vec<PodKey>,
    /// Pods left to finish by themselves (drain.waitForPods).
    pub waiting: Vec<PodKey>,
}

impl DrainPlan {
    /// Nothing left that has to leave: no evict, delete, refused, terminating, held_back.
    pub fn is_drained(&self) -> bool {
        self.remaining() == 0
    }

    /// Pods that still have to leave (evict + delete + refused + terminating + held_back + waiting).
    pub fn remaining(&self) -> usize {
        self.evict.len()
            + self.delete.len()
            + self.refused.len()
            + self.terminating.len()
            + self.held_back.len()
            + self.waiting.len()
    }
}

/// Plans the drain of a whole node. `own_pod` is the controller's own pod as (namespace, name), if it runs on
/// this node: it goes last, so the controller is there to see the rest of the drain through.
///
/// Like kubectl, every pod is checked before any is evicted: while one pod is refused nothing is evicted or
/// deleted, so a drain that cannot finish never leaves the node half-emptied.
pub fn plan_drain<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    drain: &DrainSpec,
    now: Timestamp,
    own_pod: Option<(&str, &str)>,
) -> DrainPlan {
    let selector = selector(drain);
    let wait = wait_selector(drain);
    let mut plan = DrainPlan::default();
    let mut own: Option<(PodKey, Disposition)> = None;
    // Drain order of every pod still running or terminating: a later group waits for earlier ones to be gone.
    let mut order: BTreeMap<PodKey, i64> = BTreeMap::new();
    for pod in pods {
        let key = PodKey::of(pod);
        let disposition = classify_with(pod, drain, &selector, wait.as_ref(), now);
        if matches!(disposition, Disposition::Evict | Disposition::Terminating) {
            order.insert(key.clone(), drain_order(pod));
        }
        let is_own = own_pod.is_some_and(|(namespace, name)| key.is(namespace, name));
        match disposition {
            Disposition::Evict | Disposition::Delete if is_own => own = Some((key, disposition)),
            Disposition::Evict => plan.evict.push(key),
            Disposition::Delete => plan.delete.push(key),
            Disposition::Skip(reason) => plan.skipped.push((key, reason)),
            Disposition::Refuse(refusal) => plan.refused.push((key, refusal)),
            Disposition::Terminating => plan.terminating.push(key),
            Disposition::Abandoned => plan.abandoned.push(key),
            Disposition::WaitFor => plan.waiting.push(key),
        }
    }
    let first_group = plan
        .evict
        .iter()
        .chain(&plan.terminating)
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
    plan.abandoned.sort();
    plan.held_back.sort();
    plan.waiting.sort();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PodSpec, PodStatus, Volume};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, Time};

    const NOW: &str = "2025-06-01T12:00:00Z";

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
}
