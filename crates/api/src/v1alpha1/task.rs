//! A maintenance's task: the one pod drydock runs on the node once it is drained (a kernel upgrade, a firmware
//! flash), and what status says of it.
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::KubeSchema;
use serde::{Deserialize, Serialize};

/// Work drydock runs on the node once it is drained: one pod, created once per maintenance, pinned to the node
/// and tolerating exactly the taints drydock added. Creating a NodeMaintenance (or MaintenanceSchedule) with a
/// task is a separate permission: the `run-task` verb (see SECURITY.md).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// The pod to run, in the operator's task namespace (`drydock run --task-namespace`, default
    /// drydock-tasks). drydock sets spec.nodeName to the node, adds tolerations of its own taints, a label
    /// `drydock.dev/task-of` and an owner reference to the NodeMaintenance; everything else (image, command,
    /// privileges, service account) is the template's own.
    pub template: TaskTemplate,
    /// What a failed task does: Hold (the default: the node stays drained and cordoned for a person to look at;
    /// delete the NodeMaintenance to give it back) or Restore (give the node back and end as Failed).
    #[serde(default)]
    pub on_failure: OnTaskFailure,
}

/// A pod template: labels, annotations and the pod's spec.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct TaskTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TaskMetadata>,
    /// A core/v1 PodSpec (`kubectl explain pod.spec`). spec.nodeName is drydock's to set, and restartPolicy is
    /// Never (the default) or OnFailure: use OnFailure for a task that reboots the node, so it runs again after
    /// the reboot and can see its work done. The API server checks the rest when drydock first tries the pod (a
    /// dry run, before the node is touched).
    // Kept as written, not as a typed PodSpec: a field this build's Kubernetes types do not know (a newer
    // securityContext option, say) must reach the pod, not be dropped on the way.
    #[schemars(schema_with = "pod_spec_schema")]
    pub spec: serde_json::Map<String, serde_json::Value>,
}

/// Labels and annotations of the task pod.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The pod spec's schema: the few fields drydock has rules about, the rest kept as written. The whole core/v1
/// PodSpec schema would make each CRD several hundred kilobytes (past the 256 KiB kubectl apply annotation), and
/// the API server validates the pod itself at the dry run anyway.
fn pod_spec_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "required": ["containers"],
        "properties": {
            "containers": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            },
            "nodeName": {"type": "string"},
            "restartPolicy": {"type": "string", "enum": ["Never", "OnFailure"]}
        },
        "x-kubernetes-validations": [{
            "rule": "!has(self.nodeName)",
            "message": "task.template.spec.nodeName: drydock pins the task to spec.nodeName itself; leave it out"
        }]
    })
}

/// What a failed task does to the node.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum OnTaskFailure {
    /// Keep the node drained and cordoned for a person; delete the NodeMaintenance to give it back.
    #[default]
    Hold,
    /// Give the node back and end the maintenance as Failed.
    Restore,
}

/// The task as drydock last saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The task pod, in `namespace`.
    pub pod_name: String,
    pub namespace: String,
    pub phase: TaskPhase,
    /// The exit code of the pod's first container that ended with one (the failing one when it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The last lines of that container's termination message, or why the task ended as it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When drydock created the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When drydock saw it end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// Where a task stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum TaskPhase {
    /// Created; not running yet (image pull, admission, the kubelet).
    #[default]
    Pending,
    Running,
    Succeeded,
    /// It failed, or its pod went away before it finished.
    Failed,
    /// drydock deleted it before it finished: the window closed or the NodeMaintenance was deleted.
    Stopped,
}

impl TaskPhase {
    /// Succeeded, Failed or Stopped: nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, TaskPhase::Succeeded | TaskPhase::Failed | TaskPhase::Stopped)
    }
}
