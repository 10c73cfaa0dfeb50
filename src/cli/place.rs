//! Where an evicted pod's replacement could run: the scheduler's hard rules that decide whether a drain can
//! finish, read from observed objects. Pure.
//!
//! Checked: node Ready and not cordoned, NoSchedule/NoExecute taints tolerated, `nodeSelector`, required node
//! affinity (matchExpressions and matchFields), required pod anti-affinity in both directions (any topology
//! key). Not checked, so a preview can be too hopeful there: CPU/memory room, required pod affinity, topology
//! spread constraints, volume zones.
use std::{collections::BTreeMap, fmt};

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, Pod, PodAffinityTerm, Taint, Toleration};
use kube::{
    ResourceExt,
    core::{Selector, SelectorExt},
};

use crate::plan::node::is_ready;

/// Why a replacement cannot run on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misfit {
    NotReady,
    Cordoned,
    /// `key=value:Effect`
    Taint(String),
    /// `key=value` the pod's nodeSelector wants.
    NodeSelector(String),
    NodeAffinity,
    /// The pod's own required anti-affinity excludes `ns/name`, which runs there (or in its topology domain).
    Repels(String),
    /// `ns/name`, running there, has required anti-affinity that excludes the pod.
    RepelledBy(String),
}

impl Misfit {
    /// Anti-affinity depends on where the other pods are; every other misfit is a property of the node alone.
    pub fn is_anti_affinity(&self) -> bool {
        matches!(self, Misfit::Repels(_) | Misfit::RepelledBy(_))
    }
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::NotReady => write!(f, "NotReady"),
            Misfit::Cordoned => write!(f, "cordoned"),
            Misfit::Taint(t) => write!(f, "taint {t} not tolerated"),
            Misfit::NodeSelector(l) => write!(f, "no label {l} (nodeSelector)"),
            Misfit::NodeAffinity => write!(f, "required node affinity not met"),
            Misfit::Repels(p) => write!(f, "runs {p}, which its hard anti-affinity excludes"),
            Misfit::RepelledBy(p) => write!(f, "runs {p}, whose hard anti-affinity excludes it"),
        }
    }
}

/// Pods already placed, with the labels of their nodes (for anti-affinity's topology domains).
pub struct Occupancy<'a> {
    node_labels: BTreeMap<String, &'a BTreeMap<String, String>>,
    /// (node name, pod); includes replacements placed by the preview itself.
    pods: Vec<(String, Pod)>,
}

impl<'a> Occupancy<'a> {
    /// `pods` on any of `nodes`; pods elsewhere (the drained node, unscheduled ones) and finished ones do not
    /// count: the scheduler forgets finished pods, and the drained node's pods are the ones leaving.
    pub fn new(nodes: &'a [Node], pods: &[Pod]) -> Self {
        let node_labels: BTreeMap<_, _> = nodes.iter().map(|n| (n.name_any(), n.labels())).collect();
        let pods = pods
            .iter()
            .filter(|p| !finished(p))
            .filter_map(|p| {
                let node = p.spec.as_ref()?.node_name.clone()?;
                node_labels.contains_key(&node).then(|| (node, p.clone()))
            })
            .collect();
        Occupancy { node_labels, pods }
    }

    /// Records a replacement of `pod` placed on `node`, so later replacements see it.
    pub fn place(&mut self, pod: &Pod, node: &str) {
        self.pods.push((node.to_string(), pod.clone()));
    }

    /// Pods in the same topology domain as `candidate` for `key`: on a node with the same value of that label.
    fn in_domain<'s>(&'s self, candidate: &'s Node, key: &'s str) -> impl Iterator<Item = &'s Pod> + 's {
        let value = candidate.labels().get(key);
        self.pods.iter().filter_map(move |(node, pod)| {
            let theirs = self.node_labels.get(node).and_then(|l| l.get(key));
            (value.is_some() && theirs == value).then_some(pod)
        })
    }
}

fn finished(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Why `pod`'s replacement could not run on `candidate`, or None if it could.
pub fn misfit(pod: &Pod, candidate: &Node, placed: &Occupancy) -> Option<Misfit> {
    if !is_ready(candidate) {
        return Some(Misfit::NotReady);
    }
    let node_spec = candidate.spec.clone().unwrap_or_default();
    if node_spec.unschedulable.unwrap_or(false) {
        return Some(Misfit::Cordoned);
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let tolerations = spec.tolerations.unwrap_or_default();
    if let Some(t) = node_spec.taints.iter().flatten().find(|t| {
        matches!(t.effect.as_str(), "NoSchedule" | "NoExecute") && !tolerations.iter().any(|tol| tolerates(tol, t))
    }) {
        let value = t.value.as_deref().filter(|v| !v.is_empty());
        return Some(Misfit::Taint(match value {
            Some(v) => format!("{}={v}:{}", t.key, t.effect),
            None => format!("{}:{}", t.key, t.effect),
        }));
    }
    let labels = candidate.labels();
    if let Some((k, v)) = spec
        .node_selector
        .iter()
        .flatten()
        .find(|(k, v)| labels.get(*k) != Some(*v))
    {
        return Some(Misfit::NodeSelector(format!("{k}={v}")));
    }
    let affinity = spec.affinity.unwrap_or_default();
    let required = affinity
        .node_affinity
        .and_then(|a| a.required_during_scheduling_ignored_during_execution);
    if let Some(required) = required {
        let name = candidate.name_any();
        // Terms are ORed, requirements within a term ANDed; a term without requirements matches no node.
        let any_term = required.node_selector_terms.iter().any(|term| {
            let exprs = term.match_expressions.as_deref().unwrap_or_default();
            let fields = term.match_fields.as_deref().unwrap_or_default();
            !(exprs.is_empty() && fields.is_empty())
                && exprs.iter().all(|e| requirement_holds(e, labels.get(&e.key)))
                && fields
                    .iter()
                    .all(|e| e.key == "metadata.name" && requirement_holds(e, Some(&name)))
        });
        if !any_term {
            return Some(Misfit::NodeAffinity);
        }
    }
    let namespace = pod.namespace().unwrap_or_default();
    let own_terms = affinity
        .pod_anti_affinity
        .and_then(|a| a.required_during_scheduling_ignored_during_execution)
        .unwrap_or_default();
    for term in &own_terms {
        if let Some(other) = placed
            .in_domain(candidate, &term.topology_key)
            .find(|other| term_selects(term, &namespace, other))
        {
            return Some(Misfit::Repels(key_of(other)));
        }
    }
    // The scheduler also honours the anti-affinity of the pods already there.
    for (node, other) in &placed.pods {
        let other_ns = other.namespace().unwrap_or_default();
        let theirs = other
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
        for term in theirs.iter().copied().flatten() {
            let same_domain = candidate
                .labels()
                .get(&term.topology_key)
                .is_some_and(|v| placed.node_labels.get(node).and_then(|l| l.get(&term.topology_key)) == Some(v));
            if same_domain && term_selects(term, &other_ns, pod) {
                return Some(Misfit::RepelledBy(key_of(other)));
            }
        }
    }
    None
}

/// Whether `term` (of a pod in `term_ns`) selects `other`: its namespaces (default: its own; a
/// namespaceSelector is taken as every namespace, since namespace labels are not read) and its label selector.
pub fn term_selects(term: &PodAffinityTerm, term_ns: &str, other: &Pod) -> bool {
    let other_ns = other.namespace().unwrap_or_default();
    let namespaces = term.namespaces.clone().unwrap_or_default();
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
pub(super) mod tests {
    use super::*;
    use serde_json::{Value, json};

    pub fn node(name: &str, labels: Value, spec: Value) -> Node {
        let mut l = json!({"kubernetes.io/hostname": name});
        for (k, v) in labels.as_object().expect("labels") {
            l[k] = v.clone();
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": l},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .expect("node")
    }

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
        misfit(p, n, &Occupancy::new(std::slice::from_ref(n), &[]))
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
        let occ = Occupancy::new(&nodes, std::slice::from_ref(&there));
        let host = pod(anti("kubernetes.io/hostname"));
        assert_eq!(
            misfit(&host, &nodes[0], &occ),
            Some(Misfit::Repels("shop/web-0".into()))
        );
        assert_eq!(misfit(&host, &nodes[1], &occ), None, "another host is free");
        let zone = pod(anti("zone"));
        assert!(misfit(&zone, &nodes[1], &occ).is_some(), "same zone as web-0");

        // The pod already there repels the newcomer, even though the newcomer has no anti-affinity itself.
        let mut repelling: Pod = serde_json::from_value(json!({
            "metadata": {"name": "solo", "namespace": "shop", "labels": {"app": "solo"}},
            "spec": {"nodeName": "b", "containers": [], "affinity": anti("kubernetes.io/hostname")["affinity"]}
        }))
        .expect("pod");
        let occ = Occupancy::new(&nodes, std::slice::from_ref(&repelling));
        assert_eq!(
            misfit(&pod(json!({})), &nodes[0], &occ),
            Some(Misfit::RepelledBy("shop/solo".into()))
        );
        // Only in its own namespace unless the term names others.
        repelling.metadata.namespace = Some("other".into());
        let occ = Occupancy::new(&nodes, std::slice::from_ref(&repelling));
        assert_eq!(misfit(&pod(json!({})), &nodes[0], &occ), None);
        // Finished pods and pods off the candidate nodes do not count.
        let mut done = there.clone();
        done.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).expect("status"));
        let mut elsewhere = there.clone();
        elsewhere.spec.as_mut().expect("spec").node_name = Some("drained".into());
        let occ = Occupancy::new(&nodes, &[done, elsewhere]);
        assert_eq!(misfit(&host, &nodes[0], &occ), None);
    }
}
