//! Nodes held by a NodeMaintenance that no longer exists. Its finalizer was removed by force, so drydock never
//! restored the node; the node's own annotations say what to give back. Looked for when the controller starts
//! and every few minutes after.
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::{Context, node_conditions, pod_watch};
use crate::{
    act,
    api::{
        lenient::Lenient,
        names::{HELD_BY_ANNOTATION, ORPHANED_HOLD_RESTORED},
        v1alpha1::NodeMaintenance,
    },
    error::{Error, Result},
    plan::{
        lifecycle,
        node::{NodeView, release_orphan},
        status::Note,
    },
};

const EVERY: Duration = Duration::from_secs(300);

/// Sweeps now and then every [`EVERY`], until the controller stops.
pub async fn watch(ctx: &Context) {
    loop {
        match sweep(ctx).await {
            Ok(0) => {}
            Ok(n) => info!(
                restored = n,
                "restored nodes whose NodeMaintenance was deleted without drydock"
            ),
            Err(e) => warn!(error = %e, "could not look for orphaned holds (tried again later)"),
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Restores every node whose holder is gone; returns how many.
async fn sweep(ctx: &Context) -> Result<usize> {
    let nodes = Api::<Node>::all(ctx.client.clone());
    let nms = Api::<Lenient<NodeMaintenance>>::all(ctx.client.clone());
    // The node cache, not a LIST: one of every node in full costs the API server, and the controller several
    // times the memory its cache keeps. A held node found there is read again, as fresh as drydock's own writes.
    pod_watch::synced(ctx.nodes.store(), "every node", "the node cache").await?;
    let held: Vec<String> = ctx
        .nodes
        .cached()
        .iter()
        .filter(|n| n.annotations().contains_key(HELD_BY_ANNOTATION))
        .map(|n| n.name_any())
        .collect();
    let mut restored = 0;
    for name in held {
        let Some(node) = ctx.nodes.get(&name).await? else {
            continue;
        };
        let view = NodeView::of(&node);
        let Some(holder) = view.held_by.clone() else { continue };
        // The API server, not this controller's cache: with --selector the holder may be another shard's.
        let holder_node = match nms.get_opt(&holder).await.map_err(|source| Error::ReadObject {
            name: holder.clone(),
            source,
        })? {
            None => None,
            Some(found) => match found.decoded {
                Ok(nm) => Some(nm.spec.node_name),
                // It exists but cannot be read (reported by the controller): it may well hold this node.
                Err(_) => continue,
            },
        };
        let Some(change) = release_orphan(&view, holder_node.as_deref()) else {
            continue;
        };
        ctx.nodes.wrote(&act::node::apply(&nodes, &node, &change).await?);
        restored += 1;
        // The lifecycle conditions the vanished maintenance published turn False too.
        let gone = lifecycle::orphan_released(&holder);
        node_conditions::show(ctx, &node, &gone, act::events::node_reference(&node), Timestamp::now()).await?;
        let note = format!(
            "node {} restored: NodeMaintenance {holder}, which held it, was deleted without drydock (its finalizer \
             removed by force){}",
            view.name,
            if change.unschedulable {
                "; it stays cordoned, as it was before"
            } else {
                ""
            }
        );
        info!(node = %view.name, nm = %holder, "{note}");
        let note = Note {
            warning: true,
            reason: ORPHANED_HOLD_RESTORED.into(),
            text: note,
            on_node: true,
        };
        act::events::publish(&ctx.recorder, &note, "Restore", &[act::events::node_reference(&node)]).await;
    }
    Ok(restored)
}
