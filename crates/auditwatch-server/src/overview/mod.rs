//! The overview of a window of activity: the dashboard, the users and services
//! pages, and the API's breakdowns behind them (users, services, parameters,
//! aggregations, histograms).

pub mod api;
pub mod dashboard;
pub mod users_and_services;

use crate::kit::access::{Access, Routes};
use crate::kit::caller::Role;

/// The dashboard (`/`) and the users and services pages.
pub fn pages() -> Routes {
    use users_and_services as us;
    Routes::pages()
        .get("/", Access::Role(Role::Viewer), dashboard::page)
        .get("/users", Access::Role(Role::Viewer), us::users)
        .get("/users/{name}", Access::Role(Role::Viewer), us::user)
        .audit("search")
        .get("/services", Access::Role(Role::Viewer), us::services)
        .get("/services/{name}", Access::Role(Role::Viewer), us::service)
        .audit("search")
}

/// `/api/v1/users`, `/services`, `/parameters`, `/aggregate` and `/histogram`.
pub fn api() -> Routes {
    Routes::api()
        .get("/users", Access::Role(Role::Viewer), api::users)
        .get("/services", Access::Role(Role::Viewer), api::services)
        .get("/parameters", Access::Role(Role::Viewer), api::parameters)
        .get("/aggregate", Access::Role(Role::Viewer), api::aggregate)
        .get("/histogram", Access::Role(Role::Viewer), api::histogram)
}
