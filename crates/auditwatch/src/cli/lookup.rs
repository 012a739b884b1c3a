//! `auditwatch lookup`: LookupEvents from the command line, several attributes ANDed.

use anyhow::{Context, Result, bail};
use auditwatch_store::rows::to_json;
use auditwatch_store::{Attribute, Lookup, Scope};
use serde_json::{Map, Value};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, write_rows};
use auditwatch_event::timearg;

#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    /// KEY=VALUE; KEY is one of EventId EventName ReadOnly Username ResourceType
    /// ResourceName EventSource AccessKeyId. Repeat to AND several.
    #[arg(long = "attribute", value_name = "KEY=VALUE")]
    attributes: Vec<String>,
    /// Earliest event time (RFC 3339, YYYY-MM-DD, or relative like 7d).
    #[arg(long)]
    start: Option<String>,
    /// Latest event time (a bare date means the end of that day).
    #[arg(long)]
    end: Option<String>,
    /// Most events to print.
    #[arg(long, default_value_t = 50)]
    max_results: usize,
    /// Only these accounts.
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// Only these regions.
    #[arg(long = "region")]
    regions: Vec<String>,
    /// Only these error codes.
    #[arg(long = "error-code")]
    error_codes: Vec<String>,
    /// Only events that failed with an error.
    #[arg(long)]
    errors_only: bool,
    /// Only these source IP addresses.
    #[arg(long = "source-ip")]
    source_ips: Vec<String>,
    /// Text that must appear anywhere in the record.
    #[arg(long)]
    text: Option<String>,
    /// Only calls whose origin is this, directly or through any chain of role
    /// sessions: an IAM user's name or ARN, a root ARN, a SAML or OIDC subject, an
    /// Identity Center user, a service principal, or a source identity.
    #[arg(long)]
    origin: Option<String>,
    /// Continue from a previous page.
    #[arg(long)]
    next_token: Option<String>,
    /// Output format (table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Columns printed for each event.
pub const COLUMNS: [&str; 10] = [
    "eventTime",
    "username",
    "eventName",
    "eventSource",
    "resource",
    "awsRegion",
    "sourceIPAddress",
    "errorCode",
    "accountId",
    "eventID",
];

pub fn run(args: LookupArgs, config: &Config) -> Result<Outcome> {
    let now = chrono::Utc::now();
    let mut q = Lookup {
        max_results: args.max_results,
        accounts: args.accounts,
        regions: args.regions,
        error_codes: args.error_codes,
        errors_only: args.errors_only,
        source_ips: args.source_ips,
        text: args.text,
        origin: args.origin,
        next_token: args.next_token,
        ..Lookup::default()
    };
    if q.max_results == 0 {
        bail!("--max-results must be at least 1");
    }
    for a in &args.attributes {
        let (k, v) = a
            .split_once('=')
            .with_context(|| format!("--attribute {a:?}: expected KEY=VALUE"))?;
        let key: Attribute = k.parse().with_context(|| format!("--attribute {a:?}"))?;
        q.attributes.push((key, v.to_string()));
    }
    if let Some(s) = &args.start {
        q.start = Some(
            timearg::parse(s, now, false)
                .map_err(anyhow::Error::msg)
                .context("--start")?,
        );
    }
    if let Some(e) = &args.end {
        q.end = Some(
            timearg::parse(e, now, true)
                .map_err(anyhow::Error::msg)
                .context("--end")?,
        );
    }
    if let (Some(s), Some(e)) = (q.start, q.end)
        && e < s
    {
        bail!("--end is before --start");
    }
    let store = open_existing_store(config)?;
    let page = runtime()?.block_on(store.lookup(&Scope::All, &q))?;
    let rows = to_json(&[page.events])?;
    let format = format_or_default(args.format);
    let out: Vec<Map<String, Value>> = rows.into_iter().map(|r| shape(r, format)).collect();
    let columns: Vec<String> = match format {
        Format::Json | Format::Ndjson => COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(["event".to_string()])
            .collect(),
        _ => COLUMNS.iter().map(|c| c.to_string()).collect(),
    };
    write_rows(&mut std::io::stdout().lock(), format, &columns, &out)?;
    if let Some(t) = page.next_token {
        eprintln!("more events match; continue with --next-token {t}");
    }
    Ok(Outcome::Success)
}

/// The printed form of an event: the summary columns, plus the whole record for JSON.
fn shape(mut row: Map<String, Value>, format: Format) -> Map<String, Value> {
    let mut out = Map::new();
    let resource = row
        .get("resources")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|r| r.get("ARN"))
        .cloned();
    for c in COLUMNS {
        let v = if c == "resource" {
            resource.clone()
        } else {
            row.remove(c)
        };
        if let Some(v) = v {
            out.insert(c.to_string(), v);
        }
    }
    if matches!(format, Format::Json | Format::Ndjson)
        && let Some(Value::String(raw)) = row.remove("raw")
    {
        out.insert(
            "event".into(),
            serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
        );
    }
    out
}
