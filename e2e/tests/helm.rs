//! The Helm chart on the real control plane, as a user installs it: `helm install` creates its objects, drydock
//! running as the chart's ServiceAccount (with the chart's RBAC and nothing else) elects itself leader and carries a
//! maintenance through to Completed, and `helm uninstall` removes what the chart made and keeps the CRDs.
//! kwok runs no real container, so the chart's own pods never serve: the locally built binary plays them.
use std::{path::PathBuf, process::Command, time::Duration};

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, write_service_account_kubeconfig},
    kubeconfig_path, wait_for, wait_until,
};
use k8s_openapi::{
    api::{coordination::v1::Lease, core::v1::Namespace, rbac::v1::ClusterRole},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::Api;
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// helm with `args`, against the test cluster.
fn helm_command(args: &[&str]) -> Command {
    let mut command = Command::new(root().join(".cache/bin/helm"));
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .current_dir(root());
    command
}

/// Runs helm against the test cluster; its output, or a panic with its error.
fn helm(args: &[&str]) -> String {
    let out = helm_command(args)
        .output()
        .expect("run helm (make cluster-build builds it)");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Uninstalls the release if the test ends before it did (a failed assertion): its ClusterRoles and task namespace
/// are cluster-wide, and nothing else removes them.
struct Installed {
    release: String,
    namespace: String,
    uninstalled: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.uninstalled {
            let _ = helm_command(&["uninstall", &self.release, "--namespace", &self.namespace]).output();
        }
    }
}

#[tokio::test]
async fn helm_install_runs_a_maintenance_with_the_charts_rbac_and_uninstalls_cleanly() {
    let mut env = TestEnv::new("helm").await;
    // The release takes the test's name, so every object it makes (ClusterRoles, the admission policy, the task
    // namespace, the ServiceAccount) is its own, and config/rbac's, which other tests run with, are left alone. It
    // goes to drydock-system as the docs say, which is also where the audit policy records drydock's node status
    // writes from (e2e/cluster/up.sh).
    let release = env.id.clone();
    let ns = "drydock-system".to_string();
    // The run-task admission policy is cluster-wide and config/policy's copy is installed for the other tests; a
    // second one would answer their requests in its own words (e2e/tests/chart.rs checks the chart renders it).
    helm(&[
        "install",
        &release,
        "charts/drydock",
        "--namespace",
        &ns,
        "--create-namespace",
        "--set",
        "runTaskPolicy.enabled=false",
    ]);
    let mut installed = Installed {
        release: release.clone(),
        namespace: ns.clone(),
        uninstalled: false,
    };
    let status = helm(&["status", &release, "--namespace", &ns]);
    assert!(status.contains("STATUS: deployed"), "{status}");
    let cluster_roles = Api::<ClusterRole>::all(env.client.clone());
    for role in ["controller", "maintainer", "preview", "task-author"] {
        let name = format!("{release}-{role}");
        assert!(
            cluster_roles.get_opt(&name).await.expect("get ClusterRole").is_some(),
            "{name} installed"
        );
    }

    let a = env.web_on_a(2, None).await;
    env.expect_audit(Expect::restored(&a, 2));
    // Judge the chart's identity's requests as drydock's: the safety promises hold for this install too.
    env.audit_controller_as(&format!("system:serviceaccount:{ns}:{release}"));
    let kubeconfig = root().join(format!(".cache/cluster/{release}.kubeconfig"));
    write_service_account_kubeconfig(&ns, &release, &kubeconfig);
    let identity = format!("{release}-0");
    let tasks = format!("{release}-tasks");
    let args = [
        "--leader-elect=true",
        "--lease-namespace",
        &ns,
        // Its own Lease: other tests' controllers elect theirs in drydock-system too.
        "--lease-name",
        &release,
        "--identity",
        &identity,
        "--task-namespace",
        &tasks,
    ];
    let mut drydock = Drydock::start_with(&env, 0, &args, Some(&kubeconfig));
    // The Lease in the release namespace: the chart's leader-election Role lets it take it.
    let leases = Api::<Lease>::namespaced(env.client.clone(), &ns);
    wait_until("the chart's ServiceAccount leads", Duration::from_secs(60), || async {
        leases
            .get_opt(&release)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
            .is_some_and(|h| h == identity)
    })
    .await;

    env.maintenance("kernel", &a, json!({"window": {"duration": "8s"}}))
        .await;
    let drained = env.wait_nm("kernel", Phase::Drained, |_| true).await;
    assert_eq!(
        drained.status.as_ref().and_then(|s| s.pods.as_ref()).map(|p| p.evicted),
        Some(2),
        "both pods evicted"
    );
    env.wait_nm("kernel", Phase::Completed, |_| true).await;
    let node = env.get_node(&a).await;
    assert!(
        !node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        "node {a} uncordoned after the window"
    );
    env.delete_nm("kernel").await;
    let stopped = drydock.terminate().await;
    assert!(
        stopped.status.is_some_and(|s| s.success()),
        "drydock exits cleanly: {stopped:?}\n{}",
        drydock.log_text()
    );

    helm(&["uninstall", &release, "--namespace", &ns, "--wait", "--timeout", "2m"]);
    installed.uninstalled = true;
    for role in ["controller", "maintainer", "preview", "task-author"] {
        let name = format!("{release}-{role}");
        assert!(
            cluster_roles.get_opt(&name).await.expect("get ClusterRole").is_none(),
            "{name} removed"
        );
    }
    // The task namespace goes (it may take a moment to finish terminating).
    let namespaces = Api::<Namespace>::all(env.client.clone());
    wait_for("the task namespace to go", Duration::from_secs(60), || async {
        let gone = namespaces
            .get_opt(&tasks)
            .await
            .expect("get Namespace")
            .is_none_or(|n| n.status.and_then(|s| s.phase).as_deref() == Some("Terminating"));
        gone.then_some(())
    })
    .await;
    // CRDs stay, as Helm leaves a chart's crds/: removing them would delete every NodeMaintenance.
    let crds = Api::<CustomResourceDefinition>::all(env.client.clone());
    assert!(
        crds.get_opt("nodemaintenances.drydock.dev")
            .await
            .expect("get CRD")
            .is_some()
    );
    let left = helm(&["list", "--namespace", &ns, "--short"]);
    assert!(left.trim().is_empty(), "releases left: {left}");
}
