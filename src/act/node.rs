//! Writes a [`NodeChange`] to the node, guarded by the node's resourceVersion, and its lifecycle conditions.
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};

use crate::{
    api::names::FIELD_MANAGER,
    error::{Error, Result},
    plan::{
        lifecycle,
        node::{NodeChange, merge_patch},
    },
};

pub async fn apply(api: &Api<Node>, node: &Node, change: &NodeChange) -> Result<Node> {
    let name = node.name_any();
    let rv = node.resource_version().unwrap_or_default();
    api.patch(&name, &params(), &Patch::Merge(merge_patch(change, &rv)))
        .await
        .map_err(|source| Error::PatchNode { node: name, source })
}

/// Adds (`present`) or removes a taint by key and effect, guarded by resourceVersion like every node write.
/// Returns the node as written, None when it already was as asked.
pub async fn set_taint(
    api: &Api<Node>,
    node: &Node,
    taint: &k8s_openapi::api::core::v1::Taint,
    present: bool,
) -> Result<Option<Node>> {
    let name = node.name_any();
    let mut taints: Vec<_> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let had = taints.iter().any(|t| t.key == taint.key && t.effect == taint.effect);
    match (had, present) {
        (false, true) => taints.push(taint.clone()),
        (true, false) => taints.retain(|t| !(t.key == taint.key && t.effect == taint.effect)),
        _ => return Ok(None),
    }
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "spec": {"taints": taints},
    });
    api.patch(&name, &params(), &Patch::Merge(patch))
        .await
        .map(Some)
        .map_err(|source| Error::PatchNode { node: name, source })
}

/// Writes node lifecycle conditions through nodes/status, as a strategic merge by condition type: every other
/// condition and status field is left as it is. Returns the node as written: a node write guarded by the
/// resourceVersion read before would now be refused.
pub async fn conditions(api: &Api<Node>, node: &str, conditions: &[NodeCondition]) -> Result<Node> {
    api.patch_status(node, &params(), &Patch::Strategic(lifecycle::status_patch(conditions)))
        .await
        .map_err(|source| Error::WriteNodeConditions {
            node: node.to_string(),
            source,
        })
}

/// Node writes carry drydock's field manager, so a cordon someone else makes afterwards is told apart.
fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Sets one label on the node (a merge patch of that label alone, so nothing else is touched).
pub async fn set_label(api: &Api<Node>, node: &str, key: &str, value: &str) -> Result<Node> {
    let patch = serde_json::json!({"metadata": {"labels": {key: value}}});
    api.patch(node, &params(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::PatchNode {
            node: node.to_string(),
            source,
        })
}
