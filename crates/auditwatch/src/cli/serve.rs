//! `auditwatch serve`: the API, the web UI and the AWS-compatible endpoint.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use auditwatch_server::{AppState, ServerConfig};

use super::{Outcome, open_store, runtime};
use crate::config::Config;

/// The default listen address (loopback: there is no sign-in yet).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback only until sign-in exists; port 0 picks one).
    #[arg(long, default_value = DEFAULT_LISTEN, env = "AUDITWATCH_LISTEN")]
    pub listen: SocketAddr,
}

pub fn run(args: ServeArgs, config: &Config) -> Result<Outcome> {
    let store = open_store(config)?;
    serve(store, args.listen, None)
}

/// Serves `store` on `listen` until Ctrl-C / SIGTERM; `hint` is printed under the URL.
pub fn serve(
    store: auditwatch_store::Store,
    listen: SocketAddr,
    hint: Option<String>,
) -> Result<Outcome> {
    init_logging();
    let data_dir = store.data_dir().display().to_string();
    let state = AppState::new(store, ServerConfig::default());
    runtime()?.block_on(async move {
        let listener = auditwatch_server::bind(listen).await?;
        let addr = listener.local_addr().context("reading the bound address")?;
        println!("Auditwatch is serving {data_dir} on http://{addr}/");
        if let Some(h) = hint {
            println!("{h}");
        }
        println!("Stop with Ctrl-C.");
        auditwatch_server::serve(listener, state, auditwatch_server::shutdown_signal()).await?;
        println!("stopped");
        Ok(Outcome::Success)
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUDITWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,auditwatch_server=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
