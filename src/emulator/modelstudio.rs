//! Model Studio 2026-02-10 handlers (contract §1): workspaces, API keys, model permissions,
//! model limits and the model catalogue. camelCase JSON, `nextToken`/`maxResults` paging.
//!
//! The store models what msctl manages; the API shows a little more, kept beside it: the
//! `serviceSite` a workspace was created with and the one-click "all models" switch live in the
//! store's meta table. Workspace membership and page permissions have no public API, so there
//! are no endpoints for them here.
//!
//! Mapping between the API and the store (the aliyun backend must read it the same way):
//! - An API key's `auth` is `models` + `ip_allow`: `type=All` is "every model, any IP"; `Custom`
//!   with `allowAllModels=false` restricts models; the allow-all CIDRs `0.0.0.0/0` and `::/0` mean
//!   "no IP restriction" and are not stored. A key reads back as `Custom` exactly when it is
//!   restricted in either way.
//! - A key made through the API is owned by the caller (the account UID); msctl's key name is
//!   its description (made unique in the workspace with `-2`, `-3`, …), or `key` when empty.
//! - A model permission whose three flags are all false is no permission: it is removed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::wire::{
    Codes, Failure, fuzzy, leaf_text, offset_token, page, page_size, parse_offset_token,
    string_list,
};
use super::{Call, Ctx, Route};
use crate::backend::aliyun::encoding::value_as_bool;
use crate::store::{
    ApiKeyChange, ApiKeyRecord, LimitSpec, MODEL_STUDIO_REGIONS, ModelGrant, NewApiKey,
    WorkspaceRecord, WriteMode,
};

pub(crate) const ROUTES: &[Route] = &[
    route("CreateWorkspace", "POST", "/modelstudio/workspaces"),
    route("ListWorkspaces", "GET", "/modelstudio/workspaces"),
    route("DeleteWorkspace", "DELETE", "/modelstudio/workspaces/*"),
    route("CreateApiKey", "POST", "/modelstudio/apikeys"),
    route("GetApiKey", "GET", "/modelstudio/apikeys/*"),
    route("ListApiKeys", "GET", "/modelstudio/apikeys"),
    route("UpdateApiKey", "PUT", "/modelstudio/apikeys/*"),
    route("DeleteApiKey", "DELETE", "/modelstudio/apikeys/*"),
    route("EnableApiKey", "PUT", "/modelstudio/apikeys/*/enable"),
    route("DisableApiKey", "PUT", "/modelstudio/apikeys/*/disable"),
    route("ResetApiKey", "PUT", "/modelstudio/apikeys/*/reset"),
    route(
        "ListModelPermissions",
        "GET",
        "/modelstudio/models/permissions",
    ),
    route(
        "UpdateModelPermissions",
        "POST",
        "/modelstudio/models/permissions",
    ),
    route("ListModelLimits", "GET", "/modelstudio/models/limits"),
    route("UpdateModelLimits", "POST", "/modelstudio/models/limits"),
    route("ListModels", "GET", "/modelstudio/models"),
];

const fn route(action: &'static str, method: &'static str, path: &'static str) -> Route {
    Route {
        action,
        method,
        path,
    }
}

const WORKSPACE: Codes = Codes::new(
    "Workspace.NotFound",
    "Workspace.AlreadyExists",
    "Workspace.OperationDenied",
    "InvalidParameter",
);
const API_KEY: Codes = Codes::new(
    "ApiKey.NotFound",
    "ApiKey.AlreadyExists",
    "ApiKey.OperationDenied",
    "InvalidParameter.auth",
);
const MODEL: Codes = Codes::new(
    "Model.NotFound",
    "Model.AlreadyExists",
    "Model.OperationDenied",
    "InvalidParameter",
);

/// IP ranges that mean "any address": the server's default for a Custom key without IPs.
const ALLOW_ALL_IPS: [&str; 2] = ["0.0.0.0/0", "::/0"];

pub(crate) fn handle(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    match call.action {
        "CreateWorkspace" => create_workspace(ctx, call),
        "ListWorkspaces" => list_workspaces(ctx, call),
        "DeleteWorkspace" => delete_workspace(ctx, call),
        "CreateApiKey" => create_api_key(ctx, call),
        "GetApiKey" => get_api_key(ctx, call),
        "ListApiKeys" => list_api_keys(ctx, call),
        "UpdateApiKey" => update_api_key(ctx, call),
        "DeleteApiKey" => {
            let id = key_id(call)?;
            ctx.store
                .delete_api_key(id)
                .map_err(|e| super::wire::from_backend(e, API_KEY))?;
            Ok(ok(Map::new()))
        }
        "EnableApiKey" => {
            let id = key_id(call)?;
            ctx.store
                .enable_api_key(id)
                .map_err(|e| super::wire::from_backend(e, API_KEY))?;
            Ok(ok(Map::new()))
        }
        "DisableApiKey" => {
            let id = key_id(call)?;
            ctx.store
                .disable_api_key(id)
                .map_err(|e| super::wire::from_backend(e, API_KEY))?;
            Ok(ok(Map::new()))
        }
        "ResetApiKey" => {
            let id = key_id(call)?;
            let key = ctx
                .store
                .api_key(id)
                .map_err(|e| super::wire::from_backend(e, API_KEY))?;
            let issued = ctx
                .store
                .reset_api_key(id)
                .map_err(|e| super::wire::from_backend(e, API_KEY))?;
            Ok(ok(fields(json!({"apiKey": {
                "apiKeyId": issued.id,
                "apiKeyValue": issued.secret,
                "workspaceId": key.workspace_id,
            }}))))
        }
        "ListModelPermissions" => list_model_permissions(ctx, call),
        "UpdateModelPermissions" => update_model_permissions(ctx, call),
        "ListModelLimits" => list_model_limits(ctx, call),
        "UpdateModelLimits" => update_model_limits(ctx, call),
        "ListModels" => list_models(call),
        other => Err(Failure::new(
            404,
            "InvalidAction.NotFound",
            format!("`{other}` is not implemented"),
        )),
    }
}

// ---- envelopes -------------------------------------------------------------------------------

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The success envelope of workspace and key operations (`message`).
fn ok(rest: Map<String, Value>) -> Value {
    envelope("message", rest)
}

/// The success envelope of permission, limit and model operations (`errorMessage`).
fn ok_models(rest: Map<String, Value>) -> Value {
    envelope("errorMessage", rest)
}

fn envelope(message_key: &str, rest: Map<String, Value>) -> Value {
    let mut map = Map::new();
    map.insert("code".into(), json!("200"));
    map.insert(message_key.into(), json!("success"));
    map.insert("httpStatusCode".into(), json!(200));
    map.insert("success".into(), json!(true));
    map.extend(rest);
    Value::Object(map)
}

/// `maxResults`, `nextToken` (only when more pages remain) and `totalCount`, then the items.
fn paged(
    items: Vec<Value>,
    call: &Call<'_>,
    list_key: &str,
    default: usize,
    max: usize,
) -> Result<Map<String, Value>, Failure> {
    let size = page_size(
        "maxResults",
        call.params.number("maxResults")?,
        default,
        max,
    )?;
    let offset = parse_offset_token("nextToken", call.params.get("nextToken"))?;
    let total = items.len();
    let (items, next) = page(items, offset, size);
    let mut map = Map::new();
    map.insert("maxResults".into(), json!(size));
    if let Some(next) = next {
        map.insert("nextToken".into(), json!(offset_token(next)));
    }
    map.insert("totalCount".into(), json!(total));
    map.insert(list_key.into(), Value::Array(items));
    Ok(map)
}

// ---- workspaces ------------------------------------------------------------------------------

fn service_site_key(id: &str) -> String {
    format!("emulator.modelstudio.service_site.{id}")
}

fn access_all_key(id: &str) -> String {
    format!("emulator.modelstudio.access_all.{id}")
}

/// A stable `llm-…` API host for a workspace, derived from its id.
fn api_host(ws: &WorkspaceRecord) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(ws.id.as_bytes());
    let label: String = digest
        .iter()
        .take(16)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("llm-{label}.{}.maas.aliyuncs.com", ws.region)
}

fn workspace_json(ctx: &Ctx<'_>, ws: &WorkspaceRecord) -> Result<Value, Failure> {
    let site = ctx
        .meta(&service_site_key(&ws.id))?
        .unwrap_or_else(|| "global".to_string());
    Ok(json!({
        "workspaceId": ws.id,
        "workspaceName": ws.name,
        "region": ws.region,
        "serviceSite": site,
        "apiHost": api_host(ws),
        "gmtCreate": ws.gmt_create,
    }))
}

fn workspace(ctx: &Ctx<'_>, id: &str) -> Result<WorkspaceRecord, Failure> {
    ctx.store
        .workspace(id)
        .map_err(|e| super::wire::from_backend(e, WORKSPACE))
}

fn create_workspace(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let name = call.params.required("workspaceName")?;
    if !MODEL_STUDIO_REGIONS.contains(&ctx.region) {
        return Err(Failure::new(
            400,
            "InvalidRegionId",
            format!(
                "Model Studio is not available in region `{}`; known regions: {}",
                ctx.region,
                MODEL_STUDIO_REGIONS.join(", ")
            ),
        ));
    }
    let region = ctx.region.to_string();
    let id = ctx
        .store
        .create_workspace(name, &region)
        .map_err(|e| super::wire::from_backend(e, WORKSPACE))?;
    if let Some(site) = call.params.text("serviceSite") {
        ctx.set_meta(&service_site_key(&id), site)?;
    }
    let ws = workspace(ctx, &id)?;
    let mut rest = Map::new();
    rest.insert("workspace".into(), workspace_json(ctx, &ws)?);
    Ok(ok(rest))
}

fn list_workspaces(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let id = call.params.text("workspaceId");
    let name = call.params.text("workspaceName");
    let all = ctx
        .store
        .list_workspaces(Some(ctx.region))
        .map_err(|e| super::wire::from_backend(e, WORKSPACE))?;
    let items = all
        .iter()
        .filter(|w| id.is_none_or(|id| w.id == id))
        .filter(|w| name.is_none_or(|n| fuzzy(&w.name, n)))
        .map(|w| workspace_json(ctx, w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(paged(items, call, "workspaces", 10, 100)?))
}

fn delete_workspace(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let id = call.path.first().map(String::as_str).unwrap_or_default();
    let ws = workspace(ctx, id)?;
    let refused = |resource: &str, reason: &str| {
        // The platform's refusal: a success envelope with `isDeleted:false` and the reasons.
        ok(fields(json!({
            "isDeleted": false,
            "failReasons": [{"resourceType": resource, "reason": reason}],
        })))
    };
    if ws.is_default {
        return Ok(refused(
            "Workspace",
            "The default workspace cannot be deleted.",
        ));
    }
    let keys = ctx
        .store
        .list_api_keys(Some(&ws.id))
        .map_err(|e| super::wire::from_backend(e, WORKSPACE))?;
    if !keys.is_empty() {
        return Ok(refused(
            "API Key",
            "API Key exists. Please clear them first.",
        ));
    }
    ctx.store
        .delete_workspace(&ws.id)
        .map_err(|e| super::wire::from_backend(e, WORKSPACE))?;
    ctx.set_meta(&service_site_key(&ws.id), "")?;
    ctx.set_meta(&access_all_key(&ws.id), "")?;
    Ok(ok(fields(json!({"isDeleted": true, "failReasons": []}))))
}

// ---- API keys --------------------------------------------------------------------------------

/// A key's `auth` as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Auth {
    models: Option<BTreeSet<String>>,
    ip_allow: BTreeSet<String>,
}

impl Auth {
    fn of(key: &ApiKeyRecord) -> Self {
        Auth {
            models: key.models.clone(),
            ip_allow: key.ip_allow.clone(),
        }
    }
}

/// Reads an unflattened `auth` object (a full replacement, as the SDK documents).
fn parse_auth(value: &Value) -> Result<Auth, Failure> {
    let Value::Object(map) = value else {
        return Err(Failure::invalid("auth", "expected an object"));
    };
    let scope = map.get("modelAccessScope");
    let ips = map.get("accessIps");
    let kind = match map.get("type").and_then(leaf_text) {
        Some(t) if !t.is_empty() => t,
        // No type: restricted exactly when a restriction is given.
        _ if scope.is_some() || ips.is_some() => "Custom".to_string(),
        _ => "All".to_string(),
    };
    match kind.as_str() {
        "All" => Ok(Auth {
            models: None,
            ip_allow: BTreeSet::new(),
        }),
        "Custom" => {
            let ip_allow: BTreeSet<String> = match ips {
                Some(v) => string_list("auth.accessIps", v)?,
                None => Vec::new(),
            }
            .into_iter()
            .map(|ip| ip.trim().to_string())
            .filter(|ip| !ip.is_empty() && !ALLOW_ALL_IPS.contains(&ip.as_str()))
            .collect();
            let models = match scope {
                None => None,
                Some(Value::Object(scope)) => {
                    let allow_all = match scope.get("allowAllModels") {
                        None => None,
                        Some(v) => Some(value_as_bool(v).ok_or_else(|| {
                            Failure::invalid(
                                "auth.modelAccessScope.allowAllModels",
                                "expected true or false",
                            )
                        })?),
                    };
                    let listed = match scope.get("accessibleModels") {
                        Some(v) => Some(string_list("auth.modelAccessScope.accessibleModels", v)?),
                        None => None,
                    };
                    match (allow_all, listed) {
                        (Some(true), _) | (None, None) => None,
                        (Some(false), listed) | (None, listed @ Some(_)) => {
                            Some(listed.unwrap_or_default().into_iter().collect())
                        }
                    }
                }
                Some(_) => {
                    return Err(Failure::invalid(
                        "auth.modelAccessScope",
                        "expected an object",
                    ));
                }
            };
            Ok(Auth { models, ip_allow })
        }
        other => Err(Failure::invalid(
            "auth.type",
            format!("`{other}` is not All or Custom"),
        )),
    }
}

fn auth_json(auth: &Auth) -> Value {
    let custom = auth.models.is_some() || !auth.ip_allow.is_empty();
    let ips: Vec<String> = if auth.ip_allow.is_empty() {
        ALLOW_ALL_IPS.iter().map(|s| s.to_string()).collect()
    } else {
        auth.ip_allow.iter().cloned().collect()
    };
    json!({
        "type": if custom { "Custom" } else { "All" },
        "accessIps": ips,
        "modelAccessScope": {
            "allowAllModels": auth.models.is_none(),
            "accessibleModels": auth.models.iter().flatten().collect::<Vec<_>>(),
        },
    })
}

fn key_id(call: &Call<'_>) -> Result<i64, Failure> {
    let raw = call.path.first().map(String::as_str).unwrap_or_default();
    raw.parse()
        .map_err(|_| Failure::invalid("apiKeyId", format!("`{raw}` is not a key id")))
}

/// RAM user names to ids, so `createdBy` shows a UID as the platform does.
fn user_ids(ctx: &Ctx<'_>) -> Result<BTreeMap<String, String>, Failure> {
    Ok(ctx
        .store
        .list_users()
        .map_err(|e| super::wire::from_backend(e, API_KEY))?
        .into_iter()
        .map(|u| (u.name, u.id))
        .collect())
}

/// A key as Get and List show it: the secret only as its masked preview.
fn key_json(key: &ApiKeyRecord, workspace_name: &str, users: &BTreeMap<String, String>) -> Value {
    json!({
        "apiKeyId": key.id,
        "apiKeyValue": key.secret_preview,
        "auth": auth_json(&Auth::of(key)),
        "createdBy": users.get(&key.owner).unwrap_or(&key.owner),
        "description": key.description,
        "disabled": i32::from(!key.enabled),
        "gmtCreate": key.gmt_create,
        "workspaceId": key.workspace_id,
        "workspaceName": workspace_name,
    })
}

/// msctl's name for a key made through the API: its description, unique in the workspace.
fn key_name(existing: &[ApiKeyRecord], description: &str) -> String {
    let base: String = description.trim().chars().take(64).collect();
    let base = if base.is_empty() {
        "key".to_string()
    } else {
        base
    };
    let taken: BTreeSet<&str> = existing.iter().map(|k| k.name.as_str()).collect();
    if !taken.contains(base.as_str()) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.contains(candidate.as_str()))
        .unwrap_or(base)
}

fn create_api_key(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = match call.params.text("workspaceId") {
        Some(id) => workspace(ctx, id)?,
        // No workspace: the region's default one, as the platform does.
        None => ctx
            .store
            .default_workspace(ctx.region)
            .map_err(|e| super::wire::from_backend(e, WORKSPACE))?,
    };
    let description = call.params.get("description").unwrap_or_default();
    let auth = match call.params.tree("auth")? {
        Some(v) => parse_auth(&v)?,
        None => Auth {
            models: None,
            ip_allow: BTreeSet::new(),
        },
    };
    let existing = ctx
        .store
        .list_api_keys(Some(&ws.id))
        .map_err(|e| super::wire::from_backend(e, API_KEY))?;
    let issued = ctx
        .store
        .create_api_key(&NewApiKey {
            workspace_id: ws.id.clone(),
            name: key_name(&existing, description),
            // The caller owns what it creates: its RAM user, else the account.
            owner: ctx.caller_user.unwrap_or(ctx.account_uid).to_string(),
            description: description.to_string(),
            models: auth.models,
            ip_allow: auth.ip_allow,
            enabled: true,
        })
        .map_err(|e| super::wire::from_backend(e, API_KEY))?;
    let key = ctx
        .store
        .api_key(issued.id)
        .map_err(|e| super::wire::from_backend(e, API_KEY))?;
    // The full value, this once; the store keeps only its hash.
    Ok(ok(fields(json!({"apiKey": {
        "apiKeyId": issued.id,
        "apiKeyValue": issued.secret,
        "createdBy": user_ids(ctx)?.get(&key.owner).unwrap_or(&key.owner),
        "description": key.description,
        "gmtCreate": key.gmt_create,
        "workspaceId": key.workspace_id,
    }}))))
}

fn get_api_key(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let key = ctx
        .store
        .api_key(key_id(call)?)
        .map_err(|e| super::wire::from_backend(e, API_KEY))?;
    let ws = workspace(ctx, &key.workspace_id)?;
    let users = user_ids(ctx)?;
    let mut rest = Map::new();
    rest.insert("apiKey".into(), key_json(&key, &ws.name, &users));
    Ok(ok(rest))
}

fn list_api_keys(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let id: Option<i64> = call.params.number("apiKeyId")?;
    let description = call.params.text("description");
    let workspace_id = call.params.text("workspaceId");
    let descending = match call.params.text("order").unwrap_or("DESC") {
        o if o.eq_ignore_ascii_case("DESC") => true,
        o if o.eq_ignore_ascii_case("ASC") => false,
        o => {
            return Err(Failure::invalid(
                "order",
                format!("`{o}` is not ASC or DESC"),
            ));
        }
    };
    let by_create = match call.params.text("orderBy").unwrap_or("apiKeyId") {
        "apiKeyId" => false,
        "gmtCreate" => true,
        o => {
            return Err(Failure::invalid(
                "orderBy",
                format!("`{o}` is not apiKeyId or gmtCreate"),
            ));
        }
    };
    let workspaces: BTreeMap<String, String> = ctx
        .store
        .list_workspaces(Some(ctx.region))
        .map_err(|e| super::wire::from_backend(e, WORKSPACE))?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let mut keys: Vec<ApiKeyRecord> = ctx
        .store
        .list_api_keys(workspace_id)
        .map_err(|e| super::wire::from_backend(e, API_KEY))?
        .into_iter()
        .filter(|k| workspaces.contains_key(&k.workspace_id))
        .filter(|k| id.is_none_or(|id| k.id == id))
        .filter(|k| description.is_none_or(|d| fuzzy(&k.description, d)))
        .collect();
    keys.sort_by_key(|k| {
        if by_create {
            (k.gmt_create, k.id)
        } else {
            (k.id, 0)
        }
    });
    if descending {
        keys.reverse();
    }
    let users = user_ids(ctx)?;
    let items = keys
        .iter()
        .map(|k| {
            let ws = workspaces.get(&k.workspace_id).map(String::as_str);
            key_json(k, ws.unwrap_or_default(), &users)
        })
        .collect();
    Ok(ok(paged(items, call, "apiKeys", 10, 100)?))
}

fn update_api_key(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let id = key_id(call)?;
    let key = ctx
        .store
        .api_key(id)
        .map_err(|e| super::wire::from_backend(e, API_KEY))?;
    // `auth` is replaced whole when sent and kept when not; so is the description.
    let auth = match call.params.tree("auth")? {
        Some(v) => parse_auth(&v)?,
        None => Auth::of(&key),
    };
    let description = call
        .params
        .get("description")
        .map(str::to_string)
        .unwrap_or(key.description);
    ctx.store
        .update_api_key(
            id,
            &ApiKeyChange {
                description,
                models: auth.models,
                ip_allow: auth.ip_allow,
                enabled: None,
            },
        )
        .map_err(|e| super::wire::from_backend(e, API_KEY))?;
    Ok(ok(Map::new()))
}

// ---- model catalogue -------------------------------------------------------------------------

/// A model the emulated account can see.
struct CatalogModel {
    model: &'static str,
    name: &'static str,
    provider: &'static str,
    capabilities: &'static [&'static str],
    context_window: i64,
    max_output: i64,
    /// Yuan per million input and output tokens, as decimal strings.
    prices: (&'static str, &'static str),
}

const fn m(
    model: &'static str,
    name: &'static str,
    provider: &'static str,
    capabilities: &'static [&'static str],
    context_window: i64,
    max_output: i64,
    prices: (&'static str, &'static str),
) -> CatalogModel {
    CatalogModel {
        model,
        name,
        provider,
        capabilities,
        context_window,
        max_output,
        prices,
    }
}

const CATALOG: &[CatalogModel] = &[
    m(
        "deepseek-r1",
        "DeepSeek-R1",
        "deepseek",
        &["TG", "Reasoning"],
        65_536,
        8_192,
        ("4", "16"),
    ),
    m(
        "deepseek-v3",
        "DeepSeek-V3",
        "deepseek",
        &["TG"],
        65_536,
        8_192,
        ("2", "8"),
    ),
    m(
        "qwen-coder-plus",
        "Qwen-Coder-Plus",
        "qwen",
        &["TG"],
        131_072,
        8_192,
        ("3.5", "7"),
    ),
    m(
        "qwen-long",
        "Qwen-Long",
        "qwen",
        &["TG"],
        10_000_000,
        8_192,
        ("0.5", "2"),
    ),
    m(
        "qwen-max",
        "Qwen-Max",
        "qwen",
        &["TG"],
        32_768,
        8_192,
        ("2.4", "9.6"),
    ),
    m(
        "qwen-plus",
        "Qwen-Plus",
        "qwen",
        &["TG"],
        131_072,
        16_384,
        ("0.8", "2"),
    ),
    m(
        "qwen-turbo",
        "Qwen-Turbo",
        "qwen",
        &["TG"],
        1_000_000,
        16_384,
        ("0.3", "0.6"),
    ),
    m(
        "qwen-vl-max",
        "Qwen-VL-Max",
        "qwen",
        &["TG", "VU"],
        131_072,
        8_192,
        ("1.6", "4"),
    ),
    m(
        "qwen-vl-plus",
        "Qwen-VL-Plus",
        "qwen",
        &["TG", "VU"],
        131_072,
        8_192,
        ("0.8", "2"),
    ),
    m(
        "qwen3-max",
        "Qwen3-Max",
        "qwen",
        &["TG"],
        262_144,
        65_536,
        ("6", "24"),
    ),
    m(
        "qwq-plus",
        "QwQ-Plus",
        "qwen",
        &["TG", "Reasoning"],
        131_072,
        8_192,
        ("1.6", "4"),
    ),
    m(
        "text-embedding-v3",
        "Text-Embedding-V3",
        "qwen",
        &["TE"],
        8_192,
        0,
        ("0.5", "0"),
    ),
];

fn display_name(model: &str) -> String {
    CATALOG
        .iter()
        .find(|c| c.model == model)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| model.to_string())
}

fn list_models(call: &Call<'_>) -> Result<Value, Failure> {
    let wanted = |key: &str| -> Result<Option<BTreeSet<String>>, Failure> {
        call.params
            .shrink(key)?
            .map(|v| string_list(key, &v).map(|l| l.into_iter().collect()))
            .transpose()
    };
    let capabilities = wanted("capabilities")?;
    let providers = wanted("providers")?;
    let features = wanted("features")?;
    let model = call.params.text("model");
    let name = call.params.text("name");
    let items = CATALOG
        .iter()
        .filter(|c| model.is_none_or(|m| c.model == m))
        .filter(|c| name.is_none_or(|n| fuzzy(c.name, n) || fuzzy(c.model, n)))
        .filter(|c| providers.as_ref().is_none_or(|p| p.contains(c.provider)))
        .filter(|c| {
            capabilities
                .as_ref()
                .is_none_or(|want| c.capabilities.iter().any(|cap| want.contains(*cap)))
        })
        // The catalogue lists no features, so any feature filter matches nothing.
        .filter(|_| features.as_ref().is_none_or(BTreeSet::is_empty))
        .map(|c| {
            json!({
                "model": c.model,
                "name": c.name,
                "description": format!("{} by {}", c.name, c.provider),
                "provider": c.provider,
                "publishedTime": 1_735_689_600_000_i64,
                "capabilities": c.capabilities,
                "features": [],
                "inferenceMetadata": {"requestModality": ["Text"], "responseModality": ["Text"]},
                "modelInfo": {
                    "contextWindow": c.context_window,
                    "maxInputTokens": c.context_window - c.max_output,
                    "maxOutputTokens": c.max_output,
                },
                "prices": [{"rangeName": "Default", "prices": [
                    {"priceName": "input", "price": c.prices.0, "priceUnit": "Per 1M tokens", "timeBand": ""},
                    {"priceName": "output", "price": c.prices.1, "priceUnit": "Per 1M tokens", "timeBand": ""},
                ]}],
            })
        })
        .collect();
    Ok(ok_models(paged(items, call, "models", 10, 100)?))
}

// ---- model permissions -----------------------------------------------------------------------

fn grant_json(grant: &ModelGrant) -> Value {
    json!({
        "model": grant.model,
        "name": display_name(&grant.model),
        "permissions": {
            "inference": grant.inference,
            "fineTune": grant.fine_tune,
            "deploy": grant.deploy,
        },
    })
}

fn list_model_permissions(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, call.params.required("workspaceId")?)?;
    let authorized = match call
        .params
        .text("authorizationScope")
        .unwrap_or("AUTHORIZED")
    {
        "AUTHORIZED" => true,
        "AUTHORIZABLE" => false,
        other => {
            return Err(Failure::invalid(
                "authorizationScope",
                format!("`{other}` is not AUTHORIZED or AUTHORIZABLE"),
            ));
        }
    };
    let inference_only = match call.params.text("modelAction") {
        None => false,
        Some("INFERENCE") => true,
        Some(other) => {
            return Err(Failure::invalid(
                "modelAction",
                format!("`{other}` is not INFERENCE"),
            ));
        }
    };
    let filter = call.params.tree("filter")?.unwrap_or(Value::Null);
    let filter_model = filter
        .get("model")
        .and_then(leaf_text)
        .filter(|s| !s.is_empty());
    let filter_name = filter
        .get("name")
        .and_then(leaf_text)
        .filter(|s| !s.is_empty());

    let rows: BTreeMap<String, ModelGrant> = ctx
        .store
        .list_model_permissions(Some(&ws.id))
        .map_err(|e| super::wire::from_backend(e, MODEL))?
        .into_iter()
        .map(|(_, g)| (g.model.clone(), g))
        .collect();
    // The default workspace, and one with the one-click switch on, may call every model.
    let all_models = ws.is_default || ctx.meta(&access_all_key(&ws.id))?.as_deref() == Some("1");
    let mut grants: BTreeMap<String, ModelGrant> = BTreeMap::new();
    if !authorized || all_models {
        for c in CATALOG {
            grants.insert(
                c.model.to_string(),
                ModelGrant {
                    model: c.model.to_string(),
                    inference: authorized,
                    fine_tune: false,
                    deploy: false,
                },
            );
        }
    }
    for (model, row) in rows {
        let inference = row.inference || (authorized && all_models);
        grants.insert(model, ModelGrant { inference, ..row });
    }
    let items = grants
        .values()
        .filter(|g| !inference_only || g.inference)
        .filter(|g| filter_model.as_deref().is_none_or(|m| g.model == m))
        .filter(|g| {
            filter_name
                .as_deref()
                .is_none_or(|n| fuzzy(&display_name(&g.model), n) || fuzzy(&g.model, n))
        })
        .map(grant_json)
        .collect();
    Ok(ok_models(paged(items, call, "list", 20, 100)?))
}

fn update_model_permissions(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, call.params.required("workspaceId")?)?;
    let switch = match call.params.text("accessAllEntities").unwrap_or("KEEP") {
        "KEEP" => None,
        "OPEN" => Some(true),
        "CLOSE" => Some(false),
        other => {
            return Err(Failure::invalid(
                "accessAllEntities",
                format!("`{other}` is not OPEN, CLOSE or KEEP"),
            ));
        }
    };
    let items = match call.params.tree("models")? {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Failure::invalid("models", "expected a list")),
    };
    if ws.is_default && (switch.is_some() || !items.is_empty()) {
        return Err(Failure::new(
            400,
            "Workspace.OperationDenied",
            format!(
                "`{}` is the default workspace, which calls every model; its model permissions \
                 cannot be changed",
                ws.name
            ),
        ));
    }
    let current: BTreeMap<String, ModelGrant> = ctx
        .store
        .list_model_permissions(Some(&ws.id))
        .map_err(|e| super::wire::from_backend(e, MODEL))?
        .into_iter()
        .map(|(_, g)| (g.model.clone(), g))
        .collect();
    // Every item is read before anything is written, so a bad item changes nothing.
    let mut merged: BTreeMap<String, ModelGrant> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("models.{}.{field}", i + 1);
        let model = item
            .get("model")
            .and_then(leaf_text)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| Failure::missing(&at("model")))?;
        let flag = |field: &str| -> Result<Option<bool>, Failure> {
            item.get(field)
                .map(|v| {
                    value_as_bool(v)
                        .or_else(|| leaf_text(v).and_then(|s| s.to_ascii_lowercase().parse().ok()))
                        .ok_or_else(|| Failure::invalid(&at(field), "expected true or false"))
                })
                .transpose()
        };
        // A flag left out keeps its value: each item is a patch.
        let base = merged
            .get(&model)
            .or_else(|| current.get(&model))
            .cloned()
            .unwrap_or(ModelGrant {
                model: model.clone(),
                inference: false,
                fine_tune: false,
                deploy: false,
            });
        let grant = ModelGrant {
            inference: flag("inference")?.unwrap_or(base.inference),
            fine_tune: flag("fineTune")?.unwrap_or(base.fine_tune),
            deploy: flag("deploy")?.unwrap_or(base.deploy),
            model: model.clone(),
        };
        merged.insert(model, grant);
    }
    let (granted, revoked): (Vec<ModelGrant>, Vec<ModelGrant>) = merged
        .into_values()
        .partition(|g| g.inference || g.fine_tune || g.deploy);
    if !granted.is_empty() {
        ctx.store
            .set_model_permissions(&ws.id, &granted, WriteMode::Upsert)
            .map_err(|e| super::wire::from_backend(e, MODEL))?;
    }
    for grant in revoked.iter().filter(|g| current.contains_key(&g.model)) {
        ctx.store
            .delete_model_permission(&ws.id, &grant.model)
            .map_err(|e| super::wire::from_backend(e, MODEL))?;
    }
    if let Some(open) = switch {
        ctx.set_meta(&access_all_key(&ws.id), if open { "1" } else { "" })?;
    }
    Ok(ok_models(Map::new()))
}

// ---- model limits ----------------------------------------------------------------------------

/// The account-level limit of a model: read-only, the same for every model here.
fn account_limit() -> Value {
    json!({
        "requestLimit": 15000,
        "requestLimitPeriod": 60,
        "usageLimit": 5_000_000,
        "usageLimitField": "token",
        "usageLimitPeriod": 60,
        "asyncUserConcurrencyLimit": 10,
        "asyncUserQueueLimit": 10,
    })
}

fn workspace_limit(limit: &LimitSpec) -> Value {
    let mut map = Map::new();
    map.insert("requestLimit".into(), json!(limit.requests));
    map.insert("requestLimitPeriod".into(), json!(limit.request_period));
    if let (Some(tokens), Some(period)) = (limit.tokens, limit.usage_period) {
        map.insert("usageLimit".into(), json!(tokens));
        map.insert("usageLimitField".into(), json!("token"));
        map.insert("usageLimitPeriod".into(), json!(period));
    }
    Value::Object(map)
}

fn list_model_limits(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, call.params.required("workspaceId")?)?;
    let model = call.params.text("model");
    let name = call.params.text("name");
    let limits: BTreeMap<String, LimitSpec> = ctx
        .store
        .list_model_limits(Some(&ws.id))
        .map_err(|e| super::wire::from_backend(e, MODEL))?
        .into_iter()
        .map(|(_, l)| (l.model.clone(), l))
        .collect();
    // The models the workspace can call, and any with a limit of its own.
    let mut models: BTreeSet<String> = limits.keys().cloned().collect();
    if ws.is_default {
        models.extend(CATALOG.iter().map(|c| c.model.to_string()));
    } else {
        models.extend(
            ctx.store
                .list_model_permissions(Some(&ws.id))
                .map_err(|e| super::wire::from_backend(e, MODEL))?
                .into_iter()
                .filter(|(_, g)| g.inference)
                .map(|(_, g)| g.model),
        );
    }
    let items = models
        .iter()
        .filter(|m| model.is_none_or(|want| *m == want))
        .filter(|m| name.is_none_or(|n| fuzzy(&display_name(m), n) || fuzzy(m, n)))
        .map(|m| {
            let mut item = json!({
                "model": m,
                "name": display_name(m),
                "workspaceId": ws.id,
                "modelLimit": account_limit(),
            });
            if let (Some(limit), Value::Object(map)) = (limits.get(m), &mut item) {
                map.insert("workspaceLimit".into(), workspace_limit(limit));
            }
            item
        })
        .collect();
    Ok(ok_models(paged(items, call, "limits", 20, 200)?))
}

/// One item of `workspaceLimits`.
enum LimitChange {
    Overlay(LimitSpec),
    Delete(String),
}

fn parse_limit_change(i: usize, item: &Value) -> Result<LimitChange, Failure> {
    let at = |field: &str| format!("workspaceLimits.{}.{field}", i + 1);
    if !item.is_object() {
        return Err(Failure::invalid(
            "workspaceLimits",
            "expected a list of objects",
        ));
    }
    let text = |field: &str| {
        item.get(field)
            .and_then(leaf_text)
            .filter(|s| !s.is_empty())
    };
    let number = |field: &str| -> Result<Option<u64>, Failure> {
        match item.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => leaf_text(v)
                .and_then(|s| s.parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| Failure::invalid(&at(field), "expected a non-negative integer")),
        }
    };
    let model = text("model").ok_or_else(|| Failure::missing(&at("model")))?;
    match text("operationType").as_deref() {
        Some("DELETE") => Ok(LimitChange::Delete(model)),
        Some("OVERLAY") => {
            let requests =
                number("requestLimit")?.ok_or_else(|| Failure::missing(&at("requestLimit")))?;
            let period = number("requestLimitPeriod")?
                .ok_or_else(|| Failure::missing(&at("requestLimitPeriod")))?;
            let request_period = u32::try_from(period)
                .map_err(|_| Failure::invalid(&at("requestLimitPeriod"), "too large"))?;
            let usage_period = number("usageLimitPeriod")?
                .map(|p| {
                    u32::try_from(p)
                        .map_err(|_| Failure::invalid(&at("usageLimitPeriod"), "too large"))
                })
                .transpose()?;
            Ok(LimitChange::Overlay(LimitSpec {
                model,
                requests,
                request_period,
                tokens: number("usageLimit")?,
                usage_period,
            }))
        }
        Some(other) => Err(Failure::invalid(
            &at("operationType"),
            format!("`{other}` is not OVERLAY or DELETE"),
        )),
        None => Err(Failure::missing(&at("operationType"))),
    }
}

fn update_model_limits(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, call.params.required("workspaceId")?)?;
    let items = match call.params.shrink("workspaceLimits")? {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Failure::invalid("workspaceLimits", "expected a JSON list")),
        None => return Err(Failure::missing("workspaceLimits")),
    };
    // Parse and check every item before the first write.
    let changes = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_limit_change(i, item))
        .collect::<Result<Vec<_>, _>>()?;
    if ws.is_default && !changes.is_empty() {
        return Err(Failure::new(
            400,
            "Workspace.OperationDenied",
            format!(
                "`{}` is the default workspace, which calls every model unthrottled; its \
                 limits cannot be set",
                ws.name
            ),
        ));
    }
    let authorized: BTreeSet<String> = ctx
        .store
        .list_model_permissions(Some(&ws.id))
        .map_err(|e| super::wire::from_backend(e, MODEL))?
        .into_iter()
        .filter(|(_, g)| g.inference)
        .map(|(_, g)| g.model)
        .collect();
    for change in &changes {
        if let LimitChange::Overlay(limit) = change
            && !authorized.contains(&limit.model)
        {
            return Err(Failure::new(
                400,
                "Model.NotAuthorized",
                format!(
                    "Workspace `{}` has not authorized model `{}` for inference.",
                    ws.name, limit.model
                ),
            ));
        }
    }
    for change in changes {
        match change {
            LimitChange::Overlay(limit) => ctx
                .store
                .set_model_limit(&ws.id, &limit, WriteMode::Upsert)
                .map_err(|e| super::wire::from_backend(e, MODEL))?,
            // Removing a limit that is not there already leaves the model unthrottled.
            LimitChange::Delete(model) => match ctx.store.delete_model_limit(&ws.id, &model) {
                Ok(()) | Err(crate::backend::BackendError::NotFound(_)) => {}
                Err(e) => return Err(super::wire::from_backend(e, MODEL)),
            },
        }
    }
    Ok(ok_models(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_round_trips_through_the_store_shape() {
        let custom = json!({
            "type": "Custom",
            "accessIps": ["1.2.3.4/32", "::/0"],
            "modelAccessScope": {"allowAllModels": "False", "accessibleModels": ["qwen-plus"]},
        });
        let auth = parse_auth(&custom).unwrap();
        assert_eq!(auth.ip_allow, BTreeSet::from(["1.2.3.4/32".to_string()]));
        assert_eq!(auth.models, Some(BTreeSet::from(["qwen-plus".to_string()])));
        let shown = auth_json(&auth);
        assert_eq!(shown["type"], "Custom");
        assert_eq!(shown["modelAccessScope"]["allowAllModels"], false);
        assert_eq!(parse_auth(&shown).unwrap(), auth);

        let all = parse_auth(&json!({"type": "All"})).unwrap();
        assert_eq!(
            all,
            Auth {
                models: None,
                ip_allow: BTreeSet::new()
            }
        );
        let shown = auth_json(&all);
        assert_eq!(shown["type"], "All");
        assert_eq!(shown["accessIps"], json!(["0.0.0.0/0", "::/0"]));
        assert_eq!(parse_auth(&shown).unwrap(), all);

        assert_eq!(
            parse_auth(&json!({"type": "Some"})).unwrap_err().code,
            "InvalidParameter.auth.type"
        );
        assert!(parse_auth(&json!({"modelAccessScope": {"allowAllModels": "maybe"}})).is_err());
    }

    #[test]
    fn key_names_come_from_descriptions_and_stay_unique() {
        let key = |name: &str| ApiKeyRecord {
            id: 1,
            workspace_id: "ws".into(),
            name: name.into(),
            owner: "o".into(),
            description: String::new(),
            models: None,
            ip_allow: BTreeSet::new(),
            enabled: true,
            disabled_reason: None,
            secret_sha256: String::new(),
            secret_preview: String::new(),
            gmt_create: 0,
        };
        assert_eq!(key_name(&[], "svc"), "svc");
        assert_eq!(key_name(&[key("svc"), key("svc-2")], "svc"), "svc-3");
        assert_eq!(key_name(&[], "  "), "key");
    }

    #[test]
    fn limit_items_are_checked() {
        let ok = parse_limit_change(
            0,
            &json!({"model": "qwen-plus", "operationType": "OVERLAY", "requestLimit": 60,
                    "requestLimitPeriod": 60, "usageLimit": 1000, "usageLimitPeriod": 60}),
        )
        .unwrap();
        assert!(matches!(
            ok,
            LimitChange::Overlay(LimitSpec {
                requests: 60,
                tokens: Some(1000),
                ..
            })
        ));
        let missing = parse_limit_change(0, &json!({"model": "m", "operationType": "OVERLAY"}));
        assert_eq!(
            missing.err().unwrap().code,
            "InvalidParameter.workspaceLimits.1.requestLimit"
        );
        let bad = parse_limit_change(1, &json!({"model": "m", "operationType": "MERGE"}));
        assert_eq!(
            bad.err().unwrap().code,
            "InvalidParameter.workspaceLimits.2.operationType"
        );
        assert!(matches!(
            parse_limit_change(0, &json!({"model": "m", "operationType": "DELETE"})).unwrap(),
            LimitChange::Delete(_)
        ));
    }
}
