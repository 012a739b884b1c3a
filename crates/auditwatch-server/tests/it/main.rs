//! The server's integration tests, one binary (each links DataFusion and the AWS SDK
//! once): the whole HTTP surface through the router (`router`), who may do what
//! (`access`), who is behind a call (`origins`), and sources declared through the API and pages (`sources`), over the
//! small lake of `common`.

mod access;
mod common;
mod origins;
mod router;
mod sources;
