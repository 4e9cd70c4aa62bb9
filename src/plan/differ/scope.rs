//! Ownership, computed once from both states: which addresses are declared, owned, governed or in a
//! managed workspace, and how a system policy matters.

use super::*;

/// How a system policy name matters to Model Studio access control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PolicyRisk {
    /// Model Studio related, RAM administration or billing: a principal holding it is governed.
    Governed,
    /// Governed, and attaching it deserves a warning (super admin, RAM admin, billing, full admin).
    Warn(&'static str),
}

/// Classifies a system policy by name.
pub(super) fn policy_risk(policy: &str) -> Option<PolicyRisk> {
    use crate::policy::Risk;
    match crate::policy::system_policy_risk(policy)? {
        risk @ (Risk::SuperAdmin | Risk::RamAdmin | Risk::Billing) => {
            Some(PolicyRisk::Warn(risk.describe()))
        }
        Risk::ModelStudioManagement | Risk::Data => Some(PolicyRisk::Governed),
    }
}

/// Who owns what, computed once from both states so each address is decided by map lookups.
pub(super) struct Scope<'a> {
    pub(super) desired: &'a State,
    /// The ledger's owned addresses: undeclared, they are deleted wherever they live.
    pub(super) owned: &'a BTreeSet<Address>,
    /// Regions of declared Model Studio (resp. PAI) workspaces.
    pub(super) regions: HashSet<&'a str>,
    pub(super) pai_regions: HashSet<&'a str>,
    /// Workspace name -> region, desired first then live (for console instructions).
    pub(super) workspace_regions: HashMap<&'a str, &'a str>,
    pub(super) default_workspaces: HashSet<&'a str>,
    /// Undeclared live workspaces the ledger owns: deleted with everything in them.
    pub(super) deleted_workspaces: HashSet<&'a str>,
    /// Workspace names two live workspaces share: what is inside cannot be told apart.
    pub(super) duplicated_workspaces: HashSet<&'a str>,
    pub(super) deleted_pai: HashSet<&'a str>,
    /// Workspaces whose immutable attributes changed: everything in them is recreated.
    pub(super) replaced_workspaces: HashSet<&'a str>,
    pub(super) replaced_pai: HashSet<&'a str>,
    /// Undeclared live RAM users, groups, roles and policies to delete.
    pub(super) deleted_ram: HashSet<&'a Address>,
    /// Live principals holding a governed policy, directly or through a group: the policy.
    pub(super) risky: HashMap<Principal, String>,
}

impl<'a> Scope<'a> {
    pub(super) fn new(desired: &'a State, live: &'a State, options: &'a DiffOptions) -> Self {
        let mut s = Scope {
            desired,
            owned: &options.owned,
            regions: HashSet::new(),
            pai_regions: HashSet::new(),
            workspace_regions: HashMap::new(),
            default_workspaces: HashSet::new(),
            deleted_workspaces: HashSet::new(),
            duplicated_workspaces: HashSet::new(),
            deleted_pai: HashSet::new(),
            replaced_workspaces: HashSet::new(),
            replaced_pai: HashSet::new(),
            deleted_ram: HashSet::new(),
            risky: HashMap::new(),
        };
        for (address, r) in desired.iter() {
            match r {
                Resource::Workspace(w) => {
                    s.regions.insert(&w.region);
                    s.workspace_regions.insert(&w.name, &w.region);
                    if w.default {
                        s.default_workspaces.insert(&w.name);
                    }
                    if let Some(Resource::Workspace(have)) = live.get(address)
                        && !w.default
                        && !have.default
                        && w.region != have.region
                    {
                        s.replaced_workspaces.insert(&w.name);
                    }
                }
                Resource::PaiWorkspace(w) => {
                    s.pai_regions.insert(&w.region);
                    if let Some(have @ Resource::PaiWorkspace(_)) = live.get(address)
                        && immutable_changed(r, have)
                    {
                        s.replaced_pai.insert(&w.name);
                    }
                }
                _ => {}
            }
        }
        let mut group_members = Vec::new();
        for (address, r) in live.iter() {
            let declared = desired.resources.contains_key(address);
            match r {
                Resource::Workspace(w) if matches!(address, Address::Duplicate { .. }) => {
                    s.duplicated_workspaces.insert(&w.name);
                }
                Resource::Workspace(w) => {
                    s.workspace_regions.entry(&w.name).or_insert(&w.region);
                    if w.default {
                        s.default_workspaces.insert(&w.name);
                    } else if !declared && options.owned.contains(address) {
                        s.deleted_workspaces.insert(&w.name);
                    }
                }
                Resource::PaiWorkspace(w) if !declared && options.owned.contains(address) => {
                    s.deleted_pai.insert(&w.name);
                }
                Resource::RamUser(_)
                | Resource::RamGroup(_)
                | Resource::RamRole(_)
                | Resource::RamPolicy(_)
                    if !declared && (options.prune_ram || options.owned.contains(address)) =>
                {
                    s.deleted_ram.insert(address);
                }
                Resource::Attachment(a) if policy_risk(&a.policy).is_some() => {
                    s.risky
                        .entry(a.principal.clone())
                        .or_insert_with(|| a.policy.clone());
                }
                Resource::GroupMember(m) => group_members.push(m),
                _ => {}
            }
        }
        // A user in a group holding a super-admin policy is a super admin too.
        for m in group_members {
            if let Some(policy) = s.risky.get(&Principal::Group(m.group.clone())) {
                let via = format!("{policy} (via group `{}`)", m.group);
                s.risky
                    .entry(Principal::User(m.user.clone()))
                    .or_insert(via);
            }
        }
        s
    }

    pub(super) fn declared(&self, address: &Address) -> bool {
        self.desired.resources.contains_key(address)
    }

    pub(super) fn ram_deleted(&self, address: &Address) -> bool {
        self.deleted_ram.contains(address)
    }

    /// A declared Model Studio workspace owns this live child.
    pub(super) fn workspace_owns(&self, workspace: &str) -> bool {
        self.deleted_workspaces.contains(workspace)
            || self.declared(&Address::Workspace {
                name: workspace.to_string(),
            })
    }

    /// May msctl delete this live object that is not declared? Whatever the ledger owns, except
    /// default workspaces (never deleted) and duplicates (see [`Differ::duplicate`]).
    pub(super) fn deletable(&self, address: &Address) -> bool {
        if !matches!(
            address,
            Address::Workspace { .. } | Address::PaiWorkspace { .. } | Address::Duplicate { .. }
        ) && self.owned.contains(address)
        {
            return true;
        }
        match address {
            Address::Workspace { name } => self.deleted_workspaces.contains(name.as_str()),
            Address::ModelPermission { workspace, .. }
            | Address::ModelLimit { workspace, .. }
            | Address::Member { workspace, .. }
            | Address::ApiKey { workspace, .. } => self.workspace_owns(workspace),
            Address::RamUser { .. }
            | Address::RamGroup { .. }
            | Address::RamRole { .. }
            | Address::RamPolicy { .. } => self.ram_deleted(address),
            Address::Attachment { principal, policy } => {
                let owner = principal.ram_address();
                // A policy or principal about to be deleted must be detached first.
                self.declared(&owner)
                    || self.ram_deleted(&owner)
                    || self.ram_deleted(&Address::RamPolicy {
                        name: policy.clone(),
                    })
            }
            Address::GroupMember { group, user } => {
                let group = Address::RamGroup {
                    name: group.clone(),
                };
                self.declared(&group)
                    || self.ram_deleted(&group)
                    || self.ram_deleted(&Address::RamUser { name: user.clone() })
            }
            Address::PaiWorkspace { name } => self.deleted_pai.contains(name.as_str()),
            Address::PaiMember { workspace, .. } => {
                self.deleted_pai.contains(workspace.as_str())
                    || self.declared(&Address::PaiWorkspace {
                        name: workspace.clone(),
                    })
            }
            Address::Duplicate { .. } => false,
        }
    }

    /// The replaced container this address lives in, if any: it is recreated with it.
    pub(super) fn replaced_container(&self, address: &Address) -> Option<Address> {
        match address {
            Address::Workspace { .. } => None,
            Address::PaiMember { workspace, .. } => self
                .replaced_pai
                .contains(workspace.as_str())
                .then(|| Address::PaiWorkspace {
                    name: workspace.clone(),
                }),
            other => other
                .workspace()
                .filter(|w| self.replaced_workspaces.contains(w))
                .map(|w| Address::Workspace {
                    name: w.to_string(),
                }),
        }
    }

    pub(super) fn region_note(&self, workspace: &str) -> String {
        match self.workspace_regions.get(workspace) {
            Some(region) => format!(" (region {region})"),
            None => String::new(),
        }
    }
}
