//! What a change of state does to access: the effective facts of two models compared, per
//! principal, key and custom policy, with escalations first.
//!
//! A group's change is listed once for the group, with the users whose access follows it
//! (`group developers: - management policy AliyunBailianReadOnlyAccess -> alice, bob`), and again
//! under each of those users, since "what does this let bob do" is asked per person. A policy
//! document edit is listed as the actions it grants and revokes, with the holders affected.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AccessModel, Chain, Effect, Fact, Grant, Subject};

/// Gained or lost.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Gained,
    Lost,
}

impl Direction {
    pub fn sign(self) -> &'static str {
        match self {
            Direction::Gained => "+",
            Direction::Lost => "-",
        }
    }
}

/// One grant one subject gains or loses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessChange {
    pub subject: Subject,
    pub direction: Direction,
    pub grant: Grant,
    /// Set when the change widens access in a way reviewers must see first: a new super
    /// administrator, RAM administrator or billing holder, a default-workspace key, a Deny removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// For groups and policies: the users and roles whose access follows (they gain or lose the
    /// same grant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affects: Vec<String>,
    /// The reason chain (after the change for gains, before it for losses).
    pub because: Chain,
}

impl fmt::Display for AccessChange {
    /// `bob: + Administrator of chatbot-prod`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match &self.subject {
            Subject::User { name } => name.clone(),
            other => other.to_string(),
        };
        write!(f, "{subject}: {} {}", self.direction.sign(), self.grant)?;
        if !self.affects.is_empty() {
            let verb = match self.direction {
                Direction::Gained => "gain",
                Direction::Lost => "lose",
            };
            write!(f, " -> {} {verb} it", self.affects.join(", "))?;
        }
        Ok(())
    }
}

/// The access changes of a plan: escalations first, then by subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessChanges {
    pub changes: Vec<AccessChange>,
}

impl AccessChanges {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn escalations(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.escalation.is_some())
            .count()
    }
}

/// Compares the effective facts of `before` and `after`.
pub fn diff(before: &AccessModel, after: &AccessModel) -> AccessChanges {
    let empty = BTreeMap::new();
    let subjects: BTreeSet<&Subject> = before.facts.keys().chain(after.facts.keys()).collect();
    let mut changes = Vec::new();
    for subject in subjects {
        let b = before.facts.get(subject).unwrap_or(&empty);
        let a = after.facts.get(subject).unwrap_or(&empty);
        for (grant, fact) in a {
            if fact.effective && !b.get(grant).is_some_and(|f| f.effective) {
                changes.push(change(fact, Direction::Gained, after));
            }
        }
        for (grant, fact) in b {
            if fact.effective && !a.get(grant).is_some_and(|f| f.effective) {
                changes.push(change(fact, Direction::Lost, before));
            }
        }
    }
    // Whose access follows a group's or a policy's change: the users (and roles) that change the
    // same way.
    let moved: BTreeSet<(Subject, Direction, Grant)> = changes
        .iter()
        .filter(|c| matches!(c.subject, Subject::User { .. } | Subject::Role { .. }))
        .map(|c| (c.subject.clone(), c.direction, c.grant.clone()))
        .collect();
    for c in &mut changes {
        let model = match c.direction {
            Direction::Gained => after,
            Direction::Lost => before,
        };
        let candidates: Vec<Subject> = match &c.subject {
            Subject::Group { name } => users_of(model, name),
            Subject::Policy { name } => {
                let mut out = Vec::new();
                for holder in model.policy_holders.get(name).into_iter().flatten() {
                    match holder {
                        Subject::Group { name } => out.extend(users_of(model, name)),
                        other => out.push(other.clone()),
                    }
                }
                out
            }
            _ => continue,
        };
        let mut affects: Vec<String> = candidates
            .into_iter()
            .filter(|s| moved.contains(&(s.clone(), c.direction, c.grant.clone())))
            .map(|s| match s {
                Subject::User { name } => name,
                other => other.to_string(),
            })
            .collect();
        affects.sort();
        affects.dedup();
        c.affects = affects;
    }
    changes.sort_by(|x, y| {
        (x.escalation.is_none(), &x.subject, x.direction, &x.grant).cmp(&(
            y.escalation.is_none(),
            &y.subject,
            y.direction,
            &y.grant,
        ))
    });
    AccessChanges { changes }
}

fn users_of(model: &AccessModel, group: &str) -> Vec<Subject> {
    model
        .group_users
        .get(group)
        .into_iter()
        .flatten()
        .map(|u| Subject::User { name: u.clone() })
        .collect()
}

fn change(fact: &Fact, direction: Direction, model: &AccessModel) -> AccessChange {
    AccessChange {
        subject: fact.subject.clone(),
        direction,
        grant: fact.grant.clone(),
        escalation: escalation(fact, direction, model),
        affects: Vec::new(),
        because: fact.because.first().cloned().unwrap_or_default(),
    }
}

fn escalation(fact: &Fact, direction: Direction, model: &AccessModel) -> Option<String> {
    match (direction, &fact.grant) {
        (Direction::Gained, Grant::SuperAdmin) => Some("new super administrator".into()),
        (Direction::Gained, Grant::RamAdmin) => Some("new RAM administrator".into()),
        (Direction::Gained, Grant::Billing) => Some("new billing holder".into()),
        (Direction::Gained, Grant::Call { workspace, .. })
            if matches!(fact.subject, Subject::Key { .. })
                && model.workspaces.get(workspace).is_some_and(|w| w.default) =>
        {
            Some("default-workspace key: every model, unthrottled".into())
        }
        (
            Direction::Lost,
            Grant::Api {
                effect: Effect::Deny,
                ..
            },
        ) => Some("Deny removed".into()),
        _ => None,
    }
}
