//! PAI AIWorkSpace 2021-02-04 handlers (contract §3): workspaces, the default workspace,
//! members and their roles, and the users that can become members. PascalCase JSON bodies and
//! answers with plain arrays, `PageNumber`/`PageSize` paging with `TotalCount`.
//!
//! Members are RAM users: the API names them by `UserId` (the RAM user's id; a user name is
//! accepted too), the store by user name. Which workspace is a region's default, and when a
//! workspace was last modified, live in the store's meta table.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::wire::{Codes, Failure, from_backend, fuzzy, leaf_text, now_ms, pai_time, string_list};
use super::{Call, Ctx, Route};
use crate::model::PaiWorkspace;
use crate::store::{PaiMemberRecord, PaiWorkspaceRecord, RamUserRecord};

pub(crate) const ROUTES: &[Route] = &[
    route("CreateWorkspace", "POST", "/api/v1/workspaces"),
    route("ListWorkspaces", "GET", "/api/v1/workspaces"),
    route("GetWorkspace", "GET", "/api/v1/workspaces/*"),
    route("UpdateWorkspace", "PUT", "/api/v1/workspaces/*"),
    route("DeleteWorkspace", "DELETE", "/api/v1/workspaces/*"),
    route("GetDefaultWorkspace", "GET", "/api/v1/defaultWorkspaces"),
    route("UpdateDefaultWorkspace", "PUT", "/api/v1/defaultWorkspaces"),
    route("CreateMember", "POST", "/api/v1/workspaces/*/members"),
    route("ListMembers", "GET", "/api/v1/workspaces/*/members"),
    route("GetMember", "GET", "/api/v1/workspaces/*/member"),
    route("DeleteMembers", "DELETE", "/api/v1/workspaces/*/members"),
    route(
        "AddMemberRole",
        "POST",
        "/api/v1/workspaces/*/members/*/roles/*",
    ),
    route(
        "RemoveMemberRole",
        "DELETE",
        "/api/v1/workspaces/*/members/*/roles/*",
    ),
    route("ListWorkspaceUsers", "GET", "/api/v1/workspaces/*/users"),
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
    "InvalidParameter.WorkspaceName",
);
const MEMBER: Codes = Codes::new(
    "Member.NotFound",
    "Member.AlreadyExists",
    "Member.OperationDenied",
    "InvalidParameter.Roles",
);

pub(crate) fn handle(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    match call.action {
        "CreateWorkspace" => create_workspace(ctx, call),
        "ListWorkspaces" => list_workspaces(ctx, call),
        "GetWorkspace" => {
            let ws = workspace(ctx, path(call, 0))?;
            let verbose = call.params.bool("Verbose")?.unwrap_or(false);
            workspace_json(ctx, &ws, View::Get { verbose })
        }
        "UpdateWorkspace" => {
            let ws = workspace(ctx, path(call, 0))?;
            let description = body_text(call, "Description")?.unwrap_or(ws.description);
            check_description(&description)?;
            let display = body_text(call, "DisplayName")?.or(ws.display_name);
            ctx.store
                .update_pai_workspace(&ws.id, display.as_deref(), &description)
                .map_err(|e| from_backend(e, WORKSPACE))?;
            ctx.set_meta(&modified_key(&ws.id), &now_ms().to_string())?;
            Ok(json!({}))
        }
        "DeleteWorkspace" => {
            let ws = workspace(ctx, path(call, 0))?;
            ctx.store
                .delete_pai_workspace(&ws.id)
                .map_err(|e| from_backend(e, WORKSPACE))?;
            ctx.set_meta(&modified_key(&ws.id), "")?;
            if default_id(ctx, &ws.region)?.as_deref() == Some(ws.id.as_str()) {
                ctx.set_meta(&default_key(&ws.region), "")?;
            }
            Ok(json!({}))
        }
        "GetDefaultWorkspace" => {
            let id = default_id(ctx, ctx.region)?.ok_or_else(|| {
                Failure::not_found(
                    "Workspace.NotFound",
                    format!("Region `{}` has no default PAI workspace.", ctx.region),
                )
            })?;
            let ws = workspace(ctx, &id)?;
            let verbose = call.params.bool("Verbose")?.unwrap_or(false);
            workspace_json(ctx, &ws, View::Default { verbose })
        }
        "UpdateDefaultWorkspace" => {
            let id =
                body_text(call, "WorkspaceId")?.ok_or_else(|| Failure::missing("WorkspaceId"))?;
            let ws = workspace(ctx, &id)?;
            ctx.set_meta(&default_key(&ws.region), &ws.id)?;
            Ok(json!({}))
        }
        "CreateMember" => create_members(ctx, call),
        "ListMembers" => list_members(ctx, call),
        "GetMember" => {
            let ws = workspace(ctx, path(call, 0))?;
            let users = users_by_name(ctx)?;
            let member_id = call.params.text("MemberId");
            let user_id = call.params.text("UserId");
            if member_id.is_some() == user_id.is_some() {
                return Err(Failure::invalid(
                    "MemberId",
                    "give exactly one of MemberId and UserId",
                ));
            }
            let member = members(ctx, &ws)?
                .into_iter()
                .find(|m| {
                    member_id.is_some_and(|id| m.member_id == id)
                        || user_id
                            .is_some_and(|id| user_id_of(&users, &m.user) == id || m.user == id)
                })
                .ok_or_else(member_missing)?;
            Ok(member_json(&member, &users, true))
        }
        "DeleteMembers" => {
            let ws = workspace(ctx, path(call, 0))?;
            let ids = call.params.list("MemberIds");
            if ids.is_empty() {
                return Err(Failure::missing("MemberIds"));
            }
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            ctx.store
                .delete_pai_members(&ws.id, &ids)
                .map_err(|e| from_backend(e, MEMBER))?;
            Ok(json!({"Code": "200", "Message": "success"}))
        }
        "AddMemberRole" | "RemoveMemberRole" => {
            let ws = workspace(ctx, path(call, 0))?;
            let member_id = path(call, 1);
            let role = path(call, 2);
            let member = members(ctx, &ws)?
                .into_iter()
                .find(|m| m.member_id == member_id)
                .ok_or_else(member_missing)?;
            let mut roles = member.roles.clone();
            if call.action == "AddMemberRole" {
                roles.insert(role.to_string());
            } else if !roles.remove(role) {
                return Err(Failure::not_found(
                    "MemberRole.NotFound",
                    format!("Member `{member_id}` does not hold role `{role}`."),
                ));
            }
            if roles != member.roles {
                ctx.store
                    .set_pai_member_roles(&ws.id, member_id, &roles)
                    .map_err(|e| from_backend(e, MEMBER))?;
            }
            Ok(json!({}))
        }
        "ListWorkspaceUsers" => {
            let ws = workspace(ctx, path(call, 0))?;
            let taken: BTreeSet<String> = members(ctx, &ws)?.into_iter().map(|m| m.user).collect();
            let user_id = call.params.text("UserId");
            let user_name = call.params.text("UserName");
            let users: Vec<Value> = ctx
                .store
                .list_users()
                .map_err(|e| from_backend(e, MEMBER))?
                .into_iter()
                .filter(|u| !taken.contains(&u.name))
                .filter(|u| user_id.is_none_or(|id| u.id == id))
                .filter(|u| {
                    user_name.is_none_or(|n| {
                        fuzzy(&u.name, n) || u.display_name.as_deref().is_some_and(|d| fuzzy(d, n))
                    })
                })
                .map(|u| json!({"UserId": u.id, "UserName": u.name}))
                .collect();
            Ok(json!({"TotalCount": users.len(), "Users": users}))
        }
        other => Err(Failure::new(
            404,
            "InvalidAction.NotFound",
            format!("`{other}` is not implemented"),
        )),
    }
}

fn path<'a>(call: &'a Call<'_>, i: usize) -> &'a str {
    call.path.get(i).map(String::as_str).unwrap_or_default()
}

// ---- JSON body -------------------------------------------------------------------------------

fn body_field<'a>(call: &'a Call<'_>, key: &str) -> Option<&'a Value> {
    call.json
        .as_ref()
        .and_then(|b| b.get(key))
        .filter(|v| !v.is_null())
}

fn body_text(call: &Call<'_>, key: &str) -> Result<Option<String>, Failure> {
    body_field(call, key)
        .map(|v| leaf_text(v).ok_or_else(|| Failure::invalid(key, "expected a string")))
        .transpose()
}

fn check_description(description: &str) -> Result<(), Failure> {
    if description.chars().count() > 80 {
        return Err(Failure::invalid("Description", "at most 80 characters"));
    }
    Ok(())
}

// ---- workspaces ------------------------------------------------------------------------------

fn modified_key(id: &str) -> String {
    format!("emulator.pai.modified.{id}")
}

fn default_key(region: &str) -> String {
    format!("emulator.pai.default.{region}")
}

fn default_id(ctx: &Ctx<'_>, region: &str) -> Result<Option<String>, Failure> {
    ctx.meta(&default_key(region))
}

fn workspace(ctx: &Ctx<'_>, id: &str) -> Result<PaiWorkspaceRecord, Failure> {
    ctx.store
        .list_pai_workspaces(None)
        .map_err(|e| from_backend(e, WORKSPACE))?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| {
            Failure::not_found(
                "Workspace.NotFound",
                format!("Workspace `{id}` does not exist."),
            )
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Get { verbose: bool },
    List { verbose: bool },
    Default { verbose: bool },
}

fn workspace_json(ctx: &Ctx<'_>, ws: &PaiWorkspaceRecord, view: View) -> Result<Value, Failure> {
    let modified = ctx
        .meta(&modified_key(&ws.id))?
        .and_then(|m| m.parse().ok())
        .unwrap_or(ws.gmt_create);
    let is_default = default_id(ctx, &ws.region)?.as_deref() == Some(ws.id.as_str());
    let mut map = Map::new();
    map.insert("WorkspaceId".into(), json!(ws.id));
    map.insert("WorkspaceName".into(), json!(ws.name));
    map.insert(
        "DisplayName".into(),
        json!(ws.display_name.clone().unwrap_or_else(|| ws.name.clone())),
    );
    map.insert("Description".into(), json!(ws.description));
    map.insert("EnvTypes".into(), json!(ws.env_types));
    map.insert("Status".into(), json!("ENABLED"));
    map.insert("Creator".into(), json!(ctx.account_uid));
    map.insert("GmtCreateTime".into(), json!(pai_time(ws.gmt_create)));
    map.insert("GmtModifiedTime".into(), json!(pai_time(modified)));
    let verbose = match view {
        View::Get { verbose } | View::List { verbose } | View::Default { verbose } => verbose,
    };
    match view {
        View::Default { .. } => {
            map.insert(
                "Conditions".into(),
                json!([
                    {"Type": "WORKSPACE_CREATED", "Code": 200, "Message": ""},
                    {"Type": "ENABLED", "Code": 200, "Message": ""},
                ]),
            );
        }
        View::Get { .. } | View::List { .. } => {
            map.insert("AdminNames".into(), json!([]));
            map.insert("IsDefault".into(), json!(is_default));
            map.insert("ExtraInfos".into(), json!({"TenantId": ctx.account_uid}));
            // The list's one lower-camel key (contract §3.1).
            let key = if matches!(view, View::List { .. }) {
                "resourceGroupId"
            } else {
                "ResourceGroupId"
            };
            map.insert(key.into(), json!(""));
        }
    }
    if verbose && !matches!(view, View::List { .. }) {
        map.insert(
            "Owner".into(),
            json!({
                "UserId": ctx.account_uid,
                "UserKp": ctx.account_uid,
                "UserName": "root",
                "DisplayName": "root",
            }),
        );
    }
    Ok(Value::Object(map))
}

fn create_workspace(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let name = body_text(call, "WorkspaceName")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Failure::missing("WorkspaceName"))?;
    let description =
        body_text(call, "Description")?.ok_or_else(|| Failure::missing("Description"))?;
    check_description(&description)?;
    let env_types = match body_field(call, "EnvTypes") {
        Some(v) => string_list("EnvTypes", v)?,
        None => return Err(Failure::missing("EnvTypes")),
    };
    if env_types != ["prod"] && env_types != ["dev", "prod"] {
        return Err(Failure::invalid(
            "EnvTypes",
            "expected [\"prod\"] (simple mode) or [\"dev\", \"prod\"] (standard mode)",
        ));
    }
    let display_name = body_text(call, "DisplayName")?.filter(|d| !d.is_empty());
    let id = ctx
        .store
        .create_pai_workspace(&PaiWorkspace {
            name,
            region: ctx.region.to_string(),
            display_name,
            description,
            env_types,
        })
        .map_err(|e| from_backend(e, WORKSPACE))?;
    Ok(json!({"WorkspaceId": id}))
}

fn list_workspaces(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.text("WorkspaceName");
    let ids: BTreeSet<String> = p.list("WorkspaceIds").into_iter().collect();
    let status = p.text("Status");
    let verbose = p.bool("Verbose")?.unwrap_or(false);
    let by_modified = match p.text("SortBy").unwrap_or("GmtCreateTime") {
        "GmtCreateTime" => false,
        "GmtModifiedTime" => true,
        other => {
            return Err(Failure::invalid(
                "SortBy",
                format!("`{other}` is not GmtCreateTime or GmtModifiedTime"),
            ));
        }
    };
    let descending = match p.text("Order").unwrap_or("ASC") {
        o if o.eq_ignore_ascii_case("ASC") => false,
        o if o.eq_ignore_ascii_case("DESC") => true,
        other => {
            return Err(Failure::invalid(
                "Order",
                format!("`{other}` is not ASC or DESC"),
            ));
        }
    };
    let mut items = Vec::new();
    for ws in ctx
        .store
        .list_pai_workspaces(Some(ctx.region))
        .map_err(|e| from_backend(e, WORKSPACE))?
    {
        if name.is_some_and(|n| !fuzzy(&ws.name, n))
            || (!ids.is_empty() && !ids.contains(&ws.id))
            || status.is_some_and(|s| s != "ENABLED")
        {
            continue;
        }
        let json = workspace_json(ctx, &ws, View::List { verbose })?;
        let key = if by_modified {
            json["GmtModifiedTime"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            json["GmtCreateTime"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        items.push((key, ws.id.parse::<u64>().unwrap_or_default(), json));
    }
    items.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    if descending {
        items.reverse();
    }
    let items: Vec<Value> = items.into_iter().map(|(_, _, v)| v).collect();
    let (total, page) = paginate(call, items)?;
    let mut out = json!({"TotalCount": total, "Workspaces": page});
    if p.text("Option") == Some("GetResourceLimits")
        && let Value::Object(map) = &mut out
    {
        map.insert(
            "ResourceLimits".into(),
            json!({"MaxCompute_share": 1, "DLC_share": 1, "PAI_isolate": 1}),
        );
    }
    Ok(out)
}

/// `PageNumber` (from 1) and `PageSize` (1 to 100, default 20) over `items`.
fn paginate(call: &Call<'_>, items: Vec<Value>) -> Result<(usize, Vec<Value>), Failure> {
    let number: i64 = call.params.number("PageNumber")?.unwrap_or(1);
    if number < 1 {
        return Err(Failure::invalid("PageNumber", "pages are numbered from 1"));
    }
    let size = super::wire::page_size("PageSize", call.params.number("PageSize")?, 20, 100)?;
    let total = items.len();
    let offset = usize::try_from(number - 1)
        .unwrap_or(usize::MAX)
        .saturating_mul(size);
    Ok((total, super::wire::page(items, offset, size).0))
}

// ---- members ---------------------------------------------------------------------------------

fn member_missing() -> Failure {
    Failure::not_found(
        "Member.NotFound",
        "The member does not exist in the workspace.",
    )
}

fn members(ctx: &Ctx<'_>, ws: &PaiWorkspaceRecord) -> Result<Vec<PaiMemberRecord>, Failure> {
    ctx.store
        .list_pai_members(Some(&ws.id))
        .map_err(|e| from_backend(e, MEMBER))
}

fn users_by_name(ctx: &Ctx<'_>) -> Result<BTreeMap<String, RamUserRecord>, Failure> {
    Ok(ctx
        .store
        .list_users()
        .map_err(|e| from_backend(e, MEMBER))?
        .into_iter()
        .map(|u| (u.name.clone(), u))
        .collect())
}

fn user_id_of(users: &BTreeMap<String, RamUserRecord>, name: &str) -> String {
    users
        .get(name)
        .map(|u| u.id.clone())
        .unwrap_or_else(|| name.to_string())
}

fn member_json(m: &PaiMemberRecord, users: &BTreeMap<String, RamUserRecord>, get: bool) -> Value {
    let display = users
        .get(&m.user)
        .and_then(|u| u.display_name.clone())
        .unwrap_or_else(|| m.user.clone());
    let mut map = Map::new();
    map.insert("MemberId".into(), json!(m.member_id));
    map.insert("UserId".into(), json!(user_id_of(users, &m.user)));
    map.insert("MemberName".into(), json!(m.user));
    map.insert("DisplayName".into(), json!(display));
    if !get {
        map.insert("AccountName".into(), json!(m.user));
    }
    // "5" = a RAM user: the store's members are RAM users.
    map.insert("AccountType".into(), json!("5"));
    map.insert("GmtCreateTime".into(), json!(pai_time(m.gmt_create)));
    map.insert("Roles".into(), json!(m.roles));
    Value::Object(map)
}

fn create_members(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, path(call, 0))?;
    let Some(Value::Array(items)) = body_field(call, "Members") else {
        return Err(Failure::missing("Members"));
    };
    if items.is_empty() {
        return Err(Failure::missing("Members"));
    }
    let users = users_by_name(ctx)?;
    let existing: BTreeSet<String> = members(ctx, &ws)?.into_iter().map(|m| m.user).collect();
    // Resolve and check every member before adding any.
    let mut wanted: Vec<(String, BTreeSet<String>)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |f: &str| format!("Members.{}.{f}", i + 1);
        let user_id = item
            .get("UserId")
            .and_then(leaf_text)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Failure::missing(&at("UserId")))?;
        let name = users
            .values()
            .find(|u| u.id == user_id)
            .or_else(|| users.get(&user_id))
            .map(|u| u.name.clone())
            .ok_or_else(|| {
                Failure::invalid(&at("UserId"), format!("no RAM user has id `{user_id}`"))
            })?;
        let roles: BTreeSet<String> = match item.get("Roles") {
            Some(v) => string_list(&at("Roles"), v)?.into_iter().collect(),
            None => return Err(Failure::missing(&at("Roles"))),
        };
        if existing.contains(&name) || wanted.iter().any(|(n, _)| *n == name) {
            return Err(Failure::new(
                409,
                "Member.AlreadyExists",
                format!("User `{user_id}` is already a member of the workspace."),
            ));
        }
        wanted.push((name, roles));
    }
    let mut created = Vec::new();
    for (name, roles) in wanted {
        let member_id = ctx
            .store
            .create_pai_member(&ws.id, &name, &roles)
            .map_err(|e| from_backend(e, MEMBER))?;
        let display = users
            .get(&name)
            .and_then(|u| u.display_name.clone())
            .unwrap_or_else(|| name.clone());
        created.push(json!({
            "MemberId": member_id,
            "UserId": user_id_of(&users, &name),
            "DisplayName": display,
            "Roles": roles,
        }));
    }
    Ok(json!({"Members": created}))
}

fn list_members(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let ws = workspace(ctx, path(call, 0))?;
    let users = users_by_name(ctx)?;
    let name = call.params.text("MemberName");
    let roles: BTreeSet<String> = call.params.list("Roles").into_iter().collect();
    let user_id = call.params.text("UserId");
    let items: Vec<Value> = members(ctx, &ws)?
        .iter()
        .filter(|m| name.is_none_or(|n| fuzzy(&m.user, n)))
        .filter(|m| roles.is_empty() || m.roles.iter().any(|r| roles.contains(r)))
        .filter(|m| user_id.is_none_or(|id| user_id_of(&users, &m.user) == id))
        .map(|m| member_json(m, &users, false))
        .collect();
    let (total, page) = paginate(call, items)?;
    Ok(json!({"TotalCount": total, "Members": page}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::match_route;

    #[test]
    fn member_role_paths_capture_three_segments() {
        let route = ROUTES.iter().find(|r| r.action == "AddMemberRole").unwrap();
        assert_eq!(
            match_route(
                route,
                "POST",
                "/api/v1/workspaces/123/members/m1/roles/PAI.WorkspaceAdmin"
            ),
            Some(vec!["123".into(), "m1".into(), "PAI.WorkspaceAdmin".into()])
        );
        let get = ROUTES.iter().find(|r| r.action == "GetMember").unwrap();
        assert!(match_route(get, "GET", "/api/v1/workspaces/123/members").is_none());
    }
}
