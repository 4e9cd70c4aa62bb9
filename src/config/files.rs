//! Reading config files from disk, bounded: the walk of a config directory (following symbolic
//! links to folders, once each; reporting every folder it skips) and reads that refuse special
//! files (devices, FIFOs) and files over a size cap without reading past the cap.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{SkippedFolder, SourceSet};
use crate::policy::MAX_DOCUMENT_CHARS;

/// The largest config (`*.toml`) file msctl reads: far beyond any real configuration (the
/// 5,000-workspace benchmark config is under 2 MiB in all), small enough that a wrong path
/// cannot exhaust memory.
pub const TOML_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The largest policy or trust-policy JSON file msctl reads. RAM accepts a document of at most
/// 6,144 characters as compact JSON; an indented file of such a document is up to about twice
/// that, so 16 KiB refuses no document RAM would take.
pub const POLICY_FILE_MAX_BYTES: u64 = 16 * 1024;

const _: () = assert!(POLICY_FILE_MAX_BYTES as usize >= 2 * MAX_DOCUMENT_CHARS);

/// Why a file could not be read; the path is said by whoever reports it.
#[derive(Debug)]
pub enum FileProblem {
    /// A symbolic link whose target does not exist.
    DanglingLink {
        target: PathBuf,
    },
    /// A folder where a file was expected.
    Folder,
    /// A device, FIFO or socket: reading could block or never end.
    Special {
        kind: &'static str,
    },
    /// Larger than the cap.
    TooLarge {
        limit: u64,
    },
    /// Bytes that are not UTF-8 text.
    NotUtf8,
    Io(std::io::Error),
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::DanglingLink { target } => write!(
                f,
                "it is a symbolic link to `{}`, which does not exist",
                target.display()
            ),
            FileProblem::Folder => write!(f, "it is a folder, not a file"),
            FileProblem::Special { kind } => write!(f, "it is a {kind}, not a regular file"),
            FileProblem::TooLarge { limit } => write!(f, "it is larger than {limit} bytes"),
            FileProblem::NotUtf8 => write!(f, "it is not UTF-8 text (a binary file?)"),
            FileProblem::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FileProblem {}

impl FileProblem {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            FileProblem::DanglingLink { .. } => "fix or remove the link",
            FileProblem::Folder => "name a file",
            FileProblem::Special { .. } => {
                "msctl reads only regular files; name a file, not a device or a pipe"
            }
            FileProblem::TooLarge { .. } => {
                "is this the right file? msctl reads files up to the limits stated in the README"
            }
            FileProblem::NotUtf8 => {
                "save the file as UTF-8 text, or move it out of the config directory"
            }
            FileProblem::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                "the path is relative to the config directory"
            }
            FileProblem::Io(_) => "check the file's permissions",
        }
    }

    /// As an I/O error carrying this problem (the signature of a
    /// [`crate::diagnostic::ExtraReader`]).
    pub fn into_io(self) -> std::io::Error {
        match self {
            FileProblem::Io(e) => e,
            other => {
                let kind = match other {
                    FileProblem::DanglingLink { .. } => std::io::ErrorKind::NotFound,
                    _ => std::io::ErrorKind::InvalidData,
                };
                std::io::Error::new(kind, other)
            }
        }
    }

    /// The problem inside an I/O error made by [`FileProblem::into_io`], if it is one.
    pub fn of_io(e: &std::io::Error) -> Option<&FileProblem> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<FileProblem>())
    }
}

/// Reads a regular file (following symbolic links) as UTF-8 text, refusing special files and
/// files larger than `limit` bytes without reading more than `limit + 1` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileProblem> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match std::fs::read_link(path) {
                Ok(target) => FileProblem::DanglingLink { target },
                Err(_) => FileProblem::Io(e),
            });
        }
        Err(e) => return Err(FileProblem::Io(e)),
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    check_regular(&meta)?;
    if meta.len() > limit {
        return Err(FileProblem::TooLarge { limit });
    }
    let file = File::open(path).map_err(FileProblem::Io)?;
    // Again on the open file, in case the path was swapped in between.
    check_regular(&file.metadata().map_err(FileProblem::Io)?)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size can grow after the check (a log being written): read one byte past the cap at most.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Io)?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| FileProblem::NotUtf8)
}

fn check_regular(meta: &std::fs::Metadata) -> Result<(), FileProblem> {
    if meta.is_file() {
        return Ok(());
    }
    if meta.is_dir() {
        return Err(FileProblem::Folder);
    }
    Err(FileProblem::Special {
        kind: special_kind(meta),
    })
}

#[cfg(unix)]
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let ty = meta.file_type();
    if ty.is_char_device() {
        "character device"
    } else if ty.is_block_device() {
        "block device"
    } else if ty.is_fifo() {
        "FIFO (named pipe)"
    } else if ty.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_meta: &std::fs::Metadata) -> &'static str {
    "special file"
}

/// Why the walk of a config directory failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The config directory itself (or a folder in it) cannot be listed.
    #[error("failed to read config directory `{}`: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A config file that cannot be read.
    #[error("failed to read config file `{}`: {problem}\nhint: {}", path.display(), problem.hint())]
    File { path: PathBuf, problem: FileProblem },
}

/// Reads every `*.toml` under `dir`: subfolders too, symbolic links to folders followed (each
/// folder read once, which also stops link loops), hidden folders and `target` skipped and
/// listed in [`SourceSet::skipped`]. Referenced files (policy JSON) are read relative to `dir`.
pub fn sources_from_dir(dir: &Path) -> Result<SourceSet, WalkError> {
    let root = dir.canonicalize().map_err(|source| WalkError::Folder {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut walk = Walk {
        dir,
        files: Vec::new(),
        skipped: Vec::new(),
        seen: HashMap::from([(root.clone(), PathBuf::new())]),
    };
    walk.folder(&root, &PathBuf::new())?;
    let base = dir.to_path_buf();
    Ok(SourceSet::new(
        dir.display().to_string(),
        walk.files,
        Arc::new(move |rel: &Path, limit: u64| {
            read_text(&base.join(rel), limit).map_err(FileProblem::into_io)
        }),
    )
    .with_skipped(walk.skipped))
}

struct Walk<'a> {
    /// The config directory as given, for messages.
    dir: &'a Path,
    files: Vec<(PathBuf, String)>,
    skipped: Vec<SkippedFolder>,
    /// Canonical path of every folder read → its path relative to the config directory.
    seen: HashMap<PathBuf, PathBuf>,
}

impl Walk<'_> {
    /// Reads folder `real` (canonical), shown as `rel` (relative to the config directory).
    fn folder(&mut self, real: &Path, rel: &Path) -> Result<(), WalkError> {
        let shown = self.dir.join(rel);
        let listing_error = |source| WalkError::Folder {
            path: shown.clone(),
            source,
        };
        let mut entries: Vec<_> = std::fs::read_dir(real)
            .map_err(listing_error)?
            .collect::<Result<_, _>>()
            .map_err(|source| WalkError::Folder {
                path: shown.clone(),
                source,
            })?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let entry_rel = rel.join(&*name);
            let ty = entry.file_type().map_err(|source| WalkError::Folder {
                path: shown.clone(),
                source,
            })?;
            // A link counts as what it points to; a dangling one as nothing, unless it is
            // named like a config file (then reading it says what is wrong).
            let is_dir = if ty.is_symlink() {
                std::fs::metadata(&path).is_ok_and(|m| m.is_dir())
            } else {
                ty.is_dir()
            };
            if is_dir {
                if name.starts_with('.') || name == "target" {
                    let reason = if name == "target" {
                        "a folder named `target`".to_string()
                    } else {
                        "hidden folder".to_string()
                    };
                    // git's own folder never holds configuration, and can be huge.
                    let holds_toml = name != ".git" && holds_toml(&path);
                    self.skipped.push(SkippedFolder {
                        path: entry_rel,
                        reason,
                        holds_toml,
                    });
                    continue;
                }
                let canonical = path.canonicalize().map_err(|source| WalkError::Folder {
                    path: self.dir.join(&entry_rel),
                    source,
                })?;
                if let Some(first) = self.seen.get(&canonical) {
                    let reason = if first.as_os_str().is_empty() {
                        "the config directory itself again (a symbolic link loop)".to_string()
                    } else {
                        format!("the same folder as `{}`, read there", first.display())
                    };
                    self.skipped.push(SkippedFolder {
                        path: entry_rel,
                        reason,
                        holds_toml: holds_toml(&canonical),
                    });
                    continue;
                }
                self.seen.insert(canonical.clone(), entry_rel.clone());
                self.folder(&canonical, &entry_rel)?;
            } else if name.ends_with(".toml") {
                let text = read_text(&path, TOML_MAX_BYTES).map_err(|problem| WalkError::File {
                    path: self.dir.join(&entry_rel),
                    problem,
                })?;
                self.files.push((entry_rel, text));
            }
        }
        Ok(())
    }
}

/// Whether a folder holds `*.toml` files at any depth (links not followed). Gives up, saying
/// no, after this many entries: a skipped folder may be a build tree of any size.
fn holds_toml(dir: &Path) -> bool {
    let mut budget = 10_000usize;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if budget == 0 {
                return false;
            }
            budget -= 1;
            let Ok(ty) = entry.file_type() else { continue };
            if ty.is_dir() {
                stack.push(entry.path());
            } else if entry.file_name().to_string_lossy().ends_with(".toml") {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_and_oversized_files_are_refused() {
        #[cfg(unix)]
        assert!(matches!(
            read_text(Path::new("/dev/zero"), 100),
            Err(FileProblem::Special {
                kind: "character device"
            })
        ));
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::write(&big, "x".repeat(101)).unwrap();
        assert!(matches!(
            read_text(&big, 100),
            Err(FileProblem::TooLarge { limit: 100 })
        ));
        assert_eq!(read_text(&big, 101).unwrap().len(), 101);
        let bin = dir.path().join("bin.toml");
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(read_text(&bin, 100), Err(FileProblem::NotUtf8)));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        // Opening a FIFO with no writer would block forever: the refusal must come first.
        assert!(matches!(
            read_text(&fifo, 100),
            Err(FileProblem::Special {
                kind: "FIFO (named pipe)"
            })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn links_to_folders_are_followed_once_and_skips_are_listed() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        let shared = dir.path().join("shared");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(cfg.join("a.toml"), "").unwrap();
        std::fs::write(shared.join("s.toml"), "").unwrap();
        symlink(&shared, cfg.join("linked")).unwrap();
        symlink(&cfg, cfg.join("loop")).unwrap();
        std::fs::create_dir_all(cfg.join("target")).unwrap();
        std::fs::write(cfg.join("target/t.toml"), "").unwrap();
        std::fs::create_dir_all(cfg.join(".hidden")).unwrap();
        let set = sources_from_dir(&cfg).unwrap();
        let files: Vec<_> = set.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            files,
            [PathBuf::from("a.toml"), PathBuf::from("linked/s.toml")]
        );
        let skipped: Vec<_> = set
            .skipped
            .iter()
            .map(|s| (s.path.display().to_string(), s.holds_toml))
            .collect();
        assert_eq!(
            skipped,
            [
                (".hidden".to_string(), false),
                ("loop".to_string(), true),
                ("target".to_string(), true)
            ]
        );
    }
}
