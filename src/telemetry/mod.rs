//! What drydock tells operators about itself: structured logs, Prometheus metrics, health endpoints.
pub mod http;
pub mod logs;
pub mod metrics;
