//! Bad input is refused at `kubectl apply` with a message that names the field, and changes nothing: two tables
//! of malformed objects (NodeMaintenance, MaintenanceSchedule) applied with the cluster's own kubectl, with
//! server-side field validation Strict (`--validate=strict`), while a drydock controller runs for the test's
//! environment and a node it could act on is there. After each table: no object of the table exists, and the
//! node is as it was (same resourceVersion, not cordoned, no drydock taint or annotation).
//!
//! Categories: wrong types, unknown fields, impossible windows, unreadable times, bad durations, bad cron, bad time
//! zones, huge numbers, empty strings, overlong names and strings, invalid taints and selectors.
use std::time::Duration;

use drydock::api::{
    lenient::Lenient,
    v1alpha1::{MaintenanceSchedule, NodeMaintenance, Phase},
};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    audit::Expect,
    controller::{Drydock, drydock_annotations, taints, unschedulable},
    kubeconfig_path, wait_until,
};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::{Value, json};

/// Applies `doc` with the cluster's own kubectl and strict field validation; returns (success, output). A string
/// `"@@<digits>@@"` in `doc` is sent as the bare number: JSON numbers beyond what serde_json holds.
fn kubectl_apply_doc(doc: &Value) -> (bool, String) {
    let kubectl = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/kubectl");
    let mut child = std::process::Command::new(kubectl)
        .args(["--kubeconfig"])
        .arg(kubeconfig_path())
        .args(["apply", "--validate=strict", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.to_string().replace("\"@@", "").replace("@@\"", "").as_bytes())
        .expect("write manifest");
    let out = child.wait_with_output().expect("kubectl output");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A drydock object of `kind` named `name`, labelled for `env` (so `env`'s controller would handle it).
fn manifest(kind: &str, name: &str, env: &TestEnv, spec: Value) -> Value {
    json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
        "spec": spec
    })
}

fn kubectl_apply_kind(kind: &str, name: &str, env: &TestEnv, spec: Value) -> (bool, String) {
    kubectl_apply_doc(&manifest(kind, name, env, spec))
}

fn kubectl_apply(name: &str, env: &TestEnv, spec: Value) -> (bool, String) {
    kubectl_apply_kind("NodeMaintenance", name, env, spec)
}

/// One malformed object: what is wrong, and the words the rejection must contain (the field's path first).
struct Case {
    what: &'static str,
    /// Edits the valid base object into the malformed one.
    doc: Value,
    expect: Vec<&'static str>,
}

/// `patch` merged into `base` (JSON merge patch: null removes a field).
fn merged(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    fn merge(t: &mut Value, p: &Value) {
        match p {
            Value::Object(p) => {
                if !t.is_object() {
                    *t = json!({});
                }
                let t = t.as_object_mut().expect("object");
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            other => *t = other.clone(),
        }
    }
    merge(&mut out, &patch);
    out
}

fn case(what: &'static str, base: &Value, patch: Value, expect: &[&'static str]) -> Case {
    Case {
        what,
        doc: merged(base, patch),
        expect: expect.to_vec(),
    }
}

/// Applies every case under its own name; returns the failures and the names used.
fn run_table(cases: &[Case], prefix: &str) -> (Vec<String>, Vec<String>) {
    let mut failures = Vec::new();
    let mut names = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let mut doc = c.doc.clone();
        // Cases about the name bring their own.
        if doc["metadata"]["name"].is_null() {
            doc["metadata"]["name"] = json!(format!("{prefix}-bad-{i}"));
        }
        let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_string();
        names.push(name);
        let (ok, out) = kubectl_apply_doc(&doc);
        let missing: Vec<_> = c.expect.iter().filter(|e| !out.contains(**e)).collect();
        if ok || !missing.is_empty() {
            failures.push(format!(
                "{}: expected a rejection mentioning {:?}, got (ok={ok}) {out}",
                c.what, c.expect
            ));
        }
    }
    (failures, names)
}

/// Starts the environment's controller and waits until it serves /readyz.
async fn controller(env: &TestEnv) -> Drydock {
    let drydock = Drydock::start(env, 0);
    wait_until("drydock ready", Duration::from_secs(60), || async {
        drydock.get("/readyz").is_some_and(|(code, _)| code == 200)
    })
    .await;
    drydock
}

/// Which controller would act on a table's objects had one got through.
#[derive(Clone, Copy)]
enum Kind {
    NodeMaintenance,
    MaintenanceSchedule,
}

/// A valid object of `kind`, applied after the table, that the controller must visibly handle without touching a
/// node: proof that it runs and sees this environment's objects, so one of the table's would have shown. Removed
/// again before the checks.
async fn controller_caught_up(env: &TestEnv, kind: Kind) {
    let name = format!("{}-canary", env.id);
    let labels = json!({ENV_LABEL: env.id});
    match kind {
        Kind::NodeMaintenance => {
            // A node that does not exist: the controller fails it with a reason and touches nothing.
            let nm: NodeMaintenance = serde_json::from_value(json!({
                "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
                "metadata": {"name": name, "labels": labels},
                "spec": {"nodeName": format!("{}-no-such-node", env.id)}
            }))
            .expect("canary json");
            env.nms()
                .create(&PostParams::default(), &nm)
                .await
                .expect("create canary");
            env.wait_nm("canary", Phase::Failed, |_| true).await;
            env.delete_nm("canary").await;
        }
        Kind::MaintenanceSchedule => {
            // A zone the controller does not know: reported in status, nothing started.
            let ms: MaintenanceSchedule = serde_json::from_value(json!({
                "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
                "metadata": {"name": name, "labels": labels},
                "spec": {"schedule": "* * * * *", "timeZone": "Mars/Olympus_Mons", "duration": "1h",
                         "nodeSelector": {"matchLabels": {ENV_LABEL: env.id}}}
            }))
            .expect("canary json");
            let api = Api::<MaintenanceSchedule>::all(env.client.clone());
            api.create(&PostParams::default(), &ms).await.expect("create canary");
            wait_until(
                "the canary schedule reported invalid",
                Duration::from_secs(60),
                || async {
                    api.get(&name)
                        .await
                        .ok()
                        .and_then(|m| m.status)
                        .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Valid" && c.status == "False"))
                },
            )
            .await;
            api.delete(&name, &Default::default()).await.expect("delete canary");
            wait_until("the canary schedule gone", Duration::from_secs(60), || async {
                api.get_opt(&name).await.is_ok_and(|m| m.is_none())
            })
            .await;
        }
    }
}

/// After a table: none of its objects exists, no NodeMaintenance points at the node, and the node is as it was.
async fn assert_nothing_changed(env: &TestEnv, kind: Kind, node: &str, spec_before: &str, names: &[String]) {
    controller_caught_up(env, kind).await;
    // Time for a controller to act on anything that got through.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let nms = Api::<NodeMaintenance>::all(env.client.clone());
    let schedules = Api::<MaintenanceSchedule>::all(env.client.clone());
    for name in names.iter().filter(|n| n.len() <= 253) {
        assert!(
            nms.get_opt(name).await.expect("get").is_none(),
            "NodeMaintenance {name} exists"
        );
        assert!(
            schedules.get_opt(name).await.expect("get").is_none(),
            "MaintenanceSchedule {name} exists"
        );
    }
    let mine = ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id));
    assert!(
        nms.list(&mine).await.expect("list").items.is_empty(),
        "a NodeMaintenance was created"
    );
    assert!(
        schedules.list(&mine).await.expect("list").items.is_empty(),
        "a MaintenanceSchedule was created"
    );
    // Another test may hold an object no typed client can read: look at the readable ones.
    let all = Api::<Lenient<NodeMaintenance>>::all(env.client.clone())
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(
        !all.items
            .iter()
            .filter_map(|o| o.ok())
            .any(|nm| nm.spec.node_name == node),
        "a NodeMaintenance points at {node}"
    );
    let after = env.get_node(node).await;
    assert!(!unschedulable(&after), "{node} was cordoned");
    assert!(taints(&after).is_empty(), "{node} was tainted: {:?}", taints(&after));
    assert!(
        drydock_annotations(&after).is_empty(),
        "{node} was annotated: {:?}",
        drydock_annotations(&after)
    );
    // The spec, not the resourceVersion: kwok's status heartbeats bump that.
    assert_eq!(
        serde_json::to_string(&after.spec).expect("spec json"),
        spec_before,
        "{node}'s spec was written to during the table"
    );
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

#[tokio::test]
async fn malformed_maintenances_are_rejected_naming_the_field() {
    let mut env = TestEnv::new("nm-input").await;
    env.expect_audit(Expect::default()); // nothing gets through, so drydock has nothing to do
    let node = env.node("n1").await;
    let _drydock = controller(&env).await;
    let rv = serde_json::to_string(&env.get_node(&node).await.spec).expect("spec json");
    // Valid as it stands: every case breaks one thing.
    let base = manifest(
        "NodeMaintenance",
        "",
        &env,
        json!({"nodeName": node, "reason": "input table"}),
    );
    let base = merged(&base, json!({"metadata": {"name": null}}));
    let spec = |s: Value| json!({"spec": s});
    let taint = |t: Value| spec(json!({"taints": [t]}));
    let many_taints: Vec<Value> = (0..33)
        .map(|i| json!({"key": format!("example.com/t{i}"), "effect": "NoSchedule"}))
        .collect();
    let cases = vec![
        // wrong types
        case(
            "nodeName a number",
            &base,
            spec(json!({"nodeName": 42})),
            &["spec.nodeName"],
        ),
        case(
            "window a string",
            &base,
            spec(json!({"window": "2h"})),
            &["spec.window"],
        ),
        case(
            "gracePeriodSeconds a string",
            &base,
            spec(json!({"drain": {"gracePeriodSeconds": "30"}})),
            &["spec.drain.gracePeriodSeconds"],
        ),
        case(
            "gracePeriodSeconds a fraction",
            &base,
            spec(json!({"drain": {"gracePeriodSeconds": 30.5}})),
            &["spec.drain.gracePeriodSeconds"],
        ),
        case(
            "deleteEmptyDirData a string",
            &base,
            spec(json!({"drain": {"deleteEmptyDirData": "yes"}})),
            &["spec.drain.deleteEmptyDirData"],
        ),
        case(
            "taints an object",
            &base,
            spec(json!({"taints": {"key": "a", "effect": "NoSchedule"}})),
            &["spec.taints"],
        ),
        case(
            "allowSoleControlPlane a string",
            &base,
            spec(json!({"allowSoleControlPlane": "true"})),
            &["spec.allowSoleControlPlane"],
        ),
        // unknown fields (strict field validation)
        case(
            "misspelt nodeName",
            &base,
            spec(json!({"nodename": "x"})),
            &["unknown field \"spec.nodename\""],
        ),
        case(
            "unknown drain option",
            &base,
            spec(json!({"drain": {"force": true}})),
            &["unknown field \"spec.drain.force\""],
        ),
        case(
            "unknown window field",
            &base,
            spec(json!({"window": {"begin": "2030-01-01T00:00:00Z"}})),
            &["unknown field \"spec.window.begin\""],
        ),
        case(
            "unknown top-level field",
            &base,
            json!({"status2": {}}),
            &["unknown field \"status2\""],
        ),
        // missing and empty
        case(
            "missing nodeName",
            &base,
            spec(json!({"nodeName": null})),
            &["spec.nodeName: Required value"],
        ),
        case(
            "empty nodeName",
            &base,
            spec(json!({"nodeName": ""})),
            &["spec.nodeName"],
        ),
        case(
            "empty window.duration",
            &base,
            spec(json!({"window": {"duration": ""}})),
            &["spec.window.duration"],
        ),
        case(
            "empty drain.timeout",
            &base,
            spec(json!({"drain": {"timeout": ""}})),
            &["spec.drain.timeout"],
        ),
        case(
            "empty taint key",
            &base,
            taint(json!({"key": "", "effect": "NoSchedule"})),
            &["spec.taints[0].key"],
        ),
        case(
            "empty completeWhen",
            &base,
            spec(json!({"completeWhen": {}})),
            &["spec.completeWhen", "set rebooted: true or nodeInfo"],
        ),
        // impossible windows
        case(
            "end before start",
            &base,
            spec(json!({"window": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}})),
            &["spec.window", "window.end must be after window.start"],
        ),
        case(
            "end equal to start",
            &base,
            spec(json!({"window": {"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}})),
            &["spec.window", "window.end must be after window.start"],
        ),
        case(
            "end and duration",
            &base,
            spec(json!({"window": {"end": "2030-01-01T00:00:00Z", "duration": "2h"}})),
            &["spec.window", "give either end or duration, not both"],
        ),
        // times the API server's date-time check takes but drydock cannot read
        case(
            "start not a time",
            &base,
            spec(json!({"window": {"start": "tomorrow"}})),
            &["spec.window.start"],
        ),
        case(
            "start with 10 fractional digits",
            &base,
            spec(json!({"window": {"start": "2030-01-01T00:00:00.1234567891Z"}})),
            &["spec.window.start"],
        ),
        case(
            "start with offset +99:00",
            &base,
            spec(json!({"window": {"start": "2030-01-01T00:00:00+99:00"}})),
            &["spec.window.start"],
        ),
        case(
            "end in the year 9999",
            &base,
            spec(json!({"window": {"end": "9999-12-31T23:59:59Z"}})),
            &["spec.window.end"],
        ),
        // durations
        case(
            "duration in words",
            &base,
            spec(json!({"window": {"duration": "two hours"}})),
            &["spec.window.duration"],
        ),
        case(
            "duration in days",
            &base,
            spec(json!({"window": {"duration": "2d"}})),
            &["spec.window.duration"],
        ),
        case(
            "zero duration",
            &base,
            spec(json!({"window": {"duration": "0s"}})),
            &["spec.window.duration", "window.duration must be positive"],
        ),
        case(
            "negative duration",
            &base,
            spec(json!({"window": {"duration": "-1h"}})),
            &["spec.window.duration"],
        ),
        case(
            "zero timeout",
            &base,
            spec(json!({"drain": {"timeout": "0s"}})),
            &["spec.drain.timeout", "drain.timeout must be positive"],
        ),
        // huge numbers
        case(
            "duration past Go's range",
            &base,
            spec(json!({"window": {"duration": "9999999999h"}})),
            &["spec.window.duration"],
        ),
        case(
            "gracePeriodSeconds beyond int64",
            &base,
            spec(json!({"drain": {"gracePeriodSeconds": "@@99999999999999999999@@"}})),
            &["spec.drain.gracePeriodSeconds"],
        ),
        case(
            "gracePeriodSeconds a day and a second",
            &base,
            spec(json!({"drain": {"gracePeriodSeconds": 86401}})),
            &["spec.drain.gracePeriodSeconds"],
        ),
        case(
            "skipWaitForDeleteSeconds huge",
            &base,
            spec(json!({"drain": {"skipWaitForDeleteSeconds": 9223372036854775807i64}})),
            &["spec.drain.skipWaitForDeleteSeconds"],
        ),
        // values out of their set
        case(
            "negative grace",
            &base,
            spec(json!({"drain": {"gracePeriodSeconds": -1}})),
            &["spec.drain.gracePeriodSeconds"],
        ),
        case(
            "zero grace",
            &base,
            spec(json!({"drain": {"gracePeriodSeconds": 0}})),
            &["spec.drain.gracePeriodSeconds"],
        ),
        case(
            "unknown onTimeout",
            &base,
            spec(json!({"drain": {"onTimeout": "Retry"}})),
            &["spec.drain.onTimeout: Unsupported value"],
        ),
        case(
            "bad taint effect",
            &base,
            taint(json!({"key": "a", "effect": "Evict"})),
            &["spec.taints[0].effect"],
        ),
        case(
            "drydock's own taint",
            &base,
            taint(json!({"key": "drydock.dev/maintenance", "effect": "NoSchedule"})),
            &["spec.taints[0]", "drydock's own taint"],
        ),
        case(
            "the same taint key and effect twice (the Node API refuses it)",
            &base,
            spec(json!({"taints": [
                {"key": "example.com/kernel", "value": "a", "effect": "NoSchedule"},
                {"key": "example.com/kernel", "value": "b", "effect": "NoSchedule"}
            ]})),
            &["spec.taints", "each key and effect pair may appear once"],
        ),
        case(
            "a taint key of Kubernetes' own node controllers",
            &base,
            taint(json!({"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"})),
            &[
                "spec.taints[0]",
                "belong to Kubernetes",
                "whenNodeNotReady: OutOfService",
            ],
        ),
        case(
            "an unknown whenNodeNotReady",
            &base,
            spec(json!({"drain": {"whenNodeNotReady": "ForceDelete"}})),
            &["spec.drain.whenNodeNotReady"],
        ),
        case(
            "taint key with a space",
            &base,
            taint(json!({"key": "bad key", "effect": "NoSchedule"})),
            &["spec.taints[0].key"],
        ),
        case(
            "taint value with a space",
            &base,
            taint(json!({"key": "a", "value": "has space", "effect": "NoSchedule"})),
            &["spec.taints[0].value"],
        ),
        case(
            "nodeName not a DNS name",
            &base,
            spec(json!({"nodeName": "Node_1"})),
            &["spec.nodeName"],
        ),
        case(
            "podSelector with an unknown operator",
            &base,
            spec(
                json!({"drain": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["web"]}]}}}),
            ),
            &["spec.drain.podSelector", "operator In or NotIn"],
        ),
        case(
            "waitForPods In without values",
            &base,
            spec(json!({"drain": {"waitForPods": {"matchExpressions": [{"key": "app", "operator": "In"}]}}})),
            &["spec.drain.waitForPods", "operator In or NotIn"],
        ),
        // overlong names and strings
        case(
            "name of 254 characters",
            &base,
            json!({"metadata": {"name": long(254)}}),
            &["metadata.name", "253"],
        ),
        case(
            "name with capitals",
            &base,
            json!({"metadata": {"name": "Bad_Name"}}),
            &["metadata.name"],
        ),
        case(
            "nodeName of 254 characters",
            &base,
            spec(json!({"nodeName": long(254)})),
            &["spec.nodeName"],
        ),
        case(
            "reason of 1025 characters",
            &base,
            spec(json!({"reason": long(1025)})),
            &["spec.reason"],
        ),
        case(
            "taint key name of 64 characters",
            &base,
            taint(json!({"key": format!("example.com/{}", long(64)), "effect": "NoSchedule"})),
            &["spec.taints[0].key"],
        ),
        case(
            "taint key prefix of 254 characters",
            &base,
            taint(json!({"key": format!("{}/k", long(254)), "effect": "NoSchedule"})),
            &["spec.taints[0]", "prefix"],
        ),
        case(
            "taint value of 64 characters",
            &base,
            taint(json!({"key": "a", "value": long(64), "effect": "NoSchedule"})),
            &["spec.taints[0].value"],
        ),
        case(
            "33 taints",
            &base,
            spec(json!({"taints": many_taints})),
            &["spec.taints"],
        ),
        case(
            "kernelVersion pattern of 257 characters",
            &base,
            spec(json!({"completeWhen": {"nodeInfo": {"kernelVersion": long(257)}}})),
            &["spec.completeWhen.nodeInfo.kernelVersion"],
        ),
        case(
            "task pinned by hand to a node",
            &base,
            spec(
                json!({"task": {"template": {"spec": {"nodeName": "other", "containers": [{"name": "a", "image": "i"}]}}}}),
            ),
            &["drydock pins the task to spec.nodeName itself"],
        ),
        case(
            "task with restartPolicy Always (it would never finish)",
            &base,
            spec(
                json!({"task": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "a", "image": "i"}]}}}}),
            ),
            &["spec.task.template.spec.restartPolicy", "Never", "OnFailure"],
        ),
        case(
            "task without containers",
            &base,
            spec(json!({"task": {"template": {"spec": {"containers": []}}}})),
            &["spec.task.template.spec.containers"],
        ),
        case(
            "task without a template",
            &base,
            spec(json!({"task": {"onFailure": "Hold"}})),
            &["spec.task.template"],
        ),
        case(
            "task onFailure misspelled",
            &base,
            spec(
                json!({"task": {"onFailure": "Retry", "template": {"spec": {"containers": [{"name": "a", "image": "i"}]}}}}),
            ),
            &["spec.task.onFailure", "Hold", "Restore"],
        ),
    ];
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let (failures, names) = run_table(&cases, &env.id);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_nothing_changed(&env, Kind::NodeMaintenance, &node, &rv, &names).await;
}

#[tokio::test]
async fn node_name_cannot_be_changed() {
    let env = TestEnv::new("nm-immutable").await;
    env.expect_audit(Expect::default()); // no controller
    let name = format!("{}-fixed", env.id);
    let (ok, out) = kubectl_apply(&name, &env, json!({"nodeName": "node-1"}));
    assert!(ok, "{out}");
    let (ok, out) = kubectl_apply(&name, &env, json!({"nodeName": "node-2"}));
    assert!(!ok && out.contains("spec.nodeName is immutable"), "{out}");
    assert_eq!(env.nms().get(&name).await.expect("get").spec.node_name, "node-1");
}

#[tokio::test]
async fn malformed_schedules_are_rejected_naming_the_field() {
    let mut env = TestEnv::new("ms-input").await;
    env.expect_audit(Expect::default());
    let node = env.node("n1").await;
    let _drydock = controller(&env).await;
    let rv = serde_json::to_string(&env.get_node(&node).await.spec).expect("spec json");
    // Valid, and open right now for the environment's node: accepted, it would start a maintenance at once.
    let base = manifest(
        "MaintenanceSchedule",
        "",
        &env,
        json!({"schedule": "* * * * *", "duration": "1h", "nodeSelector": {"matchLabels": {ENV_LABEL: env.id}}}),
    );
    let base = merged(&base, json!({"metadata": {"name": null}}));
    let spec = |s: Value| json!({"spec": s});
    let many_taints: Vec<Value> = (0..33)
        .map(|i| json!({"key": format!("example.com/t{i}"), "effect": "NoSchedule"}))
        .collect();
    let cron = "spec.schedule";
    let cases = vec![
        // bad cron
        case(
            "cron with 3 fields",
            &base,
            spec(json!({"schedule": "0 2 *"})),
            &[cron, "5 cron fields"],
        ),
        case(
            "cron with 6 fields",
            &base,
            spec(json!({"schedule": "0 0 2 * * 0"})),
            &[cron, "5 cron fields"],
        ),
        case(
            "minute 61",
            &base,
            spec(json!({"schedule": "61 * * * *"})),
            &[cron, "minute 0-59"],
        ),
        case("hour 24", &base, spec(json!({"schedule": "0 24 * * *"})), &[cron]),
        case(
            "day-of-month 32",
            &base,
            spec(json!({"schedule": "0 0 32 * *"})),
            &[cron],
        ),
        case(
            "month name JANUARY",
            &base,
            spec(json!({"schedule": "0 0 1 JANUARY *"})),
            &[cron],
        ),
        case("day-of-week 8", &base, spec(json!({"schedule": "0 0 * * 8"})), &[cron]),
        case("step of 0", &base, spec(json!({"schedule": "*/0 * * * *"})), &[cron]),
        case("croner's L", &base, spec(json!({"schedule": "0 0 L * *"})), &[cron]),
        case("@every", &base, spec(json!({"schedule": "@every 1h"})), &[cron]),
        case(
            "TZ= prefix",
            &base,
            spec(json!({"schedule": "TZ=UTC 0 2 * * *"})),
            &[cron],
        ),
        case("empty schedule", &base, spec(json!({"schedule": ""})), &[cron]),
        case("schedule a number", &base, spec(json!({"schedule": 5})), &[cron]),
        case(
            "schedule of 300 characters",
            &base,
            spec(json!({"schedule": format!("0 2 * * {}0", " ".repeat(290))})),
            &[cron],
        ),
        // bad time zones
        case(
            "empty timeZone",
            &base,
            spec(json!({"timeZone": ""})),
            &["spec.timeZone"],
        ),
        case(
            "timeZone a path",
            &base,
            spec(json!({"timeZone": "../../etc/localtime"})),
            &["spec.timeZone", "IANA time zone"],
        ),
        case(
            "timeZone with a space",
            &base,
            spec(json!({"timeZone": "Europe/Berlin "})),
            &["spec.timeZone", "IANA time zone"],
        ),
        case(
            "timeZone as an offset",
            &base,
            spec(json!({"timeZone": "+01:00"})),
            &["spec.timeZone", "IANA time zone"],
        ),
        case(
            "timeZone of 65 characters",
            &base,
            spec(json!({"timeZone": format!("Europe/{}", long(58))})),
            &["spec.timeZone"],
        ),
        // durations
        case(
            "no duration",
            &base,
            spec(json!({"duration": null})),
            &["spec.duration: Required value"],
        ),
        case(
            "zero duration",
            &base,
            spec(json!({"duration": "0s"})),
            &["spec.duration", "duration must be positive"],
        ),
        case(
            "duration past Go's range",
            &base,
            spec(json!({"duration": "99999999999h"})),
            &["spec.duration"],
        ),
        case(
            "duration in days",
            &base,
            spec(json!({"duration": "1d"})),
            &["spec.duration"],
        ),
        // maxUnavailable
        case(
            "maxUnavailable 0",
            &base,
            spec(json!({"maxUnavailable": 0})),
            &["spec.maxUnavailable", "maxUnavailable must be a positive count"],
        ),
        case(
            "maxUnavailable 0%",
            &base,
            spec(json!({"maxUnavailable": "0%"})),
            &["spec.maxUnavailable", "maxUnavailable must be a positive count"],
        ),
        case(
            "maxUnavailable 150%",
            &base,
            spec(json!({"maxUnavailable": "150%"})),
            &["spec.maxUnavailable", "maxUnavailable must be a positive count"],
        ),
        case(
            "maxUnavailable beyond int32",
            &base,
            spec(json!({"maxUnavailable": 2147483648u64})),
            &["spec.maxUnavailable", "maxUnavailable must be a positive count"],
        ),
        case(
            "maxUnavailable a fraction",
            &base,
            spec(json!({"maxUnavailable": 1.5})),
            &["spec.maxUnavailable"],
        ),
        case(
            "maxUnavailable a word",
            &base,
            spec(json!({"maxUnavailable": "all"})),
            &["spec.maxUnavailable", "maxUnavailable must be a positive count"],
        ),
        // selectors, types, unknown fields
        case(
            "no nodeSelector",
            &base,
            spec(json!({"nodeSelector": null})),
            &["spec.nodeSelector: Required value"],
        ),
        case(
            "nodeSelector with an unknown operator",
            &base,
            spec(
                json!({"nodeSelector": {"matchExpressions": [{"key": "pool", "operator": "Is", "values": ["batch"]}]}}),
            ),
            &["spec.nodeSelector", "operator In or NotIn"],
        ),
        case(
            "suspend a string",
            &base,
            spec(json!({"suspend": "yes"})),
            &["spec.suspend"],
        ),
        case(
            "misspelt schedule",
            &base,
            spec(json!({"schedul": "@daily"})),
            &["unknown field \"spec.schedul\""],
        ),
        case(
            "unknown template field",
            &base,
            spec(json!({"template": {"window": {"duration": "1h"}}})),
            &["unknown field \"spec.template.window\""],
        ),
        // the template is stamped into NodeMaintenances: it is held to their limits
        case(
            "template reason of 1025 characters",
            &base,
            spec(json!({"template": {"reason": long(1025)}})),
            &["spec.template.reason"],
        ),
        case(
            "template with 33 taints",
            &base,
            spec(json!({"template": {"taints": many_taints}})),
            &["spec.template.taints"],
        ),
        case(
            "template zero grace",
            &base,
            spec(json!({"template": {"drain": {"gracePeriodSeconds": 0}}})),
            &["spec.template.drain.gracePeriodSeconds"],
        ),
        case(
            "template taint value with a space",
            &base,
            spec(json!({"template": {"taints": [{"key": "a", "value": "a b", "effect": "NoSchedule"}]}})),
            &["spec.template.taints[0].value"],
        ),
        // names
        case(
            "name of 254 characters",
            &base,
            json!({"metadata": {"name": long(254)}}),
            &["metadata.name", "253"],
        ),
    ];
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let (failures, names) = run_table(&cases, &env.id);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_nothing_changed(&env, Kind::MaintenanceSchedule, &node, &rv, &names).await;
}

/// Every sample in config/samples is what the API server accepts as written (`kubectl apply --dry-run=server
/// --validate=strict`: no unknown field, every CEL rule and admission policy passed) and what drydock reads.
#[tokio::test]
async fn every_sample_is_accepted_as_written() {
    let env = TestEnv::new("samples").await;
    env.expect_audit(Expect::default()); // dry runs only
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/samples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("config/samples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for file in &files {
        let path = file.display().to_string();
        let (ok, out) =
            drydock_e2e::person::kubectl(&["apply", "--dry-run=server", "--validate=strict", "-f", &path], None);
        assert!(ok, "{path}: {out}");
        let text = std::fs::read_to_string(file).expect("read sample");
        let doc: Value = serde_yaml_ng::from_str(&text).expect("yaml");
        match doc["kind"].as_str() {
            Some("NodeMaintenance") => {
                serde_json::from_value::<drydock::api::v1alpha1::NodeMaintenance>(doc).expect(&path);
            }
            Some("MaintenanceSchedule") => {
                serde_json::from_value::<drydock::api::v1alpha1::MaintenanceSchedule>(doc).expect(&path);
            }
            other => panic!("{path}: unexpected kind {other:?}"),
        }
    }
}
