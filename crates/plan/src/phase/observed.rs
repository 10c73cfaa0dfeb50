//! What a decision reads: the object, its node and drain as observed, the clock, and the cluster-wide limits.
use jiff::Timestamp;

use crate::{
    node::NodeView,
    pods::DrainPlan,
    spec::{Checked, SpecError},
};
use drydock_api::v1alpha1::{NodeMaintenanceSpec, NodeMaintenanceStatus, TaskStatus};

/// Everything a decision depends on.
pub struct Observed<'a> {
    pub name: &'a str,
    pub spec: &'a NodeMaintenanceSpec,
    pub status: &'a NodeMaintenanceStatus,
    pub now: Timestamp,
    pub deleting: bool,
    pub has_finalizer: bool,
    /// The resolved window and drain timeout, or what is wrong with the spec.
    pub checked: Result<Checked, SpecError>,
    /// None: the node does not exist.
    pub node: Option<&'a NodeView>,
    /// The drain as planned from the pods now on the node; None when the node is not held yet.
    pub drain: Option<&'a DrainPlan>,
    /// The task as seen now (`task::observe`); None: spec.task is not set, or the task was never started.
    pub task: Option<&'a TaskStatus>,
    /// Pods whose eviction a PodDisruptionBudget (or webhook) refused recently and that are still on the node.
    pub pdb_blocked: usize,
    /// Label held nodes so medik8s remediation leaves them alone (operator flag).
    pub exclude_remediation: bool,
    /// The cluster-wide limit on nodes under maintenance at once.
    pub quota: Quota,
    /// The other control-plane nodes, when the target is one.
    pub control_plane_peers: Option<Peers>,
}

/// Nodes under maintenance at once: at most `limit`; `held_elsewhere` are held by other maintenances now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: usize,
    pub held_elsewhere: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            limit: usize::MAX,
            held_elsewhere: 0,
        }
    }
}

/// The other control-plane nodes: how many, how many Ready, which are under maintenance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peers {
    pub total: usize,
    pub ready: usize,
    pub held: Vec<String>,
}
