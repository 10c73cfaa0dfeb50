//! Workloads drydock's authors did not write: the add-on manifests Kubernetes itself ships in `cluster/addons`
//! (CoreDNS, kube-proxy, metrics-server, node-problem-detector, Calico, fluentd, node-local DNS, ip-masq-agent and
//! more), read from the k8s.io/kubernetes module the harness builds the control plane from, and applied onto a
//! test's kwok nodes with their tolerations, priority classes, host networking, volumes and selectors as shipped.
//!
//! Adapted only where a test cluster needs it, nothing about how their pods would be drained:
//! - the deployment-time placeholders (`{{ pillar... }}`, `__PILLAR__DNS__SERVER__`, ...) get plain values, and
//!   salt's `{% ... %}` lines are dropped;
//! - only the workloads (Deployment, DaemonSet, StatefulSet) and the ServiceAccounts their pods name are kept
//!   (Services, RBAC, CRDs and API services are cluster plumbing kwok does not need);
//! - everything goes into the test's namespace, and each pod template also tolerates and selects the test's
//!   nodes (the harness's isolation), so pods that tolerate every taint stay off other tests' nodes;
//! - the node labels their nodeSelectors ask for (`kubernetes.io/os: linux`,
//!   `node.kubernetes.io/kube-proxy-ds-ready: "true"`, ...) are returned, to be put on the test's nodes.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
};

use serde_json::{Value, json};

use crate::ENV_LABEL;

/// The workload kinds a drain meets; the others in the add-on folders are cluster plumbing.
const WORKLOADS: [&str; 3] = ["Deployment", "DaemonSet", "StatefulSet"];

/// `cluster/addons` of the k8s.io/kubernetes module of the running cluster's version (downloaded into the module cache if missing).
pub fn dir() -> PathBuf {
    let version = crate::kubernetes_version();
    let version = version.as_str();
    let out = Command::new("go")
        .args(["mod", "download", "-json", &format!("k8s.io/kubernetes@{version}")])
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .output()
        .expect("run `go mod download` (Go is needed to build the control plane anyway)");
    let info: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "go mod download k8s.io/kubernetes@{version}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    PathBuf::from(info["Dir"].as_str().expect("the module's Dir")).join("cluster/addons")
}

/// Plain values for the placeholders the add-on manifests leave to their deployment tooling.
fn fill(text: &str) -> String {
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("{%"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + len].trim().to_lowercase();
        out.push_str(if name.contains("memory") {
            "64Mi"
        } else if name.contains("cpu") {
            "10m"
        } else if name.contains("cidr") {
            "10.244.0.0/16"
        } else if name.contains("size") {
            "1"
        } else if name == "params" {
            ""
        } else {
            "x1"
        });
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    [
        ("__PILLAR__LOCAL__DNS__", "169.254.20.10"),
        ("__PILLAR__DNS__SERVER__", "10.96.0.10"),
        ("__PILLAR__CLUSTER__DNS__", "10.96.0.10"),
        ("__DNS__SERVER__", "10.96.0.10"),
        ("__PILLAR__DNS__DOMAIN__", "cluster.local"),
        ("__DNS__DOMAIN__", "cluster.local"),
        ("__DNS__MEMORY__LIMIT__", "170Mi"),
        ("__PILLAR__UPSTREAM__SERVERS__", "/etc/resolv.conf"),
        ("__KUBERNETES_NODE_NAME__", "node"),
        ("__CALICO_CNI_DIR__", "/opt/cni/bin"),
        ("__MACHINE_GENERATED_WARNING__", ""),
    ]
    .iter()
    .fold(out, |t, (from, to)| t.replace(from, to))
}

/// The add-ons, ready to apply into namespace `env_id`.
pub struct Zoo {
    /// ServiceAccounts first, then the workloads, each a full object (apiVersion, kind, metadata, spec).
    pub objects: Vec<Value>,
    /// Labels the workloads' nodeSelectors ask for: put them on the nodes.
    pub node_labels: BTreeMap<String, String>,
    /// `<file>: <why>` for each document that could not be read after filling (reported, not hidden).
    pub skipped: Vec<String>,
}

/// Reads every manifest under `cluster/addons` and adapts its workloads for namespace `env_id`.
pub fn zoo(env_id: &str) -> Zoo {
    let mut files = Vec::new();
    collect(&dir(), &mut files);
    files.sort();
    let mut zoo = Zoo {
        objects: Vec::new(),
        node_labels: BTreeMap::new(),
        skipped: Vec::new(),
    };
    let mut accounts = BTreeSet::new();
    let mut workloads = Vec::new();
    for file in files {
        let text = fill(&std::fs::read_to_string(&file).unwrap_or_default());
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = match serde::Deserialize::deserialize(doc) {
                Ok(v) => v,
                // The parser cannot resync after an error (it would repeat it for ever): the rest of the file goes.
                Err(e) => {
                    zoo.skipped.push(format!("{}: {e}", file.display()));
                    break;
                }
            };
            let kind = value["kind"].as_str().unwrap_or_default();
            if kind == "ServiceAccount" {
                if let Some(name) = value["metadata"]["name"].as_str() {
                    accounts.insert(name.to_string());
                }
            } else if WORKLOADS.contains(&kind) {
                workloads.push(value);
            }
        }
    }
    for mut w in workloads {
        w["metadata"]["namespace"] = json!(env_id);
        let pod = &mut w["spec"]["template"]["spec"];
        if let Some(sa) = pod["serviceAccountName"].as_str() {
            accounts.insert(sa.to_string());
        }
        for (k, v) in pod["nodeSelector"].as_object().into_iter().flatten() {
            zoo.node_labels
                .insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
        if !pod["nodeSelector"].is_object() {
            pod["nodeSelector"] = json!({});
        }
        pod["nodeSelector"][ENV_LABEL] = json!(env_id);
        if !pod["tolerations"].is_array() {
            pod["tolerations"] = json!([]);
        }
        if let Some(t) = pod["tolerations"].as_array_mut() {
            t.push(json!({"key": ENV_LABEL, "operator": "Equal", "value": env_id, "effect": "NoSchedule"}));
        }
        zoo.objects.push(w);
    }
    let accounts = accounts.into_iter().map(
        |name| json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": env_id}}),
    );
    zoo.objects.splice(0..0, accounts);
    zoo
}

fn collect(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".yaml") || n.ends_with(".yaml.base"))
        {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_get_plain_values_and_salt_lines_go() {
        let text = "{% if x %}\ncpu: {{ base_metrics_server_cpu }}\nmemory: {{ metadata_agent_memory_request }}\n\
                    image: {{pillar['kube_docker_registry']}}/kube-proxy:{{pillar['kube-proxy_docker_tag']}}\n\
                    ip: __PILLAR__LOCAL__DNS__\n{% endif %}\n";
        assert_eq!(
            fill(text),
            "cpu: 10m\nmemory: 64Mi\nimage: x1/kube-proxy:x1\nip: 169.254.20.10\n"
        );
    }
}
