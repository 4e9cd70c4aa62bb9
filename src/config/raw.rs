//! The config files as written: serde types for every TOML kind, and the source of
//! `schema/config.schema.json` (schemars).
//!
//! Unknown keys are reported by a schema walk over the parsed document (all of them, with
//! suggestions), so serde itself ignores them; `#[schemars(deny_unknown_fields)]` puts
//! `additionalProperties: false` in the schema for editors and for that walk.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// One config file. Every kind may stand in any file; project settings only in `msctl.toml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, title = "msctl config file")]
pub struct RawFile {
    /// Project settings (only in `msctl.toml`).
    pub project: Option<RawProject>,
    /// Which backend to reconcile against (only in `msctl.toml`).
    pub backend: Option<RawBackend>,
    /// Safety settings (only in `msctl.toml`).
    pub safety: Option<RawSafety>,
    /// Model Studio workspaces.
    #[serde(default)]
    pub workspace: Vec<RawWorkspace>,
    /// Workspace members declared apart from their workspaces (e.g. one file per team).
    #[serde(default)]
    pub member: Vec<RawMemberOf>,
    /// API keys declared apart from their workspaces.
    #[serde(default)]
    pub api_key: Vec<RawApiKeyOf>,
    /// Quota splits: an account total per region and model, divided between workspaces.
    #[serde(default)]
    pub quota: Vec<RawQuota>,
    /// RAM users, groups, roles, custom policies and attachments.
    pub ram: Option<RawRam>,
    /// PAI workspaces (LangStudio).
    pub pai: Option<RawPai>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawProject {
    /// A name for this project, shown in plans.
    pub name: Option<String>,
    /// The Alibaba Cloud account name (informational).
    pub account_name: Option<String>,
    /// The Alibaba Cloud account UID; checked against the backend's account when known.
    pub account_uid: Option<String>,
    /// Region for workspaces that do not name one.
    pub default_region: Option<String>,
    /// Record each apply as a git note (`refs/notes/msctl`) on the applied commit (default
    /// true); `false` keeps msctl from writing into the repository (`apply --no-notes` does it
    /// for one run). The backend's ledger records the apply either way.
    pub git_notes: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawBackend {
    /// `local` (embedded SQLite, the default) or `aliyun` (the real APIs).
    pub kind: Option<String>,
    /// Local backend database, relative to the config directory (default `.msctl/local.db`).
    pub state: Option<String>,
    /// Overrides every API host (e.g. `http://127.0.0.1:8080` for the emulator).
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawSafety {
    /// Allow plans to delete workspaces and RAM users (like `--allow-delete`).
    pub allow_delete: Option<bool>,
    /// Delete live RAM users, groups, roles and custom policies that are not declared.
    pub prune_ram: Option<bool>,
    /// A sub-workspace authorizing a split model without an allocation: `warn` (default) or `deny`.
    pub unallocated: Option<String>,
    /// Config warnings acknowledged as intended, by the address each is about, e.g.
    /// `ram.user.carol.policy.AliyunBailianFullAccess`: `--quiet` hides them. An address that
    /// no warning is about is itself a warning (a typo, or a warning that went away).
    pub accept: Option<Vec<String>>,
}

/// A workspace, or one per environment when `name` holds `{env}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawWorkspace {
    /// Workspace name; `{env}` is replaced by each environment (`chatbot-{env}`).
    pub name: String,
    /// Environments to expand into, e.g. `["dev", "test", "prod"]`.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The one region the workspace lives in (default: `project.default_region`).
    pub region: Option<RegionField>,
    /// Free text for reviewers (Model Studio has no description field; not sent to the API).
    pub description: Option<String>,
    /// This is the region's default workspace (named `default-<region>`).
    #[serde(default)]
    pub default: bool,
    /// The workspace's previous name: a rename is a replacement, and the plan says what is lost.
    pub renamed_from: Option<String>,
    /// Models the workspace may use.
    #[serde(default)]
    pub models: Vec<RawModel>,
    /// Explicit rate limits per model (quota splits derive them otherwise).
    #[serde(default)]
    pub limits: Vec<RawLimit>,
    /// RAM users and roles that are members, with page permissions.
    #[serde(default)]
    pub members: Vec<RawMember>,
    /// API keys (metadata only; never secret values).
    #[serde(default)]
    pub api_keys: Vec<RawApiKey>,
    /// Per-environment replacements of the fields above.
    #[serde(default)]
    pub overrides: BTreeMap<String, RawOverride>,
}

/// `region = "cn-beijing"`; a list is accepted only to be rejected with a clear message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RegionField {
    One(String),
    Many(Vec<String>),
}

/// Fields an environment replaces (lists are replaced whole, not merged).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawOverride {
    pub region: Option<RegionField>,
    pub description: Option<String>,
    pub models: Option<Vec<RawModel>>,
    pub limits: Option<Vec<RawLimit>>,
    pub members: Option<Vec<RawMember>>,
    pub api_keys: Option<Vec<RawApiKey>>,
}

/// A model permission; listing a model authorizes inference unless `inference = false`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawModel {
    /// Model id, e.g. `qwen-plus`.
    pub model: String,
    #[serde(default = "yes")]
    pub inference: bool,
    #[serde(default)]
    pub fine_tune: bool,
    #[serde(default)]
    pub deploy: bool,
}

fn yes() -> bool {
    true
}

/// A rate limit: requests per minute or second, and optionally tokens.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawLimit {
    pub model: String,
    pub requests_per_minute: Option<u64>,
    pub requests_per_second: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_second: Option<u64>,
}

/// A member: exactly one of `user` or `role`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawMember {
    /// RAM user name.
    pub user: Option<String>,
    /// RAM role name.
    pub role: Option<String>,
    /// The `Administrator` page permission: everything in the workspace but System Administration.
    #[serde(default)]
    pub administrator: bool,
    /// Page permissions, e.g. `ModelExperience-FullAccess`.
    #[serde(default)]
    pub pages: Vec<String>,
}

/// A member declared apart from its workspaces.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawMemberOf {
    /// Workspaces (expanded names, e.g. `chatbot-prod`).
    pub workspaces: Vec<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    #[serde(default)]
    pub administrator: bool,
    #[serde(default)]
    pub pages: Vec<String>,
}

/// API key metadata. The platform generates the secret; msctl never stores it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawApiKey {
    /// msctl's name for the key (unique in its workspace).
    pub name: String,
    /// The RAM user the key belongs to; must be a member of the workspace.
    pub owner: String,
    #[serde(default)]
    pub description: String,
    /// Models the key may call; absent = every model the workspace authorizes.
    pub models: Option<Vec<String>>,
    /// IP allow-list (CIDRs); China (Beijing) only.
    #[serde(default)]
    pub ip_allow: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Rotate the key once it is older than this, by the platform's creation time: a whole
    /// number with a unit `s`, `m`, `h` or `d` (`"90d"`).
    pub rotate_after: Option<String>,
    /// How long the rotated-out key stays enabled beside its successor before it is deleted
    /// (`"7d"`; default `"0"`: deleted by the next apply). Less than `rotate_after`.
    pub overlap: Option<String>,
}

/// An API key declared apart from its workspace.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawApiKeyOf {
    pub workspace: String,
    pub name: String,
    pub owner: String,
    #[serde(default)]
    pub description: String,
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub ip_allow: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Rotate the key once it is older than this (`"90d"`; units `s`, `m`, `h`, `d`).
    pub rotate_after: Option<String>,
    /// How long the rotated-out key stays enabled beside its successor (`"7d"`; default `"0"`).
    pub overlap: Option<String>,
}

/// An amount of a quota: an absolute number of requests per minute, or a share like `"60%"`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawAmount {
    Absolute(u64),
    Share(String),
}

/// The account's total for one model in one region, split between workspaces.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawQuota {
    pub region: Option<String>,
    pub model: String,
    /// The account total, requests per minute.
    pub requests_per_minute: u64,
    /// The account total, tokens per minute (optional).
    pub tokens_per_minute: Option<u64>,
    /// Kept back for bursts: absolute or a share.
    pub reserve: Option<RawAmount>,
    /// Workspace name → absolute requests per minute or a share.
    #[serde(default)]
    pub allocations: BTreeMap<String, RawAmount>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawRam {
    #[serde(default)]
    pub user: Vec<RawUser>,
    #[serde(default)]
    pub group: Vec<RawGroup>,
    #[serde(default)]
    pub role: Vec<RawRole>,
    #[serde(default)]
    pub policy: Vec<RawPolicy>,
    #[serde(default)]
    pub attachment: Vec<RawAttachment>,
}

/// A policy to attach: a name (system or declared custom) or `{ name, type }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawPolicyRef {
    Name(String),
    Typed(RawTypedPolicy),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawTypedPolicy {
    pub name: String,
    /// `System` or `Custom`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawUser {
    pub name: String,
    /// The user's previous name: msctl renames the live user in place (RAM `UpdateUser`), so
    /// its API keys, group memberships, policy attachments and workspace memberships are kept.
    pub renamed_from: Option<String>,
    pub display_name: Option<String>,
    pub comments: Option<String>,
    /// Policies attached to the user.
    #[serde(default)]
    pub policies: Vec<RawPolicyRef>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    /// The group's previous name: msctl renames the live group in place (RAM `UpdateGroup`),
    /// keeping its members and policy attachments.
    pub renamed_from: Option<String>,
    pub comments: Option<String>,
    /// RAM users in the group.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub policies: Vec<RawPolicyRef>,
}

/// Who may assume a role, in short form.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawTrust {
    /// Cloud services, e.g. `pai.aliyuncs.com`.
    #[serde(default)]
    pub services: Vec<String>,
    /// Account UIDs whose RAM identities may assume the role.
    #[serde(default)]
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawRole {
    pub name: String,
    /// Not supported: RAM cannot rename a role (`UpdateRole` has no new name); a located error.
    pub renamed_from: Option<String>,
    pub description: Option<String>,
    /// Seconds, 3600–43200 (default 3600).
    pub max_session_duration: Option<u32>,
    /// Trust in short form; or give `trust_policy` / `trust_policy_file`.
    pub trust: Option<RawTrust>,
    /// The full trust policy document, inline.
    pub trust_policy: Option<serde_json::Value>,
    /// The trust policy as a JSON file, relative to the config directory.
    pub trust_policy_file: Option<String>,
    #[serde(default)]
    pub policies: Vec<RawPolicyRef>,
}

/// A custom policy: its document inline as TOML, or a JSON file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: String,
    pub description: Option<String>,
    /// The document inline (`Version`, `Statement`, ...).
    pub document: Option<serde_json::Value>,
    /// The document as a JSON file, relative to the config directory.
    pub file: Option<String>,
}

/// A policy attached to several principals at once.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawAttachment {
    pub policy: String,
    /// `System` or `Custom`; inferred when absent.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawPai {
    #[serde(default)]
    pub workspace: Vec<RawPaiWorkspace>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawPaiWorkspace {
    /// 3–23 characters: letters, digits, `_`; starts with a letter.
    pub name: String,
    pub region: Option<String>,
    pub display_name: Option<String>,
    /// Required by PAI (≤ 80 characters).
    pub description: String,
    /// `simple` (prod only, the default) or `standard` (dev and prod).
    pub mode: Option<String>,
    #[serde(default)]
    pub members: Vec<RawPaiMember>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawPaiMember {
    pub user: String,
    /// PAI roles, e.g. `PAI.AlgoDeveloper`.
    pub roles: Vec<String>,
}
