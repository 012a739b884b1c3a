//! The rules detection runs now: those of the configuration file, plus what
//! administrators changed on the Rules page or through the API — alarms declared
//! there, and rules switched off or on. Both are kept in the data directory's
//! `catalog.db` (tables `declared_alarms` and `rule_switches`, owned by this module)
//! so they survive restarts.
//!
//! [`Library::current`] hands out the effective [`Definitions`]; every change builds
//! new ones and swaps them in, so the detection loop and the pages each read one
//! consistent set. Alarms of the configuration file or of a pack can be switched
//! off but not edited here (the file is the truth for them); alarms declared here
//! can be edited and removed. Disabling an alarm stops its metric (no points, no
//! evaluation) until it is enabled again; disabling a rule stops its alerts (a
//! Sigma rule that feeds a correlation still counts there: switch the correlation
//! off too).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use auditwatch_rules::sigma::RuleMatch;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::Definitions;
use crate::config::{self, AlarmSettings, switch_key};

/// The origin of alarms declared on the Rules page or through the API.
pub const FROM_UI: &str = "UI";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS declared_alarms(
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_switches(
    rule TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
"#;

/// Why a change was refused or could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The alarm table is wrong (the message names the setting).
    #[error("{0}")]
    Invalid(String),
    /// An alarm of that name exists.
    #[error("an alarm named `{0}` already exists")]
    Exists(String),
    /// No alarm or rule of that name or key.
    #[error("no {0}")]
    NotFound(String),
    /// The alarm comes from the configuration file or a pack.
    #[error("alarm `{0}` is declared in the configuration file or a pack: change it there")]
    FromConfig(String),
    /// SQLite failed.
    #[error("rule library: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// Who last changed something, and when (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The user.
    pub by: String,
    /// When (seconds since the epoch).
    pub at: i64,
}

#[derive(Debug, Clone)]
struct Declared {
    settings: AlarmSettings,
    change: Change,
}

#[derive(Debug, Clone)]
struct Switch {
    enabled: bool,
    change: Change,
}

/// One rule or alarm as the Rules page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// `alarm`, `rule` (filter pattern), `sigma` or `correlation`.
    pub kind: &'static str,
    /// Name or id.
    pub id: String,
    /// What it means.
    pub title: String,
    /// Alert level.
    pub level: String,
    /// `configuration file`, a pack (`builtin:cis`), a rule file (`path:line`) or `UI`.
    pub origin: String,
    /// Whether it runs.
    pub enabled: bool,
    /// The last switch or edit made here.
    pub changed: Option<Change>,
    /// The filter pattern (alarms and filter-pattern rules).
    pub pattern: Option<String>,
    /// The alarm's condition in words.
    pub condition: Option<String>,
    /// The table of an alarm declared here (to edit it).
    pub settings: Option<AlarmSettings>,
}

#[derive(Debug)]
struct State {
    declared: BTreeMap<String, Declared>,
    switches: HashMap<String, Switch>,
    current: Arc<Definitions>,
}

/// The configuration file's definitions plus the changes made here.
#[derive(Debug)]
pub struct Library {
    catalog: Option<PathBuf>,
    file: Definitions,
    state: RwLock<State>,
}

impl Default for Library {
    fn default() -> Self {
        Self::fixed(Definitions::default())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn open(path: &Path) -> Result<Connection, LibraryError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// The effective definitions: the file's, the declared alarms, less what is off.
fn build(
    file: &Definitions,
    declared: &BTreeMap<String, Declared>,
    switches: &HashMap<String, Switch>,
) -> (Definitions, Vec<String>) {
    let mut defs = file.clone();
    let names = file.channel_names();
    let mut warnings = Vec::new();
    for (name, d) in declared {
        match config::alarm(d.settings.clone(), &names, FROM_UI) {
            Ok((def, _)) => defs.alarms.push(def),
            Err(e) => warnings.push(format!("declared alarm `{name}` not loaded: {e}")),
        }
    }
    let off = |kind: &str, id: &str| {
        switches
            .get(&switch_key(kind, id))
            .is_some_and(|s| !s.enabled)
    };
    defs.alarms.retain(|a| !off("alarm", &a.name));
    defs.rules.retain(|r| !off("rule", &r.id));
    defs.disabled = switches
        .iter()
        .filter(|(_, s)| !s.enabled)
        .map(|(k, _)| k.clone())
        .collect();
    (defs, warnings)
}

impl Library {
    /// Definitions that no one changes (tests, tools, a router without a data
    /// directory): every change is refused.
    pub fn fixed(file: Definitions) -> Self {
        Self {
            catalog: None,
            state: RwLock::new(State {
                declared: BTreeMap::new(),
                switches: HashMap::new(),
                current: Arc::new(file.clone()),
            }),
            file,
        }
    }

    /// The file's definitions plus the changes kept in `<data_dir>/catalog.db`.
    /// Returns warnings for declared alarms that no longer load (a channel removed
    /// from the file, say): they are kept, and listed, but do not run.
    pub fn open(data_dir: &Path, file: Definitions) -> Result<(Self, Vec<String>), LibraryError> {
        let path = data_dir.join("catalog.db");
        let conn = open(&path)?;
        let mut declared = BTreeMap::new();
        let mut warnings = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT name, config, changed_by, changed_at FROM declared_alarms ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?;
            for row in rows {
                let (name, text, by, at) = row?;
                match serde_json::from_str::<AlarmSettings>(&text) {
                    Ok(settings) => {
                        declared.insert(
                            name,
                            Declared {
                                settings,
                                change: Change { by, at },
                            },
                        );
                    }
                    Err(e) => warnings.push(format!(
                        "declared alarm `{name}` is stored in a form this version cannot read: {e}"
                    )),
                }
            }
        }
        let mut switches = HashMap::new();
        {
            let mut stmt =
                conn.prepare("SELECT rule, enabled, changed_by, changed_at FROM rule_switches")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Switch {
                        enabled: r.get(1)?,
                        change: Change {
                            by: r.get(2)?,
                            at: r.get(3)?,
                        },
                    },
                ))
            })?;
            for row in rows {
                let (k, s) = row?;
                switches.insert(k, s);
            }
        }
        let (current, w) = build(&file, &declared, &switches);
        warnings.extend(w);
        Ok((
            Self {
                catalog: Some(path),
                file,
                state: RwLock::new(State {
                    declared,
                    switches,
                    current: Arc::new(current),
                }),
            },
            warnings,
        ))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What detection runs now.
    pub fn current(&self) -> Arc<Definitions> {
        self.read().current.clone()
    }

    /// The configuration file's definitions, as loaded.
    pub fn file(&self) -> &Definitions {
        &self.file
    }

    /// Whether changes can be made (a data directory is behind it).
    pub fn editable(&self) -> bool {
        self.catalog.is_some()
    }

    fn conn(&self) -> Result<Connection, LibraryError> {
        match &self.catalog {
            Some(p) => open(p),
            None => Err(LibraryError::Invalid(
                "this server keeps no rule changes (no data directory)".into(),
            )),
        }
    }

    /// Applies `change` to a copy of the state, checks the result, lets `keep`
    /// write it to SQLite, then swaps it in. Holding the write lock throughout keeps
    /// two changes from interleaving.
    fn change(
        &self,
        edit: impl FnOnce(&mut State) -> Result<(), LibraryError>,
        keep: impl FnOnce(&Connection) -> Result<(), LibraryError>,
    ) -> Result<(), LibraryError> {
        let conn = self.conn()?;
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = State {
            declared: state.declared.clone(),
            switches: state.switches.clone(),
            current: state.current.clone(),
        };
        edit(&mut next)?;
        let (current, _) = build(&self.file, &next.declared, &next.switches);
        keep(&conn)?;
        next.current = Arc::new(current);
        *state = next;
        Ok(())
    }

    /// Checks an alarm table as `[[alarms]]` would be, with this server's channels.
    /// Returns its lint warnings (a statistic that cannot count matches, say).
    pub fn check_alarm(&self, settings: &AlarmSettings) -> Result<Vec<String>, LibraryError> {
        config::alarm(settings.clone(), &self.file.channel_names(), FROM_UI)
            .map(|(_, w)| w)
            .map_err(|e| LibraryError::Invalid(e.to_string()))
    }

    fn in_file(&self, name: &str) -> bool {
        self.file.alarms.iter().any(|a| a.name == name)
    }

    /// Declares a new alarm. It counts events detected from now on.
    pub fn declare_alarm(&self, settings: AlarmSettings, by: &str) -> Result<(), LibraryError> {
        self.check_alarm(&settings)?;
        let name = settings.name.clone();
        if self.in_file(&name) {
            return Err(LibraryError::Exists(name));
        }
        let change = Change {
            by: by.to_string(),
            at: now(),
        };
        let text = serde_json::to_string(&settings).expect("an alarm table serializes");
        self.change(
            |s| {
                if s.declared.contains_key(&name) {
                    return Err(LibraryError::Exists(name.clone()));
                }
                s.declared.insert(
                    name.clone(),
                    Declared {
                        settings,
                        change: change.clone(),
                    },
                );
                Ok(())
            },
            |c| {
                c.execute(
                    "INSERT INTO declared_alarms(name, config, changed_by, changed_at) VALUES (?1, ?2, ?3, ?4)",
                    params![name, text, change.by, change.at],
                )?;
                Ok(())
            },
        )
    }

    /// Replaces a declared alarm's table (`settings.name` must be `name`). Its
    /// metric keeps the points already counted, as CloudWatch keeps a metric's data
    /// when its filter changes; new events count under the new table.
    pub fn update_alarm(
        &self,
        name: &str,
        settings: AlarmSettings,
        by: &str,
    ) -> Result<(), LibraryError> {
        if settings.name != name {
            return Err(LibraryError::Invalid(format!(
                "name: `{}` differs from the alarm being changed, `{name}` (an alarm cannot be renamed)",
                settings.name
            )));
        }
        if self.in_file(name) {
            return Err(LibraryError::FromConfig(name.to_string()));
        }
        self.check_alarm(&settings)?;
        let change = Change {
            by: by.to_string(),
            at: now(),
        };
        let text = serde_json::to_string(&settings).expect("an alarm table serializes");
        self.change(
            |s| match s.declared.get_mut(name) {
                Some(d) => {
                    d.settings = settings;
                    d.change = change.clone();
                    Ok(())
                }
                None => Err(LibraryError::NotFound(format!("alarm named `{name}`"))),
            },
            |c| {
                c.execute(
                    "UPDATE declared_alarms SET config = ?2, changed_by = ?3, changed_at = ?4 WHERE name = ?1",
                    params![name, text, change.by, change.at],
                )?;
                Ok(())
            },
        )
    }

    /// Removes a declared alarm (its state and history stay in the catalog).
    pub fn remove_alarm(&self, name: &str) -> Result<(), LibraryError> {
        if self.in_file(name) {
            return Err(LibraryError::FromConfig(name.to_string()));
        }
        let key = switch_key("alarm", name);
        self.change(
            |s| {
                s.switches.remove(&key);
                s.declared
                    .remove(name)
                    .map(|_| ())
                    .ok_or_else(|| LibraryError::NotFound(format!("alarm named `{name}`")))
            },
            |c| {
                c.execute("DELETE FROM declared_alarms WHERE name = ?1", [name])?;
                c.execute("DELETE FROM rule_switches WHERE rule = ?1", [&key])?;
                Ok(())
            },
        )
    }

    /// Switches a rule or alarm (by kind and id, as [`Library::entries`] lists them)
    /// on or off.
    pub fn set_enabled(
        &self,
        kind: &str,
        id: &str,
        enabled: bool,
        by: &str,
    ) -> Result<(), LibraryError> {
        if !self.entries().iter().any(|e| e.kind == kind && e.id == id) {
            return Err(LibraryError::NotFound(format!("{kind} with id `{id}`")));
        }
        let key = switch_key(kind, id);
        let switch = Switch {
            enabled,
            change: Change {
                by: by.to_string(),
                at: now(),
            },
        };
        self.change(
            |s| {
                s.switches.insert(key.clone(), switch.clone());
                Ok(())
            },
            |c| {
                c.execute(
                    "INSERT INTO rule_switches(rule, enabled, changed_by, changed_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(rule) DO UPDATE SET enabled = ?2, changed_by = ?3, changed_at = ?4",
                    params![key, enabled, switch.change.by, switch.change.at],
                )?;
                Ok(())
            },
        )
    }

    /// The table of an alarm declared here.
    pub fn declared(&self, name: &str) -> Option<AlarmSettings> {
        self.read().declared.get(name).map(|d| d.settings.clone())
    }

    /// Every alarm and rule, enabled or not: alarms first (file and packs, then
    /// declared here), then filter-pattern rules, Sigma rules and correlations.
    pub fn entries(&self) -> Vec<Entry> {
        let state = self.read();
        let switch = |kind: &str, id: &str| state.switches.get(&switch_key(kind, id));
        let names = self.file.channel_names();
        let alarm = |def: &crate::config::AlarmDef, declared: Option<&Declared>| {
            let s = switch("alarm", &def.name);
            Entry {
                kind: "alarm",
                id: def.name.clone(),
                title: def.title.clone(),
                level: def.level.clone(),
                origin: def.origin.clone(),
                enabled: s.is_none_or(|s| s.enabled),
                changed: [s.map(|s| &s.change), declared.map(|d| &d.change)]
                    .into_iter()
                    .flatten()
                    .max_by_key(|c| c.at)
                    .cloned(),
                pattern: Some(def.filter.pattern.to_string()),
                condition: Some(def.spec.describe()),
                settings: declared.map(|d| d.settings.clone()),
            }
        };
        let plain = |kind: &'static str, id: &str, title: &str, level: &str, origin: String| {
            let s = switch(kind, id);
            Entry {
                kind,
                id: id.to_string(),
                title: title.to_string(),
                level: level.to_string(),
                origin,
                enabled: s.is_none_or(|s| s.enabled),
                changed: s.map(|s| s.change.clone()),
                pattern: None,
                condition: None,
                settings: None,
            }
        };
        let mut out: Vec<Entry> = self.file.alarms.iter().map(|d| alarm(d, None)).collect();
        for d in state.declared.values() {
            out.push(match config::alarm(d.settings.clone(), &names, FROM_UI) {
                Ok((def, _)) => alarm(&def, Some(d)),
                Err(e) => Entry {
                    kind: "alarm",
                    id: d.settings.name.clone(),
                    title: format!("not loaded: {e}"),
                    level: d.settings.level.clone().unwrap_or_default(),
                    origin: FROM_UI.into(),
                    enabled: false,
                    changed: Some(d.change.clone()),
                    pattern: Some(d.settings.filter_pattern.clone()),
                    condition: None,
                    settings: Some(d.settings.clone()),
                },
            });
        }
        for r in &self.file.rules {
            let mut e = plain("rule", &r.id, &r.title, &r.level, "rule file".into());
            e.pattern = Some(r.pattern.to_string());
            out.push(e);
        }
        if let Some(sigma) = &self.file.sigma {
            let place = |m: &auditwatch_rules::sigma::Meta| format!("{}:{}", m.file, m.line);
            for i in 0..sigma.rule_count() {
                let m = RuleMatch(i);
                if sigma.alerts(m) {
                    let r = sigma.rule(m);
                    out.push(plain("sigma", &r.id, &r.title, &r.level, place(r)));
                }
            }
            for i in 0..sigma.correlation_count() {
                let c = sigma.correlation(i);
                out.push(plain("correlation", &c.id, &c.title, &c.level, place(c)));
            }
        }
        out
    }
}
