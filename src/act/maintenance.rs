//! Creates the NodeMaintenances a schedule starts.
use kube::{Api, Client, ResourceExt, api::PostParams};

use crate::{
    api::v1alpha1::NodeMaintenance,
    error::{Error, Result},
};

/// Creates `nm`; one of its name that exists already counts as created (a restart, or a stale cache): the
/// deterministic name is what makes this safe. Returns whether this call created it.
pub async fn create(client: &Client, nm: &NodeMaintenance) -> Result<bool> {
    match Api::<NodeMaintenance>::all(client.clone())
        .create(&PostParams::default(), nm)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(source) => Err(Error::WriteObject {
            kind: "NodeMaintenance",
            name: nm.name_any(),
            source,
        }),
    }
}
