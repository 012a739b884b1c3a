//! Test support (feature `testing`): committing CloudTrail records given as JSON
//! text, rewriting segments as older writers did, and (from the catalog crate) a
//! PostgreSQL server of its own for the shared catalog's tests.

pub use auditwatch_catalog::testing::{Postgres, postgres};

/// Commits the records `texts` (CloudTrail JSON, one record each) as one source object
/// at `location`, read from a key naming `account` if given; panics on failure.
pub fn commit_records(
    store: &crate::Store,
    texts: &[String],
    location: &str,
    account: Option<&str>,
) -> crate::CommitStats {
    let mut w = store.writer().expect("the writer");
    commit_with(&mut w, texts, location, account)
}

/// Stages `texts` as read from `location` (an object whose S3 key names `account`) in
/// `w`, and commits them.
pub fn commit_with(
    w: &mut crate::Writer,
    texts: &[String],
    location: &str,
    account: Option<&str>,
) -> crate::CommitStats {
    let rows: Vec<crate::write::convert::EventRow<'_>> = texts
        .iter()
        .map(|t| crate::write::convert::EventRow {
            record: auditwatch_event::Record::parse(t).expect("a CloudTrail record"),
            account_from_key: account,
            source: location,
        })
        .collect();
    w.stage(
        crate::write::convert::to_day_batches(&rows),
        crate::SourceObject {
            location: location.into(),
            size: Some(1),
            mtime: Some(1),
            etag: None,
            status: "done".into(),
            records: texts.len() as u64,
            errors: 0,
            reason: None,
        },
    );
    w.commit().expect("the commit")
}

/// Rewrites every listed segment of `store` whose path contains `matching` as a writer
/// from before the token index would have written it (same rows, plain Parquet, no
/// index), and updates its size in the catalog; returns how many were rewritten.
pub fn strip_token_indexes(store: &crate::Store, matching: &str) -> usize {
    use datafusion::parquet::arrow::ArrowWriter;
    let catalog = store.catalog().expect("catalog");
    let mut n = 0;
    for s in catalog.segments().expect("segments") {
        if !s.path.contains(matching) {
            continue;
        }
        let path = store.lake().join(&s.path);
        let batches = crate::write::segment::read_batches(&path).expect("a segment");
        let file = std::fs::File::create(&path).expect("rewrite");
        let mut w = ArrowWriter::try_new(file, crate::schema::events_schema(), None).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        catalog
            .set_segment_bytes(&s.path, bytes)
            .expect("update the size");
        n += 1;
    }
    n
}
