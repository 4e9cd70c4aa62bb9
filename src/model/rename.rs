//! In-place renames of RAM users and groups (`renamed_from`): the one object keeps its id, its
//! API keys, memberships and attachments, so everything that names it is rewritten, not
//! recreated. RAM renames users (`UpdateUser NewUserName`) and groups (`UpdateGroup
//! NewGroupName`); it cannot rename roles.

use std::fmt;

use super::{Address, Principal, Resource, State};

/// One RAM principal renamed in place: `from` and `to` are of the same kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rename {
    pub from: Principal,
    pub to: Principal,
}

impl Rename {
    /// A user or group rename between two addresses of the same kind; `None` for anything else.
    pub fn between(from: &Address, to: &Address) -> Option<Rename> {
        match (from, to) {
            (Address::RamUser { name: a }, Address::RamUser { name: b }) if a != b => {
                Some(Rename {
                    from: Principal::User(a.clone()),
                    to: Principal::User(b.clone()),
                })
            }
            (Address::RamGroup { name: a }, Address::RamGroup { name: b }) if a != b => {
                Some(Rename {
                    from: Principal::Group(a.clone()),
                    to: Principal::Group(b.clone()),
                })
            }
            _ => None,
        }
    }

    /// The rename an update carries out: a user or group whose name changes.
    pub fn of_update(before: &Resource, after: &Resource) -> Option<Rename> {
        match (before, after) {
            (Resource::RamUser(_), Resource::RamUser(_))
            | (Resource::RamGroup(_), Resource::RamGroup(_)) => {
                Rename::between(&before.address(), &after.address())
            }
            _ => None,
        }
    }

    /// The same rename, undone.
    pub fn reversed(&self) -> Rename {
        Rename {
            from: self.to.clone(),
            to: self.from.clone(),
        }
    }

    pub fn old_name(&self) -> &str {
        self.from.name()
    }

    pub fn new_name(&self) -> &str {
        self.to.name()
    }

    fn swap(&self, p: &Principal) -> Option<Principal> {
        (*p == self.from).then(|| self.to.clone())
    }

    fn swap_user(&self, name: &str) -> Option<String> {
        match (&self.from, &self.to) {
            (Principal::User(a), Principal::User(b)) if a == name => Some(b.clone()),
            _ => None,
        }
    }

    fn swap_group(&self, name: &str) -> Option<String> {
        match (&self.from, &self.to) {
            (Principal::Group(a), Principal::Group(b)) if a == name => Some(b.clone()),
            _ => None,
        }
    }

    /// `resource` with every mention of the old name replaced by the new one, or `None` when it
    /// does not mention it: the user or group itself, a group membership, a policy attachment,
    /// a workspace or PAI membership, an API key's owner.
    pub fn resource(&self, resource: &Resource) -> Option<Resource> {
        let mut out = resource.clone();
        let changed = match &mut out {
            Resource::RamUser(u) => self.swap_user(&u.name).map(|n| u.name = n).is_some(),
            Resource::RamGroup(g) => self.swap_group(&g.name).map(|n| g.name = n).is_some(),
            Resource::GroupMember(m) => {
                let user = self.swap_user(&m.user).map(|n| m.user = n).is_some();
                let group = self.swap_group(&m.group).map(|n| m.group = n).is_some();
                user || group
            }
            Resource::Attachment(a) => self.swap(&a.principal).map(|p| a.principal = p).is_some(),
            Resource::Member(m) => self.swap(&m.principal).map(|p| m.principal = p).is_some(),
            Resource::ApiKey(k) => self.swap_user(&k.owner).map(|n| k.owner = n).is_some(),
            Resource::PaiMember(m) => self.swap_user(&m.user).map(|n| m.user = n).is_some(),
            Resource::Workspace(_)
            | Resource::ModelPermission(_)
            | Resource::ModelLimit(_)
            | Resource::RamRole(_)
            | Resource::RamPolicy(_)
            | Resource::PaiWorkspace(_) => false,
        };
        changed.then_some(out)
    }

    /// `address` with the old name replaced by the new one, or `None` when it does not name it.
    pub fn address(&self, address: &Address) -> Option<Address> {
        let mut out = address.clone();
        let changed = match &mut out {
            Address::RamUser { name } => self.swap_user(name).map(|n| *name = n).is_some(),
            Address::RamGroup { name } => self.swap_group(name).map(|n| *name = n).is_some(),
            Address::GroupMember { group, user } => {
                let u = self.swap_user(user).map(|n| *user = n).is_some();
                let g = self.swap_group(group).map(|n| *group = n).is_some();
                u || g
            }
            Address::Attachment { principal, .. } | Address::Member { principal, .. } => {
                self.swap(principal).map(|p| *principal = p).is_some()
            }
            Address::PaiMember { user, .. } => self.swap_user(user).map(|n| *user = n).is_some(),
            Address::Duplicate { of, .. } => match self.address(of) {
                Some(new) => {
                    **of = new;
                    true
                }
                None => false,
            },
            Address::RamRole { .. }
            | Address::RamPolicy { .. }
            | Address::Workspace { .. }
            | Address::ModelPermission { .. }
            | Address::ModelLimit { .. }
            | Address::ApiKey { .. }
            | Address::PaiWorkspace { .. } => false,
        };
        changed.then_some(out)
    }
}

impl fmt::Display for Rename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RAM {} `{}` to `{}`",
            self.from.kind(),
            self.from.name(),
            self.to.name()
        )
    }
}

impl State {
    /// This state as if `renames` had been carried out: every object that names an old name
    /// names the new one instead, at its new address. An object whose new address is taken
    /// keeps its old one (two live objects are never merged).
    pub fn renamed(&self, renames: &[Rename]) -> State {
        if renames.is_empty() {
            return self.clone();
        }
        // API-key addresses name no owner, so the keys' rotation records keep their addresses.
        let mut out = State {
            resources: Default::default(),
            renames: self.renames.clone(),
            key_rotation: self.key_rotation.clone(),
            live_keys: self.live_keys.clone(),
        };
        let mut moved = Vec::new();
        for (address, resource) in &self.resources {
            let mut new_address = address.clone();
            let mut new_resource = resource.clone();
            for rename in renames {
                if let Some(a) = rename.address(&new_address) {
                    new_address = a;
                }
                if let Some(r) = rename.resource(&new_resource) {
                    new_resource = r;
                }
            }
            if new_address == *address {
                out.resources.insert(new_address, new_resource);
            } else {
                moved.push((address.clone(), new_address, resource.clone(), new_resource));
            }
        }
        for (old_address, new_address, old, new) in moved {
            if out.resources.contains_key(&new_address) {
                out.resources.insert(old_address, old);
            } else {
                out.resources.insert(new_address, new);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{ApiKey, Attachment, GroupMember, Member, PolicyType, RamUser};

    fn user_rename() -> Rename {
        Rename::between(
            &Address::RamUser { name: "bob".into() },
            &Address::RamUser {
                name: "robert".into(),
            },
        )
        .unwrap()
    }

    #[test]
    fn renames_only_users_and_groups() {
        let role = |n: &str| Address::RamRole { name: n.into() };
        assert_eq!(Rename::between(&role("a"), &role("b")), None);
        let user = |n: &str| Address::RamUser { name: n.into() };
        assert_eq!(Rename::between(&user("a"), &user("a")), None);
        let group = Address::RamGroup { name: "b".into() };
        assert_eq!(Rename::between(&user("a"), &group), None);
    }

    #[test]
    fn a_renamed_state_moves_the_user_and_everything_naming_it() {
        let live: State = [
            Resource::RamUser(RamUser {
                name: "bob".into(),
                display_name: Some("Bob".into()),
                comments: None,
            }),
            Resource::GroupMember(GroupMember {
                group: "devs".into(),
                user: "bob".into(),
            }),
            Resource::Attachment(Attachment {
                principal: Principal::User("bob".into()),
                policy: "AliyunBailianFullAccess".into(),
                policy_type: PolicyType::System,
            }),
            Resource::Member(Member {
                workspace: "ws".into(),
                principal: Principal::User("bob".into()),
                administrator: true,
                pages: BTreeSet::new(),
            }),
            Resource::ApiKey(ApiKey {
                workspace: "ws".into(),
                name: "ci".into(),
                owner: "bob".into(),
                description: String::new(),
                models: None,
                ip_allow: BTreeSet::new(),
                enabled: true,
            }),
            Resource::Member(Member {
                workspace: "ws".into(),
                principal: Principal::Role("bob".into()),
                administrator: false,
                pages: BTreeSet::new(),
            }),
        ]
        .into_iter()
        .collect();
        let renamed = live.renamed(&[user_rename()]);
        let addresses: Vec<String> = renamed.resources.keys().map(|a| a.to_string()).collect();
        assert_eq!(
            addresses,
            [
                "ram.user.robert",
                "ram.group.devs.member.robert",
                "ram.user.robert.policy.AliyunBailianFullAccess",
                "workspace.ws.member.robert",
                "workspace.ws.member.role:bob",
                "workspace.ws.apikey.ci",
            ]
        );
        let key = renamed
            .get(&Address::ApiKey {
                workspace: "ws".into(),
                name: "ci".into(),
            })
            .unwrap();
        assert!(matches!(key, Resource::ApiKey(k) if k.owner == "robert"));
        // Undone, it is the state it was.
        assert_eq!(renamed.renamed(&[user_rename().reversed()]), live);
    }

    #[test]
    fn a_taken_address_is_never_merged() {
        let user = |n: &str| {
            Resource::RamUser(RamUser {
                name: n.into(),
                display_name: None,
                comments: None,
            })
        };
        let live: State = [user("bob"), user("robert")].into_iter().collect();
        assert_eq!(live.renamed(&[user_rename()]), live);
    }
}
