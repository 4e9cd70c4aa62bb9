//! `msctl status`: the last applied commit (backend ledger, else git notes), whether the
//! checked-out revision is ahead of it and by which commits, and how many changes are pending.

use super::checkout::commit_ref;
use super::session::Session;
use super::{CommandError, Outcome, output};
use crate::backend::AppliedRecord;
use crate::cli::Cli;
use crate::git::DEFAULT_NOTES_REF;
use crate::plan::history::STATUS_FORMAT_VERSION;
use crate::plan::{AppliedCommit, CommitRef, LedgerSource, StatusReport};

pub fn run(cli: &Cli) -> Result<Outcome, CommandError> {
    let session = super::start(cli)?;
    let live = session.read_live()?;
    let plan = session.plan(&live)?;
    let (last_applied, note) = match last_applied(cli, &session)? {
        Ok(applied) => (Some(applied), None),
        Err(why) => (None, Some(why)),
    };
    let head = session.checkout.commit.as_ref().map(commit_ref);
    let (ahead, unapplied_commits) = match (&last_applied, &head) {
        (Some(applied), Some(head)) => {
            let (ahead, commits) = commits_since(&session, &applied.commit, head)?;
            (Some(ahead), commits)
        }
        _ => (None, Vec::new()),
    };
    let report = StatusReport {
        format_version: STATUS_FORMAT_VERSION.to_string(),
        config_dir: cli.dir().display().to_string(),
        head,
        dirty: session.checkout.dirty,
        last_applied,
        ahead,
        unapplied_commits,
        pending_changes: plan.changes.len(),
        pending: plan.summary,
        note,
    };
    output::emit(super::output_format(cli), &report)?;
    Ok(Outcome::Success)
}

/// Whether `head` is at or ahead of the applied commit, and the commits in `applied..head`.
pub fn commits_since(
    session: &Session,
    applied: &CommitRef,
    head: &CommitRef,
) -> anyhow::Result<(bool, Vec<CommitRef>)> {
    let Some(repo) = &session.checkout.repo else {
        return Ok((false, Vec::new()));
    };
    let ahead = repo
        .is_ancestor(&applied.id, &head.id)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !ahead {
        return Ok((false, Vec::new()));
    }
    let commits = repo
        .commits_between(&applied.id, &head.id)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((true, commits.iter().map(commit_ref).collect()))
}

/// The last apply of a commit that this repository holds: from the backend's ledger (the source
/// of truth when it keeps one), else from the newest git note under `refs/notes/msctl` on the
/// checked-out history. `Err` says, for the reader, why there is none.
pub fn last_applied(cli: &Cli, session: &Session) -> anyhow::Result<Result<AppliedCommit, String>> {
    let ledger = session.backend.load_ledger().map_err(|e| {
        anyhow::anyhow!(
            "failed to read msctl's ledger from the {} backend: {e}",
            session.backend.name()
        )
    })?;
    let repo = session.checkout.repo.as_ref();
    let dir = cli.dir().display();
    if let Some(record) = ledger.last_apply {
        let Some(commit) = &record.commit else {
            return Ok(Err(
                "the last apply recorded no commit (it was made outside a git repository)"
                    .to_string(),
            ));
        };
        let Some(repo) = repo else {
            return Ok(Err(format!(
                "the last apply was of commit {commit}, but `{dir}` is not in a git repository"
            )));
        };
        return Ok(match repo.resolve(commit) {
            Ok(info) => Ok(applied(&info, &record, LedgerSource::Backend)),
            Err(_) => Err(format!(
                "the last applied commit {commit} is not in this repository (a shallow clone, or \
                 not fetched?); fetch the full history (`fetch-depth: 0` in CI)"
            )),
        });
    }
    let (Some(repo), Some(from)) = (repo, &session.checkout.commit) else {
        return Ok(Err(format!(
            "no apply is recorded in the {} backend's ledger, and `{dir}` is not in a \
                    git repository with commits",
            session.backend.name()
        )));
    };
    match repo.latest_noted_commit(DEFAULT_NOTES_REF, &from.id) {
        Ok(Some((info, note))) => match serde_json::from_str::<AppliedRecord>(&note) {
            Ok(record) => Ok(Ok(applied(&info, &record, LedgerSource::GitNotes))),
            Err(e) => Ok(Err(format!(
                "the note on commit {} under {DEFAULT_NOTES_REF} is not an msctl apply record: {e}",
                info.short
            ))),
        },
        Ok(None) => Ok(Err(format!(
            "no apply is recorded: neither in the {} backend's ledger nor as a git note under \
             {DEFAULT_NOTES_REF} on the checked-out history (CI fetches notes with `git fetch \
             origin {DEFAULT_NOTES_REF}:{DEFAULT_NOTES_REF}`)",
            session.backend.name()
        ))),
        Err(e) => Ok(Err(format!("failed to read the git notes: {e}"))),
    }
}

fn applied(
    info: &crate::git::CommitInfo,
    record: &AppliedRecord,
    from: LedgerSource,
) -> AppliedCommit {
    AppliedCommit {
        commit: commit_ref(info),
        applied_at: record.time,
        summary: record.summary.clone(),
        failed: record.failed,
        dirty: record.dirty,
        recorded_in: from,
    }
}

/// The git note msctl writes on an applied commit: the ledger's apply record and the backend.
pub fn note_json(backend: &str, record: &AppliedRecord) -> String {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("backend".into(), backend.into());
        map.insert("tool".into(), "msctl".into());
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_read_back_as_apply_records() {
        let record = AppliedRecord {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            time: 1_700_000_000,
            summary: "Apply complete: 3 applied.".into(),
            applied: 3,
            failed: 0,
            dirty: false,
        };
        let note = note_json("local", &record);
        assert!(note.contains("\"backend\": \"local\""), "{note}");
        let back: AppliedRecord = serde_json::from_str(&note).expect("parses");
        assert_eq!(back, record);
    }
}
