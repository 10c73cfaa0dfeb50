//! The cluster's nodes as drydock reads them: from the watch cache, slimmed to what decisions read
//! (`plan::node::slim`), not with a GET per reconcile. A node the cache does not have (created a moment ago), or
//! has in an older version than drydock's own last write of it, is read from the API server instead, so no
//! decision is made over a node drydock has already changed. Schedules still list their pools: nothing wakes a
//! schedule when a node joins one.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::FutureExt;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client, ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};

use crate::{
    error::{Error, Result},
    plan::node::slim,
};

pub struct Nodes {
    client: Client,
    store: Store<Node>,
    /// Per node, the resourceVersion of drydock's last write of it, until the cache has caught up.
    written: Mutex<HashMap<String, u64>>,
}

impl Nodes {
    pub fn new(client: Client, store: Store<Node>) -> Self {
        Self {
            client,
            store,
            written: Mutex::default(),
        }
    }

    /// Every node in the cache, for placement (which may lag: a replacement's room is an estimate anyway).
    pub fn cached(&self) -> Vec<Arc<Node>> {
        self.store.state()
    }

    pub fn store(&self) -> &Store<Node> {
        &self.store
    }

    /// The node `name`, at least as new as drydock's last write of it; None if it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Node>> {
        let ready = self.store.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok());
        if ready
            && let Some(node) = self.store.get(&ObjectRef::new(name))
            && self.fresh(&node)
        {
            return Ok(Some((*node).clone()));
        }
        // Not listed yet, unknown to the cache (just created, or gone), or older than our own write.
        let found = Api::<Node>::all(self.client.clone())
            .get_opt(name)
            .await
            .map_err(|source| Error::ReadNode {
                node: name.into(),
                source,
            })?;
        Ok(found.map(slim))
    }

    /// Records a node as drydock's write returned it: reads go to the API server until the cache has it.
    pub fn wrote(&self, node: &Node) {
        let Some(rv) = version(node) else { return };
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let floor = written.entry(node.name_any()).or_insert(rv);
        *floor = (*floor).max(rv);
    }

    /// The cached node is no older than drydock's last write of it (see [`caught_up`]); the floor is dropped once
    /// it is.
    fn fresh(&self, cached: &Node) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let name = cached.name_any();
        let floor = written.get(&name).copied();
        let fresh = caught_up(version(cached), floor);
        if fresh && floor.is_some() {
            written.remove(&name);
        }
        fresh
    }
}

/// Whether a cached version is at least `floor`, drydock's last write. Versions of one resource type compare as
/// integers that only grow: documented and conformance-tested since Kubernetes 1.35 (KEP-5504), and etcd
/// revisions on 1.33 and 1.34 all the same. One that does not parse is never taken for fresh.
fn caught_up(cached: Option<u64>, floor: Option<u64>) -> bool {
    match floor {
        None => true,
        Some(floor) => cached.is_some_and(|rv| rv >= floor),
    }
}

fn version(node: &Node) -> Option<u64> {
    node.resource_version()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::caught_up;

    #[test]
    fn the_cache_is_read_once_it_holds_our_last_write() {
        assert!(caught_up(Some(7), None), "a node drydock never wrote");
        assert!(
            !caught_up(Some(9), Some(10)),
            "older than our write: ask the API server"
        );
        assert!(caught_up(Some(10), Some(10)));
        assert!(caught_up(Some(11), Some(10)), "someone wrote after us");
        assert!(!caught_up(None, Some(10)), "a version that does not parse");
    }
}
