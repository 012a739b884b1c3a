//! Who is behind an event: its chain of role sessions drawn as links from the origin
//! to the call's own session ([`chain`]), and the session page (`GET /sessions/{key}`):
//! every event of one temporary credential, oldest first, with its chain.
//!
//! A caller sees the hops of a chain in their accounts as links; a hop in another
//! account shows as that, without its name; the origin's name is always shown
//! (docs/SECURITY.md).

use std::sync::Arc;

use auditwatch_event::Record;
use auditwatch_event::identity::{Origin, Principal, caller};
use auditwatch_store::origin::{Origins, arn_account, visible_name};
use auditwatch_store::{Attribute, Lookup, Scope};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::kit::page::{PageError, layout, or_dash, seg, url, when};
use crate::query::Queries;
use crate::{ApiError, AppState, Caller, view};

/// Most events the session page lists.
const SESSION_EVENTS: usize = 500;

/// The store's origins, read off the request's thread (the first read after new
/// sessions were indexed loads them from the catalog).
pub async fn origins(state: &AppState) -> Result<Arc<Origins>, ApiError> {
    let store = state.store().clone();
    tokio::task::spawn_blocking(move || store.origins())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Who made the call a stored record describes.
pub fn who(raw: &str) -> Principal {
    match Record::parse(raw) {
        Ok(r) => caller(&r.fields),
        Err(e) => Principal::Unknown {
            described: format!("a record that does not parse ({e})"),
        },
    }
}

/// One session of a chain: its key and ARN.
struct Hop {
    key: String,
    arn: String,
}

/// The chain of `who` (origin first, the call's own session last) as links, hops
/// outside `scope` left unnamed.
pub fn chain(origins: &Origins, who: &Principal, scope: &Scope) -> Markup {
    // The walk copies the chain out; its origin is the one `Origins::origin` reads.
    let attribution = origins.attribute(who);
    let origin = &attribution.origin;
    let mut hops: Vec<Hop> = Vec::new();
    let mut at = Some(who);
    let mut rest = attribution.chain.iter();
    while let Some(Principal::Session {
        access_key_id,
        session_arn,
        ..
    }) = at
    {
        hops.push(Hop {
            key: access_key_id.clone(),
            arn: session_arn.clone(),
        });
        at = rest.next().map(|i| &i.caller);
    }
    hops.reverse();
    let (kind, resolved) = match origin {
        Origin::Resolved(p) => (p.kind(), true),
        Origin::SourceIdentity(_) => ("source identity", true),
        Origin::Unresolved { .. } => ("unresolved", false),
    };
    // An unresolved origin is a role session; in an account the caller does not see,
    // neither it nor the reason (which names its key) is shown.
    let name = visible_name(origin, scope).map(str::to_string);
    let reason = match origin {
        Origin::Unresolved { reason, .. } if name.is_some() => Some(reason.clone()),
        _ => None,
    };
    html! {
        ol.chain aria-label="Who is behind this call, from the origin to the call's session" {
            li.origin.unresolved[!resolved] {
                @match &name {
                    Some(name) => { a href=(url("/search", &[("origin", name)])) title="Every call with this origin, directly or through roles" { (name) } }
                    None if resolved => { "unknown" }
                    None => { "a session in another account" }
                }
                " " span.kind { "(" (kind) ")" }
                @if let Some(r) = &reason { " " span.reason { "— " (r) } }
            }
            @for hop in &hops {
                @let account = arn_account(&hop.arn).unwrap_or_default();
                li {
                    @if scope.allows(account) {
                        a href=(format!("/sessions/{}", seg(&hop.key))) title=(hop.arn) { (hop_name(&hop.arn)) }
                    } @else {
                        "a session in another account"
                    }
                }
            }
        }
    }
}

/// `role/session @ account` of an assumed-role ARN, else the ARN.
pub fn hop_name(arn: &str) -> String {
    match (arn.split_once(":assumed-role/"), arn_account(arn)) {
        (Some((_, rest)), Some(account)) => format!("{rest} @ {account}"),
        _ => arn.to_string(),
    }
}

/// Whether `key` looks like a temporary access key.
fn is_temporary_key(key: &str) -> bool {
    key.len() <= 128 && key.starts_with("ASIA") && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `GET /sessions/{key}`.
pub async fn session_page(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    if !is_temporary_key(&key) {
        return Err(ApiError::invalid(format!(
            "{key:?} is not a temporary access key (ASIA followed by letters and digits)"
        ))
        .into());
    }
    let q = Queries::new(&state, &caller);
    let lookup = Lookup {
        attributes: vec![(Attribute::AccessKeyId, key.clone())],
        oldest_first: true,
        max_results: SESSION_EVENTS,
        ..Lookup::default()
    };
    let page = q.search(&lookup).await?;
    let events = view::events(&page.events)?;
    let origins = origins(&state).await?;
    let issued = origins.issued(&key).cloned();
    let scope = &caller.scope;
    let visible_issue = issued
        .as_ref()
        .is_some_and(|i| auditwatch_store::origin::in_scope(scope, i));
    if events.is_empty() && !visible_issue {
        return Err(
            ApiError::not_found(format!("no session with key {key} in your accounts")).into(),
        );
    }
    let who = match events.first() {
        Some(e) => who(&e.raw),
        None => Principal::Session {
            access_key_id: key.clone(),
            session_arn: issued
                .as_ref()
                .and_then(|i| i.session_arn.clone())
                .unwrap_or_default(),
            role_arn: None,
            source_identity: None,
        },
    };
    let arn = match &who {
        Principal::Session { session_arn, .. } => session_arn.clone(),
        other => other.name().to_string(),
    };
    let title = format!("Session {}", hop_name(&arn));
    let issued_here = issued
        .as_ref()
        .filter(|i| i.account.as_deref().is_some_and(|a| scope.allows(a)));
    let body = html! {
        h1 { (title) }
        p { "Temporary access key " code { (key) } }
        section aria-labelledby="chain-h" {
            h2 #chain-h { "Who is behind it" }
            (chain(&origins, &who, scope))
            @if let Some(i) = issued_here {
                p {
                    "Issued by " (i.call)
                    @if let Some(id) = &i.event_id { " (" a href=(format!("/events/{}", seg(id))) { "the issuing event" } ")" }
                    " at " (when(i.time_us))
                    @if let Some(x) = i.expires_us { ", valid until " (when(x)) }
                    "."
                }
            }
        }
        section aria-labelledby="events-h" {
            h2 #events-h { "Its events, oldest first" }
            @if events.is_empty() {
                p.empty { "No event made with this key is stored in your accounts." }
            } @else {
                @if page.next_token.is_some() {
                    p { "The first " (SESSION_EVENTS) " — " a href=(url("/search", &[("accessKeyId", &key), ("order", "oldest")])) { "search them all" } }
                }
                div.table-wrap { table.events {
                    thead { tr { th { "Time" } th { "Event" } th { "Source" } th { "Account" } th { "Region" } th { "Outcome" } } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { @if let Some(id) = &e.event_id { a href=(format!("/events/{}", seg(id))) { (when(e.time_us)) } } @else { (when(e.time_us)) } }
                                td { (or_dash(&e.event_name)) }
                                td { (or_dash(&e.event_source)) }
                                td { (or_dash(&e.account_id)) }
                                td { (or_dash(&e.region)) }
                                td { (e.outcome().unwrap_or_else(|| "OK".into())) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(layout(Some(&caller), &title, "", body).into_response())
}
