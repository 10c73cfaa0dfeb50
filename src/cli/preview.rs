//! `drydock preview NODE`: what a drain of the node would do, before touching anything. Pure: the command
//! gathers the node, its pods, the PDBs and the other nodes; this decides.
use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::{Node, NodeSelectorRequirement, Pod, Toleration},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    ResourceExt,
    core::{Selector, SelectorExt},
};

use crate::{
    api::v1alpha1::DrainSpec,
    plan::{
        node::is_ready,
        pods::{Disposition, classify},
    },
};

/// One pod's line in the preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLine {
    pub namespace: String,
    pub name: String,
    /// evict, delete, skip, blocked, wait, terminating.
    pub action: &'static str,
    pub why: String,
    /// The pod stops the drain from finishing.
    pub blocks: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    pub pods: Vec<PodLine>,
    /// Whether the drain can finish as things stand.
    pub can_finish: bool,
}

/// What would happen to each pod on the node, and whether the drain can finish: every policy blocker, every PDB
/// that allows no disruption now, and every evicted pod whose replacement has no other node to go to.
pub fn assess(
    node: &Node,
    pods: &[Pod],
    pdbs: &[PodDisruptionBudget],
    other_nodes: &[Node],
    pods_elsewhere: &[Pod],
    drain: &DrainSpec,
    now: jiff::Timestamp,
) -> Preview {
    let mut lines = Vec::new();
    for pod in pods {
        let (action, why, blocks) = match classify(pod, drain, now) {
            Disposition::Skip(r) => ("skip", r.reason().to_string(), false),
            Disposition::Refuse(r) => ("blocked", r.reason().to_string(), true),
            Disposition::Delete => (
                "delete",
                "finished (Succeeded/Failed): deleted, not evicted".into(),
                false,
            ),
            Disposition::Terminating | Disposition::Abandoned => ("terminating", "already terminating".into(), false),
            Disposition::WaitFor => (
                "wait",
                "waited for until it completes (drain.waitForPods)".into(),
                false,
            ),
            Disposition::Evict => match evict_blocker(pod, pdbs, node, other_nodes, pods_elsewhere) {
                Some(why) => ("blocked", why, true),
                None => ("evict", "evicted through the Eviction API".into(), false),
            },
        };
        lines.push(PodLine {
            namespace: pod.namespace().unwrap_or_default(),
            name: pod.name_any(),
            action,
            why,
            blocks,
        });
    }
    lines.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let can_finish = !lines.iter().any(|l| l.blocks);
    Preview {
        pods: lines,
        can_finish,
    }
}

/// Why evicting `pod` would not get it off the node for good: a PDB with no room now, or no other node its
/// replacement could run on.
fn evict_blocker(
    pod: &Pod,
    pdbs: &[PodDisruptionBudget],
    node: &Node,
    others: &[Node],
    pods_elsewhere: &[Pod],
) -> Option<String> {
    let labels = pod.labels();
    for pdb in pdbs.iter().filter(|p| p.namespace() == pod.namespace()) {
        let selector = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .and_then(|s| Selector::try_from(s).ok());
        if selector.is_some_and(|s| s.matches(labels)) {
            let allowed = pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed);
            if allowed <= 0 {
                return Some(format!(
                    "PDB {}/{} allows {allowed} disruptions now",
                    pdb.namespace().unwrap_or_default(),
                    pdb.name_any()
                ));
            }
        }
    }
    let has_controller = pod.owner_references().iter().any(|o| o.controller == Some(true));
    if has_controller && !others.iter().any(|n| fits(pod, n, node, pods_elsewhere)) {
        return Some(
            "its replacement has nowhere to go: no other schedulable, Ready node whose taints it tolerates and whose \
             labels its node selector and affinity require (or hard anti-affinity leaves none free)"
                .into(),
        );
    }
    None
}

/// Whether a replacement of `pod` could be scheduled on `candidate` (not the node being drained), given the
/// pods already running elsewhere (for hard anti-affinity on kubernetes.io/hostname).
pub fn fits(pod: &Pod, candidate: &Node, drained: &Node, pods_elsewhere: &[Pod]) -> bool {
    if candidate.name_any() == drained.name_any() || !is_ready(candidate) {
        return false;
    }
    let spec = candidate.spec.clone().unwrap_or_default();
    if spec.unschedulable.unwrap_or(false) {
        return false;
    }
    let pod_spec = pod.spec.clone().unwrap_or_default();
    let tolerations = pod_spec.tolerations.unwrap_or_default();
    let untolerated = spec.taints.unwrap_or_default().into_iter().any(|t| {
        matches!(t.effect.as_str(), "NoSchedule" | "NoExecute") && !tolerations.iter().any(|tol| tolerates(tol, &t))
    });
    if untolerated {
        return false;
    }
    let labels = candidate.labels();
    if let Some(selector) = &pod_spec.node_selector
        && !selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let required = pod_spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    if let Some(required) = required {
        // Terms are ORed, expressions within a term ANDed.
        let any_term = required.node_selector_terms.iter().any(|term| {
            term.match_expressions
                .iter()
                .flatten()
                .all(|e| requirement_holds(e, labels))
        });
        if !any_term {
            return false;
        }
    }
    // Hard anti-affinity per host: no pod it repels may already run on the candidate.
    let repelled = pod_spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.clone())
        .unwrap_or_default();
    let candidate_name = candidate.name_any();
    for term in repelled.iter().filter(|t| t.topology_key == "kubernetes.io/hostname") {
        let Some(selector) = term.label_selector.clone().and_then(|s| Selector::try_from(s).ok()) else {
            continue;
        };
        let clash = pods_elsewhere.iter().any(|other| {
            other.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(candidate_name.as_str())
                && other.namespace() == pod.namespace()
                && selector.matches(other.labels())
        });
        if clash {
            return false;
        }
    }
    true
}

/// Tolerations as the scheduler reads them: an empty key with Exists tolerates everything.
fn tolerates(tol: &Toleration, taint: &k8s_openapi::api::core::v1::Taint) -> bool {
    let effect_ok = tol.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key_ok = tol.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key);
    let value_ok = match tol.operator.as_deref() {
        Some("Exists") => true,
        _ => tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
    };
    let empty_key_needs_exists =
        tol.key.as_deref().is_none_or(str::is_empty) && tol.operator.as_deref() != Some("Exists");
    effect_ok && key_ok && value_ok && !empty_key_needs_exists
}

fn requirement_holds(e: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&e.key);
    let values = e.values.clone().unwrap_or_default();
    match e.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, extra: serde_json::Value) -> Node {
        let mut n = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        if let Some(spec) = extra.get("spec") {
            n["spec"] = spec.clone();
        }
        if let Some(labels) = extra.get("labels") {
            for (k, v) in labels.as_object().expect("labels") {
                n["metadata"]["labels"][k] = v.clone();
            }
        }
        serde_json::from_value(n).expect("node")
    }

    fn pod(name: &str, spec: serde_json::Value) -> Pod {
        let mut s = json!({"containers": [{"name": "c", "image": "i"}]});
        for (k, v) in spec.as_object().expect("spec") {
            s[k] = v.clone();
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "uid": name, "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs", "controller": true}]},
            "spec": s,
            "status": {"phase": "Running"}
        }))
        .expect("pod")
    }

    fn pdb(allowed: i32) -> PodDisruptionBudget {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 3, "desiredHealthy": 3, "expectedPods": 3}
        }))
        .expect("pdb")
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().expect("ts")
    }

    #[test]
    fn a_pdb_with_no_room_blocks_and_says_so() {
        let drained = node("a", json!({}));
        let p = assess(
            &drained,
            &[pod("web-1", json!({}))],
            &[pdb(0)],
            &[node("b", json!({}))],
            &[],
            &DrainSpec::default(),
            now(),
        );
        assert!(!p.can_finish);
        assert_eq!(p.pods[0].why, "PDB shop/web allows 0 disruptions now");
        let p = assess(
            &drained,
            &[pod("web-1", json!({}))],
            &[pdb(1)],
            &[node("b", json!({}))],
            &[],
            &DrainSpec::default(),
            now(),
        );
        assert!(p.can_finish);
        assert_eq!(p.pods[0].action, "evict");
    }

    #[test]
    fn replacements_need_a_node_they_tolerate_and_select() {
        let drained = node("a", json!({}));
        let tainted = node(
            "b",
            json!({"spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}),
        );
        let plain = pod("web-1", json!({}));
        assert!(!fits(&plain, &tainted, &drained, &[]));
        let tolerant = pod("web-2", json!({"tolerations": [{"key": "gpu", "operator": "Exists"}]}));
        assert!(fits(&tolerant, &tainted, &drained, &[]));
        let everything = pod("web-3", json!({"tolerations": [{"operator": "Exists"}]}));
        assert!(
            fits(&everything, &tainted, &drained, &[]),
            "an empty key with Exists tolerates every taint"
        );
        let selecting = pod("web-4", json!({"nodeSelector": {"zone": "x"}}));
        assert!(!fits(&selecting, &node("c", json!({})), &drained, &[]));
        assert!(fits(
            &selecting,
            &node("c", json!({"labels": {"zone": "x"}})),
            &drained,
            &[]
        ));
        let affine = pod(
            "web-5",
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}}),
        );
        assert!(!fits(
            &affine,
            &node("d", json!({"labels": {"disk": "hdd"}})),
            &drained,
            &[]
        ));
        assert!(fits(
            &affine,
            &node("d", json!({"labels": {"disk": "ssd"}})),
            &drained,
            &[]
        ));
        let cordoned = node("e", json!({"spec": {"unschedulable": true}}));
        assert!(!fits(&plain, &cordoned, &drained, &[]));
        assert!(!fits(&plain, &drained, &drained, &[]), "never the drained node itself");
        let p = assess(&drained, &[plain], &[], &[tainted], &[], &DrainSpec::default(), now());
        assert!(!p.can_finish && p.pods[0].why.contains("nowhere to go"));
    }

    #[test]
    fn hard_anti_affinity_with_as_many_replicas_as_nodes_cannot_move() {
        let drained = node("a", json!({}));
        let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
        let moving = pod("web-1", anti.clone());
        let on = |name: &str, node: &str| {
            let mut p = pod(name, anti.clone());
            p.spec.as_mut().expect("spec").node_name = Some(node.into());
            p
        };
        let others = [node("b", json!({})), node("c", json!({}))];
        let everywhere = [on("web-2", "b"), on("web-3", "c")];
        let p = assess(
            &drained,
            std::slice::from_ref(&moving),
            &[],
            &others,
            &everywhere,
            &DrainSpec::default(),
            now(),
        );
        assert!(
            !p.can_finish,
            "3 replicas, 3 nodes, one per node: the evicted one has nowhere to go"
        );
        let p = assess(
            &drained,
            &[moving],
            &[],
            &others,
            &everywhere[..1],
            &DrainSpec::default(),
            now(),
        );
        assert!(p.can_finish, "node c is free");
    }

    #[test]
    fn policy_blockers_and_skips_reuse_the_drain_rules() {
        let drained = node("a", json!({}));
        let mut bare = pod("debug", json!({}));
        bare.metadata.owner_references = None;
        let p = assess(
            &drained,
            &[bare],
            &[],
            &[node("b", json!({}))],
            &[],
            &DrainSpec::default(),
            now(),
        );
        assert!(!p.can_finish);
        assert!(p.pods[0].why.starts_with("Pods that declare no controller"));
        let allowed = DrainSpec {
            evict_unmanaged_pods: true,
            ..Default::default()
        };
        let mut bare = pod("debug", json!({}));
        bare.metadata.owner_references = None;
        assert!(
            assess(&drained, &[bare], &[], &[], &[], &allowed, now()).can_finish,
            "a bare pod has no replacement to place"
        );
    }
}
