//! Cells of the CSV files Auditwatch writes (exports, the audit log, SQL results),
//! made safe to open in a spreadsheet.

/// Neutralises a cell that a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab, CR).
pub fn safe_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}
