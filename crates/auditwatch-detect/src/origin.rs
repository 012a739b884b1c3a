//! What detection reads of an event's origin: who is behind the call, through role
//! chains ([`auditwatch_store::origin`]).
//!
//! Before rules and metric filters run on a record, detection adds two top-level
//! fields to it: `origin` (the origin's name: an IAM user's or root's ARN, a SAML or
//! OIDC subject, an Identity Center user, a service, a source identity, or the role
//! session an unresolved walk stopped at) and `originType` (`IAMUser`, `Root`,
//! `SAMLUser`, `WebIdentityUser`, `IdentityCenterUser`, `AWSService`,
//! `SourceIdentity`, `Unresolved`). CloudTrail writes neither; a record that has a
//! field of either name keeps its own. Alerts name the origin of calls made with
//! temporary credentials in their summary line.
//!
//! Detection names an origin as anyone who sees the event's account may see it
//! ([`visible_name`]): an unresolved origin that is a role session in another account
//! has no name (only `originType` is added), so an alert shown to that account's
//! users carries nothing of the other account.

use auditwatch_event::identity::{Principal, caller_of_value};
use auditwatch_store::Scope;
use auditwatch_store::origin::{Origins, visible_name};
use serde_json::Value;

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

    /// Adds `origin` and `originType` to `record`, unless it has them.
    pub fn attach(&self, record: &mut Value) {
        let Value::Object(fields) = record else {
            return;
        };
        if let Some(name) = &self.name {
            fields
                .entry("origin")
                .or_insert_with(|| Value::String(name.clone()));
        }
        fields
            .entry("originType")
            .or_insert_with(|| Value::String(self.kind.to_string()));
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
