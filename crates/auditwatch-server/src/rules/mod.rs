//! The Rules page and its API: every alarm and rule detection knows, with where it
//! was declared and whether it runs; administrators switch any of them off or on,
//! and declare, edit and remove filter-pattern alarms (kept in the catalog by
//! [`auditwatch_detect::Library`]); analysts test a filter pattern against the
//! newest stored events before anyone saves it.
//!
//! - `GET /api/v1/rules`, `POST /api/v1/rules/{kind}/{id}` (`{"enabled": bool}`),
//!   `POST /api/v1/rules/test`;
//! - `POST /api/v1/alarms`, `PUT|DELETE /api/v1/alarms/{name}` (the body is an
//!   `[[alarms]]` table as JSON).
//!
//! Tests read only what the caller's accounts allow. Declaring an alarm takes a
//! caller who sees every account unless the alarm names its `accounts` and the
//! caller sees them all (an alarm's metric counts every account it covers).

mod api;
mod page;

pub use api::*;
use page::*;

use std::sync::Arc;

use auditwatch_detect::Library;
use auditwatch_detect::config::AlarmSettings;
use auditwatch_detect::library::{Entry, LibraryError};
use auditwatch_store::Scope;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::query::fmt_time;
use crate::{ApiError, AppState, Caller};

const ADMIN: Access = Access::Role(Role::Admin);

/// Most events one test looks at (the newest of its window).
pub const MAX_TEST_SCAN: usize = 200_000;
/// Most matches a test lists.
pub const MAX_TEST_LISTED: usize = 100;
/// Matches a test lists unless asked otherwise.
const TEST_LISTED: usize = 20;

/// The Rules page and its forms.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/rules", Access::Role(Role::Viewer), page)
        .post("/rules/test", Access::Role(Role::Analyst), test_form)
        .post("/rules/alarms", ADMIN, save_form)
        .post("/rules/alarms/{name}/remove", ADMIN, remove_form)
        .post("/rules/switch", ADMIN, switch_form)
}

/// Rules and alarm definitions in the API (`/api/v1/rules`, `/api/v1/alarms`).
pub fn api() -> Routes {
    Routes::api()
        .post("/alarms", Access::Role(Role::Admin), declare_api)
        .audit("alarm.declare")
        .put("/alarms/{name}", Access::Role(Role::Admin), update_api)
        .audit("alarm.update")
        .delete("/alarms/{name}", Access::Role(Role::Admin), remove_api)
        .audit("alarm.remove")
        .get("/rules", Access::Role(Role::Viewer), list_api)
        .post("/rules/test", Access::Role(Role::Analyst), test_api)
        .post("/rules/{kind}/{id}", Access::Role(Role::Admin), switch_api)
        .audit("rule.switch")
}

impl From<LibraryError> for ApiError {
    fn from(e: LibraryError) -> Self {
        let (status, code) = match &e {
            LibraryError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            LibraryError::Exists(_) | LibraryError::FromConfig(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            LibraryError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            LibraryError::Sql(_) => return ApiError::internal(e),
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

/// A rule or alarm as the API lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// `alarm`, `rule` (filter pattern), `sigma` or `correlation`.
    pub kind: String,
    /// Name or id.
    pub id: String,
    /// What it means.
    pub title: String,
    /// Alert level.
    pub level: String,
    /// `configuration file`, a pack (`builtin:cis`), `rule file`, a Sigma file
    /// (`path:line`) or `UI`.
    pub origin: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Who last switched or edited it here.
    pub changed_by: Option<String>,
    /// When (RFC 3339).
    pub changed_at: Option<String>,
    /// The filter pattern (alarms, filter-pattern rules).
    pub pattern: Option<String>,
    /// The alarm's condition in words.
    pub condition: Option<String>,
    /// The table of an alarm declared here.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<AlarmSettings>,
}

fn secs(t: i64) -> String {
    fmt_time(t * 1_000_000)
}

impl From<Entry> for RuleView {
    fn from(e: Entry) -> Self {
        Self {
            kind: e.kind.to_string(),
            id: e.id,
            title: e.title,
            level: e.level,
            origin: e.origin,
            enabled: e.enabled,
            changed_by: e.changed.as_ref().map(|c| c.by.clone()),
            changed_at: e.changed.map(|c| secs(c.at)),
            pattern: e.pattern,
            condition: e.condition,
            settings: e.settings,
        }
    }
}

fn library(state: &AppState) -> Arc<Library> {
    state.config().detection.clone()
}

/// Runs a library change off the async workers (it touches SQLite), then turns the
/// ingest queue on or off to match, so that an alarm declared on an idle server
/// counts the very next commit (the detection loop would only notice next tick).
async fn run_blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, LibraryError> + Send + 'static,
) -> Result<T, ApiError> {
    let (store, lib) = (state.store().clone(), library(state));
    tokio::task::spawn_blocking(move || {
        let out = f().map_err(ApiError::from)?;
        auditwatch_detect::state::DetectionState::of(&store)?
            .set_detection(!lib.current().is_empty())
            .map_err(auditwatch_store::StoreError::from)?;
        Ok(out)
    })
    .await
    .map_err(ApiError::internal)?
}

/// An alarm counts every account it covers: declaring one takes a caller who sees
/// them all.
fn may_declare(caller: &Caller, a: &AlarmSettings) -> Result<(), ApiError> {
    match &caller.scope {
        Scope::All => Ok(()),
        Scope::Accounts(set) => match &a.accounts {
            Some(list) if list.iter().all(|x| set.contains(x)) => Ok(()),
            _ => Err(ApiError::forbidden(
                "an alarm counts events of every account it covers: name `accounts` you may all see",
            )),
        },
    }
}
