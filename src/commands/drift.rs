//! `msctl drift`: a scheduled check (exit 2 on drift) that tells apart (a) commits merged but not
//! applied yet (the desired state at the checkout against the desired state at the last applied
//! commit) from (b) out-of-band changes (live state against what was last applied), each drifted
//! resource with the commit and author of the last change to its declaration.
//!
//! Without a repository or a recorded apply of a commit it falls back to comparing live with the
//! configuration as read, and says so.

use super::checkout::{Blamer, commit_ref};
use super::session::Session;
use super::status::{commits_since, last_applied};
use super::{CommandError, Outcome, output};
use crate::backend::Capability;
use crate::cli::Cli;
use crate::model::{Resource, State};
use crate::plan::drift::DriftReport;
use crate::plan::{Action, AppliedCommit, History, Source, desired_changes};

pub fn run(cli: &Cli) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let live = session.read_live()?;
    let mut report = match last_applied(cli, &session)? {
        Ok(applied) => match against_applied(cli, &session, &live, &applied)? {
            Ok(report) => report,
            Err(why) => fallback(&session, &live, why)?,
        },
        Err(why) => fallback(&session, &live, why)?,
    };
    report.risks = crate::plan::drift::key_risks(
        &live,
        session
            .backend
            .capabilities()
            .has(Capability::WorkspaceMembers),
    );
    let declares_members = session
        .config
        .desired
        .resources
        .values()
        .any(|r| matches!(r, Resource::Member(_)));
    if declares_members
        && !session
            .backend
            .capabilities()
            .has(Capability::WorkspaceMembers)
    {
        // Said on stderr so the report (stdout) stays the document its schema describes.
        diag!(
            "note: workspace members cannot be read through the {} backend's API: they \
                    are compared with the memberships acknowledged in msctl's ledger (`msctl \
                    ack`), so changes made in the console are not detected",
            session.backend.name()
        );
    }
    // A closed stdout (`msctl drift | head -1`) drops the report, not the verdict.
    output::emit(super::output_format(cli), &report)?;
    Ok(if report.in_sync() {
        Outcome::Success
    } else {
        Outcome::Changes
    })
}

/// The report with history: out-of-band changes against the configuration at the applied
/// commit, and what the checkout changes since. `Err` (a reason) when that configuration cannot
/// be loaded, so the caller falls back.
fn against_applied(
    cli: &Cli,
    session: &Session,
    live: &State,
    applied: &AppliedCommit,
) -> anyhow::Result<Result<DriftReport, String>> {
    let short = &applied.commit.short;
    let Some(head) = session.checkout.commit.as_ref().map(commit_ref) else {
        return Ok(Err("the checkout has no commit to compare".to_string()));
    };
    let loaded = match session.checkout.load_at(cli.dir(), &applied.commit.id) {
        Ok(loaded) => loaded,
        Err(e) => {
            return Ok(Err(format!(
                "the configuration at the last applied commit {short} cannot be read: {e:#}"
            )));
        }
    };
    let Some(applied_config) = loaded.config.as_ref() else {
        let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        return Ok(Err(format!(
            "the configuration at the last applied commit {short} has {errors} error{} \
                    (`msctl validate --rev {short}`)",
            if errors == 1 { "" } else { "s" }
        )));
    };
    let repo = session.checkout.repo.as_ref();

    // (b) Out-of-band: live against what was applied.
    let applied_live = session.live_for(&applied_config.desired, live)?;
    let source = Source {
        config_dir: cli.dir().display().to_string(),
        commit: Some(applied.commit.id.clone()),
        dirty: false,
    };
    let plan = session.plan_for(
        &applied_config.desired,
        source,
        &applied_live,
        applied_config.settings.prune_ram,
    )?;
    let mut report = DriftReport::from_plan(&plan);
    let mut applied_blame = Blamer::at_revision(repo, &applied.commit.id);
    for item in &mut report.items {
        item.declared_at = applied_blame.declaration(applied_config, &item.address, true);
    }

    // (a) Merged, not applied: the checkout's desired state against the applied one.
    let mut head_blame = Blamer::for_checkout(&session.checkout);
    let mut unapplied = desired_changes(&applied_config.desired, &session.config.desired);
    for c in &mut unapplied {
        c.declared_at = match c.action {
            // Removed declarations: where they were, and who last changed them before.
            Action::Delete => applied_blame.declaration(applied_config, &c.address, true),
            _ => head_blame.declaration(&session.config, &c.address, true),
        };
    }
    let (ahead, unapplied_commits) = commits_since(session, &applied.commit, &head)?;

    let mut notes = Vec::new();
    if applied.dirty {
        notes.push(format!(
            "commit {short} was applied with uncommitted changes (`--allow-dirty`): \
                    out-of-band changes may include them"
        ));
    }
    if applied.failed > 0 {
        notes.push(format!(
            "{} change{} failed in the last apply: live state may differ from commit \
                    {short} because of {}",
            applied.failed,
            if applied.failed == 1 { "" } else { "s" },
            if applied.failed == 1 { "it" } else { "them" }
        ));
    }
    report.note = (!notes.is_empty()).then(|| notes.join("; "));
    report.history = Some(History {
        head,
        dirty: session.checkout.dirty,
        last_applied: applied.clone(),
        ahead,
        unapplied_commits,
        unapplied,
    });
    Ok(Ok(report))
}

/// Today's comparison (live against the configuration as read), saying why.
fn fallback(session: &Session, live: &State, why: String) -> anyhow::Result<DriftReport> {
    let plan = session.plan(live)?;
    let mut report = DriftReport::from_plan(&plan);
    let mut blame = Blamer::for_checkout(&session.checkout);
    for item in &mut report.items {
        item.declared_at = blame.declaration(&session.config, &item.address, true);
    }
    report.note = Some(format!(
        "{why}; compared live state with the configuration as read instead, so unapplied commits \
         and out-of-band changes are not told apart"
    ));
    Ok(report)
}
