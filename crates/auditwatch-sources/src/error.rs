//! Why a source pass stopped.

/// A source's failure. A pass that fails is retried by the runner; nothing it had not
/// committed counts as taken.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source's settings are wrong (named in the message).
    #[error("{0}")]
    Config(String),
    /// AWS (or the S3/SQS-compatible service) refused or failed a request.
    #[error("{0}")]
    Remote(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] auditwatch_store::StoreError),
    /// The ingest pipeline failed.
    #[error(transparent)]
    Ingest(#[from] auditwatch_ingest::IngestError),
}

impl From<auditwatch_catalog::CatalogError> for SourceError {
    fn from(e: auditwatch_catalog::CatalogError) -> Self {
        SourceError::Store(e.into())
    }
}

/// An error and its causes on one line (the SDK's top-level message alone is often
/// just "service error").
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
