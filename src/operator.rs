//! The `drydock run` process: health and metrics endpoints first, then (with leader election) wait for the
//! Lease, run the controller while leading, and exit when the lease is lost so a restart rejoins as standby.
//!
//! Stopping (SIGTERM, SIGINT) is bounded in every state: a standby just leaves; a leader gives its controller
//! [`controller::GRACE`] to finish what it is doing, then hands the Lease over within [`LEASE_RELEASE`].
use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};

use crate::{
    controller::{self, Settings},
    error::{Error, Result},
    shutdown::Shutdown,
    telemetry::{http, metrics::Metrics},
};

/// The Lease's validity: a dead leader's lease expires after this long, and a standby takes over.
const LEASE_SECONDS: u64 = 15;
/// The leader renews this long before expiry; also the clock skew tolerated between replicas.
const LEASE_GRACE_SECONDS: u64 = 5;
/// How long a stopping process tries to hand its Lease over (two requests); if the API server does not answer
/// by then, the Lease simply expires after [`LEASE_SECONDS`].
pub const LEASE_RELEASE: Duration = Duration::from_millis(500);
/// How long the first request to the API server may take before `drydock run` gives up and says so.
const FIRST_CONTACT: Duration = Duration::from_secs(30);

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

/// Runs until `shutdown` (then returns Ok) or a failure. Every wait here also ends on `shutdown`.
pub async fn run(config: kube::Config, settings: Settings, options: Options, shutdown: Shutdown) -> Result<()> {
    let metrics = Arc::new(Metrics::default());
    let health = http::Health::new(metrics.clone());
    let bound = http::serve(options.http_addr, health.clone(), shutdown.requested())
        .await
        .map_err(|source| Error::HttpBind {
            addr: options.http_addr,
            source,
        })?;
    info!(%bound, "serving /healthz, /readyz and /metrics");

    let server = config.cluster_url.to_string();
    let client = Client::try_from(config.clone()).map_err(Error::Client)?;
    let unreachable = |reason: String| Error::ApiServerUnreachable {
        server: server.clone(),
        reason,
    };
    match shutdown
        .bounded(
            tokio::time::timeout(FIRST_CONTACT, client.apiserver_version()),
            Duration::ZERO,
        )
        .await
    {
        None => return Ok(()),
        Some(Ok(Ok(_))) => {}
        Some(Ok(Err(e))) => return Err(unreachable(e.to_string())),
        Some(Err(_)) => return Err(unreachable(format!("no answer within {FIRST_CONTACT:?}"))),
    }
    health.ready.store(true, Ordering::Relaxed);

    let Some(lease) = options.lease else {
        metrics.set_leader(true);
        return controller::run(config, settings, health, shutdown).await;
    };
    let builder = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build();
    let manager = match shutdown.bounded(builder, Duration::ZERO).await {
        None => return Ok(()),
        Some(built) => built.map_err(|e| Error::LeaderElection(e.to_string()))?,
    };
    // The lease manager's task renews the Lease while `leading` (the only receiver) lives, and releases it
    // when `leading` is dropped.
    let (mut leading, task) = manager.watch().await;
    info!(lease = %format!("{}/{}", lease.namespace, lease.name), identity = %lease.identity, "waiting to lead");
    let stopped = loop {
        if *leading.borrow_and_update() {
            break false;
        }
        tokio::select! {
            changed = leading.changed() => if changed.is_err() {
                return Err(Error::LeaderElection("the lease manager stopped".into()));
            },
            () = shutdown.requested() => break true,
        }
    };
    if stopped {
        release(leading, task).await;
        return Ok(());
    }
    info!(identity = %lease.identity, "leading: starting the controller");
    metrics.set_leader(true);
    let outcome = tokio::select! {
        ran = controller::run(config, settings, health, shutdown) => Some(ran),
        // Another replica may be leading already: stop at once, no grace.
        () = lost(&mut leading) => None,
    };
    metrics.set_leader(false);
    match outcome {
        Some(ran) => {
            release(leading, task).await;
            ran
        }
        None => {
            warn!("lost the leader lease: exiting, so a restart rejoins as a standby");
            Err(Error::LeaderElection("lost the leader lease".into()))
        }
    }
}

/// Completes when this process no longer holds the Lease (or the lease manager stopped).
async fn lost(leading: &mut watch::Receiver<bool>) {
    while leading.changed().await.is_ok() {
        if !*leading.borrow_and_update() {
            return;
        }
    }
}

/// Hands the Lease over at once instead of letting it expire: dropping the last receiver makes the lease
/// manager release it (a standby's release changes nothing). Bounded by [`LEASE_RELEASE`].
async fn release(leading: watch::Receiver<bool>, task: JoinHandle<kube_lease_manager::Result<LeaseManager>>) {
    drop(leading);
    match tokio::time::timeout(LEASE_RELEASE, task).await {
        Ok(Ok(Ok(_))) => info!("left the Lease"),
        Ok(Ok(Err(e))) => warn!(error = %e, "could not release the Lease: it expires by itself"),
        Ok(Err(e)) => warn!(error = %e, "the lease manager failed: the Lease expires by itself"),
        Err(_) => warn!(
            timeout = ?LEASE_RELEASE,
            "the API server did not answer the Lease release in time: the Lease expires by itself"
        ),
    }
}
