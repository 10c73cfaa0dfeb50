//! `MaintenanceSchedule` (drydock.dev/v1alpha1): a recurring maintenance window over a pool of nodes. Like a
//! CronJob creating Jobs, it creates one NodeMaintenance per node while its window is open, never more at once
//! than maxUnavailable, the next only after one completes.
use k8s_openapi::apimachinery::pkg::{
    apis::meta::v1::{Condition, LabelSelector, Time},
    util::intstr::IntOrString,
};
use kube_derive::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{CompleteWhen, DrainSpec, MaintenanceTaint};

#[allow(clippy::duplicated_attributes)] // several printcolumn(...) attributes are how kube-derive takes columns
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "drydock.dev",
    version = "v1alpha1",
    kind = "MaintenanceSchedule",
    plural = "maintenanceschedules",
    shortname = "ms",
    category = "drydock",
    status = "MaintenanceScheduleStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A recurring maintenance window over a pool of nodes: while it is open, one NodeMaintenance per node, \
           at most maxUnavailable at once.",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Zone", type_ = "string", json_path = ".spec.timeZone", priority = 1),
    printcolumn(
        name = "Window",
        type_ = "string",
        json_path = ".status.lastWindow.startLocal",
        description = "the window open now, or the last one, in the schedule's zone: the counts are this window's"
    ),
    printcolumn(name = "Done", type_ = "integer", json_path = ".status.nodes.done"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.nodes.failed"),
    printcolumn(name = "Remaining", type_ = "integer", json_path = ".status.nodes.remaining"),
    printcolumn(
        name = "Waiting",
        type_ = "string",
        json_path = ".status.waiting.reason",
        description = "what the rollout waits for besides its budget: HealthGate, CannotCheck, Approval, Soak, WindowLimit, Stopped"
    ),
    printcolumn(name = "Next", type_ = "string", json_path = ".status.nextWindow.start"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Message", type_ = "string", json_path = ".status.message", priority = 1)
)]
#[x_kube(validation = Rule::new("!has(self.rollout) || !has(self.rollout.onDrainTimeout) || (has(self.template) && has(self.template.drain) && has(self.template.drain.timeout))").message("rollout.onDrainTimeout needs template.drain.timeout: say how long a drain may stay blocked, e.g. 30m"))]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceScheduleSpec {
    /// When windows open: a standard 5-field cron expression (minute hour day-of-month month day-of-week),
    /// e.g. `0 2 * * 0` for Sundays at 02:00.
    #[schemars(length(min = 6, max = 256))]
    #[x_kube(validation = Rule::new(CRON_RULE).message(CRON_MESSAGE))]
    pub schedule: String,
    /// IANA time zone of `schedule`, e.g. Europe/Berlin. Default UTC. Daylight-saving changes follow the zone.
    #[serde(default = "utc")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z][-+_A-Za-z0-9]*(/[A-Za-z0-9][-+_A-Za-z0-9]*)*$')").message("timeZone must be an IANA time zone name such as Europe/Berlin, America/New_York or UTC"))]
    pub time_zone: String,
    /// How long each window stays open, as a Go duration (`3h`). When it closes, no new node is started and
    /// the maintenances still open restore their nodes.
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("duration must be positive, e.g. 3h"))]
    pub duration: String,
    /// Which nodes the schedule maintains.
    #[x_kube(validation = Rule::new(super::maintenance::SELECTOR_RULE).message("nodeSelector: each matchExpressions entry needs operator In or NotIn with values, or Exists or DoesNotExist without values"))]
    pub node_selector: LabelSelector,
    /// How many selected nodes may be under maintenance at once: a count, or a percent of the selected nodes
    /// (rounded down, at least 1). Nodes under maintenance by anyone, or NotReady, count against it. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("type(self) == int ? self > 0 && self <= 2147483647 : self.matches('^[1-9][0-9]?%$|^100%$')").message("maxUnavailable must be a positive count (at most 2147483647) or a percent from 1% to 100%"))]
    pub max_unavailable: Option<IntOrString>,
    /// The NodeMaintenance each node gets.
    #[serde(default)]
    pub template: MaintenanceTemplate,
    /// Start no new window while true (windows already open go on).
    #[serde(default)]
    pub suspend: bool,
    /// How the rollout paces itself: health gates, approval, soak time, a node limit per window, and what a node
    /// whose drain times out does to the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::RolloutPolicy>,
}

/// spec.schedule's grammar, checked by the API server: the fields and values `plan::schedule` accepts (ASCII
/// whitespace between fields, as Go's `\s`), so a schedule with a value out of range or a stray character is
/// refused at apply. What a regex cannot see (a range that runs backwards, a date that never comes, like 30 FEB)
/// the controller reports in status. A CEL raw string (`r'...'`), so the backslashes reach the regex as written.
pub const CRON_RULE: &str = r#"self.matches(r'^\s*(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\*|(0*[1-5]?[0-9])(-(0*[1-5]?[0-9]))?)(/0*[1-9][0-9]*)?(,(\*|(0*[1-5]?[0-9])(-(0*[1-5]?[0-9]))?)(/0*[1-9][0-9]*)?)*\s+(\*|(0*(1?[0-9]|2[0-3]))(-(0*(1?[0-9]|2[0-3])))?)(/0*[1-9][0-9]*)?(,(\*|(0*(1?[0-9]|2[0-3]))(-(0*(1?[0-9]|2[0-3])))?)(/0*[1-9][0-9]*)?)*\s+((\*|\?)|(0*([1-9]|[12][0-9]|3[01]))(-(0*([1-9]|[12][0-9]|3[01])))?)(/0*[1-9][0-9]*)?(,((\*|\?)|(0*([1-9]|[12][0-9]|3[01]))(-(0*([1-9]|[12][0-9]|3[01])))?)(/0*[1-9][0-9]*)?)*\s+(\*|(0*([1-9]|1[0-2])|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0*([1-9]|1[0-2])|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/0*[1-9][0-9]*)?(,(\*|(0*([1-9]|1[0-2])|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0*([1-9]|1[0-2])|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/0*[1-9][0-9]*)?)*\s+((\*|\?)|(0*[0-7]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0*[0-7]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/0*[1-9][0-9]*)?(,((\*|\?)|(0*[0-7]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0*[0-7]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/0*[1-9][0-9]*)?)*)\s*$')"#;
const CRON_MESSAGE: &str = "schedule must be 5 cron fields (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or \
     JAN-DEC, day-of-week 0-7 or SUN-SAT; each *, a value, a range like 1-5, a step like */10 or a list like 1,3) \
     or one of @yearly @annually @monthly @weekly @daily @midnight @hourly";

fn utc() -> String {
    "UTC".into()
}

/// The NodeMaintenance fields a schedule stamps on each node's maintenance (the window comes from the schedule).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceTemplate {
    /// As NodeMaintenance spec.reason (the same limits: the template is copied into NodeMaintenances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// As NodeMaintenance spec.taints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(super::maintenance::UNIQUE_TAINTS_RULE).message(super::maintenance::UNIQUE_TAINTS_MESSAGE))]
    pub taints: Vec<MaintenanceTaint>,
    #[serde(default)]
    pub drain: DrainSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_when: Option<CompleteWhen>,
    /// As NodeMaintenance spec.task: run on each node once it is drained. The rollout stops at the first task
    /// that fails (status says which); delete that NodeMaintenance to go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<super::TaskSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceScheduleStatus {
    /// The window open now, or the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_window: Option<WindowTimes>,
    /// The next window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window: Option<WindowTimes>,
    /// Node counts for the current (or last) window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeCounts>,
    /// Nodes passed over (drydock.dev/exclude=true) in the current window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_nodes: Vec<String>,
    /// Nodes this schedule put aside after their drain timed out (label drydock.dev/quarantined): passed over
    /// until a person removes the label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined_nodes: Vec<String>,
    /// What the rollout waits for now besides its budget (a health gate, an approval, the soak time, the window's
    /// node limit, a stop), with what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<super::RolloutWait>,
    /// One line for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// WindowOpen, Suspended, Valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A window's bounds, in UTC and in the schedule's zone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowTimes {
    pub start: Time,
    pub end: Time,
    /// The start in the schedule's zone, e.g. 2026-12-06T02:00:00+01:00[Europe/Berlin].
    pub start_local: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCounts {
    /// Nodes the selector picks.
    pub selected: i32,
    /// Completed this window.
    pub done: i32,
    /// Under maintenance now: held by one of the schedule's NodeMaintenances (from this window or an earlier
    /// one), or started this window and not finished.
    pub in_progress: i32,
    /// Failed this window.
    pub failed: i32,
    /// Still to do this window.
    pub remaining: i32,
}
