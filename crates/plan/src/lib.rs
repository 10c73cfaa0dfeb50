//! Pure decisions: what to do with each pod, with the node, and next. No I/O, no clock reads: the current
//! time is always a parameter, so every decision is unit-tested exactly.
pub mod comeback;
pub mod conditions;
pub mod eviction;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod fleet;
pub mod gates;
pub mod lifecycle;
pub mod names;
pub mod node;
pub mod notify;
pub mod pacing;
pub mod phase;
pub mod place;
pub mod pods;
pub mod retry;
pub mod rollout;
pub mod schedule;
pub mod spec;
pub mod status;
pub mod task;
pub mod window;
