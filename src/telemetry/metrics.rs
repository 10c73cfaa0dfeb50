//! Prometheus metrics (prometheus-client). Counters and the histogram are updated where things happen; the
//! gauges (maintenances by phase, nodes held, maintenances blocked by reason) are computed from the
//! controller's cache of NodeMaintenances at scrape time, so they can never drift from what `kubectl get nm`
//! shows.
use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::api::{
    names,
    v1alpha1::{NodeMaintenance, Phase},
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// One maintenance: bounded by the number of NodeMaintenances, which is small (one per node at most).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabel {
    pub name: String,
    pub node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub controller: String,
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabel {
    pub receiver: String,
    pub event: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabel {
    pub receiver: String,
    pub result: String,
}

/// How a notification ended, for `drydock_notifications_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyResult {
    Delivered,
    /// Refused for good, or every attempt failed.
    Failed,
    /// The receiver's queue was full.
    Dropped,
}

/// Which controller a reconcile metric is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    NodeMaintenance,
    MaintenanceSchedule,
}

impl Which {
    fn label(self) -> ControllerLabel {
        ControllerLabel {
            controller: match self {
                Which::NodeMaintenance => "nodemaintenance",
                Which::MaintenanceSchedule => "maintenanceschedule",
            }
            .into(),
        }
    }
}

/// Outcome of one eviction attempt, for `drydock_evictions_total{result}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionResult {
    Evicted,
    BlockedByPdb,
    Blocked,
    Error,
}

impl EvictionResult {
    fn label(self) -> &'static str {
        match self {
            EvictionResult::Evicted => "evicted",
            EvictionResult::BlockedByPdb => "blocked_by_pdb",
            EvictionResult::Blocked => "blocked_other",
            EvictionResult::Error => "error",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    maintenances: Family<PhaseLabel, Gauge>,
    nodes_held: Gauge,
    blocked: Family<ReasonLabel, Gauge>,
    evictions: Family<ResultLabel, Counter>,
    drain_seconds: Histogram,
    reconciles: Family<ControllerLabel, Counter>,
    reconcile_seconds: Family<ControllerLabel, Histogram>,
    reconcile_errors: Family<ErrorLabel, Counter>,
    /// Whether this process leads (1) or stands by (0).
    leader: Gauge,
    blocked_seconds: Family<ObjectLabel, Gauge>,
    timeout_seconds: Family<ObjectLabel, Gauge>,
    overdue_seconds: Family<ObjectLabel, Gauge>,
    /// NodeMaintenances that cannot be read (left alone, reported by an Event).
    unreadable: Gauge,
    health_gate_checks: Family<ResultLabel, Counter>,
    notifications: Family<NotifyLabel, Counter>,
    notification_attempts: Family<AttemptLabel, Counter>,
    notify_config_valid: Gauge,
    notify_receivers: Gauge,
    /// Serializes scrapes: the gauges are reset and refilled per scrape.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("drydock");
        let maintenances = Family::<PhaseLabel, Gauge>::default();
        registry.register("maintenances", "NodeMaintenances by phase", maintenances.clone());
        let nodes_held = Gauge::default();
        registry.register(
            "nodes_held",
            "Nodes drydock holds cordoned right now",
            nodes_held.clone(),
        );
        let blocked = Family::<ReasonLabel, Gauge>::default();
        registry.register(
            "maintenances_blocked",
            "Maintenances that cannot make progress right now, by reason (pdb, local_storage, unmanaged, do_not_disrupt, nowhere_to_go, keeps_coming_back, stuck_terminating, waiting_for_pods, webhook, eviction_refused, window, node_held)",
            blocked.clone(),
        );
        let evictions = Family::<ResultLabel, Counter>::default();
        registry.register("evictions", "Eviction attempts by result", evictions.clone());
        // From a few seconds (a handful of pods) to hours (a drain held by a PDB).
        let drain_seconds = Histogram::new([1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0]);
        registry.register(
            "drain_duration_seconds",
            "Time from cordon to drained",
            drain_seconds.clone(),
        );
        let reconciles = Family::<ControllerLabel, Counter>::default();
        registry.register("reconciles", "Reconciles run, by controller", reconciles.clone());
        // A reconcile is a few API calls: milliseconds, up to seconds when the API server is slow.
        let reconcile_seconds = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        });
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles take, by controller",
            reconcile_seconds.clone(),
        );
        let reconcile_errors = Family::<ErrorLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller and error category",
            reconcile_errors.clone(),
        );
        let leader = Gauge::default();
        registry.register("leader", "1 when this process is the leader", leader.clone());
        let blocked_seconds = Family::<ObjectLabel, Gauge>::default();
        registry.register(
            "maintenance_blocked_seconds",
            "How long a drain has been blocked without progress",
            blocked_seconds.clone(),
        );
        let timeout_seconds = Family::<ObjectLabel, Gauge>::default();
        registry.register(
            "maintenance_drain_timeout_seconds",
            "spec.drain.timeout of a maintenance that has one",
            timeout_seconds.clone(),
        );
        let overdue_seconds = Family::<ObjectLabel, Gauge>::default();
        registry.register(
            "maintenance_overdue_seconds",
            "How long a node has stayed held after its window closed (should be ~0: restore is immediate)",
            overdue_seconds.clone(),
        );
        let unreadable = Gauge::default();
        registry.register(
            "objects_unreadable",
            "NodeMaintenances drydock cannot read and leaves alone (each has a Warning Event Unreadable)",
            unreadable.clone(),
        );
        let health_gate_checks = Family::<ResultLabel, Counter>::default();
        registry.register(
            "health_gate_checks",
            "Health-gate verdicts drydock asked Prometheus for, by result (clear, firing, cannot_check)",
            health_gate_checks.clone(),
        );
        let notifications = Family::<NotifyLabel, Counter>::default();
        registry.register(
            "notifications",
            "Notifications by receiver, event and result (delivered, failed: refused or out of attempts, dropped: queue full)",
            notifications.clone(),
        );
        let notification_attempts = Family::<AttemptLabel, Counter>::default();
        registry.register(
            "notification_attempts",
            "HTTP attempts to deliver notifications, by receiver and result (2xx, 4xx, 5xx, other, timeout, error)",
            notification_attempts.clone(),
        );
        let notify_config_valid = Gauge::default();
        registry.register(
            "notify_config_valid",
            "1 when the receivers' Secret (--notify-secret) was read and is valid, 0 when it is missing or invalid",
            notify_config_valid.clone(),
        );
        let notify_receivers = Gauge::default();
        registry.register(
            "notify_receivers",
            "Notification receivers in use",
            notify_receivers.clone(),
        );
        Self {
            registry,
            unreadable,
            health_gate_checks,
            notifications,
            notification_attempts,
            notify_config_valid,
            notify_receivers,
            maintenances,
            nodes_held,
            blocked,
            evictions,
            drain_seconds,
            reconciles,
            reconcile_seconds,
            reconcile_errors,
            leader,
            blocked_seconds,
            timeout_seconds,
            overdue_seconds,
            scrape: Mutex::new(()),
        }
    }
}

impl Metrics {
    pub fn eviction(&self, result: EvictionResult) {
        self.evictions
            .get_or_create(&ResultLabel {
                result: result.label().into(),
            })
            .inc();
    }

    pub fn drained_after(&self, seconds: f64) {
        self.drain_seconds.observe(seconds.max(0.0));
    }

    /// A reconcile of `which` ran for `took` (failed or not).
    pub fn reconciled(&self, which: Which, took: std::time::Duration) {
        self.reconciles.get_or_create(&which.label()).inc();
        self.reconcile_seconds
            .get_or_create(&which.label())
            .observe(took.as_secs_f64());
    }

    pub fn reconcile_error(&self, which: Which, category: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabel {
                controller: which.label().controller,
                category: category.into(),
            })
            .inc();
    }

    /// One verdict over a node's (or a rollout's) health gates.
    pub fn health_gate_checked(&self, verdict: &crate::plan::gates::Verdict) {
        use crate::plan::gates::Verdict;
        let result = match verdict {
            Verdict::Clear => "clear",
            Verdict::Firing { .. } => "firing",
            Verdict::CannotCheck { .. } => "cannot_check",
        };
        self.health_gate_checks
            .get_or_create(&ResultLabel { result: result.into() })
            .inc();
    }

    pub fn notification(&self, receiver: &str, event: &str, result: NotifyResult) {
        let result = match result {
            NotifyResult::Delivered => "delivered",
            NotifyResult::Failed => "failed",
            NotifyResult::Dropped => "dropped",
        };
        self.notifications
            .get_or_create(&NotifyLabel {
                receiver: receiver.into(),
                event: event.into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn notification_attempt(&self, receiver: &str, result: &str) {
        self.notification_attempts
            .get_or_create(&AttemptLabel {
                receiver: receiver.into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn set_notify_config(&self, valid: bool, receivers: usize) {
        self.notify_config_valid.set(i64::from(valid));
        self.notify_receivers.set(i64::try_from(receivers).unwrap_or(i64::MAX));
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Renders the text exposition, with the gauges computed from `maintenances` as of `now`.
    pub fn render(&self, maintenances: &[Arc<NodeMaintenance>], unreadable: usize, now: jiff::Timestamp) -> String {
        let _guard = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.unreadable.set(i64::try_from(unreadable).unwrap_or(i64::MAX));
        self.maintenances.clear();
        self.blocked.clear();
        self.blocked_seconds.clear();
        self.timeout_seconds.clear();
        self.overdue_seconds.clear();
        for phase in ALL_PHASES {
            self.maintenances
                .get_or_create(&PhaseLabel {
                    phase: format!("{phase:?}"),
                })
                .set(0);
        }
        let mut held = 0;
        for nm in maintenances {
            let status = nm.status.clone().unwrap_or_default();
            self.maintenances
                .get_or_create(&PhaseLabel {
                    phase: format!("{:?}", status.phase),
                })
                .inc();
            if matches!(status.phase, Phase::Cordoned | Phase::Draining | Phase::Drained) {
                held += 1;
            }
            if let Some(reason) = blocked_reason(&status) {
                self.blocked.get_or_create(&ReasonLabel { reason: reason.into() }).inc();
            }
            let object = ObjectLabel {
                name: nm.metadata.name.clone().unwrap_or_default(),
                node: nm.spec.node_name.clone(),
            };
            if let (Phase::Draining, Some(since)) = (status.phase, &status.blocked_since) {
                self.blocked_seconds
                    .get_or_create(&object)
                    .set(now.duration_since(since.0).as_secs());
            }
            if let Some(timeout) = nm.spec.drain.timeout.as_deref()
                && let Ok(t) = crate::plan::window::parse_duration("drain.timeout", timeout)
            {
                self.timeout_seconds
                    .get_or_create(&object)
                    .set(i64::try_from(t.as_secs()).unwrap_or(i64::MAX));
            }
            let held = matches!(status.phase, Phase::Cordoned | Phase::Draining | Phase::Drained);
            if let (true, Some(end)) = (held, &status.window_end)
                && end.0 < now
            {
                self.overdue_seconds
                    .get_or_create(&object)
                    .set(now.duration_since(end.0).as_secs());
            }
        }
        self.nodes_held.set(held);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

const ALL_PHASES: [Phase; 7] = [
    Phase::Pending,
    Phase::Waiting,
    Phase::Cordoned,
    Phase::Draining,
    Phase::Drained,
    Phase::Completed,
    Phase::Failed,
];

/// Why a maintenance is stuck, as a metric label an alert can quote; None when it is progressing or done.
pub fn blocked_reason(status: &crate::api::v1alpha1::NodeMaintenanceStatus) -> Option<&'static str> {
    match status.phase {
        Phase::Waiting => return Some("window"),
        // Pending is also the phase of a maintenance drydock has not looked at yet (no status written): that one
        // is not held back by anything, and a health gate on this metric must not stop a rollout for it.
        Phase::Pending if status.observed_generation.is_none() => return None,
        Phase::Pending => return Some("node_held"),
        Phase::Draining => {}
        _ => return None,
    }
    let blocked = status
        .conditions
        .iter()
        .find(|c| c.type_ == names::BLOCKED && c.status == "True")?;
    Some(match blocked.reason.as_str() {
        names::BLOCKED_BY_PDB => "pdb",
        names::BLOCKED_BY_LOCAL_STORAGE => "local_storage",
        names::BLOCKED_BY_UNMANAGED => "unmanaged",
        names::BLOCKED_BY_DO_NOT_DISRUPT => "do_not_disrupt",
        names::BLOCKED_NOWHERE_TO_GO => "nowhere_to_go",
        names::BLOCKED_KEEPS_COMING_BACK => "keeps_coming_back",
        names::BLOCKED_STUCK_TERMINATING => "stuck_terminating",
        names::BLOCKED_WAITING_FOR_PODS => "waiting_for_pods",
        _ if blocked.message.contains("admission webhook") => "webhook",
        _ => "eviction_refused",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{NodeMaintenanceSpec, NodeMaintenanceStatus};

    fn nm(phase: Phase, blocked: Option<&str>) -> Arc<NodeMaintenance> {
        let mut status = NodeMaintenanceStatus {
            phase,
            ..Default::default()
        };
        if let Some(reason) = blocked {
            crate::plan::conditions::set(
                &mut status.conditions,
                crate::api::names::BLOCKED,
                true,
                reason,
                "x",
                jiff::Timestamp::UNIX_EPOCH,
                None,
            );
        }
        let mut o = NodeMaintenance::new("m", NodeMaintenanceSpec::default());
        o.status = Some(status);
        Arc::new(o)
    }

    #[test]
    fn gauges_follow_the_objects_and_counters_accumulate() {
        let m = Metrics::default();
        m.eviction(EvictionResult::Evicted);
        m.eviction(EvictionResult::Evicted);
        m.eviction(EvictionResult::BlockedByPdb);
        let text = m.render(
            &[
                nm(Phase::Draining, Some("PodDisruptionBudget")),
                nm(Phase::Drained, None),
                nm(Phase::Completed, None),
            ],
            1,
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert!(text.contains("drydock_objects_unreadable 1"), "{text}");
        assert!(text.contains("drydock_evictions_total{result=\"evicted\"} 2"), "{text}");
        assert!(text.contains("drydock_evictions_total{result=\"blocked_by_pdb\"} 1"));
        assert!(text.contains("drydock_maintenances{phase=\"Draining\"} 1"));
        assert!(
            text.contains("drydock_maintenances{phase=\"Failed\"} 0"),
            "every phase is reported, zero included"
        );
        assert!(text.contains("drydock_nodes_held 2"));
        assert!(text.contains("drydock_maintenances_blocked{reason=\"pdb\"} 1"));
        let later = m.render(&[nm(Phase::Completed, None)], 0, jiff::Timestamp::UNIX_EPOCH);
        assert!(
            !later.contains("reason=\"pdb\""),
            "a resolved block disappears: {later}"
        );
        assert!(later.contains("drydock_nodes_held 0"));
    }

    #[test]
    fn blocked_reasons_name_the_cause() {
        assert_eq!(
            blocked_reason(&nm(Phase::Waiting, None).status.clone().unwrap_or_default()),
            Some("window")
        );
        assert_eq!(
            blocked_reason(
                &nm(Phase::Draining, Some("LocalStorage"))
                    .status
                    .clone()
                    .unwrap_or_default()
            ),
            Some("local_storage")
        );
        assert_eq!(
            blocked_reason(&nm(Phase::Draining, None).status.clone().unwrap_or_default()),
            None
        );
        let seen_pending = NodeMaintenanceStatus {
            observed_generation: Some(1),
            ..Default::default()
        };
        assert_eq!(blocked_reason(&seen_pending), Some("node_held"));
        assert_eq!(
            blocked_reason(&NodeMaintenanceStatus::default()),
            None,
            "a maintenance not reconciled yet has the default phase, Pending, and waits for nothing"
        );
    }

    #[test]
    fn per_object_gauges_feed_the_alerts() {
        let m = Metrics::default();
        let t = |s: &str| -> jiff::Timestamp { s.parse().expect("ts") };
        let mut blocked = NodeMaintenance::new(
            "stuck",
            NodeMaintenanceSpec {
                node_name: "n1".into(),
                ..Default::default()
            },
        );
        blocked.spec.drain.timeout = Some("30m".into());
        blocked.status = Some(NodeMaintenanceStatus {
            phase: Phase::Draining,
            blocked_since: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(
                "2026-01-01T00:00:00Z",
            ))),
            ..Default::default()
        });
        let mut overdue = NodeMaintenance::new(
            "late",
            NodeMaintenanceSpec {
                node_name: "n2".into(),
                ..Default::default()
            },
        );
        overdue.status = Some(NodeMaintenanceStatus {
            phase: Phase::Drained,
            window_end: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(
                "2026-01-01T00:50:00Z",
            ))),
            ..Default::default()
        });
        let text = m.render(&[Arc::new(blocked), Arc::new(overdue)], 0, t("2026-01-01T01:00:00Z"));
        assert!(
            text.contains("drydock_maintenance_blocked_seconds{name=\"stuck\",node=\"n1\"} 3600"),
            "{text}"
        );
        assert!(text.contains("drydock_maintenance_drain_timeout_seconds{name=\"stuck\",node=\"n1\"} 1800"));
        assert!(text.contains("drydock_maintenance_overdue_seconds{name=\"late\",node=\"n2\"} 600"));
    }
}
