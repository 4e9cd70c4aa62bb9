//! RAM users, groups and roles: their JSON and their create and update handlers.

use super::*;

// ---- users -----------------------------------------------------------------------------------

pub(super) fn user_json(ctx: &Ctx<'_>, u: &RamUserRecord, full: bool) -> Result<Value, Failure> {
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

pub(super) fn create_user(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

pub(super) fn update_user(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("UserName")?;
    let current = user(ctx, name)?;
    // `NewUserName` renames in place: the id, groups, policies and keys stay with the user.
    let renamed = p.text("NewUserName").filter(|new| *new != name);
    if let Some(new) = renamed {
        check_name("NewUserName", new, &RAM_USER_NAME)?;
        if ctx.store.user(new).is_ok() {
            return Err(Failure::new(
                409,
                "EntityAlreadyExists.User",
                "The user already exists.",
            ));
        }
    }
    check_len("NewDisplayName", p.get("NewDisplayName"), 128)?;
    check_len("NewComments", p.get("NewComments"), 128)?;
    // Parameters left out keep their value; a parameter sent empty clears it.
    let pick = |key: &str, old: Option<String>| match p.get(key) {
        Some("") => None,
        Some(v) => Some(v.to_string()),
        None => old,
    };
    let updated = RamUser {
        name: renamed.unwrap_or(name).to_string(),
        display_name: pick("NewDisplayName", current.display_name),
        comments: pick("NewComments", current.comments),
    };
    let mut extra = extras(ctx, "user", name)?;
    match renamed {
        Some(_) => {
            ctx.store.rename_user(name, &updated).map_err(store)?;
            ctx.set_meta(&extras_key("user", name), "")?;
        }
        None => ctx.store.update_user(&updated).map_err(store)?,
    }
    let name = updated.name.as_str();
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

pub(super) fn group_json(ctx: &Ctx<'_>, g: &RamGroupRecord) -> Result<Value, Failure> {
    let extra = extras(ctx, "group", &g.name)?;
    Ok(json!({
        "GroupId": g.id,
        "GroupName": g.name,
        "Comments": g.comments.clone().unwrap_or_default(),
        "CreateDate": ram_time(g.create_date),
        "UpdateDate": update_date(&extra, g.create_date),
    }))
}

pub(super) fn create_group(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

pub(super) fn update_group(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
    let p = &call.params;
    let name = p.required("GroupName")?;
    let current = group(ctx, name)?;
    // `NewGroupName` renames in place: the id, members and policies stay with the group.
    let renamed = p.text("NewGroupName").filter(|new| *new != name);
    if let Some(new) = renamed {
        check_name("NewGroupName", new, &RAM_GROUP_NAME)?;
        if ctx.store.group(new).is_ok() {
            return Err(Failure::new(
                409,
                "EntityAlreadyExists.Group",
                "The group already exists.",
            ));
        }
    }
    check_len("NewComments", p.get("NewComments"), 128)?;
    let comments = match p.get("NewComments") {
        Some("") => None,
        Some(v) => Some(v.to_string()),
        None => current.comments,
    };
    let updated = RamGroup {
        name: renamed.unwrap_or(name).to_string(),
        comments,
    };
    let mut extra = extras(ctx, "group", name)?;
    match renamed {
        Some(_) => {
            ctx.store.rename_group(name, &updated).map_err(store)?;
            ctx.set_meta(&extras_key("group", name), "")?;
        }
        None => ctx.store.update_group(&updated).map_err(store)?,
    }
    let name = updated.name.as_str();
    extra.insert("UpdateDate".into(), json!(now_ms()));
    set_extras(ctx, "group", name, &extra)?;
    let updated = group(ctx, name)?;
    Ok(json!({"Group": group_json(ctx, &updated)?}))
}

// ---- roles -----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RoleView {
    Create,
    Get,
    Update,
    List,
}

pub(super) fn role_json(
    ctx: &Ctx<'_>,
    r: &RamRoleRecord,
    view: RoleView,
) -> Result<Value, Failure> {
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

pub(super) fn session_duration(
    p: &crate::emulator::wire::Params,
    key: &str,
) -> Result<Option<u32>, Failure> {
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

pub(super) fn create_role(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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

pub(super) fn update_role(ctx: &mut Ctx<'_>, call: &Call<'_>) -> Result<Value, Failure> {
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
