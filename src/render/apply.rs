//! Renderings of an apply's result ([`ApplyResult`]): the JSON document (`apply --format
//! json`) and its generated schema, and the markdown summary (`apply --format markdown`).
//!
//! The text reporter prints results as they happen (`commands/apply.rs`); this renders the
//! finished result. `schema/apply.schema.json` is checked against the types by a test.

use std::fmt::Write as _;

use super::json::to_pretty_json;
use super::markdown::{table_code, text};
use crate::apply::{ApplyResult, Outcome};

/// Renders `result` as pretty JSON (two-space indent, trailing newline).
pub fn apply_result_json(result: &ApplyResult) -> String {
    to_pretty_json(result)
}

/// The JSON Schema of [`apply_result_json`]'s output, pretty, with a trailing newline.
pub fn apply_result_schema() -> String {
    to_pretty_json(&schemars::schema_for!(ApplyResult))
}

/// The result as markdown: the summary line, then a table of every change that was not applied
/// (failed, skipped, manual, not started) with why.
pub fn apply_result_markdown(result: &ApplyResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {}\n", text(&result.summary_line));
    if let Some(why) = &result.stopped {
        let _ = writeln!(out, "Stopped early: {}.\n", text(why));
    }
    let not_applied: Vec<_> = result
        .changes
        .iter()
        .filter(|c| c.outcome != Outcome::Applied)
        .collect();
    if not_applied.is_empty() {
        return out;
    }
    out.push_str("| resource | outcome | why |\n|---|---|---|\n");
    for c in not_applied {
        // `why` is markdown already: escaped text, code spans for addresses.
        let (outcome, why) = match c.outcome {
            Outcome::Failed => (
                "failed",
                c.error
                    .as_ref()
                    .map(|e| text(e.message.lines().next().unwrap_or_default()))
                    .unwrap_or_default(),
            ),
            Outcome::Skipped => (
                "skipped",
                c.skipped_because
                    .as_ref()
                    .map(|a| format!("depends on failed {}", table_code(&a.to_string())))
                    .unwrap_or_default(),
            ),
            Outcome::Manual => ("manual", "a console step (see the plan)".to_string()),
            Outcome::NotStarted => ("not started", "the apply was stopped".to_string()),
            Outcome::Applied => unreachable!("applied changes are filtered out above"),
        };
        let _ = writeln!(
            out,
            "| {} | {outcome} | {why} |",
            table_code(&c.address.to_string()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ApplyReport, ApplyStatus, ChangeError, ChangeResult, ErrorKind};
    use crate::render::json::{check_committed_schema, schema_errors};
    use crate::render::sample;

    /// The rich sample plan, its first change failed, the second skipped, the rest applied.
    fn failed_result() -> ApplyResult {
        let plan = sample::rich_plan();
        let mut report = ApplyReport::default();
        for (i, c) in plan.changes.iter().enumerate() {
            let mut r = ChangeResult {
                address: c.address.clone(),
                action: c.action,
                outcome: Outcome::Applied,
                error: None,
                skipped_because: None,
                duration_ms: Some(3),
            };
            match i {
                0 => {
                    r.outcome = Outcome::Failed;
                    r.error = Some(ChangeError {
                        kind: ErrorKind::Throttled,
                        message: "throttled | retry".into(),
                    });
                    report.failed.push((c.address.clone(), "throttled".into()));
                }
                1 => {
                    r.outcome = Outcome::Skipped;
                    r.skipped_because = Some(plan.changes[0].address.clone());
                    r.duration_ms = None;
                    report.skipped.push(c.address.clone());
                }
                _ => report.applied.push(c.address.clone()),
            }
            report.changes.push(r);
        }
        ApplyResult::new(&plan, Some(&report))
    }

    #[test]
    fn committed_schema_is_current() {
        check_committed_schema("schema/apply.schema.json", &apply_result_schema());
    }

    #[test]
    fn results_validate_against_the_schema() {
        let schema = apply_result_schema();
        let empty = ApplyResult::new(&sample::empty_plan(), None);
        for result in [failed_result(), empty] {
            let errors = schema_errors(&schema, &apply_result_json(&result));
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }

    #[test]
    fn the_schema_rejects_an_unknown_outcome() {
        let mut doc: serde_json::Value =
            serde_json::from_str(&apply_result_json(&failed_result())).unwrap_or_default();
        doc["changes"][0]["outcome"] = "exploded".into();
        assert!(!schema_errors(&apply_result_schema(), &doc.to_string()).is_empty());
    }

    #[test]
    fn a_failed_apply_says_failed_with_kinds_and_embeds_the_plan() {
        let result = failed_result();
        assert_eq!(result.status, ApplyStatus::Failed);
        let total = result.plan.changes.len();
        assert_eq!(
            result.summary_line,
            format!(
                "Apply failed: {} applied, 1 failed, 1 skipped, 0 manual.",
                total - 2
            )
        );
        let json = apply_result_json(&result);
        assert!(
            json.starts_with("{\n  \"format_version\": \"1\",\n"),
            "{json}"
        );
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(doc["changes"][0]["error"]["kind"], "throttled");
        assert_eq!(doc["changes"][1]["outcome"], "skipped");
        assert_eq!(doc["plan"]["format_version"], "1");
        assert_eq!(doc["summary"]["total"], total);
    }

    #[test]
    fn markdown_lists_what_was_not_applied() {
        let md = apply_result_markdown(&failed_result());
        let first = sample::rich_plan().changes[0].address.to_string();
        assert!(md.starts_with("### Apply failed: "), "{md}");
        assert!(md.contains("| failed | throttled \\| retry |"), "{md}");
        assert!(md.contains(&format!("depends on failed `{first}`")), "{md}");
        assert_eq!(md.matches("\n| `").count(), 2, "{md}");
    }
}
