//! The page kit: the shell every page is drawn in (navigation, title, content), an
//! error as a page, the CSRF field, times, the time control, URLs, and the embedded
//! stylesheet, script and icon with the page for paths no route matches.
//!
//! Pages are server-rendered HTML (maud, escaped by construction) that keep their
//! whole query in the URL, so every view can be bookmarked or shared. No inline
//! script or style: the CSP forbids both.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;
use crate::{ApiError, Caller};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/icon.svg");

/// Relative time presets: (label, `start` value).
pub const PRESETS: [(&str, &str); 6] = [
    ("15 min", "15m"),
    ("1 hour", "1h"),
    ("24 hours", "24h"),
    ("7 days", "7d"),
    ("30 days", "30d"),
    ("90 days", "90d"),
];

/// The stylesheet, script and icon, and the not-found page for other paths.
pub fn assets() -> Routes {
    Routes::pages()
        .get("/assets/app.css", Access::Public, css)
        .get("/assets/app.js", Access::Public, js)
        .get("/assets/icon.svg", Access::Public, icon)
        .get("/favicon.ico", Access::Public, icon)
        .fallback(not_found)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

async fn not_found() -> Response {
    let body = layout(
        None,
        "Not found",
        "",
        html! { h1 { "Not found" } p { "There is no page here. " a href="/" { "Back to the dashboard" } } },
    );
    (StatusCode::NOT_FOUND, body).into_response()
}

/// An error shown as a page (with the API's status code).
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<auditwatch_store::StoreError> for PageError {
    fn from(e: auditwatch_store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = layout(
            None,
            "Error",
            "",
            html! {
                h1 { "Something is wrong with this request" }
                p.error role="alert" { (e.message) }
                p { a href="/search" { "Search" } " · " a href="/" { "Dashboard" } }
            },
        );
        (e.status, body).into_response()
    }
}

/// The hidden CSRF field every state-changing form of a session carries.
pub fn csrf_field(caller: &Caller) -> Markup {
    html! {
        @if let Some(t) = caller.csrf() {
            input type="hidden" name="csrf" value=(t);
        }
    }
}

/// The page shell: navigation (for signed-in callers, `active` naming the menu entry
/// to mark), title, content.
pub fn layout(caller: Option<&Caller>, title: &str, active: &str, content: Markup) -> Html<String> {
    let mut nav = vec![
        ("/", "Dashboard"),
        ("/search", "Search"),
        ("/users", "Users"),
        ("/services", "Services"),
        ("/integrity", "Integrity"),
        ("/alerts", "Alerts"),
        ("/rules", "Rules"),
    ];
    if caller.is_some_and(|c| c.role >= Role::Analyst) {
        nav.push(("/sql", "SQL"));
    }
    if caller.is_some_and(|c| c.role >= Role::Admin) {
        nav.push(("/admin/users", "Admin"));
        nav.push(("/admin/audit", "Audit log"));
        nav.push(("/sources", "Sources"));
    }
    nav.push(("/about", "About"));
    nav.push(("/contact", "Contact"));
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="color-scheme" content="light dark";
                    title { (title) " · Auditwatch" }
                    link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                    link rel="stylesheet" href="/assets/app.css";
                    script src="/assets/app.js" defer {}
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href="/" { "Auditwatch" }
                        @if let Some(c) = caller {
                            // Dimension screens fold the menu behind this toggle (CSS only).
                            input.menu-toggle #menu-toggle type="checkbox" aria-label="Show the menu";
                            label.menu-button for="menu-toggle" aria-hidden="true" { "☰ Menu" }
                            nav aria-label="Main" {
                                @for (href, label) in &nav {
                                    @if *label == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                            label.tz hidden {
                                "Times in "
                                select #tz-choice aria-label="Time zone of every time shown" {
                                    option value="utc" { "UTC" }
                                    option value="local" { "this browser's zone" }
                                }
                            }
                            span.who title="Signed in as" { (c.name) " (" (c.role.name()) ")" }
                            @if c.csrf().is_some() {
                                form.signout method="post" action="/logout" {
                                    (csrf_field(c))
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                    main #main { (content) }
                }
            }
        }
        .into_string(),
    )
}

/// A µs time as the pages show it: `2024-05-01 12:00:00` in UTC, inside a `<time>`
/// element whose machine value lets the script show it in the browser's zone when the
/// reader chose that.
pub fn when(us: i64) -> Markup {
    let Some(t) = chrono::DateTime::from_timestamp_micros(us) else {
        return html! { (us) };
    };
    html! {
        time datetime=(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()) {
            (t.format("%Y-%m-%d %H:%M:%S").to_string())
        }
    }
}

/// A time the server already wrote as RFC 3339 UTC (`2024-05-01T12:00:00Z`, as the API
/// answers carry them), shown like [`when`]; other text is shown as it is.
pub fn when_text(iso: &str) -> Markup {
    match chrono::DateTime::parse_from_rfc3339(iso) {
        Ok(t) => when(t.timestamp_micros()),
        Err(_) => html! { (iso) },
    }
}

/// The time control of the dashboard and the user and service pages: a start and an
/// end (absolute or relative, `7d`), and the relative presets the search page offers.
/// `all_history` adds a preset from the first event on.
pub fn time_control(path: &str, start: &str, end: &str, all_history: Option<&str>) -> Markup {
    html! {
        form.window method="get" action=(path) {
            label { "From " input type="text" name="start" value=(start) placeholder="7d, 2024-05-01 …"; }
            label { "to " input type="text" name="end" value=(end) placeholder="now"; }
            button type="submit" { "Show" }
            span.presets {
                "Last: "
                @for (label, v) in PRESETS {
                    @if start == v && end.is_empty() { strong aria-current="true" { (label) } } @else { a href=(url(path, &[("start", v)])) { (label) } }
                }
                @if let Some(all) = all_history {
                    @if start == all { strong aria-current="true" { "all history" } } @else { a href=(url(path, &[("start", all)])) { "all history" } }
                }
            }
        }
    }
}

/// A URL with query pairs, percent-encoded; empty values are left out.
pub fn url(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// A path segment, percent-encoded.
pub fn seg(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `value` or a dash for absent values.
pub fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("–")
}
