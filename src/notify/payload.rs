//! What a receiver is sent: a CloudEvents 1.0 event in structured JSON mode, or a Slack-compatible message.
use serde_json::{Value, json};

use super::Notification;

/// The Content-Type of a structured CloudEvent (the CloudEvents HTTP binding).
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A CloudEvent: `id` is the same when the same transition is sent again (retries, a restarted controller),
/// so a receiver can drop repeats; `type` is `dev.drydock.<maintenance|schedule>.<kind>`; `subject` the node
/// (or the schedule, for a schedule's events).
pub fn cloudevent(n: &Notification) -> Value {
    let (plural, about) = match n.object.kind.as_str() {
        "MaintenanceSchedule" => ("maintenanceschedules", "schedule"),
        _ => ("nodemaintenances", "maintenance"),
    };
    json!({
        "specversion": "1.0",
        "id": n.id,
        "source": format!("/apis/drydock.dev/v1alpha1/{plural}/{}", n.object.name),
        "type": format!("dev.drydock.{about}.{}", n.kind.name()),
        "subject": n.node.as_deref().unwrap_or(&n.object.name),
        "time": n.time.to_string(),
        "datacontenttype": JSON_CONTENT_TYPE,
        "data": data(n),
    })
}

fn data(n: &Notification) -> Value {
    let mut data = json!({
        "kind": n.kind.name(),
        "object": {"kind": n.object.kind, "name": n.object.name, "uid": n.object.uid},
        "reason": n.reason,
        "message": n.message,
    });
    for (key, value) in [("node", &n.node), ("phase", &n.phase), ("schedule", &n.schedule)] {
        if let Some(v) = value {
            data[key] = json!(v);
        }
    }
    data
}

/// One readable line, as a Slack incoming webhook takes it: `{"text": ...}`.
pub fn slack(n: &Notification) -> Value {
    let node = n
        .node
        .as_deref()
        .map_or(String::new(), |node| format!(" on node {node}"));
    let schedule = n
        .schedule
        .as_deref()
        .filter(|_| n.object.kind != "MaintenanceSchedule")
        .map_or(String::new(), |s| format!(" (schedule {s})"));
    json!({
        "text": format!(
            "drydock: {} {}{node}{schedule} {}: {} ({})",
            n.object.kind,
            n.object.name,
            n.kind.name().replace('_', " "),
            n.message,
            n.reason
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{notify::Object, plan::notify::Kind};

    fn notification() -> Notification {
        Notification {
            kind: Kind::TimedOut,
            reason: "DrainTimeout".into(),
            message: "drain blocked for longer than drain.timeout (3s)".into(),
            id: "uid-1/timed_out".into(),
            object: Object {
                kind: "NodeMaintenance".into(),
                name: "worker-1-kernel".into(),
                uid: "uid-1".into(),
            },
            node: Some("worker-1".into()),
            phase: Some("Failed".into()),
            schedule: Some("nightly".into()),
            time: "2026-12-06T01:02:03Z".parse().expect("time"),
        }
    }

    #[test]
    fn a_cloudevent_has_every_required_attribute_and_the_data() {
        let e = cloudevent(&notification());
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["id"], "uid-1/timed_out");
        assert_eq!(
            e["source"],
            "/apis/drydock.dev/v1alpha1/nodemaintenances/worker-1-kernel"
        );
        assert_eq!(e["type"], "dev.drydock.maintenance.timed_out");
        assert_eq!(e["subject"], "worker-1");
        assert_eq!(e["time"], "2026-12-06T01:02:03Z");
        assert_eq!(e["datacontenttype"], "application/json");
        let d = &e["data"];
        assert_eq!(d["kind"], "timed_out");
        assert_eq!(
            d["object"],
            json!({"kind": "NodeMaintenance", "name": "worker-1-kernel", "uid": "uid-1"})
        );
        assert_eq!(d["node"], "worker-1");
        assert_eq!(d["reason"], "DrainTimeout");
        assert_eq!(d["message"], "drain blocked for longer than drain.timeout (3s)");
        assert_eq!(d["phase"], "Failed");
        assert_eq!(d["schedule"], "nightly");
        assert_eq!(e.as_object().map(|o| o.len()), Some(8), "{e}");
    }

    #[test]
    fn a_schedules_event_is_about_the_schedule() {
        let mut n = notification();
        n.kind = Kind::Blocked;
        n.object = Object {
            kind: "MaintenanceSchedule".into(),
            name: "nightly".into(),
            uid: "uid-2".into(),
        };
        n.node = None;
        n.phase = None;
        let e = cloudevent(&n);
        assert_eq!(e["source"], "/apis/drydock.dev/v1alpha1/maintenanceschedules/nightly");
        assert_eq!(e["type"], "dev.drydock.schedule.blocked");
        assert_eq!(e["subject"], "nightly");
        assert!(e["data"].get("node").is_none() && e["data"].get("phase").is_none());
        assert_eq!(
            slack(&n)["text"],
            "drydock: MaintenanceSchedule nightly blocked: drain blocked for longer than drain.timeout (3s) (DrainTimeout)"
        );
    }

    #[test]
    fn a_slack_message_is_one_line_of_text() {
        let m = slack(&notification());
        assert_eq!(
            m,
            json!({"text": "drydock: NodeMaintenance worker-1-kernel on node worker-1 (schedule nightly) timed out: \
                            drain blocked for longer than drain.timeout (3s) (DrainTimeout)"})
        );
    }
}
