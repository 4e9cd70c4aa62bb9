//! The backend contract: read live state in bulk for whole scopes, apply one operation at a time.
//!
//! Backends: `local` (embedded SQLite, the default) and `aliyun` (the public APIs).
//! What a backend cannot do through its API is declared in [`Capabilities`], so plans show it as a
//! manual step instead of pretending.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Address, Resource, State};

pub mod aliyun;
pub mod local;

/// What to read: the regions msctl governs and whether RAM and PAI are in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadScope {
    /// Model Studio regions whose workspaces (and their models, limits, members, keys) are read.
    pub regions: BTreeSet<String>,
    /// Read RAM users, groups, roles, custom policies and attachments.
    pub ram: bool,
    /// PAI regions whose workspaces and members are read.
    pub pai_regions: BTreeSet<String>,
}

/// One change for a backend to carry out. Replacements arrive as a delete, then a create.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    Create(&'a Resource),
    Update {
        before: &'a Resource,
        after: &'a Resource,
    },
    Delete(&'a Resource),
}

impl Operation<'_> {
    pub fn resource(&self) -> &Resource {
        match self {
            Operation::Create(r) | Operation::Delete(r) => r,
            Operation::Update { after, .. } => after,
        }
    }
}

/// Resource kinds a backend may be unable to manage or read through its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// Model Studio workspace members and their page permissions (console-only on Alibaba Cloud).
    WorkspaceMembers,
    /// Binding an API key to an owner other than the caller (console-only on Alibaba Cloud).
    ApiKeyOwner,
}

/// What a backend can do through its API.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// Capabilities the backend lacks: changes needing them become manual steps.
    pub missing: BTreeSet<Capability>,
}

impl Capabilities {
    pub fn full() -> Self {
        Self::default()
    }

    pub fn has(&self, capability: Capability) -> bool {
        !self.missing.contains(&capability)
    }
}

/// How a backend call failed, in kinds the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The object the operation needs does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The object already exists, or the operation conflicts with live state.
    #[error("{0}")]
    Conflict(String),
    /// The platform refused the operation by one of its rules (e.g. deleting a default workspace).
    #[error("{0}")]
    Refused(String),
    /// The state store is locked by another msctl process.
    #[error("{0}")]
    Locked(String),
    /// The platform throttled the call; retrying later may succeed.
    #[error("{0}")]
    Throttled(String),
    /// Transport or storage failure (I/O, network, database).
    #[error("{0}")]
    Transport(String),
    /// The service looks down (a circuit breaker opened): stop starting new work, retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The input cannot be applied as given (a bug in msctl or a platform limit).
    #[error("{0}")]
    Invalid(String),
}

/// msctl's own records beside the live state (design-notes §1): what it owns, and what it last
/// applied. Kept by the backend so that every run against the same live state sees the same
/// ledger (the local database; git notes for the cloud, later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Addresses msctl applied and still manages: when their declaration disappears from the
    /// config, the plan deletes them (instead of listing them as unmanaged).
    pub owned: BTreeSet<Address>,
    /// The last successful or partial apply.
    pub last_apply: Option<AppliedRecord>,
    /// Manual steps a person confirmed done (`msctl ack`), as the resource they made: what the
    /// API cannot read (workspace members, an API key's owner) is compared against these
    /// (design-notes §2).
    #[serde(default)]
    pub acknowledged: BTreeMap<Address, Resource>,
}

/// One apply, as recorded in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRecord {
    /// The git commit of the config that was applied, when known.
    pub commit: Option<String>,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The summary line of the apply (`Apply complete: 5 applied, ...`).
    pub summary: String,
    pub applied: usize,
    pub failed: usize,
    /// The working tree had uncommitted changes (`apply --allow-dirty`): `commit` does not hold
    /// exactly what was applied.
    #[serde(default)]
    pub dirty: bool,
}

/// A source of live state and a sink for changes.
pub trait Backend: Send + Sync {
    /// The backend's name as used by `--backend`.
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Reads every resource in `scope`, in bulk (never one call per resource when a list will do).
    fn read(&self, scope: &ReadScope) -> Result<State, BackendError>;

    /// Carries out one operation atomically: it is applied completely or not at all.
    fn apply(&self, operation: Operation<'_>) -> Result<(), BackendError>;

    /// Reads msctl's ledger (empty when none was written yet).
    fn load_ledger(&self) -> Result<Ledger, BackendError>;

    /// Replaces msctl's ledger.
    fn save_ledger(&self, ledger: &Ledger) -> Result<(), BackendError>;

    /// HTTP requests made so far (0 for backends that make none).
    fn api_calls(&self) -> u64 {
        0
    }

    /// The RAM user the backend acts as, when known: without [`Capability::ApiKeyOwner`], keys
    /// owned by anyone else are manual steps.
    fn caller(&self) -> Option<String> {
        None
    }
}
