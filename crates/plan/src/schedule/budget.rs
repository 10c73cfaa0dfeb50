//! How many nodes a schedule's window may take at once, and which to start next.
use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::ScheduleError;

/// How many selected nodes may be under maintenance at once. `max_unavailable` is a count, or a percent of
/// `selected` as in Kubernetes IntOrString: rounded down, but at least 1 while any node is selected (a
/// schedule over 5 nodes with 10% still maintains them, one at a time). A count may exceed `selected`.
///
/// Zero, negative and 0% are refused, not read as "none": a schedule that may never take a node is a mistake.
pub fn budget(max_unavailable: &IntOrString, selected: usize) -> Result<usize, ScheduleError> {
    match max_unavailable {
        IntOrString::Int(count) => match usize::try_from(*count) {
            Ok(count) if count > 0 => Ok(count),
            _ => Err(ScheduleError::ZeroMaxUnavailable {
                value: count.to_string(),
            }),
        },
        IntOrString::String(text) => {
            let bad = || ScheduleError::BadMaxUnavailable { value: text.clone() };
            let digits = text.strip_suffix('%').ok_or_else(bad)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let percent: usize = digits.parse().map_err(|_| bad())?;
            match percent {
                0 => Err(ScheduleError::ZeroMaxUnavailable { value: text.clone() }),
                1..=100 => Ok((selected * percent / 100).max(selected.min(1))),
                _ => Err(bad()),
            }
        }
    }
}

/// What [`pick`] decides from. Sets, so names come out in order whatever order the caller found them in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PickInput {
    /// The nodes the schedule's selector picks.
    pub selected: BTreeSet<String>,
    /// Nodes that already had their maintenance in this window, successfully or not: each node gets at most
    /// one per window.
    pub done: BTreeSet<String>,
    /// Nodes unavailable now: under maintenance (by this schedule or anyone else) or NotReady. Those among
    /// `selected` count against the budget, excluded or not; the others are not this schedule's concern.
    pub busy: BTreeSet<String>,
    /// Nodes marked to be passed over.
    pub excluded: BTreeSet<String>,
    /// From [`budget`].
    pub budget: usize,
    /// Whether the window is open now: no node is started once it closes.
    pub window_open: bool,
}

/// The nodes to start maintaining now, in name order: selected nodes neither done, busy nor excluded, at most
/// as many as the budget leaves after the busy ones. Starting in name order makes the choice the same on
/// every reconcile, so a controller that restarts between two nodes picks up where it was.
pub fn pick(input: &PickInput) -> Vec<String> {
    if !input.window_open {
        return Vec::new();
    }
    let busy = input.selected.intersection(&input.busy).count();
    let free = input.budget.saturating_sub(busy);
    input
        .selected
        .iter()
        .filter(|node| !input.done.contains(*node) && !input.busy.contains(*node) && !input.excluded.contains(*node))
        .take(free)
        .cloned()
        .collect()
}
