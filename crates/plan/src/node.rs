//! What drydock does to a Node, decided from what the node looks like: which taints to add, whether to cordon,
//! and on restore exactly what to take back. Only what drydock added is ever removed.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Taint};
use serde::{Deserialize, Serialize};

use super::names;
use drydock_api::names::{
    AUTOSCALER_SCALE_DOWN_DISABLED, CONTROL_PLANE_LABEL, FIELD_MANAGER, HELD_BY_ANNOTATION, MAINTENANCE_TAINT,
    MEDIK8S_EXCLUDE_LABEL, OUT_OF_SERVICE_TAINT, PRIOR_STATE_ANNOTATION,
};
use drydock_api::v1alpha1::{MaintenanceTaint, PriorState, TaintEffect};

/// What drydock sees of a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    /// The NodeMaintenance holding the node, from [`HELD_BY_ANNOTATION`].
    pub held_by: Option<String>,
    /// From [`PRIOR_STATE_ANNOTATION`]; None when absent or unreadable.
    pub prior: Option<PriorState>,
    /// Labels drydock may add (only [`MEDIK8S_EXCLUDE_LABEL`]) that the node has now.
    pub labels: Vec<String>,
    /// Annotations drydock may add (only [`AUTOSCALER_SCALE_DOWN_DISABLED`]) that the node has now.
    pub annotations: Vec<String>,
    /// The Ready condition is True.
    pub ready: bool,
    /// status.nodeInfo.bootID.
    pub boot_id: Option<String>,
    /// status.nodeInfo's kernelVersion, osImage, kubeletVersion, containerRuntimeVersion (by those names).
    pub node_info: BTreeMap<String, String>,
    /// Labelled node-role.kubernetes.io/control-plane.
    pub control_plane: bool,
    /// While cordoned: a writer other than drydock that owns spec.unschedulable (its managedFields manager), i.e.
    /// someone who cordoned the node themselves, or re-applied the cordon, after drydock's.
    pub cordoned_by: Option<String>,
}

impl NodeView {
    pub fn of(node: &Node) -> Self {
        let annotations = node.metadata.annotations.clone().unwrap_or_default();
        let spec = node.spec.clone().unwrap_or_default();
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            unschedulable: spec.unschedulable.unwrap_or(false),
            taints: spec.taints.unwrap_or_default(),
            held_by: annotations.get(HELD_BY_ANNOTATION).cloned(),
            prior: annotations
                .get(PRIOR_STATE_ANNOTATION)
                .and_then(|s| serde_json::from_str(s).ok()),
            labels: node
                .metadata
                .labels
                .as_ref()
                .map(|l| l.keys().filter(|k| *k == MEDIK8S_EXCLUDE_LABEL).cloned().collect())
                .unwrap_or_default(),
            annotations: annotations
                .keys()
                .filter(|k| *k == AUTOSCALER_SCALE_DOWN_DISABLED)
                .cloned()
                .collect(),
            ready: is_ready(node),
            boot_id: node
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.boot_id.clone()),
            node_info: node
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| {
                    [
                        ("kernelVersion", &i.kernel_version),
                        ("osImage", &i.os_image),
                        ("kubeletVersion", &i.kubelet_version),
                        ("containerRuntimeVersion", &i.container_runtime_version),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect()
                })
                .unwrap_or_default(),
            control_plane: node
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(CONTROL_PLANE_LABEL)),
            cordoned_by: spec
                .unschedulable
                .unwrap_or(false)
                .then(|| other_cordon_owner(node))
                .flatten(),
        }
    }

    pub fn has_taint(&self, key: &str, effect: &str) -> bool {
        self.taints.iter().any(|t| t.key == key && t.effect == effect)
    }
}

/// The first manager other than drydock that owns spec.unschedulable. The API server moves a field's ownership
/// to whoever last changed it (or applied it server-side), so this is the person or tool that cordoned.
fn other_cordon_owner(node: &Node) -> Option<String> {
    node.metadata.managed_fields.iter().flatten().find_map(|m| {
        let manager = m.manager.as_deref().unwrap_or("(unnamed manager)");
        let main = m.subresource.as_deref().unwrap_or("").is_empty();
        let owns = m
            .fields_v1
            .as_ref()
            .is_some_and(|f| f.0.pointer("/f:spec/f:unschedulable").is_some());
        (main && owns && manager != FIELD_MANAGER).then(|| manager.to_string())
    })
}

pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The node fields drydock writes: the whole taint list, spec.unschedulable, its two annotations (None removes
/// an annotation) and label changes (None removes a label; labels not named are left alone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeChange {
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub held_by: Option<String>,
    pub prior: Option<PriorState>,
    pub labels: BTreeMap<String, Option<String>>,
    /// Other annotation changes, like `labels`.
    pub annotations: BTreeMap<String, Option<String>>,
}

/// `key:effect`, how [`PriorState::added_taints`] names a taint.
pub fn taint_id(key: &str, effect: &str) -> String {
    format!("{key}:{effect}")
}

fn effect_str(e: TaintEffect) -> &'static str {
    match e {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    }
}

/// The taints a maintenance wants: drydock's own, then the spec's. NoExecute ones only once `drained`: under
/// a NoExecute taint the taint-eviction controller deletes pods directly, past every PodDisruptionBudget.
pub fn wanted_taints(nm_name: &str, extra: &[MaintenanceTaint], drained: bool) -> Vec<Taint> {
    let own = Taint {
        key: MAINTENANCE_TAINT.into(),
        value: Some(taint_value(nm_name)),
        effect: "NoSchedule".into(),
        time_added: None,
    };
    std::iter::once(own)
        .chain(
            extra
                .iter()
                .filter(|t| drained || t.effect != TaintEffect::NoExecute)
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect: effect_str(t.effect).into(),
                    time_added: None,
                }),
        )
        .collect()
}

/// A taint value is at most 63 characters, an object name up to 253: a longer name is cut and suffixed with a
/// stable hash of the whole ([`names::shorten`]). Only people read it; restore matches taints by key and effect,
/// and the node's held-by annotation carries the full name.
pub fn taint_value(nm_name: &str) -> String {
    names::shorten(nm_name, names::MAX_LABEL_VALUE)
}

/// `node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`, as Kubernetes' documentation applies it.
pub fn out_of_service_taint() -> Taint {
    Taint {
        key: OUT_OF_SERVICE_TAINT.into(),
        value: Some("nodeshutdown".into()),
        effect: "NoExecute".into(),
        time_added: None,
    }
}

/// The held node without the out-of-service taint, if drydock added it (the node is Ready again, so the taint
/// would only evict what comes back). Someone else's out-of-service taint is left to them.
pub fn drop_out_of_service(node: &NodeView, prior: &PriorState) -> Option<NodeChange> {
    let id = taint_id(OUT_OF_SERVICE_TAINT, "NoExecute");
    if !node.has_taint(OUT_OF_SERVICE_TAINT, "NoExecute") || !prior.added_taints.contains(&id) {
        return None;
    }
    let mut prior = prior.clone();
    prior.added_taints.retain(|t| *t != id);
    Some(NodeChange {
        taints: node
            .taints
            .iter()
            .filter(|t| !(t.key == OUT_OF_SERVICE_TAINT && t.effect == "NoExecute"))
            .cloned()
            .collect(),
        unschedulable: node.unschedulable,
        held_by: node.held_by.clone(),
        prior: Some(prior),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    })
}

/// Whether the spec asks for taints that wait for the end of the drain.
pub fn has_deferred_taints(extra: &[MaintenanceTaint]) -> bool {
    extra.iter().any(|t| t.effect == TaintEffect::NoExecute)
}

/// Take (or keep) hold of the node: add the wanted taints that are missing and cordon it. The prior state is
/// recorded on first hold and kept afterwards, growing only by the taints added now; a taint the node already
/// had before drydock came is never recorded as drydock's, so restore leaves it.
///
/// With `exclude_remediation`, the medik8s exclusion label is added too (and recorded, so restore removes it
/// only if drydock added it).
///
/// Returns None when the node already looks as wanted.
pub fn hold(node: &NodeView, nm_name: &str, wanted: &[Taint], exclude_remediation: bool) -> Option<NodeChange> {
    hold_as_recorded(node, nm_name, wanted, exclude_remediation, None)
}

/// [`hold`], for a maintenance that already holds the node and recorded its prior state (`recorded`, from its
/// status): if someone removed drydock's annotations from the node, that record is written back instead of the
/// node as it looks now (cordoned and tainted by drydock itself).
pub fn hold_as_recorded(
    node: &NodeView,
    nm_name: &str,
    wanted: &[Taint],
    exclude_remediation: bool,
    recorded: Option<&PriorState>,
) -> Option<NodeChange> {
    let ours = node.held_by.as_deref() == Some(nm_name);
    let mut prior = match (&node.prior, ours, recorded) {
        (Some(p), true, _) => p.clone(),
        (_, _, Some(r)) if node.held_by.is_none() || ours => r.clone(),
        _ => PriorState {
            was_unschedulable: node.unschedulable,
            ..Default::default()
        },
    };
    let mut labels = BTreeMap::new();
    if exclude_remediation && !node.labels.iter().any(|l| l == MEDIK8S_EXCLUDE_LABEL) {
        labels.insert(MEDIK8S_EXCLUDE_LABEL.to_string(), Some("true".to_string()));
        if !prior.added_labels.iter().any(|l| l == MEDIK8S_EXCLUDE_LABEL) {
            prior.added_labels.push(MEDIK8S_EXCLUDE_LABEL.into());
        }
    }
    let mut annotations = BTreeMap::new();
    if !node.annotations.iter().any(|a| a == AUTOSCALER_SCALE_DOWN_DISABLED) {
        annotations.insert(AUTOSCALER_SCALE_DOWN_DISABLED.to_string(), Some("true".to_string()));
        if !prior
            .added_annotations
            .iter()
            .any(|a| a == AUTOSCALER_SCALE_DOWN_DISABLED)
        {
            prior.added_annotations.push(AUTOSCALER_SCALE_DOWN_DISABLED.into());
        }
    }
    let mut taints = node.taints.clone();
    for w in wanted {
        let present = node.has_taint(&w.key, &w.effect);
        if !present {
            taints.push(w.clone());
        }
        // drydock's own taint key is drydock's whoever finds it (the API refuses it in spec.taints): even with
        // every record of the prior state lost, restore takes it away.
        let id = taint_id(&w.key, &w.effect);
        if (!present || w.key == MAINTENANCE_TAINT) && !prior.added_taints.contains(&id) {
            prior.added_taints.push(id);
        }
    }
    let change = NodeChange {
        taints,
        unschedulable: true,
        held_by: Some(nm_name.into()),
        prior: Some(prior),
        labels,
        annotations,
    };
    let unchanged = ours
        && change.labels.is_empty()
        && change.annotations.is_empty()
        && node.unschedulable
        && change.taints.len() == node.taints.len()
        && node.prior == change.prior;
    (!unchanged).then_some(change)
}

/// Give the node back: remove the taints drydock added, uncordon only if the node was schedulable before and
/// nobody else has cordoned it since, drop drydock's annotations. Taints others added meanwhile (e.g.
/// node.kubernetes.io/unschedulable, kept by the node-lifecycle controller) are left to their owners.
pub fn restore(node: &NodeView, prior: &PriorState) -> NodeChange {
    let taints = node
        .taints
        .iter()
        .filter(|t| !prior.added_taints.contains(&taint_id(&t.key, &t.effect)))
        .cloned()
        .collect();
    NodeChange {
        taints,
        unschedulable: node.unschedulable && (prior.was_unschedulable || node.cordoned_by.is_some()),
        held_by: None,
        prior: None,
        labels: prior.added_labels.iter().map(|l| (l.clone(), None)).collect(),
        annotations: prior.added_annotations.iter().map(|a| (a.clone(), None)).collect(),
    }
}

/// What restore assumes when neither the node nor the object recorded the prior state: only drydock's own taint
/// is drydock's, and the node stays cordoned (uncordoning a node that may have been cordoned before is the one
/// unsafe guess).
pub fn safe_prior() -> PriorState {
    PriorState {
        was_unschedulable: true,
        added_taints: vec![taint_id(MAINTENANCE_TAINT, "NoSchedule")],
        ..Default::default()
    }
}

/// A node still held by a NodeMaintenance that no longer exists (its finalizer was removed by force, so drydock
/// never restored it) is given back from its own prior-state annotation. `holder_node`: the spec.nodeName of
/// the object named in the held-by annotation, None if there is no such object.
pub fn release_orphan(node: &NodeView, holder_node: Option<&str>) -> Option<NodeChange> {
    node.held_by.as_ref()?;
    if holder_node == Some(node.name.as_str()) {
        return None;
    }
    Some(restore(node, node.prior.as_ref().unwrap_or(&safe_prior())))
}

/// The merge patch that writes `change`, guarded by `resource_version` so a concurrent edit fails with 409
/// instead of being overwritten (the taint list is replaced whole).
pub fn merge_patch(change: &NodeChange, resource_version: &str) -> serde_json::Value {
    let mut annotations: BTreeMap<&str, serde_json::Value> = change
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), serde_json::json!(v)))
        .collect();
    annotations.insert(HELD_BY_ANNOTATION, serde_json::json!(change.held_by));
    annotations.insert(
        PRIOR_STATE_ANNOTATION,
        serde_json::json!(change.prior.as_ref().and_then(|p| serde_json::to_string(p).ok())),
    );
    serde_json::json!({
        "metadata": {"resourceVersion": resource_version, "annotations": annotations, "labels": change.labels},
        "spec": {
            "taints": change.taints,
            // null removes the field, as `kubectl uncordon` leaves it.
            "unschedulable": if change.unschedulable { serde_json::json!(true) } else { serde_json::Value::Null },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: None,
            effect: effect.into(),
            time_added: None,
        }
    }
    fn node(unschedulable: bool, taints: Vec<Taint>) -> NodeView {
        NodeView {
            name: "n1".into(),
            unschedulable,
            taints,
            ..Default::default()
        }
    }
    fn extra(key: &str, effect: TaintEffect) -> MaintenanceTaint {
        MaintenanceTaint {
            key: key.into(),
            value: Some("v".into()),
            effect,
        }
    }
    fn apply(n: &NodeView, c: &NodeChange) -> NodeView {
        NodeView {
            name: n.name.clone(),
            unschedulable: c.unschedulable,
            taints: c.taints.clone(),
            held_by: c.held_by.clone(),
            prior: c.prior.clone(),
            labels: c
                .labels
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| k.clone())
                .chain(n.labels.iter().filter(|l| !c.labels.contains_key(*l)).cloned())
                .collect(),
            annotations: c
                .annotations
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| k.clone())
                .chain(
                    n.annotations
                        .iter()
                        .filter(|a| !c.annotations.contains_key(*a))
                        .cloned(),
                )
                .collect(),
            ..n.clone()
        }
    }

    #[test]
    fn hold_taints_cordons_and_records_prior_state() {
        let n = node(false, vec![taint("gpu", "NoSchedule")]);
        let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("a change");
        assert!(c.unschedulable);
        assert_eq!(c.held_by.as_deref(), Some("nm1"));
        assert_eq!(c.taints.len(), 2);
        assert_eq!(
            c.taints[1].value.as_deref(),
            Some("nm1"),
            "own taint's value is the object's name"
        );
        let p = c.prior.expect("prior");
        assert!(!p.was_unschedulable);
        assert_eq!(p.added_taints, vec!["drydock.dev/maintenance:NoSchedule"]);
    }

    #[test]
    fn hold_is_idempotent() {
        let n = node(false, vec![]);
        let wanted = wanted_taints("nm1", &[], false);
        let held = apply(&n, &hold(&n, "nm1", &wanted, false).expect("change"));
        assert_eq!(hold(&held, "nm1", &wanted, false), None);
    }

    #[test]
    fn a_taint_the_node_already_had_is_not_recorded_as_ours() {
        let n = node(false, vec![taint("example.com/kernel", "NoSchedule")]);
        let c = hold(
            &n,
            "nm1",
            &wanted_taints("nm1", &[extra("example.com/kernel", TaintEffect::NoSchedule)], false),
            false,
        )
        .expect("change");
        let p = c.prior.clone().expect("prior");
        assert_eq!(p.added_taints, vec!["drydock.dev/maintenance:NoSchedule"]);
        let restored = restore(&apply(&n, &c), &p);
        assert_eq!(
            restored.taints,
            vec![taint("example.com/kernel", "NoSchedule")],
            "the user's taint stays"
        );
    }

    #[test]
    fn no_execute_waits_for_the_drain() {
        let spec = [
            extra("example.com/evict", TaintEffect::NoExecute),
            extra("a", TaintEffect::PreferNoSchedule),
        ];
        let before: Vec<_> = wanted_taints("nm1", &spec, false)
            .into_iter()
            .map(|t| t.effect)
            .collect();
        assert_eq!(before, vec!["NoSchedule", "PreferNoSchedule"]);
        let after: Vec<_> = wanted_taints("nm1", &spec, true)
            .into_iter()
            .map(|t| t.effect)
            .collect();
        assert_eq!(after, vec!["NoSchedule", "NoExecute", "PreferNoSchedule"]);
        assert!(has_deferred_taints(&spec));
    }

    #[test]
    fn deferred_taints_extend_the_recorded_prior_state() {
        let spec = [extra("example.com/evict", TaintEffect::NoExecute)];
        let n = node(true, vec![]);
        let held = apply(
            &n,
            &hold(&n, "nm1", &wanted_taints("nm1", &spec, false), false).expect("change"),
        );
        let after = hold(&held, "nm1", &wanted_taints("nm1", &spec, true), false).expect("adds NoExecute");
        let p = after.prior.expect("prior");
        assert!(p.was_unschedulable, "the first observation of the node is kept");
        assert_eq!(
            p.added_taints,
            vec!["drydock.dev/maintenance:NoSchedule", "example.com/evict:NoExecute"]
        );
    }

    #[test]
    fn restore_uncordons_only_a_node_that_was_schedulable() {
        for was in [false, true] {
            let n = node(was, vec![]);
            let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
            let r = restore(&apply(&n, &c), c.prior.as_ref().expect("prior"));
            assert_eq!(r.unschedulable, was);
            assert!(r.taints.is_empty());
            assert_eq!((r.held_by, r.prior), (None, None));
        }
    }

    #[test]
    fn restore_leaves_taints_others_added_meanwhile() {
        let n = node(false, vec![]);
        let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
        let mut held = apply(&n, &c);
        held.taints
            .push(taint("node.kubernetes.io/unschedulable", "NoSchedule"));
        let r = restore(&held, c.prior.as_ref().expect("prior"));
        assert_eq!(r.taints, vec![taint("node.kubernetes.io/unschedulable", "NoSchedule")]);
    }

    #[test]
    fn a_node_someone_uncordoned_is_cordoned_again_without_losing_prior_state() {
        let n = node(false, vec![]);
        let wanted = wanted_taints("nm1", &[], false);
        let mut held = apply(&n, &hold(&n, "nm1", &wanted, false).expect("change"));
        held.unschedulable = false;
        held.taints.clear();
        let again = hold(&held, "nm1", &wanted, false).expect("re-cordon");
        assert!(again.unschedulable);
        assert!(!again.prior.expect("prior").was_unschedulable);
    }

    #[test]
    fn node_view_reads_drydock_annotations() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "annotations": {
                HELD_BY_ANNOTATION: "nm1",
                PRIOR_STATE_ANNOTATION: "{\"wasUnschedulable\":true,\"addedTaints\":[\"a:NoSchedule\"]}"
            }},
            "spec": {"unschedulable": true}
        }))
        .expect("node");
        let v = NodeView::of(&n);
        assert_eq!(v.held_by.as_deref(), Some("nm1"));
        assert_eq!(
            v.prior,
            Some(PriorState {
                was_unschedulable: true,
                added_taints: vec!["a:NoSchedule".into()],
                ..Default::default()
            })
        );
    }

    #[test]
    fn patch_carries_the_resource_version_and_removes_annotations_on_restore() {
        let p = merge_patch(
            &NodeChange {
                taints: vec![],
                unschedulable: false,
                held_by: None,
                prior: None,
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            },
            "42",
        );
        assert_eq!(p["metadata"]["resourceVersion"], "42");
        assert!(p["metadata"]["annotations"][HELD_BY_ANNOTATION].is_null());
        assert!(p["spec"]["unschedulable"].is_null());
    }

    #[test]
    fn the_remediation_exclusion_label_is_added_and_removed_only_if_ours() {
        let n = node(false, vec![]);
        let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), true).expect("change");
        assert_eq!(c.labels.get(MEDIK8S_EXCLUDE_LABEL), Some(&Some("true".to_string())));
        let held = apply(&n, &c);
        assert_eq!(
            hold(&held, "nm1", &wanted_taints("nm1", &[], false), true),
            None,
            "idempotent"
        );
        let r = restore(&held, c.prior.as_ref().expect("prior"));
        assert_eq!(r.labels.get(MEDIK8S_EXCLUDE_LABEL), Some(&None), "removed on restore");

        let already = NodeView {
            labels: vec![MEDIK8S_EXCLUDE_LABEL.into()],
            ..node(false, vec![])
        };
        let c = hold(&already, "nm1", &wanted_taints("nm1", &[], false), true).expect("change");
        assert!(c.labels.is_empty() && c.prior.as_ref().is_some_and(|p| p.added_labels.is_empty()));
        let r = restore(&apply(&already, &c), c.prior.as_ref().expect("prior"));
        assert!(r.labels.is_empty(), "a label someone else set stays");
    }

    #[test]
    fn the_autoscaler_is_told_not_to_scale_the_held_node_down_and_only_our_annotation_is_removed() {
        let n = node(false, vec![]);
        let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
        assert_eq!(
            c.annotations.get(AUTOSCALER_SCALE_DOWN_DISABLED),
            Some(&Some("true".to_string()))
        );
        let p = merge_patch(&c, "1");
        assert_eq!(p["metadata"]["annotations"][AUTOSCALER_SCALE_DOWN_DISABLED], "true");
        let r = restore(&apply(&n, &c), c.prior.as_ref().expect("prior"));
        assert_eq!(r.annotations.get(AUTOSCALER_SCALE_DOWN_DISABLED), Some(&None));
        assert!(merge_patch(&r, "2")["metadata"]["annotations"][AUTOSCALER_SCALE_DOWN_DISABLED].is_null());

        let already = NodeView {
            annotations: vec![AUTOSCALER_SCALE_DOWN_DISABLED.into()],
            ..node(false, vec![])
        };
        let c = hold(&already, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
        assert!(c.annotations.is_empty());
        let r = restore(&apply(&already, &c), c.prior.as_ref().expect("prior"));
        assert!(r.annotations.is_empty(), "an annotation someone else set stays");
    }

    #[test]
    fn long_names_make_valid_taint_values() {
        let long = format!("{}-node-20261122t010000z", "a-very-long-schedule-name".repeat(4));
        let v = taint_value(&long);
        assert!(v.len() <= 63, "{v}");
        assert!(v.starts_with("a-very-long") && v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()));
        assert_ne!(v, taint_value(&format!("{long}x")), "different names, different values");
        assert_eq!(taint_value("short"), "short");
        let wanted = wanted_taints(&long, &[], false);
        assert_eq!(wanted[0].value.as_deref(), Some(v.as_str()));
    }

    #[test]
    fn a_cordon_someone_else_owns_is_left_in_place_on_restore() {
        let before = node(false, vec![]);
        let wanted = wanted_taints("nm", &[], false);
        let held = apply(&before, &hold(&before, "nm", &wanted, false).unwrap());
        let prior = held.prior.clone().unwrap();
        assert!(!restore(&held, &prior).unschedulable, "drydock's own cordon is undone");
        let cordoned_by_oncall = NodeView {
            cordoned_by: Some("oncall".into()),
            ..held
        };
        let back = restore(&cordoned_by_oncall, &prior);
        assert!(back.unschedulable, "oncall's cordon stays");
        assert!(back.taints.is_empty(), "drydock's taint still goes");
    }

    fn node_with_managers(unschedulable: bool, managers: &[(&str, &str)]) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "n1",
                "managedFields": managers.iter().map(|(m, sub)| serde_json::json!({
                    "manager": m, "operation": "Update", "subresource": sub, "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:unschedulable": {}}}
                })).collect::<Vec<_>>()
            },
            "spec": {"unschedulable": unschedulable}
        }))
        .unwrap()
    }

    #[test]
    fn the_cordon_owner_is_read_from_managed_fields() {
        let of = |n: &Node| NodeView::of(n).cordoned_by;
        assert_eq!(of(&node_with_managers(true, &[(FIELD_MANAGER, "")])), None);
        assert_eq!(
            of(&node_with_managers(
                true,
                &[(FIELD_MANAGER, ""), ("kubectl-cordon", "")]
            )),
            Some("kubectl-cordon".into())
        );
        assert_eq!(
            of(&node_with_managers(false, &[("kubectl-cordon", "")])),
            None,
            "not cordoned"
        );
        assert_eq!(
            of(&node_with_managers(true, &[("kwok", "status")])),
            None,
            "status writers don't cordon"
        );
    }

    #[test]
    fn an_orphaned_hold_is_released_from_the_node_annotation() {
        let before = node(true, vec![taint("theirs", "NoSchedule")]);
        let wanted = wanted_taints("gone", &[], false);
        let held = apply(&before, &hold(&before, "gone", &wanted, false).unwrap());
        assert_eq!(
            release_orphan(&held, Some("n1")),
            None,
            "the holder exists: not an orphan"
        );
        assert_eq!(release_orphan(&before, None), None, "not held at all");
        let back = release_orphan(&held, None).expect("holder gone: released");
        assert_eq!(back.held_by, None);
        assert!(back.unschedulable, "it was cordoned before drydock came");
        assert_eq!(back.taints, vec![taint("theirs", "NoSchedule")]);
        assert!(
            release_orphan(&held, Some("other-node")).is_some(),
            "a new object of that name for another node"
        );
        let unrecorded = NodeView { prior: None, ..held };
        let safe = release_orphan(&unrecorded, None).unwrap();
        assert!(safe.unschedulable, "no record of the prior state: stays cordoned");
    }
}
