//! State-machine property tests of the pure planner (crates/plan), driven the way the controller drives it.
//!
//! A generated scenario is a node (cordoned or not, with other people's taints, labels and annotations), one or
//! two NodeMaintenances of it (windows, extra taints, drain options, completeWhen), pods, and a sequence of
//! events: reconciles (some failing with a 409 conflict, some losing their status write), pods appearing,
//! finishing and disappearing, evictions refused by a PodDisruptionBudget, other people cordoning, uncordoning,
//! tainting and labelling the node, the node rebooting, the clock jumping (also backwards), controller restarts
//! and deletions.
//!
//! Each reconcile does what `controller::reconcile_one` does: read the node ([`NodeView::of`] on a real Node
//! object, managedFields included), plan the drain ([`plan_drain`]) while the maintenance holds the node, ask
//! [`decide`], and carry the step out: node changes are written as the controller writes them (the JSON merge
//! patch of [`merge_patch`], applied to the Node object, with the field ownership of spec.unschedulable moving as
//! the API server moves it), evictions make pods terminating (or are refused), and status is updated as
//! `controller::report` updates it. After the events the scenario settles (evictions allowed, pods gone, then
//! the windows close or the objects are deleted) and the node is compared with what it would be had only the
//! other people acted.
//!
//! What is checked, at every step:
//! - the drain never evicts a DaemonSet or mirror pod, a terminating pod, a pod outside drain.podSelector or one
//!   it was told to wait for, and deletes only finished pods;
//! - a NoExecute taint is never added before the drain finished (the taint manager would evict past PDBs);
//! - drydock never uncordons a node someone else cordoned, nor one that was cordoned when it took it;
//! - a maintenance holding its node whose window has closed (or that is deleted, or ended) restores it now;
//! - a maintenance never takes a node another one holds, never lets go of its object while it holds the node,
//!   and never takes the node again once it ended;
//!
//! and at the end: every maintenance ended, the node is held by none, and it is exactly as the other people
//! left it (taints, labels, annotations, and cordoned exactly when they cordoned it or it was cordoned when
//! drydock took it).
//!
//! Failing cases are saved in proptest-regressions/planner_properties.txt and replayed first on every run.
mod common;

use std::collections::{BTreeMap, BTreeSet};

use drydock::{
    api::{
        names::{
            AUTOSCALER_SCALE_DOWN_DISABLED, DRAIN_ANNOTATION, DRAIN_ORDER_ANNOTATION, FIELD_MANAGER,
            HELD_BY_ANNOTATION, MAINTENANCE_TAINT, MEDIK8S_EXCLUDE_LABEL, PRIOR_STATE_ANNOTATION,
        },
        v1alpha1::{
            CompleteWhen, DrainSpec, MaintenanceTaint, NodeMaintenanceSpec, NodeMaintenanceStatus, OnTimeout, Phase,
            TaintEffect, Window,
        },
    },
    plan::{
        node::{NodeChange, NodeView, merge_patch},
        phase::{Observed, Quota, Step, decide},
        pods::{self, DrainInputs, DrainPlan, PodKey, plan_drain},
        retry::{Retries, Tried},
        spec::{self, Checked, SpecError},
        status::{self, Outcome},
        window::{self, WindowState},
    },
};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{
    api::core::v1::{Node, Pod, Taint},
    apimachinery::pkg::apis::meta::v1::{LabelSelector, Time},
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

/// Scenarios per property: each runs up to 80 events and a settle of up to 60 reconciles.
const CASES: u32 = 384;

fn config(cases: u32) -> ProptestConfig {
    common::config(
        cases,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/planner_properties.txt"
        ),
    )
}

const CREATED: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("timestamp")
}

// ---------------------------------------------------------------------------------------------------------------
// What is generated.

/// Taints, labels and annotations other people use. Disjoint from what drydock adds (its own taint, the spec's
/// extra taints, the medik8s label, the autoscaler annotation): a taint with the key and effect of one drydock
/// added is indistinguishable from it, so only the node's state before drydock may hold those.
const OTHER_TAINTS: [(&str, &str); 4] = [
    ("gpu", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ("example.com/flaky", "PreferNoSchedule"),
    ("dedicated", "NoExecute"),
];
const OTHER_LABELS: [&str; 3] = ["team", "example.com/pool", "topology.kubernetes.io/zone"];
const OTHER_ANNOTATIONS: [&str; 2] = ["owner", "example.com/ticket"];
/// The spec's extra taints are drawn from these.
const EXTRA_TAINTS: [(&str, TaintEffect); 3] = [
    ("example.com/kernel", TaintEffect::NoSchedule),
    ("example.com/evict", TaintEffect::NoExecute),
    ("example.com/soft", TaintEffect::PreferNoSchedule),
];
/// People (and tools) who cordon nodes.
const CORDONERS: [&str; 2] = ["kubectl-cordon", "oncall-script"];

fn effect_name(e: TaintEffect) -> &'static str {
    match e {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Mirror,
    Bare,
    EmptyDir,
}

#[derive(Clone, Debug)]
struct PodSpec {
    kind: Kind,
    finished: bool,
    /// drydock.dev/drain: wait-completed.
    wait: bool,
    order: Option<i64>,
    tier: &'static str,
}

#[derive(Clone, Debug)]
struct InitialNode {
    cordoned: bool,
    taints: Vec<(usize, String)>,
    /// The node already carries the spec's first extra taint (someone else's, with the same key and effect).
    has_extra: bool,
    labels: BTreeMap<String, String>,
    medik8s: bool,
    autoscaler: bool,
}

#[derive(Clone, Debug)]
enum WindowSpec {
    None,
    /// duration from creation, minutes
    Duration(i64),
    /// start offset from creation (minutes, may be negative), duration minutes
    StartDuration(i64, i64),
    /// start offset, end offset (minutes)
    StartEnd(i64, i64),
    /// a spec the CRD refuses but an older CRD may have let in
    Invalid,
}

#[derive(Clone, Debug)]
struct MaintenanceSpec {
    window: WindowSpec,
    extra: Vec<usize>,
    delete_empty_dir: bool,
    evict_unmanaged: bool,
    skip_wait: Option<i64>,
    timeout: Option<&'static str>,
    abort: bool,
    select_web: bool,
    wait_for_db: bool,
    rebooted: bool,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    /// The node write (or finalizer patch) fails with 409: the step has no effect.
    Conflict,
    /// The node write happens, the status write after it is lost.
    StatusLost,
}

#[derive(Clone, Debug)]
enum Event {
    Reconcile(usize, Fault),
    Clock(i64),
    PodAppears(PodSpec),
    PodGone(Index),
    PodFinishes(Index),
    TerminatingGone,
    PdbRefuses(bool),
    Cordon(usize),
    Uncordon,
    AddTaint(usize, String),
    /// Removes the taint with this key and effect: others', drydock's own, or the spec's extras.
    RemoveTaint(String, String),
    SetLabel(usize, String),
    RemoveLabel(String),
    SetAnnotation(usize, String),
    RemoveAnnotation(String),
    Reboot,
    Ready(bool),
    Restart,
    Delete(usize),
    /// Someone removes drydock's own node annotation (held-by, or prior-state). Generated only by
    /// `restore_survives_edits_of_drydock_s_own_annotations`.
    Tamper(&'static str),
}

#[derive(Clone, Debug)]
struct Scenario {
    node: InitialNode,
    maintenances: Vec<MaintenanceSpec>,
    pods: Vec<PodSpec>,
    exclude_remediation: bool,
    events: Vec<Event>,
    /// Settle by closing the windows (else by deleting the objects).
    close_windows: bool,
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        prop::sample::select(vec![
            Kind::ReplicaSet,
            Kind::ReplicaSet,
            Kind::ReplicaSet,
            Kind::StatefulSet,
            Kind::DaemonSet,
            Kind::Mirror,
            Kind::Bare,
            Kind::EmptyDir,
        ]),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.3, -2i64..3),
        prop::sample::select(vec!["web", "db"]),
    )
        .prop_map(|(kind, finished, wait, order, tier)| PodSpec {
            kind,
            finished,
            wait,
            order,
            tier,
        })
}

fn initial_node() -> impl Strategy<Value = InitialNode> {
    (
        prop::bool::weighted(0.3),
        prop::collection::vec((0..OTHER_TAINTS.len(), "[a-z]{0,3}"), 0..3),
        prop::bool::weighted(0.2),
        prop::collection::btree_map(
            prop::sample::select(OTHER_LABELS.to_vec()).prop_map(String::from),
            "[a-z]{1,3}",
            0..3,
        ),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(cordoned, taints, has_extra, labels, medik8s, autoscaler)| {
            let mut seen = BTreeSet::new();
            InitialNode {
                cordoned,
                taints: taints.into_iter().filter(|(i, _)| seen.insert(*i)).collect(),
                has_extra,
                labels,
                medik8s,
                autoscaler,
            }
        })
}

fn window_spec() -> impl Strategy<Value = WindowSpec> {
    prop_oneof![
        3 => Just(WindowSpec::None),
        3 => (1i64..240).prop_map(WindowSpec::Duration),
        3 => (-60i64..120, 1i64..240).prop_map(|(s, d)| WindowSpec::StartDuration(s, d)),
        2 => (-60i64..120, 1i64..240).prop_map(|(s, d)| WindowSpec::StartEnd(s, s + d)),
        1 => Just(WindowSpec::Invalid),
    ]
}

fn maintenance_spec() -> impl Strategy<Value = MaintenanceSpec> {
    (
        window_spec(),
        prop::collection::btree_set(0..EXTRA_TAINTS.len(), 0..3),
        (any::<bool>(), any::<bool>()),
        prop::option::weighted(0.3, prop::sample::select(vec![1i64, 60, 600])),
        prop::option::weighted(0.4, prop::sample::select(vec!["30s", "10m", "1h"])),
        any::<bool>(),
        (
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
        ),
    )
        .prop_map(
            |(
                window,
                extra,
                (delete_empty_dir, evict_unmanaged),
                skip_wait,
                timeout,
                abort,
                (select_web, wait_for_db, rebooted),
            )| {
                MaintenanceSpec {
                    window,
                    extra: extra.into_iter().collect(),
                    delete_empty_dir,
                    evict_unmanaged,
                    skip_wait,
                    timeout,
                    abort,
                    select_web,
                    wait_for_db,
                    rebooted,
                }
            },
        )
}

fn event(maintenances: usize, tamper: bool) -> impl Strategy<Value = Event> {
    let nm = 0..maintenances;
    // With tampering, no lost status writes: a status write lost at the first hold *and* drydock's node
    // annotations removed before the next write leave no record of the prior state anywhere (then drydock's own
    // taint still goes, and the node stays cordoned: the safe guess).
    let lost = if tamper { 0 } else { 1 };
    let fault = prop_oneof![8 => Just(Fault::None), 1 => Just(Fault::Conflict), lost => Just(Fault::StatusLost)];
    let any_taint = prop_oneof![
        (0..OTHER_TAINTS.len()).prop_map(|i| (OTHER_TAINTS[i].0.to_string(), OTHER_TAINTS[i].1.to_string())),
        (0..EXTRA_TAINTS.len()).prop_map(|i| (
            EXTRA_TAINTS[i].0.to_string(),
            effect_name(EXTRA_TAINTS[i].1).to_string()
        )),
        Just((MAINTENANCE_TAINT.to_string(), "NoSchedule".to_string())),
    ];
    prop_oneof![
        24 => (nm.clone(), fault).prop_map(|(i, f)| Event::Reconcile(i, f)),
        4 => prop_oneof![3 => 1i64..120, 2 => 120i64..4 * 3600, 1 => -600i64..0].prop_map(Event::Clock),
        3 => pod_spec().prop_map(Event::PodAppears),
        2 => any::<Index>().prop_map(Event::PodGone),
        1 => any::<Index>().prop_map(Event::PodFinishes),
        3 => Just(Event::TerminatingGone),
        2 => any::<bool>().prop_map(Event::PdbRefuses),
        1 => Just(Event::Reboot),
        1 => (0..CORDONERS.len()).prop_map(Event::Cordon),
        1 => Just(Event::Uncordon),
        1 => ((0..OTHER_TAINTS.len()), "[a-z]{0,3}").prop_map(|(i, v)| Event::AddTaint(i, v)),
        1 => any_taint.prop_map(|(k, e)| Event::RemoveTaint(k, e)),
        1 => ((0..OTHER_LABELS.len()), "[a-z]{1,3}").prop_map(|(i, v)| Event::SetLabel(i, v)),
        1 => prop::sample::select(vec![OTHER_LABELS[0], OTHER_LABELS[1], MEDIK8S_EXCLUDE_LABEL]).prop_map(|k| Event::RemoveLabel(k.into())),
        1 => ((0..OTHER_ANNOTATIONS.len()), "[a-z]{1,3}").prop_map(|(i, v)| Event::SetAnnotation(i, v)),
        1 => prop::sample::select(vec![OTHER_ANNOTATIONS[0], AUTOSCALER_SCALE_DOWN_DISABLED]).prop_map(|k| Event::RemoveAnnotation(k.into())),
        1 => Just(Event::Reboot),
        1 => any::<bool>().prop_map(Event::Ready),
        1 => Just(Event::Restart),
        1 => nm.prop_map(Event::Delete),
        1 => prop::sample::select(vec![HELD_BY_ANNOTATION, PRIOR_STATE_ANNOTATION])
            .prop_map(move |k| if tamper { Event::Tamper(k) } else { Event::Restart }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    scenario_with(false)
}

fn scenario_with(tamper: bool) -> impl Strategy<Value = Scenario> {
    (1usize..=2).prop_flat_map(move |n| {
        (
            initial_node(),
            prop::collection::vec(maintenance_spec(), n..=n),
            prop::collection::vec(pod_spec(), 0..6),
            any::<bool>(),
            prop::collection::vec(event(n, tamper), 0..80),
            any::<bool>(),
        )
            .prop_map(
                |(node, maintenances, pods, exclude_remediation, events, close_windows)| Scenario {
                    node,
                    maintenances,
                    pods,
                    exclude_remediation,
                    events,
                    close_windows,
                },
            )
    })
}

// ---------------------------------------------------------------------------------------------------------------
// The world the controller acts on.

#[derive(Clone, Debug)]
struct PodState {
    spec: PodSpec,
    uid: String,
    name: String,
    phase_finished: bool,
    deleted_at: Option<Timestamp>,
}

impl PodState {
    fn object(&self) -> Pod {
        let owner = |api: &str, kind: &str| json!([{"apiVersion": api, "kind": kind, "name": "owner", "uid": "o", "controller": true}]);
        let mut annotations = serde_json::Map::new();
        let owners = match self.spec.kind {
            Kind::ReplicaSet | Kind::EmptyDir => owner("apps/v1", "ReplicaSet"),
            Kind::StatefulSet => owner("apps/v1", "StatefulSet"),
            Kind::DaemonSet => owner("apps/v1", "DaemonSet"),
            Kind::Mirror => {
                annotations.insert("kubernetes.io/config.mirror".into(), json!("abc"));
                owner("v1", "Node")
            }
            Kind::Bare => json!([]),
        };
        if self.spec.wait {
            annotations.insert(DRAIN_ANNOTATION.into(), json!("wait-completed"));
        }
        if let Some(o) = self.spec.order {
            annotations.insert(DRAIN_ORDER_ANNOTATION.into(), json!(o.to_string()));
        }
        let volumes = if self.spec.kind == Kind::EmptyDir {
            json!([{"name": "scratch", "emptyDir": {}}])
        } else {
            json!([])
        };
        let mut pod = json!({
            "metadata": {
                "namespace": "app", "name": self.name, "uid": self.uid,
                "labels": {"tier": self.spec.tier},
                "annotations": annotations,
                "ownerReferences": owners,
            },
            "spec": {"containers": [{"name": "c"}], "volumes": volumes, "nodeName": "n1"},
            "status": {"phase": if self.phase_finished { "Succeeded" } else { "Running" }},
        });
        if let Some(t) = self.deleted_at {
            pod["metadata"]["deletionTimestamp"] = json!(t.to_string());
        }
        serde_json::from_value(pod).expect("pod")
    }
}

/// The node as only the other people would have left it.
#[derive(Clone, Debug, PartialEq)]
struct Shadow {
    unschedulable: bool,
    taints: Vec<Taint>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct Nm {
    name: String,
    spec: NodeMaintenanceSpec,
    status: NodeMaintenanceStatus,
    deleting: bool,
    has_finalizer: bool,
    gone: bool,
    /// The controller's per-pod retry memory of this maintenance's drain.
    retries: Retries,
}

struct World {
    node: Value,
    /// Managers owning spec.unschedulable (the API server's managedFields).
    cordon_owners: Vec<String>,
    shadow: Shadow,
    /// A maintenance took the node while it was cordoned (and nobody uncordoned it since drydock let go): drydock
    /// may keep that cordon after.
    sticky_cordon: bool,
    pods: Vec<PodState>,
    next_pod: usize,
    nms: Vec<Nm>,
    now: Timestamp,
    pdb_refuses: bool,
    exclude_remediation: bool,
    /// Also check that a NoExecute taint waits until no pod has to leave *now* (not only that the drain finished
    /// once): see `no_execute_waits_for_pods_that_arrived_after_the_drain`.
    strict_no_execute: bool,
    /// Step kinds seen, for the coverage check.
    seen: BTreeSet<&'static str>,
    /// Why maintenances ended (the Restore step's reason), for the coverage check.
    endings: BTreeSet<&'static str>,
    log: Vec<String>,
}

fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: value.map(String::from),
        effect: effect.into(),
        time_added: None,
    }
}

/// RFC 7386 JSON merge patch, as the API server applies `Patch::Merge`.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::AddFinalizer => "AddFinalizer",
        Step::Wait { .. } => "Wait",
        Step::Hold(_) => "Hold",
        Step::Drain => "Drain",
        Step::Drained { .. } => "Drained",
        Step::StartTask => "StartTask",
        Step::AwaitTask { .. } => "AwaitTask",
        Step::Restore { change: Some(_), .. } => "Restore(node)",
        Step::Restore { change: None, .. } => "Restore(none)",
        Step::ReleaseFinalizer => "ReleaseFinalizer",
        Step::Done => "Done",
    }
}

impl World {
    fn new(s: &Scenario) -> Self {
        let mut taints: Vec<Taint> = s
            .node
            .taints
            .iter()
            .map(|(i, v)| {
                taint(
                    OTHER_TAINTS[*i].0,
                    Some(v.as_str()).filter(|v| !v.is_empty()),
                    OTHER_TAINTS[*i].1,
                )
            })
            .collect();
        if s.node.has_extra
            && let Some(&first) = s.maintenances[0].extra.first()
        {
            taints.push(taint(
                EXTRA_TAINTS[first].0,
                Some("theirs"),
                effect_name(EXTRA_TAINTS[first].1),
            ));
        }
        let mut labels = s.node.labels.clone();
        if s.node.medik8s {
            labels.insert(MEDIK8S_EXCLUDE_LABEL.into(), "true".into());
        }
        let mut annotations = BTreeMap::from([("kwok.x-k8s.io/node".to_string(), "fake".to_string())]);
        if s.node.autoscaler {
            annotations.insert(AUTOSCALER_SCALE_DOWN_DISABLED.into(), "true".into());
        }
        let mut node = json!({
            "metadata": {"name": "n1", "resourceVersion": "1", "labels": labels, "annotations": annotations},
            "spec": {"taints": taints},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {
                    "bootID": "boot-0", "kernelVersion": "6.1.0", "osImage": "x", "kubeletVersion": "v1.33.0",
                    "containerRuntimeVersion": "containerd://2", "machineID": "m", "systemUUID": "s",
                    "architecture": "amd64", "operatingSystem": "linux", "kubeProxyVersion": ""
                }
            }
        });
        if s.node.cordoned {
            node["spec"]["unschedulable"] = json!(true);
        }
        let nms = s
            .maintenances
            .iter()
            .enumerate()
            .map(|(i, m)| Nm {
                name: format!("nm-{}", ["a", "b"][i]),
                spec: nm_spec(m),
                status: NodeMaintenanceStatus::default(),
                deleting: false,
                has_finalizer: false,
                gone: false,
                retries: Retries::default(),
            })
            .collect();
        let mut w = World {
            node,
            cordon_owners: if s.node.cordoned {
                vec![CORDONERS[0].to_string()]
            } else {
                vec![]
            },
            shadow: Shadow {
                unschedulable: s.node.cordoned,
                taints,
                labels,
                annotations,
            },
            sticky_cordon: false,
            pods: Vec::new(),
            next_pod: 0,
            nms,
            now: ts(CREATED),
            pdb_refuses: false,
            exclude_remediation: s.exclude_remediation,
            strict_no_execute: false,
            seen: BTreeSet::new(),
            endings: BTreeSet::new(),
            log: Vec::new(),
        };
        for p in &s.pods {
            w.add_pod(p.clone());
        }
        w
    }

    fn add_pod(&mut self, spec: PodSpec) {
        self.next_pod += 1;
        self.pods.push(PodState {
            phase_finished: spec.finished,
            spec,
            uid: format!("uid-{}", self.next_pod),
            name: format!("pod-{}", self.next_pod),
            deleted_at: None,
        });
    }

    /// The Node object as the API server would return it now.
    fn node_object(&self) -> Node {
        let mut node = self.node.clone();
        node["metadata"]["managedFields"] = json!(
            self.cordon_owners
                .iter()
                .map(
                    |m| json!({"manager": m, "operation": "Update", "fieldsType": "FieldsV1",
                                "fieldsV1": {"f:spec": {"f:unschedulable": {}}}})
                )
                .collect::<Vec<_>>()
        );
        serde_json::from_value(node).expect("node")
    }

    fn view(&self) -> NodeView {
        NodeView::of(&self.node_object())
    }

    fn unschedulable(&self) -> bool {
        self.node["spec"]["unschedulable"].as_bool().unwrap_or(false)
    }

    fn taints(&self) -> Vec<Taint> {
        serde_json::from_value(self.node["spec"]["taints"].clone()).unwrap_or_default()
    }

    fn set_taints(&mut self, taints: Vec<Taint>) {
        self.node["spec"]["taints"] = json!(taints);
    }

    fn bump(&mut self) {
        let rv: u64 = self.node["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        self.node["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
    }

    /// drydock's node write: the merge patch the controller sends, with spec.unschedulable's ownership moving as
    /// the API server moves it (to the writer that changed it; a field removed has no owner).
    fn write_node(&mut self, change: &NodeChange) {
        let before = self.unschedulable();
        let rv = self.node["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("1")
            .to_string();
        merge(&mut self.node, &merge_patch(change, &rv));
        match (before, self.unschedulable()) {
            (false, true) => self.cordon_owners = vec![FIELD_MANAGER.to_string()],
            (true, false) => self.cordon_owners.clear(),
            _ => {}
        }
        self.bump();
    }

    fn held_by(&self) -> Option<String> {
        self.node["metadata"]["annotations"][HELD_BY_ANNOTATION]
            .as_str()
            .map(String::from)
    }

    fn plan(&self, name: &str, spec: &NodeMaintenanceSpec) -> DrainPlan {
        let objects: Vec<Pod> = self.pods.iter().map(PodState::object).collect();
        let taints = pods::holding_taints(name, &spec.taints);
        let inputs = DrainInputs {
            holding_taints: &taints,
            node_ready: self.view().ready,
            ..DrainInputs::new(&spec.drain, self.now)
        };
        plan_drain(objects.iter(), inputs)
    }

    fn pod(&self, key: &PodKey) -> Option<&PodState> {
        self.pods.iter().find(|p| p.uid == key.uid)
    }

    // ----- the controller's reconcile -----

    fn reconcile(&mut self, i: usize, fault: Fault) -> Result<(), TestCaseError> {
        if self.nms[i].gone {
            return Ok(());
        }
        let nm = self.nms[i].clone();
        let view = self.view();
        let holds = view.held_by.as_deref() == Some(nm.name.as_str());
        let checked = spec::check(&nm.spec, ts(CREATED));
        let ended = matches!(nm.status.phase, Phase::Completed | Phase::Failed);
        let plan = (holds && !nm.deleting && !ended).then(|| self.plan(&nm.name, &nm.spec));
        let quota = Quota {
            limit: 1,
            held_elsewhere: self
                .nms
                .iter()
                .filter(|o| o.name != nm.name && !o.gone)
                .filter(|o| matches!(o.status.phase, Phase::Cordoned | Phase::Draining | Phase::Drained))
                .count(),
        };
        let pdb_blocked = plan.as_ref().map_or(0, |p| nm.retries.blocked(p).len());
        let step = decide(&Observed {
            name: &nm.name,
            spec: &nm.spec,
            status: &nm.status,
            now: self.now,
            deleting: nm.deleting,
            has_finalizer: nm.has_finalizer,
            checked: checked.clone(),
            node: Some(&view),
            drain: plan.as_ref(),
            task: None,
            pdb_blocked,
            exclude_remediation: self.exclude_remediation,
            quota,
            control_plane_peers: None,
        });
        self.seen.insert(step_name(&step));
        if let Step::Restore { ending, .. } = &step {
            self.endings.insert(ending.reason);
        }
        self.log.push(format!(
            "t+{}s {} ({:?}, holds={holds}, fault={fault:?}): {}",
            self.now.duration_since(ts(CREATED)).as_secs(),
            nm.name,
            nm.status.phase,
            step_name(&step)
        ));
        self.check_step(i, &nm, &view, holds, &checked, plan.as_ref(), &step)?;
        self.carry_out(i, &view, plan, step, fault);
        Ok(())
    }

    /// The promises, checked on the step decided.
    #[allow(clippy::too_many_arguments)]
    fn check_step(
        &self,
        _i: usize,
        nm: &Nm,
        view: &NodeView,
        holds: bool,
        checked: &Result<Checked, SpecError>,
        plan: Option<&DrainPlan>,
        step: &Step,
    ) -> Result<(), TestCaseError> {
        let log = || self.log.join("\n");
        // The drain: what would be evicted or deleted now.
        if let (Step::Drain, Some(plan)) = (step, plan) {
            for key in &plan.evict {
                let pod = self.pod(key).expect("planned pod exists");
                prop_assert!(
                    !matches!(pod.spec.kind, Kind::DaemonSet | Kind::Mirror),
                    "evicting a {:?} pod {}\n{}",
                    pod.spec.kind,
                    key,
                    log()
                );
                prop_assert!(pod.deleted_at.is_none(), "evicting terminating pod {}\n{}", key, log());
                prop_assert!(
                    !pod.phase_finished,
                    "evicting a finished pod {} (it is deleted)\n{}",
                    key,
                    log()
                );
                prop_assert!(
                    !pod.spec.wait,
                    "evicting {}, which the drain was told to wait for\n{}",
                    key,
                    log()
                );
                if nm.spec.drain.pod_selector.is_some() {
                    prop_assert_eq!(pod.spec.tier, "web", "evicting {} outside podSelector\n{}", key, log());
                }
                if nm.spec.drain.wait_for_pods.is_some() {
                    prop_assert_ne!(
                        pod.spec.tier,
                        "db",
                        "evicting {} matched by waitForPods\n{}",
                        key,
                        log()
                    );
                }
                if pod.spec.kind == Kind::Bare {
                    prop_assert!(
                        nm.spec.drain.evict_unmanaged_pods,
                        "evicting unmanaged {}\n{}",
                        key,
                        log()
                    );
                }
                if pod.spec.kind == Kind::EmptyDir {
                    prop_assert!(
                        nm.spec.drain.delete_empty_dir_data,
                        "evicting emptyDir {}\n{}",
                        key,
                        log()
                    );
                }
            }
            for key in &plan.delete {
                let pod = self.pod(key).expect("planned pod exists");
                prop_assert!(pod.phase_finished, "deleting running pod {}\n{}", key, log());
                prop_assert!(
                    !matches!(pod.spec.kind, Kind::DaemonSet | Kind::Mirror),
                    "deleting {}\n{}",
                    key,
                    log()
                );
            }
            prop_assert!(
                plan.refused.is_empty() || (plan.evict.is_empty() && plan.delete.is_empty()),
                "evicting while a pod is refused (the node would be half-emptied)\n{}",
                log()
            );
        }
        // Node writes.
        let change = match step {
            Step::Hold(c) => Some(c),
            Step::Restore { change, .. } => change.as_ref(),
            _ => None,
        };
        if let Some(change) = change {
            // Never uncordon a cordon that is not drydock's alone, or one that was there when drydock came.
            if view.unschedulable && !change.unschedulable {
                prop_assert!(
                    self.cordon_owners.iter().all(|o| o == FIELD_MANAGER),
                    "uncordoning a node cordoned by {:?}\n{}",
                    self.cordon_owners,
                    log()
                );
                prop_assert!(
                    !self.sticky_cordon,
                    "uncordoning a node that was cordoned before drydock took it\n{}",
                    log()
                );
            }
            // NoExecute only once drained.
            for t in &change.taints {
                let new = !view.has_taint(&t.key, &t.effect);
                if new && t.effect == "NoExecute" {
                    prop_assert!(
                        nm.status.drained_at.is_some(),
                        "NoExecute taint {} before the drain finished\n{}",
                        t.key,
                        log()
                    );
                    prop_assert!(
                        !self.strict_no_execute || plan.is_none_or(DrainPlan::is_drained),
                        "NoExecute taint {} while pods still have to leave\n{}",
                        t.key,
                        log()
                    );
                }
            }
            // Only drydock's own annotations and the node it holds.
            if matches!(step, Step::Hold(_)) {
                prop_assert!(
                    view.held_by.as_deref().is_none_or(|h| h == nm.name),
                    "{} takes the node held by {:?}\n{}",
                    nm.name,
                    view.held_by,
                    log()
                );
                prop_assert!(
                    !matches!(nm.status.phase, Phase::Completed | Phase::Failed),
                    "{} takes the node again after it ended\n{}",
                    nm.name,
                    log()
                );
            }
        }
        // Restore as soon as the window has closed (or the object is deleted, or the maintenance ended).
        if holds {
            let closed = checked
                .as_ref()
                .is_ok_and(|c| c.window.state(self.now) == WindowState::Closed);
            let ended = matches!(nm.status.phase, Phase::Completed | Phase::Failed);
            if closed || nm.deleting || ended || checked.is_err() {
                prop_assert!(
                    matches!(step, Step::Restore { change: Some(_), .. }),
                    "{} holds the node and must restore it now (closed={closed}, deleting={}, ended={ended}), but: {:?}\n{}",
                    nm.name,
                    nm.deleting,
                    step,
                    log()
                );
            }
            prop_assert!(
                !matches!(step, Step::ReleaseFinalizer | Step::Done),
                "{} lets go while holding the node\n{}",
                nm.name,
                log()
            );
        }
        if matches!(nm.status.phase, Phase::Completed | Phase::Failed) {
            prop_assert!(
                !matches!(step, Step::Hold(_) | Step::Drain | Step::Drained { .. }),
                "{} acts again after it ended: {:?}\n{}",
                nm.name,
                step,
                log()
            );
        }
        Ok(())
    }

    /// Carries `step` out as `controller::reconcile` does: the node written as the controller writes it,
    /// evictions through the controller's own retry memory ([`Retries`]), and the status it would write,
    /// computed by [`status::report`].
    fn carry_out(&mut self, i: usize, view: &NodeView, plan: Option<DrainPlan>, step: Step, fault: Fault) {
        let conflict = matches!(fault, Fault::Conflict);
        let write_status = !matches!(fault, Fault::StatusLost);
        // The drain memory goes back to the controller only while the drain is under way, whatever the outcome.
        if !matches!(step, Step::Drain | Step::Drained { .. } | Step::Hold(_)) {
            self.nms[i].retries = Retries::default();
        }
        let nm = self.nms[i].clone();
        let facts = status::Seen {
            name: &nm.name,
            node_name: &view.name,
            generation: None,
            node: Some(view),
            window_end: spec::check(&nm.spec, ts(CREATED)).ok().and_then(|c| c.window.end),
            task: None,
            hold_timeout: spec::check(&nm.spec, ts(CREATED))
                .ok()
                .and_then(|c| c.drain_timeout)
                .filter(|_| nm.spec.drain.on_timeout == OnTimeout::Hold),
        };
        let now = self.now;
        let report = match step {
            Step::AddFinalizer => {
                if !conflict {
                    self.nms[i].has_finalizer = true;
                }
                return;
            }
            Step::Wait {
                phase, reason, message, ..
            } => {
                let outcome = Outcome::Waiting {
                    phase,
                    reason,
                    message: &message,
                };
                status::report(&nm.status, &facts, outcome, now)
            }
            Step::Hold(change) => {
                if conflict {
                    return;
                }
                let recorded = nm.status.started_at.is_some() && nm.status.prior.is_some();
                if view.held_by.is_none() && !recorded {
                    // Taking the node: whether it is cordoned now is what drydock must give back. (Not when this
                    // maintenance already holds it and only drydock's annotations were removed: its status knows.)
                    self.sticky_cordon = view.unschedulable;
                }
                self.write_node(&change);
                status::report(&nm.status, &facts, Outcome::Held { change: &change }, now)
            }
            Step::Drain => {
                let plan = plan.unwrap_or_default();
                let mut retries = std::mem::take(&mut self.nms[i].retries);
                let due = retries.due(&plan, now);
                let mut done = 0;
                for key in due.delete {
                    self.pods.retain(|p| p.uid != key.uid);
                    retries.record(&plan, key, Tried::Evicted, now);
                    done += 1;
                }
                for key in due.evict {
                    if self.pdb_refuses {
                        let why = "PDB shop/web allows 0 disruptions (needs 1 healthy pods and has 1)";
                        retries.record(&plan, key, Tried::Refused(why.into()), now);
                        continue;
                    }
                    if let Some(p) = self.pods.iter_mut().find(|p| p.uid == key.uid) {
                        p.deleted_at = Some(now);
                    }
                    retries.record(&plan, key, Tried::Evicted, now);
                    done += 1;
                }
                let outcome = Outcome::Draining {
                    plan: &plan,
                    done,
                    errors: &[],
                    refused: retries.blocked(&plan),
                };
                self.nms[i].retries = retries;
                status::report(&nm.status, &facts, outcome, now)
            }
            Step::Drained { .. } => {
                let plan = plan.unwrap_or_default();
                status::report(&nm.status, &facts, Outcome::Drained { plan: &plan }, now)
            }
            // These scenarios carry no spec.task (tests of tasks: crates/plan/src/phase/tests.rs, e2e/tests/tasks.rs).
            Step::StartTask | Step::AwaitTask { .. } => panic!("a task step without spec.task: {step:?}"),
            Step::Restore { change, ending, .. } => {
                if let Some(change) = &change {
                    if conflict {
                        return;
                    }
                    self.write_node(change);
                    // Given back uncordoned: no cordon of before is left to keep.
                    self.sticky_cordon &= self.unschedulable();
                }
                let outcome = Outcome::Ended {
                    ending: &ending,
                    restored: change.is_some(),
                    stopped_task: false,
                };
                status::report(&nm.status, &facts, outcome, now)
            }
            Step::ReleaseFinalizer => {
                if !conflict {
                    self.nms[i].has_finalizer = false;
                    self.nms[i].gone = self.nms[i].deleting;
                }
                return;
            }
            Step::Done => {
                if self.nms[i].deleting && !self.nms[i].has_finalizer {
                    self.nms[i].gone = true;
                }
                return;
            }
        };
        if write_status {
            self.nms[i].status = report.status;
        }
    }

    // ----- everything else that happens -----

    fn apply(&mut self, e: &Event) -> Result<(), TestCaseError> {
        match e {
            Event::Reconcile(i, f) => return self.reconcile(*i, *f),
            Event::Clock(d) => self.now = self.now.checked_add(SignedDuration::from_secs(*d)).expect("ts"),
            Event::PodAppears(p) => self.add_pod(p.clone()),
            Event::PodGone(ix) => {
                if !self.pods.is_empty() {
                    let i = ix.index(self.pods.len());
                    self.pods.remove(i);
                }
            }
            Event::PodFinishes(ix) => {
                if !self.pods.is_empty() {
                    let i = ix.index(self.pods.len());
                    self.pods[i].phase_finished = true;
                }
            }
            Event::TerminatingGone => self.pods.retain(|p| p.deleted_at.is_none()),
            Event::PdbRefuses(b) => self.pdb_refuses = *b,
            Event::Cordon(who) => {
                let who = CORDONERS[*who].to_string();
                if self.unschedulable() {
                    // A re-applied cordon (server-side apply, or a patch): the writer co-owns the field.
                    if !self.cordon_owners.contains(&who) {
                        self.cordon_owners.push(who);
                    }
                } else {
                    self.node["spec"]["unschedulable"] = json!(true);
                    self.cordon_owners = vec![who];
                }
                self.shadow.unschedulable = true;
                self.bump();
            }
            Event::Uncordon => {
                if let Some(spec) = self.node["spec"].as_object_mut() {
                    spec.remove("unschedulable");
                }
                self.cordon_owners.clear();
                self.shadow.unschedulable = false;
                // Held (by the annotation, or by a maintenance whose status recorded the hold): the cordon that
                // was there before drydock came is still what drydock gives back.
                let recorded = self.nms.iter().any(|n| {
                    n.status.started_at.is_some()
                        && n.status.prior.is_some()
                        && !matches!(n.status.phase, Phase::Completed | Phase::Failed)
                });
                if self.held_by().is_none() && !recorded {
                    self.sticky_cordon = false;
                }
                self.bump();
            }
            Event::AddTaint(i, v) => {
                let (k, eff) = OTHER_TAINTS[*i];
                let t = taint(k, Some(v.as_str()).filter(|v| !v.is_empty()), eff);
                let mut taints = self.taints();
                if !taints.iter().any(|x| x.key == k && x.effect == eff) {
                    taints.push(t.clone());
                    self.set_taints(taints);
                    self.bump();
                }
                if !self.shadow.taints.iter().any(|x| x.key == k && x.effect == eff) {
                    self.shadow.taints.push(t);
                }
            }
            Event::RemoveTaint(k, eff) => {
                let mut taints = self.taints();
                taints.retain(|x| !(x.key == *k && x.effect == *eff));
                self.set_taints(taints);
                self.shadow.taints.retain(|x| !(x.key == *k && x.effect == *eff));
                self.bump();
            }
            Event::SetLabel(i, v) => {
                let k = OTHER_LABELS[*i];
                self.node["metadata"]["labels"][k] = json!(v);
                self.shadow.labels.insert(k.into(), v.clone());
                self.bump();
            }
            Event::RemoveLabel(k) => {
                if let Some(l) = self.node["metadata"]["labels"].as_object_mut() {
                    l.remove(k);
                }
                self.shadow.labels.remove(k);
                self.bump();
            }
            Event::SetAnnotation(i, v) => {
                let k = OTHER_ANNOTATIONS[*i];
                self.node["metadata"]["annotations"][k] = json!(v);
                self.shadow.annotations.insert(k.into(), v.clone());
                self.bump();
            }
            Event::RemoveAnnotation(k) => {
                if let Some(a) = self.node["metadata"]["annotations"].as_object_mut() {
                    a.remove(k);
                }
                self.shadow.annotations.remove(k);
                self.bump();
            }
            Event::Reboot => {
                let n: u64 = self.node["status"]["nodeInfo"]["bootID"]
                    .as_str()
                    .and_then(|b| b.trim_start_matches("boot-").parse().ok())
                    .unwrap_or(0);
                self.node["status"]["nodeInfo"]["bootID"] = json!(format!("boot-{}", n + 1));
            }
            Event::Ready(r) => {
                self.node["status"]["conditions"][0]["status"] = json!(if *r { "True" } else { "False" });
            }
            Event::Restart => {
                for nm in &mut self.nms {
                    nm.retries = Retries::default();
                }
            }
            Event::Tamper(key) => {
                if let Some(a) = self.node["metadata"]["annotations"].as_object_mut() {
                    a.remove(*key);
                }
                self.bump();
            }
            Event::Delete(i) => {
                let nm = &mut self.nms[*i];
                if !nm.gone {
                    nm.deleting = true;
                    if !nm.has_finalizer {
                        nm.gone = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// The end: evictions allowed, pods leave, windows close (or objects are deleted), and the controller
    /// reconciles until every maintenance has ended.
    fn settle(&mut self, close_windows: bool) -> Result<(), TestCaseError> {
        self.pdb_refuses = false;
        for round in 0..60 {
            for p in &mut self.pods {
                if p.spec.wait {
                    p.phase_finished = true;
                }
            }
            if round == 4 {
                for i in 0..self.nms.len() {
                    let end = spec::check(&self.nms[i].spec, ts(CREATED))
                        .ok()
                        .and_then(|c| c.window.end);
                    match end {
                        Some(end) if close_windows => self.now = self.now.max(end),
                        _ => self.apply(&Event::Delete(i))?,
                    }
                }
            }
            for i in 0..self.nms.len() {
                self.reconcile(i, Fault::None)?;
            }
            self.pods.retain(|p| p.deleted_at.is_none());
            self.now = self.now.checked_add(SignedDuration::from_secs(5)).expect("ts");
            let ended = |nm: &Nm| nm.gone || matches!(nm.status.phase, Phase::Completed | Phase::Failed);
            if round > 4 && self.nms.iter().all(ended) && self.held_by().is_none() {
                return Ok(());
            }
        }
        prop_assert!(
            false,
            "the maintenances did not end: {:?}, node held by {:?}\n{}",
            self.nms
                .iter()
                .map(|n| (&n.name, n.status.phase, n.gone))
                .collect::<Vec<_>>(),
            self.held_by(),
            self.log.join("\n")
        );
        Ok(())
    }

    /// The node as the other people left it, give or take a cordon that was there when drydock took it.
    fn check_restored(&self) -> Result<(), TestCaseError> {
        let log = || self.log.join("\n");
        let node = self.node_object();
        let annotations: BTreeMap<String, String> = node.metadata.annotations.clone().unwrap_or_default();
        let labels: BTreeMap<String, String> = node.metadata.labels.clone().unwrap_or_default();
        prop_assert!(!annotations.contains_key(HELD_BY_ANNOTATION), "still held\n{}", log());
        prop_assert!(
            !annotations.contains_key(PRIOR_STATE_ANNOTATION),
            "prior state left behind\n{}",
            log()
        );
        prop_assert_eq!(&self.taints(), &self.shadow.taints, "taints\n{}", log());
        prop_assert_eq!(&labels, &self.shadow.labels, "labels\n{}", log());
        prop_assert_eq!(&annotations, &self.shadow.annotations, "annotations\n{}", log());
        // Cordoned by the others (or before drydock, and nobody uncordoned it): stays cordoned. Cordoned by drydock
        // alone: uncordoned. Cordoned before drydock came and uncordoned by someone during the maintenance: either
        // (drydock keeps the prior cordon if it had to cordon again, and leaves the person's uncordon otherwise).
        let why = format!(
            "others cordoned: {}, cordoned when taken: {}, owners {:?}",
            self.shadow.unschedulable, self.sticky_cordon, self.cordon_owners
        );
        if self.shadow.unschedulable {
            prop_assert!(
                self.unschedulable(),
                "drydock uncordoned a node cordoned by someone else ({})\n{}",
                why,
                log()
            );
        } else if !self.sticky_cordon {
            prop_assert!(
                !self.unschedulable(),
                "drydock left its own cordon behind ({})\n{}",
                why,
                log()
            );
        }
        Ok(())
    }
}

fn nm_spec(m: &MaintenanceSpec) -> NodeMaintenanceSpec {
    let at = |minutes: i64| Some(Time(ts(CREATED + minutes * 60)));
    let window = match m.window {
        WindowSpec::None => None,
        WindowSpec::Duration(d) => Some(Window {
            duration: Some(format!("{d}m")),
            ..Default::default()
        }),
        WindowSpec::StartDuration(s, d) => Some(Window {
            start: at(s),
            duration: Some(format!("{d}m")),
            ..Default::default()
        }),
        WindowSpec::StartEnd(s, e) => Some(Window {
            start: at(s),
            end: at(e),
            ..Default::default()
        }),
        WindowSpec::Invalid => Some(Window {
            duration: Some("2x".into()),
            ..Default::default()
        }),
    };
    let select = |tier: &str| {
        Some(LabelSelector {
            match_labels: Some([("tier".to_string(), tier.to_string())].into()),
            ..Default::default()
        })
    };
    NodeMaintenanceSpec {
        task: None,
        health_gates: Vec::new(),
        node_name: "n1".into(),
        reason: Some("kernel".into()),
        window,
        taints: m
            .extra
            .iter()
            .map(|&i| MaintenanceTaint {
                key: EXTRA_TAINTS[i].0.into(),
                value: Some("drydock".into()),
                effect: EXTRA_TAINTS[i].1,
            })
            .collect(),
        drain: DrainSpec {
            pod_selector: if m.select_web { select("web") } else { None },
            grace_period_seconds: None,
            delete_empty_dir_data: m.delete_empty_dir,
            evict_unmanaged_pods: m.evict_unmanaged,
            timeout: m.timeout.map(String::from),
            on_timeout: if m.abort { OnTimeout::Abort } else { OnTimeout::Hold },
            wait_for_pods: if m.wait_for_db { select("db") } else { None },
            skip_wait_for_delete_seconds: m.skip_wait,
            ..Default::default()
        },
        complete_when: m.rebooted.then_some(CompleteWhen {
            rebooted: true,
            node_info: None,
        }),
        allow_sole_control_plane: false,
    }
}

fn run(s: &Scenario) -> Result<World, TestCaseError> {
    run_with(s, false)
}

fn run_with(s: &Scenario, strict_no_execute: bool) -> Result<World, TestCaseError> {
    let mut w = World::new(s);
    w.strict_no_execute = strict_no_execute;
    for e in &s.events {
        w.apply(e)?;
    }
    w.settle(s.close_windows)?;
    w.check_restored()?;
    Ok(w)
}

proptest! {
    #![proptest_config(config(CASES))]

    /// For any sequence of observations, every step keeps drydock's promises, and at the end every maintenance
    /// has ended and the node is exactly as the other people left it.
    #[test]
    fn the_planner_keeps_its_promises_under_any_interleaving(s in scenario()) {
        run(&s)?;
    }

    /// The drain plan on its own, for any pods and any drain options: every pod lands in exactly one place;
    /// DaemonSet and mirror pods are never evicted or deleted; only finished pods are deleted; nothing is evicted
    /// while a pod is refused; pods of a later drain-order group wait for the earlier group to be gone.
    #[test]
    fn drain_plans_never_touch_what_they_must_not(
        pod_specs in prop::collection::vec((pod_spec(), prop::option::weighted(0.2, 0i64..1200)), 0..12),
        m in maintenance_spec(),
        own in prop::option::of(any::<Index>()),
    ) {
        let now = ts(CREATED + 3600);
        let states: Vec<PodState> = pod_specs
            .iter()
            .enumerate()
            .map(|(i, (spec, deleted))| PodState {
                spec: spec.clone(),
                uid: format!("uid-{i}"),
                name: format!("pod-{i}"),
                phase_finished: spec.finished,
                deleted_at: deleted.map(|ago| ts(CREATED + 3600 - ago)),
            })
            .collect();
        let objects: Vec<Pod> = states.iter().map(PodState::object).collect();
        let spec = nm_spec(&m);
        let own_pod = own.filter(|_| !states.is_empty()).map(|ix| states[ix.index(states.len())].name.clone());
        let plan = plan_drain(
            objects.iter(),
            DrainInputs {
                own_pod: own_pod.as_deref().map(|n| ("app", n)),
                ..DrainInputs::new(&spec.drain, now)
            },
        );
        let mut placed: Vec<&PodKey> = plan
            .evict
            .iter()
            .chain(&plan.delete)
            .chain(plan.refused.iter().map(|(k, _)| k))
            .chain(plan.skipped.iter().map(|(k, _)| k))
            .chain(&plan.terminating)
            .chain(&plan.abandoned)
            .chain(&plan.held_back)
            .chain(&plan.waiting)
            .collect();
        placed.sort();
        let mut all: Vec<PodKey> = objects.iter().map(PodKey::of).collect();
        all.sort();
        prop_assert_eq!(placed.into_iter().cloned().collect::<Vec<_>>(), all, "every pod in exactly one place");
        let state = |k: &PodKey| states.iter().find(|p| p.uid == k.uid).expect("pod");
        for k in plan.evict.iter().chain(&plan.delete) {
            let p = state(k);
            prop_assert!(!matches!(p.spec.kind, Kind::DaemonSet | Kind::Mirror), "{:?} pod {} to go", p.spec.kind, k);
            prop_assert!(p.deleted_at.is_none(), "terminating pod {} to go again", k);
        }
        for k in &plan.delete {
            prop_assert!(state(k).phase_finished, "running pod {} deleted", k);
        }
        for k in &plan.evict {
            prop_assert!(!state(k).phase_finished, "finished pod {} evicted (it is deleted instead)", k);
        }
        for (k, _) in &plan.skipped {
            let p = state(k);
            let outside = spec.drain.pod_selector.is_some() && p.spec.tier != "web";
            prop_assert!(matches!(p.spec.kind, Kind::DaemonSet | Kind::Mirror) || outside, "{} skipped", k);
        }
        for p in &states {
            if matches!(p.spec.kind, Kind::DaemonSet | Kind::Mirror) {
                prop_assert!(plan.skipped.iter().any(|(k, _)| k.uid == p.uid), "{:?} pod {} not skipped", p.spec.kind, p.name);
            }
        }
        if !plan.refused.is_empty() {
            prop_assert!(plan.evict.is_empty() && plan.delete.is_empty(), "evicting while {:?} is refused", plan.refused);
        }
        let order = |k: &PodKey| objects.iter().find(|o| PodKey::of(o) == *k).map(pods::drain_order).expect("pod");
        if let Some(first) = plan.evict.iter().chain(&plan.terminating).map(order).min() {
            for k in &plan.evict {
                prop_assert_eq!(order(k), first, "{} evicted out of drain order", k);
            }
        }
        if let Some(own) = &own_pod
            && plan.evict.iter().chain(&plan.delete).any(|k| k.name == *own)
        {
            prop_assert_eq!(plan.remaining(), 1, "the controller's own pod goes only when it is the last");
        }
    }

    /// Window arithmetic for any window and any two instants: the state moves only forward in time
    /// (NotYetOpen, Open, Closed), an open window's close is its end, and a window that closed stays closed.
    #[test]
    fn windows_only_move_forward(w in window_spec(), a in -100_000i64..100_000, b in -100_000i64..100_000) {
        let spec = nm_spec(&MaintenanceSpec {
            window: w,
            extra: vec![],
            delete_empty_dir: false,
            evict_unmanaged: false,
            skip_wait: None,
            timeout: None,
            abort: false,
            select_web: false,
            wait_for_db: false,
            rebooted: false,
        });
        let Ok(r) = window::resolve(spec.window.as_ref(), ts(CREATED)) else { return Ok(()) };
        let rank = |s: WindowState| match s {
            WindowState::NotYetOpen { .. } => 0,
            WindowState::Open { .. } => 1,
            WindowState::Closed => 2,
        };
        let (early, late) = (ts(CREATED + a.min(b)), ts(CREATED + a.max(b)));
        prop_assert!(rank(r.state(early)) <= rank(r.state(late)));
        if let WindowState::Open { closes } = r.state(early) {
            prop_assert_eq!(closes, r.end);
        }
        if let Some(end) = r.end {
            prop_assert_eq!(r.state(late) == WindowState::Closed, late >= end || end <= r.start);
        }
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    /// The stronger NoExecute promise: never while a pod still has to leave the node *now*. Today a pod that
    /// arrives after the drain finished (bound by spec.nodeName, or tolerating drydock's NoSchedule taint but
    /// not the NoExecute one) is deleted by the taint manager past its PDB: phase::open wants the NoExecute
    /// taints as soon as status.drainedAt is set. Reported; run with `-- --ignored`.
    #[test]
    fn no_execute_waits_for_pods_that_arrived_after_the_drain(s in scenario()) {
        run_with(&s, true)?;
    }

    /// Someone removes drydock's own node annotations (held-by or prior-state) while it holds the node: the
    /// node must still be given back as it was. Today the next hold records the node as it is then (cordoned,
    /// tainted by drydock) as its prior state, so drydock's taint and cordon stay after the restore. Reported;
    /// run with `-- --ignored`.
    #[test]
    fn restore_survives_edits_of_drydock_s_own_annotations(s in scenario_with(true)) {
        run(&s)?;
    }
}

/// The generator reaches every step the planner can take, so the properties above are not vacuous.
#[test]
fn scenarios_reach_every_step() {
    use proptest::strategy::ValueTree;
    // Always the fixed seed: this checks the generator, whatever PROPTEST_RNG_SEED says.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(common::SEED),
        ..config(CASES)
    });
    let mut seen = BTreeSet::new();
    let mut endings = BTreeSet::new();
    let mut restored_cordoned = 0;
    for _ in 0..300 {
        let s = scenario().new_tree(&mut runner).expect("scenario").current();
        let w = run(&s).unwrap_or_else(|e| panic!("{e}"));
        seen.extend(w.seen.iter().copied());
        endings.extend(w.endings.iter().copied());
        restored_cordoned += usize::from(w.sticky_cordon || w.shadow.unschedulable);
    }
    for step in [
        "AddFinalizer",
        "Wait",
        "Hold",
        "Drain",
        "Drained",
        "Restore(node)",
        "Restore(none)",
        "ReleaseFinalizer",
        "Done",
    ] {
        assert!(seen.contains(step), "no scenario reached {step}: {seen:?}");
    }
    for reason in ["Restored", "WindowClosed", "InvalidSpec", "DrainTimeout", "WorkDone"] {
        assert!(endings.contains(reason), "no scenario ended with {reason}: {endings:?}");
    }
    assert!(
        restored_cordoned > 10,
        "too few scenarios end with a node left cordoned"
    );
}
