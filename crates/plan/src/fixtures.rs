//! Objects as the API server returns them, for the tests of this crate and of the operator (feature
//! `fixtures`): built from JSON so they read like the YAML people write.
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

/// A Ready node with the hostname label, `labels` added to it and `spec` as given.
pub fn node(name: &str, labels: Value, spec: Value) -> Node {
    let mut l = json!({"kubernetes.io/hostname": name});
    for (k, v) in labels.as_object().into_iter().flatten() {
        l[k] = v.clone();
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": l},
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap_or_default()
}
