//! Reads what [`crate::plan::place`] needs, besides the nodes, to tell whether an evicted pod's replacement could
//! run elsewhere: the pods the drained pods' hard anti-affinity selects, and the PersistentVolumes their claims are
//! bound to. The controller and `drydock preview` both gather with [`room`], so both judge from the same data.
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    core::v1::{PersistentVolume, PersistentVolumeClaim, Pod},
    policy::v1::PodDisruptionBudget,
};
use kube::{Api, Client, ResourceExt, api::ListParams, core::Selector};

use crate::plan::place::{BoundVolume, Volumes, claims, required_anti_affinity};

/// How long a list of the pods anti-affinity looks at is reused: a drain reconciles on every pod change, and
/// where replacements landed a few seconds ago is recent enough to judge room.
const PODS_FRESH_FOR: Duration = Duration::from_secs(5);

/// What one maintenance keeps between reconciles: a bound volume never moves (unbound claims are asked again),
/// pod lists go stale quickly.
#[derive(Default, Debug)]
pub struct Cache {
    volumes: Volumes,
    /// When listed, for which queries, what was found.
    pods: Option<(Instant, BTreeSet<String>, Vec<Pod>)>,
}

impl Cache {
    pub fn volumes(&self) -> &Volumes {
        &self.volumes
    }

    pub fn pods(&self) -> &[Pod] {
        self.pods.as_ref().map_or(&[], |(_, _, p)| p.as_slice())
    }
}

/// One list request per distinct anti-affinity term: (namespace or None for all, label selector).
fn term_queries(pods: &[&Pod]) -> BTreeSet<(Option<String>, String)> {
    let mut queries = BTreeSet::new();
    for pod in pods {
        let own_ns = pod.namespace().unwrap_or_default();
        for term in required_anti_affinity(pod) {
            let Some(selector) = term.label_selector.clone().and_then(|s| Selector::try_from(s).ok()) else {
                continue; // a term without a selector selects nothing
            };
            let selector = selector.to_string();
            let namespaces = term.namespaces.clone().unwrap_or_default();
            if term.namespace_selector.is_some() {
                queries.insert((None, selector));
            } else if namespaces.is_empty() {
                queries.insert((Some(own_ns.clone()), selector));
            } else {
                for ns in namespaces {
                    queries.insert((Some(ns), selector.clone()));
                }
            }
        }
    }
    queries
}

/// Refreshes `cache` for the pods now on the node: lists the pods their anti-affinity selects (reused for
/// `PODS_FRESH_FOR` while the same terms are asked) and resolves their claims to volumes.
pub async fn room(client: &Client, cache: &mut Cache, on_node: &[&Pod]) -> Result<(), kube::Error> {
    let queries = term_queries(on_node);
    let asked: BTreeSet<String> = queries.iter().map(|(ns, s)| format!("{ns:?}/{s}")).collect();
    let fresh = cache
        .pods
        .as_ref()
        .is_some_and(|(at, key, _)| at.elapsed() < PODS_FRESH_FOR && *key == asked);
    if !fresh {
        let mut found: BTreeMap<String, Pod> = BTreeMap::new();
        for (ns, selector) in &queries {
            let api = match ns {
                Some(ns) => Api::<Pod>::namespaced(client.clone(), ns),
                None => Api::<Pod>::all(client.clone()),
            };
            for pod in api.list(&ListParams::default().labels(selector)).await? {
                found.insert(pod.uid().unwrap_or_default(), pod);
            }
        }
        cache.pods = Some((Instant::now(), asked, found.into_values().collect()));
    }
    for pod in on_node {
        let namespace = pod.namespace().unwrap_or_default();
        for claim in claims(pod) {
            let key = (namespace.clone(), claim.to_string());
            if cache.volumes.contains_key(&key) {
                continue;
            }
            let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace)
                .get_opt(claim)
                .await?;
            let Some(pv_name) = pvc.and_then(|c| c.spec?.volume_name).filter(|n| !n.is_empty()) else {
                continue; // not bound yet: nothing ties it to a node
            };
            let Some(pv) = Api::<PersistentVolume>::all(client.clone()).get_opt(&pv_name).await? else {
                continue;
            };
            let node_affinity = pv.spec.and_then(|s| s.node_affinity).and_then(|a| a.required);
            cache.volumes.insert(
                key,
                BoundVolume {
                    pv: pv_name,
                    node_affinity,
                },
            );
        }
    }
    Ok(())
}

/// Whether the pods on the node need any lookups at all (most do not: no anti-affinity, no claims).
pub fn needs_lookups(on_node: &[&Pod]) -> bool {
    on_node
        .iter()
        .any(|p| !required_anti_affinity(p).is_empty() || claims(p).next().is_some())
}

/// The PodDisruptionBudget an eviction was refused by, to say what would let it allow one. Best effort: the
/// refusal is reported either way, so a budget that cannot be read is None.
pub async fn budget(client: &Client, namespace: &str, name: &str) -> Option<PodDisruptionBudget> {
    Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, anti: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": ns, "labels": {"app": "web"}},
            "spec": {"containers": [], "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": anti}}}
        }))
        .expect("pod")
    }

    #[test]
    fn one_list_per_distinct_term() {
        let term = json!([{"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]);
        let a = pod("shop", term.clone());
        let b = pod("shop", term);
        let other = pod(
            "shop",
            json!([{"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone", "namespaces": ["data", "logs"]}]),
        );
        let any = pod(
            "shop",
            json!([{"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone", "namespaceSelector": {}}]),
        );
        let none = pod("shop", json!([{"topologyKey": "zone"}]));
        let q = term_queries(&[&a, &b, &other, &any, &none]);
        assert_eq!(
            q.into_iter().collect::<Vec<_>>(),
            vec![
                (None, "app=x".to_string()),
                (Some("data".into()), "app=db".to_string()),
                (Some("logs".into()), "app=db".to_string()),
                (Some("shop".into()), "app=web".to_string()),
            ]
        );
        assert!(needs_lookups(&[&a]));
        let plain: Pod =
            serde_json::from_value(json!({"metadata": {"name": "q"}, "spec": {"containers": []}})).expect("pod");
        assert!(!needs_lookups(&[&plain]));
    }
}
