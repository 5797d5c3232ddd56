//! The `sandbox` binary: arguments and the run loop.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use crate::{Sandbox, SandboxOptions, Seed, DEFAULT_MAX_RECORDED};

/// Fake BigCommerce (`/bigcommerce`) and Voyado Engage (`/engage`) APIs with request
/// recording and fault injection (`/_sandbox`).
#[derive(Debug, Clone, Parser)]
#[command(name = "sandbox", version, about)]
pub struct Cli {
    /// Address to listen on (`:0` picks a free port, printed at start).
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// Seed file (JSON, see `Seed`); without it the built-in fixtures are served
    /// under store hash `abc123`.
    #[arg(long, env = "SANDBOX_SEED")]
    pub seed: Option<PathBuf>,
    /// HTTP worker threads.
    #[arg(long, env = "SANDBOX_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Requests kept in the log before the oldest are dropped.
    #[arg(long, env = "SANDBOX_MAX_RECORDED", default_value_t = DEFAULT_MAX_RECORDED)]
    pub max_recorded: usize,
}

/// Runs the sandbox until SIGINT or SIGTERM. Prints `sandbox listening on http://ADDR`
/// on stdout once it accepts connections, so scripts can wait for that line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let seed = match &cli.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading seed file {}", path.display()))?;
            Seed::from_json(&text)
                .with_context(|| format!("parsing seed file {}", path.display()))?
        }
        None => Seed::default_fixtures(),
    };
    let options = SandboxOptions {
        workers: cli.workers,
        max_recorded: cli.max_recorded,
    };
    let sandbox = Sandbox::start_with(&cli.listen, seed, options)
        .await
        .with_context(|| format!("starting the sandbox on {}", cli.listen))?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "sandbox listening on {}", sandbox.base_url())?;
        stdout.flush()?;
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    sandbox.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if let Err(error) = result {
                tracing::warn!(%error, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
        }
        () = terminate => {}
    }
}
