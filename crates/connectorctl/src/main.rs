//! `connectorctl`: the operators' command line.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = connectorctl::Cli::parse();
    let mut out = std::io::stdout().lock();
    if let Err(error) = connectorctl::run(cli, &mut out).await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
