//! Where the desired state comes from: the working tree or a git revision (`--rev`), and the
//! repository around it (the commit, whether the config directory is dirty, blame, the ledger's
//! notes). Commands reach git only through here and `crate::git`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::files::WalkError;
use crate::config::{self, Config, Loaded};
use crate::diagnostic::SourceSet;
use crate::git::{CommitInfo, GitError, Repo};
use crate::model::Address;
use crate::plan::{CommitRef, Declaration, Source};

/// The configuration's place in git, resolved once per run.
pub struct Checkout {
    /// `None` outside a repository (the config is then plain files), or when the repository
    /// cannot be read (see `git_unavailable`).
    pub repo: Option<Repo>,
    /// `--rev` as given.
    pub rev: Option<String>,
    /// The commit the configuration is read from: `--rev`'s, else `HEAD` (none outside a
    /// repository or before the first commit).
    pub commit: Option<CommitInfo>,
    /// The configuration in the working tree is not what `HEAD` records: the config directory
    /// has uncommitted changes, or a file the configuration read (a policy file anywhere, a
    /// config file through a symbolic link) is changed, untracked, ignored or outside the
    /// repository; or git could not tell (unknown counts as dirty). Never with `--rev`: the
    /// working tree is not read then.
    pub dirty: bool,
    /// The files read that no commit records, each with why (for the refusal's message).
    pub dirty_files: Vec<String>,
    /// Why git's guarantees are off when a repository is there but cannot be read (owned by
    /// another user, corrupt): `apply` refuses then, unless told to go without them.
    pub git_unavailable: Option<GitError>,
}

/// What is lost when the repository cannot be read, as commands say it.
const GIT_FEATURES_OFF: &str = "git features are off for this run: the commit a plan comes \
        from, the uncommitted-changes check, blame, the applied-commit record and its git note; \
        `apply` refuses unless --allow-dirty";

impl Checkout {
    /// Discovers the repository around `-C DIR`. With `--rev` a repository is required.
    /// Without it git is optional (a config outside any repository is plain files), but a
    /// repository that is there and cannot be read turns the GitOps guarantees off: that is a
    /// warning naming what is off for reading commands, and a refusal for `apply`
    /// ([`Checkout::refuse_unrecordable`]).
    pub fn open(dir: &Path, rev: Option<&str>) -> anyhow::Result<Checkout> {
        if let Some(rev) = rev {
            let repo = Repo::open(dir).map_err(|e| match e {
                GitError::Io { .. } => anyhow::anyhow!(
                    "failed to open config directory `{}` for `--rev {rev}`: {e}\nhint: \
                            `-C DIR` must exist in the working tree; msctl reads its contents at \
                            the revision",
                    dir.display()
                ),
                e => anyhow::anyhow!("{e}"),
            })?;
            let commit = repo.resolve(rev).map_err(|e| anyhow::anyhow!("{e}"))?;
            return Ok(Checkout {
                repo: Some(repo),
                rev: Some(rev.to_string()),
                commit: Some(commit),
                dirty: false,
                dirty_files: Vec::new(),
                git_unavailable: None,
            });
        }
        let unavailable = |e: GitError| {
            let text = e.to_string();
            let (cause, hint) = match text.split_once("\nhint: ") {
                Some((cause, hint)) => (cause, format!("\nhint: {hint}")),
                None => (text.as_str(), String::new()),
            };
            eprintln!("warning: {cause}\n  = {GIT_FEATURES_OFF}{hint}");
            Checkout {
                repo: None,
                rev: None,
                commit: None,
                // Unknown is dirty: a saved plan made now must not pass for a committed one.
                dirty: true,
                dirty_files: Vec::new(),
                git_unavailable: Some(e),
            }
        };
        let repo = match Repo::discover(dir) {
            Ok(repo) => repo,
            // A missing directory: the loader reports it with a better message.
            Err(GitError::Io { .. }) => None,
            Err(e) => return Ok(unavailable(e)),
        };
        let Some(repo) = repo else {
            return Ok(Checkout {
                repo: None,
                rev: None,
                commit: None,
                dirty: false,
                dirty_files: Vec::new(),
                git_unavailable: None,
            });
        };
        let commit = match repo.head_commit() {
            Ok(commit) => commit,
            Err(e) => return Ok(unavailable(e)),
        };
        let dirty = repo.is_dirty(repo.config_dir()).unwrap_or_else(|e| {
            // Unknown is treated as dirty: `apply` must not record a commit it cannot vouch for.
            eprintln!("warning: {e}\n  = treating the working tree as having uncommitted changes");
            true
        });
        Ok(Checkout {
            repo: Some(repo),
            rev: None,
            commit,
            dirty,
            dirty_files: Vec::new(),
            git_unavailable: None,
        })
    }

    /// Extends the dirty check to every file the configuration read (`sources` after loading):
    /// policy files outside the config directory, files reached through symbolic links, files
    /// git ignores.
    pub fn cover_reads(&mut self, sources: &SourceSet) {
        let (Some(repo), None) = (&self.repo, &self.rev) else {
            return;
        };
        match repo.uncommitted_reads(&sources.files_read()) {
            Ok(files) => {
                self.dirty |= !files.is_empty();
                self.dirty_files = files;
            }
            Err(e) => {
                eprintln!(
                    "warning: {e}\n  = treating the working tree as having uncommitted changes"
                );
                self.dirty = true;
            }
        }
    }

    /// Refuses to apply what no commit would record, unless `allow_dirty`: a configuration with
    /// uncommitted changes (in the config directory or any file it reads), or one in a
    /// repository git cannot read (the dirty check, the applied-commit record and the git note
    /// would all be off).
    pub fn refuse_unrecordable(&self, dir: &Path, allow_dirty: bool) -> anyhow::Result<()> {
        if allow_dirty {
            return Ok(());
        }
        if let Some(e) = &self.git_unavailable {
            let text = e.to_string();
            let (cause, hint) = match text.split_once("\nhint: ") {
                Some((cause, hint)) => (cause, format!("{hint}; ")),
                None => (text.as_str(), String::new()),
            };
            anyhow::bail!(
                "refusing to apply: git cannot read the repository holding `{}`, so \
                        uncommitted changes cannot be detected and no commit would record this \
                        apply\n  = {cause}\nhint: {hint}or pass --allow-dirty to apply without \
                        these guarantees (the apply is recorded without a commit)",
                dir.display()
            );
        }
        if self.dirty {
            let what = if self.dirty_files.is_empty() {
                format!("the config directory `{}`", dir.display())
            } else {
                format!("the configuration in `{}`", dir.display())
            };
            let files: String = self
                .dirty_files
                .iter()
                .take(10)
                .map(|f| format!("\n  - {f}"))
                .collect();
            let more = match self.dirty_files.len() {
                n if n > 10 => format!("\n  - and {} more", n - 10),
                _ => String::new(),
            };
            anyhow::bail!(
                "{what} has uncommitted changes; refusing to apply a configuration no \
                        commit records{files}{more}\nhint: commit them first (the ledger records \
                        the applied commit), or pass --allow-dirty"
            );
        }
        Ok(())
    }

    /// The config files: at `--rev` from the object database, else from the working tree.
    pub fn sources(&self, dir: &Path) -> anyhow::Result<SourceSet> {
        if let (Some(rev), Some(repo)) = (&self.rev, &self.repo) {
            return repo
                .sources_at(rev, repo.config_dir())
                .map_err(|e| anyhow::anyhow!("{e}"));
        }
        config::sources_from_dir(dir).map_err(|e| match e {
            // The folder message says which folder; the file message says which file and why.
            WalkError::Folder { .. } => {
                anyhow::anyhow!("{e}\nhint: pass the directory holding msctl.toml with `-C DIR`")
            }
            WalkError::File { .. } => anyhow::anyhow!("{e}"),
        })
    }

    /// The repository, or an error saying why `what` needs one.
    pub fn require_repo(&self, dir: &Path, what: &str) -> anyhow::Result<&Repo> {
        self.repo.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "{what} needs a git repository, but `{}` is in none\nhint: run msctl in \
                        a clone of the repository holding the config",
                dir.display()
            )
        })
    }

    /// Loads the configuration at another revision of the same config directory (`--base`,
    /// the last applied commit).
    pub fn load_at(&self, dir: &Path, rev: &str) -> anyhow::Result<Loaded> {
        let repo = self.require_repo(dir, &format!("reading revision `{rev}`"))?;
        let sources = repo
            .sources_at(rev, repo.config_dir())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(config::load(sources))
    }

    /// Where the plan's desired state came from, for plan headers and JSON.
    pub fn source(&self, dir: &Path) -> Source {
        Source {
            config_dir: dir.display().to_string(),
            commit: self.commit.as_ref().map(|c| c.id.clone()),
            dirty: self.dirty,
        }
    }

    /// Says which revision the configuration was read from, when it was not the working tree.
    pub fn revision_note(&self) -> Option<String> {
        let rev = self.rev.as_ref()?;
        let short = self.commit.as_ref().map_or("?", |c| c.short.as_str());
        Some(format!(
            "the configuration was read from revision `{rev}` ({short}), not the working tree"
        ))
    }
}

/// A commit as reports show it.
pub fn commit_ref(info: &CommitInfo) -> CommitRef {
    CommitRef {
        id: info.id.clone(),
        short: info.short.clone(),
        summary: info.summary.clone(),
        author: info.author.clone(),
        time: info.time.seconds,
    }
}

/// Finds declarations and who last changed them. Blame runs once per (file, line) and only for
/// files whose text is the text at the blamed revision: a line of an edited working-tree file
/// would otherwise be attributed to whatever commit last touched that line number.
pub struct Blamer<'a> {
    repo: Option<&'a Repo>,
    /// The revision the config was read from (`HEAD` for the working tree).
    rev: String,
    /// For a working-tree config: the committed text of each file at `rev`, to compare with.
    committed: Option<HashMap<PathBuf, String>>,
    cache: HashMap<(PathBuf, usize), Option<CommitRef>>,
    /// Blame is slow on big files; past this many lookups, declarations carry no commit.
    budget: usize,
}

/// Enough for any drift a person reads; a report of thousands of items still lists them all,
/// just without blame past this many.
const BLAME_BUDGET: usize = 500;

impl<'a> Blamer<'a> {
    /// For a configuration read at `rev` (a commit: its files are the committed ones).
    pub fn at_revision(repo: Option<&'a Repo>, rev: &str) -> Blamer<'a> {
        Blamer {
            repo,
            rev: rev.to_string(),
            committed: None,
            cache: HashMap::new(),
            budget: BLAME_BUDGET,
        }
    }

    /// For the configuration of `checkout` (the working tree, or `--rev`).
    pub fn for_checkout(checkout: &'a Checkout) -> Blamer<'a> {
        let repo = checkout.repo.as_ref();
        if let Some(rev) = &checkout.rev {
            return Blamer::at_revision(repo, rev);
        }
        let committed = match repo {
            Some(r) if checkout.dirty => Some(
                r.sources_at("HEAD", r.config_dir())
                    .map(|s| {
                        s.files
                            .iter()
                            .map(|f| (f.path.clone(), f.text.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        Blamer {
            repo,
            rev: "HEAD".to_string(),
            committed,
            cache: HashMap::new(),
            budget: BLAME_BUDGET,
        }
    }

    /// Where `address` is declared in `config`, and (with `blame`) the commit that last changed
    /// that line.
    pub fn declaration(
        &mut self,
        config: &Config,
        address: &Address,
        blame: bool,
    ) -> Option<Declaration> {
        let span = config.origins.get(address)?;
        let file = config.sources.files.get(span.file)?;
        let (line, _) = file.line_col(span.range.start);
        let last_change = if blame {
            self.blame(&file.path, &file.text, line)
        } else {
            None
        };
        Some(Declaration {
            file: file.path.to_string_lossy().replace('\\', "/"),
            line,
            last_change,
        })
    }

    fn blame(&mut self, path: &Path, text: &str, line: usize) -> Option<CommitRef> {
        let repo = self.repo?;
        if let Some(committed) = &self.committed
            && committed.get(path).map(String::as_str) != Some(text)
        {
            return None;
        }
        let key = (path.to_path_buf(), line);
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        // Blame is decoration: a failure leaves the declaration without a commit.
        let found = repo
            .blame_line(&self.rev, &repo.path_in_repo(path), line)
            .ok()
            .flatten()
            .map(|c| commit_ref(&c));
        self.cache.insert(key, found.clone());
        found
    }
}
