//! Runs the real drydock binary against the test cluster, one controller process per test environment,
//! restricted with `--selector` to that environment's NodeMaintenances, so tests can kill and restart their
//! own controller without disturbing others.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

use crate::{ENV_LABEL, TestEnv, kubeconfig_path};

/// A kubeconfig for config/rbac's ServiceAccount drydock-system/drydock: the e2e controllers run with exactly
/// the permissions a real install grants, and the audit checks know drydock's requests by that user. Made once
/// per cluster (kept in the cluster's work directory, which `cluster-up` wipes).
pub fn controller_kubeconfig() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = root.join(".cache/cluster/drydock-sa.kubeconfig");
        if path.exists() {
            return path;
        }
        let kubectl = admin_kubectl;
        let config = |p: &str| root.join("config").join(p).display().to_string();
        kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &config("manager/namespace.yaml"),
        ]);
        kubectl(&["apply", "--server-side", "--force-conflicts", "-k", &config("rbac")]);
        // The admission policy that makes a task its own permission (run-task), as a real install has it.
        kubectl(&["apply", "--server-side", "--force-conflicts", "-k", &config("policy")]);
        write_service_account_kubeconfig("drydock-system", "drydock", &path);
        path
    })
    .clone()
}

/// Runs kubectl as the cluster admin; its trimmed output, or a panic with its error.
fn admin_kubectl(args: &[&str]) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join(".cache/bin/kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes at `path` a kubeconfig for ServiceAccount `namespace/name` of the test cluster (a 48-hour token), so a
/// process run with it has exactly that account's permissions.
pub fn write_service_account_kubeconfig(namespace: &str, name: &str, path: &std::path::Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let kubectl = admin_kubectl;
    let token = kubectl(&["-n", namespace, "create", "token", name, "--duration", "48h"]);
    let server = kubectl(&[
        "config",
        "view",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let ca = root.join(".cache/cluster/pki/ca.crt");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", certificate-authority: \"{}\"}}}}]\n\
         users: [{{name: {name}, user: {{token: \"{token}\"}}}}]\n\
         contexts: [{{name: c, context: {{cluster: c, user: {name}}}}}]\ncurrent-context: c\n",
        ca.display()
    );
    // Another test process may be writing it too: write aside, then rename (atomic).
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).expect("write the ServiceAccount's kubeconfig");
    std::fs::rename(&tmp, path).expect("move the ServiceAccount's kubeconfig in place");
}

/// A client with the controller's own credentials ([`controller_kubeconfig`]), for asking who it is and for
/// tests that act as drydock on purpose.
pub async fn controller_client() -> kube::Client {
    let path = controller_kubeconfig();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("controller kubeconfig");
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("controller kubeconfig is valid");
    // One answer per request, as drydock's eviction client: a refusal reaches the caller.
    config.default_retry = false;
    kube::Client::try_from(config).expect("client builds")
}

/// A running `drydock run` process; killed on drop.
pub struct Drydock {
    child: Child,
    pub log: PathBuf,
    /// Where its /metrics, /healthz and /readyz are served.
    pub http: String,
}

/// How long [`Drydock::terminate`] waits for the exit before it gives up.
pub const TERMINATE_WAIT: Duration = Duration::from_secs(30);

/// How a SIGTERM ended a controller.
#[derive(Debug)]
pub struct Stopped {
    /// None: still running after [`TERMINATE_WAIT`].
    pub status: Option<std::process::ExitStatus>,
    /// From the signal to the exit (or to giving up).
    pub after: Duration,
}

/// A free port on 127.0.0.1 for a controller's HTTP endpoints.
/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `$DRYDOCK_BIN`, else the debug build in `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("DRYDOCK_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
        target.join("debug/drydock")
    })
}

/// Runs the runbook CLI, `drydock ARGS`, as the cluster admin (a person at a terminal).
pub fn cli(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("KUBECONFIG", kubeconfig_path())
        .output()
        .expect("run drydock")
}

impl Drydock {
    /// Starts a controller for `env`'s NodeMaintenances, without leader election; its log goes to
    /// .cache/logs/drydock-<env>-<n>.log.
    pub fn start(env: &TestEnv, n: u32) -> Self {
        Self::start_with(env, n, &["--leader-elect=false"], None)
    }

    /// A replica with leader election on the Lease `drydock-system/<lease>` (config/rbac allows Leases there),
    /// identity `<env>-<n>`.
    pub fn replica(env: &TestEnv, n: u32, lease: &str, kubeconfig: Option<&std::path::Path>) -> Self {
        let identity = format!("{}-{n}", env.id);
        let args = [
            "--leader-elect=true",
            "--lease-namespace",
            "drydock-system",
            "--lease-name",
            lease,
            "--identity",
            &identity,
        ];
        Self::start_with(env, n, &args, kubeconfig)
    }

    /// Starts a controller for `env` with extra `drydock run` arguments, as config/rbac's ServiceAccount
    /// ([`controller_kubeconfig`]) or as the user of another kubeconfig.
    pub fn start_with(env: &TestEnv, n: u32, args: &[&str], kubeconfig: Option<&std::path::Path>) -> Self {
        Self::start_for(&env.id, n, args, kubeconfig)
    }

    /// [`Drydock::start_with`] by the environment's id (for a task that cannot borrow the environment).
    pub fn start_for(env_id: &str, n: u32, args: &[&str], kubeconfig: Option<&std::path::Path>) -> Self {
        Self::start_on(env_id, n, format!("127.0.0.1:{}", free_port()), args, kubeconfig)
    }

    /// [`Drydock::start_for`] serving /metrics on `http` (e.g. an address a Prometheus started before it scrapes).
    pub fn start_on(env_id: &str, n: u32, http: String, args: &[&str], kubeconfig: Option<&std::path::Path>) -> Self {
        let mut command = Command::new(binary());
        command
            .env(
                "KUBECONFIG",
                kubeconfig.map_or_else(controller_kubeconfig, std::path::Path::to_path_buf),
            )
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE");
        Self::spawn(command, env_id, n, http, args)
    }

    /// Runs `command` (the drydock binary, or a wrapper such as chroot that ends in it, with its environment set)
    /// as `drydock run` for `env_id`'s NodeMaintenances, serving on `http`, then `args`; its log goes to
    /// .cache/logs/drydock-<env>-<n>.log.
    pub fn spawn(mut command: Command, env_id: &str, n: u32, http: String, args: &[&str]) -> Self {
        let logs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        let log = logs.join(format!("drydock-{env_id}-{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = command
            .args([
                "run",
                "--selector",
                &format!("{ENV_LABEL}={env_id}"),
                "--http-addr",
                &http,
            ])
            .args(args)
            .env("RUST_LOG", "info,drydock=debug")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): run `cargo build --bin drydock`",
                    command.get_program().display()
                )
            });
        Self { child, log, http }
    }

    /// The process id (for reading what the kernel says of it under /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GETs a path of its HTTP endpoint (e.g. "/metrics"); None while it does not answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.http).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.http).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let code = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((code, body))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, as Kubernetes stops a pod, then waits for the process to exit: its exit status and how long it
    /// took from the signal. Gives up after [`TERMINATE_WAIT`] (status None), and SIGKILLs it then.
    pub async fn terminate(&mut self) -> Stopped {
        let sent = std::time::Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {} failed", self.child.id());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Stopped {
                    status: Some(status),
                    after: sent.elapsed(),
                };
            }
            if sent.elapsed() > TERMINATE_WAIT {
                self.kill();
                return Stopped {
                    status: None,
                    after: sent.elapsed(),
                };
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to clean up, as in a node crash or an OOM kill.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Drydock {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestEnv {
    /// The full name of this environment's NodeMaintenance `short`.
    pub fn nm_name(&self, short: &str) -> String {
        format!("{}-{short}", self.id)
    }

    /// Creates NodeMaintenance `<id>-<short>` for `node`, with `spec` merged over {nodeName}.
    pub async fn maintenance(&self, short: &str, node: &str, spec: Value) -> NodeMaintenance {
        let mut full = json!({"nodeName": node});
        crate::workloads::merge(&mut full, spec);
        let nm: NodeMaintenance = serde_json::from_value(json!({
            "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
            "metadata": {"name": self.nm_name(short), "labels": {ENV_LABEL: self.id}},
            "spec": full
        }))
        .expect("nodemaintenance json");
        self.nms()
            .create(&PostParams::default(), &nm)
            .await
            .expect("create NodeMaintenance")
    }

    pub fn nms(&self) -> Api<NodeMaintenance> {
        Api::all(self.client.clone())
    }

    pub async fn nm(&self, short: &str) -> NodeMaintenance {
        self.nms().get(&self.nm_name(short)).await.expect("get NodeMaintenance")
    }

    /// Merge-patches the NodeMaintenance's spec.
    pub async fn patch_nm(&self, short: &str, spec: Value) {
        self.nms()
            .patch(
                &self.nm_name(short),
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .expect("patch NodeMaintenance");
    }

    /// Waits until the NodeMaintenance reaches `phase` and `extra` holds for it.
    pub async fn wait_nm(
        &self,
        short: &str,
        phase: Phase,
        extra: impl Fn(&NodeMaintenance) -> bool,
    ) -> NodeMaintenance {
        let name = self.nm_name(short);
        let api = self.nms();
        let mut last = None;
        let got = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                if let Ok(nm) = api.get(&name).await {
                    if nm.status.as_ref().is_some_and(|s| s.phase == phase) && extra(&nm) {
                        return nm;
                    }
                    last = nm.status.clone();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        got.unwrap_or_else(|_| panic!("NodeMaintenance {name} did not reach {phase:?}; last status: {last:#?}"))
    }

    /// Waits until the NodeMaintenance is Draining with exactly `blocked` pods that cannot leave.
    pub async fn wait_blocked(&self, short: &str, blocked: usize) -> NodeMaintenance {
        self.wait_nm(short, Phase::Draining, |nm| {
            nm.status.as_ref().is_some_and(|s| s.blocked_pods.len() == blocked)
        })
        .await
    }

    /// Changes spec.reason (a spec change that alters nothing drydock does, but bumps metadata.generation) and
    /// waits until the status reports that generation in `phase` with `extra` holding: proof that a controller is
    /// running and has reconciled the object, deciding and acting, since this call. A test calls it before it
    /// sleeps and asserts that something did not happen, so the assertion could have seen it happen.
    pub async fn nudge_nm(
        &self,
        short: &str,
        phase: Phase,
        extra: impl Fn(&NodeMaintenance) -> bool,
    ) -> NodeMaintenance {
        let reason = format!("nudged at {}", jiff::Timestamp::now());
        let nm = self
            .nms()
            .patch(
                &self.nm_name(short),
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"reason": reason}})),
            )
            .await
            .expect("patch NodeMaintenance");
        let generation = nm.metadata.generation;
        assert!(generation.is_some(), "the API server keeps metadata.generation");
        self.wait_nm(short, phase, |nm| {
            nm.status.as_ref().and_then(|s| s.observed_generation) == generation && extra(nm)
        })
        .await
    }

    /// Deletes the NodeMaintenance and waits until it is gone (its finalizer released by the controller).
    pub async fn delete_nm(&self, short: &str) {
        let name = self.nm_name(short);
        let api = self.nms();
        api.delete(&name, &DeleteParams::default())
            .await
            .expect("delete NodeMaintenance");
        crate::wait_until(
            &format!("NodeMaintenance {name} gone"),
            Duration::from_secs(60),
            || async { api.get_opt(&name).await.ok().flatten().is_none() },
        )
        .await;
    }
}

/// Drops what a test left: its MaintenanceSchedules, and its NodeMaintenances with their finalizers removed
/// (the controller may be dead).
pub async fn delete_nms(client: &kube::Client, env_id: &str) {
    let schedules = Api::<drydock::api::v1alpha1::MaintenanceSchedule>::all(client.clone());
    let selected = ListParams::default().labels(&format!("{ENV_LABEL}={env_id}"));
    if let Ok(list) = schedules.list(&selected).await {
        for ms in list {
            let _ = schedules.delete(&ms.name_any(), &DeleteParams::default()).await;
        }
    }
    // Names only, read leniently: a test may have left an object no typed client can read.
    let api = Api::<drydock::api::lenient::Lenient<NodeMaintenance>>::all(client.clone());
    let Ok(list) = api
        .list(&ListParams::default().labels(&format!("{ENV_LABEL}={env_id}")))
        .await
    else {
        return;
    };
    for nm in list {
        let patch = Patch::Merge(json!({"metadata": {"finalizers": null}}));
        let _ = api.patch(&nm.name_any(), &PatchParams::default(), &patch).await;
        let _ = api.delete(&nm.name_any(), &DeleteParams::default()).await;
    }
}

/// The node's taints as `key=value:effect` strings, sorted, ignoring the environment's isolation taint and
/// node.kubernetes.io/unschedulable, which the node-lifecycle controller keeps in step with spec.unschedulable.
pub fn taints(node: &k8s_openapi::api::core::v1::Node) -> Vec<String> {
    let mut t: Vec<String> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key != ENV_LABEL && t.key != "node.kubernetes.io/unschedulable")
        .map(|t| format!("{}={}:{}", t.key, t.value.unwrap_or_default(), t.effect))
        .collect();
    t.sort();
    t
}

pub fn unschedulable(node: &k8s_openapi::api::core::v1::Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false)
}

/// drydock's annotations on the node, if any are left.
pub fn drydock_annotations(node: &k8s_openapi::api::core::v1::Node) -> Vec<String> {
    node.annotations()
        .keys()
        .filter(|k| k.starts_with("drydock.dev/"))
        .cloned()
        .collect()
}

/// `pod: reason` for each pod in the NodeMaintenance's status.blockedPods.
pub fn blocked_reasons(nm: &NodeMaintenance) -> Vec<String> {
    nm.status
        .iter()
        .flat_map(|s| &s.blocked_pods)
        .map(|p| format!("{}: {}", p.name, p.reason))
        .collect()
}
