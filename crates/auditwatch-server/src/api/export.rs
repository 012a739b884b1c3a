//! Streaming export of a search: CSV (spreadsheet-safe), NDJSON (one record per
//! line) or JSON (`{"Records": [...]}`, a CloudTrail log body Auditwatch can ingest).
//!
//! The export pages through the search (newest first) and writes each page as it
//! comes, so memory stays flat whatever the size; it stops at the configured row cap.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ErrorBody;
use crate::query::{Q, Queries, SearchForm};
use crate::view::{self, EventView};
use crate::{ApiError, AppState, Caller};

/// The export format.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values; cells that a spreadsheet would run as a formula are
    /// prefixed with `'`.
    #[default]
    Csv,
    /// One CloudTrail record per line.
    Ndjson,
    /// `{"Records": [...]}`.
    Json,
}

/// Export options.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ExportOptions {
    /// csv (default), ndjson or json.
    pub format: Format,
}

const PAGE: usize = 2000;

const CSV_COLUMNS: [&str; 16] = [
    "eventTime",
    "eventID",
    "accountId",
    "awsRegion",
    "eventSource",
    "eventName",
    "username",
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "readOnly",
    "resources",
];

/// Neutralises a cell that a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab, CR).
pub fn safe_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

fn csv_row(w: &mut csv::Writer<Vec<u8>>, e: &EventView) -> csv::Result<()> {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let resources: Vec<&str> = e
        .resources
        .iter()
        .filter_map(|(t, a)| a.as_deref().or(t.as_deref()))
        .collect();
    let cells = [
        crate::query::fmt_time(e.time_us),
        o(&e.event_id),
        o(&e.account_id),
        o(&e.region),
        o(&e.event_source),
        o(&e.event_name),
        o(&e.username),
        o(&e.identity_type),
        o(&e.identity_arn),
        o(&e.access_key_id),
        o(&e.source_ip),
        o(&e.user_agent),
        o(&e.error_code),
        o(&e.error_message),
        e.read_only.map(|b| b.to_string()).unwrap_or_default(),
        resources.join(" "),
    ];
    w.write_record(cells.iter().map(|c| safe_cell(c).into_owned()))
}

fn encode(format: Format, events: &[EventView], first: bool) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            if first {
                w.write_record(CSV_COLUMNS).map_err(ApiError::internal)?;
            }
            for e in events {
                csv_row(&mut w, e).map_err(ApiError::internal)?;
            }
            out = w.into_inner().map_err(ApiError::internal)?;
        }
        Format::Ndjson => {
            for e in events {
                out.extend_from_slice(e.raw.as_bytes());
                out.push(b'\n');
            }
        }
        Format::Json => {
            for (i, e) in events.iter().enumerate() {
                if !(first && i == 0) {
                    out.extend_from_slice(b",\n");
                }
                out.extend_from_slice(e.raw.as_bytes());
            }
        }
    }
    Ok(out)
}

/// Export the events of a search, streamed.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    tag = "events",
    params(SearchForm, ExportOptions),
    responses(
        (status = 200, description = "The events, streamed", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (String = "application/json"),
        )),
        (status = 400, description = "Invalid filters", body = ErrorBody),
        (status = 403, description = "The caller may not export", body = ErrorBody),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Q(form): Q<SearchForm>,
    Q(opts): Q<ExportOptions>,
) -> Result<Response, ApiError> {
    caller.require_analyst()?;
    let mut lookup = form.to_lookup(usize::MAX)?;
    lookup.max_results = PAGE;
    lookup.next_token = None;
    let cap = state.config().max_export_rows;
    // Check the filters and read the first page before answering, so a bad request
    // gets a proper error status instead of a broken stream.
    let first = Queries::new(&state, &caller).search(&lookup).await?;
    let format = opts.format;
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "auditwatch-events.csv"),
        Format::Ndjson => ("application/x-ndjson", "auditwatch-events.ndjson"),
        Format::Json => ("application/json", "auditwatch-events.json"),
    };
    struct Cursor {
        page: Option<auditwatch_store::Page>,
        lookup: auditwatch_store::Lookup,
        sent: usize,
        first: bool,
        done: bool,
    }
    let start = Cursor {
        page: Some(first),
        lookup,
        sent: 0,
        first: true,
        done: false,
    };
    let stream = futures::stream::unfold(start, move |mut c| {
        let state = state.clone();
        let caller = caller.clone();
        async move {
            if c.done {
                return None;
            }
            let page = match c.page.take() {
                Some(p) => Ok(p),
                None => Queries::new(&state, &caller).search(&c.lookup).await,
            };
            let step = page.and_then(|page| {
                let mut events = view::events(&page.events)?;
                events.truncate(cap - c.sent);
                c.sent += events.len();
                let mut bytes = Vec::new();
                if c.first && format == Format::Json {
                    bytes.extend_from_slice(b"{\"Records\": [\n");
                }
                bytes.extend(encode(format, &events, c.first)?);
                c.first = false;
                c.lookup.next_token = page.next_token;
                if c.lookup.next_token.is_none() || c.sent >= cap {
                    c.done = true;
                    if format == Format::Json {
                        bytes.extend_from_slice(b"\n]}\n");
                    }
                }
                Ok(bytes)
            });
            match step {
                Ok(bytes) => Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), c)),
                Err(e) => {
                    c.done = true;
                    Some((Err(std::io::Error::other(e.message)), c))
                }
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        // Fused: the body may be polled again after its end (compression does).
        Body::from_stream(futures::StreamExt::fuse(stream)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(safe_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell("+1"), "'+1");
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("alice"), "alice");
        assert_eq!(safe_cell(""), "");
    }
}
