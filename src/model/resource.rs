//! The resource kinds msctl reconciles, as plain data shared by desired and live state.
//!
//! Each resource carries its identity (workspace, name) so that a backend can apply a change from
//! the resource alone. `attributes()` is the one generic view the differ and the renderers use:
//! an ordered list of named JSON values, with immutable ones marked.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::address::{Address, Principal};

/// A Model Studio workspace (default or sub-workspace) in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Workspace {
    pub name: String,
    pub region: String,
    /// The region's default workspace: created on activation, never created or deleted by msctl.
    pub default: bool,
}

/// What a sub-workspace may do with one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelPermission {
    pub workspace: String,
    pub model: String,
    pub inference: bool,
    pub fine_tune: bool,
    pub deploy: bool,
}

/// A workspace's rate limit for one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelLimit {
    pub workspace: String,
    pub model: String,
    /// Requests allowed per `request_period` seconds.
    pub requests: u64,
    pub request_period: u32,
    /// Usage units (tokens) allowed per `usage_period` seconds; none = unlimited.
    pub tokens: Option<u64>,
    pub usage_period: Option<u32>,
}

/// A RAM user or role's membership of a workspace, with its page permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub workspace: String,
    #[serde(with = "principal_serde")]
    #[schemars(with = "principal_serde::Repr")]
    pub principal: Principal,
    pub administrator: bool,
    pub pages: BTreeSet<String>,
}

/// An API key's metadata. The secret value is never part of any state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    pub workspace: String,
    /// msctl's stable name for the key (the platform identifies keys by number only).
    pub name: String,
    /// The RAM user the key belongs to.
    pub owner: String,
    pub description: String,
    /// Models the key may call; `None` = every model the workspace authorizes.
    pub models: Option<BTreeSet<String>>,
    /// IP allow-list (CIDRs); empty = unrestricted.
    pub ip_allow: BTreeSet<String>,
    pub enabled: bool,
}

impl ApiKey {
    /// The owner of a live key whose creator the backend cannot name (the aliyun backend when
    /// neither STS nor `--caller` says who its credentials are). Never a RAM user name (those
    /// hold no spaces or parentheses); the differ does not compare it, so an unknown owner never
    /// plans a replacement.
    pub const UNKNOWN_OWNER: &'static str = "(unknown owner)";

    pub fn owner_known(&self) -> bool {
        self.owner != Self::UNKNOWN_OWNER
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RamUser {
    pub name: String,
    pub display_name: Option<String>,
    pub comments: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RamGroup {
    pub name: String,
    pub comments: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GroupMember {
    pub group: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RamRole {
    pub name: String,
    pub description: Option<String>,
    /// The trust policy (`AssumeRolePolicyDocument`).
    pub trust_policy: Value,
    pub max_session_duration: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RamPolicy {
    pub name: String,
    pub description: Option<String>,
    pub document: Value,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum PolicyType {
    System,
    Custom,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::System => "System",
            PolicyType::Custom => "Custom",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    #[serde(with = "principal_serde")]
    #[schemars(with = "principal_serde::Repr")]
    pub principal: Principal,
    pub policy: String,
    pub policy_type: PolicyType,
}

/// A PAI workspace (LangStudio runs in one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaiWorkspace {
    pub name: String,
    pub region: String,
    pub display_name: Option<String>,
    pub description: String,
    /// `["prod"]` (simple mode) or `["dev", "prod"]` (standard mode).
    pub env_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaiMember {
    pub workspace: String,
    pub user: String,
    pub roles: BTreeSet<String>,
}

/// One managed object of any kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    Workspace(Workspace),
    ModelPermission(ModelPermission),
    ModelLimit(ModelLimit),
    #[serde(rename = "workspace_member")]
    Member(Member),
    ApiKey(ApiKey),
    RamUser(RamUser),
    RamGroup(RamGroup),
    #[serde(rename = "ram_group_member")]
    GroupMember(GroupMember),
    RamRole(RamRole),
    RamPolicy(RamPolicy),
    #[serde(rename = "ram_policy_attachment")]
    Attachment(Attachment),
    PaiWorkspace(PaiWorkspace),
    PaiMember(PaiMember),
}

/// One named attribute of a resource, for diffs and rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: &'static str,
    pub value: Value,
    /// Changing it forces a replacement (delete, then create).
    pub immutable: bool,
    /// A policy document: compared semantically, rendered as a unified diff.
    pub document: bool,
}

fn attr(name: &'static str, value: Value) -> Attribute {
    Attribute {
        name,
        value,
        immutable: false,
        document: false,
    }
}

fn immutable(name: &'static str, value: Value) -> Attribute {
    Attribute {
        immutable: true,
        ..attr(name, value)
    }
}

fn document(name: &'static str, value: &Value) -> Attribute {
    Attribute {
        document: true,
        ..attr(name, value.clone())
    }
}

impl Resource {
    pub fn address(&self) -> Address {
        match self {
            Resource::Workspace(w) => Address::Workspace {
                name: w.name.clone(),
            },
            Resource::ModelPermission(m) => Address::ModelPermission {
                workspace: m.workspace.clone(),
                model: m.model.clone(),
            },
            Resource::ModelLimit(l) => Address::ModelLimit {
                workspace: l.workspace.clone(),
                model: l.model.clone(),
            },
            Resource::Member(m) => Address::Member {
                workspace: m.workspace.clone(),
                principal: m.principal.clone(),
            },
            Resource::ApiKey(k) => Address::ApiKey {
                workspace: k.workspace.clone(),
                name: k.name.clone(),
            },
            Resource::RamUser(u) => Address::RamUser {
                name: u.name.clone(),
            },
            Resource::RamGroup(g) => Address::RamGroup {
                name: g.name.clone(),
            },
            Resource::GroupMember(m) => Address::GroupMember {
                group: m.group.clone(),
                user: m.user.clone(),
            },
            Resource::RamRole(r) => Address::RamRole {
                name: r.name.clone(),
            },
            Resource::RamPolicy(p) => Address::RamPolicy {
                name: p.name.clone(),
            },
            Resource::Attachment(a) => Address::Attachment {
                principal: a.principal.clone(),
                policy: a.policy.clone(),
            },
            Resource::PaiWorkspace(w) => Address::PaiWorkspace {
                name: w.name.clone(),
            },
            Resource::PaiMember(m) => Address::PaiMember {
                workspace: m.workspace.clone(),
                user: m.user.clone(),
            },
        }
    }

    /// The attributes a plan compares and shows, in display order.
    pub fn attributes(&self) -> Vec<Attribute> {
        match self {
            Resource::Workspace(w) => vec![
                immutable("region", json!(w.region)),
                immutable("default", json!(w.default)),
            ],
            Resource::ModelPermission(m) => vec![
                attr("inference", json!(m.inference)),
                attr("fine_tune", json!(m.fine_tune)),
                attr("deploy", json!(m.deploy)),
            ],
            Resource::ModelLimit(l) => vec![
                attr("requests", json!(l.requests)),
                attr("request_period", json!(l.request_period)),
                attr("tokens", json!(l.tokens)),
                attr("usage_period", json!(l.usage_period)),
            ],
            Resource::Member(m) => vec![
                attr("administrator", json!(m.administrator)),
                attr("pages", json!(m.pages)),
            ],
            Resource::ApiKey(k) => vec![
                immutable("owner", json!(k.owner)),
                attr("description", json!(k.description)),
                attr("models", json!(k.models)),
                attr("ip_allow", json!(k.ip_allow)),
                attr("enabled", json!(k.enabled)),
            ],
            Resource::RamUser(u) => vec![
                attr("display_name", json!(u.display_name)),
                attr("comments", json!(u.comments)),
            ],
            Resource::RamGroup(g) => vec![attr("comments", json!(g.comments))],
            Resource::GroupMember(_) => vec![],
            Resource::RamRole(r) => vec![
                attr("description", json!(r.description)),
                attr("max_session_duration", json!(r.max_session_duration)),
                document("trust_policy", &r.trust_policy),
            ],
            Resource::RamPolicy(p) => vec![
                attr("description", json!(p.description)),
                document("document", &p.document),
            ],
            Resource::Attachment(a) => vec![immutable("policy_type", json!(a.policy_type))],
            Resource::PaiWorkspace(w) => vec![
                immutable("region", json!(w.region)),
                attr("display_name", json!(w.display_name)),
                attr("description", json!(w.description)),
                immutable("env_types", json!(w.env_types)),
            ],
            Resource::PaiMember(m) => vec![attr("roles", json!(m.roles))],
        }
    }
}

/// Principals serialise as `{"type": "user", "name": "alice"}` inside resources.
mod principal_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::model::address::Principal;

    /// A RAM principal: `type` is `user`, `group` or `role`.
    #[derive(Serialize, Deserialize, schemars::JsonSchema)]
    pub struct Repr {
        #[serde(rename = "type")]
        kind: String,
        name: String,
    }

    pub fn serialize<S: Serializer>(p: &Principal, s: S) -> Result<S::Ok, S::Error> {
        Repr {
            kind: p.kind().to_string(),
            name: p.name().to_string(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Principal, D::Error> {
        let r = Repr::deserialize(d)?;
        match r.kind.as_str() {
            "user" => Ok(Principal::User(r.name)),
            "group" => Ok(Principal::Group(r.name)),
            "role" => Ok(Principal::Role(r.name)),
            other => Err(serde::de::Error::custom(format!(
                "unknown principal type `{other}`"
            ))),
        }
    }
}
