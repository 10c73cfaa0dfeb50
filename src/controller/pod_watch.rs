//! Watches of the pods on nodes under maintenance: one reflector per held node, with a field selector on
//! spec.nodeName, so the controller sees exactly those pods and never caches every pod in the cluster. Every
//! change wakes the NodeMaintenance that holds the node; this is also how deletions are confirmed.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, channel::mpsc::UnboundedSender};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tokio::task::JoinHandle;

use crate::{
    api::{lenient::Lenient, v1alpha1::NodeMaintenance},
    error::{Error, Result},
};

/// How long a new watch (or cache) may take to list before the reconcile gives up and retries.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// A first list that took longer than this is logged.
const SLOW_SYNC: Duration = Duration::from_secs(5);

struct Watch {
    holder: String,
    store: Store<Pod>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
pub struct PodWatches {
    client: Client,
    wake: UnboundedSender<ObjectRef<Lenient<NodeMaintenance>>>,
    watches: Arc<Mutex<HashMap<String, Watch>>>,
}

/// Waits (at most [`SYNC_TIMEOUT`]) until `store` has had its first list; `what` names it in the error about `node`.
pub async fn synced<K>(store: &Store<K>, node: &str, what: &str) -> Result<()>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let start = std::time::Instant::now();
    let synced = tokio::time::timeout(SYNC_TIMEOUT, store.wait_until_ready())
        .await
        .map_err(|_| Error::Watch {
            node: node.into(),
            reason: format!("{what} did not sync within {SYNC_TIMEOUT:?}"),
        })?
        .map_err(|e| Error::Watch {
            node: node.into(),
            reason: format!("{what}: {e}"),
        });
    // A list this slow holds a maintenance still: say where the time went.
    let waited = start.elapsed();
    if waited >= SLOW_SYNC {
        tracing::warn!(node, waited = ?waited, "{what} took long to list; the API server may be overloaded");
    }
    synced
}

impl PodWatches {
    pub fn new(client: Client, wake: UnboundedSender<ObjectRef<Lenient<NodeMaintenance>>>) -> Self {
        Self {
            client,
            wake,
            watches: Arc::default(),
        }
    }

    /// The pods on `node`, from a watch started on first use; `holder` is woken on every change.
    pub async fn pods(&self, node: &str, holder: &str) -> Result<Vec<Arc<Pod>>> {
        let store = self.ensure(node, holder);
        synced(&store, node, "the pod watch").await?;
        Ok(store.state())
    }

    fn ensure(&self, node: &str, holder: &str) -> Store<Pod> {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = watches
            .get(node)
            .filter(|w| w.holder == holder && !w.task.is_finished())
        {
            return w.store.clone();
        }
        if let Some(old) = watches.remove(node) {
            old.task.abort();
        }
        let (store, writer) = reflector::store();
        let api = Api::<Pod>::all(self.client.clone());
        let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
        let wake = self.wake.clone();
        let target = ObjectRef::<Lenient<NodeMaintenance>>::new(holder);
        let node_name = node.to_string();
        let task = tokio::spawn(async move {
            let mut events = reflector::reflector(writer, watcher(api, config).default_backoff()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(_) => {
                        if wake.unbounded_send(target.clone()).is_err() {
                            return; // the controller has stopped
                        }
                    }
                    Err(e) => tracing::warn!(node = %node_name, error = %e, "pod watch error; it retries with backoff"),
                }
            }
        });
        watches.insert(
            node.to_string(),
            Watch {
                holder: holder.to_string(),
                store: store.clone(),
                task,
            },
        );
        store
    }

    /// Queues a reconcile of `nm`.
    pub fn wake(&self, nm: ObjectRef<Lenient<NodeMaintenance>>) {
        let _ = self.wake.unbounded_send(nm);
    }

    /// Stops watching `node` if `holder` is the one watching it.
    pub fn stop(&self, node: &str, holder: &str) {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if watches.get(node).is_some_and(|w| w.holder == holder)
            && let Some(w) = watches.remove(node)
        {
            w.task.abort();
        }
    }
}
