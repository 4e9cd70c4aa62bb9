//! `msctl plan`: what apply would change, rendered as text, markdown or JSON; `--out` saves it;
//! `--base REV` reviews a pull request (semantic change, plan, drift from the base).

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkout::{Blamer, commit_ref};
use super::session::{self, Session};
use super::{CommandError, Outcome, output};
use crate::cli::{Cli, Format, PlanArgs};
use crate::model::State;
use crate::plan::safety::{self, SafetyOptions};
use crate::plan::{Action, DriftReport, Plan, Review, Source, desired_changes};
use crate::render;

pub fn run(cli: &Cli, args: &PlanArgs) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let live = session.read_live()?;
    let plan = session.plan(cli, &live)?;
    match &args.base {
        Some(base) => {
            let review = review(cli, &session, base, &plan, &live)?;
            print_review(cli, &review)?;
        }
        None => print_plan(cli, &plan)?,
    }
    let refused = refusals(&session, &plan, &live, args.allow_delete, args.force);
    if !refused.is_empty() {
        return Err(CommandError::Refused(refused));
    }
    if let Some(out) = &args.out {
        save(out, &plan)?;
        diag!(
            "Saved the plan to `{}`; apply it with `msctl apply {}`.",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}

/// Renders a plan to stdout in the chosen format (a closed stdout drops it quietly).
pub fn print_plan(cli: &Cli, plan: &Plan) -> std::io::Result<()> {
    let text = match cli.format {
        Format::Text => render::plan_text(plan, super::use_color(cli)),
        Format::Markdown => render::plan_markdown(plan, render::DEFAULT_MARKDOWN_MAX_CHARS),
        Format::Json => render::plan_json(plan),
    };
    output::stdout(&text)
}

/// The pull-request review against `base_rev`: the semantic change from the base's desired state
/// to this one, the plan (already computed), and live drift from the base. An error when the
/// base's configuration has errors (their diagnostics printed).
fn review(
    cli: &Cli,
    session: &Session,
    base_rev: &str,
    plan: &Plan,
    live: &State,
) -> anyhow::Result<Review> {
    let repo = session.checkout.require_repo(cli, "`msctl plan --base`")?;
    let base = repo.resolve(base_rev).map_err(|e| anyhow::anyhow!("{e}"))?;
    let loaded = session.checkout.load_at(cli, base_rev)?;
    let Some(base_config) = loaded.config.as_ref() else {
        let note = format!(
            "the configuration was read from the base revision `{base_rev}` ({})",
            base.short
        );
        super::report_diagnostics(&loaded, Some(&note));
        anyhow::bail!(
            "the configuration at base `{base_rev}` has errors; cannot review against it\nhint: `msctl validate --rev {base_rev}` shows them; review against another base with `--base REV`"
        );
    };
    // Declarations are located (file:line) but not blamed: in a review the last change to a
    // changed line is the pull request itself.
    let mut head_decl = Blamer::for_checkout(&session.checkout);
    let mut base_decl = Blamer::at_revision(Some(repo), base_rev);
    let mut changes = desired_changes(&base_config.desired, &session.config.desired);
    for c in &mut changes {
        c.declared_at = match c.action {
            Action::Delete => base_decl.declaration(base_config, &c.address, false),
            _ => head_decl.declaration(&session.config, &c.address, false),
        };
    }
    let base_live = session.live_for(&base_config.desired, live)?;
    let source = Source {
        config_dir: cli.dir.display().to_string(),
        commit: Some(base.id.clone()),
        dirty: false,
    };
    let base_plan = session.plan_for(
        &base_config.desired,
        source,
        &base_live,
        base_config.settings.prune_ram,
    )?;
    let mut drift = DriftReport::from_plan(&base_plan).items;
    for item in &mut drift {
        item.declared_at = base_decl.declaration(base_config, &item.address, false);
    }
    Ok(Review::new(
        base_rev.to_string(),
        commit_ref(&base),
        changes,
        plan.clone(),
        drift,
    ))
}

fn print_review(cli: &Cli, review: &Review) -> std::io::Result<()> {
    let text = match cli.format {
        Format::Text => render::review_text(review, super::use_color(cli)),
        Format::Markdown => render::review_markdown(review, render::DEFAULT_MARKDOWN_MAX_CHARS),
        Format::Json => render::review_json(review),
    };
    output::stdout(&text)
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
