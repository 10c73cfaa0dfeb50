//! The runbook commands, for people at 3 a.m. and for scripts: `drydock preview | start | status | end | list | approve`,
//! talking to the API server with the user's kubeconfig. Also a kubectl plugin: link the binary as
//! `kubectl-drydock` and run `kubectl drydock ...` (clap ignores `argv[0]`, so nothing else changes).
//!
//! One module per command; here only the dispatch and what several commands share. Decisions are pure and
//! tested apart from the I/O: [`preview::assess`] (what a drain would do), [`format`] (what is printed),
//! [`args`] (what is accepted) and [`verdict`] (when a wait is over). Exit codes a script can rely on are in
//! [`exit`]; every failure prints one line on stderr saying why and what to do.
mod approve;
pub mod args;
pub mod complete;
mod end;
pub mod error;
mod follow;
pub mod format;
mod list;
pub mod preview;
mod start;
mod status;

use std::time::Duration;

use clap::{Args, Subcommand};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{Api, Client};

pub use approve::ApproveArgs;
pub use end::EndArgs;
pub use error::{CliError, exit};
pub use follow::{Until, verdict};
pub use list::ListArgs;
pub use preview::PreviewArgs;
pub use start::StartArgs;
pub use status::StatusArgs;

use crate::api::v1alpha1::{DrainSpec, NodeMaintenance};
use error::Result;

/// How often a wait or a watch reads the NodeMaintenance: its status changes a few times a second at most.
const POLL: Duration = Duration::from_millis(500);

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
    /// Approve a MaintenanceSchedule's window (or, with --node, nodes of it) when its rollout.approval asks.
    Approve(ApproveArgs),
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
        Command::Preview(a) => preview::run(&client, &a.node, &a.drain.spec()).await,
        Command::Start(a) => {
            let name = start::run(&client, &a).await?;
            if a.wait {
                follow::follow(&nms, &name, Until::Drained, Some(&a.timeout)).await
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
        }) => follow::follow(&nms, &name, until, timeout.as_deref()).await,
        Command::Status(StatusArgs { name: Some(name), .. }) => status::run(&client, &name).await,
        Command::Status(StatusArgs { selector, .. }) | Command::List(ListArgs { selector }) => {
            list::run(&client, selector.as_deref()).await
        }
        Command::End(a) => end::run(&client, &a).await,
        Command::Approve(a) => approve::run(&client, &a).await,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
