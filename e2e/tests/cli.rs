//! The runbook CLI against the real cluster, as a script would use it: the real binary as a subprocess, its
//! output and its exit codes (0 done, 1 failed, 2 usage, 3 would not finish, 4 not found, 5 timed out).
use std::{path::PathBuf, process::Output};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    audit::Expect,
    controller::{Drydock, binary, cli, unschedulable},
    kubeconfig_path,
};
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::json;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Both streams, for assertion messages.
fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// Asserts the exit code and that a failure explains itself in exactly one line on stderr.
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    if code != 0 {
        let err = stderr(o);
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
        assert_eq!(lines.len(), 1, "one line on stderr: {err}");
        assert!(
            lines[0].starts_with("drydock: ") || lines[0].starts_with("error: "),
            "{err}"
        );
    }
}

async fn set_unschedulable(env: &TestEnv, node: &str, value: bool) {
    Api::<Node>::all(env.client.clone())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": value}})),
        )
        .await
        .expect("patch node");
    // The node-lifecycle controller keeps the taint node.kubernetes.io/unschedulable in step, a moment later.
    drydock_e2e::wait_until(
        &format!("taint node.kubernetes.io/unschedulable on {node} to follow"),
        std::time::Duration::from_secs(30),
        || async {
            let tainted = env
                .get_node(node)
                .await
                .spec
                .and_then(|s| s.taints)
                .unwrap_or_default()
                .iter()
                .any(|t| t.key == "node.kubernetes.io/unschedulable");
            tainted == value
        },
    )
    .await;
}

/// The NodeMaintenances of a node (spec.nodeName is a selectable field).
async fn nms_of(env: &TestEnv, node: &str) -> Vec<NodeMaintenance> {
    Api::<NodeMaintenance>::all(env.client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .expect("list nms")
        .items
}

/// Node a runs two web pods guarded by a PDB with no room and a bare pod; node b could take the web pods.
#[tokio::test]
async fn preview_names_every_blocker_and_changes_nothing() {
    let mut env = TestEnv::new("cli-preview").await;
    env.expect_audit(Expect::default()); // no controller: a preview changes nothing
    let a = env.node("a").await;
    // b is cordoned while the Deployment starts, so both pods land on a, then opened for replacements.
    let b = env.node_with("b", json!({"spec": {"unschedulable": true}})).await;
    env.ready_deployment("web", 2, env.placement()).await;
    set_unschedulable(&env, &b, false).await;
    env.settled_pdb("web", 2, 0).await;
    env.bare_pod("debug", &a, json!({})).await;
    env.wait_ready_pods("debug", 1).await;

    let out = cli(&["preview", &a]);
    assert_exit(&out, 3);
    let t = stdout(&out);
    let web_lines: Vec<&str> = t.lines().filter(|l| l.contains(" web-")).collect();
    assert_eq!(web_lines.len(), 2, "{t}");
    for l in web_lines {
        assert!(l.contains("blocked"), "{l}");
        assert!(
            l.ends_with(&format!("PDB {}/web allows 0 disruptions now", env.ns())),
            "{l}"
        );
    }
    assert!(
        t.lines()
            .any(|l| l.contains("debug") && l.contains("blocked") && l.contains("Pods that declare no controller")),
        "{t}"
    );
    assert!(t.contains("3 pods on"), "{t}");
    assert!(
        stderr(&out).contains(&format!("the drain of {a} would not finish: 3 pod(s) block it")),
        "{}",
        text(&out)
    );
    assert!(!unschedulable(&env.get_node(&a).await), "a preview changes nothing");

    // Only the web pods: the bare pod stays, so only the PDB blocks.
    let out = cli(&["preview", &a, "--selector", "app=web"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("2 pod(s) block it"), "{}", text(&out));

    // With room in the budget and the bare pod allowed, the drain can finish: b takes the replacements.
    env.set_min_available("web", 0).await;
    env.pdb_settled("web", 2).await;
    let out = cli(&["preview", &a, "--evict-unmanaged"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(&format!("the drain of {a} can finish")),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("allows 2 disruptions now"), "{}", text(&out));

    let out = cli(&["preview", &format!("{}-nosuchnode", env.id)]);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("not found"), "{}", text(&out));
}

/// Hard anti-affinity per hostname with as many replicas as nodes: the evicted replica has nowhere to go, until
/// another node joins.
#[tokio::test]
async fn hard_anti_affinity_needs_a_free_node() {
    let mut env = TestEnv::new("cli-anti").await;
    env.expect_audit(Expect::default());
    let a = env.node("a").await;
    let _b = env.node("b").await;
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    env.deployment("spread", 2, env.placement(), anti).await;
    env.wait_ready_pods("spread", 2).await;

    let out = cli(&["preview", &a]);
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains(&format!(
            "its replacement has nowhere to go: hard anti-affinity on kubernetes.io/hostname allows one pod of \
             app=spread per node; its 2 pods need 2 nodes besides {a}, and only 1 is eligible"
        )),
        "{}",
        text(&out)
    );

    // A third node: room for the second replacement (schedulable: TestEnv::node waits for that).
    env.node("c").await;
    let out = cli(&["preview", &a]);
    assert_exit(&out, 0);
}

#[tokio::test]
async fn start_wait_status_end_with_exit_codes() {
    let mut env = TestEnv::new("cli-run").await;
    // Node b is somewhere for the evicted pod to go.
    let a = env.web_on_a(1, None).await;
    env.expect_audit(Expect::restored(&a, 1));
    let _drydock = Drydock::start(&env, 0);
    let label = format!("{ENV_LABEL}={}", env.id);
    let name = env.nm_name("cli");

    let out = cli(&[
        "start",
        &a,
        "--reason",
        "kernel",
        "--name",
        &name,
        "--label",
        &label,
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(&format!("nodemaintenance/{name} created for node {a}")),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains(&format!("{a} is drained and held by nodemaintenance/{name}")),
        "{}",
        text(&out)
    );
    assert!(
        unschedulable(&env.get_node(&a).await),
        "drained and cordoned when start --wait returns"
    );

    let out = cli(&["status", &name]);
    assert_exit(&out, 0);
    let t = stdout(&out);
    assert!(
        t.lines().any(|l| l.starts_with("Phase:") && l.ends_with("Drained")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("Pods:") && l.contains("1/1 evicted, 0 remaining")),
        "{t}"
    );
    assert!(
        t.lines().any(|l| l.starts_with("Reason:") && l.ends_with("kernel")),
        "{t}"
    );

    // Already drained: a watch until drained ends at once; not on a terminal, it prints plain lines.
    let out = cli(&["status", &name, "--watch", "--until", "drained", "--timeout", "30s"]);
    assert_exit(&out, 0);
    assert!(
        !stdout(&out).contains('\x1b'),
        "no terminal codes in a pipe: {}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("Drained  [####################] 1/1 evicted"),
        "{}",
        text(&out)
    );

    let out = cli(&["list", "-l", &label]);
    assert_exit(&out, 0);
    let t = stdout(&out);
    assert!(t.starts_with("NAME "), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with(&name) && l.contains("Drained") && l.contains("1/1")),
        "{t}"
    );

    let out = cli(&["end", &name, "--wait", "--timeout", "60s"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(&format!("{a} is restored and schedulable again")),
        "{}",
        text(&out)
    );
    assert!(!unschedulable(&env.get_node(&a).await), "restored");

    for args in [vec!["status", name.as_str()], vec!["end", name.as_str()]] {
        let out = cli(&args);
        assert_exit(&out, 4);
        assert!(
            stderr(&out).contains(&format!("nodemaintenance/{name} not found")),
            "{}",
            text(&out)
        );
    }
}

/// A drain blocked by a PDB: `start --wait` gives up after --timeout with exit 5, naming the blocker, and the
/// maintenance carries on.
#[tokio::test]
async fn start_wait_times_out_on_a_drain_blocked_by_a_pdb() {
    let mut env = TestEnv::new("cli-timeout").await;
    // The replacement would have a place on b: only the PDB blocks.
    let a = env.web_on_a(1, Some(1)).await;
    // Held; the budget never lets the pod go.
    env.expect_audit(Expect::held(0));
    let _drydock = Drydock::start(&env, 0);
    let label = format!("{ENV_LABEL}={}", env.id);
    // No --name: the default is <node>-<UTC time>.
    let out = cli(&[
        "start",
        &a,
        "--reason",
        "r",
        "--label",
        &label,
        "--wait",
        "--timeout",
        "5s",
    ]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(err.contains("after 5s"), "{err}");
    assert!(
        err.contains(&format!("PDB {}/web allows 0 disruptions", env.ns())),
        "{err}"
    );
    assert!(
        stdout(&out).contains("blocked"),
        "progress lines name the blocker: {}",
        text(&out)
    );

    let nms = nms_of(&env, &a).await;
    assert_eq!(nms.len(), 1);
    let name = nms[0].metadata.name.clone().expect("name");
    assert!(
        name.starts_with(&format!("{a}-")) && name.len() == a.len() + 16,
        "default name <node>-<yyyymmdd-hhmmss>: {name}"
    );
    env.wait_nm(
        name.trim_start_matches(&format!("{}-", env.id)),
        Phase::Draining,
        |_| true,
    )
    .await;
}

/// Bad input is refused before anything is created: usage errors exit 2, an unknown node 4.
#[tokio::test]
async fn bad_input_creates_nothing() {
    let mut env = TestEnv::new("cli-input").await;
    env.expect_audit(Expect::default());
    let a = env.node("a").await;
    for args in [
        vec!["start", &a, "--reason", "r", "--duration", "2"],
        vec!["start", &a, "--reason", "r", "--name", "Not_A_Name"],
        vec!["start", &a, "--reason", "r", "--selector", "app in (web"],
        vec!["start", &a],
    ] {
        let out = cli(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
    let missing = format!("{}-nosuchnode", env.id);
    let out = cli(&["start", &missing, "--reason", "r"]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains(&format!("node {missing} not found")),
        "{}",
        text(&out)
    );
    assert!(nms_of(&env, &a).await.is_empty());
    assert!(nms_of(&env, &missing).await.is_empty());
}

/// `kubectl drydock ...`: kubectl finds the binary on PATH as kubectl-drydock and passes its exit code on.
#[tokio::test]
async fn works_as_a_kubectl_plugin() {
    let env = TestEnv::new("cli-plugin").await;
    env.expect_audit(Expect::default());
    let dir = std::env::temp_dir().join(format!("drydock-plugin-{}", env.id));
    std::fs::create_dir_all(&dir).expect("plugin dir");
    let link = dir.join("kubectl-drydock");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(std::fs::canonicalize(binary()).expect("binary"), &link).expect("symlink");
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let kubectl = |args: &[&str]| {
        std::process::Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/kubectl"))
            .arg("drydock")
            .args(args)
            .env("KUBECONFIG", kubeconfig_path())
            .env("PATH", &path)
            .output()
            .expect("run kubectl")
    };
    let label = format!("{ENV_LABEL}={}", env.id);
    let out = kubectl(&["list", "-l", &label]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(stdout(&out), "no NodeMaintenances\n");
    let out = kubectl(&["status", &format!("{}-missing", env.id)]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(stderr(&out).starts_with("kubectl drydock: "), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
