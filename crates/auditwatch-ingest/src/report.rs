//! What an ingest run reports: counts and every rejected input with its reason.

/// A rejected input (file, archive entry or record) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, `archive!entry`, or `file#record N`.
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Totals of one ingest run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Files (and archive entries) read.
    pub files_read: u64,
    /// Files skipped because they were already taken unchanged.
    pub files_unchanged: u64,
    /// Digest files and other services' files recognised and skipped.
    pub files_skipped: u64,
    /// Files rejected whole.
    pub files_rejected: u64,
    /// Records read.
    pub events_read: u64,
    /// Good events the source's filter left out.
    pub events_filtered: u64,
    /// Events newly stored.
    pub events_added: u64,
    /// Events already stored (or repeated), not added again.
    pub duplicates: u64,
    /// Records rejected.
    pub records_rejected: u64,
    /// Compressed bytes read.
    pub bytes_read: u64,
    /// Rejected inputs with reasons (the first few hundred; counts are complete).
    pub problems: Vec<Problem>,
    /// Problems not listed because there were too many.
    pub problems_not_listed: u64,
}

/// Most problems listed in a summary.
pub const MAX_LISTED_PROBLEMS: usize = 500;

impl Summary {
    /// Whether any input was rejected (exit status 2).
    pub fn has_rejections(&self) -> bool {
        self.files_rejected > 0 || self.records_rejected > 0
    }

    /// Adds the totals and problems of another run (a later chunk of the same pass).
    pub fn add(&mut self, other: &Summary) {
        self.files_read += other.files_read;
        self.files_unchanged += other.files_unchanged;
        self.files_skipped += other.files_skipped;
        self.files_rejected += other.files_rejected;
        self.events_read += other.events_read;
        self.events_filtered += other.events_filtered;
        self.events_added += other.events_added;
        self.duplicates += other.duplicates;
        self.records_rejected += other.records_rejected;
        self.bytes_read += other.bytes_read;
        for p in &other.problems {
            self.problem(&p.input, &p.reason);
        }
        self.problems_not_listed += other.problems_not_listed;
    }

    /// Lists a rejected input (up to [`MAX_LISTED_PROBLEMS`]; the rest are counted).
    pub fn problem(&mut self, input: impl Into<String>, reason: impl Into<String>) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(Problem {
                input: input.into(),
                reason: reason.into(),
            });
        } else {
            self.problems_not_listed += 1;
        }
    }
}
