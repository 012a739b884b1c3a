//! Local inputs: files, folders (recursive) and zip archives.

use std::path::{Path, PathBuf};

/// One local file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: Option<i64>,
}

/// Why a named input could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ListError {
    /// The input as given.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Whether a file found while walking a folder looks like CloudTrail data.
pub fn is_candidate(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    [
        ".json",
        ".json.gz",
        ".gz",
        ".zip",
        ".jsonl",
        ".ndjson",
        ".jsonl.gz",
        ".ndjson.gz",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Lists the files under `inputs`. Folders are walked recursively and only files that
/// look like CloudTrail data are taken; a file named directly is always taken.
/// Returns the files (sorted, deduplicated) and how many were passed over.
pub fn list(inputs: &[PathBuf]) -> Result<(Vec<LocalFile>, u64), ListError> {
    let mut out = Vec::new();
    let mut ignored = 0;
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| ListError {
            path: input.display().to_string(),
            reason: e.to_string(),
        })?;
        let abs = std::path::absolute(input).unwrap_or_else(|_| input.clone());
        if meta.is_file() {
            out.push(local(abs, &meta));
            continue;
        }
        for entry in walkdir::WalkDir::new(&abs)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| ListError {
                path: input.display().to_string(),
                reason: e.to_string(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            if !is_candidate(entry.path()) {
                ignored += 1;
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                out.push(local(entry.into_path(), &meta));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok((out, ignored))
}

fn local(path: PathBuf, meta: &std::fs::Metadata) -> LocalFile {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    LocalFile {
        path,
        size: meta.len(),
        mtime,
    }
}
