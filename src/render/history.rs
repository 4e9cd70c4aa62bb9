//! Rendering of git-history facts shared by drift, review and status: desired changes between
//! revisions, commits, declarations with blame, and the `msctl status` report.

use std::fmt::{self, Write as _};

use super::attributes::{Shown, attr_lines};
use super::json::to_pretty_json;
use super::markdown::{code, html, table_code, text, write_attribute_blocks};
use super::text::{Palette, one_line, plural, write_attr_lines};
pub(crate) use crate::model::time::utc;
use crate::plan::{
    Action, AppliedCommit, CommitRef, Declaration, DesiredChange, LedgerSource, StatusReport,
};

/// Which side of a desired change's attributes to show.
pub(crate) fn shown(action: Action) -> Shown {
    match action {
        Action::Create => Shown::After,
        Action::Delete => Shown::Before,
        Action::Update | Action::Replace | Action::Rotate => Shown::Both,
    }
}

/// `added`, `changed`, `replaced`, `removed`: a declaration's fate, not a live operation.
pub(crate) fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "added",
        Action::Update => "changed",
        Action::Replace => "changed (forces replacement)",
        Action::Delete => "removed",
        Action::Rotate => "rotated",
    }
}

/// `1a2b3c4 Change the quota (Alice, 2023-11-14 22:13:20 UTC)`
pub(crate) fn commit_line(c: &CommitRef) -> String {
    format!(
        "{} {} ({}, {})",
        c.short,
        one_line(&c.summary),
        c.author,
        utc(c.time)
    )
}

/// `quota.toml:12, last changed in 1a2b3c4 by Alice: Change the quota`
pub(crate) fn declaration_text(d: &Declaration) -> String {
    let mut s = format!("{}:{}", d.file, d.line);
    // No commit: not blamed (a review), or the line is not committed yet.
    if let Some(c) = &d.last_change {
        let _ = write!(
            s,
            ", last changed in {} by {}: {}",
            c.short,
            c.author,
            one_line(&c.summary)
        );
    }
    s
}

/// The last applied commit in one line.
pub(crate) fn applied_line(a: &AppliedCommit) -> String {
    let from = match a.recorded_in {
        LedgerSource::Backend => "backend ledger",
        LedgerSource::GitNotes => "git notes",
    };
    let mut s = format!(
        "commit {} {} ({}), applied {} ({from})",
        a.commit.short,
        one_line(&a.commit.summary),
        a.commit.author,
        utc(i64::try_from(a.applied_at).unwrap_or(i64::MAX)),
    );
    if a.dirty {
        s.push_str(", with uncommitted changes");
    }
    if a.failed > 0 {
        let _ = write!(s, ", {} change{} failed", a.failed, plural(a.failed));
    }
    s
}

/// Writes desired changes for a terminal, each with its declaration.
pub(crate) fn write_desired_changes(
    out: &mut String,
    changes: &[DesiredChange],
    indent: &str,
    p: &Palette,
) -> fmt::Result {
    for c in changes {
        let s = p.action(c.action);
        writeln!(
            out,
            "{indent}{s}{:>3}{s:#} {} {}",
            c.action.symbol(),
            c.address,
            verb(c.action)
        )?;
        let inner = format!("{indent}      ");
        write_attr_lines(out, &attr_lines(&c.attributes, shown(c.action)), &inner, p)?;
        if let Some(d) = &c.declared_at {
            writeln!(
                out,
                "{inner}{}declared at {}{:#}",
                p.dim,
                declaration_text(d),
                p.dim
            )?;
        }
    }
    Ok(())
}

/// One markdown table row of a desired change.
pub(crate) fn desired_row(c: &DesiredChange) -> String {
    let mut what: Vec<String> = c.attributes.iter().map(|a| text(&a.name)).collect();
    if what.is_empty() {
        what.push("—".into());
    }
    let declared = match &c.declared_at {
        Some(d) => text(&format!("{}:{}", d.file, d.line)),
        None => "—".into(),
    };
    format!(
        "| `{}` {} | {} | {} | {declared} |\n",
        c.action.symbol(),
        verb(c.action),
        table_code(&c.address.to_string()),
        what.join(", ")
    )
}

pub(crate) const DESIRED_TABLE_HEAD: &str =
    "| Change | Address | Attributes | Declared at |\n| --- | --- | --- | --- |\n";

/// A desired change's collapsed markdown details.
pub(crate) fn desired_details(c: &DesiredChange) -> String {
    let mut out = format!(
        "<details><summary><code>{} {}</code> {}</summary>\n\n",
        c.action.symbol(),
        html(&c.address.to_string()),
        verb(c.action)
    );
    write_attribute_blocks(&mut out, &attr_lines(&c.attributes, shown(c.action)));
    if c.attributes.is_empty() {
        out.push_str("No attributes.\n\n");
    }
    if let Some(d) = &c.declared_at {
        let _ = writeln!(out, "Declared at {}\n", text(&declaration_text(d)));
    }
    out.push_str("</details>\n\n");
    out
}

/// A markdown list item for a commit.
pub(crate) fn commit_item(c: &CommitRef) -> String {
    format!(
        "- {} {} ({}, {})\n",
        code(&c.short),
        text(&c.summary),
        text(&c.author),
        utc(c.time)
    )
}

/// Renders `msctl status` for a terminal.
pub fn status_text(report: &StatusReport) -> String {
    let mut out = String::new();
    let mut at = format!("Configuration `{}`", report.config_dir);
    match &report.head {
        Some(h) => {
            let _ = write!(at, " at commit {}", commit_line(h));
        }
        None => at.push_str(" (not in a git repository)"),
    }
    if report.dirty {
        at.push_str(", with uncommitted changes");
    }
    let _ = writeln!(out, "{at}.");
    match &report.last_applied {
        Some(a) => {
            let _ = writeln!(out, "Last applied: {}.", applied_line(a));
            let _ = writeln!(out, "  {}", one_line(&a.summary));
        }
        None => {
            let _ = writeln!(out, "Last applied: unknown.");
        }
    }
    if let Some(note) = &report.note {
        let _ = writeln!(out, "  note: {}", one_line(note));
    }
    match (report.ahead, &report.last_applied) {
        (Some(true), _) if report.unapplied_commits.is_empty() => {
            let _ = writeln!(out, "The checkout is the last applied commit.");
        }
        (Some(true), _) => {
            let n = report.unapplied_commits.len();
            let _ = writeln!(
                out,
                "The checkout is {n} commit{} ahead of it (not applied yet):",
                plural(n)
            );
            for c in &report.unapplied_commits {
                let _ = writeln!(out, "  {}", commit_line(c));
            }
        }
        (Some(false), Some(a)) => {
            let _ = writeln!(
                out,
                "The checkout does not descend from the last applied commit {} (a \
                        rollback, or another branch).",
                a.commit.short
            );
        }
        _ => {}
    }
    if report.pending_changes == 0 {
        let _ = writeln!(out, "Pending: none; live state matches the configuration.");
    } else {
        let _ = writeln!(
            out,
            "Pending: {} change{} ({}). Run `msctl plan` to see them.",
            report.pending_changes,
            plural(report.pending_changes),
            report
                .pending
                .line()
                .trim_start_matches("Plan: ")
                .trim_end_matches('.')
        );
    }
    out
}

/// Renders `msctl status` as pretty JSON.
pub fn status_json(report: &StatusReport) -> String {
    to_pretty_json(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Summary;

    fn commit(short: &str, summary: &str) -> CommitRef {
        CommitRef {
            id: format!("{short}000000000000000000000000000000000"),
            short: short.into(),
            summary: summary.into(),
            author: "Alice".into(),
            time: 1_700_000_000,
        }
    }

    #[test]
    fn status_says_what_is_ahead_and_pending() {
        let report = StatusReport {
            format_version: "1".into(),
            config_dir: "config".into(),
            head: Some(commit("bbbbbbb", "Raise the quota")),
            dirty: false,
            last_applied: Some(AppliedCommit {
                commit: commit("aaaaaaa", "First"),
                applied_at: 1_700_000_060,
                summary: "Apply complete: 3 applied.".into(),
                failed: 0,
                dirty: false,
                recorded_in: LedgerSource::Backend,
            }),
            ahead: Some(true),
            unapplied_commits: vec![commit("bbbbbbb", "Raise the quota")],
            pending_changes: 1,
            pending: Summary {
                change: 1,
                ..Summary::default()
            },
            note: None,
        };
        insta::assert_snapshot!(status_text(&report), @r"
        Configuration `config` at commit bbbbbbb Raise the quota (Alice, 2023-11-14 22:13:20 UTC).
        Last applied: commit aaaaaaa First (Alice), applied 2023-11-14 22:14:20 UTC (backend ledger).
          Apply complete: 3 applied.
        The checkout is 1 commit ahead of it (not applied yet):
          bbbbbbb Raise the quota (Alice, 2023-11-14 22:13:20 UTC)
        Pending: 1 change (0 to add, 1 to change, 0 to destroy). Run `msctl plan` to see them.
        ");
    }

    #[test]
    fn declarations_name_the_last_commit() {
        let d = Declaration {
            file: "quota.toml".into(),
            line: 12,
            last_change: Some(commit("ccccccc", "Split the quota")),
        };
        assert_eq!(
            declaration_text(&d),
            "quota.toml:12, last changed in ccccccc by Alice: Split the quota"
        );
        let uncommitted = Declaration {
            last_change: None,
            ..d
        };
        assert_eq!(declaration_text(&uncommitted), "quota.toml:12");
    }
}
