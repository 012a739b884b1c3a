//! Integration tests of the `auditwatch` command line (one binary, so heavy
//! dependencies link once).

mod cli;
mod corpus;
mod generated;
mod hunt;
mod shared;
mod support;
mod verify;
mod whois;
