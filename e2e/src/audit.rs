//! drydock's safety promises, checked against the API server's audit log (policy in e2e/cluster/up.sh) after
//! every test: what drydock's own identity did to pods and nodes, judged by the objects as the API server
//! recorded them.
//!
//! - No DELETE of a pod that was not already finished (Succeeded or Failed), but of a task drydock created
//!   itself (it stops its running task when the window closes); no deletecollection of pods.
//! - No pod create but of a task: a pod with a NodeMaintenance controller owner reference, pinned (spec.nodeName)
//!   to a node drydock held when the create was sent. Tasks are judged by the scope of their node, whatever
//!   their namespace; a pod drydock pins to no node is judged by every scope.
//! - No eviction of a pod on a node drydock did not hold (held-by annotation) when the eviction was sent.
//! - No node write that removed a taint drydock had not added or uncordoned a node someone else cordoned; no
//!   DELETE or deletecollection of nodes.
//!
//! It fails closed: a log that is missing, shorter than where a test began, or garbled is an error, a node write
//! logged without its object is a blind spot, and a test declares what the log must at least show
//! ([`Expect`]), so "nothing seen" never passes for "nothing wrong".
use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Seek, SeekFrom},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use serde_json::Value;

const HELD_BY: &str = "drydock.dev/held-by";

pub fn log_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/logs/audit.log")
}

/// The user the e2e controllers run as, asked of the API server with their own credentials
/// ([`crate::controller::controller_kubeconfig`]) through a SelfSubjectReview, once per process: the checks
/// follow the controller's real identity, whatever config/rbac names it.
pub fn controller_user() -> String {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| {
        // Callers may be inside a runtime (a test) or in Drop: ask on a thread and runtime of our own.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use k8s_openapi::api::authentication::v1::SelfSubjectReview;
                let client = crate::controller::controller_client().await;
                let review = kube::Api::<SelfSubjectReview>::all(client)
                    .create(&Default::default(), &SelfSubjectReview::default())
                    .await
                    .unwrap_or_else(|e| panic!("SelfSubjectReview with the controller's credentials: {e}"));
                review
                    .status
                    .and_then(|s| s.user_info)
                    .and_then(|u| u.username)
                    .filter(|u| !u.is_empty())
                    .expect("the SelfSubjectReview names a user")
            })
        })
        .join()
        .expect("asking the API server who the controller is")
    })
    .clone()
}

/// Where the log stood at some moment: the file (by inode, so a rotation is followed) and the end of its last
/// complete line.
#[derive(Clone, Debug)]
pub struct Mark {
    inode: u64,
    offset: u64,
}

/// Marks the end of the log now. Panics if there is no log: every check after it would read nothing.
pub fn mark() -> Mark {
    mark_at(&log_path()).unwrap_or_else(|e| panic!("{e}"))
}

fn mark_at(path: &Path) -> Result<Mark, String> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        format!(
            "no audit log at {} ({e}): the safety checks need the API server started by e2e/cluster/up.sh",
            path.display()
        )
    })?;
    let meta = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    // The API server may be half-way through a line (a write of several pages shows in the size page by page):
    // start after the last complete one.
    let mut end = meta.len();
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))
            .and_then(|_| f.read_exact(buf))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Mark {
                inode: meta.ino(),
                offset: start + i as u64 + 1,
            });
        }
        end = start;
    }
    Ok(Mark {
        inode: meta.ino(),
        offset: 0,
    })
}

/// The audit events written since `mark`, in the order the API server wrote them, across rotations of the log
/// (kube-apiserver renames a full log to `audit-<time>.log` and starts a new one; up.sh keeps every backup).
/// Errors, naming the cause: the log is gone, the marked file is gone, it is shorter than the mark, or a line
/// other than the one being written does not parse.
pub fn events_since(mark: &Mark) -> Result<Vec<Value>, String> {
    events_in(&log_path(), mark)
}

fn events_in(path: &Path, mark: &Mark) -> Result<Vec<Value>, String> {
    let current =
        std::fs::metadata(path).map_err(|e| format!("the audit log {} cannot be read ({e})", path.display()))?;
    let mut files = vec![path.to_path_buf()];
    if current.ino() != mark.inode {
        // Rotated since the mark: the marked file is a backup now; read it, the backups after it, then the log.
        let dir = path.parent().unwrap_or(Path::new("."));
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit");
        let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{stem}-")) && n.ends_with(".log"))
            })
            .collect();
        backups.sort(); // the names carry the rotation time (UTC), so they sort in order
        let Some(first) = backups
            .iter()
            .position(|p| std::fs::metadata(p).is_ok_and(|m| m.ino() == mark.inode))
        else {
            return Err(format!(
                "the audit log {} was replaced since the test began and the file it began in is gone \
                 (cluster restarted, or a rotated log removed): nothing the test did can be checked",
                path.display()
            ));
        };
        files = backups.split_off(first);
        files.push(path.to_path_buf());
    }
    let mut events = Vec::new();
    let last = files.len() - 1;
    for (i, file) in files.iter().enumerate() {
        let from = if i == 0 { mark.offset } else { 0 };
        read_lines(file, from, i == last, &mut events)?;
    }
    Ok(events)
}

/// Appends the events in `file` from byte `from`. Only the log being written (`live`) may end in a partial line.
fn read_lines(file: &Path, from: u64, live: bool, out: &mut Vec<Value>) -> Result<(), String> {
    let mut f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let len = f.metadata().map_err(|e| format!("{}: {e}", file.display()))?.len();
    if len < from {
        return Err(format!(
            "the audit log {} has {len} bytes, fewer than the {from} it had when the test began: it was \
             truncated or replaced, so what the test did cannot be checked",
            file.display()
        ));
    }
    let mut bytes = Vec::new();
    f.seek(SeekFrom::Start(from))
        .and_then(|_| f.read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let mut at = from;
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            if live {
                return Ok(()); // the line the API server is writing now
            }
            return Err(format!(
                "{} ends in an incomplete line at byte {at}: the rotated log lost part of an event",
                file.display()
            ));
        };
        let line = &rest[..n];
        let event = serde_json::from_slice(line).map_err(|e| {
            format!(
                "{} has an unreadable line at byte {at} ({e}): {}",
                file.display(),
                String::from_utf8_lossy(&line[..line.len().min(200)])
            )
        })?;
        out.push(event);
        at += n as u64 + 1;
        rest = &rest[n + 1..];
    }
    Ok(())
}

/// Which requests a check covers: pods in these namespaces, nodes whose name starts with `node_prefix` and
/// drydock's task pods on them (in whatever namespace), and who drydock is.
#[derive(Clone, Debug)]
pub struct Scope {
    pub namespaces: Vec<String>,
    pub node_prefix: String,
    /// drydock's user name in the audit log (from [`controller_user`] in the e2e tests).
    pub controller_user: String,
}

/// What a test declares the audit log must at least show of drydock's requests in its scope: lower bounds
/// derived from what the test itself makes drydock do. Declared with `TestEnv::expect_audit`, checked after the
/// test with the safety promises. `Expect::default()` (all zero) says, explicitly, that drydock had nothing to do.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// Evictions of the test's pods the API server accepted.
    pub evictions: usize,
    /// Finished pods drydock deleted.
    pub pod_deletes: usize,
    /// Successful writes to the test's nodes.
    pub node_writes: usize,
    /// Nodes drydock gave back: a write of its took its hold (the held-by annotation) away.
    pub restored: Vec<String>,
    /// Writes of node lifecycle conditions (nodes/status) the API server accepted.
    pub condition_writes: usize,
    /// Task pods drydock created on the test's nodes.
    pub task_creates: usize,
    /// Task pods drydock stopped (deleted) on the test's nodes.
    pub task_deletes: usize,
}

impl Expect {
    /// One maintenance whose node is still held when the test ends: at least `evictions` evictions, the node
    /// write of the hold, and a write of the lifecycle conditions that say so on the node.
    pub fn held(evictions: usize) -> Self {
        Self {
            evictions,
            node_writes: 1,
            condition_writes: 1,
            ..Self::default()
        }
    }

    /// One maintenance of `node` that ends with the node given back: at least `evictions` evictions, the two
    /// node writes of a hold and its restore, and the two writes of lifecycle conditions that go with them.
    pub fn restored(node: &str, evictions: usize) -> Self {
        Self {
            evictions,
            node_writes: 2,
            restored: vec![node.into()],
            condition_writes: 2,
            ..Self::default()
        }
    }
}

/// What a check looked at and what it found.
#[derive(Debug, Default)]
pub struct Report {
    /// Evictions by drydock the API server accepted (refused ones are judged too, not counted).
    pub evictions: usize,
    /// Pods drydock deleted.
    pub pod_deletes: usize,
    /// Successful node writes by drydock.
    pub node_writes: usize,
    /// Nodes drydock restored (a write of its removed its held-by annotation).
    pub restored: BTreeSet<String>,
    /// Writes of node lifecycle conditions by drydock the API server accepted.
    pub condition_writes: usize,
    /// Creates by drydock of task pods (a NodeMaintenance controller owner) on the scope's nodes the API server
    /// accepted, dry runs aside (creates on nodes drydock did not hold are judged too, and counted).
    pub task_creates: usize,
    /// Task pods on the scope's nodes that drydock created and then deleted, whatever their phase.
    pub task_deletes: usize,
    /// Nodes whose creation is logged with the node as written (the harness's witnesses: see `TestEnv`).
    pub nodes_created: BTreeSet<String>,
    /// Pod creates in the scope's namespaces, by anyone.
    pub pod_creates: usize,
    /// deletecollection of pods in the scope's namespaces, by anyone.
    pub pod_deletecollections: usize,
    /// Request URIs of every deletecollection of nodes, by anyone.
    pub node_deletecollections: Vec<String>,
    /// Broken promises.
    pub violations: Vec<String>,
    /// What the checks could not judge because the log lacks it (e.g. a node write without the node).
    pub blind_spots: Vec<String>,
}

impl Report {
    /// How the log falls short of `expect`; empty when it shows at least that much.
    pub fn shortfalls(&self, expect: &Expect) -> Vec<String> {
        let mut out = Vec::new();
        for (what, seen, want) in [
            ("accepted evictions", self.evictions, expect.evictions),
            ("pod deletes", self.pod_deletes, expect.pod_deletes),
            ("node writes", self.node_writes, expect.node_writes),
            ("node condition writes", self.condition_writes, expect.condition_writes),
            ("task pod creates", self.task_creates, expect.task_creates),
            ("task pod deletes", self.task_deletes, expect.task_deletes),
        ] {
            if seen < want {
                out.push(format!("{seen} {what} by drydock, the test expects at least {want}"));
            }
        }
        for node in &expect.restored {
            if !self.restored.contains(node) {
                out.push(format!("no write by drydock that restored node {node}"));
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default)]
struct NodeState {
    unschedulable: bool,
    taints: BTreeSet<String>,
    held: bool,
}

impl NodeState {
    fn of(node: &Value) -> Self {
        let taints = node["spec"]["taints"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        format!(
                            "{}:{}",
                            t["key"].as_str().unwrap_or(""),
                            t["effect"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            unschedulable: node["spec"]["unschedulable"].as_bool().unwrap_or(false),
            taints,
            held: node["metadata"]["annotations"][HELD_BY].is_string(),
        }
    }
}

/// A node's recorded life: every successful write, ordered by resourceVersion (the order etcd applied them).
#[derive(Default)]
struct NodeHistory {
    writes: Vec<(u64, String, bool, NodeState)>, // (resourceVersion, completed at, by drydock, state after)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn ok(e: &Value) -> bool {
    e["responseStatus"]["code"]
        .as_u64()
        .is_some_and(|c| (200..300).contains(&c))
}

fn code(e: &Value) -> String {
    e["responseStatus"]["code"]
        .as_u64()
        .map_or_else(|| "no response".into(), |c| format!("HTTP {c}"))
}

/// A field of the pod a create logged, by JSON pointer: as sent, or as stored when the request lacks it (a name
/// the server generated, a default). Null when neither has it.
fn pod_field<'a>(e: &'a Value, pointer: &str) -> &'a Value {
    [&e["requestObject"], &e["responseObject"]]
        .into_iter()
        .filter_map(|o| o.pointer(pointer))
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .unwrap_or(&NULL)
}

static NULL: Value = Value::Null;

/// Whether these owner references make a pod a task: one of them is a NodeMaintenance, of drydock's API group,
/// as the pod's controller.
fn task_owned(owners: &Value) -> bool {
    owners.as_array().into_iter().flatten().any(|o| {
        o["controller"].as_bool() == Some(true)
            && s(&o["kind"]) == "NodeMaintenance"
            && s(&o["apiVersion"]).starts_with("drydock.dev/")
    })
}

/// Whether drydock held `node` when a request it sent arrived at `at`: the node's last write, in etcd's order,
/// among those completed by then, left the hold on it.
fn held_at(nodes: &BTreeMap<String, NodeHistory>, node: &str, at: &str) -> bool {
    nodes.get(node).is_some_and(|h| {
        let mut ws: Vec<_> = h.writes.iter().filter(|w| w.1.as_str() <= at).collect();
        ws.sort_by_key(|w| w.0);
        ws.last().is_some_and(|w| w.3.held)
    })
}

/// The node condition types drydock may write: Kubernetes' node lifecycle conditions.
const LIFECYCLE_CONDITIONS: [&str; 4] = [
    "MaintenancePlanned",
    "MaintenanceInProgress",
    "DrainInProgress",
    "Drained",
];

/// Judges one write of a node's status by drydock: a patch of status.conditions holding only lifecycle
/// conditions, with no patch directive, and after which the node still has every other writer's condition it had
/// after drydock's previous write (a patch sent with the wrong type would replace the whole list).
fn status_write(e: &Value, name: &str, when: &str, last: &mut BTreeMap<String, BTreeSet<String>>, report: &mut Report) {
    let verb = s(&e["verb"]);
    if verb != "patch" {
        report.violations.push(format!(
            "drydock sent a{} {verb} of node {name}'s status at {when} ({}): only patches of conditions are allowed",
            if verb.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "n"
            } else {
                ""
            },
            code(e)
        ));
        return;
    }
    let body = &e["requestObject"];
    // The API server logs no body for a request it refused before reading it (authorization, for one, while its
    // RBAC cache fills after a restart): it changed nothing.
    let refused = e["responseStatus"]["code"].as_u64().is_some_and(|c| c >= 400);
    if body.is_null() && refused {
        return;
    }
    if body.is_null() {
        report.blind_spots.push(format!(
            "drydock's patch of node {name}'s status at {when} is logged without its body: the audit policy no \
             longer records it, so what it changed cannot be judged"
        ));
        return;
    }
    let only_conditions = body.as_object().is_some_and(|o| o.len() == 1)
        && body["status"].as_object().is_some_and(|o| o.len() == 1)
        && body["status"]["conditions"].is_array();
    let directive = body.to_string().contains("\"$");
    let outside: Vec<&str> = body["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| s(&c["type"]))
        .filter(|t| !LIFECYCLE_CONDITIONS.contains(t))
        .collect();
    if !only_conditions || directive || !outside.is_empty() {
        report.violations.push(format!(
            "drydock's patch of node {name}'s status at {when} touches more than its lifecycle conditions: {body}"
        ));
    }
    if !ok(e) {
        return;
    }
    report.condition_writes += 1;
    // Only the others' conditions: a person may remove a lifecycle condition between drydock's writes.
    let after: BTreeSet<String> = e["responseObject"]["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| s(&c["type"]).to_string())
        .filter(|t| !LIFECYCLE_CONDITIONS.contains(&t.as_str()))
        .collect();
    if let Some(before) = last.get(name) {
        for lost in before.difference(&after) {
            report.violations.push(format!(
                "node {name} lost its {lost} condition in drydock's status patch at {when}"
            ));
        }
    }
    last.insert(name.to_string(), after);
}

pub fn check(events: &[Value], scope: &Scope) -> Report {
    let mut report = Report::default();
    let in_ns = |e: &Value| scope.namespaces.iter().any(|n| n == s(&e["objectRef"]["namespace"]));
    let by_drydock = |e: &Value| s(&e["user"]["username"]) == scope.controller_user;
    let mut nodes: BTreeMap<String, NodeHistory> = BTreeMap::new();
    // Pod -> node, from pod creates that name a node and from the scheduler's bindings.
    let mut placed: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new(); // -> [(when, node)]
    let mut evictions = Vec::new();
    // Node -> the condition types its status had after drydock's last write of it.
    let mut last_conditions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // drydock's creates of pods on the scope's nodes, judged once every node write is known: (pod, node, sent at).
    let mut drydock_creates = Vec::new();
    // Every task pod drydock created, in any scope: (namespace, name, uid).
    let mut tasks: BTreeSet<(String, String, String)> = BTreeSet::new();
    for e in events {
        let r = &e["objectRef"];
        let (resource, sub, name) = (s(&r["resource"]), s(&r["subresource"]), s(&r["name"]).to_string());
        let verb = s(&e["verb"]);
        let when = s(&e["stageTimestamp"]).to_string();
        // A dry run changes nothing: the harness's probes of the audit policy (TestEnv::new) are dry runs.
        let dry_run = s(&e["requestURI"]).contains("dryRun=");
        match (resource, sub) {
            // Any node may match a collection's selector: every scope judges these.
            ("nodes", "") if verb == "deletecollection" => {
                report.node_deletecollections.push(s(&e["requestURI"]).to_string());
                if by_drydock(e) {
                    report.violations.push(format!(
                        "drydock sent a deletecollection of nodes ({}) at {when} ({})",
                        s(&e["requestURI"]),
                        code(e)
                    ));
                }
            }
            ("nodes", "")
                if name.starts_with(&scope.node_prefix)
                    || s(&e["responseObject"]["metadata"]["name"]).starts_with(&scope.node_prefix) =>
            {
                let obj = &e["responseObject"];
                let name = s(&obj["metadata"]["name"]).to_string();
                let name = if name.is_empty() {
                    s(&r["name"]).to_string()
                } else {
                    name
                };
                if verb == "delete" {
                    // Refused or not: drydock has no business deleting a node.
                    if by_drydock(e) {
                        report
                            .violations
                            .push(format!("drydock sent a DELETE of node {name} at {when} ({})", code(e)));
                    }
                    continue;
                }
                if !ok(e) {
                    continue;
                }
                if obj.is_null() {
                    report.blind_spots.push(format!(
                        "a {verb} of node {name} at {when} by {} is logged without the node: the audit policy no \
                         longer records node bodies, so taints and cordons cannot be judged",
                        s(&e["user"]["username"])
                    ));
                    continue;
                }
                if verb == "create" {
                    report.nodes_created.insert(name.clone());
                }
                if dry_run {
                    continue;
                }
                let rv = s(&obj["metadata"]["resourceVersion"]).parse().unwrap_or(0);
                nodes
                    .entry(name)
                    .or_default()
                    .writes
                    .push((rv, when, by_drydock(e), NodeState::of(obj)));
            }
            ("nodes", "status") if by_drydock(e) && name.starts_with(&scope.node_prefix) => {
                status_write(e, &name, &when, &mut last_conditions, &mut report);
            }
            ("pods", "") if verb == "create" && ok(e) => {
                // A controller's pods are named by the server (generateName): the response has the name.
                let pod = s(pod_field(e, "/metadata/name")).to_string();
                let ns = match s(&r["namespace"]) {
                    "" => s(pod_field(e, "/metadata/namespace")),
                    ns => ns,
                }
                .to_string();
                let node = s(pod_field(e, "/spec/nodeName")).to_string();
                let ours = node.starts_with(&scope.node_prefix);
                if in_ns(e) {
                    report.pod_creates += 1;
                }
                if by_drydock(e) && !dry_run {
                    let received = s(&e["requestReceivedTimestamp"]).to_string();
                    if e["requestObject"].is_null() && e["responseObject"].is_null() {
                        report.blind_spots.push(format!(
                            "drydock's create of pod {ns}/{} at {received} is logged without the pod: the audit \
                             policy no longer records pod bodies, so its node and owner cannot be judged",
                            s(&r["name"])
                        ));
                        continue;
                    }
                    let task = task_owned(pod_field(e, "/metadata/ownerReferences"));
                    if task {
                        let uid = s(&e["responseObject"]["metadata"]["uid"]).to_string();
                        tasks.insert((ns.clone(), pod.clone(), uid));
                    }
                    if node.is_empty() {
                        // No node's scope would judge it: every scope does.
                        report.violations.push(format!(
                            "drydock created pod {ns}/{pod} at {received} pinned to no node: it creates pods only \
                             as tasks on nodes it holds"
                        ));
                    } else if ours {
                        if task {
                            report.task_creates += 1;
                        } else {
                            report.violations.push(format!(
                                "drydock created pod {ns}/{pod} on node {node} at {received} without a \
                                 NodeMaintenance controller owner reference: it creates pods only as tasks"
                            ));
                        }
                        drydock_creates.push((format!("{ns}/{pod}"), node.clone(), received));
                    }
                }
                if !node.is_empty() && (in_ns(e) || (ours && by_drydock(e) && !dry_run)) {
                    placed.entry((ns, pod)).or_default().push((when, node));
                }
            }
            ("pods", "binding") if in_ns(e) && ok(e) => {
                let key = (s(&r["namespace"]).to_string(), name);
                let node = s(&e["requestObject"]["target"]["name"]).to_string();
                placed.entry(key).or_default().push((when, node));
            }
            ("pods", "eviction") if in_ns(e) && by_drydock(e) => {
                if ok(e) {
                    report.evictions += 1;
                }
                let received = s(&e["requestReceivedTimestamp"]).to_string();
                evictions.push((s(&r["namespace"]).to_string(), name, received));
            }
            ("pods", "") if verb == "deletecollection" && in_ns(e) => {
                report.pod_deletecollections += 1;
                if by_drydock(e) {
                    report.violations.push(format!(
                        "drydock sent a deletecollection of pods in namespace {} at {when} ({})",
                        s(&r["namespace"]),
                        code(e)
                    ));
                }
            }
            ("pods", "") if verb == "delete" && by_drydock(e) => {
                if !ok(e) {
                    continue; // 404/409: nothing was deleted
                }
                let pod = &e["responseObject"];
                // A task is judged by its node's scope, whatever its namespace, and may be stopped running. Owner
                // and node are only what the pod claims, and anyone can write those: it must be a pod drydock
                // created as a task (the same uid, not one made again under its name). Any other pod claiming to be
                // a task on the scope's nodes is judged as a pod of the scope.
                let claims_task = task_owned(&pod["metadata"]["ownerReferences"]);
                let on_scope_node = s(&pod["spec"]["nodeName"]).starts_with(&scope.node_prefix);
                let key = (
                    s(&r["namespace"]).to_string(),
                    name.clone(),
                    s(&pod["metadata"]["uid"]).to_string(),
                );
                if claims_task && tasks.contains(&key) && !key.2.is_empty() {
                    if on_scope_node {
                        report.task_deletes += 1;
                    }
                    continue;
                }
                let judged_here = in_ns(e) || (claims_task && on_scope_node);
                if !judged_here {
                    continue;
                }
                report.pod_deletes += 1;
                let phase = s(&pod["status"]["phase"]);
                if phase != "Succeeded" && phase != "Failed" {
                    report.violations.push(format!(
                        "drydock deleted pod {}/{name} while it was {phase:?} (only finished pods may be deleted)",
                        s(&r["namespace"])
                    ));
                }
            }
            _ => {}
        }
    }

    // Evictions: the pod's node (its last placement before the eviction) was held by drydock at that moment.
    for (ns, pod, received) in evictions {
        let node = placed
            .get(&(ns.clone(), pod.clone()))
            .and_then(|ps| ps.iter().rfind(|(w, _)| *w <= received).or(ps.first()))
            .map(|(_, n)| n.clone());
        let Some(node) = node else {
            report
                .violations
                .push(format!("drydock evicted pod {ns}/{pod}, whose node is not on record"));
            continue;
        };
        if !held_at(&nodes, &node, &received) {
            report.violations.push(format!(
                "drydock evicted pod {ns}/{pod} on node {node} at {received}, when it did not hold that node"
            ));
        }
    }

    // Pod creates: drydock starts a task only on a node it holds (it drained it first).
    for (pod, node, received) in drydock_creates {
        if !held_at(&nodes, &node, &received) {
            report.violations.push(format!(
                "drydock created pod {pod} on node {node} at {received}, when it did not hold that node"
            ));
        }
    }

    // Node writes, in etcd's order: what drydock took away, it had put there.
    for (name, mut h) in nodes {
        h.writes.sort_by_key(|w| w.0);
        let mut before = NodeState::default();
        let mut ours: BTreeSet<String> = BTreeSet::new();
        let mut cordon_is_ours = false;
        for (_, when, drydock, after) in &h.writes {
            if *drydock {
                report.node_writes += 1;
                for t in before.taints.difference(&after.taints) {
                    if !ours.contains(t) {
                        report.violations.push(format!(
                            "drydock removed taint {t} from node {name} at {when}, a taint it had not added"
                        ));
                    }
                }
                if before.unschedulable && !after.unschedulable && !cordon_is_ours {
                    report.violations.push(format!(
                        "drydock uncordoned node {name} at {when}, which someone else had cordoned"
                    ));
                }
                if before.held && !after.held {
                    report.restored.insert(name.clone());
                }
                ours.extend(after.taints.difference(&before.taints).cloned());
            }
            if !before.unschedulable && after.unschedulable {
                cordon_is_ours = *drydock;
            }
            for t in before.taints.difference(&after.taints) {
                ours.remove(t);
            }
            before = after.clone();
        }
    }
    report
}

/// How many evictions of each pod of `namespace` drydock's identity asked for: all requests, or (`accepted`)
/// only those the API server took (a 429 or a policy's denial is a refusal, not an eviction).
pub fn evictions_by_pod(events: &[Value], namespace: &str, accepted: bool) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in events {
        let r = &e["objectRef"];
        if s(&r["subresource"]) == "eviction"
            && s(&r["namespace"]) == namespace
            && s(&e["user"]["username"]) == controller_user()
            && (!accepted || ok(e))
        {
            *counts.entry(s(&r["name"]).to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Not the identity the e2e controllers have: the check must take whatever identity it is given.
    const DRYDOCK: &str = "system:serviceaccount:ops:node-maintainer";

    fn scope() -> Scope {
        Scope {
            namespaces: vec!["t".into()],
            node_prefix: "t-".into(),
            controller_user: DRYDOCK.into(),
        }
    }
    fn node_write(user: &str, rv: u64, at: &str, unschedulable: bool, taints: &[&str], held: bool) -> Value {
        let annotations = if held { json!({HELD_BY: "nm"}) } else { json!({}) };
        json!({
            "verb": "patch", "user": {"username": user}, "stageTimestamp": at, "requestReceivedTimestamp": at,
            "objectRef": {"resource": "nodes", "name": "t-a"}, "responseStatus": {"code": 200},
            "responseObject": {
                "metadata": {"name": "t-a", "resourceVersion": rv.to_string(), "annotations": annotations},
                "spec": {"unschedulable": unschedulable,
                         "taints": taints.iter().map(|t| json!({"key": t, "effect": "NoSchedule"})).collect::<Vec<_>>()}
            }
        })
    }
    fn created(at: &str) -> Value {
        let mut e = node_write("admin", 1, at, false, &["env"], false);
        e["verb"] = json!("create");
        e
    }
    fn bind(pod: &str, at: &str) -> Value {
        json!({"verb": "create", "user": {"username": "scheduler"}, "stageTimestamp": at,
               "objectRef": {"resource": "pods", "subresource": "binding", "namespace": "t", "name": pod},
               "responseStatus": {"code": 201}, "requestObject": {"target": {"name": "t-a"}}})
    }
    fn evict_as(user: &str, pod: &str, at: &str, code: u16) -> Value {
        json!({"verb": "create", "user": {"username": user}, "stageTimestamp": at,
               "requestReceivedTimestamp": at,
               "objectRef": {"resource": "pods", "subresource": "eviction", "namespace": "t", "name": pod},
               "responseStatus": {"code": code}})
    }
    fn evict(pod: &str, at: &str) -> Value {
        evict_as(DRYDOCK, pod, at, 201)
    }
    fn delete(pod: &str, phase: &str) -> Value {
        json!({"verb": "delete", "user": {"username": DRYDOCK}, "stageTimestamp": "5",
               "objectRef": {"resource": "pods", "namespace": "t", "name": pod},
               "responseStatus": {"code": 200}, "responseObject": {"status": {"phase": phase}}})
    }
    /// A task as drydock makes it: in its own namespace, pinned to `node`, with its NodeMaintenance as controller.
    fn task(name: &str, node: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "drydock-tasks", "uid": format!("uid-{name}"),
                            "labels": {"drydock.dev/task-of": "nm"},
                            "ownerReferences": [{"apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
                                                 "name": "nm", "uid": "nm-uid", "controller": true}]},
               "spec": {"nodeName": node}, "status": {"phase": "Pending"}})
    }
    /// The create of `pod` by `user`, logged with the pod as sent (no uid yet) and as stored.
    fn create_pod(user: &str, pod: &Value, at: &str) -> Value {
        let (ns, name) = (s(&pod["metadata"]["namespace"]), s(&pod["metadata"]["name"]));
        let mut sent = pod.clone();
        sent["metadata"].as_object_mut().expect("metadata").remove("uid");
        json!({"verb": "create", "user": {"username": user}, "stageTimestamp": at, "requestReceivedTimestamp": at,
               "requestURI": format!("/api/v1/namespaces/{ns}/pods"),
               "objectRef": {"resource": "pods", "namespace": ns, "name": name},
               "responseStatus": {"code": 201}, "requestObject": sent, "responseObject": pod})
    }
    /// drydock's delete of `pod`, logged with the pod as it was then.
    fn delete_pod(pod: &Value, phase: &str, at: &str) -> Value {
        let mut gone = pod.clone();
        gone["status"]["phase"] = json!(phase);
        json!({"verb": "delete", "user": {"username": DRYDOCK}, "stageTimestamp": at,
               "objectRef": {"resource": "pods", "namespace": s(&pod["metadata"]["namespace"]),
                             "name": s(&pod["metadata"]["name"])},
               "responseStatus": {"code": 200}, "responseObject": gone})
    }
    fn collection(resource: &str, namespace: Option<&str>, user: &str, code: u16) -> Value {
        let uri = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{ns}/{resource}?labelSelector=app%3Dx"),
            None => format!("/api/v1/{resource}?labelSelector=app%3Dx"),
        };
        json!({"verb": "deletecollection", "user": {"username": user}, "stageTimestamp": "6", "requestURI": uri,
               "objectRef": {"resource": resource, "namespace": namespace}, "responseStatus": {"code": code}})
    }

    #[test]
    fn a_clean_maintenance_passes_and_is_counted() {
        let events = vec![
            created("1"),
            bind("web", "2"),
            node_write(DRYDOCK, 5, "3", true, &["env", "drydock"], true),
            evict("web", "4"),
            evict_as(DRYDOCK, "web", "4", 429), // refused by a PDB: judged, not counted
            delete("job", "Succeeded"),
            create_pod(DRYDOCK, &task("nm-task", "t-a"), "5"),
            node_write(DRYDOCK, 7, "6", false, &["env"], false),
        ];
        let r = check(&events, &scope());
        assert_eq!(r.violations, Vec::<String>::new());
        assert_eq!(r.blind_spots, Vec::<String>::new());
        assert_eq!((r.evictions, r.pod_deletes, r.node_writes), (1, 1, 2));
        assert_eq!((r.task_creates, r.task_deletes), (1, 0));
        assert_eq!(r.restored, BTreeSet::from(["t-a".to_string()]));
        assert_eq!(r.nodes_created, BTreeSet::from(["t-a".to_string()]));
        let expect = Expect {
            evictions: 1,
            pod_deletes: 1,
            node_writes: 2,
            restored: vec!["t-a".into()],
            condition_writes: 0,
            task_creates: 1,
            task_deletes: 0,
        };
        assert_eq!(r.shortfalls(&expect), Vec::<String>::new());
    }

    #[test]
    fn each_broken_promise_is_found() {
        let events = vec![
            created("1"),
            bind("web", "2"),
            evict("web", "3"),       // node not held yet
            delete("db", "Running"), // a running pod
            node_write("oncall", 4, "4", true, &["env"], false),
            node_write(DRYDOCK, 5, "5", false, &[], false), // someone's cordon and the env taint
            collection("pods", Some("t"), DRYDOCK, 403),
            collection("nodes", None, DRYDOCK, 403),
            json!({"verb": "delete", "user": {"username": DRYDOCK}, "stageTimestamp": "7",
                   "objectRef": {"resource": "nodes", "name": "t-a"}, "responseStatus": {"code": 403}}),
        ];
        let v = check(&events, &scope()).violations;
        assert_eq!(v.len(), 7, "{v:#?}");
        assert!(v[0].contains("deleted pod t/db while it was \"Running\""));
        assert!(v[1].contains("deletecollection of pods in namespace t"));
        assert!(v[2].contains("deletecollection of nodes"));
        assert!(v[3].contains("DELETE of node t-a") && v[3].contains("HTTP 403"));
        assert!(v[4].contains("evicted pod t/web on node t-a"));
        assert!(v[5].contains("removed taint env:NoSchedule"));
        assert!(v[6].contains("uncordoned node t-a"));
    }

    fn status_patch(verb: &str, at: &str, body: Value, after: &[&str]) -> Value {
        let after: Vec<Value> = after.iter().map(|t| json!({"type": t, "status": "True"})).collect();
        json!({"verb": verb, "user": {"username": DRYDOCK}, "stageTimestamp": at,
               "objectRef": {"resource": "nodes", "subresource": "status", "name": "t-a"},
               "requestObject": body, "responseObject": {"status": {"conditions": after}},
               "responseStatus": {"code": 200}})
    }

    #[test]
    fn status_writes_may_touch_lifecycle_conditions_only() {
        let ours = json!({"status": {"conditions": [{"type": "DrainInProgress", "status": "True"}]}});
        // Between the two, a person removed MaintenancePlanned: a lifecycle condition, not another writer's.
        let fine = [
            status_patch(
                "patch",
                "1",
                ours.clone(),
                &["Ready", "MaintenancePlanned", "DrainInProgress"],
            ),
            status_patch("patch", "2", ours.clone(), &["Ready", "DrainInProgress"]),
        ];
        let report = check(&fine, &scope());
        assert!(report.violations.is_empty(), "{:#?}", report.violations);
        assert_eq!(report.condition_writes, 2);

        let all = ["Ready", "DiskPressure", "DrainInProgress"];
        let broken = [
            status_patch("patch", "1", ours.clone(), &all),
            // Ready written, another status field, a directive that would drop the others, a whole replace.
            status_patch(
                "patch",
                "2",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
                &all,
            ),
            status_patch(
                "patch",
                "3",
                json!({"status": {"conditions": [], "capacity": {"pods": "0"}}}),
                &all,
            ),
            status_patch(
                "patch",
                "4",
                json!({"status": {"conditions": [], "$setElementOrder/conditions": []}}),
                &all,
            ),
            status_patch("update", "5", ours.clone(), &all),
            // Its own conditions only, but DiskPressure is gone after it (a merge patch replaces the whole list).
            status_patch("patch", "6", ours, &["Ready", "DrainInProgress"]),
        ];
        let v = check(&broken, &scope()).violations;
        assert_eq!(v.len(), 5, "{v:#?}");
        assert!(v[0].contains("at 2 touches more than its lifecycle conditions"));
        assert!(v[1].contains("at 3 touches more"));
        assert!(v[2].contains("at 4 touches more"));
        assert!(v[3].contains("an update of node t-a's status at 5"));
        assert!(v[4].contains("node t-a lost its DiskPressure condition in drydock's status patch at 6"));
    }

    #[test]
    fn a_status_write_without_its_body_is_a_blind_spot() {
        let mut e = status_patch("patch", "1", Value::Null, &[]);
        e["requestObject"] = Value::Null;
        let report = check(&[e], &scope());
        assert_eq!(report.blind_spots.len(), 1, "{:?}", report.blind_spots);
        assert_eq!(report.condition_writes, 0);
    }

    #[test]
    fn a_status_write_refused_before_its_body_was_read_changed_nothing() {
        // As logged when kube-apiserver's authorizer forbids it just after a restart.
        let mut e = status_patch("patch", "1", Value::Null, &[]);
        e["requestObject"] = Value::Null;
        e["responseObject"] = json!({"kind": "Status", "code": 403});
        e["responseStatus"] = json!({"code": 403, "reason": "Forbidden"});
        let report = check(&[e.clone()], &scope());
        assert_eq!(report.blind_spots, Vec::<String>::new());
        assert_eq!(report.violations, Vec::<String>::new());
        assert_eq!(report.condition_writes, 0);
        // One that succeeded without its body is still a blind spot.
        e["responseStatus"] = json!({"code": 200});
        assert_eq!(check(&[e], &scope()).blind_spots.len(), 1);
    }

    #[test]
    fn only_the_identity_given_is_drydock() {
        // The same ServiceAccount name in another namespace, and a user whose name contains drydock's.
        let others = [
            "system:serviceaccount:drydock-system:node-maintainer",
            "x-system:serviceaccount:ops:node-maintainer",
        ];
        let mut events = vec![created("1"), bind("web", "2")];
        for (i, user) in others.iter().enumerate() {
            events.push(evict_as(user, "web", "3", 201));
            events.push(node_write(user, 4 + i as u64, "4", false, &[], false));
        }
        let r = check(&events, &scope());
        assert_eq!(r.violations, Vec::<String>::new());
        assert_eq!((r.evictions, r.node_writes), (0, 0));
    }

    #[test]
    fn a_node_write_without_the_node_is_a_blind_spot() {
        let mut write = node_write(DRYDOCK, 5, "3", true, &["env"], true);
        write.as_object_mut().expect("object").remove("responseObject");
        let r = check(&[created("1"), write], &scope());
        assert_eq!(r.blind_spots.len(), 1, "{:?}", r.blind_spots);
        assert!(r.blind_spots[0].contains("without the node"));
    }

    #[test]
    fn less_than_expected_is_named() {
        let r = check(&[created("1")], &scope());
        let s = r.shortfalls(&Expect {
            evictions: 3,
            node_writes: 2,
            restored: vec!["t-a".into()],
            task_creates: 1,
            task_deletes: 2,
            ..Expect::default()
        });
        assert_eq!(
            s,
            vec![
                "0 accepted evictions by drydock, the test expects at least 3",
                "0 node writes by drydock, the test expects at least 2",
                "0 task pod creates by drydock, the test expects at least 1",
                "0 task pod deletes by drydock, the test expects at least 2",
                "no write by drydock that restored node t-a",
            ]
        );
    }

    #[test]
    fn a_task_only_on_a_node_drydock_holds() {
        let events = vec![
            created("1"),
            create_pod(DRYDOCK, &task("early", "t-a"), "2"),
            node_write(DRYDOCK, 5, "3", true, &["env", "drydock"], true),
            create_pod(DRYDOCK, &task("held", "t-a"), "4"),
            create_pod(DRYDOCK, &task("other", "u-a"), "4"), // another scope's node: judged there
            node_write(DRYDOCK, 7, "6", false, &["env"], false),
            create_pod(DRYDOCK, &task("late", "t-a"), "7"),
        ];
        let r = check(&events, &scope());
        assert_eq!(
            r.violations,
            vec![
                "drydock created pod drydock-tasks/early on node t-a at 2, when it did not hold that node",
                "drydock created pod drydock-tasks/late on node t-a at 7, when it did not hold that node",
            ]
        );
        assert_eq!(r.task_creates, 3); // refused ones aside, every task create is counted, and judged
    }

    #[test]
    fn drydock_creates_pods_only_as_tasks_pinned_to_a_node() {
        let mut not_owned = Vec::new();
        for (field, value) in [
            ("controller", json!(false)),
            ("kind", json!("Deployment")),
            ("apiVersion", json!("drydock.dev.example/v1")),
        ] {
            let mut pod = task(field, "t-a");
            pod["metadata"]["ownerReferences"][0][field] = value;
            not_owned.push(pod);
        }
        let mut bare = task("bare", "t-a");
        bare["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("ownerReferences");
        not_owned.push(bare);
        let mut nowhere = task("nowhere", "");
        nowhere["spec"].as_object_mut().expect("spec").remove("nodeName");

        let mut events = vec![created("1"), node_write(DRYDOCK, 5, "2", true, &["env"], true)];
        events.extend(not_owned.iter().map(|p| create_pod(DRYDOCK, p, "3")));
        events.push(create_pod(DRYDOCK, &nowhere, "4"));
        let r = check(&events, &scope());
        assert_eq!(r.violations.len(), 5, "{:#?}", r.violations);
        for (v, pod) in r.violations.iter().zip(["controller", "kind", "apiVersion", "bare"]) {
            assert_eq!(
                *v,
                format!(
                    "drydock created pod drydock-tasks/{pod} on node t-a at 3 without a NodeMaintenance controller \
                     owner reference: it creates pods only as tasks"
                )
            );
        }
        let unpinned = "drydock created pod drydock-tasks/nowhere at 4 pinned to no node: it creates pods only as \
                        tasks on nodes it holds";
        assert_eq!(r.violations[4], unpinned);
        assert_eq!(r.task_creates, 0);
        // A pod pinned to no node belongs to no scope: every scope judges it.
        let other = Scope {
            node_prefix: "u-".into(),
            ..scope()
        };
        assert_eq!(check(&events, &other).violations, vec![unpinned]);
    }

    #[test]
    fn a_dry_run_or_refused_pod_create_is_not_judged() {
        let mut pod = task("probe", "t-a");
        pod["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("ownerReferences");
        let mut dry = create_pod(DRYDOCK, &pod, "2");
        dry["requestURI"] = json!("/api/v1/namespaces/drydock-tasks/pods?dryRun=All");
        let mut refused = create_pod(DRYDOCK, &task("refused", "t-a"), "3");
        refused["responseStatus"]["code"] = json!(403);
        let r = check(&[created("1"), dry, refused], &scope());
        assert_eq!(r.violations, Vec::<String>::new());
        assert_eq!(r.task_creates, 0);
    }

    #[test]
    fn a_pod_create_without_the_pod_is_a_blind_spot() {
        let mut e = create_pod(DRYDOCK, &task("nm-task", "t-a"), "2");
        e.as_object_mut().expect("object").remove("requestObject");
        e.as_object_mut().expect("object").remove("responseObject");
        let r = check(&[e], &scope());
        assert_eq!(r.violations, Vec::<String>::new());
        assert_eq!(r.blind_spots.len(), 1, "{:?}", r.blind_spots);
        assert!(r.blind_spots[0].contains("create of pod drydock-tasks/nm-task at 2 is logged without the pod"));
    }

    #[test]
    fn drydock_may_stop_its_own_running_task() {
        let pod = task("nm-task", "t-a");
        let events = vec![
            created("1"),
            node_write(DRYDOCK, 5, "2", true, &["env"], true),
            create_pod(DRYDOCK, &pod, "3"),
            delete_pod(&pod, "Running", "4"),
        ];
        let r = check(&events, &scope());
        assert_eq!(r.violations, Vec::<String>::new());
        assert_eq!((r.task_creates, r.task_deletes, r.pod_deletes), (1, 1, 0));
        // Another scope's task: not this one's to count.
        let other = Scope {
            node_prefix: "u-".into(),
            ..scope()
        };
        let r = check(&events, &other);
        assert_eq!((r.violations.len(), r.task_deletes), (0, 0));
    }

    #[test]
    fn a_running_pod_that_only_claims_to_be_a_task_is_not_drydocks_to_delete() {
        // Owned by a NodeMaintenance on the scope's node, but made by someone else: in the scope's namespace, in
        // drydock's, and under the name of drydock's task after that one was gone.
        let mut in_test_ns = task("fake", "t-a");
        in_test_ns["metadata"]["namespace"] = json!("t");
        let in_tasks_ns = task("fake", "t-a");
        let ours = task("nm-task", "t-a");
        let mut again = ours.clone();
        again["metadata"]["uid"] = json!("uid-again");
        let events = vec![
            created("1"),
            node_write(DRYDOCK, 5, "2", true, &["env"], true),
            create_pod("admin", &in_test_ns, "3"),
            create_pod("admin", &in_tasks_ns, "3"),
            create_pod(DRYDOCK, &ours, "3"),
            delete_pod(&ours, "Succeeded", "4"),
            create_pod("admin", &again, "5"),
            delete_pod(&in_test_ns, "Running", "6"),
            delete_pod(&in_tasks_ns, "Running", "6"),
            delete_pod(&again, "Running", "6"),
        ];
        let r = check(&events, &scope());
        assert_eq!(
            r.violations,
            ["t/fake", "drydock-tasks/fake", "drydock-tasks/nm-task"].map(|p| format!(
                "drydock deleted pod {p} while it was \"Running\" (only finished pods may be deleted)"
            ))
        );
        assert_eq!((r.task_deletes, r.pod_deletes), (1, 3));
    }

    #[test]
    fn a_taint_drydock_put_back_after_someone_removed_it_is_drydocks() {
        let events = vec![
            created("1"),
            node_write(DRYDOCK, 2, "2", true, &["env", "drydock"], true),
            node_write("oncall", 3, "3", false, &["env"], true),
            node_write(DRYDOCK, 4, "4", true, &["env", "drydock"], true),
            node_write(DRYDOCK, 5, "5", false, &["env"], false),
        ];
        assert_eq!(check(&events, &scope()).violations, Vec::<String>::new());
    }

    /// A directory of its own for a test's log files.
    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("drydock-audit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }
    fn line(n: u32) -> String {
        format!("{{\"n\":{n}}}\n")
    }
    fn numbers(events: &[Value]) -> Vec<u64> {
        events.iter().map(|e| e["n"].as_u64().unwrap_or(0)).collect()
    }

    #[test]
    fn the_reader_starts_after_the_last_complete_line_and_leaves_the_one_being_written() {
        let d = dir("partial");
        let log = d.join("audit.log");
        std::fs::write(&log, format!("{}{}{{\"n\":", line(1), line(2))).expect("write");
        let mark = mark_at(&log).expect("mark");
        assert_eq!(events_in(&log, &mark).expect("read"), Vec::<Value>::new());
        std::fs::write(&log, format!("{}{}{}{}{{\"n\"", line(1), line(2), line(3), line(4))).expect("write");
        assert_eq!(numbers(&events_in(&log, &mark).expect("read")), vec![3, 4]);
    }

    #[test]
    fn the_reader_fails_on_a_missing_shortened_or_garbled_log() {
        let d = dir("broken");
        let log = d.join("audit.log");
        assert!(mark_at(&log).unwrap_err().contains("no audit log"));
        std::fs::write(&log, format!("{}{}", line(1), line(2))).expect("write");
        let mark = mark_at(&log).expect("mark");
        std::fs::write(&log, format!("{}{}{}", line(1), line(2), line(3))).expect("write");
        assert_eq!(numbers(&events_in(&log, &mark).expect("read")), vec![3]);
        // Same file, cut short.
        std::fs::write(&log, line(1)).expect("write");
        let e = events_in(&log, &mark).unwrap_err();
        assert!(e.contains("fewer than"), "{e}");
        // A broken line that is not the last.
        std::fs::write(&log, format!("{}{}{{\"n\":3\n{}", line(1), line(2), line(4))).expect("write");
        let e = events_in(&log, &mark).unwrap_err();
        assert!(e.contains("unreadable line at byte 16"), "{e}");
        std::fs::remove_file(&log).expect("remove");
        assert!(events_in(&log, &mark).unwrap_err().contains("cannot be read"));
    }

    #[test]
    fn the_reader_follows_rotations() {
        let d = dir("rotate");
        let log = d.join("audit.log");
        std::fs::write(d.join("audit-2020-01-01T00-00-00.000.log"), line(0)).expect("an older backup");
        std::fs::write(&log, line(1)).expect("write");
        let mark = mark_at(&log).expect("mark");
        std::fs::write(&log, format!("{}{}", line(1), line(2))).expect("write");
        // Rotated twice, as kube-apiserver's log writer does: rename, then a new file.
        std::fs::rename(&log, d.join("audit-2030-01-01T00-00-00.000.log")).expect("rotate");
        std::fs::write(&log, line(3)).expect("write");
        std::fs::rename(&log, d.join("audit-2030-01-01T00-00-05.000.log")).expect("rotate");
        std::fs::write(&log, format!("{}{{\"n\":5", line(4))).expect("write");
        assert_eq!(numbers(&events_in(&log, &mark).expect("read")), vec![2, 3, 4]);
        // The marked file removed: nothing the test did can be read.
        std::fs::remove_file(d.join("audit-2030-01-01T00-00-00.000.log")).expect("remove");
        assert!(events_in(&log, &mark).unwrap_err().contains("is gone"));
    }
}
