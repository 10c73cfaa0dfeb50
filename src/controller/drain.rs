//! One round of a drain: evict (or delete) what the plan says and [`Retries`] finds due, at most `concurrency`
//! at once, and record how each went so a refused pod is retried with backoff rather than hammered.
use std::collections::HashMap;

use futures::{StreamExt, stream};
use jiff::Timestamp;
use kube::Client;

use crate::{
    act::evict,
    gather,
    plan::{
        eviction::{Blocked, Outcome, budget_reason},
        pods::{DrainPlan, PodKey},
        retry::{Retries, Tried},
    },
    telemetry::metrics::{EvictionResult, Metrics},
};

/// What the controller remembers of one maintenance's drain between reconciles.
#[derive(Default, Debug)]
pub struct Memory {
    pub retries: Retries,
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

/// Evicts and deletes what is due of `plan` now.
pub async fn round(
    metrics: &Metrics,
    client: &Client,
    retries: &mut Retries,
    plan: &DrainPlan,
    grace: Option<i64>,
    concurrency: usize,
    now: Timestamp,
) -> Round {
    let due = retries.due(plan, now);
    for _ in 0..due.came_back {
        metrics.eviction(EvictionResult::Blocked);
    }
    let work = due
        .evict
        .into_iter()
        .map(|k| (k, true))
        .chain(due.delete.into_iter().map(|k| (k, false)));
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
    // One read per budget per round, however many of its pods were refused.
    let mut budgets: HashMap<(String, String), String> = HashMap::new();
    for (key, outcome) in outcomes {
        metrics.eviction(match &outcome {
            Outcome::Evicted | Outcome::Gone => EvictionResult::Evicted,
            Outcome::Blocked(Blocked::Budget { .. }) => EvictionResult::BlockedByPdb,
            Outcome::Blocked(Blocked::Other(_)) => EvictionResult::Blocked,
            Outcome::Failed(_) => EvictionResult::Error,
        });
        let tried = match outcome {
            Outcome::Evicted => Tried::Evicted,
            Outcome::Gone => Tried::Gone,
            Outcome::Blocked(Blocked::Budget { pdb: Some(pdb), detail }) => {
                let id = (key.namespace.clone(), pdb);
                if !budgets.contains_key(&id) {
                    let budget = gather::budget(client, &id.0, &id.1).await;
                    let text = budget_reason(&id.0, &id.1, &detail, budget.as_ref());
                    budgets.insert(id.clone(), text);
                }
                Tried::Refused(budgets[&id].clone())
            }
            Outcome::Blocked(Blocked::Budget { pdb: None, detail }) => {
                Tried::Refused(format!("a PodDisruptionBudget forbids it: {detail}"))
            }
            Outcome::Blocked(Blocked::Other(reason)) => Tried::Refused(reason),
            Outcome::Failed(reason) => {
                result.errors.push(format!("{key}: {reason}"));
                Tried::Refused(reason)
            }
        };
        if matches!(tried, Tried::Evicted | Tried::Gone) {
            result.done += 1;
        }
        retries.record(plan, key, tried, now);
    }
    result
}
