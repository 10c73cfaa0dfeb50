//! The Helm chart (charts/drydock) against the kustomize tree it must match: what `helm template` renders with
//! default values is, object for object, what `kubectl kustomize config/default` renders, and its optional alert
//! rules and dashboard are config/'s own. No cluster: helm and kubectl only render. `make chart` runs these.
use std::{collections::BTreeMap, path::PathBuf, process::Command};

use serde_json::Value;

/// Labels Helm's conventions add to every object and config/ does not have: left out before comparing.
const HELM_LABELS: [&str; 4] = [
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "helm.sh/chart",
];

/// Every optional object on, as `make chart` renders them.
const ALL_ON: &str =
    "serviceMonitor.enabled=true,podMonitor.enabled=true,prometheusRule.enabled=true,dashboard.enabled=true";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a tool and returns its standard output; panics with its standard error when it fails.
fn run(program: PathBuf, args: &[&str]) -> String {
    let out = Command::new(&program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): run `make cluster-build`", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn helm_template(release: &str, namespace: &str, set: Option<&str>) -> Vec<Value> {
    let mut args = vec![
        "template",
        release,
        "charts/drydock",
        "--namespace",
        namespace,
        "--include-crds",
    ];
    if let Some(set) = set {
        args.extend(["--set", set]);
    }
    objects(&run(root().join(".cache/bin/helm"), &args))
}

/// `kubectl kustomize DIR`; `$KUBECTL` (set by `make chart`), else the cluster's .cache/bin/kubectl.
fn kustomize(dir: &str) -> Vec<Value> {
    let kubectl = std::env::var_os("KUBECTL").map_or_else(|| root().join(".cache/bin/kubectl"), PathBuf::from);
    objects(&run(kubectl, &["kustomize", dir]))
}

/// The objects of a multi-document YAML stream, normalised ([`normalise`]).
fn objects(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("YAML"))
        .filter(|v| !v.is_null())
        .map(|mut v| {
            normalise(&mut v);
            v
        })
        .collect()
}

/// Takes [`HELM_LABELS`] out of every label map and selector, and writes whole numbers as integers: Helm passes
/// crds/ through as written (`maximum: 86400.0`), kustomize re-serialises them (`86400`); the API server stores
/// both alike.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if matches!(key.as_str(), "labels" | "matchLabels" | "selector")
                    && let Value::Object(labels) = inner
                {
                    labels.retain(|k, _| !HELM_LABELS.contains(&k.as_str()));
                }
                normalise(inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15) {
                #[allow(clippy::cast_possible_truncation)] // whole and well within i64
                let whole = f as i64;
                *v = Value::from(whole);
            }
        }
        _ => {}
    }
}

/// `Kind namespace/name`, the identity of an object.
fn key(v: &Value) -> String {
    let m = &v["metadata"];
    format!(
        "{} {}/{}",
        v["kind"].as_str().unwrap_or("?"),
        m["namespace"].as_str().unwrap_or(""),
        m["name"].as_str().unwrap_or("?")
    )
}

fn by_key(objects: Vec<Value>) -> BTreeMap<String, Value> {
    objects.into_iter().map(|o| (key(&o), o)).collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected, got {}", found.len());
    found[0]
}

/// Asserts two sets of objects are the same objects with the same contents, naming each difference.
fn assert_same(chart: BTreeMap<String, Value>, kustomize: BTreeMap<String, Value>) {
    let only_chart: Vec<&String> = chart.keys().filter(|k| !kustomize.contains_key(*k)).collect();
    let only_kustomize: Vec<&String> = kustomize.keys().filter(|k| !chart.contains_key(*k)).collect();
    let differ: Vec<String> = chart
        .iter()
        .filter(|(k, v)| kustomize.get(*k).is_some_and(|other| other != *v))
        .map(|(k, v)| {
            format!(
                "{k}:\n--- chart\n{}\n--- config/\n{}",
                serde_yaml_ng::to_string(v).unwrap_or_default(),
                serde_yaml_ng::to_string(&kustomize[k]).unwrap_or_default()
            )
        })
        .collect();
    assert!(
        only_chart.is_empty() && only_kustomize.is_empty() && differ.is_empty(),
        "charts/drydock and config/ have drifted apart (change both, or run `make chart-sync` for the copies)\n\
         only in the chart: {only_chart:?}\nonly in config/: {only_kustomize:?}\n{}",
        differ.join("\n")
    );
}

/// `helm install drydock charts/drydock -n drydock-system` creates exactly what `kubectl apply -k config/default`
/// does: the CRDs, RBAC, admission policy, task namespace and Deployment, field for field. The one exception is
/// the release namespace, which Helm makes (`--create-namespace`) instead of the chart.
#[test]
fn default_values_render_what_config_default_renders() {
    let chart = by_key(helm_template("drydock", "drydock-system", None));
    let mut kustomize = by_key(kustomize("config/default"));
    let release_namespace = kustomize
        .remove("Namespace /drydock-system")
        .expect("config/default makes the namespace drydock-system");
    assert_eq!(
        release_namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "docs/helm.md tells users to label the release namespace as config/ does"
    );
    assert!(chart.len() > 15, "the chart renders its objects: {:?}", chart.keys());
    assert_same(chart, kustomize);
}

/// With every toggle on, the PrometheusRule holds config/prometheus's rules and the dashboard ConfigMap is
/// config/grafana's, and the ServiceMonitor and PodMonitor scrape the controller's pods under the job name the
/// shipped DrydockDown alert expects.
#[test]
fn optional_objects_are_config_s_rules_dashboard_and_a_drydock_scrape_job() {
    let objects = helm_template("drydock", "drydock-system", Some(ALL_ON));

    let rule = one(&objects, "PrometheusRule").clone();
    let shipped = objects_from_file("config/prometheus/prometheusrule.yaml");
    assert_same(by_key(vec![rule]), by_key(shipped));

    let dashboard = one(&objects, "ConfigMap").clone();
    assert_same(by_key(vec![dashboard.clone()]), by_key(kustomize("config/grafana")));
    assert_eq!(
        dashboard["metadata"]["labels"]["grafana_dashboard"], "1",
        "Grafana's sidecar finds dashboards by this label"
    );
    let json = dashboard["data"]["drydock-dashboard.json"]
        .as_str()
        .expect("the dashboard");
    let parsed: Value = serde_json::from_str(json).expect("the dashboard is JSON");
    assert_eq!(parsed["uid"], "drydock");

    let deployment = one(&objects, "Deployment");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        ports.as_array().into_iter().flatten().any(|p| p["name"] == "http"),
        "the container names its metrics port http: {ports}"
    );
    let service = one(&objects, "Service");
    for (kind, endpoints) in [("ServiceMonitor", "endpoints"), ("PodMonitor", "podMetricsEndpoints")] {
        let monitor = one(&objects, kind);
        let selected = if kind == "ServiceMonitor" {
            &service["metadata"]["labels"]
        } else {
            pod_labels
        };
        for (k, v) in monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .expect("matchLabels")
        {
            assert_eq!(&selected[k], v, "{kind} selects {k}={v}");
        }
        assert_eq!(
            monitor["spec"][endpoints][0]["port"], "http",
            "{kind} scrapes the http port"
        );
        // The job is named after this label's value: DrydockDown matches up{job=~"drydock.*"}.
        let job_label = monitor["spec"]["jobLabel"].as_str().expect("jobLabel");
        assert_eq!(
            selected[job_label], "drydock",
            "{kind}'s job would be named {}",
            selected[job_label]
        );
    }
    for (k, v) in service["spec"]["selector"].as_object().expect("Service selector") {
        assert_eq!(&pod_labels[k], v, "the Service selects the controller's pods by {k}");
    }
}

/// Another release name and namespace move every object: two installs (or an install next to config/default)
/// share no cluster-scoped name, and the controller's arguments and bindings follow.
#[test]
fn release_name_and_namespace_name_every_object() {
    let objects = helm_template("ops-dd", "ops", Some(ALL_ON));
    for o in &objects {
        let name = o["metadata"]["name"].as_str().expect("a name");
        let kind = o["kind"].as_str().expect("a kind");
        if kind != "CustomResourceDefinition" {
            assert!(
                name.starts_with("ops-dd"),
                "{kind} {name} is not named after the release"
            );
        }
        if let Some(ns) = o["metadata"]["namespace"].as_str() {
            assert!(ns == "ops" || ns == "ops-dd-tasks", "{kind} {name} in namespace {ns}");
        }
        for subject in o["subjects"].as_array().into_iter().flatten() {
            assert_eq!(subject["name"], "ops-dd", "{kind} {name} binds {subject}");
            assert_eq!(subject["namespace"], "ops", "{kind} {name} binds {subject}");
        }
    }
    let args = &one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--task-namespace", "ops-dd-tasks"]),
        "task pods go to the release's task namespace: {args:?}"
    );
}

/// The controller's options from values reach it as `drydock run` flags, each a string (a container's args are),
/// even a number given with `--set`.
#[test]
fn values_become_the_controllers_flags() {
    let set = "notify.enabled=true,prometheusUrl=http://prometheus.monitoring:9090,extraArgs={--max-concurrent-maintenances,2}";
    let objects = helm_template("drydock", "drydock-system", Some(set));
    let args = &one(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap_or_else(|| panic!("argument {a} is not a string")))
        .collect();
    for pair in [
        ["--notify-secret", "drydock-system/drydock-notify"],
        ["--prometheus-url", "http://prometheus.monitoring:9090"],
        ["--max-concurrent-maintenances", "2"],
    ] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }
}

fn objects_from_file(path: &str) -> Vec<Value> {
    objects(&std::fs::read_to_string(root().join(path)).expect("read"))
}
