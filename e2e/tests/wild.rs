//! Drains of what real clusters hold, each named for what a user would call it: pods that would come straight
//! back, controllers that bind their pods to the node, a node whose kubelet died, evictions an admission policy
//! refuses, PDBs that can never allow a disruption, finalizers, autoscaler hints, local volumes, hard
//! anti-affinity, node writes the API server refuses, and an object drydock cannot read. `drydock preview` is
//! asked first where it has something to say, and must tell the same story as the drain.
use std::{process::Output, time::Duration};

use drydock::api::v1alpha1::{NodeMaintenance, Phase};
use drydock_e2e::{
    ENV_LABEL, TestEnv,
    audit::Expect,
    controller::{Drydock, blocked_reasons, cli, drydock_annotations, taints, unschedulable},
    person::kubectl,
    wait_for, wait_until,
    workloads::{on_node, pod_ready, uids},
};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

fn status(nm: &NodeMaintenance) -> drydock::api::v1alpha1::NodeMaintenanceStatus {
    nm.status.clone().unwrap_or_default()
}

/// `kubectl apply -f -` of a manifest, as the admin.
fn apply(manifest: &str) {
    let (ok, out) = kubectl(&["apply", "-f", "-"], Some(manifest));
    assert!(ok, "kubectl apply: {out}\n{manifest}");
}

/// A ValidatingAdmissionPolicy (CEL, no webhook server) and its binding, scoped to one test's environment and
/// deleted when dropped, also when the test fails.
struct Policy(String);

/// What a [`Policy`] denies: `operation` on `resource` of the environment's objects (`scope`: `objectSelector` for
/// nodes, `namespaceSelector` for what lives in its namespace) unless `expression` holds. `reason` sets the code
/// of the refusal: `Invalid` is 422, `Forbidden` 403.
struct Deny<'a> {
    resource: &'a str,
    operation: &'a str,
    scope: &'a str,
    expression: &'a str,
    message: &'a str,
    reason: &'a str,
}

impl Policy {
    fn apply(env: &TestEnv, short: &str, deny: Deny) -> Self {
        let name = format!("{}-{short}", env.id);
        let Deny {
            resource,
            operation,
            scope,
            expression,
            message,
            reason,
        } = deny;
        apply(&format!(
            r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {name}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {{apiGroups: [""], apiVersions: [v1], operations: [{operation}], resources: [{resource}]}}
    {scope}: {{matchLabels: {{{ENV_LABEL}: {id}}}}}
  validations:
  - expression: "{expression}"
    message: "{message}"
    reason: {reason}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: {name}
  validationActions: [Deny]
"#,
            id = env.id
        ));
        Policy(name)
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let kinds = "validatingadmissionpolicybinding,validatingadmissionpolicy";
        kubectl(&["delete", kinds, &self.0, "--ignore-not-found"], None);
    }
}

/// Waits until the admin's `kubectl ARGS --dry-run=server` is denied with `words`: a new admission policy is live.
async fn until_denied(args: &[&str], words: &str) {
    until_admission(args, words, true).await;
}

/// Waits until `kubectl ARGS --dry-run=server` is no longer denied with `words`: a deleted policy is gone.
async fn until_allowed(args: &[&str], words: &str) {
    until_admission(args, words, false).await;
}

async fn until_admission(args: &[&str], words: &str, denied: bool) {
    let what = if denied { "deny" } else { "stop denying" };
    wait_until(
        &format!("the policy to {what} `kubectl {}`", args.join(" ")),
        Duration::from_secs(30),
        || async {
            let mut full = args.to_vec();
            full.push("--dry-run=server");
            // `kubectl cordon` exits 0 even when refused: the words tell.
            kubectl(&full, None).1.contains(words) == denied
        },
    )
    .await;
}

/// `drydock preview NODE`, which must exit with `code`; its output and the rows of its table.
fn preview(node: &str, code: i32) -> (Output, Vec<(String, String, String)>) {
    let out = cli(&["preview", node]);
    assert_eq!(out.status.code(), Some(code), "{}", output(&out));
    let rows = preview_rows(&out);
    (out, rows)
}

/// `(pod, action, why)` for each row of `drydock preview`'s table.
fn preview_rows(out: &Output) -> Vec<(String, String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (_ns, pod, action) = (words.next()?, words.next()?, words.next()?);
            let why = words.collect::<Vec<_>>().join(" ");
            ["evict", "delete", "skip", "blocked", "wait", "terminating"]
                .contains(&action)
                .then(|| (pod.to_string(), action.to_string(), why))
        })
        .collect()
}

fn output(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The value of a counter or gauge line of the controller's /metrics, 0 when absent.
fn metric(drydock: &Drydock, line: &str) -> u64 {
    drydock
        .get("/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or(0)
}

/// The Cilium operator's shape: it tolerates every taint and a nodeSelector names the node. Its replacement would
/// be scheduled straight back onto the cordoned node (434 evictions in 2 minutes before this rule), so it stays,
/// as a DaemonSet pod does; preview says so first, and the other pods leave once each.
#[tokio::test]
async fn an_operator_that_tolerates_every_taint_stays_instead_of_being_evicted_in_a_loop() {
    let mut env = TestEnv::new("wild-tolerant").await;
    let a = env.node("a").await;
    let mut pinned = env.placement_on(&a);
    pinned["tolerations"] = json!([{"operator": "Exists"}]);
    let operators = env.ready_deployment("operator", 2, pinned).await;
    env.ready_deployment("web", 3, env.placement()).await;
    env.node("b").await;

    let (preview, rows) = preview(&a, 0);
    for op in &operators {
        let row = rows.iter().find(|r| r.0 == op.name_any()).expect("a row per pod");
        assert_eq!(row.1, "skip", "{}", output(&preview));
        assert!(row.2.contains("scheduled straight back"), "{}", output(&preview));
    }

    env.expect_audit(Expect::restored(&a, 3));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    let nm = env.wait_nm("m", Phase::Drained, |_| true).await;
    assert_eq!(
        uids(&env.pods(Some("operator")).await),
        uids(&operators),
        "the operator's pods were never evicted"
    );
    let evictions = env.evictions_by_pod();
    assert_eq!(evictions.len(), 3, "the three web pods left: {evictions:?}");
    assert!(
        evictions.iter().all(|(pod, n)| pod.starts_with("web-") && *n == 1),
        "{evictions:?}"
    );
    let s = status(&nm);
    assert_eq!(s.pods.as_ref().map(|p| p.progress.as_str()), Some("3/3"));
    for op in &operators {
        let note = s
            .skipped_pods
            .iter()
            .find(|n| n.name == op.name_any())
            .expect("status names the pod that stays");
        assert!(
            note.reason.contains("would be scheduled straight back"),
            "{}",
            note.reason
        );
    }
    env.delete_nm("m").await;
}

/// A controller that puts its pods on the node itself (spec.nodeName in the template, as some operators and
/// static-pod managers do) ignores the cordon: every evicted pod comes back at once. No rule foresees it, so the
/// bound holds: each of its pods is evicted once, the ones that come back are reported ("keeps coming back") and
/// never evicted, and the drain's timeout ends it.
#[tokio::test]
async fn pods_a_controller_binds_back_to_the_node_are_evicted_once_then_reported() {
    let mut env = TestEnv::new("wild-bound").await;
    let a = env.node("a").await;
    env.node("b").await;
    let mut pod_spec = json!({"nodeName": a, "containers": [{"name": "agent", "image": "registry.invalid/agent:1"}],
                              "terminationGracePeriodSeconds": 1});
    drydock_e2e::workloads::merge(&mut pod_spec, env.placement());
    let refused = env
        .create_all(&[json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "bound", "namespace": env.ns()},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bound"}},
                     "template": {"metadata": {"labels": {"app": "bound"}}, "spec": pod_spec}}
        })])
        .await;
    assert!(refused.is_empty(), "{refused:?}");
    env.wait_ready_pods("bound", 2).await;

    env.expect_audit(Expect::restored(&a, 2));
    let drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({"drain": {"timeout": "20s", "onTimeout": "Abort"}}))
        .await;
    let nm = env
        .wait_nm("m", Phase::Draining, |nm| {
            let b = blocked_reasons(nm);
            b.len() == 2 && b.iter().all(|r| r.contains("keeps coming back"))
        })
        .await;
    let reasons = blocked_reasons(&nm);
    assert!(
        reasons[0].contains("2 pods of ReplicaSet") && reasons[0].contains("/bound were evicted"),
        "{reasons:?}"
    );
    // The controller keeps looking (its refusals of the returned pods are counted), and evicts nothing more.
    let refusals = metric(&drydock, "drydock_evictions_total{result=\"blocked_other\"}");
    wait_until(
        "two more looks at the returned pods",
        Duration::from_secs(60),
        || async { metric(&drydock, "drydock_evictions_total{result=\"blocked_other\"}") >= refusals + 2 },
    )
    .await;
    let evictions = env.evictions_by_pod();
    assert_eq!(evictions.len(), 2, "{evictions:?}");
    assert!(evictions.values().all(|n| *n == 1), "{evictions:?}");
    assert_eq!(metric(&drydock, "drydock_evictions_total{result=\"evicted\"}"), 2);

    let nm = env
        .wait_nm("m", Phase::Failed, |nm| {
            nm.status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .is_some_and(|m| m.contains("drain.timeout"))
        })
        .await;
    assert!(!unschedulable(&env.get_node(&a).await), "{:?}", status(&nm).message);
}

/// A node whose kubelet is gone (no heartbeat, nothing acts for its pods): it goes NotReady, and evicted pods stay
/// Terminating for ever. Status says why in plain words; `whenNodeNotReady: OutOfService` finishes the maintenance with
/// Kubernetes' own non-graceful node shutdown, and the taint goes at restore like every taint drydock adds.
#[tokio::test]
async fn a_node_whose_kubelet_died_is_explained_and_can_be_finished_out_of_service() {
    let mut env = TestEnv::new("wild-dead").await;
    // Its kubelet reported Ready once and then died: kwok never acts for it, so nothing confirms a pod's end.
    let a = env.node_without_kubelet("a").await;
    env.deployment("web", 2, env.placement(), json!({})).await;
    wait_until("the web pods bound to the node", Duration::from_secs(60), || async {
        env.pods(Some("web")).await.iter().filter(|p| on_node(p, &a)).count() == 2
    })
    .await;
    env.node("b").await;
    env.expect_audit(Expect {
        node_writes: 3,
        ..Expect::restored(&a, 2)
    });
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    // The node-lifecycle controller marks it NotReady once its lease is stale (up to a minute and a half here).
    let nm = wait_for(
        "the drain to say the node is NotReady",
        Duration::from_secs(180),
        || async {
            let nm = env.nms().get(&env.nm_name("m")).await.ok()?;
            let b = blocked_reasons(&nm);
            (b.len() == 2 && b.iter().all(|r| r.contains("on a NotReady node"))).then_some(nm)
        },
    )
    .await;
    assert_eq!(status(&nm).phase, Phase::Draining);
    let reason = &blocked_reasons(&nm)[0];
    assert!(
        reason.contains("its kubelet is not responding") && reason.contains("whenNodeNotReady: OutOfService"),
        "{reason}"
    );
    assert!(
        !taints(&env.get_node(&a).await)
            .iter()
            .any(|t| t.starts_with("node.kubernetes.io/out-of-service")),
        "nothing out of service without the person's say-so"
    );

    env.patch_nm("m", json!({"drain": {"whenNodeNotReady": "OutOfService"}}))
        .await;
    let nm = env.wait_nm("m", Phase::Drained, |_| true).await;
    let node = env.get_node(&a).await;
    assert!(
        taints(&node).contains(&"node.kubernetes.io/out-of-service=nodeshutdown:NoExecute".to_string()),
        "{:?}",
        taints(&node)
    );
    assert!(
        env.events("Node", &a).await.iter().any(|(r, _)| r == "OutOfService"),
        "the node's Events say what was done"
    );
    assert!(
        env.pods(Some("web")).await.iter().all(|p| !on_node(p, &a)),
        "{:?}",
        status(&nm)
    );

    env.delete_nm("m").await;
    let node = env.get_node(&a).await;
    assert!(
        !taints(&node)
            .iter()
            .any(|t| t.starts_with("node.kubernetes.io/out-of-service")),
        "drydock's out-of-service taint is removed at restore: {:?}",
        taints(&node)
    );
    assert!(!unschedulable(&node) && drydock_annotations(&node).is_empty());
}

/// A ValidatingAdmissionPolicy (CEL, no webhook server) refuses the eviction of some pods. The policy's words reach
/// status, the retries back off instead of hammering, and the drain's timeout decides the end.
#[tokio::test]
async fn an_eviction_an_admission_policy_refuses_is_explained_retried_gently_and_timed_out() {
    let mut env = TestEnv::new("wild-vap").await;
    let _policy = Policy::apply(
        &env,
        "no-db-eviction",
        Deny {
            resource: "pods/eviction",
            operation: "CREATE",
            scope: "namespaceSelector",
            expression: "!object.metadata.name.startsWith('db-')",
            message: "db pods are moved by the database team, never evicted",
            reason: "Forbidden",
        },
    );
    let a = env.node("a").await;
    let db = env.ready_deployment("db", 1, env.placement()).await;
    env.ready_deployment("web", 2, env.placement()).await;
    env.node("b").await;
    // The policy is live once the API server refuses a dry-run eviction of the db pod.
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    let eviction: k8s_openapi::api::policy::v1::Eviction = serde_json::from_value(json!({
        "metadata": {"name": db[0].name_any(), "namespace": env.ns()}
    }))
    .expect("eviction");
    let dry_run = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    wait_until(
        "the policy to refuse evicting the db pod",
        Duration::from_secs(30),
        || async {
            pods.create_subresource::<_, serde_json::Value>("eviction", &db[0].name_any(), &dry_run, &eviction)
                .await
                .is_err_and(|e| e.to_string().contains("database team"))
        },
    )
    .await;

    env.expect_audit(Expect::restored(&a, 2));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({"drain": {"timeout": "15s", "onTimeout": "Abort"}}))
        .await;
    let nm = env
        .wait_nm("m", Phase::Draining, |nm| !blocked_reasons(nm).is_empty())
        .await;
    let reason = &blocked_reasons(&nm)[0];
    assert!(
        reason.starts_with("db-")
            && reason.contains("eviction refused by an admission policy")
            && reason.contains("db pods are moved by the database team"),
        "{reason}"
    );
    let nm = env.wait_nm("m", Phase::Failed, |_| true).await;
    let s = status(&nm);
    assert!(
        s.message.as_deref().unwrap_or("").contains("drain.timeout"),
        "{:?}",
        s.message
    );
    assert!(!unschedulable(&env.get_node(&a).await), "Abort gives the node back");
    let attempts: usize = env
        .eviction_requests_by_pod()
        .iter()
        .filter(|(pod, _)| pod.starts_with("db-"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        (2..=6).contains(&attempts),
        "the refused eviction is retried with backoff (1 s, 2 s, 4 s, ...) over 15 s, not hammered: {attempts} attempts"
    );
}

/// A PDB with maxUnavailable 0 can never allow a disruption: status says so and names the PDB, and the drain's
/// timeout applies.
#[tokio::test]
async fn a_pdb_that_can_never_allow_a_disruption_is_named_and_the_timeout_applies() {
    let mut env = TestEnv::new("wild-pdb").await;
    let a = env.web_on_a(2, None).await;
    apply(&format!(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: frozen, namespace: {}}}\n\
         spec: {{maxUnavailable: 0, selector: {{matchLabels: {{app: web}}}}}}\n",
        env.ns()
    ));
    env.pdb_settled("frozen", 0).await;
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({"drain": {"timeout": "10s", "onTimeout": "Abort"}}))
        .await;
    let nm = env.wait_blocked("m", 2).await;
    for reason in blocked_reasons(&nm) {
        assert!(
            reason.contains(&format!("PDB {}/frozen", env.ns()))
                && reason.contains("can never allow a disruption (maxUnavailable: 0)"),
            "{reason}"
        );
    }
    let nm = env.wait_nm("m", Phase::Failed, |_| true).await;
    assert!(status(&nm).message.unwrap_or_default().contains("drain.timeout"));
    assert!(env.evictions_by_pod().is_empty(), "no pod left past the PDB");
}

/// A pod whose finalizer nobody removes stays Terminating for ever: status names the finalizer, and
/// skipWaitForDeleteSeconds stops waiting for it as kubectl's --skip-wait-for-delete-timeout does.
#[tokio::test]
async fn a_pod_stuck_on_a_finalizer_is_named_and_skip_wait_lets_the_drain_finish() {
    let mut env = TestEnv::new("wild-final").await;
    let a = env.node("a").await;
    env.deployment("web", 1, env.placement(), json!({})).await;
    // The ReplicaSet copies the template's finalizers onto its pods.
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.client.clone(), env.ns());
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"finalizers": ["example.com/backup"]}}}})),
        )
        .await
        .expect("add a finalizer to the template");
    let held = wait_for("the pod with the finalizer", Duration::from_secs(60), || async {
        let pods = env.pods(Some("web")).await;
        pods.into_iter().find(|p| {
            pod_ready(p)
                && p.metadata.deletion_timestamp.is_none()
                && p.finalizers().iter().any(|f| f == "example.com/backup")
        })
    })
    .await;
    env.node("b").await;
    env.expect_audit(Expect::restored(&a, 1));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    let nm = env
        .wait_nm("m", Phase::Draining, |nm| {
            blocked_reasons(nm)
                .iter()
                .any(|r| r.contains("held by finalizer example.com/backup"))
        })
        .await;
    assert!(
        blocked_reasons(&nm)[0].contains("skipWaitForDeleteSeconds"),
        "{:?}",
        blocked_reasons(&nm)
    );
    env.patch_nm("m", json!({"drain": {"skipWaitForDeleteSeconds": 5}}))
        .await;
    let nm = env.wait_nm("m", Phase::Drained, |_| true).await;
    assert!(
        status(&nm)
            .skipped_pods
            .iter()
            .any(|p| p.name == held.name_any() && p.reason.contains("skipWaitForDeleteSeconds")),
        "{:?}",
        status(&nm).skipped_pods
    );
    // Let the namespace go: the finalizer's owner would remove it.
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    for p in env.pods(Some("web")).await {
        let _ = pods
            .patch(
                &p.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await;
    }
    let _ = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"finalizers": null}}}})),
        )
        .await;
    env.delete_nm("m").await;
}

/// `karpenter.sh/do-not-disrupt` and `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` ask autoscalers to
/// leave a pod alone. A maintenance is not a scale-down, but the owner asked: preview and the drain both name the
/// pods and the field that lets them go, nothing is evicted meanwhile, and once allowed the drain finishes.
#[tokio::test]
async fn autoscaler_hints_are_asked_about_before_a_maintenance_evicts() {
    let mut env = TestEnv::new("wild-hints").await;
    let a = env.node("a").await;
    let annotate = |key: &str, value: &str| json!({"metadata": {"annotations": {key: value}}});
    env.deployment("etl", 1, env.placement(), json!({})).await;
    env.deployment("db", 1, env.placement(), json!({})).await;
    env.deployment("web", 2, env.placement(), json!({})).await;
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.client.clone(), env.ns());
    for (name, template) in [
        ("etl", annotate("karpenter.sh/do-not-disrupt", "true")),
        (
            "db",
            annotate("cluster-autoscaler.kubernetes.io/safe-to-evict", "false"),
        ),
    ] {
        deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"template": template}})),
            )
            .await
            .expect("annotate the template");
    }
    wait_until("the annotated pods running", Duration::from_secs(60), || async {
        let pods = env.pods(None).await;
        pods.len() == 4
            && pods
                .iter()
                .all(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
            && pods.iter().filter(|p| !p.annotations().is_empty()).count() >= 2
    })
    .await;
    env.node("b").await;

    let (preview, rows) = preview(&a, 3);
    let hinted: Vec<&(String, String, String)> = rows.iter().filter(|r| r.1 == "blocked").collect();
    assert_eq!(hinted.len(), 2, "{}", output(&preview));
    assert!(
        hinted.iter().all(|r| r.2.ends_with("(flag: --evict-do-not-disrupt)")),
        "{}",
        output(&preview)
    );

    env.expect_audit(Expect::restored(&a, 4));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    let nm = env.wait_blocked("m", 2).await;
    let reasons = blocked_reasons(&nm).join("\n");
    assert!(
        reasons.contains("annotated karpenter.sh/do-not-disrupt: \"true\""),
        "{reasons}"
    );
    assert!(
        reasons.contains("annotated cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\""),
        "{reasons}"
    );
    assert!(reasons.contains("spec.drain.evictDoNotDisrupt: true"), "{reasons}");
    assert!(
        env.evictions_by_pod().is_empty(),
        "like every policy blocker, nothing leaves meanwhile"
    );
    env.patch_nm("m", json!({"drain": {"evictDoNotDisrupt": true}})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    assert_eq!(env.evictions_by_pod().len(), 4);
    env.delete_nm("m").await;
}

/// A pod whose claim is bound to a local PersistentVolume on this node cannot run elsewhere: preview and status
/// say so, nothing is evicted, and `evictUnplaceable` lets it go (its replacement waits Pending for the node).
#[tokio::test]
async fn a_pod_on_a_local_volume_cannot_move_and_preview_and_status_say_so() {
    let mut env = TestEnv::new("wild-local").await;
    let a = env.node("a").await;
    let pv = format!("{}-data", env.id);
    apply(&format!(
        r#"
apiVersion: v1
kind: PersistentVolume
metadata: {{name: {pv}, labels: {{{ENV_LABEL}: {id}}}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  local: {{path: /mnt/disks/data}}
  claimRef: {{namespace: {id}, name: data}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{a}]}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: {id}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: {pv}
  resources: {{requests: {{storage: 1Gi}}}}
"#,
        id = env.id
    ));
    env.deployment(
        "db",
        1,
        env.placement(),
        json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}),
    )
    .await;
    let db = env.wait_ready_pods("db", 1).await;
    env.node("b").await;

    let (preview, rows) = preview(&a, 3);
    assert!(
        rows[0].2.starts_with(&format!(
            "its replacement cannot run on another node: it uses PersistentVolume {pv}"
        )),
        "{}",
        output(&preview)
    );

    env.expect_audit(Expect::restored(&a, 1));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    let nm = env.wait_blocked("m", 1).await;
    assert_eq!(
        blocked_reasons(&nm)[0],
        format!(
            "{}: {}",
            db[0].name_any(),
            rows[0].2.trim_end_matches(" (flag: --evict-unplaceable)")
        ),
        "preview and status tell the same story"
    );
    assert!(env.evictions_by_pod().is_empty());
    env.patch_nm("m", json!({"drain": {"evictUnplaceable": true}})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    let pods = env.pods(Some("db")).await;
    assert!(
        pods.iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none()),
        "the replacement waits Pending for its volume's node"
    );
    env.delete_nm("m").await;
    env.wait_ready_pods("db", 1).await; // back on its node once it is restored
    kubectl(&["delete", "pv", &pv, "--wait=false"], None);
}

/// A Deployment with hard hostname anti-affinity and as many replicas as nodes cannot move a pod: preview said so
/// (exit 3), and the drain now agrees instead of evicting it into Pending.
#[tokio::test]
async fn hard_anti_affinity_with_as_many_replicas_as_nodes_blocks_in_preview_and_in_the_drain() {
    let mut env = TestEnv::new("wild-anti").await;
    let a = env.node("a").await;
    env.node("b").await;
    env.node("c").await;
    let spread = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "kafka"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    env.deployment("kafka", 3, env.placement(), spread).await;
    env.wait_ready_pods("kafka", 3).await;

    let (preview, rows) = preview(&a, 3);
    assert_eq!(rows.len(), 1, "{}", output(&preview));
    let why = rows[0].2.trim_end_matches(" (flag: --evict-unplaceable)").to_string();
    assert!(why.contains("hard anti-affinity"), "{why}");

    env.expect_audit(Expect::restored(&a, 1));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    let nm = env.wait_blocked("m", 1).await;
    assert_eq!(
        blocked_reasons(&nm)[0],
        format!("{}: {why}", rows[0].0),
        "the same story"
    );
    assert!(env.evictions_by_pod().is_empty(), "no capacity lost silently");
    env.patch_nm("m", json!({"drain": {"evictUnplaceable": true}})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    assert_eq!(env.evictions_by_pod().len(), 1);
    env.delete_nm("m").await;
}

/// A node write the API server refuses for good (here an admission policy answers 422 Invalid to a taint it
/// forbids): the maintenance ends Failed with the server's words, the node is untouched, and nothing retries it.
#[tokio::test]
async fn a_node_write_the_api_server_refuses_ends_failed_in_its_words() {
    let mut env = TestEnv::new("wild-422").await;
    let _policy = Policy::apply(
        &env,
        "no-kernel-taint",
        Deny {
            resource: "nodes",
            operation: "UPDATE",
            scope: "objectSelector",
            expression: "!has(object.spec.taints) || !object.spec.taints.exists(t, t.key == 'example.com/kernel')",
            message: "example.com/kernel taints are set by the kernel team's tooling only",
            reason: "Invalid",
        },
    );
    let a = env.node("a").await;
    until_denied(&["taint", "node", &a, "example.com/kernel=:NoSchedule"], "kernel team").await;
    env.expect_audit(Expect::default()); // the node write is refused: drydock changes nothing
    let _drydock = Drydock::start(&env, 0);
    env.maintenance(
        "m",
        &a,
        json!({"taints": [{"key": "example.com/kernel", "effect": "NoSchedule"}]}),
    )
    .await;
    let nm = env.wait_nm("m", Phase::Failed, |_| true).await;
    let s = status(&nm);
    let message = s.message.unwrap_or_default();
    assert!(
        message.starts_with(&format!("the API server refused to change node {a}"))
            && message.contains("example.com/kernel taints are set by the kernel team's tooling only")
            && message.contains("422"),
        "{message}"
    );
    let node = env.get_node(&a).await;
    assert!(
        !unschedulable(&node) && drydock_annotations(&node).is_empty(),
        "the node is untouched"
    );
    for (_, note) in env.events("NodeMaintenance", &env.nm_name("m")).await {
        assert!(
            !note.contains("Status {") && !note.contains("ErrorResponse"),
            "no debug dump in Events: {note}"
        );
    }
}

/// A refusal that can heal (403: a policy forbids the node write for now) is retried with backoff, and while it is,
/// status shows the phase and the server's words; once the policy goes, the maintenance proceeds.
#[tokio::test]
async fn a_refusal_that_can_heal_is_retried_with_phase_and_error_in_status() {
    let mut env = TestEnv::new("wild-403").await;
    let policy = Policy::apply(
        &env,
        "freeze",
        Deny {
            resource: "nodes",
            operation: "UPDATE",
            scope: "objectSelector",
            expression: "!has(object.spec.unschedulable) || !object.spec.unschedulable",
            message: "change freeze: no node is cordoned until Monday",
            reason: "Forbidden",
        },
    );
    let a = env.node("a").await;
    until_denied(&["cordon", &a], "change freeze").await;
    env.expect_audit(Expect::restored(&a, 0));
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    let nm = env
        .wait_nm("m", Phase::Pending, |nm| {
            nm.status
                .as_ref()
                .and_then(|s| s.last_error.as_deref())
                .is_some_and(|e| e.contains("change freeze"))
        })
        .await;
    let s = status(&nm);
    assert!(
        s.message.unwrap_or_default().starts_with("retrying in "),
        "status says what is happening"
    );
    assert!(!s.last_error.unwrap_or_default().contains("Status {"), "no debug dump");
    drop(policy); // the freeze ends
    env.wait_nm("m", Phase::Drained, |nm| status(nm).last_error.is_none())
        .await;
    env.delete_nm("m").await;
}

/// One NodeMaintenance drydock cannot read (its status edited by hand with a time of 13 fractional digits: valid
/// RFC 3339 to the API server, beyond the nanoseconds a Kubernetes time holds) is reported by name and left alone;
/// every other maintenance carries on. (A count beyond int32 served the same purpose until 1.37, whose API server
/// refuses it.)
#[tokio::test]
async fn an_object_drydock_cannot_read_is_reported_and_the_others_carry_on() {
    let mut env = TestEnv::new("wild-undecodable").await;
    let a = env.node("a").await;
    let b = env.node("b").await;
    // Made before the controller starts, so its first list already holds it.
    env.maintenance("bad", &b, json!({"window": {"start": "2099-01-01T00:00:00Z"}}))
        .await;
    let (ok, out) = kubectl(
        &[
            "patch",
            "nm",
            &env.nm_name("bad"),
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Waiting","completedAt":"2026-01-01T00:00:00.1234567891234Z"}}"#,
        ],
        None,
    );
    assert!(ok, "the API server takes it: {out}");
    env.expect_audit(Expect::restored(&a, 0));
    let drydock = Drydock::start(&env, 0);
    env.maintenance("good", &a, json!({})).await;
    env.wait_nm("good", Phase::Drained, |_| true).await;
    wait_until(
        "an Unreadable Event naming the bad object",
        Duration::from_secs(30),
        || async {
            env.events("NodeMaintenance", &env.nm_name("bad"))
                .await
                .iter()
                .any(|(r, note)| r == "Unreadable" && note.contains("1234Z"))
        },
    )
    .await;
    assert_eq!(metric(&drydock, "drydock_objects_unreadable"), 1);
    env.delete_nm("good").await;
}

/// A policy that refuses drydock's lifecycle conditions on the environment's nodes (a cluster that reserves node
/// status for its own agents).
fn refuse_lifecycle_conditions(env: &TestEnv) -> Policy {
    Policy::apply(
        env,
        "no-lifecycle-conditions",
        Deny {
            resource: "nodes/status",
            operation: "UPDATE",
            scope: "objectSelector",
            expression: "!has(object.status.conditions) || !object.status.conditions.exists(c, c.type in \
                         ['MaintenancePlanned', 'MaintenanceInProgress', 'DrainInProgress', 'Drained'])",
            message: "node status belongs to the node agents",
            reason: "Invalid",
        },
    )
}

const CONDITIONS_REFUSED: &str = "node status belongs to the node agents";

/// The admin's patch of a lifecycle condition on `node`, which [`refuse_lifecycle_conditions`] denies.
fn condition_patch(node: &str) -> [&str; 7] {
    let condition = r#"{"status":{"conditions":[{"type":"Drained","status":"False"}]}}"#;
    [
        "patch",
        "node",
        node,
        "--subresource=status",
        "--type=strategic",
        "-p",
        condition,
    ]
}

/// The NodeConditionsRefused Events about maintenance `short`.
async fn conditions_refused(env: &TestEnv, short: &str) -> Vec<(String, String)> {
    env.events("NodeMaintenance", &env.nm_name(short))
        .await
        .into_iter()
        .filter(|(reason, _)| reason == "NodeConditionsRefused")
        .collect()
}

/// An admission policy that refuses drydock's lifecycle conditions on the node: the maintenance runs to the end
/// regardless, says so once in a Warning Event, and the node gets none of the conditions. Once a later write of
/// them succeeds, a refusal after it is reported again: a refusal that healed must not hide a new one.
#[tokio::test]
async fn refused_lifecycle_conditions_are_reported_once_and_never_stop_a_maintenance() {
    let mut env = TestEnv::new("wild-cond").await;
    let policy = refuse_lifecycle_conditions(&env);
    let a = env.node("a").await;
    until_denied(&condition_patch(&a), CONDITIONS_REFUSED).await;
    env.ready_deployment("web", 2, env.placement()).await;
    env.node("b").await;
    env.expect_audit(Expect {
        condition_writes: 0,
        ..Expect::restored(&a, 2)
    });
    let _drydock = Drydock::start(&env, 0);
    env.maintenance("m", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    let refused = conditions_refused(&env, "m").await;
    assert_eq!(refused.len(), 1, "one Warning, not one per phase: {refused:?}");
    assert!(
        refused[0].1.contains(CONDITIONS_REFUSED) && refused[0].1.contains("nodes/status"),
        "the API server's words and what to do: {}",
        refused[0].1
    );
    let node = env.get_node(&a).await;
    let types: Vec<String> = node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert!(
        !types.iter().any(|t| t == "MaintenanceInProgress" || t == "Drained"),
        "{types:?}"
    );
    env.delete_nm("m").await;
    let node = env.get_node(&a).await;
    assert!(
        !unschedulable(&node) && drydock_annotations(&node).is_empty(),
        "restored all the same"
    );
    assert_eq!(env.audit().condition_writes, 0);

    // The policy goes, and the next maintenance's conditions are written.
    drop(policy);
    until_allowed(&condition_patch(&a), CONDITIONS_REFUSED).await;
    env.maintenance("accepted", &a, json!({})).await;
    env.wait_nm("accepted", Phase::Drained, |_| true).await;
    let written = env.get_node(&a).await;
    assert!(
        written
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Drained" && c.status == "True"),
        "the node shows it is drained once nothing refuses it"
    );
    env.delete_nm("accepted").await;
    assert!(env.audit().condition_writes > 0);

    // It comes back: the same drydock reports the new refusal.
    let _policy = refuse_lifecycle_conditions(&env);
    until_denied(&condition_patch(&a), CONDITIONS_REFUSED).await;
    env.maintenance("refused-again", &a, json!({})).await;
    env.wait_nm("refused-again", Phase::Drained, |_| true).await;
    let refused = conditions_refused(&env, "refused-again").await;
    assert_eq!(refused.len(), 1, "the new refusal is reported: {refused:?}");
    env.delete_nm("refused-again").await;
}
