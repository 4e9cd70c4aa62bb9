//! `--secrets-to FILE`: where the secrets of created API keys go, and nowhere else.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::BackendError;

/// `--secrets-to FILE`: created with mode 0600 on the first secret, one `ADDRESS=SECRET` line
/// per created key, appended: a run never truncates the file, so the secrets an earlier run
/// (killed before anyone collected them) wrote there are never lost. A later line for the same
/// address supersedes an earlier one (a reset key).
pub(super) struct SecretsFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
    written: AtomicUsize,
}

impl SecretsFile {
    /// A secrets file at `path`, created on the first secret written.
    pub(super) fn new(path: PathBuf) -> Self {
        SecretsFile {
            path,
            file: Mutex::new(None),
            written: AtomicUsize::new(0),
        }
    }

    /// Secrets written so far.
    pub(super) fn written(&self) -> usize {
        self.written.load(Ordering::Relaxed)
    }

    pub(super) fn write(&self, address: &str, secret: &str) -> Result<(), BackendError> {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if file.is_none() {
            *file = Some(open_private(&self.path)?);
        }
        let Some(f) = file.as_mut() else {
            unreachable!("the file was opened just above")
        };
        f.write_all(format!("{address}={secret}\n").as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| {
                BackendError::Transport(format!(
                    "failed to write the secret of `{address}` to `{}`: {e}\n\
                     hint: the key exists; reset its secret in the console (Key Management)",
                    self.path.display()
                ))
            })?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Opens `path` for appending, readable by its owner only. A new file is created with mode 0600
/// (never briefly wider); an existing one is narrowed to 0600 before anything is written.
fn open_private(path: &Path) -> Result<File, BackendError> {
    let fail = |e: std::io::Error| {
        BackendError::Transport(format!(
            "failed to open the secrets file `{}`: {e}",
            path.display()
        ))
    };
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    Ok(file)
}
