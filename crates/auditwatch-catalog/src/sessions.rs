//! The sessions index: every set of temporary credentials an ingested call issued
//! (`auditwatch_event::identity::Issued`), keyed by its access key, recorded with the
//! segment that holds the issuing event. Attribution walks it from a session to its
//! origin. A key has one row: of the copies of its issuing event (the caller's
//! account's and the role's), the one [`upsert`] prefers, so the index is the same
//! whatever order the copies arrive in.
//!
//! A caller is kept in six columns (kind, name, provider, access key, role ARN,
//! source identity), written and read here for both backends.

use auditwatch_event::identity::Principal;

/// The columns of a session row, its key first.
pub(crate) const COLUMNS: &str = "access_key_id, call, session_arn, account, event_id, time_us, \
     expires_us, source_identity, caller_kind, caller_name, caller_provider, caller_key, \
     caller_role_arn, caller_source_identity";

/// The statement recording one issue in `table`, its values numbered from `$1` or
/// `?1` (`mark`). Of two records of one key (the copies of a cross-account call in the
/// caller's and in the role's account), the index keeps the one whose caller says
/// more (the role's account's copy names only an `AWSAccount`), then the smaller
/// event id: the same record whichever arrived first.
/// Event ids are compared byte by byte on both backends (`collate`: SQLite's
/// `BINARY`, PostgreSQL's `"C"`), so both keep the same record.
pub(crate) fn upsert(table: &str, mark: char, collate: &str) -> String {
    let columns: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
    let values: Vec<String> = (1..=columns.len()).map(|n| format!("{mark}{n}")).collect();
    let set: Vec<String> = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table}({COLUMNS}) VALUES ({}) \
         ON CONFLICT (access_key_id) DO UPDATE SET {} \
         WHERE (excluded.caller_kind = 'Unknown', coalesce(excluded.event_id, '') COLLATE {collate}) \
             < ({table}.caller_kind = 'Unknown', coalesce({table}.event_id, '') COLLATE {collate})",
        values.join(", "),
        set.join(", ")
    )
}

/// A caller as its six columns.
pub(crate) struct CallerColumns {
    pub kind: &'static str,
    pub name: String,
    pub provider: Option<String>,
    pub key: Option<String>,
    pub role_arn: Option<String>,
    pub source_identity: Option<String>,
}

/// The columns of `p`.
pub(crate) fn columns(p: &Principal) -> CallerColumns {
    let (provider, key, role_arn, source_identity) = match p {
        Principal::SamlUser { provider, .. } | Principal::WebIdentityUser { provider, .. } => {
            (Some(provider.clone()), None, None, None)
        }
        Principal::Session {
            access_key_id,
            role_arn,
            source_identity,
            ..
        } => (
            None,
            Some(access_key_id.clone()),
            role_arn.clone(),
            source_identity.clone(),
        ),
        _ => (None, None, None, None),
    };
    CallerColumns {
        kind: p.kind(),
        name: p.name().to_string(),
        provider,
        key,
        role_arn,
        source_identity,
    }
}

/// The part of a caller's name after its last `/` (the whole name without one): an
/// IAM user's name, a session's name. The catalogs index callers by it (an expression
/// index computing the same), so that the callers a value may name are found
/// without a scan ([`crate::TableCatalog::sessions_reaching`]).
pub(crate) fn last_part(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The principal six columns describe.
pub(crate) fn principal(
    kind: &str,
    name: String,
    provider: Option<String>,
    key: Option<String>,
    role_arn: Option<String>,
    source_identity: Option<String>,
) -> Principal {
    match (kind, key) {
        ("IAMUser", _) => Principal::IamUser { arn: name },
        ("Root", _) => Principal::Root { arn: name },
        ("SAMLUser", _) => Principal::SamlUser {
            provider: provider.unwrap_or_default(),
            subject: name,
        },
        ("WebIdentityUser", _) => Principal::WebIdentityUser {
            provider: provider.unwrap_or_default(),
            subject: name,
        },
        ("IdentityCenterUser", _) => Principal::IdentityCenterUser { user: name },
        ("AWSService", _) => Principal::Service { name },
        ("Session", Some(access_key_id)) => Principal::Session {
            access_key_id,
            session_arn: name,
            role_arn,
            source_identity,
        },
        _ => Principal::Unknown { described: name },
    }
}
