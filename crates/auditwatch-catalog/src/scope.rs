//! Which AWS accounts a caller may see. Every query path takes one.

use std::collections::BTreeSet;
use std::sync::Arc;

/// The accounts visible to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account (administrators, the local command line).
    All,
    /// Only these accounts; an empty set sees nothing.
    Accounts(Arc<BTreeSet<String>>),
}

impl Scope {
    /// A scope limited to `accounts`.
    pub fn accounts<I: IntoIterator<Item = S>, S: Into<String>>(accounts: I) -> Self {
        Scope::Accounts(Arc::new(accounts.into_iter().map(Into::into).collect()))
    }

    /// Whether rows of `account` are visible.
    pub fn allows(&self, account: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Accounts(set) => set.contains(account),
        }
    }

    /// Whether any of `accounts` is visible.
    pub fn allows_any(&self, accounts: &[String]) -> bool {
        match self {
            Scope::All => true,
            Scope::Accounts(set) => accounts.iter().any(|a| set.contains(a)),
        }
    }

    /// The scope as an SQL parameter: NULL for every account, else a JSON array of
    /// the accounts (for `json_each`).
    pub fn json_accounts(&self) -> Option<String> {
        match self {
            Scope::All => None,
            Scope::Accounts(a) => Some(serde_json::to_string(&**a).unwrap_or_else(|_| "[]".into())),
        }
    }
}
