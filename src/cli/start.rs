//! `drydock start NODE`: creates the NodeMaintenance; drydock's controller then cordons and drains.
use clap::Args;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, PostParams},
};

use super::{CliError, DrainFlags, args, error::Result, not_found_node};
use crate::api::v1alpha1::{NodeMaintenance, NodeMaintenanceSpec, Phase, Window};

#[derive(Args, Debug)]
pub struct StartArgs {
    pub node: String,
    /// Why (shown in Events and `kubectl get nm -o wide`).
    #[arg(long)]
    pub reason: String,
    /// How long the window stays open, a Go duration such as 2h or 90m; without it, until `drydock end`.
    #[arg(long, value_parser = args::go_duration)]
    pub duration: Option<String>,
    #[command(flatten)]
    pub drain: DrainFlags,
    /// Name of the NodeMaintenance [default: <node>-<yyyymmdd-hhmmss>, UTC].
    #[arg(long, value_parser = args::name)]
    pub name: Option<String>,
    /// A label for the NodeMaintenance, key=value (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = args::label)]
    pub labels: Vec<(String, String)>,
    /// Wait until the node is drained (exit 0) or the maintenance fails (exit 1), printing progress.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before exit 5 (the maintenance carries on).
    #[arg(long, default_value = "30m", requires = "wait", value_parser = args::go_duration)]
    pub timeout: String,
}

/// Creates the NodeMaintenance; returns its name.
pub(super) async fn run(client: &Client, a: &StartArgs) -> Result<String> {
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| args::default_name(&a.node, Timestamp::now()));
    // A maintainer may lack `get nodes` (the drydock-maintainer role does not grant it): then the controller
    // reports a missing node in status instead, and only a certain "no such node" stops us here.
    if let Ok(None) = Api::<Node>::all(client.clone()).get_opt(&a.node).await {
        return Err(not_found_node(&a.node));
    }
    let nms = Api::<NodeMaintenance>::all(client.clone());
    let same_node = ListParams::default().fields(&format!("spec.nodeName={}", a.node));
    if let Ok(list) = nms.list(&same_node).await {
        for other in list.items.iter().filter(|o| {
            !matches!(
                o.status.as_ref().map(|s| s.phase),
                Some(Phase::Completed | Phase::Failed)
            )
        }) {
            println!(
                "note: nodemaintenance/{} is already open for {}: this one waits (Pending) until it ends",
                other.name_any(),
                a.node
            );
        }
    }
    let mut nm = NodeMaintenance::new(
        &name,
        NodeMaintenanceSpec {
            node_name: a.node.clone(),
            reason: Some(a.reason.clone()),
            window: a.duration.clone().map(|d| Window {
                duration: Some(d),
                ..Default::default()
            }),
            drain: a.drain.spec(),
            ..Default::default()
        },
    );
    if !a.labels.is_empty() {
        nm.metadata.labels = Some(a.labels.iter().cloned().collect());
    }
    nms.create(&PostParams::default(), &nm).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 409 => CliError::Refused {
            name: name.clone(),
            message: "it already exists: choose another --name".into(),
        },
        kube::Error::Api(s) if s.code == 422 || s.code == 400 => CliError::Refused {
            name: name.clone(),
            message: s.message,
        },
        e => CliError::api("create nodemaintenances", e),
    })?;
    println!("nodemaintenance/{name} created for node {}", a.node);
    Ok(name)
}
