//! What a NodeMaintenance's status says after a reconcile, and which Events tell people: a pure function of the
//! old status, what was observed, the step taken and how it went, and one `now`. The controller writes the
//! result (only when it changed) and publishes the Events; it adds nothing of its own.
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{
    api::core::v1::Taint,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};

use crate::{
    conditions,
    node::{NodeChange, NodeView},
    notify::{self, Kind, Notice},
    phase::{Ending, still_blocked},
    pods::DrainPlan,
    task,
};
pub use lists::{MAX_LISTED_PODS, WAITING_REASON, blocker_kind};
use lists::{blocked_condition, counts, evicted_before, note, skipped};

use drydock_api::{
    names::*,
    v1alpha1::{NodeMaintenanceStatus, Phase, PodNote, TaskPhase, TaskStatus},
};

/// What the status is computed from besides the old status and the step's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    /// The NodeMaintenance's name, its node's, and its generation.
    pub name: &'a str,
    pub node_name: &'a str,
    pub generation: Option<i64>,
    /// The node as read at the start of the reconcile; None: it does not exist.
    pub node: Option<&'a NodeView>,
    /// When the window closes, as resolved from the spec (None: no end, or the spec is unusable).
    pub window_end: Option<Timestamp>,
    /// The task as seen now (`task::observe`); None: no task, or not started.
    pub task: Option<&'a TaskStatus>,
    /// spec.drain.timeout when spec.drain.onTimeout is Hold: past it, status and an Event say the drain timed
    /// out, and the node stays held. None: no timeout, or Abort (which ends the maintenance instead).
    pub hold_timeout: Option<Duration>,
}

/// The step carried out, and how it went.
#[derive(Clone, Debug)]
pub enum Outcome<'a> {
    /// Nothing done to the node: not started, or not yet.
    Waiting {
        phase: Phase,
        reason: &'a str,
        message: &'a str,
    },
    /// The node change was written.
    Held {
        change: &'a NodeChange,
    },
    /// A round of evictions ran: `done` pods left, `errors` for lastError, `refused` pods refused at their last
    /// attempt (a PodDisruptionBudget, a webhook) and still to go.
    Draining {
        plan: &'a DrainPlan,
        done: usize,
        errors: &'a [String],
        refused: Vec<PodNote>,
    },
    Drained {
        plan: &'a DrainPlan,
    },
    /// Drained, and the task was just started or is being waited for (`Seen::task` says how it stands).
    Task {
        plan: &'a DrainPlan,
    },
    /// The maintenance ended; `restored`: the node was given back by this reconcile; `stopped_task`: its task
    /// pod, not finished, was deleted.
    Ended {
        ending: &'a Ending,
        restored: bool,
        stopped_task: bool,
    },
}

/// An Event to publish on the NodeMaintenance (and its Node too, when `on_node`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: String,
    pub text: String,
    pub on_node: bool,
}

/// The status to write, the Events to publish and the notifications to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub status: NodeMaintenanceStatus,
    pub events: Vec<Note>,
    /// What the configured receivers hear (`crate::notify`): each transition once, beside its Event.
    pub notices: Vec<Notice>,
    /// From the start of the maintenance to the end of its drain, once, when the drain has just finished.
    pub drained_after: Option<SignedDuration>,
}

/// Whether `new` moves on from `old` only in the drain's progress: pod counts, pod lists, and the messages that
/// read them. Such a write may wait a moment (a drain of 1000 pods would otherwise write its status on most of
/// its reconciles); a change of phase, condition status or reason, timestamp or error may not.
pub fn progress_only(old: &NodeMaintenanceStatus, new: &NodeMaintenanceStatus) -> bool {
    let without_progress = |s: &NodeMaintenanceStatus| NodeMaintenanceStatus {
        message: None,
        pods: None,
        blocked_pods: Vec::new(),
        skipped_pods: Vec::new(),
        conditions: s
            .conditions
            .iter()
            .map(|c| Condition {
                message: String::new(),
                ..c.clone()
            })
            .collect(),
        ..s.clone()
    };
    without_progress(old) == without_progress(new)
}

/// The new status and Events after a reconcile that carried out `outcome`.
pub fn report(old: &NodeMaintenanceStatus, seen: &Seen, outcome: Outcome, now: Timestamp) -> Report {
    let mut r = Draft::new(old, seen.generation, now);
    r.new.window_end = seen.window_end.map(Time);
    let stopped = match &outcome {
        Outcome::Ended {
            ending,
            stopped_task: true,
            ..
        } => Some(ending.reason),
        _ => None,
    };
    // While drydock holds the node, status mirrors the node's own record of its prior state (and a start time),
    // so a status write lost at the moment of the cordon is made good by the next one.
    if let Some(v) = seen.node.filter(|v| v.held_by.as_deref() == Some(seen.name)) {
        if v.prior.is_some() {
            r.new.prior = v.prior.clone();
        }
        r.new.started_at.get_or_insert(Time(now));
    }
    match outcome {
        Outcome::Waiting { phase, reason, message } => r.waiting(phase, reason, message),
        Outcome::Held { change } => r.held(seen, change),
        Outcome::Draining {
            plan,
            done,
            errors,
            refused,
        } => r.draining(seen, plan, done, errors, refused),
        Outcome::Drained { plan } => r.drained(seen, plan),
        Outcome::Task { plan } => {
            r.drained(seen, plan);
            if let Some(t) = seen.task {
                r.awaiting_task(t);
            }
        }
        Outcome::Ended { ending, restored, .. } => r.ended(ending, restored),
    }
    if let Some(t) = seen.task {
        let mut t = t.clone();
        if let Some(reason) = stopped {
            t.phase = TaskPhase::Stopped;
            t.message = Some(format!("deleted by drydock before it finished ({reason})"));
            t.finished_at = Some(Time(now));
        }
        r.task(seen.node_name, t);
    }
    r.finish()
}

/// A reconcile failed and is retried after `delay`: status keeps its phase and says so, with the error.
pub fn retrying(
    old: &NodeMaintenanceStatus,
    generation: Option<i64>,
    reason: &str,
    error: &str,
    delay: Duration,
    now: Timestamp,
) -> Report {
    let mut r = Draft::new(old, generation, now);
    r.new.last_error = Some(error.into());
    r.new.message = Some(format!("retrying in {}s after an error: {error}", delay.as_secs()));
    r.event(true, reason, error, false);
    r.finish()
}

/// The status being written, beside the one it replaces.
struct Draft<'a> {
    old: &'a NodeMaintenanceStatus,
    new: NodeMaintenanceStatus,
    events: Vec<Note>,
    notices: Vec<Notice>,
    now: Timestamp,
}

impl<'a> Draft<'a> {
    fn new(old: &'a NodeMaintenanceStatus, generation: Option<i64>, now: Timestamp) -> Self {
        let mut new = old.clone();
        new.observed_generation = generation;
        Self {
            old,
            new,
            events: Vec::new(),
            notices: Vec::new(),
            now,
        }
    }

    fn finish(self) -> Report {
        let drained_after = match (&self.old.drained_at, &self.new.drained_at, &self.old.started_at) {
            (None, Some(_), Some(started)) => Some(self.now.duration_since(started.0)),
            _ => None,
        };
        Report {
            status: self.new,
            events: self.events,
            notices: self.notices,
            drained_after,
        }
    }

    fn waiting(&mut self, phase: Phase, reason: &str, message: &str) {
        self.new.phase = phase;
        self.new.message = Some(message.into());
        self.new.last_error = None;
        self.condition(CORDONED, false, reason, message);
        if self.old.phase != phase || self.old.message.as_deref() != Some(message) {
            self.event(false, reason, message, false);
        }
        // A health gate that holds the node back is a blocker: said once per gate, whatever its series do.
        if reason == HEALTH_GATE_BLOCKED {
            let gate = |m: &str| m.split(':').next().unwrap_or_default().to_string();
            let before = self
                .old
                .message
                .as_deref()
                .map(gate)
                .filter(|_| self.old.phase == phase);
            if before.as_deref() != Some(gate(message).as_str()) {
                let key = notify::hash(&[&gate(message)]);
                self.notice(Notice::new(Kind::Blocked, reason, message, key));
            }
        }
    }

    fn held(&mut self, seen: &Seen, change: &NodeChange) {
        let node = seen.node_name;
        let before = seen.node;
        let first = self.old.started_at.is_none();
        let recordon =
            !first && before.is_some_and(|b| !b.unschedulable || !b.has_taint(MAINTENANCE_TAINT, "NoSchedule"));
        self.new.prior = change.prior.clone();
        if first {
            self.new.phase = Phase::Cordoned;
            self.new.started_at = Some(Time(self.now));
            let message = format!(
                "node {node} tainted {MAINTENANCE_TAINT}={}:NoSchedule and cordoned",
                seen.name
            );
            self.new.message = Some(message.clone());
            self.condition(CORDONED, true, CORDONED_REASON, &message);
            self.event(false, CORDONED_REASON, &message, true);
            self.notice(Notice::new(Kind::Started, CORDONED_REASON, &message, String::new()));
        } else if recordon {
            let message = format!(
                "node {node} was uncordoned or lost drydock's taint while under maintenance: cordoned and tainted again"
            );
            self.event(true, RECORDONED, &message, true);
        } else if !out_of_service(before) && change.taints.iter().any(is_out_of_service) {
            let message = format!(
                "node {node} is NotReady with pods that cannot finish: tainted {OUT_OF_SERVICE_TAINT}=nodeshutdown:NoExecute \
                 (spec.drain.whenNodeNotReady: OutOfService), so Kubernetes deletes its pods by force and detaches \
                 their volumes"
            );
            self.new.message = Some(message.clone());
            self.event(true, OUT_OF_SERVICE, &message, true);
        } else if out_of_service(before) && !change.taints.iter().any(is_out_of_service) {
            let message = format!("node {node} is Ready again: the out-of-service taint drydock added is removed");
            self.event(false, BACK_IN_SERVICE, &message, true);
        } else {
            let message = format!("drain finished: NoExecute taints from spec.taints applied to node {node}");
            self.event(false, DEFERRED_TAINTS_APPLIED, &message, true);
        }
    }

    fn draining(&mut self, seen: &Seen, plan: &DrainPlan, done: usize, errors: &[String], refused: Vec<PodNote>) {
        let mut blocked: Vec<PodNote> = plan
            .refused
            .iter()
            .map(|(k, r)| note(&k.namespace, &k.name, r.reason()))
            .collect();
        let refused_by_server = refused.len();
        blocked.extend(refused);
        blocked.extend(plan.waiting.iter().map(|k| note(&k.namespace, &k.name, WAITING_REASON)));
        blocked.extend(
            plan.nowhere
                .iter()
                .chain(&plan.overdue)
                .map(|(k, why)| note(&k.namespace, &k.name, why)),
        );
        let old_left = self.old.pods.as_ref().map(|p| p.remaining + p.terminating);
        let progressed = done > 0 || old_left.is_some_and(|r| (plan.remaining() as i32) < r);
        // The drain.timeout clock runs while pods are blocked and nothing leaves; any progress restarts it.
        self.new.blocked_since = still_blocked(plan, refused_by_server, progressed)
            .then(|| self.old.blocked_since.clone().unwrap_or(Time(self.now)));
        self.new.phase = Phase::Draining;
        let evicted = evicted_before(self.old) + done as i32;
        self.new.pods = Some(counts(plan, evicted, blocked.len()));
        // Under onTimeout: Hold, a drain blocked past drain.timeout says so in its message; the message starting
        // so is how the next reconcile knows it was said.
        let timed_out = match (seen.hold_timeout, &self.new.blocked_since) {
            (Some(limit), Some(since)) => {
                let waited = self.now.duration_since(since.0);
                (!waited.is_negative() && waited.unsigned_abs() >= limit).then_some((limit, since.0))
            }
            _ => None,
        };
        let past = timed_out.map_or(String::new(), |(limit, _)| {
            format!(
                "{HELD_PAST_TIMEOUT} ({}s) and held (onTimeout: Hold); ",
                limit.as_secs()
            )
        });
        let message = match blocked.first() {
            None => format!("draining: {} pods still to leave", plan.remaining()),
            Some(first) => format!(
                "{past}drain blocked: {} of {} pods cannot leave now; first: {}/{}: {}",
                blocked.len(),
                plan.remaining(),
                first.namespace,
                first.name,
                first.reason
            ),
        };
        self.new.message = Some(message.clone());
        self.condition(DRAINED, false, DRAINING, &message);
        let (reason, text) = blocked_condition(&blocked);
        self.condition(BLOCKED, !blocked.is_empty(), reason, &text);
        self.new.blocked_pods = blocked.into_iter().take(MAX_LISTED_PODS).collect();
        self.new.skipped_pods = skipped(plan);
        self.new.last_error = errors.first().cloned();
        if self.old.phase != Phase::Draining {
            let note = format!("evicting {} pods from node {}", plan.remaining(), seen.node_name);
            self.event(false, DRAINING, &note, true);
        }
        if !self.new.blocked_pods.is_empty() && self.new.blocked_pods != self.old.blocked_pods {
            self.event(true, DRAIN_BLOCKED, &text, false);
        }
        if let Some(n) = notify::newly_blocked(&self.old.blocked_pods, &self.new.blocked_pods, &text) {
            self.notice(n);
        }
        let said = self
            .old
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with(HELD_PAST_TIMEOUT));
        if let (Some((_, since)), false, false) = (timed_out, said, self.new.blocked_pods.is_empty()) {
            let text = self.new.message.clone().unwrap_or_default();
            self.event(true, DRAIN_TIMEOUT, &text, false);
            let key = notify::hash(&[&since.to_string()]);
            self.notice(Notice::new(Kind::TimedOut, DRAIN_TIMEOUT, &text, key));
        }
    }

    fn drained(&mut self, seen: &Seen, plan: &DrainPlan) {
        let evicted = evicted_before(self.old);
        self.new.phase = Phase::Drained;
        self.new.pods = Some(counts(plan, evicted, 0));
        self.new.blocked_pods.clear();
        self.new.blocked_since = None;
        self.new.skipped_pods = skipped(plan);
        self.new.last_error = None;
        let until = match &self.new.window_end {
            Some(t) => format!("until the window closes at {}", t.0),
            None => "until this NodeMaintenance is deleted".into(),
        };
        let message = format!("node {} drained ({evicted} pods evicted); held {until}", seen.node_name);
        self.new.message = Some(message.clone());
        self.condition(DRAINED, true, DRAINED_REASON, &message);
        self.condition(BLOCKED, false, NOT_BLOCKED, "");
        if self.old.drained_at.is_none() {
            self.new.drained_at = Some(Time(self.now));
            // For completeWhen.rebooted: a different bootID later means the node restarted after the drain.
            self.new.boot_id_at_drain = seen.node.and_then(|n| n.boot_id.clone());
            self.event(false, DRAINED_REASON, &message, true);
            self.notice(Notice::new(Kind::Drained, DRAINED_REASON, &message, String::new()));
        }
    }

    /// The message while the node is held for the task.
    fn awaiting_task(&mut self, t: &TaskStatus) {
        let name = task::display(t);
        let message = match t.phase {
            TaskPhase::Pending | TaskPhase::Running => {
                format!("node drained; task {name} {}", task::summary(t))
            }
            TaskPhase::Succeeded => {
                format!("task {name} succeeded; waiting for spec.completeWhen before the node is restored")
            }
            TaskPhase::Failed | TaskPhase::Stopped => format!(
                "task {name} {}; node held for a person (task.onFailure: Hold): delete this NodeMaintenance to give \
                 it back",
                task::summary(t)
            ),
        };
        self.new.message = Some(message);
    }

    /// Records the task as seen, with an Event and the TaskSucceeded condition when its phase changes.
    fn task(&mut self, node: &str, t: TaskStatus) {
        let before = self.old.task.as_ref().map(|o| o.phase);
        let name = task::display(&t);
        let (status, reason) = match t.phase {
            TaskPhase::Pending => (false, TASK_PENDING),
            TaskPhase::Running => (false, TASK_RUNNING),
            TaskPhase::Succeeded => (true, TASK_SUCCEEDED),
            TaskPhase::Failed => (false, TASK_FAILED),
            TaskPhase::Stopped => (false, TASK_STOPPED),
        };
        let line = format!("task {name} {}", task::summary(&t));
        self.condition(TASK_SUCCEEDED, status, reason, &line);
        if before.is_none() {
            self.event(
                false,
                TASK_STARTED,
                &format!("task {name} started on node {node}"),
                true,
            );
        }
        if before != Some(t.phase) && t.phase.is_final() {
            self.event(t.phase != TaskPhase::Succeeded, reason, &line, true);
        }
        self.new.task = Some(t);
    }

    fn ended(&mut self, ending: &Ending, restored: bool) {
        let first = self.old.phase != ending.phase || self.old.completed_at.is_none();
        self.new.phase = ending.phase;
        self.new.message = Some(ending.message.clone());
        self.new.blocked_pods.clear();
        self.new.blocked_since = None;
        if first {
            self.new.completed_at = Some(Time(self.now));
        }
        if ending.phase == Phase::Failed {
            self.new.last_error = Some(ending.message.clone());
        }
        if restored || self.old.started_at.is_some() {
            self.condition(CORDONED, false, ending.reason, &ending.message);
        }
        self.condition(BLOCKED, false, NOT_BLOCKED, "");
        self.condition(COMPLETED, true, ending.reason, &ending.message);
        if first || restored {
            self.event(ending.phase == Phase::Failed, ending.reason, &ending.message, restored);
        }
        if first {
            let kind = notify::ending(ending.phase, ending.reason);
            self.notice(Notice::new(kind, ending.reason, &ending.message, String::new()));
        }
    }

    fn condition(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        let generation = self.new.observed_generation;
        conditions::set(
            &mut self.new.conditions,
            type_,
            status,
            reason,
            message,
            self.now,
            generation,
        );
    }

    fn notice(&mut self, notice: Notice) {
        self.notices.push(notice);
    }

    fn event(&mut self, warning: bool, reason: &str, text: &str, on_node: bool) {
        self.events.push(Note {
            warning,
            reason: reason.into(),
            text: text.into(),
            on_node,
        });
    }
}

/// How the message of a drain blocked past drain.timeout under onTimeout: Hold starts.
const HELD_PAST_TIMEOUT: &str = "drain blocked past drain.timeout";

fn is_out_of_service(t: &Taint) -> bool {
    t.key == OUT_OF_SERVICE_TAINT && t.effect == "NoExecute"
}

fn out_of_service(node: Option<&NodeView>) -> bool {
    node.is_some_and(|n| n.taints.iter().any(is_out_of_service))
}

mod lists;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::PodKey;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + s).expect("timestamp")
    }

    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "shop".into(),
            name: name.into(),
            uid: name.into(),
        }
    }

    fn seen() -> Seen<'static> {
        Seen {
            name: "kernel",
            node_name: "worker-1",
            generation: Some(1),
            node: None,
            window_end: None,
            task: None,
            hold_timeout: None,
        }
    }

    fn refused(name: &str) -> Vec<PodNote> {
        vec![note(
            "shop",
            name,
            "PDB shop/web allows 0 disruptions (needs 3 healthy pods and has 3)",
        )]
    }

    #[test]
    fn only_a_drain_moving_on_may_wait_to_be_written() {
        let plan = |n: usize| DrainPlan {
            evict: (0..n).map(|i| key(&format!("web-{i}"))).collect(),
            ..Default::default()
        };
        let draining = |old: &NodeMaintenanceStatus, plan: &DrainPlan, done, now| {
            let outcome = Outcome::Draining {
                plan,
                done,
                errors: &[],
                refused: Vec::new(),
            };
            report(old, &seen(), outcome, now).status
        };
        let start = NodeMaintenanceStatus {
            phase: Phase::Cordoned,
            ..Default::default()
        };
        let (p10, p7, p0) = (plan(10), plan(7), plan(0));
        let first = draining(&start, &p10, 0, at(0));
        assert!(
            !progress_only(&start, &first),
            "Cordoned -> Draining is written at once"
        );
        let later = draining(&first, &p7, 3, at(1));
        assert_ne!(later.pods, first.pods);
        assert!(
            progress_only(&first, &later),
            "3 more pods gone: counts and message only"
        );
        let mut errored = draining(&later, &p7, 0, at(2));
        errored.last_error = Some("eviction of shop/web-1 failed: 500".into());
        assert!(!progress_only(&later, &errored), "an error is written at once");
        let drained = report(&later, &seen(), Outcome::Drained { plan: &p0 }, at(3)).status;
        assert!(
            !progress_only(&later, &drained),
            "Draining -> Drained is written at once"
        );
        let blocked = {
            let outcome = Outcome::Draining {
                plan: &p7,
                done: 0,
                errors: &[],
                refused: refused("web-0"),
            };
            report(&later, &seen(), outcome, at(4)).status
        };
        assert!(
            !progress_only(&later, &blocked),
            "the Blocked condition turning True is written at once"
        );
    }

    #[test]
    fn a_drain_blocked_by_a_budget_says_which_pod_and_why_and_warns_once() {
        let plan = DrainPlan {
            evict: vec![key("web-0")],
            ..Default::default()
        };
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            ..Default::default()
        };
        let draining = |old: &NodeMaintenanceStatus, now| {
            let outcome = Outcome::Draining {
                plan: &plan,
                done: 0,
                errors: &[],
                refused: refused("web-0"),
            };
            report(old, &seen(), outcome, now)
        };
        let first = draining(&old, at(0));
        let s = &first.status;
        assert_eq!(s.blocked_pods, refused("web-0"));
        assert!(conditions::is_true(&s.conditions, BLOCKED));
        let blocked = s.conditions.iter().find(|c| c.type_ == BLOCKED).expect("Blocked");
        assert_eq!(blocked.reason, BLOCKED_BY_PDB);
        assert!(
            s.message
                .as_deref()
                .is_some_and(|m| m.starts_with("drain blocked: 1 of 1 pods"))
        );
        assert_eq!(s.blocked_since, Some(Time(at(0))), "the drain.timeout clock starts");
        let warned: Vec<_> = first.events.iter().filter(|e| e.reason == DRAIN_BLOCKED).collect();
        assert_eq!(warned.len(), 1);
        // The same blocker a minute later: the clock keeps its start, and nobody is told again.
        let later = draining(s, at(60));
        assert_eq!(later.status.blocked_since, Some(Time(at(0))));
        assert!(later.events.is_empty(), "{:?}", later.events);
    }

    #[test]
    fn any_progress_restarts_the_drain_timeout_clock() {
        let plan = DrainPlan {
            evict: vec![key("web-1")],
            ..Default::default()
        };
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            blocked_since: Some(Time(at(0))),
            ..Default::default()
        };
        let outcome = Outcome::Draining {
            plan: &plan,
            done: 1,
            errors: &[],
            refused: refused("web-1"),
        };
        let r = report(&old, &seen(), outcome, at(120));
        assert_eq!(r.status.blocked_since, None);
        assert_eq!(r.status.pods.as_ref().map(|p| p.evicted), Some(1));
    }

    #[test]
    fn the_drain_finishing_is_recorded_once_with_how_long_it_took() {
        let plan = DrainPlan::default();
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            started_at: Some(Time(at(0))),
            ..Default::default()
        };
        let first = report(&old, &seen(), Outcome::Drained { plan: &plan }, at(90));
        assert_eq!(first.status.drained_at, Some(Time(at(90))));
        assert_eq!(first.drained_after, Some(SignedDuration::from_secs(90)));
        assert_eq!(first.events.len(), 1);
        assert!(first.events[0].on_node);
        let again = report(&first.status, &seen(), Outcome::Drained { plan: &plan }, at(150));
        assert_eq!(again.status, first.status, "nothing to write: status is unchanged");
        assert_eq!((again.drained_after, again.events.len()), (None, 0));
    }

    #[test]
    fn a_task_is_reported_with_an_event_at_its_start_and_at_its_end() {
        use drydock_api::v1alpha1::TaskStatus;
        let plan = DrainPlan::default();
        let running = TaskStatus {
            pod_name: "kernel-task-1".into(),
            namespace: "drydock-tasks".into(),
            phase: TaskPhase::Running,
            started_at: Some(Time(at(0))),
            ..Default::default()
        };
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            started_at: Some(Time(at(-60))),
            ..Default::default()
        };
        let seen_with = |t| Seen {
            task: Some(t),
            ..seen()
        };
        let first = report(&old, &seen_with(&running), Outcome::Task { plan: &plan }, at(0));
        let s = &first.status;
        assert_eq!(s.phase, Phase::Drained);
        assert_eq!(s.task.as_ref(), Some(&running));
        assert_eq!(
            s.message.as_deref(),
            Some("node drained; task drydock-tasks/kernel-task-1 running")
        );
        let cond = s
            .conditions
            .iter()
            .find(|c| c.type_ == TASK_SUCCEEDED)
            .expect("TaskSucceeded");
        assert_eq!((cond.status.as_str(), cond.reason.as_str()), ("False", TASK_RUNNING));
        let reasons: Vec<_> = first.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, vec![DRAINED_REASON, TASK_STARTED]);
        let failed = TaskStatus {
            phase: TaskPhase::Failed,
            exit_code: Some(2),
            message: Some("dpkg: error".into()),
            finished_at: Some(Time(at(30))),
            ..running.clone()
        };
        let later = report(s, &seen_with(&failed), Outcome::Task { plan: &plan }, at(30));
        assert_eq!(
            later.status.message.as_deref(),
            Some(
                "task drydock-tasks/kernel-task-1 failed (exit 2): dpkg: error; node held for a person \
                 (task.onFailure: Hold): delete this NodeMaintenance to give it back"
            )
        );
        assert_eq!(later.events.len(), 1);
        assert!(later.events[0].warning && later.events[0].on_node);
        assert_eq!(later.events[0].reason, TASK_FAILED);
        let again = report(
            &later.status,
            &seen_with(&failed),
            Outcome::Task { plan: &plan },
            at(90),
        );
        assert!(again.events.is_empty(), "told once");
        // The window closes on a task still running: the record says drydock stopped it.
        let ending = Ending {
            phase: Phase::Completed,
            reason: WINDOW_CLOSED,
            message: "window closed: node restored".into(),
        };
        let outcome = Outcome::Ended {
            ending: &ending,
            restored: true,
            stopped_task: true,
        };
        let closed = report(s, &seen_with(&running), outcome, at(60));
        let t = closed.status.task.expect("task");
        assert_eq!(t.phase, TaskPhase::Stopped);
        assert_eq!(
            t.message.as_deref(),
            Some("deleted by drydock before it finished (WindowClosed)")
        );
        assert!(closed.events.iter().any(|e| e.reason == TASK_STOPPED));
    }

    #[test]
    fn a_retry_keeps_the_phase_and_says_when_and_why() {
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            ..Default::default()
        };
        let r = retrying(
            &old,
            Some(2),
            "PatchNodeFailed",
            "the API server is unreachable",
            Duration::from_secs(8),
            at(0),
        );
        assert_eq!(r.status.phase, Phase::Draining);
        assert_eq!(
            r.status.message.as_deref(),
            Some("retrying in 8s after an error: the API server is unreachable")
        );
        assert_eq!(r.status.observed_generation, Some(2));
        assert!(r.events[0].warning);
    }

    fn kinds(r: &Report) -> Vec<Kind> {
        r.notices.iter().map(|n| n.kind).collect()
    }

    #[test]
    fn a_health_gate_that_holds_the_node_is_notified_once_per_gate() {
        let wait = |message: &'static str| Outcome::Waiting {
            phase: Phase::Pending,
            reason: HEALTH_GATE_BLOCKED,
            message,
        };
        let first = report(
            &NodeMaintenanceStatus::default(),
            &seen(),
            wait("health gate quiet holds back node n1: its query returns series, e.g. {a=\"1\"}; ..."),
            at(0),
        );
        assert_eq!(kinds(&first), [Kind::Blocked]);
        // Other series, or Prometheus gone: the same gate, nothing new to tell.
        let again = report(
            &first.status,
            &seen(),
            wait("health gate quiet holds back node n1: cannot check it: connection refused"),
            at(10),
        );
        assert!(again.notices.is_empty(), "{:?}", again.notices);
        let other = report(
            &again.status,
            &seen(),
            wait("health gate disk holds back node n1: its query returns series, e.g. {}; ..."),
            at(20),
        );
        assert_eq!(kinds(&other), [Kind::Blocked]);
    }

    #[test]
    fn a_maintenance_notifies_started_drained_and_completed_once_each() {
        let change = NodeChange {
            taints: Vec::new(),
            unschedulable: true,
            held_by: Some("kernel".into()),
            prior: None,
            labels: Default::default(),
            annotations: Default::default(),
        };
        let started = report(
            &NodeMaintenanceStatus::default(),
            &seen(),
            Outcome::Held { change: &change },
            at(0),
        );
        assert_eq!(kinds(&started), [Kind::Started]);
        assert_eq!(started.notices[0].reason, CORDONED_REASON);
        assert_eq!(started.notices[0].key, "");
        let again = report(&started.status, &seen(), Outcome::Held { change: &change }, at(5));
        assert!(!kinds(&again).contains(&Kind::Started), "{:?}", again.notices);

        let plan = DrainPlan::default();
        let drained = report(&started.status, &seen(), Outcome::Drained { plan: &plan }, at(10));
        assert_eq!(kinds(&drained), [Kind::Drained]);
        assert!(
            kinds(&report(
                &drained.status,
                &seen(),
                Outcome::Drained { plan: &plan },
                at(20)
            ))
            .is_empty()
        );

        let ending = Ending {
            phase: Phase::Completed,
            reason: RESTORED,
            message: "node worker-1 restored".into(),
        };
        let ended = |old: &NodeMaintenanceStatus, now| {
            let outcome = Outcome::Ended {
                ending: &ending,
                restored: true,
                stopped_task: false,
            };
            report(old, &seen(), outcome, now)
        };
        let done = ended(&drained.status, at(30));
        assert_eq!(kinds(&done), [Kind::Completed]);
        assert_eq!(done.notices[0].message, "node worker-1 restored");
        assert!(
            kinds(&ended(&done.status, at(40))).is_empty(),
            "the ending is told once"
        );
    }

    #[test]
    fn an_abort_on_drain_timeout_notifies_timed_out_and_other_failures_failed() {
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            started_at: Some(Time(at(0))),
            ..Default::default()
        };
        for (reason, kind) in [(DRAIN_TIMEOUT, Kind::TimedOut), (NODE_REFUSED, Kind::Failed)] {
            let ending = Ending {
                phase: Phase::Failed,
                reason,
                message: "ended".into(),
            };
            let outcome = Outcome::Ended {
                ending: &ending,
                restored: true,
                stopped_task: false,
            };
            assert_eq!(kinds(&report(&old, &seen(), outcome, at(60))), [kind], "{reason}");
        }
    }

    #[test]
    fn a_blocked_drain_notifies_once_per_blocker_not_per_retry() {
        let plan = DrainPlan {
            evict: vec![key("web-0"), key("web-1")],
            ..Default::default()
        };
        let round = |old: &NodeMaintenanceStatus, refused: Vec<PodNote>, now| {
            let outcome = Outcome::Draining {
                plan: &plan,
                done: 0,
                errors: &[],
                refused,
            };
            report(old, &seen(), outcome, now)
        };
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            ..Default::default()
        };
        let first = round(&old, refused("web-0"), at(0));
        assert_eq!(kinds(&first), [Kind::Blocked]);
        // Retries with the same blocker, its words changing: the Event may repeat, the notification does not.
        let mut status = first.status.clone();
        for (i, healthy) in [2, 3, 2].into_iter().enumerate() {
            let words = format!("PDB shop/web allows 0 disruptions (needs 3 healthy pods and has {healthy})");
            let r = round(&status, vec![note("shop", "web-0", &words)], at(10 * (i as i64 + 1)));
            assert!(r.notices.is_empty(), "retry {i}: {:?}", r.notices);
            status = r.status;
        }
        // A second pod blocked: news.
        let mut two = refused("web-0");
        two.extend(refused("web-1"));
        let second = round(&status, two, at(60));
        assert_eq!(kinds(&second), [Kind::Blocked]);
        assert_ne!(second.notices[0].key, first.notices[0].key);
    }

    #[test]
    fn a_drain_held_past_its_timeout_notifies_timed_out_once() {
        let plan = DrainPlan {
            evict: vec![key("web-0")],
            ..Default::default()
        };
        let hold = Seen {
            hold_timeout: Some(Duration::from_secs(30)),
            ..seen()
        };
        let round = |old: &NodeMaintenanceStatus, now| {
            let outcome = Outcome::Draining {
                plan: &plan,
                done: 0,
                errors: &[],
                refused: refused("web-0"),
            };
            report(old, &hold, outcome, now)
        };
        let old = NodeMaintenanceStatus {
            phase: Phase::Draining,
            ..Default::default()
        };
        let blocked = round(&old, at(0));
        assert_eq!(kinds(&blocked), [Kind::Blocked]);
        let before = round(&blocked.status, at(29));
        assert!(before.notices.is_empty());
        let past = round(&before.status, at(31));
        assert_eq!(kinds(&past), [Kind::TimedOut]);
        assert_eq!(past.notices[0].reason, DRAIN_TIMEOUT);
        assert!(past.events.iter().any(|e| e.reason == DRAIN_TIMEOUT && e.warning));
        let message = past.status.message.clone().unwrap_or_default();
        assert!(
            message.starts_with(
                "drain blocked past drain.timeout (30s) and held (onTimeout: Hold); drain blocked: 1 of 1"
            ),
            "{message}"
        );
        let later = round(&past.status, at(90));
        assert!(
            later.notices.is_empty() && later.events.is_empty(),
            "{:?}",
            later.notices
        );
        assert_eq!(later.status.message, past.status.message);
    }
}
