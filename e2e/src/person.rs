//! What a person at a terminal does and sees: kubectl as the cluster admin, and the Events drydock recorded.
use std::{io::Write, process::Stdio};

use k8s_openapi::api::events::v1::Event;
use kube::Api;

use crate::{TestEnv, kubeconfig_path};

/// Runs the cluster's kubectl (1.33) as the admin with `stdin`; returns (success, stdout + stderr).
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let bin = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/kubectl");
    let mut child = std::process::Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write kubectl's stdin");
    drop(input);
    let out = child.wait_with_output().expect("kubectl output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Like [`kubectl`], panicking with its output when it fails.
pub fn kubectl_ok(args: &[&str]) -> String {
    let (ok, out) = kubectl(args, None);
    assert!(ok, "kubectl {}: {out}", args.join(" "));
    out
}

impl TestEnv {
    /// The Events about the object of `kind` named `name` (drydock records them in "default").
    async fn events_about(&self, kind: &str, name: &str) -> Vec<Event> {
        let list = Api::<Event>::namespaced(self.client.clone(), "default")
            .list(&Default::default())
            .await
            .expect("list events");
        list.items
            .into_iter()
            .filter(|e| {
                e.regarding
                    .as_ref()
                    .is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
            })
            .collect()
    }

    /// (reason, note) of the Events about the object of `kind` named `name`.
    pub async fn events(&self, kind: &str, name: &str) -> Vec<(String, String)> {
        self.events_about(kind, name)
            .await
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }

    /// How many times drydock said `reason` about the object: an Event said again is recorded as a series of the
    /// first (with the first note), so this counts occurrences, not Event objects.
    pub async fn event_count(&self, kind: &str, name: &str, reason: &str) -> i32 {
        self.events_about(kind, name)
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .map(|e| e.series.map_or(1, |s| s.count))
            .sum()
    }
}
