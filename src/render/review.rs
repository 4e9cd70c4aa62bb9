//! Renderers of pull-request reviews (`crate::plan::Review`): text, markdown (a PR comment,
//! capped like plans) and JSON.
//!
//! The markdown puts a three-line summary first (what the pull request changes, the plan, the
//! drift merging would overwrite), then tables, then every detail collapsed; when the cap bites,
//! details go first and the summary always stays.

use std::fmt::{self, Write as _};

use super::drift::{item_details, items_line, table_row as drift_row, write_items};
use super::history::{DESIRED_TABLE_HEAD, desired_details, desired_row, write_desired_changes};
use super::json::to_pretty_json;
use super::markdown::{
    PLAN_MARKER, Section, assemble, change_details, code, cut_note, meta_line, table_row, text,
};
use super::text::{Palette, one_line, plural, write_plan};
use crate::plan::Review;

/// One line for the pull request's semantic change.
fn pr_line(review: &Review) -> String {
    let counts = review.counts();
    if counts.total() == 0 {
        "no change to the desired state (moved or reformatted declarations are no change)"
            .to_string()
    } else {
        format!(
            "{} resource{} in the desired state: {}",
            counts.total(),
            plural(counts.total()),
            counts.line()
        )
    }
}

fn drift_line(review: &Review) -> String {
    let n = review.overwritten_drift.len();
    if n == 0 {
        "none: live state matches the base".to_string()
    } else {
        let pr = review
            .overwritten_drift
            .iter()
            .filter(|i| review.changed_by_pr(i))
            .count();
        format!(
            "{n} resource{} where live already differs from the base ({pr} also changed \
                    by this pull request)",
            plural(n)
        )
    }
}

/// Renders `review` for a terminal.
pub fn review_text(review: &Review, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::with_capacity(512 + review.plan.changes.len() * 160);
    // Writing to a `String` cannot fail.
    let _ = write_review(&mut out, review, &p);
    out
}

fn write_review(out: &mut String, review: &Review, p: &Palette) -> fmt::Result {
    writeln!(
        out,
        "{}msctl review: the configuration against base `{}` (commit {} {}).{:#}",
        p.dim,
        review.base_rev,
        review.base.short,
        one_line(&review.base.summary),
        p.dim
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{}1. Pull request:{:#} {}",
        p.bold,
        p.bold,
        pr_line(review)
    )?;
    if !review.changes.is_empty() {
        writeln!(out)?;
        write_desired_changes(out, &review.changes, "  ", p)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{}2. Plan against live:{:#} {}",
        p.bold,
        p.bold,
        if review.plan.is_empty() {
            "no changes.".to_string()
        } else {
            review.plan.summary.line()
        }
    )?;
    writeln!(out)?;
    write_plan(out, &review.plan, p)?;
    writeln!(out)?;
    writeln!(
        out,
        "{}3. Drift from the base that merging would overwrite:{:#} {}",
        p.bold,
        p.bold,
        drift_line(review)
    )?;
    if !review.overwritten_drift.is_empty() {
        write_items(out, &review.overwritten_drift, p)?;
    }
    Ok(())
}

/// Renders `review` as a pull-request comment of at most `max_chars` bytes.
pub fn review_markdown(review: &Review, max_chars: usize) -> String {
    let plan = &review.plan;
    let mut head = String::new();
    let _ = writeln!(head, "{PLAN_MARKER}\n## msctl plan\n");
    let _ = writeln!(
        head,
        "| | against base {} ({}) |\n| --- | --- |",
        code(&review.base_rev),
        code(&review.base.short)
    );
    let _ = writeln!(
        head,
        "| **This pull request** | {} |",
        text(&pr_line(review))
    );
    let plan_cell = if plan.is_empty() {
        "No changes. Live state matches the configuration.".to_string()
    } else {
        plan.summary.line()
    };
    let _ = writeln!(head, "| **Plan against live** | {} |", text(&plan_cell));
    let warn = if review.overwritten_drift.is_empty() {
        ""
    } else {
        "⚠️ "
    };
    let _ = writeln!(
        head,
        "| **Drift merging overwrites** | {warn}{} |\n",
        text(&drift_line(review))
    );
    let _ = writeln!(head, "{}\n", meta_line(plan));

    let warnings = super::markdown::warning_lines(plan);
    let changes = &review.changes;
    let drift = &review.overwritten_drift;

    let pr_table = Section {
        priority: 1,
        max_share: Some(2),
        intro: format!("### 1. What this pull request changes\n\n{DESIRED_TABLE_HEAD}"),
        outro: "\n".into(),
        len: changes.len(),
        item: &|i| desired_row(&changes[i]),
    };
    let warning_section = Section {
        priority: 0,
        max_share: Some(3),
        intro: "### Warnings\n\n".into(),
        outro: "\n".into(),
        len: warnings.len(),
        item: &|i| format!("- {}\n", warnings[i]),
    };
    let plan_table = Section {
        priority: 2,
        max_share: Some(2),
        intro:
            "### 2. Plan against live\n\n| Action | Address | What changes |\n| --- | --- | --- |\n"
                .into(),
        outro: "\n".into(),
        len: plan.changes.len(),
        item: &|i| table_row(&plan.changes[i]),
    };
    let drift_table = Section {
        priority: 1,
        max_share: Some(2),
        intro: format!(
            "### 3. Drift from the base that merging would overwrite\n\n{}\n\n| Drift | \
                    Address | What differs (live -> base) |\n| --- | --- | --- |\n",
            text(&items_line(drift))
        ),
        outro: "\n".into(),
        len: drift.len(),
        item: &|i| drift_row(&drift[i]),
    };
    let access_items = super::access::access_change_items(&plan.access);
    let access = Section {
        priority: 2,
        max_share: Some(2),
        intro: super::access::access_changes_intro(&plan.access),
        outro: "\n".into(),
        len: access_items.len(),
        item: &|i| access_items[i].clone(),
    };
    let pr_details = Section {
        priority: 3,
        max_share: None,
        intro: "### Details: this pull request\n\n".into(),
        outro: String::new(),
        len: changes.len(),
        item: &|i| desired_details(&changes[i]),
    };
    let plan_details = Section {
        priority: 4,
        max_share: None,
        intro: "### Details: plan\n\n".into(),
        outro: String::new(),
        len: plan.changes.len(),
        item: &|i| change_details(&plan.changes[i]),
    };
    let drift_details = Section {
        priority: 5,
        max_share: None,
        intro: "### Details: drift\n\n".into(),
        outro: String::new(),
        len: drift.len(),
        item: &|i| item_details(&drift[i]),
    };
    let sections = [
        pr_table,
        warning_section,
        plan_table,
        access,
        drift_table,
        pr_details,
        plan_details,
        drift_details,
    ];
    assemble(&head, &sections, max_chars, |cuts| {
        let [
            pr_rows,
            warnings,
            plan_rows,
            access,
            drift_rows,
            pr_d,
            plan_d,
            drift_d,
        ] = cuts
        else {
            return String::new();
        };
        cut_note(
            "comment",
            &[
                (*pr_d + *plan_d + *drift_d, "the details of {} resource"),
                (*pr_rows + *plan_rows + *drift_rows, "{} table row"),
                (*warnings, "{} warning"),
                (*access, "{} access change"),
            ],
            "msctl plan --base REV --format json",
        )
    })
}

/// Renders `review` as pretty JSON (two-space indent, trailing newline).
pub fn review_json(review: &Review) -> String {
    to_pretty_json(review)
}

/// The JSON Schema of [`review_json`]'s output.
pub fn review_schema() -> String {
    to_pretty_json(&schemars::schema_for!(Review))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Address;
    use crate::plan::{
        Action, AttributeChange, CommitRef, Declaration, DesiredChange, DriftReport,
    };
    use crate::render::DEFAULT_MARKDOWN_MAX_CHARS;
    use crate::render::json::{check_committed_schema, schema_errors};
    use crate::render::sample;

    fn base() -> CommitRef {
        CommitRef {
            id: "0123456789abcdef0123456789abcdef01234567".into(),
            short: "0123456".into(),
            summary: "Split the quota".into(),
            author: "Alice".into(),
            time: 1_700_000_000,
        }
    }

    fn limit_change(workspace: &str) -> DesiredChange {
        DesiredChange {
            address: Address::ModelLimit {
                workspace: workspace.into(),
                model: "qwen-plus".into(),
            },
            action: Action::Update,
            attributes: vec![AttributeChange {
                name: "requests_per_minute".into(),
                before: json!(600),
                after: json!(700),
                forces_replacement: false,
                document: false,
            }],
            declared_at: Some(Declaration {
                file: "quota.toml".into(),
                line: 3,
                last_change: None,
            }),
        }
    }

    fn review(changes: usize, plan: crate::plan::Plan) -> Review {
        let drift = DriftReport::from_plan(&sample::rich_plan()).items;
        Review::new(
            "origin/main".into(),
            base(),
            (0..changes)
                .map(|i| limit_change(&format!("ws-{i}")))
                .collect(),
            plan,
            drift,
        )
    }

    #[test]
    fn markdown_puts_the_summary_first() {
        let md = review_markdown(&review(1, sample::rich_plan()), DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(
            md.starts_with("<!-- msctl:plan -->\n## msctl plan\n"),
            "{md}"
        );
        let summary = md.find("**This pull request**").expect("summary");
        let table = md
            .find("### 1. What this pull request changes")
            .expect("table");
        let details = md.find("### Details: this pull request").expect("details");
        assert!(summary < table && table < details);
        assert!(md.contains("1 resource in the desired state: 0 added, 1 changed, 0 removed"));
        assert!(md.contains("<details>"));
        assert!(!md.contains("shortened"));
    }

    #[test]
    fn huge_reviews_are_cut_under_the_cap_and_keep_the_summary() {
        let r = review(20_000, sample::huge_plan(20_000));
        let md = review_markdown(&r, DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(md.len() <= DEFAULT_MARKDOWN_MAX_CHARS, "{}", md.len());
        assert!(md.contains("20000 resources in the desired state: 0 added, 20000 changed"));
        assert!(md.contains("Plan: 0 to add, 20000 to change, 0 to destroy."));
        assert!(
            md.contains("left out: the details of "),
            "{}",
            &md[md.len() - 700..]
        );
        assert!(md.contains("`msctl plan --base REV --format json`"));
        // The tables got some room before the details took any.
        assert!(md.contains("| `~` changed | `workspace.ws-0.limit.qwen-plus` |"));
    }

    #[test]
    fn text_has_the_three_parts() {
        let t = review_text(&review(1, sample::empty_plan()), false);
        assert!(
            t.contains("1. Pull request: 1 resource in the desired state"),
            "{t}"
        );
        assert!(t.contains("declared at quota.toml:3"), "{t}");
        assert!(t.contains("2. Plan against live: no changes."), "{t}");
        assert!(
            t.contains("3. Drift from the base that merging would overwrite: "),
            "{t}"
        );
        let none = review_text(&review(0, sample::empty_plan()), false);
        assert!(none.contains("no change to the desired state"), "{none}");
    }

    #[test]
    fn committed_schema_is_current() {
        check_committed_schema("schema/review.schema.json", &review_schema());
    }

    #[test]
    fn rendered_reviews_validate_against_the_schema() {
        let errors = schema_errors(
            &review_schema(),
            &review_json(&review(2, sample::rich_plan())),
        );
        assert!(errors.is_empty(), "{errors:#?}");
    }
}
