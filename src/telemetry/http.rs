//! The HTTP endpoints for kubelet probes and Prometheus: /healthz (the process serves), /readyz (it can reach
//! the API server: standby replicas are ready too, they are what a failover lands on), /metrics.
use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use kube::runtime::reflector::Store;

use super::metrics::Metrics;
use crate::api::{lenient::Lenient, v1alpha1::NodeMaintenance};

/// What the endpoints read. `store` is filled in once this process leads and runs the controller.
#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    pub store: Arc<std::sync::Mutex<Option<Store<Lenient<NodeMaintenance>>>>>,
}

impl Health {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            ready: Arc::default(),
            store: Arc::default(),
        }
    }
}

/// Serves until `shutdown` completes. Returns the bound address (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(bound)
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    if h.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not connected to the API server yet")
    }
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    let objects = h
        .store
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|s| s.state())
        .unwrap_or_default();
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.render(
            &objects
                .iter()
                .filter_map(|o| o.ok().cloned().map(Arc::new))
                .collect::<Vec<_>>(),
            objects.iter().filter(|o| o.ok().is_none()).count(),
            jiff::Timestamp::now(),
        ),
    )
}
