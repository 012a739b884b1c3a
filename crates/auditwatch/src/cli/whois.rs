//! `auditwatch whois ASIA…|SESSION-ARN|EVENTID`: who is behind a temporary key, a
//! role session or an event — the chain from the call's own session through the
//! calls that issued each set of credentials (`AssumeRole*`, `GetSessionToken`,
//! `GetFederationToken`) to the origin, read from the sessions index that ingest
//! fills (`auditwatch_event::identity` walks it).

use std::cell::RefCell;

use anyhow::{Result, bail};
use auditwatch_event::Record;
use auditwatch_event::identity::{Attribution, Issued, Origin, Principal, attribute, caller};
use auditwatch_store::Scope;
use serde_json::{Map, Value, json};

use super::{Outcome, format_or_default, open_existing_store, runtime};
use crate::config::Config;
use crate::output::{Format, write_rows};

#[derive(Debug, clap::Args)]
pub struct WhoisArgs {
    /// A temporary access key (ASIA…), a role session's ARN
    /// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) or an event id.
    who: String,
    /// Output format (table on a terminal, json otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// The columns: one row per step, the call's own session first, the origin last.
const COLUMNS: [&str; 7] = [
    "step",
    "identity",
    "type",
    "account",
    "issuedBy",
    "eventID",
    "eventTime",
];

pub fn run(args: WhoisArgs, config: &Config) -> Result<Outcome> {
    let who = args.who.trim();
    if who.is_empty() {
        bail!("whois: give a temporary access key (ASIA…), a role session ARN or an event id");
    }
    let store = open_existing_store(config)?;
    let rt = runtime()?;
    // Events stored before the sessions index existed are indexed once, here.
    let backfilled = rt.block_on(store.index_sessions())?;
    if backfilled > 0 {
        eprintln!("indexed {backfilled} sessions issued by events stored before the index existed");
    }
    let table = store.table()?;
    let failed: RefCell<Option<auditwatch_catalog::CatalogError>> = RefCell::new(None);
    let lookup = |key: &str| match table.session(key) {
        Ok(found) => found,
        Err(e) => {
            failed.borrow_mut().get_or_insert(e);
            None
        }
    };
    let start = if who.starts_with("ASIA") {
        let issued = table.session(who)?;
        Principal::Session {
            access_key_id: who.to_string(),
            session_arn: issued
                .and_then(|i| i.session_arn)
                .unwrap_or_else(|| who.to_string()),
            role_arn: None,
            source_identity: None,
        }
    } else if who.starts_with("arn:") {
        let named = table.sessions_named(who)?;
        let Some(newest) = named.into_iter().next() else {
            bail!(
                "whois {who}: no session of that name is recorded (the call that started it \
                 is not stored; an event made in that session names its key, ASIA…)"
            );
        };
        Principal::Session {
            access_key_id: newest.access_key_id,
            session_arn: who.to_string(),
            role_arn: None,
            source_identity: None,
        }
    } else {
        let found =
            rt.block_on(store.raw_by_id(&Scope::All, i64::MIN, i64::MAX, &[who.to_string()]))?;
        let Some((_, raw)) = found.into_iter().next() else {
            bail!(
                "whois {who}: no event with this id is stored, and it is not a key (ASIA…) or an ARN"
            );
        };
        let record = Record::parse(&raw)
            .map_err(|e| anyhow::anyhow!("whois {who}: the stored record does not parse: {e}"))?;
        caller(&record.fields)
    };
    let attribution = attribute(&start, lookup);
    if let Some(e) = failed.into_inner() {
        return Err(e.into());
    }
    let format = format_or_default(args.format);
    let columns: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    write_rows(
        &mut std::io::stdout().lock(),
        format,
        &columns,
        &rows(&start, &attribution),
    )?;
    Ok(Outcome::Success)
}

/// The printed steps: each session and the call that issued it, then the origin.
fn rows(start: &Principal, a: &Attribution) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    let mut at = start.clone();
    for (n, issued) in a.chain.iter().enumerate() {
        out.push(step(n, &at, Some(issued)));
        at = issued.caller.clone();
    }
    let n = a.chain.len();
    let mut last = match &a.origin {
        Origin::Resolved(p) => step(n, p, None),
        Origin::SourceIdentity(s) => {
            let mut r = step(n, &at, None);
            r.insert("identity".into(), json!(s));
            r.insert("type".into(), json!("SourceIdentity"));
            r
        }
        Origin::Unresolved {
            session_arn,
            reason,
        } => {
            let mut r = step(n, &at, None);
            r.insert("identity".into(), json!(session_arn));
            r.insert("type".into(), json!(format!("unresolved: {reason}")));
            r
        }
    };
    last.insert("step".into(), json!("origin"));
    out.push(last);
    out
}

fn step(n: usize, p: &Principal, issued: Option<&Issued>) -> Map<String, Value> {
    let time = issued.and_then(|i| {
        chrono::DateTime::from_timestamp_micros(i.time_us)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    });
    let mut r = Map::new();
    r.insert("step".into(), json!(n.to_string()));
    r.insert("identity".into(), json!(p.name()));
    r.insert("type".into(), json!(p.kind()));
    // The identity's own account (from its ARN), else where its issue was recorded.
    let account = auditwatch_store::origin::arn_account(p.name())
        .map(str::to_string)
        .or_else(|| issued.and_then(|i| i.account.clone()));
    r.insert("account".into(), json!(account));
    r.insert("issuedBy".into(), json!(issued.map(|i| i.call.clone())));
    r.insert(
        "eventID".into(),
        json!(issued.and_then(|i| i.event_id.clone())),
    );
    r.insert("eventTime".into(), json!(time));
    r
}
