//! Integrity results (docs/INTEGRITY.md): the Integrity page and `GET
//! /api/v1/integrity` — chain health per trail and region, files that are not valid,
//! and gaps — limited to the caller's accounts. `auditwatch verify` stores them.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Serialize;
use utoipa::ToSchema;

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::kit::page::{PageError, layout};
use crate::query::{Queries, fmt_time};
use crate::{ApiError, AppState, Caller};

/// Most problems and gaps listed.
const LISTED: usize = 200;

/// The Integrity page.
pub fn pages() -> Routes {
    Routes::pages().get("/integrity", Access::Role(Role::Viewer), page)
}

/// Integrity results in the API (`/api/v1/integrity`).
pub fn api() -> Routes {
    Routes::api().get("/integrity", Access::Role(Role::Viewer), report_api)
}

/// Counts of one kind of file.
#[derive(Debug, Serialize, ToSchema)]
pub struct Counts {
    /// Verified intact.
    pub valid: u64,
    /// Invalid or deleted.
    pub failed: u64,
    /// Not verified (see the reasons).
    pub unverified: u64,
}

/// One chain (trail, account, region).
#[derive(Debug, Serialize, ToSchema)]
pub struct Chain {
    /// The trail ARN.
    pub trail: String,
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// Digest files.
    pub digests: Counts,
    /// Log files.
    pub logs: Counts,
    /// End of the newest valid digest (RFC 3339).
    pub newest_valid_digest: Option<String>,
    /// When it was last checked (RFC 3339).
    pub checked_at: String,
}

/// A file that is not valid.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `digest` or `log`.
    pub kind: String,
    /// `s3://bucket/key`.
    pub location: String,
    /// `invalid`, `not_found` or `unverifiable`.
    pub verdict: String,
    /// Why.
    pub reason: Option<String>,
    /// The digest's end time (RFC 3339).
    pub time: Option<String>,
}

/// A stretch no verified digest covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct GapView {
    /// The trail ARN.
    pub trail: String,
    /// `account region`.
    pub chain: String,
    /// From (RFC 3339), when known.
    pub from: Option<String>,
    /// To (RFC 3339).
    pub to: String,
    /// Why.
    pub reason: String,
}

/// Everything the Integrity page shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrityReport {
    /// Per trail and chain.
    pub chains: Vec<Chain>,
    /// Files that are not valid, newest first (at most 200).
    pub problems: Vec<Problem>,
    /// Gaps, newest first (at most 200).
    pub gaps: Vec<GapView>,
    /// Digest files taken by sources that no check has verified yet.
    pub unchecked_digests: u64,
}

fn secs(t: i64) -> String {
    fmt_time(t.saturating_mul(1_000_000))
}

async fn report(state: &AppState, caller: &Caller) -> Result<IntegrityReport, ApiError> {
    let v = Queries::new(state, caller).integrity(LISTED).await?;
    let counts = |(valid, failed, unverified): (u64, u64, u64)| Counts {
        valid,
        failed,
        unverified,
    };
    Ok(IntegrityReport {
        chains: v
            .chains
            .into_iter()
            .map(|c| {
                let (account, region) = c.chain.split_once(' ').unwrap_or((&c.chain, ""));
                Chain {
                    account: account.to_string(),
                    region: region.to_string(),
                    digests: counts(c.digests),
                    logs: counts(c.logs),
                    newest_valid_digest: c.newest_valid.map(secs),
                    checked_at: secs(c.checked_at),
                    trail: c.trail,
                }
            })
            .collect(),
        problems: v
            .problems
            .into_iter()
            .map(|p| Problem {
                kind: p.kind,
                location: p.location,
                verdict: p.verdict,
                reason: p.reason,
                time: p.file_time.map(secs),
            })
            .collect(),
        gaps: v
            .gaps
            .into_iter()
            .map(|g| GapView {
                trail: g.trail,
                chain: g.chain,
                from: g.from.map(secs),
                to: secs(g.to),
                reason: g.reason,
            })
            .collect(),
        unchecked_digests: v.unchecked_digests,
    })
}

/// Integrity results of the caller's accounts, as `auditwatch verify` stored them.
#[utoipa::path(get, path = "/api/v1/integrity",
    responses((status = 200, body = IntegrityReport), (status = 401, body = crate::kit::error::ErrorBody)))]
pub async fn report_api(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<IntegrityReport>, ApiError> {
    Ok(Json(report(&state, &caller).await?))
}

async fn page(State(state): State<AppState>, caller: Caller) -> Result<Response, PageError> {
    let r = report(&state, &caller).await?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let body = html! {
        h1 { "Integrity" }
        @if r.unchecked_digests > 0 {
            p.notice #unchecked { (r.unchecked_digests) " digest files taken by sources are not verified yet (set " code { "verify_digests = true" } " on the source, or run " code { "auditwatch verify" } ")." }
        }
        @if r.chains.is_empty() {
            p { "No integrity results yet. Run " code { "auditwatch verify s3://BUCKET --trail-arn ARN" } " on this data directory (see docs/INTEGRITY.md)." }
        } @else {
            table.data #chains {
                thead { tr { th { "Trail" } th { "Account" } th { "Region" } th { "Digests valid" } th { "Digests failed" } th { "Not verified" } th { "Logs valid" } th { "Logs failed" } th { "Newest valid digest" } th { "Checked" } } }
                tbody {
                    @for c in &r.chains {
                        @let bad = c.digests.failed + c.logs.failed > 0;
                        tr.(if bad { "failed" } else { "ok" }) {
                            td { code { (c.trail) } }
                            td { (c.account) }
                            td { (c.region) }
                            td { (c.digests.valid) }
                            td.count { (c.digests.failed) }
                            td { (c.digests.unverified + c.logs.unverified) }
                            td { (c.logs.valid) }
                            td.count { (c.logs.failed) }
                            td { (opt(&c.newest_valid_digest)) }
                            td { (c.checked_at) }
                        }
                    }
                }
            }
        }
        @if !r.problems.is_empty() {
            h2 { "Files not proven intact" }
            table.data #problems {
                thead { tr { th { "Kind" } th { "File" } th { "Verdict" } th { "Reason" } th { "Digest end" } } }
                tbody {
                    @for p in &r.problems {
                        tr { td { (p.kind) } td { code { (p.location) } } td { (p.verdict) } td { (opt(&p.reason)) } td { (opt(&p.time)) } }
                    }
                }
            }
        }
        @if !r.gaps.is_empty() {
            h2 { "Gaps" }
            table.data #gaps {
                thead { tr { th { "Chain" } th { "From" } th { "To" } th { "Why" } } }
                tbody {
                    @for g in &r.gaps {
                        tr { td { (g.chain) } td { (opt(&g.from)) } td { (g.to) } td { (g.reason) } }
                    }
                }
            }
        }
    };
    Ok(layout(Some(&caller), "Integrity", "Integrity", body).into_response())
}
