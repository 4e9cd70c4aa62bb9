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

mod policies;
mod principals;
mod tags;

use policies::*;
use principals::*;
use tags::*;

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
                    json!({
                        "UserName": m.user,
                        "DisplayName": display,
                        "JoinDate": ram_time(m.join_date),
                    })
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
                            "`{other}` is not None or \
                                DeleteOldestNonDefaultVersionWhenLimitExceeded"
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

#[cfg(test)]
mod tests;
