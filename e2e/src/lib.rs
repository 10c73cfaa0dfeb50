//! Test harness for drydock's end-to-end tests: connects to the real control plane started by
//! `e2e/cluster/up.sh` and gives each test its own namespace and its own kwok nodes, so tests run in parallel
//! and clean up after themselves (also when they panic).
//!
//! Isolation: every node a test makes carries the label and the NoSchedule taint `drydock.dev/e2e-env=<id>`;
//! the workloads a test makes tolerate that taint and select that label, so the scheduler never mixes tests.

pub mod addons;
pub mod audit;
pub mod controller;
pub mod person;
pub mod prometheus;
pub mod relay;
pub mod schedules;
pub mod workloads;

/// The controller's own Ready check, so tests and drydock agree on what Ready means.
pub use drydock::plan::node::is_ready;

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;

/// Label on every namespace and node a test environment makes; its value is the environment's id.
pub const ENV_LABEL: &str = "drydock.dev/e2e-env";
/// Annotation that tells kwok to simulate a kubelet for a node (see e2e/cluster/up.sh).
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// The taint the node-lifecycle controller puts on a node until it has been Ready for a moment.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

pub type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// Where the running test cluster's kubeconfig is: `$DRYDOCK_KUBECONFIG`, else `.cache/kubeconfig`.
pub fn kubeconfig_path() -> PathBuf {
    std::env::var_os("DRYDOCK_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/kubeconfig"))
}

/// The Kubernetes version of the running test cluster (e2e/cluster/up.sh records it), e.g. `v1.37.2`.
pub fn kubernetes_version() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/cluster/kubernetes-version");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): start the cluster with `make cluster-up`",
                path.display()
            )
        })
        .trim()
        .to_string()
}

/// The running cluster's minor version: 37 for v1.37.2.
pub fn kubernetes_minor() -> u32 {
    let version = kubernetes_version();
    version
        .strip_prefix("v1.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("a Kubernetes version like v1.37.2, not {version}"))
}

/// A kube client for the test cluster. `retry` false gives a client whose calls answer once, as the
/// operator's eviction client does, so a 429 reaches the caller instead of being retried for minutes.
pub async fn client(retry: bool) -> Client {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): start the cluster with `make cluster-up`",
            path.display()
        )
    });
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    config.default_retry = retry;
    Client::try_from(config).expect("client builds")
}

/// One test's private corner of the cluster: a namespace and any number of kwok nodes, removed on drop.
///
/// On drop it also checks the API server's audit log since the environment was made ([`audit`]): drydock broke
/// no safety promise, the log shows at least what the test declared with [`TestEnv::expect_audit`], and it
/// shows the environment itself (the policy probes of [`TestEnv::new`], every node made, a pod create if the
/// test made pods), so a log that was not read, or no longer records what the checks need, fails the test.
pub struct TestEnv {
    pub client: Client,
    /// Unique id; also the namespace's name.
    pub id: String,
    nodes: Vec<String>,
    audit: AuditState,
}

/// What the after-test audit check needs to know about the environment.
struct AuditState {
    /// Where the log stood when the environment was made: the checks read what came after.
    from: audit::Mark,
    /// Every node the environment made (its create must be in the log).
    made_nodes: Vec<String>,
    /// Whether the environment made pods (then a pod create must be in the log).
    made_pods: AtomicBool,
    expect: Mutex<Option<audit::Expect>>,
    /// The test judged the audit report itself ([`TestEnv::take_audit`]).
    taken: AtomicBool,
    /// drydock's user when it runs as another identity than config/rbac's ([`TestEnv::audit_controller_as`]).
    controller_user: Mutex<Option<String>>,
}

impl TestEnv {
    /// Creates the namespace `<prefix>-<random>` (lowercase, ≤ 40 chars).
    pub async fn new(prefix: &str) -> Self {
        let client = client(true).await;
        let from = audit::mark();
        let id = format!("{prefix}-{:06x}", rand_suffix());
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": id, "labels": {ENV_LABEL: id}}
        }))
        .expect("namespace json");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        // Pods need the namespace's default service account (the ServiceAccount admission plugin). Right after
        // kube-apiserver restarts (the chaos test) the controller-manager's watches may take half a minute to
        // come back: the limit allows for that.
        let sa = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), &id);
        wait_until(
            &format!("service account default in {id}"),
            Duration::from_secs(90),
            || async { sa.get_opt("default").await.ok().flatten().is_some() },
        )
        .await;
        probe_audit_policy(&client, &id).await;
        let env = Self {
            client,
            id,
            nodes: Vec::new(),
            audit: AuditState {
                from,
                made_nodes: Vec::new(),
                made_pods: AtomicBool::new(false),
                expect: Mutex::new(None),
                taken: AtomicBool::new(false),
                controller_user: Mutex::new(None),
            },
        };
        // Fail at the start, not only after the test, when the log no longer records what the checks need.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let gaps = env.probe_gaps(&env.audit());
            if gaps.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the API server's audit log cannot serve the safety checks of {}:\n{}",
                env.id,
                gaps.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        env
    }

    pub fn ns(&self) -> &str {
        &self.id
    }

    /// Makes a kwok node `<id>-<suffix>` and waits until kwok reports it Ready.
    pub async fn node(&mut self, suffix: &str) -> String {
        self.node_with(suffix, json!({})).await
    }

    /// Like [`TestEnv::node`], with extra fields merged into the Node's `metadata.labels` (`labels`) and
    /// `spec` (`spec`), e.g. `json!({"spec": {"unschedulable": true}})`.
    pub async fn node_with(&mut self, suffix: &str, extra: serde_json::Value) -> String {
        let name = format!("{}-{suffix}", self.id);
        let mut labels = json!({"kubernetes.io/hostname": name, "type": "kwok", ENV_LABEL: self.id});
        workloads::merge(&mut labels, extra.get("labels").cloned().unwrap_or(json!({})));
        let mut spec = json!({"taints": [{"key": ENV_LABEL, "value": self.id, "effect": "NoSchedule"}]});
        workloads::merge(&mut spec, extra.get("spec").cloned().unwrap_or(json!({})));
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels, "annotations": {KWOK_ANNOTATION: "fake"}},
            "spec": spec,
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1100"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1100"}
            }
        }))
        .expect("node json");
        let nodes = Api::<Node>::all(self.client.clone());
        nodes.create(&PostParams::default(), &node).await.expect("create node");
        self.nodes.push(name.clone());
        self.audit.made_nodes.push(name.clone());
        // Ready, and the node-lifecycle controller has lifted node.kubernetes.io/not-ready (a moment after Ready):
        // until then nothing can be scheduled there, and drydock rightly says a replacement has nowhere to go.
        wait_until(
            &format!("node {name} Ready and schedulable"),
            Duration::from_secs(60),
            || async {
                nodes.get_opt(&name).await.ok().flatten().is_some_and(|n| {
                    let not_ready = n
                        .spec
                        .as_ref()
                        .and_then(|s| s.taints.as_ref())
                        .is_some_and(|ts| ts.iter().any(|t| t.key == NOT_READY_TAINT));
                    is_ready(&n) && !not_ready
                })
            },
        )
        .await;
        name
    }

    /// A node whose kubelet reported Ready once and then died: kwok never acts for it, so it sends no heartbeat
    /// (the node-lifecycle controller marks it NotReady after its grace period) and no pod on it ever starts or
    /// ends. Returns at once, while the node still looks Ready.
    pub async fn node_without_kubelet(&mut self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.id);
        let now = jiff::Timestamp::now().to_string();
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "type": "kwok", ENV_LABEL: self.id}},
            "spec": {"taints": [{"key": ENV_LABEL, "value": self.id, "effect": "NoSchedule"}]},
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1100"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1100"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "lastHeartbeatTime": now, "lastTransitionTime": now}]
            }
        }))
        .expect("node json");
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        self.nodes.push(name.clone());
        self.audit.made_nodes.push(name.clone());
        name
    }

    /// The toleration and node selector that put a workload on this environment's nodes only.
    pub fn placement(&self) -> serde_json::Value {
        json!({
            "tolerations": [{"key": ENV_LABEL, "operator": "Equal", "value": self.id, "effect": "NoSchedule"}],
            "nodeSelector": {ENV_LABEL: self.id}
        })
    }

    /// Like [`TestEnv::placement`], pinned to one node by its hostname label.
    pub fn placement_on(&self, node: &str) -> serde_json::Value {
        let mut p = self.placement();
        p["nodeSelector"]["kubernetes.io/hostname"] = json!(node);
        p
    }

    pub async fn get_node(&self, name: &str) -> Node {
        Api::<Node>::all(self.client.clone()).get(name).await.expect("get node")
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Drop cannot be async, and the test's runtime may be shutting down: clean up on a runtime of our own.
        let (client_ns, id, nodes) = (self.client.clone(), self.id.clone(), std::mem::take(&mut self.nodes));
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                // A fresh client: the test's client is bound to the test's (possibly dead) runtime.
                let _ = client_ns;
                let client = client(true).await;
                controller::delete_nms(&client, &id).await;
                let node_api = Api::<Node>::all(client.clone());
                for n in nodes {
                    let _ = node_api.delete(&n, &DeleteParams::default()).await;
                }
                let _ = Api::<Namespace>::all(client)
                    .delete(&id, &DeleteParams::background())
                    .await;
            })
        });
        let _ = cleanup.join();
        // After the test (and its cleanup): did drydock keep its promises with this environment's pods and nodes,
        // and does the log show what the test made it do?
        if std::thread::panicking() || self.audit.taken.load(Ordering::Relaxed) {
            return;
        }
        // An event is written as its request completes: give the last ones a moment before calling them missing.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (report, gaps) = loop {
            let report = self.audit();
            let gaps = self.audit_gaps(&report);
            if gaps.is_empty() || std::time::Instant::now() > deadline {
                break (report, gaps);
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(
            report.violations.is_empty(),
            "drydock broke a safety promise in {} (from the API server's audit log):\n{}",
            self.id,
            report.violations.join("\n")
        );
        assert!(
            gaps.is_empty(),
            "the API server's audit log cannot vouch for {}:\n{}\n(counted: {} accepted evictions, {} pod \
             deletes, {} node writes by drydock; restored: {:?})",
            self.id,
            gaps.join("\n"),
            report.evictions,
            report.pod_deletes,
            report.node_writes,
            report.restored
        );
    }
}

impl TestEnv {
    /// Evictions by drydock the API server accepted, per pod of this namespace, since the environment was made.
    pub fn evictions_by_pod(&self) -> std::collections::BTreeMap<String, usize> {
        audit::evictions_by_pod(&self.audit_events(), &self.id, true)
    }

    /// Eviction requests by drydock, accepted or refused, per pod of this namespace.
    pub fn eviction_requests_by_pod(&self) -> std::collections::BTreeMap<String, usize> {
        audit::evictions_by_pod(&self.audit_events(), &self.id, false)
    }

    /// The audit events since this environment was made; panics, naming the cause, if the log cannot be read.
    fn audit_events(&self) -> Vec<serde_json::Value> {
        audit::events_since(&self.audit.from).unwrap_or_else(|e| panic!("{}: {e}", self.id))
    }

    /// Declares what the audit log must at least show of drydock's requests in this environment (lower bounds
    /// derived from what the test makes drydock do); checked after the test, with the safety promises. A later
    /// call replaces an earlier one. `audit::Expect::default()` says explicitly that drydock had nothing to do.
    pub fn expect_audit(&self, expect: audit::Expect) {
        *self.audit.expect.lock().unwrap_or_else(|p| p.into_inner()) = Some(expect);
    }

    /// Judges the requests of `user` as drydock's (the safety promises, [`TestEnv::expect_audit`]): for a test
    /// whose controller runs as another ServiceAccount than config/rbac's, such as the Helm chart's.
    pub fn audit_controller_as(&self, user: &str) {
        *self.audit.controller_user.lock().unwrap_or_else(|p| p.into_inner()) = Some(user.into());
    }

    /// Checks the audit log written since this environment was made against drydock's safety promises. Panics,
    /// naming the cause, if the log cannot be read.
    pub fn audit(&self) -> audit::Report {
        let user = self
            .audit
            .controller_user
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let scope = audit::Scope {
            namespaces: vec![self.id.clone()],
            node_prefix: format!("{}-", self.id),
            controller_user: user.unwrap_or_else(audit::controller_user),
        };
        audit::check(&self.audit_events(), &scope)
    }

    /// [`TestEnv::audit`] for a test that judges the report itself (one that breaks a rule on purpose): the
    /// environment will not check the audit log again when it is dropped.
    pub fn take_audit(&self) -> audit::Report {
        let report = self.audit();
        self.audit.taken.store(true, Ordering::Relaxed);
        report
    }

    /// What the log should show and does not: blind spots, the environment's own traces, the declared bounds.
    fn audit_gaps(&self, report: &audit::Report) -> Vec<String> {
        let mut gaps = report.blind_spots.clone();
        gaps.extend(self.probe_gaps(report));
        for n in &self.audit.made_nodes {
            if !report.nodes_created.contains(n) {
                gaps.push(format!("the create of node {n}, made by this test, is not in the log"));
            }
        }
        if self.audit.made_pods.load(Ordering::Relaxed) && report.pod_creates == 0 {
            gaps.push(format!(
                "this test made pods, and no pod create in {} is in the log",
                self.id
            ));
        }
        if let Some(expect) = &*self.audit.expect.lock().unwrap_or_else(|p| p.into_inner()) {
            gaps.extend(report.shortfalls(expect));
        }
        gaps
    }

    /// Which of the dry-run probes made by [`TestEnv::new`] the log does not show as the checks need them.
    fn probe_gaps(&self, report: &audit::Report) -> Vec<String> {
        let mut gaps = Vec::new();
        let probe = probe_node(&self.id);
        if !report.nodes_created.contains(&probe) {
            gaps.push(format!(
                "the probe node create of {probe} (made when the environment was) is not logged with its object: \
                 node bodies are not being logged, or the log read is not this test's"
            ));
        }
        if report.pod_deletecollections == 0 {
            gaps.push("the probe deletecollection of pods is not logged".into());
        }
        if !report.node_deletecollections.iter().any(|uri| uri.contains(&probe)) {
            gaps.push("the probe deletecollection of nodes is not logged".into());
        }
        gaps
    }

    /// Notes that the test made pods (the workload helpers call it).
    pub(crate) fn made_pods(&self) {
        self.audit.made_pods.store(true, Ordering::Relaxed);
    }
}

fn probe_node(env_id: &str) -> String {
    format!("{env_id}-audit-probe")
}

/// Dry runs (nothing changes) that the audit policy must log as the checks need them: a node create with the
/// node in the response, and a deletecollection of pods and of nodes. The after-test check looks for all three.
async fn probe_audit_policy(client: &Client, env_id: &str) {
    let name = probe_node(env_id);
    let node: Node =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {ENV_LABEL: env_id}}})).expect("node json");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    Api::<Node>::all(client.clone())
        .create(&dry, &node)
        .await
        .expect("dry-run create of the probe node");
    let dry = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    // Selectors that match nothing but the probe, and a dry run: these delete nothing.
    let only_probe = ListParams::default().labels(&format!("kubernetes.io/hostname={name}"));
    Api::<Pod>::namespaced(client.clone(), env_id)
        .delete_collection(&dry, &only_probe)
        .await
        .expect("dry-run deletecollection of pods");
    Api::<Node>::all(client.clone())
        .delete_collection(&dry, &only_probe)
        .await
        .expect("dry-run deletecollection of nodes");
}

/// Removes what crashed test runs left behind (namespaces and nodes carrying [`ENV_LABEL`]).
pub async fn delete_leftovers(client: &Client) -> Result<()> {
    let lp = ListParams::default().labels(ENV_LABEL);
    for n in Api::<Node>::all(client.clone()).list(&lp).await? {
        Api::<Node>::all(client.clone())
            .delete(&n.name_any(), &DeleteParams::default())
            .await?;
    }
    for ns in Api::<Namespace>::all(client.clone()).list(&lp).await? {
        Api::<Namespace>::all(client.clone())
            .delete(&ns.name_any(), &DeleteParams::default())
            .await?;
    }
    Ok(())
}

/// Polls `check` every 200 ms until it is true; panics naming `what` after `limit`. The limit is a liveness
/// bound (how long a healthy cluster could possibly need), not a performance assertion.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Like [`wait_until`], returning the value `check` produced.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per process; mixing in time and a counter gives distinct ids per call.
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() & 0xff_ffff) as u32
}
