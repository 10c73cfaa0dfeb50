//! `drydock list`, and `drydock status` without NAME: the table of `kubectl get nm`.
use clap::Args;
use jiff::Timestamp;
use kube::{Api, Client, ResourceExt, api::ListParams};

use super::{CliError, args, error::Result, format};
use crate::api::{lenient::Lenient, v1alpha1::NodeMaintenance};

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only NodeMaintenances with these labels, e.g. team=storage.
    #[arg(short = 'l', long, value_parser = args::selector_text)]
    pub selector: Option<String>,
}

/// Prints the NodeMaintenances matching `selector` (all without one) as a table.
pub(super) async fn run(client: &Client, selector: Option<&str>) -> Result<()> {
    let mut lp = ListParams::default();
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    // One object the CLI cannot read must not hide the others: it is named on stderr instead.
    let list = Api::<Lenient<NodeMaintenance>>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| CliError::api("list nodemaintenances", e))?;
    let readable: Vec<NodeMaintenance> = list.items.iter().filter_map(|o| o.ok().cloned()).collect();
    print!("{}", format::table(&readable, Timestamp::now()));
    for o in &list.items {
        if let Err(why) = &o.decoded {
            eprintln!("warning: nodemaintenance/{} cannot be read: {why}", o.name_any());
        }
    }
    Ok(())
}
