//! Tags on RAM roles and policies: `TagResources`, `UntagResources`, `ListTagResources`.

use super::*;

// ---- tags ------------------------------------------------------------------------------------

pub(super) type Tags = BTreeMap<String, String>;

pub(super) fn tags(ctx: &Ctx<'_>, kind: &str, name: &str) -> Result<Tags, Failure> {
    let extra = extras(ctx, kind, name)?;
    Ok(extra
        .get("Tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| leaf_text(v).map(|v| (k.clone(), v)))
                .collect()
        })
        .unwrap_or_default())
}

pub(super) fn tags_value(tags: &Tags) -> Value {
    Value::Object(tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

pub(super) fn tags_json(tags: &Tags) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect()
}

/// `Tag=[{"Key":"env","Value":"prod"}]`, at most 20, keys ≤ 128 and values ≤ 256 characters.
pub(super) fn parse_tags(p: &crate::emulator::wire::Params, param: &str) -> Result<Tags, Failure> {
    let Some(value) = p.shrink(param)? else {
        return Ok(Tags::new());
    };
    let Value::Array(items) = value else {
        return Err(Failure::invalid(
            param,
            "expected a JSON list of {Key, Value}",
        ));
    };
    if items.len() > 20 {
        return Err(Failure::invalid(param, "at most 20 tags are allowed"));
    }
    let mut out = Tags::new();
    for item in &items {
        let key = item
            .get("Key")
            .and_then(leaf_text)
            .filter(|k| !k.is_empty() && k.chars().count() <= 128)
            .ok_or_else(|| {
                Failure::invalid(param, "each tag needs a Key of 1 to 128 characters")
            })?;
        let value = item.get("Value").and_then(leaf_text).unwrap_or_default();
        if value.chars().count() > 256 {
            return Err(Failure::invalid(
                param,
                "tag values are at most 256 characters",
            ));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// A `Tag` filter: every given key must be present, with the value when one is given.
pub(super) fn tag_filter(call: &Call<'_>) -> Result<Vec<(String, Option<String>)>, Failure> {
    let Some(value) = call.params.shrink("Tag")? else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(Failure::invalid(
            "Tag",
            "expected a JSON list of {Key, Value}",
        ));
    };
    items
        .iter()
        .map(|item| {
            let key = item
                .get("Key")
                .and_then(leaf_text)
                .ok_or_else(|| Failure::invalid("Tag", "each filter needs a Key"))?;
            Ok((key, item.get("Value").and_then(leaf_text)))
        })
        .collect()
}

pub(super) fn tags_match(tags: &Tags, filter: &[(String, Option<String>)]) -> bool {
    filter.iter().all(|(k, v)| {
        tags.get(k)
            .is_some_and(|have| v.as_ref().is_none_or(|v| v == have))
    })
}

/// `ResourceType` (`role` or `policy`) and `ResourceNames`, each checked to exist.
pub(super) fn tag_targets(
    ctx: &Ctx<'_>,
    call: &Call<'_>,
    required: bool,
) -> Result<(String, Vec<String>), Failure> {
    let p = &call.params;
    let kind = match p.required("ResourceType")? {
        "role" => "role",
        "policy" => "policy",
        other => {
            return Err(Failure::invalid(
                "ResourceType",
                format!("`{other}` is not role or policy"),
            ));
        }
    };
    let names = match p.shrink("ResourceNames")? {
        Some(v) => string_list("ResourceNames", &v)?,
        None if required => return Err(Failure::missing("ResourceNames")),
        None => {
            return Ok((
                kind.to_string(),
                if kind == "role" {
                    ctx.store
                        .list_roles()
                        .map_err(store)?
                        .into_iter()
                        .map(|r| r.name)
                        .collect()
                } else {
                    ctx.store
                        .list_policies()
                        .map_err(store)?
                        .into_iter()
                        .map(|p| p.name)
                        .collect()
                },
            ));
        }
    };
    if names.len() > 50 {
        return Err(Failure::invalid(
            "ResourceNames",
            "at most 50 resources at once",
        ));
    }
    for name in &names {
        if kind == "role" {
            role(ctx, name)?;
        } else {
            custom_policy(ctx, name)?;
        }
    }
    Ok((kind.to_string(), names))
}

pub(super) fn tag_resources(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let (kind, names) = tag_targets(ctx, call, true)?;
    let new_tags = parse_tags(&call.params, "Tag")?;
    if new_tags.is_empty() {
        return Err(Failure::missing("Tag"));
    }
    // Check every resource's limit before writing any.
    let mut updates = Vec::new();
    for name in names {
        let mut current = tags(ctx, &kind, &name)?;
        current.extend(new_tags.clone());
        if current.len() > 20 {
            return Err(Failure::new(
                409,
                "LimitExceeded.Tag",
                format!("`{name}` would have more than 20 tags."),
            ));
        }
        updates.push((name, current));
    }
    for (name, all) in updates {
        let mut extra = extras(ctx, &kind, &name)?;
        extra.insert("Tags".into(), tags_value(&all));
        set_extras(ctx, &kind, &name, &extra)?;
    }
    Ok(json!({}))
}

pub(super) fn untag_resources(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let (kind, names) = tag_targets(ctx, call, true)?;
    let all = call.params.bool("All")?.unwrap_or(false);
    let keys: BTreeSet<String> = match call.params.shrink("TagKeys")? {
        Some(v) => string_list("TagKeys", &v)?.into_iter().collect(),
        None => BTreeSet::new(),
    };
    for name in names {
        let mut extra = extras(ctx, &kind, &name)?;
        let mut current = tags(ctx, &kind, &name)?;
        if all {
            current.clear();
        } else {
            current.retain(|k, _| !keys.contains(k));
        }
        extra.insert("Tags".into(), tags_value(&current));
        set_extras(ctx, &kind, &name, &extra)?;
    }
    Ok(json!({}))
}

pub(super) fn list_tag_resources(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let (kind, names) = tag_targets(ctx, call, false)?;
    let filter = tag_filter(call)?;
    let mut items = Vec::new();
    for name in names {
        for (k, v) in tags(ctx, &kind, &name)? {
            let wanted = filter.is_empty()
                || filter
                    .iter()
                    .any(|(fk, fv)| *fk == k && fv.as_ref().is_none_or(|fv| *fv == v));
            if wanted {
                items.push(json!({
                    "ResourceName": name,
                    "ResourceType": kind,
                    "TagKey": k,
                    "TagValue": v,
                }));
            }
        }
    }
    let size = page_size("PageSize", call.params.number("PageSize")?, 50, 100)?;
    let offset = parse_offset_token("NextToken", call.params.get("NextToken"))?;
    let (items, next) = page(items, offset, size);
    let mut map = Map::new();
    if let Some(next) = next {
        map.insert("NextToken".into(), json!(offset_token(next)));
    }
    map.insert("TagResources".into(), Value::Array(items));
    Ok(Value::Object(map))
}
