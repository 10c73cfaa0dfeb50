//! How fast a schedule's rollout goes and what it waits for besides its budget: the window's node limit, the soak
//! time after a node finishes, a person's approval, and the health gates. Pure: the controller gathers what
//! these read (and asks Prometheus only for the nodes [`approved`] lets through), then starts what [`choose`]
//! picks.
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use jiff::Timestamp;

use crate::gates::Verdict;
use drydock_api::v1alpha1::Approval;

/// Why a rollout waits (status.waiting.reason).
pub const HEALTH_GATE: &str = "HealthGate";
pub const CANNOT_CHECK: &str = "CannotCheck";
pub const APPROVAL: &str = "Approval";
pub const SOAK: &str = "Soak";
pub const WINDOW_LIMIT: &str = "WindowLimit";
pub const STOPPED: &str = "Stopped";

/// What the rollout waits for: `reason` (one of the constants above), `subject` what exactly, and a message with
/// what to do. `until`: when the wait ends by itself (the soak), so the controller looks again then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub reason: &'static str,
    pub subject: String,
    pub message: String,
    pub until: Option<Timestamp>,
}

impl Wait {
    /// Whether a person should hear of this wait (an Event, a notification): soaking is the plan, not a blocker.
    pub fn is_blocker(&self) -> bool {
        self.reason != SOAK
    }
}

/// What the pacing reads about one schedule in its open window.
#[derive(Clone, Debug)]
pub struct Pace<'a> {
    /// The schedule's name, for the commands in messages.
    pub schedule: &'a str,
    /// The open window's id (`Occurrence::id`).
    pub window: &'a str,
    pub approval: Option<Approval>,
    /// The tokens of the drydock.dev/approved annotation (see [`approvals`]).
    pub approved: &'a BTreeSet<String>,
    pub soak: Option<Duration>,
    pub max_nodes_per_window: Option<usize>,
    /// NodeMaintenances this window started so far.
    pub started: usize,
    /// The last of this window's maintenances to finish: when, and its node.
    pub last_finished: Option<(Timestamp, &'a str)>,
    pub now: Timestamp,
}

/// The tokens of a drydock.dev/approved annotation: comma-separated window ids or window/node pairs.
pub fn approvals(annotation: Option<&str>) -> BTreeSet<String> {
    annotation
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// The annotation value after approving `token`: the tokens already there that are still for `window` (older
/// windows' approvals are dropped, so the annotation does not grow for ever), plus `token`.
pub fn approve(annotation: Option<&str>, window: &str, token: &str) -> String {
    let mut tokens: BTreeSet<String> = approvals(annotation)
        .into_iter()
        .filter(|t| t == window || t.starts_with(&format!("{window}/")))
        .collect();
    tokens.insert(token.to_string());
    tokens.into_iter().collect::<Vec<_>>().join(",")
}

/// How many nodes may start now: the budget's free slots, within what the window's node limit has left.
pub fn free(p: &Pace, budget_free: usize) -> usize {
    match p.max_nodes_per_window {
        Some(limit) => budget_free.min(limit.saturating_sub(p.started)),
        None => budget_free,
    }
}

/// What holds back every node of the window, checked before any query: the node limit, the soak time, the
/// window's approval. `waiting`: nodes of the pool still to do.
pub fn hold_all(p: &Pace, waiting: usize) -> Option<Wait> {
    if waiting == 0 {
        return None;
    }
    if let Some(limit) = p.max_nodes_per_window.filter(|l| p.started >= *l) {
        return Some(Wait {
            reason: WINDOW_LIMIT,
            subject: p.window.into(),
            message: format!(
                "window {} started its {limit} nodes (rollout.maxNodesPerWindow): the {waiting} others wait for the \
                 next window",
                p.window
            ),
            until: None,
        });
    }
    if let (Some(soak), Some((at, node))) = (p.soak, p.last_finished) {
        let until = at.checked_add(soak).unwrap_or(at);
        if p.now < until {
            return Some(Wait {
                reason: SOAK,
                subject: node.into(),
                message: format!(
                    "soaking until {until} ({}s of rollout.soak after node {node} finished) before the next node",
                    soak.as_secs()
                ),
                until: Some(until),
            });
        }
    }
    let window_approved = p.approved.contains(p.window);
    if p.approval == Some(Approval::Window) && !window_approved {
        return Some(Wait {
            reason: APPROVAL,
            subject: p.window.into(),
            message: format!(
                "waiting for approval of window {}: drydock approve ms/{} (or annotate drydock.dev/approved={})",
                p.window, p.schedule, p.window
            ),
            until: None,
        });
    }
    None
}

/// Of `candidates` (in the order they would start), those approved for this window, and those still waiting
/// for a person (per-node approval only; a window's approval approves all its nodes).
pub fn approved(p: &Pace, candidates: &[String]) -> (Vec<String>, Vec<String>) {
    if p.approval != Some(Approval::Node) || p.approved.contains(p.window) {
        return (candidates.to_vec(), Vec::new());
    }
    candidates
        .iter()
        .cloned()
        .partition(|node| p.approved.contains(&format!("{}/{node}", p.window)))
}

/// Picks up to `free` of `approved` whose gates are clear (nodes missing from `verdicts` were not checked and do
/// not start), and says what waits when a slot stays free: the fleet's gate, the first node held back by its
/// gate, or the nodes awaiting approval.
pub fn choose(
    p: &Pace,
    approved: &[String],
    awaiting: &[String],
    fleet: &Verdict,
    verdicts: &BTreeMap<String, Verdict>,
    free: usize,
) -> (Vec<String>, Option<Wait>) {
    if free == 0 {
        return (Vec::new(), None);
    }
    if let Some(wait) = gate_wait(fleet, "the rollout", None) {
        return (Vec::new(), Some(wait));
    }
    let start: Vec<String> = approved
        .iter()
        .filter(|n| verdicts.get(*n).is_some_and(Verdict::is_clear))
        .take(free)
        .cloned()
        .collect();
    if start.len() == free {
        return (start, None);
    }
    let held = approved.iter().find_map(|n| {
        verdicts
            .get(n)
            .and_then(|v| gate_wait(v, &format!("node {n}"), Some(n)))
    });
    let wait = held.or_else(|| {
        (!awaiting.is_empty()).then(|| {
            let first = &awaiting[0];
            Wait {
                reason: APPROVAL,
                subject: format!("{}/{}", p.window, awaiting.join(",")),
                message: format!(
                    "waiting for approval of node{} {} in window {}: drydock approve ms/{} --node {first} (or add \
                     {}/{first} to the annotation drydock.dev/approved)",
                    if awaiting.len() == 1 { "" } else { "s" },
                    awaiting.join(", "),
                    p.window,
                    p.schedule,
                    p.window
                ),
                until: None,
            }
        })
    });
    (start, wait)
}

/// The wait for a gate that does not let go; `node` when it holds back one node (then `subject` is gate/node).
fn gate_wait(v: &Verdict, what: &str, node: Option<&str>) -> Option<Wait> {
    let reason = match v {
        Verdict::Clear => return None,
        Verdict::Firing { .. } => HEALTH_GATE,
        Verdict::CannotCheck { .. } => CANNOT_CHECK,
    };
    Some(Wait {
        reason,
        subject: match node {
            Some(n) => format!("{}/{n}", v.gate().unwrap_or_default()),
            None => v.gate().unwrap_or_default().to_string(),
        },
        message: v.message(what).unwrap_or_default(),
        until: None,
    })
}

#[cfg(test)]
mod tests;
