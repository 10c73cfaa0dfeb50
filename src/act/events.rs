//! Kubernetes Events: what `plan` said people should hear, published on the objects it concerns. An Event that
//! cannot be published is logged and dropped: status carries the same facts, and a reconcile never fails for it.
//! A schedule's Events that are notifications too (`plan::notify::from_schedule`) are handed to the receivers
//! here, so the schedule controller only publishes its Notes.
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::{
    Resource, ResourceExt,
    runtime::events::{Event, EventType, Recorder},
};
use tracing::{info, warn};

use crate::{
    notify::{Notification, Notifier, Object},
    plan::{notify, status::Note},
};

/// Where Events go: the Event recorder, and the notification receivers.
pub struct Publisher {
    recorder: Recorder,
    pub notifier: Notifier,
}

impl Publisher {
    pub fn new(recorder: Recorder, notifier: Notifier) -> Self {
        Self { recorder, notifier }
    }
}

/// The longest Event note drydock sends: the API server refuses a note over 1 KiB, and a refused Event would say
/// nothing at all.
const MAX_NOTE: usize = 1000;

/// Publishes `note` on each of `on`, cut to [`MAX_NOTE`] characters; `action` is what drydock was doing.
pub async fn publish(publisher: &Publisher, note: &Note, action: &str, on: &[ObjectReference]) {
    if let (Some(notice), Some(about)) = (notify::from_schedule(note), on.first()) {
        let object = Object {
            kind: about.kind.clone().unwrap_or_default(),
            name: about.name.clone().unwrap_or_default(),
            uid: about.uid.clone().unwrap_or_default(),
        };
        let mut n = Notification::new(&notice, object, Timestamp::now());
        n.schedule = Some(n.object.name.clone());
        publisher.notifier.send(&n);
    }
    let recorder = &publisher.recorder;
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
