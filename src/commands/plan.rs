//! `msctl plan`: what apply would change, rendered as text, markdown or JSON; `--out` saves it;
//! `--base REV` reviews a pull request (semantic change, plan, drift from the base).

use std::path::Path;

use anyhow::Context as _;

use super::checkout::{Blamer, commit_ref};
use super::session::Session;
use super::{CommandError, Outcome, output};
use crate::cli::{Cli, PlanArgs};
use crate::model::State;
use crate::plan::safety::{self, SafetyOptions};
use crate::plan::{Action, DriftReport, Plan, Review, Source, desired_changes, saved};

pub fn run(cli: &Cli, args: &PlanArgs) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let live = session.read_live()?;
    let plan = session.plan(&live)?;
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
        save(&session, out, &plan)?;
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
    output::emit(super::output_format(cli), plan)
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
    let repo = session
        .checkout
        .require_repo(cli.dir(), "`msctl plan --base`")?;
    let base = repo.resolve(base_rev).map_err(|e| anyhow::anyhow!("{e}"))?;
    let loaded = session.checkout.load_at(cli.dir(), base_rev)?;
    let Some(base_config) = loaded.config.as_ref() else {
        let note = format!(
            "the configuration was read from the base revision `{base_rev}` ({})",
            base.short
        );
        super::report_diagnostics(&loaded, Some(&note), cli.quiet());
        anyhow::bail!(
            "the configuration at base `{base_rev}` has errors; cannot review against \
                    it\nhint: `msctl validate --rev {base_rev}` shows them; review against \
                    another base with `--base REV`"
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
        config_dir: cli.dir().display().to_string(),
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
    output::emit(super::output_format(cli), review)
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
        rotated_out: rotated_out(session),
        ..SafetyOptions::default()
    };
    match safety::check(&plan.changes, live, &options) {
        Ok(()) => Vec::new(),
        Err(refusals) => refusals.iter().map(ToString::to_string).collect(),
    }
}

/// The predecessors of rotated API keys (`ADDRESS#ID`), as the ledger records them: an unreadable
/// ledger names none, so the rail stays up.
fn rotated_out(session: &Session) -> std::collections::BTreeSet<crate::model::Address> {
    session
        .backend
        .load_ledger()
        .map(|l| {
            l.retiring
                .into_iter()
                .map(|(of, r)| crate::model::Address::Duplicate {
                    of: Box::new(of),
                    id: r.id,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Saves the plan with the digests of its inputs (the configuration, msctl's ledger), which
/// `apply FILE` checks before it rebuilds the plan and compares (see [`crate::plan::saved`]).
fn save(session: &Session, path: &Path, plan: &Plan) -> anyhow::Result<()> {
    let ledger = session.backend.load_ledger().with_context(|| {
        format!(
            "failed to read msctl's ledger from the {} backend",
            session.backend.name()
        )
    })?;
    let inputs = saved::Inputs {
        config_digest: Some(saved::config_digest(
            &session.config.desired,
            session.config.settings.prune_ram,
        )),
        ledger_digest: Some(saved::ledger_digest(&ledger)),
    };
    saved::save(path, plan, inputs)?;
    Ok(())
}
