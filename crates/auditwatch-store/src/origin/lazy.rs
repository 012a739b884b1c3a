//! Origins read from the catalog key by key, for a query that meets only some keys.
//!
//! A lookup by origin that stops after its page reads the identities of a few row
//! groups; loading the whole sessions index and walking every key for it (about 0.3 s
//! at 1 M events) would cost far more than the lookup. [`Lazy`] asks the catalog for
//! each key when a row first names it, and keeps every answer (a key the index does not
//! hold included) for the rest of the query. It walks exactly as [`super::Origins`]
//! does, so the answers are the same. [`ByOrigin`] adds what a lookup by one origin
//! needs to skip rows without asking the catalog: the keys that may reach it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use auditwatch_catalog::TableCatalog;
use auditwatch_event::identity::{IdentityText, Issued, Origin, Principal};

use super::{Walks, origin_of, walk_from};
use crate::error::{Result, StoreError};

/// The sessions index of a table, read key by key and kept for one query.
pub struct Lazy {
    table: Arc<dyn TableCatalog>,
    issued: Mutex<HashMap<String, Option<Issued>>>,
    walked: Mutex<HashMap<String, Option<Origin>>>,
    /// The first catalog error met: answers after it may be wrong, so the query fails.
    failed: Mutex<Option<String>>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy").finish_non_exhaustive()
    }
}

impl Lazy {
    /// Reads `table`'s sessions index as keys are asked for.
    pub fn new(table: Arc<dyn TableCatalog>) -> Self {
        Self {
            table,
            issued: Mutex::default(),
            walked: Mutex::default(),
            failed: Mutex::default(),
        }
    }

    /// An error if a read of the catalog failed (then some answers were guesses).
    pub fn check(&self) -> Result<()> {
        match self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(e) => Err(StoreError::Query(format!(
                "the sessions index could not be read: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// How many keys were read from the catalog.
    pub fn keys_read(&self) -> usize {
        self.issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Walks for Lazy {
    fn issued(&self, key: &str) -> Option<Issued> {
        remembered(&self.issued, key, || {
            self.table.session(key).unwrap_or_else(|e| {
                let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                failed.get_or_insert_with(|| e.to_string());
                None
            })
        })
    }

    fn walked(&self, key: &str) -> Option<Origin> {
        remembered(&self.walked, key, || {
            self.issued(key).map(|i| walk_from(&i, |k| self.issued(k)))
        })
    }
}

/// `key`'s value in `memo`, worked out by `find` (without the lock held: it may
/// read the memo again) and kept when first asked.
fn remembered<T: Clone>(
    memo: &Mutex<HashMap<String, T>>,
    key: &str,
    find: impl FnOnce() -> T,
) -> T {
    let known = memo
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .cloned();
    known.unwrap_or_else(|| {
        let found = find();
        memo.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_string(), found.clone());
        found
    })
}

/// What a lookup by origin reads: the keys whose walk may end at the value
/// ([`TableCatalog::sessions_reaching`], one catalog query), and the walks of the keys
/// met ([`Lazy`]). A row whose key is not among them can have that origin only
/// through its own identity, which [`ByOrigin::may_name`] checks without the catalog.
pub struct ByOrigin {
    value: String,
    reaching: HashSet<String>,
    walks: Lazy,
}

impl std::fmt::Debug for ByOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByOrigin")
            .field("value", &self.value)
            .field("reaching", &self.reaching.len())
            .finish_non_exhaustive()
    }
}

impl ByOrigin {
    /// Reads the keys that may reach `value` from `table`.
    pub fn new(table: Arc<dyn TableCatalog>, value: &str) -> Result<Self> {
        let reaching = table.sessions_reaching(value)?.into_iter().collect();
        Ok(Self {
            value: value.to_string(),
            reaching,
            walks: Lazy::new(table),
        })
    }

    /// The value looked up.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the walk of `key` may end at the value (one of [`Self::may_name`]'s tests).
    pub fn reaches(&self, key: &str) -> bool {
        self.reaching.contains(key)
    }

    /// The origin of a call made by `who` ([`origin_of`], the walks read key by key).
    pub fn origin(&self, who: &Principal) -> Origin {
        origin_of(&self.walks, who)
    }

    /// Whether a call made by the identity `t` may have an origin the value names —
    /// read from its text alone, before any principal is built; [`Self::origin`] then
    /// decides. A session ([`principal`]'s rule: an assumed role or federated user with
    /// an `ASIA` key) may when its key reaches the value, or its own source identity,
    /// ARN or session name is the value. Any other caller's origin is itself, named by
    /// one of its fields: it may when one of them holds the value (or could hide it: an
    /// escaped `onBehalfOf`, an IAM user or root without the ARN the name is made of).
    pub fn may_name(&self, t: &IdentityText<'_>) -> bool {
        let v = self.value.as_str();
        fn given(f: Option<&str>) -> Option<&str> {
            f.filter(|s| !s.is_empty())
        }
        let kind = t.kind.unwrap_or_default();
        let key = given(t.access_key_id).filter(|k| k.starts_with("ASIA"));
        if let (Some(key), "AssumedRole" | "FederatedUser") = (key, kind) {
            let arn = given(t.arn).unwrap_or_default();
            return self.reaching.contains(key)
                || given(t.source_identity) == Some(v)
                || arn == v
                || arn.strip_suffix(v).is_some_and(|p| p.ends_with('/'));
        }
        let holds = |f: Option<&str>| given(f).is_some_and(|s| s.contains(v));
        holds(t.arn)
            || holds(t.user_name)
            || holds(t.principal_id)
            || holds(t.invoked_by)
            || given(t.on_behalf_of).is_some_and(|s| s.contains(v) || s.contains('\\'))
            || (matches!(kind, "Root" | "IAMUser") && given(t.arn).is_none())
    }

    /// An error if a read of the catalog failed ([`Lazy::check`]).
    pub fn check(&self) -> Result<()> {
        self.walks.check()
    }

    /// Keys that may reach the value, and keys read from the catalog.
    pub fn counts(&self) -> (usize, usize) {
        (self.reaching.len(), self.walks.keys_read())
    }
}
