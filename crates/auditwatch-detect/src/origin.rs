//! What detection reads of an event's origin: who is behind the call, through role
//! chains ([`auditwatch_store::origin`]).
//!
//! Before rules and metric filters run on a record, detection adds two top-level
//! fields to it: `origin` (the origin's name: an IAM user's or root's ARN, a SAML or
//! OIDC subject, an Identity Center user, a service, a source identity, or the role
//! session an unresolved walk stopped at) and `originType` (`IAMUser`, `Root`,
//! `SAMLUser`, `WebIdentityUser`, `IdentityCenterUser`, `AWSService`,
//! `SourceIdentity`, `Unresolved`). CloudTrail writes neither; they replace a field
//! of the same name a record may carry, so a record cannot claim an origin. They are
//! added only when a rule reads one of them ([`read_by`]), so that other rules —
//! keyword searches over every value included — see records as CloudTrail wrote them.
//! Alerts name the origin of calls made with temporary credentials in their summary
//! line.
//!
//! Detection names an origin as anyone who sees the event's account may see it
//! ([`visible_name`]): an unresolved origin that is a role session in another account
//! has no name (only `originType` is added), so an alert shown to that account's
//! users carries nothing of the other account.

use std::cell::OnceCell;
use std::sync::Arc;

use auditwatch_event::identity::{Principal, caller_of_value};
use auditwatch_rules::Pattern;
use auditwatch_rules::sigma::{RuleMatch, SigmaSet};
use auditwatch_store::Scope;
use auditwatch_store::origin::{Origins, visible_name};
use serde_json::Value;

/// The fields detection adds to each record before rules read it.
pub const FIELDS: &[&str] = &["origin", "originType"];

/// The first of [`FIELDS`] that `patterns` (filter patterns, metric filters) or
/// `sigma` (its rules' fields and its correlations' `group-by` and `field`) read. A
/// Sigma rule that also searches keywords does not say which fields it reads, and is
/// not counted: it cannot read the origin.
pub fn read_by<'p>(
    patterns: impl IntoIterator<Item = &'p Pattern>,
    sigma: Option<&SigmaSet>,
) -> Option<String> {
    let added = |f: &str| FIELDS.contains(&f);
    let from_patterns = patterns
        .into_iter()
        .flat_map(Pattern::fields)
        .find_map(|(path, _)| {
            let first = path.first().copied().flatten()?;
            (path.len() == 1 && added(first)).then(|| first.to_string())
        });
    from_patterns.or_else(|| {
        let sigma = sigma?;
        let rules = (0..sigma.rule_count()).flat_map(|j| {
            sigma
                .rule_fields(RuleMatch(j))
                .into_iter()
                .flatten()
                .cloned()
        });
        let correlations = sigma.correlation_fields().map(str::to_string);
        rules.chain(correlations).find(|f| added(f))
    })
}

/// The store's origins, loaded the first time a record needs them (a segment whose
/// rules neither read the origin nor match a call made with temporary credentials
/// loads nothing).
pub struct OnDemand<'a> {
    load: Box<dyn Fn() -> Option<Arc<Origins>> + 'a>,
    loaded: OnceCell<Option<Arc<Origins>>>,
}

impl<'a> OnDemand<'a> {
    /// Origins that `load` reads (`None`: not available; the rules that read them
    /// match nothing and alerts do not name them).
    pub fn new(load: impl Fn() -> Option<Arc<Origins>> + 'a) -> Self {
        Self {
            load: Box::new(load),
            loaded: OnceCell::new(),
        }
    }

    /// The origins, loaded on first use.
    pub fn get(&self) -> Option<&Origins> {
        self.loaded.get_or_init(|| (self.load)()).as_deref()
    }
}

/// The origin of one event as detection reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOrigin {
    /// Its name, when the event's account may see it.
    pub name: Option<String>,
    /// `originType`.
    pub kind: &'static str,
    /// Whether the call was made with temporary credentials (a role or federated
    /// session), the calls whose origin is not the caller itself.
    pub through_session: bool,
}

impl EventOrigin {
    /// The origin of the call `record` describes, recorded in `account`.
    pub fn of(origins: &Origins, record: &Value, account: Option<&str>) -> Self {
        let who = caller_of_value(record);
        let origin = origins.origin(&who);
        let scope = Scope::accounts(account);
        Self {
            name: visible_name(&origin, &scope).map(str::to_string),
            kind: origin.kind(),
            through_session: matches!(who, Principal::Session { .. }),
        }
    }

    /// Sets `origin` (removed when the origin has no name the account may see) and
    /// `originType` in `record`.
    pub fn attach(&self, record: &mut Value) {
        let Value::Object(fields) = record else {
            return;
        };
        match &self.name {
            Some(name) => fields.insert("origin".into(), Value::String(name.clone())),
            None => fields.remove("origin"),
        };
        fields.insert("originType".into(), Value::String(self.kind.to_string()));
    }

    /// What an alert's summary line adds: `; origin NAME (TYPE)` for a call made
    /// with temporary credentials, nothing for a call whose caller is its origin.
    pub fn summary_suffix(&self) -> String {
        if !self.through_session {
            return String::new();
        }
        match &self.name {
            Some(name) => format!("; origin {name} ({})", self.kind),
            None => format!("; origin in another account ({})", self.kind),
        }
    }
}
