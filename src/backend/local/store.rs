//! The platform model in SQLite: Model Studio, RAM and PAI objects with their ids and rules.
//!
//! The store is shaped like the platform's operations (create a workspace and get its id, list
//! keys, attach a policy, ...) so that both the local backend and the HTTP emulator drive it.
//! Every change runs in one `BEGIN IMMEDIATE` transaction: it happens completely or not at all,
//! and two processes writing the same file queue behind SQLite's lock (WAL mode, busy timeout)
//! instead of corrupting it. The platform's rules (domain.md) are enforced here, once, and come
//! back as [`BackendError`] kinds.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend::{BackendError, ReadScope};
use crate::model::{
    ApiKey, Attachment, GroupMember, Member, ModelLimit, ModelPermission, PaiMember, PaiWorkspace,
    PolicyType, Principal, RamGroup, RamPolicy, RamRole, RamUser, Resource, State, Workspace,
};

/// One write of msctl's ledger (see [`Store::write_ledger`]).
#[derive(Debug, Default)]
pub struct LedgerUpdate<'a> {
    pub meta: &'a [(&'a str, String)],
    pub acks: &'a [(String, String)],
    pub unacks: &'a [String],
    /// (commit, summary JSON, time) of a new apply record.
    pub apply: Option<(Option<&'a str>, &'a str, SystemTime)>,
}

/// How long a write waits for another process's transaction before giving up as `Locked`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 3;

pub use crate::model::platform::{
    IP_ALLOW_REGION as IP_ALLOW_LIST_REGION, PAI_ROLES, REGIONS as MODEL_STUDIO_REGIONS,
    SYSTEM_POLICIES, default_workspace_name, is_system_policy,
};

/// A custom policy keeps at most this many versions.
pub const MAX_POLICY_VERSIONS: i64 = 5;

/// A Model Studio workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRecord {
    /// `ws-` + 16 lowercase hex digits.
    pub id: String,
    pub name: String,
    pub region: String,
    pub is_default: bool,
    /// Creation time, epoch milliseconds.
    pub gmt_create: i64,
}

/// What a workspace may do with one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelGrant {
    pub model: String,
    pub inference: bool,
    pub fine_tune: bool,
    pub deploy: bool,
}

/// A workspace's custom rate limit for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    pub model: String,
    pub requests: u64,
    pub request_period: u32,
    pub tokens: Option<u64>,
    pub usage_period: Option<u32>,
}

/// A workspace member (RAM user or role) and its page permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub principal: Principal,
    pub administrator: bool,
    pub pages: BTreeSet<String>,
}

/// How a per-model write treats an existing row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The row must not exist yet (`Conflict` otherwise).
    Create,
    /// The row must exist (`NotFound` otherwise).
    Update,
    /// Set or overwrite, as the platform's `OVERLAY` does.
    Upsert,
}

/// Why an API key is disabled; rule-made reasons decide whether it may come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledReason {
    /// Disabled by a DisableApiKey call (or `enabled = false`).
    Manual,
    /// Its owner was removed from the workspace; re-adding the owner re-enables it.
    MemberRemoved,
    /// Its owner's RAM user was deleted; it stays disabled for good.
    OwnerDeleted,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Manual => "manual",
            DisabledReason::MemberRemoved => "member_removed",
            DisabledReason::OwnerDeleted => "owner_deleted",
        }
    }

    fn parse(s: &str) -> Result<Self, Fail> {
        match s {
            "manual" => Ok(DisabledReason::Manual),
            "member_removed" => Ok(DisabledReason::MemberRemoved),
            "owner_deleted" => Ok(DisabledReason::OwnerDeleted),
            other => Err(Fail::Corrupt(format!(
                "unknown api key disabled reason `{other}`"
            ))),
        }
    }
}

/// An API key as stored: metadata, a SHA-256 hash and a masked preview, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub workspace_id: String,
    /// msctl's stable name for the key.
    pub name: String,
    pub owner: String,
    pub description: String,
    /// `None` = every model the workspace authorizes.
    pub models: Option<BTreeSet<String>>,
    pub ip_allow: BTreeSet<String>,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// The secret masked as the platform lists it (`sk-ws-abc*****wxyz`).
    pub secret_preview: String,
    pub gmt_create: i64,
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub workspace_id: String,
    pub name: String,
    pub owner: String,
    pub description: String,
    pub models: Option<BTreeSet<String>>,
    pub ip_allow: BTreeSet<String>,
    pub enabled: bool,
}

/// A key just created or reset: the only time the secret is seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedApiKey {
    pub id: i64,
    pub secret: String,
}

/// A change to a key's mutable settings; `auth` (models, IPs) is replaced as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyChange {
    pub description: String,
    pub models: Option<BTreeSet<String>>,
    pub ip_allow: BTreeSet<String>,
    /// `Some` also enables or disables the key in the same transaction.
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamUserRecord {
    /// Numeric string, like RAM's UserId.
    pub id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub comments: Option<String>,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamGroupRecord {
    pub id: String,
    pub name: String,
    pub comments: Option<String>,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRecord {
    pub group: String,
    pub user: String,
    pub join_date: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RamRoleRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub trust_policy: Value,
    pub max_session_duration: u32,
    pub create_date: i64,
}

/// A custom policy with its default version's document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub name: String,
    pub description: Option<String>,
    pub default_version: String,
    pub document: Value,
    pub create_date: i64,
    pub update_date: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`, ...
    pub version_id: String,
    pub is_default: bool,
    pub document: Value,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub principal: Principal,
    pub policy: String,
    pub policy_type: PolicyType,
    pub attach_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaiWorkspaceRecord {
    /// Numeric string, like AIWorkSpace's WorkspaceId.
    pub id: String,
    pub name: String,
    pub region: String,
    pub display_name: Option<String>,
    pub description: String,
    pub env_types: Vec<String>,
    pub gmt_create: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaiMemberRecord {
    pub member_id: String,
    pub workspace_id: String,
    pub user: String,
    pub roles: BTreeSet<String>,
    pub gmt_create: i64,
}

/// One recorded apply in msctl's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyRecord {
    pub commit: Option<String>,
    pub summary_json: String,
    pub time: SystemTime,
}

/// An acknowledged manual step: the resource as the team confirmed it was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRecord {
    pub address: String,
    pub resource_json: String,
    pub time: SystemTime,
}

/// Why a step inside a transaction failed, before the database path is attached.
#[derive(Debug)]
enum Fail {
    Backend(BackendError),
    Sql(rusqlite::Error),
    /// The database holds something this build cannot read back.
    Corrupt(String),
}

impl From<BackendError> for Fail {
    fn from(e: BackendError) -> Self {
        Fail::Backend(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

type Step<T> = Result<T, Fail>;

fn refused(message: String) -> Fail {
    Fail::Backend(BackendError::Refused(message))
}

fn conflict(message: String) -> Fail {
    Fail::Backend(BackendError::Conflict(message))
}

fn not_found(message: String) -> Fail {
    Fail::Backend(BackendError::NotFound(message))
}

fn invalid(message: String) -> Fail {
    Fail::Backend(BackendError::Invalid(message))
}

/// Attaches the database path and a hint to a failure.
fn finish(path: &str, what: &str, fail: Fail) -> BackendError {
    match fail {
        Fail::Backend(e) => e,
        Fail::Corrupt(m) => BackendError::Transport(format!(
            "failed to {what}: state database `{path}` holds unreadable data: {m}\n\
             hint: restore the file from a backup"
        )),
        Fail::Sql(e) => match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                BackendError::Locked(format!(
                    "failed to {what}: state database `{path}` is locked because another msctl \
                     process is applying changes to it\n\
                     hint: wait for that apply to finish, then run this again"
                ))
            }
            Some(ErrorCode::NotADatabase) => BackendError::Transport(format!(
                "failed to {what}: `{path}` is not an msctl state database ({e})\n\
                 hint: point msctl at another state file, or move this one away"
            )),
            Some(ErrorCode::ConstraintViolation) => {
                BackendError::Conflict(format!("failed to {what}: {e}"))
            }
            _ => BackendError::Transport(format!(
                "failed to {what} in state database `{path}`: {e}\n\
                 hint: check that the file is readable and writable and the disk is not full"
            )),
        },
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn to_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn from_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn to_json<T: Serialize>(value: &T) -> Step<String> {
    serde_json::to_string(value).map_err(|e| invalid(format!("failed to encode JSON: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Step<T> {
    serde_json::from_str(text).map_err(|e| Fail::Corrupt(format!("{what} is not valid JSON: {e}")))
}

fn to_i64(value: u64, what: &str) -> Step<i64> {
    i64::try_from(value).map_err(|_| invalid(format!("{what} {value} is too large")))
}

fn to_u64(value: i64, what: &str) -> Step<u64> {
    u64::try_from(value).map_err(|_| Fail::Corrupt(format!("{what} {value} is negative")))
}

fn to_u32(value: i64, what: &str) -> Step<u32> {
    u32::try_from(value).map_err(|_| Fail::Corrupt(format!("{what} {value} is out of range")))
}

fn principal_from(kind: &str, name: String) -> Step<Principal> {
    match kind {
        "user" => Ok(Principal::User(name)),
        "group" => Ok(Principal::Group(name)),
        "role" => Ok(Principal::Role(name)),
        other => Err(Fail::Corrupt(format!("unknown principal type `{other}`"))),
    }
}

fn policy_type_from(s: &str) -> Step<PolicyType> {
    match s {
        "System" => Ok(PolicyType::System),
        "Custom" => Ok(PolicyType::Custom),
        other => Err(Fail::Corrupt(format!("unknown policy type `{other}`"))),
    }
}

/// Checks a RAM name: 1 to `max` characters from `[A-Za-z0-9]` and `extra`.
fn check_ram_name(kind: &str, name: &str, max: usize, extra: &str) -> Step<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || extra.contains(c);
    if name.is_empty() || name.chars().count() > max || !name.chars().all(ok_char) {
        let allowed: String = extra.chars().map(|c| format!(" `{c}`")).collect();
        return Err(invalid(format!(
            "{kind} name `{name}` is not valid: RAM allows 1 to {max} letters, digits and{allowed}"
        )));
    }
    Ok(())
}

fn check_document(kind: &str, name: &str, document: &Value) -> Step<String> {
    if !document.is_object() {
        return Err(invalid(format!(
            "the {kind} of `{name}` must be a JSON object (`{{\"Version\": \"1\", \"Statement\": [...]}}`)"
        )));
    }
    let text = to_json(document)?;
    if text.chars().count() > 6144 {
        return Err(invalid(format!(
            "the {kind} of `{name}` is {} characters long; RAM allows at most 6144",
            text.chars().count()
        )));
    }
    Ok(text)
}

fn random_hex(c: &Connection, bytes: u32) -> Step<String> {
    Ok(c.query_row("SELECT lower(hex(randomblob(?1)))", [bytes], |r| r.get(0))?)
}

/// A 16-digit numeric id, like RAM's user, group and role ids.
fn random_numeric_id(c: &Connection) -> Step<String> {
    let n: i64 = c.query_row(
        "SELECT abs(random() % 9000000000000000) + 1000000000000000",
        [],
        |r| r.get(0),
    )?;
    Ok(n.to_string())
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Masks a secret as the platform's key listing does: a few characters each side.
fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 13 {
        return "*****".to_string();
    }
    let head: String = chars[..9].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}*****{tail}")
}

fn new_secret(c: &Connection) -> Step<String> {
    Ok(format!("sk-ws-{}", random_hex(c, 16)?))
}

const SCHEMA_V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE ms_workspace (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    region     TEXT NOT NULL,
    is_default INTEGER NOT NULL CHECK (is_default IN (0, 1)),
    gmt_create INTEGER NOT NULL
);
CREATE UNIQUE INDEX ms_workspace_one_default ON ms_workspace (region) WHERE is_default = 1;

CREATE TABLE ms_model_permission (
    workspace_id TEXT NOT NULL REFERENCES ms_workspace (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    inference    INTEGER NOT NULL,
    fine_tune    INTEGER NOT NULL,
    deploy       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, model)
);

CREATE TABLE ms_model_limit (
    workspace_id   TEXT NOT NULL REFERENCES ms_workspace (id) ON DELETE CASCADE,
    model          TEXT NOT NULL,
    requests       INTEGER NOT NULL,
    request_period INTEGER NOT NULL,
    tokens         INTEGER,
    usage_period   INTEGER,
    PRIMARY KEY (workspace_id, model)
);

CREATE TABLE ms_member (
    workspace_id   TEXT NOT NULL REFERENCES ms_workspace (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL CHECK (principal_type IN ('user', 'role')),
    name           TEXT NOT NULL,
    administrator  INTEGER NOT NULL,
    pages          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, principal_type, name)
);

CREATE TABLE ms_api_key (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    TEXT NOT NULL REFERENCES ms_workspace (id),
    name            TEXT NOT NULL,
    owner           TEXT NOT NULL,
    description     TEXT NOT NULL,
    models          TEXT,
    ip_allow        TEXT NOT NULL,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    disabled_reason TEXT CHECK (disabled_reason IN ('manual', 'member_removed', 'owner_deleted')),
    secret_sha256   TEXT NOT NULL,
    secret_preview  TEXT NOT NULL,
    gmt_create      INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE INDEX ms_api_key_owner ON ms_api_key (owner);

CREATE TABLE ram_user (
    name         TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    display_name TEXT,
    comments     TEXT,
    create_date  INTEGER NOT NULL
);

CREATE TABLE ram_group (
    name        TEXT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    comments    TEXT,
    create_date INTEGER NOT NULL
);

CREATE TABLE ram_group_member (
    group_name TEXT NOT NULL REFERENCES ram_group (name),
    user_name  TEXT NOT NULL REFERENCES ram_user (name),
    join_date  INTEGER NOT NULL,
    PRIMARY KEY (group_name, user_name)
);

CREATE TABLE ram_role (
    name                 TEXT PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    description          TEXT,
    trust_policy         TEXT NOT NULL,
    max_session_duration INTEGER NOT NULL,
    create_date          INTEGER NOT NULL
);

CREATE TABLE ram_policy (
    name            TEXT PRIMARY KEY,
    description     TEXT,
    default_version TEXT NOT NULL,
    next_version    INTEGER NOT NULL,
    create_date     INTEGER NOT NULL,
    update_date     INTEGER NOT NULL
);

CREATE TABLE ram_policy_version (
    policy_name TEXT NOT NULL REFERENCES ram_policy (name) ON DELETE CASCADE,
    version_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    document    TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    PRIMARY KEY (policy_name, version_id)
);

CREATE TABLE ram_attachment (
    principal_type TEXT NOT NULL CHECK (principal_type IN ('user', 'group', 'role')),
    principal_name TEXT NOT NULL,
    policy_name    TEXT NOT NULL,
    policy_type    TEXT NOT NULL CHECK (policy_type IN ('System', 'Custom')),
    attach_date    INTEGER NOT NULL,
    PRIMARY KEY (principal_type, principal_name, policy_name)
);

CREATE TABLE pai_workspace (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    region       TEXT NOT NULL,
    display_name TEXT,
    description  TEXT NOT NULL,
    env_types    TEXT NOT NULL,
    gmt_create   INTEGER NOT NULL
);

CREATE TABLE pai_member (
    member_id    TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES pai_workspace (id) ON DELETE CASCADE,
    user_name    TEXT NOT NULL,
    roles        TEXT NOT NULL,
    gmt_create   INTEGER NOT NULL,
    UNIQUE (workspace_id, user_name)
);

CREATE TABLE ledger_apply (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id  TEXT,
    summary    TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE ledger_ack (
    address  TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    acked_at INTEGER NOT NULL
);

-- Platform-looking ids: API keys and PAI workspaces count up from here.
INSERT INTO sqlite_sequence (name, seq) VALUES ('ms_api_key', 1858000), ('pai_workspace', 1000);
"#;

/// Indexes for every lookup an operation makes, so each change costs the same however large the
/// account is (without them, key and membership lookups scanned whole tables and apply time grew
/// quadratically).
const SCHEMA_V2: &str = r#"
CREATE INDEX ms_api_key_workspace_name ON ms_api_key (workspace_id, name);
CREATE INDEX ms_api_key_secret ON ms_api_key (secret_sha256);
CREATE INDEX ram_group_member_user ON ram_group_member (user_name);
CREATE INDEX ram_attachment_policy ON ram_attachment (policy_name);
CREATE INDEX pai_member_user ON pai_member (user_name);
"#;

/// msctl's run lock (`apply`, `ack`): at most one row, so one run at a time per database. A row
/// left by a killed run stays until `msctl force-unlock ID` removes it.
const SCHEMA_V3: &str = r#"
CREATE TABLE msctl_lock (
    slot       INTEGER PRIMARY KEY CHECK (slot = 1),
    id         TEXT NOT NULL,
    holder     TEXT NOT NULL,
    locked_at  INTEGER NOT NULL
);
"#;

/// Migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3];

const WORKSPACE_COLUMNS: &str = "id, name, region, is_default, gmt_create";
const API_KEY_COLUMNS: &str = "id, workspace_id, name, owner, description, models, ip_allow, \
     enabled, disabled_reason, secret_sha256, secret_preview, gmt_create";

fn workspace_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkspaceRecord> {
    Ok(WorkspaceRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        region: r.get(2)?,
        is_default: r.get(3)?,
        gmt_create: r.get(4)?,
    })
}

fn find_workspace_by_name(c: &Connection, name: &str) -> Step<Option<WorkspaceRecord>> {
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM ms_workspace WHERE name = ?1");
    Ok(c.query_row(&sql, [name], workspace_row).optional()?)
}

fn workspace_by_name(c: &Connection, name: &str) -> Step<WorkspaceRecord> {
    find_workspace_by_name(c, name)?
        .ok_or_else(|| not_found(format!("workspace `{name}` does not exist")))
}

fn workspace_by_id(c: &Connection, id: &str) -> Step<WorkspaceRecord> {
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM ms_workspace WHERE id = ?1");
    c.query_row(&sql, [id], workspace_row)
        .optional()?
        .ok_or_else(|| not_found(format!("workspace `{id}` does not exist")))
}

/// `WHERE ?1 IS NULL OR col = ?1` cannot use an index (SQLite plans the OR as a full scan, which
/// made every lookup cost the size of the table): with a value, filter on the column alone.
fn optional_filter(sql: &str, filtered: bool) -> String {
    const OR: &str = "?1 IS NULL OR ";
    const EQ: &str = " = ?1";
    let Some(start) = sql.find(OR) else {
        return sql.to_string();
    };
    let rest = &sql[start + OR.len()..];
    let Some(end) = rest.find(EQ) else {
        return sql.to_string();
    };
    let condition = if filtered {
        &rest[..end + EQ.len()]
    } else {
        "?1 IS NULL"
    };
    format!("{}{condition}{}", &sql[..start], &rest[end + EQ.len()..])
}

fn list_workspaces(c: &Connection, region: Option<&str>) -> Step<Vec<WorkspaceRecord>> {
    let sql = format!(
        "SELECT {WORKSPACE_COLUMNS} FROM ms_workspace WHERE ?1 IS NULL OR region = ?1 \
         ORDER BY is_default DESC, gmt_create, name"
    );
    let mut stmt = c.prepare(&optional_filter(&sql, region.is_some()))?;
    let rows = stmt.query_map([region], workspace_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Sub-workspaces may only use models they authorize for inference; default ones use all.
fn check_inference(c: &Connection, ws: &WorkspaceRecord, model: &str, what: &str) -> Step<()> {
    if ws.is_default {
        return Ok(());
    }
    let inference: Option<bool> = c
        .query_row(
            "SELECT inference FROM ms_model_permission WHERE workspace_id = ?1 AND model = ?2",
            params![ws.id, model],
            |r| r.get(0),
        )
        .optional()?;
    if inference != Some(true) {
        return Err(refused(format!(
            "failed to {what}: workspace `{}` has not authorized model `{model}` for inference\n\
             hint: grant the workspace inference on `{model}` first",
            ws.name
        )));
    }
    Ok(())
}

fn check_sub_workspace(ws: &WorkspaceRecord, what: &str, setting: &str) -> Step<()> {
    if ws.is_default {
        return Err(refused(format!(
            "failed to {what}: `{}` is the default workspace of `{}`, which calls every model \
             unthrottled; {setting} cannot be set on it\n\
             hint: use a sub-workspace for controlled access",
            ws.name, ws.region
        )));
    }
    Ok(())
}

fn is_member(c: &Connection, workspace_id: &str, principal: &Principal) -> Step<bool> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM ms_member WHERE workspace_id = ?1 AND principal_type = ?2 AND name = ?3",
        params![workspace_id, principal.kind(), principal.name()],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

fn check_key_auth(
    c: &Connection,
    ws: &WorkspaceRecord,
    models: Option<&BTreeSet<String>>,
    ip_allow: &BTreeSet<String>,
    what: &str,
) -> Step<()> {
    if !ip_allow.is_empty() && ws.region != IP_ALLOW_LIST_REGION {
        return Err(refused(format!(
            "failed to {what}: API key IP allow-lists are only available in \
             `{IP_ALLOW_LIST_REGION}`, and workspace `{}` is in `{}`\n\
             hint: leave `ip_allow` empty outside `{IP_ALLOW_LIST_REGION}`",
            ws.name, ws.region
        )));
    }
    for model in models.into_iter().flatten() {
        check_inference(c, ws, model, what)?;
    }
    Ok(())
}

type RawKey = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    Option<String>,
    String,
    String,
    i64,
);

fn raw_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawKey> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
    ))
}

fn key_from_raw(raw: RawKey) -> Step<ApiKeyRecord> {
    let (
        id,
        workspace_id,
        name,
        owner,
        description,
        models,
        ip_allow,
        enabled,
        reason,
        sha,
        preview,
        gmt_create,
    ) = raw;
    Ok(ApiKeyRecord {
        id,
        workspace_id,
        name,
        owner,
        description,
        models: match models {
            Some(text) => Some(from_json(&text, "an api key's model list")?),
            None => None,
        },
        ip_allow: from_json(&ip_allow, "an api key's ip allow-list")?,
        enabled,
        disabled_reason: reason.as_deref().map(DisabledReason::parse).transpose()?,
        secret_sha256: sha,
        secret_preview: preview,
        gmt_create,
    })
}

fn list_keys(c: &Connection, workspace_id: Option<&str>) -> Step<Vec<ApiKeyRecord>> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY id"
    );
    let mut stmt = c.prepare(&optional_filter(&sql, workspace_id.is_some()))?;
    let raws = stmt
        .query_map([workspace_id], raw_key_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(key_from_raw).collect()
}

fn key_by_id(c: &Connection, id: i64) -> Step<ApiKeyRecord> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE id = ?1");
    let raw = c
        .query_row(&sql, [id], raw_key_row)
        .optional()?
        .ok_or_else(|| not_found(format!("api key {id} does not exist")))?;
    key_from_raw(raw)
}

fn find_key_by_name(c: &Connection, workspace_id: &str, name: &str) -> Step<Option<ApiKeyRecord>> {
    let sql =
        format!("SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE workspace_id = ?1 AND name = ?2");
    c.query_row(&sql, params![workspace_id, name], raw_key_row)
        .optional()?
        .map(key_from_raw)
        .transpose()
}

/// Enables or disables a key by hand, honouring the rules that keep rule-disabled keys off.
fn set_key_enabled(c: &Connection, key: &ApiKeyRecord, enabled: bool, what: &str) -> Step<()> {
    if enabled {
        match key.disabled_reason {
            Some(DisabledReason::OwnerDeleted) => {
                return Err(refused(format!(
                    "failed to {what}: api key `{}` was disabled for good when its owner, RAM user \
                     `{}`, was deleted\nhint: create a new key for another owner",
                    key.name, key.owner
                )));
            }
            Some(DisabledReason::MemberRemoved)
                if !is_member(c, &key.workspace_id, &Principal::User(key.owner.clone()))? =>
            {
                return Err(refused(format!(
                    "failed to {what}: api key `{}` is disabled because its owner `{}` is no \
                     longer a member of its workspace\n\
                     hint: add `{}` back as a member; the key comes back by itself",
                    key.name, key.owner, key.owner
                )));
            }
            _ => {}
        }
        c.execute(
            "UPDATE ms_api_key SET enabled = 1, disabled_reason = NULL WHERE id = ?1",
            [key.id],
        )?;
    } else if key.enabled {
        c.execute(
            "UPDATE ms_api_key SET enabled = 0, disabled_reason = 'manual' WHERE id = ?1",
            [key.id],
        )?;
    }
    Ok(())
}

fn user_exists(c: &Connection, name: &str) -> Step<bool> {
    Ok(
        c.query_row("SELECT 1 FROM ram_user WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

fn principal_exists(c: &Connection, principal: &Principal) -> Step<bool> {
    let sql = match principal {
        Principal::User(_) => "SELECT 1 FROM ram_user WHERE name = ?1",
        Principal::Group(_) => "SELECT 1 FROM ram_group WHERE name = ?1",
        Principal::Role(_) => "SELECT 1 FROM ram_role WHERE name = ?1",
    };
    Ok(c.query_row(sql, [principal.name()], |_| Ok(()))
        .optional()?
        .is_some())
}

fn custom_policy_exists(c: &Connection, name: &str) -> Step<bool> {
    Ok(
        c.query_row("SELECT 1 FROM ram_policy WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?
        .is_some(),
    )
}

fn attachments_of(c: &Connection, principal: &Principal) -> Step<Vec<String>> {
    let mut stmt = c.prepare(
        "SELECT policy_name FROM ram_attachment WHERE principal_type = ?1 AND principal_name = ?2 \
         ORDER BY policy_name",
    )?;
    let rows = stmt.query_map(params![principal.kind(), principal.name()], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn policy_versions(c: &Connection, name: &str) -> Step<Vec<PolicyVersionRecord>> {
    let mut stmt = c.prepare(
        "SELECT v.version_id, v.version_id = p.default_version, v.document, v.create_date \
         FROM ram_policy_version v JOIN ram_policy p ON p.name = v.policy_name \
         WHERE v.policy_name = ?1 ORDER BY v.seq",
    )?;
    let raws = stmt
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(version_id, is_default, doc, create_date)| {
            Ok(PolicyVersionRecord {
                version_id,
                is_default,
                document: from_json(&doc, "a policy document")?,
                create_date,
            })
        })
        .collect()
}

/// Adds a policy version; at the limit, rotates out the oldest non-default one if asked to.
fn add_policy_version(
    c: &Connection,
    name: &str,
    document: &Value,
    set_as_default: bool,
    rotate: bool,
) -> Step<String> {
    let text = check_document("policy document", name, document)?;
    let next: Option<i64> = c
        .query_row(
            "SELECT next_version FROM ram_policy WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    let next = next.ok_or_else(|| not_found(format!("custom policy `{name}` does not exist")))?;
    let count: i64 = c.query_row(
        "SELECT count(*) FROM ram_policy_version WHERE policy_name = ?1",
        [name],
        |r| r.get(0),
    )?;
    if count >= MAX_POLICY_VERSIONS {
        if !rotate {
            return Err(conflict(format!(
                "failed to add a version to policy `{name}`: it already has \
                 {MAX_POLICY_VERSIONS} versions (LimitExceeded.Policy.Version)\n\
                 hint: delete a non-default version first"
            )));
        }
        c.execute(
            "DELETE FROM ram_policy_version WHERE policy_name = ?1 AND version_id = ( \
                 SELECT v.version_id FROM ram_policy_version v JOIN ram_policy p \
                 ON p.name = v.policy_name \
                 WHERE v.policy_name = ?1 AND v.version_id <> p.default_version \
                 ORDER BY v.seq LIMIT 1)",
            [name],
        )?;
    }
    let version_id = format!("v{next}");
    let now = now_ms();
    c.execute(
        "INSERT INTO ram_policy_version (policy_name, version_id, seq, document, create_date) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, version_id, next, text, now],
    )?;
    c.execute(
        "UPDATE ram_policy SET next_version = next_version + 1, update_date = ?2 WHERE name = ?1",
        params![name, now],
    )?;
    if set_as_default {
        c.execute(
            "UPDATE ram_policy SET default_version = ?2 WHERE name = ?1",
            params![name, version_id],
        )?;
    }
    Ok(version_id)
}

type RawPaiWorkspace = (i64, String, String, Option<String>, String, String, i64);

fn pai_workspace_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPaiWorkspace> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn list_pai_workspaces(c: &Connection, region: Option<&str>) -> Step<Vec<PaiWorkspaceRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, region, display_name, description, env_types, gmt_create \
         FROM pai_workspace WHERE ?1 IS NULL OR region = ?1 ORDER BY id",
        region.is_some(),
    ))?;
    let raws = stmt
        .query_map([region], pai_workspace_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(
            |(id, name, region, display_name, description, env, gmt_create)| {
                Ok(PaiWorkspaceRecord {
                    id: id.to_string(),
                    name,
                    region,
                    display_name,
                    description,
                    env_types: from_json(&env, "a PAI workspace's env types")?,
                    gmt_create,
                })
            },
        )
        .collect()
}

fn pai_workspace_id(c: &Connection, id: &str) -> Step<i64> {
    let numeric: i64 = id
        .parse()
        .map_err(|_| not_found(format!("PAI workspace `{id}` does not exist")))?;
    c.query_row(
        "SELECT id FROM pai_workspace WHERE id = ?1",
        [numeric],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| not_found(format!("PAI workspace `{id}` does not exist")))
}

fn list_pai_members(c: &Connection, workspace_id: Option<i64>) -> Step<Vec<PaiMemberRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT member_id, workspace_id, user_name, roles, gmt_create FROM pai_member \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, user_name",
        workspace_id.is_some(),
    ))?;
    let raws = stmt
        .query_map([workspace_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(member_id, ws, user, roles, gmt_create)| {
            Ok(PaiMemberRecord {
                member_id,
                workspace_id: ws.to_string(),
                user,
                roles: from_json(&roles, "a PAI member's roles")?,
                gmt_create,
            })
        })
        .collect()
}

fn check_pai_roles(roles: &BTreeSet<String>, what: &str) -> Step<()> {
    if roles.is_empty() {
        return Err(invalid(format!(
            "failed to {what}: a PAI member needs at least one role"
        )));
    }
    if let Some(unknown) = roles.iter().find(|r| !PAI_ROLES.contains(&r.as_str())) {
        return Err(invalid(format!(
            "failed to {what}: `{unknown}` is not a PAI workspace role; known roles: {}",
            PAI_ROLES.join(", ")
        )));
    }
    Ok(())
}

fn list_model_permissions(c: &Connection, ws: Option<&str>) -> Step<Vec<(String, ModelGrant)>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT workspace_id, model, inference, fine_tune, deploy FROM ms_model_permission \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, model",
        ws.is_some(),
    ))?;
    let rows = stmt.query_map([ws], |r| {
        Ok((
            r.get(0)?,
            ModelGrant {
                model: r.get(1)?,
                inference: r.get(2)?,
                fine_tune: r.get(3)?,
                deploy: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn list_model_limits(c: &Connection, ws: Option<&str>) -> Step<Vec<(String, LimitSpec)>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT workspace_id, model, requests, request_period, tokens, usage_period \
         FROM ms_model_limit WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, model",
        ws.is_some(),
    ))?;
    let raws = stmt
        .query_map([ws], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(ws, model, requests, period, tokens, usage)| {
            Ok((
                ws,
                LimitSpec {
                    model,
                    requests: to_u64(requests, "request limit")?,
                    request_period: to_u32(period, "request period")?,
                    tokens: tokens.map(|t| to_u64(t, "token limit")).transpose()?,
                    usage_period: usage.map(|u| to_u32(u, "usage period")).transpose()?,
                },
            ))
        })
        .collect()
}

fn list_members(c: &Connection, ws: Option<&str>) -> Step<Vec<(String, MemberSpec)>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT workspace_id, principal_type, name, administrator, pages FROM ms_member \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, principal_type, name",
        ws.is_some(),
    ))?;
    let raws = stmt
        .query_map([ws], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(ws, kind, name, administrator, pages)| {
            Ok((
                ws,
                MemberSpec {
                    principal: principal_from(&kind, name)?,
                    administrator,
                    pages: from_json(&pages, "a member's page permissions")?,
                },
            ))
        })
        .collect()
}

fn list_users(c: &Connection, name: Option<&str>) -> Step<Vec<RamUserRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, display_name, comments, create_date FROM ram_user \
         WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        name.is_some(),
    ))?;
    let rows = stmt.query_map([name], |r| {
        Ok(RamUserRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            display_name: r.get(2)?,
            comments: r.get(3)?,
            create_date: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn list_groups(c: &Connection, name: Option<&str>) -> Step<Vec<RamGroupRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, comments, create_date FROM ram_group \
         WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        name.is_some(),
    ))?;
    let rows = stmt.query_map([name], |r| {
        Ok(RamGroupRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            comments: r.get(2)?,
            create_date: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn list_group_members(c: &Connection, group: Option<&str>) -> Step<Vec<GroupMemberRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT group_name, user_name, join_date FROM ram_group_member \
         WHERE ?1 IS NULL OR group_name = ?1 ORDER BY group_name, user_name",
        group.is_some(),
    ))?;
    let rows = stmt.query_map([group], |r| {
        Ok(GroupMemberRecord {
            group: r.get(0)?,
            user: r.get(1)?,
            join_date: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn list_roles(c: &Connection, name: Option<&str>) -> Step<Vec<RamRoleRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, description, trust_policy, max_session_duration, create_date \
         FROM ram_role WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        name.is_some(),
    ))?;
    let raws = stmt
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(id, name, description, trust, max, create_date)| {
            Ok(RamRoleRecord {
                id,
                name,
                description,
                trust_policy: from_json(&trust, "a role's trust policy")?,
                max_session_duration: to_u32(max, "max session duration")?,
                create_date,
            })
        })
        .collect()
}

fn list_policies(c: &Connection, name: Option<&str>) -> Step<Vec<PolicyRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT p.name, p.description, p.default_version, v.document, p.create_date, \
         p.update_date FROM ram_policy p JOIN ram_policy_version v \
         ON v.policy_name = p.name AND v.version_id = p.default_version \
         WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name",
        name.is_some(),
    ))?;
    let raws = stmt
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(
            |(name, description, default_version, doc, create_date, update_date)| {
                Ok(PolicyRecord {
                    name,
                    description,
                    default_version,
                    document: from_json(&doc, "a policy document")?,
                    create_date,
                    update_date,
                })
            },
        )
        .collect()
}

fn list_attachments(c: &Connection) -> Step<Vec<AttachmentRecord>> {
    let mut stmt = c.prepare(
        "SELECT principal_type, principal_name, policy_name, policy_type, attach_date \
         FROM ram_attachment ORDER BY principal_type, principal_name, policy_name",
    )?;
    let raws = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(kind, name, policy, policy_type, attach_date)| {
            Ok(AttachmentRecord {
                principal: principal_from(&kind, name)?,
                policy,
                policy_type: policy_type_from(&policy_type)?,
                attach_date,
            })
        })
        .collect()
}

/// The platform model in one SQLite database.
pub struct Store {
    conn: Connection,
    /// The database file as shown in messages (`:memory:` for in-memory stores).
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed, with parent directories and schema) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, BackendError> {
        Self::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Like [`Store::open`], waiting at most `busy_timeout` for another process's lock.
    pub fn open_with_timeout(
        path: impl AsRef<Path>,
        busy_timeout: Duration,
    ) -> Result<Store, BackendError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent).map_err(|e| {
                BackendError::Transport(format!(
                    "failed to create directory `{}` for state database `{shown}`: {e}\n\
                     hint: check that the parent directory is writable",
                    parent.display()
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| {
            BackendError::Transport(format!(
                "failed to open state database `{shown}`: {e}\n\
                 hint: check that the path names a writable file, not a directory"
            ))
        })?;
        Self::init(conn, shown, busy_timeout)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Store, BackendError> {
        let conn = Connection::open_in_memory().map_err(|e| {
            BackendError::Transport(format!("failed to open in-memory state database: {e}"))
        })?;
        Self::init(conn, ":memory:".to_string(), DEFAULT_BUSY_TIMEOUT)
    }

    fn init(conn: Connection, path: String, busy_timeout: Duration) -> Result<Store, BackendError> {
        let mut store = Store { conn, path };
        let setup = |c: &Connection| -> Step<()> {
            // The timeout comes first: switching to WAL itself may wait for another process.
            c.busy_timeout(busy_timeout)?;
            let _mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            // NORMAL is durable enough in WAL mode: a crash may lose the last commit, never
            // corrupt the file.
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        };
        setup(&store.conn).map_err(|e| match e {
            Fail::Sql(ref sql)
                if !matches!(
                    sql.sqlite_error_code(),
                    Some(
                        ErrorCode::DatabaseBusy
                            | ErrorCode::DatabaseLocked
                            | ErrorCode::NotADatabase
                    )
                ) =>
            {
                BackendError::Transport(format!(
                    "failed to open state database `{}`: {sql}\n\
                     hint: check that the path names a writable file, not a directory",
                    store.path
                ))
            }
            other => finish(&store.path, "open the state database", other),
        })?;
        store.migrate()?;
        Ok(store)
    }

    /// Brings the schema up to [`SCHEMA_VERSION`], seeding default workspaces on creation.
    fn migrate(&mut self) -> Result<(), BackendError> {
        let path = self.path.clone();
        self.write("prepare the schema", |c| {
            let version: u32 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                return Err(invalid(format!(
                    "state database `{path}` has schema version {version}, newer than this \
                     msctl understands ({SCHEMA_VERSION})\nhint: upgrade msctl"
                )));
            }
            for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                c.execute_batch(sql)?;
                if from == 0 {
                    let now = now_ms();
                    for region in MODEL_STUDIO_REGIONS {
                        let id = format!("ws-{}", random_hex(c, 8)?);
                        c.execute(
                            "INSERT INTO ms_workspace (id, name, region, is_default, gmt_create) \
                             VALUES (?1, ?2, ?3, 1, ?4)",
                            params![id, default_workspace_name(region), region, now],
                        )?;
                    }
                    c.execute(
                        "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
                        [now.to_string()],
                    )?;
                }
            }
            if version < SCHEMA_VERSION {
                c.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(())
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it succeeds, rolled back if not.
    fn write<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Step<T>,
    ) -> Result<T, BackendError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| finish(&self.path, what, e.into()))?;
        let out = f(&tx).map_err(|e| finish(&self.path, what, e))?;
        tx.commit()
            .map_err(|e| finish(&self.path, what, e.into()))?;
        Ok(out)
    }

    /// Runs `f` in one read transaction, so it sees a single consistent snapshot.
    fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> Step<T>,
    ) -> Result<T, BackendError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| finish(&self.path, what, e.into()))?;
        let out = f(&tx).map_err(|e| finish(&self.path, what, e))?;
        tx.commit()
            .map_err(|e| finish(&self.path, what, e.into()))?;
        Ok(out)
    }

    /// The database file, as shown in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw connection, for out-of-band changes in tests and for diagnostics.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn schema_version(&self) -> Result<u32, BackendError> {
        self.read("read the schema version", |c| {
            Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)
        })
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.read(&format!("read meta `{key}`"), |c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        self.write(&format!("write meta `{key}`"), |c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    // ---- Model Studio workspaces -------------------------------------------------------------

    /// Creates a sub-workspace and returns its id (`ws-…`).
    pub fn create_workspace(&mut self, name: &str, region: &str) -> Result<String, BackendError> {
        let what = format!("create workspace `{name}`");
        self.write(&what, |c| {
            if !MODEL_STUDIO_REGIONS.contains(&region) {
                return Err(invalid(format!(
                    "failed to {what}: `{region}` is not a Model Studio region; known regions: {}",
                    MODEL_STUDIO_REGIONS.join(", ")
                )));
            }
            if name.is_empty() {
                return Err(invalid(format!("failed to {what}: the name is empty")));
            }
            if let Some(existing) = find_workspace_by_name(c, name)? {
                return Err(conflict(format!(
                    "failed to {what}: a workspace with that name already exists (`{}` in `{}`)",
                    existing.id, existing.region
                )));
            }
            let id = loop {
                let id = format!("ws-{}", random_hex(c, 8)?);
                let taken = c
                    .query_row(
                        "SELECT 1 FROM ms_workspace WHERE id = ?1",
                        [&id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !taken {
                    break id;
                }
            };
            c.execute(
                "INSERT INTO ms_workspace (id, name, region, is_default, gmt_create) \
                 VALUES (?1, ?2, ?3, 0, ?4)",
                params![id, name, region, now_ms()],
            )?;
            Ok(id)
        })
    }

    pub fn workspace(&self, id: &str) -> Result<WorkspaceRecord, BackendError> {
        self.read(&format!("read workspace `{id}`"), |c| {
            workspace_by_id(c, id)
        })
    }

    pub fn workspace_by_name(&self, name: &str) -> Result<WorkspaceRecord, BackendError> {
        self.read(&format!("read workspace `{name}`"), |c| {
            workspace_by_name(c, name)
        })
    }

    pub fn default_workspace(&self, region: &str) -> Result<WorkspaceRecord, BackendError> {
        self.workspace_by_name(&default_workspace_name(region))
    }

    /// Workspaces of one region, or of all regions; default ones first.
    pub fn list_workspaces(
        &self,
        region: Option<&str>,
    ) -> Result<Vec<WorkspaceRecord>, BackendError> {
        self.read("list workspaces", |c| list_workspaces(c, region))
    }

    /// Deletes a sub-workspace with its permissions, limits and members; refused while it has
    /// API keys, and always for a default workspace.
    pub fn delete_workspace(&mut self, id: &str) -> Result<(), BackendError> {
        let what = format!("delete workspace `{id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, id)?;
            if ws.is_default {
                return Err(refused(format!(
                    "failed to delete workspace `{}`: it is the default workspace of `{}`, which \
                     the platform creates and never deletes",
                    ws.name, ws.region
                )));
            }
            let keys: i64 = c.query_row(
                "SELECT count(*) FROM ms_api_key WHERE workspace_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            if keys > 0 {
                return Err(refused(format!(
                    "failed to delete workspace `{}`: it still has {keys} API key(s) (the \
                     platform says: \"API Key exists. Please clear them first.\")\n\
                     hint: delete the workspace's API keys first",
                    ws.name
                )));
            }
            c.execute("DELETE FROM ms_workspace WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    // ---- Model permissions and limits --------------------------------------------------------

    /// Sets what a sub-workspace may do with models, in one transaction; refused on a default one.
    pub fn set_model_permissions(
        &mut self,
        workspace_id: &str,
        grants: &[ModelGrant],
        mode: WriteMode,
    ) -> Result<(), BackendError> {
        let what = format!("set model permissions of workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            for grant in grants {
                let what = format!(
                    "set permission for model `{}` in workspace `{}`",
                    grant.model, ws.name
                );
                check_sub_workspace(&ws, &what, "model permissions")?;
                let exists = c
                    .query_row(
                        "SELECT 1 FROM ms_model_permission WHERE workspace_id = ?1 AND model = ?2",
                        params![ws.id, grant.model],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                match (mode, exists) {
                    (WriteMode::Create, true) => {
                        return Err(conflict(format!(
                            "failed to {what}: the permission already exists"
                        )));
                    }
                    (WriteMode::Update, false) => {
                        return Err(not_found(format!(
                            "failed to {what}: the workspace has no permission for that model"
                        )));
                    }
                    _ => {}
                }
                c.execute(
                    "INSERT INTO ms_model_permission (workspace_id, model, inference, fine_tune, \
                     deploy) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (workspace_id, model) DO \
                     UPDATE SET inference = excluded.inference, fine_tune = excluded.fine_tune, \
                     deploy = excluded.deploy",
                    params![
                        ws.id,
                        grant.model,
                        grant.inference,
                        grant.fine_tune,
                        grant.deploy
                    ],
                )?;
            }
            Ok(())
        })
    }

    pub fn delete_model_permission(
        &mut self,
        workspace_id: &str,
        model: &str,
    ) -> Result<(), BackendError> {
        let what = format!("delete permission for model `{model}` in workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            check_sub_workspace(&ws, &what, "model permissions")?;
            let n = c.execute(
                "DELETE FROM ms_model_permission WHERE workspace_id = ?1 AND model = ?2",
                params![ws.id, model],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: workspace `{}` has no permission for that model",
                    ws.name
                )));
            }
            Ok(())
        })
    }

    /// Model permissions of one workspace, or of all (with their workspace ids).
    pub fn list_model_permissions(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<(String, ModelGrant)>, BackendError> {
        self.read("list model permissions", |c| {
            list_model_permissions(c, workspace_id)
        })
    }

    /// Sets a sub-workspace's limit for a model it authorizes for inference.
    pub fn set_model_limit(
        &mut self,
        workspace_id: &str,
        limit: &LimitSpec,
        mode: WriteMode,
    ) -> Result<(), BackendError> {
        let what = format!(
            "set limit for model `{}` in workspace `{workspace_id}`",
            limit.model
        );
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let what = format!(
                "set limit for model `{}` in workspace `{}`",
                limit.model, ws.name
            );
            check_sub_workspace(&ws, &what, "rate limits")?;
            if limit.tokens.is_some() != limit.usage_period.is_some() {
                return Err(invalid(format!(
                    "failed to {what}: a token limit needs a usage period and the other way round"
                )));
            }
            if limit.request_period == 0 || limit.usage_period == Some(0) {
                return Err(invalid(format!(
                    "failed to {what}: limit periods must be at least 1 second"
                )));
            }
            check_inference(c, &ws, &limit.model, &what)?;
            let exists = c
                .query_row(
                    "SELECT 1 FROM ms_model_limit WHERE workspace_id = ?1 AND model = ?2",
                    params![ws.id, limit.model],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            match (mode, exists) {
                (WriteMode::Create, true) => {
                    return Err(conflict(format!(
                        "failed to {what}: the limit already exists"
                    )));
                }
                (WriteMode::Update, false) => {
                    return Err(not_found(format!(
                        "failed to {what}: the workspace has no limit for that model"
                    )));
                }
                _ => {}
            }
            let requests = to_i64(limit.requests, "request limit")?;
            let tokens = limit.tokens.map(|t| to_i64(t, "token limit")).transpose()?;
            c.execute(
                "INSERT INTO ms_model_limit (workspace_id, model, requests, request_period, \
                 tokens, usage_period) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (workspace_id, model) DO UPDATE SET requests = excluded.requests, \
                 request_period = excluded.request_period, tokens = excluded.tokens, \
                 usage_period = excluded.usage_period",
                params![
                    ws.id,
                    limit.model,
                    requests,
                    limit.request_period,
                    tokens,
                    limit.usage_period
                ],
            )?;
            Ok(())
        })
    }

    /// Removes a workspace's limit for a model (back to the account-level limit).
    pub fn delete_model_limit(
        &mut self,
        workspace_id: &str,
        model: &str,
    ) -> Result<(), BackendError> {
        let what = format!("delete limit for model `{model}` in workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let n = c.execute(
                "DELETE FROM ms_model_limit WHERE workspace_id = ?1 AND model = ?2",
                params![ws.id, model],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: workspace `{}` has no limit for that model",
                    ws.name
                )));
            }
            Ok(())
        })
    }

    pub fn list_model_limits(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<(String, LimitSpec)>, BackendError> {
        self.read("list model limits", |c| list_model_limits(c, workspace_id))
    }

    // ---- Workspace members -------------------------------------------------------------------

    /// Adds a RAM user or role to a workspace; the user's keys disabled by an earlier removal
    /// come back.
    pub fn add_member(
        &mut self,
        workspace_id: &str,
        member: &MemberSpec,
    ) -> Result<(), BackendError> {
        let what = format!("add {} to workspace `{workspace_id}`", member.principal);
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let what = format!("add {} to workspace `{}`", member.principal, ws.name);
            if let Principal::Group(_) = member.principal {
                return Err(invalid(format!(
                    "failed to {what}: workspace members are RAM users or roles, not groups"
                )));
            }
            if is_member(c, &ws.id, &member.principal)? {
                return Err(conflict(format!("failed to {what}: already a member")));
            }
            c.execute(
                "INSERT INTO ms_member (workspace_id, principal_type, name, administrator, pages) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    ws.id,
                    member.principal.kind(),
                    member.principal.name(),
                    member.administrator,
                    to_json(&member.pages)?
                ],
            )?;
            if let Principal::User(user) = &member.principal {
                c.execute(
                    "UPDATE ms_api_key SET enabled = 1, disabled_reason = NULL \
                     WHERE workspace_id = ?1 AND owner = ?2 AND disabled_reason = 'member_removed'",
                    params![ws.id, user],
                )?;
            }
            Ok(())
        })
    }

    /// Changes a member's role and page permissions.
    pub fn update_member(
        &mut self,
        workspace_id: &str,
        member: &MemberSpec,
    ) -> Result<(), BackendError> {
        let what = format!("update {} in workspace `{workspace_id}`", member.principal);
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let n = c.execute(
                "UPDATE ms_member SET administrator = ?4, pages = ?5 \
                 WHERE workspace_id = ?1 AND principal_type = ?2 AND name = ?3",
                params![
                    ws.id,
                    member.principal.kind(),
                    member.principal.name(),
                    member.administrator,
                    to_json(&member.pages)?
                ],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to update {} in workspace `{}`: not a member",
                    member.principal, ws.name
                )));
            }
            Ok(())
        })
    }

    /// Removes a member; a removed user's enabled keys in that workspace are disabled.
    pub fn remove_member(
        &mut self,
        workspace_id: &str,
        principal: &Principal,
    ) -> Result<(), BackendError> {
        let what = format!("remove {principal} from workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let n = c.execute(
                "DELETE FROM ms_member WHERE workspace_id = ?1 AND principal_type = ?2 AND name = ?3",
                params![ws.id, principal.kind(), principal.name()],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to remove {principal} from workspace `{}`: not a member",
                    ws.name
                )));
            }
            if let Principal::User(user) = principal {
                c.execute(
                    "UPDATE ms_api_key SET enabled = 0, disabled_reason = 'member_removed' \
                     WHERE workspace_id = ?1 AND owner = ?2 AND enabled = 1",
                    params![ws.id, user],
                )?;
            }
            Ok(())
        })
    }

    pub fn list_members(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<(String, MemberSpec)>, BackendError> {
        self.read("list workspace members", |c| list_members(c, workspace_id))
    }

    // ---- API keys ----------------------------------------------------------------------------

    /// Creates a key and returns its id and secret; only the secret's hash is kept.
    pub fn create_api_key(&mut self, key: &NewApiKey) -> Result<IssuedApiKey, BackendError> {
        let what = format!("create api key `{}`", key.name);
        self.write(&what, |c| {
            let ws = workspace_by_id(c, &key.workspace_id)?;
            let what = format!("create api key `{}` in workspace `{}`", key.name, ws.name);
            if key.name.is_empty() || key.owner.is_empty() {
                return Err(invalid(format!(
                    "failed to {what}: a key needs a name and an owner"
                )));
            }
            if find_key_by_name(c, &ws.id, &key.name)?.is_some() {
                return Err(conflict(format!(
                    "failed to {what}: the workspace already has a key with that name"
                )));
            }
            check_key_auth(c, &ws, key.models.as_ref(), &key.ip_allow, &what)?;
            let secret = new_secret(c)?;
            let models = key.models.as_ref().map(to_json).transpose()?;
            c.execute(
                "INSERT INTO ms_api_key (workspace_id, name, owner, description, models, \
                 ip_allow, enabled, disabled_reason, secret_sha256, secret_preview, gmt_create) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    ws.id,
                    key.name,
                    key.owner,
                    key.description,
                    models,
                    to_json(&key.ip_allow)?,
                    key.enabled,
                    (!key.enabled).then_some(DisabledReason::Manual.as_str()),
                    sha256_hex(&secret),
                    mask_secret(&secret),
                    now_ms()
                ],
            )?;
            Ok(IssuedApiKey {
                id: c.last_insert_rowid(),
                secret,
            })
        })
    }

    pub fn api_key(&self, id: i64) -> Result<ApiKeyRecord, BackendError> {
        self.read(&format!("read api key {id}"), |c| key_by_id(c, id))
    }

    pub fn api_key_by_name(
        &self,
        workspace_id: &str,
        name: &str,
    ) -> Result<ApiKeyRecord, BackendError> {
        self.read(&format!("read api key `{name}`"), |c| {
            find_key_by_name(c, workspace_id, name)?.ok_or_else(|| {
                not_found(format!(
                    "api key `{name}` does not exist in workspace `{workspace_id}`"
                ))
            })
        })
    }

    /// The key whose secret is `secret`, if any (compared by hash).
    pub fn api_key_by_secret(&self, secret: &str) -> Result<Option<ApiKeyRecord>, BackendError> {
        self.read("look up an api key", |c| {
            let sql = format!("SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE secret_sha256 = ?1");
            c.query_row(&sql, [sha256_hex(secret)], raw_key_row)
                .optional()?
                .map(key_from_raw)
                .transpose()
        })
    }

    pub fn list_api_keys(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>, BackendError> {
        self.read("list api keys", |c| list_keys(c, workspace_id))
    }

    /// Replaces a key's description and `auth` (models, IPs), optionally enabling or disabling it.
    pub fn update_api_key(&mut self, id: i64, change: &ApiKeyChange) -> Result<(), BackendError> {
        self.write(&format!("update api key {id}"), |c| {
            let key = key_by_id(c, id)?;
            let ws = workspace_by_id(c, &key.workspace_id)?;
            let what = format!("update api key `{}` in workspace `{}`", key.name, ws.name);
            check_key_auth(c, &ws, change.models.as_ref(), &change.ip_allow, &what)?;
            let models = change.models.as_ref().map(to_json).transpose()?;
            c.execute(
                "UPDATE ms_api_key SET description = ?2, models = ?3, ip_allow = ?4 WHERE id = ?1",
                params![id, change.description, models, to_json(&change.ip_allow)?],
            )?;
            if let Some(enabled) = change.enabled {
                set_key_enabled(c, &key, enabled, &what)?;
            }
            Ok(())
        })
    }

    /// Enables a key; refused while a rule (owner removed or deleted) keeps it disabled.
    pub fn enable_api_key(&mut self, id: i64) -> Result<(), BackendError> {
        let what = format!("enable api key {id}");
        self.write(&what, |c| {
            let key = key_by_id(c, id)?;
            set_key_enabled(c, &key, true, &what)
        })
    }

    pub fn disable_api_key(&mut self, id: i64) -> Result<(), BackendError> {
        let what = format!("disable api key {id}");
        self.write(&what, |c| {
            let key = key_by_id(c, id)?;
            set_key_enabled(c, &key, false, &what)
        })
    }

    /// Replaces a key's secret and returns the new one.
    pub fn reset_api_key(&mut self, id: i64) -> Result<IssuedApiKey, BackendError> {
        self.write(&format!("reset api key {id}"), |c| {
            key_by_id(c, id)?;
            let secret = new_secret(c)?;
            c.execute(
                "UPDATE ms_api_key SET secret_sha256 = ?2, secret_preview = ?3 WHERE id = ?1",
                params![id, sha256_hex(&secret), mask_secret(&secret)],
            )?;
            Ok(IssuedApiKey { id, secret })
        })
    }

    pub fn delete_api_key(&mut self, id: i64) -> Result<(), BackendError> {
        self.write(&format!("delete api key {id}"), |c| {
            key_by_id(c, id)?;
            c.execute("DELETE FROM ms_api_key WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    // ---- RAM users, groups, roles ------------------------------------------------------------

    /// Creates a RAM user and returns its numeric id.
    pub fn create_user(&mut self, user: &RamUser) -> Result<String, BackendError> {
        let what = format!("create RAM user `{}`", user.name);
        self.write(&what, |c| {
            check_ram_name("user", &user.name, 64, "._-")?;
            if user_exists(c, &user.name)? {
                return Err(conflict(format!(
                    "failed to {what}: the user already exists (EntityAlreadyExists.User)"
                )));
            }
            let id = random_numeric_id(c)?;
            c.execute(
                "INSERT INTO ram_user (name, id, display_name, comments, create_date) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user.name, id, user.display_name, user.comments, now_ms()],
            )?;
            Ok(id)
        })
    }

    pub fn update_user(&mut self, user: &RamUser) -> Result<(), BackendError> {
        self.write(&format!("update RAM user `{}`", user.name), |c| {
            let n = c.execute(
                "UPDATE ram_user SET display_name = ?2, comments = ?3 WHERE name = ?1",
                params![user.name, user.display_name, user.comments],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "RAM user `{}` does not exist (EntityNotExist.User)",
                    user.name
                )));
            }
            Ok(())
        })
    }

    /// Deletes a RAM user: refused while in groups or holding policies; otherwise their API
    /// keys are disabled for good and their memberships (Model Studio, PAI) go away.
    pub fn delete_user(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete RAM user `{name}`");
        self.write(&what, |c| {
            if !user_exists(c, name)? {
                return Err(not_found(format!(
                    "failed to {what}: the user does not exist (EntityNotExist.User)"
                )));
            }
            let groups: Vec<String> = list_group_members(c, None)?
                .into_iter()
                .filter(|m| m.user == name)
                .map(|m| m.group)
                .collect();
            if !groups.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the user is still in group(s) {} \
                     (DeleteConflict.User.Group)\nhint: remove the user from every group first",
                    groups.join(", ")
                )));
            }
            let policies = attachments_of(c, &Principal::User(name.to_string()))?;
            if !policies.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the user still holds polic(ies) {} \
                     (DeleteConflict.User.Policy)\nhint: detach every policy first",
                    policies.join(", ")
                )));
            }
            c.execute(
                "UPDATE ms_api_key SET enabled = 0, disabled_reason = 'owner_deleted' \
                 WHERE owner = ?1",
                [name],
            )?;
            c.execute(
                "DELETE FROM ms_member WHERE principal_type = 'user' AND name = ?1",
                [name],
            )?;
            c.execute("DELETE FROM pai_member WHERE user_name = ?1", [name])?;
            c.execute("DELETE FROM ram_user WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn list_users(&self) -> Result<Vec<RamUserRecord>, BackendError> {
        self.read("list RAM users", |c| list_users(c, None))
    }

    /// One RAM user, by an indexed lookup.
    pub fn user(&self, name: &str) -> Result<RamUserRecord, BackendError> {
        self.read(&format!("read RAM user `{name}`"), |c| {
            list_users(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "RAM user `{name}` does not exist (EntityNotExist.User)"
                    ))
                })
        })
    }

    pub fn create_group(&mut self, group: &RamGroup) -> Result<String, BackendError> {
        let what = format!("create RAM group `{}`", group.name);
        self.write(&what, |c| {
            check_ram_name("group", &group.name, 64, "._-")?;
            if principal_exists(c, &Principal::Group(group.name.clone()))? {
                return Err(conflict(format!(
                    "failed to {what}: the group already exists (EntityAlreadyExists.Group)"
                )));
            }
            let id = random_numeric_id(c)?;
            c.execute(
                "INSERT INTO ram_group (name, id, comments, create_date) VALUES (?1, ?2, ?3, ?4)",
                params![group.name, id, group.comments, now_ms()],
            )?;
            Ok(id)
        })
    }

    pub fn update_group(&mut self, group: &RamGroup) -> Result<(), BackendError> {
        self.write(&format!("update RAM group `{}`", group.name), |c| {
            let n = c.execute(
                "UPDATE ram_group SET comments = ?2 WHERE name = ?1",
                params![group.name, group.comments],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "RAM group `{}` does not exist (EntityNotExist.Group)",
                    group.name
                )));
            }
            Ok(())
        })
    }

    /// Deletes an empty group without policies.
    pub fn delete_group(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete RAM group `{name}`");
        self.write(&what, |c| {
            if !principal_exists(c, &Principal::Group(name.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the group does not exist (EntityNotExist.Group)"
                )));
            }
            if !list_group_members(c, Some(name))?.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the group still has members (DeleteConflict.Group.User)\n\
                     hint: remove its members first"
                )));
            }
            if !attachments_of(c, &Principal::Group(name.to_string()))?.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the group still holds policies \
                     (DeleteConflict.Group.Policy)\nhint: detach its policies first"
                )));
            }
            c.execute("DELETE FROM ram_group WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn list_groups(&self) -> Result<Vec<RamGroupRecord>, BackendError> {
        self.read("list RAM groups", |c| list_groups(c, None))
    }

    /// One RAM group, by an indexed lookup.
    pub fn group(&self, name: &str) -> Result<RamGroupRecord, BackendError> {
        self.read(&format!("read RAM group `{name}`"), |c| {
            list_groups(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "RAM group `{name}` does not exist (EntityNotExist.Group)"
                    ))
                })
        })
    }

    pub fn add_user_to_group(&mut self, group: &str, user: &str) -> Result<(), BackendError> {
        let what = format!("add RAM user `{user}` to group `{group}`");
        self.write(&what, |c| {
            if !principal_exists(c, &Principal::Group(group.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the group does not exist (EntityNotExist.Group)"
                )));
            }
            if !user_exists(c, user)? {
                return Err(not_found(format!(
                    "failed to {what}: the user does not exist (EntityNotExist.User)"
                )));
            }
            let joined = c
                .query_row(
                    "SELECT 1 FROM ram_group_member WHERE group_name = ?1 AND user_name = ?2",
                    params![group, user],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if joined {
                return Err(conflict(format!(
                    "failed to {what}: the user has already joined the group \
                     (EntityAlreadyExists.User.Group)"
                )));
            }
            c.execute(
                "INSERT INTO ram_group_member (group_name, user_name, join_date) \
                 VALUES (?1, ?2, ?3)",
                params![group, user, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn remove_user_from_group(&mut self, group: &str, user: &str) -> Result<(), BackendError> {
        let what = format!("remove RAM user `{user}` from group `{group}`");
        self.write(&what, |c| {
            let n = c.execute(
                "DELETE FROM ram_group_member WHERE group_name = ?1 AND user_name = ?2",
                params![group, user],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: the user is not in the group (EntityNotExist.User.Group)"
                )));
            }
            Ok(())
        })
    }

    /// Group memberships of one group, or of all groups.
    pub fn list_group_members(
        &self,
        group: Option<&str>,
    ) -> Result<Vec<GroupMemberRecord>, BackendError> {
        self.read("list RAM group members", |c| list_group_members(c, group))
    }

    pub fn create_role(&mut self, role: &RamRole) -> Result<String, BackendError> {
        let what = format!("create RAM role `{}`", role.name);
        self.write(&what, |c| {
            check_ram_name("role", &role.name, 64, ".-")?;
            let trust = check_role(role)?;
            if principal_exists(c, &Principal::Role(role.name.clone()))? {
                return Err(conflict(format!(
                    "failed to {what}: the role already exists (EntityAlreadyExists.Role)"
                )));
            }
            let id = random_numeric_id(c)?;
            c.execute(
                "INSERT INTO ram_role (name, id, description, trust_policy, \
                 max_session_duration, create_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    role.name,
                    id,
                    role.description,
                    trust,
                    role.max_session_duration,
                    now_ms()
                ],
            )?;
            Ok(id)
        })
    }

    pub fn update_role(&mut self, role: &RamRole) -> Result<(), BackendError> {
        self.write(&format!("update RAM role `{}`", role.name), |c| {
            let trust = check_role(role)?;
            let n = c.execute(
                "UPDATE ram_role SET description = ?2, trust_policy = ?3, \
                 max_session_duration = ?4 WHERE name = ?1",
                params![
                    role.name,
                    role.description,
                    trust,
                    role.max_session_duration
                ],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "RAM role `{}` does not exist (EntityNotExist.Role)",
                    role.name
                )));
            }
            Ok(())
        })
    }

    /// Deletes a role without policies; its workspace memberships go away with it.
    pub fn delete_role(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete RAM role `{name}`");
        self.write(&what, |c| {
            if !principal_exists(c, &Principal::Role(name.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the role does not exist (EntityNotExist.Role)"
                )));
            }
            if !attachments_of(c, &Principal::Role(name.to_string()))?.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the role still holds policies (DeleteConflict.Role.Policy)\n\
                     hint: detach its policies first"
                )));
            }
            c.execute(
                "DELETE FROM ms_member WHERE principal_type = 'role' AND name = ?1",
                [name],
            )?;
            c.execute("DELETE FROM ram_role WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn list_roles(&self) -> Result<Vec<RamRoleRecord>, BackendError> {
        self.read("list RAM roles", |c| list_roles(c, None))
    }

    /// One RAM role, by an indexed lookup.
    pub fn role(&self, name: &str) -> Result<RamRoleRecord, BackendError> {
        self.read(&format!("read RAM role `{name}`"), |c| {
            list_roles(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "RAM role `{name}` does not exist (EntityNotExist.Role)"
                    ))
                })
        })
    }

    // ---- RAM policies and attachments --------------------------------------------------------

    /// Creates a custom policy with its first version `v1` as the default.
    pub fn create_policy(&mut self, policy: &RamPolicy) -> Result<(), BackendError> {
        let what = format!("create policy `{}`", policy.name);
        self.write(&what, |c| {
            check_ram_name("policy", &policy.name, 128, "-")?;
            if is_system_policy(&policy.name) || custom_policy_exists(c, &policy.name)? {
                return Err(conflict(format!(
                    "failed to {what}: a policy with that name already exists \
                     (EntityAlreadyExists.Policy)"
                )));
            }
            let now = now_ms();
            c.execute(
                "INSERT INTO ram_policy (name, description, default_version, next_version, \
                 create_date, update_date) VALUES (?1, ?2, 'v1', 1, ?3, ?3)",
                params![policy.name, policy.description, now],
            )?;
            add_policy_version(c, &policy.name, &policy.document, true, false)?;
            Ok(())
        })
    }

    /// Updates a custom policy's description and, when the document changed, adds it as the new
    /// default version (rotating out the oldest non-default version at the limit).
    pub fn update_policy(&mut self, policy: &RamPolicy) -> Result<(), BackendError> {
        let what = format!("update policy `{}`", policy.name);
        self.write(&what, |c| {
            let current = list_policies(c, Some(&policy.name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "failed to {what}: custom policy `{}` does not exist \
                         (EntityNotExist.Policy)",
                        policy.name
                    ))
                })?;
            c.execute(
                "UPDATE ram_policy SET description = ?2, update_date = ?3 WHERE name = ?1",
                params![policy.name, policy.description, now_ms()],
            )?;
            if current.document != policy.document {
                add_policy_version(c, &policy.name, &policy.document, true, true)?;
            }
            Ok(())
        })
    }

    /// Adds a version, as RAM's CreatePolicyVersion; `rotate` is its
    /// `DeleteOldestNonDefaultVersionWhenLimitExceeded` strategy.
    pub fn create_policy_version(
        &mut self,
        name: &str,
        document: &Value,
        set_as_default: bool,
        rotate: bool,
    ) -> Result<String, BackendError> {
        self.write(&format!("add a version to policy `{name}`"), |c| {
            add_policy_version(c, name, document, set_as_default, rotate)
        })
    }

    pub fn set_default_policy_version(
        &mut self,
        name: &str,
        version_id: &str,
    ) -> Result<(), BackendError> {
        let what = format!("set the default version of policy `{name}`");
        self.write(&what, |c| {
            if !policy_versions(c, name)?
                .iter()
                .any(|v| v.version_id == version_id)
            {
                return Err(not_found(format!(
                    "failed to {what}: version `{version_id}` does not exist \
                     (EntityNotExist.Policy.Version)"
                )));
            }
            c.execute(
                "UPDATE ram_policy SET default_version = ?2, update_date = ?3 WHERE name = ?1",
                params![name, version_id, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn delete_policy_version(
        &mut self,
        name: &str,
        version_id: &str,
    ) -> Result<(), BackendError> {
        let what = format!("delete version `{version_id}` of policy `{name}`");
        self.write(&what, |c| {
            let versions = policy_versions(c, name)?;
            let version = versions
                .iter()
                .find(|v| v.version_id == version_id)
                .ok_or_else(|| {
                    not_found(format!(
                        "failed to {what}: no such version (EntityNotExist.Policy.Version)"
                    ))
                })?;
            if version.is_default {
                return Err(conflict(format!(
                    "failed to {what}: it is the default version \
                     (DeleteConflict.Policy.Version.Default)"
                )));
            }
            c.execute(
                "DELETE FROM ram_policy_version WHERE policy_name = ?1 AND version_id = ?2",
                params![name, version_id],
            )?;
            Ok(())
        })
    }

    /// A custom policy's versions, oldest first.
    pub fn list_policy_versions(
        &self,
        name: &str,
    ) -> Result<Vec<PolicyVersionRecord>, BackendError> {
        self.read(&format!("list versions of policy `{name}`"), |c| {
            if !custom_policy_exists(c, name)? {
                return Err(not_found(format!(
                    "custom policy `{name}` does not exist (EntityNotExist.Policy)"
                )));
            }
            policy_versions(c, name)
        })
    }

    pub fn policy(&self, name: &str) -> Result<PolicyRecord, BackendError> {
        self.read(&format!("read policy `{name}`"), |c| {
            list_policies(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "custom policy `{name}` does not exist (EntityNotExist.Policy)"
                    ))
                })
        })
    }

    /// Custom policies (system ones are [`SYSTEM_POLICIES`]).
    pub fn list_policies(&self) -> Result<Vec<PolicyRecord>, BackendError> {
        self.read("list policies", |c| list_policies(c, None))
    }

    /// Deletes a custom policy with all its versions; refused while attached.
    pub fn delete_policy(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete policy `{name}`");
        self.write(&what, |c| {
            if !custom_policy_exists(c, name)? {
                return Err(not_found(format!(
                    "failed to {what}: the custom policy does not exist (EntityNotExist.Policy)"
                )));
            }
            let holders: Vec<String> = list_attachments(c)?
                .into_iter()
                .filter(|a| a.policy == name && a.policy_type == PolicyType::Custom)
                .map(|a| a.principal.to_string())
                .collect();
            if !holders.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: it is still attached to {} (DeleteConflict.Policy.*)\n\
                     hint: detach it first",
                    holders.join(", ")
                )));
            }
            c.execute("DELETE FROM ram_policy WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// Attaches a system or custom policy to a user, group or role; both must exist.
    pub fn attach_policy(
        &mut self,
        principal: &Principal,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<(), BackendError> {
        let what = format!(
            "attach {} policy `{policy}` to {principal}",
            policy_type.as_str()
        );
        self.write(&what, |c| {
            if !principal_exists(c, principal)? {
                return Err(not_found(format!(
                    "failed to {what}: the {} does not exist",
                    principal.kind()
                )));
            }
            let exists = match policy_type {
                PolicyType::System => is_system_policy(policy),
                PolicyType::Custom => custom_policy_exists(c, policy)?,
            };
            if !exists {
                let hint = match policy_type {
                    PolicyType::System if custom_policy_exists(c, policy)? => {
                        "\nhint: it is a custom policy; attach it with policy type `Custom`"
                    }
                    PolicyType::Custom if is_system_policy(policy) => {
                        "\nhint: it is a system policy; attach it with policy type `System`"
                    }
                    PolicyType::System => "\nhint: check the spelling of the system policy name",
                    PolicyType::Custom => "\nhint: create the custom policy first",
                };
                return Err(not_found(format!(
                    "failed to {what}: no {} policy has that name (EntityNotExist.Policy){hint}",
                    policy_type.as_str()
                )));
            }
            if attachments_of(c, principal)?.iter().any(|p| p == policy) {
                return Err(conflict(format!(
                    "failed to {what}: it is already attached \
                     (EntityAlreadyExists.{}.Policy)",
                    capitalised(principal.kind())
                )));
            }
            c.execute(
                "INSERT INTO ram_attachment (principal_type, principal_name, policy_name, \
                 policy_type, attach_date) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    principal.kind(),
                    principal.name(),
                    policy,
                    policy_type.as_str(),
                    now_ms()
                ],
            )?;
            Ok(())
        })
    }

    pub fn detach_policy(
        &mut self,
        principal: &Principal,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<(), BackendError> {
        let what = format!(
            "detach {} policy `{policy}` from {principal}",
            policy_type.as_str()
        );
        self.write(&what, |c| {
            let n = c.execute(
                "DELETE FROM ram_attachment WHERE principal_type = ?1 AND principal_name = ?2 \
                 AND policy_name = ?3 AND policy_type = ?4",
                params![
                    principal.kind(),
                    principal.name(),
                    policy,
                    policy_type.as_str()
                ],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: it is not attached (EntityNotExist.{}.Policy)",
                    capitalised(principal.kind())
                )));
            }
            Ok(())
        })
    }

    pub fn list_attachments(&self) -> Result<Vec<AttachmentRecord>, BackendError> {
        self.read("list policy attachments", list_attachments)
    }

    // ---- PAI workspaces and members ----------------------------------------------------------

    /// Creates a PAI workspace and returns its numeric id.
    pub fn create_pai_workspace(&mut self, ws: &PaiWorkspace) -> Result<String, BackendError> {
        let what = format!("create PAI workspace `{}`", ws.name);
        self.write(&what, |c| {
            let name_ok = (3..=23).contains(&ws.name.chars().count())
                && ws.name.starts_with(|ch: char| ch.is_ascii_alphabetic())
                && ws
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !name_ok {
                return Err(invalid(format!(
                    "failed to {what}: PAI workspace names are 3 to 23 letters, digits and `_`, \
                     starting with a letter"
                )));
            }
            check_pai_description(&ws.description, &what)?;
            let env: Vec<&str> = ws.env_types.iter().map(String::as_str).collect();
            if env != ["prod"] && env != ["dev", "prod"] {
                return Err(invalid(format!(
                    "failed to {what}: env types must be [\"prod\"] (simple mode) or \
                     [\"dev\", \"prod\"] (standard mode)"
                )));
            }
            if list_pai_workspaces(c, None)?
                .iter()
                .any(|w| w.name == ws.name)
            {
                return Err(conflict(format!(
                    "failed to {what}: a PAI workspace with that name already exists"
                )));
            }
            c.execute(
                "INSERT INTO pai_workspace (name, region, display_name, description, env_types, \
                 gmt_create) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    ws.name,
                    ws.region,
                    ws.display_name,
                    ws.description,
                    to_json(&ws.env_types)?,
                    now_ms()
                ],
            )?;
            Ok(c.last_insert_rowid().to_string())
        })
    }

    pub fn update_pai_workspace(
        &mut self,
        id: &str,
        display_name: Option<&str>,
        description: &str,
    ) -> Result<(), BackendError> {
        let what = format!("update PAI workspace `{id}`");
        self.write(&what, |c| {
            let numeric = pai_workspace_id(c, id)?;
            check_pai_description(description, &what)?;
            c.execute(
                "UPDATE pai_workspace SET display_name = ?2, description = ?3 WHERE id = ?1",
                params![numeric, display_name, description],
            )?;
            Ok(())
        })
    }

    pub fn delete_pai_workspace(&mut self, id: &str) -> Result<(), BackendError> {
        self.write(&format!("delete PAI workspace `{id}`"), |c| {
            let numeric = pai_workspace_id(c, id)?;
            c.execute("DELETE FROM pai_workspace WHERE id = ?1", [numeric])?;
            Ok(())
        })
    }

    pub fn pai_workspace_by_name(&self, name: &str) -> Result<PaiWorkspaceRecord, BackendError> {
        self.read(&format!("read PAI workspace `{name}`"), |c| {
            list_pai_workspaces(c, None)?
                .into_iter()
                .find(|w| w.name == name)
                .ok_or_else(|| not_found(format!("PAI workspace `{name}` does not exist")))
        })
    }

    pub fn list_pai_workspaces(
        &self,
        region: Option<&str>,
    ) -> Result<Vec<PaiWorkspaceRecord>, BackendError> {
        self.read("list PAI workspaces", |c| list_pai_workspaces(c, region))
    }

    /// Adds a user to a PAI workspace with built-in roles; returns the member id.
    pub fn create_pai_member(
        &mut self,
        workspace_id: &str,
        user: &str,
        roles: &BTreeSet<String>,
    ) -> Result<String, BackendError> {
        let what = format!("add `{user}` to PAI workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = pai_workspace_id(c, workspace_id)?;
            check_pai_roles(roles, &what)?;
            if list_pai_members(c, Some(ws))?
                .iter()
                .any(|m| m.user == user)
            {
                return Err(conflict(format!("failed to {what}: already a member")));
            }
            let member_id = loop {
                let id = random_numeric_id(c)?;
                let taken = c
                    .query_row(
                        "SELECT 1 FROM pai_member WHERE member_id = ?1",
                        [&id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !taken {
                    break id;
                }
            };
            c.execute(
                "INSERT INTO pai_member (member_id, workspace_id, user_name, roles, gmt_create) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![member_id, ws, user, to_json(roles)?, now_ms()],
            )?;
            Ok(member_id)
        })
    }

    /// Replaces a PAI member's roles.
    pub fn set_pai_member_roles(
        &mut self,
        workspace_id: &str,
        member_id: &str,
        roles: &BTreeSet<String>,
    ) -> Result<(), BackendError> {
        let what = format!("set roles of member `{member_id}` in PAI workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = pai_workspace_id(c, workspace_id)?;
            check_pai_roles(roles, &what)?;
            let n = c.execute(
                "UPDATE pai_member SET roles = ?3 WHERE workspace_id = ?1 AND member_id = ?2",
                params![ws, member_id, to_json(roles)?],
            )?;
            if n == 0 {
                return Err(not_found(format!("failed to {what}: no such member")));
            }
            Ok(())
        })
    }

    pub fn delete_pai_members(
        &mut self,
        workspace_id: &str,
        member_ids: &[&str],
    ) -> Result<(), BackendError> {
        let what = format!("remove members from PAI workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = pai_workspace_id(c, workspace_id)?;
            for member_id in member_ids {
                let n = c.execute(
                    "DELETE FROM pai_member WHERE workspace_id = ?1 AND member_id = ?2",
                    params![ws, member_id],
                )?;
                if n == 0 {
                    return Err(not_found(format!(
                        "failed to {what}: no member `{member_id}`"
                    )));
                }
            }
            Ok(())
        })
    }

    pub fn list_pai_members(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<PaiMemberRecord>, BackendError> {
        self.read("list PAI members", |c| {
            let ws = workspace_id.map(|id| pai_workspace_id(c, id)).transpose()?;
            list_pai_members(c, ws)
        })
    }

    // ---- msctl's ledger ----------------------------------------------------------------------

    /// Records one apply: the commit it applied (if known), a JSON summary and when.
    pub fn record_apply(
        &mut self,
        commit: Option<&str>,
        summary_json: &str,
        time: SystemTime,
    ) -> Result<(), BackendError> {
        self.write("record an apply", |c| {
            from_json::<Value>(summary_json, "the apply summary").map_err(|_| {
                invalid("failed to record an apply: the summary is not valid JSON".to_string())
            })?;
            c.execute(
                "INSERT INTO ledger_apply (commit_id, summary, applied_at) VALUES (?1, ?2, ?3)",
                params![commit, summary_json, to_ms(time)],
            )?;
            Ok(())
        })
    }

    pub fn last_apply(&self) -> Result<Option<ApplyRecord>, BackendError> {
        self.read("read the last apply", |c| {
            Ok(c.query_row(
                "SELECT commit_id, summary, applied_at FROM ledger_apply ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(ApplyRecord {
                        commit: r.get(0)?,
                        summary_json: r.get(1)?,
                        time: from_ms(r.get(2)?),
                    })
                },
            )
            .optional()?)
        })
    }

    /// Writes msctl's ledger in one transaction, so a run killed while recording leaves the old
    /// ledger or the new one, never half of each: `meta` entries, acknowledgements to write
    /// (address, resource JSON) and forget, and a new apply record.
    pub fn write_ledger(&mut self, update: &LedgerUpdate<'_>) -> Result<(), BackendError> {
        self.write("record msctl's ledger", |c| {
            for (key, value) in update.meta {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )?;
            }
            for (address, resource_json) in update.acks {
                from_json::<Value>(resource_json, "the acknowledged resource").map_err(|_| {
                    invalid(format!(
                        "failed to acknowledge `{address}`: the resource is not valid JSON"
                    ))
                })?;
                c.execute(
                    "INSERT INTO ledger_ack (address, resource, acked_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (address) DO UPDATE SET resource = excluded.resource, \
                     acked_at = excluded.acked_at",
                    params![address, resource_json, now_ms()],
                )?;
            }
            for address in update.unacks {
                c.execute("DELETE FROM ledger_ack WHERE address = ?1", [address])?;
            }
            if let Some((commit, summary_json, time)) = update.apply {
                from_json::<Value>(summary_json, "the apply summary").map_err(|_| {
                    invalid("failed to record an apply: the summary is not valid JSON".to_string())
                })?;
                c.execute(
                    "INSERT INTO ledger_apply (commit_id, summary, applied_at) VALUES (?1, ?2, ?3)",
                    params![commit, summary_json, to_ms(time)],
                )?;
            }
            Ok(())
        })
    }

    // ---- msctl's run lock --------------------------------------------------------------------

    /// Takes the run lock for `id` (holder record `holder_json`) unless someone holds it:
    /// `None` when taken, else the holder's `(id, holder JSON)`.
    pub fn try_lock(
        &mut self,
        id: &str,
        holder_json: &str,
    ) -> Result<Option<(String, String)>, BackendError> {
        self.write("take msctl's run lock", |c| {
            let held: Option<(String, String)> = c
                .query_row(
                    "SELECT id, holder FROM msctl_lock WHERE slot = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if held.is_some() {
                return Ok(held);
            }
            c.execute(
                "INSERT INTO msctl_lock (slot, id, holder, locked_at) VALUES (1, ?1, ?2, ?3)",
                params![id, holder_json, now_ms()],
            )?;
            Ok(None)
        })
    }

    /// Removes the run lock if its id is `id`; returns the removed holder's JSON.
    pub fn unlock(&mut self, id: &str) -> Result<Option<String>, BackendError> {
        self.write("release msctl's run lock", |c| {
            let holder: Option<String> = c
                .query_row(
                    "SELECT holder FROM msctl_lock WHERE slot = 1 AND id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            if holder.is_some() {
                c.execute("DELETE FROM msctl_lock WHERE slot = 1 AND id = ?1", [id])?;
            }
            Ok(holder)
        })
    }

    /// The run lock's holder: `(id, holder JSON)`.
    pub fn lock_holder(&self) -> Result<Option<(String, String)>, BackendError> {
        self.read("read msctl's run lock", |c| {
            Ok(c.query_row(
                "SELECT id, holder FROM msctl_lock WHERE slot = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
    }

    /// Records a manual step as done: `resource_json` is the resource as acknowledged.
    pub fn ack(&mut self, address: &str, resource_json: &str) -> Result<(), BackendError> {
        let what = format!("acknowledge `{address}`");
        self.write(&what, |c| {
            from_json::<Value>(resource_json, "the acknowledged resource").map_err(|_| {
                invalid(format!("failed to {what}: the resource is not valid JSON"))
            })?;
            c.execute(
                "INSERT INTO ledger_ack (address, resource, acked_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (address) DO UPDATE SET resource = excluded.resource, \
                 acked_at = excluded.acked_at",
                params![address, resource_json, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Every acknowledged manual step, by address.
    pub fn acked(&self) -> Result<Vec<AckRecord>, BackendError> {
        self.read("read acknowledged steps", |c| {
            let mut stmt =
                c.prepare("SELECT address, resource, acked_at FROM ledger_ack ORDER BY address")?;
            let rows = stmt.query_map([], |r| {
                Ok(AckRecord {
                    address: r.get(0)?,
                    resource_json: r.get(1)?,
                    time: from_ms(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Forgets an acknowledgement; returns whether there was one.
    pub fn unack(&mut self, address: &str) -> Result<bool, BackendError> {
        self.write(&format!("forget acknowledgement of `{address}`"), |c| {
            Ok(c.execute("DELETE FROM ledger_ack WHERE address = ?1", [address])? > 0)
        })
    }

    // ---- Bulk read ---------------------------------------------------------------------------

    /// Every resource in `scope`, read in one snapshot with one query per table.
    pub fn snapshot(&self, scope: &ReadScope) -> Result<State, BackendError> {
        self.read("read live state", |c| {
            let mut state = State::default();
            if !scope.regions.is_empty() {
                read_model_studio(c, &scope.regions, &mut state)?;
            }
            if scope.ram {
                read_ram(c, &mut state)?;
            }
            if !scope.pai_regions.is_empty() {
                let workspaces: HashMap<String, PaiWorkspaceRecord> = list_pai_workspaces(c, None)?
                    .into_iter()
                    .filter(|w| scope.pai_regions.contains(&w.region))
                    .map(|w| (w.id.clone(), w))
                    .collect();
                for m in list_pai_members(c, None)? {
                    if let Some(ws) = workspaces.get(&m.workspace_id) {
                        state.insert(Resource::PaiMember(PaiMember {
                            workspace: ws.name.clone(),
                            user: m.user,
                            roles: m.roles,
                        }));
                    }
                }
                for ws in workspaces.into_values() {
                    state.insert(Resource::PaiWorkspace(PaiWorkspace {
                        name: ws.name,
                        region: ws.region,
                        display_name: ws.display_name,
                        description: ws.description,
                        env_types: ws.env_types,
                    }));
                }
            }
            Ok(state)
        })
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn check_role(role: &RamRole) -> Step<String> {
    if !(3600..=43200).contains(&role.max_session_duration) {
        return Err(invalid(format!(
            "role `{}` has max session duration {} s; RAM allows 3600 to 43200",
            role.name, role.max_session_duration
        )));
    }
    check_document("trust policy", &role.name, &role.trust_policy)
}

fn check_pai_description(description: &str, what: &str) -> Step<()> {
    if description.chars().count() > 80 {
        return Err(invalid(format!(
            "failed to {what}: the description is longer than 80 characters"
        )));
    }
    Ok(())
}

fn read_model_studio(c: &Connection, regions: &BTreeSet<String>, state: &mut State) -> Step<()> {
    let names: HashMap<String, String> = list_workspaces(c, None)?
        .into_iter()
        .filter(|w| regions.contains(&w.region))
        .map(|w| {
            state.insert(Resource::Workspace(Workspace {
                name: w.name.clone(),
                region: w.region,
                default: w.is_default,
            }));
            (w.id, w.name)
        })
        .collect();
    for (ws, g) in list_model_permissions(c, None)? {
        if let Some(name) = names.get(&ws) {
            state.insert(Resource::ModelPermission(ModelPermission {
                workspace: name.clone(),
                model: g.model,
                inference: g.inference,
                fine_tune: g.fine_tune,
                deploy: g.deploy,
            }));
        }
    }
    for (ws, l) in list_model_limits(c, None)? {
        if let Some(name) = names.get(&ws) {
            state.insert(Resource::ModelLimit(ModelLimit {
                workspace: name.clone(),
                model: l.model,
                requests: l.requests,
                request_period: l.request_period,
                tokens: l.tokens,
                usage_period: l.usage_period,
            }));
        }
    }
    for (ws, m) in list_members(c, None)? {
        if let Some(name) = names.get(&ws) {
            state.insert(Resource::Member(Member {
                workspace: name.clone(),
                principal: m.principal,
                administrator: m.administrator,
                pages: m.pages,
            }));
        }
    }
    for k in list_keys(c, None)? {
        if let Some(name) = names.get(&k.workspace_id) {
            state.insert(Resource::ApiKey(ApiKey {
                workspace: name.clone(),
                name: k.name,
                owner: k.owner,
                description: k.description,
                models: k.models,
                ip_allow: k.ip_allow,
                enabled: k.enabled,
            }));
        }
    }
    Ok(())
}

fn read_ram(c: &Connection, state: &mut State) -> Step<()> {
    for u in list_users(c, None)? {
        state.insert(Resource::RamUser(RamUser {
            name: u.name,
            display_name: u.display_name,
            comments: u.comments,
        }));
    }
    for g in list_groups(c, None)? {
        state.insert(Resource::RamGroup(RamGroup {
            name: g.name,
            comments: g.comments,
        }));
    }
    for m in list_group_members(c, None)? {
        state.insert(Resource::GroupMember(GroupMember {
            group: m.group,
            user: m.user,
        }));
    }
    for r in list_roles(c, None)? {
        state.insert(Resource::RamRole(RamRole {
            name: r.name,
            description: r.description,
            trust_policy: r.trust_policy,
            max_session_duration: r.max_session_duration,
        }));
    }
    for p in list_policies(c, None)? {
        state.insert(Resource::RamPolicy(RamPolicy {
            name: p.name,
            description: p.description,
            document: p.document,
        }));
    }
    for a in list_attachments(c)? {
        state.insert(Resource::Attachment(Attachment {
            principal: a.principal,
            policy: a.policy,
            policy_type: a.policy_type,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
