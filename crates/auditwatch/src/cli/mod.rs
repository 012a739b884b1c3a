//! The command line (DESIGN §3): argument definitions and one small function per
//! subcommand. Everything here is the command layer, so errors are `anyhow`.

mod compact;
mod demo;
mod generate;
mod hunt;
mod ingest;
mod lookup;
mod maintain;
mod serve;
mod sql;
mod users;
mod verify;
mod whois;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::output::Format;

/// What a successful run reports to the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was taken.
    Success,
    /// The run finished but some input was rejected (exit status 2).
    SomeRejected,
}

/// Auditwatch: search, watch and prove your AWS CloudTrail logs.
#[derive(Debug, Parser)]
#[command(name = "auditwatch", version, about)]
pub struct Args {
    /// Data directory (lake and catalog).
    #[arg(long, global = true, env = "AUDITWATCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "AUDITWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate demo data, ingest it and print what to try.
    Demo(demo::DemoArgs),
    /// Ingest CloudTrail files, folders (recursive) and zip archives.
    Ingest(ingest::IngestArgs),
    /// Look up events (LookupEvents semantics; several attributes are ANDed).
    Lookup(lookup::LookupArgs),
    /// Run read-only SQL over the `events` table.
    Sql(sql::SqlArgs),
    /// Serve the web UI, the JSON API and the AWS-compatible LookupEvents endpoint.
    Serve(serve::ServeArgs),
    /// Apply retention (`[retention]`), then merge small Parquet segments.
    Compact,
    /// Run detection rules over stored history and print a timeline.
    Hunt(hunt::HuntArgs),
    /// Check CloudTrail log-file integrity: digest signatures, the digest chain and
    /// log-file hashes, from S3 or a local copy.
    Verify(verify::VerifyArgs),
    /// Generate synthetic CloudTrail in the real S3 layout.
    Generate(generate::GenerateArgs),
    /// Manage users, second factors and API keys.
    Users(users::UsersArgs),
    /// Who is behind a temporary key, a role session or an event: the chain of
    /// sessions to the origin (IAM user, root, federated subject, service).
    Whois(whois::WhoisArgs),
}

/// Parses the arguments and runs the command.
pub fn run() -> Result<Outcome> {
    let args = Args::parse();
    // Other commands log only when asked (`serve` always logs, with its own defaults):
    // e.g. `AUDITWATCH_LOG=auditwatch_store=debug auditwatch ingest …` times each commit.
    if std::env::var_os("AUDITWATCH_LOG").is_some() && !matches!(args.command, Command::Serve(_)) {
        serve::init_logging();
    }
    let config = Config::load(args.data_dir.as_deref(), args.config.as_deref());
    match args.command {
        Command::Generate(a) => generate::run(a),
        Command::Demo(a) => demo::run(a, args.data_dir.as_deref(), &config?),
        Command::Ingest(a) => ingest::run(a, &config?),
        Command::Lookup(a) => lookup::run(a, &config?),
        Command::Sql(a) => sql::run(a, &config?),
        Command::Serve(a) => serve::run(a, &config?),
        Command::Compact => compact::run(&config?),
        Command::Users(a) => users::run(a, &config?),
        Command::Verify(a) => verify::run(a, &config?),
        Command::Hunt(a) => hunt::run(a, &config?),
        Command::Whois(a) => whois::run(a, &config?),
    }
}

/// The format asked for, or the default for where stdout goes.
fn format_or_default(f: Option<Format>) -> Format {
    f.unwrap_or_else(Format::default_for_stdout)
}

/// A Tokio runtime for the query engine.
/// The stack of each thread that answers requests (docs/SECURITY.md, bounds).
const THREAD_STACK_BYTES: usize = 8 << 20;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(THREAD_STACK_BYTES)
        .enable_all()
        .build()?)
}

/// Opens the store of a data directory that must already hold data (for commands
/// that only read it), so a mistyped `--data-dir` is an error, not an empty result.
fn open_existing_store(config: &Config) -> Result<auditwatch_store::Store> {
    // A node of a shared catalog starts with an empty data directory.
    if config.placement.catalog_url.is_none() && !config.data_dir.join("catalog.db").is_file() {
        anyhow::bail!(
            "no Auditwatch data in {} (run `auditwatch ingest` first, or check --data-dir)",
            config.data_dir.display()
        );
    }
    open_store(config)
}

/// Opens the users, keys, sessions and audit log: in the data directory's catalog,
/// or in the shared catalog when several nodes share one (`[catalog] url`).
pub(crate) fn open_auth(config: &Config) -> Result<auditwatch_auth::AuthStore> {
    use anyhow::Context;
    let placement = &config.placement;
    let opened = match &placement.catalog_url {
        Some(url) => auditwatch_auth::AuthStore::open_shared(
            &config.data_dir,
            url,
            &auditwatch_catalog::postgres::redact(url),
            placement.catalog_password.as_deref(),
        ),
        None => auditwatch_auth::AuthStore::open(&config.data_dir),
    };
    opened.with_context(|| format!("opening the users of {}", config.data_dir.display()))
}

/// Opens the store of the configured data directory, creating it if needed.
fn open_store(config: &Config) -> Result<auditwatch_store::Store> {
    use anyhow::Context;
    auditwatch_store::Store::open_with(&config.data_dir, &config.placement)
        .with_context(|| format!("opening data directory {}", config.data_dir.display()))
}
