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

mod slim;
pub use slim::slim;

#[cfg(test)]
mod tests;
