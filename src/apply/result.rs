//! [`ApplyResult`]: the versioned document `msctl apply --format json` writes on stdout, the
//! results of an apply as data (each change's outcome, error kind and duration, the summary),
//! with the plan it applied. `schema/apply.schema.json` is generated from these types.

use schemars::JsonSchema;
use serde::Serialize;

use super::{ApplyReport, ChangeResult};
use crate::plan::Plan;

/// The format version of [`ApplyResult`]; bumped when a field changes meaning or disappears.
pub const RESULT_FORMAT_VERSION: &str = "1";

/// How an apply ended, in one word a pipeline can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyStatus {
    /// The plan was empty; nothing was sent (exit 0).
    NoChanges,
    /// Every change was applied (manual steps may remain) (exit 0).
    Complete,
    /// A change failed or was skipped because one it depends on failed (exit 1).
    Failed,
    /// Stopped early (a signal: exit 130/143); `not_started` counts what did not run.
    Interrupted,
}

/// How many changes ended each way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ApplySummary {
    pub total: usize,
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    pub manual: usize,
    pub not_started: usize,
}

/// The result of `msctl apply`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ApplyResult {
    /// The version of this document's format (`"1"`).
    pub format_version: String,
    pub msctl_version: String,
    pub status: ApplyStatus,
    /// The summary line as printed (`Apply complete: 3 applied, 0 failed, 0 skipped, 0 manual.`).
    pub summary_line: String,
    pub summary: ApplySummary,
    /// Why the apply stopped early (`interrupted by SIGINT`); `null` when it ran to the end.
    pub stopped: Option<String>,
    /// Every change of the plan, in plan order.
    pub changes: Vec<ChangeResult>,
    /// The plan that was applied: the document `msctl plan --format json` prints.
    pub plan: Plan,
}

impl ApplyResult {
    /// The result of applying `plan` as `report` tells; `None` for a plan that was empty (no
    /// report: nothing ran).
    pub fn new(plan: &Plan, report: Option<&ApplyReport>) -> ApplyResult {
        let empty = ApplyReport::default();
        let report = report.unwrap_or(&empty);
        let status = if plan.is_empty() {
            ApplyStatus::NoChanges
        } else if !report.failed.is_empty() || !report.skipped.is_empty() {
            ApplyStatus::Failed
        } else if report.stopped.is_some() {
            ApplyStatus::Interrupted
        } else {
            ApplyStatus::Complete
        };
        let summary_line = if plan.is_empty() {
            "No changes.".to_string()
        } else {
            report.line()
        };
        ApplyResult {
            format_version: RESULT_FORMAT_VERSION.to_string(),
            msctl_version: env!("CARGO_PKG_VERSION").to_string(),
            status,
            summary_line,
            summary: ApplySummary {
                total: plan.changes.len(),
                applied: report.applied.len(),
                failed: report.failed.len(),
                skipped: report.skipped.len(),
                manual: report.manual.len(),
                not_started: report.not_started.len(),
            },
            stopped: report.stopped.clone(),
            changes: report.changes.clone(),
            plan: plan.clone(),
        }
    }
}
