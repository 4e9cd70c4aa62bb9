//! Why a git operation failed, in kinds the caller can act on.

use super::*;

/// Why a git operation failed, in kinds the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository contains the path.
    #[error(
        "not a git repository: `{}` (nor any parent folder)\nhint: run msctl inside a \
                clone of the repository holding the config, or `git init` it",
        path.display()
    )]
    NotARepository { path: PathBuf },
    /// libgit2 refuses a repository owned by another user (CI containers, shared volumes).
    #[error(
        "refusing to open the repository at `{}`: it is owned by another user\nhint: if \
                you trust it, run `git config --global --add safe.directory {}`",
        path.display(),
        path.display()
    )]
    NotOwned { path: PathBuf },
    /// A bare repository has no work tree to hold a config directory.
    #[error(
        "`{}` is a bare repository: it has no work tree holding the config \
                directory\nhint: run msctl in a checkout of the repository",
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
        "`{rev}` is ambiguous: several objects start with it\nhint: write more \
                characters of the commit id"
    )]
    AmbiguousRevision { rev: String },
    /// A range or other spec naming more than one commit.
    #[error(
        "`{rev}` is not a single revision\nhint: name one commit: a branch, tag, commit \
                id or `HEAD~N`"
    )]
    InvalidRevision { rev: String },
    /// The revision names a tree or blob, not a commit.
    #[error(
        "`{rev}` names a {kind}, not a commit\nhint: name a commit: a branch, tag, \
                commit id or `HEAD~N`"
    )]
    NotACommit { rev: String, kind: &'static str },
    /// The config directory is not a folder at that revision.
    #[error(
        "config directory `{path}` does not exist at {at}\nhint: was it added or moved \
                later? `git log --oneline -- {path}` shows its history"
    )]
    ConfigDirNotFound { at: String, path: String },
    /// A config file whose bytes are not UTF-8 text.
    #[error("failed to read `{path}` at {at}: the file is not valid UTF-8")]
    NotUtf8 { at: String, path: String },
    /// A config file larger than msctl reads.
    #[error(
        "failed to read `{path}` at {at}: it is larger than {limit} bytes\nhint: is this \
                the right file? msctl reads config files up to the limit stated in the README"
    )]
    TooLarge {
        at: String,
        path: String,
        limit: u64,
    },
    /// A config file that is a symbolic link to nothing in that revision.
    #[error(
        "failed to read `{path}` at {at}: it is a symbolic link to `{target}`, which is \
                not a file in that revision"
    )]
    BrokenLink {
        at: String,
        path: String,
        target: String,
    },
    /// A ledger note that is not text (msctl writes JSON; someone else wrote this one).
    #[error(
        "the note on {commit} under `{notes_ref}` is not valid UTF-8\nhint: inspect it \
                with `git notes --ref {notes_ref} show {commit}`"
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
pub(super) fn git_err(action: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let action = action.into();
    move |source| GitError::Git { action, source }
}
