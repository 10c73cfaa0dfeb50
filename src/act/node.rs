//! Writes a [`NodeChange`] to the node, guarded by the node's resourceVersion.
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};

use crate::{
    api::names::FIELD_MANAGER,
    error::{Error, Result},
    plan::node::{NodeChange, merge_patch},
};

pub async fn apply(api: &Api<Node>, node: &Node, change: &NodeChange) -> Result<Node> {
    let name = node.name_any();
    let rv = node.resource_version().unwrap_or_default();
    api.patch(&name, &params(), &Patch::Merge(merge_patch(change, &rv)))
        .await
        .map_err(|source| Error::PatchNode { node: name, source })
}

/// Adds (`present`) or removes a taint by key and effect, guarded by resourceVersion like every node write.
pub async fn set_taint(
    api: &Api<Node>,
    node: &Node,
    taint: &k8s_openapi::api::core::v1::Taint,
    present: bool,
) -> Result<()> {
    let name = node.name_any();
    let mut taints: Vec<_> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let had = taints.iter().any(|t| t.key == taint.key && t.effect == taint.effect);
    match (had, present) {
        (false, true) => taints.push(taint.clone()),
        (true, false) => taints.retain(|t| !(t.key == taint.key && t.effect == taint.effect)),
        _ => return Ok(()),
    }
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": node.resource_version()},
        "spec": {"taints": taints},
    });
    api.patch(&name, &params(), &Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(|source| Error::PatchNode { node: name, source })
}

/// Node writes carry drydock's field manager, so a cordon someone else makes afterwards is told apart.
fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}
