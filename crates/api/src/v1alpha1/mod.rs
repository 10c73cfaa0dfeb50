//! drydock.dev/v1alpha1: NodeMaintenance (one node out of service for a while) and MaintenanceSchedule (a
//! recurring window over a pool of nodes, creating NodeMaintenances one budget at a time).
mod maintenance;
mod rollout;
mod schedule;
mod task;

pub use maintenance::*;
pub use rollout::*;
pub use schedule::*;
pub use task::*;
