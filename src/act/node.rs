//! Writes a [`NodeChange`] to the node, guarded by the node's resourceVersion.
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};

use crate::{
    error::{Error, Result},
    plan::node::{NodeChange, merge_patch},
};

pub async fn apply(api: &Api<Node>, node: &Node, change: &NodeChange) -> Result<Node> {
    let name = node.name_any();
    let rv = node.resource_version().unwrap_or_default();
    api.patch(&name, &PatchParams::default(), &Patch::Merge(merge_patch(change, &rv)))
        .await
        .map_err(|source| Error::PatchNode { node: name, source })
}
