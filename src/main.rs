//! The drydock binary: `drydock run` (the controller), `drydock crd` (print the CRD YAML) and the runbook
//! commands (`preview`, `start`, `status`, `end`, `list`). Also works as the kubectl plugin `kubectl-drydock`,
//! and as `kubectl_complete-drydock`, which completes `kubectl drydock ...` for kubectl.
use std::{net::SocketAddr, process::ExitCode, time::Duration};

use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use drydock::{
    controller::Settings,
    operator::{self, Lease, Options},
    shutdown::Shutdown,
    telemetry::logs,
};

#[derive(Parser)]
#[command(
    name = "drydock",
    version,
    about = "Kubernetes node maintenance: taint, cordon, drain, hold, restore"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (kubeconfig from KUBECONFIG / ~/.kube/config, or in-cluster).
    Run(Run),
    /// Print drydock's CustomResourceDefinitions as YAML (or write them, one file each, into a folder).
    Crd {
        /// Write crds/<kind>.yaml files into this folder instead of printing.
        #[arg(long)]
        write: Option<std::path::PathBuf>,
    },
    /// Print a shell completion script: `source <(drydock completion bash)`; zsh and fish too (docs/cli-completions.md).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Cli(drydock::cli::Command),
}

#[derive(clap::Args)]
struct Run {
    /// Only handle NodeMaintenances matching this label selector (e.g. for sharding or tests).
    #[arg(long)]
    selector: Option<String>,
    /// Evictions in flight at once per maintenance.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=512))]
    eviction_concurrency: u16,
    /// Log format.
    #[arg(long, value_enum, default_value_t = logs::Format::Text, env = "DRYDOCK_LOG_FORMAT")]
    log_format: logs::Format,
    /// Address for /healthz, /readyz and /metrics (in a pod: 0.0.0.0:8080).
    #[arg(long, default_value = "127.0.0.1:8080", env = "DRYDOCK_HTTP_ADDR")]
    http_addr: SocketAddr,
    /// Elect a leader through a coordination.k8s.io Lease, so replicas never reconcile at once.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "drydock-controller")]
    lease_name: String,
    /// This replica's identity in the Lease (default: the pod's name, else host and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Label held nodes remediation.medik8s.io/exclude-from-remediation=true so medik8s NodeHealthCheck does not
    /// "remediate" a node that is down on purpose.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    exclude_from_remediation: bool,
    /// Publish Kubernetes' node lifecycle conditions (MaintenancePlanned, MaintenanceInProgress, DrainInProgress,
    /// Drained) on the nodes drydock maintains, through nodes/status.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    node_lifecycle_conditions: bool,
    /// Nodes under maintenance at once, cluster-wide (whoever created the NodeMaintenances); more wait Pending.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_maintenances: u16,
    /// Namespace of the pods NodeMaintenances' spec.task runs (config/rbac lets drydock create pods there only).
    #[arg(long, default_value = "drydock-tasks")]
    task_namespace: String,
    /// The Prometheus that health gates query (http[s]://host:port[/prefix]). Operator configuration on purpose:
    /// no NodeMaintenance or MaintenanceSchedule can point drydock anywhere. Unset: gates cannot be checked, and
    /// block.
    #[arg(long, env = "DRYDOCK_PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    /// The Secret `<namespace>/<name>` whose key receivers.yaml lists where to send notifications (webhooks:
    /// CloudEvents or Slack); watched, so a change applies without a restart. Omitted: no notifications.
    #[arg(long, env = "DRYDOCK_NOTIFY_SECRET", value_parser = notify_secret)]
    notify_secret: Option<(String, String)>,
}

fn notify_secret(text: &str) -> Result<(String, String), String> {
    drydock::notify::secret::parse_name(text)
}

/// After SIGTERM or SIGINT, `drydock run` exits within this long whatever still runs (its parts have shorter
/// bounds of their own; this one is for what nobody foresaw). Kubernetes waits 30 s before it kills a pod; a
/// rollout waits for every old replica to go.
const EXIT_DEADLINE: Duration = Duration::from_millis(1200);
/// How long the runtime waits, on the way out, for blocking tasks (DNS lookups, file reads) that no one awaits.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    // kubectl asking how to complete `kubectl drydock ...` (src/cli/complete.rs): no runtime, no cluster.
    let argv0 = std::env::args().next().unwrap_or_default();
    if drydock::cli::complete::called_as_plugin_completer(&argv0) {
        let words: Vec<String> = std::env::args().skip(1).collect();
        print!("{}", drydock::cli::complete::plugin_answer(&Cli::command(), &words));
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("drydock: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run_command(Cli::parse().command));
    // Dropping a runtime waits for its blocking tasks for ever: exit regardless once the command is done.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

async fn run_command(command: Command) -> ExitCode {
    match command {
        Command::Completion { shell } => {
            // Completes the name it was called by: `drydock`, or `kubectl-drydock` when linked as the plugin.
            let argv0 = std::env::args().next().unwrap_or_default();
            let name = match drydock::cli::complete::called_as(&argv0) {
                "kubectl-drydock" => "kubectl-drydock",
                _ => "drydock",
            };
            clap_complete::generate(shell, &mut Cli::command(), name, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Cli(command) => drydock::cli::run(command).await,
        Command::Crd { write: None } => {
            for (_, yaml) in drydock::crds() {
                print!("{yaml}");
            }
            ExitCode::SUCCESS
        }
        Command::Crd { write: Some(dir) } => {
            for (file, yaml) in drydock::crds() {
                if let Err(e) = std::fs::write(dir.join(file), yaml) {
                    eprintln!("drydock: cannot write {}: {e}", dir.join(file).display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Run(run) => {
            logs::init(run.log_format);
            // First, before anything can wait: a signal during start-up counts too.
            let shutdown = match Shutdown::on_signals() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("drydock: failed to listen for SIGTERM and SIGINT: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match shutdown.bounded(serve(run, shutdown.clone()), EXIT_DEADLINE).await {
                Some(Ok(())) => {
                    tracing::info!("drydock stopped");
                    ExitCode::SUCCESS
                }
                None => {
                    tracing::warn!(deadline = ?EXIT_DEADLINE, "still stopping after the deadline: exiting anyway");
                    ExitCode::SUCCESS
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, "drydock stopped");
                    eprintln!("drydock: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(run: Run, shutdown: Shutdown) -> drydock::error::Result<()> {
    let own_pod = std::env::var("POD_NAMESPACE").ok().zip(std::env::var("POD_NAME").ok());
    let settings = Settings {
        selector: run.selector,
        eviction_concurrency: run.eviction_concurrency.into(),
        own_pod,
        exclude_remediation: run.exclude_from_remediation,
        max_concurrent: run.max_concurrent_maintenances.into(),
        node_conditions: run.node_lifecycle_conditions,
        task_namespace: run.task_namespace,
        prometheus: run
            .prometheus_url
            .as_deref()
            .map(drydock::act::prometheus::Prometheus::new)
            .transpose()
            .map_err(drydock::error::Error::Flag)?,
        notify_secret: run.notify_secret,
    };
    let identity = run.identity.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let lease = run.leader_elect.then_some(Lease {
        namespace: run.lease_namespace,
        name: run.lease_name,
        identity,
    });
    let config = kube::Config::infer()
        .await
        .map_err(|e| drydock::error::Error::ClientConfig(e.to_string()))?;
    operator::run(
        config,
        settings,
        Options {
            http_addr: run.http_addr,
            lease,
        },
        shutdown,
    )
    .await
}
