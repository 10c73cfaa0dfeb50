//! Effects: the only code that changes the cluster (node patches, evictions and deletions, finalizers, status,
//! Events, the schedule's NodeMaintenances). It carries out what `plan` decided and reports what happened; it
//! never decides.
pub mod events;
pub mod evict;
pub mod finalizer;
pub mod maintenance;
pub mod node;
pub mod status;
