//! RAM 2015-05-01 handlers (contract §2): users, groups and membership, roles, custom policies
//! with versions, attachments, reverse lookups and tags on roles and policies. PascalCase JSON,
//! lists wrapped in a singular element (`{"Users":{"User":[…]}}`), `Marker`/`IsTruncated` paging.
//!
//! RAM is RPC: every action is `POST /` and its parameters arrive in the query (Python SDK) or
//! a form body (other SDKs), merged before they get here. What the store does not model (phone,
//! email, console login, tags, update dates) is kept per entity in the store's meta table.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::wire::{
    Codes, Failure, from_backend, leaf_text, now_ms, offset_token, page, page_size,
    parse_offset_token, ram_time, string_list,
};
use super::{Call, Ctx, Route};
use crate::backend::BackendError;
use crate::model::{PolicyType, Principal, RamGroup, RamPolicy, RamRole, RamUser};
use crate::policy::{
    MAX_DOCUMENT_CHARS, PolicyKind, RAM_GROUP_NAME, RAM_POLICY_NAME, RAM_ROLE_NAME, RAM_USER_NAME,
    RamName, RamNameProblem,
};
use crate::store::{
    AttachmentRecord, PolicyRecord, PolicyVersionRecord, RamGroupRecord, RamRoleRecord,
    RamUserRecord, SYSTEM_POLICIES, is_system_policy,
};

const ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "UpdateUser",
    "DeleteUser",
    "ListUsers",
    "CreateGroup",
    "GetGroup",
    "UpdateGroup",
    "DeleteGroup",
    "ListGroups",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "ListGroupsForUser",
    "ListUsersForGroup",
    "CreateRole",
    "GetRole",
    "UpdateRole",
    "DeleteRole",
    "ListRoles",
    "CreatePolicy",
    "GetPolicy",
    "UpdatePolicyDescription",
    "DeletePolicy",
    "ListPolicies",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
    "AttachPolicyToUser",
    "AttachPolicyToGroup",
    "AttachPolicyToRole",
    "DetachPolicyFromUser",
    "DetachPolicyFromGroup",
    "DetachPolicyFromRole",
    "ListPoliciesForUser",
    "ListPoliciesForGroup",
    "ListPoliciesForRole",
    "ListEntitiesForPolicy",
    "TagResources",
    "UntagResources",
    "ListTagResources",
];

/// Every RAM action is `POST /`.
pub(crate) const ROUTES: &[Route] = &routes();

const fn routes() -> [Route; ACTIONS.len()] {
    let mut out = [Route {
        action: "",
        method: "POST",
        path: "/",
    }; ACTIONS.len()];
    let mut i = 0;
    while i < ACTIONS.len() {
        out[i].action = ACTIONS[i];
        i += 1;
    }
    out
}

/// Codes for store errors whose message names none (the store names most RAM codes itself).
const CODES: Codes = Codes::new(
    "EntityNotExist",
    "EntityAlreadyExists",
    "OperationDenied",
    "InvalidParameter",
);

pub(crate) fn handle(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let result = match call.action {
        "CreateUser" => create_user(ctx, call),
        "GetUser" => {
            let user = user(ctx, p.required("UserName")?)?;
            Ok(json!({"User": user_json(ctx, &user, true)?}))
        }
        "UpdateUser" => update_user(ctx, call),
        "DeleteUser" => {
            let name = p.required("UserName")?;
            ctx.store.delete_user(name).map_err(store)?;
            ctx.set_meta(&extras_key("user", name), "")?;
            Ok(json!({}))
        }
        "ListUsers" => {
            let users = ctx.store.list_users().map_err(store)?;
            let items = users
                .iter()
                .map(|u| user_json(ctx, u, false))
                .collect::<Result<Vec<_>, _>>()?;
            paged(call, items, "Users", "User", 100, 1000)
        }
        "CreateGroup" => create_group(ctx, call),
        "GetGroup" => {
            let group = group(ctx, p.required("GroupName")?)?;
            Ok(json!({"Group": group_json(ctx, &group)?}))
        }
        "UpdateGroup" => update_group(ctx, call),
        "DeleteGroup" => {
            let name = p.required("GroupName")?;
            ctx.store.delete_group(name).map_err(store)?;
            ctx.set_meta(&extras_key("group", name), "")?;
            Ok(json!({}))
        }
        "ListGroups" => {
            let groups = ctx.store.list_groups().map_err(store)?;
            let items = groups
                .iter()
                .map(|g| group_json(ctx, g))
                .collect::<Result<Vec<_>, _>>()?;
            paged(call, items, "Groups", "Group", 100, 1000)
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let group_name = p.required("GroupName")?;
            let user_name = p.required("UserName")?;
            group(ctx, group_name)?;
            user(ctx, user_name)?;
            if call.action == "AddUserToGroup" {
                ctx.store.add_user_to_group(group_name, user_name)
            } else {
                ctx.store.remove_user_from_group(group_name, user_name)
            }
            .map_err(store)?;
            Ok(json!({}))
        }
        "ListGroupsForUser" => {
            let user_name = p.required("UserName")?;
            user(ctx, user_name)?;
            let groups: BTreeMap<String, RamGroupRecord> = ctx
                .store
                .list_groups()
                .map_err(store)?
                .into_iter()
                .map(|g| (g.name.clone(), g))
                .collect();
            let items: Vec<Value> = ctx
                .store
                .list_group_members(None)
                .map_err(store)?
                .into_iter()
                .filter(|m| m.user == user_name)
                .filter_map(|m| {
                    groups.get(&m.group).map(|g| {
                        json!({
                            "GroupId": g.id,
                            "GroupName": g.name,
                            "Comments": g.comments.clone().unwrap_or_default(),
                            "JoinDate": ram_time(m.join_date),
                        })
                    })
                })
                .collect();
            Ok(json!({"Groups": {"Group": items}}))
        }
        "ListUsersForGroup" => {
            let group_name = p.required("GroupName")?;
            group(ctx, group_name)?;
            let users: BTreeMap<String, RamUserRecord> = ctx
                .store
                .list_users()
                .map_err(store)?
                .into_iter()
                .map(|u| (u.name.clone(), u))
                .collect();
            let items: Vec<Value> = ctx
                .store
                .list_group_members(Some(group_name))
                .map_err(store)?
                .into_iter()
                .map(|m| {
                    let display = users
                        .get(&m.user)
                        .and_then(|u| u.display_name.clone())
                        .unwrap_or_default();
                    json!({"UserName": m.user, "DisplayName": display, "JoinDate": ram_time(m.join_date)})
                })
                .collect();
            paged(call, items, "Users", "User", 100, 1000)
        }
        "CreateRole" => create_role(ctx, call),
        "GetRole" => {
            let role = role(ctx, p.required("RoleName")?)?;
            Ok(json!({"Role": role_json(ctx, &role, RoleView::Get)?}))
        }
        "UpdateRole" => update_role(ctx, call),
        "DeleteRole" => {
            let name = p.required("RoleName")?;
            ctx.store.delete_role(name).map_err(store)?;
            ctx.set_meta(&extras_key("role", name), "")?;
            Ok(json!({}))
        }
        "ListRoles" => {
            let filter = tag_filter(call)?;
            let roles = ctx.store.list_roles().map_err(store)?;
            let mut items = Vec::new();
            for r in &roles {
                if tags_match(&tags(ctx, "role", &r.name)?, &filter) {
                    items.push(role_json(ctx, r, RoleView::List)?);
                }
            }
            paged(call, items, "Roles", "Role", 100, 1000)
        }
        "CreatePolicy" => create_policy(ctx, call),
        "GetPolicy" => get_policy(ctx, call),
        "UpdatePolicyDescription" => {
            let name = p.required("PolicyName")?;
            let current = custom_policy(ctx, name)?;
            let description = p.get("NewDescription").map(str::to_string);
            check_len("NewDescription", description.as_deref(), 1024)?;
            ctx.store
                .update_policy(&RamPolicy {
                    name: name.to_string(),
                    description,
                    document: current.document,
                })
                .map_err(store)?;
            let updated = custom_policy(ctx, name)?;
            Ok(json!({"Policy": {
                "PolicyName": updated.name,
                "PolicyType": "Custom",
                "Description": updated.description.unwrap_or_default(),
                "DefaultVersion": updated.default_version,
                "CreateDate": ram_time(updated.create_date),
                "UpdateDate": ram_time(updated.update_date),
            }}))
        }
        "DeletePolicy" => delete_policy(ctx, call),
        "ListPolicies" => list_policies(ctx, call),
        "CreatePolicyVersion" => {
            let name = p.required("PolicyName")?;
            custom_policy(ctx, name)?;
            let document = policy_document(p, "PolicyDocument", PolicyKind::Permission)?;
            let set_default = p.bool("SetAsDefault")?.unwrap_or(false);
            let rotate = match p.text("RotateStrategy").unwrap_or("None") {
                "None" => false,
                "DeleteOldestNonDefaultVersionWhenLimitExceeded" => true,
                other => {
                    return Err(Failure::invalid(
                        "RotateStrategy",
                        format!(
                            "`{other}` is not None or DeleteOldestNonDefaultVersionWhenLimitExceeded"
                        ),
                    ));
                }
            };
            let id = ctx
                .store
                .create_policy_version(name, &document, set_default, rotate)
                .map_err(store)?;
            let version = version(ctx, name, &id)?;
            Ok(json!({"PolicyVersion": version_json(&version)}))
        }
        "GetPolicyVersion" => {
            let name = p.required("PolicyName")?;
            let kind = policy_type(p)?;
            let id = version_id(p)?;
            let version = match kind {
                PolicyType::System => system_versions(name)?
                    .into_iter()
                    .find(|v| v.version_id == id)
                    .ok_or_else(version_missing)?,
                PolicyType::Custom => {
                    custom_policy(ctx, name)?;
                    version(ctx, name, id)?
                }
            };
            Ok(json!({"PolicyVersion": version_json(&version)}))
        }
        "ListPolicyVersions" => {
            let name = p.required("PolicyName")?;
            let versions = match policy_type(p)? {
                PolicyType::System => system_versions(name)?,
                PolicyType::Custom => {
                    custom_policy(ctx, name)?;
                    ctx.store.list_policy_versions(name).map_err(store)?
                }
            };
            let items: Vec<Value> = versions.iter().map(version_json).collect();
            Ok(json!({"PolicyVersions": {"PolicyVersion": items}}))
        }
        "SetDefaultPolicyVersion" | "DeletePolicyVersion" => {
            let name = p.required("PolicyName")?;
            let id = version_id(p)?;
            custom_policy(ctx, name)?;
            if call.action == "SetDefaultPolicyVersion" {
                ctx.store.set_default_policy_version(name, id)
            } else {
                ctx.store.delete_policy_version(name, id)
            }
            .map_err(store)?;
            Ok(json!({}))
        }
        "AttachPolicyToUser"
        | "AttachPolicyToGroup"
        | "AttachPolicyToRole"
        | "DetachPolicyFromUser"
        | "DetachPolicyFromGroup"
        | "DetachPolicyFromRole" => attach_or_detach(ctx, call),
        "ListPoliciesForUser" | "ListPoliciesForGroup" | "ListPoliciesForRole" => {
            policies_for(ctx, call)
        }
        "ListEntitiesForPolicy" => entities_for_policy(ctx, call),
        "TagResources" => tag_resources(ctx, call),
        "UntagResources" => untag_resources(ctx, call),
        "ListTagResources" => list_tag_resources(ctx, call),
        other => Err(Failure::new(
            404,
            "InvalidAction.NotFound",
            format!("`{other}` is not implemented"),
        )),
    };
    result.map_err(platform_message)
}

// ---- errors and shared reads -----------------------------------------------------------------

fn store(e: crate::backend::BackendError) -> Failure {
    from_backend(e, CODES)
}

/// RAM's own wording for its common codes (contract §2.9).
fn platform_message(failure: Failure) -> Failure {
    let text = match failure.code.as_str() {
        "EntityNotExist.User" => "The user does not exist.",
        "EntityNotExist.Group" => "The group does not exist.",
        "EntityNotExist.Role" => "The role does not exist.",
        "EntityNotExist.Policy" => "The policy does not exist.",
        "EntityNotExist.Policy.Version" => "The policy version does not exist.",
        "EntityNotExist.User.Group" => "The user is not in the group.",
        "EntityAlreadyExists.User" => "The user already exists.",
        "EntityAlreadyExists.Group" => "The group already exists.",
        "EntityAlreadyExists.Role" => "The role already exists.",
        "EntityAlreadyExists.Policy" => "The policy already exists.",
        "EntityAlreadyExists.User.Group" => "The user has already joined the group.",
        "DeleteConflict.User.Group" => "The user CAN NOT be in any group while deleting the user.",
        "DeleteConflict.User.Policy" => {
            "The user CAN NOT be attached with any policy while deleting the user."
        }
        _ => return failure,
    };
    Failure {
        message: text.to_string(),
        ..failure
    }
}

fn not_exist(kind: &str) -> Failure {
    Failure::not_found(
        &format!("EntityNotExist.{kind}"),
        format!("The {} does not exist.", kind.to_ascii_lowercase()),
    )
}

fn version_missing() -> Failure {
    Failure::not_found(
        "EntityNotExist.Policy.Version",
        "The policy version does not exist.",
    )
}

fn user(ctx: &Ctx<'_>, name: &str) -> Result<RamUserRecord, Failure> {
    ctx.store.user(name).map_err(|e| match e {
        BackendError::NotFound(_) => not_exist("User"),
        other => store(other),
    })
}

fn group(ctx: &Ctx<'_>, name: &str) -> Result<RamGroupRecord, Failure> {
    ctx.store.group(name).map_err(|e| match e {
        BackendError::NotFound(_) => not_exist("Group"),
        other => store(other),
    })
}

fn role(ctx: &Ctx<'_>, name: &str) -> Result<RamRoleRecord, Failure> {
    ctx.store.role(name).map_err(|e| match e {
        BackendError::NotFound(_) => not_exist("Role"),
        other => store(other),
    })
}

fn custom_policy(ctx: &Ctx<'_>, name: &str) -> Result<PolicyRecord, Failure> {
    ctx.store.policy(name).map_err(|e| match e {
        BackendError::NotFound(_) => not_exist("Policy"),
        other => store(other),
    })
}

fn version(ctx: &Ctx<'_>, name: &str, id: &str) -> Result<PolicyVersionRecord, Failure> {
    ctx.store
        .list_policy_versions(name)
        .map_err(store)?
        .into_iter()
        .find(|v| v.version_id == id)
        .ok_or_else(version_missing)
}

fn policy_type(p: &super::wire::Params) -> Result<PolicyType, Failure> {
    match p.required("PolicyType")? {
        "System" => Ok(PolicyType::System),
        "Custom" => Ok(PolicyType::Custom),
        other => Err(Failure::new(
            400,
            "InvalidParameter.PolicyType",
            format!("The parameter PolicyType is invalid: `{other}` is not System or Custom."),
        )),
    }
}

fn version_id(p: &super::wire::Params) -> Result<&str, Failure> {
    let id = p.required("VersionId")?;
    let ok = id
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return Err(Failure::new(
            400,
            "InvalidParameter.VersionId.Format",
            format!("The version id `{id}` is not of the form v1, v2, …"),
        ));
    }
    Ok(id)
}

/// Name checks with RAM's codes: `InvalidParameter.<Param>.Length` / `.InvalidChars`.
fn check_name(param: &str, name: &str, rule: &RamName) -> Result<(), Failure> {
    match rule.problem(name) {
        None => Ok(()),
        Some(RamNameProblem::Length) => Err(Failure::new(
            400,
            format!("InvalidParameter.{param}.Length"),
            format!(
                "The length of {param} must be 1 to {} characters.",
                rule.max
            ),
        )),
        Some(RamNameProblem::InvalidChars) => Err(Failure::new(
            400,
            format!("InvalidParameter.{param}.InvalidChars"),
            format!(
                "{param} may only hold letters, digits and `{}`.",
                rule.extra
            ),
        )),
    }
}

fn check_len(param: &str, value: Option<&str>, max: usize) -> Result<(), Failure> {
    if value.is_some_and(|v| v.chars().count() > max) {
        return Err(Failure::new(
            400,
            format!("InvalidParameter.{param}.Length"),
            format!("The length of {param} must not exceed {max} characters."),
        ));
    }
    Ok(())
}

/// A policy or trust document: JSON, at most [`MAX_DOCUMENT_CHARS`] characters, and valid policy
/// grammar.
fn policy_document(
    p: &super::wire::Params,
    param: &str,
    kind: PolicyKind,
) -> Result<Value, Failure> {
    let raw = p.required(param)?;
    if raw.chars().count() > MAX_DOCUMENT_CHARS {
        return Err(Failure::new(
            400,
            "InvalidParameter.PolicyDocument.Length",
            format!("The policy document must not exceed {MAX_DOCUMENT_CHARS} characters."),
        ));
    }
    let malformed = |why: String| Failure::new(400, "MalformedPolicyDocument", why);
    let document: Value = serde_json::from_str(raw)
        .map_err(|e| malformed(format!("The policy document is not valid JSON: {e}")))?;
    if let Some(problem) = crate::policy::validate(&document, kind).first() {
        let at = if problem.pointer.is_empty() {
            String::new()
        } else {
            format!(" at {}", problem.pointer)
        };
        return Err(malformed(format!(
            "The policy document is malformed{at}: {}",
            problem.message
        )));
    }
    Ok(document)
}

// ---- extras kept in meta ---------------------------------------------------------------------

fn extras_key(kind: &str, name: &str) -> String {
    format!("emulator.ram.{kind}.{name}")
}

fn extras(ctx: &Ctx<'_>, kind: &str, name: &str) -> Result<Map<String, Value>, Failure> {
    Ok(ctx
        .meta(&extras_key(kind, name))?
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| match v {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default())
}

fn set_extras(
    ctx: &mut Ctx<'_>,
    kind: &str,
    name: &str,
    map: &Map<String, Value>,
) -> Result<(), Failure> {
    ctx.set_meta(
        &extras_key(kind, name),
        &Value::Object(map.clone()).to_string(),
    )
}

fn extra_text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key).and_then(leaf_text).unwrap_or_default()
}

/// `UpdateDate`: the last update recorded in the extras, else the creation date.
fn update_date(map: &Map<String, Value>, created: i64) -> String {
    ram_time(
        map.get("UpdateDate")
            .and_then(Value::as_i64)
            .unwrap_or(created),
    )
}

// ---- paging ----------------------------------------------------------------------------------

/// `IsTruncated`, `Marker` (only when truncated) and the wrapped list.
fn paged(
    call: &Call<'_>,
    items: Vec<Value>,
    outer: &str,
    inner: &str,
    default: usize,
    max: usize,
) -> Result<Value, Failure> {
    let size = page_size("MaxItems", call.params.number("MaxItems")?, default, max)?;
    let offset = parse_offset_token("Marker", call.params.get("Marker"))?;
    let (items, next) = page(items, offset, size);
    let mut map = Map::new();
    map.insert("IsTruncated".into(), json!(next.is_some()));
    if let Some(next) = next {
        map.insert("Marker".into(), json!(offset_token(next)));
    }
    map.insert(outer.into(), json!({ inner: items }));
    Ok(Value::Object(map))
}

// ---- users -----------------------------------------------------------------------------------

fn user_json(ctx: &Ctx<'_>, u: &RamUserRecord, full: bool) -> Result<Value, Failure> {
    let extra = extras(ctx, "user", &u.name)?;
    let mut v = json!({
        "UserId": u.id,
        "UserName": u.name,
        "DisplayName": u.display_name.clone().unwrap_or_default(),
        "MobilePhone": extra_text(&extra, "MobilePhone"),
        "Email": extra_text(&extra, "Email"),
        "Comments": u.comments.clone().unwrap_or_default(),
        "CreateDate": ram_time(u.create_date),
        "UpdateDate": update_date(&extra, u.create_date),
    });
    if full && let Value::Object(map) = &mut v {
        map.insert("LastLoginDate".into(), json!(""));
    }
    Ok(v)
}

fn create_user(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("UserName")?;
    check_name("UserName", name, &RAM_USER_NAME)?;
    check_len("DisplayName", p.text("DisplayName"), 128)?;
    check_len("Comments", p.text("Comments"), 128)?;
    ctx.store
        .create_user(&RamUser {
            name: name.to_string(),
            display_name: p.text("DisplayName").map(str::to_string),
            comments: p.text("Comments").map(str::to_string),
        })
        .map_err(store)?;
    let mut extra = Map::new();
    for key in ["MobilePhone", "Email"] {
        if let Some(v) = p.text(key) {
            extra.insert(key.into(), json!(v));
        }
    }
    set_extras(ctx, "user", name, &extra)?;
    let created = user(ctx, name)?;
    let mut v = user_json(ctx, &created, false)?;
    if let Value::Object(map) = &mut v {
        map.remove("UpdateDate");
    }
    Ok(json!({ "User": v }))
}

fn update_user(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("UserName")?;
    let current = user(ctx, name)?;
    if let Some(new) = p.text("NewUserName")
        && new != name
    {
        return Err(Failure::invalid(
            "NewUserName",
            "renaming users is not supported by the emulator",
        ));
    }
    check_len("NewDisplayName", p.get("NewDisplayName"), 128)?;
    check_len("NewComments", p.get("NewComments"), 128)?;
    // Parameters left out keep their value; a parameter sent empty clears it.
    let pick = |key: &str, old: Option<String>| match p.get(key) {
        Some("") => None,
        Some(v) => Some(v.to_string()),
        None => old,
    };
    ctx.store
        .update_user(&RamUser {
            name: name.to_string(),
            display_name: pick("NewDisplayName", current.display_name),
            comments: pick("NewComments", current.comments),
        })
        .map_err(store)?;
    let mut extra = extras(ctx, "user", name)?;
    for (param, key) in [("NewMobilePhone", "MobilePhone"), ("NewEmail", "Email")] {
        if let Some(v) = p.get(param) {
            extra.insert(key.into(), json!(v));
        }
    }
    extra.insert("UpdateDate".into(), json!(now_ms()));
    set_extras(ctx, "user", name, &extra)?;
    let updated = user(ctx, name)?;
    Ok(json!({"User": user_json(ctx, &updated, false)?}))
}

// ---- groups ----------------------------------------------------------------------------------

fn group_json(ctx: &Ctx<'_>, g: &RamGroupRecord) -> Result<Value, Failure> {
    let extra = extras(ctx, "group", &g.name)?;
    Ok(json!({
        "GroupId": g.id,
        "GroupName": g.name,
        "Comments": g.comments.clone().unwrap_or_default(),
        "CreateDate": ram_time(g.create_date),
        "UpdateDate": update_date(&extra, g.create_date),
    }))
}

fn create_group(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("GroupName")?;
    check_name("GroupName", name, &RAM_GROUP_NAME)?;
    check_len("Comments", p.text("Comments"), 128)?;
    ctx.store
        .create_group(&RamGroup {
            name: name.to_string(),
            comments: p.text("Comments").map(str::to_string),
        })
        .map_err(store)?;
    set_extras(ctx, "group", name, &Map::new())?;
    let g = group(ctx, name)?;
    Ok(json!({"Group": {
        "GroupId": g.id,
        "GroupName": g.name,
        "Comments": g.comments.unwrap_or_default(),
        "CreateDate": ram_time(g.create_date),
    }}))
}

fn update_group(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("GroupName")?;
    let current = group(ctx, name)?;
    if let Some(new) = p.text("NewGroupName")
        && new != name
    {
        return Err(Failure::invalid(
            "NewGroupName",
            "renaming groups is not supported by the emulator",
        ));
    }
    check_len("NewComments", p.get("NewComments"), 128)?;
    let comments = match p.get("NewComments") {
        Some("") => None,
        Some(v) => Some(v.to_string()),
        None => current.comments,
    };
    ctx.store
        .update_group(&RamGroup {
            name: name.to_string(),
            comments,
        })
        .map_err(store)?;
    let mut extra = extras(ctx, "group", name)?;
    extra.insert("UpdateDate".into(), json!(now_ms()));
    set_extras(ctx, "group", name, &extra)?;
    let updated = group(ctx, name)?;
    Ok(json!({"Group": group_json(ctx, &updated)?}))
}

// ---- roles -----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoleView {
    Create,
    Get,
    Update,
    List,
}

fn role_json(ctx: &Ctx<'_>, r: &RamRoleRecord, view: RoleView) -> Result<Value, Failure> {
    let extra = extras(ctx, "role", &r.name)?;
    let mut map = Map::new();
    map.insert("RoleId".into(), json!(r.id));
    map.insert("RoleName".into(), json!(r.name));
    map.insert(
        "Arn".into(),
        json!(format!("acs:ram::{}:role/{}", ctx.account_uid, r.name)),
    );
    map.insert(
        "Description".into(),
        json!(r.description.clone().unwrap_or_default()),
    );
    // List items carry no trust policy (contract §2.4).
    if view != RoleView::List {
        map.insert(
            "AssumeRolePolicyDocument".into(),
            json!(r.trust_policy.to_string()),
        );
    }
    map.insert("MaxSessionDuration".into(), json!(r.max_session_duration));
    map.insert(
        "AllowConsoleLogin".into(),
        json!(
            extra
                .get("AllowConsoleLogin")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        ),
    );
    map.insert("CreateDate".into(), json!(ram_time(r.create_date)));
    if view != RoleView::Create {
        map.insert(
            "UpdateDate".into(),
            json!(update_date(&extra, r.create_date)),
        );
    }
    match view {
        RoleView::Get => {
            map.insert("IsServiceLinkedRole".into(), json!(false));
            map.insert(
                "RolePrincipalName".into(),
                json!(format!(
                    "{}@role.{}.onaliyunservice.com",
                    r.name, ctx.account_uid
                )),
            );
        }
        RoleView::List => {
            map.insert(
                "Tags".into(),
                json!({"Tag": tags_json(&tags(ctx, "role", &r.name)?)}),
            );
        }
        RoleView::Create | RoleView::Update => {}
    }
    Ok(Value::Object(map))
}

fn session_duration(p: &super::wire::Params, key: &str) -> Result<Option<u32>, Failure> {
    let value: Option<u32> = p.number(key)?;
    if let Some(v) = value
        && !(3600..=43200).contains(&v)
    {
        return Err(Failure::invalid(
            key,
            format!("{v} is outside 3600 to 43200 seconds"),
        ));
    }
    Ok(value)
}

fn create_role(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("RoleName")?;
    check_name("RoleName", name, &RAM_ROLE_NAME)?;
    check_len("Description", p.text("Description"), 1024)?;
    let trust = policy_document(p, "AssumeRolePolicyDocument", PolicyKind::Trust)?;
    let duration = session_duration(p, "MaxSessionDuration")?.unwrap_or(3600);
    let console = p.bool("AllowConsoleLogin")?;
    let new_tags = parse_tags(p, "Tag")?;
    ctx.store
        .create_role(&RamRole {
            name: name.to_string(),
            description: p.text("Description").map(str::to_string),
            trust_policy: trust,
            max_session_duration: duration,
        })
        .map_err(store)?;
    let mut extra = Map::new();
    if let Some(c) = console {
        extra.insert("AllowConsoleLogin".into(), json!(c));
    }
    extra.insert("Tags".into(), tags_value(&new_tags));
    set_extras(ctx, "role", name, &extra)?;
    let created = role(ctx, name)?;
    Ok(json!({"Role": role_json(ctx, &created, RoleView::Create)?}))
}

fn update_role(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("RoleName")?;
    let current = role(ctx, name)?;
    let trust = match p.text("NewAssumeRolePolicyDocument") {
        Some(_) => policy_document(p, "NewAssumeRolePolicyDocument", PolicyKind::Trust)?,
        None => current.trust_policy,
    };
    check_len("NewDescription", p.get("NewDescription"), 1024)?;
    let description = match p.get("NewDescription") {
        Some("") => None,
        Some(v) => Some(v.to_string()),
        None => current.description,
    };
    let duration =
        session_duration(p, "NewMaxSessionDuration")?.unwrap_or(current.max_session_duration);
    let console = p.bool("NewAllowConsoleLogin")?;
    ctx.store
        .update_role(&RamRole {
            name: name.to_string(),
            description,
            trust_policy: trust,
            max_session_duration: duration,
        })
        .map_err(store)?;
    let mut extra = extras(ctx, "role", name)?;
    if let Some(c) = console {
        extra.insert("AllowConsoleLogin".into(), json!(c));
    }
    extra.insert("UpdateDate".into(), json!(now_ms()));
    set_extras(ctx, "role", name, &extra)?;
    let updated = role(ctx, name)?;
    Ok(json!({"Role": role_json(ctx, &updated, RoleView::Update)?}))
}

// ---- policies --------------------------------------------------------------------------------

/// A system policy as RAM shows it: read-only, one version, a broad document.
fn system_document(name: &str) -> Value {
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

fn system_versions(name: &str) -> Result<Vec<PolicyVersionRecord>, Failure> {
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
const SYSTEM_CREATED: i64 = 1_422_016_398_000;

fn version_json(v: &PolicyVersionRecord) -> Value {
    json!({
        "VersionId": v.version_id,
        "IsDefaultVersion": v.is_default,
        "PolicyDocument": v.document.to_string(),
        "CreateDate": ram_time(v.create_date),
    })
}

fn attachment_count(attachments: &[AttachmentRecord], name: &str, kind: PolicyType) -> usize {
    attachments
        .iter()
        .filter(|a| a.policy == name && a.policy_type == kind)
        .count()
}

fn create_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn get_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn delete_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn list_policies(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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
fn principal_of(ctx: &Ctx<'_>, call: &Call<'_>) -> Result<Principal, Failure> {
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

fn attach_or_detach(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn policies_for(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn entities_for_policy(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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
            Principal::User(n) => u.push(json!({
                "UserId": users.get(n).map(|x| x.id.clone()).unwrap_or_default(),
                "UserName": n,
                "DisplayName": users.get(n).and_then(|x| x.display_name.clone()).unwrap_or_default(),
                "AttachDate": date,
            })),
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

// ---- tags ------------------------------------------------------------------------------------

type Tags = BTreeMap<String, String>;

fn tags(ctx: &Ctx<'_>, kind: &str, name: &str) -> Result<Tags, Failure> {
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

fn tags_value(tags: &Tags) -> Value {
    Value::Object(tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

fn tags_json(tags: &Tags) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
        .collect()
}

/// `Tag=[{"Key":"env","Value":"prod"}]`, at most 20, keys ≤ 128 and values ≤ 256 characters.
fn parse_tags(p: &super::wire::Params, param: &str) -> Result<Tags, Failure> {
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
fn tag_filter(call: &Call<'_>) -> Result<Vec<(String, Option<String>)>, Failure> {
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

fn tags_match(tags: &Tags, filter: &[(String, Option<String>)]) -> bool {
    filter.iter().all(|(k, v)| {
        tags.get(k)
            .is_some_and(|have| v.as_ref().is_none_or(|v| v == have))
    })
}

/// `ResourceType` (`role` or `policy`) and `ResourceNames`, each checked to exist.
fn tag_targets(
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

fn tag_resources(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn untag_resources(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

fn list_tag_resources(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::wire::Params;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_action_routes_to_post_root() {
        assert!(ROUTES.iter().all(|r| r.method == "POST" && r.path == "/"));
        assert_eq!(ROUTES.len(), ACTIONS.len());
        assert!(ROUTES.iter().any(|r| r.action == "ListEntitiesForPolicy"));
    }

    #[test]
    fn names_and_documents_are_checked_with_rams_codes() {
        assert_eq!(
            check_name("UserName", "bad name", &RAM_USER_NAME)
                .unwrap_err()
                .code,
            "InvalidParameter.UserName.InvalidChars"
        );
        assert_eq!(
            check_name("RoleName", &"r".repeat(65), &RAM_ROLE_NAME)
                .unwrap_err()
                .code,
            "InvalidParameter.RoleName.Length"
        );
        let bad = params(&[("PolicyDocument", "{not json")]);
        assert_eq!(
            policy_document(&bad, "PolicyDocument", PolicyKind::Permission)
                .unwrap_err()
                .code,
            "MalformedPolicyDocument"
        );
        let wrong = params(&[(
            "PolicyDocument",
            r#"{"Version":"1","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
        )]);
        assert_eq!(
            policy_document(&wrong, "PolicyDocument", PolicyKind::Permission)
                .unwrap_err()
                .code,
            "MalformedPolicyDocument"
        );
        let good = params(&[(
            "PolicyDocument",
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"sfm:*","Resource":"*"}]}"#,
        )]);
        assert!(policy_document(&good, "PolicyDocument", PolicyKind::Permission).is_ok());
    }

    #[test]
    fn tags_parse_and_filter() {
        let p = params(&[(
            "Tag",
            r#"[{"Key":"env","Value":"prod"},{"Key":"team","Value":"ml"}]"#,
        )]);
        let t = parse_tags(&p, "Tag").unwrap();
        assert_eq!(t.get("env").map(String::as_str), Some("prod"));
        assert!(tags_match(&t, &[("env".into(), Some("prod".into()))]));
        assert!(tags_match(&t, &[("team".into(), None)]));
        assert!(!tags_match(&t, &[("env".into(), Some("dev".into()))]));
        let bad = params(&[("Tag", r#"[{"Value":"x"}]"#)]);
        assert!(parse_tags(&bad, "Tag").is_err());
    }

    #[test]
    fn system_policies_have_read_only_shapes() {
        let doc = system_document("AliyunBailianReadOnlyAccess");
        assert_eq!(doc["Statement"][0]["Action"][0], "bailian:Get*");
        assert_eq!(
            system_document("AliyunRAMFullAccess")["Statement"][0]["Action"],
            "ram:*"
        );
        assert!(system_versions("NotAPolicy").is_err());
    }
}
