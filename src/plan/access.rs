//! The access impact of a plan: the access model of live state against the access model of
//! live state once the plan's changes are made (manual steps included: a person makes them).
//!
//! "After" is live with the changes applied, not the desired state, so unmanaged objects that
//! stay (a RAM user msctl does not manage, still holding a policy) keep their access on both
//! sides and only what the plan changes shows.

use std::collections::HashSet;

use crate::access::{self, AccessChanges};
use crate::model::{Address, Principal, Resource, State};

use super::{Action, Change};

/// What `changes` do to access, from `live`.
///
/// Only the part of the state that can change is modelled on each side (see [`Scope`]): a plan
/// touching one group in a 100k-resource account should not build two whole access models.
pub fn access_changes(live: &State, changes: &[Change]) -> AccessChanges {
    if changes.is_empty() {
        return AccessChanges::default();
    }
    let scope = Scope::of(live, changes);
    let before = scope.filter(live);
    let after = scope.filter(&applied(&before, changes));
    access::diff::diff(&access::build(&before, &[]), &access::build(&after, &[]))
}

/// `state` with `changes` made.
fn applied(state: &State, changes: &[Change]) -> State {
    let mut after = state.clone();
    for c in changes {
        match (c.action, &c.after) {
            (Action::Delete, _) | (_, None) => {
                after.resources.remove(&c.address);
            }
            (_, Some(resource)) => {
                after.insert(resource.clone());
            }
        }
    }
    after
}

/// The principals, workspaces and keys whose access a plan may change, and every resource their
/// facts are built from. A fact of anyone else is built from the same resources on both sides
/// (or not at all), so leaving them out changes no difference.
///
/// - touched directly: an attachment's principal, a policy's holders, a group membership's group
///   and user, a member's principal, a key and its owner, a role and the users its trust names;
/// - a workspace whose settings change touches its members and keys;
/// - a group in scope brings its users; a user in scope brings the keys they own.
struct Scope {
    principals: HashSet<Principal>,
    workspaces: HashSet<String>,
    keys: HashSet<(String, String)>,
    /// Groups with a user in scope: their attachments and memberships reach that user.
    groups_of_principals: HashSet<String>,
}

impl Scope {
    fn of(live: &State, changes: &[Change]) -> Scope {
        let mut p: HashSet<Principal> = HashSet::new();
        let mut w: HashSet<String> = HashSet::new();
        let mut k: HashSet<(String, String)> = HashSet::new();
        let mut policies: HashSet<&str> = HashSet::new();
        let after_resources: Vec<&Resource> =
            changes.iter().filter_map(|c| c.after.as_ref()).collect();
        for c in changes {
            match &c.address {
                Address::Attachment { principal, .. } => {
                    p.insert(principal.clone());
                }
                Address::RamPolicy { name } => {
                    policies.insert(name);
                }
                Address::GroupMember { group, user } => {
                    p.insert(Principal::Group(group.clone()));
                    p.insert(Principal::User(user.clone()));
                }
                Address::RamUser { name } => {
                    p.insert(Principal::User(name.clone()));
                }
                Address::RamGroup { name } => {
                    p.insert(Principal::Group(name.clone()));
                }
                Address::RamRole { name } => {
                    p.insert(Principal::Role(name.clone()));
                    for r in [&c.before, &c.after].into_iter().flatten() {
                        if let Resource::RamRole(role) = r {
                            for user in access::trusted_users(&role.trust_policy) {
                                p.insert(Principal::User(user));
                            }
                        }
                    }
                }
                Address::Member { principal, .. } => {
                    p.insert(principal.clone());
                }
                Address::Workspace { name } => {
                    w.insert(name.clone());
                }
                Address::ModelPermission { workspace, .. }
                | Address::ModelLimit { workspace, .. } => {
                    w.insert(workspace.clone());
                }
                Address::ApiKey { workspace, name } => {
                    k.insert((workspace.clone(), name.clone()));
                }
                // A duplicate's access is an unmanaged credential's: the plan names it apart.
                Address::PaiWorkspace { .. }
                | Address::PaiMember { .. }
                | Address::Duplicate { .. } => {}
            }
        }
        let sides = || {
            live.resources
                .values()
                .chain(after_resources.iter().copied())
        };
        // A policy's holders; a workspace's members and keys; touched keys' owners.
        for r in sides() {
            match r {
                Resource::Attachment(a) if policies.contains(a.policy.as_str()) => {
                    p.insert(a.principal.clone());
                }
                Resource::Member(m) if w.contains(&m.workspace) => {
                    p.insert(m.principal.clone());
                }
                Resource::ApiKey(key)
                    if w.contains(&key.workspace)
                        || k.contains(&(key.workspace.clone(), key.name.clone())) =>
                {
                    k.insert((key.workspace.clone(), key.name.clone()));
                    p.insert(Principal::User(key.owner.clone()));
                }
                _ => {}
            }
        }
        // A group's users.
        for r in sides() {
            if let Resource::GroupMember(g) = r
                && p.contains(&Principal::Group(g.group.clone()))
            {
                p.insert(Principal::User(g.user.clone()));
            }
        }
        // Users' keys, and the groups users are in.
        let mut groups_of_principals = HashSet::new();
        for r in sides() {
            match r {
                Resource::ApiKey(key) if p.contains(&Principal::User(key.owner.clone())) => {
                    k.insert((key.workspace.clone(), key.name.clone()));
                }
                Resource::GroupMember(g) if p.contains(&Principal::User(g.user.clone())) => {
                    groups_of_principals.insert(g.group.clone());
                }
                _ => {}
            }
        }
        Scope {
            principals: p,
            workspaces: w,
            keys: k,
            groups_of_principals,
        }
    }

    /// The resources the facts of the scope are built from.
    fn filter(&self, state: &State) -> State {
        let reaches = |principal: &Principal| {
            self.principals.contains(principal)
                || matches!(principal, Principal::Group(g) if self.groups_of_principals.contains(g))
        };
        state
            .resources
            .values()
            .filter(|r| match r {
                Resource::Workspace(_)
                | Resource::ModelPermission(_)
                | Resource::ModelLimit(_)
                | Resource::RamPolicy(_)
                | Resource::RamRole(_) => true,
                Resource::Attachment(a) => reaches(&a.principal),
                Resource::GroupMember(g) => {
                    self.principals.contains(&Principal::User(g.user.clone()))
                        || self.principals.contains(&Principal::Group(g.group.clone()))
                }
                Resource::Member(m) => {
                    reaches(&m.principal) || self.workspaces.contains(&m.workspace)
                }
                Resource::ApiKey(key) => self
                    .keys
                    .contains(&(key.workspace.clone(), key.name.clone())),
                Resource::RamUser(_)
                | Resource::RamGroup(_)
                | Resource::PaiWorkspace(_)
                | Resource::PaiMember(_) => false,
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::Capabilities;
    use crate::model::{Address, Attachment, PolicyType, Principal, Resource};
    use crate::testing::changes_owning_all;

    fn scenario() -> State {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/access");
        let loaded = crate::config::load(crate::config::sources_from_dir(&path).expect("read"));
        loaded.config.expect("the access scenario is valid").desired
    }

    #[test]
    fn a_plan_attaching_full_access_to_a_group_lists_the_new_super_administrators_first() {
        let live = scenario();
        let mut desired = live.clone();
        desired.insert(Resource::Attachment(Attachment {
            principal: Principal::Group("developers".into()),
            policy: "AliyunBailianFullAccess".into(),
            policy_type: PolicyType::System,
        }));
        // Also a plain change, so escalations must be sorted ahead of it.
        desired.resources.remove(&Address::Member {
            workspace: "shop-dev".into(),
            principal: Principal::User("bob".into()),
        });
        let changes = changes_owning_all(&desired, &live, &Capabilities::full());
        let access = access_changes(&live, &changes);
        let lines: Vec<String> = access.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines[..3],
            [
                "alice: + super administrator (every workspace)",
                "bob: + super administrator (every workspace)",
                "group developers: + super administrator (every workspace) -> alice, bob gain it",
            ]
        );
        assert_eq!(access.escalations(), 3);
        assert!(
            lines.contains(&"bob: - member of shop-dev".to_string()),
            "{lines:#?}"
        );
    }

    /// The scoped computation gives exactly the changes of two whole models.
    fn unscoped(live: &State, changes: &[Change]) -> AccessChanges {
        access::diff::diff(
            &access::build(live, &[]),
            &access::build(&applied(live, changes), &[]),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn scoped_changes_equal_the_whole_models_diff(
            live in crate::testing::arb_state(),
            desired in crate::testing::arb_state(),
        ) {
            let changes = changes_owning_all(&desired, &live, &Capabilities::full());
            proptest::prop_assert_eq!(
                access_changes(&live, &changes),
                unscoped(&live, &changes)
            );
        }
    }

    /// One change to the scenario's desired state.
    type Edit = Box<dyn Fn(&mut State)>;

    #[test]
    fn scoped_changes_equal_the_whole_models_diff_on_the_scenario() {
        let live = scenario();
        let edits: Vec<Edit> = vec![
            Box::new(|s| {
                s.resources.remove(&Address::Attachment {
                    principal: Principal::Group("developers".into()),
                    policy: "no-index-deletes".into(),
                });
            }),
            Box::new(|s| {
                s.resources.remove(&Address::ModelPermission {
                    workspace: "shop-prod".into(),
                    model: "qwen-max".into(),
                });
                s.resources.remove(&Address::ModelLimit {
                    workspace: "shop-prod".into(),
                    model: "qwen-max".into(),
                });
            }),
            Box::new(|s| {
                s.resources.remove(&Address::GroupMember {
                    group: "developers".into(),
                    user: "alice".into(),
                });
            }),
            Box::new(|s| {
                s.resources.remove(&Address::Member {
                    workspace: "default-cn-beijing".into(),
                    principal: Principal::User("bob".into()),
                });
            }),
            // A group's Deny must still reach a user whose own policies change.
            Box::new(|s| {
                s.insert(Resource::RamPolicy(crate::model::RamPolicy {
                    name: "deleter".into(),
                    description: None,
                    document: serde_json::json!({"Version": "1", "Statement": [
                        {"Effect": "Allow", "Action": ["sfm:DeleteIndex", "sfm:ListIndices"],
                         "Resource": "*"}
                    ]}),
                }));
                s.insert(Resource::Attachment(Attachment {
                    principal: Principal::User("bob".into()),
                    policy: "deleter".into(),
                    policy_type: PolicyType::Custom,
                }));
            }),
            Box::new(|s| {
                if let Some(Resource::RamPolicy(p)) = s.resources.get_mut(&Address::RamPolicy {
                    name: "no-index-deletes".into(),
                }) {
                    p.document = serde_json::json!({"Version": "1", "Statement": []});
                }
            }),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut desired = live.clone();
            edit(&mut desired);
            let changes = changes_owning_all(&desired, &live, &Capabilities::full());
            let scoped = access_changes(&live, &changes);
            assert!(!scoped.is_empty(), "edit {i} changes access");
            assert_eq!(scoped, unscoped(&live, &changes), "edit {i}");
        }
    }

    #[test]
    fn an_empty_plan_changes_no_access() {
        let live = scenario();
        assert!(access_changes(&live, &[]).is_empty());
        let changes = changes_owning_all(&live, &live, &Capabilities::full());
        assert!(access_changes(&live, &changes).is_empty());
    }
}
