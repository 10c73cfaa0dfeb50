//! Health gates, asked of the operator's Prometheus: the verdict for one node (or the whole rollout) over the
//! gates given. The decision is `plan::gates`; this only sends the queries, in order, and stops at the first
//! that does not let go.
use tracing::debug;

use super::Context;
use crate::{
    api::v1alpha1::HealthGate,
    plan::gates::{self, Verdict},
};

/// The verdict of `gates` for `node` (a fleet-wide gate ignores the node).
pub(super) async fn check(ctx: &Context, gates: &[&HealthGate], node: &str) -> Verdict {
    let mut answers = Vec::new();
    for gate in gates {
        let query = gates::query_for(gate, node);
        let answer = match &ctx.settings.prometheus {
            None => Err(gates::NO_PROMETHEUS.to_string()),
            Some(prometheus) => prometheus.series(&query).await,
        };
        debug!(gate = %gate.name, %query, ?answer, "health gate");
        let clear = matches!(&answer, Ok(series) if series.is_empty());
        answers.push((*gate, answer));
        if !clear {
            break;
        }
    }
    let verdict = gates::verdict(answers);
    ctx.metrics.health_gate_checked(&verdict);
    verdict
}
