//! git2 at the edge: config files at any revision, commit ids, dirty trees, blame, and the
//! ledger kept as git notes on applied commits.
//!
//! Everything here reads the object database directly (no checkout, no `git` process), so a
//! plan can be made from `HEAD~2` while the working tree holds something else. Paths handed to
//! and returned by this module are relative to the work tree root ("repo paths") unless a
//! name says otherwise; git paths always use `/`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{
    BlameOptions, Commit, ErrorCode, ObjectType, Oid, Repository, Signature, Sort, Status,
    StatusOptions, Tree,
};
use serde::Serialize;

use crate::config::files::{FileProblem, TOML_MAX_BYTES};
use crate::diagnostic::{ExtraReader, SkippedFolder, SourceSet};
pub use crate::model::time::CommitTime;

/// The notes ref msctl keeps its ledger under (design notes §1).
pub const DEFAULT_NOTES_REF: &str = "refs/notes/msctl";

/// Who signs ledger notes when the repository configures no `user.name`/`user.email`
/// (typical of CI runners).
const FALLBACK_NAME: &str = "msctl";
const FALLBACK_EMAIL: &str = "msctl@localhost";

/// Git's file mode for a symbolic link; its blob holds the link target.
const MODE_LINK: i32 = 0o120000;

/// How many symbolic links a lookup follows before giving up (a loop, most likely).
const MAX_LINK_HOPS: usize = 16;

/// Why a git operation failed, in kinds the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository contains the path.
    #[error(
        "not a git repository: `{}` (nor any parent folder)\nhint: run msctl inside a clone of the repository holding the config, or `git init` it",
        path.display()
    )]
    NotARepository { path: PathBuf },
    /// libgit2 refuses a repository owned by another user (CI containers, shared volumes).
    #[error(
        "refusing to open the repository at `{}`: it is owned by another user\nhint: if you trust it, run `git config --global --add safe.directory {}`",
        path.display(),
        path.display()
    )]
    NotOwned { path: PathBuf },
    /// A bare repository has no work tree to hold a config directory.
    #[error(
        "`{}` is a bare repository: it has no work tree holding the config directory\nhint: run msctl in a checkout of the repository",
        path.display()
    )]
    Bare { path: PathBuf },
    /// A path that does not lie inside the repository's work tree.
    #[error(
        "`{}` is outside the work tree `{}`\nhint: pass a path inside the repository",
        path.display(),
        workdir.display()
    )]
    OutsideWorkTree { path: PathBuf, workdir: PathBuf },
    /// A repo path that cannot name anything in a tree.
    #[error("invalid path `{}` in the repository: {reason}", path.display())]
    InvalidPath { path: PathBuf, reason: &'static str },
    /// The revision names nothing.
    #[error("`{rev}` does not exist: {reason}\nhint: {hint}")]
    RevisionNotFound {
        rev: String,
        reason: String,
        hint: String,
    },
    /// An abbreviated id matching several objects.
    #[error(
        "`{rev}` is ambiguous: several objects start with it\nhint: write more characters of the commit id"
    )]
    AmbiguousRevision { rev: String },
    /// A range or other spec naming more than one commit.
    #[error(
        "`{rev}` is not a single revision\nhint: name one commit: a branch, tag, commit id or `HEAD~N`"
    )]
    InvalidRevision { rev: String },
    /// The revision names a tree or blob, not a commit.
    #[error(
        "`{rev}` names a {kind}, not a commit\nhint: name a commit: a branch, tag, commit id or `HEAD~N`"
    )]
    NotACommit { rev: String, kind: &'static str },
    /// The config directory is not a folder at that revision.
    #[error(
        "config directory `{path}` does not exist at {at}\nhint: was it added or moved later? `git log --oneline -- {path}` shows its history"
    )]
    ConfigDirNotFound { at: String, path: String },
    /// A config file whose bytes are not UTF-8 text.
    #[error("failed to read `{path}` at {at}: the file is not valid UTF-8")]
    NotUtf8 { at: String, path: String },
    /// A config file larger than msctl reads.
    #[error(
        "failed to read `{path}` at {at}: it is larger than {limit} bytes\nhint: is this the right file? msctl reads config files up to the limit stated in the README"
    )]
    TooLarge {
        at: String,
        path: String,
        limit: u64,
    },
    /// A config file that is a symbolic link to nothing in that revision.
    #[error(
        "failed to read `{path}` at {at}: it is a symbolic link to `{target}`, which is not a file in that revision"
    )]
    BrokenLink {
        at: String,
        path: String,
        target: String,
    },
    /// A ledger note that is not text (msctl writes JSON; someone else wrote this one).
    #[error(
        "the note on {commit} under `{notes_ref}` is not valid UTF-8\nhint: inspect it with `git notes --ref {notes_ref} show {commit}`"
    )]
    InvalidNote { commit: String, notes_ref: String },
    #[error("failed to read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Any other failure of libgit2 (corrupt objects, locked refs, ...).
    #[error("failed to {action}: {}", source.message())]
    Git { action: String, source: git2::Error },
}

/// Wraps a libgit2 error with what was being done.
fn git_err(action: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let action = action.into();
    move |source| GitError::Git { action, source }
}

/// One commit, as status, drift and the ledger report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// The full hex SHA.
    pub id: String,
    /// The shortest unambiguous abbreviation (at least `core.abbrev`, usually 7).
    pub short: String,
    /// The first line of the message.
    pub summary: String,
    /// The author's name (the email when the name is empty).
    pub author: String,
    pub time: CommitTime,
}

impl CommitInfo {
    fn of(commit: &Commit<'_>) -> CommitInfo {
        let id = commit.id().to_string();
        // short_id consults the object database for uniqueness; the 7-character prefix is a
        // fine fallback when that fails.
        let short = commit
            .as_object()
            .short_id()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_owned))
            .unwrap_or_else(|| id.chars().take(7).collect());
        let author = commit.author();
        let mut name = String::from_utf8_lossy(author.name_bytes())
            .trim()
            .to_owned();
        if name.is_empty() {
            name = String::from_utf8_lossy(author.email_bytes()).into_owned();
        }
        let time = author.when();
        CommitInfo {
            id,
            short,
            summary: commit
                .summary_bytes()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default(),
            author: name,
            time: CommitTime {
                seconds: time.seconds(),
                offset_minutes: time.offset_minutes(),
            },
        }
    }
}

/// A repository holding a config directory in its work tree.
pub struct Repo {
    repo: Repository,
    /// The work tree root, canonicalised so that other canonical paths can be stripped of it.
    workdir: PathBuf,
    /// The config directory relative to `workdir` (empty for the root itself).
    config_dir: PathBuf,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("workdir", &self.workdir)
            .field("config_dir", &self.config_dir)
            .finish()
    }
}

impl Repo {
    /// Finds the repository containing `config_dir` (a filesystem path); `Ok(None)` when it
    /// is in none, so callers can fall back to plain files.
    pub fn discover(config_dir: &Path) -> Result<Option<Repo>, GitError> {
        let canonical = config_dir.canonicalize().map_err(|source| GitError::Io {
            path: config_dir.to_path_buf(),
            source,
        })?;
        let repo = match Repository::discover(&canonical) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) if e.code() == ErrorCode::Owner => {
                // `safe.directory` takes the work tree's root, not the folder msctl was given:
                // the nearest folder holding `.git`, as discovery found it.
                let root = canonical
                    .ancestors()
                    .find(|p| p.join(".git").exists())
                    .unwrap_or(&canonical)
                    .to_path_buf();
                return Err(GitError::NotOwned { path: root });
            }
            Err(e) => {
                return Err(git_err(format!(
                    "open the repository containing `{}`",
                    config_dir.display()
                ))(e));
            }
        };
        let Some(workdir) = repo.workdir() else {
            return Err(GitError::Bare {
                path: repo.path().to_path_buf(),
            });
        };
        let workdir = workdir.canonicalize().map_err(|source| GitError::Io {
            path: workdir.to_path_buf(),
            source,
        })?;
        let rel = canonical
            .strip_prefix(&workdir)
            .map_err(|_| GitError::OutsideWorkTree {
                path: config_dir.to_path_buf(),
                workdir: workdir.clone(),
            })?
            .to_path_buf();
        Ok(Some(Repo {
            repo,
            workdir,
            config_dir: rel,
        }))
    }

    /// Like [`Repo::discover`], for commands that need git (`--rev`, the notes ledger).
    pub fn open(config_dir: &Path) -> Result<Repo, GitError> {
        Repo::discover(config_dir)?.ok_or_else(|| GitError::NotARepository {
            path: config_dir.to_path_buf(),
        })
    }

    /// The work tree root.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The config directory `discover` was given, relative to the work tree root.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Maps a path relative to the config directory (as in a [`SourceSet`] and its
    /// diagnostics) to a repo path, for [`Repo::blame_line`].
    pub fn path_in_repo(&self, config_relative: &Path) -> PathBuf {
        self.config_dir.join(config_relative)
    }

    /// Maps a filesystem path (absolute, or relative to the current directory) to a repo path.
    pub fn repo_relative(&self, path: &Path) -> Result<PathBuf, GitError> {
        let canonical = path.canonicalize().map_err(|source| GitError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        canonical
            .strip_prefix(&self.workdir)
            .map(Path::to_path_buf)
            .map_err(|_| GitError::OutsideWorkTree {
                path: path.to_path_buf(),
                workdir: self.workdir.clone(),
            })
    }

    // ---- revisions -------------------------------------------------------------------------

    /// The commit checked out, or `None` before the first commit.
    pub fn head_commit(&self) -> Result<Option<CommitInfo>, GitError> {
        let head = match self.repo.head() {
            Ok(head) => head,
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
                return Ok(None);
            }
            Err(e) => return Err(git_err("read `HEAD`")(e)),
        };
        let commit = head.peel_to_commit().map_err(git_err("read `HEAD`"))?;
        Ok(Some(CommitInfo::of(&commit)))
    }

    /// Resolves any revision spec naming one commit (branch, tag, SHA, `HEAD~2`).
    pub fn resolve(&self, rev: &str) -> Result<CommitInfo, GitError> {
        Ok(CommitInfo::of(&self.commit(rev)?))
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors (as
    /// `git merge-base --is-ancestor`): is the checkout at or ahead of the last applied commit.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        let a = self.commit(ancestor)?.id();
        let d = self.commit(descendant)?.id();
        if a == d {
            return Ok(true);
        }
        self.repo.graph_descendant_of(d, a).map_err(git_err(format!(
            "compare the history of `{ancestor}` and `{descendant}`"
        )))
    }

    /// Commits reachable from `to` but not from `from`, newest first (`git log from..to`):
    /// what has not been applied yet.
    pub fn commits_between(&self, from: &str, to: &str) -> Result<Vec<CommitInfo>, GitError> {
        let from_id = self.commit(from)?.id();
        let to_id = self.commit(to)?.id();
        let action = format!("list the commits between `{from}` and `{to}`");
        let mut walk = self.repo.revwalk().map_err(git_err(&action))?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .map_err(git_err(&action))?;
        walk.push(to_id).map_err(git_err(&action))?;
        walk.hide(from_id).map_err(git_err(&action))?;
        let mut out = Vec::new();
        for oid in walk {
            let oid = oid.map_err(git_err(&action))?;
            let commit = self.repo.find_commit(oid).map_err(git_err(&action))?;
            out.push(CommitInfo::of(&commit));
        }
        Ok(out)
    }

    /// The commit a revision spec names, with an error that says what went wrong.
    fn commit(&self, rev: &str) -> Result<Commit<'_>, GitError> {
        let object = self
            .repo
            .revparse_single(rev)
            .map_err(|e| self.revision_error(rev, e))?;
        object.peel_to_commit().map_err(|_| GitError::NotACommit {
            rev: rev.to_owned(),
            kind: match object.kind() {
                Some(ObjectType::Tree) => "tree",
                Some(ObjectType::Blob) => "file",
                Some(ObjectType::Tag) => "tag of something else",
                _ => "non-commit object",
            },
        })
    }

    fn revision_error(&self, rev: &str, e: git2::Error) -> GitError {
        let rev_owned = rev.to_owned();
        match e.code() {
            ErrorCode::Ambiguous => return GitError::AmbiguousRevision { rev: rev_owned },
            _ if rev.contains("..") => return GitError::InvalidRevision { rev: rev_owned },
            _ => {}
        }
        if self.repo.is_empty().unwrap_or(false) {
            return GitError::RevisionNotFound {
                rev: rev_owned,
                reason: "the repository has no commits yet".into(),
                hint: "commit the config first: msctl reads it from a revision".into(),
            };
        }
        // `BASE~N` / `BASE^`: say how far back the history of BASE actually goes.
        if let Some(base) = ancestry_base(rev)
            && let Ok(object) = self.repo.revparse_single(base)
            && let Ok(commit) = object.peel_to_commit()
            && let Some(n) = self.first_parent_depth(commit.id())
        {
            let history = if base == "HEAD" {
                "the history".to_owned()
            } else {
                format!("the history of `{base}`")
            };
            let plural = if n == 1 { "" } else { "s" };
            return GitError::RevisionNotFound {
                rev: rev_owned,
                reason: format!("{history} has {n} commit{plural}"),
                hint: format!("the oldest commit on it is `{base}~{}`", n - 1),
            };
        }
        GitError::RevisionNotFound {
            rev: rev_owned,
            reason: "no branch, tag or commit has that name".into(),
            hint: "name a branch, tag, commit id or `HEAD~N`; `git log --oneline` lists commits"
                .into(),
        }
    }

    /// How many commits the first-parent history from `start` holds (itself included).
    fn first_parent_depth(&self, start: Oid) -> Option<usize> {
        let mut walk = self.repo.revwalk().ok()?;
        walk.simplify_first_parent().ok()?;
        walk.push(start).ok()?;
        Some(walk.count())
    }

    // ---- files at a revision ---------------------------------------------------------------

    /// Every `*.toml` under `config_dir` at `rev`, read from the object database without a
    /// checkout, by the rules of [`crate::config::sources_from_dir`] (subfolders too, hidden
    /// folders and `target` skipped). Paths are relative to the config directory; referenced
    /// files (policy JSON) are read from the same tree. `config_dir` is a repo path (an
    /// absolute path inside the work tree is accepted too).
    pub fn sources_at(&self, rev: &str, config_dir: &Path) -> Result<SourceSet, GitError> {
        let commit = self.commit(rev)?;
        let info = CommitInfo::of(&commit);
        let dir = self.dir_components(config_dir)?;
        let dir_str = if dir.is_empty() {
            ".".to_owned()
        } else {
            dir.join("/")
        };
        let at = format!("`{rev}` ({})", info.short);
        let root = commit
            .tree()
            .map_err(git_err(format!("read the tree of {at}")))?;
        let missing = || GitError::ConfigDirNotFound {
            at: at.clone(),
            path: dir_str.clone(),
        };
        let config_tree = if dir.is_empty() {
            root.clone()
        } else {
            match root.get_path(Path::new(&dir.join("/"))) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => self
                    .repo
                    .find_tree(entry.id())
                    .map_err(git_err(format!("read `{dir_str}` at {at}")))?,
                Ok(_) => return Err(missing()),
                Err(e) if e.code() == ErrorCode::NotFound => return Err(missing()),
                Err(e) => return Err(git_err(format!("read `{dir_str}` at {at}"))(e)),
            }
        };

        let mut walker = TomlWalker {
            repo: &self.repo,
            root: &root,
            dir: &dir,
            at: &at,
            seen: HashMap::from([(config_tree.id(), String::new())]),
            skipped: Vec::new(),
        };
        let mut files = Vec::new();
        walker.collect(&config_tree, &mut Vec::new(), &mut files)?;
        let skipped = walker.skipped;

        // The reader outlives `self` and must be Sync, so it gets its own handle behind a lock.
        let handle = Repository::open(self.repo.path())
            .map_err(git_err(format!("open `{}`", self.repo.path().display())))?;
        let extra = extra_reader(handle, root.id(), dir, at);
        Ok(
            SourceSet::new(format!("{rev} ({}):{dir_str}", info.short), files, extra)
                .with_skipped(skipped),
        )
    }

    /// A repo path as git path components; absolute paths must lie in the work tree.
    fn dir_components(&self, path: &Path) -> Result<Vec<String>, GitError> {
        let rel;
        let path = if path.is_absolute() {
            rel = self.repo_relative(path)?;
            rel.as_path()
        } else {
            path
        };
        normalize(&[], path).map_err(|reason| GitError::InvalidPath {
            path: path.to_path_buf(),
            reason,
        })
    }

    // ---- working tree ----------------------------------------------------------------------

    /// Whether the working tree differs from `HEAD` under `config_dir` (a repo path):
    /// modified, staged, deleted or untracked files count; ignored files, changes elsewhere in
    /// the repository, and files in folders the config loader skips (hidden ones such as the
    /// default state folder `.msctl/`, and `target`) do not.
    pub fn is_dirty(&self, config_dir: &Path) -> Result<bool, GitError> {
        let prefix = self.dir_components(config_dir)?.join("/");
        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        if !prefix.is_empty() {
            // Literal: a folder named `[prod]` is not a character class.
            opts.pathspec(&prefix).disable_pathspec_match(true);
        }
        let statuses = self
            .repo
            .statuses(Some(&mut opts))
            .map_err(git_err(format!("read the status of `{prefix}`")))?;
        Ok(statuses.iter().any(|entry| {
            let status = entry.status();
            let path = entry.path_bytes();
            status != Status::CURRENT
                && !status.is_ignored()
                && under(path, prefix.as_bytes())
                && !in_skipped_folder(path.get(prefix.len()..).unwrap_or_default())
        }))
    }

    /// The files among `files` (paths relative to the config directory, as a [`SourceSet`]
    /// lists what it read) whose contents no commit records as they are: outside the work
    /// tree, untracked, ignored, or changed. Each is followed the way the file system does,
    /// and every symbolic link on the way counts too (a changed link reads another file).
    /// Changes inside the config directory are [`Repo::is_dirty`]'s; this adds what lies
    /// outside it, and ignored files inside it. Each entry says which file and why.
    pub fn uncommitted_reads(&self, files: &[PathBuf]) -> Result<Vec<String>, GitError> {
        let base = self.workdir.join(&self.config_dir);
        let prefix = self.dir_components(&self.config_dir)?.join("/");
        let index = self
            .repo
            .index()
            .map_err(git_err("read the index of the repository"))?;
        let mut out = Vec::new();
        let mut checked = HashSet::new();
        let mut seen = HashSet::new();
        // A file read twice (two roles sharing a trust policy) is reported once.
        for file in files.iter().filter(|f| seen.insert(*f)) {
            let (links, real) = physical(&base, file);
            let shown = file.display();
            let Ok(real_rel) = real.strip_prefix(&self.workdir) else {
                out.push(format!(
                    "`{shown}` is outside the repository (`{}`), so no commit records it",
                    real.display()
                ));
                continue;
            };
            let real_rel = real_rel.to_path_buf();
            // Links outside the work tree are no part of any commit; what they lead to is.
            let inside = links
                .iter()
                .filter_map(|l| l.strip_prefix(&self.workdir).ok())
                .map(Path::to_path_buf)
                .chain([real_rel]);
            for rel in inside {
                if !checked.insert(rel.clone()) {
                    continue;
                }
                let git_path = match rel.to_str() {
                    Some(p) => p.replace('\\', "/"),
                    None => {
                        out.push(format!("`{shown}` has a path that is not UTF-8"));
                        continue;
                    }
                };
                let covered = under(git_path.as_bytes(), prefix.as_bytes())
                    && !in_skipped_folder(
                        git_path.as_bytes().get(prefix.len()..).unwrap_or_default(),
                    );
                // `is_dirty` sees changes in the config directory, but not an ignored file:
                // a file there in the index needs no second look.
                let problem = if covered && index.get_path(Path::new(&git_path), 0).is_some() {
                    None
                } else {
                    let status = self
                        .repo
                        .status_file(Path::new(&git_path))
                        .map_err(git_err(format!("read the status of `{git_path}`")))?;
                    describe_status(status)
                };
                if let Some(problem) = problem {
                    let direct = if prefix.is_empty() {
                        file.to_string_lossy().into_owned()
                    } else {
                        format!("{prefix}/{}", file.to_string_lossy())
                    };
                    let via = if git_path == direct {
                        String::new()
                    } else {
                        format!(" (`{git_path}` in the repository)")
                    };
                    out.push(format!("`{shown}`{via} {problem}"));
                }
            }
        }
        Ok(out)
    }

    // ---- blame -----------------------------------------------------------------------------

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

    // ---- the ledger in git notes -----------------------------------------------------------

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

    fn note_on(&self, target: Oid, notes_ref: &str) -> Result<Option<String>, GitError> {
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

/// Why a file with this status is not what `HEAD` records; `None` when it is.
fn describe_status(status: Status) -> Option<&'static str> {
    if status.is_empty() {
        None
    } else if status.is_ignored() {
        Some("is in no commit (ignored by git)")
    } else if status.is_wt_new() {
        Some("is untracked")
    } else {
        Some("has uncommitted changes")
    }
}

/// Follows `rel` from the canonical folder `base` as the file system does: returns every
/// symbolic link met on the way and the real path reached. `..` after a link climbs from the
/// link's target, as the kernel does, which a lexical join would get wrong.
fn physical(base: &Path, rel: &Path) -> (Vec<PathBuf>, PathBuf) {
    let mut links = Vec::new();
    let mut cur = base.to_path_buf();
    for component in rel.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                cur.pop();
            }
            Component::RootDir | Component::Prefix(_) => cur = PathBuf::from(component.as_os_str()),
            Component::Normal(part) => {
                let next = cur.join(part);
                if std::fs::symlink_metadata(&next).is_ok_and(|m| m.file_type().is_symlink()) {
                    // The link's target may hold links itself: canonicalize resolves them all.
                    cur = next.canonicalize().unwrap_or_else(|_| next.clone());
                    links.push(next);
                } else {
                    cur = next;
                }
            }
        }
    }
    (links, cur)
}

/// `msctl` → `refs/notes/msctl`; full ref names pass through.
fn full_notes_ref(notes_ref: &str) -> String {
    if notes_ref.starts_with("refs/") {
        notes_ref.to_owned()
    } else {
        format!("refs/notes/{notes_ref}")
    }
}

/// Whether git path `path` is `prefix` or lies under it (`prefix` empty: everything).
fn under(path: &[u8], prefix: &[u8]) -> bool {
    prefix.is_empty()
        || (path.starts_with(prefix) && matches!(path.get(prefix.len()), None | Some(b'/')))
}

/// Whether a path below the config directory lies in a folder the config loader skips (hidden
/// folders, `target`): its changes cannot change the desired state, so they make nothing dirty.
/// (The default local state, `.msctl/local.db`, lives there and changes on every apply.)
fn in_skipped_folder(rel: &[u8]) -> bool {
    let mut parts: Vec<&[u8]> = rel
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    // The last component is the file (or, for an untracked folder, the folder itself).
    let last = parts.pop();
    let skipped = |p: &[u8]| p.starts_with(b".") || p == b"target";
    // git reports a wholly untracked folder as `dir/`; the loader would skip it as a folder too.
    parts.into_iter().any(skipped) || (rel.ends_with(b"/") && last.is_some_and(skipped))
}

/// The `BASE` of `BASE~N`, `BASE^`, `BASE~2^2`...; `None` when there is no such suffix.
fn ancestry_base(rev: &str) -> Option<&str> {
    let suffix_start = rev
        .char_indices()
        .filter(|&(_, c)| c == '~' || c == '^')
        .map(|(i, _)| i)
        .find(|&i| {
            rev[i..]
                .chars()
                .all(|c| c == '~' || c == '^' || c.is_ascii_digit())
        })?;
    (suffix_start > 0).then(|| &rev[..suffix_start])
}

/// `base` joined with relative `path`, as git path components; `.` dropped, `..` applied.
/// Fails for absolute paths and paths climbing above the root.
fn normalize(base: &[String], path: &Path) -> Result<Vec<String>, &'static str> {
    let mut out = base.to_vec();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop().ok_or("it climbs above the work tree root")?;
            }
            Component::Normal(part) => {
                out.push(part.to_str().ok_or("it is not valid UTF-8")?.to_owned());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("it is an absolute path");
            }
        }
    }
    Ok(out)
}

/// Walks a config directory's tree at one revision, collecting `*.toml` files by the rules of
/// the working-tree walk: symbolic links to folders followed (each folder once), hidden folders
/// and `target` skipped and listed.
struct TomlWalker<'a, 'r> {
    repo: &'r Repository,
    root: &'a Tree<'r>,
    /// The config directory's components, for following symbolic links from the root.
    dir: &'a [String],
    /// The revision, for messages.
    at: &'a str,
    /// Trees read so far → where (relative to the config directory), against link loops.
    seen: HashMap<Oid, String>,
    skipped: Vec<SkippedFolder>,
}

impl TomlWalker<'_, '_> {
    fn collect(
        &mut self,
        tree: &Tree<'_>,
        rel: &mut Vec<String>,
        out: &mut Vec<(PathBuf, String)>,
    ) -> Result<(), GitError> {
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
            rel.push(name);
            let result = self.visit(&entry, rel, out);
            rel.pop();
            result?;
        }
        Ok(())
    }

    fn visit(
        &mut self,
        entry: &git2::TreeEntry<'_>,
        rel: &mut Vec<String>,
        out: &mut Vec<(PathBuf, String)>,
    ) -> Result<(), GitError> {
        let name = rel.last().cloned().unwrap_or_default();
        let display = rel.join("/");
        let read_error = |at: &str| git_err(format!("read `{display}` at {at}"));
        let full = || {
            let mut full = self.dir.to_vec();
            full.extend(rel.iter().cloned());
            full
        };
        let is_link = entry.filemode() == MODE_LINK;
        // A link to a folder is walked like the folder, as the working-tree walk does.
        let folder = match entry.kind() {
            Some(ObjectType::Tree) => Some(entry.id()),
            Some(ObjectType::Blob) if is_link => {
                match resolve(self.repo, self.root, full()).map_err(read_error(self.at))? {
                    Resolved::Tree(id) => Some(id),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(id) = folder {
            if name.starts_with('.') || name == "target" {
                let reason = if name == "target" {
                    "a folder named `target`"
                } else {
                    "hidden folder"
                };
                self.skipped.push(SkippedFolder {
                    path: PathBuf::from(&display),
                    reason: reason.to_owned(),
                    holds_toml: name != ".git" && tree_holds_toml(self.repo, id),
                });
                return Ok(());
            }
            if let Some(first) = self.seen.get(&id) {
                let reason = if first.is_empty() {
                    "the config directory itself again (a symbolic link loop)".to_owned()
                } else {
                    format!("the same folder as `{first}`, read there")
                };
                self.skipped.push(SkippedFolder {
                    path: PathBuf::from(&display),
                    reason,
                    holds_toml: tree_holds_toml(self.repo, id),
                });
                return Ok(());
            }
            self.seen.insert(id, display.clone());
            let sub = self.repo.find_tree(id).map_err(read_error(self.at))?;
            return self.collect(&sub, rel, out);
        }
        if entry.kind() != Some(ObjectType::Blob) || !name.ends_with(".toml") {
            // Other files, and submodules (commits), whose contents this repository lacks.
            return Ok(());
        }
        // Links to files are followed, as the working-tree walk does.
        let lookup = if is_link {
            read_file(self.repo, self.root, full(), TOML_MAX_BYTES)
        } else {
            read_blob(self.repo, entry.id(), TOML_MAX_BYTES)
        };
        let bytes = match lookup.map_err(read_error(self.at))? {
            Lookup::Found(bytes) => bytes,
            Lookup::TooLarge { limit } => {
                return Err(GitError::TooLarge {
                    at: self.at.to_owned(),
                    path: display,
                    limit,
                });
            }
            Lookup::Missing => {
                let target = self
                    .repo
                    .find_blob(entry.id())
                    .map(|b| String::from_utf8_lossy(b.content()).into_owned())
                    .unwrap_or_default();
                return Err(GitError::BrokenLink {
                    at: self.at.to_owned(),
                    path: display,
                    target,
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| GitError::NotUtf8 {
            at: self.at.to_owned(),
            path: display.clone(),
        })?;
        out.push((rel.iter().collect(), text));
        Ok(())
    }
}

/// Whether a tree holds `*.toml` files at any depth; gives up, saying no, after this many
/// entries (a skipped folder may be a build tree of any size).
fn tree_holds_toml(repo: &Repository, id: Oid) -> bool {
    let mut budget = 10_000usize;
    let mut stack = vec![id];
    while let Some(id) = stack.pop() {
        let Ok(tree) = repo.find_tree(id) else {
            continue;
        };
        for entry in tree.iter() {
            if budget == 0 {
                return false;
            }
            budget -= 1;
            match entry.kind() {
                Some(ObjectType::Tree) => stack.push(entry.id()),
                Some(ObjectType::Blob) if entry.name_bytes().ends_with(b".toml") => return true,
                _ => {}
            }
        }
    }
    false
}

/// What a path names in a tree, after following symbolic links that stay inside the tree.
enum Resolved {
    /// A file (not a link), with its blob id.
    Blob(Oid),
    Tree(Oid),
    /// Nothing: no such path, a link leaving the tree, or a loop of links.
    Missing,
}

/// Resolves `path` (components from the root tree), following symbolic links in every
/// component, as the file system would.
fn resolve(repo: &Repository, root: &Tree<'_>, path: Vec<String>) -> Result<Resolved, git2::Error> {
    let mut hops = 0;
    // Components still to walk, and the resolved folder so far.
    let mut todo: std::collections::VecDeque<String> = path.into();
    let mut done: Vec<String> = Vec::new();
    while let Some(part) = todo.pop_front() {
        done.push(part);
        let entry = match root.get_path(Path::new(&done.join("/"))) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(Resolved::Missing),
            Err(e) => return Err(e),
        };
        match entry.kind() {
            Some(ObjectType::Tree) => {
                if todo.is_empty() {
                    return Ok(Resolved::Tree(entry.id()));
                }
            }
            Some(ObjectType::Blob) if entry.filemode() == MODE_LINK => {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Ok(Resolved::Missing);
                }
                // A link's target is relative to the folder holding the link.
                let target =
                    String::from_utf8_lossy(repo.find_blob(entry.id())?.content()).into_owned();
                done.pop();
                match normalize(&done, Path::new(&target)) {
                    Ok(next) => {
                        for part in next.into_iter().rev() {
                            todo.push_front(part);
                        }
                        done.clear();
                    }
                    // Absolute or climbing out of the repository: not in this tree.
                    Err(_) => return Ok(Resolved::Missing),
                }
            }
            Some(ObjectType::Blob) if todo.is_empty() => return Ok(Resolved::Blob(entry.id())),
            _ => return Ok(Resolved::Missing),
        }
    }
    // The empty path: the root itself.
    Ok(Resolved::Tree(root.id()))
}

/// A file looked up in a tree.
enum Lookup {
    Found(Vec<u8>),
    /// Larger than the limit (its contents were not loaded).
    TooLarge {
        limit: u64,
    },
    Missing,
}

/// The bytes of the file at `path` (components from the root tree), following symbolic links
/// that stay inside the tree, if it is at most `limit` bytes (checked on the object's header,
/// before its contents are loaded).
fn read_file(
    repo: &Repository,
    root: &Tree<'_>,
    path: Vec<String>,
    limit: u64,
) -> Result<Lookup, git2::Error> {
    match resolve(repo, root, path)? {
        Resolved::Blob(id) => read_blob(repo, id, limit),
        Resolved::Tree(_) | Resolved::Missing => Ok(Lookup::Missing),
    }
}

/// The bytes of blob `id` if it is at most `limit` bytes (checked on the object's header,
/// before its contents are loaded).
fn read_blob(repo: &Repository, id: Oid, limit: u64) -> Result<Lookup, git2::Error> {
    let (size, _) = repo.odb()?.read_header(id)?;
    if size as u64 > limit {
        return Ok(Lookup::TooLarge { limit });
    }
    Ok(Lookup::Found(repo.find_blob(id)?.content().to_vec()))
}

/// Reads files the config refers to, relative to the config directory, from one tree.
fn extra_reader(handle: Repository, tree: Oid, dir: Vec<String>, at: String) -> ExtraReader {
    let handle = Mutex::new(handle);
    Arc::new(move |rel: &Path, limit: u64| {
        use std::io::{Error, ErrorKind};
        let path = normalize(&dir, rel).map_err(|reason| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot read it at {at}: {reason}"),
            )
        })?;
        let repo = handle
            .lock()
            .map_err(|_| Error::other("the repository handle was poisoned by a panic"))?;
        let read = repo
            .find_tree(tree)
            .and_then(|root| read_file(&repo, &root, path, limit));
        match read {
            Ok(Lookup::Found(bytes)) => String::from_utf8(bytes).map_err(|_| {
                Error::new(ErrorKind::InvalidData, format!("not valid UTF-8 at {at}"))
            }),
            Ok(Lookup::TooLarge { limit }) => Err(FileProblem::TooLarge { limit }.into_io()),
            Ok(Lookup::Missing) => Err(Error::new(
                ErrorKind::NotFound,
                format!("no such file at {at}"),
            )),
            Err(e) => Err(Error::other(format!(
                "failed to read it at {at}: {}",
                e.message()
            ))),
        }
    })
}

#[cfg(test)]
mod tests;
