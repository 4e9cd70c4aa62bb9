//! Model Studio API keys: their `auth` (models, IPs), JSON and handlers.

use super::*;

// ---- API keys --------------------------------------------------------------------------------

/// A key's `auth` as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Auth {
    pub(super) models: Option<BTreeSet<String>>,
    pub(super) ip_allow: BTreeSet<String>,
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
pub(super) fn parse_auth(value: &Value) -> Result<Auth, Failure> {
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

pub(super) fn auth_json(auth: &Auth) -> Value {
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

pub(super) fn key_id(call: &Call<'_>) -> Result<i64, Failure> {
    let raw = call.path.first().map(String::as_str).unwrap_or_default();
    raw.parse()
        .map_err(|_| Failure::invalid("apiKeyId", format!("`{raw}` is not a key id")))
}

/// RAM user names to ids, so `createdBy` shows a UID as the platform does.
pub(super) fn user_ids(ctx: &Ctx<'_>) -> Result<BTreeMap<String, String>, Failure> {
    Ok(ctx
        .store
        .list_users()
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?
        .into_iter()
        .map(|u| (u.name, u.id))
        .collect())
}

/// A key as Get and List show it: the secret only as its masked preview.
pub(super) fn key_json(
    key: &ApiKeyRecord,
    workspace_name: &str,
    users: &BTreeMap<String, String>,
) -> Value {
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
pub(super) fn key_name(existing: &[ApiKeyRecord], description: &str) -> String {
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

pub(super) fn create_api_key(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = match call.params.text("workspaceId") {
        Some(id) => workspace(ctx, id)?,
        // No workspace: the region's default one, as the platform does.
        None => ctx
            .store
            .default_workspace(ctx.region)
            .map_err(|e| crate::emulator::wire::from_backend(e, WORKSPACE))?,
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
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?;
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
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?;
    let key = ctx
        .store
        .api_key(issued.id)
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?;
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

pub(super) fn get_api_key(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let key = ctx
        .store
        .api_key(key_id(call)?)
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?;
    let ws = workspace(ctx, &key.workspace_id)?;
    let users = user_ids(ctx)?;
    let mut rest = Map::new();
    rest.insert("apiKey".into(), key_json(&key, &ws.name, &users));
    Ok(ok(rest))
}

pub(super) fn list_api_keys(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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
        .map_err(|e| crate::emulator::wire::from_backend(e, WORKSPACE))?
        .into_iter()
        .map(|w| (w.id, w.name))
        .collect();
    let mut keys: Vec<ApiKeyRecord> = ctx
        .store
        .list_api_keys(workspace_id)
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?
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

pub(super) fn update_api_key(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let id = key_id(call)?;
    let key = ctx
        .store
        .api_key(id)
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?;
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
        .map_err(|e| crate::emulator::wire::from_backend(e, API_KEY))?;
    Ok(ok(Map::new()))
}
