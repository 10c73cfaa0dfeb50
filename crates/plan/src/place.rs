//! Where an evicted pod's replacement could run: the scheduler's hard rules that decide whether a drain can
//! finish, read from observed objects. Pure. The controller asks before it evicts a pod and `drydock preview`
//! asks for every pod, with the same rules over the same kind of data, so both tell the same story.
//!
//! Checked: node Ready and not cordoned, NoSchedule/NoExecute taints tolerated, `nodeSelector`, required node
//! affinity (matchExpressions and matchFields), the node affinity of a PersistentVolume the pod's claims are bound
//! to (local volumes), and required pod anti-affinity in both directions (any topology key) among the pods the
//! pod's own terms select. Not checked, so a verdict can be too hopeful there: CPU/memory room, required pod
//! affinity, topology spread constraints, other pods' anti-affinity against pods their terms do not share.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, Pod, PodAffinityTerm, Taint, Toleration,
};
use kube_core::{ResourceExt, Selector, SelectorExt};

use crate::node::is_ready;
use drydock_api::names::HOSTNAME_LABEL;

mod misfit;

pub use misfit::{Misfit, Nowhere};

/// The PersistentVolume a claim is bound to and the nodes it can be used from (`spec.nodeAffinity.required`;
/// None: any node).
#[derive(Clone, Debug, PartialEq)]
pub struct BoundVolume {
    pub pv: String,
    pub node_affinity: Option<NodeSelector>,
}

/// Claims by (namespace, claim name) -> the volume each is bound to.
pub type Volumes = BTreeMap<(String, String), BoundVolume>;

/// Where replacements can go: the nodes other than the drained one, the pods already on them, and the volumes
/// the pods' claims are bound to. Each replacement placed is recorded, so replacements of one drain compete
/// for the same room (a Deployment with hard anti-affinity and as many replicas as nodes cannot move).
pub struct Room<'a> {
    drained: String,
    /// Candidates, sorted by name.
    nodes: Vec<&'a Node>,
    node_labels: BTreeMap<String, &'a BTreeMap<String, String>>,
    /// (node, pod) on a candidate node, replacements placed here included; finished pods left out.
    placed: Vec<(String, &'a Pod)>,
    /// Every live pod given, wherever it runs (the drained node's included): anti-affinity groups are counted
    /// over them.
    live: Vec<&'a Pod>,
    volumes: &'a Volumes,
}

impl<'a> Room<'a> {
    /// `nodes`: the cluster's nodes (the drained one is left out here); `pods`: the pods anti-affinity may look
    /// at, on any node; `volumes`: what the claims of the drained node's pods are bound to.
    pub fn new(
        drained: &str,
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: &'a [Pod],
        volumes: &'a Volumes,
    ) -> Self {
        let mut nodes: Vec<&Node> = nodes.into_iter().filter(|n| n.name_any() != drained).collect();
        nodes.sort_by_key(|n| n.name_any());
        let node_labels: BTreeMap<_, _> = nodes.iter().map(|n| (n.name_any(), n.labels())).collect();
        let live: Vec<&Pod> = pods
            .iter()
            .filter(|p| !finished(p) && p.metadata.deletion_timestamp.is_none())
            .collect();
        let placed = pods
            .iter()
            .filter(|p| !finished(p))
            .filter_map(|p| {
                let node = p.spec.as_ref()?.node_name.clone()?;
                node_labels.contains_key(&node).then_some((node, p))
            })
            .collect();
        Room {
            drained: drained.to_string(),
            nodes,
            node_labels,
            placed,
            live,
            volumes,
        }
    }

    /// Places `pod`'s replacement on the first node (by name) that fits and records it there, or says why no
    /// node fits.
    pub fn place(&mut self, pod: &'a Pod) -> Result<(), Nowhere> {
        if let Some(pv) = self.pinning_volume(pod) {
            return Err(Nowhere::PinnedByVolume {
                pv,
                drained: self.drained.clone(),
            });
        }
        let mut misfits = Vec::new();
        for candidate in &self.nodes {
            match self.misfit(pod, candidate) {
                None => {
                    self.placed.push((candidate.name_any(), pod));
                    return Ok(());
                }
                Some(m) => misfits.push((candidate.name_any(), m)),
            }
        }
        Err(self.nowhere(pod, misfits))
    }

    /// The reason a pod cannot move.
    fn nowhere(&self, pod: &Pod, misfits: Vec<(String, Misfit)>) -> Nowhere {
        if misfits.is_empty() {
            return Nowhere::NoOtherNode;
        }
        // Anti-affinity is checked last, so a node refused for it passed every rule about the node itself.
        let eligible: Vec<String> = misfits
            .iter()
            .filter(|(_, m)| m.is_anti_affinity())
            .map(|(n, _)| n.clone())
            .collect();
        if !eligible.is_empty()
            && let Some((selector, count)) = self.anti_affinity_group(pod)
            && count > eligible.len()
        {
            return Nowhere::AntiAffinity {
                selector,
                count,
                drained: self.drained.clone(),
                eligible,
            };
        }
        Nowhere::NoFit { misfits }
    }

    /// A PersistentVolume one of the pod's claims is bound to that no other node can reach, whatever else is
    /// true of those nodes: the reason that matters most, so it is named alone.
    fn pinning_volume(&self, pod: &Pod) -> Option<String> {
        let namespace = pod.namespace().unwrap_or_default();
        claims(pod).find_map(|claim| {
            let bound = self.volumes.get(&(namespace.clone(), claim.to_string()))?;
            let required = bound.node_affinity.as_ref()?;
            (!self.nodes.iter().any(|n| selects_node(required, n))).then(|| bound.pv.clone())
        })
    }

    /// The pod's own hard hostname anti-affinity group, if it has one that selects itself (a Deployment spread
    /// one per node): the selector as text, and how many live pods it selects, the pod included.
    fn anti_affinity_group(&self, pod: &Pod) -> Option<(String, usize)> {
        let namespace = pod.namespace().unwrap_or_default();
        let term = required_anti_affinity(pod)
            .iter()
            .find(|t| t.topology_key == HOSTNAME_LABEL && term_selects(t, &namespace, pod))?;
        let mut selected: Vec<(String, String)> = self
            .live
            .iter()
            .chain(std::iter::once(&pod))
            .filter(|p| term_selects(term, &namespace, p))
            .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
            .collect();
        selected.sort();
        selected.dedup();
        let selector = term
            .label_selector
            .clone()
            .and_then(|s| Selector::try_from(s).ok())
            .map(|s| s.to_string())
            .unwrap_or_default();
        Some((selector, selected.len()))
    }

    /// Pods in the same topology domain as `candidate` for `key`: on a node with the same value of that label.
    fn in_domain<'s>(&'s self, candidate: &'s Node, key: &'s str) -> impl Iterator<Item = &'s Pod> + 's {
        let value = candidate.labels().get(key);
        self.placed.iter().filter_map(move |(node, pod)| {
            let theirs = self.node_labels.get(node).and_then(|l| l.get(key));
            (value.is_some() && theirs == value).then_some(*pod)
        })
    }

    /// Why `pod`'s replacement could not run on `candidate`, or None if it could.
    pub fn misfit(&self, pod: &Pod, candidate: &Node) -> Option<Misfit> {
        if !is_ready(candidate) {
            return Some(Misfit::NotReady);
        }
        let node_spec = candidate.spec.as_ref();
        if node_spec.and_then(|s| s.unschedulable).unwrap_or(false) {
            return Some(Misfit::Cordoned);
        }
        let spec = pod.spec.as_ref();
        let tolerations = spec.and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
        if let Some(t) = node_spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .find(|t| {
                matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
                    && !tolerations.iter().any(|tol| tolerates(tol, t))
            })
        {
            let value = t.value.as_deref().filter(|v| !v.is_empty());
            return Some(Misfit::Taint(match value {
                Some(v) => format!("{}={v}:{}", t.key, t.effect),
                None => format!("{}:{}", t.key, t.effect),
            }));
        }
        let labels = candidate.labels();
        if let Some((k, v)) = spec
            .and_then(|s| s.node_selector.as_ref())
            .into_iter()
            .flatten()
            .find(|(k, v)| labels.get(*k) != Some(*v))
        {
            return Some(Misfit::NodeSelector(format!("{k}={v}")));
        }
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let required = affinity
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
        if required.is_some_and(|r| !selects_node(r, candidate)) {
            return Some(Misfit::NodeAffinity);
        }
        let namespace = pod.namespace().unwrap_or_default();
        for claim in claims(pod) {
            if let Some(bound) = self.volumes.get(&(namespace.clone(), claim.to_string()))
                && bound
                    .node_affinity
                    .as_ref()
                    .is_some_and(|r| !selects_node(r, candidate))
            {
                return Some(Misfit::Volume(bound.pv.clone()));
            }
        }
        for term in required_anti_affinity(pod) {
            if let Some(other) = self
                .in_domain(candidate, &term.topology_key)
                .find(|other| term_selects(term, &namespace, other))
            {
                return Some(Misfit::Repels(key_of(other)));
            }
        }
        // The scheduler also honours the anti-affinity of the pods already there.
        for (node, other) in &self.placed {
            let other_ns = other.namespace().unwrap_or_default();
            for term in required_anti_affinity(other) {
                let same_domain = labels
                    .get(&term.topology_key)
                    .is_some_and(|v| self.node_labels.get(node).and_then(|l| l.get(&term.topology_key)) == Some(v));
                if same_domain && term_selects(term, &other_ns, pod) {
                    return Some(Misfit::RepelledBy(key_of(other)));
                }
            }
        }
        None
    }
}

/// The names of the PersistentVolumeClaims the pod mounts.
pub fn claims(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
}

fn finished(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The pod's required anti-affinity terms (empty when it has none).
pub fn required_anti_affinity(pod: &Pod) -> &[PodAffinityTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_deref())
        .unwrap_or_default()
}

/// Whether a required node selector (node affinity, or a PersistentVolume's) accepts `node`: terms are ORed,
/// requirements within a term ANDed; a term without requirements matches no node.
fn selects_node(required: &NodeSelector, node: &Node) -> bool {
    let labels = node.labels();
    let name = node.name_any();
    required.node_selector_terms.iter().any(|term| {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        !(exprs.is_empty() && fields.is_empty())
            && exprs.iter().all(|e| requirement_holds(e, labels.get(&e.key)))
            && fields
                .iter()
                .all(|e| e.key == "metadata.name" && requirement_holds(e, Some(&name)))
    })
}

/// Whether `term` (of a pod in `term_ns`) selects `other`: its namespaces (default: its own; a
/// namespaceSelector is taken as every namespace, since namespace labels are not read) and its label selector.
pub fn term_selects(term: &PodAffinityTerm, term_ns: &str, other: &Pod) -> bool {
    let other_ns = other.namespace().unwrap_or_default();
    let namespaces = term.namespaces.as_deref().unwrap_or_default();
    let ns_ok = if term.namespace_selector.is_some() {
        true
    } else if namespaces.is_empty() {
        other_ns == term_ns
    } else {
        namespaces.contains(&other_ns)
    };
    // A term without a label selector selects no pod.
    ns_ok
        && term
            .label_selector
            .clone()
            .and_then(|s| Selector::try_from(s).ok())
            .is_some_and(|s| s.matches(other.labels()))
}

fn key_of(p: &Pod) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

/// Tolerations as the scheduler reads them: an empty key needs operator Exists and then matches every key;
/// an empty effect matches every effect.
pub fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    let exists = tol.operator.as_deref() == Some("Exists");
    let key = tol.key.as_deref().unwrap_or("");
    if key.is_empty() && !exists {
        return false;
    }
    let effect_ok = tol.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key_ok = key.is_empty() || key == taint.key;
    let value_ok = exists || tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("");
    effect_ok && key_ok && value_ok
}

fn requirement_holds(e: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = e.values.as_deref().unwrap_or_default();
    let number = |v: &str| v.parse::<i64>().ok();
    match e.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (value.and_then(|v| number(v)), values.first().and_then(|v| number(v)))
            else {
                return false;
            };
            if e.operator == "Gt" { have > bound } else { have < bound }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::node;
    use serde_json::{Value, json};

    fn pod(spec: Value) -> Pod {
        let mut s = json!({"containers": [{"name": "c", "image": "i"}]});
        for (k, v) in spec.as_object().expect("spec") {
            s[k] = v.clone();
        }
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "shop", "labels": {"app": "web"}},
            "spec": s
        }))
        .expect("pod")
    }

    fn tainted(taint: Value) -> Node {
        node("b", json!({}), json!({"taints": [taint]}))
    }

    fn check(p: &Pod, n: &Node) -> Option<Misfit> {
        Room::new("drained", std::slice::from_ref(n), &[], &Volumes::new()).misfit(p, n)
    }

    #[test]
    fn tolerations_follow_the_scheduler() {
        let gpu = tainted(json!({"key": "gpu", "value": "a100", "effect": "NoSchedule"}));
        assert_eq!(
            check(&pod(json!({})), &gpu),
            Some(Misfit::Taint("gpu=a100:NoSchedule".into()))
        );
        let tol = |t: Value| pod(json!({"tolerations": [t]}));
        assert_eq!(check(&tol(json!({"key": "gpu", "operator": "Exists"})), &gpu), None);
        assert_eq!(
            check(&tol(json!({"key": "gpu", "operator": "Equal", "value": "a100"})), &gpu),
            None
        );
        assert_eq!(
            check(&tol(json!({"key": "gpu", "value": "a100"})), &gpu),
            None,
            "Equal is the default operator"
        );
        assert!(check(&tol(json!({"key": "gpu", "value": "h100"})), &gpu).is_some());
        assert!(
            check(
                &tol(json!({"key": "gpu", "operator": "Exists", "effect": "NoExecute"})),
                &gpu
            )
            .is_some(),
            "a toleration for another effect does not count"
        );
        assert_eq!(
            check(&tol(json!({"operator": "Exists"})), &gpu),
            None,
            "an empty key with Exists tolerates every taint"
        );
        assert_eq!(check(&tol(json!({"key": "", "operator": "Exists"})), &gpu), None);
        assert!(
            check(&tol(json!({"key": "", "value": "a100"})), &gpu).is_some(),
            "an empty key needs Exists"
        );
        let prefer = tainted(json!({"key": "drydock.dev/upcoming", "effect": "PreferNoSchedule"}));
        assert_eq!(
            check(&pod(json!({})), &prefer),
            None,
            "PreferNoSchedule is only a preference"
        );
        let evict = tainted(json!({"key": "x", "effect": "NoExecute"}));
        assert_eq!(
            check(&pod(json!({})), &evict),
            Some(Misfit::Taint("x:NoExecute".into()))
        );
    }

    #[test]
    fn node_state_selector_and_required_affinity() {
        let mut not_ready = node("b", json!({}), json!({}));
        not_ready.status = None;
        assert_eq!(check(&pod(json!({})), &not_ready), Some(Misfit::NotReady));
        let cordoned = node("b", json!({}), json!({"unschedulable": true}));
        assert_eq!(check(&pod(json!({})), &cordoned), Some(Misfit::Cordoned));

        let selecting = pod(json!({"nodeSelector": {"zone": "x"}}));
        assert_eq!(
            check(&selecting, &node("b", json!({}), json!({}))),
            Some(Misfit::NodeSelector("zone=x".into()))
        );
        assert_eq!(check(&selecting, &node("b", json!({"zone": "x"}), json!({}))), None);

        let affine = |exprs: Value| {
            pod(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": exprs}]}}}}),
            )
        };
        let ssd = node("b", json!({"disk": "ssd", "cores": "8"}), json!({}));
        let plain = node("c", json!({}), json!({}));
        let cases = [
            (
                json!([{"key": "disk", "operator": "In", "values": ["ssd"]}]),
                true,
                false,
            ),
            (
                json!([{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]),
                false,
                true,
            ),
            (json!([{"key": "disk", "operator": "Exists"}]), true, false),
            (json!([{"key": "disk", "operator": "DoesNotExist"}]), false, true),
            (
                json!([{"key": "cores", "operator": "Gt", "values": ["4"]}]),
                true,
                false,
            ),
            (
                json!([{"key": "disk", "operator": "Exists"}, {"key": "cores", "operator": "Lt", "values": ["4"]}]),
                false,
                false,
            ),
            (json!([]), false, false),
        ];
        for (exprs, on_ssd, on_plain) in cases {
            let p = affine(exprs.clone());
            assert_eq!(check(&p, &ssd).is_none(), on_ssd, "{exprs} on ssd");
            assert_eq!(check(&p, &plain).is_none(), on_plain, "{exprs} on plain");
        }
        let by_name = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]}
            ]}}}}),
        );
        assert_eq!(check(&by_name, &plain), None, "terms are ORed; matchFields by name");
        assert_eq!(check(&by_name, &ssd), Some(Misfit::NodeAffinity));
    }

    #[test]
    fn anti_affinity_both_ways_by_topology_domain() {
        let anti = |key: &str| {
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": key}]}}})
        };
        let nodes = [
            node("b", json!({"zone": "z1"}), json!({})),
            node("c", json!({"zone": "z1"}), json!({})),
        ];
        let mut there = pod(json!({"nodeName": "b"}));
        there.metadata.name = Some("web-0".into());
        let none = Volumes::new();
        let occ = Room::new("drained", &nodes, std::slice::from_ref(&there), &none);
        let host = pod(anti("kubernetes.io/hostname"));
        assert_eq!(occ.misfit(&host, &nodes[0]), Some(Misfit::Repels("shop/web-0".into())));
        assert_eq!(occ.misfit(&host, &nodes[1]), None, "another host is free");
        let zone = pod(anti("zone"));
        assert!(occ.misfit(&zone, &nodes[1]).is_some(), "same zone as web-0");

        // The pod already there repels the newcomer, even though the newcomer has no anti-affinity itself.
        let mut repelling: Pod = serde_json::from_value(json!({
            "metadata": {"name": "solo", "namespace": "shop", "labels": {"app": "solo"}},
            "spec": {"nodeName": "b", "containers": [], "affinity": anti("kubernetes.io/hostname")["affinity"]}
        }))
        .expect("pod");
        let occ = Room::new("drained", &nodes, std::slice::from_ref(&repelling), &none);
        assert_eq!(
            occ.misfit(&pod(json!({})), &nodes[0]),
            Some(Misfit::RepelledBy("shop/solo".into()))
        );
        // Only in its own namespace unless the term names others.
        repelling.metadata.namespace = Some("other".into());
        let occ = Room::new("drained", &nodes, std::slice::from_ref(&repelling), &none);
        assert_eq!(occ.misfit(&pod(json!({})), &nodes[0]), None);
        // Finished pods and pods off the candidate nodes do not count.
        let mut done = there.clone();
        done.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).expect("status"));
        let mut elsewhere = there.clone();
        elsewhere.spec.as_mut().expect("spec").node_name = Some("drained".into());
        let gone = [done, elsewhere];
        let occ = Room::new("drained", &nodes, &gone, &none);
        assert_eq!(occ.misfit(&host, &nodes[0]), None);
    }

    #[test]
    fn a_claim_bound_to_a_local_volume_keeps_the_replacement_where_the_volume_is() {
        let nodes = [node("b", json!({}), json!({})), node("c", json!({}), json!({}))];
        let on = |host: &str| BoundVolume {
            pv: "pv-a".into(),
            node_affinity: Some(
                serde_json::from_value(json!({"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]}]}]}))
                .expect("selector"),
            ),
        };
        let db = pod(json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]}));
        let mut volumes = Volumes::new();
        volumes.insert(("shop".into(), "data-db-0".into()), on("a"));
        let mut room = Room::new("a", &nodes, &[], &volumes);
        assert_eq!(room.misfit(&db, &nodes[0]), Some(Misfit::Volume("pv-a".into())));
        let why = room.place(&db).expect_err("the volume is on a only").to_string();
        assert!(
            why.contains("PersistentVolume pv-a") && why.contains("until a is back"),
            "{why}"
        );

        volumes.insert(("shop".into(), "data-db-0".into()), on("c"));
        let mut room = Room::new("a", &nodes, &[], &volumes);
        assert_eq!(room.place(&db), Ok(()), "a volume c can reach lets it move to c");
        let anywhere = Volumes::from([(
            ("shop".into(), "data-db-0".into()),
            BoundVolume {
                pv: "nfs".into(),
                node_affinity: None,
            },
        )]);
        assert_eq!(Room::new("a", &nodes, &[], &anywhere).place(&db), Ok(()));
        assert_eq!(
            Room::new("a", &nodes, &[], &Volumes::new()).place(&db),
            Ok(()),
            "an unbound claim does not constrain"
        );
    }
}
