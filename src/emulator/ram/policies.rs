//! RAM policies (system and custom, with versions) and their attachments.

use super::*;

// ---- policies --------------------------------------------------------------------------------

/// A system policy as RAM shows it: read-only, one version, a broad document.
pub(super) fn system_document(name: &str) -> Value {
    let service = name
        .strip_prefix("Aliyun")
        .and_then(|rest| {
            rest.strip_suffix("FullAccess")
                .or_else(|| rest.strip_suffix("ReadOnlyAccess"))
        })
        .unwrap_or("*")
        .to_ascii_lowercase();
    let action = if name.contains("ReadOnly") {
        json!([format!("{service}:Get*"), format!("{service}:List*")])
    } else {
        json!(format!("{service}:*"))
    };
    json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
}

pub(super) fn system_versions(name: &str) -> Result<Vec<PolicyVersionRecord>, Failure> {
    if !is_system_policy(name) {
        return Err(not_exist("Policy"));
    }
    Ok(vec![PolicyVersionRecord {
        version_id: "v1".to_string(),
        is_default: true,
        document: system_document(name),
        create_date: SYSTEM_CREATED,
    }])
}

/// When the system policies "were created": a fixed date, as they predate any account.
pub(super) const SYSTEM_CREATED: i64 = 1_422_016_398_000;

pub(super) fn version_json(v: &PolicyVersionRecord) -> Value {
    json!({
        "VersionId": v.version_id,
        "IsDefaultVersion": v.is_default,
        "PolicyDocument": v.document.to_string(),
        "CreateDate": ram_time(v.create_date),
    })
}

pub(super) fn attachment_count(
    attachments: &[AttachmentRecord],
    name: &str,
    kind: PolicyType,
) -> usize {
    attachments
        .iter()
        .filter(|a| a.policy == name && a.policy_type == kind)
        .count()
}

pub(super) fn create_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("PolicyName")?;
    check_name("PolicyName", name, &RAM_POLICY_NAME)?;
    check_len("Description", p.text("Description"), 1024)?;
    let document = policy_document(p, "PolicyDocument", PolicyKind::Permission)?;
    let new_tags = parse_tags(p, "Tag")?;
    ctx.store
        .create_policy(&RamPolicy {
            name: name.to_string(),
            description: p.text("Description").map(str::to_string),
            document,
        })
        .map_err(store)?;
    let mut extra = Map::new();
    extra.insert("Tags".into(), tags_value(&new_tags));
    set_extras(ctx, "policy", name, &extra)?;
    let created = custom_policy(ctx, name)?;
    Ok(json!({"Policy": {
        "PolicyName": created.name,
        "PolicyType": "Custom",
        "Description": created.description.unwrap_or_default(),
        "DefaultVersion": created.default_version,
        "CreateDate": ram_time(created.create_date),
    }}))
}

pub(super) fn get_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("PolicyName")?;
    let kind = policy_type(p)?;
    let attachments = ctx.store.list_attachments().map_err(store)?;
    let count = attachment_count(&attachments, name, kind);
    let (policy, version) = match kind {
        PolicyType::System => {
            let version = system_versions(name)?.remove(0);
            (
                json!({
                    "PolicyName": name,
                    "PolicyType": "System",
                    "Description": format!("System policy {name}"),
                    "DefaultVersion": "v1",
                    "AttachmentCount": count,
                    "CreateDate": ram_time(SYSTEM_CREATED),
                    "UpdateDate": ram_time(SYSTEM_CREATED),
                    "PolicyDocument": version.document.to_string(),
                }),
                version,
            )
        }
        PolicyType::Custom => {
            let record = custom_policy(ctx, name)?;
            let version = version(ctx, name, &record.default_version)?;
            (
                json!({
                    "PolicyName": record.name,
                    "PolicyType": "Custom",
                    "Description": record.description.unwrap_or_default(),
                    "DefaultVersion": record.default_version,
                    "AttachmentCount": count,
                    "CreateDate": ram_time(record.create_date),
                    "UpdateDate": ram_time(record.update_date),
                    "PolicyDocument": record.document.to_string(),
                }),
                version,
            )
        }
    };
    Ok(json!({"Policy": policy, "DefaultPolicyVersion": version_json(&version)}))
}

pub(super) fn delete_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("PolicyName")?;
    custom_policy(ctx, name)?;
    let holders: Vec<AttachmentRecord> = ctx
        .store
        .list_attachments()
        .map_err(store)?
        .into_iter()
        .filter(|a| a.policy == name && a.policy_type == PolicyType::Custom)
        .collect();
    if let Some(first) = holders.first() {
        let kind = match first.principal {
            Principal::User(_) => "User",
            Principal::Group(_) => "Group",
            Principal::Role(_) => "Role",
        };
        return Err(Failure::new(
            409,
            format!("DeleteConflict.Policy.{kind}"),
            format!(
                "The policy is still attached to {}; detach it before deleting.",
                first.principal
            ),
        ));
    }
    let versions = ctx.store.list_policy_versions(name).map_err(store)?;
    if versions.len() > 1 && p.bool("CascadingDelete")? != Some(true) {
        return Err(Failure::new(
            409,
            "DeleteConflict.Policy.Version",
            "The policy still has non-default versions; delete them first or set CascadingDelete.",
        ));
    }
    ctx.store.delete_policy(name).map_err(store)?;
    ctx.set_meta(&extras_key("policy", name), "")?;
    Ok(json!({}))
}

pub(super) fn list_policies(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let kind = match p.text("PolicyType") {
        None => None,
        Some(_) => Some(policy_type(p)?),
    };
    let filter = tag_filter(call)?;
    let attachments = ctx.store.list_attachments().map_err(store)?;
    let mut items = Vec::new();
    if kind != Some(PolicyType::Custom) && filter.is_empty() {
        let mut names: Vec<&str> = SYSTEM_POLICIES.to_vec();
        names.sort_unstable();
        for name in names {
            items.push(json!({
                "PolicyName": name,
                "PolicyType": "System",
                "Description": format!("System policy {name}"),
                "DefaultVersion": "v1",
                "AttachmentCount": attachment_count(&attachments, name, PolicyType::System),
                "CreateDate": ram_time(SYSTEM_CREATED),
                "UpdateDate": ram_time(SYSTEM_CREATED),
                "Tags": {"Tag": []},
            }));
        }
    }
    if kind != Some(PolicyType::System) {
        for policy in ctx.store.list_policies().map_err(store)? {
            let policy_tags = tags(ctx, "policy", &policy.name)?;
            if !tags_match(&policy_tags, &filter) {
                continue;
            }
            items.push(json!({
                "PolicyName": policy.name,
                "PolicyType": "Custom",
                "Description": policy.description.unwrap_or_default(),
                "DefaultVersion": policy.default_version,
                "AttachmentCount": attachment_count(&attachments, &policy.name, PolicyType::Custom),
                "CreateDate": ram_time(policy.create_date),
                "UpdateDate": ram_time(policy.update_date),
                "Tags": {"Tag": tags_json(&policy_tags)},
            }));
        }
    }
    paged(call, items, "Policies", "Policy", 100, 1000)
}

// ---- attachments -----------------------------------------------------------------------------

/// The principal an attach, detach or ListPoliciesFor… call names, checked to exist.
pub(super) fn principal_of(ctx: &Ctx<'_>, call: &Call<'_>) -> Result<Principal, Failure> {
    let p = &call.params;
    if call.action.ends_with("User") {
        let name = p.required("UserName")?;
        user(ctx, name)?;
        Ok(Principal::User(name.to_string()))
    } else if call.action.ends_with("Group") {
        let name = p.required("GroupName")?;
        group(ctx, name)?;
        Ok(Principal::Group(name.to_string()))
    } else {
        let name = p.required("RoleName")?;
        role(ctx, name)?;
        Ok(Principal::Role(name.to_string()))
    }
}

pub(super) fn attach_or_detach(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let kind = policy_type(p)?;
    let name = p.required("PolicyName")?;
    let principal = principal_of(ctx, call)?;
    if call.action.starts_with("Attach") {
        let exists = match kind {
            PolicyType::System => is_system_policy(name),
            PolicyType::Custom => custom_policy(ctx, name).is_ok(),
        };
        if !exists {
            return Err(not_exist("Policy"));
        }
        ctx.store
            .attach_policy(&principal, name, kind)
            .map_err(store)?;
    } else {
        ctx.store
            .detach_policy(&principal, name, kind)
            .map_err(store)?;
    }
    Ok(json!({}))
}

pub(super) fn policies_for(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let principal = principal_of(ctx, call)?;
    let custom: BTreeMap<String, PolicyRecord> = ctx
        .store
        .list_policies()
        .map_err(store)?
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    let items: Vec<Value> = ctx
        .store
        .list_attachments()
        .map_err(store)?
        .into_iter()
        .filter(|a| a.principal == principal)
        .map(|a| {
            let (description, version) = match (a.policy_type, custom.get(&a.policy)) {
                (PolicyType::Custom, Some(p)) => (
                    p.description.clone().unwrap_or_default(),
                    p.default_version.clone(),
                ),
                _ => (format!("System policy {}", a.policy), "v1".to_string()),
            };
            json!({
                "PolicyName": a.policy,
                "PolicyType": a.policy_type.as_str(),
                "Description": description,
                "DefaultVersion": version,
                "AttachDate": ram_time(a.attach_date),
            })
        })
        .collect();
    Ok(json!({"Policies": {"Policy": items}}))
}

pub(super) fn entities_for_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("PolicyName")?;
    let kind = policy_type(p)?;
    match kind {
        PolicyType::System if !is_system_policy(name) => return Err(not_exist("Policy")),
        PolicyType::Custom => {
            custom_policy(ctx, name)?;
        }
        PolicyType::System => {}
    }
    let users: BTreeMap<String, RamUserRecord> = ctx
        .store
        .list_users()
        .map_err(store)?
        .into_iter()
        .map(|u| (u.name.clone(), u))
        .collect();
    let groups: BTreeMap<String, RamGroupRecord> = ctx
        .store
        .list_groups()
        .map_err(store)?
        .into_iter()
        .map(|g| (g.name.clone(), g))
        .collect();
    let roles: BTreeMap<String, RamRoleRecord> = ctx
        .store
        .list_roles()
        .map_err(store)?
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let (mut u, mut g, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for a in ctx.store.list_attachments().map_err(store)? {
        if a.policy != name || a.policy_type != kind {
            continue;
        }
        let date = ram_time(a.attach_date);
        match &a.principal {
            Principal::User(n) => {
                let user = users.get(n);
                u.push(json!({
                    "UserId": user.map(|x| x.id.clone()).unwrap_or_default(),
                    "UserName": n,
                    "DisplayName": user.and_then(|x| x.display_name.clone()).unwrap_or_default(),
                    "AttachDate": date,
                }))
            }
            Principal::Group(n) => g.push(json!({
                "GroupName": n,
                "Comments": groups.get(n).and_then(|x| x.comments.clone()).unwrap_or_default(),
                "AttachDate": date,
            })),
            Principal::Role(n) => r.push(json!({
                "RoleId": roles.get(n).map(|x| x.id.clone()).unwrap_or_default(),
                "RoleName": n,
                "Arn": format!("acs:ram::{}:role/{n}", ctx.account_uid),
                "Description": roles.get(n).and_then(|x| x.description.clone()).unwrap_or_default(),
                "AttachDate": date,
            })),
        }
    }
    Ok(json!({
        "Users": {"User": u},
        "Groups": {"Group": g},
        "Roles": {"Role": r},
    }))
}
