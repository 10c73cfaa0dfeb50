//! Evictions through the policy/v1 Eviction subresource, and deletion of finished pods.
//!
//! The client passed here must have kube's default retry turned off: that layer retries 429s for minutes
//! inside one call, while a 429 from eviction is news ("a PDB forbids it now"), to be reported and retried
//! later by the controller. kube's `Api::evict` is not used: it sends `delete_options` where the server reads
//! `deleteOptions`, so a grace period would never arrive.
use k8s_openapi::api::{core::v1::Pod, policy::v1::Eviction};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams, Preconditions},
};

use crate::plan::{
    eviction::{Blocked, Outcome, classify},
    pods::PodKey,
};

/// Evicts one pod, only if it is still the same incarnation (`preconditions.uid`).
pub async fn evict(client: &Client, pod: &PodKey, grace_period_seconds: Option<i64>) -> Outcome {
    let api = Api::<Pod>::namespaced(client.clone(), &pod.namespace);
    let eviction = Eviction {
        metadata: kube::api::ObjectMeta {
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            ..Default::default()
        },
        delete_options: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions {
            grace_period_seconds,
            preconditions: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Preconditions {
                uid: Some(pod.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        }),
    };
    match api
        .create_subresource::<_, serde_json::Value>("eviction", &pod.name, &PostParams::default(), &eviction)
        .await
    {
        Ok(_) => Outcome::Evicted,
        Err(kube::Error::Api(status)) => classify(&status),
        Err(e) => Outcome::Blocked(Blocked::Other(format!("eviction request failed: {e}; retrying"))),
    }
}

/// Deletes a finished (Succeeded/Failed) pod; eviction would be pointless, nothing runs.
pub async fn delete_finished(client: &Client, pod: &PodKey) -> Outcome {
    let api = Api::<Pod>::namespaced(client.clone(), &pod.namespace);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(pod.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&pod.name, &dp).await {
        Ok(_) => Outcome::Evicted,
        Err(kube::Error::Api(status)) => classify(&status),
        Err(e) => Outcome::Blocked(Blocked::Other(format!("delete request failed: {e}; retrying"))),
    }
}
