//! Model Studio API keys in the store: secrets kept as hashes, and the rules that disable keys.

use super::*;

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

pub(super) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Masks a secret as the platform's key listing does: a few characters each side.
pub(super) fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 13 {
        return "*****".to_string();
    }
    let head: String = chars[..9].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}*****{tail}")
}

pub(super) fn new_secret(c: &Connection) -> Step<String> {
    Ok(format!("sk-ws-{}", random_hex(c, 16)?))
}

pub(super) const API_KEY_COLUMNS: &str = "id, workspace_id, name, owner, description, models, \
     ip_allow, enabled, disabled_reason, secret_sha256, secret_preview, gmt_create";

pub(super) fn check_key_auth(
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

pub(super) type RawKey = (
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

pub(super) fn raw_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawKey> {
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

pub(super) fn key_from_raw(raw: RawKey) -> Step<ApiKeyRecord> {
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

pub(super) fn list_keys(c: &Connection, workspace_id: Option<&str>) -> Step<Vec<ApiKeyRecord>> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY id"
    );
    let mut stmt = c.prepare(&optional_filter(&sql, workspace_id.is_some()))?;
    let raws = stmt
        .query_map([workspace_id], raw_key_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter().map(key_from_raw).collect()
}

pub(super) fn key_by_id(c: &Connection, id: i64) -> Step<ApiKeyRecord> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE id = ?1");
    let raw = c
        .query_row(&sql, [id], raw_key_row)
        .optional()?
        .ok_or_else(|| not_found(format!("api key {id} does not exist")))?;
    key_from_raw(raw)
}

pub(super) fn find_key_by_name(
    c: &Connection,
    workspace_id: &str,
    name: &str,
) -> Step<Option<ApiKeyRecord>> {
    let sql =
        format!("SELECT {API_KEY_COLUMNS} FROM ms_api_key WHERE workspace_id = ?1 AND name = ?2");
    c.query_row(&sql, params![workspace_id, name], raw_key_row)
        .optional()?
        .map(key_from_raw)
        .transpose()
}

/// Enables or disables a key by hand, honouring the rules that keep rule-disabled keys off.
pub(super) fn set_key_enabled(
    c: &Connection,
    key: &ApiKeyRecord,
    enabled: bool,
    what: &str,
) -> Step<()> {
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

impl Store {
    // ---- API keys ----------------------------------------------------------------------------

    /// Creates a key and returns its id and secret; only the secret's hash is kept.
    pub fn create_api_key(&mut self, key: &NewApiKey) -> Result<IssuedApiKey, BackendError> {
        self.insert_api_key(key, None)
    }

    /// Creates the successor of a rotated key, in one transaction with the predecessor's
    /// renaming to `NAME#ID` (its own id): the platform numbers keys and names are msctl's, so
    /// the store keeps names unique by giving the rotated-out key the address reads show it at
    /// until it is deleted by its id.
    pub fn create_successor_api_key(
        &mut self,
        predecessor: i64,
        key: &NewApiKey,
    ) -> Result<IssuedApiKey, BackendError> {
        self.insert_api_key(key, Some(predecessor))
    }

    fn insert_api_key(
        &mut self,
        key: &NewApiKey,
        predecessor: Option<i64>,
    ) -> Result<IssuedApiKey, BackendError> {
        let what = format!("create api key `{}`", key.name);
        self.write(&what, |c| {
            let ws = workspace_by_id(c, &key.workspace_id)?;
            let what = format!("create api key `{}` in workspace `{}`", key.name, ws.name);
            if key.name.is_empty() || key.owner.is_empty() {
                return Err(invalid(format!(
                    "failed to {what}: a key needs a name and an owner"
                )));
            }
            if let Some(id) = predecessor {
                let renamed = c.execute(
                    "UPDATE ms_api_key SET name = name || '#' || id \
                     WHERE id = ?1 AND workspace_id = ?2 AND name = ?3",
                    params![id, ws.id, key.name],
                )?;
                if renamed != 1 {
                    return Err(not_found(format!(
                        "failed to {what}: api key {id}, the key it succeeds, is not `{}` in \
                         this workspace",
                        key.name
                    )));
                }
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
}
