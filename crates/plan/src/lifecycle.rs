//! Kubernetes' node lifecycle conditions (MaintenancePlanned, MaintenanceInProgress, DrainInProgress, Drained:
//! KEP-5683, Kubernetes 1.37) as drydock publishes them on a Node: which it wants for a maintenance's status or
//! a schedule's plan, and the few that must be written to get there. They say on the Node itself what drydock is
//! doing, for storage and database operators and anyone with `kubectl describe node`.
//!
//! Whose a condition is reads from its message: it names the NodeMaintenance or MaintenanceSchedule that wrote
//! it. A maintenance that ends turns False only the conditions that name it, so a later holder's are left alone.
use jiff::Timestamp;
use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use drydock_api::names::{
    COMPLETED, DRAIN_COMPLETE, DRAIN_NOT_STARTED, MAINTENANCE_SCHEDULED, MAINTENANCE_STARTED, NODE_DRAIN_IN_PROGRESS,
    NODE_DRAINED, NODE_LIFECYCLE_CONDITIONS, NODE_MAINTENANCE_IN_PROGRESS, NODE_MAINTENANCE_PLANNED,
    ORPHANED_HOLD_RESTORED, SCHEDULE_DONE, UPCOMING_IN_WINDOW,
};
use drydock_api::v1alpha1::{NodeMaintenanceStatus, Phase};

/// One condition drydock wants on the node, and when it may be written.
#[derive(Clone, Debug, PartialEq)]
pub struct Want {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
    pub when: When,
}

/// When a wanted condition is written.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// Whatever the node has now.
    Always,
    /// Only if the node already has a condition of this type (a False one is not made up where none was).
    Present,
    /// Only over a condition whose message names this writer (it is this writer's to end).
    Ours(String),
}

/// How a maintenance names itself in its conditions' messages.
fn maintenance_writer(name: &str) -> String {
    format!("NodeMaintenance {name}")
}

/// How a schedule names itself in its conditions' messages.
fn schedule_writer(name: &str) -> String {
    format!("MaintenanceSchedule {name}")
}

/// The lifecycle conditions a maintenance in `status` wants on its node. Pending: none (another maintenance may
/// hold the node and speaks for it). Waiting: MaintenancePlanned. From the cordon to the restore: the three
/// others, mirroring the phase. Once ended: all four False, with the ending's reason, where they are its own.
pub fn for_maintenance(name: &str, status: &NodeMaintenanceStatus) -> Vec<Want> {
    let writer = maintenance_writer(name);
    let want = |type_, status, reason: &str, message: &str, when| Want {
        type_,
        status,
        reason: reason.to_string(),
        message: format!("{writer}: {message}"),
        when,
    };
    let held = |phase: &str, doing: &str, draining: bool, drained: bool| {
        let (drain_reason, drain_message) = match (draining, drained) {
            (true, _) => (phase, "draining the node"),
            (_, true) => (DRAIN_COMPLETE, "the drain is complete"),
            _ => (DRAIN_NOT_STARTED, "the drain has not started"),
        };
        vec![
            want(
                NODE_MAINTENANCE_PLANNED,
                false,
                MAINTENANCE_STARTED,
                "the maintenance started",
                When::Present,
            ),
            want(NODE_MAINTENANCE_IN_PROGRESS, true, phase, doing, When::Always),
            want(
                NODE_DRAIN_IN_PROGRESS,
                draining,
                drain_reason,
                drain_message,
                When::Always,
            ),
            want(NODE_DRAINED, drained, drain_reason, drain_message, When::Always),
        ]
    };
    match status.phase {
        Phase::Pending => Vec::new(),
        Phase::Waiting => vec![want(
            NODE_MAINTENANCE_PLANNED,
            true,
            MAINTENANCE_SCHEDULED,
            "waits for its window to open",
            When::Always,
        )],
        Phase::Cordoned => held("Cordoned", "holds the node: cordoned, the drain is next", false, false),
        Phase::Draining => held("Draining", "holds the node: draining it", true, false),
        Phase::Drained => held(
            "Drained",
            "holds the node: drained, held until the work is done",
            false,
            true,
        ),
        Phase::Completed | Phase::Failed => {
            let reason = status
                .conditions
                .iter()
                .find(|c| c.type_ == COMPLETED)
                .map_or("Ended", |c| c.reason.as_str());
            let ended = status.message.as_deref().unwrap_or("the maintenance ended");
            NODE_LIFECYCLE_CONDITIONS
                .iter()
                .map(|t| want(t, false, reason, ended, When::Ours(writer.clone())))
                .collect()
        }
    }
}

/// The conditions of a maintenance deleted without drydock, whose node drydock gave back from the node's own
/// record: all four False where they name it.
pub fn orphan_released(name: &str) -> Vec<Want> {
    let writer = maintenance_writer(name);
    NODE_LIFECYCLE_CONDITIONS
        .iter()
        .map(|t| Want {
            type_: t,
            status: false,
            reason: ORPHANED_HOLD_RESTORED.into(),
            message: format!("{writer}: deleted without drydock; the node was restored from its own record"),
            when: When::Ours(writer.clone()),
        })
        .collect()
}

/// MaintenancePlanned as a schedule announces it: True when its open window will reach the node (the node gets
/// the upcoming taint), False once the schedule is done with it, where the condition is the schedule's.
pub fn for_schedule(name: &str, upcoming: bool) -> Want {
    let writer = schedule_writer(name);
    if upcoming {
        Want {
            type_: NODE_MAINTENANCE_PLANNED,
            status: true,
            reason: UPCOMING_IN_WINDOW.into(),
            message: format!("{writer}: the open window will maintain this node"),
            when: When::Always,
        }
    } else {
        Want {
            type_: NODE_MAINTENANCE_PLANNED,
            status: false,
            reason: SCHEDULE_DONE.into(),
            message: format!("{writer}: nothing more planned for this node in this window"),
            when: When::Ours(writer),
        }
    }
}

/// The conditions to write so the node shows `wanted`: only those that differ from what it has (none when it
/// already shows them). A condition's lastTransitionTime moves only when its status flips; lastHeartbeatTime is
/// the time of the write.
pub fn changes(current: &[NodeCondition], wanted: &[Want], now: Timestamp) -> Vec<NodeCondition> {
    let status_of = |b: bool| if b { "True" } else { "False" }.to_string();
    wanted
        .iter()
        .filter_map(|w| {
            let have = current.iter().find(|c| c.type_ == w.type_);
            let allowed = match (&w.when, have) {
                (When::Always, _) => true,
                (When::Present, h) => h.is_some(),
                (When::Ours(writer), Some(h)) => h
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(&format!("{writer}:"))),
                (When::Ours(_), None) => false,
            };
            let status = status_of(w.status);
            let same = have.is_some_and(|h| {
                h.status == status
                    && h.reason.as_deref() == Some(w.reason.as_str())
                    && h.message.as_deref() == Some(w.message.as_str())
            });
            if !allowed || same {
                return None;
            }
            let transition = match have {
                Some(h) if h.status == status => h.last_transition_time.clone().unwrap_or(Time(now)),
                _ => Time(now),
            };
            Some(NodeCondition {
                type_: w.type_.to_string(),
                status,
                reason: Some(w.reason.clone()),
                // The API server takes long messages; one line for kubectl is what people read.
                message: Some(w.message.chars().take(1024).collect()),
                last_transition_time: Some(transition),
                last_heartbeat_time: Some(Time(now)),
            })
        })
        .collect()
}

/// The strategic merge patch of nodes/status that writes `conditions`: status.conditions merges by type, so
/// every other condition and every other status field is left as it is.
pub fn status_patch(conditions: &[NodeCondition]) -> serde_json::Value {
    serde_json::json!({ "status": { "conditions": conditions } })
}

/// The phase a node's lifecycle conditions describe, read back the way a person reading `kubectl describe node`
/// would: Drained, Draining, Cordoned (held, drain not started), Waiting (planned), or None (nothing in progress
/// or planned).
pub fn phase_shown(conditions: &[NodeCondition]) -> Option<Phase> {
    let is_true = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
    if is_true(NODE_MAINTENANCE_IN_PROGRESS) {
        Some(if is_true(NODE_DRAINED) {
            Phase::Drained
        } else if is_true(NODE_DRAIN_IN_PROGRESS) {
            Phase::Draining
        } else {
            Phase::Cordoned
        })
    } else if is_true(NODE_MAINTENANCE_PLANNED) {
        Some(Phase::Waiting)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
