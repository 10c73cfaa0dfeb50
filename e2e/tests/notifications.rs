//! Notifications: receivers from the operator's Secret (`--notify-secret`) hear each transition once, in
//! CloudEvents or Slack format; a failing receiver gets it after retries, one that never answers slows nothing,
//! and a changed Secret applies without a restart. The receivers are HTTP servers inside the test.
use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock::api::v1alpha1::{MaintenanceSchedule, Phase};
use drydock_e2e::{TestEnv, audit::Expect, controller::Drydock, schedules::create_rollout, wait_for, wait_until};
use k8s_openapi::{
    ByteString,
    api::{
        core::v1::Secret,
        rbac::v1::{Role, RoleBinding},
    },
};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const LIMIT: Duration = Duration::from_secs(90);
/// How long a test waits after the last expected notification for any that should not come.
const QUIET: Duration = Duration::from_secs(4);

/// How the receiver answers a request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Silence,
}

/// One request received.
#[derive(Clone, Debug)]
struct Received {
    content_type: String,
    authorization: String,
    body: Value,
    /// The status it was answered with (None: not answered).
    answered: Option<u16>,
}

/// An HTTP server on 127.0.0.1 (port chosen by the OS) that records every request and answers from a script,
/// then 200.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a receiver");
        let addr = listener.local_addr().expect("receiver address");
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (g, s) = (got.clone(), script.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = s.lock().unwrap().pop_front().unwrap_or(Answer::Status(200));
                tokio::spawn(serve(stream, answer, g.clone()));
            }
        });
        Self { addr, got }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The bodies answered 2xx.
    fn delivered(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
            .map(|r| r.body)
            .collect()
    }

    /// The CloudEvents types delivered, in order.
    fn types(&self) -> Vec<String> {
        self.delivered()
            .iter()
            .map(|b| b["type"].as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn wait_for_type(&self, kind: &str) -> Value {
        let wanted = format!("dev.drydock.maintenance.{kind}");
        wait_for(&format!("a {kind} notification at {}", self.addr), LIMIT, || async {
            self.delivered().into_iter().find(|b| b["type"] == wanted.as_str())
        })
        .await
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, got: Arc<Mutex<Vec<Received>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body_start) = loop {
        let Ok(n) = stream.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&buf[..i]).to_string(), i + 4);
        }
    };
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < body_start + length {
        let Ok(n) = stream.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[body_start..body_start + length]).unwrap_or(Value::Null);
    let status = match answer {
        Answer::Status(s) => Some(s),
        Answer::Silence => None,
    };
    got.lock().unwrap().push(Received {
        content_type: header("content-type"),
        authorization: header("authorization"),
        body,
        answered: status,
    });
    match status {
        Some(s) => {
            let response = format!("HTTP/1.1 {s} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        None => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
}

fn receivers_yaml(receivers: &[(&str, &Receiver, &str, Option<&str>)]) -> String {
    let mut text = String::from("receivers:\n");
    for (name, r, format, events) in receivers {
        text.push_str(&format!("- name: {name}\n  url: {}\n  format: {format}\n", r.url()));
        if let Some(e) = events {
            text.push_str(&format!("  events: {e}\n"));
        }
    }
    text
}

fn secret(namespace: &str, name: &str, receivers: &str, extra: &[(&str, &str)]) -> Secret {
    let mut data = std::collections::BTreeMap::new();
    data.insert("receivers.yaml".to_string(), ByteString(receivers.as_bytes().to_vec()));
    for (k, v) in extra {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    }
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// The receivers' Secret in the test's namespace, and what an operator who names another Secret than
/// config/rbac's does: a Role that lets drydock read that one Secret. Returns the `--notify-secret` value.
async fn receivers_secret(env: &TestEnv, receivers: &str, extra: &[(&str, &str)]) -> String {
    let ns = env.ns();
    Api::<Secret>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &secret(ns, "receivers", receivers, extra))
        .await
        .expect("create the receivers' Secret");
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "drydock-notify", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["receivers"],
                   "verbs": ["get", "list", "watch"]}]
    }))
    .expect("role");
    Api::<Role>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create the Role");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "drydock-notify", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "drydock-notify"},
        "subjects": [{"kind": "ServiceAccount", "name": "drydock", "namespace": "drydock-system"}]
    }))
    .expect("binding");
    Api::<RoleBinding>::namespaced(env.client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the RoleBinding");
    format!("{ns}/receivers")
}

/// The value of one sample of drydock's /metrics, 0 when absent.
fn metric(drydock: &Drydock, sample: &str) -> f64 {
    let text = drydock.get("/metrics").map(|(_, body)| body).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A plain maintenance: started, drained and completed reach a CloudEvents receiver once each, and a Slack
/// receiver once each; a receiver that answers 500 twice gets its one event on the third attempt, counted; a
/// receiver that never answers does not hold the maintenance up.
#[tokio::test]
async fn a_maintenance_is_notified_once_per_transition_in_both_formats() {
    let mut env = TestEnv::new("notify-plain").await;
    let a = env.web_on_a(2, None).await;
    env.expect_audit(Expect::restored(&a, 2));
    let events = Receiver::start(vec![]).await;
    let chat = Receiver::start(vec![]).await;
    let flaky = Receiver::start(vec![Answer::Status(500), Answer::Status(503)]).await;
    let silent = Receiver::start(vec![Answer::Silence; 20]).await;
    let mut yaml = receivers_yaml(&[
        ("events", &events, "cloudevents", None),
        ("chat", &chat, "slack", None),
        ("flaky", &flaky, "cloudevents", Some("[started]")),
        ("silent", &silent, "cloudevents", None),
    ]);
    yaml.push_str("  secretHeaders: {Authorization: token}\n");
    let secret = receivers_secret(&env, &yaml, &[("token", "Bearer abc\n")]).await;
    let drydock = Drydock::start_with(&env, 0, &["--leader-elect=false", "--notify-secret", &secret], None);

    let nm = env.maintenance("m", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    env.delete_nm("m").await;
    let completed = events.wait_for_type("completed").await;
    wait_until("three Slack messages", LIMIT, || async { chat.delivered().len() >= 3 }).await;
    tokio::time::sleep(QUIET).await;

    let types = events.types();
    assert_eq!(
        types,
        [
            "dev.drydock.maintenance.started",
            "dev.drydock.maintenance.drained",
            "dev.drydock.maintenance.completed"
        ],
        "each once, in order"
    );
    let uid = nm.metadata.uid.clone().expect("uid");
    let name = env.nm_name("m");
    for (event, kind) in events.delivered().iter().zip(["started", "drained", "completed"]) {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["id"], format!("{uid}/{kind}"));
        assert_eq!(
            event["source"],
            format!("/apis/drydock.dev/v1alpha1/nodemaintenances/{name}")
        );
        assert_eq!(event["subject"], a.as_str());
        assert_eq!(event["datacontenttype"], "application/json");
        assert_eq!(event["data"]["kind"], kind);
        assert_eq!(event["data"]["node"], a.as_str());
        assert_eq!(event["data"]["object"]["name"], name.as_str());
    }
    assert_eq!(completed["data"]["phase"], "Completed");
    assert_eq!(completed["data"]["reason"], "Restored");
    assert!(
        events
            .received()
            .iter()
            .all(|r| r.content_type == "application/cloudevents+json" && r.authorization.is_empty())
    );

    let lines: Vec<String> = chat
        .delivered()
        .iter()
        .map(|b| b["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, kind) in lines.iter().zip(["started", "drained", "completed"]) {
        assert!(
            line.starts_with(&format!("drydock: NodeMaintenance {name} on node {a} {kind}: ")),
            "{line}"
        );
    }
    assert!(chat.received().iter().all(|r| r.content_type == "application/json"));

    let tried = flaky.received();
    assert_eq!(tried.len(), 3, "two failures, then delivered: {tried:?}");
    assert_eq!(flaky.types(), ["dev.drydock.maintenance.started"]);
    assert!(
        tried.iter().all(|r| r.body == tried[2].body),
        "the same event each time"
    );
    assert_eq!(
        metric(
            &drydock,
            r#"drydock_notification_attempts_total{receiver="flaky",result="5xx"}"#
        ),
        2.0
    );
    assert_eq!(
        metric(
            &drydock,
            r#"drydock_notifications_total{receiver="flaky",event="started",result="delivered"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &drydock,
            r#"drydock_notifications_total{receiver="events",event="completed",result="delivered"}"#
        ),
        1.0
    );
    // The receiver that never answers was asked (and its header sent), and held nothing up: the maintenance
    // completed above while its first request still waits.
    let asked = silent.received();
    assert!(!asked.is_empty());
    assert_eq!(asked[0].authorization, "Bearer abc");
    assert!(asked.iter().all(|r| r.answered.is_none()));
}

/// A drain a PDB blocks across many retries is notified blocked once, then timed out (drain.timeout, Abort);
/// a maintenance that cannot be carried out (its node does not exist) is notified failed.
#[tokio::test]
async fn a_blocked_drain_is_notified_once_then_timed_out_and_a_failure_failed() {
    let mut env = TestEnv::new("notify-block").await;
    // minAvailable 1 of 1: the budget never allows an eviction.
    let a = env.web_on_a(1, Some(1)).await;
    env.expect_audit(Expect::restored(&a, 0));
    let events = Receiver::start(vec![]).await;
    let yaml = receivers_yaml(&[("events", &events, "cloudevents", None)]);
    let secret = receivers_secret(&env, &yaml, &[]).await;
    let _drydock = Drydock::start_with(&env, 0, &["--leader-elect=false", "--notify-secret", &secret], None);

    env.maintenance("t", &a, json!({"drain": {"timeout": "12s", "onTimeout": "Abort"}}))
        .await;
    let timed_out = events.wait_for_type("timed_out").await;
    assert_eq!(timed_out["data"]["reason"], "DrainTimeout");
    assert_eq!(timed_out["data"]["phase"], "Failed");
    let blocked = events
        .delivered()
        .into_iter()
        .find(|b| b["type"] == "dev.drydock.maintenance.blocked")
        .expect("a blocked notification");
    assert!(
        blocked["data"]["message"].as_str().unwrap_or("").contains("web"),
        "{blocked}"
    );

    let refused: usize = env.eviction_requests_by_pod().values().sum();
    assert!(
        refused >= 3,
        "the PDB refused the eviction again and again: {refused} requests"
    );

    env.maintenance("ghost", &format!("{}-ghost", env.id), json!({})).await;
    let failed = events.wait_for_type("failed").await;
    assert_eq!(failed["data"]["reason"], "NodeNotFound");
    assert_eq!(failed["data"]["object"]["name"], env.nm_name("ghost").as_str());
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        events.types(),
        [
            "dev.drydock.maintenance.started",
            "dev.drydock.maintenance.blocked",
            "dev.drydock.maintenance.timed_out",
            "dev.drydock.maintenance.failed",
        ],
        "blocked once, though the PDB refused evictions again and again"
    );
}

/// The Secret config/rbac names (drydock-system/drydock-notify) changes while drydock runs: an invalid version
/// is reported and keeps the receivers, a valid one with another URL takes over, no restart.
#[tokio::test]
async fn a_changed_secret_takes_effect_without_a_restart() {
    let mut env = TestEnv::new("notify-reload").await;
    let a = env.web_on_a(1, None).await;
    env.expect_audit(Expect::restored(&a, 1));
    let first = Receiver::start(vec![]).await;
    let second = Receiver::start(vec![]).await;
    let secrets = Api::<Secret>::namespaced(env.client.clone(), "drydock-system");
    let _ = secrets.delete("drydock-notify", &DeleteParams::default()).await;
    let yaml = receivers_yaml(&[("ops", &first, "cloudevents", None)]);
    secrets
        .create(
            &PostParams::default(),
            &secret("drydock-system", "drydock-notify", &yaml, &[]),
        )
        .await
        .expect("create drydock-system/drydock-notify");
    let drydock = Drydock::start_with(
        &env,
        0,
        &[
            "--leader-elect=false",
            "--notify-secret",
            "drydock-system/drydock-notify",
        ],
        None,
    );
    wait_until("the receivers read", LIMIT, || async {
        metric(&drydock, "drydock_notify_receivers") == 1.0 && metric(&drydock, "drydock_notify_config_valid") == 1.0
    })
    .await;

    env.maintenance("m", &a, json!({})).await;
    env.wait_nm("m", Phase::Drained, |_| true).await;
    first.wait_for_type("drained").await;

    let apply = |yaml: String| {
        let secrets = secrets.clone();
        async move {
            let patch = json!({"data": {"receivers.yaml": ByteString(yaml.into_bytes())}});
            secrets
                .patch("drydock-notify", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("patch the Secret");
        }
    };
    apply("receivers: [{name: ops, url: 'ftp://nowhere', format: cloudevents}]\n".into()).await;
    wait_until("the invalid Secret reported", LIMIT, || async {
        metric(&drydock, "drydock_notify_config_valid") == 0.0
    })
    .await;
    assert_eq!(
        metric(&drydock, "drydock_notify_receivers"),
        1.0,
        "the last valid receivers stay"
    );
    assert!(drydock.log_text().contains("must be an http:// or https:// URL"));

    apply(receivers_yaml(&[("ops", &second, "cloudevents", None)])).await;
    wait_until("the new Secret applied", LIMIT, || async {
        metric(&drydock, "drydock_notify_config_valid") == 1.0
    })
    .await;
    env.delete_nm("m").await;
    second.wait_for_type("completed").await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(second.types(), ["dev.drydock.maintenance.completed"]);
    assert_eq!(
        first.types(),
        ["dev.drydock.maintenance.started", "dev.drydock.maintenance.drained"]
    );
    secrets
        .delete("drydock-notify", &DeleteParams::default())
        .await
        .expect("delete drydock-system/drydock-notify");
}

/// A schedule's rollout: waiting for approval is notified blocked once however often the schedule is looked
/// at; a drain past its timeout under onDrainTimeout: Stop is notified timed_out by the node's maintenance and
/// failed by the schedule, each once.
#[tokio::test]
async fn a_rollout_is_notified_when_it_waits_and_when_it_stops() {
    let mut env = TestEnv::new("notify-roll").await;
    let pool = env.pool("notify", 2).await;
    env.bare_pod("pet", &pool[0], json!({})).await;
    env.wait_ready_pods("pet", 1).await;
    env.expect_audit(Expect::held(0));
    let events = Receiver::start(vec![]).await;
    let secret = receivers_secret(&env, &receivers_yaml(&[("events", &events, "cloudevents", None)]), &[]).await;
    let _drydock = Drydock::start_with(&env, 0, &["--leader-elect=false", "--notify-secret", &secret], None);
    let template = json!({"drain": {"timeout": "3s"}, "completeWhen": {"nodeInfo": {"kernelVersion": "*"}}});
    let rollout = json!({"approval": "Window", "onDrainTimeout": "Stop"});
    let name = create_rollout(&env, "kernel", "notify", 1, template, rollout, "10m").await;
    let schedule_type = |kind: &str| format!("dev.drydock.schedule.{kind}");
    let of_type = |kind: String| {
        events
            .delivered()
            .into_iter()
            .filter(move |b| b["type"] == kind.as_str())
    };
    wait_until("a blocked notification for the schedule", LIMIT, || async {
        of_type(schedule_type("blocked")).count() == 1
    })
    .await;
    // Every change to the schedule is a look at it: none of them says the same blocker again.
    let schedules = Api::<MaintenanceSchedule>::all(env.client.clone());
    for i in 0..3 {
        let touch = json!({"metadata": {"labels": {"touched": i.to_string()}}});
        schedules
            .patch(&name, &PatchParams::default(), &Patch::Merge(&touch))
            .await
            .expect("touch the schedule");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let blocked: Vec<Value> = of_type(schedule_type("blocked")).collect();
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    assert_eq!(blocked[0]["data"]["reason"], "RolloutBlocked");
    assert!(
        blocked[0]["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for approval of window")),
        "{blocked:#?}"
    );

    let out = drydock_e2e::controller::cli(&["approve", &name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("the schedule's failed notification", LIMIT, || async {
        of_type(schedule_type("failed")).count() >= 1
    })
    .await;
    events.wait_for_type("timed_out").await;
    tokio::time::sleep(QUIET).await;
    let failed: Vec<Value> = of_type(schedule_type("failed")).collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0]["data"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("rollout stopped: the drain of node")),
        "{failed:#?}"
    );
    assert_eq!(of_type("dev.drydock.maintenance.timed_out".into()).count(), 1);
    assert_eq!(of_type("dev.drydock.maintenance.started".into()).count(), 1);
}
