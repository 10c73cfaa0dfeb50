//! Reconcile's requests, pinned against a scripted API server: the order of its writes, what it does on a
//! conflict and on a permanent refusal, and that status is written only when it changed.
use std::{sync::Arc, time::Duration};

use kube::runtime::{controller::Action, reflector};
use serde_json::{Value, json};

use super::{
    Context, Parts, Settings, error_policy,
    reconcile::reconcile,
    scripted::{Expect, Script},
};
use crate::{
    api::{
        lenient::Lenient,
        names::{FINALIZER, MAINTENANCE_TAINT},
        v1alpha1::NodeMaintenance,
    },
    plan::retry::AFTER_CONFLICT,
    telemetry::metrics::Metrics,
};

const NODE: &str = "/api/v1/nodes/worker-1";
const NM: &str = "/apis/drydock.dev/v1alpha1/nodemaintenances/kernel";
const NM_STATUS: &str = "/apis/drydock.dev/v1alpha1/nodemaintenances/kernel/status";

fn node() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "worker-1", "uid": "node-uid", "resourceVersion": "5",
                     "labels": {"kubernetes.io/hostname": "worker-1"}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// A NodeMaintenance of worker-1 (with drydock's finalizer when `finalized`), `spec` merged into its spec.
fn maintenance(finalized: bool, spec: Value) -> Value {
    let mut s = json!({"nodeName": "worker-1"});
    for (k, v) in spec.as_object().into_iter().flatten() {
        s[k] = v.clone();
    }
    json!({
        "apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
        "metadata": {"name": "kernel", "uid": "nm-uid", "resourceVersion": "7", "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "finalizers": if finalized { json!([FINALIZER]) } else { json!([]) }},
        "spec": s
    })
}

fn decode(nm: &Value) -> NodeMaintenance {
    serde_json::from_value(nm.clone()).expect("a NodeMaintenance")
}

fn context(script: &Arc<Script>) -> Arc<Context> {
    context_with(
        script,
        Settings {
            max_concurrent: 10,
            eviction_concurrency: 4,
            ..Default::default()
        },
    )
}

/// A context that publishes the node lifecycle conditions, as `drydock run` does by default.
fn publishing(script: &Arc<Script>) -> Arc<Context> {
    context_with(
        script,
        Settings {
            max_concurrent: 10,
            eviction_concurrency: 4,
            node_conditions: true,
            ..Default::default()
        },
    )
}

fn context_with(script: &Arc<Script>, settings: Settings) -> Arc<Context> {
    let client = script.client();
    let metrics = Arc::new(Metrics::default());
    Arc::new(Context::new(
        Parts {
            evict_client: client.clone(),
            client,
            notifier: crate::notify::Notifier::new(metrics.clone(), crate::shutdown::Shutdown::manual().1),
            metrics,
            store: reflector::store().0,
            nodes: reflector::store().0,
            wake: futures::channel::mpsc::unbounded().0,
        },
        settings,
    ))
}

#[tokio::test]
async fn the_finalizer_comes_before_anything_touches_the_node_in_the_same_reconcile() {
    let nm = maintenance(false, json!({}));
    let mut finalized = nm.clone();
    finalized["metadata"]["finalizers"] = json!([FINALIZER]);
    finalized["metadata"]["resourceVersion"] = json!("8");
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::patch(NM, finalized.clone()).with_body("adds drydock's finalizer, guarded by resourceVersion", |b| {
            b["metadata"]["finalizers"] == json!([FINALIZER]) && b["metadata"]["resourceVersion"] == "7"
        }),
        Expect::patch(NODE, node()).with_body("then cordons and taints, guarded by resourceVersion", |b| {
            b["metadata"]["resourceVersion"] == "5" && b["spec"]["unschedulable"] == true
        }),
        Expect::event(), // on the NodeMaintenance
        Expect::event(), // on the Node
        Expect::patch(NM_STATUS, finalized).with_body("says Cordoned", |b| b["status"]["phase"] == "Cordoned"),
    ]);
    reconcile(&decode(&nm), &context(&script)).await.expect("reconcile");
    script.verify();
}

#[tokio::test]
async fn a_refused_finalizer_leaves_the_node_untouched() {
    let nm = maintenance(false, json!({}));
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::refuse("PATCH", NM, 409, "Conflict", "the object has been modified"),
    ]);
    reconcile(&decode(&nm), &context(&script))
        .await
        .expect_err("a conflict on the finalizer is retried, after a fresh read");
    script.verify();
}

#[tokio::test]
async fn taking_the_node_writes_the_node_then_tells_people_then_writes_status() {
    let nm = maintenance(true, json!({}));
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::patch(NODE, node()).with_body("cordons and taints, guarded by resourceVersion", |b| {
            b["metadata"]["resourceVersion"] == "5"
                && b["spec"]["unschedulable"] == true
                && b["spec"]["taints"][0]["key"] == MAINTENANCE_TAINT
        }),
        Expect::event(), // on the NodeMaintenance
        Expect::event(), // on the Node
        Expect::patch(NM_STATUS, nm.clone()).with_body("says Cordoned", |b| b["status"]["phase"] == "Cordoned"),
    ]);
    reconcile(&decode(&nm), &context(&script)).await.expect("reconcile");
    script.verify();
    let bodies = script.bodies();
    assert_eq!(bodies[2]["reason"], "Cordoned");
    assert_eq!(bodies[3]["regarding"]["kind"], "Node");
}

#[tokio::test]
async fn a_conflict_on_the_node_patch_writes_nothing_more_and_is_retried_at_once() {
    let nm = maintenance(true, json!({}));
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::refuse(
            "PATCH",
            NODE,
            409,
            "Conflict",
            "Operation cannot be fulfilled on nodes \"worker-1\": the object has been modified",
        ),
    ]);
    let ctx = context(&script);
    let error = reconcile(&decode(&nm), &ctx)
        .await
        .expect_err("the conflict comes back");
    assert!(error.is_conflict(), "{error}");
    let obj = Arc::new(Lenient::from(decode(&nm)));
    assert_eq!(error_policy(obj, &error, ctx), Action::requeue(AFTER_CONFLICT));
    // Nothing else: no status saying "retrying" for a conflict, no Event.
    tokio::time::sleep(Duration::from_millis(50)).await;
    script.verify();
}

#[tokio::test]
async fn a_node_the_api_server_refuses_to_change_fails_the_maintenance_once() {
    let nm = maintenance(
        true,
        json!({"taints": [{"key": "example.com/disk", "effect": "NoSchedule"}]}),
    );
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::refuse(
            "PATCH",
            NODE,
            422,
            "Invalid",
            "Node \"worker-1\" is invalid: spec.taints[1].value: Invalid value",
        ),
        Expect::event(),
        Expect::patch(NM_STATUS, nm.clone()).with_body("says Failed, in the API server's words", |b| {
            b["status"]["phase"] == "Failed"
                && b["status"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("spec.taints[1].value: Invalid value"))
        }),
    ]);
    let action = reconcile(&decode(&nm), &context(&script))
        .await
        .expect("a permanent refusal ends it");
    assert_eq!(action, Action::requeue(Duration::from_millis(50)));
    script.verify();
}

#[tokio::test]
async fn status_is_written_only_when_it_changed() {
    let nm = maintenance(
        true,
        json!({"window": {"start": "2099-01-01T00:00:00Z", "duration": "2h"}}),
    );
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::event(),
        Expect::patch(NM_STATUS, nm.clone()).with_body("says Waiting", |b| b["status"]["phase"] == "Waiting"),
    ]);
    let ctx = context(&script);
    let nm = decode(&nm);
    let action = reconcile(&nm, &ctx).await.expect("first reconcile");
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(60)),
        "looks again at the resync, not in a loop"
    );
    script.verify();
    // The same object again (the watch has not caught up with the write): nothing changed, nothing written.
    script.then([Expect::get(NODE, node())]);
    reconcile(&nm, &ctx).await.expect("second reconcile");
    script.verify();
}

const NODE_STATUS: &str = "/api/v1/nodes/worker-1/status";

#[tokio::test]
async fn the_node_shows_the_hold_in_its_conditions_before_status_records_it() {
    let nm = maintenance(true, json!({}));
    let script = Script::new([
        Expect::get(NODE, node()),
        Expect::patch(NODE, node()),
        Expect::patch(NODE_STATUS, node()).with_body("lifecycle conditions only, merged by type", |b| {
            let types: Vec<&str> = b["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["type"].as_str())
                .collect();
            b.as_object().map(|o| o.len()) == Some(1)
                && b["status"].as_object().map(|o| o.len()) == Some(1)
                && types == ["MaintenanceInProgress", "DrainInProgress", "Drained"]
        }),
        Expect::event(),
        Expect::event(),
        Expect::patch(NM_STATUS, nm.clone()).with_body("says Cordoned", |b| b["status"]["phase"] == "Cordoned"),
    ]);
    reconcile(&decode(&nm), &publishing(&script)).await.expect("reconcile");
    script.verify();
}

/// A reconcile of the cordon whose write of worker-1's conditions is forbidden: the report and the two other
/// Events, each posted or, as a repeat, added to its first occurrence's series.
fn refused_conditions(event: fn() -> Expect) -> [Expect; 6] {
    [
        Expect::get(NODE, node()),
        Expect::patch(NODE, node()),
        Expect::refuse(
            "PATCH",
            NODE_STATUS,
            403,
            "Forbidden",
            "nodes \"worker-1\" is forbidden: cannot patch resource \"nodes/status\"",
        ),
        event(), // NodeConditionsRefused
        event(),
        event(),
    ]
}

#[tokio::test]
async fn refused_conditions_are_reported_once_and_the_maintenance_goes_on() {
    let nm = maintenance(true, json!({}));
    let script = Script::new(refused_conditions(Expect::event));
    script.then([
        Expect::patch(NM_STATUS, nm.clone()).with_body("says Cordoned", |b| b["status"]["phase"] == "Cordoned")
    ]);
    let ctx = publishing(&script);
    reconcile(&decode(&nm), &ctx)
        .await
        .expect("a refusal of conditions fails nothing");
    script.verify();
    assert_eq!(script.bodies()[3]["reason"], "NodeConditionsRefused");
    assert!(ctx.first_refusal_of_conditions("other-node"));
    assert!(
        !ctx.first_refusal_of_conditions("worker-1"),
        "worker-1's refusal is not reported again"
    );
}

#[tokio::test]
async fn a_refusal_after_conditions_were_written_again_is_reported_again() {
    // A restarted API server forbids every request until its RBAC cache fills: that 403 heals by itself, and must
    // not silence a real refusal later.
    let nm = maintenance(true, json!({}));
    let script = Script::new(refused_conditions(Expect::event));
    script.then([Expect::patch(NM_STATUS, nm.clone())]);
    let ctx = publishing(&script);
    reconcile(&decode(&nm), &ctx).await.expect("first reconcile");
    script.verify();

    script.then([
        Expect::get(NODE, node()),
        Expect::patch(NODE, node()),
        Expect::patch(NODE_STATUS, node()),
        Expect::event(),
        Expect::event(),
    ]);
    // Status already says Cordoned: not written again.
    reconcile(&decode(&nm), &ctx).await.expect("conditions written");
    script.verify();

    // The same refusal again: reported again, as a repeat of the first report.
    script.then(refused_conditions(Expect::event_repeated));
    reconcile(&decode(&nm), &ctx).await.expect("refused again");
    script.verify();
    let reports: Vec<Value> = script
        .bodies()
        .into_iter()
        .filter(|b| b["reason"] == "NodeConditionsRefused")
        .collect();
    assert_eq!(reports.len(), 2, "the refusal after a successful write is reported too");
    assert_eq!(reports[1]["series"]["count"], 2, "as a repeat of the first report");
}
