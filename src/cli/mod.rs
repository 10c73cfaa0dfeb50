//! The runbook commands, for people at 3 a.m. and for scripts: `drydock preview | start | status | end | list`,
//! talking to the API server with the user's kubeconfig. Also a kubectl plugin: link the binary as
//! `kubectl-drydock` and run `kubectl drydock ...` (clap ignores argv[0], so nothing else changes).
//!
//! Decisions are pure and tested apart from the I/O here: [`preview::assess`] (what a drain would do),
//! [`format`] (what is printed), [`args`] (what is accepted) and
//! [`verdict`] (when a wait is over). Exit codes a script can rely on are in [`exit`]; every failure prints one
//! line on stderr saying why and what to do.
pub mod args;
pub mod error;
pub mod format;
pub mod preview;

use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;
use k8s_openapi::{
    api::{
        core::v1::{Node, Pod},
        policy::v1::PodDisruptionBudget,
    },
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
};

pub use error::{CliError, exit};

use crate::api::{
    lenient::Lenient,
    v1alpha1::{DrainSpec, NodeMaintenance, NodeMaintenanceSpec, Phase, Window},
};
use error::Result;

/// How often a wait or a watch reads the NodeMaintenance: its status changes a few times a second at most.
const POLL: Duration = Duration::from_millis(500);
/// API errors in a row a long wait tolerates (an API server restart, a flaky VPN) before giving up.
const TRANSIENT_ERRORS: u32 = 20;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what draining NODE would do to each pod, and whether the drain can finish; changes nothing.
    ///
    /// Exit 0: it can finish; 3: it would not (the blockers are listed).
    Preview(PreviewArgs),
    /// Start a maintenance of NODE: create a NodeMaintenance (drydock's controller then cordons and drains).
    Start(StartArgs),
    /// One maintenance in detail (or, with --watch, followed live); without NAME, all of them in a table.
    Status(StatusArgs),
    /// End a maintenance now: delete its NodeMaintenance, so drydock restores the node and lets it go.
    End(EndArgs),
    /// List NodeMaintenances (the table of `kubectl get nm`).
    List(ListArgs),
}

/// The drain options, named after spec.drain.
#[derive(Args, Debug, Clone, Default)]
pub struct DrainFlags {
    /// Evict pods with emptyDir volumes; their data is lost (spec.drain.deleteEmptyDirData).
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Evict pods that no controller owns; they will not come back (spec.drain.evictUnmanagedPods).
    #[arg(long)]
    pub evict_unmanaged: bool,
    /// Evict pods annotated karpenter.sh/do-not-disrupt or cluster-autoscaler.kubernetes.io/safe-to-evict=false
    /// (spec.drain.evictDoNotDisrupt).
    #[arg(long)]
    pub evict_do_not_disrupt: bool,
    /// Evict pods whose replacement has nowhere else to go; it waits Pending until room appears
    /// (spec.drain.evictUnplaceable).
    #[arg(long)]
    pub evict_unplaceable: bool,
    /// Only pods matching this label selector leave, e.g. `app=web,tier!=db`; others stay (spec.drain.podSelector).
    #[arg(long, visible_alias = "pod-selector", value_name = "SELECTOR", value_parser = args::selector)]
    pub selector: Option<LabelSelector>,
}

impl DrainFlags {
    fn spec(&self) -> DrainSpec {
        DrainSpec {
            delete_empty_dir_data: self.delete_emptydir_data,
            evict_unmanaged_pods: self.evict_unmanaged,
            evict_do_not_disrupt: self.evict_do_not_disrupt,
            evict_unplaceable: self.evict_unplaceable,
            pod_selector: self.selector.clone(),
            ..Default::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    pub node: String,
    #[command(flatten)]
    pub drain: DrainFlags,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    pub node: String,
    /// Why (shown in Events and `kubectl get nm -o wide`).
    #[arg(long)]
    pub reason: String,
    /// How long the window stays open, a Go duration such as 2h or 90m; without it, until `drydock end`.
    #[arg(long, value_parser = args::go_duration)]
    pub duration: Option<String>,
    #[command(flatten)]
    pub drain: DrainFlags,
    /// Name of the NodeMaintenance [default: <node>-<yyyymmdd-hhmmss>, UTC].
    #[arg(long, value_parser = args::name)]
    pub name: Option<String>,
    /// A label for the NodeMaintenance, key=value (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = args::label)]
    pub labels: Vec<(String, String)>,
    /// Wait until the node is drained (exit 0) or the maintenance fails (exit 1), printing progress.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before exit 5 (the maintenance carries on).
    #[arg(long, default_value = "30m", requires = "wait", value_parser = args::go_duration)]
    pub timeout: String,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub name: Option<String>,
    /// Follow the maintenance live until it is Completed or Failed (a progress bar on a terminal, plain lines
    /// otherwise).
    #[arg(long, requires = "name")]
    pub watch: bool,
    /// With --watch: when to stop.
    #[arg(long, value_enum, default_value_t = Until::Done, requires = "watch")]
    pub until: Until,
    /// With --watch: how long to follow before exit 5 [default: no limit].
    #[arg(long, requires = "watch", value_parser = args::go_duration)]
    pub timeout: Option<String>,
    /// Without NAME: only NodeMaintenances with these labels, e.g. team=storage.
    #[arg(short = 'l', long, conflicts_with = "name", value_parser = args::selector_text)]
    pub selector: Option<String>,
}

#[derive(Args, Debug)]
pub struct EndArgs {
    pub name: String,
    /// Wait until the node is restored and the NodeMaintenance gone.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before exit 5.
    #[arg(long, default_value = "5m", requires = "wait", value_parser = args::go_duration)]
    pub timeout: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only NodeMaintenances with these labels, e.g. team=storage.
    #[arg(short = 'l', long, value_parser = args::selector_text)]
    pub selector: Option<String>,
}

/// When a wait is over.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The node is drained (and held).
    Drained,
    /// The maintenance is over: Completed, or the object deleted.
    Done,
}

/// Runs one command; returns the process exit code.
pub async fn run(command: Command) -> std::process::ExitCode {
    match execute(command).await {
        Ok(()) => std::process::ExitCode::from(exit::OK),
        Err(e) => {
            let argv0 = std::env::args().next().unwrap_or_default();
            eprintln!("{}: {e}", program_name(&argv0));
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

/// How the user called us, for messages: `kubectl drydock` when run as the kubectl plugin.
pub fn program_name(argv0: &str) -> &'static str {
    let file = argv0.rsplit(['/', '\\']).next().unwrap_or(argv0);
    if file.starts_with("kubectl-") {
        "kubectl drydock"
    } else {
        "drydock"
    }
}

async fn execute(command: Command) -> Result<()> {
    let client = Client::try_default()
        .await
        .map_err(|e| CliError::Kubeconfig(e.to_string()))?;
    let nms = Api::<NodeMaintenance>::all(client.clone());
    match command {
        Command::Preview(a) => preview_node(&client, &a.node, &a.drain.spec()).await,
        Command::Start(a) => {
            let name = start(&client, &a).await?;
            if a.wait {
                follow(&nms, &name, Until::Drained, Some(&a.timeout)).await
            } else {
                Ok(())
            }
        }
        Command::Status(StatusArgs {
            name: Some(name),
            watch: true,
            until,
            timeout,
            ..
        }) => follow(&nms, &name, until, timeout.as_deref()).await,
        Command::Status(StatusArgs { name: Some(name), .. }) => {
            let nm = nms
                .get_opt(&name)
                .await
                .map_err(|e| CliError::api(format!("get nodemaintenance/{name}"), e))?
                .ok_or_else(|| not_found_nm(&name))?;
            print!("{}", format::detail(&nm, Timestamp::now()));
            Ok(())
        }
        Command::Status(StatusArgs { selector, .. }) | Command::List(ListArgs { selector }) => {
            let mut lp = ListParams::default();
            if let Some(s) = &selector {
                lp = lp.labels(s);
            }
            // One object the CLI cannot read must not hide the others: it is named on stderr instead.
            let list = Api::<Lenient<NodeMaintenance>>::all(client.clone())
                .list(&lp)
                .await
                .map_err(|e| CliError::api("list nodemaintenances", e))?;
            let readable: Vec<NodeMaintenance> = list.items.iter().filter_map(|o| o.ok().cloned()).collect();
            print!("{}", format::table(&readable, Timestamp::now()));
            for o in &list.items {
                if let Err(why) = &o.decoded {
                    eprintln!("warning: nodemaintenance/{} cannot be read: {why}", o.name_any());
                }
            }
            Ok(())
        }
        Command::End(a) => end(&client, &a).await,
    }
}

fn not_found_nm(name: &str) -> CliError {
    CliError::NotFound {
        what: format!("nodemaintenance/{name}"),
        hint: "`drydock list` shows the NodeMaintenances",
    }
}

fn not_found_node(name: &str) -> CliError {
    CliError::NotFound {
        what: format!("node {name}"),
        hint: "`kubectl get nodes` lists the nodes",
    }
}

async fn preview_node(client: &Client, node_name: &str, drain: &DrainSpec) -> Result<()> {
    let nodes = Api::<Node>::all(client.clone());
    let node = nodes
        .get_opt(node_name)
        .await
        .map_err(|e| CliError::api(format!("get node {node_name}"), e))?
        .ok_or_else(|| not_found_node(node_name))?;
    let on_node = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node_name}")))
        .await
        .map_err(|e| CliError::api(format!("list the pods on {node_name}"), e))?
        .items;
    let others = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| CliError::api("list nodes", e))?
        .items;
    // PDBs are those of the namespaces with pods on the node; the pods anti-affinity looks at and the volumes
    // claims are bound to are read as the controller reads them.
    let mut namespaces: Vec<String> = on_node.iter().filter_map(|p| p.namespace()).collect();
    namespaces.sort();
    namespaces.dedup();
    let mut pdbs = Vec::new();
    for ns in &namespaces {
        pdbs.extend(
            Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
                .list(&ListParams::default())
                .await
                .map_err(|e| CliError::api(format!("list the PodDisruptionBudgets of {ns}"), e))?
                .items,
        );
    }
    let mut room = crate::gather::Cache::default();
    let refs: Vec<&Pod> = on_node.iter().collect();
    crate::gather::room(client, &mut room, &refs)
        .await
        .map_err(|e| CliError::api("read the pods' anti-affinity peers and PersistentVolumes", e))?;
    let p = preview::assess(
        &node,
        &on_node,
        &pdbs,
        &others,
        room.pods(),
        room.volumes(),
        drain,
        Timestamp::now(),
    );
    print!("{}", format::preview(&p));
    if p.can_finish() {
        println!("the drain of {node_name} can finish");
        Ok(())
    } else {
        Err(CliError::WouldNotFinish {
            node: node_name.into(),
            blocking: p.blocking(),
        })
    }
}

/// Creates the NodeMaintenance; returns its name.
async fn start(client: &Client, a: &StartArgs) -> Result<String> {
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| args::default_name(&a.node, Timestamp::now()));
    // A maintainer may lack `get nodes` (the drydock-maintainer role does not grant it): then the controller
    // reports a missing node in status instead, and only a certain "no such node" stops us here.
    if let Ok(None) = Api::<Node>::all(client.clone()).get_opt(&a.node).await {
        return Err(not_found_node(&a.node));
    }
    let nms = Api::<NodeMaintenance>::all(client.clone());
    let same_node = ListParams::default().fields(&format!("spec.nodeName={}", a.node));
    if let Ok(list) = nms.list(&same_node).await {
        for other in list.items.iter().filter(|o| {
            !matches!(
                o.status.as_ref().map(|s| s.phase),
                Some(Phase::Completed | Phase::Failed)
            )
        }) {
            println!(
                "note: nodemaintenance/{} is already open for {}: this one waits (Pending) until it ends",
                other.name_any(),
                a.node
            );
        }
    }
    let mut nm = NodeMaintenance::new(
        &name,
        NodeMaintenanceSpec {
            node_name: a.node.clone(),
            reason: Some(a.reason.clone()),
            window: a.duration.clone().map(|d| Window {
                duration: Some(d),
                ..Default::default()
            }),
            drain: a.drain.spec(),
            ..Default::default()
        },
    );
    if !a.labels.is_empty() {
        nm.metadata.labels = Some(a.labels.iter().cloned().collect());
    }
    nms.create(&PostParams::default(), &nm).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 409 => CliError::Refused {
            name: name.clone(),
            message: "it already exists: choose another --name".into(),
        },
        kube::Error::Api(s) if s.code == 422 || s.code == 400 => CliError::Refused {
            name: name.clone(),
            message: s.message,
        },
        e => CliError::api("create nodemaintenances", e),
    })?;
    println!("nodemaintenance/{name} created for node {}", a.node);
    Ok(name)
}

/// Whether a wait is over, from what was read last (None: the object is gone), and how: the line to print
/// on success, or the error. None: keep waiting.
pub fn verdict(name: &str, until: Until, nm: Option<&NodeMaintenance>) -> Option<Result<String>> {
    let Some(nm) = nm else {
        return Some(match until {
            Until::Done => Ok(format!("nodemaintenance/{name} is gone: its node was restored")),
            Until::Drained => Err(CliError::NotDrained {
                name: name.into(),
                node: "its node".into(),
                why: "it was deleted before the drain finished, and the node restored".into(),
            }),
        });
    };
    let s = nm.status.clone().unwrap_or_default();
    let node = &nm.spec.node_name;
    match (s.phase, until) {
        (Phase::Failed, _) => Some(Err(CliError::Failed {
            name: name.into(),
            message: s.message.or(s.last_error).unwrap_or_else(|| "no reason given".into()),
        })),
        (Phase::Drained, Until::Drained) => Some(Ok(format!("{node} is drained and held by nodemaintenance/{name}"))),
        // The window can close before the drain finishes: the node is then restored without ever being drained.
        (Phase::Completed, Until::Drained) if s.drained_at.is_none() => Some(Err(CliError::NotDrained {
            name: name.into(),
            node: node.clone(),
            why: s
                .message
                .unwrap_or_else(|| "it completed before the drain finished".into()),
        })),
        (Phase::Completed, _) => Some(Ok(format!("nodemaintenance/{name} is Completed: {node} was restored"))),
        _ => None,
    }
}

/// Follows a maintenance until [`verdict`] says it is over, printing each change: a frame redrawn in place on
/// a terminal, new lines only otherwise (logs, pipes, CI).
async fn follow(api: &Api<NodeMaintenance>, name: &str, until: Until, timeout: Option<&str>) -> Result<()> {
    let limit = match timeout {
        Some(t) => Some(args::duration(t).map_err(CliError::Usage)?),
        None => None,
    };
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    let tty = std::io::stdout().is_terminal();
    let width = if tty { terminal_width() } else { usize::MAX };
    let (mut seen, mut errors) = (false, 0u32);
    let mut frame: Vec<String> = Vec::new();
    let mut stdout = std::io::stdout();
    loop {
        let nm = match api.get_opt(name).await {
            Ok(nm) => {
                errors = 0;
                nm
            }
            Err(e) if errors < TRANSIENT_ERRORS && !matches!(&e, kube::Error::Api(s) if s.code == 403) => {
                errors += 1;
                eprintln!(
                    "warning: reading nodemaintenance/{name} failed ({}); retrying",
                    crate::error::words(&e)
                );
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(CliError::api(format!("get nodemaintenance/{name}"), e)),
        };
        if nm.is_none() && !seen {
            return Err(not_found_nm(name));
        }
        if let Some(nm) = &nm {
            seen = true;
            let next = format::progress(nm);
            let out = if tty {
                if next != frame {
                    format::redraw(frame.len(), &next, width)
                } else {
                    String::new()
                }
            } else {
                format::plain_update(&frame, &next)
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect()
            };
            // A closed stdout (`| head`) must not turn a finished drain into a failure.
            let _ = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush());
            frame = next;
        }
        if let Some(result) = verdict(name, until, nm.as_ref()) {
            return result.map(|line| println!("{line}"));
        }
        if let (Some(deadline), Some(limit)) = (deadline, timeout)
            && tokio::time::Instant::now() >= deadline
        {
            let s = nm.and_then(|n| n.status).unwrap_or_default();
            let why = s
                .blocked_pods
                .first()
                .map(|p| format!("blocked by {}/{}: {}", p.namespace, p.name, p.reason))
                .or(s.message)
                .unwrap_or_else(|| "no progress reported: is the drydock controller running?".into());
            return Err(CliError::TimedOut {
                what: format!("nodemaintenance/{name} is still {:?}", s.phase),
                after: limit.into(),
                hint: format!("{why} (it carries on; `drydock status {name}` follows it)"),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Columns of the terminal: $COLUMNS, else `stty size` on the terminal, else 80 (std cannot ask the tty).
fn terminal_width() -> usize {
    let from_env = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok());
    let from_stty = || {
        let tty = std::fs::File::open("/dev/tty").ok()?;
        let out = std::process::Command::new("stty")
            .arg("size")
            .stdin(tty)
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    from_env.or_else(from_stty).filter(|w| *w > 10).unwrap_or(80)
}

/// Ends a maintenance by deleting it: drydock's finalizer restores the node before the object goes. (Patching
/// the window to end now would fight the CRD's rules, end after start and not both end and duration, for no
/// gain: a closed window and a deletion restore the node the same way.)
async fn end(client: &Client, a: &EndArgs) -> Result<()> {
    let name = &a.name;
    let api = Api::<NodeMaintenance>::all(client.clone());
    let nm = api
        .get_opt(name)
        .await
        .map_err(|e| CliError::api(format!("get nodemaintenance/{name}"), e))?
        .ok_or_else(|| not_found_nm(name))?;
    let node = nm.spec.node_name.clone();
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(CliError::api(format!("delete nodemaintenance/{name}"), e)),
    }
    println!("nodemaintenance/{name} ending: drydock restores {node}, then removes it");
    if !a.wait {
        return Ok(());
    }
    let limit = args::duration(&a.timeout).map_err(CliError::Usage)?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let still = api
            .get_opt(name)
            .await
            .map_err(|e| CliError::api(format!("get nodemaintenance/{name}"), e))?;
        if still.is_none() {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::TimedOut {
                what: format!("nodemaintenance/{name} is still there"),
                after: a.timeout.clone(),
                hint: "is the drydock controller running? Its finalizer drydock.dev/restore-node waits for it".into(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    // The finalizer let go, so the restore is done; say how the node was left.
    let cordoned = Api::<Node>::all(client.clone())
        .get_opt(&node)
        .await
        .ok()
        .flatten()
        .map(|n| n.spec.and_then(|s| s.unschedulable).unwrap_or(false));
    match cordoned {
        Some(false) => println!("{node} is restored and schedulable again"),
        Some(true) => {
            println!("{node} is restored; it stays cordoned, as it was before (or someone cordoned it since)")
        }
        None => println!("{node} is restored"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::NodeMaintenanceStatus;
    use clap::Parser;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn nm(phase: Phase, drained: bool) -> NodeMaintenance {
        let mut o = NodeMaintenance::new(
            "m1",
            NodeMaintenanceSpec {
                node_name: "node-2".into(),
                ..Default::default()
            },
        );
        o.status = Some(NodeMaintenanceStatus {
            phase,
            message: Some("msg".into()),
            drained_at: drained.then(|| Time("2026-01-01T00:00:00Z".parse().expect("ts"))),
            ..Default::default()
        });
        o
    }

    fn code(v: Option<Result<String>>) -> Option<u8> {
        v.map(|r| r.map_or_else(|e| e.exit_code(), |_| exit::OK))
    }

    #[test]
    fn waits_end_on_the_phase_asked_for() {
        let v = |until, phase, drained| code(verdict("m1", until, Some(&nm(phase, drained))));
        for phase in [Phase::Pending, Phase::Waiting, Phase::Cordoned, Phase::Draining] {
            assert_eq!(v(Until::Drained, phase, false), None, "{phase:?}");
            assert_eq!(v(Until::Done, phase, false), None, "{phase:?}");
        }
        assert_eq!(v(Until::Drained, Phase::Drained, true), Some(exit::OK));
        assert_eq!(v(Until::Done, Phase::Drained, true), None, "held, not done");
        assert_eq!(v(Until::Drained, Phase::Completed, true), Some(exit::OK));
        assert_eq!(
            v(Until::Drained, Phase::Completed, false),
            Some(exit::FAILED),
            "the window closed before the drain finished"
        );
        assert_eq!(v(Until::Done, Phase::Completed, false), Some(exit::OK));
        assert_eq!(v(Until::Drained, Phase::Failed, false), Some(exit::FAILED));
        assert_eq!(v(Until::Done, Phase::Failed, true), Some(exit::FAILED));
        assert_eq!(
            code(verdict("m1", Until::Done, None)),
            Some(exit::OK),
            "deleted: restored"
        );
        assert_eq!(code(verdict("m1", Until::Drained, None)), Some(exit::FAILED));
        let Some(Err(e)) = verdict("m1", Until::Drained, Some(&nm(Phase::Failed, false))) else {
            panic!("failed")
        };
        assert_eq!(
            e.to_string(),
            "nodemaintenance/m1 failed: msg; `drydock status m1` shows the details"
        );
    }

    #[test]
    fn the_kubectl_plugin_is_named_as_kubectl_calls_it() {
        assert_eq!(program_name("/usr/local/bin/kubectl-drydock"), "kubectl drydock");
        assert_eq!(program_name("kubectl-drydock"), "kubectl drydock");
        assert_eq!(program_name("target/debug/drydock"), "drydock");
        assert_eq!(program_name(""), "drydock");
    }

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    fn parse(line: &str) -> std::result::Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("drydock").chain(line.split_whitespace())).map(|c| c.command)
    }

    #[test]
    fn flags_are_checked_before_anything_is_sent() {
        let Ok(Command::Start(s)) = parse(
            "start n1 --reason kernel --duration 2h --label a=b --label c=d --selector app=web --evict-unmanaged \
             --wait --timeout 5s",
        ) else {
            panic!("start parses")
        };
        assert_eq!(s.labels, [("a".into(), "b".into()), ("c".into(), "d".into())]);
        assert_eq!(s.duration.as_deref(), Some("2h"));
        assert_eq!(s.timeout, "5s");
        let drain = s.drain.spec();
        assert!(drain.evict_unmanaged_pods && !drain.delete_empty_dir_data);
        assert!(drain.pod_selector.is_some());
        assert!(matches!(
            parse("preview n1 --pod-selector app=web --delete-emptydir-data"),
            Ok(Command::Preview(p)) if p.drain.delete_emptydir_data && p.drain.selector.is_some()
        ));
        // Each of these is refused by clap, which exits with the usage code.
        for bad in [
            "start n1",
            "start n1 --reason r --duration 2",
            "start n1 --reason r --name Bad_Name",
            "start n1 --reason r --label novalue",
            "start n1 --reason r --timeout 5s",
            "start n1 --reason r --selector a,,b",
            "status --watch",
            "status m1 --until drained",
            "status m1 --watch --until later",
            "end m1 --timeout 5m",
            "preview",
            "list -l a,,b",
            "status m1 -l a=b",
        ] {
            let e = parse(bad).expect_err(bad);
            assert_eq!(e.exit_code(), i32::from(exit::USAGE), "{bad}: {e}");
        }
        assert!(matches!(
            parse("status m1 --watch --until drained --timeout 90s"),
            Ok(Command::Status(StatusArgs {
                watch: true,
                until: Until::Drained,
                ..
            }))
        ));
        assert!(matches!(
            parse("list -l team=x"),
            Ok(Command::List(ListArgs { selector: Some(_) }))
        ));
    }
}
