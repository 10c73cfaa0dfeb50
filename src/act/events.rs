//! Kubernetes Events: what `plan` said people should hear, published on the objects it concerns. An Event that
//! cannot be published is logged and dropped: status carries the same facts, and a reconcile never fails for it.
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::{
    Resource, ResourceExt,
    runtime::events::{Event, EventType, Recorder},
};
use tracing::{info, warn};

use crate::plan::status::Note;

/// The longest Event note drydock sends: the API server refuses a note over 1 KiB, and a refused Event would say
/// nothing at all.
const MAX_NOTE: usize = 1000;

/// Publishes `note` on each of `on`, cut to [`MAX_NOTE`] characters; `action` is what drydock was doing.
pub async fn publish(recorder: &Recorder, note: &Note, action: &str, on: &[ObjectReference]) {
    info!(reason = %note.reason, note = %note.text, "event");
    let ev = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.clone(),
        note: Some(note.text.chars().take(MAX_NOTE).collect()),
        action: action.into(),
        secondary: None,
    };
    for target in on {
        if let Err(e) = recorder.publish(&ev, target).await {
            warn!(error = %e, kind = ?target.kind, name = ?target.name, "could not publish an Event");
        }
    }
}

/// What an Event about `obj` points at.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

/// What an Event about a Node points at (cluster-scoped, so no namespace; the UID ties it to this incarnation).
pub fn node_reference(node: &Node) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(node.name_any()),
        uid: node.uid(),
        ..Default::default()
    }
}
