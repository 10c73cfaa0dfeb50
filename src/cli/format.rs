//! What the runbook commands print: tables, one maintenance in detail, the preview, and the progress of a
//! maintenance followed live. Pure (the clock is a parameter) so every layout is unit-tested.
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::NodeCondition;
use kube::ResourceExt;

use super::preview::{Action, Preview};
use crate::api::v1alpha1::{NodeMaintenance, NodeMaintenanceStatus};

/// Blocked pods shown under a live progress bar; the rest are counted, so the frame fits a terminal.
const BLOCKED_SHOWN: usize = 10;
/// Width of the progress bar in characters.
const BAR_WIDTH: usize = 20;

/// The preview: notes on the node, one line per pod, and a summary.
pub fn preview(p: &Preview) -> String {
    let mut out = String::new();
    for note in &p.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if p.pods.is_empty() {
        out.push_str(&format!("no pods on {}\n", p.node));
        return out;
    }
    let mut rows = vec![["NAMESPACE", "POD", "ACTION", "WHY"].map(String::from)];
    rows.extend(p.pods.iter().map(|l| {
        [
            l.namespace.clone(),
            l.name.clone(),
            l.action.as_str().to_string(),
            l.why.clone(),
        ]
    }));
    out.push_str(&columns(&rows));
    let counts: Vec<String> = [
        Action::Evict,
        Action::Delete,
        Action::Wait,
        Action::Terminating,
        Action::Skip,
        Action::Blocked,
    ]
    .into_iter()
    .filter_map(|a| {
        let n = p.pods.iter().filter(|l| l.action == a).count();
        (n > 0).then(|| format!("{n} {}", a.as_str()))
    })
    .collect();
    out.push_str(&format!("{} pods on {}: {}\n", p.pods.len(), p.node, counts.join(", ")));
    out
}

/// `drydock list`: the columns of `kubectl get nm`.
pub fn table(items: &[NodeMaintenance], now: Timestamp) -> String {
    if items.is_empty() {
        return "no NodeMaintenances\n".into();
    }
    let mut rows = vec![
        [
            "NAME",
            "NODE",
            "PHASE",
            "EVICTED",
            "BLOCKED",
            "TASK",
            "WINDOW-END",
            "AGE",
        ]
        .map(String::from),
    ];
    for nm in items {
        let s = nm.status.clone().unwrap_or_default();
        let counts = s.pods.clone().unwrap_or_default();
        rows.push([
            nm.name_any(),
            nm.spec.node_name.clone(),
            format!("{:?}", s.phase),
            format!("{}/{}", counts.evicted, counts.total),
            counts.blocked.to_string(),
            s.task.as_ref().map_or_else(|| "-".into(), |t| format!("{:?}", t.phase)),
            s.window_end.map(|t| t.0.to_string()).unwrap_or_else(|| "-".into()),
            age(nm, now),
        ]);
    }
    columns(&rows)
}

fn age(nm: &NodeMaintenance, now: Timestamp) -> String {
    nm.creation_timestamp()
        .map(|t| human(now.duration_since(t.0).unsigned_abs()))
        .unwrap_or_else(|| "-".into())
}

/// `drydock status NAME`: one maintenance in detail.
pub fn detail(nm: &NodeMaintenance, now: Timestamp) -> String {
    let s = nm.status.clone().unwrap_or_default();
    let counts = s.pods.clone().unwrap_or_default();
    let mut fields: Vec<(&str, String)> = vec![
        ("Name", nm.name_any()),
        ("Node", nm.spec.node_name.clone()),
        ("Reason", nm.spec.reason.clone().unwrap_or_else(|| "-".into())),
        ("Phase", format!("{:?}", s.phase)),
    ];
    if let Some(m) = &s.message {
        fields.push(("Message", m.clone()));
    }
    if nm.metadata.deletion_timestamp.is_some() {
        fields.push((
            "Ending",
            "deleted: drydock restores the node, then lets the object go".into(),
        ));
    }
    fields.push(("Window", window(nm, &s)));
    fields.push((
        "Pods",
        format!(
            "{}/{} evicted, {} remaining ({} terminating), {} blocked, {} skipped",
            counts.evicted, counts.total, counts.remaining, counts.terminating, counts.blocked, counts.skipped
        ),
    ));
    if let Some(t) = &s.task {
        fields.push(("Task", format!("{}/{} {}", t.namespace, t.pod_name, task_line(t))));
    }
    for (label, t) in [
        ("Cordoned", &s.started_at),
        ("Drained", &s.drained_at),
        ("Restored", &s.completed_at),
    ] {
        if let Some(t) = t {
            fields.push((label, t.0.to_string()));
        }
    }
    fields.push(("Age", age(nm, now)));
    if let Some(e) = &s.last_error {
        fields.push(("Last error", e.clone()));
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 3;
    let mut out: String = fields
        .iter()
        .map(|(k, v)| format!("{:<width$}{v}\n", format!("{k}:")))
        .collect();
    let pod_rows = |notes: &[crate::api::v1alpha1::PodNote]| {
        let rows: Vec<[String; 2]> = notes
            .iter()
            .map(|p| [format!("  {}/{}", p.namespace, p.name), p.reason.clone()])
            .collect();
        columns(&rows)
    };
    if !s.blocked_pods.is_empty() {
        out.push_str("Blocked pods:\n");
        out.push_str(&pod_rows(&s.blocked_pods));
    }
    if !s.skipped_pods.is_empty() {
        out.push_str("Skipped pods:\n");
        out.push_str(&pod_rows(&s.skipped_pods));
    }
    if !s.conditions.is_empty() {
        out.push_str("Conditions:\n");
        let mut rows = vec![["  TYPE", "STATUS", "REASON", "MESSAGE"].map(String::from)];
        rows.extend(s.conditions.iter().map(|c| {
            [
                format!("  {}", c.type_),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
            ]
        }));
        out.push_str(&columns(&rows));
    }
    out
}

/// A task's phase, exit code and termination message, as `drydock status` shows it (the message's lines kept).
fn task_line(t: &crate::api::v1alpha1::TaskStatus) -> String {
    let mut line = format!("{:?}", t.phase);
    if let Some(code) = t.exit_code {
        line.push_str(&format!(", exit {code}"));
    }
    if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(&format!(":\n    {}", m.lines().collect::<Vec<_>>().join("\n    ")));
    }
    line
}

/// The node lifecycle conditions (MaintenancePlanned, MaintenanceInProgress, DrainInProgress, Drained) a node
/// shows, as `kubectl describe node` lists conditions; nothing when it has none.
pub fn node_conditions(conditions: &[NodeCondition]) -> String {
    if conditions.is_empty() {
        return String::new();
    }
    let mut rows = vec![["  TYPE", "STATUS", "REASON", "MESSAGE"].map(String::from)];
    rows.extend(conditions.iter().map(|c| {
        [
            format!("  {}", c.type_),
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        ]
    }));
    format!("Node conditions:\n{}", columns(&rows))
}

fn window(nm: &NodeMaintenance, s: &NodeMaintenanceStatus) -> String {
    let w = nm.spec.window.clone().unwrap_or_default();
    let start = w
        .start
        .map_or_else(|| "at creation".to_string(), |t| format!("from {}", t.0));
    let end = match (&s.window_end, &w.end, &w.duration) {
        (Some(t), _, _) | (None, Some(t), _) => format!("until {}", t.0),
        (None, None, Some(d)) => format!("for {d}"),
        (None, None, None) => "until `drydock end`".into(),
    };
    format!("{start}, {end}")
}

/// The live view of a maintenance: a progress line, the status message, then the blocked pods with reasons.
/// `node-2  Draining  [##########..........] 5/10 evicted  1 blocked`
pub fn progress(nm: &NodeMaintenance) -> Vec<String> {
    let s = nm.status.clone().unwrap_or_default();
    let c = s.pods.clone().unwrap_or_default();
    let filled = if c.total > 0 {
        (c.evicted.clamp(0, c.total) as usize * BAR_WIDTH) / c.total as usize
    } else {
        0
    };
    let mut head = format!(
        "{}  {:?}  [{}{}] {}/{} evicted",
        nm.spec.node_name,
        s.phase,
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        c.evicted,
        c.total
    );
    if c.terminating > 0 {
        head.push_str(&format!(", {} terminating", c.terminating));
    }
    if !s.blocked_pods.is_empty() {
        head.push_str(&format!("  {} blocked", s.blocked_pods.len()));
    }
    let mut lines = vec![head];
    // While pods are blocked the message only repeats the first of them, which is listed below anyway.
    if let Some(m) = s.message.as_ref().filter(|_| s.blocked_pods.is_empty()) {
        lines.push(format!("  {m}"));
    }
    for p in s.blocked_pods.iter().take(BLOCKED_SHOWN) {
        lines.push(format!("  blocked {}/{}: {}", p.namespace, p.name, p.reason));
    }
    if s.blocked_pods.len() > BLOCKED_SHOWN {
        lines.push(format!(
            "  and {} more blocked (drydock status {})",
            s.blocked_pods.len() - BLOCKED_SHOWN,
            nm.name_any()
        ));
    }
    lines
}

/// For a log or a pipe: the lines of `next` that `prev` did not have, so each change is printed once.
pub fn plain_update(prev: &[String], next: &[String]) -> Vec<String> {
    next.iter().filter(|l| !prev.contains(l)).cloned().collect()
}

/// For a terminal: erase the `prev_lines` printed last and print `frame`, each line cut to `width` so none
/// wraps (a wrapped line would throw off the count of lines to erase).
pub fn redraw(prev_lines: usize, frame: &[String], width: usize) -> String {
    let mut out = String::new();
    if prev_lines > 0 {
        // Cursor up to the first line of the previous frame, column 1, then clear to the end of the screen.
        out.push_str(&format!("\x1b[{prev_lines}F\x1b[J"));
    }
    for line in frame {
        out.push_str(&fit(line, width));
        out.push('\n');
    }
    out
}

/// `line` cut to `width` characters, ending in `…` when cut.
pub fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Ages like kubectl: 45s, 12m, 5h, 3d.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Left-aligned columns separated by three spaces, like kubectl.
fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::v1alpha1::{NodeMaintenanceSpec, Phase, PodCounts, PodNote, Window},
        cli::preview::PodLine,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    fn nm(phase: Phase, evicted: i32, total: i32, blocked: usize) -> NodeMaintenance {
        let mut o = NodeMaintenance::new(
            "m1",
            NodeMaintenanceSpec {
                node_name: "node-2".into(),
                reason: Some("kernel".into()),
                ..Default::default()
            },
        );
        o.metadata.creation_timestamp = Some(Time(ts("2026-01-01T00:00:00Z")));
        o.status = Some(NodeMaintenanceStatus {
            phase,
            message: Some("draining".into()),
            pods: Some(PodCounts {
                evicted,
                total,
                remaining: total - evicted,
                blocked: blocked as i32,
                skipped: 1,
                ..Default::default()
            }),
            blocked_pods: (0..blocked)
                .map(|i| PodNote {
                    namespace: "shop".into(),
                    name: format!("web-{i}"),
                    reason: "PDB shop/web allows 0 disruptions".into(),
                })
                .collect(),
            ..Default::default()
        });
        o
    }

    #[test]
    fn progress_shows_the_bar_the_message_and_every_blocker() {
        assert_eq!(
            progress(&nm(Phase::Draining, 5, 10, 1)),
            [
                "node-2  Draining  [##########..........] 5/10 evicted  1 blocked",
                "  blocked shop/web-0: PDB shop/web allows 0 disruptions",
            ]
        );
        assert_eq!(
            progress(&nm(Phase::Draining, 5, 10, 0)),
            ["node-2  Draining  [##########..........] 5/10 evicted", "  draining"]
        );
        let empty = NodeMaintenance::new("m0", NodeMaintenanceSpec::default());
        assert_eq!(progress(&empty), ["  Pending  [....................] 0/0 evicted"]);
        let many = progress(&nm(Phase::Draining, 0, 20, 12));
        assert_eq!(many.len(), 1 + BLOCKED_SHOWN + 1);
        assert_eq!(
            many.last().map(String::as_str),
            Some("  and 2 more blocked (drydock status m1)")
        );
        assert!(progress(&nm(Phase::Drained, 12, 10, 0))[0].contains("[####################] 12/10"));
    }

    #[test]
    fn plain_output_prints_each_change_once() {
        let a = progress(&nm(Phase::Draining, 5, 10, 1));
        let b = progress(&nm(Phase::Draining, 6, 10, 1));
        assert_eq!(plain_update(&[], &a), a);
        assert_eq!(plain_update(&a, &a), Vec::<String>::new());
        assert_eq!(plain_update(&a, &b), [b[0].clone()], "only the progress line changed");
    }

    #[test]
    fn a_terminal_frame_replaces_the_last_one() {
        let frame = ["abcdef".to_string(), "xy".to_string()];
        assert_eq!(redraw(0, &frame, 80), "abcdef\nxy\n");
        assert_eq!(redraw(3, &frame, 4), "\x1b[3F\x1b[Jabc…\nxy\n");
        assert_eq!(fit("abc", 3), "abc");
    }

    #[test]
    fn table_has_kubectl_columns() {
        let now = ts("2026-01-01T00:05:00Z");
        let t = table(&[nm(Phase::Drained, 3, 3, 0)], now);
        assert_eq!(
            t,
            "NAME   NODE     PHASE     EVICTED   BLOCKED   TASK   WINDOW-END   AGE\n\
             m1     node-2   Drained   3/3       0         -      -            5m\n"
        );
        assert_eq!(table(&[], now), "no NodeMaintenances\n");
    }

    #[test]
    fn node_conditions_are_listed_like_kubectl_describe_and_absent_when_none() {
        assert_eq!(node_conditions(&[]), "");
        let drain = NodeCondition {
            type_: "DrainInProgress".into(),
            status: "True".into(),
            reason: Some("Draining".into()),
            message: Some("NodeMaintenance m: draining".into()),
            ..Default::default()
        };
        let text = node_conditions(&[drain]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Node conditions:");
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            [
                "DrainInProgress",
                "True",
                "Draining",
                "NodeMaintenance",
                "m:",
                "draining"
            ]
        );
    }

    #[test]
    fn detail_shows_phase_counts_blockers_and_conditions() {
        let mut o = nm(Phase::Draining, 5, 10, 1);
        o.spec.window = Some(Window {
            duration: Some("2h".into()),
            ..Default::default()
        });
        let s = o.status.as_mut().expect("status");
        s.window_end = Some(Time(ts("2026-01-01T02:00:00Z")));
        s.conditions = vec![
            serde_json::from_value(serde_json::json!({"type": "Blocked", "status": "True", "reason": "PDB",
                "message": "1 pod blocked", "lastTransitionTime": "2026-01-01T00:01:00Z"}))
            .expect("condition"),
        ];
        let d = detail(&o, ts("2026-01-01T00:10:00Z"));
        assert_eq!(
            d,
            "Name:     m1\n\
             Node:     node-2\n\
             Reason:   kernel\n\
             Phase:    Draining\n\
             Message:  draining\n\
             Window:   at creation, until 2026-01-01T02:00:00Z\n\
             Pods:     5/10 evicted, 5 remaining (0 terminating), 1 blocked, 1 skipped\n\
             Age:      10m\n\
             Blocked pods:\n  \
             shop/web-0   PDB shop/web allows 0 disruptions\n\
             Conditions:\n  \
             TYPE      STATUS   REASON   MESSAGE\n  \
             Blocked   True     PDB      1 pod blocked\n"
        );
    }

    #[test]
    fn detail_shows_the_task_with_its_exit_code_and_message_lines() {
        let mut o = nm(Phase::Drained, 3, 3, 0);
        if let Some(s) = o.status.as_mut() {
            s.task = Some(crate::api::v1alpha1::TaskStatus {
                pod_name: "m1-task-0f2c9a4e".into(),
                namespace: "drydock-tasks".into(),
                phase: crate::api::v1alpha1::TaskPhase::Failed,
                exit_code: Some(3),
                message: Some("E: no such package\nupgrade failed".into()),
                ..Default::default()
            });
        }
        let d = detail(&o, ts("2026-01-01T00:10:00Z"));
        assert!(
            d.contains(
                "Task:     drydock-tasks/m1-task-0f2c9a4e Failed, exit 3:\n    E: no such package\n    upgrade failed\n"
            ),
            "{d}"
        );
        assert!(
            table(&[o], ts("2026-01-01T00:10:00Z"))
                .lines()
                .nth(1)
                .is_some_and(|l| l.contains(" Failed "))
        );
    }

    #[test]
    fn the_preview_lists_pods_and_sums_up() {
        let p = Preview {
            node: "a".into(),
            notes: vec!["a is already cordoned".into()],
            pods: vec![
                PodLine {
                    namespace: "shop".into(),
                    name: "web-1".into(),
                    action: Action::Blocked,
                    why: "PDB shop/web allows 0 disruptions now".into(),
                },
                PodLine {
                    namespace: "kube-system".into(),
                    name: "agent".into(),
                    action: Action::Skip,
                    why: "DaemonSet".into(),
                },
            ],
        };
        assert_eq!(
            preview(&p),
            "note: a is already cordoned\n\
             NAMESPACE     POD     ACTION    WHY\n\
             shop          web-1   blocked   PDB shop/web allows 0 disruptions now\n\
             kube-system   agent   skip      DaemonSet\n\
             2 pods on a: 1 skip, 1 blocked\n"
        );
        assert_eq!(
            preview(&Preview {
                node: "a".into(),
                ..Default::default()
            }),
            "no pods on a\n"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(5 * 3600)), "5h");
        assert_eq!(human(Duration::from_secs(3 * 86400)), "3d");
    }
}
