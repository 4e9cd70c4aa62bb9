//! The aliyun backend's ledger: the cloud has no place for msctl's ledger (owed secrets, the
//! run lock), so it lives in memory (tests) or in a SQLite file holding msctl's ledger tables alone
//! ([`LedgerStore`]: no platform schema, no seeded workspaces).

use std::path::PathBuf;
use std::sync::Mutex;

use crate::backend::{BackendError, Ledger, LockInfo};
use crate::store::LedgerStore;

/// Where the aliyun backend keeps msctl's ledger: the cloud has no place for it.
pub(super) enum LedgerFile {
    /// No path given (tests): kept for the life of the backend, with its run lock.
    /// (Boxed: a ledger is much larger than the file variant.)
    Memory(Mutex<Box<Ledger>>, Mutex<Option<LockInfo>>),
    /// A SQLite file with msctl's ledger tables alone, opened on first use.
    Sqlite {
        path: PathBuf,
        open: Mutex<Option<LedgerStore>>,
    },
}

impl LedgerFile {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut LedgerStore) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let LedgerFile::Sqlite { path, open } = self else {
            unreachable!("only called for the SQLite ledger")
        };
        let mut open = open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.is_none() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    BackendError::Transport(format!(
                        "failed to create the ledger directory `{}`: {e}",
                        dir.display()
                    ))
                })?;
            }
            *open = Some(LedgerStore::open(path)?);
        }
        match open.as_mut() {
            Some(ledger) => f(ledger),
            None => unreachable!("opened just above"),
        }
    }

    pub(super) fn load(&self) -> Result<Ledger, BackendError> {
        match self {
            LedgerFile::Memory(ledger, _) => Ok(ledger
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .clone()),
            // A ledger that was never written reads as empty, without creating a file.
            LedgerFile::Sqlite { path, open } if !path.exists() => {
                let opened = open
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_some();
                if opened {
                    self.with(|l| l.load_ledger())
                } else {
                    Ok(Ledger::default())
                }
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.load_ledger()),
        }
    }

    pub(super) fn save(&self, ledger: &Ledger) -> Result<(), BackendError> {
        match self {
            LedgerFile::Memory(held, _) => {
                let mut held = held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Owed secrets are kept as creates happen, never by a whole-ledger save.
                let owed = std::mem::take(&mut held.owed_secrets);
                **held = ledger.clone();
                held.owed_secrets = owed;
                Ok(())
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.save_ledger(ledger)),
        }
    }

    /// The run lock lives beside the ledger (in the ledger file), so two runs sharing a ledger
    /// never overlap; taking it creates the ledger file if needed.
    pub(super) fn try_lock(&self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        match self {
            LedgerFile::Memory(_, lock) => {
                let mut lock = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match lock.as_ref() {
                    Some(held) => Ok(Some(held.clone())),
                    None => {
                        *lock = Some(holder.clone());
                        Ok(None)
                    }
                }
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.try_lock(holder)),
        }
    }

    pub(super) fn unlock(&self, id: &str) -> Result<Option<LockInfo>, BackendError> {
        match self {
            LedgerFile::Memory(_, lock) => {
                let mut lock = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if lock.as_ref().is_some_and(|l| l.id == id) {
                    Ok(lock.take())
                } else {
                    Ok(None)
                }
            }
            LedgerFile::Sqlite { path, .. } if !path.exists() => Ok(None),
            LedgerFile::Sqlite { .. } => self.with(|l| l.unlock(id)),
        }
    }

    pub(super) fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        match self {
            LedgerFile::Memory(_, lock) => Ok(lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()),
            LedgerFile::Sqlite { path, .. } if !path.exists() => Ok(None),
            LedgerFile::Sqlite { .. } => self.with(|l| l.lock_holder()),
        }
    }

    /// Records (`Some`) or clears (`None`) the secret owed for `address`, durably at once.
    pub(super) fn set_owed(
        &self,
        address: &str,
        owed: Option<crate::backend::OwedSecret>,
    ) -> Result<(), BackendError> {
        match self {
            LedgerFile::Memory(held, _) => {
                let mut held = held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match owed {
                    Some(o) => {
                        held.owed_secrets.insert(address.to_string(), o);
                    }
                    None => {
                        held.owed_secrets.remove(address);
                    }
                }
                Ok(())
            }
            LedgerFile::Sqlite { .. } => self.with(|l| l.set_owed_secret(address, owed)),
        }
    }
}
