//! drydock's finalizer on a NodeMaintenance: added before the node is touched, removed once it is given back,
//! so the object cannot vanish while drydock holds its node. Both writes are guarded by resourceVersion: a
//! stale view of the list must not drop someone else's finalizer.
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
};

use crate::{
    api::{names::FINALIZER, v1alpha1::NodeMaintenance},
    error::{Error, Result},
};

/// Adds drydock's finalizer to `nm`; returns the object as written.
pub async fn add(client: &Client, nm: &NodeMaintenance) -> Result<NodeMaintenance> {
    let mut finalizers = nm.finalizers().to_vec();
    finalizers.push(FINALIZER.into());
    set(client, nm, finalizers).await
}

/// Removes drydock's finalizer from `nm`, keeping everyone else's.
pub async fn remove(client: &Client, nm: &NodeMaintenance) -> Result<()> {
    let finalizers = nm.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    set(client, nm, finalizers).await.map(|_| ())
}

async fn set(client: &Client, nm: &NodeMaintenance, finalizers: Vec<String>) -> Result<NodeMaintenance> {
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": nm.resource_version()}});
    Api::<NodeMaintenance>::all(client.clone())
        .patch(&nm.name_any(), &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| Error::WriteObject {
            kind: "NodeMaintenance",
            name: nm.name_any(),
            source,
        })
}
