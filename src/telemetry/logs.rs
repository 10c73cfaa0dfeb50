//! Structured logs on stderr, as text for people or JSON for log pipelines. Every reconcile runs in a span
//! carrying the NodeMaintenance and its node, so each line says which maintenance it is about.
use std::io::IsTerminal;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn init(format: Format) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        Format::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        Format::Text => builder.init(),
    }
}
