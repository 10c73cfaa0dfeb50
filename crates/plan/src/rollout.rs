//! What a MaintenanceSchedule writes: the NodeMaintenance it starts for a node in a window, and its own status
//! with the Events that go with it. Pure: the controller reads, calls these, and writes the result.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube_core::{Resource, ResourceExt};

use crate::{
    conditions,
    fleet::FleetPlan,
    names,
    pacing::{self, Wait},
    schedule::{Occurrence, Schedule},
    status::Note,
};
use drydock_api::{
    names::{
        CLOSED, INVALID_SPEC, NODE_QUARANTINED, OPEN, OVERLAPPING_WINDOWS, ROLLOUT_BLOCKED, ROLLOUT_STOPPED,
        SCHEDULE_LABEL, VALID, WINDOW_LABEL, WINDOW_OPEN,
    },
    v1alpha1::{
        DrainTimeoutPolicy, MaintenanceSchedule, MaintenanceScheduleStatus, NodeMaintenance, NodeMaintenanceSpec,
        OnTimeout, RolloutWait, Window, WindowTimes,
    },
};

/// The NodeMaintenance `ms` starts for `node` in `window`: named after the window, so a restart never creates
/// a second one, owned by the schedule, and ending when the window closes.
pub fn maintenance(ms: &MaintenanceSchedule, window: &Occurrence, node: &str) -> NodeMaintenance {
    let t = &ms.spec.template;
    let name = names::scheduled_maintenance(&ms.name_any(), node, &window.id());
    let mut nm = NodeMaintenance::new(
        &name,
        NodeMaintenanceSpec {
            node_name: node.into(),
            reason: t
                .reason
                .clone()
                .or_else(|| Some(format!("MaintenanceSchedule {}", ms.name_any()))),
            window: Some(Window {
                start: Some(Time(window.start)),
                end: Some(Time(window.end)),
                duration: None,
            }),
            taints: t.taints.clone(),
            drain: drain(ms),
            complete_when: t.complete_when.clone(),
            task: t.task.clone(),
            // The schedule checks its gates before it creates the maintenance, and again before each node.
            health_gates: Vec::new(),
            allow_sole_control_plane: false,
        },
    );
    let mut labels = ms.labels().clone();
    // Label values stop at 63 characters; the owner reference is what ties them, the labels are for people.
    if ms.name_any().len() <= names::MAX_LABEL_VALUE {
        labels.insert(SCHEDULE_LABEL.into(), ms.name_any());
    }
    labels.insert(WINDOW_LABEL.into(), window.id());
    nm.metadata.labels = Some(labels);
    nm.metadata.owner_references = ms.controller_owner_ref(&()).map(|o| vec![o]);
    nm
}

/// The template's drain, with the onTimeout that rollout.onDrainTimeout needs: a node stays held for a person
/// when the rollout stops on it, and is given back when the rollout puts it aside.
fn drain(ms: &MaintenanceSchedule) -> drydock_api::v1alpha1::DrainSpec {
    let mut drain = ms.spec.template.drain.clone();
    match ms.spec.rollout.as_ref().and_then(|r| r.on_drain_timeout) {
        Some(DrainTimeoutPolicy::Stop) => drain.on_timeout = OnTimeout::Hold,
        Some(DrainTimeoutPolicy::Quarantine) => drain.on_timeout = OnTimeout::Abort,
        None => {}
    }
    drain
}

/// How a stopped rollout's status message begins.
const STOPPED_PREFIX: &str = "rollout stopped: ";

/// The schedule's status and Events, to be written (and published) only when the status changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub status: MaintenanceScheduleStatus,
    pub events: Vec<Note>,
}

/// What a usable schedule's status says: its windows, what the rollout did and waits for (`wait`, from
/// `pacing`), and whether its windows overlap (`refused`: why no window may open).
pub fn status(
    ms: &MaintenanceSchedule,
    sched: &Schedule,
    open: Option<Occurrence>,
    plan: &FleetPlan,
    wait: Option<&Wait>,
    refused: Option<&str>,
    now: Timestamp,
) -> Report {
    let old = ms.status.clone().unwrap_or_default();
    let generation = ms.metadata.generation;
    let stop = plan.stopped.as_ref().filter(|_| open.is_some()).map(|why| Wait {
        reason: pacing::STOPPED,
        subject: "rollout".into(),
        message: why.clone(),
        until: None,
    });
    let wait = stop.as_ref().or(wait.filter(|_| open.is_some() && refused.is_none()));
    let waiting = wait.map(|w| {
        let same = old
            .waiting
            .as_ref()
            .filter(|o| o.reason == w.reason && o.subject == w.subject);
        RolloutWait {
            reason: w.reason.into(),
            subject: w.subject.clone(),
            message: w.message.clone(),
            since: same.map_or(Time(now), |o| o.since.clone()),
        }
    });
    let mut quarantined: Vec<String> = plan.quarantined.iter().chain(&plan.quarantine).cloned().collect();
    quarantined.sort();
    quarantined.dedup();
    let mut new = MaintenanceScheduleStatus {
        last_window: open.map(|w| times(&w, sched)).or(old.last_window.clone()),
        next_window: sched.next_window(now).map(|w| times(&w, sched)),
        nodes: Some(plan.counts.clone()),
        excluded_nodes: plan.excluded.clone(),
        quarantined_nodes: quarantined,
        waiting: waiting.clone(),
        conditions: old.conditions.clone(),
        observed_generation: generation,
        message: None,
    };
    let counts = &plan.counts;
    let message = match (&open, ms.spec.suspend, refused, plan.stopped.as_deref()) {
        (_, _, Some(why), _) => format!("{why} ({} in progress)", counts.in_progress),
        (Some(_), _, None, Some(why)) => format!(
            "{STOPPED_PREFIX}{why}; no other node is started: delete that NodeMaintenance to go on ({} done, {} in \
             progress, {} remaining, {} failed)",
            counts.done, counts.in_progress, counts.remaining, counts.failed
        ),
        (_, true, None, _) => "suspended: no window starts".to_string(),
        (Some(w), false, None, None) => {
            let mut m = format!(
                "window open until {}: {} done, {} in progress, {} remaining, {} failed",
                w.end_in(sched.time_zone()),
                counts.done,
                counts.in_progress,
                counts.remaining,
                counts.failed
            );
            if !plan.quarantined.is_empty() || !plan.quarantine.is_empty() {
                m.push_str(&format!(", {} quarantined", new.quarantined_nodes.len()));
            }
            if let Some(w) = wait {
                m.push_str(&format!("; {}", w.message));
            }
            m
        }
        (None, false, None, _) => match sched.next_window(now) {
            Some(w) => format!("next window opens {}", w.start_in(sched.time_zone())),
            None => "no future window".into(),
        },
    };
    new.message = Some(message.clone());
    let was_refused = is_refused(&old.conditions, generation);
    let (valid, reason, why) = match refused {
        Some(why) => (false, OVERLAPPING_WINDOWS, why),
        None => (true, VALID, ""),
    };
    conditions::set(&mut new.conditions, VALID, valid, reason, why, now, generation);
    let (open_reason, is_open) = if open.is_some() { (OPEN, true) } else { (CLOSED, false) };
    conditions::set(
        &mut new.conditions,
        WINDOW_OPEN,
        is_open,
        open_reason,
        &message,
        now,
        generation,
    );
    let mut events = match refused {
        Some(why) if !was_refused => vec![warning(OVERLAPPING_WINDOWS, why)],
        _ => Vec::new(),
    };
    let was_stopped = old.message.as_deref().is_some_and(|m| m.starts_with(STOPPED_PREFIX));
    if message.starts_with(STOPPED_PREFIX) && !was_stopped {
        events.push(warning(ROLLOUT_STOPPED, &message));
    }
    // Once per blocker: a new gate, approval or limit, not every look at the same one.
    let new_blocker = wait
        .filter(|w| w.is_blocker() && w.reason != pacing::STOPPED)
        .filter(|w| {
            old.waiting
                .as_ref()
                .is_none_or(|o| o.reason != w.reason || o.subject != w.subject)
        });
    if let Some(w) = new_blocker {
        let approval = w.reason == pacing::APPROVAL || w.reason == pacing::WINDOW_LIMIT;
        events.push(Note {
            warning: !approval,
            reason: ROLLOUT_BLOCKED.into(),
            text: format!("{}: {}", w.reason, w.message),
            on_node: false,
        });
    }
    for node in &plan.quarantine {
        events.push(warning(
            NODE_QUARANTINED,
            &format!(
                "node {node} is put aside: its drain timed out, so it is given back as it was and labelled \
                 drydock.dev/quarantined; later windows pass it over until a person removes the label"
            ),
        ));
    }
    Report { status: new, events }
}

/// A schedule the API server accepted but drydock cannot use (e.g. a CRD older than this controller): status
/// and an Event say why; nothing is created.
pub fn invalid(ms: &MaintenanceSchedule, message: &str, now: Timestamp) -> Report {
    let mut status = ms.status.clone().unwrap_or_default();
    status.message = Some(message.into());
    let generation = ms.metadata.generation;
    conditions::set(
        &mut status.conditions,
        VALID,
        false,
        INVALID_SPEC,
        message,
        now,
        generation,
    );
    let changed = Some(&status) != ms.status.as_ref();
    Report {
        status,
        events: if changed {
            vec![warning(INVALID_SPEC, message)]
        } else {
            Vec::new()
        },
    }
}

fn times(w: &Occurrence, sched: &Schedule) -> WindowTimes {
    WindowTimes {
        start: Time(w.start),
        end: Time(w.end),
        start_local: w.start_in(sched.time_zone()).to_string(),
    }
}

/// Whether `conditions` already say this generation's windows overlap (so its Event was sent).
fn is_refused(conditions: &[Condition], generation: Option<i64>) -> bool {
    conditions.iter().any(|c| {
        c.type_ == VALID
            && c.status == "False"
            && c.reason == OVERLAPPING_WINDOWS
            && c.observed_generation == generation
    })
}

fn warning(reason: &str, text: &str) -> Note {
    Note {
        warning: true,
        reason: reason.into(),
        text: text.into(),
        on_node: false,
    }
}

#[cfg(test)]
mod tests {
    use drydock_api::v1alpha1::MaintenanceScheduleSpec;

    use super::*;
    use crate::fleet::FleetPlan;

    fn ms() -> MaintenanceSchedule {
        let mut ms = MaintenanceSchedule::new(
            "kernel",
            MaintenanceScheduleSpec {
                schedule: "0 3 * * *".into(),
                time_zone: "UTC".into(),
                duration: "2h".into(),
                ..Default::default()
            },
        );
        ms.metadata.generation = Some(1);
        ms
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_default()
    }

    fn gate_wait(subject: &str) -> Wait {
        Wait {
            reason: pacing::HEALTH_GATE,
            subject: subject.into(),
            message: format!("health gate {subject} holds back the rollout"),
            until: None,
        }
    }

    fn look(ms: &MaintenanceSchedule, wait: Option<&Wait>, now: Timestamp) -> Report {
        let sched = Schedule::parse("0 3 * * *", "UTC", "2h").expect("schedule");
        let open = sched.open_window(now);
        assert!(open.is_some(), "the window is open at {now}");
        status(ms, &sched, open, &FleetPlan::default(), wait, None, now)
    }

    #[test]
    fn a_blocker_is_said_once_and_keeps_its_since_while_it_lasts() {
        let mut ms = ms();
        let first = look(&ms, Some(&gate_wait("quiet")), at("2026-12-06T03:01:00Z"));
        let waiting = first.status.waiting.clone().expect("waiting");
        assert_eq!(
            (waiting.reason.as_str(), waiting.subject.as_str()),
            ("HealthGate", "quiet")
        );
        assert_eq!(first.events.iter().filter(|e| e.reason == ROLLOUT_BLOCKED).count(), 1);
        assert!(
            first
                .status
                .message
                .as_deref()
                .is_some_and(|m| m.ends_with("holds back the rollout")),
            "{:?}",
            first.status.message
        );
        ms.status = Some(first.status);
        let again = look(&ms, Some(&gate_wait("quiet")), at("2026-12-06T03:05:00Z"));
        assert!(again.events.is_empty(), "the same blocker is not said again");
        assert_eq!(again.status.waiting.map(|w| w.since), Some(waiting.since));
        let other = look(&ms, Some(&gate_wait("node-ok/n1")), at("2026-12-06T03:06:00Z"));
        assert_eq!(other.events.len(), 1, "a new blocker is");
    }

    #[test]
    fn soaking_is_shown_but_not_said() {
        let soak = Wait {
            reason: pacing::SOAK,
            subject: "n1".into(),
            message: "soaking until 03:20".into(),
            until: None,
        };
        let r = look(&ms(), Some(&soak), at("2026-12-06T03:10:00Z"));
        assert_eq!(r.status.waiting.map(|w| w.reason), Some("Soak".to_string()));
        assert!(r.events.is_empty());
    }

    #[test]
    fn a_stopped_rollout_waits_for_a_person_whatever_else_holds_it() {
        let plan = FleetPlan {
            stopped: Some("the drain of node n1 timed out".into()),
            ..Default::default()
        };
        let sched = Schedule::parse("0 3 * * *", "UTC", "2h").expect("schedule");
        let now = at("2026-12-06T03:10:00Z");
        let r = status(
            &ms(),
            &sched,
            sched.open_window(now),
            &plan,
            Some(&gate_wait("quiet")),
            None,
            now,
        );
        let waiting = r.status.waiting.expect("waiting");
        assert_eq!(waiting.reason, "Stopped");
        assert!(
            r.status
                .message
                .is_some_and(|m| m.starts_with("rollout stopped: the drain of node n1"))
        );
        assert_eq!(
            r.events.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(),
            vec![ROLLOUT_STOPPED],
            "said as a stop, not as a blocker"
        );
    }

    #[test]
    fn on_drain_timeout_sets_the_on_timeout_it_needs() {
        let mut ms = ms();
        ms.spec.template.drain.on_timeout = OnTimeout::Abort;
        ms.spec.rollout = Some(drydock_api::v1alpha1::RolloutPolicy {
            on_drain_timeout: Some(DrainTimeoutPolicy::Stop),
            ..Default::default()
        });
        assert_eq!(drain(&ms).on_timeout, OnTimeout::Hold, "held for a person");
        ms.spec.rollout = Some(drydock_api::v1alpha1::RolloutPolicy {
            on_drain_timeout: Some(DrainTimeoutPolicy::Quarantine),
            ..Default::default()
        });
        ms.spec.template.drain.on_timeout = OnTimeout::Hold;
        assert_eq!(drain(&ms).on_timeout, OnTimeout::Abort, "given back, then put aside");
        ms.spec.rollout = None;
        assert_eq!(drain(&ms).on_timeout, OnTimeout::Hold, "the template's own otherwise");
    }
}
