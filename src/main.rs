//! The drydock binary: `drydock run` (the controller) and `drydock crd` (print the CRD YAML).
use clap::{Parser, Subcommand, ValueEnum};
use drydock::controller::{self, Settings};

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
    Run {
        /// Only handle NodeMaintenances matching this label selector (e.g. for sharding or tests).
        #[arg(long)]
        selector: Option<String>,
        /// Evictions in flight at once per maintenance.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=512))]
        eviction_concurrency: u16,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "DRYDOCK_LOG_FORMAT")]
        log_format: LogFormat,
    },
    /// Print the NodeMaintenance CustomResourceDefinition as YAML.
    Crd,
    #[command(flatten)]
    Cli(drydock::cli::Command),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Command::Cli(command) => drydock::cli::run(command).await,
        Command::Crd => {
            print!("{}", drydock::crd_yaml());
            std::process::ExitCode::SUCCESS
        }
        Command::Run {
            selector,
            eviction_concurrency,
            log_format,
        } => {
            init_logs(log_format);
            let own_pod = std::env::var("POD_NAMESPACE").ok().zip(std::env::var("POD_NAME").ok());
            let settings = Settings {
                selector,
                eviction_concurrency: eviction_concurrency.into(),
                own_pod,
            };
            let result = match kube::Config::infer().await {
                Ok(config) => controller::run(config, settings).await,
                Err(e) => Err(drydock::error::Error::Config(e.to_string())),
            };
            match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "drydock stopped");
                    eprintln!("drydock: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}
