//! Roles, ordered by what they may do.

use std::fmt;
use std::str::FromStr;

use crate::error::AuthError;

/// What a principal may do. Ordered: `Viewer < Analyst < Admin`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Search and pages, within the principal's accounts.
    Viewer,
    /// Everything a viewer may, plus SQL, exports and rules.
    Analyst,
    /// Everything, including users, keys and the audit log.
    Admin,
}

impl Role {
    /// The role's name as the CLI and API spell it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "viewer" => Ok(Role::Viewer),
            other => Err(AuthError::Invalid(format!(
                "role {other:?}: expected admin, analyst or viewer"
            ))),
        }
    }
}
