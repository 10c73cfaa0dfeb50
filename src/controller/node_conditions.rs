//! Shows on a Node, through its lifecycle conditions, what drydock is doing with it (`plan::lifecycle` decides
//! which; this writes them). They only inform: a refusal that retrying cannot heal (no permission for
//! nodes/status, a validating policy) is reported once per node, until a write succeeds again, and never stops
//! a maintenance.
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::{Api, ResourceExt};
use tracing::warn;

use super::Context;
use crate::{
    act,
    api::names::NODE_CONDITIONS_REFUSED,
    error::{Error, Result},
    plan::{lifecycle, status::Note},
};

/// Brings `node`'s lifecycle conditions to `wanted`, when the controller publishes them. Writes nothing when the
/// node already shows them. Returns the node as written, if it was: a later write of the node guarded by its
/// resourceVersion must start from it.
pub(super) async fn show(
    ctx: &Context,
    node: &Node,
    wanted: &[lifecycle::Want],
    about: ObjectReference,
    now: Timestamp,
) -> Result<Option<Node>> {
    if !ctx.settings.node_conditions || wanted.is_empty() {
        return Ok(None);
    }
    let current = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let changes = lifecycle::changes(current, wanted, now);
    if changes.is_empty() {
        return Ok(None);
    }
    let name = node.name_any();
    match act::node::conditions(&Api::all(ctx.client.clone()), &name, &changes).await {
        Ok(written) => {
            ctx.nodes.wrote(&written);
            ctx.conditions_written(&name);
            Ok(Some(written))
        }
        Err(e) if e.is_permanent() || forbidden(&e) => {
            if ctx.first_refusal_of_conditions(&name) {
                warn!(node = %name, error = %e, "node lifecycle conditions not written");
                let note = Note {
                    warning: true,
                    reason: NODE_CONDITIONS_REFUSED.into(),
                    text: e.to_string(),
                    on_node: false,
                };
                act::events::publish(&ctx.recorder, &note, "PublishConditions", &[about]).await;
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn forbidden(e: &Error) -> bool {
    matches!(e, Error::WriteNodeConditions { source: kube::Error::Api(s), .. } if s.code == 403)
}
