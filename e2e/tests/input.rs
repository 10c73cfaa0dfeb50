//! Bad input is refused at `kubectl apply` with a message that says what to fix, and changes nothing.
use drydock_e2e::{ENV_LABEL, TestEnv, kubeconfig_path};
use serde_json::json;

/// Applies `spec` as a drydock object of `kind` with the cluster's own kubectl; returns (success, output).
fn kubectl_apply_kind(kind: &str, name: &str, env: &TestEnv, spec: serde_json::Value) -> (bool, String) {
    let doc = json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "labels": {ENV_LABEL: env.id}},
        "spec": spec
    });
    let kubectl = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/kubectl");
    let mut child = std::process::Command::new(kubectl)
        .args(["--kubeconfig"])
        .arg(kubeconfig_path())
        .args(["apply", "-f", "-"])
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
        .write_all(doc.to_string().as_bytes())
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

fn kubectl_apply(name: &str, env: &TestEnv, spec: serde_json::Value) -> (bool, String) {
    kubectl_apply_kind("NodeMaintenance", name, env, spec)
}

#[tokio::test]
async fn malformed_maintenances_are_rejected_naming_the_field() {
    let env = TestEnv::new("nm-input").await;
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("missing node", json!({"reason": "x"}), "spec.nodeName: Required value"),
        ("empty node", json!({"nodeName": ""}), "spec.nodeName"),
        (
            "end before start",
            json!({"nodeName": "n", "window": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}}),
            "window.end must be after window.start",
        ),
        (
            "end and duration",
            json!({"nodeName": "n", "window": {"end": "2030-01-01T00:00:00Z", "duration": "2h"}}),
            "give either end or duration, not both",
        ),
        (
            "bad duration",
            json!({"nodeName": "n", "window": {"duration": "two hours"}}),
            "spec.window.duration",
        ),
        (
            "zero duration",
            json!({"nodeName": "n", "window": {"duration": "0s"}}),
            "window.duration must be positive",
        ),
        (
            "negative grace",
            json!({"nodeName": "n", "drain": {"gracePeriodSeconds": -1}}),
            "spec.drain.gracePeriodSeconds",
        ),
        (
            "zero grace",
            json!({"nodeName": "n", "drain": {"gracePeriodSeconds": 0}}),
            "spec.drain.gracePeriodSeconds",
        ),
        (
            "unknown onTimeout",
            json!({"nodeName": "n", "drain": {"onTimeout": "Retry"}}),
            "spec.drain.onTimeout: Unsupported value",
        ),
        (
            "zero timeout",
            json!({"nodeName": "n", "drain": {"timeout": "0s"}}),
            "drain.timeout must be positive",
        ),
        (
            "drydock's own taint",
            json!({"nodeName": "n", "taints": [{"key": "drydock.dev/maintenance", "effect": "NoSchedule"}]}),
            "drydock's own taint",
        ),
        (
            "bad taint effect",
            json!({"nodeName": "n", "taints": [{"key": "a", "effect": "Evict"}]}),
            "spec.taints[0].effect",
        ),
        ("wrong type", json!({"nodeName": 42}), "spec.nodeName"),
    ];
    let mut failures = Vec::new();
    for (i, (what, spec, expect)) in cases.iter().enumerate() {
        let (ok, out) = kubectl_apply(&format!("{}-bad-{i}", env.id), &env, spec.clone());
        if ok || !out.contains(expect) {
            failures.push(format!(
                "{what}: expected a rejection mentioning {expect:?}, got (ok={ok}) {out}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let left = env
        .nms()
        .list(&kube::api::ListParams::default().labels(&format!("{ENV_LABEL}={}", env.id)))
        .await
        .expect("list");
    assert!(left.items.is_empty(), "nothing was created");
}

#[tokio::test]
async fn node_name_cannot_be_changed() {
    let env = TestEnv::new("nm-immutable").await;
    let name = format!("{}-fixed", env.id);
    let (ok, out) = kubectl_apply(&name, &env, json!({"nodeName": "node-1"}));
    assert!(ok, "{out}");
    let (ok, out) = kubectl_apply(&name, &env, json!({"nodeName": "node-2"}));
    assert!(!ok && out.contains("spec.nodeName is immutable"), "{out}");
    assert_eq!(env.nms().get(&name).await.expect("get").spec.node_name, "node-1");
}

#[tokio::test]
async fn malformed_schedules_are_rejected_naming_the_field() {
    let env = TestEnv::new("ms-input").await;
    let base = json!({"schedule": "0 2 * * 0", "duration": "3h", "nodeSelector": {}});
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("cron with 3 fields", json!({"schedule": "0 2 *"}), "spec.schedule"),
        (
            "cron with 6 fields",
            json!({"schedule": "0 0 2 * * 0"}),
            "spec.schedule",
        ),
        (
            "no duration",
            json!({"duration": null}),
            "spec.duration: Required value",
        ),
        ("zero duration", json!({"duration": "0s"}), "duration must be positive"),
        (
            "maxUnavailable 0",
            json!({"maxUnavailable": 0}),
            "maxUnavailable must be a positive count",
        ),
        (
            "maxUnavailable 0%",
            json!({"maxUnavailable": "0%"}),
            "maxUnavailable must be a positive count",
        ),
        (
            "maxUnavailable 150%",
            json!({"maxUnavailable": "150%"}),
            "maxUnavailable must be a positive count",
        ),
        (
            "no nodeSelector",
            json!({"nodeSelector": null}),
            "spec.nodeSelector: Required value",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, patch, expect)) in cases.iter().enumerate() {
        let mut spec = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                spec.as_object_mut().expect("object").remove(k);
            } else {
                spec[k] = v.clone();
            }
        }
        let (ok, text) = kubectl_apply_kind("MaintenanceSchedule", &format!("{}-bad-{i}", env.id), &env, spec);
        if ok || !text.contains(expect) {
            failures.push(format!(
                "{what}: expected a rejection mentioning {expect:?}, got {text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
