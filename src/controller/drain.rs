//! One round of a drain: evict (or delete) what the plan says, at most `concurrency` at once, and remember
//! what was refused so it is retried with backoff rather than hammered. The memory is only an optimisation:
//! after a restart it is empty, and a second eviction of a terminating pod is harmless.
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::{StreamExt, stream};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::{Api, Client};
use tokio::time::Instant;

use crate::{
    act::evict::{self, Blocked, Outcome},
    api::v1alpha1::PodNote,
    gather,
    plan::{
        comeback::Tally,
        pods::{DrainPlan, PodKey},
    },
    telemetry::metrics::{EvictionResult, Metrics},
};

/// First retry of a refused eviction; doubles per refusal up to [`MAX_RETRY`]. Never zero: no hot loop.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// A PDB's room usually comes back within seconds (a replacement becomes Ready); half a minute bounds the wait.
const MAX_RETRY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Refused {
    key: PodKey,
    reason: String,
    attempts: u32,
    retry_at: Instant,
}

/// What the controller remembers of one maintenance's drain between reconciles.
#[derive(Default, Debug)]
pub struct Memory {
    evicted: HashSet<String>,
    refused: HashMap<String, Refused>,
    /// Evictions per pod owner: the bound that stops a pod that keeps coming back.
    tally: Tally,
    /// What placement needs besides the nodes (anti-affinity peers, bound volumes).
    pub room: gather::Cache,
}

/// What one round did.
#[derive(Default, Debug)]
pub struct Round {
    /// Pods evicted or deleted this round.
    pub done: usize,
    /// Evictions that failed for a reason retrying will not fix (RBAC...), for lastError.
    pub errors: Vec<String>,
}

impl Memory {
    /// Pods refused at their last attempt and still to go: these make the drain "blocked".
    pub fn blocked(&self, plan: &DrainPlan) -> Vec<PodNote> {
        let mut notes: Vec<PodNote> = plan
            .evict
            .iter()
            .chain(&plan.delete)
            .filter_map(|k| self.refused.get(&k.uid))
            .map(|r| PodNote {
                namespace: r.key.namespace.clone(),
                name: r.key.name.clone(),
                reason: r.reason.clone(),
            })
            .collect();
        notes.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        notes
    }

    /// When the earliest refused pod may be tried again.
    pub fn next_retry(&self) -> Option<Duration> {
        let now = Instant::now();
        self.refused
            .values()
            .map(|r| r.retry_at.saturating_duration_since(now))
            .min()
    }

    /// Forgets pods that are no longer on the node, so memory stays bounded by the node's pods.
    fn retain(&mut self, plan: &DrainPlan) {
        let live: HashSet<&str> = plan
            .evict
            .iter()
            .chain(&plan.delete)
            .chain(&plan.terminating)
            .chain(&plan.held_back)
            .map(|k| k.uid.as_str())
            .collect();
        self.evicted.retain(|uid| live.contains(uid.as_str()));
        self.refused.retain(|uid, _| live.contains(uid.as_str()));
    }

    /// Records a pod that could not go now, to be tried again after a backoff that doubles per refusal.
    fn refuse(&mut self, key: PodKey, reason: String, now: Instant) {
        let attempts = self.refused.get(&key.uid).map_or(0, |r| r.attempts) + 1;
        let delay = FIRST_RETRY
            .saturating_mul(1 << attempts.min(6).saturating_sub(1))
            .min(MAX_RETRY);
        self.refused.insert(
            key.uid.clone(),
            Refused {
                key,
                reason,
                attempts,
                retry_at: now + delay,
            },
        );
    }
}

/// Evicts and deletes what `plan` says now, skipping pods already evicted and pods whose retry is not due.
pub async fn round(
    metrics: &Metrics,
    client: &Client,
    memory: &mut Memory,
    plan: &DrainPlan,
    grace: Option<i64>,
    concurrency: usize,
) -> Round {
    memory.retain(plan);
    let now = Instant::now();
    let due =
        |k: &&PodKey| !memory.evicted.contains(&k.uid) && memory.refused.get(&k.uid).is_none_or(|r| r.retry_at <= now);
    let want: Vec<PodKey> = plan.evict.iter().filter(due).cloned().collect();
    let deletes: Vec<PodKey> = plan.delete.iter().filter(due).cloned().collect();
    let (allowed, came_back) = memory.tally.admit(plan, want);
    for (key, reason) in came_back {
        metrics.eviction(EvictionResult::Blocked);
        memory.refuse(key, reason, now);
    }
    let work: Vec<(PodKey, bool)> = allowed
        .into_iter()
        .map(|k| (k, true))
        .chain(deletes.into_iter().map(|k| (k, false)))
        .collect();
    let outcomes: Vec<(PodKey, Outcome)> = stream::iter(work)
        .map(|(key, is_eviction)| async move {
            let outcome = if is_eviction {
                evict::evict(client, &key, grace).await
            } else {
                evict::delete_finished(client, &key).await
            };
            (key, outcome)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    let mut result = Round::default();
    let mut budgets: HashMap<(String, String), String> = HashMap::new();
    for (key, outcome) in outcomes {
        if outcome != Outcome::Evicted {
            memory.tally.undo(plan, &key);
        }
        let reason = match outcome {
            Outcome::Evicted | Outcome::Gone => {
                metrics.eviction(EvictionResult::Evicted);
                result.done += 1;
                memory.refused.remove(&key.uid);
                memory.evicted.insert(key.uid.clone());
                continue;
            }
            Outcome::Blocked(Blocked::Budget { pdb: Some(pdb), detail }) => {
                metrics.eviction(EvictionResult::BlockedByPdb);
                let id = (key.namespace.clone(), pdb.clone());
                if !budgets.contains_key(&id) {
                    let text = budget_reason(client, &key.namespace, &pdb, &detail).await;
                    budgets.insert(id.clone(), text);
                }
                budgets[&id].clone()
            }
            Outcome::Blocked(Blocked::Budget { pdb: None, detail }) => {
                metrics.eviction(EvictionResult::BlockedByPdb);
                format!("a PodDisruptionBudget forbids it: {detail}")
            }
            Outcome::Blocked(Blocked::Other(reason)) => {
                metrics.eviction(EvictionResult::Blocked);
                reason
            }
            Outcome::Failed(reason) => {
                metrics.eviction(EvictionResult::Error);
                result.errors.push(format!("{key}: {reason}"));
                reason
            }
        };
        memory.refuse(key, reason, now);
    }
    result
}

/// "PDB shop/web allows 0 disruptions (needs 3 healthy pods and has 3)", plus what would change it: a budget
/// that can never allow one, or unready pods holding it at zero.
async fn budget_reason(client: &Client, namespace: &str, pdb: &str, detail: &str) -> String {
    let detail = detail
        .strip_prefix(&format!("The disruption budget {pdb} "))
        .unwrap_or(detail);
    let reason = format!("PDB {namespace}/{pdb} allows 0 disruptions ({detail})");
    let api = Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace);
    match api.get_opt(pdb).await {
        Ok(Some(budget)) => format!("{reason}{}", budget_hint(&budget)),
        _ => reason,
    }
}

/// What would let a budget at zero allow a disruption, as a "; ..." tail (empty when only time will).
pub fn budget_hint(pdb: &PodDisruptionBudget) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
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
