//! Effects: the only code of the operator that changes the cluster (node patches, evictions and deletions,
//! finalizers, status, Events, the schedule's NodeMaintenances). It carries out what `plan` decided and reports
//! what happened; it never decides. (The runbook CLI's two writes, creating and deleting a NodeMaintenance on a
//! person's behalf, stay in `cli/start.rs` and `cli/end.rs`, where their refusals become exit codes.)
pub mod events;
pub mod evict;
pub mod finalizer;
pub mod maintenance;
pub mod node;
pub mod prometheus;
pub mod status;
pub mod task;
