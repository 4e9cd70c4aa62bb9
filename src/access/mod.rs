//! The access model: who and which API keys can do what, and why, computed from a desired or live
//! `State` (pure, no I/O).
//!
//! msctl's resources say *what objects* exist; reviewers ask about *people and credentials*. This
//! layer turns a state into [`Fact`]s (a subject, a grant, every reason chain leading to it) and
//! [`RiskFact`]s, following `domain.md`:
//!
//! - the management layer (account-wide): super administrators, other Model Studio management
//!   policies, RAM administrators, billing holders, roles users may assume;
//! - the data layer per workspace: members, the Administrator page, page permissions; API
//!   permissions from `AliyunBailianData*` and `sfm:`/`bailiandata:` statements of custom
//!   policies (Allow and Deny; an explicit unconditional Deny wins; conditions are shown, never
//!   evaluated), which apply in the workspaces the holder is a member of;
//! - model calls: what each workspace authorizes, which members reach it through their pages, and
//!   which keys can call (enabled, owner a member, the key's model scope and IP allow-list); the
//!   default workspace calls every model, unthrottled.
//!
//! [`build`] computes it, [`query`] answers questions, [`diff`] compares two models
//! (the plan's "Access changes") and [`envs`] lays workspaces of several environments side by side.

mod build;
pub mod diff;
pub mod envs;
pub mod query;

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Address, Principal};

pub use diff::{AccessChange, AccessChanges, Direction};
pub use envs::{EnvMatrix, EnvRow, EnvSet, Wanted};
pub use query::{AccessAnswer, AccessQuery, ModelRow};

/// Bumped whenever the JSON shape of `msctl access` or `msctl envs` changes incompatibly;
/// `schema/access.schema.json` and `schema/envs.schema.json` document it.
pub const ACCESS_FORMAT_VERSION: &str = "1";

/// Whom a fact is about: a RAM principal, an API key, or a custom policy (what its document
/// grants, so a plan can say what a document edit grants and revokes).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Subject {
    User { name: String },
    Group { name: String },
    Role { name: String },
    Key { workspace: String, name: String },
    Policy { name: String },
}

impl Subject {
    pub fn of(principal: &Principal) -> Subject {
        match principal {
            Principal::User(n) => Subject::User { name: n.clone() },
            Principal::Group(n) => Subject::Group { name: n.clone() },
            Principal::Role(n) => Subject::Role { name: n.clone() },
        }
    }

    /// The workspace a key lives in; principals and policies are account-wide.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Subject::Key { workspace, .. } => Some(workspace),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User { name } => write!(f, "user {name}"),
            Subject::Group { name } => write!(f, "group {name}"),
            Subject::Role { name } => write!(f, "role {name}"),
            Subject::Key { workspace, name } => write!(f, "key {name} in {workspace}"),
            Subject::Policy { name } => write!(f, "policy {name}"),
        }
    }
}

/// What a model permission allows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Inference,
    FineTune,
    Deploy,
}

impl CallKind {
    pub const ALL: [CallKind; 3] = [CallKind::Inference, CallKind::FineTune, CallKind::Deploy];

    /// The verb: `call`, `fine-tune`, `deploy`.
    pub fn verb(self) -> &'static str {
        match self {
            CallKind::Inference => "call",
            CallKind::FineTune => "fine-tune",
            CallKind::Deploy => "deploy",
        }
    }
}

/// A RAM statement's effect.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Effect {
    Allow,
    Deny,
}

/// The model name standing for "every model" (the default workspace, a key without model scope
/// there).
pub const EVERY_MODEL: &str = "*";

/// One thing a subject can do (or, for `Deny` API statements, is refused).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "grant", rename_all = "snake_case")]
pub enum Grant {
    /// Model Studio super administrator: every workspace, model calls and limits, users, keys.
    SuperAdmin,
    /// RAM administration: can grant anything to anyone, super administrator included.
    RamAdmin,
    /// Account-wide billing access.
    Billing,
    /// Another Model Studio management-layer policy (read-only, control), by name.
    Management { policy: String },
    /// A system data-layer policy (`AliyunBailianData*`): the data APIs in the workspaces the
    /// holder is a member of.
    DataPolicy { policy: String },
    /// A data-layer action of a custom policy statement (`sfm:CreateIndex`), in the workspaces the
    /// holder is a member of. `condition` is the statement's canonical `Condition` JSON, shown and
    /// never evaluated; `resource` the resources when not every one (`*`).
    Api {
        effect: Effect,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource: Option<String>,
    },
    /// May assume this role (named in its trust policy).
    AssumeRole { role: String },
    /// A member of the workspace.
    Member { workspace: String },
    /// The workspace's Administrator page: everything in it except System Administration.
    Administrator { workspace: String },
    /// A page permission in the workspace.
    Page { workspace: String, page: String },
    /// May call, fine-tune or deploy the model there (`*`: every model).
    Call {
        workspace: String,
        model: String,
        kind: CallKind,
    },
}

impl Grant {
    /// The workspace the grant is in; account-wide grants have none.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Grant::Member { workspace }
            | Grant::Administrator { workspace }
            | Grant::Page { workspace, .. }
            | Grant::Call { workspace, .. } => Some(workspace),
            _ => None,
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::SuperAdmin => write!(f, "super administrator (every workspace)"),
            Grant::RamAdmin => write!(f, "RAM administrator (can grant any policy)"),
            Grant::Billing => write!(f, "billing access (account-wide)"),
            Grant::Management { policy } => write!(f, "management policy {policy}"),
            Grant::DataPolicy { policy } => write!(f, "data APIs through {policy}"),
            Grant::Api {
                effect,
                action,
                condition,
                resource,
            } => {
                let verb = match effect {
                    Effect::Allow => "allowed",
                    Effect::Deny => "denied",
                };
                write!(f, "API {action} {verb}")?;
                if let Some(r) = resource {
                    write!(f, " on {r}")?;
                }
                if let Some(c) = condition {
                    write!(f, " when {c}")?;
                }
                Ok(())
            }
            Grant::AssumeRole { role } => write!(f, "may assume role {role}"),
            Grant::Member { workspace } => write!(f, "member of {workspace}"),
            Grant::Administrator { workspace } => write!(f, "Administrator of {workspace}"),
            Grant::Page { workspace, page } => write!(f, "page {page} in {workspace}"),
            Grant::Call {
                workspace,
                model,
                kind,
            } => {
                let model = if model == EVERY_MODEL {
                    "every model"
                } else {
                    model
                };
                write!(f, "{} {model} in {workspace}", kind.verb())
            }
        }
    }
}

/// One step of a reason chain: the declaration or live object it comes from, and what it says.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Step {
    pub address: Address,
    pub says: String,
}

impl Step {
    pub(crate) fn new(address: Address, says: impl Into<String>) -> Step {
        Step {
            address,
            says: says.into(),
        }
    }
}

/// A chain of steps from the subject to the grant.
pub type Chain = Vec<Step>;

/// One thing a subject can do, with every route to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fact {
    pub subject: Subject,
    pub grant: Grant,
    /// Every reason chain leading to the grant (several routes: directly and through a group).
    pub because: Vec<Chain>,
    /// What bounds it: the rate limit and quota share, a key's IP allow-list or model scope, a
    /// conditional Deny that may refuse it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// False when an explicit, unconditional Deny overrides this Allow: shown, but grants nothing.
    pub effective: bool,
    /// Why it is not effective (the Deny, with its chain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden_by: Vec<Chain>,
}

/// The risks `domain.md` names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    /// Holds a management policy but is a member of no workspace: it grants no workspace access.
    ManagementWithoutMembership,
    /// A key in a default workspace: every model, unthrottled; sharing it bypasses the
    /// sub-workspaces' model authorization.
    DefaultWorkspaceKey,
    /// A key whose owner is not a member of its workspace: disabled until the owner is re-added.
    KeyOwnerNotMember,
    /// Holds RAM administration.
    RamAdminHolder,
    /// Holds account-wide billing access.
    BillingHolder,
}

/// A risk, about one subject, with the chain that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RiskFact {
    pub kind: RiskKind,
    pub subject: Subject,
    pub message: String,
    pub because: Chain,
}

/// Facts keyed by subject then grant (the order answers are listed in), and risks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessModel {
    pub facts: BTreeMap<Subject, BTreeMap<Grant, Fact>>,
    pub risks: Vec<RiskFact>,
    /// Per workspace: region, default flag, model permissions and limits (for answers and envs).
    pub workspaces: BTreeMap<String, WorkspaceInfo>,
    /// Per user: the groups they are in (for answers and for expanding group changes).
    pub groups_of: BTreeMap<String, Vec<String>>,
    /// Per group: its users.
    pub group_users: BTreeMap<String, Vec<String>>,
    /// Per custom policy: the principals it is attached to.
    pub policy_holders: BTreeMap<String, Vec<Subject>>,
}

/// A workspace's own settings, as the model saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceInfo {
    pub region: String,
    pub default: bool,
    /// By model: what is authorized and the limit.
    pub models: BTreeMap<String, ModelAccess>,
}

/// One model in one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelAccess {
    pub kinds: Vec<CallKind>,
    /// `120 requests/60 s, 120000 tokens/60 s`, `unthrottled` (default workspace) or
    /// `no limit: can use the whole account quota`.
    pub limit: String,
    /// The workspace's allocation in the config's quota split of this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_share: Option<QuotaShare>,
    /// Where the permission and the limit are declared (or read).
    pub because: Chain,
}

/// A workspace's allocation in a quota split: requests per minute of the account's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuotaShare {
    pub allocated: u64,
    pub total: u64,
}

impl QuotaShare {
    pub fn percent(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.allocated as f64 * 100.0 / self.total as f64
        }
    }

    /// `60.0% (600 of 1000 rpm)`, for table cells.
    pub fn short(self) -> String {
        format!(
            "{:.1}% ({} of {} rpm)",
            self.percent(),
            self.allocated,
            self.total
        )
    }
}

impl fmt::Display for QuotaShare {
    /// `60.0% of the account's 1000 requests/min (600 allocated)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1}% of the account's {} requests/min ({} allocated)",
            self.percent(),
            self.total,
            self.allocated
        )
    }
}

impl AccessModel {
    /// Every fact, in subject then grant order.
    pub fn iter(&self) -> impl Iterator<Item = &Fact> {
        self.facts.values().flat_map(|m| m.values())
    }

    /// Whether `subject` effectively holds `grant`.
    pub fn holds(&self, subject: &Subject, grant: &Grant) -> bool {
        self.facts
            .get(subject)
            .and_then(|m| m.get(grant))
            .is_some_and(|f| f.effective)
    }
}

pub use build::{build, trusted_users};

#[cfg(test)]
mod tests;
