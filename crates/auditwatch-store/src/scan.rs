//! A streaming scan of stored events for detection (`hunt`): the few columns a
//! timeline shows plus each record's exact text, batch by batch, never the whole
//! window in memory.

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::prelude::ident;
use futures::StreamExt;

use crate::Store;
use crate::error::Result;
use crate::lookup::ts;
use crate::scope::Scope;

/// One stored event as a scan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Scanned<'a> {
    /// `eventTime` (µs).
    pub time_us: i64,
    /// `eventID`.
    pub event_id: Option<&'a str>,
    /// `accountId`.
    pub account_id: Option<&'a str>,
    /// `username`.
    pub username: Option<&'a str>,
    /// `eventName`.
    pub event_name: Option<&'a str>,
    /// `sourceIPAddress`.
    pub source_ip: Option<&'a str>,
    /// The record's exact text.
    pub raw: &'a str,
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// One batch of a scan, sendable to another thread (its columns are shared, not
/// copied).
#[derive(Debug, Clone)]
pub struct ScanBatch {
    time: datafusion::arrow::array::TimestampMicrosecondArray,
    strings: [StringArray; 6],
}

impl ScanBatch {
    fn new(batch: &datafusion::arrow::array::RecordBatch) -> Self {
        let s = |i: usize| batch.column(i).as_string::<i32>().clone();
        Self {
            time: batch
                .column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .clone(),
            strings: [s(1), s(2), s(3), s(4), s(5), s(6)],
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> Scanned<'_> {
        let [id, account, user, name, ip, raw] = &self.strings;
        Scanned {
            time_us: self.time.value(i),
            event_id: opt(id, i),
            account_id: opt(account, i),
            username: opt(user, i),
            event_name: opt(name, i),
            source_ip: opt(ip, i),
            raw: raw.value(i),
        }
    }
}

impl Store {
    /// Calls `f` for every event `scope` sees with `eventTime` in `[start, end]` (µs,
    /// either open), in no particular order. Returns how many were scanned.
    pub async fn scan(
        &self,
        scope: &Scope,
        start: Option<i64>,
        end: Option<i64>,
        mut f: impl FnMut(&Scanned<'_>),
    ) -> Result<u64> {
        self.scan_batches(scope, start, end, |b| {
            for i in 0..b.len() {
                f(&b.row(i));
            }
        })
        .await
    }

    /// As [`Store::scan`], a batch at a time (to hand batches to other threads).
    pub async fn scan_batches(
        &self,
        scope: &Scope,
        start: Option<i64>,
        end: Option<i64>,
        mut f: impl FnMut(ScanBatch),
    ) -> Result<u64> {
        let ctx = self.session(scope)?;
        let mut df = ctx.table("events").await?;
        if let Some(s) = start {
            df = df.filter(ident("eventTime").gt_eq(ts(s)))?;
        }
        if let Some(e) = end {
            df = df.filter(ident("eventTime").lt_eq(ts(e)))?;
        }
        let df = df.select(vec![
            ident("eventTime"),
            ident("eventID"),
            ident("accountId"),
            ident("username"),
            ident("eventName"),
            ident("sourceIPAddress"),
            ident("raw"),
        ])?;
        let mut stream = df.execute_stream().await?;
        let mut n = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            n += batch.num_rows() as u64;
            f(ScanBatch::new(&batch));
        }
        Ok(n)
    }
}
