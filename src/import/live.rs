//! Live state into declarations: one per top-level object (a workspace with what is in it, a RAM
//! user with its policies, a group with its members, ...), in the config's own terms.
//!
//! A top-level object is written when the selection picks it or anything in it, and the existing
//! config does not declare it: a declared workspace (or user, group, role) owns what is in it,
//! so what lives there undeclared is the config's business, and the plan shows it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Options;
use crate::model::platform;
use crate::model::{Address, ApiKey, PolicyType, Principal, Resource, State};

/// Everything to write except the folding of workspaces.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    /// One per live workspace, in name order.
    pub workspaces: Vec<WorkspaceView>,
    pub users: Vec<UserDecl>,
    pub groups: Vec<GroupDecl>,
    pub roles: Vec<RoleDecl>,
    pub policies: Vec<PolicyDecl>,
    pub pai: Vec<PaiDecl>,
}

impl Declarations {
    pub fn is_empty(&self) -> bool {
        self.workspaces.is_empty()
            && self.users.is_empty()
            && self.groups.is_empty()
            && self.roles.is_empty()
            && self.policies.is_empty()
            && self.pai.is_empty()
    }
}

/// One live workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceView {
    pub name: String,
    pub region: String,
    pub default: bool,
    pub fields: Fields,
}

/// What a workspace holds: the fields an environment override can replace (whole lists).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    pub models: Vec<ModelEntry>,
    pub limits: Vec<LimitEntry>,
    pub members: Vec<MemberEntry>,
    pub api_keys: Vec<KeyEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub model: String,
    pub inference: bool,
    pub fine_tune: bool,
    pub deploy: bool,
}

/// A rate as the config writes it: per minute or per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    PerMinute(u64),
    PerSecond(u64),
}

impl Rate {
    /// The same rate per minute, for comparing limits with one another.
    pub fn per_minute(self) -> u64 {
        match self {
            Rate::PerMinute(n) => n,
            Rate::PerSecond(n) => n.saturating_mul(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimitEntry {
    pub model: String,
    pub requests: Rate,
    pub tokens: Option<Rate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberEntry {
    /// A RAM user or role.
    pub principal: Principal,
    pub administrator: bool,
    pub pages: Vec<String>,
}

/// API key metadata; the platform's secret is in no state, hence in no declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub name: String,
    pub owner: String,
    pub description: String,
    pub models: Option<Vec<String>>,
    pub ip_allow: Vec<String>,
    pub enabled: bool,
}

/// A policy attached to a principal, as the principal's `policies` list names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyRef {
    pub name: String,
    pub kind: PolicyType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserDecl {
    pub name: String,
    pub display_name: Option<String>,
    pub comments: Option<String>,
    pub policies: Vec<PolicyRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupDecl {
    pub name: String,
    pub comments: Option<String>,
    pub members: Vec<String>,
    pub policies: Vec<PolicyRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleDecl {
    pub name: String,
    pub description: Option<String>,
    pub max_session_duration: u32,
    pub trust_policy: Value,
    pub policies: Vec<PolicyRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDecl {
    pub name: String,
    pub description: Option<String>,
    pub document: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaiDecl {
    pub name: String,
    pub region: String,
    pub display_name: Option<String>,
    pub description: String,
    pub env_types: Vec<String>,
    /// (user, roles)
    pub members: Vec<(String, Vec<String>)>,
}

/// The top-level object an address belongs to (itself, for a top-level one).
fn container(address: &Address) -> Address {
    match address {
        Address::ModelPermission { workspace, .. }
        | Address::ModelLimit { workspace, .. }
        | Address::Member { workspace, .. }
        | Address::ApiKey { workspace, .. } => Address::Workspace {
            name: workspace.clone(),
        },
        Address::GroupMember { group, .. } => Address::RamGroup {
            name: group.clone(),
        },
        Address::Attachment { principal, .. } => principal.ram_address(),
        Address::PaiMember { workspace, .. } => Address::PaiWorkspace {
            name: workspace.clone(),
        },
        Address::Duplicate { of, .. } => container(of),
        other => other.clone(),
    }
}

/// The top-level objects to write: picked by the selection (through themselves or anything in
/// them) and not declared by the existing config.
fn chosen(live: &State, options: &Options) -> BTreeSet<Address> {
    let mut picked = BTreeSet::new();
    for address in live.resources.keys() {
        let text = address.to_string();
        if options.select.is_empty() || options.select.iter().any(|g| g.matches(&text)) {
            picked.insert(container(address));
        }
    }
    picked.retain(|a| live.get(a).is_some() && !options.declared.contains(a));
    picked
}

/// Reads the chosen part of `live` into declarations; what cannot be declared goes to `notes`.
pub fn read(live: &State, options: &Options, notes: &mut Vec<String>) -> Declarations {
    let chosen = chosen(live, options);
    let mut workspaces: BTreeMap<String, WorkspaceView> = BTreeMap::new();
    let mut users: BTreeMap<String, UserDecl> = BTreeMap::new();
    let mut groups: BTreeMap<String, GroupDecl> = BTreeMap::new();
    let mut roles: BTreeMap<String, RoleDecl> = BTreeMap::new();
    let mut policies = Vec::new();
    let mut pai: BTreeMap<String, PaiDecl> = BTreeMap::new();
    // Top-level objects first (the state's order puts RAM first, and a workspace before what is
    // in it, but attachments come before the roles they attach to).
    for (address, resource) in live.iter() {
        if !chosen.contains(address) {
            continue;
        }
        match resource {
            Resource::Workspace(w) => {
                workspaces.insert(
                    w.name.clone(),
                    WorkspaceView {
                        name: w.name.clone(),
                        region: w.region.clone(),
                        default: w.default,
                        fields: Fields::default(),
                    },
                );
            }
            Resource::RamUser(u) => {
                users.insert(
                    u.name.clone(),
                    UserDecl {
                        name: u.name.clone(),
                        display_name: u.display_name.clone(),
                        comments: u.comments.clone(),
                        policies: Vec::new(),
                    },
                );
            }
            Resource::RamGroup(g) => {
                groups.insert(
                    g.name.clone(),
                    GroupDecl {
                        name: g.name.clone(),
                        comments: g.comments.clone(),
                        members: Vec::new(),
                        policies: Vec::new(),
                    },
                );
            }
            Resource::RamRole(r) => {
                roles.insert(
                    r.name.clone(),
                    RoleDecl {
                        name: r.name.clone(),
                        description: r.description.clone(),
                        max_session_duration: r.max_session_duration,
                        trust_policy: r.trust_policy.clone(),
                        policies: Vec::new(),
                    },
                );
            }
            Resource::RamPolicy(p) => policies.push(PolicyDecl {
                name: p.name.clone(),
                description: p.description.clone(),
                document: p.document.clone(),
            }),
            Resource::PaiWorkspace(w) => {
                pai.insert(
                    w.name.clone(),
                    PaiDecl {
                        name: w.name.clone(),
                        region: w.region.clone(),
                        display_name: w.display_name.clone(),
                        description: w.description.clone(),
                        env_types: w.env_types.clone(),
                        members: Vec::new(),
                    },
                );
            }
            _ => {}
        }
    }
    let mut unknown_owners = Vec::new();
    for (address, resource) in live.iter() {
        if let Address::Duplicate { of, id } = address {
            if chosen.contains(&container(of)) {
                notes.push(format!(
                    "`{address}` is a second live object at `{of}` (id {id}): not written; \
                     delete the extra one by hand"
                ));
            }
            continue;
        }
        if !chosen.contains(&container(address)) {
            continue;
        }
        match resource {
            Resource::ModelPermission(m) => {
                if let Some(w) = workspaces.get_mut(&m.workspace) {
                    w.fields.models.push(ModelEntry {
                        model: m.model.clone(),
                        inference: m.inference,
                        fine_tune: m.fine_tune,
                        deploy: m.deploy,
                    });
                }
            }
            Resource::ModelLimit(l) => {
                let Some(requests) = rate(l.requests, l.request_period) else {
                    notes.push(format!(
                        "`{address}` allows {} requests per {} seconds, which the config cannot \
                         write (per minute or per second only): not written",
                        l.requests, l.request_period
                    ));
                    continue;
                };
                let tokens = match (l.tokens, l.usage_period) {
                    (Some(n), Some(p)) => match rate(n, p) {
                        Some(r) => Some(r),
                        None => {
                            notes.push(format!(
                                "`{address}` allows {n} tokens per {p} seconds, which the \
                                 config cannot write (per minute or per second only): not \
                                 written"
                            ));
                            continue;
                        }
                    },
                    _ => None,
                };
                if let Some(w) = workspaces.get_mut(&l.workspace) {
                    w.fields.limits.push(LimitEntry {
                        model: l.model.clone(),
                        requests,
                        tokens,
                    });
                }
            }
            Resource::Member(m) => {
                if let Principal::Group(g) = &m.principal {
                    notes.push(format!(
                        "`{address}`: group `{g}` is a member, which the config cannot declare \
                         (users and roles only): not written"
                    ));
                    continue;
                }
                if let Some(w) = workspaces.get_mut(&m.workspace) {
                    w.fields.members.push(MemberEntry {
                        principal: m.principal.clone(),
                        administrator: m.administrator,
                        pages: m.pages.iter().cloned().collect(),
                    });
                }
            }
            Resource::ApiKey(k) => {
                if !k.owner_known() {
                    unknown_owners.push(address.to_string());
                    continue;
                }
                if let Some(w) = workspaces.get_mut(&k.workspace) {
                    w.fields.api_keys.push(key_entry(k));
                }
            }
            Resource::GroupMember(m) => {
                if let Some(g) = groups.get_mut(&m.group) {
                    g.members.push(m.user.clone());
                }
            }
            Resource::Attachment(a) => {
                let pref = PolicyRef {
                    name: a.policy.clone(),
                    kind: a.policy_type,
                };
                let list = match &a.principal {
                    Principal::User(n) => users.get_mut(n).map(|u| &mut u.policies),
                    Principal::Group(n) => groups.get_mut(n).map(|g| &mut g.policies),
                    Principal::Role(n) => roles.get_mut(n).map(|r| &mut r.policies),
                };
                if let Some(list) = list {
                    list.push(pref);
                }
            }
            Resource::PaiMember(m) => {
                if let Some(w) = pai.get_mut(&m.workspace) {
                    w.members
                        .push((m.user.clone(), m.roles.iter().cloned().collect()));
                }
            }
            _ => {}
        }
    }
    if !unknown_owners.is_empty() {
        notes.push(format!(
            "{} API key(s) have an owner the backend cannot name ({}): not written, so a plan \
             would delete them; pass `--caller USER` (the RAM user the credentials act for) and \
             import again, or declare them by hand",
            unknown_owners.len(),
            unknown_owners.join(", ")
        ));
    }
    let mut workspaces: Vec<WorkspaceView> = workspaces.into_values().collect();
    for w in &mut workspaces {
        if w.default && (!w.fields.models.is_empty() || !w.fields.limits.is_empty()) {
            notes.push(format!(
                "default workspace `{}` has model permissions or limits live, which a default \
                 workspace takes none of in the config: not written",
                w.name
            ));
            w.fields.models.clear();
            w.fields.limits.clear();
        }
    }
    // A default workspace with nothing in it says nothing: declaring it would only make msctl
    // the owner of whatever is added there later.
    workspaces.retain(|w| !(w.default && w.fields == Fields::default()));
    let declarations = Declarations {
        workspaces,
        users: users.into_values().collect(),
        groups: groups.into_values().collect(),
        roles: roles.into_values().collect(),
        policies,
        pai: pai.into_values().collect(),
    };
    let missing = unresolved(&declarations, &options.declared);
    if !missing.is_empty() {
        notes.push(format!(
            "the files refer to {} not written here nor declared in the config: import them too \
             (widen `--select`) or declare them, else `validate` reports them unknown",
            missing
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    declarations
}

/// RAM users, roles and custom policies the declarations name that neither they nor the
/// existing config declare (a `--select` that picked a workspace but not its members' users).
fn unresolved(d: &Declarations, declared: &BTreeSet<Address>) -> BTreeSet<Address> {
    let mut wanted: BTreeSet<Address> = BTreeSet::new();
    let user = |n: &str| Address::RamUser {
        name: n.to_string(),
    };
    for w in &d.workspaces {
        for m in &w.fields.members {
            wanted.insert(m.principal.ram_address());
        }
        for k in &w.fields.api_keys {
            wanted.insert(user(&k.owner));
        }
    }
    for g in &d.groups {
        wanted.extend(g.members.iter().map(|m| user(m)));
    }
    for p in &d.pai {
        wanted.extend(p.members.iter().map(|(m, _)| user(m)));
    }
    let attached = d
        .users
        .iter()
        .flat_map(|u| &u.policies)
        .chain(d.groups.iter().flat_map(|g| &g.policies))
        .chain(d.roles.iter().flat_map(|r| &r.policies));
    for p in attached {
        if p.kind == PolicyType::Custom {
            wanted.insert(Address::RamPolicy {
                name: p.name.clone(),
            });
        }
    }
    let written: BTreeSet<Address> = d
        .users
        .iter()
        .map(|u| user(&u.name))
        .chain(d.roles.iter().map(|r| Address::RamRole {
            name: r.name.clone(),
        }))
        .chain(d.policies.iter().map(|p| Address::RamPolicy {
            name: p.name.clone(),
        }))
        .collect();
    wanted
        .into_iter()
        .filter(|a| !written.contains(a) && !declared.contains(a))
        .collect()
}

/// `n` per `period` seconds as the config writes it, if it can.
fn rate(n: u64, period: u32) -> Option<Rate> {
    match period {
        60 => Some(Rate::PerMinute(n)),
        1 => Some(Rate::PerSecond(n)),
        _ => None,
    }
}

fn key_entry(k: &ApiKey) -> KeyEntry {
    KeyEntry {
        name: k.name.clone(),
        owner: k.owner.clone(),
        description: k.description.clone(),
        models: k.models.as_ref().map(|m| m.iter().cloned().collect()),
        ip_allow: k.ip_allow.iter().cloned().collect(),
        enabled: k.enabled,
    }
}

/// Whether a policy attached by bare name resolves to the same type: a bare name is a declared
/// custom policy first, then a system policy msctl knows.
pub fn bare_name_resolves(p: &PolicyRef, custom: &BTreeSet<String>) -> bool {
    match p.kind {
        PolicyType::Custom => custom.contains(&p.name),
        PolicyType::System => !custom.contains(&p.name) && platform::is_system_policy(&p.name),
    }
}
