//! Workloads the tests put on their nodes: Deployments, DaemonSets, PDBs and bare pods, built from JSON so a
//! test reads like the manifest a user would apply.
use std::time::Duration;

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment},
    core::v1::Pod,
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, ResourceExt,
    api::{ListParams, PostParams},
};
use serde_json::{Value, json};

use crate::{TestEnv, wait_until};

/// The API of each kind the harness creates from plain manifests (the add-on zoo, the tests' own YAML).
fn resource_of(kind: &str) -> Option<kube::discovery::ApiResource> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    Some(match kind {
        "ServiceAccount" => kube::discovery::ApiResource::erase::<ServiceAccount>(&()),
        "Deployment" => kube::discovery::ApiResource::erase::<Deployment>(&()),
        "DaemonSet" => kube::discovery::ApiResource::erase::<DaemonSet>(&()),
        "StatefulSet" => kube::discovery::ApiResource::erase::<k8s_openapi::api::apps::v1::StatefulSet>(&()),
        "ReplicaSet" => kube::discovery::ApiResource::erase::<k8s_openapi::api::apps::v1::ReplicaSet>(&()),
        _ => return None,
    })
}

/// A container kwok "runs" (the image is never pulled).
pub fn container() -> Value {
    json!([{"name": "app", "image": "registry.invalid/app:1"}])
}

impl TestEnv {
    /// A Deployment `name` with `replicas` pods labelled app=<name>; `placement` from [`TestEnv::placement`]
    /// or [`TestEnv::placement_on`]; `pod_extra` is merged into the pod spec (e.g. volumes).
    pub async fn deployment(&self, name: &str, replicas: i32, placement: Value, pod_extra: Value) -> Deployment {
        let mut pod_spec = json!({"containers": container(), "terminationGracePeriodSeconds": 1});
        merge(&mut pod_spec, placement);
        merge(&mut pod_spec, pod_extra);
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}
            }
        }))
        .expect("deployment json");
        if replicas > 0 {
            self.made_pods();
        }
        Api::<Deployment>::namespaced(self.client.clone(), self.ns())
            .create(&PostParams::default(), &d)
            .await
            .expect("create deployment")
    }

    /// The stage most drain tests play on: node `a` holding `replicas` Ready pods of Deployment web, guarded by
    /// PodDisruptionBudget web when `min_available` is given (settled: it allows the pods above that), then node
    /// `b`, empty, for the replacements. Returns node a's name.
    pub async fn web_on_a(&mut self, replicas: i32, min_available: Option<i32>) -> String {
        let a = self.node("a").await;
        self.ready_deployment("web", replicas, self.placement()).await;
        if let Some(min) = min_available {
            self.settled_pdb("web", min, replicas - min).await;
        }
        self.node("b").await;
        a
    }

    /// A [`TestEnv::deployment`] with no pod extras, once its `replicas` pods are Running and Ready.
    pub async fn ready_deployment(&self, name: &str, replicas: i32, placement: Value) -> Vec<Pod> {
        self.deployment(name, replicas, placement, json!({})).await;
        self.wait_ready_pods(name, usize::try_from(replicas).expect("replicas >= 0"))
            .await
    }

    /// Creates each object (its kind must be one [`resource_of`] knows) in this namespace, as written; returns
    /// what the API server refused, as `Kind name: message`.
    pub async fn create_all(&self, objects: &[Value]) -> Vec<String> {
        let mut refused = Vec::new();
        for object in objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let Some(ar) = resource_of(kind) else {
                refused.push(format!("{kind} {name}: not a kind the harness creates"));
                continue;
            };
            let api = Api::<kube::api::DynamicObject>::namespaced_with(self.client.clone(), self.ns(), &ar);
            let obj: kube::api::DynamicObject = match serde_json::from_value(object.clone()) {
                Ok(o) => o,
                Err(e) => {
                    refused.push(format!("{kind} {name}: {e}"));
                    continue;
                }
            };
            match api.create(&PostParams::default(), &obj).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {} // made already (a ServiceAccount named twice)
                Err(kube::Error::Api(s)) => refused.push(format!("{kind} {name}: {}", s.message)),
                Err(e) => refused.push(format!("{kind} {name}: {e}")),
            }
        }
        refused
    }

    /// A DaemonSet `name` on this environment's nodes.
    pub async fn daemonset(&self, name: &str) -> DaemonSet {
        let mut pod_spec = json!({"containers": container(), "terminationGracePeriodSeconds": 1});
        merge(&mut pod_spec, self.placement());
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}
            }
        }))
        .expect("daemonset json");
        self.made_pods();
        Api::<DaemonSet>::namespaced(self.client.clone(), self.ns())
            .create(&PostParams::default(), &ds)
            .await
            .expect("create daemonset")
    }

    /// A bare pod (no controller) bound straight to `node` with spec.nodeName, as a user's debug pod would be.
    pub async fn bare_pod(&self, name: &str, node: &str, pod_extra: Value) -> Pod {
        let mut pod_spec = json!({"containers": container(), "nodeName": node, "terminationGracePeriodSeconds": 1});
        merge(&mut pod_spec, self.placement());
        merge(&mut pod_spec, pod_extra);
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": pod_spec
        }))
        .expect("pod json");
        self.made_pods();
        Api::<Pod>::namespaced(self.client.clone(), self.ns())
            .create(&PostParams::default(), &pod)
            .await
            .expect("create pod")
    }

    /// A PodDisruptionBudget over app=<app> with the given minAvailable.
    pub async fn pdb(&self, name: &str, app: &str, min_available: i32) -> PodDisruptionBudget {
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}}
        }))
        .expect("pdb json");
        Api::<PodDisruptionBudget>::namespaced(self.client.clone(), self.ns())
            .create(&PostParams::default(), &pdb)
            .await
            .expect("create pdb")
    }

    /// A [`TestEnv::pdb`] `name` over app=<name>, once the disruption controller says it allows `allowed`.
    pub async fn settled_pdb(&self, name: &str, min_available: i32, allowed: i32) -> PodDisruptionBudget {
        self.pdb(name, name, min_available).await;
        self.pdb_settled(name, allowed).await
    }

    /// Changes the PDB's minAvailable (how the tests give a budget room, or take it away).
    pub async fn set_min_available(&self, name: &str, min_available: i32) {
        Api::<PodDisruptionBudget>::namespaced(self.client.clone(), self.ns())
            .patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"spec": {"minAvailable": min_available}})),
            )
            .await
            .expect("patch pdb");
    }

    /// The PDB once the disruption controller has computed its status for the current generation.
    pub async fn pdb_settled(&self, name: &str, expect_allowed: i32) -> PodDisruptionBudget {
        let api = Api::<PodDisruptionBudget>::namespaced(self.client.clone(), self.ns());
        crate::wait_for(
            &format!("PDB {name} to allow {expect_allowed} disruptions"),
            Duration::from_secs(60),
            || async {
                let p = api.get(name).await.ok()?;
                let s = p.status.as_ref()?;
                (s.observed_generation == p.metadata.generation && s.disruptions_allowed == expect_allowed).then_some(p)
            },
        )
        .await
    }

    /// Pods of this namespace, optionally only those with label app=<app>.
    pub async fn pods(&self, app: Option<&str>) -> Vec<Pod> {
        let lp = match app {
            Some(a) => ListParams::default().labels(&format!("app={a}")),
            None => ListParams::default(),
        };
        Api::<Pod>::namespaced(self.client.clone(), self.ns())
            .list(&lp)
            .await
            .expect("list pods")
            .items
    }

    /// Waits until `count` pods labelled app=<app> are Running and Ready and none is terminating.
    pub async fn wait_ready_pods(&self, app: &str, count: usize) -> Vec<Pod> {
        crate::wait_for(
            &format!("{count} Ready pods of app={app}"),
            Duration::from_secs(90),
            || async {
                let pods = self.pods(Some(app)).await;
                let live: Vec<_> = pods
                    .into_iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect();
                (live.len() == count && live.iter().all(pod_ready)).then_some(live)
            },
        )
        .await
    }

    /// Waits until no pod of this namespace is on `node` any more, except those `keep` accepts.
    pub async fn wait_node_empty(&self, node: &str, keep: impl Fn(&Pod) -> bool) {
        wait_until(
            &format!("node {node} to be drained"),
            Duration::from_secs(120),
            || async { self.pods(None).await.iter().filter(|p| on_node(p, node)).all(&keep) },
        )
        .await
    }
}

pub fn pod_ready(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.conditions
                .as_ref()
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
}

pub fn on_node(p: &Pod, node: &str) -> bool {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
}

/// The pods' UIDs, sorted: the same pods (no eviction, no replacement) have the same UIDs.
pub fn uids(pods: &[Pod]) -> Vec<String> {
    let mut u: Vec<String> = pods.iter().filter_map(|p| p.uid()).collect();
    u.sort();
    u
}

pub fn names(pods: &[Pod]) -> Vec<String> {
    let mut n: Vec<_> = pods.iter().map(|p| p.name_any()).collect();
    n.sort();
    n
}

/// Shallow-merges the keys of `extra` into `base` (both JSON objects).
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}
