//! Giving a maintenance a task (a pod of one's choosing on the node, often privileged: root there) is a permission
//! of its own: the run-task verb, which the admission policy drydock-run-task (config/policy) asks for and the
//! ClusterRole drydock-task-author (config/rbac) grants. drydock-maintainer alone starts maintenances, without
//! tasks. People act here through impersonation, holding config/rbac's roles (and, to change NodeMaintenances,
//! which drydock-maintainer does not allow, a patch right of the test's own).
//!
//! No controller runs, and none would act: every NodeMaintenance's window opens in 2099, on a node that does not
//! exist, and every schedule is suspended, over no node.
use std::{future::Future, time::Duration};

use drydock::api::v1alpha1::{MaintenanceSchedule, NodeMaintenance};
use drydock_e2e::{
    ENV_LABEL, TestEnv, audit::Expect, controller::controller_kubeconfig, kubeconfig_path, person::kubectl, wait_for,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::{
    Api, Client, Config,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::{Value, json};

/// A client that acts as the user `user` (impersonated by the admin), with no group but system:authenticated.
async fn client_as(user: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path()).expect("read the admin's kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    config.auth_info.impersonate = Some(user.to_string());
    // One answer per request: a refusal is what the test looks at.
    config.default_retry = false;
    Client::try_from(config).expect("client builds")
}

/// The ClusterRoles and ClusterRoleBindings a test made for its people, deleted when dropped, also when the test
/// fails (they are cluster-wide: the environment's namespace does not take them along).
struct Grants {
    env_id: String,
    bindings: Vec<String>,
    roles: Vec<String>,
}

impl Grants {
    fn new(env: &TestEnv) -> Self {
        Self {
            env_id: env.id.clone(),
            bindings: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// Binds the ClusterRole `role` to the user `user`: ClusterRoleBinding `<env>-<short>`.
    async fn bind(&mut self, client: &Client, short: &str, role: &str, user: &str) {
        let name = format!("{}-{short}", self.env_id);
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {ENV_LABEL: self.env_id}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
        }))
        .expect("clusterrolebinding json");
        self.bindings.push(name);
        Api::<ClusterRoleBinding>::all(client.clone())
            .create(&PostParams::default(), &binding)
            .await
            .expect("create ClusterRoleBinding");
    }

    /// A ClusterRole `<env>-<short>` with these rules.
    async fn role(&mut self, client: &Client, short: &str, rules: Value) -> String {
        let name = format!("{}-{short}", self.env_id);
        let role: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {ENV_LABEL: self.env_id}},
            "rules": rules
        }))
        .expect("clusterrole json");
        self.roles.push(name.clone());
        Api::<ClusterRole>::all(client.clone())
            .create(&PostParams::default(), &role)
            .await
            .expect("create ClusterRole");
        name
    }
}

impl Drop for Grants {
    fn drop(&mut self) {
        for (kind, names) in [("clusterrolebinding", &self.bindings), ("clusterrole", &self.roles)] {
            if names.is_empty() {
                continue;
            }
            let mut args = vec!["delete", kind, "--ignore-not-found", "--wait=false"];
            args.extend(names.iter().map(String::as_str));
            let (ok, out) = kubectl(&args, None);
            assert!(ok || std::thread::panicking(), "kubectl {}: {out}", args.join(" "));
        }
    }
}

/// Where the people of this test act: NodeMaintenances and MaintenanceSchedules as plain JSON, so the test says
/// exactly what is sent, whatever the Rust types make of it.
struct Objects {
    nms: Api<DynamicObject>,
    schedules: Api<DynamicObject>,
}

impl Objects {
    fn of(client: &Client) -> Self {
        Self {
            nms: Api::all_with(client.clone(), &ApiResource::erase::<NodeMaintenance>(&())),
            schedules: Api::all_with(client.clone(), &ApiResource::erase::<MaintenanceSchedule>(&())),
        }
    }
}

/// A task such as a kernel upgrade: privileged, in the host's PID namespace.
fn task(image: &str) -> Value {
    json!({
        "template": {
            "metadata": {"labels": {"app": "kernel-upgrade"}},
            "spec": {
                "hostPID": true,
                "containers": [{"name": "upgrade", "image": image, "securityContext": {"privileged": true}}]
            }
        },
        "onFailure": "Hold"
    })
}

/// NodeMaintenance `<env>-<short>`, with `task` if given: a node that does not exist, in a window that opens in
/// 2099, so no drydock would ever act on it.
fn nm(env: &TestEnv, short: &str, task: Option<Value>) -> DynamicObject {
    let mut spec = json!({
        "nodeName": format!("{}-nowhere", env.id),
        "reason": "task permission test",
        "window": {"start": "2099-01-01T00:00:00Z", "duration": "1h"}
    });
    if let Some(task) = task {
        spec["task"] = task;
    }
    serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
        "metadata": {"name": env.nm_name(short), "labels": {ENV_LABEL: env.id}},
        "spec": spec
    }))
    .expect("nodemaintenance json")
}

/// MaintenanceSchedule `<env>-<short>`, with `task` in its template if given: suspended, once a year, over no node.
fn schedule(env: &TestEnv, short: &str, task: Option<Value>) -> DynamicObject {
    let mut template = json!({"reason": "task permission test"});
    if let Some(task) = task {
        template["task"] = task;
    }
    serde_json::from_value(json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule",
        "metadata": {"name": env.nm_name(short), "labels": {ENV_LABEL: env.id}},
        "spec": {
            "schedule": "0 2 1 1 *",
            "duration": "1h",
            "suspend": true,
            "nodeSelector": {"matchLabels": {ENV_LABEL: format!("{}-nowhere", env.id)}},
            "template": template
        }
    }))
    .expect("maintenanceschedule json")
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..Default::default()
    }
}

/// The refusal the policy gives: 403 naming the verb and the role to bind.
#[track_caller]
fn assert_needs_run_task(result: Result<DynamicObject, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403, "{what}: {s:?}");
            assert!(
                s.message.contains("drydock-run-task")
                    && s.message.contains("run-task verb")
                    && s.message.contains("drydock-task-author"),
                "{what}: the refusal says what to do: {}",
                s.message
            );
        }
        Err(e) => panic!("{what}: refused, but not by the policy: {e}"),
        Ok(_) => panic!("{what}: allowed; it needs the run-task verb"),
    }
}

#[track_caller]
fn assert_allowed(result: Result<DynamicObject, kube::Error>, what: &str) {
    if let Err(e) = result {
        panic!("{what}: refused: {e}");
    }
}

/// How long new grants and a newly installed policy may take to reach the API server's caches.
const TAKES_EFFECT: Duration = Duration::from_secs(30);

/// Waits until `attempt` (a dry run) gets through: the grants it needs are in effect.
async fn until_allowed<F, Fut>(what: &str, attempt: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = kube::Result<DynamicObject>>,
{
    wait_for(&format!("{what} to be allowed"), TAKES_EFFECT, || async {
        attempt().await.ok().map(|_| ())
    })
    .await;
}

/// Waits until `attempt` (a dry run) is refused by the policy drydock-run-task: it is installed and live.
async fn until_policy_refuses<F, Fut>(what: &str, attempt: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = kube::Result<DynamicObject>>,
{
    let what = format!(
        "the policy drydock-run-task to refuse {what} (config/policy is applied with config/rbac when an e2e test \
         first makes the controller's kubeconfig on a cluster: one made before config/policy existed lacks it, \
         `kubectl apply -k config/policy`)"
    );
    wait_for(&what, TAKES_EFFECT, || async {
        matches!(attempt().await, Err(kube::Error::Api(s)) if s.message.contains("drydock-run-task")).then_some(())
    })
    .await;
}

/// A merge patch that replaces the task's containers with one running `image`: in a NodeMaintenance's spec.task,
/// or a MaintenanceSchedule's spec.template.task.
fn new_image(schedule: bool, image: &str) -> Patch<Value> {
    let containers = json!({"template": {"spec": {"containers": [
        {"name": "upgrade", "image": image, "securityContext": {"privileged": true}}
    ]}}});
    Patch::Merge(if schedule {
        json!({"spec": {"template": {"task": containers}}})
    } else {
        json!({"spec": {"task": containers}})
    })
}

/// drydock-maintainer starts maintenances but gives none a task; drydock-task-author adds that. An update that
/// leaves the task as it was needs nothing more than the update itself.
#[tokio::test]
async fn a_task_needs_the_run_task_verb() {
    let env = TestEnv::new("task-perm").await;
    env.expect_audit(Expect::default()); // no controller: drydock does nothing
    // config/rbac and config/policy, installed as every e2e test's controller has them.
    controller_kubeconfig();
    let admin = env.client.clone();
    let maintainer = format!("{}-maintainer", env.id);
    let author = format!("{}-author", env.id);
    let mut grants = Grants::new(&env);
    grants
        .bind(&admin, "maintainer", "drydock-maintainer", &maintainer)
        .await;
    // drydock-maintainer creates and deletes NodeMaintenances but does not change them: for the updates below the
    // maintainer also gets patch on them (what an admin, or drydock adding its finalizer, has).
    let editor = grants
        .role(
            &admin,
            "nm-editor",
            json!([{"apiGroups": ["drydock.dev"], "resources": ["nodemaintenances"], "verbs": ["patch"]}]),
        )
        .await;
    grants.bind(&admin, "maintainer-editor", &editor, &maintainer).await;
    grants.bind(&admin, "author", "drydock-maintainer", &author).await;
    grants.bind(&admin, "author-task", "drydock-task-author", &author).await;
    let as_admin = Objects::of(&admin);
    let as_maintainer = Objects::of(&client_as(&maintainer).await);
    let as_author = Objects::of(&client_as(&author).await);
    let pp = PostParams::default();
    let labels = |value: &str| Patch::Merge(json!({"metadata": {"labels": {"example.com/owner": value}}}));

    // The grants reach the API server's caches, and the policy is live.
    until_allowed("the maintainer's NodeMaintenance without a task", || async {
        as_maintainer.nms.create(&dry_run(), &nm(&env, "plain", None)).await
    })
    .await;
    until_policy_refuses("the maintainer's NodeMaintenance with a task", || async {
        as_maintainer
            .nms
            .create(&dry_run(), &nm(&env, "mine", Some(task("kernel:6.6"))))
            .await
    })
    .await;
    until_allowed("the author's NodeMaintenance with a task", || async {
        as_author
            .nms
            .create(&dry_run(), &nm(&env, "theirs", Some(task("kernel:6.6"))))
            .await
    })
    .await;

    // The maintainer: a maintenance, yes; one with a task, no; a schedule with a task, no.
    assert_allowed(
        as_maintainer.nms.create(&pp, &nm(&env, "plain", None)).await,
        "the maintainer creates a NodeMaintenance without a task",
    );
    assert_allowed(
        as_maintainer
            .nms
            .create(&pp, &nm(&env, "null", Some(Value::Null)))
            .await,
        "the maintainer creates a NodeMaintenance whose task is null",
    );
    assert_needs_run_task(
        as_maintainer
            .nms
            .create(&pp, &nm(&env, "mine", Some(task("kernel:6.6"))))
            .await,
        "the maintainer creates a NodeMaintenance with spec.task",
    );
    assert!(as_admin.nms.get_opt(&env.nm_name("mine")).await.expect("get").is_none());
    assert_needs_run_task(
        as_maintainer
            .schedules
            .create(&pp, &schedule(&env, "mine", Some(task("kernel:6.6"))))
            .await,
        "the maintainer creates a MaintenanceSchedule with spec.template.task",
    );
    assert!(
        as_admin
            .schedules
            .get_opt(&env.nm_name("mine"))
            .await
            .expect("get")
            .is_none()
    );
    // Nor can a task be added later.
    let add_task = Patch::Merge(json!({"spec": {"task": task("kernel:6.6")}}));
    assert_needs_run_task(
        as_maintainer
            .nms
            .patch(&env.nm_name("plain"), &PatchParams::default(), &add_task)
            .await,
        "the maintainer adds a task to a NodeMaintenance",
    );

    // What the admin gave a task, the maintainer may label, and change otherwise, but not change its task.
    as_admin
        .nms
        .create(&pp, &nm(&env, "admins", Some(task("kernel:6.6"))))
        .await
        .expect("the admin creates a NodeMaintenance with a task");
    let admins = env.nm_name("admins");
    let dry_patch = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    until_allowed("the maintainer's patch of a NodeMaintenance", || async {
        as_maintainer
            .nms
            .patch(&admins, &dry_patch, &labels("maintainer"))
            .await
    })
    .await;
    assert_allowed(
        as_maintainer
            .nms
            .patch(&admins, &PatchParams::default(), &labels("maintainer"))
            .await,
        "the maintainer labels a NodeMaintenance that has a task",
    );
    assert_allowed(
        as_maintainer
            .nms
            .patch(
                &admins,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"reason": "moved to Tuesday"}})),
            )
            .await,
        "the maintainer changes the reason of a NodeMaintenance that has a task",
    );
    assert_needs_run_task(
        as_maintainer
            .nms
            .patch(&admins, &PatchParams::default(), &new_image(false, "mine:1"))
            .await,
        "the maintainer changes the image of a NodeMaintenance's task",
    );
    let kept = as_admin.nms.get(&admins).await.expect("get NodeMaintenance");
    assert_eq!(
        kept.data["spec"]["task"]["template"]["spec"]["containers"][0]["image"], "kernel:6.6",
        "the task is as the admin wrote it"
    );
    assert_eq!(
        kept.metadata.labels.unwrap_or_default()["example.com/owner"],
        "maintainer"
    );

    // The same for a schedule's task (drydock-maintainer may update schedules).
    as_admin
        .schedules
        .create(&pp, &schedule(&env, "admins", Some(task("kernel:6.6"))))
        .await
        .expect("the admin creates a MaintenanceSchedule with a task");
    assert_allowed(
        as_maintainer
            .schedules
            .patch(&admins, &PatchParams::default(), &labels("maintainer"))
            .await,
        "the maintainer labels a MaintenanceSchedule whose template has a task",
    );
    assert_allowed(
        as_maintainer
            .schedules
            .patch(
                &admins,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"schedule": "0 3 1 1 *", "template": {"reason": "later"}}})),
            )
            .await,
        "the maintainer moves a MaintenanceSchedule whose template has a task",
    );
    assert_needs_run_task(
        as_maintainer
            .schedules
            .patch(&admins, &PatchParams::default(), &new_image(true, "mine:1"))
            .await,
        "the maintainer changes the image of a MaintenanceSchedule's task",
    );
    let kept = as_admin.schedules.get(&admins).await.expect("get MaintenanceSchedule");
    assert_eq!(
        kept.data["spec"]["template"]["task"]["template"]["spec"]["containers"][0]["image"], "kernel:6.6",
        "the schedule's task is as the admin wrote it"
    );

    // The author, with drydock-task-author besides: both.
    assert_allowed(
        as_author
            .nms
            .create(&pp, &nm(&env, "theirs", Some(task("kernel:6.6"))))
            .await,
        "the task author creates a NodeMaintenance with spec.task",
    );
    assert_allowed(
        as_author
            .schedules
            .create(&pp, &schedule(&env, "theirs", Some(task("kernel:6.6"))))
            .await,
        "the task author creates a MaintenanceSchedule with spec.template.task",
    );
    assert_allowed(
        as_author
            .schedules
            .patch(&admins, &PatchParams::default(), &new_image(true, "theirs:1"))
            .await,
        "the task author changes the image of a MaintenanceSchedule's task",
    );
    let image =
        |s: &DynamicObject| s.data["spec"]["template"]["task"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image(&as_admin.schedules.get(&admins).await.expect("get")), "theirs:1");

    // Without a controller nothing holds them: no finalizer.
    for short in ["plain", "null", "admins", "theirs"] {
        as_admin
            .nms
            .delete(&env.nm_name(short), &DeleteParams::default())
            .await
            .expect("delete NodeMaintenance");
    }
    for short in ["admins", "theirs"] {
        as_admin
            .schedules
            .delete(&env.nm_name(short), &DeleteParams::default())
            .await
            .expect("delete MaintenanceSchedule");
    }
}
