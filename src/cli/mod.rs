//! The runbook CLI: `drydock preview | start | status | end | list`, talking to the API server with the user's
//! kubeconfig. (Being written.)
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List NodeMaintenances.
    List,
}

/// Runs one CLI command; returns the process exit code.
pub async fn run(command: Command) -> std::process::ExitCode {
    let _ = command;
    std::process::ExitCode::SUCCESS
}
