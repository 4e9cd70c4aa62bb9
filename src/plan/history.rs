//! The desired state through git history: what changed between two revisions of the config,
//! which commits are not applied yet, and who last touched a declaration. Plain data, like plans.
//!
//! Two revisions are compared semantically, resource by resource, with the differ's attribute
//! machinery (policy documents compared in canonical form): moving a block to another file or
//! reformatting it changes no resource, so it is no change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::differ::{all_attributes, compare};
use super::{Action, AttributeChange};
use crate::model::{Address, State};

/// A commit as reports show it (from `crate::git::CommitInfo`, which stays at the edge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommitRef {
    /// The full hex SHA.
    pub id: String,
    /// The shortest unambiguous abbreviation.
    pub short: String,
    /// The first line of the message.
    pub summary: String,
    pub author: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
}

/// Where a resource is declared, and the commit that last changed that line (git blame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Declaration {
    /// Relative to the config directory.
    pub file: String,
    /// 1-based line of the declaration's first line.
    pub line: usize,
    /// `None` when the line is not committed yet, or blame was not run.
    pub last_change: Option<CommitRef>,
}

/// One resource that differs between two desired states (an older and a newer revision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredChange {
    pub address: Address,
    /// Create: declared only in the newer state; delete: only in the older one; replace: an
    /// immutable attribute changed.
    pub action: Action,
    /// `before` is the older desired value, `after` the newer one.
    pub attributes: Vec<AttributeChange>,
    /// The declaration in the newer state (in the older one for deletions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<Declaration>,
}

/// Counts of desired changes: `3 to add, 1 to change, 0 to destroy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeCounts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl ChangeCounts {
    pub fn of(changes: &[DesiredChange]) -> ChangeCounts {
        let mut c = ChangeCounts::default();
        for change in changes {
            match change.action {
                Action::Create => c.add += 1,
                Action::Update | Action::Replace | Action::Rotate => c.change += 1,
                Action::Delete => c.destroy += 1,
            }
        }
        c
    }

    pub fn total(&self) -> usize {
        self.add + self.change + self.destroy
    }

    /// `2 added, 1 changed, 0 removed` (declarations, not live operations).
    pub fn line(&self) -> String {
        format!(
            "{} added, {} changed, {} removed",
            self.add, self.change, self.destroy
        )
    }
}

/// The semantic difference from `older` to `newer`, in address order. No ownership rules apply
/// (both sides are declarations), so every address on one side only is a create or a delete.
pub fn desired_changes(older: &State, newer: &State) -> Vec<DesiredChange> {
    let mut out = Vec::new();
    let mut o = older.resources.iter().peekable();
    let mut n = newer.resources.iter().peekable();
    // A merge join over two maps sorted by the same key, as in the differ.
    loop {
        let (old, new) = match (o.peek(), n.peek()) {
            (None, None) => break,
            (Some(_), None) => (o.next(), None),
            (None, Some(_)) => (None, n.next()),
            (Some((a, _)), Some((b, _))) => match a.cmp(b) {
                std::cmp::Ordering::Less => (o.next(), None),
                std::cmp::Ordering::Greater => (None, n.next()),
                std::cmp::Ordering::Equal => (o.next(), n.next()),
            },
        };
        let change = match (old, new) {
            (Some((address, before)), Some((_, after))) => {
                let attributes = compare(after, before);
                if attributes.is_empty() {
                    continue;
                }
                let action = if attributes.iter().any(|a| a.forces_replacement) {
                    Action::Replace
                } else {
                    Action::Update
                };
                DesiredChange {
                    address: address.clone(),
                    action,
                    attributes,
                    declared_at: None,
                }
            }
            (None, Some((address, after))) => DesiredChange {
                address: address.clone(),
                action: Action::Create,
                attributes: all_attributes(after, true),
                declared_at: None,
            },
            (Some((address, before)), None) => DesiredChange {
                address: address.clone(),
                action: Action::Delete,
                attributes: all_attributes(before, false),
                declared_at: None,
            },
            (None, None) => unreachable!("the loop breaks when both iterators are exhausted"),
        };
        out.push(change);
    }
    out
}

/// Where the last applied commit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerSource {
    /// The backend's ledger (the local database).
    Backend,
    /// A git note under `refs/notes/msctl` on the applied commit.
    GitNotes,
}

/// The last apply of a committed configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppliedCommit {
    pub commit: CommitRef,
    /// When it was applied, seconds since the Unix epoch.
    pub applied_at: u64,
    /// The apply's summary line.
    pub summary: String,
    /// Changes that failed in that apply: live may differ from the commit because of them.
    #[serde(default)]
    pub failed: usize,
    /// The working tree had uncommitted changes when it was applied (`--allow-dirty`): what was
    /// applied is not exactly this commit.
    #[serde(default)]
    pub dirty: bool,
    pub recorded_in: LedgerSource,
}

/// The checked-out revision against the last applied one: what is merged but not applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct History {
    /// The commit the configuration was read from (`HEAD`, or `--rev`).
    pub head: CommitRef,
    /// The working tree had uncommitted changes (they are part of the desired state read).
    #[serde(default)]
    pub dirty: bool,
    pub last_applied: AppliedCommit,
    /// `head` is the last applied commit or descends from it. When it does not (a rollback, or
    /// another branch), `unapplied_commits` is empty but `unapplied` still lists the difference.
    pub ahead: bool,
    /// Commits in `last_applied..head`, newest first.
    pub unapplied_commits: Vec<CommitRef>,
    /// The desired state at `head` against the desired state at the last applied commit.
    pub unapplied: Vec<DesiredChange>,
}

/// Bumped whenever the status JSON shape changes incompatibly.
pub const STATUS_FORMAT_VERSION: &str = "1";

/// `msctl status`: the last applied commit, the checkout against it, and what is pending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusReport {
    pub format_version: String,
    pub config_dir: String,
    /// The commit the configuration is read from (`HEAD`, or `--rev`); none outside git.
    pub head: Option<CommitRef>,
    /// The config directory has uncommitted changes.
    pub dirty: bool,
    /// The last apply of a commit found in this repository.
    pub last_applied: Option<AppliedCommit>,
    /// `head` is the last applied commit or descends from it (none without both commits).
    pub ahead: Option<bool>,
    /// Commits in `last_applied..head`, newest first.
    pub unapplied_commits: Vec<CommitRef>,
    /// The plan against live: how many changes an apply would make now (a replacement counts
    /// once here, as an add and a destroy in `pending`).
    pub pending_changes: usize,
    pub pending: super::Summary,
    /// Why there is no last applied commit (never applied, applied outside git, not fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{user, workspace};

    fn state(resources: Vec<crate::model::Resource>) -> State {
        resources.into_iter().collect()
    }

    #[test]
    fn identical_states_have_no_changes() {
        let a = state(vec![workspace("w", "cn-beijing"), user("alice")]);
        assert!(desired_changes(&a, &a.clone()).is_empty());
    }

    #[test]
    fn adds_removals_updates_and_replacements_in_address_order() {
        let older = state(vec![
            workspace("a", "cn-beijing"),
            workspace("b", "cn-beijing"),
            user("alice"),
        ]);
        let newer = state(vec![
            workspace("a", "ap-southeast-1"),
            user("alice"),
            user("bob"),
        ]);
        let got: Vec<(String, Action)> = desired_changes(&older, &newer)
            .into_iter()
            .map(|c| (c.address.to_string(), c.action))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ram.user.bob".to_string(), Action::Create),
                ("workspace.a".to_string(), Action::Replace),
                ("workspace.b".to_string(), Action::Delete),
            ]
        );
        let counts = ChangeCounts::of(&desired_changes(&older, &newer));
        assert_eq!(counts.line(), "1 added, 1 changed, 1 removed");
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn attributes_run_from_older_to_newer() {
        let older = state(vec![user("alice")]);
        let mut changed = user("alice");
        if let crate::model::Resource::RamUser(u) = &mut changed {
            u.comments = Some("on call".into());
        }
        let newer = state(vec![changed]);
        let changes = desired_changes(&older, &newer);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Update);
        let a = &changes[0].attributes[0];
        assert_eq!(a.name, "comments");
        assert_eq!(a.before, serde_json::Value::Null);
        assert_eq!(a.after, serde_json::json!("on call"));
    }
}
