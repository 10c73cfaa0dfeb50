pub mod api;
pub mod plan;
