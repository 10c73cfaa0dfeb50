//! What happens to each pod on a node being drained: `kubectl drain`'s filters, made explicit so every pod's
//! fate can be reported and tested, plus the rules kubectl lacks: pods that would come straight back stay,
//! pods whose replacement has nowhere to go wait, and autoscaler "do not disrupt" hints are asked about.
//!
//! Each pod is judged alone by [`classify`]; here is the plan for the whole node: the order pods leave in, room
//! for their replacements, and what keeps the drain from finishing.
//!
//! Pure: the pods, the node's surroundings and the current time are given, nothing is called.
use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::place::Room;
use drydock_api::names::{DRAIN_ORDER_ANNOTATION, UNSCHEDULABLE_TAINT};
use drydock_api::v1alpha1::{DrainSpec, MaintenanceTaint};

mod classify;

use classify::Rules;
pub use classify::{BadSelector, Disposition, Hint, Refusal, SkipReason, classify, selector};

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
