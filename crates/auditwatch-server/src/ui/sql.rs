//! The SQL console: example queries, a results table, CSV download, errors shown
//! plainly. The query is in the URL (`/sql?q=…`), so results can be shared.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::{PageError, layout, url};
use crate::api::sql_table;
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
            Some(Err(e)) => { p.error role="alert" { (e.message) } },
            Some(Ok(t)) => {
                p { (t.rows.len()) " rows" @if t.truncated { " (cut at the row limit)" } }
                div.table-wrap {
                    table.events #sql-results {
                        thead { tr { @for c in &t.columns { th scope="col" { (c) } } } }
                        tbody {
                            @for r in &t.rows {
                                tr { @for v in r { td.wrap { (cell(v)) } } }
                            }
                        }
                    }
                }
            },
        }
    };
    (status, layout(Some(&caller), "SQL", "SQL", body)).into_response()
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
                .map(|v| crate::api::safe_cell(&cell(v)).into_owned()),
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
