//! Model Studio 2026-02-10 (contract §1): workspaces, model permissions, model limits, API keys.
//!
//! Mapping decisions, documented in the README ("Running against a real account"):
//! - **Default workspace.** Each region's default workspace is msctl's `default-<region>`. The
//!   listing has no default flag in the contract, so a workspace is the default when the item
//!   carries a truthy `isDefault`/`defaultWorkspace`/`default` field, or is named `default`,
//!   `default-<region>`, `Default Workspace` or `默认业务空间`; failing all of these, the region's
//!   earliest-created workspace is (it is made on activation and can never be deleted, so it
//!   predates every other). Its permissions and limits are not read: it calls every model,
//!   unthrottled, and none of that can be set.
//! - **Key names.** msctl names keys; the platform numbers them. The name travels in the key's
//!   description as `msctl:<name>` followed, when there is one, by a space and the description
//!   (`msctl:chatbot-backend chatbot service`). Reading splits at the first space, so names may
//!   not hold whitespace. Keys without the marker were not made by msctl and are left alone
//!   (neither read nor deleted).
//! - **Key owner.** The API cannot set an owner, and `createdBy` is the caller: the owner read is
//!   the RAM user whose `UserId` is `createdBy`; else what is known about who created it
//!   ([`KeyCreators::owner_of`]: STS `GetCallerIdentity`, `--caller`, the ledger's record of an
//!   earlier apply); else, when nothing names the creator, the owner is unknown
//!   ([`ApiKey::UNKNOWN_OWNER`]), which the differ never compares.
//! - **Key auth.** No model scope and no IP list is `auth.type = All`; anything else is `Custom`
//!   with `allowAllModels` = no model scope. `auth` is always sent complete on updates. The
//!   server's allow-all default (`0.0.0.0/0` and `::/0`) reads back as "no IP list".
//! - **Permissions** are written per model with `accessAllEntities = KEEP` (never the one-click
//!   switch); deleting one sets every flag false. Listing asks for the AUTHORIZABLE scope: every
//!   grantable model with its three flags. The AUTHORIZED scope is documented only with
//!   `modelAction = INFERENCE`, which leaves out a model granted fine-tune or deploy alone, so
//!   such a grant would never read back and be planned again on every run.
//! - **Limits** use `UpdateModelLimits` with `OVERLAY` (create, update) or `DELETE`.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use super::base::AliyunBackend;
use super::client::{Method, Product, RequestSpec};
use super::identity::KeyCreators;
use super::json::{boolean, field, int, required, string, strings};
use super::parallel::Job;
use crate::backend::BackendError;
use crate::model::platform::default_workspace_name;
use crate::model::{ApiKey, LiveKey, ModelLimit, ModelPermission, Resource, Workspace};

mod writes;

/// Page sizes: `ListModelLimits` documents up to 200; the others document no maximum, and 100 is
/// the largest the console uses.
const PAGE: u32 = 100;
const LIMITS_PAGE: u32 = 200;

/// The marker that starts the description of every key msctl names.
pub const KEY_MARKER: &str = "msctl:";

/// Platform names of a default workspace (API, English and Chinese consoles).
const DEFAULT_NAMES: [&str; 3] = ["default", "Default Workspace", "默认业务空间"];

/// The server's IP allow-list when a Custom key is given none: everything.
const ALLOW_ALL: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// A workspace from `ListWorkspaces`, under its msctl name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedWorkspace {
    pub id: String,
    /// msctl's name: `default-<region>` for the default workspace, the platform's name otherwise.
    pub name: String,
    pub region: String,
    pub default: bool,
}

impl ListedWorkspace {
    pub fn resource(&self) -> Workspace {
        Workspace {
            name: self.name.clone(),
            region: self.region.clone(),
            default: self.default,
        }
    }
}

/// An API key from `ListApiKeys` (the masked value is never kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedApiKey {
    pub id: i64,
    pub workspace_id: String,
    /// msctl's name, when the description carries the marker.
    pub name: Option<String>,
    pub description: String,
    pub created_by: String,
    pub models: Option<BTreeSet<String>>,
    pub ip_allow: BTreeSet<String>,
    pub enabled: bool,
    /// `gmtCreate` in seconds since the Unix epoch (the wire has milliseconds).
    pub created: Option<i64>,
}

/// The description sent for a key: `msctl:<name>`, then ` <description>` when there is one.
pub fn encode_key_description(name: &str, description: &str) -> Result<String, BackendError> {
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(BackendError::Invalid(format!(
            "failed to name API key `{name}`: msctl keeps key names in the key's description as \
             `{KEY_MARKER}<name> <description>`, so a name must be non-empty without whitespace"
        )));
    }
    Ok(if description.is_empty() {
        format!("{KEY_MARKER}{name}")
    } else {
        format!("{KEY_MARKER}{name} {description}")
    })
}

/// The inverse of [`encode_key_description`]: `(name, description)`, or `None` for a key msctl
/// did not name.
pub fn decode_key_description(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix(KEY_MARKER)?;
    let (name, description) = rest.split_once(' ').unwrap_or((rest, ""));
    (!name.is_empty()).then(|| (name.to_string(), description.to_string()))
}

fn ms(action: &str, method: Method, path: impl Into<String>, region: &str) -> RequestSpec {
    RequestSpec::roa(Product::ModelStudio, action, method, path).region(region)
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

impl AliyunBackend {
    /// Every workspace of `region`, the default one under `default-<region>`.
    pub(super) fn list_workspaces(
        &self,
        region: &str,
    ) -> Result<Vec<ListedWorkspace>, BackendError> {
        let spec = ms(
            "ListWorkspaces",
            Method::Get,
            "/modelstudio/workspaces",
            region,
        );
        let items = self.ms_pages(&spec, PAGE, "workspaces")?;
        let mut out: Vec<(ListedWorkspace, i64, bool)> = Vec::new();
        for item in &items {
            let id = required(item, &["workspaceId"], "ListWorkspaces")?;
            // One endpoint may serve every region (an `--endpoint` override): keep this region's.
            let item_region = string(item, &["region"]).unwrap_or_else(|| region.to_string());
            if item_region != region || out.iter().any(|(w, ..)| w.id == id) {
                continue;
            }
            let name = string(item, &["workspaceName"]).unwrap_or_default();
            let flagged = boolean(item, &["isDefault", "defaultWorkspace", "default"])
                .unwrap_or(false)
                || DEFAULT_NAMES.contains(&name.as_str())
                || name == default_workspace_name(region);
            let created = int(item, &["gmtCreate"]).unwrap_or(i64::MAX);
            out.push((
                ListedWorkspace {
                    id,
                    name,
                    region: region.to_string(),
                    default: false,
                },
                created,
                flagged,
            ));
        }
        let default = match out.iter().position(|(.., flagged)| *flagged) {
            Some(i) => Some(i),
            // The first of the earliest: `min_by_key` keeps the first minimum.
            None => out
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, created, _))| *created)
                .map(|(i, _)| i),
        };
        if let Some(i) = default {
            out[i].0.default = true;
            out[i].0.name = default_workspace_name(region);
        }
        Ok(out.into_iter().map(|(w, ..)| w).collect())
    }

    /// Every API key visible in `region` (all workspaces at once: one listing per region).
    pub(super) fn list_api_keys(&self, region: &str) -> Result<Vec<ListedApiKey>, BackendError> {
        let spec = ms("ListApiKeys", Method::Get, "/modelstudio/apikeys", region);
        let items = self.ms_pages(&spec, PAGE, "apiKeys")?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let Some(id) = int(item, &["apiKeyId"]) else {
                return Err(BackendError::Transport(
                    "failed to read the answer to `ListApiKeys`: an item has no `apiKeyId`"
                        .to_string(),
                ));
            };
            let text = string(item, &["description"]).unwrap_or_default();
            let (name, description) = match decode_key_description(&text) {
                Some((n, d)) => (Some(n), d),
                None => (None, text),
            };
            let auth = field(item, &["auth"]).cloned().unwrap_or(Value::Null);
            let (models, ip_allow) = auth_from_wire(&auth);
            out.push(ListedApiKey {
                id,
                workspace_id: string(item, &["workspaceId"]).unwrap_or_default(),
                name,
                description,
                created_by: string(item, &["createdBy"]).unwrap_or_default(),
                models,
                ip_allow,
                // `disabled` is 0 or 1 (a boolean is accepted too); absent = active.
                enabled: !boolean(item, &["disabled"]).unwrap_or(false),
                created: int(item, &["gmtCreate"]).map(|ms| ms.div_euclid(1000)),
            });
        }
        Ok(out)
    }

    /// Second-wave reads: permissions and limits of every sub-workspace.
    pub(super) fn model_studio_jobs<'a>(
        &'a self,
        workspaces: &[ListedWorkspace],
        jobs: &mut Vec<Job<'a, Vec<Resource>>>,
    ) {
        for w in workspaces.iter().filter(|w| !w.default) {
            let ws = w.clone();
            jobs.push(Box::new(move || self.read_permissions(&ws)));
            let ws = w.clone();
            jobs.push(Box::new(move || self.read_limits(&ws)));
        }
    }

    fn read_permissions(&self, ws: &ListedWorkspace) -> Result<Vec<Resource>, BackendError> {
        let spec = ms(
            "ListModelPermissions",
            Method::Get,
            "/modelstudio/models/permissions",
            &ws.region,
        )
        .query("workspaceId", ws.id.clone())
        // Every kind of grant (see the module's notes): the catalogue carries all three flags.
        .query("authorizationScope", "AUTHORIZABLE");
        let items = self.ms_pages(&spec, PAGE, "list")?;
        let mut out = Vec::new();
        for item in &items {
            let model = required(item, &["model"], "ListModelPermissions")?;
            let flags = field(item, &["permissions"])
                .cloned()
                .unwrap_or(Value::Null);
            let flag = |name: &str| boolean(&flags, &[name]).unwrap_or(false);
            let p = ModelPermission {
                workspace: ws.name.clone(),
                model,
                inference: flag("inference"),
                fine_tune: flag("fineTune"),
                deploy: flag("deploy"),
            };
            // A model with every flag off is not granted: that is how a delete looks.
            if p.inference || p.fine_tune || p.deploy {
                out.push(Resource::ModelPermission(p));
            }
        }
        Ok(out)
    }

    fn read_limits(&self, ws: &ListedWorkspace) -> Result<Vec<Resource>, BackendError> {
        let spec = ms(
            "ListModelLimits",
            Method::Get,
            "/modelstudio/models/limits",
            &ws.region,
        )
        .query("workspaceId", ws.id.clone());
        let items = self.ms_pages(&spec, LIMITS_PAGE, "limits")?;
        let mut out = Vec::new();
        for item in &items {
            if string(item, &["workspaceId"]).is_some_and(|id| id != ws.id) {
                continue;
            }
            // Only the workspace's own limit is msctl's; `modelLimit` is the account's.
            let Some(limit) = field(item, &["workspaceLimit"]).filter(|l| l.is_object()) else {
                continue;
            };
            let Some(requests) = int(limit, &["requestLimit"]) else {
                continue;
            };
            let model = required(item, &["model"], "ListModelLimits")?;
            let number = |v: Option<i64>| v.and_then(|n| u64::try_from(n).ok());
            let period = |v: Option<i64>| v.and_then(|n| u32::try_from(n).ok());
            out.push(Resource::ModelLimit(ModelLimit {
                workspace: ws.name.clone(),
                model,
                requests: number(Some(requests)).unwrap_or(0),
                request_period: period(int(limit, &["requestLimitPeriod"])).unwrap_or(60),
                tokens: number(int(limit, &["usageLimit"])),
                usage_period: period(int(limit, &["usageLimitPeriod"]))
                    .filter(|_| int(limit, &["usageLimit"]).is_some()),
            }));
        }
        Ok(out)
    }
}

/// `auth` as read: (model scope, IP allow-list), `None` scope = every model.
fn auth_from_wire(auth: &Value) -> (Option<BTreeSet<String>>, BTreeSet<String>) {
    let custom = string(auth, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case("custom"));
    if !custom {
        return (None, BTreeSet::new());
    }
    let mut ips: BTreeSet<String> = strings(auth, &["accessIps"]).into_iter().collect();
    if ips.iter().map(String::as_str).eq(ALLOW_ALL.iter().copied()) {
        ips.clear();
    }
    let scope = field(auth, &["modelAccessScope"])
        .cloned()
        .unwrap_or(Value::Null);
    let models = if boolean(&scope, &["allowAllModels"]).unwrap_or(true) {
        None
    } else {
        Some(strings(&scope, &["accessibleModels"]).into_iter().collect())
    };
    (models, ips)
}

/// The `auth` object for a key, complete (UpdateApiKey replaces it as a whole).
fn auth_to_wire(key: &ApiKey) -> Value {
    if key.models.is_none() && key.ip_allow.is_empty() {
        return json!({"auth": {"type": "All"}});
    }
    let models: Vec<&String> = key.models.iter().flatten().collect();
    json!({"auth": {
        "type": "Custom",
        "accessIps": key.ip_allow,
        "modelAccessScope": {
            "allowAllModels": key.models.is_none(),
            "accessibleModels": models,
        },
    }})
}

/// The state's API keys: msctl-named keys of listed workspaces. When one name was used twice in
/// a workspace (two applies at once, a retried create), the lowest id keeps the address and
/// every other key comes back with its id (`Some`), for the state's duplicates: none is dropped.
/// Each key also comes with its id and creation time, for rotation and drift.
pub(super) fn keys_to_resources(
    workspaces: &[ListedWorkspace],
    keys: &[ListedApiKey],
    user_names: &HashMap<String, String>,
    creators: &KeyCreators<'_>,
) -> Vec<(Resource, Option<String>, LiveKey)> {
    let by_id: HashMap<&str, &str> = workspaces
        .iter()
        .map(|w| (w.id.as_str(), w.name.as_str()))
        .collect();
    let mut sorted: Vec<&ListedApiKey> = keys.iter().collect();
    sorted.sort_by_key(|k| k.id);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for k in sorted {
        let (Some(ws), Some(name)) = (by_id.get(k.workspace_id.as_str()), &k.name) else {
            continue;
        };
        let duplicate = (!seen.insert((ws.to_string(), name.clone()))).then(|| k.id.to_string());
        let key = Resource::ApiKey(ApiKey {
            workspace: ws.to_string(),
            name: name.clone(),
            owner: user_names
                .get(&k.created_by)
                .map(String::as_str)
                .or_else(|| creators.owner_of(&k.created_by))
                .unwrap_or(ApiKey::UNKNOWN_OWNER)
                .to_string(),
            description: k.description.clone(),
            models: k.models.clone(),
            ip_allow: k.ip_allow.clone(),
            enabled: k.enabled,
        });
        let live = LiveKey {
            id: k.id.to_string(),
            created: k.created,
        };
        out.push((key, duplicate, live));
    }
    out
}
