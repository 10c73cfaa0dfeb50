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

#[test]
fn controller_role_is_exactly_what_the_code_uses() {
    let mut granted: Vec<String> = documents("controller_role.yaml")
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
        "/pods:get",
        "/pods:list",
        "/pods:watch",
        "/pods:delete",
        "/pods/eviction:create",
        "policy/poddisruptionbudgets:get",
        "policy/poddisruptionbudgets:list",
        "events.k8s.io/events:create",
        "events.k8s.io/events:patch",
    ];
    expected.sort();
    assert_eq!(granted, expected);
}
