//! `msctl apply`: plan (or load a saved plan), confirm, execute in dependency order, and record
//! the applied commit (backend ledger, git note).
//!
//! Where output goes: stdout carries the product, stderr diagnostics. In text and markdown, the
//! plan, then (text) one line per change as it finishes and the summary line; in JSON, exactly
//! one document, the [`ApplyResult`] (results, summary and the plan it applied), while the
//! per-change lines go to stderr as progress. Notes, hints and errors always go to stderr.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;

use super::checkout::Checkout;
use super::interrupt::Interrupt;
use super::output;
use super::plan::{print_plan, refusals};
use super::session::Session;
use super::{CommandError, Outcome};
use crate::apply::{self, ApplyReport, ApplyResult, Event, Stop};
use crate::backend::{AppliedRecord, Capability, ChangeOutcome};
use crate::cli::{ApplyArgs, Cli, Format};
use crate::config::Config;
use crate::git::DEFAULT_NOTES_REF;
use crate::model::{Address, Rename, State};
use crate::plan::saved::{self, SavedPlan};
use crate::plan::{Action, Plan, Source};
use crate::render;
use crate::render::text::{one_line, short_commit};

pub fn run(cli: &Cli, args: &ApplyArgs) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    if args.secrets_to.is_some()
        && !session
            .backend
            .capabilities()
            .has(Capability::IssuesSecrets)
    {
        // Before anything runs: a pipeline that expects the file must not find it missing after
        // a "successful" apply.
        return Err(CommandError::Usage(format!(
            "--secrets-to is used by the aliyun backend only; the {} backend hands out \
                    no secrets, so no file would be written\nhint: drop --secrets-to, or apply \
                    with --backend aliyun",
            session.backend.name()
        )));
    }
    // Before the live read the plan is built on: one apply at a time per state or ledger.
    let _lock = session.lock("apply", args.lock_timeout)?;
    let (plan, live) = plan_and_live(cli, args, &session)?;
    if cli.format() != Format::Json {
        print_plan(cli, &plan)?;
    }
    let refused = refusals(&session, &plan, &live, args.allow_delete, args.force);
    if !refused.is_empty() {
        return Err(CommandError::Refused(refused));
    }
    if plan.is_empty() {
        // Still a successful apply of this commit: `status` and `drift` measure from it.
        deliver_owed_secrets(&session, args);
        record(
            &session,
            &plan,
            &live,
            None,
            "No changes.".to_string(),
            notes(&session, args),
        )?;
        print_result(cli, &ApplyResult::new(&plan, None))?;
        return Ok(Outcome::Success);
    }
    // A saved plan was reviewed already; otherwise ask, and never assume consent without a
    // terminal.
    if args.plan_file.is_none() && !args.auto_approve {
        confirm(cli, &plan)?;
    }
    // Installed only now: before, Ctrl-C simply ends msctl (nothing was changed), and a prompt
    // waiting for `yes` is not left hanging on a cooperative stop.
    intend(&session, &plan, &live)?;
    let stop = Stop::new();
    let interrupt = Interrupt::install(&stop)?;
    let report = execute(cli, args, &session, &plan, &stop, &interrupt);
    let line = report.line();
    if cli.format() == Format::Text {
        output::stdout(&format!("\n{line}"))?;
    } else {
        diag!("\n{line}");
    }
    deliver_owed_secrets(&session, args);
    if !report.manual.is_empty() {
        diag!(
            "hint: msctl cannot make the {} manual step(s) through the API: do them as \
                    the plan says, then record them with `msctl ack ADDRESS...`",
            report.manual.len()
        );
    }
    secrets_note(args, &session, &plan, &report);
    record(
        &session,
        &plan,
        &live,
        Some(&report),
        line,
        notes(&session, args),
    )?;
    print_result(cli, &ApplyResult::new(&plan, Some(&report)))?;
    if let Some(signal) = interrupt.signal() {
        if !report.not_started.is_empty() {
            diag!(
                "note: the apply was stopped by {signal}: {} change(s) not started; the \
                        partial apply is recorded, and the next `msctl apply` converges",
                report.not_started.len()
            );
        }
        return Err(CommandError::Interrupted { signal });
    }
    if report.is_success() {
        Ok(Outcome::Success)
    } else {
        Err(CommandError::ApplyFailed {
            failed: report.failed.len(),
            skipped: report.skipped.len(),
            not_started: report.not_started.len(),
        })
    }
}

/// The plan to apply (a saved one, checked, or a fresh one) and the live state it applies to.
fn plan_and_live(cli: &Cli, args: &ApplyArgs, session: &Session) -> anyhow::Result<(Plan, State)> {
    Ok(match &args.plan_file {
        Some(path) => {
            let saved = saved::load(path)?;
            if saved.plan.backend != session.backend.name() {
                anyhow::bail!(
                    "plan file `{}` was made for the {} backend, not {}",
                    path.display(),
                    saved.plan.backend,
                    session.backend.name()
                );
            }
            // Before reading live state: a plan from another commit is refused whatever live is.
            check_saved_source(
                cli,
                &session.checkout,
                &saved.plan.source,
                path,
                args.allow_dirty,
            )?;
            rebuild_saved(cli, session, &saved, path)?
        }
        None => {
            session
                .checkout
                .refuse_unrecordable(cli.dir(), args.allow_dirty)?;
            let live = session.read_live()?;
            let plan = session.plan(&live)?;
            (plan, live)
        }
    })
}

/// Asks for `yes` on the terminal; refuses without one.
fn confirm(cli: &Cli, plan: &Plan) -> Result<(), CommandError> {
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::NoApproval);
    }
    if cli.format() == Format::Json {
        // stdout will carry only the result document; the person still needs to see the plan.
        diag!("{}", render::plan_text(plan, false));
    }
    output::stderr_prompt("\nDo you want to apply these changes? Only `yes` is accepted: ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        return Err(CommandError::Cancelled);
    }
    Ok(())
}

/// Runs the plan, reporting each change as it finishes: on stdout in text (the results are the
/// product), on stderr otherwise (progress beside the result document).
fn execute(
    cli: &Cli,
    args: &ApplyArgs,
    session: &Session,
    plan: &Plan,
    stop: &Stop,
    interrupt: &Interrupt,
) -> ApplyReport {
    let to_stdout = cli.format() == Format::Text;
    let total = plan.changes.len();
    let done = Mutex::new(0usize);
    let progress = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let emit = |line: String| {
        if to_stdout {
            // A closed stdout drops the line; the apply goes on (see `output`).
            if let Err(e) = output::stdout(&line) {
                diag!("warning: failed to write to stdout: {e}");
            }
        } else {
            diag!("{line}");
        }
    };
    apply::execute_with_stop(
        plan,
        session.backend.as_ref(),
        args.parallelism,
        stop,
        &|event| {
            let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
            match &event {
                Event::Succeeded { address, action } => {
                    *done += 1;
                    emit(format!(
                        "{} {address}: {}{}",
                        action.symbol(),
                        past(*action),
                        counter(progress, *done, total)
                    ));
                }
                Event::Failed {
                    address,
                    action,
                    error,
                    ..
                } => {
                    *done += 1;
                    emit(format!(
                        "{} {address}: failed: {error}{}",
                        action.symbol(),
                        counter(progress, *done, total)
                    ));
                }
                Event::Skipped { address, because } => {
                    *done += 1;
                    emit(format!("{address}: skipped (depends on failed {because})"));
                }
                Event::Manual { address } => {
                    *done += 1;
                    emit(format!("{address}: manual step pending (not applied)"));
                }
                Event::NotStarted { address, reason } => {
                    emit(format!("{address}: not started ({reason})"));
                }
                Event::Stopping { reason, in_flight } => {
                    let why = match interrupt.signal() {
                        Some(signal) => format!("{signal} received"),
                        None => reason.clone(),
                    };
                    diag!(
                        "Stopping ({why}): no new change starts; waiting for the \
                                {in_flight} in flight to finish. Send the signal again to exit at \
                                once (nothing more is recorded)."
                    );
                }
                Event::Started { .. } | Event::Finished { .. } => {}
            }
        },
    )
}

/// Where the new API keys' secrets went (aliyun backend).
fn secrets_note(args: &ApplyArgs, session: &Session, plan: &Plan, report: &ApplyReport) {
    let created_keys = plan.changes.iter().any(|c| {
        matches!(c.after, Some(crate::model::Resource::ApiKey(_)))
            && matches!(
                c.action,
                crate::plan::Action::Create
                    | crate::plan::Action::Replace
                    | crate::plan::Action::Rotate
            )
            && report.applied.contains(&c.address)
    });
    if created_keys
        && session
            .backend
            .capabilities()
            .has(Capability::IssuesSecrets)
    {
        match &args.secrets_to {
            Some(path) => diag!(
                "The secrets of the new API keys are in `{}` (mode 0600); move them to a \
                        secret store.",
                path.display()
            ),
            None => diag!(
                "note: the secrets of the new API keys were not kept (pass --secrets-to \
                        FILE to save them); reset a key in the console to get a new one"
            ),
        }
    }
}

/// The result document: the whole of stdout in JSON; a results table in markdown; nothing more
/// in text (the lines and the summary are out already).
fn print_result(cli: &Cli, result: &ApplyResult) -> Result<(), CommandError> {
    match cli.format() {
        Format::Json => output::stdout(&render::apply_result_json(result))?,
        Format::Markdown => output::stdout(&render::apply_result_markdown(result))?,
        Format::Text => {}
    }
    Ok(())
}

/// Resets the API keys whose secret an earlier run owed and never wrote, and writes their new
/// secrets to `--secrets-to` (issue 14); without it, the plan's warnings named them already.
fn deliver_owed_secrets(session: &Session, args: &ApplyArgs) {
    let delivery = match session.backend.deliver_owed_secrets() {
        Ok(delivery) => delivery,
        // The records stay in the ledger: the next apply tries again.
        Err(e) => {
            diag!(
                "warning: failed to deliver the API-key secrets an earlier run owed: \
                        {e}\nhint: run `msctl apply --secrets-to FILE` again"
            );
            return;
        }
    };
    if let (false, Some(path)) = (delivery.delivered.is_empty(), &args.secrets_to) {
        diag!(
            "Reset {} API key(s) whose secret an earlier run never wrote; their new \
                    secrets are in `{}`: {}",
            delivery.delivered.len(),
            path.display(),
            delivery.delivered.join(", ")
        );
    }
}

fn past(action: crate::plan::Action) -> &'static str {
    use crate::plan::Action;
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::Rotate => "rotated",
    }
}

/// Refuses a saved plan made from uncommitted changes (unless `--allow-dirty`) or from another
/// commit than the one checked out (or named by `--rev`): the ledger would record a commit whose
/// configuration is not what was applied.
fn check_saved_source(
    cli: &Cli,
    checkout: &Checkout,
    source: &Source,
    path: &Path,
    allow_dirty: bool,
) -> anyhow::Result<()> {
    if source.dirty && !allow_dirty {
        anyhow::bail!(
            "plan file `{}` was made from a working tree with uncommitted changes; \
                    refusing to apply it\nhint: commit the changes and run `msctl plan --out {}` \
                    again, or pass --allow-dirty",
            path.display(),
            path.display()
        );
    }
    let Some(planned) = &source.commit else {
        // Made outside a repository: there is no commit to hold it to.
        return Ok(());
    };
    let here = match cli.rev() {
        Some(rev) => format!("`{rev}`"),
        None => "`HEAD`".to_string(),
    };
    match &checkout.commit {
        Some(current) if &current.id == planned => Ok(()),
        Some(current) => anyhow::bail!(
            "plan file `{}` was made from commit {}, but {here} is commit {} ({}); \
                    refusing to apply it\nhint: check out {} to apply this plan, or run `msctl \
                    plan --out {}` again at {}",
            path.display(),
            short_commit(planned),
            current.short,
            one_line(&current.summary),
            short_commit(planned),
            path.display(),
            current.short
        ),
        None => anyhow::bail!(
            "plan file `{}` was made from commit {}, but `{}` is not in a git repository \
                    with commits; refusing to apply it\nhint: apply it from a clone at commit {}",
            path.display(),
            short_commit(planned),
            cli.dir().display(),
            short_commit(planned)
        ),
    }
}

/// The integrity check of a saved plan: rebuilds it from the configuration it names (its
/// commit; outside git or from uncommitted changes, the working tree whose configuration digest
/// it recorded) against the live state read now, and returns the rebuilt plan only when its
/// changes are identical to the file's. So a plan file can only carry what the reviewed
/// configuration produces: editing it and recomputing its checksum gains nothing.
fn rebuild_saved(
    cli: &Cli,
    session: &Session,
    saved: &SavedPlan,
    path: &Path,
) -> anyhow::Result<(Plan, State)> {
    let source = &saved.plan.source;
    let at_commit;
    let (config, from): (&Config, String) = match &source.commit {
        Some(commit) if !source.dirty => {
            let loaded = session.checkout.load_at(cli.dir(), commit)?;
            let Some(config) = loaded.config else {
                anyhow::bail!(
                    "failed to rebuild plan file `{}`: the configuration at commit {} \
                            has errors\nhint: `msctl validate --rev {}` shows them",
                    path.display(),
                    short_commit(commit),
                    short_commit(commit)
                );
            };
            at_commit = config;
            (
                &at_commit,
                format!("the configuration at commit {}", short_commit(commit)),
            )
        }
        _ => {
            let here = format!("the configuration in `{}`", cli.dir().display());
            saved.check_config(
                path,
                &session.config.desired,
                session.config.settings.prune_ram,
                &here,
            )?;
            (&session.config, here)
        }
    };
    let live = session.live_for(&config.desired, &session.read_live()?)?;
    saved.check_live(path, &live)?;
    let ledger = session.backend.load_ledger().with_context(|| {
        format!(
            "failed to read msctl's ledger from the {} backend",
            session.backend.name()
        )
    })?;
    saved.check_ledger(path, &ledger)?;
    let rebuilt = session.plan_for(
        &config.desired,
        source.clone(),
        &live,
        config.settings.prune_ram,
    )?;
    saved.check_rebuilt(path, &rebuilt, &from)?;
    Ok((rebuilt, live))
}

/// Records, before any change is made, that msctl owns what this apply creates: a run killed
/// half-way forgets nothing it made ([`Ledger::intend`](crate::backend::Ledger::intend)).
///
/// A rotation records the current key as retiring, from now: the backend creates the successor
/// beside it, and reads seat the successor at the address from then on.
fn intend(session: &Session, plan: &Plan, live: &State) -> anyhow::Result<()> {
    let creates: Vec<&crate::model::Resource> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Replace))
        .filter_map(|c| c.after.as_ref())
        .collect();
    let rotations: Vec<(Address, String)> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Rotate && c.manual.is_none())
        .filter_map(|c| {
            let key = live.live_keys.get(&c.address)?;
            Some((c.address.clone(), key.id.clone()))
        })
        .collect();
    if creates.is_empty() && rotations.is_empty() {
        return Ok(());
    }
    let mut ledger = session.backend.load_ledger()?;
    ledger.intend(creates);
    let since = super::session::now()?;
    for (address, id) in rotations {
        ledger
            .retiring
            .insert(address, crate::backend::RetiringKey { id, since });
    }
    session
        .backend
        .save_ledger(&ledger)
        .map_err(|e| anyhow::anyhow!("failed to record the planned creates in msctl's ledger: {e}"))
}

/// Whether this apply writes its git note: unless `--no-notes` or msctl.toml's
/// `project.git_notes = false` says not to (the quick start's config says so: its commits are
/// msctl's own).
fn notes(session: &Session, args: &ApplyArgs) -> Option<&'static str> {
    if args.no_notes {
        Some("--no-notes")
    } else if !session.config.settings.git_notes {
        Some("`project.git_notes = false`")
    } else {
        None
    }
}

/// Records the apply in the backend's ledger: what msctl now owns, settled from the live state
/// the plan was built on and what the apply did (no re-read, so a failing read cannot lose what
/// was made; see [`Ledger::settle`](crate::backend::Ledger::settle)), and the apply itself with
/// the commit it applied. Also writes that record as a git note on the commit
/// (`refs/notes/msctl`), for backends whose ledger is not kept anywhere a throwaway CI runner
/// could find it again; the note is best effort, and skipped when `no_notes` names why.
fn record(
    session: &Session,
    plan: &Plan,
    live: &State,
    report: Option<&apply::ApplyReport>,
    summary: String,
    no_notes: Option<&str>,
) -> anyhow::Result<()> {
    let mut ledger = session.backend.load_ledger()?;
    let mut outcomes = std::collections::HashMap::new();
    if let Some(r) = report {
        outcomes.extend(r.applied.iter().map(|a| (a, ChangeOutcome::Applied)));
        outcomes.extend(r.failed.iter().map(|(a, _)| (a, ChangeOutcome::Failed)));
    }
    let outcome = |c: &crate::plan::Change| {
        outcomes
            .get(&c.address)
            .copied()
            .unwrap_or(ChangeOutcome::NotRun)
    };
    // Renames carried out (now, or by an earlier run) move the ledger's records to the new
    // names, and ownership is settled against live with them done.
    let mut renames: Vec<Rename> = plan
        .changes
        .iter()
        .filter(|c| outcome(c) == ChangeOutcome::Applied)
        .filter_map(|c| Rename::of_update(c.before.as_ref()?, c.after.as_ref()?))
        .collect();
    renames.extend(crate::plan::renames::done(&session.config.desired, live));
    for rename in &renames {
        ledger.rename(rename);
    }
    let renamed_live = live.renamed(&renames);
    ledger.settle(
        &session.config.desired,
        &renamed_live,
        plan.changes.iter().map(|c| (c, outcome(c))),
    );
    let deleted: std::collections::BTreeSet<Address> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete && outcome(c) == ChangeOutcome::Applied)
        .map(|c| c.address.clone())
        .collect();
    ledger.settle_retiring(live, &deleted);
    // Not-started changes count as not applied in the record, like failures: live state may
    // differ from the commit because of them, and the summary line says the apply was partial.
    let (applied, failed) = report.map_or((0, 0), |r| {
        (r.applied.len(), r.failed.len() + r.not_started.len())
    });
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let record = AppliedRecord {
        commit: plan.source.commit.clone(),
        time,
        summary,
        applied,
        failed,
        dirty: plan.source.dirty,
    };
    ledger.last_apply = Some(record.clone());
    session
        .backend
        .save_ledger(&ledger)
        .map_err(|e| anyhow::anyhow!("failed to record the apply in msctl's ledger: {e}"))?;
    if let (Some(repo), Some(commit)) = (&session.checkout.repo, &record.commit) {
        if let Some(why) = no_notes {
            diag!(
                "Recorded commit {} as applied in the {} backend's ledger (no git note: {why}).",
                short_commit(commit),
                session.backend.name()
            );
            return Ok(());
        }
        let note = super::status::note_json(session.backend.name(), &record);
        match repo.write_note(commit, DEFAULT_NOTES_REF, &note) {
            Ok(()) => diag!(
                "Recorded commit {} as applied (ledger, and a git note under \
                        {DEFAULT_NOTES_REF}; CI pushes it with `git push origin \
                        {DEFAULT_NOTES_REF}`).",
                short_commit(commit)
            ),
            Err(e) => diag!(
                "warning: the apply is recorded in the {} backend's ledger, but not as a \
                        git note: {e}",
                session.backend.name()
            ),
        }
    }
    Ok(())
}

fn counter(show: bool, done: usize, total: usize) -> String {
    if show {
        format!(" [{done}/{total}]")
    } else {
        String::new()
    }
}
