//! config/rbac stays least-privilege: no wildcard anywhere, no access to secrets but reading the one Secret of
//! the notification receivers, and the controller's
//! ClusterRole grants exactly the verbs the code uses (a new one must be added here on purpose). The run-task verb
//! (who may give a maintenance a task, a pod on the node) is granted by drydock-task-author and to the controller
//! only, and the controller may create pods in its task namespace only.
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

/// The files config/rbac/kustomization.yaml installs: every check below that is about all of config/rbac reads
/// these, so a file added there is checked without being named here.
fn installed_files() -> Vec<String> {
    let kustomization = documents("kustomization.yaml");
    let files: Vec<String> = kustomization[0]["resources"]
        .as_sequence()
        .expect("resources in config/rbac/kustomization.yaml")
        .iter()
        .map(|f| f.as_str().expect("a file name").to_string())
        .collect();
    for file in [
        "controller_role.yaml",
        "leader_election_role.yaml",
        "maintainer_role.yaml",
        "preview_role.yaml",
        "task_author_role.yaml",
        "task_role.yaml",
        "notify_role.yaml",
    ] {
        assert!(
            files.iter().any(|f| f == file),
            "config/rbac/kustomization.yaml lacks {file}"
        );
    }
    files
}

#[test]
fn no_wildcards_and_no_secrets() {
    for file in installed_files() {
        let file = file.as_str();
        for doc in documents(file) {
            for (groups, resources, verbs) in rules(&doc) {
                for word in groups.iter().chain(&resources).chain(&verbs) {
                    assert_ne!(word, "*", "{file}: wildcard in a rule");
                }
                if file != "notify_role.yaml" {
                    assert!(!resources.iter().any(|r| r == "secrets"), "{file}: secrets access");
                }
            }
        }
    }
}

/// The notification receivers' Secret, and no other: a Role in drydock-system, read-only, by name.
#[test]
fn notify_role_reads_one_secret_by_name() {
    let docs = documents("notify_role.yaml");
    let role = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Role"))
        .expect("a Role");
    assert_eq!(role["metadata"]["namespace"].as_str(), Some("drydock-system"));
    let rules = role["rules"].as_sequence().expect("rules");
    assert_eq!(rules.len(), 1);
    let names: Vec<_> = rules[0]["resourceNames"]
        .as_sequence()
        .expect("resourceNames: by name only")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(names, ["drydock-notify"]);
    assert_eq!(
        granted_by("notify_role.yaml", "Role"),
        ["/secrets:get", "/secrets:list", "/secrets:watch"]
    );
    assert!(granted_by("notify_role.yaml", "ClusterRole").is_empty());
}

/// Every `group/resource:verb` the ClusterRole in `file` grants, sorted.
fn granted(file: &str) -> Vec<String> {
    granted_by(file, "ClusterRole")
}

/// Every `group/resource:verb` the roles of `kind` (ClusterRole, Role) in `file` grant, sorted.
fn granted_by(file: &str, kind: &str) -> Vec<String> {
    let mut granted: Vec<String> = documents(file)
        .iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some(kind))
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
        "drydock.dev/nodemaintenances:run-task",
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

/// The right to give a maintenance a task (a pod of one's choosing on the node): the custom verb run-task,
/// checked by the admission policy drydock-run-task (config/policy), and nothing else.
#[test]
fn task_author_role_is_run_task_only() {
    let mut expected: Vec<&str> = vec![
        "drydock.dev/nodemaintenances:run-task",
        "drydock.dev/maintenanceschedules:run-task",
    ];
    expected.sort();
    assert_eq!(granted("task_author_role.yaml"), expected);
}

/// run-task is granted by drydock-task-author and, on nodemaintenances only, to the controller (a schedule's
/// NodeMaintenances carry its task): no other role of config/rbac grants it.
#[test]
fn run_task_is_granted_on_purpose_only() {
    for file in installed_files() {
        let granted: Vec<String> = ["ClusterRole", "Role"]
            .iter()
            .flat_map(|kind| granted_by(&file, kind))
            .filter(|g| g.ends_with(":run-task"))
            .collect();
        let expected: Vec<&str> = match file.as_str() {
            "task_author_role.yaml" => vec![
                "drydock.dev/maintenanceschedules:run-task",
                "drydock.dev/nodemaintenances:run-task",
            ],
            "controller_role.yaml" => vec!["drydock.dev/nodemaintenances:run-task"],
            _ => vec![],
        };
        assert_eq!(granted, expected, "{file}: run-task");
    }
}

/// The controller creates pods in its task namespace only, and nothing else there: it reads, watches and deletes
/// them with the ClusterRole's pod rights.
#[test]
fn task_role_is_pod_create_in_the_task_namespace() {
    assert_eq!(granted_by("task_role.yaml", "Role"), vec!["/pods:create"]);
    assert!(granted("task_role.yaml").is_empty(), "task_role.yaml: no ClusterRole");
    let docs = documents("task_role.yaml");
    for doc in &docs {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        assert!(
            kind == "Role" || kind == "RoleBinding",
            "task_role.yaml: unexpected {kind}"
        );
        assert_eq!(
            doc["metadata"]["namespace"].as_str(),
            Some("drydock-tasks"),
            "task_role.yaml: {kind} outside the task namespace"
        );
    }
    let binding = docs
        .iter()
        .find(|d| d.get("kind").and_then(Value::as_str) == Some("RoleBinding"))
        .expect("task_role.yaml: a RoleBinding");
    assert_eq!(binding["roleRef"]["kind"].as_str(), Some("Role"));
    assert_eq!(binding["roleRef"]["name"].as_str(), Some("drydock-tasks"));
    let subjects: Vec<(Option<&str>, Option<&str>, Option<&str>)> = binding["subjects"]
        .as_sequence()
        .expect("subjects")
        .iter()
        .map(|s| (s["kind"].as_str(), s["namespace"].as_str(), s["name"].as_str()))
        .collect();
    assert_eq!(
        subjects,
        vec![(Some("ServiceAccount"), Some("drydock-system"), Some("drydock"))]
    );
}

/// No role for people is aggregated into the built-in admin/edit/view roles, nor into any other: draining, and
/// running tasks, are granted on purpose.
#[test]
fn people_roles_are_not_aggregated() {
    for file in ["maintainer_role.yaml", "preview_role.yaml", "task_author_role.yaml"] {
        for doc in documents(file) {
            assert!(doc.get("aggregationRule").is_none(), "{file} aggregates other roles");
            let labels = doc
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(Value::as_mapping);
            let aggregated =
                labels.is_some_and(|l| l.keys().filter_map(Value::as_str).any(|k| k.contains("aggregate-to-")));
            assert!(!aggregated, "{file} is aggregated into another role");
        }
    }
}
