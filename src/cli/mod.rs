//! The runbook commands, for people at 3 a.m. and for scripts: `drydock preview | start | status | end | list`,
//! talking to the API server with the user's kubeconfig. Also a kubectl plugin: link the binary as
//! `kubectl-drydock` and run `kubectl drydock ...`.
//!
//! Exit codes a script can rely on are in [`exit`]; every failure prints one line on stderr saying why.
mod preview;

use std::{io::IsTerminal, time::Duration};

use clap::Subcommand;
use jiff::Timestamp;
use k8s_openapi::api::{
    core::v1::{Node, Pod},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
};

use crate::api::v1alpha1::{DrainSpec, NodeMaintenance, NodeMaintenanceSpec, NodeMaintenanceStatus, Phase, Window};

/// Exit codes.
pub mod exit {
    /// Done: the maintenance reached what was asked, or the preview says the drain can finish.
    pub const OK: u8 = 0;
    /// The maintenance failed, or the API server could not be reached or refused the request.
    pub const FAILED: u8 = 1;
    /// Wrong usage (clap's own code).
    pub const USAGE: u8 = 2;
    /// preview: the drain would not finish as things stand.
    pub const WOULD_BLOCK: u8 = 3;
    /// No such NodeMaintenance or node.
    pub const NOT_FOUND: u8 = 4;
    /// --wait gave up after --timeout.
    pub const TIMED_OUT: u8 = 5;
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what draining NODE would do to each pod, and whether the drain can finish (nothing is changed).
    Preview {
        node: String,
        /// As spec.drain.deleteEmptyDirData.
        #[arg(long)]
        delete_emptydir_data: bool,
        /// As spec.drain.evictUnmanagedPods.
        #[arg(long)]
        evict_unmanaged: bool,
    },
    /// Start a maintenance of NODE (creates a NodeMaintenance).
    Start {
        node: String,
        /// Why (shown in Events and `kubectl get nm -o wide`).
        #[arg(long)]
        reason: String,
        /// How long the window stays open (Go duration, e.g. 2h); default: until `drydock end`.
        #[arg(long)]
        duration: Option<String>,
        #[arg(long)]
        evict_unmanaged: bool,
        #[arg(long)]
        delete_emptydir_data: bool,
        /// Name of the NodeMaintenance (default: <node>-<UTC time>).
        #[arg(long)]
        name: Option<String>,
        /// Labels for the NodeMaintenance, k=v (repeatable).
        #[arg(long = "label", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// Wait until the node is drained (exit 0) or the maintenance failed (exit 1).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits (Go duration).
        #[arg(long, default_value = "30m")]
        timeout: String,
    },
    /// Show one maintenance in detail, or all in a table.
    Status {
        name: Option<String>,
        /// Follow the maintenance live until it ends (or until --until is reached).
        #[arg(long)]
        watch: bool,
        /// With --watch: stop once Drained instead of once Completed/Failed.
        #[arg(long, value_parser = ["drained", "done"], default_value = "done")]
        until: String,
        /// How long --watch follows (Go duration).
        #[arg(long, default_value = "2h")]
        timeout: String,
    },
    /// End a maintenance now: the node is restored and the NodeMaintenance removed.
    End {
        name: String,
        /// Wait until the node is restored and the object gone.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value = "5m")]
        timeout: String,
    },
    /// List NodeMaintenances.
    List,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not k=v"))
}

/// A failure: the exit code and the one line that explains it.
struct Fail(u8, String);

impl From<kube::Error> for Fail {
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(s) if s.code == 404 => Fail(exit::NOT_FOUND, s.message.clone()),
            _ => Fail(exit::FAILED, format!("the API server request failed: {e}")),
        }
    }
}

/// Runs one command; returns the process exit code.
pub async fn run(command: Command) -> std::process::ExitCode {
    let result = async {
        let client = Client::try_default()
            .await
            .map_err(|e| Fail(exit::FAILED, format!("cannot load a kubeconfig: {e}; set KUBECONFIG")))?;
        match command {
            Command::Preview {
                node,
                delete_emptydir_data,
                evict_unmanaged,
            } => {
                let drain = DrainSpec {
                    delete_empty_dir_data: delete_emptydir_data,
                    evict_unmanaged_pods: evict_unmanaged,
                    ..Default::default()
                };
                preview_node(&client, &node, &drain).await
            }
            Command::Start {
                node,
                reason,
                duration,
                evict_unmanaged,
                delete_emptydir_data,
                name,
                labels,
                wait,
                timeout,
            } => {
                let drain = DrainSpec {
                    delete_empty_dir_data: delete_emptydir_data,
                    evict_unmanaged_pods: evict_unmanaged,
                    ..Default::default()
                };
                let name = start(&client, &node, reason, duration, drain, name, labels).await?;
                println!("nodemaintenance/{name} created");
                if wait {
                    follow(&client, &name, Until::Drained, &timeout).await
                } else {
                    Ok(())
                }
            }
            Command::Status {
                name: Some(name),
                watch: true,
                until,
                timeout,
            } => {
                let until = if until == "drained" {
                    Until::Drained
                } else {
                    Until::Done
                };
                follow(&client, &name, until, &timeout).await
            }
            Command::Status { name: Some(name), .. } => {
                let nm = Api::<NodeMaintenance>::all(client).get(&name).await?;
                print!("{}", detail(&nm));
                Ok(())
            }
            Command::Status { name: None, .. } | Command::List => {
                let list = Api::<NodeMaintenance>::all(client).list(&ListParams::default()).await?;
                print!("{}", table(&list.items, Timestamp::now()));
                Ok(())
            }
            Command::End { name, wait, timeout } => end(&client, &name, wait, &timeout).await,
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Fail(code, line)) => {
            eprintln!("drydock: {line}");
            std::process::ExitCode::from(code)
        }
    }
}

async fn preview_node(client: &Client, node_name: &str, drain: &DrainSpec) -> Result<(), Fail> {
    let nodes = Api::<Node>::all(client.clone());
    let node = nodes
        .get_opt(node_name)
        .await?
        .ok_or_else(|| Fail(exit::NOT_FOUND, format!("node {node_name} not found")))?;
    let pods = Api::<Pod>::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node_name}")))
        .await?
        .items;
    let pdbs = Api::<PodDisruptionBudget>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let others: Vec<Node> = nodes
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|n| n.name_any() != node_name)
        .collect();
    // Pods elsewhere matter only for hard anti-affinity; list those of the namespaces concerned.
    let mut elsewhere = Vec::new();
    let mut namespaces: Vec<String> = on_node.iter().filter_map(|p| p.namespace()).collect();
    namespaces.sort();
    namespaces.dedup();
    for ns in namespaces {
        elsewhere.extend(
            Api::<Pod>::namespaced(client.clone(), &ns)
                .list(&ListParams::default())
                .await?
                .items,
        );
    }
    let p = preview::assess(&node, &on_node, &pdbs, &others, &elsewhere, drain, Timestamp::now());
    print!("{}", preview_table(&p));
    if p.can_finish {
        println!("the drain of {node_name} can finish");
        Ok(())
    } else {
        Err(Fail(
            exit::WOULD_BLOCK,
            format!("the drain of {node_name} would not finish: see the blocked pods above"),
        ))
    }
}

fn preview_table(p: &preview::Preview) -> String {
    let mut rows = vec![["NAMESPACE".to_string(), "POD".into(), "ACTION".into(), "WHY".into()]];
    rows.extend(p.pods.iter().map(|l| {
        [
            l.namespace.clone(),
            l.name.clone(),
            l.action.to_uppercase(),
            l.why.clone(),
        ]
    }));
    columns(&rows)
}

async fn start(
    client: &Client,
    node: &str,
    reason: String,
    duration: Option<String>,
    drain: DrainSpec,
    name: Option<String>,
    labels: Vec<(String, String)>,
) -> Result<String, Fail> {
    let name = name.unwrap_or_else(|| default_name(node, Timestamp::now()));
    let mut nm = NodeMaintenance::new(
        &name,
        NodeMaintenanceSpec {
            node_name: node.into(),
            reason: Some(reason),
            window: duration.map(|d| Window {
                duration: Some(d),
                ..Default::default()
            }),
            drain,
            ..Default::default()
        },
    );
    nm.metadata.labels = Some(labels.into_iter().collect());
    Api::<NodeMaintenance>::all(client.clone())
        .create(&PostParams::default(), &nm)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) => Fail(exit::FAILED, format!("refused: {}", s.message)),
            e => Fail::from(e),
        })?;
    Ok(name)
}

/// `<node>-<yyyymmdd-hhmmss>` (UTC), cut so it stays a valid object name.
pub fn default_name(node: &str, now: Timestamp) -> String {
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let node: String = node.chars().take(253 - stamp.len() - 1).collect();
    format!("{}-{stamp}", node.trim_end_matches(['-', '.']))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    Drained,
    Done,
}

/// Follows a maintenance, printing a line (or a live bar on a terminal) whenever it changes.
async fn follow(client: &Client, name: &str, until: Until, timeout: &str) -> Result<(), Fail> {
    let limit =
        crate::plan::window::parse_duration("--timeout", timeout).map_err(|e| Fail(exit::USAGE, e.to_string()))?;
    let api = Api::<NodeMaintenance>::all(client.clone());
    let deadline = tokio::time::Instant::now() + limit;
    let tty = std::io::stdout().is_terminal();
    let mut last = String::new();
    loop {
        let nm = api
            .get_opt(name)
            .await?
            .ok_or_else(|| Fail(exit::NOT_FOUND, format!("nodemaintenance {name} not found")))?;
        let status = nm.status.clone().unwrap_or_default();
        let line = progress_line(&nm, &status);
        if line != last {
            if tty {
                print!("\r\x1b[2K{line}");
                use std::io::Write;
                let _ = std::io::stdout().flush();
            } else {
                println!("{line}");
            }
            last = line;
        }
        let done = match (until, status.phase) {
            (_, Phase::Failed) => {
                if tty {
                    println!();
                }
                return Err(Fail(
                    exit::FAILED,
                    format!("{name} failed: {}", status.message.unwrap_or_default()),
                ));
            }
            (Until::Drained, Phase::Drained | Phase::Completed) | (Until::Done, Phase::Completed) => true,
            _ => false,
        };
        if done {
            if tty {
                println!();
            }
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            if tty {
                println!();
            }
            return Err(Fail(
                exit::TIMED_OUT,
                format!("{name} is still {:?} after {timeout}", status.phase),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `node-2  Draining  [#####.....] 5/10  blocked: shop/web-1: PDB shop/web allows 0 disruptions`
pub fn progress_line(nm: &NodeMaintenance, status: &NodeMaintenanceStatus) -> String {
    let counts = status.pods.clone().unwrap_or_default();
    let width = 20usize;
    let filled = if counts.total > 0 {
        (counts.evicted.max(0) as usize * width) / counts.total as usize
    } else {
        0
    };
    let bar = format!(
        "[{}{}]",
        "#".repeat(filled.min(width)),
        ".".repeat(width - filled.min(width))
    );
    let mut line = format!(
        "{}  {:?}  {bar} {}/{}",
        nm.spec.node_name, status.phase, counts.evicted, counts.total
    );
    if let Some(first) = status.blocked_pods.first() {
        line.push_str(&format!(
            "  blocked ({}): {}/{}: {}",
            status.blocked_pods.len(),
            first.namespace,
            first.name,
            first.reason
        ));
    } else if let Some(m) = &status.message {
        line.push_str(&format!("  {m}"));
    }
    line
}

async fn end(client: &Client, name: &str, wait: bool, timeout: &str) -> Result<(), Fail> {
    let limit =
        crate::plan::window::parse_duration("--timeout", timeout).map_err(|e| Fail(exit::USAGE, e.to_string()))?;
    let api = Api::<NodeMaintenance>::all(client.clone());
    api.delete(name, &DeleteParams::default()).await?;
    println!("nodemaintenance/{name} ending: drydock restores the node, then removes it");
    if !wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + limit;
    while api.get_opt(name).await?.is_some() {
        if tokio::time::Instant::now() > deadline {
            return Err(Fail(
                exit::TIMED_OUT,
                format!("{name} still there after {timeout}: is the drydock controller running?"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("node restored");
    Ok(())
}

/// The table of `drydock list`: the same columns as `kubectl get nm`.
pub fn table(items: &[NodeMaintenance], now: Timestamp) -> String {
    let mut rows = vec![["NAME", "NODE", "PHASE", "EVICTED", "BLOCKED", "WINDOW-END", "AGE"].map(String::from)];
    for nm in items {
        let s = nm.status.clone().unwrap_or_default();
        let counts = s.pods.clone().unwrap_or_default();
        let age = nm
            .creation_timestamp()
            .map(|t| human(now.duration_since(t.0).unsigned_abs()))
            .unwrap_or_default();
        rows.push([
            nm.name_any(),
            nm.spec.node_name.clone(),
            format!("{:?}", s.phase),
            format!("{}/{}", counts.evicted, counts.total),
            counts.blocked.to_string(),
            s.window_end.map(|t| t.0.to_string()).unwrap_or_else(|| "-".into()),
            age,
        ]);
    }
    columns(&rows)
}

/// One maintenance in detail, for `drydock status NAME`.
pub fn detail(nm: &NodeMaintenance) -> String {
    let s = nm.status.clone().unwrap_or_default();
    let counts = s.pods.clone().unwrap_or_default();
    let mut out = format!(
        "Name:      {}\nNode:      {}\nReason:    {}\nPhase:     {:?}\nMessage:   {}\nPods:      {} evicted of {}, {} remaining, {} terminating, {} blocked, {} skipped\n",
        nm.name_any(),
        nm.spec.node_name,
        nm.spec.reason.clone().unwrap_or_default(),
        s.phase,
        s.message.clone().unwrap_or_default(),
        counts.evicted,
        counts.total,
        counts.remaining,
        counts.terminating,
        counts.blocked,
        counts.skipped,
    );
    if let Some(end) = &s.window_end {
        out.push_str(&format!("Window end: {}\n", end.0));
    }
    if !s.blocked_pods.is_empty() {
        out.push_str("Blocked:\n");
        for p in &s.blocked_pods {
            out.push_str(&format!("  {}/{}: {}\n", p.namespace, p.name, p.reason));
        }
    }
    if !s.conditions.is_empty() {
        out.push_str("Conditions:\n");
        for c in &s.conditions {
            out.push_str(&format!("  {}={} ({}) {}\n", c.type_, c.status, c.reason, c.message));
        }
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("Last error: {e}\n"));
    }
    out
}

fn human(d: Duration) -> String {
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
    use crate::api::v1alpha1::{PodCounts, PodNote};

    fn nm(phase: Phase, evicted: i32, total: i32) -> NodeMaintenance {
        let mut o = NodeMaintenance::new(
            "m1",
            NodeMaintenanceSpec {
                node_name: "node-2".into(),
                ..Default::default()
            },
        );
        o.status = Some(NodeMaintenanceStatus {
            phase,
            pods: Some(PodCounts {
                evicted,
                total,
                blocked: 1,
                ..Default::default()
            }),
            blocked_pods: vec![PodNote {
                namespace: "shop".into(),
                name: "web-1".into(),
                reason: "PDB shop/web allows 0 disruptions".into(),
            }],
            ..Default::default()
        });
        o
    }

    #[test]
    fn progress_shows_the_bar_and_the_first_blocker() {
        let o = nm(Phase::Draining, 5, 10);
        let line = progress_line(&o, o.status.as_ref().expect("status"));
        assert_eq!(
            line,
            "node-2  Draining  [##########..........] 5/10  blocked (1): shop/web-1: PDB shop/web allows 0 disruptions"
        );
    }

    #[test]
    fn table_has_kubectl_columns() {
        let t = table(&[nm(Phase::Drained, 3, 3)], Timestamp::now());
        let mut lines = t.lines();
        assert_eq!(
            lines.next(),
            Some("NAME   NODE     PHASE     EVICTED   BLOCKED   WINDOW-END   AGE")
        );
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("m1     node-2   Drained   3/3       1         -"))
        );
    }

    #[test]
    fn default_names_are_valid_and_stamped() {
        let now: Timestamp = "2026-11-22T03:04:05Z".parse().expect("ts");
        assert_eq!(default_name("worker-1", now), "worker-1-20261122-030405");
        assert!(default_name(&"x".repeat(300), now).len() <= 253);
    }

    #[test]
    fn exit_codes_are_distinct() {
        let codes = [
            exit::OK,
            exit::FAILED,
            exit::USAGE,
            exit::WOULD_BLOCK,
            exit::NOT_FOUND,
            exit::TIMED_OUT,
        ];
        let mut sorted = codes.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
    }
}
