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
    core::Status,
};

use crate::plan::pods::PodKey;

/// What one eviction (or delete) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: the pod is terminating.
    Evicted,
    /// Already gone, or replaced by a new pod of the same name (the UID precondition failed).
    Gone,
    /// Not now; retry later. The reason is for people.
    Blocked(Blocked),
    /// Refused for a reason retrying will not fix by itself (e.g. RBAC).
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// A PodDisruptionBudget forbids it now. `pdb` is the budget's name when the server said it.
    Budget { pdb: Option<String>, detail: String },
    /// Anything else worth retrying: several PDBs match, rate limited, namespace terminating, a webhook refused.
    Other(String),
}

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

/// Reads the API server's answer the way kubectl drain does, plus the cases kubectl leaves vague.
pub fn classify(status: &Status) -> Outcome {
    let message = status.message.clone();
    match status.code {
        404 => Outcome::Gone,
        // 409 is either our UID precondition (the pod was replaced: gone) or a write conflict on the
        // PodDisruptionBudget while other evictions of the same budget went through (the pod is still there).
        409 if message.contains("precondition") || message.contains("Precondition") => Outcome::Gone,
        409 => Outcome::Blocked(Blocked::Other(format!(
            "eviction conflicted with another update (409), retrying: {message}"
        ))),
        429 => {
            let budget = status
                .details
                .as_ref()
                .into_iter()
                .flat_map(|d| d.causes.iter())
                .find(|c| c.reason == "DisruptionBudget");
            match budget {
                Some(cause) => Outcome::Blocked(Blocked::Budget {
                    pdb: budget_name(&cause.message),
                    detail: cause.message.clone(),
                }),
                None => Outcome::Blocked(Blocked::Other(format!(
                    "rate limited by the API server (429): {message}"
                ))),
            }
        }
        500 if message.contains("more than one PodDisruptionBudget") => Outcome::Blocked(Blocked::Other(
            "more than one PodDisruptionBudget matches this pod, and the Eviction API refuses such pods: make the \
             PDB selectors disjoint"
                .into(),
        )),
        _ if message.contains("admission webhook") => Outcome::Blocked(Blocked::Other(format!(
            "eviction refused by an admission webhook: {message}"
        ))),
        // A policy can change (or the pod it guards), so this is retried with backoff like a PDB's refusal.
        _ if message.contains("ValidatingAdmissionPolicy") => Outcome::Blocked(Blocked::Other(format!(
            "eviction refused by an admission policy: {message}"
        ))),
        403 if message.contains("being terminated") => {
            Outcome::Blocked(Blocked::Other(format!("namespace is terminating: {message}")))
        }
        _ => Outcome::Failed(format!("eviction refused ({}): {message}", status.code)),
    }
}

/// "The disruption budget web needs 3 healthy pods and has 3 currently" -> "web".
fn budget_name(cause: &str) -> Option<String> {
    let rest = cause.strip_prefix("The disruption budget ")?;
    rest.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str, causes: serde_json::Value) -> Status {
        serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "message": message, "reason": "",
            "details": {"causes": causes}
        }))
        .expect("status")
    }

    #[test]
    fn a_pdb_429_names_the_budget() {
        let s = status(
            429,
            "Cannot evict pod as it would violate the pod's disruption budget.",
            serde_json::json!([{"reason": "DisruptionBudget", "message": "The disruption budget web needs 3 healthy pods and has 3 currently"}]),
        );
        assert_eq!(
            classify(&s),
            Outcome::Blocked(Blocked::Budget {
                pdb: Some("web".into()),
                detail: "The disruption budget web needs 3 healthy pods and has 3 currently".into()
            })
        );
    }

    #[test]
    fn a_429_without_a_budget_cause_is_rate_limiting() {
        let s = status(429, "Too many requests", serde_json::json!([]));
        assert!(matches!(classify(&s), Outcome::Blocked(Blocked::Other(m)) if m.contains("rate limited")));
    }

    #[test]
    fn several_pdbs_block_with_a_reason() {
        let s = status(
            500,
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            serde_json::json!([]),
        );
        assert!(matches!(classify(&s), Outcome::Blocked(Blocked::Other(m)) if m.contains("more than one")));
    }

    #[test]
    fn gone_and_replaced_pods_count_as_gone() {
        assert_eq!(
            classify(&status(404, "not found", serde_json::json!([]))),
            Outcome::Gone
        );
        assert_eq!(
            classify(&status(
                409,
                "Precondition failed: UID in precondition",
                serde_json::json!([])
            )),
            Outcome::Gone
        );
        // Concurrent evictions under one PDB: the server's budget update conflicts; the pod is still there.
        assert!(matches!(
            classify(&status(
                409,
                "Operation cannot be fulfilled on poddisruptionbudgets.policy \"web\": the object has been modified; please apply your changes to the latest version and try again",
                serde_json::json!([])
            )),
            Outcome::Blocked(Blocked::Other(_))
        ));
    }

    #[test]
    fn webhook_and_terminating_namespace_are_retried_other_403s_fail() {
        let w = status(
            400,
            "admission webhook \"kafka.example.com\" denied the request: moving partitions",
            serde_json::json!([]),
        );
        assert!(matches!(classify(&w), Outcome::Blocked(Blocked::Other(m)) if m.contains("moving partitions")));
        let t = status(
            403,
            "pods \"x\" is forbidden: unable to create new content in namespace ns because it is being terminated",
            serde_json::json!([]),
        );
        assert!(matches!(classify(&t), Outcome::Blocked(_)));
        let policy = status(
            403,
            "pods \"db-0\" is forbidden: ValidatingAdmissionPolicy 'protect-db' with binding 'protect-db' denied request: db pods move only by hand",
            serde_json::json!([]),
        );
        assert!(
            matches!(classify(&policy), Outcome::Blocked(Blocked::Other(m)) if m.starts_with("eviction refused by an admission policy") && m.contains("move only by hand"))
        );
        let rbac = status(
            403,
            "pods \"x\" is forbidden: User cannot create resource",
            serde_json::json!([]),
        );
        assert!(matches!(classify(&rbac), Outcome::Failed(_)));
    }
}
