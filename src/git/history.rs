//! Blame, and the ledger kept as git notes on applied commits.

use super::*;

impl Repo {
    /// The commit that last changed line `line` (1-based) of `path_in_repo` as of `rev`
    /// (`"HEAD"` for the checkout). `None` when the file is not in that revision (new in the
    /// working tree) or has no such line: there is no history to report, which is no error.
    pub fn blame_line(
        &self,
        rev: &str,
        path_in_repo: &Path,
        line: usize,
    ) -> Result<Option<CommitInfo>, GitError> {
        if line == 0 {
            return Ok(None);
        }
        let commit = self.commit(rev)?;
        let path = self.dir_components(path_in_repo)?.join("/");
        let action = || format!("blame `{path}` at `{rev}`");
        let tree = commit.tree().map_err(git_err(action()))?;
        match tree.get_path(Path::new(&path)) {
            Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {}
            Ok(_) => return Ok(None),
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git_err(action())(e)),
        }
        let mut opts = BlameOptions::new();
        opts.newest_commit(commit.id());
        let blame = self
            .repo
            .blame_file(Path::new(&path), Some(&mut opts))
            .map_err(git_err(action()))?;
        let Some(hunk) = blame.get_line(line) else {
            return Ok(None);
        };
        let id = hunk.final_commit_id();
        if id.is_zero() {
            return Ok(None);
        }
        let last = self.repo.find_commit(id).map_err(git_err(action()))?;
        Ok(Some(CommitInfo::of(&last)))
    }

    /// Attaches `json` to `commit` under `notes_ref` (`refs/notes/msctl`; a bare name like
    /// `msctl` means `refs/notes/msctl`, as with `git notes --ref`), replacing any earlier
    /// note. Signed as the repository's configured user, else `msctl <msctl@localhost>`.
    pub fn write_note(&self, commit: &str, notes_ref: &str, json: &str) -> Result<(), GitError> {
        let target = self.commit(commit)?.id();
        let notes_ref = full_notes_ref(notes_ref);
        let action = || format!("write the note on `{commit}` under `{notes_ref}`");
        let signature = match self.repo.signature() {
            Ok(s) => s,
            Err(_) => Signature::now(FALLBACK_NAME, FALLBACK_EMAIL).map_err(git_err(action()))?,
        };
        self.repo
            .note(&signature, &signature, Some(&notes_ref), target, json, true)
            .map_err(git_err(action()))?;
        Ok(())
    }

    /// The note on `commit` under `notes_ref`, if any.
    pub fn read_note(&self, commit: &str, notes_ref: &str) -> Result<Option<String>, GitError> {
        let target = self.commit(commit)?.id();
        self.note_on(target, &full_notes_ref(notes_ref))
    }

    /// The most recent commit on the first-parent history of `from` that carries a note under
    /// `notes_ref` (the last applied commit), with its note.
    pub fn latest_noted_commit(
        &self,
        notes_ref: &str,
        from: &str,
    ) -> Result<Option<(CommitInfo, String)>, GitError> {
        let notes_ref = full_notes_ref(notes_ref);
        let start = self.commit(from)?.id();
        let action = || format!("read the notes under `{notes_ref}`");
        // One pass over the notes first: cheaper than a note lookup per commit of a long
        // history, and a missing ref means nothing was ever applied.
        let noted: HashSet<Oid> = match self.repo.notes(Some(&notes_ref)) {
            Ok(notes) => notes
                .map(|n| n.map(|(_, annotated)| annotated))
                .collect::<Result<_, _>>()
                .map_err(git_err(action()))?,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git_err(action())(e)),
        };
        if noted.is_empty() {
            return Ok(None);
        }
        let walk_action = || format!("walk the history of `{from}`");
        let mut walk = self.repo.revwalk().map_err(git_err(walk_action()))?;
        walk.simplify_first_parent()
            .map_err(git_err(walk_action()))?;
        walk.push(start).map_err(git_err(walk_action()))?;
        for oid in walk {
            let oid = oid.map_err(git_err(walk_action()))?;
            if !noted.contains(&oid) {
                continue;
            }
            let commit = self.repo.find_commit(oid).map_err(git_err(walk_action()))?;
            if let Some(note) = self.note_on(oid, &notes_ref)? {
                return Ok(Some((CommitInfo::of(&commit), note)));
            }
        }
        Ok(None)
    }

    pub(super) fn note_on(&self, target: Oid, notes_ref: &str) -> Result<Option<String>, GitError> {
        let note = match self.repo.find_note(Some(notes_ref), target) {
            Ok(note) => note,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => {
                return Err(git_err(format!(
                    "read the note on {target} under `{notes_ref}`"
                ))(e));
            }
        };
        String::from_utf8(note.message_bytes().to_vec())
            .map(Some)
            .map_err(|_| GitError::InvalidNote {
                commit: target.to_string(),
                notes_ref: notes_ref.to_owned(),
            })
    }
}

/// `msctl` → `refs/notes/msctl`; full ref names pass through.
pub(super) fn full_notes_ref(notes_ref: &str) -> String {
    if notes_ref.starts_with("refs/") {
        notes_ref.to_owned()
    } else {
        format!("refs/notes/{notes_ref}")
    }
}
