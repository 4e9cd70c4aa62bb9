//! The markdown rendering of a plan for pull-request comments, capped under GitHub's size limit.
//!
//! Layout: title, summary line, one table row per change, warnings, unmanaged objects, then each
//! change's details in a collapsible section. GitHub rejects comments over 65,536 characters, so
//! the output is cut to `max_chars`: details go first (from the end), then unmanaged objects, then
//! table rows; warnings keep up to half of the room; a closing note says what was cut and how to
//! see everything.

use std::fmt::Write as _;

use super::attributes::{AttrLine, DiffLine, Shown, attr_lines};
use super::text::{Palette, one_line, plural, short_commit, write_attr_lines};
use crate::plan::{Action, Change, Plan, Source};

/// Default cap: below GitHub's 65,536-character comment limit, with room for a CI bot's own
/// header or footer.
pub const DEFAULT_MARKDOWN_MAX_CHARS: usize = 65_000;

/// Lets CI find and update its previous comment instead of adding a new one per push.
pub(crate) const PLAN_MARKER: &str = "<!-- msctl:plan -->";

/// Renders `plan` as markdown of at most `max_chars` bytes (never fewer bytes than characters,
/// so the cap holds whichever GitHub counts).
pub fn plan_markdown(plan: &Plan, max_chars: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{PLAN_MARKER}\n## msctl plan\n");
    if plan.is_empty() {
        let _ = writeln!(
            head,
            "**No changes.** Live state matches the configuration.\n"
        );
    } else {
        let _ = writeln!(head, "**{}**\n", plan.summary.line());
    }
    let _ = writeln!(head, "{}\n", meta_line(plan));

    let warnings = warning_lines(plan);
    let governed = plan.unmanaged.iter().filter(|u| u.governed).count();

    let table = Section {
        priority: 1,
        max_share: None,
        intro: "| Action | Address | What changes |\n| --- | --- | --- |\n".into(),
        outro: "\n".into(),
        len: plan.changes.len(),
        item: &|i| table_row(&plan.changes[i]),
    };
    let warning_section = Section {
        priority: 0,
        // Warnings outrank the table, but a plan of thousands of warned changes must still
        // leave room for it.
        max_share: Some(2),
        intro: "### Warnings\n\n".into(),
        outro: "\n".into(),
        len: warnings.len(),
        item: &|i| format!("- {}\n", warnings[i]),
    };
    let unmanaged = Section {
        priority: 2,
        max_share: None,
        intro: format!(
            "### Unmanaged (not touched)\n\n<details><summary>{} object{} ({governed} in a \
             governed scope)</summary>\n\n",
            plan.unmanaged.len(),
            plural(plan.unmanaged.len())
        ),
        outro: "\n</details>\n\n".into(),
        len: plan.unmanaged.len(),
        item: &|i| {
            let u = &plan.unmanaged[i];
            let governed = if u.governed { " **(governed)**" } else { "" };
            format!(
                "- {}{governed}: {}\n",
                code(&u.address.to_string()),
                text(&u.note)
            )
        },
    };
    let access_items = super::access::access_change_items(&plan.access);
    let access = Section {
        priority: 1,
        max_share: Some(2),
        intro: super::access::access_changes_intro(&plan.access),
        outro: "\n".into(),
        len: access_items.len(),
        item: &|i| access_items[i].clone(),
    };
    let details = Section {
        priority: 3,
        max_share: None,
        intro: "### Details\n\n".into(),
        outro: String::new(),
        len: plan.changes.len(),
        item: &|i| change_details(&plan.changes[i]),
    };

    let sections = [table, warning_section, access, unmanaged, details];
    assemble(&head, &sections, max_chars, |cuts| {
        let [rows, warnings, access, unmanaged, details] = cuts else {
            return String::new();
        };
        cut_note(
            "comment",
            &[
                (*details, "the details of {} resource"),
                (*rows, "{} table row"),
                (*warnings, "{} warning"),
                (*access, "{} access change"),
                (*unmanaged, "{} unmanaged object"),
            ],
            "msctl plan --format json",
        )
    })
}

/// The closing note of a shortened document: what was left out, and how to see everything.
/// `cuts` pairs a count with a phrase whose `{}` is replaced by the count (pluralised by `s`).
pub(crate) fn cut_note(document: &str, cuts: &[(usize, &str)], command: &str) -> String {
    let left_out: Vec<String> = cuts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, phrase)| format!("{}{}", phrase.replace("{}", &n.to_string()), plural(*n)))
        .collect();
    format!(
        "> [!NOTE]\n> This {document} was shortened to stay under GitHub's size limit; left out: \
         {}.\n> Run `{command}` to see all of it.\n",
        left_out.join(", ")
    )
}

/// `Backend `local` · configuration `config` at `1a2b3c4d5e6f` (uncommitted changes) · 12 API
/// calls`
pub(crate) fn meta_line(plan: &Plan) -> String {
    let mut line = format!(
        "<sub>Backend {} · configuration {}",
        code(&plan.backend),
        source_md(&plan.source)
    );
    if let Some(snapshot) = &plan.snapshot {
        let _ = write!(
            line,
            " · live state from snapshot {} taken {} ({} old), no credentials used",
            code(&snapshot.file),
            crate::model::time::utc(i64::try_from(snapshot.taken_at).unwrap_or(i64::MAX)),
            crate::plan::snapshot::age_text(snapshot.age_seconds)
        );
    } else if plan.api_calls > 0 {
        let _ = write!(
            line,
            " · live state read with {} API call{}",
            plan.api_calls,
            plural(plan.api_calls as usize)
        );
    }
    if !plan.live_fingerprint.is_empty() {
        let _ = write!(
            line,
            " · live fingerprint {}",
            code(short_commit(&plan.live_fingerprint))
        );
    }
    line.push_str("</sub>");
    line
}

fn source_md(source: &Source) -> String {
    let mut s = code(&source.config_dir);
    if let Some(commit) = &source.commit {
        let _ = write!(s, " at {}", code(short_commit(commit)));
    }
    if source.dirty {
        s.push_str(" (uncommitted changes)");
    }
    s
}

fn action_label(action: Action) -> &'static str {
    match action {
        Action::Create => "`+` create",
        Action::Update => "`~` update",
        Action::Replace => "`-/+` replace",
        Action::Delete => "`-` delete",
        Action::Rotate => "`+/-` rotate",
    }
}

pub(crate) fn table_row(change: &Change) -> String {
    let mut what: Vec<String> = change
        .attributes
        .iter()
        .map(|a| {
            if a.forces_replacement {
                format!("{} (forces replacement)", text(&a.name))
            } else {
                text(&a.name)
            }
        })
        .collect();
    if what.is_empty() {
        what.push("—".into());
    }
    let mut cell = what.join(", ");
    if change.manual.is_some() {
        cell.push_str("; **manual step**");
    }
    if !change.warnings.is_empty() {
        let n = change.warnings.len();
        let _ = write!(cell, "; ⚠️ {n} warning{}", plural(n));
    }
    format!(
        "| {} | {} | {cell} |\n",
        action_label(change.action),
        table_code(&change.address.to_string())
    )
}

pub(crate) fn change_details(change: &Change) -> String {
    let shown = match change.action {
        Action::Create | Action::Rotate => Shown::After,
        Action::Delete => Shown::Before,
        Action::Update | Action::Replace => Shown::Both,
    };
    let action = match change.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Rotate => "rotate",
    };
    let mut out = format!(
        "<details><summary><code>{} {}</code> {action}</summary>\n\n",
        change.action.symbol(),
        html(&change.address.to_string())
    );
    write_attribute_blocks(&mut out, &attr_lines(&change.attributes, shown));
    if change.attributes.is_empty() && change.manual.is_none() && change.warnings.is_empty() {
        // Some kinds are pure identity (a group membership): say so rather than show nothing.
        out.push_str("No attributes.\n\n");
    }
    if let Some(step) = &change.manual {
        let _ = writeln!(out, "**Manual step** (msctl cannot make this change):\n");
        for line in step.instructions.lines() {
            let _ = writeln!(out, "> {}", text(line));
        }
        out.push('\n');
    }
    for w in &change.warnings {
        let _ = writeln!(out, "**Warning:** {}\n", text(w));
    }
    out.push_str("</details>\n\n");
    out
}

/// Plain attributes in one ` ```text ` block; each policy document in its own ` ```diff ` block,
/// since GitHub only colours a diff whose `+`/`-` are in the first column.
pub(crate) fn write_attribute_blocks(out: &mut String, lines: &[AttrLine<'_>]) {
    let plain = Palette::plain();
    let simple: Vec<AttrLine<'_>> = lines
        .iter()
        .filter(|l| !matches!(l, AttrLine::Document { .. }))
        .cloned()
        .collect();
    if !simple.is_empty() {
        let mut body = String::new();
        let _ = write_attr_lines(&mut body, &simple, "", &plain);
        fenced(out, "text", &body);
    }
    for line in lines {
        if let AttrLine::Document {
            name,
            forces_replacement,
            diff,
        } = line
        {
            let forces = if *forces_replacement {
                " (forces replacement)"
            } else {
                ""
            };
            let _ = writeln!(out, "{}{forces}:\n", code(name));
            let mut body = String::new();
            for d in diff {
                let _ = match d {
                    DiffLine::Hunk(t) => writeln!(body, "{t}"),
                    DiffLine::Context(t) => writeln!(body, " {t}"),
                    DiffLine::Insert(t) => writeln!(body, "+{t}"),
                    DiffLine::Delete(t) => writeln!(body, "-{t}"),
                };
            }
            fenced(out, "diff", &body);
        }
    }
}

/// A fenced code block whose fence is longer than any backtick run inside `body`.
fn fenced(out: &mut String, lang: &str, body: &str) {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = write!(out, "{fence}{lang}\n{body}");
    if !body.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}\n");
}

/// A part of a capped document: an intro, items, an outro; dropped whole when no item fits.
pub(crate) struct Section<'a> {
    /// Lower is served first when the room runs short.
    pub priority: u8,
    /// At most 1/`max_share` of the room left when this section is served.
    pub max_share: Option<usize>,
    pub intro: String,
    pub outro: String,
    pub len: usize,
    /// Renders item `i`; called only for items that may fit, so huge plans cost little.
    pub item: &'a dyn Fn(usize) -> String,
}

/// Room kept for the closing note; the longest note (every count at 20 digits) is well below.
const NOTE_RESERVE: usize = 640;

/// Joins `head` and `sections` (in their order) within `max` bytes; when anything had to be cut,
/// appends `note(cuts)`, where `cuts[i]` counts the items of `sections[i]` left out.
pub(crate) fn assemble(
    head: &str,
    sections: &[Section<'_>],
    max: usize,
    note: impl Fn(&[usize]) -> String,
) -> String {
    // Try without the reserve first: a document that fits entirely needs no note.
    let (mut out, cuts) = fill(head, sections, max);
    if cuts.iter().all(|&c| c == 0) {
        // Only an absurdly small cap leaves the head itself too long.
        truncate_to(&mut out, max);
        return out;
    }
    let (mut out, cuts) = fill(head, sections, max.saturating_sub(NOTE_RESERVE));
    out.push_str(&note(&cuts));
    truncate_to(&mut out, max);
    out
}

fn fill(head: &str, sections: &[Section<'_>], limit: usize) -> (String, Vec<usize>) {
    let mut remaining = limit.saturating_sub(head.len());
    let mut bodies: Vec<String> = vec![String::new(); sections.len()];
    let mut cuts = vec![0; sections.len()];
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| sections[i].priority);
    for i in order {
        let s = &sections[i];
        if s.len == 0 {
            continue;
        }
        let room = match s.max_share {
            Some(share) => remaining / share.max(1),
            None => remaining,
        };
        let fixed = s.intro.len() + s.outro.len();
        let mut body = String::new();
        let mut used = fixed;
        let mut fitted = 0;
        for k in 0..s.len {
            let item = (s.item)(k);
            if used + item.len() > room {
                break;
            }
            used += item.len();
            body.push_str(&item);
            fitted = k + 1;
        }
        cuts[i] = s.len - fitted;
        if fitted > 0 {
            remaining -= used;
            let mut whole = String::with_capacity(used);
            whole.push_str(&s.intro);
            whole.push_str(&body);
            whole.push_str(&s.outro);
            bodies[i] = whole;
        }
    }
    let mut out = String::with_capacity(
        limit.min(head.len() + bodies.iter().map(String::len).sum::<usize>()),
    );
    out.push_str(head);
    for b in &bodies {
        out.push_str(b);
    }
    (out, cuts)
}

/// Cuts `s` to at most `max` bytes on a character boundary: the last resort when even the head
/// does not fit (a tiny cap).
fn truncate_to(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// Free text in markdown: every character markdown or GitHub could interpret is escaped, and
/// newlines are folded so a table row or list item stays one line.
pub(crate) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in one_line(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' | '!' | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An inline code span holding `s` verbatim, whatever backticks it contains.
pub(crate) fn code(s: &str) -> String {
    let s = one_line(s);
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // CommonMark strips one space from each side when both are present, so pad when the content
    // would otherwise touch the fence with a backtick.
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A code span inside a table cell: GFM splits cells on `|` before parsing code spans, so pipes
/// are escaped even there (GitHub renders `\|` in a cell's code span as `|`).
pub(crate) fn table_code(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// Text inside raw HTML (`<summary>`), where markdown is not parsed.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '|' => out.push_str("&#124;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Plan-wide warnings, then each change's warnings prefixed with its address, escaped for
/// markdown: the Warnings section of plan and review comments.
pub(crate) fn warning_lines(plan: &Plan) -> Vec<String> {
    plan.warnings
        .iter()
        .map(|w| text(w))
        .chain(plan.changes.iter().flat_map(|c| {
            c.warnings
                .iter()
                .map(move |w| format!("{}: {}", code(&c.address.to_string()), text(w)))
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    #[test]
    fn rich_plan() {
        insta::assert_snapshot!(plan_markdown(
            &sample::rich_plan(),
            DEFAULT_MARKDOWN_MAX_CHARS
        ));
    }

    #[test]
    fn empty_plan() {
        insta::assert_snapshot!(plan_markdown(
            &sample::empty_plan(),
            DEFAULT_MARKDOWN_MAX_CHARS
        ));
    }

    #[test]
    fn huge_plans_are_cut_under_the_cap() {
        let plan = sample::huge_plan(20_000);
        let md = plan_markdown(&plan, DEFAULT_MARKDOWN_MAX_CHARS);
        assert!(md.len() <= DEFAULT_MARKDOWN_MAX_CHARS, "{}", md.len());
        assert!(md.contains("**Plan: 0 to add, 20000 to change, 0 to destroy.**"));
        assert!(
            md.contains("left out: the details of 20000 resources, "),
            "{}",
            &md[md.len() - 600..]
        );
        assert!(md.contains("msctl plan --format json"));
        // The table was kept as far as it fits, and it ends on a whole row.
        assert!(md.contains("| `~` update | `workspace.ws-0.limit.model-0` | requests |"));
        let table_rows = md.lines().filter(|l| l.starts_with("| `~` update")).count();
        assert!(table_rows > 500, "{table_rows}");
        assert!(md.contains(&format!(", {} table rows.\n", 20_000 - table_rows)));
    }

    #[test]
    fn details_are_dropped_from_the_end_first() {
        let plan = sample::huge_plan(50);
        let full = plan_markdown(&plan, usize::MAX);
        assert!(!full.contains("shortened"));
        let cap = full.len() - 1000;
        let md = plan_markdown(&plan, cap);
        assert!(md.len() <= cap);
        // Every table row survives; only trailing details go.
        assert_eq!(
            md.lines().filter(|l| l.starts_with("| `~` update")).count(),
            50
        );
        assert!(md.contains("<code>~ workspace.ws-0.limit.model-0</code>"));
        assert!(!md.contains("<code>~ workspace.ws-0.limit.model-49</code>"));
        assert!(md.contains("resources.\n> Run `msctl plan --format json` to see all of it.\n"));
    }

    #[test]
    fn tiny_caps_still_hold() {
        for plan in [sample::rich_plan(), sample::empty_plan()] {
            for cap in [0, 10, 100, 700, 2000] {
                assert!(plan_markdown(&plan, cap).len() <= cap);
            }
        }
    }

    #[test]
    fn cells_and_summaries_are_escaped() {
        assert_eq!(text("a | b `c` <d> *e*"), r"a \| b \`c\` \<d\> \*e\*");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(table_code("a|b"), r"`a\|b`");
        assert_eq!(html("<b>&|"), "&lt;b&gt;&amp;&#124;");
        let mut out = String::new();
        fenced(&mut out, "text", "has ``` inside\n");
        assert_eq!(out, "````text\nhas ``` inside\n````\n\n");
    }
}
