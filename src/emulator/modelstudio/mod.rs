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
use crate::acs::encoding::value_as_bool;
use crate::store::{
    ApiKeyChange, ApiKeyRecord, LimitSpec, MODEL_STUDIO_REGIONS, ModelGrant, NewApiKey,
    WorkspaceRecord, WriteMode,
};

mod apikeys;
mod models;

use apikeys::*;
use models::*;

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

#[cfg(test)]
mod tests;
