//! Config files at a revision, read from the object database: the TOML walk, symbolic links, size
//! limits.

use super::*;

impl Repo {
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
    pub(super) fn dir_components(&self, path: &Path) -> Result<Vec<String>, GitError> {
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
}

/// `base` joined with relative `path`, as git path components; `.` dropped, `..` applied.
/// Fails for absolute paths and paths climbing above the root.
pub(super) fn normalize(base: &[String], path: &Path) -> Result<Vec<String>, &'static str> {
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
pub(super) struct TomlWalker<'a, 'r> {
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
pub(super) fn tree_holds_toml(repo: &Repository, id: Oid) -> bool {
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
pub(super) enum Resolved {
    /// A file (not a link), with its blob id.
    Blob(Oid),
    Tree(Oid),
    /// Nothing: no such path, a link leaving the tree, or a loop of links.
    Missing,
}

/// Resolves `path` (components from the root tree), following symbolic links in every
/// component, as the file system would.
pub(super) fn resolve(
    repo: &Repository,
    root: &Tree<'_>,
    path: Vec<String>,
) -> Result<Resolved, git2::Error> {
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
pub(super) enum Lookup {
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
pub(super) fn read_file(
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
pub(super) fn read_blob(repo: &Repository, id: Oid, limit: u64) -> Result<Lookup, git2::Error> {
    let (size, _) = repo.odb()?.read_header(id)?;
    if size as u64 > limit {
        return Ok(Lookup::TooLarge { limit });
    }
    Ok(Lookup::Found(repo.find_blob(id)?.content().to_vec()))
}

/// Reads files the config refers to, relative to the config directory, from one tree.
pub(super) fn extra_reader(
    handle: Repository,
    tree: Oid,
    dir: Vec<String>,
    at: String,
) -> ExtraReader {
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
