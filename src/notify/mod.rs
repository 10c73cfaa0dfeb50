//! Notifications to receivers outside the cluster: what `plan` decided people should hear (`plan::notify`),
//! sent to the receivers of the operator's own Secret (`drydock run --notify-secret`; config.rs), as CloudEvents
//! or Slack messages (payload.rs). [`Notifier::send`] only puts a notification on each receiver's bounded queue
//! and returns; a task per receiver delivers with retries (deliver.rs), so a receiver that is slow, down or
//! never answers delays nothing but its own queue. The Secret is watched and the receivers replaced when it
//! changes (secret.rs).
pub mod config;
pub mod deliver;
pub mod payload;
pub mod secret;

use std::sync::{Arc, OnceLock, RwLock};

use jiff::Timestamp;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{debug, warn};

use crate::{
    outbound::{self, HttpClient},
    plan::notify::{Kind, Notice},
    shutdown::Shutdown,
    telemetry::metrics::{Metrics, NotifyResult},
};
use config::Receiver;

/// The object a notification is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// NodeMaintenance or MaintenanceSchedule.
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// One notification, as every receiver gets it (each in its own format).
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub kind: Kind,
    pub reason: String,
    pub message: String,
    /// `<object uid>/<kind>[/<key>]`: the same for the same transition, whenever it is sent.
    pub id: String,
    pub object: Object,
    pub node: Option<String>,
    /// The maintenance's phase after the transition.
    pub phase: Option<String>,
    /// The MaintenanceSchedule the object is, or belongs to.
    pub schedule: Option<String>,
    pub time: Timestamp,
}

impl Notification {
    pub fn new(notice: &Notice, object: Object, time: Timestamp) -> Self {
        let mut id = format!("{}/{}", object.uid, notice.kind.name());
        if !notice.key.is_empty() {
            id = format!("{id}/{}", notice.key);
        }
        Self {
            kind: notice.kind,
            reason: notice.reason.clone(),
            message: notice.message.clone(),
            id,
            object,
            node: None,
            phase: None,
            schedule: None,
            time,
        }
    }
}

/// A receiver's queue.
struct Queue {
    receiver: Arc<Receiver>,
    tx: mpsc::Sender<Notification>,
}

/// Hands notifications to the configured receivers; cheap to clone. With no receivers it does nothing.
#[derive(Clone)]
pub struct Notifier(Arc<Shared>);

struct Shared {
    queues: RwLock<Vec<Queue>>,
    /// Built with the first receivers (reading the system's CA certificates), then kept.
    client: OnceLock<HttpClient>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
}

impl Notifier {
    /// No receivers until [`Notifier::configure`]; delivery tasks end on `shutdown`.
    pub fn new(metrics: Arc<Metrics>, shutdown: Shutdown) -> Self {
        Self(Arc::new(Shared {
            queues: RwLock::default(),
            client: OnceLock::new(),
            metrics,
            shutdown,
        }))
    }

    /// Replaces the receivers. Notifications already queued for the old ones are still delivered to them (their
    /// tasks end once their queues are empty); new ones go to the new receivers only.
    pub fn configure(&self, receivers: Vec<Receiver>) {
        let queues = receivers
            .into_iter()
            .map(|r| {
                let receiver = Arc::new(r);
                let (tx, rx) = mpsc::channel(deliver::QUEUE);
                let client = self.0.client.get_or_init(outbound::client).clone();
                tokio::spawn(deliver::run(
                    receiver.clone(),
                    rx,
                    client,
                    self.0.metrics.clone(),
                    self.0.shutdown.clone(),
                ));
                Queue { receiver, tx }
            })
            .collect();
        *self.0.queues.write().unwrap_or_else(|p| p.into_inner()) = queues;
    }

    /// Queues `n` for every receiver that wants its kind; never waits. A full queue drops it (counted as
    /// `dropped`).
    pub fn send(&self, n: &Notification) {
        let queues = self.0.queues.read().unwrap_or_else(|p| p.into_inner());
        for q in queues.iter().filter(|q| q.receiver.wants(n.kind)) {
            match q.tx.try_send(n.clone()) {
                Ok(()) => debug!(receiver = %q.receiver.name, event = n.kind.name(), id = %n.id, "notification queued"),
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                    warn!(receiver = %q.receiver.name, event = n.kind.name(), id = %n.id, "notification dropped: the receiver's queue is full");
                    self.0
                        .metrics
                        .notification(&q.receiver.name, n.kind.name(), NotifyResult::Dropped);
                }
            }
        }
    }

    /// How many receivers are configured.
    pub fn receivers(&self) -> usize {
        self.0.queues.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(name: &str, events: Option<Vec<Kind>>) -> Receiver {
        Receiver {
            name: name.into(),
            url: "http://127.0.0.1:9/".parse().expect("url"),
            format: config::Format::Cloudevents,
            events: events.map(|e| e.into_iter().collect()),
            headers: vec![],
        }
    }

    fn notification(kind: Kind, key: &str) -> Notification {
        let notice = Notice::new(kind, "Reason", "text", key.into());
        let object = Object {
            kind: "NodeMaintenance".into(),
            name: "m".into(),
            uid: "u1".into(),
        };
        Notification::new(&notice, object, Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn ids_name_the_object_the_kind_and_the_transition() {
        assert_eq!(notification(Kind::Started, "").id, "u1/started");
        assert_eq!(notification(Kind::Blocked, "abc").id, "u1/blocked/abc");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let metrics = Arc::new(Metrics::default());
        let (trigger, shutdown) = Shutdown::manual();
        trigger.stop(); // the delivery tasks end at once: nothing takes from the queues
        let notifier = Notifier::new(metrics.clone(), shutdown);
        notifier.configure(vec![receiver("ops", None), receiver("few", Some(vec![Kind::Failed]))]);
        assert_eq!(notifier.receivers(), 2);
        tokio::task::yield_now().await;
        for _ in 0..deliver::QUEUE + 3 {
            notifier.send(&notification(Kind::Started, ""));
        }
        let text = metrics.render(&[], 0, Timestamp::UNIX_EPOCH);
        assert!(
            text.contains(r#"drydock_notifications_total{receiver="ops",event="started",result="dropped"} "#),
            "{text}"
        );
        assert!(
            !text.contains(r#"receiver="few""#),
            "a receiver that does not want it hears nothing: {text}"
        );
    }
}
