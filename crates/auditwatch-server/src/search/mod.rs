//! Search: the search page (total, histogram, facets, results), one event's page
//! with who is behind it, one session's page,
//! and the API's event search, event by id and export.

pub mod api;
pub mod event;
pub mod export;
pub mod origin;
pub mod page;
pub mod record_tree;
pub mod results;
pub mod state;

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;

/// `/search`, `/events/{id}` and `/sessions/{key}`.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/search", Access::Role(Role::Viewer), page::page)
        .audit("search")
        .get("/events/{id}", Access::Role(Role::Viewer), event::page)
        .get(
            "/sessions/{key}",
            Access::Role(Role::Viewer),
            origin::session_page,
        )
}

/// `/api/v1/events`, `/api/v1/events/{id}` and `/api/v1/export`.
pub fn api() -> Routes {
    Routes::api()
        .get("/events", Access::Role(Role::Viewer), api::search)
        .audit("search")
        .get("/events/{id}", Access::Role(Role::Viewer), api::one)
        .get("/export", Access::Role(Role::Analyst), export::export)
        .audit("export")
}
