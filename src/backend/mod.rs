//! The backend contract: read live state in bulk for whole scopes, apply one operation at a time.
//!
//! Backends: `local` (embedded SQLite, the default) and `aliyun` (the public APIs).
//! What a backend cannot do through its API is declared in [`Capabilities`], so plans show it as a
//! manual step instead of pretending.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Resource, State};

/// API calls by product (`modelstudio`, `ram`, `aiworkspace`, `sts`), then operation.
pub type ApiCallCounts = BTreeMap<String, BTreeMap<String, u64>>;

// The ledger and the error kinds live below both the store and the backends; their paths under
// `backend` stay for the callers.
pub use crate::ledger::{
    AppliedRecord, ChangeOutcome, Ledger, LockInfo, OwedSecret, RecordedCaller, RetiringKey,
    Settled,
};
pub use crate::model::{BackendError, ReadScope};

pub mod aliyun;
pub mod local;

/// One change for a backend to carry out. Replacements arrive as a delete, then a create.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    Create(&'a Resource),
    Update {
        before: &'a Resource,
        after: &'a Resource,
    },
    Delete(&'a Resource),
    /// Deletes the live object with platform id `id`, one of several at the resource's address
    /// (see [`Address::Duplicate`]): deleting by address would hit the one that stays.
    DeleteDuplicate {
        resource: &'a Resource,
        id: &'a str,
    },
}

impl Operation<'_> {
    pub fn resource(&self) -> &Resource {
        match self {
            Operation::Create(r) | Operation::Delete(r) => r,
            Operation::DeleteDuplicate { resource, .. } => resource,
            Operation::Update { after, .. } => after,
        }
    }
}

/// Resource kinds a backend may be unable to manage or read through its API.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Model Studio workspace members and their page permissions (console-only on Alibaba Cloud).
    WorkspaceMembers,
    /// Binding an API key to an owner other than the caller (console-only on Alibaba Cloud).
    ApiKeyOwner,
    /// Creating an API key hands out its secret once, which `apply --secrets-to` keeps (the
    /// cloud does; the local backend makes no secrets). Optional: a backend has it only when it
    /// says so in [`Capabilities::optional`].
    IssuesSecrets,
}

impl Capability {
    /// Whether a backend has this capability only when it declares it (rather than unless it
    /// declares it missing).
    pub fn is_optional(self) -> bool {
        matches!(self, Capability::IssuesSecrets)
    }
}

/// What a backend can do through its API.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Capabilities {
    /// Capabilities the backend lacks: changes needing them become manual steps.
    pub missing: BTreeSet<Capability>,
    /// Optional capabilities ([`Capability::is_optional`]) the backend has.
    pub optional: BTreeSet<Capability>,
}

impl Capabilities {
    /// Every common capability and no optional one.
    pub fn full() -> Self {
        Self::default()
    }

    pub fn has(&self, capability: Capability) -> bool {
        if capability.is_optional() {
            self.optional.contains(&capability)
        } else {
            !self.missing.contains(&capability)
        }
    }
}

/// What [`Backend::deliver_owed_secrets`] did, by address (never secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDelivery {
    /// Keys reset and whose new secret was written to the secrets file.
    pub delivered: Vec<String>,
    /// Keys that exist and still owe a secret: no secrets file was given.
    pub owed: Vec<String>,
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

    /// Takes msctl's run lock for `holder` (one attempt): `Ok(None)` when taken, else the
    /// current holder. Kept where the ledger is, so runs sharing a ledger exclude each other.
    fn try_lock(&self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError>;

    /// Removes the run lock if its id is `id`: the removed holder, or `None` when no lock with
    /// that id is held (released already, or another run's lock).
    fn unlock(&self, id: &str) -> Result<Option<LockInfo>, BackendError>;

    /// The current holder of the run lock, if any.
    fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError>;

    /// Settles the secrets earlier runs owed (see [`Ledger::owed_secrets`]): with a secrets
    /// file, each owed key that exists is reset and its new secret written there; records of
    /// keys that were never made are dropped. Backends that hand out no secrets owe none.
    fn deliver_owed_secrets(&self) -> Result<SecretDelivery, BackendError> {
        Ok(SecretDelivery::default())
    }

    /// HTTP requests made so far (0 for backends that make none).
    fn api_calls(&self) -> u64 {
        0
    }

    /// [`Backend::api_calls`] by product, then operation; empty for backends that make none.
    fn api_calls_by_operation(&self) -> ApiCallCounts {
        ApiCallCounts::new()
    }

    /// The RAM user the backend acts as, when known: without [`Capability::ApiKeyOwner`], keys
    /// owned by anyone else are manual steps.
    fn caller(&self) -> Option<String> {
        None
    }

    /// The cloud account live state belongs to, when the backend knows it (aliyun: STS's
    /// answer): a snapshot records it so a plan made from one says whose state it saw.
    fn account(&self) -> Option<String> {
        None
    }

    /// The API versions reads go through, by product (empty for backends that call no API):
    /// recorded in snapshots, since another version may read the same objects differently.
    fn api_versions(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_capabilities_are_had_only_when_declared() {
        let full = Capabilities::full();
        assert!(full.has(Capability::WorkspaceMembers));
        assert!(!full.has(Capability::IssuesSecrets));
        let issuing = Capabilities {
            optional: [Capability::IssuesSecrets].into(),
            ..Capabilities::default()
        };
        assert!(issuing.has(Capability::IssuesSecrets));
        // Declaring an optional capability missing does not grant it.
        let odd = Capabilities {
            missing: [Capability::IssuesSecrets].into(),
            ..Capabilities::default()
        };
        assert!(!odd.has(Capability::IssuesSecrets));
    }
}
