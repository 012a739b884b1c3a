//! The timeline `hunt` prints: a day's matches, sorted by time (then rule id, then
//! event id, so ties break the same way on every run) and written a line each.
//!
//! A match ([`Hit`]) points into the day's scanned batches, so a line costs a sort
//! entry and its text, nothing more.

use auditwatch_detect::hunt::{Ev, Hit, Meta};
use auditwatch_store::direct::scan::ScanBatch;

use crate::output::{Cell, RowWriter, json_text, needs_escape};

/// The timeline's columns.
pub const COLUMNS: [&str; 10] = [
    "account",
    "author",
    "eventID",
    "eventName",
    "level",
    "rule",
    "sourceIPAddress",
    "time",
    "title",
    "user",
];

/// A text cell, [`Cell::Clean`] when its column needs no escapes.
fn text(clean: bool, t: Option<&str>) -> Cell<'_> {
    if clean { Cell::Clean(t) } else { Cell::Text(t) }
}

/// A line in the order of the timeline: time, rule rank, event id, hit.
type Line<'a> = (i64, u32, Option<&'a str>, u32);

/// What a day's lines are made of.
struct Lines<'d> {
    metas: &'d [Meta],
    day: &'d [ScanBatch],
    hits: &'d [Hit],
    /// Per rule: author, level, id and title as JSON.
    json: &'d [[Vec<u8>; 4]],
    /// Per batch: which timeline columns need no escapes.
    clean: &'d [[bool; 5]],
}

impl Lines<'_> {
    /// Calls `f` with the cells of each line, in order.
    fn each(
        &self,
        lines: &[Line<'_>],
        mut f: impl FnMut(&[Cell<'_>]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        // Lines come in time order: a time is written once per second it covers.
        let mut time: Option<String> = None;
        let mut last_second = None;
        for &(t, _, _, n) in lines {
            let h = &self.hits[n as usize];
            let (e, m) = (h.ev.get(self.day), &self.metas[h.rule as usize]);
            let [author, level, rule, title] = &self.json[h.rule as usize];
            let [id_ok, account_ok, user_ok, name_ok, ip_ok] = match h.ev {
                Ev::At(b, _) => self.clean[b as usize],
                Ev::Kept(_) => [false; 5],
            };
            if last_second != Some(t.div_euclid(1_000_000)) {
                time = chrono::DateTime::from_timestamp_micros(t)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                last_second = Some(t.div_euclid(1_000_000));
            }
            // In the order of COLUMNS. A time as written needs no escapes.
            f(&[
                text(account_ok, e.account_id),
                Cell::Known(m.author.as_deref(), author),
                text(id_ok, e.event_id),
                text(name_ok, e.event_name),
                Cell::Known(Some(&m.level), level),
                Cell::Known(Some(&m.id), rule),
                text(ip_ok, e.source_ip),
                Cell::Clean(time.as_deref()),
                Cell::Known(Some(&m.title), title),
                text(user_ok, e.username),
            ])?;
        }
        Ok(())
    }
}

/// Sorts a day's lines and writes them; `spread` lays JSON lines out on two
/// threads (for when no scan is running beside).
pub fn write_day(
    writer: &mut RowWriter<'_>,
    metas: &[Meta],
    day: &[ScanBatch],
    hits: Vec<Hit>,
    spread: bool,
) -> std::io::Result<()> {
    // Rules by id: a line's rank among the rules replaces comparing ids.
    let mut by_id: Vec<usize> = (0..metas.len()).collect();
    by_id.sort_by(|a, b| metas[*a].id.cmp(&metas[*b].id));
    let mut rank = vec![0u32; metas.len()];
    let mut r = 0;
    for (n, &m) in by_id.iter().enumerate() {
        if n > 0 && metas[m].id != metas[by_id[n - 1]].id {
            r += 1;
        }
        rank[m] = r;
    }
    // What a line says of its rule, as JSON once for all its lines.
    let json: Vec<[Vec<u8>; 4]> = metas
        .iter()
        .map(|m| {
            [
                json_text(m.author.as_deref()),
                json_text(Some(&m.level)),
                json_text(Some(&m.id)),
                json_text(Some(&m.title)),
            ]
        })
        .collect();
    let mut order: Vec<Line<'_>> = hits
        .iter()
        .enumerate()
        .map(|(n, h)| {
            let e = h.ev.get(day);
            (e.time_us, rank[h.rule as usize], e.event_id, n as u32)
        })
        .collect();
    order.sort_unstable();
    // Columns of a batch with no text to escape anywhere need no check per value.
    let clean: Vec<[bool; 5]> = day
        .iter()
        .map(|b| b.timeline_text().map(|t| !needs_escape(t)))
        .collect();
    let lines = Lines {
        metas,
        day,
        hits: &hits,
        json: &json,
        clean: &clean,
    };
    let layout = match writer.json_layout() {
        Some(layout) if spread => layout,
        _ => return lines.each(&order, |cells| writer.write_cells(cells)),
    };
    // JSON laid out on two threads, a block each at a time, and written in order.
    const BLOCK: usize = 1 << 15;
    let (mut text_a, mut text_b) = (Vec::new(), Vec::new());
    for pair in order.chunks(2 * BLOCK) {
        let (a, b) = pair.split_at(pair.len().min(BLOCK));
        let first = writer.written() == 0;
        let lay_out = |part: &[Line<'_>], first: bool, text: &mut Vec<u8>| {
            text.clear();
            let mut first = first;
            // Writing to a Vec cannot fail.
            let _ = lines.each(part, |cells| {
                layout.row(text, first, cells);
                first = false;
                Ok(())
            });
        };
        std::thread::scope(|s| {
            let tb = s.spawn(|| lay_out(b, first && a.is_empty(), &mut text_b));
            lay_out(a, first, &mut text_a);
            tb.join()
        })
        .map_err(|_| std::io::Error::other("laying out lines panicked"))?;
        writer.write_laid_out(&text_a, a.len())?;
        writer.write_laid_out(&text_b, b.len())?;
    }
    Ok(())
}
