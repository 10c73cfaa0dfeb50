//! How `drydock run` stops. One listener for SIGTERM (how Kubernetes stops a pod) and SIGINT (Ctrl-C), set up
//! before anything else, so a signal is never missed; every part of the process that waits watches the same
//! [`Shutdown`]. Every wait after a signal is bounded: all state lives in the API server, so anything still
//! running when its time is up is dropped, which is as safe as a crash and much faster than one.
use std::{future::Future, time::Duration};

use tokio::sync::watch;

/// Whether a stop was asked for; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// Asks every [`Shutdown`] made with it to stop (what the signal listener does; tests call it directly).
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// A shutdown that only `Trigger::stop` sets off.
    pub fn manual() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Shutdown(rx))
    }

    /// Listens for SIGTERM and SIGINT from now on. Needs a tokio runtime.
    pub fn on_signals() -> std::io::Result<Shutdown> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (trigger, shutdown) = Shutdown::manual();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "stopping");
            trigger.stop();
            // The trigger stays alive: a dropped sender would read as "no stop will ever come".
            std::future::pending::<()>().await;
        });
        Ok(shutdown)
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once a stop is asked for (at once if it already was).
    pub fn requested(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.0.clone();
        async move {
            if rx.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await; // no trigger left: no stop will come
            }
        }
    }

    /// Runs `work` to its end; but once a stop is asked for, for at most `grace` more, then drops it and
    /// returns None.
    pub async fn bounded<T>(&self, work: impl Future<Output = T>, grace: Duration) -> Option<T> {
        let mut work = std::pin::pin!(work);
        tokio::select! {
            out = &mut work => Some(out),
            () = self.requested() => tokio::time::timeout(grace, work).await.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_that_ends_is_waited_for() {
        let (trigger, shutdown) = Shutdown::manual();
        trigger.stop();
        let work = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            7
        };
        assert_eq!(shutdown.bounded(work, Duration::from_millis(300)).await, Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_hangs_is_dropped_after_the_grace_period() {
        let (trigger, shutdown) = Shutdown::manual();
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            trigger.stop();
        });
        let out = shutdown
            .bounded(std::future::pending::<()>(), Duration::from_millis(300))
            .await;
        assert_eq!(out, None);
        assert_eq!(started.elapsed(), Duration::from_millis(10_300));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_stop_work_runs_as_long_as_it_takes() {
        let (_trigger, shutdown) = Shutdown::manual();
        let work = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "done"
        };
        assert_eq!(shutdown.bounded(work, Duration::from_millis(1)).await, Some("done"));
        assert!(!shutdown.is_requested());
    }
}
