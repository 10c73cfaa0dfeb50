//! A maintenance's task: the pod drydock makes from spec.task, and what the pod it finds says about the task.
//! Pure: the controller reads the pod, creates or deletes it; these say what to create and what was seen.
use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::{ContainerStatus, Pod},
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube_core::{Resource, ResourceExt};
use serde_json::{Value, json};

use crate::{names, node};
use drydock_api::{
    names::TASK_OF_LABEL,
    v1alpha1::{NodeMaintenance, TaskPhase, TaskSpec, TaskStatus},
};

/// Lines of a termination message kept in status: the end of a log says what went wrong.
const MESSAGE_LINES: usize = 5;
/// And at most this many bytes of them.
const MESSAGE_BYTES: usize = 1024;

/// The task pod's name: the maintenance's name and the start of its uid, so a NodeMaintenance deleted and made
/// again under the same name never finds its predecessor's pod. Within a label value's 63 characters, as a
/// pod's hostname is.
pub fn pod_name(nm: &NodeMaintenance) -> String {
    let uid = nm.uid().unwrap_or_default();
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    names::shorten(&format!("{}-task-{short}", nm.name_any()), names::MAX_LABEL_VALUE)
}

/// The pod of `task`, to run in `namespace` on the maintenance's node: the template as written (as JSON, so no
/// field of it is lost on the way), pinned to the node, tolerating exactly the taints this maintenance puts on it
/// (NoExecute ones too: they come once the drain is done), owned by the maintenance (so it goes with it) and
/// labelled with its name.
pub fn pod(nm: &NodeMaintenance, task: &TaskSpec, namespace: &str) -> Value {
    let template = &task.template;
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels;
    labels.insert(TASK_OF_LABEL.into(), node::taint_value(&nm.name_any()));
    let mut spec = template.spec.clone();
    spec.insert("nodeName".into(), json!(nm.spec.node_name));
    spec.entry("restartPolicy").or_insert_with(|| json!("Never"));
    let own = node::wanted_taints(&nm.name_any(), &nm.spec.taints, true)
        .into_iter()
        .map(|t| json!({"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}));
    // Not a list: left as written, for the API server to refuse in its own words at the dry run.
    if let Some(list) = spec.entry("tolerations").or_insert_with(|| json!([])).as_array_mut() {
        list.extend(own);
    }
    let mut metadata = json!({
        "name": pod_name(nm),
        "namespace": namespace,
        "labels": labels,
        "ownerReferences": nm.controller_owner_ref(&()).map(|o| vec![o]),
    });
    if !meta.annotations.is_empty() {
        metadata["annotations"] = json!(meta.annotations);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
}

/// Whether `pod` is this maintenance's task (its controller owner is `nm`), not some other pod of that name.
pub fn is_ours(pod: &Pod, nm: &NodeMaintenance) -> bool {
    let uid = nm.uid();
    pod.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.kind == "NodeMaintenance" && Some(&o.uid) == uid.as_ref())
}

/// Where the task stands now, from its pod (None: not found) and what status recorded before. None: it was
/// never started. A pod that went away before it finished is a failure: it is never started twice.
pub fn observe(pod: Option<&Pod>, recorded: Option<&TaskStatus>, now: Timestamp) -> Option<TaskStatus> {
    let seen = match (pod, recorded) {
        (None, None) => return None,
        (None, Some(r)) if r.phase.is_final() => return Some(r.clone()),
        (None, Some(r)) => TaskStatus {
            phase: TaskPhase::Failed,
            message: Some("the task pod was deleted before it finished".into()),
            exit_code: None,
            ..r.clone()
        },
        (Some(pod), _) => of_pod(pod),
    };
    Some(stamped(seen, recorded, now))
}

/// A pod with the task's name that is not this maintenance's: the task cannot run, and that pod is left alone.
pub fn foreign(pod: &Pod, now: Timestamp) -> TaskStatus {
    let (namespace, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let why = format!(
        "a pod named {name} already exists in {namespace} and is not this NodeMaintenance's task: it is left alone"
    );
    failed_before_start(&namespace, &name, why, now)
}

/// The task whose pod (`namespace`/`name`) the API server refused to create: it failed before it began.
pub fn refused(namespace: &str, name: &str, why: &str, now: Timestamp) -> TaskStatus {
    failed_before_start(
        namespace,
        name,
        format!("the API server refused the task pod: {why}"),
        now,
    )
}

/// A task that never ran, and why.
fn failed_before_start(namespace: &str, name: &str, message: String, now: Timestamp) -> TaskStatus {
    let seen = TaskStatus {
        pod_name: name.into(),
        namespace: namespace.into(),
        phase: TaskPhase::Failed,
        message: Some(message),
        ..TaskStatus::default()
    };
    stamped(seen, None, now)
}

/// Carries the times over from what was recorded, and stamps the end the first time it is seen.
fn stamped(mut seen: TaskStatus, recorded: Option<&TaskStatus>, now: Timestamp) -> TaskStatus {
    seen.started_at = recorded.and_then(|r| r.started_at.clone()).or(Some(Time(now)));
    seen.finished_at = match recorded {
        Some(r) if r.phase.is_final() && r.finished_at.is_some() => r.finished_at.clone(),
        _ if seen.phase.is_final() => Some(Time(now)),
        _ => None,
    };
    seen
}

/// The task as its pod shows it.
fn of_pod(pod: &Pod) -> TaskStatus {
    let status = pod.status.as_ref();
    let phase = match status.and_then(|s| s.phase.as_deref()) {
        Some("Running") => TaskPhase::Running,
        Some("Succeeded") => TaskPhase::Succeeded,
        Some("Failed") => TaskPhase::Failed,
        _ => TaskPhase::Pending,
    };
    let containers: Vec<&ContainerStatus> = status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect();
    // The container that says most: the first that failed, else the first that ended, else one that waits.
    let ended = containers
        .iter()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
        .min_by_key(|t| t.exit_code == 0);
    let (exit_code, message) = match ended {
        Some(t) => (
            Some(t.exit_code),
            t.message.as_deref().map(tail).or_else(|| t.reason.clone()),
        ),
        None => {
            let waiting = containers.iter().find_map(|c| c.state.as_ref()?.waiting.as_ref());
            let why = waiting.and_then(|w| match (&w.reason, &w.message) {
                (Some(r), Some(m)) => Some(format!("{r}: {}", tail(m))),
                (r, m) => r.clone().or(m.clone()),
            });
            (None, why.or_else(|| status.and_then(|s| s.message.clone())))
        }
    };
    let deleted = pod.metadata.deletion_timestamp.is_some() && !phase.is_final();
    TaskStatus {
        pod_name: pod.name_any(),
        namespace: pod.namespace().unwrap_or_default(),
        phase: if deleted { TaskPhase::Failed } else { phase },
        exit_code,
        message: if deleted {
            Some("the task pod is being deleted before it finished".into())
        } else {
            message
        },
        started_at: None,
        finished_at: None,
    }
}

/// The last lines of a message, at most [`MESSAGE_BYTES`] of them.
fn tail(message: &str) -> String {
    let lines: Vec<&str> = message.trim_end().lines().collect();
    let kept = lines[lines.len().saturating_sub(MESSAGE_LINES)..].join("\n");
    if kept.len() <= MESSAGE_BYTES {
        return kept;
    }
    let mut cut = kept.len() - MESSAGE_BYTES;
    while !kept.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &kept[cut..])
}

/// How a task is named in messages: `namespace/pod`.
pub fn display(t: &TaskStatus) -> String {
    format!("{}/{}", t.namespace, t.pod_name)
}

/// One line on how the task ended or stands, e.g. "failed (exit 3): no such package".
pub fn summary(t: &TaskStatus) -> String {
    let state = match t.phase {
        TaskPhase::Pending => "pending",
        TaskPhase::Running => "running",
        TaskPhase::Succeeded => "succeeded",
        TaskPhase::Failed => "failed",
        TaskPhase::Stopped => "stopped",
    };
    let code = t.exit_code.filter(|c| *c != 0).map(|c| format!(" (exit {c})"));
    let why = t
        .message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {}", one_line(m)));
    format!("{state}{}{}", code.unwrap_or_default(), why.unwrap_or_default())
}

/// A message's lines joined, for a one-line status message (status.task.message keeps them apart).
fn one_line(m: &str) -> String {
    m.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests;
