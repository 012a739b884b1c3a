//! Streaming export of a search: CSV (spreadsheet-safe), NDJSON (one record per
//! line) or JSON (`{"Records": [...]}`, a CloudTrail log body Auditwatch can ingest).
//!
//! The export pages through the search (newest first) and writes each page as it
//! comes, so memory stays flat whatever the size; it stops at the configured row cap.
//!
//! A complete CSV or NDJSON export ends with a trailer line, so a download cut short
//! can be told from a complete one (docs/API.md): `# auditwatch end rows=N` (CSV; a
//! comment line, `capped` added when the row cap stopped it) or
//! `{"_auditwatch":"end","rows":N}` (NDJSON; `"capped":true` likewise). When reading
//! fails part-way, an error line (`# auditwatch error rows=N: …`,
//! `{"_auditwatch":"error","rows":N,"message":…}`) is written and the body then ends
//! with an error, so the chunked encoding is not terminated cleanly. JSON ends with
//! its closing `]}` and has neither line.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;

use auditwatch_store::Lookup;

use crate::kit::csv::safe_cell;
use crate::kit::error::ErrorBody;
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
        (status = 200, description = "The events, streamed; CSV and NDJSON end with a trailer line (`# auditwatch end rows=N`, `{\"_auditwatch\":\"end\",\"rows\":N}`), and a stream cut by an error ends with an error line and no clean end of the chunked body", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (Object = "application/json"),
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
    let first = (view::events(&first.events)?, first.next_token);
    let format = opts.format;
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "auditwatch-events.csv"),
        Format::Ndjson => ("application/x-ndjson", "auditwatch-events.ndjson"),
        Format::Json => ("application/json", "auditwatch-events.json"),
    };
    let next = move |token: String| {
        let (state, caller) = (state.clone(), caller.clone());
        let lookup = Lookup {
            next_token: Some(token),
            ..lookup.clone()
        };
        async move {
            let page = Queries::new(&state, &caller).search(&lookup).await?;
            Ok((view::events(&page.events)?, page.next_token))
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        // Fused: the body may be polled again after its end (compression does).
        Body::from_stream(futures::StreamExt::fuse(body_stream(
            format, first, cap, next,
        ))),
    )
        .into_response())
}

/// One page of an export: its events, and the token of the next page when more match.
type Chunk = (Vec<EventView>, Option<String>);

/// The line that ends a complete export: `rows` events were written; `capped` when
/// the row cap stopped it while more events matched. JSON has none: its closing `]}`
/// is its end.
fn trailer(format: Format, rows: usize, capped: bool) -> Vec<u8> {
    match format {
        Format::Csv => format!(
            "# auditwatch end rows={rows}{}\r\n",
            if capped { " capped" } else { "" }
        )
        .into_bytes(),
        // Written by hand so the keys keep this order, whatever serde_json's features.
        Format::Ndjson => format!(
            "{{\"_auditwatch\":\"end\",\"rows\":{rows}{}}}\n",
            if capped { ",\"capped\":true" } else { "" }
        )
        .into_bytes(),
        Format::Json => b"\n]}\n".to_vec(),
    }
}

/// The line written when an export fails part-way, before the body ends abnormally.
/// JSON has none: the unclosed document does not parse.
fn error_line(format: Format, rows: usize, message: &str) -> Vec<u8> {
    match format {
        Format::Csv => {
            // One line, whatever the message holds.
            let message: String = message
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!("# auditwatch error rows={rows}: {message}\r\n").into_bytes()
        }
        Format::Ndjson => format!(
            "{{\"_auditwatch\":\"error\",\"rows\":{rows},\"message\":{}}}\n",
            serde_json::Value::from(message)
        )
        .into_bytes(),
        Format::Json => Vec::new(),
    }
}

/// Where an export stream is.
enum Step {
    /// A page read, to write.
    Page(Chunk),
    /// The next page to read.
    Fetch(String),
    /// The error line is out; the body ends with this error.
    Fail(String),
    /// Finished.
    Done,
}

/// The body of an export: `first`, then the pages `next` reads from each next token,
/// until none is left or `cap` events are out, each encoded as it comes, then the
/// [`trailer`]. An error part-way writes the [`error_line`] and then ends the stream
/// with an error, so the server does not finish the chunked body cleanly and the
/// client sees a failed download, not a short one.
fn body_stream<F, Fut>(
    format: Format,
    first: Chunk,
    cap: usize,
    next: F,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    F: FnMut(String) -> Fut + Send,
    Fut: std::future::Future<Output = Result<Chunk, ApiError>> + Send,
{
    struct Cursor<F> {
        step: Step,
        next: F,
        sent: usize,
        first: bool,
    }
    let start = Cursor {
        step: Step::Page(first),
        next,
        sent: 0,
        first: true,
    };
    futures::stream::unfold(start, move |mut c| async move {
        let page = match std::mem::replace(&mut c.step, Step::Done) {
            Step::Done => return None,
            Step::Fail(message) => return Some((Err(std::io::Error::other(message)), c)),
            Step::Page(p) => Ok(p),
            Step::Fetch(token) => (c.next)(token).await,
        };
        let written = page.and_then(|(mut events, token)| {
            let room = cap.saturating_sub(c.sent);
            let cut = events.len() > room;
            events.truncate(room);
            let mut bytes = Vec::new();
            if c.first && format == Format::Json {
                bytes.extend_from_slice(b"{\"Records\": [\n");
            }
            bytes.extend(encode(format, &events, c.first)?);
            c.first = false;
            c.sent += events.len();
            match token {
                Some(t) if c.sent < cap => c.step = Step::Fetch(t),
                more => bytes.extend(trailer(format, c.sent, cut || more.is_some())),
            }
            Ok(bytes)
        });
        match written {
            Ok(bytes) => Some((Ok(Bytes::from(bytes)), c)),
            Err(e) => {
                tracing::warn!(rows = c.sent, error = %e.message, "export failed part-way");
                let line = error_line(format, c.sent, &e.message);
                if line.is_empty() {
                    return Some((Err(std::io::Error::other(e.message)), c));
                }
                c.step = Step::Fail(e.message);
                Some((Ok(Bytes::from(line)), c))
            }
        }
    })
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

    fn events(n: usize) -> Vec<EventView> {
        (0..n)
            .map(|i| EventView {
                time_us: 1_714_557_600_000_000,
                event_id: Some(format!("e{i}")),
                raw: format!("{{\"eventID\":\"e{i}\"}}"),
                ..EventView::default()
            })
            .collect()
    }

    /// The chunks of an export whose pages after the first are `pages` in turn.
    async fn run(
        format: Format,
        first: Chunk,
        cap: usize,
        pages: Vec<Result<Chunk, ApiError>>,
    ) -> Vec<Result<String, String>> {
        let pages = std::sync::Mutex::new(pages.into_iter());
        let next = |_token: String| {
            let page = pages
                .lock()
                .unwrap()
                .next()
                .expect("asked for a page too many");
            async move { page }
        };
        let stream = body_stream(format, first, cap, next);
        futures::StreamExt::collect::<Vec<_>>(stream)
            .await
            .into_iter()
            .map(|r| {
                r.map(|b| String::from_utf8(b.to_vec()).unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[tokio::test]
    async fn complete_exports_end_with_a_trailer_counting_their_rows() {
        let out = run(
            Format::Ndjson,
            (events(2), Some("t1".into())),
            100,
            vec![Ok((events(3), None))],
        )
        .await;
        let text: String = out.into_iter().map(Result::unwrap).collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[5], r#"{"_auditwatch":"end","rows":5}"#);

        let out = run(Format::Csv, (events(4), Some("t".into())), 3, vec![]).await;
        let text: String = out.into_iter().map(Result::unwrap).collect();
        assert!(
            text.ends_with("\r\n# auditwatch end rows=3 capped\r\n"),
            "{text}"
        );
        let mut rd = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        assert_eq!(rd.records().count(), 3);

        let out = run(Format::Csv, (Vec::new(), None), 10, vec![]).await;
        assert!(
            out[0]
                .as_ref()
                .unwrap()
                .ends_with("\r\n# auditwatch end rows=0\r\n")
        );
        let out = run(Format::Json, (events(1), None), 10, vec![]).await;
        let v: serde_json::Value = serde_json::from_str(out[0].as_ref().unwrap()).unwrap();
        assert_eq!(v["Records"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failure_part_way_writes_an_error_line_then_fails_the_body() {
        for format in [Format::Ndjson, Format::Csv, Format::Json] {
            let out = run(
                format,
                (events(2), Some("t1".into())),
                100,
                vec![Err(ApiError::invalid("the lake went away"))],
            )
            .await;
            let last = out.last().unwrap();
            assert_eq!(
                last.as_ref().unwrap_err(),
                "the lake went away",
                "{format:?}"
            );
            let text: String = out
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .cloned()
                .collect();
            assert!(!text.contains("auditwatch\":\"end") && !text.contains("auditwatch end"));
            match format {
                Format::Ndjson => assert!(
                    text.ends_with(
                        "{\"_auditwatch\":\"error\",\"rows\":2,\"message\":\"the lake went away\"}\n"
                    ),
                    "{text}"
                ),
                Format::Csv => assert!(
                    text.ends_with("# auditwatch error rows=2: the lake went away\r\n"),
                    "{text}"
                ),
                Format::Json => assert!(serde_json::from_str::<serde_json::Value>(&text).is_err()),
            }
        }
    }
}
