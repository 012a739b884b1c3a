//! SQL over the caller's events: the console page (with CSV download) and
//! `/api/v1/sql`.

pub mod api;
pub mod page;

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;

/// `/sql` and `/sql.csv`.
pub fn pages() -> Routes {
    Routes::pages()
        .get("/sql", Access::Role(Role::Analyst), page::page)
        .audit("sql")
        .get("/sql.csv", Access::Role(Role::Analyst), page::csv)
        .audit("export")
}

/// `/api/v1/sql`.
pub fn api() -> Routes {
    Routes::api()
        .post("/sql", Access::Role(Role::Analyst), api::sql)
        .audit("sql")
}
