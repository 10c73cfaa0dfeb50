//! Health gates: PromQL queries that must return no series before a node is taken. Pure: the controller sends
//! the queries [`query_for`] gives and hands back what Prometheus answered; [`verdict`] says whether the node may
//! go. Anything that is not a clear answer blocks: an unreachable Prometheus is "cannot check", never "healthy".
use drydock_api::v1alpha1::{HealthGate, NODE_PLACEHOLDER};

/// What Prometheus answered to one gate's query: the series it returned (each as its label set, for messages),
/// or why there is no answer.
pub type Answer = Result<Vec<String>, String>;

/// Whether the gates let a node (or the whole rollout) go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Clear,
    /// The gate's query returned series: `first` is one of them, for the message.
    Firing {
        gate: String,
        series: usize,
        first: String,
    },
    /// The gate could not be checked (Prometheus unreachable or not configured, an invalid query).
    CannotCheck {
        gate: String,
        why: String,
    },
}

impl Verdict {
    pub fn is_clear(&self) -> bool {
        matches!(self, Verdict::Clear)
    }

    /// The gate that blocks, if any.
    pub fn gate(&self) -> Option<&str> {
        match self {
            Verdict::Clear => None,
            Verdict::Firing { gate, .. } | Verdict::CannotCheck { gate, .. } => Some(gate),
        }
    }

    /// One line for status; `what` is what waits ("node n1", "the rollout").
    pub fn message(&self, what: &str) -> Option<String> {
        match self {
            Verdict::Clear => None,
            // Not the count: it changes from one look to the next, and the message is what says "a new blocker".
            Verdict::Firing { gate, first, .. } => Some(format!(
                "health gate {gate} holds back {what}: its query returns series, e.g. {first}; it goes on once the \
                 query returns none"
            )),
            Verdict::CannotCheck { gate, why } => {
                Some(format!("health gate {gate} holds back {what}: cannot check it: {why}"))
            }
        }
    }
}

/// Whether `gate` is scoped to a node: its query names the node, so only that node waits when it fires.
pub fn per_node(gate: &HealthGate) -> bool {
    gate.query.contains(NODE_PLACEHOLDER)
}

/// The query to send for `gate`, for `node` when the gate is scoped to one. Node names are DNS subdomains, so
/// the name needs no escaping inside a PromQL string.
pub fn query_for(gate: &HealthGate, node: &str) -> String {
    gate.query.replace(NODE_PLACEHOLDER, node)
}

/// The verdict over `answers`, given in the order of the gates: the first gate that does not let go decides.
pub fn verdict<'a>(answers: impl IntoIterator<Item = (&'a HealthGate, Answer)>) -> Verdict {
    for (gate, answer) in answers {
        match answer {
            Ok(series) if series.is_empty() => {}
            Ok(series) => {
                return Verdict::Firing {
                    gate: gate.name.clone(),
                    series: series.len(),
                    first: series.into_iter().next().unwrap_or_default(),
                };
            }
            Err(why) => {
                return Verdict::CannotCheck {
                    gate: gate.name.clone(),
                    why,
                };
            }
        }
    }
    Verdict::Clear
}

/// Why no gate can be checked when drydock runs without a Prometheus.
pub const NO_PROMETHEUS: &str =
    "drydock runs without a Prometheus: start it with --prometheus-url (operator configuration), or remove the gate";

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(name: &str, query: &str) -> HealthGate {
        HealthGate {
            name: name.into(),
            query: query.into(),
        }
    }

    #[test]
    fn a_node_scoped_query_names_the_node_and_a_fleet_query_is_sent_as_written() {
        let scoped = gate("node-ok", r#"ALERTS{alertstate="firing",node="{{node}}"}"#);
        assert!(per_node(&scoped));
        assert_eq!(
            query_for(&scoped, "kwok-3"),
            r#"ALERTS{alertstate="firing",node="kwok-3"}"#
        );
        let fleet = gate("quiet", r#"ALERTS{severity="critical"}"#);
        assert!(!per_node(&fleet));
        assert_eq!(query_for(&fleet, "kwok-3"), r#"ALERTS{severity="critical"}"#);
    }

    #[test]
    fn no_series_is_clear_any_series_blocks_and_no_answer_never_counts_as_healthy() {
        let a = gate("a", "x");
        let b = gate("b", "y");
        assert_eq!(verdict([(&a, Ok(vec![])), (&b, Ok(vec![]))]), Verdict::Clear);
        let firing = verdict([(&a, Ok(vec![])), (&b, Ok(vec!["{node=\"n1\"}".into(), "{}".into()]))]);
        assert_eq!(
            firing,
            Verdict::Firing {
                gate: "b".into(),
                series: 2,
                first: "{node=\"n1\"}".into()
            }
        );
        assert!(
            firing
                .message("node n1")
                .is_some_and(|m| m.contains("holds back node n1: its query returns series, e.g. {node=\"n1\"}"))
        );
        let unreachable = verdict([(&a, Err("connection refused".to_string())), (&b, Ok(vec![]))]);
        assert_eq!(unreachable.gate(), Some("a"));
        assert!(!unreachable.is_clear());
        assert!(
            unreachable
                .message("the rollout")
                .is_some_and(|m| m.contains("cannot check it: connection refused"))
        );
    }

    #[test]
    fn the_first_gate_in_order_decides() {
        let a = gate("a", "x");
        let b = gate("b", "y");
        let v = verdict([(&a, Ok(vec!["{}".into()])), (&b, Err("down".into()))]);
        assert_eq!(v.gate(), Some("a"));
    }
}
