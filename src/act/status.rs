//! Status writes: server-side apply of the whole status under field manager "drydock", the only writer of it.
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde::Serialize;

use crate::{
    api::{
        names::FIELD_MANAGER,
        v1alpha1::{MaintenanceSchedule, MaintenanceScheduleStatus, NodeMaintenance, NodeMaintenanceStatus},
    },
    error::{Error, Result},
};

/// Writes a NodeMaintenance's status.
pub async fn maintenance(client: &Client, name: &str, status: &NodeMaintenanceStatus) -> Result<()> {
    apply(
        Api::<NodeMaintenance>::all(client.clone()),
        "NodeMaintenance",
        name,
        status,
    )
    .await
}

/// Writes a MaintenanceSchedule's status.
pub async fn schedule(client: &Client, name: &str, status: &MaintenanceScheduleStatus) -> Result<()> {
    apply(
        Api::<MaintenanceSchedule>::all(client.clone()),
        "MaintenanceSchedule",
        name,
        status,
    )
    .await
}

async fn apply<K, S>(api: Api<K>, kind: &'static str, name: &str, status: &S) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({"apiVersion": "drydock.dev/v1alpha1", "kind": kind, "status": status});
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map(|_| ())
        .map_err(|source| Error::WriteObject {
            kind,
            name: name.into(),
            source,
        })
}
