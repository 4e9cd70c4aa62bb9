//! Drift reports: how live state departs from the configuration, as plain serialisable data.
//!
//! A drift report is derived from a plan rather than computed separately, so `msctl drift` and
//! `msctl plan` can never disagree: whatever the plan would change is, by definition, drift. The
//! report only re-labels the plan's facts from the point of view of the live platform
//! (missing, unexpected, changed) and moves unmanaged objects into drift or information.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeSet;

use super::history::{Declaration, History};
use super::{Action, AttributeChange, Change, Plan, Unmanaged};
use crate::model::{Address, Principal, Resource, State};

/// Bumped whenever the drift JSON shape changes incompatibly; `schema/drift.schema.json`
/// documents it.
pub const DRIFT_FORMAT_VERSION: &str = "1";

/// How one resource departs from the configuration.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Present on both sides with different attributes.
    Changed,
    /// Declared in the configuration but absent live.
    Missing,
    /// Present live, in a scope msctl governs, but not declared (created out of band).
    Unexpected,
    /// An API key older than its `rotate_after`: the plan rotates it.
    RotationDue,
}

/// One drifted resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftItem {
    pub address: Address,
    pub kind: DriftKind,
    /// Differing attributes: `before` is the live value, `after` the desired one. Missing items
    /// list every desired attribute, unexpected ones every live attribute (when known).
    pub attributes: Vec<AttributeChange>,
    /// Context a reader needs: why an object is unexpected, or that a difference can only be
    /// fixed (or even seen) by hand.
    pub note: Option<String>,
    /// Where the resource is declared and who last changed that (absent for undeclared objects,
    /// or outside a git repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<Declaration>,
}

/// The drift document: what `msctl drift` prints or posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftReport {
    pub format_version: String,
    /// Drift, sorted by address.
    pub items: Vec<DriftItem>,
    /// Unmanaged objects outside governed scopes: listed for information, never drift.
    pub informational: Vec<Unmanaged>,
    /// With a recorded apply of a git commit: `items` compare live with the desired state at
    /// that commit (out-of-band changes), and this says what was merged but not applied yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// Why the report compares live with the configuration as read (no repository, no recorded
    /// apply) instead of separating unapplied commits from out-of-band changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set when live state came from a snapshot (`drift --live FILE`): which one, how old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<super::SnapshotOrigin>,
    /// Live API keys at risk (domain.md): in a default workspace, or owned by a RAM user who is
    /// not a member of the key's workspace. Warnings: they do not make the report drift (no
    /// plan fixes them; a person decides), so they never change the exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<KeyRisk>,
}

/// Why a live API key is at risk.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyRiskKind {
    /// The key is in a default workspace, which calls every model: shared with a sub-workspace
    /// user, it bypasses that workspace's model authorization.
    DefaultWorkspace,
    /// The key's owner is not a member of its workspace: the platform disables such a key
    /// (it comes back if the owner is re-added).
    OwnerNotMember,
}

/// One live API key at risk (see [`DriftReport::risks`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRisk {
    pub address: Address,
    pub kind: KeyRiskKind,
    pub note: String,
}

/// The risks of the live API keys in `live`, by address. `members_read` says whether the
/// backend reads workspace members; when it does not, only workspaces with acknowledged
/// members (see `msctl ack`) are checked for owners, and the note says so.
pub fn key_risks(live: &State, members_read: bool) -> Vec<KeyRisk> {
    let defaults: BTreeSet<&str> = live
        .resources
        .values()
        .filter_map(|r| match r {
            Resource::Workspace(w) if w.default => Some(w.name.as_str()),
            _ => None,
        })
        .collect();
    let mut members: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut with_members: BTreeSet<&str> = BTreeSet::new();
    for r in live.resources.values() {
        if let Resource::Member(m) = r {
            with_members.insert(m.workspace.as_str());
            if let Principal::User(u) = &m.principal {
                members.insert((m.workspace.as_str(), u.as_str()));
            }
        }
    }
    let mut out = Vec::new();
    for (address, r) in &live.resources {
        let Resource::ApiKey(k) = r else { continue };
        if defaults.contains(k.workspace.as_str()) {
            out.push(KeyRisk {
                address: address.clone(),
                kind: KeyRiskKind::DefaultWorkspace,
                note: format!(
                    "in the default workspace `{}`, which can call every model: shared with a \
                     sub-workspace user, this key bypasses that workspace's model authorization; \
                     prefer a key in the sub-workspace",
                    k.workspace
                ),
            });
        }
        let checkable = members_read || with_members.contains(k.workspace.as_str());
        if checkable
            && k.owner_known()
            && !members.contains(&(k.workspace.as_str(), k.owner.as_str()))
        {
            let how = if members_read {
                ""
            } else {
                " (by the memberships acknowledged in msctl's ledger)"
            };
            out.push(KeyRisk {
                address: address.clone(),
                kind: KeyRiskKind::OwnerNotMember,
                note: format!(
                    "owned by RAM user `{}`, who is not a member of `{}`{how}: the platform \
                     disables the key until the owner is a member again",
                    k.owner, k.workspace
                ),
            });
        }
    }
    out
}

impl DriftReport {
    /// Re-labels a plan's changes as drift: create = missing, delete = unexpected,
    /// update/replace = changed; governed unmanaged objects are unexpected, the rest
    /// informational.
    pub fn from_plan(plan: &Plan) -> DriftReport {
        let mut items: Vec<DriftItem> = plan.changes.iter().map(item_of_change).collect();
        let mut informational = Vec::new();
        for u in &plan.unmanaged {
            if u.governed {
                items.push(DriftItem {
                    address: u.address.clone(),
                    kind: DriftKind::Unexpected,
                    attributes: Vec::new(),
                    note: Some(u.note.clone()),
                    declared_at: None,
                });
            } else {
                informational.push(u.clone());
            }
        }
        // Plans are in dependency order (deletes reversed); a report reads best by address.
        // The sort is stable, so a change and an unmanaged entry at one address keep plan order.
        items.sort_by(|a, b| a.address.cmp(&b.address));
        DriftReport {
            format_version: DRIFT_FORMAT_VERSION.to_string(),
            items,
            informational,
            history: None,
            note: None,
            snapshot: plan.snapshot.clone(),
            risks: Vec::new(),
        }
    }

    /// No drift and nothing merged but unapplied (informational objects do not count).
    pub fn in_sync(&self) -> bool {
        self.items.is_empty() && self.unapplied() == 0
    }

    /// How many resource changes are merged but not applied (0 without history).
    pub fn unapplied(&self) -> usize {
        self.history.as_ref().map_or(0, |h| h.unapplied.len())
    }

    /// How many items of `kind` the report holds.
    pub fn count(&self, kind: DriftKind) -> usize {
        self.items.iter().filter(|i| i.kind == kind).count()
    }
}

fn item_of_change(change: &Change) -> DriftItem {
    let kind = match change.action {
        Action::Create => DriftKind::Missing,
        Action::Delete => DriftKind::Unexpected,
        Action::Update | Action::Replace => DriftKind::Changed,
        Action::Rotate => DriftKind::RotationDue,
    };
    let note = change.manual.as_ref().map(|step| {
        if unverifiable(&change.address) {
            format!(
                "cannot be verified through the API (compared with the acknowledged state, not \
                 the live platform); manual step: {}",
                step.instructions
            )
        } else {
            format!(
                "cannot be changed through the API; manual step: {}",
                step.instructions
            )
        }
    });
    DriftItem {
        address: change.address.clone(),
        kind,
        attributes: change.attributes.clone(),
        note,
        declared_at: None,
    }
}

/// Whether a manual change's "live" side is only the ledger's acknowledged record.
///
/// Workspace members (and their page permissions) have no public API at all, read or write
/// (API contract §1.9; design notes §2): when a plan makes them manual, the backend lacks the
/// capability and the differ compared against what was acknowledged. Other manual steps (an API
/// key's owner) are readable, so their drift is real.
fn unverifiable(address: &Address) -> bool {
    matches!(address, Address::Member { .. })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Principal;
    use crate::plan::{ManualStep, Source, Summary};

    fn change(address: Address, action: Action) -> Change {
        Change {
            address,
            action,
            before: None,
            after: None,
            attributes: vec![AttributeChange {
                name: "enabled".into(),
                before: json!(true),
                after: json!(false),
                forces_replacement: false,
                document: false,
            }],
            depends_on: vec![],
            destroy_depends_on: vec![],
            warnings: vec![],
            manual: None,
        }
    }

    fn plan(changes: Vec<Change>, unmanaged: Vec<Unmanaged>) -> Plan {
        Plan {
            format_version: crate::plan::FORMAT_VERSION.into(),
            msctl_version: "0.1.0".into(),
            backend: "local".into(),
            source: Source::default(),
            summary: Summary::of(&changes),
            changes,
            unmanaged,
            warnings: vec![],
            live_fingerprint: String::new(),
            api_calls: 0,
            api_calls_by_operation: Default::default(),
            managed_live: 0,
            access: Default::default(),
            snapshot: None,
        }
    }

    fn ws(name: &str) -> Address {
        Address::Workspace { name: name.into() }
    }

    #[test]
    fn actions_map_to_kinds_and_items_sort_by_address() {
        let p = plan(
            vec![
                change(ws("d"), Action::Delete),
                change(ws("c"), Action::Replace),
                change(ws("b"), Action::Update),
                change(ws("a"), Action::Create),
            ],
            vec![
                Unmanaged {
                    address: ws("e"),
                    note: "not declared".into(),
                    governed: true,
                },
                Unmanaged {
                    address: Address::RamUser { name: "x".into() },
                    note: "outside governed scopes".into(),
                    governed: false,
                },
            ],
        );
        let r = DriftReport::from_plan(&p);
        let got: Vec<(String, DriftKind)> = r
            .items
            .iter()
            .map(|i| (i.address.to_string(), i.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("workspace.a".into(), DriftKind::Missing),
                ("workspace.b".into(), DriftKind::Changed),
                ("workspace.c".into(), DriftKind::Changed),
                ("workspace.d".into(), DriftKind::Unexpected),
                ("workspace.e".into(), DriftKind::Unexpected),
            ]
        );
        assert_eq!(r.items[4].note.as_deref(), Some("not declared"));
        assert_eq!(r.informational.len(), 1);
        assert!(!r.in_sync());
        assert_eq!(r.count(DriftKind::Changed), 2);
    }

    #[test]
    fn only_informational_objects_is_in_sync() {
        let p = plan(
            vec![],
            vec![Unmanaged {
                address: Address::RamUser { name: "x".into() },
                note: "n".into(),
                governed: false,
            }],
        );
        let r = DriftReport::from_plan(&p);
        assert!(r.in_sync());
        assert_eq!(r.informational.len(), 1);
    }

    #[test]
    fn manual_member_changes_say_they_cannot_be_verified() {
        let mut member = change(
            Address::Member {
                workspace: "w".into(),
                principal: Principal::User("alice".into()),
            },
            Action::Update,
        );
        member.manual = Some(ManualStep {
            instructions: "open the console".into(),
        });
        let mut key = change(
            Address::ApiKey {
                workspace: "w".into(),
                name: "k".into(),
            },
            Action::Replace,
        );
        key.manual = member.manual.clone();
        let r = DriftReport::from_plan(&plan(vec![member, key], vec![]));
        let notes: Vec<&str> = r.items.iter().filter_map(|i| i.note.as_deref()).collect();
        assert!(
            notes[0].starts_with("cannot be verified through the API"),
            "{}",
            notes[0]
        );
        assert!(notes[0].ends_with("open the console"));
        assert!(
            notes[1].starts_with("cannot be changed through the API"),
            "{}",
            notes[1]
        );
    }
}
