//! The [`AliyunBackend`] struct every API file extends, and the plumbing they all call: calls,
//! the id caches, the read-after-write retry, the secrets file and the ledger file.
//!
//! Construction and the [`crate::backend::Backend`] contract are in [`super::backend`], which
//! composes the API files; they depend on this file, never on that one.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{Client, RequestSpec};
use super::error::CallError;
use super::identity::CallerIdentity;
use super::ids::Ids;
use super::ledger::LedgerFile;
use super::paging::Partial;
use super::secrets::SecretsFile;
use crate::backend::BackendError;

/// The `aliyun` backend. Build it with [`AliyunBackend::new`], then the `with_*` options.
pub struct AliyunBackend {
    pub(super) client: Client,
    /// Model Studio regions msctl governs: where a workspace is looked for when no read saw it.
    pub(super) regions: BTreeSet<String>,
    /// PAI regions msctl governs.
    pub(super) pai_regions: BTreeSet<String>,
    pub(super) parallelism: usize,
    pub(super) ids: Mutex<Ids>,
    /// How long to wait for a just-created object to show up in reads.
    pub(super) settle: Duration,
    pub(super) secrets: Option<SecretsFile>,
    pub(super) ledger: LedgerFile,
    /// `--caller`: overrides the RAM user STS names.
    pub(super) caller: Option<String>,
    /// STS's answer for the credentials, once [`AliyunBackend::resolve_caller`] asked.
    pub(super) identity: Option<CallerIdentity>,
    /// During a read: listings that failed part-way, by request, to resume at the failed page.
    pub(super) resume: Mutex<Option<HashMap<String, Partial>>>,
}

impl std::fmt::Debug for AliyunBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's Debug redacts credentials; the id caches are noise.
        f.debug_struct("AliyunBackend")
            .field("client", &self.client)
            .field("regions", &self.regions)
            .field("pai_regions", &self.pai_regions)
            .finish_non_exhaustive()
    }
}

impl AliyunBackend {
    pub(super) fn ids(&self) -> MutexGuard<'_, Ids> {
        // The caches hold plain maps; a panicking reader cannot leave them half-updated in a way
        // that matters (a stale id fails its call and is looked up again).
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one call, mapping its failure to a [`BackendError`] with code, request id and hint.
    pub(super) fn call(&self, spec: &RequestSpec) -> Result<Value, BackendError> {
        self.client.call(spec).map_err(BackendError::from)
    }

    /// Like [`AliyunBackend::call`], keeping the [`CallError`] so callers can look at its code.
    pub(super) fn call_raw(&self, spec: &RequestSpec) -> Result<Value, CallError> {
        self.client.call(spec)
    }

    /// Records that this process just created `id`.
    pub(super) fn mark_fresh(&self, id: &str) {
        self.ids().fresh.insert(id.to_string(), Instant::now());
    }

    /// Runs `f` until it stops failing with `NotFound`, while `id` is fresh (created by this
    /// process less than the settle budget ago): the platform's reads may lag its writes.
    pub(super) fn settled<T>(
        &self,
        id: &str,
        f: impl FnMut() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        self.settled_any(&[id], f)
    }

    /// [`AliyunBackend::settled`] for a write that needs several objects (a user and a group):
    /// retried while the most recently created of them is fresh.
    pub(super) fn settled_any<T>(
        &self,
        ids: &[&str],
        mut f: impl FnMut() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let mut delay = Duration::from_millis(100);
        loop {
            match f() {
                Err(BackendError::NotFound(m)) => {
                    let created = {
                        let known = self.ids();
                        ids.iter()
                            .filter_map(|id| known.fresh.get(*id).copied())
                            .max()
                    };
                    match created {
                        Some(at) if at.elapsed() + delay <= self.settle => {
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(Duration::from_secs(1));
                        }
                        _ => return Err(BackendError::NotFound(m)),
                    }
                }
                other => return other,
            }
        }
    }

    /// Whether `--secrets-to` was given: only then is a key's secret owed until written.
    pub(super) fn keeps_secrets(&self) -> bool {
        self.secrets.is_some()
    }

    /// The ledger file, for the owed-secrets records kept as keys are created.
    pub(super) fn ledger_file(&self) -> &LedgerFile {
        &self.ledger
    }

    /// Saves a new API key's secret to the secrets file, if one was asked for; otherwise the
    /// secret is dropped here, unseen.
    pub(super) fn keep_secret(&self, address: &str, secret: &str) -> Result<(), BackendError> {
        match &self.secrets {
            Some(file) => file.write(address, secret),
            None => Ok(()),
        }
    }
}
