//! The task pod: read it, create it (a dry run first, before the node is touched), and delete it when the
//! maintenance ends before it finished. The pod is sent as the JSON `plan::task::pod` made, not through the typed
//! Pod: a field of the template this build's Kubernetes types do not know must reach the API server.
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, PostParams, Preconditions},
};
use serde_json::Value;

use crate::error::{Error, Result};

fn error(action: &'static str, namespace: &str, name: &str, source: kube::Error) -> Error {
    Error::Task {
        action,
        pod: format!("{namespace}/{name}"),
        source,
    }
}

fn names(pod: &Value) -> (String, String) {
    let meta = &pod["metadata"];
    let s = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
    (s("namespace"), s("name"))
}

/// The pod named `name` in `namespace`, if there is one.
pub async fn get(client: &Client, namespace: &str, name: &str) -> Result<Option<Pod>> {
    Api::<Pod>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|source| error("read", namespace, name, source))
}

async fn post(client: &Client, pod: &Value, dry_run: bool) -> Result<DynamicObject, kube::Error> {
    let (namespace, _) = names(pod);
    let object: DynamicObject = serde_json::from_value(pod.clone()).map_err(kube::Error::SerdeError)?;
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &ApiResource::erase::<Pod>(&()));
    let pp = PostParams {
        dry_run,
        ..PostParams::default()
    };
    api.create(&pp, &object).await
}

/// Asks the API server whether it would create `pod` (validation, admission, Pod Security), changing nothing.
pub async fn try_create(client: &Client, pod: &Value) -> Result<()> {
    let (namespace, name) = names(pod);
    post(client, pod, true)
        .await
        .map(|_| ())
        .map_err(|source| error("dry-run create", &namespace, &name, source))
}

/// Creates `pod` and returns it as the API server has it; if a pod of that name exists already (drydock
/// created it and stopped before recording it), returns that one, for the caller to adopt if it is this
/// maintenance's.
pub async fn create(client: &Client, pod: &Value) -> Result<Option<Pod>> {
    let (namespace, name) = names(pod);
    match post(client, pod, false).await {
        // The server's answer is the pod as created: read as a Pod, it is what a GET would return.
        Ok(created) => serde_json::to_value(created)
            .and_then(serde_json::from_value)
            .map(Some)
            .map_err(|e| error("read", &namespace, &name, kube::Error::SerdeError(e))),
        Err(kube::Error::Api(s)) if s.code == 409 => get(client, &namespace, &name).await,
        Err(source) => Err(error("create", &namespace, &name, source)),
    }
}

/// Deletes the task pod, this incarnation only; gone already is fine.
pub async fn delete(client: &Client, pod: &Pod) -> Result<()> {
    let dp = DeleteParams {
        preconditions: pod.uid().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let (namespace, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    match Api::<Pod>::namespaced(client.clone(), &namespace)
        .delete(&name, &dp)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(source) => Err(error("delete", &namespace, &name, source)),
    }
}
