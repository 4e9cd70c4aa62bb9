//! `msctl apply`: plan (or load a saved plan), confirm, execute in dependency order, and record
//! the applied commit (backend ledger, git note).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Mutex;

use super::checkout::Checkout;
use super::plan::{load_saved, print_plan, refusals};
use super::session::{Session, Start, fingerprint};
use crate::apply::{self, Event};
use crate::backend::AppliedRecord;
use crate::cli::{ApplyArgs, Cli};
use crate::exit_code;
use crate::git::DEFAULT_NOTES_REF;
use crate::model::State;
use crate::plan::{Plan, Source};
use crate::render::text::{one_line, short_commit};

pub fn run(cli: &Cli, args: &ApplyArgs) -> anyhow::Result<i32> {
    let Start::Ready(session) = Session::start(cli)? else {
        return Ok(exit_code::ERROR);
    };
    let (plan, live) = match &args.plan_file {
        Some(path) => {
            let saved = load_saved(path)?;
            if saved.backend != session.backend.name() {
                anyhow::bail!(
                    "plan file `{}` was made for the {} backend, not {}",
                    path.display(),
                    saved.backend,
                    session.backend.name()
                );
            }
            // Before reading live state: a plan from another commit is refused whatever live is.
            check_saved_source(
                cli,
                &session.checkout,
                &saved.source,
                path,
                args.allow_dirty,
            )?;
            let live = session.read_live()?;
            if saved.live_fingerprint != fingerprint(&live) {
                anyhow::bail!(
                    "the live state changed since plan file `{}` was made; refusing to apply a stale plan\nhint: run `msctl plan --out {}` again and review the new plan",
                    path.display(),
                    path.display()
                );
            }
            (saved, live)
        }
        None => {
            if session.checkout.dirty && !args.allow_dirty {
                anyhow::bail!(
                    "the config directory `{}` has uncommitted changes; refusing to apply a configuration no commit records\nhint: commit them first (the ledger records the applied commit), or pass --allow-dirty",
                    cli.dir.display()
                );
            }
            let live = session.read_live()?;
            let plan = session.plan(cli, &live)?;
            (plan, live)
        }
    };
    if args.secrets_to.is_some() && session.backend.name() != "aliyun" {
        eprintln!(
            "note: --secrets-to is used by the aliyun backend only; the {} backend hands out no secrets",
            session.backend.name()
        );
    }
    print_plan(cli, &plan)?;
    let refused = refusals(&session, &plan, &live, args.allow_delete, args.force);
    if !refused.is_empty() {
        for r in &refused {
            eprintln!("error: {r}");
        }
        return Ok(exit_code::ERROR);
    }
    if plan.is_empty() {
        deliver_owed_secrets(&session, args);
        // Still a successful apply of this commit: `status` and `drift` measure from it.
        record(
            &session,
            &plan,
            Some(&live),
            "No changes.".to_string(),
            0,
            0,
        )?;
        return Ok(exit_code::SUCCESS);
    }
    // A saved plan was reviewed already; otherwise ask, and never assume consent without a terminal.
    if args.plan_file.is_none() && !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "error: refusing to apply without approval: no terminal to ask on\nhint: pass --auto-approve in pipelines, or apply a reviewed plan file"
            );
            return Ok(exit_code::ERROR);
        }
        eprint!("\nDo you want to apply these changes? Only `yes` is accepted: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            eprintln!("Apply cancelled.");
            return Ok(exit_code::ERROR);
        }
    }
    let total = plan.changes.len();
    let done = Mutex::new(0usize);
    let progress = std::io::stderr().is_terminal();
    let report = apply::execute(
        &plan,
        session.backend.as_ref(),
        args.parallelism.max(1),
        &|event| {
            let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
            match &event {
                Event::Succeeded { address, action } => {
                    *done += 1;
                    eprintln!(
                        "{} {address}: {}{}",
                        action.symbol(),
                        past(*action),
                        counter(progress, *done, total)
                    );
                }
                Event::Failed {
                    address,
                    action,
                    error,
                } => {
                    *done += 1;
                    eprintln!(
                        "{} {address}: failed: {error}{}",
                        action.symbol(),
                        counter(progress, *done, total)
                    );
                }
                Event::Skipped { address, because } => {
                    *done += 1;
                    eprintln!("{address}: skipped (depends on failed {because})");
                }
                Event::Manual { address } => {
                    *done += 1;
                    eprintln!("{address}: manual step pending (not applied)");
                }
                _ => {}
            }
        },
    );
    eprintln!("\n{}", report.line());
    deliver_owed_secrets(&session, args);
    if !report.manual.is_empty() {
        eprintln!(
            "hint: msctl cannot make the {} manual step(s) through the API: do them as the plan says, then record them with `msctl ack ADDRESS...`",
            report.manual.len()
        );
    }
    let created_keys = plan.changes.iter().any(|c| {
        matches!(c.after, Some(crate::model::Resource::ApiKey(_)))
            && matches!(
                c.action,
                crate::plan::Action::Create | crate::plan::Action::Replace
            )
            && report.applied.contains(&c.address)
    });
    if created_keys && session.backend.name() == "aliyun" {
        match &args.secrets_to {
            Some(path) => eprintln!(
                "The secrets of the new API keys are in `{}` (mode 0600); move them to a secret store.",
                path.display()
            ),
            None => eprintln!(
                "note: the secrets of the new API keys were not kept (pass --secrets-to FILE to save them); reset a key in the console to get a new one"
            ),
        }
    }
    record(
        &session,
        &plan,
        None,
        report.line(),
        report.applied.len(),
        report.failed.len(),
    )?;
    if report.failed.is_empty() {
        Ok(exit_code::SUCCESS)
    } else {
        eprintln!(
            "hint: fix the failures and run `msctl apply` again; applied changes are not repeated"
        );
        Ok(exit_code::ERROR)
    }
}

/// Resets the API keys whose secret an earlier run owed and never wrote, and writes their new
/// secrets to `--secrets-to` (issue 14); without it, the plan's warnings named them already.
fn deliver_owed_secrets(session: &Session, args: &ApplyArgs) {
    let delivery = match session.backend.deliver_owed_secrets() {
        Ok(delivery) => delivery,
        // The records stay in the ledger: the next apply tries again.
        Err(e) => {
            eprintln!(
                "warning: failed to deliver the API-key secrets an earlier run owed: {e}\nhint: run `msctl apply --secrets-to FILE` again"
            );
            return;
        }
    };
    if let (false, Some(path)) = (delivery.delivered.is_empty(), &args.secrets_to) {
        eprintln!(
            "Reset {} API key(s) whose secret an earlier run never wrote; their new secrets are in `{}`: {}",
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
            "plan file `{}` was made from a working tree with uncommitted changes; refusing to apply it\nhint: commit the changes and run `msctl plan --out {}` again, or pass --allow-dirty",
            path.display(),
            path.display()
        );
    }
    let Some(planned) = &source.commit else {
        // Made outside a repository: there is no commit to hold it to.
        return Ok(());
    };
    let here = match &cli.rev {
        Some(rev) => format!("`{rev}`"),
        None => "`HEAD`".to_string(),
    };
    match &checkout.commit {
        Some(current) if &current.id == planned => Ok(()),
        Some(current) => anyhow::bail!(
            "plan file `{}` was made from commit {}, but {here} is commit {} ({}); refusing to apply it\nhint: check out {} to apply this plan, or run `msctl plan --out {}` again at {}",
            path.display(),
            short_commit(planned),
            current.short,
            one_line(&current.summary),
            short_commit(planned),
            path.display(),
            current.short
        ),
        None => anyhow::bail!(
            "plan file `{}` was made from commit {}, but `{}` is not in a git repository with commits; refusing to apply it\nhint: apply it from a clone at commit {}",
            path.display(),
            short_commit(planned),
            cli.dir.display(),
            short_commit(planned)
        ),
    }
}

/// Records the apply in the backend's ledger: what msctl now owns (every declared or previously
/// owned address that exists live), and the apply itself with the commit it applied. Also writes
/// that record as a git note on the commit (`refs/notes/msctl`), for backends whose ledger is not
/// kept anywhere a throwaway CI runner could find it again; the note is best effort.
fn record(
    session: &Session,
    plan: &Plan,
    unchanged_live: Option<&State>,
    summary: String,
    applied: usize,
    failed: usize,
) -> anyhow::Result<()> {
    // After changes, live is read again; after an empty plan, the read before it still holds.
    let reread;
    let live = match unchanged_live {
        Some(live) => live,
        None => {
            reread = session.read_live()?;
            &reread
        }
    };
    let mut ledger = session.backend.load_ledger()?;
    let owned = ledger
        .owned
        .iter()
        .chain(session.config.desired.resources.keys())
        .filter(|a| live.resources.contains_key(a))
        .cloned()
        .collect();
    ledger.owned = owned;
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
        let note = super::status::note_json(session.backend.name(), &record);
        match repo.write_note(commit, DEFAULT_NOTES_REF, &note) {
            Ok(()) => eprintln!(
                "Recorded commit {} as applied (ledger, and a git note under {DEFAULT_NOTES_REF}; CI pushes it with `git push origin {DEFAULT_NOTES_REF}`).",
                short_commit(commit)
            ),
            Err(e) => eprintln!(
                "warning: the apply is recorded in the {} backend's ledger, but not as a git note: {e}",
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
