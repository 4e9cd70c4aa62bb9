//! Acknowledged manual steps (design-notes §2): what a person did in the console, recorded in the
//! ledger by `msctl ack`, stands in for what the API cannot read.
//!
//! - Workspace members cannot be read at all: acknowledged members are added to the live state
//!   (in workspaces that exist live), so an acknowledged, unchanged membership is no change and a
//!   changed one is a manual step again.
//! - An API key's owner cannot be read (`createdBy` is whoever called the API): a key that exists
//!   live and was acknowledged takes its owner from the acknowledgement.
//!
//! Backends that can read both (the local one) ignore acknowledgements.

use super::{Action, Plan};
use crate::backend::{Capabilities, Capability, Ledger};
use crate::model::{Address, Resource, State};

/// Completes `live` with the ledger's acknowledgements, where `caps` says the API cannot read.
pub fn acknowledged_live(live: &mut State, ledger: &Ledger, caps: &Capabilities) {
    for (address, resource) in &ledger.acknowledged {
        match resource {
            Resource::Member(m) if !caps.has(Capability::WorkspaceMembers) => {
                let workspace = Address::Workspace {
                    name: m.workspace.clone(),
                };
                if live.get(&workspace).is_some() && resource.address() == *address {
                    live.insert(resource.clone());
                }
            }
            Resource::ApiKey(acked) if !caps.has(Capability::ApiKeyOwner) => {
                if let Some(Resource::ApiKey(key)) = live.resources.get_mut(address) {
                    key.owner = acked.owner.clone();
                }
            }
            _ => {}
        }
    }
}

/// What `msctl ack` did with one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// The manual step's result is now the acknowledged state.
    Recorded,
    /// A manual removal: the acknowledgement is gone.
    Forgotten,
    /// Nothing pending, and the ledger already agrees.
    AlreadyAcknowledged,
}

/// Records the plan's manual step at `address` as done in `ledger`.
pub fn acknowledge(
    plan: &Plan,
    ledger: &mut Ledger,
    address: &Address,
) -> Result<AckOutcome, String> {
    let pending = plan
        .changes
        .iter()
        .find(|c| c.address == *address && c.manual.is_some());
    match pending {
        Some(change) if change.action == Action::Delete => {
            ledger.acknowledged.remove(address);
            Ok(AckOutcome::Forgotten)
        }
        Some(change) => match &change.after {
            Some(after) => {
                ledger.acknowledged.insert(address.clone(), after.clone());
                Ok(AckOutcome::Recorded)
            }
            None => Err(format!(
                "the manual step at `{address}` has no result to record"
            )),
        },
        None if ledger.acknowledged.contains_key(address) => Ok(AckOutcome::AlreadyAcknowledged),
        None => Err(format!(
            "no manual step is pending at `{address}`\nhint: `msctl plan` lists manual \
                    steps (marked `!`) with their addresses"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{ApiKey, Member, Principal, Workspace};
    use crate::plan::{Change, ManualStep, Source, Summary};

    fn member(ws: &str, user: &str, admin: bool) -> Resource {
        Resource::Member(Member {
            workspace: ws.into(),
            principal: Principal::User(user.into()),
            administrator: admin,
            pages: BTreeSet::new(),
        })
    }

    fn workspace(name: &str) -> Resource {
        Resource::Workspace(Workspace {
            name: name.into(),
            region: "cn-beijing".into(),
            default: false,
        })
    }

    fn key(owner: &str) -> Resource {
        Resource::ApiKey(ApiKey {
            workspace: "ws".into(),
            name: "k".into(),
            owner: owner.into(),
            description: String::new(),
            models: None,
            ip_allow: BTreeSet::new(),
            enabled: true,
        })
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: crate::plan::FORMAT_VERSION.into(),
            msctl_version: "0".into(),
            backend: "aliyun".into(),
            source: Source::default(),
            summary: Summary::of(&changes),
            changes,
            unmanaged: vec![],
            warnings: vec![],
            live_fingerprint: String::new(),
            api_calls: 0,
            api_calls_by_operation: Default::default(),
            managed_live: 0,
            access: Default::default(),
            snapshot: None,
        }
    }

    fn manual(r: Resource, action: Action) -> Change {
        let (before, after) = match action {
            Action::Delete => (Some(r.clone()), None),
            _ => (None, Some(r.clone())),
        };
        Change {
            address: r.address(),
            action,
            before,
            after,
            attributes: vec![],
            depends_on: vec![],
            destroy_depends_on: vec![],
            warnings: vec![],
            manual: Some(ManualStep {
                instructions: "do it".into(),
            }),
        }
    }

    fn aliyun_caps() -> Capabilities {
        Capabilities {
            missing: [Capability::WorkspaceMembers, Capability::ApiKeyOwner]
                .into_iter()
                .collect(),
            ..Capabilities::default()
        }
    }

    #[test]
    fn acknowledged_members_and_owners_fill_in_live_state() {
        let mut ledger = Ledger::default();
        for r in [
            member("ws", "alice", true),
            member("gone", "bob", false),
            key("alice"),
        ] {
            ledger.acknowledged.insert(r.address(), r);
        }
        let mut live: State = [workspace("ws"), key("1378030599924858")]
            .into_iter()
            .collect();
        acknowledged_live(&mut live, &ledger, &aliyun_caps());
        assert_eq!(
            live.get(&member("ws", "alice", true).address()),
            Some(&member("ws", "alice", true))
        );
        // No member of a workspace that does not exist live.
        assert!(live.get(&member("gone", "bob", false).address()).is_none());
        assert_eq!(live.get(&key("x").address()), Some(&key("alice")));

        // A backend that reads members and owners ignores acknowledgements.
        let mut local: State = [workspace("ws"), key("carol")].into_iter().collect();
        acknowledged_live(&mut local, &ledger, &Capabilities::full());
        assert_eq!(local.len(), 2);
        assert_eq!(local.get(&key("x").address()), Some(&key("carol")));
    }

    #[test]
    fn ack_records_creates_and_forgets_deletes() {
        let mut ledger = Ledger::default();
        let add = member("ws", "alice", true);
        let p = plan(vec![manual(add.clone(), Action::Create)]);
        assert_eq!(
            acknowledge(&p, &mut ledger, &add.address()),
            Ok(AckOutcome::Recorded)
        );
        assert_eq!(ledger.acknowledged.get(&add.address()), Some(&add));
        // Once acknowledged, the re-plan has no step there.
        assert_eq!(
            acknowledge(&plan(vec![]), &mut ledger, &add.address()),
            Ok(AckOutcome::AlreadyAcknowledged)
        );
        let p = plan(vec![manual(add.clone(), Action::Delete)]);
        assert_eq!(
            acknowledge(&p, &mut ledger, &add.address()),
            Ok(AckOutcome::Forgotten)
        );
        assert!(ledger.acknowledged.is_empty());
        let err = acknowledge(&plan(vec![]), &mut ledger, &add.address()).unwrap_err();
        assert!(
            err.starts_with("no manual step is pending at `workspace.ws.member.alice`"),
            "{err}"
        );
    }
}
