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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Default)]
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
    /// Who the backend's credentials were when the ledger was last written (aliyun: STS
    /// `GetCallerIdentity`, or `--caller`), so that later runs read the API keys those
    /// credentials created as owned by the same RAM user, whatever flags they are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<RecordedCaller>,
    /// The region of every owned Model Studio and PAI workspace: reads cover these regions even
    /// when the config names them no more, so an owned workspace is never out of sight.
    #[serde(default)]
    pub regions: BTreeMap<Address, String>,
    /// API keys whose secret a run owes (issue 14), by address: recorded before the key is
    /// created, cleared once its secret is written to `--secrets-to`. A record that outlives its
    /// run means the key may exist with a secret nobody has. Backends keep these records as the
    /// creates happen: [`Backend::save_ledger`] neither writes nor drops them, so a ledger loaded
    /// at the start of an apply and saved at its end cannot undo them.
    #[serde(default)]
    pub owed_secrets: BTreeMap<String, OwedSecret>,
}

/// An identity as the ledger records it: the id API keys it creates carry as `createdBy`, and
/// the RAM user they are owned by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCaller {
    pub user_id: String,
    pub name: String,
}

/// What [`Ledger::settle`] needs of one planned change (the plan's `Change` implements it): the
/// backend layer sits below planning and does not import it.
pub trait Settled {
    fn address(&self) -> &Address;
    /// The object as the change leaves it; `None` for a delete.
    fn after(&self) -> Option<&Resource>;
    /// Whether the change creates an object (a create or a replace), so that a failed attempt
    /// may still have made it (a lost reply).
    fn may_create(&self) -> bool;
}

/// How one planned change ended, for [`Ledger::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Carried out: the object now exists as planned (or is gone, for a delete).
    Applied,
    /// Failed: a create may still have happened (a lost reply), so its object counts as live.
    Failed,
    /// Not attempted (skipped, manual, or the run stopped first): live is as it was.
    NotRun,
}

impl Ledger {
    /// The ownership rule. msctl owns every address it declared or owned before that exists
    /// live after the run; an owned address leaves the ledger only when it is gone live.
    ///
    /// "Live after" is derived from the live state the plan was built on and what the run did,
    /// not from a re-read, so an apply whose final read fails still records what it made:
    /// a deleted object is gone, a created or updated one exists, a failed create may exist
    /// (kept, and dropped by the next run if it does not), anything else is as it was read.
    /// `live` must cover the regions of every owned workspace (see [`Ledger::scope`]).
    pub fn settle<'a, C: Settled + 'a>(
        &mut self,
        declared: &State,
        live: &State,
        changes: impl IntoIterator<Item = (&'a C, ChangeOutcome)>,
    ) {
        let mut outcome: BTreeMap<&Address, (&C, ChangeOutcome)> = BTreeMap::new();
        for (change, result) in changes {
            outcome.insert(change.address(), (change, result));
        }
        let candidates: BTreeSet<Address> = self
            .owned
            .iter()
            .chain(declared.resources.keys())
            .chain(outcome.keys().copied())
            .filter(|a| !matches!(a, Address::Duplicate { .. }))
            .cloned()
            .collect();
        let mut owned = BTreeSet::new();
        let mut regions = BTreeMap::new();
        for address in candidates {
            let after = match outcome.get(&address) {
                Some((c, ChangeOutcome::Applied)) => c.after(),
                Some((c, ChangeOutcome::Failed)) if c.may_create() => c.after(),
                _ => live.get(&address),
            };
            let Some(after) = after else { continue };
            match after {
                Resource::Workspace(w) => {
                    regions.insert(address.clone(), w.region.clone());
                }
                Resource::PaiWorkspace(w) => {
                    regions.insert(address.clone(), w.region.clone());
                }
                _ => {}
            }
            owned.insert(address);
        }
        self.owned = owned;
        self.regions = regions;
    }

    /// Adds what a run is about to create to the owned set before it runs (a write-ahead
    /// record): a run killed half-way forgets nothing it made, and [`Ledger::settle`] drops
    /// what was never made.
    pub fn intend<'a>(&mut self, creates: impl IntoIterator<Item = &'a Resource>) {
        for r in creates {
            let address = r.address();
            match r {
                Resource::Workspace(w) => {
                    self.regions.insert(address.clone(), w.region.clone());
                }
                Resource::PaiWorkspace(w) => {
                    self.regions.insert(address.clone(), w.region.clone());
                }
                _ => {}
            }
            self.owned.insert(address);
        }
    }

    /// The Model Studio and PAI regions of the workspaces msctl owns.
    pub fn scope(&self) -> ReadScope {
        let mut scope = ReadScope::default();
        for (address, region) in &self.regions {
            if !self.owned.contains(address) {
                continue;
            }
            match address {
                Address::Workspace { .. } => {
                    scope.regions.insert(region.clone());
                }
                Address::PaiWorkspace { .. } => {
                    scope.pai_regions.insert(region.clone());
                }
                _ => {}
            }
        }
        scope
    }
}

/// Who holds msctl's run lock: `apply` and `ack` take it for their whole run, so two runs that
/// share a state (local backend) or a ledger (aliyun backend) never overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random id, the argument of `msctl force-unlock`.
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub started: u64,
    /// The git commit of the config being applied, when known.
    pub commit: Option<String>,
    /// `apply` or `ack`.
    pub command: String,
}

impl LockInfo {
    /// A holder record for this process, with a fresh random id.
    pub fn for_this_process(command: &str, commit: Option<String>) -> LockInfo {
        let mut bytes = [0u8; 8];
        // Without OS randomness, the pid and clock still tell two holders apart.
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if getrandom::fill(&mut bytes).is_err() {
            bytes = (started.as_nanos() as u64 ^ u64::from(std::process::id())).to_be_bytes();
        }
        let id = hex::encode(bytes);
        LockInfo {
            id,
            host: hostname(),
            pid: std::process::id(),
            started: started.as_secs(),
            commit,
            command: command.to_string(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lock {} held by `msctl {}` on host {} (pid {}) since {}",
            self.id,
            self.command,
            self.host,
            self.pid,
            crate::model::time::utc(i64::try_from(self.started).unwrap_or(i64::MAX))
        )?;
        if let Some(commit) = &self.commit {
            write!(f, ", applying commit {commit}")?;
        }
        Ok(())
    }
}

/// This machine's name, for lock records (best effort: no extra dependency for it).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// One owed secret (see [`Ledger::owed_secrets`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwedSecret {
    /// The key's `apiKeyId`, once its create was answered.
    #[serde(default)]
    pub key_id: Option<i64>,
}

/// What [`Backend::deliver_owed_secrets`] did, by address (never secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDelivery {
    /// Keys reset and whose new secret was written to the secrets file.
    pub delivered: Vec<String>,
    /// Keys that exist and still owe a secret: no secrets file was given.
    pub owed: Vec<String>,
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

    /// The RAM user the backend acts as, when known: without [`Capability::ApiKeyOwner`], keys
    /// owned by anyone else are manual steps.
    fn caller(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Change};
    use crate::testing::{bare_change, key, workspace};

    fn addresses(ledger: &Ledger) -> Vec<String> {
        ledger.owned.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn settle_owns_what_exists_after_the_run_without_a_re_read() {
        let ws = workspace("ml", "ap-southeast-1");
        let made = key("ml", "made", "alice", None);
        let failed = key("ml", "failed", "alice", None);
        let gone = key("ml", "gone", "alice", None);
        let kept = key("ml", "kept", "alice", None);
        let vanished = key("ml", "vanished", "alice", None);
        let mut ledger = Ledger {
            owned: [gone.address(), kept.address(), vanished.address()].into(),
            ..Ledger::default()
        };
        // Live before the run: the workspace, the key to delete, and an owned key whose delete
        // is not run; `vanished` was deleted out of band.
        let live: State = [ws.clone(), gone.clone(), kept.clone()]
            .into_iter()
            .collect();
        let declared: State = [ws.clone(), made.clone(), failed.clone()]
            .into_iter()
            .collect();
        let changes: Vec<Change> = vec![
            bare_change(made.clone(), Action::Create, &[]),
            bare_change(failed.clone(), Action::Create, &[]),
            bare_change(gone.clone(), Action::Delete, &[]),
            bare_change(kept.clone(), Action::Delete, &[]),
        ];
        let outcomes = [
            ChangeOutcome::Applied,
            ChangeOutcome::Failed,
            ChangeOutcome::Applied,
            ChangeOutcome::NotRun,
        ];
        ledger.settle(&declared, &live, changes.iter().zip(outcomes));
        assert_eq!(
            addresses(&ledger),
            vec![
                "workspace.ml",
                "workspace.ml.apikey.failed",
                "workspace.ml.apikey.kept",
                "workspace.ml.apikey.made",
            ]
        );
        assert_eq!(
            ledger.regions,
            [(ws.address(), "ap-southeast-1".to_string())].into()
        );
        assert_eq!(
            ledger.scope().regions,
            ["ap-southeast-1".to_string()].into()
        );
    }

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

    #[test]
    fn intend_owns_creates_before_they_run_and_settle_drops_what_never_came() {
        let ws = workspace("ml", "cn-beijing");
        let mut ledger = Ledger::default();
        ledger.intend([&ws]);
        assert_eq!(addresses(&ledger), vec!["workspace.ml"]);
        assert_eq!(ledger.scope().regions, ["cn-beijing".to_string()].into());
        // The run died before creating it; the next one finds nothing and nothing declared.
        ledger.settle::<Change>(&State::default(), &State::default(), []);
        assert!(ledger.owned.is_empty());
        assert!(ledger.regions.is_empty());
    }

    #[test]
    fn lock_records_render_every_field_of_the_holder() {
        let holder = LockInfo {
            id: "0123abcd".into(),
            host: "ci-7".into(),
            pid: 4242,
            started: 1_700_000_000,
            commit: Some("1a2b3c".into()),
            command: "apply".into(),
        };
        assert_eq!(
            holder.to_string(),
            "lock 0123abcd held by `msctl apply` on host ci-7 (pid 4242) since 2023-11-14 22:13:20 UTC, applying commit 1a2b3c"
        );
        let mine = LockInfo::for_this_process("ack", None);
        assert_eq!(mine.pid, std::process::id());
        assert_eq!(mine.id.len(), 16);
        assert_ne!(mine.id, LockInfo::for_this_process("ack", None).id);
    }
}
