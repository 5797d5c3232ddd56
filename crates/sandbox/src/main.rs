//! `sandbox`: fake BigCommerce and Voyado Engage APIs (see the library docs).

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = sandbox::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match sandbox::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the cause; the error chain reads as one sentence.
            eprintln!("sandbox: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
