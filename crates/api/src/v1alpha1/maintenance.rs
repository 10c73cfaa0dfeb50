//! `NodeMaintenance` (drydock.dev/v1alpha1): one node taken out of service for a while.
//!
//! Doc comments on fields become the CRD's descriptions, so `kubectl explain nodemaintenance.spec.drain` reads
//! them. Validation that the API server can do (OpenAPI + CEL) lives here so bad input is refused at apply.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube_derive::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Takes one node out of service: taint and cordon it, drain it through the Eviction API (honouring
/// PodDisruptionBudgets), hold it while the window is open, then put it back exactly as it was.
#[allow(clippy::duplicated_attributes)] // several printcolumn(...) attributes are how kube-derive takes columns
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "drydock.dev",
    version = "v1alpha1",
    kind = "NodeMaintenance",
    plural = "nodemaintenances",
    shortname = "nm",
    category = "drydock",
    status = "NodeMaintenanceStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Takes one node out of service: taints and cordons it, drains it through the Eviction API \
           (PodDisruptionBudgets honoured), holds it while the window is open, then restores it as it was.",
    printcolumn(name = "Node", type_ = "string", json_path = ".spec.nodeName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Evicted",
        type_ = "string",
        json_path = ".status.pods.progress",
        description = "evicted/total pods of the drain"
    ),
    printcolumn(name = "Blocked", type_ = "integer", json_path = ".status.pods.blocked"),
    printcolumn(
        name = "Task",
        type_ = "string",
        json_path = ".status.task.phase",
        description = "the task's phase, when spec.task is set"
    ),
    printcolumn(
        name = "Window-End",
        type_ = "string",
        json_path = ".status.windowEnd",
        description = "when the window closes (a date column would print future times as <invalid>)"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".spec.reason", priority = 1),
    printcolumn(name = "Message", type_ = "string", json_path = ".status.message", priority = 1),
    selectable = ".spec.nodeName"
)]
#[serde(rename_all = "camelCase")]
pub struct NodeMaintenanceSpec {
    /// Name of the Node to take out of service. Cannot be changed once set: delete the object and create another.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.nodeName is immutable: delete this NodeMaintenance and create a new one for the other node"))]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub node_name: String,

    /// Why the node is going out of service (shown in Events and `kubectl get nm -o wide`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,

    /// When the node may be held. Omitted: maintenance starts now and lasts until this object is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,

    /// Extra taints to put on the node besides `drydock.dev/maintenance=<name>:NoSchedule`. A NoExecute taint is
    /// applied only after the drain has finished: Kubernetes' taint-eviction controller deletes pods under a
    /// NoExecute taint directly, past every PodDisruptionBudget, so drydock never adds one while pods still run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(UNIQUE_TAINTS_RULE).message(UNIQUE_TAINTS_MESSAGE))]
    pub taints: Vec<MaintenanceTaint>,

    /// How pods leave the node.
    #[serde(default)]
    pub drain: DrainSpec,

    /// End the maintenance early once the work is found done (e.g. a kernel upgrade by another agent), instead
    /// of waiting for the window to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_when: Option<CompleteWhen>,

    /// Work to run on the node once it is drained (a kernel upgrade, say): one pod, created once. The maintenance
    /// is then done when the task succeeded and every completeWhen condition holds. Needs the run-task
    /// permission (SECURITY.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<super::TaskSpec>,

    /// PromQL queries that must return no series before drydock takes the node (checked until it does; a firing
    /// query or an unreachable Prometheus keeps the maintenance Pending). `{{node}}` in a query is this node's name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(g, self.exists_one(h, h.name == g.name))").message("healthGates: each gate needs its own name"))]
    pub health_gates: Vec<super::HealthGate>,

    /// Allow taking the cluster's only control-plane node. Its restart takes the API server down, drydock's own
    /// watch included; without this a maintenance of a sole control-plane node waits (ControlPlaneGuard).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_sole_control_plane: bool,
}

/// When the work is done. Checked only after the drain finished; any condition given must hold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.rebooted || has(self.nodeInfo)").message("completeWhen: set rebooted: true or nodeInfo"))]
pub struct CompleteWhen {
    /// The node rebooted: its status.nodeInfo.bootID changed since the drain finished and it is Ready again.
    #[serde(default)]
    pub rebooted: bool,
    /// The node reports this software (shell-style patterns, `*` matches anything), e.g. kernelVersion: "6.6.*".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeInfoMatch>,
}

/// Patterns over a node's status.nodeInfo; every one given must match (and the node must be Ready).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfoMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub kernel_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub os_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub kubelet_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub container_runtime_version: Option<String>,
}

/// The maintenance window. `end` and `duration` are alternatives; give at most one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.end) && has(self.duration))").message("window: give either end or duration, not both"))]
#[x_kube(validation = Rule::new("!has(self.start) || !has(self.end) || timestamp(string(self.end)) > timestamp(string(self.start))").message("window.end must be after window.start"))]
pub struct Window {
    /// When the maintenance may begin (RFC 3339, e.g. 2026-11-22T02:00:00Z or 2026-11-22T03:00:00+01:00; at most
    /// 9 fractional digits, before the year 9999). Omitted: at once. Until then the node is left untouched
    /// (phase Waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^([0-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
    ))]
    pub start: Option<Time>,
    /// When the window closes (RFC 3339, like `start`): the node is restored then, drained or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^([0-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
    ))]
    pub end: Option<Time>,
    /// How long the window stays open after `start` (or, without `start`, after this object was created), as a
    /// Go duration such as `2h` or `90m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("window.duration must be positive, e.g. 2h"))]
    pub duration: Option<String>,
}

/// The CEL rule every label selector in a spec carries: the operators Kubernetes knows, In and NotIn with values,
/// Exists and DoesNotExist without (as the API server checks a Deployment's selector). Without it, a selector the
/// controller cannot use would be accepted, and the maintenance would only fail later (InvalidSpec).
pub(crate) const SELECTOR_RULE: &str = "!has(self.matchExpressions) || self.matchExpressions.all(e, \
     e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) \
     : (e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0)))";

/// The CEL rule on every spec.taints list: the API server refuses a node whose taints repeat a key and effect.
pub(crate) const UNIQUE_TAINTS_RULE: &str = "self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))";
pub(crate) const UNIQUE_TAINTS_MESSAGE: &str =
    "taints: each key and effect pair may appear once (the API server refuses a node whose taints repeat one)";

/// A taint drydock adds while it holds the node, and removes on restore (unless the node already had it).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.key != 'drydock.dev/maintenance'").message("taints: drydock.dev/maintenance is drydock's own taint and is always added"))]
#[x_kube(validation = Rule::new("!self.key.startsWith('node.kubernetes.io/')").message("taints: node.kubernetes.io/ keys belong to Kubernetes (its node controllers add and remove them); for node.kubernetes.io/out-of-service set spec.drain.whenNodeNotReady: OutOfService"))]
#[x_kube(validation = Rule::new("!self.key.contains('/') || self.key.matches('^[^/]{1,253}/')").message("taints: a key's prefix (before the /) is at most 253 characters, as Kubernetes requires of taint keys"))]
pub struct MaintenanceTaint {
    /// Taint key, a qualified name such as `example.com/kernel-upgrade`: an optional DNS subdomain prefix (at most
    /// 253 characters) and `/`, then a name of at most 63 characters, as Kubernetes requires of a node's taints.
    #[schemars(length(min = 1, max = 317))]
    #[schemars(regex(
        pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
    ))]
    pub key: String,
    /// Taint value (may be empty): at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or
    /// digit, as Kubernetes requires of a node's taints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[schemars(regex(pattern = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"))]
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule, or NoExecute (applied only once the drain has finished).
    pub effect: TaintEffect,
}

/// The effect of a taint, as in core/v1.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// How the node is drained. The defaults are the safe ones: nothing is lost that the user did not allow.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct DrainSpec {
    /// Which pods on the node to evict. Omitted: every pod drydock may evict. Pods outside the selector stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(SELECTOR_RULE).message("drain.podSelector: each matchExpressions entry needs operator In or NotIn with values, or Exists or DoesNotExist without values"))]
    pub pod_selector: Option<LabelSelector>,
    /// Grace period given to each evicted pod, in seconds. Omitted: each pod's own
    /// terminationGracePeriodSeconds. 0 is refused: it would kill pods without any grace (kubectl's "kill now").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub grace_period_seconds: Option<i64>,
    /// Evict pods that use emptyDir volumes; their data is lost. Default false: such pods block the drain.
    #[serde(default)]
    pub delete_empty_dir_data: bool,
    /// Evict pods that no controller owns (they will not come back). Default false: such pods block the drain.
    #[serde(default)]
    pub evict_unmanaged_pods: bool,
    /// How long the drain may stay blocked before `onTimeout` applies, as a Go duration (`30m`). Omitted: no
    /// limit; the drain keeps retrying until the window closes or the object is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("drain.timeout must be positive, e.g. 30m; omit it for no limit"))]
    pub timeout: Option<String>,
    /// What to do when the drain times out: Hold (stay cordoned and report, the default) or Abort (restore the
    /// node and end the maintenance as Failed).
    #[serde(default)]
    pub on_timeout: OnTimeout,
    /// Pods to wait for instead of evicting (batch jobs, say): they are left to finish within the drain's
    /// timeout. The pod annotation `drydock.dev/drain: wait-completed` does the same for one pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(SELECTOR_RULE).message("drain.waitForPods: each matchExpressions entry needs operator In or NotIn with values, or Exists or DoesNotExist without values"))]
    pub wait_for_pods: Option<LabelSelector>,
    /// Stop waiting for pods that have been terminating longer than this many seconds past their grace period
    /// (like `kubectl drain --skip-wait-for-delete-timeout`). Omitted: wait for every pod to be gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub skip_wait_for_delete_seconds: Option<i64>,
    /// Evict pods annotated `karpenter.sh/do-not-disrupt: "true"` or
    /// `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`. Those hints ask autoscalers to leave a pod
    /// alone; a maintenance is not a scale-down, but the pod's owner asked, so drydock asks first. Default false:
    /// such pods block the drain (named in status). PodDisruptionBudgets apply either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evict_do_not_disrupt: bool,
    /// Evict pods whose replacement could not run on any other node (its nodeSelector, required node affinity,
    /// hard pod anti-affinity, untolerated taints or a local PersistentVolume rule out every other node): the
    /// replacement then waits Pending until room appears, for example when this node is back. Default false: such
    /// pods stay and block the drain (named in status), so capacity is never lost silently.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evict_unplaceable: bool,
    /// What to do when the node is NotReady (its kubelet gone) and evicted pods cannot finish terminating.
    /// `Wait` (default): keep waiting and say so in status. `OutOfService`: taint the node
    /// `node.kubernetes.io/out-of-service=nodeshutdown:NoExecute` while it is NotReady, Kubernetes' non-graceful
    /// node shutdown: its pods are deleted by force and their volumes detached, so the drain can finish. Only for
    /// a node that is really down: pods still running there would run twice. The taint is removed when the node
    /// is Ready again and at restore.
    #[serde(default)]
    pub when_node_not_ready: WhenNodeNotReady,
}

/// What a drain does when its node is NotReady and pods cannot finish terminating.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum WhenNodeNotReady {
    /// Keep waiting for the kubelet, and say so in status.
    #[default]
    Wait,
    /// Taint the node node.kubernetes.io/out-of-service=nodeshutdown:NoExecute while it is NotReady.
    OutOfService,
}

/// What a timed-out drain does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum OnTimeout {
    /// Stay cordoned and keep reporting what blocks the drain.
    #[default]
    Hold,
    /// Restore the node and end the maintenance as Failed.
    Abort,
}

/// Where a maintenance stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum Phase {
    /// Accepted but not started: another NodeMaintenance holds the node (the message names it).
    #[default]
    Pending,
    /// The window starts in the future; the node is untouched until then.
    Waiting,
    /// The node is tainted and cordoned; the drain is about to start.
    Cordoned,
    /// Pods are being evicted.
    Draining,
    /// Every pod that had to leave is gone; the node is held until the window closes.
    Drained,
    /// The node was restored; nothing more will happen.
    Completed,
    /// The maintenance could not be carried out (see lastError and the Completed condition's reason); a node
    /// drydock had cordoned is restored.
    Failed,
}

/// What drydock observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeMaintenanceStatus {
    /// Where the maintenance stands.
    #[serde(default)]
    pub phase: Phase,
    /// One line for humans: what is happening now, or what to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Cordoned, Drained, Blocked, Completed (metav1.Condition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Pod counts of the drain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodCounts>,
    /// Pods that keep the drain from finishing, each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_pods: Vec<PodNote>,
    /// Pods drydock leaves on the node on purpose (DaemonSet, mirror, outside podSelector), each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_pods: Vec<PodNote>,
    /// What the node looked like before drydock touched it, and what drydock changed (also kept in the node's
    /// `drydock.dev/prior-state` annotation so a restore never depends on this object alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorState>,
    /// When the window closes (for `kubectl get nm`); empty while the window has no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<Time>,
    /// When drydock cordoned the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the drain finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_at: Option<Time>,
    /// The task (spec.task), once drydock has created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<super::TaskStatus>,
    /// The node's bootID when the drain finished (for completeWhen.rebooted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id_at_drain: Option<String>,
    /// Since when the drain has been blocked without progress (drives drain.timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_since: Option<Time>,
    /// When the node was restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// The last error drydock met, with what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Pod counts of a drain. `total` = `evicted` + `remaining`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodCounts {
    /// Pods that had to leave the node so far (evicted or deleted, plus those still to go).
    pub total: i32,
    /// Pods drydock evicted (or deleted, when already finished) and saw gone.
    pub evicted: i32,
    /// Pods that still have to be evicted or deleted.
    pub remaining: i32,
    /// Evicted pods still terminating (the drain is finished when none is left).
    #[serde(default)]
    pub terminating: i32,
    /// Of the remaining, those that cannot leave right now (see blockedPods).
    pub blocked: i32,
    /// Pods left on the node on purpose (see skippedPods).
    pub skipped: i32,
    /// `evicted/total`, for the EVICTED column.
    pub progress: String,
}

/// A pod and why drydock treats it the way it does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodNote {
    pub namespace: String,
    pub name: String,
    /// In kubectl drain's words where it has some, e.g. "PDB shop/web allows 0 disruptions".
    pub reason: String,
}

/// The node as it was before drydock, and what drydock changed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriorState {
    /// The node was already cordoned before drydock came: it stays cordoned after.
    pub was_unschedulable: bool,
    /// Taints drydock added (key:effect), which are the only ones it removes.
    #[serde(default)]
    pub added_taints: Vec<String>,
    /// Labels drydock added (remediation.medik8s.io/exclude-from-remediation), removed on restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_labels: Vec<String>,
    /// Annotations drydock added (cluster-autoscaler.kubernetes.io/scale-down-disabled), removed on restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_annotations: Vec<String>,
}
