//! Administration (admins only): users and their keys, and Auditwatch's own audit
//! log with filters and CSV export, in the UI (`/admin/…`) and the API
//! (`/api/v1/audit`). Every change made here is itself written to the audit log.

use auditwatch_auth::{AuditFilter, AuditRecord, IssuedToken, Role, TokenKind};
use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kit::access::{Access, Routes};
use crate::kit::audit::note;
use crate::kit::blocking::blocking;
use crate::kit::csv::safe_cell;
use crate::kit::page::{PageError, csrf_field, layout, url};
use crate::query::{Q, fmt_time};
use crate::{ApiError, AppState, Caller};

const ADMIN: Access = Access::Role(Role::Admin);

/// Most audit entries one page or API call returns.
const MAX_AUDIT_PAGE: usize = 1000;
/// Most audit entries one CSV export holds.
const MAX_AUDIT_EXPORT: usize = 100_000;

/// The admin pages.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/admin/users", ADMIN, users_page)
        .post("/admin/users", ADMIN, add_user)
        .post("/admin/users/{name}", ADMIN, change_user)
        .post("/admin/tokens", ADMIN, create_token)
        .post("/admin/tokens/{id}/revoke", ADMIN, revoke_token)
        .get("/admin/audit", ADMIN, audit_page)
        .get("/admin/audit.csv", ADMIN, audit_csv)
        .get("/admin/contact", ADMIN, contact_page)
}

/// The audit log in the API (`/api/v1/audit`).
pub fn api() -> Routes {
    Routes::api().get("/audit", ADMIN, audit_api)
}

/// `GET /admin/contact`: the messages people sent through the contact form, newest
/// first.
async fn contact_page(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, PageError> {
    let messages = crate::contact::messages(&state);
    let mut items = tokio::task::spawn_blocking(move || messages.all())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    items.sort_by_key(|f| std::cmp::Reverse(f.at));
    let body = html! {
        h1 { "Contact messages" }
        p { (items.len()) " messages sent through the " a href="/contact" { "contact form" } ", newest first (also " code { "GET /api/v1/feedback" } ")." }
        @if items.is_empty() { p.empty { "No messages yet." } }
        @for f in &items {
            article.message {
                p.meta { (crate::kit::page::when(f.at)) " · " strong { (f.sender) } @if !f.contact.is_empty() { " · " (f.contact) } }
                p.text { (f.text) }
            }
        }
    };
    Ok(layout(Some(&caller), "Contact messages", "Admin", body).into_response())
}

fn accounts_text(a: &Option<Vec<String>>) -> String {
    a.as_ref()
        .map_or_else(|| "all".to_string(), |v| v.join(", "))
}

async fn users_view(
    state: &AppState,
    caller: &Caller,
    notice: Option<Markup>,
) -> Result<Response, PageError> {
    let auth = state.auth().clone();
    let (users, tokens) = blocking(move || Ok((auth.users()?, auth.tokens(None)?))).await?;
    let body = html! {
        h1 { "Users and keys" }
        p { "Also: " a href="/admin/audit" { "the audit log" } " · " a href="/admin/contact" { "contact messages" } }
        @if let Some(n) = notice { (n) }
        table.data {
            thead { tr { th { "Name" } th { "Role" } th { "Accounts" } th { "Sign-in" } th { "State" } th { "Created" } th { "" } } }
            tbody {
                @for u in &users {
                    tr {
                        td { (u.name) }
                        td { (u.role.name()) }
                        td { (accounts_text(&u.accounts)) }
                        td { @if let Some((iss, _)) = &u.oidc { "OpenID (" (iss) ")" } @else { "password" @if u.totp { " + TOTP" } } }
                        td { @if u.disabled { "disabled" } @else { "active" } }
                        td { (crate::kit::page::when(u.created_at)) }
                        td.actions {
                            form.inline method="post" action=(format!("/admin/users/{}", crate::kit::page::seg(&u.name))) {
                                (csrf_field(caller))
                                @if u.disabled {
                                    button type="submit" name="action" value="enable" { "Enable" }
                                } @else {
                                    button type="submit" name="action" value="disable" { "Disable" }
                                }
                                button type="submit" name="action" value="remove" { "Remove" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a user" }
        form.stack method="post" action="/admin/users" {
            (csrf_field(caller))
            label { "Name " input type="text" name="name" required maxlength="64"; }
            label { "Role " select name="role" { option value="viewer" { "viewer" } option value="analyst" { "analyst" } option value="admin" { "admin" } } }
            label { "AWS accounts (comma-separated; empty for all) " input type="text" name="accounts"; }
            label { "Password (empty: one is generated and shown once) " input type="password" name="password" autocomplete="new-password"; }
            button type="submit" { "Add user" }
        }
        h2 { "API keys" }
        table.data {
            thead { tr { th { "Id" } th { "User" } th { "Kind" } th { "Created" } th { "Expires" } th { "Last used" } th { "" } } }
            tbody {
                @for t in &tokens {
                    tr {
                        td { code { (t.id) } }
                        td { (t.user) }
                        td { (t.kind) }
                        td { (crate::kit::page::when(t.created_at)) }
                        td { (t.expires_at.map_or_else(|| "never".to_string(), fmt_time)) }
                        td { (t.last_used_at.map_or_else(|| "–".to_string(), fmt_time)) }
                        td { form.inline method="post" action=(format!("/admin/tokens/{}/revoke", crate::kit::page::seg(&t.id))) { (csrf_field(caller)) button type="submit" { "Revoke" } } }
                    }
                }
            }
        }
        h2 { "Create a key" }
        form.stack method="post" action="/admin/tokens" {
            (csrf_field(caller))
            label { "User " select name="user" { @for u in &users { option value=(u.name) { (u.name) } } } }
            label { "Kind " select name="kind" { option value="bearer" { "bearer token (API, tracker)" } option value="aws" { "access key pair (AWS CLI, boto3)" } } }
            label { "Expires after days (empty: never) " input type="number" name="days" min="1" max="3650"; }
            button type="submit" { "Create key" }
        }
    };
    Ok(layout(Some(caller), "Users and keys", "Admin", body).into_response())
}

async fn users_page(State(state): State<AppState>, caller: Caller) -> Result<Response, PageError> {
    users_view(&state, &caller, None).await
}

fn shown_once(title: &str, lines: &[(&str, &str)]) -> Markup {
    html! {
        div.notice role="status" {
            p { strong { (title) } " It is shown only now: copy it somewhere safe." }
            dl { @for (k, v) in lines { dt { (k) } dd { code.secret { (v) } } } }
        }
    }
}

/// Notes a failed change and shows the page again with the reason and its status.
async fn refused(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    detail: String,
    e: ApiError,
) -> Result<Response, PageError> {
    note(state, caller, action, target, detail, "failed").await;
    let mut r = users_view(state, caller, Some(failure(&e.message))).await?;
    *r.status_mut() = e.status;
    Ok(r)
}

fn failure(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

/// The add-user form.
#[derive(Debug, Deserialize)]
pub struct AddUser {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    accounts: String,
    #[serde(default)]
    password: String,
}

async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<AddUser>,
) -> Result<Response, PageError> {
    let generated = f.password.is_empty();
    let password = if generated {
        auditwatch_auth::password::generate()
    } else {
        f.password.clone()
    };
    let parsed = (|| {
        let role: Role = f.role.parse()?;
        let accounts = if f.accounts.trim().is_empty() {
            None
        } else {
            Some(auditwatch_auth::users::parse_accounts(&f.accounts)?)
        };
        Ok::<_, auditwatch_auth::AuthError>((role, accounts))
    })();
    let detail = format!(
        "role={} accounts={}",
        f.role,
        if f.accounts.trim().is_empty() {
            "all"
        } else {
            f.accounts.trim()
        }
    );
    let result = match parsed {
        Err(e) => Err(ApiError::from(e)),
        Ok((role, accounts)) => {
            let auth = state.auth().clone();
            let (name, pw) = (f.name.trim().to_string(), password.clone());
            blocking(move || auth.add_user(&name, role, accounts, &pw)).await
        }
    };
    match result {
        Ok(u) => {
            note(&state, &caller, "user.add", &u.name, detail, "ok").await;
            let notice = if generated {
                shown_once(
                    &format!("User {} added. Their password:", u.name),
                    &[("Password", &password)],
                )
            } else {
                html! { p.notice role="status" { "User " (u.name) " added." } }
            };
            users_view(&state, &caller, Some(notice)).await
        }
        Err(e) => {
            let detail = format!("{detail}: {}", e.message);
            refused(&state, &caller, "user.add", f.name.trim(), detail, e).await
        }
    }
}

/// The change-user form.
#[derive(Debug, Deserialize)]
pub struct ChangeUser {
    #[serde(default)]
    action: String,
}

async fn change_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Form(f): Form<ChangeUser>,
) -> Result<Response, PageError> {
    if name == caller.name && f.action != "enable" {
        let msg = "You cannot disable or remove yourself; ask another admin.";
        let mut r = users_view(&state, &caller, Some(failure(msg))).await?;
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    let auth = state.auth().clone();
    let (n, action) = (name.clone(), f.action.clone());
    let result = blocking(move || match action.as_str() {
        "disable" => auth.set_disabled(&n, true).map(|_| ()),
        "enable" => auth.set_disabled(&n, false).map(|_| ()),
        "remove" => auth.remove_user(&n),
        other => Err(auditwatch_auth::AuthError::Invalid(format!(
            "action {other:?}: expected disable, enable or remove"
        ))),
    })
    .await;
    let action = format!("user.{}", f.action);
    match result {
        Ok(()) => {
            note(&state, &caller, &action, &name, String::new(), "ok").await;
            let msg = html! { p.notice role="status" { "User " (name) ": " (f.action) " done." } };
            users_view(&state, &caller, Some(msg)).await
        }
        Err(e) => {
            let detail = e.message.clone();
            refused(&state, &caller, &action, &name, detail, e).await
        }
    }
}

/// The create-key form.
#[derive(Debug, Deserialize)]
pub struct CreateToken {
    #[serde(default)]
    user: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    days: String,
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<CreateToken>,
) -> Result<Response, PageError> {
    let parsed = (|| {
        let kind = match f.kind.as_str() {
            "bearer" => TokenKind::Bearer,
            "aws" => TokenKind::Aws,
            other => {
                return Err(ApiError::invalid(format!(
                    "kind {other:?}: expected bearer or aws"
                )));
            }
        };
        let expires = match f.days.trim() {
            "" => None,
            d => {
                let days: i64 = d
                    .parse()
                    .ok()
                    .filter(|n| (1..=3650).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(format!("days {d:?}: a whole number from 1 to 3650"))
                    })?;
                Some(auditwatch_auth::now_us() + days * 86_400_000_000)
            }
        };
        Ok((kind, expires))
    })();
    let result = match parsed {
        Err(e) => Err(e),
        Ok((kind, expires)) => {
            let auth = state.auth().clone();
            let user = f.user.clone();
            blocking(move || auth.create_token(&user, kind, expires)).await
        }
    };
    match result {
        Ok(t) => {
            note(
                &state,
                &caller,
                "token.create",
                t.id(),
                format!("user={} kind={}", f.user, f.kind),
                "ok",
            )
            .await;
            let notice = match &t {
                IssuedToken::Bearer { token, .. } => {
                    shown_once("Bearer token created.", &[("Token", token)])
                }
                IssuedToken::Aws {
                    access_key_id,
                    secret_access_key,
                } => shown_once(
                    "Access key created.",
                    &[
                        ("Access key id", access_key_id),
                        ("Secret access key", secret_access_key),
                    ],
                ),
            };
            users_view(&state, &caller, Some(notice)).await
        }
        Err(e) => {
            let detail = e.message.clone();
            refused(&state, &caller, "token.create", &f.user, detail, e).await
        }
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let auth = state.auth().clone();
    let i = id.clone();
    match blocking(move || auth.revoke_token(&i)).await {
        Ok(()) => {
            note(&state, &caller, "token.revoke", &id, String::new(), "ok").await;
            let msg = html! { p.notice role="status" { "Key " code { (id) } " revoked." } };
            users_view(&state, &caller, Some(msg)).await
        }
        Err(e) => {
            let detail = e.message.clone();
            refused(&state, &caller, "token.revoke", &id, detail, e).await
        }
    }
}

/// Filters of the audit log (UI, CSV and API).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Actions starting with this (`signin`, `user.`, `search`, `sql`, `export`).
    pub action: Option<String>,
    /// From (RFC 3339, `YYYY-MM-DD`, or relative like `7d`).
    pub start: Option<String>,
    /// To (same forms).
    pub end: Option<String>,
    /// Entries older than this id (the `next` of the previous page).
    pub before: Option<i64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<usize>,
}

impl AuditQuery {
    fn filter(&self, max: usize) -> Result<AuditFilter, ApiError> {
        let now = chrono::Utc::now();
        let time = |v: &Option<String>, end: bool, name: &str| -> Result<Option<i64>, ApiError> {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    auditwatch_event::timearg::parse(s, now, end)
                        .map_err(|e| ApiError::invalid(format!("{name}: {e}")))
                })
                .transpose()
        };
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > max {
            return Err(ApiError::invalid(format!("limit: from 1 to {max}")));
        }
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: nonempty(&self.actor),
            action: nonempty(&self.action),
            since: time(&self.start, false, "start")?,
            until: time(&self.end, true, "end")?,
            before_id: self.before,
            limit,
        })
    }
}

/// One page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Entries, newest first.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditRecord>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<i64>,
}

/// Auditwatch's own audit log, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = crate::kit::error::ErrorBody), (status = 403, body = crate::kit::error::ErrorBody)))]
pub async fn audit_api(
    State(state): State<AppState>,
    Q(q): Q<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let f = q.filter(MAX_AUDIT_PAGE)?;
    let limit = f.limit;
    let auth = state.auth().clone();
    let entries = blocking(move || auth.audit_log(&f)).await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage { entries, next }))
}

async fn audit_page(
    State(state): State<AppState>,
    caller: Caller,
    Q(q): Q<AuditQuery>,
) -> Result<Response, PageError> {
    let f = q.filter(MAX_AUDIT_PAGE)?;
    let limit = f.limit;
    let auth = state.auth().clone();
    let entries = blocking(move || auth.audit_log(&f)).await?;
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let (actor, action, start, end) = (v(&q.actor), v(&q.action), v(&q.start), v(&q.end));
    let pairs = [
        ("actor", actor.as_str()),
        ("action", action.as_str()),
        ("start", start.as_str()),
        ("end", end.as_str()),
    ];
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    let body = html! {
        h1 { "Audit log" }
        p { "Sign-ins, searches, SQL, exports and every change to users and keys, newest first. The log is append-only." }
        form.filters method="get" action="/admin/audit" {
            label { "Actor " input type="text" name="actor" value=(actor); }
            label { "Action " input type="text" name="action" value=(action) placeholder="signin, user., search, sql, export"; }
            label { "From " input type="text" name="start" value=(start) placeholder="7d or 2024-05-01"; }
            label { "To " input type="text" name="end" value=(end); }
            button type="submit" { "Filter" }
            " "
            a href=(url("/admin/audit.csv", &pairs)) { "Export CSV" }
        }
        table.data {
            thead { tr { th { "Time" } th { "Actor" } th { "IP" } th { "Action" } th { "Target" } th { "Detail" } th { "Outcome" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { (crate::kit::page::when(e.at)) }
                        td { (e.actor) }
                        td { (e.ip) }
                        td { (e.action) }
                        td { (e.target) }
                        td.detail { (e.detail) }
                        td { (e.outcome) }
                    }
                }
            }
        }
        @if entries.is_empty() { p { "No entries match." } }
        @if let Some(n) = next {
            p { a href=(url("/admin/audit", &[pairs[0], pairs[1], pairs[2], pairs[3], ("before", n.as_str())])) { "Older entries" } }
        }
    };
    Ok(layout(Some(&caller), "Audit log", "Audit log", body).into_response())
}

async fn audit_csv(
    State(state): State<AppState>,
    Q(q): Q<AuditQuery>,
) -> Result<Response, PageError> {
    let mut q = q;
    q.limit = Some(q.limit.unwrap_or(MAX_AUDIT_EXPORT));
    let f = q.filter(MAX_AUDIT_EXPORT)?;
    let auth = state.auth().clone();
    let entries = blocking(move || auth.audit_log(&f)).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| PageError(ApiError::internal(e));
    w.write_record([
        "time", "actor", "ip", "action", "target", "detail", "outcome",
    ])
    .map_err(csv_err)?;
    for e in &entries {
        w.write_record([
            fmt_time(e.at).as_str(),
            &safe_cell(&e.actor),
            &e.ip,
            &e.action,
            &safe_cell(&e.target),
            &safe_cell(&e.detail),
            &e.outcome,
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| PageError(ApiError::internal(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"auditwatch-audit.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
