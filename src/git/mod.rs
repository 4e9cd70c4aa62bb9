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

mod error;
mod history;
mod tree;

pub use error::GitError;
use error::git_err;

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

#[cfg(test)]
mod tests;
