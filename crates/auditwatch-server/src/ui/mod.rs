//! The web UI: server-rendered HTML (maud, escaped by construction), one stylesheet
//! and one small script embedded in the binary, charts as server-side SVG.
//!
//! Pages keep their whole query in the URL, so every view can be bookmarked or
//! shared, and every chart element links to the search it summarises. No inline
//! script or style: the CSP forbids both.

mod about;
pub mod chart;
mod dashboard;
mod event;
mod pages;
mod search;
mod sql;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use crate::{ApiError, AppState, Caller};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/icon.svg");

/// The UI routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/search", get(search::page))
        .route("/events/{id}", get(event::page))
        .route("/users", get(pages::users))
        .route("/users/{name}", get(pages::user))
        .route("/services", get(pages::services))
        .route("/services/{name}", get(pages::service))
        .route("/sql", get(sql::page))
        .route("/sql.csv", get(sql::csv))
        .route("/about", get(about::about))
        .route("/contact", get(about::contact).post(about::send))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/assets/icon.svg", get(icon))
        .route("/favicon.ico", get(icon))
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

/// The page shell: navigation, title, content.
pub fn layout(caller: Option<&Caller>, title: &str, active: &str, content: Markup) -> Html<String> {
    let nav = [
        ("/", "Dashboard"),
        ("/search", "Search"),
        ("/users", "Users"),
        ("/services", "Services"),
        ("/sql", "SQL"),
        ("/about", "About"),
        ("/contact", "Contact"),
    ];
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
                        nav aria-label="Main" {
                            @for (href, label) in nav {
                                @if label == active {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        @if let Some(c) = caller {
                            span.who title="Signed in as" { (c.name) " (" (c.role.name()) ")" }
                        }
                    }
                    main #main { (content) }
                }
            }
        }
        .into_string(),
    )
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
