//! [`SnapshotBackend`]: a `Backend` that answers from a snapshot and never writes, and
//! [`restrict`], what a read of a narrower scope than the snapshot's returns.

use std::collections::{BTreeMap, BTreeSet};

use super::{Snapshot, backend_name};
use crate::backend::{Backend, BackendError, Capabilities, Ledger, LockInfo, Operation, ReadScope};
use crate::model::{Resource, State};

/// A backend that answers from a snapshot: reads return the snapshot's live state (narrowed to
/// the scope asked for), the ledger is the snapshot's, and everything that would write or lock
/// is refused. It holds no credentials and opens no connection.
pub struct SnapshotBackend {
    snapshot: Snapshot,
    name: &'static str,
}

impl SnapshotBackend {
    pub fn new(snapshot: Snapshot) -> SnapshotBackend {
        // `load` refused unknown names; a snapshot built in memory names its own backend.
        let name = backend_name(&snapshot.backend).unwrap_or("snapshot");
        SnapshotBackend { snapshot, name }
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn refuse(&self, what: &str) -> BackendError {
        BackendError::Refused(format!(
            "failed to {what}: live state comes from a snapshot, which is read-only\nhint: run \
             without `--live FILE` to use the {} backend itself",
            self.name
        ))
    }
}

impl Backend for SnapshotBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.snapshot.capabilities.clone()
    }

    fn read(&self, scope: &ReadScope) -> Result<State, BackendError> {
        Ok(restrict(&self.snapshot.live, scope))
    }

    fn apply(&self, operation: Operation<'_>) -> Result<(), BackendError> {
        Err(self.refuse(&format!(
            "apply a change to `{}`",
            operation.resource().address()
        )))
    }

    fn load_ledger(&self) -> Result<Ledger, BackendError> {
        Ok(self.snapshot.ledger.clone())
    }

    fn save_ledger(&self, _: &Ledger) -> Result<(), BackendError> {
        Err(self.refuse("write msctl's ledger"))
    }

    fn try_lock(&self, _: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        Err(self.refuse("take msctl's run lock"))
    }

    fn unlock(&self, _: &str) -> Result<Option<LockInfo>, BackendError> {
        Ok(None)
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        Ok(None)
    }

    fn caller(&self) -> Option<String> {
        self.snapshot.caller.clone()
    }

    fn account(&self) -> Option<String> {
        self.snapshot.account.clone()
    }
}

/// The part of `live` a read of `scope` returns, as a backend would: workspaces (and what is in
/// them) of the scope's regions, RAM when asked for, PAI workspaces (and members) of its PAI
/// regions. A narrower scope than the snapshot's lists fewer unmanaged objects, as a fresh read
/// would, so the fingerprint of what a plan sees does not depend on where it came from.
pub fn restrict(live: &State, scope: &ReadScope) -> State {
    // A workspace name read twice (duplicates) may sit in two regions: its contents are kept
    // when either region is in scope.
    let mut ms_regions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut pai_regions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for resource in live.resources.values() {
        match resource {
            Resource::Workspace(w) => {
                ms_regions.entry(&w.name).or_default().insert(&w.region);
            }
            Resource::PaiWorkspace(w) => {
                pai_regions.entry(&w.name).or_default().insert(&w.region);
            }
            _ => {}
        }
    }
    let in_scope = |regions: Option<&BTreeSet<&str>>, wanted: &BTreeSet<String>| match regions {
        Some(regions) => regions.iter().any(|r| wanted.contains(*r)),
        // Contents of a workspace the read did not list (not produced by reads): kept with any
        // region, never dropped silently from a scope that reads regions at all.
        None => !wanted.is_empty(),
    };
    let mut out = State::default();
    for (address, resource) in &live.resources {
        let keep = match resource {
            Resource::Workspace(w) => scope.regions.contains(&w.region),
            Resource::PaiWorkspace(w) => scope.pai_regions.contains(&w.region),
            Resource::PaiMember(m) => {
                in_scope(pai_regions.get(m.workspace.as_str()), &scope.pai_regions)
            }
            _ => match address.workspace() {
                Some(workspace) => in_scope(ms_regions.get(workspace), &scope.regions),
                None => scope.ram,
            },
        };
        if keep {
            out.resources.insert(address.clone(), resource.clone());
        }
    }
    // The platform's id and creation time of each kept API key (rotation reads them).
    out.live_keys = live
        .live_keys
        .iter()
        .filter(|(address, _)| out.resources.contains_key(*address))
        .map(|(address, key)| (address.clone(), key.clone()))
        .collect();
    out
}
