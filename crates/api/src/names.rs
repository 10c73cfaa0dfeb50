//! Every well-known name drydock reads or writes, defined once: the API group, annotations, labels, taint keys,
//! the finalizer, the field manager, condition types and the reasons the planner gives. Anything outside the
//! operator (kubectl, alerts, other controllers, e2e tests) sees these exact strings, so they never change
//! casually. CEL rules in the CRD attributes spell some of them out again: attributes take literals only.

// API

/// API group of every drydock kind.
pub const GROUP: &str = "drydock.dev";
/// Finalizer that keeps a NodeMaintenance until its node is restored.
pub const FINALIZER: &str = "drydock.dev/restore-node";
/// The field manager of drydock's writes: whoever else owns a node's spec.unschedulable cordoned it too.
pub const FIELD_MANAGER: &str = "drydock";

// Annotations

/// Node annotation naming the NodeMaintenance that holds the node. Drydock's own; removed on restore.
pub const HELD_BY_ANNOTATION: &str = "drydock.dev/held-by";
/// Node annotation with the node's prior state (JSON of [`crate::v1alpha1::PriorState`]): restore works from the
/// node alone, even if the NodeMaintenance object is gone.
pub const PRIOR_STATE_ANNOTATION: &str = "drydock.dev/prior-state";
/// Node annotation that makes schedules pass the node over (reported in the schedule's status).
pub const EXCLUDE_ANNOTATION: &str = "drydock.dev/exclude";
/// Pod annotation: `wait-completed` makes the drain wait for the pod to finish instead of evicting it.
pub const DRAIN_ANNOTATION: &str = "drydock.dev/drain";
/// Pod annotation: an integer drain order that overrides the pod's priority (lower leaves first).
pub const DRAIN_ORDER_ANNOTATION: &str = "drydock.dev/drain-order";
/// Annotation the kubelet puts on the API's copy of a static pod.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Karpenter's pod annotation: `"true"` asks that the pod not be disrupted voluntarily.
pub const KARPENTER_DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// cluster-autoscaler's pod annotation: `"false"` asks that the pod not be evicted for a scale-down.
pub const AUTOSCALER_SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
/// cluster-autoscaler never scales down a node with this annotation: a node down on purpose is not idle.
pub const AUTOSCALER_SCALE_DOWN_DISABLED: &str = "cluster-autoscaler.kubernetes.io/scale-down-disabled";

// Labels

/// Label on every NodeMaintenance a schedule creates: the schedule's name.
pub const SCHEDULE_LABEL: &str = "drydock.dev/schedule";
/// Label on a task pod: the NodeMaintenance it runs for (the owner reference is what ties them; this is for
/// people and selectors).
pub const TASK_OF_LABEL: &str = "drydock.dev/task-of";
/// Label on every NodeMaintenance a schedule creates: the window it belongs to.
pub const WINDOW_LABEL: &str = "drydock.dev/window";
/// medik8s NodeHealthCheck skips nodes with this label: a node down on purpose must not be "remediated"
/// (rebooted or deleted) while drydock holds it.
pub const MEDIK8S_EXCLUDE_LABEL: &str = "remediation.medik8s.io/exclude-from-remediation";
/// The label that marks control-plane nodes (etcd members in kubeadm clusters).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";
/// The node's own name as a label: the topology key of per-node (anti-)affinity.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

// Taints

/// Key of the NoSchedule taint drydock puts on every node it holds; the value is the NodeMaintenance's name.
pub const MAINTENANCE_TAINT: &str = "drydock.dev/maintenance";
/// PreferNoSchedule taint on the nodes a schedule will still maintain in its open window, so pods evicted from
/// one node avoid landing on the next.
pub const UPCOMING_TAINT: &str = "drydock.dev/upcoming";
/// The taint the node-lifecycle controller keeps on a cordoned node; the scheduler reads the cordon through it.
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";
/// Kubernetes' taint for non-graceful node shutdown (GA in 1.28): on a NotReady node, the pod garbage collector
/// deletes the node's terminating pods by force and the attach-detach controller releases their volumes.
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

// Condition types

/// NodeMaintenance: the node is tainted and cordoned by this maintenance.
pub const CORDONED: &str = "Cordoned";
/// NodeMaintenance: every pod that had to leave is gone.
pub const DRAINED: &str = "Drained";
/// NodeMaintenance: some pods cannot leave right now (the reason says why).
pub const BLOCKED: &str = "Blocked";
/// NodeMaintenance: the maintenance ended and the node was given back.
pub const COMPLETED: &str = "Completed";
/// NodeMaintenance with spec.task: the task succeeded (False while it runs, or when it failed).
pub const TASK_SUCCEEDED: &str = "TaskSucceeded";
/// MaintenanceSchedule: the schedule can be used (False: its windows overlap, or its spec cannot be read).
pub const VALID: &str = "Valid";
/// MaintenanceSchedule: a window is open now.
pub const WINDOW_OPEN: &str = "WindowOpen";

// Node lifecycle conditions (Kubernetes 1.37's well-known Node condition types, KEP-5683). drydock writes only
// these four, only through nodes/status, and never another field of a node's status. The message of each
// names who wrote it: "NodeMaintenance <name>: ..." or "MaintenanceSchedule <name>: ...".

/// Node: the node is expected to undergo maintenance (a NodeMaintenance waits for its window, or a schedule's
/// open window will reach it).
pub const NODE_MAINTENANCE_PLANNED: &str = "MaintenancePlanned";
/// Node: a NodeMaintenance holds the node (from the cordon until the restore).
pub const NODE_MAINTENANCE_IN_PROGRESS: &str = "MaintenanceInProgress";
/// Node: pods are being drained from it.
pub const NODE_DRAIN_IN_PROGRESS: &str = "DrainInProgress";
/// Node: every pod that had to leave is gone.
pub const NODE_DRAINED: &str = "Drained";
/// Every node condition type drydock may write.
pub const NODE_LIFECYCLE_CONDITIONS: [&str; 4] = [
    NODE_MAINTENANCE_PLANNED,
    NODE_MAINTENANCE_IN_PROGRESS,
    NODE_DRAIN_IN_PROGRESS,
    NODE_DRAINED,
];

// Reasons of the node lifecycle conditions (besides a phase's name, and an ending's reason when they turn False).

/// MaintenancePlanned: a NodeMaintenance waits for its window.
pub const MAINTENANCE_SCHEDULED: &str = "MaintenanceScheduled";
/// MaintenancePlanned: a MaintenanceSchedule's open window will reach the node.
pub const UPCOMING_IN_WINDOW: &str = "UpcomingInWindow";
/// MaintenancePlanned turns False: the planned maintenance started.
pub const MAINTENANCE_STARTED: &str = "MaintenanceStarted";
/// MaintenancePlanned turns False: the schedule is done with the node in this window (or the window closed).
pub const SCHEDULE_DONE: &str = "ScheduleDone";
/// DrainInProgress and Drained while the node is cordoned and the drain has not begun.
pub const DRAIN_NOT_STARTED: &str = "DrainNotStarted";
/// DrainInProgress turns False and Drained True: the drain finished.
pub const DRAIN_COMPLETE: &str = "DrainComplete";

// Reasons: of how a maintenance ended or why it waits; each is also the Event reason.

/// The node was given back (the object was deleted, or a restore interrupted by a crash finished).
pub const RESTORED: &str = "Restored";
/// The spec cannot be carried out as written (window, selector, timeout); the message says what to change.
pub const INVALID_SPEC: &str = "InvalidSpec";
/// spec.nodeName names no node, or the node was deleted during the maintenance.
pub const NODE_NOT_FOUND: &str = "NodeNotFound";
/// The window starts in the future; the node is untouched until then.
pub const WINDOW_NOT_OPEN: &str = "WindowNotOpen";
/// The window closed: the node was restored, drained or not.
pub const WINDOW_CLOSED: &str = "WindowClosed";
/// Another NodeMaintenance holds the node.
pub const NODE_HELD: &str = "NodeHeld";
/// spec.completeWhen says the work is done: the node was restored.
pub const WORK_DONE: &str = "WorkDone";
/// The drain stayed blocked past drain.timeout with onTimeout: Abort.
pub const DRAIN_TIMEOUT: &str = "DrainTimeout";
/// The cluster-wide limit on nodes under maintenance at once is reached.
pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";
/// Control-plane nodes are taken one at a time, only while the others are Ready.
pub const CONTROL_PLANE_GUARD: &str = "ControlPlaneGuard";
/// A MaintenanceSchedule whose windows overlap: refused until its schedule or duration changes.
pub const OVERLAPPING_WINDOWS: &str = "OverlappingWindows";
/// The node patch was refused for good (the API server's validation or an admission policy): the maintenance
/// fails, giving back what an earlier write took.
pub const NODE_REFUSED: &str = "NodeRefused";

/// The task failed (or its pod went away before it finished); with task.onFailure: Restore, the maintenance
/// ends Failed with this reason.
pub const TASK_FAILED: &str = "TaskFailed";
/// The API server refused the task pod for good (a dry run before the node is touched, or the create itself).
pub const TASK_REFUSED: &str = "TaskRefused";

// Reasons of the steps in between: Events, and the reasons of the conditions above.

/// drydock created the task pod on the drained node.
pub const TASK_STARTED: &str = "TaskStarted";
/// TaskSucceeded's reasons while the task is not done.
pub const TASK_PENDING: &str = "TaskPending";
pub const TASK_RUNNING: &str = "TaskRunning";
/// drydock deleted a task that had not finished (the window closed, or the NodeMaintenance was deleted).
pub const TASK_STOPPED: &str = "TaskStopped";
/// A schedule's rollout stopped at a failed task (a Warning Event on the schedule).
pub const ROLLOUT_STOPPED: &str = "RolloutStopped";
/// A schedule's rollout waits on something other than its budget: a health gate, an approval, the soak time or
/// the window's node limit (an Event on the schedule, once per blocker).
pub const ROLLOUT_BLOCKED: &str = "RolloutBlocked";
/// A schedule put a node whose drain timed out aside (rollout.onDrainTimeout: Quarantine) and went on.
pub const NODE_QUARANTINED: &str = "NodeQuarantined";
/// The label a schedule puts on a node whose drain timed out (onDrainTimeout: Quarantine): later windows pass the
/// node over until a person removes it. Its value is the schedule's name (cut to 63 characters).
pub const QUARANTINE_LABEL: &str = "drydock.dev/quarantined";
/// The schedule annotation that approves a window or a node (rollout.approval): a comma-separated list of window
/// IDs (`20261206t010000z`) or window/node pairs (`20261206t010000z/node-a`). `drydock approve` writes it.
pub const APPROVED_ANNOTATION: &str = "drydock.dev/approved";
/// A NodeMaintenance waits for its health gates before it touches the node.
pub const HEALTH_GATE_BLOCKED: &str = "HealthGateBlocked";

/// Drydock took the node: tainted and cordoned.
pub const CORDONED_REASON: &str = "Cordoned";
/// Someone uncordoned the node or removed drydock's taint during the maintenance: cordoned and tainted again.
pub const RECORDONED: &str = "Recordoned";
/// spec.drain.whenNodeNotReady: OutOfService applied Kubernetes' out-of-service taint to a NotReady node.
pub const OUT_OF_SERVICE: &str = "OutOfService";
/// The node is Ready again: the out-of-service taint drydock added is removed.
pub const BACK_IN_SERVICE: &str = "BackInService";
/// The drain finished: the spec's NoExecute taints are applied.
pub const DEFERRED_TAINTS_APPLIED: &str = "DeferredTaintsApplied";
/// Pods are being evicted.
pub const DRAINING: &str = "Draining";
/// Every pod that had to leave is gone.
pub const DRAINED_REASON: &str = "Drained";
/// Some pods cannot leave now (a Warning Event, sent when the set of blocked pods changes).
pub const DRAIN_BLOCKED: &str = "DrainBlocked";
/// The Blocked condition when nothing is blocked.
pub const NOT_BLOCKED: &str = "NotBlocked";
/// drydock cannot read an object and leaves it alone until it changes.
pub const UNREADABLE: &str = "Unreadable";
/// The API server refused a node's lifecycle conditions for good (a Warning Event, once per node).
pub const NODE_CONDITIONS_REFUSED: &str = "NodeConditionsRefused";
/// A node held by a NodeMaintenance deleted without drydock was restored.
pub const ORPHANED_HOLD_RESTORED: &str = "OrphanedHoldRestored";
/// WindowOpen's reasons.
pub const OPEN: &str = "Open";
pub const CLOSED: &str = "Closed";

// Blocked's reasons: what holds the first blocked pod (also `drydock_maintenances_blocked{reason}`).

/// A PodDisruptionBudget allows no disruption now.
pub const BLOCKED_BY_PDB: &str = "PodDisruptionBudget";
/// A pod with local storage, and drain.deleteEmptyDirData is off.
pub const BLOCKED_BY_LOCAL_STORAGE: &str = "LocalStorage";
/// A pod no controller would recreate, and drain.force is off.
pub const BLOCKED_BY_UNMANAGED: &str = "Unmanaged";
/// A pod annotated do-not-disrupt (Karpenter) or not safe to evict (cluster-autoscaler).
pub const BLOCKED_BY_DO_NOT_DISRUPT: &str = "DoNotDisrupt";
/// A pod drain.waitForPods says to wait for.
pub const BLOCKED_WAITING_FOR_PODS: &str = "WaitingForPods";
/// A pod whose replacement could run on no other node.
pub const BLOCKED_NOWHERE_TO_GO: &str = "NowhereToGo";
/// A pod of an owner whose evictions from this node are used up: it keeps coming back.
pub const BLOCKED_KEEPS_COMING_BACK: &str = "KeepsComingBack";
/// A pod terminating for longer than it should.
pub const BLOCKED_STUCK_TERMINATING: &str = "StuckTerminating";
/// Any other refusal of an eviction (a webhook, an admission policy...).
pub const BLOCKED_EVICTION_REFUSED: &str = "EvictionRefused";
