//! Origins: who is behind each stored event, through the sessions index.
//!
//! [`Origins`] is a copy of the catalog's sessions index (every temporary key an
//! ingested call issued) with each key's walk to its origin done once
//! ([`auditwatch_event::identity::attribute`]), so that an event's origin is one map
//! read. The store keeps one copy and reloads it when the index may have changed
//! ([`OriginsCache`]): rows are added, or replaced by a preferred copy, only in a
//! commit that adds a segment (or in the one-time fill of an older lake), and removed
//! only by retention, which counts its changes in a generation; so the number of rows,
//! the newest segment id and that generation tell whether a copy is current. An
//! event's origin depends only on which issuing events are stored, never on the order
//! they arrived in.
//!
//! Queries read origins through [`udf`] (`origin(userIdentity)` and its kin, and the
//! `origin` filter of lookups) and the `sessions` table ([`table`]). A lookup by origin
//! that the direct path answers reads only the keys its rows name, from the catalog
//! ([`lazy`]): the same answers as a loaded copy, without loading the whole index.

pub mod lazy;
pub mod table;
pub mod udf;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use auditwatch_catalog::TableCatalog;
use auditwatch_catalog::scope::Scope;
use auditwatch_event::identity::{Attribution, Issued, Origin, Principal, attribute};

use crate::error::{Result, StoreError};

/// Where an event's origin is read from: a loaded copy of the index ([`Origins`]) or
/// the catalog key by key ([`lazy::Lazy`]). Both answer [`origin_of`] alike.
pub trait Walks {
    /// The recorded issue of `key`.
    fn issued(&self, key: &str) -> Option<Issued>;
    /// The origin of a session of `key` without a source identity of its own, walked
    /// from its recorded issue; `None` when the index does not hold `key`.
    fn walked(&self, key: &str) -> Option<Origin>;
}

/// The walk [`Origins::new`] does for `key`, issued as `issued` says.
pub fn walk_from(issued: &Issued, lookup: impl Fn(&str) -> Option<Issued>) -> Origin {
    let start = Principal::Session {
        access_key_id: issued.access_key_id.clone(),
        session_arn: issued.session_arn.clone().unwrap_or_default(),
        role_arn: None,
        source_identity: None,
    };
    attribute(&start, lookup).origin
}

/// The origin of a call made by `who`: what [`attribute`] answers, from the walk of
/// its key done once.
pub fn origin_of(walks: &dyn Walks, who: &Principal) -> Origin {
    if let Principal::Session {
        access_key_id,
        source_identity,
        ..
    } = who
        && let Some(walked) = walks.walked(access_key_id)
    {
        // The walk from the key is the event's walk, except that the event's own
        // source identity, when it has one, names an origin the walk could not
        // reach before the issuing calls' do.
        return match (walked, source_identity) {
            (walked @ Origin::Resolved(_), _) | (walked, None) => walked,
            (_, Some(s)) => Origin::SourceIdentity(s.clone()),
        };
    }
    attribute(who, |k| walks.issued(k)).origin
}

/// The sessions index with each key's origin.
#[derive(Debug, Default)]
pub struct Origins {
    issued: HashMap<String, Issued>,
    /// The origin of a session of each key, for a session without a source identity
    /// of its own.
    walked: HashMap<String, Origin>,
}

impl Origins {
    /// The index `all` holds, every key walked.
    pub fn new(all: Vec<Issued>) -> Self {
        let issued: HashMap<String, Issued> = all
            .into_iter()
            .map(|i| (i.access_key_id.clone(), i))
            .collect();
        let walked = issued
            .values()
            .map(|i| {
                let origin = walk_from(i, |k| issued.get(k).cloned());
                (i.access_key_id.clone(), origin)
            })
            .collect();
        Self { issued, walked }
    }

    /// How many keys the index holds.
    pub fn len(&self) -> usize {
        self.issued.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.issued.is_empty()
    }

    /// The recorded issue of `key`.
    pub fn issued(&self, key: &str) -> Option<&Issued> {
        self.issued.get(key)
    }

    /// Every recorded issue with its key's origin.
    pub fn sessions(&self) -> impl Iterator<Item = (&Issued, &Origin)> {
        self.issued
            .iter()
            .filter_map(|(k, i)| Some((i, self.walked.get(k)?)))
    }

    /// The origin of a call made by `who` ([`origin_of`]).
    pub fn origin(&self, who: &Principal) -> Origin {
        origin_of(self, who)
    }

    /// The whole attribution of a call made by `who` (the chain copied out).
    pub fn attribute(&self, who: &Principal) -> Attribution {
        attribute(who, |k| self.issued.get(k).cloned())
    }
}

impl Walks for Origins {
    fn issued(&self, key: &str) -> Option<Issued> {
        self.issued.get(key).cloned()
    }
    fn walked(&self, key: &str) -> Option<Origin> {
        self.walked.get(key).cloned()
    }
}

/// The account of an ARN (`arn:aws:sts::<account>:assumed-role/…`); `None` for text
/// that is not an ARN (a subject, a service name).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?
        .split(':')
        .nth(3)
        .filter(|a| !a.is_empty())
}

/// The name of `origin` as `scope` may see it: every origin's, except an unresolved
/// one's — the role session the walk stopped at — when that session is in an account
/// `scope` does not see (then it is a hop of someone else's account, not a name).
pub fn visible_name<'o>(origin: &'o Origin, scope: &Scope) -> Option<&'o str> {
    match origin {
        Origin::Unresolved { session_arn, .. }
            if !arn_account(session_arn).is_some_and(|a| scope.allows(a)) =>
        {
            None
        }
        o => Some(o.name()).filter(|n| !n.is_empty()),
    }
}

/// Whether `value` names `origin` as `scope` sees it ([`visible_name`]).
pub fn visible_match(origin: &Origin, scope: &Scope, value: &str) -> bool {
    visible_name(origin, scope).is_some() && origin.matches(value)
}

/// Whether `scope` sees the session `issued` opened: its role's account (from the
/// session ARN) or the account its issuing call was recorded in.
pub fn in_scope(scope: &Scope, issued: &Issued) -> bool {
    let role_account = issued.session_arn.as_deref().and_then(arn_account);
    [role_account, issued.account.as_deref()]
        .into_iter()
        .flatten()
        .any(|a| scope.allows(a))
}

/// What a copy of the index was read at: its number of rows, the newest segment and
/// retention's generation ([`auditwatch_catalog::table::SESSIONS_GENERATION`]).
type Version = (u64, Option<i64>, Option<String>);

/// The store's copy of [`Origins`], reloaded when the index may have changed.
#[derive(Debug, Default)]
pub struct OriginsCache {
    current: Mutex<Option<(Version, Arc<Origins>)>>,
}

impl OriginsCache {
    /// The current origins of `table`'s index, whose newest segment is `newest`.
    pub fn get(&self, table: &dyn TableCatalog, newest: Option<i64>) -> Result<Arc<Origins>> {
        let generation = || table.meta(auditwatch_catalog::table::SESSIONS_GENERATION);
        let version = (table.sessions_count()?, newest, generation()?);
        let mut current = self.current.lock().map_err(|_| poisoned())?;
        if let Some((v, origins)) = current.as_ref()
            && *v == version
        {
            return Ok(origins.clone());
        }
        let origins = Arc::new(Origins::new(table.all_sessions()?));
        let version = (origins.len() as u64, newest, version.2);
        *current = Some((version, origins.clone()));
        Ok(origins)
    }
}

fn poisoned() -> StoreError {
    StoreError::Query("the origins cache was poisoned by a failed reader".into())
}

/// Origins for one query session: loaded from the store's cache when a query first
/// reads one, so sessions whose queries never do cost nothing.
pub struct OriginsSource {
    load: Box<dyn Fn() -> Result<Arc<Origins>> + Send + Sync>,
    loaded: OnceLock<std::result::Result<Arc<Origins>, String>>,
    /// Whose session it is: hops of a chain outside it are not shown.
    pub scope: Scope,
}

impl std::fmt::Debug for OriginsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginsSource")
            .field("loaded", &self.loaded.get().is_some())
            .field("scope", &self.scope)
            .finish()
    }
}

impl OriginsSource {
    /// A source that calls `load` at most once.
    pub fn new(
        scope: Scope,
        load: impl Fn() -> Result<Arc<Origins>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            load: Box::new(load),
            loaded: OnceLock::new(),
            scope,
        }
    }

    /// A source of fixed origins (tests, and callers that loaded them already).
    pub fn fixed(scope: Scope, origins: Arc<Origins>) -> Self {
        Self::new(scope, move || Ok(origins.clone()))
    }

    /// The origins, loaded on first use.
    pub fn get(&self) -> std::result::Result<Arc<Origins>, String> {
        self.loaded
            .get_or_init(|| (self.load)().map_err(|e| e.to_string()))
            .clone()
    }
}
