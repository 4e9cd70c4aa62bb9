//! The terminal rendering of a plan, Terraform-like, coloured only when the caller says so.
//!
//! The caller decides `color` (terminal detection, `NO_COLOR`, `--color`); this module never
//! looks at the environment, so the same plan always renders to the same bytes.

use std::fmt::{self, Write as _};

use anstyle::{AnsiColor, Effects, Style};

use super::attributes::{AttrLine, DiffLine, Shown, attr_lines, value_name_width};
use crate::plan::{Action, Change, Plan, Source, Unmanaged};

/// Renders `plan` for a terminal.
pub fn plan_text(plan: &Plan, color: bool) -> String {
    let palette = Palette::new(color);
    // Roughly what one change takes, so 100,000 changes do not reallocate hundreds of times.
    let mut out = String::with_capacity(256 + plan.changes.len() * 160);
    // Writing to a `String` cannot fail.
    let _ = write_plan(&mut out, plan, &palette);
    out
}

/// The styles of every element; all plain (no escape codes) when colour is off.
pub(crate) struct Palette {
    pub create: Style,
    pub update: Style,
    pub delete: Style,
    pub manual: Style,
    pub warning: Style,
    pub hunk: Style,
    pub bold: Style,
    pub dim: Style,
}

impl Palette {
    pub(crate) fn new(color: bool) -> Palette {
        if !color {
            return Palette::plain();
        }
        let fg = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
        Palette {
            create: fg(AnsiColor::Green),
            update: fg(AnsiColor::Yellow),
            delete: fg(AnsiColor::Red),
            manual: fg(AnsiColor::Magenta).effects(Effects::BOLD),
            warning: fg(AnsiColor::Yellow).effects(Effects::BOLD),
            hunk: fg(AnsiColor::Cyan),
            bold: Style::new().effects(Effects::BOLD),
            dim: Style::new().effects(Effects::DIMMED),
        }
    }

    pub(crate) fn plain() -> Palette {
        let s = Style::new();
        Palette {
            create: s,
            update: s,
            delete: s,
            manual: s,
            warning: s,
            hunk: s,
            bold: s,
            dim: s,
        }
    }

    pub(crate) fn action(&self, action: Action) -> Style {
        match action {
            Action::Create | Action::Rotate => self.create,
            Action::Update => self.update,
            // Terraform colours replacements like deletions: something is destroyed.
            Action::Replace | Action::Delete => self.delete,
        }
    }
}

/// Indent of attribute lines under a change header.
const ATTR_INDENT: &str = "      ";

pub(crate) fn write_plan(out: &mut String, plan: &Plan, p: &Palette) -> fmt::Result {
    writeln!(out, "{}{}{:#}", p.dim, header_line(plan), p.dim)?;

    if !plan.changes.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Resource actions are indicated with the following symbols:"
        )?;
        for (action, meaning) in [
            (Action::Create, "create"),
            (Action::Update, "update in place"),
            (Action::Replace, "destroy and then create replacement"),
            (Action::Delete, "destroy"),
            (
                Action::Rotate,
                "rotate: create a successor, keep the current key for the overlap",
            ),
        ] {
            if plan.changes.iter().any(|c| c.action == action) {
                let s = p.action(action);
                writeln!(out, "{s}{:>3}{s:#} {meaning}", action.symbol())?;
            }
        }
        if plan.changes.iter().any(|c| c.manual.is_some()) {
            let m = p.manual;
            writeln!(
                out,
                "  {m}!{m:#} manual step: msctl cannot make this change through the API"
            )?;
        }
        writeln!(out)?;
        writeln!(out, "msctl will perform the following actions:")?;
        for change in &plan.changes {
            writeln!(out)?;
            write_change(out, change, p)?;
        }
    }

    super::access::write_access_changes(out, &plan.access, p)?;

    if !plan.unmanaged.is_empty() {
        writeln!(out)?;
        write_unmanaged(out, &plan.unmanaged, p)?;
    }

    for warning in &plan.warnings {
        writeln!(out)?;
        write_block(
            out,
            "",
            &format!("{}Warning:{:#} ", p.warning, p.warning),
            9,
            warning,
        )?;
    }

    writeln!(out)?;
    if plan.is_empty() {
        writeln!(
            out,
            "{}No changes.{:#} Live state matches the configuration.",
            p.bold, p.bold
        )
    } else {
        writeln!(out, "{}{}{:#}", p.bold, plan.summary.line(), p.bold)
    }
}

/// `msctl plan: backend `local`, configuration `config/` at commit 1a2b3c4d5e6f (uncommitted
/// changes); live state read with 12 API calls.`
fn header_line(plan: &Plan) -> String {
    let mut line = format!(
        "msctl plan: backend `{}`, configuration {}",
        plan.backend,
        source_text(&plan.source)
    );
    if plan.snapshot.is_none() && plan.api_calls > 0 {
        let _ = write!(
            line,
            "; live state read with {} API call{}",
            plan.api_calls,
            plural(plan.api_calls as usize)
        );
    }
    line.push('.');
    if let Some(snapshot) = &plan.snapshot {
        let _ = write!(line, "\nnote: {}", super::snapshot_note(snapshot));
    }
    line
}

pub(crate) fn source_text(source: &Source) -> String {
    let mut s = format!("`{}`", source.config_dir);
    if let Some(commit) = &source.commit {
        let _ = write!(s, " at commit {}", short_commit(commit));
    }
    if source.dirty {
        s.push_str(" (uncommitted changes)");
    }
    s
}

/// The first 12 characters of a commit id, as `git log --abbrev=12` would show it.
pub(crate) fn short_commit(commit: &str) -> &str {
    commit
        .char_indices()
        .nth(12)
        .map_or(commit, |(i, _)| &commit[..i])
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn write_change(out: &mut String, change: &Change, p: &Palette) -> fmt::Result {
    let s = p.action(change.action);
    writeln!(
        out,
        "{s}{:>3}{s:#} {}",
        change.action.symbol(),
        change.address
    )?;
    let shown = match change.action {
        Action::Create | Action::Rotate => Shown::After,
        Action::Delete => Shown::Before,
        Action::Update | Action::Replace => Shown::Both,
    };
    write_attr_lines(out, &attr_lines(&change.attributes, shown), ATTR_INDENT, p)?;
    if let Some(step) = &change.manual {
        let prefix = format!("{}! manual:{:#} ", p.manual, p.manual);
        write_block(out, ATTR_INDENT, &prefix, 10, &step.instructions)?;
    }
    for warning in &change.warnings {
        let prefix = format!("{}Warning:{:#} ", p.warning, p.warning);
        write_block(out, ATTR_INDENT, &prefix, 9, warning)?;
    }
    Ok(())
}

/// Writes attribute lines, each starting with `indent`; document diffs are indented further.
pub(crate) fn write_attr_lines(
    out: &mut String,
    lines: &[AttrLine<'_>],
    indent: &str,
    p: &Palette,
) -> fmt::Result {
    let width = value_name_width(lines);
    for line in lines {
        match line {
            AttrLine::Value { name, value, .. } => {
                write!(out, "{indent}{name:<width$} = {value}")?;
            }
            AttrLine::Change {
                name,
                before,
                after,
                ..
            } => {
                write!(out, "{indent}{name}: {before} -> {after}")?;
            }
            AttrLine::Document { name, .. } => {
                write!(out, "{indent}{name}:")?;
            }
        }
        if line.forces_replacement() {
            write!(out, "  {}# forces replacement{:#}", p.delete, p.delete)?;
        }
        writeln!(out)?;
        if let AttrLine::Document { diff, .. } = line {
            for d in diff {
                write_diff_line(out, indent, d, p)?;
            }
        }
    }
    Ok(())
}

fn write_diff_line(out: &mut String, indent: &str, line: &DiffLine, p: &Palette) -> fmt::Result {
    let (style, tag, text) = match line {
        DiffLine::Hunk(t) => (p.hunk, "", t),
        DiffLine::Context(t) => (Style::new(), " ", t),
        DiffLine::Insert(t) => (p.create, "+", t),
        DiffLine::Delete(t) => (p.delete, "-", t),
    };
    writeln!(out, "{indent}  {style}{tag}{text}{style:#}")
}

fn write_unmanaged(out: &mut String, unmanaged: &[Unmanaged], p: &Palette) -> fmt::Result {
    writeln!(out, "{}Unmanaged (not touched):{:#}", p.bold, p.bold)?;
    for u in unmanaged {
        let marker = if u.governed {
            format!(" {}(governed){:#}", p.warning, p.warning)
        } else {
            String::new()
        };
        writeln!(out, "  {}{marker}: {}", u.address, one_line(&u.note))?;
    }
    Ok(())
}

/// Writes `text` after `indent` + `prefix`, continuation lines aligned under the first line's
/// text (`prefix_width` visible characters, escape codes excluded).
pub(crate) fn write_block(
    out: &mut String,
    indent: &str,
    prefix: &str,
    prefix_width: usize,
    text: &str,
) -> fmt::Result {
    let mut lines = text.lines();
    writeln!(out, "{indent}{prefix}{}", lines.next().unwrap_or(""))?;
    for line in lines {
        writeln!(out, "{indent}{:prefix_width$}{line}", "")?;
    }
    Ok(())
}

/// Free text on one line (notes are meant to be short; a stray newline must not break a list).
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn rich_plan() {
        insta::assert_snapshot!(plan_text(&sample::rich_plan(), false));
    }

    #[test]
    fn empty_plan() {
        insta::assert_snapshot!(plan_text(&sample::empty_plan(), false));
    }

    #[test]
    fn colour_only_when_asked() {
        let plan = sample::rich_plan();
        assert!(!plan_text(&plan, false).contains('\u{1b}'));
        let coloured = plan_text(&plan, true);
        assert!(
            coloured.contains("\u{1b}[32m  +\u{1b}[0m workspace."),
            "{coloured}"
        );
        // Stripping the escape codes gives back the plain rendering.
        let mut stripped = String::new();
        let mut rest = coloured.as_str();
        while let Some(i) = rest.find('\u{1b}') {
            stripped.push_str(&rest[..i]);
            let after = &rest[i..];
            let end = after.find('m').map_or(after.len(), |e| e + 1);
            rest = &after[end..];
        }
        stripped.push_str(rest);
        assert_eq!(stripped, plan_text(&plan, false));
    }

    /// Completeness at scale. Speed (linear, not quadratic, concatenation) is measured by the
    /// `render` column of `cargo bench --bench reconcile`, never here.
    #[test]
    fn a_hundred_thousand_changes_render_in_every_format() {
        let plan = sample::huge_plan(100_000);
        let text = plan_text(&plan, true);
        let markdown =
            crate::render::plan_markdown(&plan, crate::render::DEFAULT_MARKDOWN_MAX_CHARS);
        let json = crate::render::plan_json(&plan);
        assert!(text.contains("Plan: 0 to add, 100000 to change, 0 to destroy."));
        // Every change is in the text, the last one too.
        for change in [&plan.changes[0], &plan.changes[99_999]] {
            assert!(
                text.contains(&change.address.to_string()),
                "{}",
                change.address
            );
        }
        assert!(markdown.len() <= crate::render::DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(markdown.contains("**Plan: 0 to add, 100000 to change, 0 to destroy.**"));
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["changes"].as_array().map(Vec::len), Some(100_000));
    }

    #[test]
    fn short_commits() {
        assert_eq!(short_commit("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_commit("abc"), "abc");
    }
}
