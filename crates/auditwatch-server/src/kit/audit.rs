//! Auditwatch's own audit log, as features write to it: who changed what, from where,
//! and whether it was allowed.

use auditwatch_auth::NewAudit;

use crate::{AppState, Caller};

/// Writes a change (or a refused one) made by `caller` to the audit log.
pub async fn note(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    detail: String,
    outcome: &str,
) {
    state
        .record(NewAudit {
            actor: caller.name.clone(),
            ip: caller.ip.clone(),
            action: action.into(),
            target: target.into(),
            detail,
            outcome: outcome.into(),
        })
        .await;
}
