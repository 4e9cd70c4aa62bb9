//! Renderers over plan and drift documents: terminal text, pull-request markdown, and JSON.
//!
//! Plans and drift reports are plain data (`crate::plan`); everything here only formats them.
//! Attribute lines and policy diffs are computed once ([`attributes`]) and merely styled by each
//! renderer, so the three formats cannot disagree about the facts.

pub mod access;
pub mod apply;
mod attributes;
pub mod document;
pub mod drift;
pub mod history;
pub mod json;
pub mod markdown;
pub mod review;
pub mod text;

#[cfg(test)]
pub(crate) mod sample;

pub use access::{
    access_json, access_markdown, access_schema, access_text, envs_json, envs_markdown,
    envs_schema, envs_text,
};
pub use apply::{apply_result_json, apply_result_markdown, apply_result_schema};
pub use document::{Document, OutputFormat};
pub use drift::{drift_json, drift_markdown, drift_schema, drift_text};
pub use history::{status_json, status_text};
pub use json::{plan_json, plan_schema, snapshot_schema};
pub use markdown::{DEFAULT_MARKDOWN_MAX_CHARS, plan_markdown};
pub use review::{review_json, review_markdown, review_schema, review_text};
pub use text::plan_text;

/// What every rendering made from a snapshot says: where live state came from, how old it is,
/// and that nothing was asked of the cloud.
pub(crate) fn snapshot_note(snapshot: &crate::plan::SnapshotOrigin) -> String {
    snapshot_note_with(snapshot, |s| format!("`{s}`"), str::to_string)
}

/// [`snapshot_note`] in markdown: code spans, the rest escaped.
pub(crate) fn snapshot_note_markdown(snapshot: &crate::plan::SnapshotOrigin) -> String {
    snapshot_note_with(snapshot, markdown::code, markdown::text)
}

fn snapshot_note_with(
    snapshot: &crate::plan::SnapshotOrigin,
    code: impl Fn(&str) -> String,
    plain: impl Fn(&str) -> String,
) -> String {
    let account = snapshot
        .account
        .as_ref()
        .map(|a| format!(" of account {a}"))
        .unwrap_or_default();
    format!(
        "{} {} {} {}{} {} {}",
        plain("live state comes from snapshot"),
        code(&snapshot.file),
        plain(&format!(
            "taken {} ({} old){account}, fingerprint",
            crate::model::time::utc(i64::try_from(snapshot.taken_at).unwrap_or(i64::MAX)),
            crate::plan::snapshot::age_text(snapshot.age_seconds)
        )),
        code(text::short_commit(&snapshot.fingerprint)),
        plain(", not from a fresh read: no credentials and no network were used;"),
        code("msctl apply"),
        plain("re-reads live state and refuses a plan whose snapshot is out of date")
    )
}
