//! msctl's own records beside the live state (design-notes §1): what it owns, what it last
//! applied, what a person acknowledged, who the credentials were, the run lock's holder and the
//! API-key secrets a run owes. Plain data with the ownership rule ([`Ledger::settle`]); the store
//! keeps it in SQLite and the backends load and save it, so it sits below both.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Address, Principal, ReadScope, Rename, Resource, State};

/// msctl's own records beside the live state (design-notes §1): what it owns, and what it last
/// applied. Kept by the backend so that every run against the same live state sees the same
/// ledger (the local database; git notes for the cloud, later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// creates happen: [`Backend::save_ledger`](crate::backend::Backend::save_ledger) neither
    /// writes nor drops them, so a ledger loaded at the start of an apply and saved at its end
    /// cannot undo them.
    #[serde(default)]
    pub owed_secrets: BTreeMap<String, OwedSecret>,
    /// API keys rotated out (issue 13): by the key's address, the predecessor that stays
    /// enabled beside its successor until the overlap has passed. Recorded before the
    /// successor is created; dropped once the predecessor is gone live.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retiring: BTreeMap<Address, RetiringKey>,
}

/// A key rotated out (see [`Ledger::retiring`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetiringKey {
    /// The predecessor's platform id.
    pub id: String,
    /// When the rotation ran (seconds since the Unix epoch): the overlap counts from here.
    pub since: i64,
}

/// An identity as the ledger records it: the id API keys it creates carry as `createdBy`, and
/// the RAM user they are owned by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

    /// The platform ids of the keys rotated out: reads seat their successors at the address
    /// ([`State::seat_successors`]).
    pub fn retiring_ids(&self) -> BTreeSet<String> {
        self.retiring.values().map(|r| r.id.clone()).collect()
    }

    /// Forgets the retiring keys that are gone: an id no longer live (deleted, here or by
    /// hand). `live` is the state the run's plan was built on and `deleted` the addresses this
    /// run deleted.
    pub fn settle_retiring(&mut self, live: &State, deleted: &BTreeSet<Address>) {
        let live_ids: BTreeMap<&str, &Address> = live
            .live_keys
            .iter()
            .map(|(a, k)| (k.id.as_str(), a))
            .collect();
        self.retiring.retain(|_, r| {
            live_ids
                .get(r.id.as_str())
                .is_some_and(|at| !deleted.contains(*at))
        });
    }

    /// Carries records over a user or group renamed in place (`renamed_from`): owned
    /// addresses that name the old name name the new one, and so do acknowledged members and
    /// API-key owners (what console-only backends cannot read), keys and resources both, and
    /// the recorded caller when it is the renamed user.
    pub fn rename(&mut self, rename: &Rename) {
        self.owned = std::mem::take(&mut self.owned)
            .into_iter()
            .map(|a| rename.address(&a).unwrap_or(a))
            .collect();
        self.acknowledged = std::mem::take(&mut self.acknowledged)
            .into_iter()
            .map(|(a, r)| {
                (
                    rename.address(&a).unwrap_or(a),
                    rename.resource(&r).unwrap_or(r),
                )
            })
            .collect();
        // The credentials' user, renamed: keys it created read as owned by the new name.
        if let (Principal::User(old), Principal::User(new)) = (&rename.from, &rename.to)
            && let Some(caller) = &mut self.caller
            && caller.name == *old
        {
            caller.name = new.clone();
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OwedSecret {
    /// The key's `apiKeyId`, once its create was answered.
    #[serde(default)]
    pub key_id: Option<i64>,
}

/// One apply, as recorded in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[cfg(test)]
mod tests;
