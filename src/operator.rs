//! The `drydock run` process: health and metrics endpoints first, then (with leader election) wait for the
//! Lease, run the controller while leading, and exit when the lease is lost so a restart rejoins as standby.
use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures::FutureExt;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};

use crate::{
    controller::{self, Settings},
    error::{Error, Result},
    telemetry::{http, metrics::Metrics},
};

/// The Lease's validity: a dead leader's lease expires after this long, and a standby takes over.
const LEASE_SECONDS: u64 = 15;
/// The leader renews this long before expiry; also the clock skew tolerated between replicas.
const LEASE_GRACE_SECONDS: u64 = 5;

pub struct Options {
    pub http_addr: SocketAddr,
    /// None: no leader election (one replica, or tests).
    pub lease: Option<Lease>,
}

pub struct Lease {
    pub namespace: String,
    pub name: String,
    pub identity: String,
}

pub async fn run(config: kube::Config, settings: Settings, options: Options) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let health = http::Health::new(metrics.clone());
    let bound = http::serve(options.http_addr, health.clone(), shutdown_signal())
        .await
        .map_err(|source| Error::HttpBind {
            addr: options.http_addr,
            source,
        })?;
    info!(%bound, "serving /healthz, /readyz and /metrics");

    let client = Client::try_from(config.clone()).map_err(|e| Error::Client(e.to_string()))?;
    client
        .apiserver_version()
        .await
        .map_err(|e| Error::ApiServerUnreachable {
            server: config.cluster_url.to_string(),
            reason: e.to_string(),
        })?;
    health.ready.store(true, Ordering::Relaxed);

    let Some(lease) = options.lease else {
        metrics.set_leader(true);
        return controller::run(config, settings, health, shutdown_signal()).await;
    };
    let manager = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build()
        .await
        .map_err(|e| Error::LeaderElection(e.to_string()))?;
    let (mut leading, task) = manager.watch().await;
    info!(lease = %format!("{}/{}", lease.namespace, lease.name), identity = %lease.identity, "waiting to lead");
    let mut signal = std::pin::pin!(shutdown_signal());
    while !*leading.borrow_and_update() {
        tokio::select! {
            changed = leading.changed() => if changed.is_err() { return Err(Error::LeaderElection("lease manager stopped".into())) },
            () = &mut signal => return Ok(()),
        }
    }
    info!(identity = %lease.identity, "leading: starting the controller");
    metrics.set_leader(true);

    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let mut watch = leading.clone();
    tokio::spawn(async move {
        while watch.changed().await.is_ok() {
            if !*watch.borrow_and_update() {
                break;
            }
        }
        let _ = lost_tx.send(());
    });
    let lost = lost_rx.map(|_| ()).shared();
    let stop = futures::future::select(Box::pin(shutdown_signal()), lost.clone()).map(|_| ());
    controller::run(config, settings, health, stop).await?;
    metrics.set_leader(false);

    if lost.now_or_never().is_some() {
        warn!("lost the leader lease: exiting, so a restart rejoins as a standby");
        return Err(Error::LeaderElection("lost the leader lease".into()));
    }
    // A clean stop hands the lease over at once instead of letting it expire.
    drop(leading);
    if let Ok(Ok(manager)) = tokio::time::timeout(Duration::from_secs(5), task).await
        && let Ok(manager) = manager
    {
        let _ = manager.release().await;
    }
    Ok(())
}

/// Completes on SIGTERM (how Kubernetes stops a pod) or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
