//! Plans: what msctl will change, as plain serialisable data.
//!
//! A plan is computed once (the differ), ordered by its dependency edges (the graph), rendered
//! three ways (text, markdown, JSON) and, saved with `--out`, applied later exactly as reviewed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::AccessChanges;
use crate::backend::ApiCallCounts;
use crate::model::{Address, Resource};

pub mod access;
pub mod ack;
pub mod assemble;
pub mod differ;
pub mod drift;
pub mod history;
pub mod renames;
pub mod review;
pub mod rotation;
pub mod safety;
pub mod saved;
pub mod snapshot;

pub use ack::{AckOutcome, acknowledge, acknowledged_live};
pub use assemble::{AssembleError, PlanInput, assemble, fingerprint};
pub use differ::{Diff, DiffOptions, diff};
pub use drift::{DriftItem, DriftKind, DriftReport, KeyRisk, KeyRiskKind};
pub use history::{
    AppliedCommit, ChangeCounts, CommitRef, Declaration, DesiredChange, History, LedgerSource,
    StatusReport, desired_changes,
};
pub use renames::{RenameConflict, Renames};
pub use review::Review;
pub use safety::{Refusal, SafetyOptions};
pub use snapshot::{Snapshot, SnapshotOrigin};

/// Bumped whenever the JSON shape changes incompatibly; `schema/plan.schema.json` documents it.
pub const FORMAT_VERSION: &str = "1";

/// What happens to one resource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// An immutable attribute changed: delete, then create.
    Replace,
    Delete,
    /// An API key past its `rotate_after`: a successor is created at the same address while
    /// the current key stays enabled for the overlap (create before destroy).
    Rotate,
}

impl Action {
    /// The Terraform-style marker: `+`, `~`, `-/+`, `-`, and `+/-` (Terraform's
    /// create-before-destroy) for a rotation.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Rotate => "+/-",
        }
    }
}

/// One attribute's old and new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AttributeChange {
    pub name: String,
    pub before: Value,
    pub after: Value,
    /// This attribute is immutable: its change forces a replacement.
    pub forces_replacement: bool,
    /// A policy document: renderers show a unified diff of its pretty JSON.
    pub document: bool,
}

/// A change the backend cannot make through its API: a person does it, then runs `msctl ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManualStep {
    /// Console instructions (from the platform documentation).
    pub instructions: String,
}

/// One planned change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Live resource (absent for creates).
    pub before: Option<Resource>,
    /// Desired resource (absent for deletes).
    pub after: Option<Resource>,
    /// Changed attributes (updates and replacements); every attribute for creates and deletes.
    pub attributes: Vec<AttributeChange>,
    /// Changes that must finish before this one starts (already reversed for deletes). For a
    /// replacement: before its create half starts. Filled in by `graph::link`.
    pub depends_on: Vec<Address>,
    /// Replacements only: changes that must finish before the delete half starts. Kept apart
    /// from `depends_on` because a replaced workspace and its replaced keys interleave (keys
    /// deleted, workspace deleted and created, keys created), which no single list can order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destroy_depends_on: Vec<Address>,
    /// Risks worth a reviewer's attention (disables API keys, grants super admin, ...).
    pub warnings: Vec<String>,
    /// Set when the backend cannot make this change: it is shown, never reported as applied.
    pub manual: Option<ManualStep>,
}

/// The ledger settles ownership from changes and how they ended.
impl crate::backend::Settled for Change {
    fn address(&self) -> &Address {
        &self.address
    }

    fn after(&self) -> Option<&Resource> {
        self.after.as_ref()
    }

    fn may_create(&self) -> bool {
        matches!(
            self.action,
            Action::Create | Action::Replace | Action::Rotate
        )
    }
}

/// A live object msctl saw but does not manage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Unmanaged {
    pub address: Address,
    /// Why it is listed (e.g. "not declared; RAM objects are managed only when declared").
    pub note: String,
    /// In a scope msctl governs (a managed region or workspace, or a RAM principal holding a Model
    /// Studio, RAM-admin or billing policy): `drift` reports it as drift, not as information.
    pub governed: bool,
}

/// Counts for the summary line: `Plan: 3 to add, 1 to change, 0 to destroy.`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    /// Changes the backend cannot make (counted apart from the three above).
    pub manual: usize,
}

/// Where the desired state came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    pub config_dir: String,
    /// The git commit of the config, when it is in a repository.
    pub commit: Option<String>,
    /// The working tree had uncommitted changes.
    pub dirty: bool,
}

/// The plan document: the one thing every renderer and `apply` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: String,
    pub msctl_version: String,
    pub backend: String,
    pub source: Source,
    pub changes: Vec<Change>,
    pub unmanaged: Vec<Unmanaged>,
    /// Plan-wide warnings (not tied to one change).
    pub warnings: Vec<String>,
    pub summary: Summary,
    /// SHA-256 of the live state the plan was computed from: `apply FILE` refuses if it moved.
    pub live_fingerprint: String,
    /// API calls the backend made to read live state (0 for the local backend).
    pub api_calls: u64,
    /// `api_calls` by product, then operation (`{"ram": {"ListUsers": 2}}`); they add up to
    /// it. Left out for backends that make no API calls (the local backend).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_calls_by_operation: ApiCallCounts,
    /// Live objects msctl manages, for the safety rail on the share of objects a plan changes.
    #[serde(default)]
    pub managed_live: usize,
    /// What the plan changes in who can do what: per principal, key and policy, escalations
    /// first (see `crate::access`).
    #[serde(default, skip_serializing_if = "AccessChanges::is_empty")]
    pub access: AccessChanges,
    /// Set when the plan was made from a snapshot (`plan --live FILE`) instead of a fresh read:
    /// which one, and how old it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotOrigin>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl Summary {
    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            if c.manual.is_some() {
                s.manual += 1;
                continue;
            }
            match c.action {
                // A rotation adds the successor; its predecessor is deleted by a later plan.
                Action::Create | Action::Rotate => s.add += 1,
                Action::Update => s.change += 1,
                Action::Delete => s.destroy += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
            }
        }
        s
    }

    /// `Plan: 3 to add, 1 to change, 0 to destroy.` plus `, 2 manual` when there are any.
    pub fn line(&self) -> String {
        let manual = if self.manual > 0 {
            format!(", {} manual", self.manual)
        } else {
            String::new()
        };
        format!(
            "Plan: {} to add, {} to change, {} to destroy{manual}.",
            self.add, self.change, self.destroy
        )
    }
}
