//! Snapshots (`msctl snapshot --out FILE`): the live state as read, with everything planning
//! needs besides the backend itself — msctl's ledger (ownership decides what a plan deletes),
//! the backend's name, capabilities and caller, the scope that was read — so that `plan`,
//! `drift` and `access` can run from the file with no credentials and no network
//! ([`SnapshotBackend`]).
//!
//! A snapshot is data, like a plan file: its fingerprint (the one plans carry, see
//! [`super::fingerprint`]) detects a corrupted or hand-edited file, it does not stop a forger.
//! That is why a plan made from a snapshot proves nothing by itself: `apply FILE` re-reads live
//! state with real credentials and refuses when it is not the snapshot's.
//!
//! Snapshots never hold secrets: live state is metadata only (API keys without their values),
//! and the ledger records owed secrets by address and key id.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Capabilities, Ledger, ReadScope};
use crate::model::State;

mod backend;
pub use backend::{SnapshotBackend, restrict};

/// Bumped whenever the snapshot document changes incompatibly; `schema/snapshot.schema.json`
/// documents it.
pub const SNAPSHOT_FORMAT_VERSION: &str = "1";

/// The document `msctl snapshot --out FILE` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    pub format_version: String,
    /// The msctl that took it.
    pub msctl_version: String,
    /// The fingerprint plans made from this snapshot carry as `live_fingerprint`: SHA-256 of the
    /// live state as planning sees it (completed with the ledger's acknowledgements).
    pub fingerprint: String,
    /// When live state was read, in seconds since the Unix epoch.
    pub taken_at: u64,
    /// The backend it was read through (`local`, `aliyun`).
    pub backend: String,
    /// The cloud account, when the backend knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The RAM user the credentials act for, when known: it decides which API keys a plan may
    /// create through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// What was read: the Model Studio regions, RAM, the PAI regions.
    pub scope: ReadScope,
    /// The API version of each product read (empty for the local backend).
    #[serde(default)]
    pub api_versions: BTreeMap<String, String>,
    /// What the backend can do through its API: changes it cannot make plan as manual steps.
    pub capabilities: Capabilities,
    /// msctl's ledger: what it owns (what plans delete), acknowledged manual steps, the last
    /// apply.
    pub ledger: Ledger,
    /// Live state as the backend returned it, before the ledger's acknowledgements complete it.
    pub live: State,
}

/// Where a plan, drift report or access answer came from when it was made from a snapshot:
/// said in every rendering, so nobody mistakes it for a fresh read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SnapshotOrigin {
    /// The snapshot file, as given to `--live`.
    pub file: String,
    /// The snapshot's fingerprint (the plan's `live_fingerprint`).
    pub fingerprint: String,
    /// When the snapshot was taken, in seconds since the Unix epoch.
    pub taken_at: u64,
    /// Its age when it was read, in seconds.
    pub age_seconds: u64,
    /// The cloud account, when the snapshot names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl SnapshotOrigin {
    /// `snapshot `live.json` taken 2026-11-29 08:00:00 UTC (3h 5m old)`.
    pub fn describe(&self) -> String {
        format!(
            "snapshot `{}` taken {} ({} old)",
            self.file,
            crate::model::time::utc(i64::try_from(self.taken_at).unwrap_or(i64::MAX)),
            age_text(self.age_seconds)
        )
    }
}

/// `45s`, `12m`, `3h 5m`, `2d 4h`: an age as people read it.
pub fn age_text(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Why a snapshot could not be written, read, or used. The underlying error is part of each
/// message (`cause`, not a `source`), so an error chain does not print it a second time.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("failed to write snapshot `{path}`: {cause}")]
    Write { path: String, cause: std::io::Error },
    #[error("failed to read snapshot `{path}`: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error(
        "failed to read snapshot `{path}`: it is not a snapshot written by `msctl snapshot \
         --out` ({cause})\nhint: take one with `msctl snapshot --out {path}`"
    )]
    Parse {
        path: String,
        cause: serde_json::Error,
    },
    #[error(
        "snapshot `{path}` has format version {found}, this msctl reads \
         {SNAPSHOT_FORMAT_VERSION}\nhint: take a new one with this msctl: `msctl snapshot --out \
         {path}`"
    )]
    Version { path: String, found: String },
    #[error(
        "snapshot `{path}` names the `{backend}` backend, which this msctl does not know\nhint: \
         take a new one with `msctl snapshot --out {path}`"
    )]
    UnknownBackend { path: String, backend: String },
    #[error(
        "snapshot `{path}` does not match its fingerprint (recorded {recorded}, its live state \
         gives {computed}): it was edited or corrupted after `msctl snapshot` wrote it; refusing \
         to plan from it\nhint: take a new one with `msctl snapshot --out {path}`"
    )]
    Fingerprint {
        path: String,
        recorded: String,
        computed: String,
    },
    #[error(
        "snapshot `{path}` was taken {taken} ({age} ago), older than --max-age {max}; refusing \
         to use it\nhint: take a new one with `msctl snapshot --out {path}` (the nightly drift \
         job publishes one), or raise --max-age"
    )]
    TooOld {
        path: String,
        taken: String,
        age: String,
        max: String,
    },
}

impl Snapshot {
    /// A snapshot of `live` (the backend's answer for `scope`, not yet completed with the
    /// ledger's acknowledgements), taken at `taken_at`.
    pub fn take(
        backend: &dyn Backend,
        scope: ReadScope,
        live: State,
        ledger: Ledger,
        taken_at: u64,
    ) -> Snapshot {
        let mut snapshot = Snapshot {
            format_version: SNAPSHOT_FORMAT_VERSION.to_string(),
            msctl_version: env!("CARGO_PKG_VERSION").to_string(),
            fingerprint: String::new(),
            taken_at,
            backend: backend.name().to_string(),
            account: backend.account(),
            caller: backend.caller(),
            scope,
            api_versions: backend
                .api_versions()
                .into_iter()
                .map(|(product, version)| (product.to_string(), version.to_string()))
                .collect(),
            capabilities: backend.capabilities(),
            ledger,
            live,
        };
        snapshot.fingerprint = super::fingerprint(&snapshot.planned_live());
        snapshot
    }

    /// The live state as plans see it: the read completed with the ledger's acknowledgements,
    /// as [`crate::plan::acknowledged_live`] completes a fresh read.
    pub fn planned_live(&self) -> State {
        let mut live = self.live.clone();
        super::acknowledged_live(&mut live, &self.ledger, &self.capabilities);
        live
    }

    /// Its age at `now` (seconds since the epoch); a snapshot from the future (a skewed clock)
    /// is taken as new.
    pub fn age(&self, now: u64) -> u64 {
        now.saturating_sub(self.taken_at)
    }

    /// Refuses a snapshot older than `max_age` at `now`.
    pub fn check_age(
        &self,
        path: &Path,
        now: u64,
        max_age: std::time::Duration,
    ) -> Result<(), SnapshotError> {
        let age = self.age(now);
        if age > max_age.as_secs() {
            return Err(SnapshotError::TooOld {
                path: path.display().to_string(),
                taken: crate::model::time::utc(i64::try_from(self.taken_at).unwrap_or(i64::MAX)),
                age: age_text(age),
                max: age_text(max_age.as_secs()),
            });
        }
        Ok(())
    }

    /// What plans made from this snapshot say about it, at `now`.
    pub fn origin(&self, path: &Path, now: u64) -> SnapshotOrigin {
        SnapshotOrigin {
            file: path.display().to_string(),
            fingerprint: self.fingerprint.clone(),
            taken_at: self.taken_at,
            age_seconds: self.age(now),
            account: self.account.clone(),
        }
    }

    /// Writes the snapshot as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let mut text = serde_json::to_string_pretty(self).expect("a snapshot serialises");
        text.push('\n');
        std::fs::write(path, text).map_err(|cause| SnapshotError::Write {
            path: path.display().to_string(),
            cause,
        })
    }

    /// Reads a snapshot, refusing a file of another format or version, of an unknown backend, or
    /// whose live state does not give its fingerprint (edited or corrupted).
    pub fn load(path: &Path) -> Result<Snapshot, SnapshotError> {
        let shown = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|cause| SnapshotError::Read {
            path: shown(),
            cause,
        })?;
        // The version first, so that a newer document is named as such rather than as garbage.
        #[derive(Deserialize)]
        struct Head {
            format_version: Option<String>,
        }
        if let Ok(Head {
            format_version: Some(found),
        }) = serde_json::from_str::<Head>(&text)
            && found != SNAPSHOT_FORMAT_VERSION
        {
            return Err(SnapshotError::Version {
                path: shown(),
                found,
            });
        }
        let snapshot: Snapshot =
            serde_json::from_str(&text).map_err(|cause| SnapshotError::Parse {
                path: shown(),
                cause,
            })?;
        if backend_name(&snapshot.backend).is_none() {
            return Err(SnapshotError::UnknownBackend {
                path: shown(),
                backend: snapshot.backend,
            });
        }
        let computed = super::fingerprint(&snapshot.planned_live());
        if computed != snapshot.fingerprint {
            return Err(SnapshotError::Fingerprint {
                path: shown(),
                recorded: snapshot.fingerprint,
                computed,
            });
        }
        Ok(snapshot)
    }
}

/// What `scope` asks for that a snapshot which read `read` did not, as phrases (`Model Studio
/// region cn-shanghai`, `RAM`); empty when it covers it all.
pub fn uncovered(read: &ReadScope, scope: &ReadScope) -> Vec<String> {
    let mut out: Vec<String> = scope
        .regions
        .difference(&read.regions)
        .map(|r| format!("Model Studio region {r}"))
        .collect();
    if scope.ram && !read.ram {
        out.push("RAM".to_string());
    }
    out.extend(
        scope
            .pai_regions
            .difference(&read.pai_regions)
            .map(|r| format!("PAI region {r}")),
    );
    out
}

/// The backends a snapshot may name, as `Backend::name` spells them.
pub(crate) fn backend_name(name: &str) -> Option<&'static str> {
    ["local", "aliyun"].into_iter().find(|known| *known == name)
}

#[cfg(test)]
mod tests;
