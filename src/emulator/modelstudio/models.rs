//! The model catalogue, and a workspace's model permissions and limits.

use super::*;

// ---- model catalogue -------------------------------------------------------------------------

/// A model the emulated account can see.
pub(super) struct CatalogModel {
    model: &'static str,
    name: &'static str,
    provider: &'static str,
    capabilities: &'static [&'static str],
    context_window: i64,
    max_output: i64,
    /// Yuan per million input and output tokens, as decimal strings.
    prices: (&'static str, &'static str),
}

pub(super) const fn m(
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

pub(super) const CATALOG: &[CatalogModel] = &[
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

/// One line of a model's price list, as `ListModels` shows it.
fn price(name: &str, price: &str) -> Value {
    json!({"priceName": name, "price": price, "priceUnit": "Per 1M tokens", "timeBand": ""})
}

pub(super) fn display_name(model: &str) -> String {
    CATALOG
        .iter()
        .find(|c| c.model == model)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| model.to_string())
}

pub(super) fn list_models(call: &Call<'_>) -> Result<Value, Failure> {
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
                    price("input", c.prices.0),
                    price("output", c.prices.1),
                ]}],
            })
        })
        .collect();
    Ok(ok_models(paged(items, call, "models", 10, 100)?))
}

// ---- model permissions -----------------------------------------------------------------------

pub(super) fn grant_json(grant: &ModelGrant) -> Value {
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

pub(super) fn list_model_permissions(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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
        .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?
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

pub(super) fn update_model_permissions(
    ctx: &mut Ctx<'_>,
    call: &Call<'_>,
) -> Result<Value, Failure> {
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
        .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?
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
            .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?;
    }
    for grant in revoked.iter().filter(|g| current.contains_key(&g.model)) {
        ctx.store
            .delete_model_permission(&ws.id, &grant.model)
            .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?;
    }
    if let Some(open) = switch {
        ctx.set_meta(&access_all_key(&ws.id), if open { "1" } else { "" })?;
    }
    Ok(ok_models(Map::new()))
}

// ---- model limits ----------------------------------------------------------------------------

/// The account-level limit of a model: read-only, the same for every model here.
pub(super) fn account_limit() -> Value {
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

pub(super) fn workspace_limit(limit: &LimitSpec) -> Value {
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

pub(super) fn list_model_limits(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, call.params.required("workspaceId")?)?;
    let model = call.params.text("model");
    let name = call.params.text("name");
    let limits: BTreeMap<String, LimitSpec> = ctx
        .store
        .list_model_limits(Some(&ws.id))
        .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?
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
                .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?
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
pub(super) enum LimitChange {
    Overlay(LimitSpec),
    Delete(String),
}

pub(super) fn parse_limit_change(i: usize, item: &Value) -> Result<LimitChange, Failure> {
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

pub(super) fn update_model_limits(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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
        .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?
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
                .map_err(|e| crate::emulator::wire::from_backend(e, MODEL))?,
            // Removing a limit that is not there already leaves the model unthrottled.
            LimitChange::Delete(model) => match ctx.store.delete_model_limit(&ws.id, &model) {
                Ok(()) | Err(crate::backend::BackendError::NotFound(_)) => {}
                Err(e) => return Err(crate::emulator::wire::from_backend(e, MODEL)),
            },
        }
    }
    Ok(ok_models(Map::new()))
}
