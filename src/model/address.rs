//! Resource addresses: stable, readable names for every object msctl manages.
//!
//! An address is a type, not a string: it orders resources, keys the desired and live states, and
//! renders the documented form (`workspace.chatbot-prod.member.alice`). Parsing the string form
//! back is only needed for user input (`msctl ack ADDRESS`, `--target`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Who a grant is for: a RAM user, group or role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    User(String),
    Group(String),
    Role(String),
}

impl Principal {
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::User(_) => "user",
            Principal::Group(_) => "group",
            Principal::Role(_) => "role",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Principal::User(n) | Principal::Group(n) | Principal::Role(n) => n,
        }
    }

    /// The address of the RAM object this principal names.
    pub fn ram_address(&self) -> Address {
        match self {
            Principal::User(n) => Address::RamUser { name: n.clone() },
            Principal::Group(n) => Address::RamGroup { name: n.clone() },
            Principal::Role(n) => Address::RamRole { name: n.clone() },
        }
    }

    /// The member segment of an address: users by bare name, roles as `role:NAME`.
    fn member_segment(&self) -> String {
        match self {
            Principal::User(n) => n.clone(),
            Principal::Role(n) => format!("role:{n}"),
            Principal::Group(n) => format!("group:{n}"),
        }
    }

    fn from_member_segment(s: &str) -> Principal {
        if let Some(n) = s.strip_prefix("role:") {
            Principal::Role(n.to_string())
        } else if let Some(n) = s.strip_prefix("group:") {
            Principal::Group(n.to_string())
        } else {
            Principal::User(s.to_string())
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind(), self.name())
    }
}

/// The address of one managed object. Variant order is the display order of a plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    RamUser {
        name: String,
    },
    RamGroup {
        name: String,
    },
    RamRole {
        name: String,
    },
    RamPolicy {
        name: String,
    },
    GroupMember {
        group: String,
        user: String,
    },
    Attachment {
        principal: Principal,
        policy: String,
    },
    Workspace {
        name: String,
    },
    ModelPermission {
        workspace: String,
        model: String,
    },
    ModelLimit {
        workspace: String,
        model: String,
    },
    Member {
        workspace: String,
        principal: Principal,
    },
    ApiKey {
        workspace: String,
        name: String,
    },
    PaiWorkspace {
        name: String,
    },
    PaiMember {
        workspace: String,
        user: String,
    },
    /// A second live object at one address (two keys named `svc` in one workspace, two
    /// workspaces of one name), told apart by its platform id: `workspace.ml.apikey.svc#1858003`.
    /// Only reads produce it; the lowest id keeps the plain address.
    Duplicate {
        of: Box<Address>,
        id: String,
    },
}

impl Address {
    /// The resource kind, as used in summaries and the JSON plan.
    pub fn kind(&self) -> &'static str {
        match self {
            Address::RamUser { .. } => "ram_user",
            Address::RamGroup { .. } => "ram_group",
            Address::RamRole { .. } => "ram_role",
            Address::RamPolicy { .. } => "ram_policy",
            Address::GroupMember { .. } => "ram_group_member",
            Address::Attachment { .. } => "ram_policy_attachment",
            Address::Workspace { .. } => "workspace",
            Address::ModelPermission { .. } => "model_permission",
            Address::ModelLimit { .. } => "model_limit",
            Address::Member { .. } => "workspace_member",
            Address::ApiKey { .. } => "api_key",
            Address::PaiWorkspace { .. } => "pai_workspace",
            Address::PaiMember { .. } => "pai_member",
            Address::Duplicate { of, .. } => of.kind(),
        }
    }

    /// The Model Studio workspace this address lives in, if any.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Address::Workspace { name } => Some(name),
            Address::ModelPermission { workspace, .. }
            | Address::ModelLimit { workspace, .. }
            | Address::Member { workspace, .. }
            | Address::ApiKey { workspace, .. } => Some(workspace),
            Address::Duplicate { of, .. } => of.workspace(),
            _ => None,
        }
    }

    /// The address a duplicate stands beside, or the address itself.
    pub fn canonical(&self) -> &Address {
        match self {
            Address::Duplicate { of, .. } => of,
            other => other,
        }
    }

    /// The platform id of a duplicate (see [`Address::Duplicate`]).
    pub fn duplicate_id(&self) -> Option<&str> {
        match self {
            Address::Duplicate { id, .. } => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::RamUser { name } => write!(f, "ram.user.{name}"),
            Address::RamGroup { name } => write!(f, "ram.group.{name}"),
            Address::RamRole { name } => write!(f, "ram.role.{name}"),
            Address::RamPolicy { name } => write!(f, "ram.policy.{name}"),
            Address::GroupMember { group, user } => write!(f, "ram.group.{group}.member.{user}"),
            Address::Attachment { principal, policy } => {
                write!(
                    f,
                    "ram.{}.{}.policy.{policy}",
                    principal.kind(),
                    principal.name()
                )
            }
            Address::Workspace { name } => write!(f, "workspace.{name}"),
            Address::ModelPermission { workspace, model } => {
                write!(f, "workspace.{workspace}.model.{model}")
            }
            Address::ModelLimit { workspace, model } => {
                write!(f, "workspace.{workspace}.limit.{model}")
            }
            Address::Member {
                workspace,
                principal,
            } => write!(
                f,
                "workspace.{workspace}.member.{}",
                principal.member_segment()
            ),
            Address::ApiKey { workspace, name } => write!(f, "workspace.{workspace}.apikey.{name}"),
            Address::PaiWorkspace { name } => write!(f, "pai.workspace.{name}"),
            Address::PaiMember { workspace, user } => {
                write!(f, "pai.workspace.{workspace}.member.{user}")
            }
            Address::Duplicate { of, id } => write!(f, "{of}#{id}"),
        }
    }
}

/// Why a string is not an address.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{input}` is not a resource address; expected forms like `workspace.NAME`, \
        `workspace.NAME.member.USER`, `ram.user.NAME` (see the README's resource addresses)"
)]
pub struct AddressParseError {
    input: String,
}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressParseError {
            input: s.to_string(),
        };
        let nonempty = |v: &str| {
            if v.is_empty() {
                Err(err())
            } else {
                Ok(v.to_string())
            }
        };
        // Platform ids never hold `#`; names might, so the last one splits.
        if let Some((of, id)) = s.rsplit_once('#') {
            let of: Address = of.parse().map_err(|_| err())?;
            if matches!(of, Address::Duplicate { .. }) {
                return Err(err());
            }
            return Ok(Address::Duplicate {
                of: Box::new(of),
                id: nonempty(id)?,
            });
        }
        if let Some(rest) = s.strip_prefix("workspace.") {
            // Workspace names never hold dots; model ids may (`qwen2.5-72b`).
            let (ws, tail) = match rest.split_once('.') {
                None => {
                    return Ok(Address::Workspace {
                        name: nonempty(rest)?,
                    });
                }
                Some(parts) => parts,
            };
            let workspace = nonempty(ws)?;
            let (kind, name) = tail.split_once('.').ok_or_else(err)?;
            let name = nonempty(name)?;
            return Ok(match kind {
                "model" => Address::ModelPermission {
                    workspace,
                    model: name,
                },
                "limit" => Address::ModelLimit {
                    workspace,
                    model: name,
                },
                "member" => Address::Member {
                    workspace,
                    principal: Principal::from_member_segment(&name),
                },
                "apikey" => Address::ApiKey { workspace, name },
                _ => return Err(err()),
            });
        }
        if let Some(rest) = s.strip_prefix("pai.workspace.") {
            return Ok(match rest.split_once(".member.") {
                Some((ws, user)) => Address::PaiMember {
                    workspace: nonempty(ws)?,
                    user: nonempty(user)?,
                },
                None => Address::PaiWorkspace {
                    name: nonempty(rest)?,
                },
            });
        }
        if let Some(rest) = s.strip_prefix("ram.") {
            let (kind, rest) = rest.split_once('.').ok_or_else(err)?;
            // Policy names never hold dots, so the last `.policy.` splits an attachment.
            if matches!(kind, "user" | "group" | "role")
                && let Some((principal, policy)) = rest.rsplit_once(".policy.")
            {
                let principal = nonempty(principal)?;
                let principal = match kind {
                    "user" => Principal::User(principal),
                    "group" => Principal::Group(principal),
                    _ => Principal::Role(principal),
                };
                return Ok(Address::Attachment {
                    principal,
                    policy: nonempty(policy)?,
                });
            }
            if kind == "group"
                && let Some((group, user)) = rest.split_once(".member.")
            {
                return Ok(Address::GroupMember {
                    group: nonempty(group)?,
                    user: nonempty(user)?,
                });
            }
            let name = nonempty(rest)?;
            return Ok(match kind {
                "user" => Address::RamUser { name },
                "group" => Address::RamGroup { name },
                "role" => Address::RamRole { name },
                "policy" => Address::RamPolicy { name },
                _ => return Err(err()),
            });
        }
        Err(err())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A resource address, e.g. `workspace.chatbot-prod.member.alice` or \
                `ram.user.alice`.",
            "pattern": "^(workspace|ram|pai)\\."
        })
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips() {
        let all = [
            "workspace.chatbot-prod",
            "workspace.chatbot-prod.model.qwen2.5-72b-instruct",
            "workspace.chatbot-prod.limit.qwen-plus",
            "workspace.chatbot-prod.member.alice",
            "workspace.chatbot-prod.member.role:ops",
            "workspace.chatbot-prod.apikey.ci-bot",
            "ram.user.alice.smith",
            "ram.group.devs",
            "ram.group.devs.member.alice",
            "ram.role.AliyunPAILangStudioDefaultRole",
            "ram.policy.sfm-create-index",
            "ram.user.alice.policy.AliyunBailianFullAccess",
            "ram.role.ops.policy.custom-oss",
            "ram.group.devs.policy.AliyunBailianDataFullAccess",
            "pai.workspace.langstudio_prod",
            "pai.workspace.langstudio_prod.member.alice",
            "workspace.chatbot-prod.apikey.svc#1858003",
            "workspace.chatbot-prod#llm-2",
        ];
        for text in all {
            let parsed: Address = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn garbage_is_rejected_with_guidance() {
        for bad in [
            "",
            "workspace.",
            "ram.thing.x",
            "workspace.a.bogus.b",
            "pai.workspace.",
            "workspace.a#",
            "#12",
            "workspace.a#1#2",
        ] {
            let err = bad.parse::<Address>().unwrap_err().to_string();
            assert!(err.contains("is not a resource address"), "{err}");
        }
    }
}
