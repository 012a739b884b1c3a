//! `auditwatch serve`: the API, the web UI and the AWS-compatible endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use auditwatch_auth::AuthStore;
use auditwatch_server::{AppState, ServerConfig};

use super::{Outcome, open_store, runtime};
use crate::config::Config;

/// The default listen address (loopback; put a TLS proxy in front, or use --tls-cert,
/// to serve others).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks one).
    #[arg(long, default_value = DEFAULT_LISTEN, env = "AUDITWATCH_LISTEN")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM); cookies become `__Host-`/`Secure`.
    #[arg(long, env = "AUDITWATCH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "AUDITWATCH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

pub fn run(args: ServeArgs, config: &Config) -> Result<Outcome> {
    let store = open_store(config)?;
    let tls = args.tls_cert.zip(args.tls_key);
    serve(store, config, args.listen, tls, None)
}

/// Creates the first admin when there is no user yet: the password comes from
/// `AUDITWATCH_ADMIN_PASSWORD` or is generated and printed once.
fn first_admin(auth: &AuthStore) -> Result<Option<String>> {
    if auth.user_count()? > 0 {
        return Ok(None);
    }
    let (password, generated) = match std::env::var("AUDITWATCH_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (auditwatch_auth::password::generate(), true),
    };
    match auth.add_user("admin", auditwatch_auth::Role::Admin, None, &password) {
        Ok(_) => {}
        // Nodes of a shared catalog starting together: another one created it.
        Err(auditwatch_auth::AuthError::UserExists(_)) => return Ok(None),
        Err(e) => {
            return Err(e).context("creating the first admin (AUDITWATCH_ADMIN_PASSWORD)");
        }
    }
    auth.audit(&auditwatch_auth::NewAudit {
        actor: "serve".into(),
        ip: "local".into(),
        action: "user.add".into(),
        target: "admin".into(),
        detail: "first run: role=admin accounts=all".into(),
        outcome: "ok".into(),
    })?;
    Ok(Some(if generated {
        format!(
            "First run: created user `admin` with password {password}  (shown once; change it with `auditwatch users passwd admin`)"
        )
    } else {
        "First run: created user `admin` with the password in AUDITWATCH_ADMIN_PASSWORD".into()
    }))
}

/// Serves `store` on `listen` until Ctrl-C / SIGTERM; `hint` is printed under the URL.
pub fn serve(
    store: auditwatch_store::Store,
    config: &Config,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    hint: Option<String>,
) -> Result<Outcome> {
    init_logging();
    let data_dir = store.data_dir().display().to_string();
    let auth = super::open_auth(config)?;
    let first = first_admin(&auth)?;
    let mut auth_config = config.auth.clone();
    auth_config.secure_cookies |= tls.is_some();
    let oidc_settings = config.oidc.clone();
    let sources = config.sources.clone();
    let ingest = config.ingest.clone();
    let retention = config.retention.clone();
    let public_keys = config.public_keys.clone();
    let (library, library_warnings) =
        auditwatch_detect::Library::open(store.data_dir(), config.detection.clone())
            .with_context(|| format!("opening the rules declared in {data_dir}"))?;
    let library = std::sync::Arc::new(library);
    for w in config.detection_warnings.iter().chain(&library_warnings) {
        eprintln!("warning: {w}");
    }
    // Refused at start rather than warned about at every tick: with a shared catalog,
    // only one node may run detection.
    if !library.current().is_empty() {
        auditwatch_detect::state::DetectionState::of(&store)
            .and_then(|c| Ok(c.set_detection(true)?))
            .context("starting live detection")?;
    }
    runtime()?.block_on(async move {
        if let Some(settings) = oidc_settings {
            let oidc = auditwatch_server::oidc::Oidc::discover(settings).await?;
            auth_config.oidc = Some(std::sync::Arc::new(oidc));
        }
        // Events stored before the sessions index existed join it once, before the
        // origins of searches and SQL read it.
        let backfilled = store.index_sessions().await.context("indexing sessions")?;
        if backfilled > 0 {
            tracing::info!(sessions = backfilled, "indexed the sessions of stored events");
        }
        let (stop_sources, sources_stopped) = tokio::sync::watch::channel(false);
        let runner = auditwatch_sources::runner::Runner::start(
            store.clone(),
            sources,
            &ingest,
            public_keys.clone(),
            sources_stopped.clone(),
        );
        if let Some(slot) = runner.slot() {
            tokio::spawn(super::maintain::every(
                store.clone(),
                retention,
                slot,
                sources_stopped.clone(),
            ));
        }
        let detector = {
            let (store, library, stopped) =
                (store.clone(), library.clone(), sources_stopped.clone());
            tokio::spawn(async move {
                if let Err(e) = auditwatch_detect::service::run(store, library, stopped).await {
                    tracing::error!(error = %e, "detection could not start");
                }
            })
        };
        // Contact-form messages left on this node, e-mailed to the SMTP channels.
        let mailer = tokio::spawn(auditwatch_server::contact::mail::run(
            auditwatch_server::contact::Messages::of(store.data_dir()),
            library.clone(),
            sources_stopped.clone(),
        ));
        let source_count = runner.snapshot().len();
        let server_config = ServerConfig {
            loopback_only: listen.ip().is_loopback(),
            auth: auth_config,
            sources: runner,
            public_keys,
            detection: library.clone(),
            ..ServerConfig::default()
        };
        let state = AppState::new(store, auth, server_config);
        let tls = match &tls {
            Some((cert, key)) => Some(auditwatch_server::load_tls(cert, key).await?),
            None => None,
        };
        let listener = auditwatch_server::bind(listen).await?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("Auditwatch is serving {data_dir} on {scheme}://{addr}/");
        if let Some(f) = first {
            println!("{f}");
        }
        if let Some(h) = hint {
            println!("{h}");
        }
        if source_count > 0 {
            println!("Running {source_count} source(s); status at /sources and /api/v1/sources.");
        }
        let detection = library.current();
        if !detection.is_empty() {
            println!(
                "Detecting with {} alarm(s) and {} rule(s); alerts at /alerts, alarms at /alarms, rules at /rules.",
                detection.alarms.len(),
                detection.rules.len()
                    + detection
                        .sigma
                        .as_ref()
                        .map_or(0, |s| s.rule_count() + s.correlation_count())
            );
        }
        println!("Stop with Ctrl-C.");
        let stop = auditwatch_server::shutdown_signal();
        match tls {
            Some(tls) => auditwatch_server::serve_tls(listener, tls, state, stop).await?,
            None => auditwatch_server::serve(listener, state, stop).await?,
        }
        let _ = stop_sources.send(true);
        let _ = detector.await;
        let _ = mailer.await;
        println!("stopped");
        Ok(Outcome::Success)
    })
}

pub(crate) fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("AUDITWATCH_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,auditwatch_server=info,auditwatch_detect=info")
        });
    // Colours only on a terminal: a log file or journal gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
