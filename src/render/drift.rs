//! Renderers of drift reports (`crate::plan::drift`): text, markdown and JSON, like plans.
//!
//! Attribute lines read `name: live -> desired`, the direction `msctl apply` would take them, so
//! a drift report and the plan that fixes it show the same lines.

use std::fmt::{self, Write as _};

use super::attributes::{Shown, attr_lines};
use super::history::{
    DESIRED_TABLE_HEAD, applied_line, commit_item, commit_line, declaration_text, desired_details,
    desired_row, write_desired_changes,
};
use super::json::to_pretty_json;
use super::markdown::{
    Section, assemble, code, cut_note, html, table_code, text, write_attribute_blocks,
};
use super::text::{Palette, one_line, plural, write_attr_lines, write_block};
use crate::plan::{ChangeCounts, DriftItem, DriftKind, DriftReport, History};

/// Lets CI find and update its previous drift issue or comment.
const DRIFT_MARKER: &str = "<!-- msctl:drift -->";

/// `Drift: 1 changed, 2 missing, 1 unexpected.` or the in-sync sentence.
pub(crate) fn summary_line(report: &DriftReport) -> String {
    items_line(&report.items)
}

/// `Drift: 1 changed, 2 missing, 1 unexpected.`
pub(crate) fn items_line(items: &[DriftItem]) -> String {
    let count = |kind| items.iter().filter(|i| i.kind == kind).count();
    // Said only when there are any, so reports without rotation read as before.
    let rotations = match count(DriftKind::RotationDue) {
        0 => String::new(),
        n => format!(", {n} due for rotation"),
    };
    format!(
        "Drift: {} changed, {} missing, {} unexpected{rotations}.",
        count(DriftKind::Changed),
        count(DriftKind::Missing),
        count(DriftKind::Unexpected)
    )
}

const IN_SYNC: &str = "Live state matches the configuration.";

fn label(kind: DriftKind) -> &'static str {
    match kind {
        DriftKind::Changed => "changed",
        DriftKind::Missing => "missing",
        DriftKind::Unexpected => "unexpected",
        DriftKind::RotationDue => "rotate",
    }
}

/// What each kind means, said once in the legend rather than on every item.
fn meaning(kind: DriftKind) -> &'static str {
    match kind {
        DriftKind::Changed => "attributes differ (live -> desired)",
        DriftKind::Missing => "declared, absent live (desired values shown)",
        DriftKind::Unexpected => {
            "present live in a governed scope, not declared (live values shown)"
        }
        DriftKind::RotationDue => "API key older than its rotate_after (the plan rotates it)",
    }
}

fn shown(kind: DriftKind) -> Shown {
    match kind {
        DriftKind::Changed => Shown::Both,
        DriftKind::Missing => Shown::After,
        DriftKind::Unexpected => Shown::Before,
        DriftKind::RotationDue => Shown::After,
    }
}

const KINDS: [DriftKind; 4] = [
    DriftKind::Changed,
    DriftKind::Missing,
    DriftKind::Unexpected,
    DriftKind::RotationDue,
];

/// Renders `report` for a terminal.
pub fn drift_text(report: &DriftReport, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::with_capacity(256 + report.items.len() * 160);
    // Writing to a `String` cannot fail.
    let _ = write_drift(&mut out, report, &p);
    out
}

fn write_drift(out: &mut String, report: &DriftReport, p: &Palette) -> fmt::Result {
    if let Some(snapshot) = &report.snapshot {
        write_block(out, "", "note: ", 6, &super::snapshot_note(snapshot))?;
        writeln!(out)?;
    }
    if let Some(note) = &report.note {
        write_block(out, "", "note: ", 6, note)?;
        writeln!(out)?;
    }
    if let Some(h) = &report.history {
        writeln!(out, "{}{}{:#}", p.bold, history_headline(report, h), p.bold)?;
        writeln!(out)?;
        write_unapplied(out, h, p)?;
        writeln!(out)?;
        writeln!(
            out,
            "{}Out-of-band changes{:#} (live state against the last applied commit {}):",
            p.bold, p.bold, h.last_applied.commit.short
        )?;
        if report.items.is_empty() {
            writeln!(out, "  none; live state matches what was applied.")?;
        } else {
            writeln!(out, "  {}", summary_line(report))?;
            write_items(out, &report.items, p)?;
        }
    } else if report.items.is_empty() {
        writeln!(out, "{}No drift.{:#} {IN_SYNC}", p.bold, p.bold)?;
    } else {
        writeln!(out, "{}{}{:#}", p.bold, summary_line(report), p.bold)?;
        write_items(out, &report.items, p)?;
    }
    if !report.risks.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}API-key risks{:#} (warnings; they do not change the exit code):",
            p.bold, p.bold
        )?;
        for r in &report.risks {
            writeln!(
                out,
                "  {}warning:{:#} {}: {}",
                p.warning, p.warning, r.address, r.note
            )?;
        }
    }
    if !report.informational.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}Informational (unmanaged, outside governed scopes):{:#}",
            p.bold, p.bold
        )?;
        for u in &report.informational {
            writeln!(out, "  {}: {}", u.address, one_line(&u.note))?;
        }
    }
    Ok(())
}

/// `Drift: 3 unapplied changes in 2 commits, 1 out-of-band change.`, or the in-sync sentence.
fn history_headline(report: &DriftReport, h: &History) -> String {
    if report.in_sync() {
        return format!(
            "No drift. Live state matches the last applied commit {}, and the checkout changes \
             nothing since.",
            h.last_applied.commit.short
        );
    }
    let unapplied = h.unapplied.len();
    let commits = h.unapplied_commits.len();
    let in_commits = if h.ahead {
        format!(" in {commits} commit{}", plural(commits))
    } else {
        String::new()
    };
    format!(
        "Drift: {unapplied} unapplied change{}{in_commits}, {} out-of-band change{}.",
        plural(unapplied),
        report.items.len(),
        plural(report.items.len())
    )
}

fn write_unapplied(out: &mut String, h: &History, p: &Palette) -> fmt::Result {
    writeln!(
        out,
        "{}Unapplied changes{:#} (merged, not applied yet):",
        p.bold, p.bold
    )?;
    writeln!(out, "  last applied: {}", applied_line(&h.last_applied))?;
    let dirty = if h.dirty {
        ", with uncommitted changes"
    } else {
        ""
    };
    writeln!(
        out,
        "  checkout:     commit {}{dirty}",
        commit_line(&h.head)
    )?;
    if !h.ahead {
        writeln!(
            out,
            "  the checkout does not descend from the last applied commit (a rollback, \
                    or another branch)"
        )?;
    } else if !h.unapplied_commits.is_empty() {
        let n = h.unapplied_commits.len();
        writeln!(out, "  {n} commit{} not applied:", plural(n))?;
        for c in &h.unapplied_commits {
            writeln!(out, "    {}", commit_line(c))?;
        }
    }
    if h.unapplied.is_empty() {
        writeln!(
            out,
            "  no resource changes: the desired state is the one last applied."
        )?;
    } else {
        writeln!(
            out,
            "  resource changes: {}",
            ChangeCounts::of(&h.unapplied).line()
        )?;
        writeln!(out)?;
        write_desired_changes(out, &h.unapplied, "  ", p)?;
    }
    Ok(())
}

/// Drift items for a terminal: a legend of the kinds present, then each item.
pub(crate) fn write_items(out: &mut String, items: &[DriftItem], p: &Palette) -> fmt::Result {
    writeln!(out)?;
    for kind in KINDS {
        if items.iter().any(|i| i.kind == kind) {
            writeln!(out, "  {:<10} {}", label(kind), meaning(kind))?;
        }
    }
    for item in items {
        writeln!(out)?;
        let s = match item.kind {
            DriftKind::Changed => p.update,
            DriftKind::Missing => p.create,
            DriftKind::Unexpected => p.delete,
            DriftKind::RotationDue => p.warning,
        };
        writeln!(out, "  {s}{:<10}{s:#} {}", label(item.kind), item.address)?;
        let indent = "             ";
        write_attr_lines(
            out,
            &attr_lines(&item.attributes, shown(item.kind)),
            indent,
            p,
        )?;
        if let Some(note) = &item.note {
            write_block(out, indent, "note: ", 6, note)?;
        }
        if let Some(d) = &item.declared_at {
            writeln!(
                out,
                "{indent}{}declared at {}{:#}",
                p.dim,
                declaration_text(d),
                p.dim
            )?;
        }
    }
    Ok(())
}

/// Renders `report` as markdown of at most `max_chars` bytes (for an issue or a comment; GitHub
/// caps both at 65,536 characters: see [`super::DEFAULT_MARKDOWN_MAX_CHARS`]).
pub fn drift_markdown(report: &DriftReport, max_chars: usize) -> String {
    let mut head = format!("{DRIFT_MARKER}\n## msctl drift\n\n");
    if let Some(snapshot) = &report.snapshot {
        let _ = writeln!(head, "> {}\n", super::snapshot_note_markdown(snapshot));
    }
    if let Some(note) = &report.note {
        let _ = writeln!(head, "> {}\n", text(note));
    }
    if !report.risks.is_empty() {
        // In the head, which is never cut; a long list is capped.
        const SHOWN: usize = 20;
        head.push_str("**API-key risks** (warnings; they do not change the exit code):\n\n");
        for r in report.risks.iter().take(SHOWN) {
            let _ = writeln!(head, "- `{}`: {}", r.address, text(&r.note));
        }
        if report.risks.len() > SHOWN {
            let _ = writeln!(
                head,
                "- and {} more (`msctl drift --format json` lists all)",
                report.risks.len() - SHOWN
            );
        }
        head.push('\n');
    }
    if let Some(h) = &report.history {
        let _ = writeln!(head, "**{}**\n", text(&history_headline(report, h)));
        let _ = writeln!(
            head,
            "- **Unapplied** (merged, not applied yet): {}; last applied {}",
            ChangeCounts::of(&h.unapplied).line(),
            text(&applied_line(&h.last_applied))
        );
        let _ = writeln!(
            head,
            "- **Out-of-band** (live against the last applied commit): {}",
            text(&summary_line(report))
        );
        if !h.ahead {
            let _ = writeln!(
                head,
                "- the checkout does not descend from the last applied commit"
            );
        }
        head.push('\n');
    } else if report.in_sync() {
        let _ = writeln!(head, "**No drift.** {IN_SYNC}\n");
    } else {
        let _ = writeln!(head, "**{}**\n", summary_line(report));
    }
    if !report.items.is_empty() {
        for kind in KINDS {
            if report.count(kind) > 0 {
                let _ = writeln!(head, "- **{}**: {}", label(kind), text(meaning(kind)));
            }
        }
        head.push('\n');
    }
    let (commits, unapplied): (&[_], &[_]) = match &report.history {
        Some(h) => (&h.unapplied_commits, &h.unapplied),
        None => (&[], &[]),
    };

    let commit_list = Section {
        priority: 0,
        // Commits are context; the tables carry the facts.
        max_share: Some(4),
        intro: "### Unapplied commits\n\n".into(),
        outro: "\n".into(),
        len: commits.len(),
        item: &|i| commit_item(&commits[i]),
    };
    let unapplied_table = Section {
        priority: 0,
        max_share: Some(2),
        intro: format!("### Unapplied changes\n\n{DESIRED_TABLE_HEAD}"),
        outro: "\n".into(),
        len: unapplied.len(),
        item: &|i| desired_row(&unapplied[i]),
    };
    let unapplied_details = Section {
        priority: 3,
        max_share: None,
        intro: "### Unapplied change details\n\n".into(),
        outro: String::new(),
        len: unapplied.len(),
        item: &|i| desired_details(&unapplied[i]),
    };
    let intro = if report.history.is_some() {
        "### Out-of-band changes\n\n| Drift | Address | What differs |\n| --- | --- | --- |\n"
    } else {
        "| Drift | Address | What differs |\n| --- | --- | --- |\n"
    };
    let table = Section {
        priority: 0,
        max_share: None,
        intro: intro.into(),
        outro: "\n".into(),
        len: report.items.len(),
        item: &|i| table_row(&report.items[i]),
    };
    let details = Section {
        priority: 2,
        max_share: None,
        intro: "### Details\n\n".into(),
        outro: String::new(),
        len: report.items.len(),
        item: &|i| item_details(&report.items[i]),
    };
    let informational = Section {
        priority: 1,
        max_share: None,
        intro: format!(
            "### Informational\n\n<details><summary>{} unmanaged object{} outside governed \
             scopes</summary>\n\n",
            report.informational.len(),
            plural(report.informational.len())
        ),
        outro: "\n</details>\n\n".into(),
        len: report.informational.len(),
        item: &|i| {
            let u = &report.informational[i];
            format!("- {}: {}\n", code(&u.address.to_string()), text(&u.note))
        },
    };
    let sections = [
        commit_list,
        unapplied_table,
        table,
        informational,
        unapplied_details,
        details,
    ];
    assemble(&head, &sections, max_chars, |cuts| {
        let [
            commits,
            unapplied,
            rows,
            informational,
            unapplied_details,
            details,
        ] = cuts
        else {
            return String::new();
        };
        cut_note(
            "report",
            &[
                (*details + *unapplied_details, "the details of {} resource"),
                (*rows + *unapplied, "{} table row"),
                (*commits, "{} commit"),
                (*informational, "{} informational object"),
            ],
            "msctl drift --format json",
        )
    })
}

pub(crate) fn table_row(item: &DriftItem) -> String {
    let mut what: Vec<String> = item.attributes.iter().map(|a| text(&a.name)).collect();
    if what.is_empty() {
        what.push("—".into());
    }
    let mut cell = what.join(", ");
    if item.note.is_some() {
        cell.push_str("; see note");
    }
    format!(
        "| {} | {} | {cell} |\n",
        label(item.kind),
        table_code(&item.address.to_string())
    )
}

pub(crate) fn item_details(item: &DriftItem) -> String {
    let mut out = format!(
        "<details><summary><code>{}</code> {}</summary>\n\n",
        html(&item.address.to_string()),
        label(item.kind)
    );
    write_attribute_blocks(&mut out, &attr_lines(&item.attributes, shown(item.kind)));
    if item.attributes.is_empty() && item.note.is_none() {
        // Some kinds are pure identity (a group membership): say so rather than show nothing.
        out.push_str("No attributes.\n\n");
    }
    if let Some(note) = &item.note {
        let _ = writeln!(out, "**Note:** {}\n", text(note));
    }
    if let Some(d) = &item.declared_at {
        let _ = writeln!(out, "Declared at {}\n", text(&declaration_text(d)));
    }
    out.push_str("</details>\n\n");
    out
}

/// Renders `report` as pretty JSON (two-space indent, trailing newline).
pub fn drift_json(report: &DriftReport) -> String {
    to_pretty_json(report)
}

/// The JSON Schema of [`drift_json`]'s output, pretty, with a trailing newline.
pub fn drift_schema() -> String {
    to_pretty_json(&schemars::schema_for!(DriftReport))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::DEFAULT_MARKDOWN_MAX_CHARS;
    use crate::render::json::{check_committed_schema, schema_errors};
    use crate::render::sample;

    fn report() -> DriftReport {
        DriftReport::from_plan(&sample::rich_plan())
    }

    #[test]
    fn rich_text() {
        insta::assert_snapshot!(drift_text(&report(), false));
    }

    #[test]
    fn rich_markdown() {
        insta::assert_snapshot!(drift_markdown(&report(), DEFAULT_MARKDOWN_MAX_CHARS));
    }

    #[test]
    fn rich_json() {
        insta::assert_snapshot!(drift_json(&report()));
    }

    #[test]
    fn in_sync() {
        let r = DriftReport::from_plan(&sample::empty_plan());
        insta::assert_snapshot!(drift_text(&r, false), @"No drift. Live state matches the \
            configuration.");
        assert!(drift_markdown(&r, DEFAULT_MARKDOWN_MAX_CHARS).contains("**No drift.**"));
    }

    #[test]
    fn committed_schema_is_current() {
        check_committed_schema("schema/drift.schema.json", &drift_schema());
    }

    #[test]
    fn rendered_reports_validate_against_the_schema() {
        for r in [report(), with_history(report(), 2)] {
            let errors = schema_errors(&drift_schema(), &drift_json(&r));
            assert!(errors.is_empty(), "{errors:#?}");
        }
    }

    fn commit(short: &str, author: &str) -> crate::plan::CommitRef {
        crate::plan::CommitRef {
            id: format!("{short}{}", "0".repeat(40 - short.len())),
            short: short.into(),
            summary: format!("work by {author}"),
            author: author.into(),
            time: 1_700_000_000,
        }
    }

    fn with_history(mut report: DriftReport, unapplied: usize) -> DriftReport {
        use crate::plan::{
            Action, AppliedCommit, AttributeChange, Declaration, DesiredChange, LedgerSource,
        };
        let change = |i: usize| DesiredChange {
            address: crate::model::Address::Workspace {
                name: format!("ws-{i}"),
            },
            action: Action::Create,
            attributes: vec![AttributeChange {
                name: "region".into(),
                before: serde_json::Value::Null,
                after: serde_json::json!("cn-beijing"),
                forces_replacement: false,
                document: false,
            }],
            declared_at: Some(Declaration {
                file: "ws.toml".into(),
                line: 2,
                last_change: Some(commit("bbbbbbb", "Bob")),
            }),
        };
        report.history = Some(History {
            head: commit("bbbbbbb", "Bob"),
            dirty: false,
            last_applied: AppliedCommit {
                commit: commit("aaaaaaa", "Alice"),
                applied_at: 1_700_000_100,
                summary: "Apply complete: 1 applied.".into(),
                failed: 0,
                dirty: false,
                recorded_in: LedgerSource::Backend,
            },
            ahead: true,
            unapplied_commits: vec![commit("bbbbbbb", "Bob")],
            unapplied: (0..unapplied).map(change).collect(),
        });
        report
    }

    #[test]
    fn history_sections_are_apart() {
        let r = with_history(report(), 1);
        let text = drift_text(&r, false);
        let unapplied = text.find("Unapplied changes (merged, not applied yet):");
        let out_of_band =
            text.find("Out-of-band changes (live state against the last applied commit aaaaaaa):");
        assert!(unapplied.is_some() && out_of_band.is_some(), "{text}");
        assert!(unapplied < out_of_band);
        assert!(
            text.starts_with("Drift: 1 unapplied change in 1 commit, "),
            "{text}"
        );
        assert!(
            text.contains("    bbbbbbb work by Bob (Bob, 2023-11-14 22:13:20 UTC)"),
            "{text}"
        );
        assert!(
            text.contains("declared at ws.toml:2, last changed in bbbbbbb by Bob: work by Bob"),
            "{text}"
        );
        let md = drift_markdown(&r, DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(md.contains("### Unapplied commits"), "{md}");
        assert!(md.contains("### Unapplied changes"), "{md}");
        assert!(md.contains("### Out-of-band changes"), "{md}");

        // Only unapplied changes, live in sync with the applied commit: still drift.
        let mut only = with_history(DriftReport::from_plan(&sample::empty_plan()), 1);
        assert!(!only.in_sync());
        assert!(drift_text(&only, false).contains("  none; live state matches what was applied."));
        if let Some(h) = only.history.as_mut() {
            h.unapplied.clear();
        }
        assert!(only.in_sync());
        assert!(
            drift_text(&only, false)
                .starts_with("No drift. Live state matches the last applied commit aaaaaaa")
        );
    }

    #[test]
    fn huge_histories_are_cut_under_the_cap() {
        let r = with_history(DriftReport::from_plan(&sample::huge_plan(20_000)), 20_000);
        let md = drift_markdown(&r, DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(md.len() <= DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(
            md.contains(
                "**Drift: 20000 unapplied changes in 1 commit, 20000 out-of-band changes.**"
            ),
            "{}",
            &md[..600]
        );
        assert!(
            md.contains("left out: the details of 40000 resources, "),
            "{}",
            &md[md.len() - 700..]
        );
    }

    #[test]
    fn huge_reports_are_cut_under_the_cap() {
        let r = DriftReport::from_plan(&sample::huge_plan(20_000));
        let md = drift_markdown(&r, DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(md.len() <= DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(md.contains("**Drift: 20000 changed, 0 missing, 0 unexpected.**"));
        assert!(md.contains("left out: the details of 20000 resources, "));
        assert!(md.contains("`msctl drift --format json`"));
    }
}
