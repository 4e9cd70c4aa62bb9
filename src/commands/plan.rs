//! `msctl plan`: what apply would change, rendered as text, markdown or JSON; `--out` saves it.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::session::{self, Session, Start};
use crate::cli::{Cli, Format, PlanArgs};
use crate::exit_code;
use crate::plan::Plan;
use crate::plan::safety::{self, SafetyOptions};
use crate::render;

pub fn run(cli: &Cli, args: &PlanArgs) -> anyhow::Result<i32> {
    let Start::Ready(session) = Session::start(cli)? else {
        return Ok(exit_code::ERROR);
    };
    let live = session.read_live()?;
    let plan = session.plan(cli, &live)?;
    print_plan(cli, &plan)?;
    let refused = refusals(&session, &plan, &live, args.allow_delete, args.force);
    if !refused.is_empty() {
        for r in &refused {
            eprintln!("error: {r}");
        }
        return Ok(exit_code::ERROR);
    }
    if let Some(out) = &args.out {
        save(out, &plan)?;
        eprintln!(
            "Saved the plan to `{}`; apply it with `msctl apply {}`.",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode {
        session::detailed(&plan)
    } else {
        exit_code::SUCCESS
    })
}

/// Renders a plan to stdout in the chosen format.
pub fn print_plan(cli: &Cli, plan: &Plan) -> anyhow::Result<()> {
    let text = match cli.format {
        Format::Text => render::plan_text(plan, super::use_color(cli)),
        Format::Markdown => render::plan_markdown(plan, render::DEFAULT_MARKDOWN_MAX_CHARS),
        Format::Json => render::plan_json(plan),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// The safety rails: refusals as messages (empty when the plan may proceed).
pub fn refusals(
    session: &Session,
    plan: &Plan,
    live: &crate::model::State,
    allow_delete: bool,
    force: bool,
) -> Vec<String> {
    let options = SafetyOptions {
        allow_delete: allow_delete || session.config.settings.allow_delete,
        force,
        managed_live: Some(plan.managed_live),
        ..SafetyOptions::default()
    };
    match safety::check(&plan.changes, live, &options) {
        Ok(()) => Vec::new(),
        Err(refusals) => refusals.iter().map(ToString::to_string).collect(),
    }
}

/// A saved plan: the plan and a checksum that detects edits.
#[derive(Serialize, Deserialize)]
struct SavedPlan {
    checksum: String,
    plan: Plan,
}

fn checksum(plan: &Plan) -> String {
    let bytes = serde_json::to_vec(plan).expect("plan serialises");
    session::hex(&Sha256::digest(bytes))
}

fn save(path: &Path, plan: &Plan) -> anyhow::Result<()> {
    let saved = SavedPlan {
        checksum: checksum(plan),
        plan: plan.clone(),
    };
    let text = serde_json::to_string_pretty(&saved)?;
    std::fs::write(path, text)
        .with_context(|| format!("failed to write plan file `{}`", path.display()))
}

/// Loads a saved plan, refusing one whose content no longer matches its checksum.
pub fn load_saved(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read plan file `{}`", path.display()))?;
    let saved: SavedPlan = serde_json::from_str(&text).with_context(|| {
        format!(
            "`{}` is not a plan file saved by `msctl plan --out`",
            path.display()
        )
    })?;
    if checksum(&saved.plan) != saved.checksum {
        anyhow::bail!(
            "plan file `{}` was modified after it was saved (checksum mismatch); refusing to apply it\nhint: run `msctl plan --out {}` again and review the new plan",
            path.display(),
            path.display()
        );
    }
    if saved.plan.format_version != crate::plan::FORMAT_VERSION {
        anyhow::bail!(
            "plan file `{}` has format version {}, this msctl reads {}",
            path.display(),
            saved.plan.format_version,
            crate::plan::FORMAT_VERSION
        );
    }
    Ok(saved.plan)
}
