//! The SQL console: example queries, a results table, CSV download, errors shown
//! plainly. The query is in the URL (`/sql?q=…`), so results can be shared.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::api::table as sql_table;
use crate::kit::page::{PageError, layout, url};
use crate::query::{Q, Queries};
use crate::{ApiError, AppState, Caller};

/// Example queries shown as links.
pub const EXAMPLES: [(&str, &str); 5] = [
    (
        "Most active users",
        "SELECT username, count(*) AS events FROM events GROUP BY username ORDER BY events DESC LIMIT 20",
    ),
    (
        "Access denied by user and action",
        "SELECT username, eventName, count(*) AS n FROM events WHERE errorCode IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation') GROUP BY 1, 2 ORDER BY n DESC LIMIT 50",
    ),
    (
        "Failed console sign-ins",
        "SELECT eventTime, username, sourceIPAddress FROM events WHERE eventName = 'ConsoleLogin' AND json_get_str(responseElements, 'ConsoleLogin') = 'Failure' ORDER BY eventTime DESC LIMIT 100",
    ),
    (
        "Who read secrets",
        "SELECT eventTime, username, json_get_str(requestParameters, 'secretId') AS secret FROM events WHERE eventName = 'GetSecretValue' ORDER BY eventTime DESC LIMIT 100",
    ),
    (
        "Events per day",
        "SELECT date_trunc('day', eventTime) AS day, count(*) AS events FROM events GROUP BY 1 ORDER BY 1",
    ),
];

/// The console's query.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SqlForm {
    q: Option<String>,
}

/// `GET /sql`.
pub async fn page(State(state): State<AppState>, caller: Caller, Q(f): Q<SqlForm>) -> Response {
    let sql = f.q.clone().unwrap_or_default();
    let outcome = if sql.trim().is_empty() {
        None
    } else {
        let limits = state.config().sql;
        Some(
            async {
                let r = Queries::new(&state, &caller).sql(&sql, limits).await?;
                sql_table(&r)
            }
            .await,
        )
    };
    let status = match &outcome {
        Some(Err(e)) => e.status,
        _ => StatusCode::OK,
    };
    let body = html! {
        h1 { "SQL" }
        p { "Read-only SQL over " code { "events" } " (your accounts only). Columns are CloudTrail's names, case-sensitive: see " a href="/about#schema" { "the schema" } "." }
        form.sql method="get" action="/sql" {
            label for="sql-q" { "Query" }
            textarea #sql-q name="q" rows="6" spellcheck="false" { (sql) }
            div.actions {
                button type="submit" { "Run" }
                @if !sql.trim().is_empty() { a href=(url("/sql.csv", &[("q", &sql)])) download { "Download CSV" } }
            }
        }
        details.examples open[sql.trim().is_empty()] {
            summary { "Examples" }
            ul { @for (label, q) in EXAMPLES { li { a href=(url("/sql", &[("q", q)])) { (label) } } } }
        }
        @match &outcome {
            None => {},
            Some(Err(e)) => {
                p.error role="alert" { (e.message) }
                @if let Some(h) = hint(&e.message) { p.hint { (h) } }
            },
            Some(Ok(t)) => {
                p { (t.rows.len()) " rows" @if t.truncated { " (cut at the row limit)" } ". Long values are folded: click or focus a cell to unfold it." }
                div.grid-wrap tabindex="0" aria-label="Query results" {
                    table.events #sql-results {
                        thead { tr { @for c in &t.columns { th scope="col" { (c) } } } }
                        tbody {
                            @for r in &t.rows {
                                tr { @for v in r { @let (text, cut) = cell_text(v); td.cell tabindex="0" { (text) @if cut { span.hint { " … (cut here; the CSV has it whole)" } } } } }
                            }
                        }
                    }
                }
            },
        }
    };
    let body = html! {
        div.sql-layout {
            div { (body) }
            (columns())
        }
    };
    (status, layout(Some(&caller), "SQL", "SQL", body)).into_response()
}

/// Longest cell text the page shows (the CSV has every value whole).
const MAX_CELL_CHARS: usize = 4096;

/// A cell as the page shows it, and whether it was cut.
fn cell_text(v: &serde_json::Value) -> (String, bool) {
    let s = cell(v);
    match s.char_indices().nth(MAX_CELL_CHARS) {
        Some((at, _)) => (s[..at].to_string(), true),
        None => (s, false),
    }
}

/// The columns of `events` (top level, with their types) beside the editor.
fn columns() -> Markup {
    let schema = auditwatch_store::schema::events_schema();
    html! {
        aside.columns-list aria-labelledby="columns-h" {
            h2 #columns-h { "Columns of " code { "events" } }
            ul {
                @for f in schema.fields() {
                    li { code { (f.name()) } " " span.type { (type_name(f.data_type())) } }
                }
            }
        }
    }
}

/// A short type name for the column list.
fn type_name(t: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as T;
    match t {
        T::Utf8 | T::LargeUtf8 | T::Utf8View | T::Dictionary(..) => "text".into(),
        T::Timestamp(..) => "timestamp".into(),
        T::Boolean => "boolean".into(),
        T::Struct(_) => "struct".into(),
        T::List(_) | T::LargeList(_) => "list".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// A hint for an error that names an unknown column or table: the column of
/// `events` spelt the same but for case, or the one table there is.
pub fn hint(message: &str) -> Option<String> {
    let lower = message.to_lowercase();
    if let Some(at) = lower.find("no field named ") {
        let rest = &message[at + "no field named ".len()..];
        let name: String = rest
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let name = name.trim_end_matches('.');
        let bare = name.rsplit('.').next().unwrap_or(name).to_lowercase();
        let schema = auditwatch_store::schema::events_schema();
        let close: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().to_string())
            .filter(|f| {
                f.to_lowercase() == bare || (bare.len() >= 4 && f.to_lowercase().contains(&bare))
            })
            .collect();
        return Some(match close.as_slice() {
            [] => format!(
                "There is no column {name}: the columns of events are listed beside the editor."
            ),
            found => format!(
                "Did you mean {}? Column names are case-sensitive; write them in double quotes when they have capitals (\"eventName\").",
                found.join(" or ")
            ),
        });
    }
    if lower.contains("table") && lower.contains("not found") {
        return Some("The one table is events (your accounts' events); views of it can be made with WITH … AS.".into());
    }
    None
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /sql.csv`: the console's result as CSV.
pub async fn csv(
    State(state): State<AppState>,
    caller: Caller,
    Q(f): Q<SqlForm>,
) -> Result<Response, PageError> {
    let sql = f.q.unwrap_or_default();
    if sql.trim().is_empty() {
        return Err(ApiError::invalid("q (the query) is empty").into());
    }
    let r = Queries::new(&state, &caller)
        .sql(&sql, state.config().sql)
        .await?;
    let t = sql_table(&r)?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(&t.columns).map_err(ApiError::internal)?;
    for row in &t.rows {
        w.write_record(
            row.iter()
                .map(|v| crate::kit::csv::safe_cell(&cell(v)).into_owned()),
        )
        .map_err(ApiError::internal)?;
    }
    let bytes = w.into_inner().map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"auditwatch-query.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}
