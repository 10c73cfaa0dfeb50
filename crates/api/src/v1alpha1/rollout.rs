//! How a MaintenanceSchedule rolls through its pool: what must hold before a node is taken (health gates, an
//! approval), how fast it goes (soak time, a node limit per window), and what an undrainable node does to the
//! rest. Health gates also stand on a NodeMaintenance of its own.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::KubeSchema;
use serde::{Deserialize, Serialize};

/// A PromQL query that must return no series before a node is taken. Which Prometheus answers is the operator's
/// configuration (`drydock run --prometheus-url`), never a field: a maintainer cannot point drydock anywhere.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct HealthGate {
    /// A short name for status and Events, e.g. `no-critical-alerts`.
    #[schemars(length(min = 1, max = 63))]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// An instant PromQL query; any series it returns blocks. `{{node}}` is replaced with the node's name, which
    /// scopes the gate to that node (e.g. `ALERTS{alertstate="firing",node="{{node}}"}`): a firing series then
    /// holds back that node only. Without `{{node}}` the gate holds back every node.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
}

/// The text in a gate's query that stands for the node's name.
pub const NODE_PLACEHOLDER: &str = "{{node}}";

/// Who must approve before the rollout takes nodes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Approval {
    /// Each window, once: `drydock approve ms/NAME` (or the annotation drydock.dev/approved: <window id>).
    Window,
    /// Each node of each window: `drydock approve ms/NAME --node N` (or drydock.dev/approved: <window id>/<node>).
    Node,
}

/// What a rollout does with a node whose drain passes the template's drain.timeout.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum DrainTimeoutPolicy {
    /// Keep the node cordoned for a person (its drain goes on) and start no other node until that
    /// NodeMaintenance is deleted.
    #[default]
    Stop,
    /// Give the node back as it was (its maintenance ends Failed, DrainTimeout), label it drydock.dev/quarantined
    /// so later windows pass it over until a person removes the label, and go on with the rest.
    Quarantine,
}

/// Pacing and safety of a schedule's rollout. Every field is optional; an empty rollout goes as fast as the
/// budget allows.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(crates(kube_core = "::kube_core"))]
#[serde(rename_all = "camelCase")]
pub struct RolloutPolicy {
    /// Queries checked before each node is taken; all must return no series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(g, self.exists_one(h, h.name == g.name))").message("healthGates: each gate needs its own name"))]
    pub health_gates: Vec<HealthGate>,
    /// Wait for a person's approval of each window or of each node. Omitted: no approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// After a node's maintenance completes, wait this long before the next node starts (a Go duration, `10m`),
    /// so a problem shows before it spreads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("rollout.soak must be positive, e.g. 10m"))]
    pub soak: Option<String>,
    /// Start at most this many nodes in one window; the rest wait for the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_nodes_per_window: Option<i32>,
    /// What a node whose drain passes template.drain.timeout does to the rollout (needs that timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_drain_timeout: Option<DrainTimeoutPolicy>,
}

/// What a rollout waits for now, besides its budget.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutWait {
    /// HealthGate, CannotCheck, Approval, Soak, WindowLimit or Stopped.
    pub reason: String,
    /// What exactly: the gate, the window or the nodes awaiting approval, the node that stopped the rollout.
    pub subject: String,
    /// One line for humans, with what to do.
    pub message: String,
    /// Since when the rollout waits for this.
    pub since: Time,
}
