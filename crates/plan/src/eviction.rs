//! How the API server's answer to an eviction (or a delete) reads, in kubectl drain's words plus the cases
//! kubectl leaves vague, and what would let a PodDisruptionBudget at zero allow one.
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_core::Status;

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

/// "PDB shop/web allows 0 disruptions (needs 3 healthy pods and has 3)", plus what would change it when the
/// budget could be read: one that can never allow a disruption, or unready pods holding it at zero.
pub fn budget_reason(namespace: &str, pdb: &str, detail: &str, budget: Option<&PodDisruptionBudget>) -> String {
    let detail = detail
        .strip_prefix(&format!("The disruption budget {pdb} "))
        .unwrap_or(detail);
    let reason = format!("PDB {namespace}/{pdb} allows 0 disruptions ({detail})");
    match budget {
        Some(budget) => format!("{reason}{}", budget_hint(budget)),
        None => reason,
    }
}

/// What would let a budget at zero allow a disruption, as a "; ..." tail (empty when only time will).
fn budget_hint(pdb: &PodDisruptionBudget) -> String {
    let (Some(spec), Some(status)) = (pdb.spec.as_ref(), pdb.status.as_ref()) else {
        return String::new();
    };
    let never = match (&spec.max_unavailable, &spec.min_available) {
        (Some(IntOrString::Int(0)), _) => Some("maxUnavailable: 0".to_string()),
        (Some(IntOrString::String(p)), _) if p.trim_end_matches('%').trim() == "0" => {
            Some(format!("maxUnavailable: {p}"))
        }
        (None, Some(IntOrString::Int(n))) if *n >= status.expected_pods && status.expected_pods > 0 => {
            Some(format!("minAvailable: {n} with {} pods", status.expected_pods))
        }
        (None, Some(IntOrString::String(p))) if p.trim_end_matches('%').trim() == "100" => {
            Some(format!("minAvailable: {p}"))
        }
        _ => None,
    };
    if let Some(rule) = never {
        return format!(
            "; it can never allow a disruption ({rule}): this pod leaves only once the PDB is changed, or the              workload scaled up, and drain.timeout applies meanwhile"
        );
    }
    let unready = status.expected_pods - status.current_healthy;
    if unready > 0 {
        return format!(
            "; {unready} of its {} pods are not ready: unhealthyPodEvictionPolicy: AlwaysAllow on the PDB lets \
             unready pods be evicted",
            status.expected_pods
        );
    }
    String::new()
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

    fn pdb(spec: serde_json::Value, expected: i32, healthy: i32) -> PodDisruptionBudget {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": spec,
            "status": {"expectedPods": expected, "currentHealthy": healthy, "desiredHealthy": expected,
                       "disruptionsAllowed": 0}
        }))
        .expect("pdb")
    }

    #[test]
    fn a_budget_that_can_never_allow_a_disruption_is_called_so() {
        for (spec, rule) in [
            (serde_json::json!({"maxUnavailable": 0}), "maxUnavailable: 0"),
            (serde_json::json!({"maxUnavailable": "0%"}), "maxUnavailable: 0%"),
            (serde_json::json!({"minAvailable": 3}), "minAvailable: 3 with 3 pods"),
            (serde_json::json!({"minAvailable": "100%"}), "minAvailable: 100%"),
        ] {
            let hint = budget_hint(&pdb(spec, 3, 3));
            assert!(hint.contains(&format!("never allow a disruption ({rule})")), "{hint}");
        }
        assert_eq!(
            budget_hint(&pdb(serde_json::json!({"minAvailable": 2}), 3, 2)),
            "; 1 of its 3 pods are not ready: unhealthyPodEvictionPolicy: AlwaysAllow on the PDB lets unready pods be evicted"
        );
        assert_eq!(budget_hint(&pdb(serde_json::json!({"minAvailable": 2}), 3, 3)), "");
    }
}
