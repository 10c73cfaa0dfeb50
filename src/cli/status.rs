//! `drydock status NAME`: one maintenance in detail; with --watch it is followed live ([`super::follow`]).
use clap::Args;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use kube::{Api, Client};

use super::{CliError, Until, args, error::Result, format, not_found_nm};
use crate::api::{names::NODE_LIFECYCLE_CONDITIONS, v1alpha1::NodeMaintenance};

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub name: Option<String>,
    /// Follow the maintenance live until it is Completed or Failed (a progress bar on a terminal, plain lines
    /// otherwise).
    #[arg(long, requires = "name")]
    pub watch: bool,
    /// With --watch: when to stop.
    #[arg(long, value_enum, default_value_t = Until::Done, requires = "watch")]
    pub until: Until,
    /// With --watch: how long to follow before exit 5 [default: no limit].
    #[arg(long, requires = "watch", value_parser = args::go_duration)]
    pub timeout: Option<String>,
    /// Without NAME: only NodeMaintenances with these labels, e.g. team=storage.
    #[arg(short = 'l', long, conflicts_with = "name", value_parser = args::selector_text)]
    pub selector: Option<String>,
}

/// Prints one NodeMaintenance in detail, and the lifecycle conditions its node shows (when the node can be read:
/// a person allowed to see maintenances but not nodes still gets the rest).
pub(super) async fn run(client: &Client, name: &str) -> Result<()> {
    let nm = Api::<NodeMaintenance>::all(client.clone())
        .get_opt(name)
        .await
        .map_err(|e| CliError::api(format!("get nodemaintenance/{name}"), e))?
        .ok_or_else(|| not_found_nm(name))?;
    let node = Api::<Node>::all(client.clone())
        .get_opt(&nm.spec.node_name)
        .await
        .ok()
        .flatten();
    let conditions: Vec<NodeCondition> = node
        .and_then(|n| n.status)
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| NODE_LIFECYCLE_CONDITIONS.contains(&c.type_.as_str()))
        .collect();
    print!("{}", format::detail(&nm, Timestamp::now()));
    print!("{}", format::node_conditions(&conditions));
    Ok(())
}
