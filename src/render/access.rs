//! Renderers of the access model: `msctl access` answers, `msctl envs` tables, and the plan's
//! "Access changes" section, each as terminal text, pull-request markdown and JSON.
//!
//! The documents are plain data (`crate::access`); these functions only format them, so the
//! three formats show the same facts.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::json::to_pretty_json;
use super::markdown::{Section, assemble, code, cut_note, table_code, text};
use super::text::{Palette, plural};
use crate::access::{
    AccessAnswer, AccessChanges, Chain, EnvMatrix, EnvSet, Fact, ModelRow, RiskFact, Subject,
};

// ---------------------------------------------------------------------------------------------
// `msctl access`

/// Renders an answer for a terminal.
pub fn access_text(answer: &AccessAnswer, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    let _ = write_answer(&mut out, answer, &p);
    out
}

fn write_answer(out: &mut String, a: &AccessAnswer, p: &Palette) -> fmt::Result {
    writeln!(out, "{}{}{:#} ({})", p.bold, question(a), p.bold, a.source)?;
    if let (Some(ws), None, None) = (&a.query.workspace, &a.query.model, &a.query.subject) {
        let admins = administrators(a, ws);
        writeln!(
            out,
            "Administered by: {}",
            if admins.is_empty() {
                "nobody holds the Administrator page".to_string()
            } else {
                admins.join(", ")
            }
        )?;
    }
    if !a.models.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}Models:{:#}", p.bold, p.bold)?;
        for m in &a.models {
            write_model(out, m)?;
        }
    }
    let groups = by_subject(&a.facts);
    if groups.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Nobody: no principal or key has access matching the question."
        )?;
    }
    for (subject, facts) in &groups {
        writeln!(out)?;
        writeln!(out, "{}{subject}{:#}", p.bold, p.bold)?;
        // Account-wide first, then per workspace, when the facts span several.
        let mut scopes: BTreeMap<Option<&str>, Vec<&Fact>> = BTreeMap::new();
        for f in facts {
            scopes.entry(f.grant.workspace()).or_default().push(f);
        }
        let headed = scopes.len() > 1;
        for (scope, facts) in scopes {
            let indent = if headed {
                match scope {
                    None => writeln!(out, "  account-wide:")?,
                    Some(w) => writeln!(out, "  in {w}:")?,
                }
                "    "
            } else {
                "  "
            };
            for f in facts {
                write_fact(out, f, indent, p)?;
            }
        }
    }
    if !a.managers.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}From the management layer (super administrators manage every workspace; \
                    no membership needed):{:#}",
            p.bold, p.bold
        )?;
        for f in &a.managers {
            writeln!(out, "  {}: {}", f.subject, f.grant)?;
            write_chains(out, &f.because, "      ")?;
        }
    }
    if !a.risks.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}Risks:{:#}", p.warning, p.warning)?;
        for r in &a.risks {
            write_risk(out, r, p)?;
        }
    }
    Ok(())
}

/// The subjects holding the Administrator page of `ws` among the answer's facts.
fn administrators(a: &AccessAnswer, ws: &str) -> Vec<String> {
    a.facts
        .iter()
        .filter(|f| {
            f.effective
                && matches!(&f.grant,
                    crate::access::Grant::Administrator { workspace } if workspace == ws)
        })
        .map(|f| f.subject.to_string())
        .collect()
}

/// `Who can use qwen-plus in chatbot-prod`, `What user bob can do`, ...
fn question(a: &AccessAnswer) -> String {
    let q = &a.query;
    let ws = q
        .workspace
        .as_deref()
        .map(|w| format!(" in {w}"))
        .unwrap_or_default();
    match (&q.subject, &q.model) {
        (Some(s), Some(m)) => format!("What {} can do with {m}{ws}", subject_name(s)),
        (Some(s), None) => format!("What {} can do{ws}", subject_name(s)),
        (None, Some(m)) => format!("Who can call, fine-tune or deploy {m}{ws}"),
        (None, None) if q.workspace.is_some() => {
            format!(
                "Access sheet of workspace {}",
                q.workspace.as_deref().unwrap_or("")
            )
        }
        (None, None) => "Everything everyone can do".to_string(),
    }
}

/// A key asked by name alone (any workspace) reads `key NAME`.
fn subject_name(s: &Subject) -> String {
    match s {
        Subject::Key { workspace, name } if workspace.is_empty() => format!("key {name}"),
        other => other.to_string(),
    }
}

fn by_subject(facts: &[Fact]) -> BTreeMap<&Subject, Vec<&Fact>> {
    let mut groups: BTreeMap<&Subject, Vec<&Fact>> = BTreeMap::new();
    for f in facts {
        groups.entry(&f.subject).or_default().push(f);
    }
    groups
}

fn write_model(out: &mut String, m: &ModelRow) -> fmt::Result {
    let model = if m.model == crate::access::EVERY_MODEL {
        "every model"
    } else {
        &m.model
    };
    writeln!(out, "  {model} in {}: {}", m.workspace, kinds(m))?;
    writeln!(out, "      limit: {}", m.limit)?;
    if let Some(share) = m.quota_share {
        writeln!(out, "      quota share: {share}")?;
    }
    write_chains(out, std::slice::from_ref(&m.because), "      ")
}

fn kinds(m: &ModelRow) -> String {
    if m.kinds.is_empty() {
        return "nothing authorized".to_string();
    }
    m.kinds
        .iter()
        .map(|k| k.verb())
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_fact(out: &mut String, f: &Fact, indent: &str, p: &Palette) -> fmt::Result {
    if f.effective {
        writeln!(out, "{indent}{}", f.grant)?;
    } else {
        writeln!(
            out,
            "{indent}{}{} (overridden: an explicit Deny wins){:#}",
            p.delete, f.grant, p.delete
        )?;
    }
    let inner = format!("{indent}    ");
    write_chains(out, &f.because, &inner)?;
    for chain in &f.overridden_by {
        write_chain(out, chain, &format!("{inner}denied by: "))?;
    }
    for l in &f.limits {
        writeln!(out, "{inner}{l}")?;
    }
    Ok(())
}

/// `why: ADDRESS: says` then `     ADDRESS: says` for each step; `or:` before other routes.
fn write_chains(out: &mut String, chains: &[Chain], indent: &str) -> fmt::Result {
    for (i, chain) in chains.iter().enumerate() {
        let label = if i == 0 { "why: " } else { "or:  " };
        write_chain(out, chain, &format!("{indent}{label}"))?;
    }
    Ok(())
}

fn write_chain(out: &mut String, chain: &Chain, first: &str) -> fmt::Result {
    let pad = " ".repeat(first.chars().count());
    for (i, step) in chain.iter().enumerate() {
        let lead = if i == 0 { first } else { &pad };
        writeln!(out, "{lead}{} ({})", step.says, step.address)?;
    }
    Ok(())
}

fn write_risk(out: &mut String, r: &RiskFact, p: &Palette) -> fmt::Result {
    writeln!(
        out,
        "  {}!{:#} {}: {}",
        p.warning, p.warning, r.subject, r.message
    )?;
    write_chain(out, &r.because, "      why: ")
}

/// Renders an answer as markdown of at most `max_chars` bytes.
pub fn access_markdown(a: &AccessAnswer, max_chars: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "## {}\n", text(&question(a)));
    let _ = writeln!(head, "<sub>{}</sub>\n", text(&a.source));
    if let (Some(ws), None, None) = (&a.query.workspace, &a.query.model, &a.query.subject) {
        let admins = administrators(a, ws);
        let _ = writeln!(
            head,
            "Administered by: {}\n",
            if admins.is_empty() {
                "nobody holds the Administrator page".to_string()
            } else {
                text(&admins.join(", "))
            }
        );
    }
    let groups: Vec<(&Subject, Vec<&Fact>)> = by_subject(&a.facts).into_iter().collect();
    let models = Section {
        priority: 0,
        max_share: Some(3),
        intro: "### Models\n\n| Workspace | Model | Authorized | Limit | Quota share |\n| --- | \
                --- | --- | --- | --- |\n"
            .into(),
        outro: "\n".into(),
        len: a.models.len(),
        item: &|i| {
            let m = &a.models[i];
            format!(
                "| {} | {} | {} | {} | {} |\n",
                table_code(&m.workspace),
                table_code(&m.model),
                text(&kinds(m)),
                text(&m.limit),
                text(&m.quota_share.map_or("-".to_string(), |s| s.to_string()))
            )
        },
    };
    let risks = Section {
        priority: 0,
        max_share: Some(3),
        intro: "### Risks\n\n".into(),
        outro: "\n".into(),
        len: a.risks.len(),
        item: &|i| {
            let r = &a.risks[i];
            format!(
                "- ⚠️ **{}**: {} ({})\n",
                text(&r.subject.to_string()),
                text(&r.message),
                chain_md(&r.because)
            )
        },
    };
    let facts = Section {
        priority: 1,
        max_share: None,
        intro: "### Access\n\n".into(),
        outro: String::new(),
        len: groups.len(),
        item: &|i| {
            let (subject, facts) = &groups[i];
            let mut s = format!(
                "#### {}\n\n| Can | Why | Limits |\n| --- | --- | --- |\n",
                text(&subject.to_string())
            );
            for f in facts {
                let mut can = text(&f.grant.to_string());
                if !f.effective {
                    can = format!("~~{can}~~ (overridden by a Deny)");
                }
                let why: Vec<String> = f.because.iter().map(chain_md).collect();
                let _ = writeln!(
                    s,
                    "| {can} | {} | {} |",
                    why.join(" <br> or: "),
                    f.limits
                        .iter()
                        .map(|l| text(l))
                        .collect::<Vec<_>>()
                        .join(" <br> ")
                );
            }
            s.push('\n');
            s
        },
    };
    let managers = Section {
        priority: 2,
        max_share: None,
        intro: "### From the management layer\n\n".into(),
        outro: "\n".into(),
        len: a.managers.len(),
        item: &|i| {
            let f = &a.managers[i];
            format!(
                "- {}: {} ({})\n",
                text(&f.subject.to_string()),
                text(&f.grant.to_string()),
                f.because.first().map(chain_md).unwrap_or_default()
            )
        },
    };
    let sections = [models, risks, facts, managers];
    assemble(&head, &sections, max_chars, |cuts| {
        let [models, risks, subjects, managers] = cuts else {
            return String::new();
        };
        cut_note(
            "answer",
            &[
                (*subjects, "{} principal or key"),
                (*models, "{} model row"),
                (*risks, "{} risk"),
                (*managers, "{} manager"),
            ],
            "msctl access ... --format json",
        )
    })
}

/// `says (`address`) → says (`address`)`, for a table cell or list item.
fn chain_md(chain: &Chain) -> String {
    chain
        .iter()
        .map(|s| format!("{} ({})", text(&s.says), table_code(&s.address.to_string())))
        .collect::<Vec<_>>()
        .join(" → ")
}

pub fn access_json(a: &AccessAnswer) -> String {
    to_pretty_json(a)
}

pub fn access_schema() -> String {
    to_pretty_json(&schemars::schema_for!(AccessAnswer))
}

// ---------------------------------------------------------------------------------------------
// `msctl envs`

const MISSING: &str = "-";

/// Renders environment tables for a terminal: `*` marks rows that differ, and a line under each
/// table names what an environment is missing.
pub fn envs_text(m: &EnvMatrix, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}Environments side by side{:#} ({})",
        p.bold, p.bold, m.source
    );
    if m.sets.is_empty() {
        let _ = writeln!(
            out,
            "\nNo workspace declaration spans several environments."
        );
    }
    for set in &m.sets {
        let _ = write_set(&mut out, set, &p);
    }
    out
}

fn write_set(out: &mut String, set: &EnvSet, p: &Palette) -> fmt::Result {
    writeln!(out)?;
    let differing = set.rows.iter().filter(|r| r.differs).count();
    writeln!(
        out,
        "{}{}{:#}: {} ({} row{} differ{})",
        p.bold,
        set.declaration,
        p.bold,
        set.workspaces.join(", "),
        differing,
        plural(differing),
        if differing == 1 { "s" } else { "" }
    )?;
    for a in &set.absent {
        writeln!(
            out,
            "  {}note:{:#} workspace {a} does not exist here",
            p.warning, p.warning
        )?;
    }
    let mut header = vec![" ".to_string(), "what".to_string(), "item".to_string()];
    header.extend(set.environments.iter().cloned());
    let mut table = vec![header];
    for r in &set.rows {
        let mut row = vec![
            if r.differs { "*" } else { " " }.to_string(),
            r.section.clone(),
            r.item.clone(),
        ];
        row.extend(
            r.cells
                .iter()
                .map(|c| c.clone().unwrap_or_else(|| MISSING.into())),
        );
        table.push(row);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, row) in table.iter().enumerate() {
        let style = if i == 0 {
            p.bold
        } else if row[0] == "*" {
            p.update
        } else {
            anstyle::Style::new()
        };
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "  {style}{}{style:#}", cells.join("  ").trim_end())?;
    }
    let missing: Vec<&crate::access::EnvRow> = set
        .rows
        .iter()
        .filter(|r| !r.missing_in.is_empty())
        .collect();
    if !missing.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "  {}Missing in some environments:{:#}",
            p.warning, p.warning
        )?;
        for r in missing {
            writeln!(
                out,
                "    {} {}: missing in {}",
                r.section,
                r.item,
                r.missing_in.join(", ")
            )?;
        }
    }
    Ok(())
}

/// Renders environment tables as markdown of at most `max_chars` bytes.
pub fn envs_markdown(m: &EnvMatrix, max_chars: usize) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "## Environments side by side\n");
    let _ = writeln!(head, "<sub>{}</sub>\n", text(&m.source));
    if m.sets.is_empty() {
        let _ = writeln!(
            head,
            "No workspace declaration spans several environments.\n"
        );
    }
    let sets = Section {
        priority: 0,
        max_share: None,
        intro: String::new(),
        outro: String::new(),
        len: m.sets.len(),
        item: &|i| set_markdown(&m.sets[i]),
    };
    assemble(&head, &[sets], max_chars, |cuts| {
        cut_note(
            "table",
            &[(cuts.first().copied().unwrap_or(0), "{} workspace set")],
            "msctl envs --format json",
        )
    })
}

fn set_markdown(set: &EnvSet) -> String {
    let mut s = format!("### {}\n\n", code(&set.declaration));
    for a in &set.absent {
        let _ = writeln!(s, "> workspace {} does not exist here\n", code(a));
    }
    let _ = write!(s, "| | What | Item |");
    for e in &set.environments {
        let _ = write!(s, " {} |", text(e));
    }
    let _ = write!(s, "\n| --- | --- | --- |");
    for _ in &set.environments {
        s.push_str(" --- |");
    }
    s.push('\n');
    for r in &set.rows {
        let mark = if r.differs { "≠" } else { "" };
        let _ = write!(
            s,
            "| {mark} | {} | {} |",
            text(&r.section),
            table_code(&r.item)
        );
        for c in &r.cells {
            match c {
                Some(v) => {
                    let _ = write!(s, " {} |", text(v));
                }
                None => s.push_str(" **missing** |"),
            }
        }
        s.push('\n');
    }
    s.push('\n');
    let missing: Vec<_> = set
        .rows
        .iter()
        .filter(|r| !r.missing_in.is_empty())
        .collect();
    if !missing.is_empty() {
        s.push_str("Missing in some environments:\n\n");
        for r in missing {
            let _ = writeln!(
                s,
                "- {} {}: missing in {}",
                text(&r.section),
                code(&r.item),
                text(&r.missing_in.join(", "))
            );
        }
        s.push('\n');
    }
    s
}

pub fn envs_json(m: &EnvMatrix) -> String {
    to_pretty_json(m)
}

pub fn envs_schema() -> String {
    to_pretty_json(&schemars::schema_for!(EnvMatrix))
}

// ---------------------------------------------------------------------------------------------
// The plan's "Access changes"

/// The plan text's section: escalations first (marked `!`), then each gain and loss.
pub(crate) fn write_access_changes(
    out: &mut String,
    changes: &AccessChanges,
    p: &Palette,
) -> fmt::Result {
    if changes.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let escalations = changes.escalations();
    let note = if escalations > 0 {
        format!(" ({escalations} escalation{} first)", plural(escalations))
    } else {
        String::new()
    };
    writeln!(out, "{}Access changes{note}:{:#}", p.bold, p.bold)?;
    for c in &changes.changes {
        let style = match c.direction {
            crate::access::Direction::Gained => p.create,
            crate::access::Direction::Lost => p.delete,
        };
        match &c.escalation {
            Some(why) => writeln!(
                out,
                "  {}! {why}:{:#} {style}{c}{style:#}",
                p.warning, p.warning
            )?,
            None => writeln!(out, "    {style}{c}{style:#}")?,
        }
    }
    Ok(())
}

/// The plan markdown's items: one list line per change, escalations flagged.
pub(crate) fn access_change_items(changes: &AccessChanges) -> Vec<String> {
    changes
        .changes
        .iter()
        .map(|c| {
            let flag = match &c.escalation {
                Some(why) => format!("⚠️ **{}**: ", text(why)),
                None => String::new(),
            };
            let why = c
                .because
                .last()
                .map(|s| format!(" ({})", code(&s.address.to_string())))
                .unwrap_or_default();
            format!("- {flag}{}{why}\n", text(&c.to_string()))
        })
        .collect()
}

/// The intro of the markdown section.
pub(crate) fn access_changes_intro(changes: &AccessChanges) -> String {
    let escalations = changes.escalations();
    if escalations > 0 {
        format!(
            "### Access changes\n\n**{escalations} escalation{} listed first.**\n\n",
            plural(escalations)
        )
    } else {
        "### Access changes\n\n".to_string()
    }
}

#[cfg(test)]
mod tests;
