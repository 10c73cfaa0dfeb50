//! Effects: the only code that changes the cluster. It carries out what `plan` decided and reports what
//! happened; it never decides.
pub mod evict;
pub mod node;
