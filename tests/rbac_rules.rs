//! config/rbac stays least-privilege: no wildcard anywhere, no access to secrets, and the controller's
//! ClusterRole grants exactly the verbs the code uses (a new one must be added here on purpose).
use serde_yaml_ng::Value;

fn documents(path: &str) -> Vec<Value> {
    let text =
        std::fs::read_to_string(format!("{}/config/rbac/{path}", env!("CARGO_MANIFEST_DIR"))).expect("rbac file");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect()
}

fn rules(doc: &Value) -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    let list = |v: &Value, k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    doc.get("rules")
        .and_then(Value::as_sequence)
        .map(|rs| {
            rs.iter()
                .map(|r| (list(r, "apiGroups"), list(r, "resources"), list(r, "verbs")))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn no_wildcards_and_no_secrets() {
    for file in [
        "controller_role.yaml",
        "leader_election_role.yaml",
        "maintainer_role.yaml",
        "preview_role.yaml",
    ] {
        for doc in documents(file) {
            for (groups, resources, verbs) in rules(&doc) {
                for word in groups.iter().chain(&resources).chain(&verbs) {
                    assert_ne!(word, "*", "{file}: wildcard in a rule");
                }
                assert!(!resources.iter().any(|r| r == "secrets"), "{file}: secrets access");
            }
        }
    }
}

/// Every `group/resource:verb` the ClusterRole in `file` grants, sorted.
fn granted(file: &str) -> Vec<String> {
    let mut granted: Vec<String> = documents(file)
        .iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("ClusterRole"))
        .flat_map(rules)
        .flat_map(|(groups, resources, verbs)| {
            let mut out = Vec::new();
            for g in &groups {
                for r in &resources {
                    for v in &verbs {
                        out.push(format!("{g}/{r}:{v}"));
                    }
                }
            }
            out
        })
        .collect();
    granted.sort();
    granted
}

#[test]
fn controller_role_is_exactly_what_the_code_uses() {
    let granted = granted("controller_role.yaml");
    let mut expected: Vec<&str> = vec![
        "drydock.dev/nodemaintenances:get",
        "drydock.dev/nodemaintenances:list",
        "drydock.dev/nodemaintenances:watch",
        "drydock.dev/nodemaintenances:patch",
        "drydock.dev/nodemaintenances:update",
        "drydock.dev/nodemaintenances/status:get",
        "drydock.dev/nodemaintenances/status:patch",
        "drydock.dev/nodemaintenances/status:update",
        "drydock.dev/nodemaintenances/finalizers:update",
        "drydock.dev/nodemaintenances:create",
        "drydock.dev/maintenanceschedules:get",
        "drydock.dev/maintenanceschedules:list",
        "drydock.dev/maintenanceschedules:watch",
        "drydock.dev/maintenanceschedules/status:get",
        "drydock.dev/maintenanceschedules/status:patch",
        "drydock.dev/maintenanceschedules/status:update",
        "/nodes:get",
        "/nodes:list",
        "/nodes:watch",
        "/nodes:patch",
        "/nodes/status:patch",
        "/pods:get",
        "/pods:list",
        "/pods:watch",
        "/pods:delete",
        "/pods/eviction:create",
        "/persistentvolumeclaims:get",
        "/persistentvolumes:get",
        "policy/poddisruptionbudgets:get",
        "policy/poddisruptionbudgets:list",
        "events.k8s.io/events:create",
        "events.k8s.io/events:patch",
    ];
    expected.sort();
    assert_eq!(granted, expected);
}

/// The power to drain nodes, and nothing else: drydock's own objects, no node, pod or eviction rights (the
/// controller does the draining, with its own ServiceAccount).
#[test]
fn maintainer_role_is_drydock_objects_only() {
    let mut expected: Vec<&str> = vec![
        "drydock.dev/nodemaintenances:create",
        "drydock.dev/nodemaintenances:delete",
        "drydock.dev/nodemaintenances:get",
        "drydock.dev/nodemaintenances:list",
        "drydock.dev/nodemaintenances:watch",
        "drydock.dev/maintenanceschedules:create",
        "drydock.dev/maintenanceschedules:delete",
        "drydock.dev/maintenanceschedules:get",
        "drydock.dev/maintenanceschedules:list",
        "drydock.dev/maintenanceschedules:watch",
        "drydock.dev/maintenanceschedules:update",
        "drydock.dev/maintenanceschedules:patch",
    ];
    expected.sort();
    assert_eq!(granted("maintainer_role.yaml"), expected);
}

/// What `drydock preview` reads (src/cli/mod.rs preview_node, and the node checks of start and end), read-only.
#[test]
fn preview_role_is_exactly_the_reads_of_preview() {
    let mut expected: Vec<&str> = vec![
        "/nodes:get",
        "/nodes:list",
        "/pods:list",
        "/persistentvolumeclaims:get",
        "/persistentvolumes:get",
        "policy/poddisruptionbudgets:list",
    ];
    expected.sort();
    assert_eq!(granted("preview_role.yaml"), expected);
}

/// Neither role for people is aggregated into the built-in admin/edit/view roles: draining is granted on purpose.
#[test]
fn people_roles_are_not_aggregated() {
    for file in ["maintainer_role.yaml", "preview_role.yaml"] {
        for doc in documents(file) {
            let labels = doc
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_mapping);
            let aggregated = labels.is_some_and(|l| {
                l.keys()
                    .filter_map(Value::as_str)
                    .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
            });
            assert!(!aggregated, "{file} is aggregated into a built-in role");
        }
    }
}
