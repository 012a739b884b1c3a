//! What a hunt found: a match is a rule (an index into the hunt's [`Meta`]s) and a
//! place in the day's scanned batches, not a copy of the event. Most of the lines a
//! hunt prints come from rules that match nearly every record (CIS 4.1 as CIS writes
//! it), so a match costs a sort entry, nothing more; an event that must outlive its
//! day (the one completing a correlation's window) is kept as a [`Row`].

use std::sync::Arc;

use auditwatch_store::direct::scan::{ScanBatch, Scanned};

/// What a match says of its rule (correlation lines carry their measure in the title).
#[derive(Debug, Clone)]
pub struct Meta {
    /// The rule's id.
    pub id: String,
    /// Its title (a correlation's with its measure and group).
    pub title: String,
    /// Its level.
    pub level: String,
    /// Its author, when a Sigma rule names one.
    pub author: Option<String>,
}

/// What a line says of an event kept beyond its day (a correlation's window holds
/// the events it counts; the one that completes it is printed when it fires).
#[derive(Debug)]
pub struct Row {
    time_us: i64,
    account: Option<String>,
    user: Option<String>,
    event_name: Option<String>,
    source_ip: Option<String>,
    event_id: Option<String>,
}

impl Row {
    /// Keeps what the timeline shows of `e`.
    pub fn of(e: &Scanned<'_>) -> Self {
        let own = |s: Option<&str>| s.map(str::to_string);
        Self {
            time_us: e.time_us,
            account: own(e.account_id),
            user: own(e.username),
            event_name: own(e.event_name),
            source_ip: own(e.source_ip),
            event_id: own(e.event_id),
        }
    }

    /// Its `eventID`.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    fn scanned(&self) -> Scanned<'_> {
        Scanned {
            time_us: self.time_us,
            event_id: self.event_id.as_deref(),
            account_id: self.account.as_deref(),
            username: self.user.as_deref(),
            event_name: self.event_name.as_deref(),
            source_ip: self.source_ip.as_deref(),
            raw: None,
        }
    }
}

/// An event a line is about.
#[derive(Debug, Clone)]
pub enum Ev {
    /// Row `.1` of the day's batch `.0`.
    At(u32, u32),
    /// An event of any day, kept.
    Kept(Arc<Row>),
}

impl Ev {
    /// The event, from the day's batches.
    pub fn get<'a>(&'a self, day: &'a [ScanBatch]) -> Scanned<'a> {
        match self {
            Ev::At(b, i) => day[*b as usize].row(*i as usize),
            Ev::Kept(r) => r.scanned(),
        }
    }
}

/// One line: a rule (index into the metas) and its event.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The rule: an index into the day's metas.
    pub rule: u32,
    /// The event.
    pub ev: Ev,
}
