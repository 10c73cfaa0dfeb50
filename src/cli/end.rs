//! `drydock end NAME`: deletes the NodeMaintenance and, with --wait, waits for the node's restore.
use clap::Args;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client, api::DeleteParams};

use super::{CliError, POLL, args, error::Result, not_found_nm};
use crate::api::v1alpha1::NodeMaintenance;

#[derive(Args, Debug)]
pub struct EndArgs {
    pub name: String,
    /// Wait until the node is restored and the NodeMaintenance gone.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before exit 5.
    #[arg(long, default_value = "5m", requires = "wait", value_parser = args::go_duration)]
    pub timeout: String,
}

/// Ends a maintenance by deleting it: drydock's finalizer restores the node before the object goes. (Patching
/// the window to end now would fight the CRD's rules, end after start and not both end and duration, for no
/// gain: a closed window and a deletion restore the node the same way.)
pub(super) async fn run(client: &Client, a: &EndArgs) -> Result<()> {
    let name = &a.name;
    let api = Api::<NodeMaintenance>::all(client.clone());
    let nm = api
        .get_opt(name)
        .await
        .map_err(|e| CliError::api(format!("get nodemaintenance/{name}"), e))?
        .ok_or_else(|| not_found_nm(name))?;
    let node = nm.spec.node_name.clone();
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(CliError::api(format!("delete nodemaintenance/{name}"), e)),
    }
    println!("nodemaintenance/{name} ending: drydock restores {node}, then removes it");
    if !a.wait {
        return Ok(());
    }
    let limit = args::duration(&a.timeout).map_err(CliError::Usage)?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let still = api
            .get_opt(name)
            .await
            .map_err(|e| CliError::api(format!("get nodemaintenance/{name}"), e))?;
        if still.is_none() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::TimedOut {
                what: format!("nodemaintenance/{name} is still there"),
                after: a.timeout.clone(),
                hint: "is the drydock controller running? Its finalizer drydock.dev/restore-node waits for it".into(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    // The finalizer let go, so the restore is done; say how the node was left.
    let cordoned = Api::<Node>::all(client.clone())
        .get_opt(&node)
        .await
        .ok()
        .flatten()
        .map(|n| n.spec.and_then(|s| s.unschedulable).unwrap_or(false));
    match cordoned {
        Some(false) => println!("{node} is restored and schedulable again"),
        Some(true) => {
            println!("{node} is restored; it stays cordoned, as it was before (or someone cordoned it since)")
        }
        None => println!("{node} is restored"),
    }
    Ok(())
}
