//! drydock's safety promises, checked against the API server's audit log (policy in e2e/cluster/up.sh) after
//! every test: what drydock's own identity did to pods and nodes, judged by the objects as the API server
//! recorded them.
//!
//! - No DELETE of a pod that was not already finished (Succeeded or Failed).
//! - No eviction of a pod on a node drydock did not hold (held-by annotation) when the eviction was sent.
//! - No node write that removed a taint drydock had not added, uncordoned a node someone else cordoned, or
//!   deleted a node.
use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Seek, SeekFrom},
    path::PathBuf,
};

use serde_json::Value;

/// The user drydock runs as in the e2e tests: config/rbac's ServiceAccount (see [`crate::controller`]).
pub const CONTROLLER_USER: &str = "system:serviceaccount:drydock-system:drydock";

const HELD_BY: &str = "drydock.dev/held-by";

pub fn log_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/logs/audit.log")
}

/// Where the log ends now: a test checks the events written after this point.
pub fn offset() -> u64 {
    std::fs::metadata(log_path()).map_or(0, |m| m.len())
}

/// The audit events written since `from`, in the order the API server wrote them.
pub fn events_since(from: u64) -> Vec<Value> {
    let Ok(mut f) = std::fs::File::open(log_path()) else {
        return Vec::new();
    };
    let mut text = String::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    // A line still being written is incomplete JSON: skipped.
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Which objects a check covers: pods in these namespaces, nodes whose name starts with `node_prefix`.
#[derive(Clone, Debug)]
pub struct Scope {
    pub namespaces: Vec<String>,
    pub node_prefix: String,
}

/// What a check looked at and what it found.
#[derive(Debug, Default)]
pub struct Report {
    pub evictions: usize,
    pub pod_deletes: usize,
    pub node_writes: usize,
    pub violations: Vec<String>,
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
    deleted_by_drydock: Vec<String>,
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn ok(e: &Value) -> bool {
    e["responseStatus"]["code"]
        .as_u64()
        .is_some_and(|c| (200..300).contains(&c))
}

pub fn check(events: &[Value], scope: &Scope) -> Report {
    let mut report = Report::default();
    let in_ns = |e: &Value| scope.namespaces.iter().any(|n| n == s(&e["objectRef"]["namespace"]));
    let by_drydock = |e: &Value| s(&e["user"]["username"]) == CONTROLLER_USER;
    let mut nodes: BTreeMap<String, NodeHistory> = BTreeMap::new();
    // Pod -> node, from pod creates that name a node and from the scheduler's bindings.
    let mut placed: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new(); // -> [(when, node)]
    let mut evictions = Vec::new();
    for e in events {
        // A dry run changes nothing (tests use them to see whether an admission policy is live yet).
        if s(&e["requestURI"]).contains("dryRun=") {
            continue;
        }
        let r = &e["objectRef"];
        let (resource, sub, name) = (s(&r["resource"]), s(&r["subresource"]), s(&r["name"]).to_string());
        let verb = s(&e["verb"]);
        let when = s(&e["stageTimestamp"]).to_string();
        match (resource, sub) {
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
                let h = nodes.entry(name.clone()).or_default();
                if verb == "delete" {
                    if by_drydock(e) {
                        h.deleted_by_drydock.push(when);
                    }
                    continue;
                }
                if !ok(e) || obj.is_null() {
                    continue;
                }
                let rv = s(&obj["metadata"]["resourceVersion"]).parse().unwrap_or(0);
                h.writes.push((rv, when, by_drydock(e), NodeState::of(obj)));
            }
            ("pods", "") if verb == "create" && in_ns(e) && ok(e) => {
                let node = s(&e["requestObject"]["spec"]["nodeName"]);
                if !node.is_empty() {
                    // A controller's pods are named by the server (generateName): the response has the name.
                    let named = [&e["requestObject"], &e["responseObject"]]
                        .into_iter()
                        .map(|o| s(&o["metadata"]["name"]))
                        .find(|n| !n.is_empty())
                        .unwrap_or_default();
                    let key = (s(&r["namespace"]).to_string(), named.to_string());
                    placed.entry(key).or_default().push((when, node.to_string()));
                }
            }
            ("pods", "binding") if in_ns(e) && ok(e) => {
                let key = (s(&r["namespace"]).to_string(), name);
                let node = s(&e["requestObject"]["target"]["name"]).to_string();
                placed.entry(key).or_default().push((when, node));
            }
            ("pods", "eviction") if in_ns(e) && by_drydock(e) => {
                report.evictions += 1;
                let received = s(&e["requestReceivedTimestamp"]).to_string();
                evictions.push((s(&r["namespace"]).to_string(), name, received));
            }
            ("pods", "") if verb == "delete" && in_ns(e) && by_drydock(e) => {
                report.pod_deletes += 1;
                if !ok(e) {
                    continue; // 404/409: nothing was deleted
                }
                let phase = s(&e["responseObject"]["status"]["phase"]);
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
        let held = nodes.get(&node).and_then(|h| {
            let mut ws: Vec<_> = h.writes.iter().filter(|w| w.1 <= received).collect();
            ws.sort_by_key(|w| w.0);
            ws.last().map(|w| w.3.held)
        });
        if held != Some(true) {
            report.violations.push(format!(
                "drydock evicted pod {ns}/{pod} on node {node} at {received}, when it did not hold that node"
            ));
        }
    }

    // Node writes, in etcd's order: what drydock took away, it had put there.
    for (name, mut h) in nodes {
        for when in &h.deleted_by_drydock {
            report.violations.push(format!("drydock deleted node {name} at {when}"));
        }
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
            && s(&e["user"]["username"]) == CONTROLLER_USER
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

    fn scope() -> Scope {
        Scope {
            namespaces: vec!["t".into()],
            node_prefix: "t-".into(),
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
        node_write("admin", 1, at, false, &["env"], false)
    }
    fn bind(pod: &str, at: &str) -> Value {
        json!({"verb": "create", "user": {"username": "scheduler"}, "stageTimestamp": at,
               "objectRef": {"resource": "pods", "subresource": "binding", "namespace": "t", "name": pod},
               "responseStatus": {"code": 201}, "requestObject": {"target": {"name": "t-a"}}})
    }
    fn evict(pod: &str, at: &str) -> Value {
        json!({"verb": "create", "user": {"username": CONTROLLER_USER}, "stageTimestamp": at,
               "requestReceivedTimestamp": at,
               "objectRef": {"resource": "pods", "subresource": "eviction", "namespace": "t", "name": pod},
               "responseStatus": {"code": 201}})
    }
    fn delete(pod: &str, phase: &str) -> Value {
        json!({"verb": "delete", "user": {"username": CONTROLLER_USER}, "stageTimestamp": "5",
               "objectRef": {"resource": "pods", "namespace": "t", "name": pod},
               "responseStatus": {"code": 200}, "responseObject": {"status": {"phase": phase}}})
    }

    #[test]
    fn a_clean_maintenance_passes() {
        let events = vec![
            created("1"),
            bind("web", "2"),
            node_write(CONTROLLER_USER, 5, "3", true, &["env", "drydock"], true),
            evict("web", "4"),
            delete("job", "Succeeded"),
            node_write(CONTROLLER_USER, 7, "6", false, &["env"], false),
        ];
        let r = check(&events, &scope());
        assert_eq!(r.violations, Vec::<String>::new());
        assert_eq!((r.evictions, r.pod_deletes, r.node_writes), (1, 1, 2));
    }

    #[test]
    fn each_broken_promise_is_found() {
        let events = vec![
            created("1"),
            bind("web", "2"),
            evict("web", "3"),       // node not held yet
            delete("db", "Running"), // a running pod
            node_write("oncall", 4, "4", true, &["env"], false),
            node_write(CONTROLLER_USER, 5, "5", false, &[], false), // someone's cordon and the env taint
        ];
        let v = check(&events, &scope()).violations;
        assert_eq!(v.len(), 4, "{v:#?}");
        assert!(v[0].contains("deleted pod t/db while it was \"Running\""));
        assert!(v[1].contains("evicted pod t/web on node t-a"));
        assert!(v[2].contains("removed taint env:NoSchedule"));
        assert!(v[3].contains("uncordoned node t-a"));
    }

    #[test]
    fn a_taint_drydock_put_back_after_someone_removed_it_is_drydocks() {
        let events = vec![
            created("1"),
            node_write(CONTROLLER_USER, 2, "2", true, &["env", "drydock"], true),
            node_write("oncall", 3, "3", false, &["env"], true),
            node_write(CONTROLLER_USER, 4, "4", true, &["env", "drydock"], true),
            node_write(CONTROLLER_USER, 5, "5", false, &["env"], false),
        ];
        assert_eq!(check(&events, &scope()).violations, Vec::<String>::new());
    }
}
