//! What every section needs: identities the audit log can tell apart, kwok nodes in bulk, workloads, watches
//! that record when things happen, the drydock process and a sampler of its memory and CPU.
use std::{
    collections::BTreeMap,
    fmt::Debug,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock_e2e::{ENV_LABEL, KWOK_ANNOTATION, is_ready};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::{
    apps::v1::Deployment,
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, Node, Pod, ServiceAccount},
    policy::v1::PodDisruptionBudget,
    rbac::v1::ClusterRoleBinding,
};
use kube::{
    Api, Client, Config as KubeConfig, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::watcher,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{Config, Mark, Result, progress};

/// The namespace of the bench's ServiceAccounts. The audit policy of e2e/cluster/up.sh logs every request of
/// the group system:serviceaccounts:drydock-bench, which is how each drainer's own requests are counted.
pub const IDENTITY_NS: &str = "drydock-bench";
/// On every node and namespace the bench makes, so a crashed run's leftovers can be found (and nothing else).
pub const BENCH_LABEL: &str = "drydock.dev/bench";
/// NoSchedule taint that reserves a node for the workloads tolerating its value (a "slot").
pub const SLOT_TAINT: &str = "bench.drydock.dev/slot";

/// The user name the API server gives a bench ServiceAccount.
pub fn sa_user(name: &str) -> String {
    format!("system:serviceaccount:{IDENTITY_NS}:{name}")
}

/// Kubeconfigs holding ServiceAccount tokens (bound to cluster-admin), one per client being measured.
#[derive(Clone, Debug)]
pub struct Identities {
    pub kubeconfigs: BTreeMap<String, PathBuf>,
}

impl Identities {
    pub fn path(&self, who: &str) -> &Path {
        &self.kubeconfigs[who]
    }

    /// Creates (or reuses) the namespace, ServiceAccounts `names` and their cluster-admin binding, and writes a
    /// kubeconfig with a fresh token for each into .cache/bench.
    pub async fn create(client: &Client, cfg: &Config, names: &[&str]) -> Result<Self> {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": IDENTITY_NS, "labels": {BENCH_LABEL: "true"}}}))?;
        let namespaces = Api::<Namespace>::all(client.clone());
        // The previous run's namespace may still be terminating.
        wait(
            "namespace drydock-bench to finish terminating",
            Duration::from_secs(120),
            Duration::from_millis(500),
            || async {
                let n = namespaces.get_opt(IDENTITY_NS).await.ok()?;
                n.is_none_or(|n| n.metadata.deletion_timestamp.is_none()).then_some(())
            },
        )
        .await?;
        create_or_keep(&namespaces, &ns).await?;
        let sas = Api::<ServiceAccount>::namespaced(client.clone(), IDENTITY_NS);
        for n in names {
            let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": n}}))?;
            create_or_keep(&sas, &sa).await?;
        }
        let crb: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "drydock-bench", "labels": {BENCH_LABEL: "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": format!("system:serviceaccounts:{IDENTITY_NS}")}]
        }))?;
        create_or_keep(&Api::<ClusterRoleBinding>::all(client.clone()), &crb).await?;

        let admin = Kubeconfig::read_from(drydock_e2e::kubeconfig_path())?;
        let cluster = admin
            .clusters
            .first()
            .and_then(|c| c.cluster.clone())
            .ok_or("the admin kubeconfig names no cluster")?;
        let dir = cfg.repo.join(".cache/bench");
        std::fs::create_dir_all(&dir)?;
        let mut kubeconfigs = BTreeMap::new();
        for n in names {
            let req = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(24 * 3600),
                    bound_object_ref: None,
                },
                ..Default::default()
            };
            let token = sas
                .create_token_request(n, &PostParams::default(), &req)
                .await?
                .status
                .ok_or("TokenRequest without status")?
                .token;
            let mut c = json!({"server": cluster.server});
            if let Some(ca) = &cluster.certificate_authority {
                c["certificate-authority"] = json!(ca);
            }
            if let Some(ca) = &cluster.certificate_authority_data {
                c["certificate-authority-data"] = json!(ca);
            }
            // JSON is YAML: kubectl and kube-rs both read this.
            let kc = json!({
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "bench", "cluster": c}],
                "users": [{"name": n, "user": {"token": token}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": n}}],
                "current-context": "bench"
            });
            let path = dir.join(format!("{n}.kubeconfig"));
            std::fs::write(&path, serde_json::to_vec_pretty(&kc)?)?;
            kubeconfigs.insert(n.to_string(), path);
        }
        Ok(Self { kubeconfigs })
    }
}

/// Removes the bench's ServiceAccounts and their cluster-admin binding (best effort).
pub async fn delete_identities(client: &Client) {
    let _ = Api::<ClusterRoleBinding>::all(client.clone())
        .delete("drydock-bench", &DeleteParams::default())
        .await;
    let _ = Api::<Namespace>::all(client.clone())
        .delete(IDENTITY_NS, &DeleteParams::background())
        .await;
}

async fn create_or_keep<K>(api: &Api<K>, obj: &K) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A client from a kubeconfig file; `retry` false answers every call once (a 429 comes back at once).
pub async fn client_for(path: &Path, retry: bool) -> Result<Client> {
    let kc = Kubeconfig::read_from(path)?;
    let mut config = KubeConfig::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    config.default_retry = retry;
    Ok(Client::try_from(config)?)
}

/// A kwok node to create.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub labels: Value,
    /// Taints besides the environment's isolation taint.
    pub taints: Vec<Value>,
    pub max_pods: usize,
    pub unschedulable: bool,
}

impl NodeSpec {
    pub fn new(env: &Env, suffix: &str, max_pods: usize) -> Self {
        Self {
            name: format!("{}-{suffix}", env.id),
            labels: json!({}),
            taints: vec![],
            max_pods,
            unschedulable: false,
        }
    }

    /// Reserves the node for workloads tolerating slot `slot` (see [`slot_placement`]).
    pub fn slot(mut self, slot: &str) -> Self {
        self.taints
            .push(json!({"key": SLOT_TAINT, "value": slot, "effect": "NoSchedule"}));
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels[k] = json!(v);
        self
    }

    pub fn cordoned(mut self) -> Self {
        self.unschedulable = true;
        self
    }
}

/// Creates the nodes (`concurrency` at once) like e2e's Env::node does, and waits until kwok has made every
/// one Ready. They carry the environment's label and taint, and [`BENCH_LABEL`].
pub async fn create_nodes(env: &Env, specs: Vec<NodeSpec>, concurrency: usize) -> Result<Vec<String>> {
    let api = Api::<Node>::all(env.client.clone());
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    stream::iter(specs)
        .map(|s| {
            let api = api.clone();
            let id = env.id.clone();
            async move {
                let mut labels = json!({"kubernetes.io/hostname": s.name, "type": "kwok", ENV_LABEL: id,
                                         BENCH_LABEL: "true"});
                drydock_e2e::workloads::merge(&mut labels, s.labels);
                let mut taints = vec![json!({"key": ENV_LABEL, "value": id, "effect": "NoSchedule"})];
                taints.extend(s.taints);
                let pods = s.max_pods.to_string();
                let node: Node = serde_json::from_value(json!({
                    "metadata": {"name": s.name, "labels": labels, "annotations": {KWOK_ANNOTATION: "fake"}},
                    "spec": {"taints": taints, "unschedulable": s.unschedulable},
                    "status": {
                        "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": pods},
                        "capacity": {"cpu": "1000", "memory": "4Ti", "pods": pods}
                    }
                }))?;
                api.create(&PostParams::default(), &node).await?;
                Result::<()>::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let want: std::collections::BTreeSet<&String> = names.iter().collect();
    wait(
        &format!("{} nodes Ready", names.len()),
        Duration::from_secs(300),
        Duration::from_millis(500),
        || async {
            let lp = ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id));
            let ready = list_all(&api, lp).await.ok()?;
            let n = ready
                .iter()
                .filter(|n| want.contains(&n.name_any()) && is_ready(n))
                .count();
            (n == want.len()).then_some(())
        },
    )
    .await?;
    Ok(names)
}

/// Every object a paginated list returns.
pub async fn list_all<K>(api: &Api<K>, lp: ListParams) -> Result<Vec<K>>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut out = Vec::new();
    let mut lp = lp.limit(500);
    loop {
        let page = api.list(&lp).await?;
        out.extend(page.items);
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return Ok(out),
        }
    }
}

/// Polls `check` every `every` until it returns Some; an error after `limit` (a liveness bound: how long a
/// healthy cluster could possibly need, not a performance target).
pub async fn wait<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out after {limit:?} waiting for {what}").into());
        }
        tokio::time::sleep(every).await;
    }
}

/// Sets or clears spec.unschedulable (as the bench's admin, outside any measured window).
pub async fn set_cordon(client: &Client, node: &str, cordoned: bool) -> Result<()> {
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": cordoned}})),
        )
        .await?;
    Ok(())
}

/// Tolerations and node selector that put a workload on the environment's nodes reserved for `slot`, or on its
/// nodes without a slot (where replacements of evicted pods go).
pub fn slot_placement(env: &Env, slot: &str) -> Value {
    json!({
        "tolerations": [
            {"key": ENV_LABEL, "operator": "Equal", "value": env.id, "effect": "NoSchedule"},
            {"key": SLOT_TAINT, "operator": "Equal", "value": slot, "effect": "NoSchedule"}
        ],
        "nodeSelector": {ENV_LABEL: env.id}
    })
}

/// A Deployment whose pods carry `labels` (plus app=<name>) and `placement`; grace period 1 s like e2e's
/// workloads, so kwok (a kubelet that honours grace periods, e2e/cluster/kwok.yaml) removes them a second after
/// eviction.
pub async fn deployment(env: &Env, name: &str, replicas: usize, labels: Value, placement: Value) -> Result<()> {
    let mut pod_labels = json!({"app": name});
    drydock_e2e::workloads::merge(&mut pod_labels, labels);
    let mut spec = json!({"containers": drydock_e2e::workloads::container(), "terminationGracePeriodSeconds": 1});
    drydock_e2e::workloads::merge(&mut spec, placement);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": pod_labels}, "spec": spec}
        }
    }))?;
    Api::<Deployment>::namespaced(env.client.clone(), env.ns())
        .create(&PostParams::default(), &d)
        .await?;
    Ok(())
}

/// A PodDisruptionBudget over app=<app>; `budget` is its spec besides the selector, e.g.
/// `{"maxUnavailable": "50%"}`.
pub async fn pdb(env: &Env, app: &str, budget: Value, labels: Value) -> Result<()> {
    let mut spec = json!({"selector": {"matchLabels": {"app": app}}});
    drydock_e2e::workloads::merge(&mut spec, budget);
    let p: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": app, "labels": labels},
        "spec": spec
    }))?;
    Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns())
        .create(&PostParams::default(), &p)
        .await?;
    Ok(())
}

pub fn pod_node(p: &Pod) -> &str {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

/// A watch running in the background, stopped on drop.
pub struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts a watch and feeds every event, with the moment it arrived, to `f`; returns once the initial list is
/// done, so nothing the watch costs falls into a window measured after this returns.
pub async fn watch<K, F>(api: Api<K>, config: watcher::Config, mut f: F) -> Result<Watch>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: FnMut(Mark, watcher::Event<K>) + Send + 'static,
{
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut events = watcher(api, config).boxed();
        while let Some(event) = events.next().await {
            let at = Mark::now();
            match event {
                Ok(e) => {
                    let done = matches!(e, watcher::Event::InitDone);
                    f(at, e);
                    if done && let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Err(e) => progress(format!("watch error (it retries): {e}")),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .map_err(|_| "a watch did not sync within 60s")?
        .map_err(|_| "a watch ended before it synced")?;
    Ok(Watch(task))
}

/// Removes a section's objects: Deployments, then pods (at once, grace 0), NodeMaintenances and schedules,
/// nodes, namespace; and waits until the pods are gone, so the next section starts on a quiet cluster.
pub async fn cleanup(env: &Env) -> Result<()> {
    let client = env.client.clone();
    let ns = env.ns();
    let dp = DeleteParams::background();
    let lp = ListParams::default();
    let _ = Api::<Deployment>::namespaced(client.clone(), ns)
        .delete_collection(&dp, &lp)
        .await;
    let _ = Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .delete_collection(&dp, &lp)
        .await;
    drydock_e2e::controller::delete_nms(&client, &env.id).await;
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    delete_pods_now(&pods, ListParams::default()).await?;
    wait(
        "the section's pods to be gone",
        Duration::from_secs(300),
        Duration::from_secs(1),
        || async {
            let left = pods.list_metadata(&ListParams::default().limit(1)).await.ok()?;
            left.items.is_empty().then_some(())
        },
    )
    .await?;
    let nodes = Api::<Node>::all(client.clone());
    let _ = nodes
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id)),
        )
        .await;
    let _ = Api::<Namespace>::all(client)
        .delete(ns, &DeleteParams::background())
        .await;
    Ok(())
}

/// Deletes the pods `lp` selects (as listed now) with grace period 0, so they are gone from the API at once.
pub async fn delete_pods_now(pods: &Api<Pod>, lp: ListParams) -> Result<usize> {
    let mut names = Vec::new();
    let mut lp = lp.limit(500);
    loop {
        let page = pods.list_metadata(&lp).await?;
        names.extend(page.items.iter().map(|p| p.name_any()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    let n = names.len();
    stream::iter(names)
        .map(|name| async move {
            let _ = pods.delete(&name, &DeleteParams::default().grace_period(0)).await;
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    Ok(n)
}

/// Removes what a crashed bench run left behind: nodes and namespaces labelled [`BENCH_LABEL`] (never the
/// e2e tests' objects).
pub async fn delete_leftovers(client: &Client) -> Result<()> {
    let lp = ListParams::default().labels(&format!("{BENCH_LABEL}=true,{ENV_LABEL}"));
    let nodes = Api::<Node>::all(client.clone());
    let old = nodes.list_metadata(&lp).await?;
    if !old.items.is_empty() {
        progress(format!(
            "removing {} nodes left by an earlier bench run",
            old.items.len()
        ));
        nodes.delete_collection(&DeleteParams::default(), &lp).await?;
    }
    for ns in Api::<Namespace>::all(client.clone()).list_metadata(&lp).await? {
        progress(format!(
            "removing namespace {} left by an earlier bench run",
            ns.name_any()
        ));
        let pods = Api::<Pod>::namespaced(client.clone(), &ns.name_any());
        delete_pods_now(&pods, ListParams::default()).await?;
        drydock_e2e::controller::delete_nms(client, &ns.name_any()).await;
        Api::<Namespace>::all(client.clone())
            .delete(&ns.name_any(), &DeleteParams::background())
            .await?;
    }
    Ok(())
}

/// One section's corner of the cluster: a namespace `<prefix>-<random>` whose name is also the id its nodes
/// and NodeMaintenances are labelled with (e2e's isolation label, so the scheduler never mixes it with tests),
/// plus [`BENCH_LABEL`]. Not e2e's Env: that one checks drydock's safety promises on drop, and the bench
/// also runs kubectl drain and deletes pods outright.
pub struct Env {
    pub client: Client,
    pub id: String,
}

impl Env {
    pub async fn new(prefix: &str) -> Result<Self> {
        let client = drydock_e2e::client(true).await;
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        let id = format!("{prefix}-{:06x}", suffix & 0xff_ffff);
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": id, "labels": {ENV_LABEL: id, BENCH_LABEL: "true"}}
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        // Pods need the namespace's default ServiceAccount (the ServiceAccount admission plugin).
        let sa = Api::<ServiceAccount>::namespaced(client.clone(), &id);
        wait(
            &format!("service account default in {id}"),
            Duration::from_secs(60),
            Duration::from_millis(200),
            || async { sa.get_opt("default").await.ok().flatten().map(|_| ()) },
        )
        .await?;
        Ok(Self { client, id })
    }

    pub fn ns(&self) -> &str {
        &self.id
    }
}

/// `drydock run` as a child process: the release binary, one ServiceAccount's kubeconfig, only this
/// environment's NodeMaintenances (--selector), info logs and leader election (as deployed: the Lease renewals
/// also keep a connection to the API server open, so the first maintenance after a quiet spell pays no TLS
/// handshake), on a Lease of its own per environment and tag.
pub struct Drydock {
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
    pub http: String,
}

impl Drydock {
    pub async fn start(cfg: &Config, env: &Env, kubeconfig: &Path, extra: &[&str], tag: &str) -> Result<Self> {
        let logs = cfg.repo.join(".cache/logs");
        std::fs::create_dir_all(&logs)?;
        let log = logs.join(format!("bench-drydock-{tag}.log"));
        let http = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("127.0.0.1:{}", l.local_addr()?.port())
        };
        let child = Command::new(&cfg.drydock_bin)
            .args([
                "run",
                "--selector",
                &format!("{ENV_LABEL}={}", env.id),
                "--http-addr",
                &http,
                "--lease-namespace",
                IDENTITY_NS,
                "--lease-name",
                &format!("bench-{tag}-{}", env.id),
            ])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e} (make bench builds it)", cfg.drydock_bin.display()))?;
        let mut d = Self {
            pid: child.id(),
            child,
            log,
            http,
        };
        wait(
            "drydock /readyz",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async { (d.get("/readyz").map(|(c, _)| c) == Some(200)).then_some(()) },
        )
        .await?;
        if !matches!(d.child.try_wait(), Ok(None)) {
            return Err(format!("drydock exited at start; see {}", d.log.display()).into());
        }
        // /readyz only says the API server answers (standbys are ready too): wait until it leads, then give the
        // controller's watches a moment to list.
        wait(
            "drydock leading",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async {
                d.get("/metrics")
                    .is_some_and(|(_, m)| m.lines().any(|l| l == "drydock_leader 1"))
                    .then_some(())
            },
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(d)
    }

    /// GET on its HTTP endpoint: (status code, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.http).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.http).ok()?;
        let mut r = String::new();
        s.read_to_string(&mut r).ok()?;
        let code = r.split_whitespace().nth(1)?.parse().ok()?;
        Some((
            code,
            r.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default(),
        ))
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Drydock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One look at a process: resident memory now and at its peak (VmRSS, VmHWM) and CPU time so far.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ProcSample {
    /// Seconds since the sampler started.
    pub t: f64,
    pub rss_mib: f64,
    pub hwm_mib: f64,
    /// utime + stime, seconds.
    pub cpu_s: f64,
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Reads /proc/<pid>/status and /proc/<pid>/stat.
pub fn read_proc(pid: u32) -> Option<(f64, f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces): utime is the 12th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0, ticks / clock_ticks()))
}

/// Samples a process every `every` in the background.
pub struct Sampler {
    pid: u32,
    start: std::time::Instant,
    samples: Arc<Mutex<Vec<ProcSample>>>,
    task: JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let samples: Arc<Mutex<Vec<ProcSample>>> = Arc::default();
        let start = std::time::Instant::now();
        let s = samples.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some((rss, hwm, cpu)) = read_proc(pid) {
                    s.lock().unwrap_or_else(|p| p.into_inner()).push(ProcSample {
                        t: start.elapsed().as_secs_f64(),
                        rss_mib: rss,
                        hwm_mib: hwm,
                        cpu_s: cpu,
                    });
                }
                tokio::time::sleep(every).await;
            }
        });
        Self {
            pid,
            start,
            samples,
            task,
        }
    }

    /// A sample taken now (and recorded).
    pub fn sample(&self) -> ProcSample {
        let (rss, hwm, cpu) = read_proc(self.pid).unwrap_or_default();
        let s = ProcSample {
            t: self.start.elapsed().as_secs_f64(),
            rss_mib: rss,
            hwm_mib: hwm,
            cpu_s: cpu,
        };
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).push(s);
        s
    }

    /// The samples between two earlier [`Sampler::sample`]s.
    pub fn between(&self, from: &ProcSample, to: &ProcSample) -> Vec<ProcSample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|s| s.t >= from.t && s.t <= to.t)
            .copied()
            .collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Memory and CPU of the process over a window.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Footprint {
    pub seconds: f64,
    /// Median VmRSS over the window.
    pub rss_median_mib: f64,
    /// Highest VmRSS sampled in the window.
    pub rss_max_mib: f64,
    /// VmHWM at the window's end: the process's peak since it started.
    pub hwm_mib: f64,
    pub cpu_s: f64,
}

impl Footprint {
    pub fn of(sampler: &Sampler, from: &ProcSample, to: &ProcSample) -> Self {
        let window = sampler.between(from, to);
        let rss: Vec<f64> = window.iter().map(|s| s.rss_mib).collect();
        Self {
            seconds: to.t - from.t,
            rss_median_mib: super::Stats::of(&rss).median,
            // A peak between two samples shows in VmHWM; a window from the start takes it as its max.
            rss_max_mib: rss
                .iter()
                .copied()
                .fold(if from.t == 0.0 { to.hwm_mib } else { 0.0 }, f64::max),
            hwm_mib: to.hwm_mib,
            cpu_s: to.cpu_s - from.cpu_s,
        }
    }
}
