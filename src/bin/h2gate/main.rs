//! `h2gate`: parse the command line, set up logging, run with the demo services wired in.

use std::process::ExitCode;

use clap::Parser;

mod demo;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    h2gate::cli::Cli::parse().run(Some(demo::backend())).await
}
