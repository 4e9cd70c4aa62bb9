//! RAM users, groups and roles in the store.

use super::*;
use crate::policy::{RAM_GROUP_NAME, RAM_ROLE_NAME, RAM_USER_NAME, RamName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamUserRecord {
    /// Numeric string, like RAM's UserId.
    pub id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub comments: Option<String>,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamGroupRecord {
    pub id: String,
    pub name: String,
    pub comments: Option<String>,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRecord {
    pub group: String,
    pub user: String,
    pub join_date: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RamRoleRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub trust_policy: Value,
    pub max_session_duration: u32,
    pub create_date: i64,
}

/// Checks a name against RAM's rule for its kind (see [`crate::policy::RamName`]).
pub(super) fn check_ram_name(rule: &RamName, name: &str) -> Step<()> {
    if rule.problem(name).is_some() {
        let allowed: String = rule.extra.chars().map(|c| format!(" `{c}`")).collect();
        return Err(invalid(format!(
            "{} name `{name}` is not valid: RAM allows 1 to {} letters, digits and{allowed}",
            rule.kind, rule.max
        )));
    }
    Ok(())
}

pub(super) fn user_exists(c: &Connection, name: &str) -> Step<bool> {
    Ok(
        c.query_row("SELECT 1 FROM ram_user WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

pub(super) fn principal_exists(c: &Connection, principal: &Principal) -> Step<bool> {
    let sql = match principal {
        Principal::User(_) => "SELECT 1 FROM ram_user WHERE name = ?1",
        Principal::Group(_) => "SELECT 1 FROM ram_group WHERE name = ?1",
        Principal::Role(_) => "SELECT 1 FROM ram_role WHERE name = ?1",
    };
    Ok(c.query_row(sql, [principal.name()], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(super) fn list_users(c: &Connection, name: Option<&str>) -> Step<Vec<RamUserRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, display_name, comments, create_date FROM ram_user \
         WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        name.is_some(),
    ))?;
    let rows = stmt.query_map([name], |r| {
        Ok(RamUserRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            display_name: r.get(2)?,
            comments: r.get(3)?,
            create_date: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_groups(c: &Connection, name: Option<&str>) -> Step<Vec<RamGroupRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, comments, create_date FROM ram_group \
         WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        name.is_some(),
    ))?;
    let rows = stmt.query_map([name], |r| {
        Ok(RamGroupRecord {
            id: r.get(0)?,
            name: r.get(1)?,
            comments: r.get(2)?,
            create_date: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_group_members(
    c: &Connection,
    group: Option<&str>,
) -> Step<Vec<GroupMemberRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT group_name, user_name, join_date FROM ram_group_member \
         WHERE ?1 IS NULL OR group_name = ?1 ORDER BY group_name, user_name",
        group.is_some(),
    ))?;
    let rows = stmt.query_map([group], |r| {
        Ok(GroupMemberRecord {
            group: r.get(0)?,
            user: r.get(1)?,
            join_date: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_roles(c: &Connection, name: Option<&str>) -> Step<Vec<RamRoleRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, description, trust_policy, max_session_duration, create_date \
         FROM ram_role WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        name.is_some(),
    ))?;
    let raws = stmt
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(id, name, description, trust, max, create_date)| {
            Ok(RamRoleRecord {
                id,
                name,
                description,
                trust_policy: from_json(&trust, "a role's trust policy")?,
                max_session_duration: to_u32(max, "max session duration")?,
                create_date,
            })
        })
        .collect()
}

impl Store {
    // ---- RAM users, groups, roles ------------------------------------------------------------

    /// Creates a RAM user and returns its numeric id.
    pub fn create_user(&mut self, user: &RamUser) -> Result<String, BackendError> {
        let what = format!("create RAM user `{}`", user.name);
        self.write(&what, |c| {
            check_ram_name(&RAM_USER_NAME, &user.name)?;
            if user_exists(c, &user.name)? {
                return Err(conflict(format!(
                    "failed to {what}: the user already exists (EntityAlreadyExists.User)"
                )));
            }
            let id = random_numeric_id(c)?;
            c.execute(
                "INSERT INTO ram_user (name, id, display_name, comments, create_date) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user.name, id, user.display_name, user.comments, now_ms()],
            )?;
            Ok(id)
        })
    }

    pub fn update_user(&mut self, user: &RamUser) -> Result<(), BackendError> {
        self.write(&format!("update RAM user `{}`", user.name), |c| {
            let n = c.execute(
                "UPDATE ram_user SET display_name = ?2, comments = ?3 WHERE name = ?1",
                params![user.name, user.display_name, user.comments],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "RAM user `{}` does not exist (EntityNotExist.User)",
                    user.name
                )));
            }
            Ok(())
        })
    }

    /// Renames RAM user `old` to `user.name` in place and sets its other attributes, in one
    /// transaction (RAM `UpdateUser` with `NewUserName`): its id stays, and so do its group
    /// memberships, policy attachments, workspace and PAI memberships and the API keys it owns.
    pub fn rename_user(&mut self, old: &str, user: &RamUser) -> Result<(), BackendError> {
        let new = user.name.as_str();
        let what = format!("rename RAM user `{old}` to `{new}`");
        self.write(&what, |c| {
            check_ram_name(&RAM_USER_NAME, new)?;
            if !user_exists(c, old)? {
                return Err(not_found(format!(
                    "failed to {what}: the user does not exist (EntityNotExist.User)"
                )));
            }
            if old != new && user_exists(c, new)? {
                return Err(conflict(format!(
                    "failed to {what}: a user named `{new}` already exists \
                     (EntityAlreadyExists.User)"
                )));
            }
            // Every reference moves in this transaction; the foreign keys are checked at commit.
            c.pragma_update(None, "defer_foreign_keys", "ON")?;
            c.execute(
                "UPDATE ram_user SET name = ?2, display_name = ?3, comments = ?4 WHERE name = ?1",
                params![old, new, user.display_name, user.comments],
            )?;
            c.execute(
                "UPDATE ram_group_member SET user_name = ?2 WHERE user_name = ?1",
                [old, new],
            )?;
            c.execute(
                "UPDATE ram_attachment SET principal_name = ?2 \
                 WHERE principal_type = 'user' AND principal_name = ?1",
                [old, new],
            )?;
            c.execute(
                "UPDATE ms_member SET name = ?2 WHERE principal_type = 'user' AND name = ?1",
                [old, new],
            )?;
            c.execute(
                "UPDATE ms_api_key SET owner = ?2 WHERE owner = ?1",
                [old, new],
            )?;
            c.execute(
                "UPDATE pai_member SET user_name = ?2 WHERE user_name = ?1",
                [old, new],
            )?;
            Ok(())
        })
    }

    /// Deletes a RAM user: refused while in groups or holding policies; otherwise their API
    /// keys are disabled for good and their memberships (Model Studio, PAI) go away.
    pub fn delete_user(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete RAM user `{name}`");
        self.write(&what, |c| {
            if !user_exists(c, name)? {
                return Err(not_found(format!(
                    "failed to {what}: the user does not exist (EntityNotExist.User)"
                )));
            }
            let groups: Vec<String> = list_group_members(c, None)?
                .into_iter()
                .filter(|m| m.user == name)
                .map(|m| m.group)
                .collect();
            if !groups.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the user is still in group(s) {} \
                     (DeleteConflict.User.Group)\nhint: remove the user from every group first",
                    groups.join(", ")
                )));
            }
            let policies = attachments_of(c, &Principal::User(name.to_string()))?;
            if !policies.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the user still holds polic(ies) {} \
                     (DeleteConflict.User.Policy)\nhint: detach every policy first",
                    policies.join(", ")
                )));
            }
            c.execute(
                "UPDATE ms_api_key SET enabled = 0, disabled_reason = 'owner_deleted' \
                 WHERE owner = ?1",
                [name],
            )?;
            c.execute(
                "DELETE FROM ms_member WHERE principal_type = 'user' AND name = ?1",
                [name],
            )?;
            c.execute("DELETE FROM pai_member WHERE user_name = ?1", [name])?;
            c.execute("DELETE FROM ram_user WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn list_users(&self) -> Result<Vec<RamUserRecord>, BackendError> {
        self.read("list RAM users", |c| list_users(c, None))
    }

    /// One RAM user, by an indexed lookup.
    pub fn user(&self, name: &str) -> Result<RamUserRecord, BackendError> {
        self.read(&format!("read RAM user `{name}`"), |c| {
            list_users(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "RAM user `{name}` does not exist (EntityNotExist.User)"
                    ))
                })
        })
    }

    pub fn create_group(&mut self, group: &RamGroup) -> Result<String, BackendError> {
        let what = format!("create RAM group `{}`", group.name);
        self.write(&what, |c| {
            check_ram_name(&RAM_GROUP_NAME, &group.name)?;
            if principal_exists(c, &Principal::Group(group.name.clone()))? {
                return Err(conflict(format!(
                    "failed to {what}: the group already exists (EntityAlreadyExists.Group)"
                )));
            }
            let id = random_numeric_id(c)?;
            c.execute(
                "INSERT INTO ram_group (name, id, comments, create_date) VALUES (?1, ?2, ?3, ?4)",
                params![group.name, id, group.comments, now_ms()],
            )?;
            Ok(id)
        })
    }

    pub fn update_group(&mut self, group: &RamGroup) -> Result<(), BackendError> {
        self.write(&format!("update RAM group `{}`", group.name), |c| {
            let n = c.execute(
                "UPDATE ram_group SET comments = ?2 WHERE name = ?1",
                params![group.name, group.comments],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "RAM group `{}` does not exist (EntityNotExist.Group)",
                    group.name
                )));
            }
            Ok(())
        })
    }

    /// Renames RAM group `old` to `group.name` in place and sets its comments, in one
    /// transaction (RAM `UpdateGroup` with `NewGroupName`): its id, members and policy
    /// attachments stay.
    pub fn rename_group(&mut self, old: &str, group: &RamGroup) -> Result<(), BackendError> {
        let new = group.name.as_str();
        let what = format!("rename RAM group `{old}` to `{new}`");
        self.write(&what, |c| {
            check_ram_name(&RAM_GROUP_NAME, new)?;
            if !principal_exists(c, &Principal::Group(old.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the group does not exist (EntityNotExist.Group)"
                )));
            }
            if old != new && principal_exists(c, &Principal::Group(new.to_string()))? {
                return Err(conflict(format!(
                    "failed to {what}: a group named `{new}` already exists \
                     (EntityAlreadyExists.Group)"
                )));
            }
            c.pragma_update(None, "defer_foreign_keys", "ON")?;
            c.execute(
                "UPDATE ram_group SET name = ?2, comments = ?3 WHERE name = ?1",
                params![old, new, group.comments],
            )?;
            c.execute(
                "UPDATE ram_group_member SET group_name = ?2 WHERE group_name = ?1",
                [old, new],
            )?;
            c.execute(
                "UPDATE ram_attachment SET principal_name = ?2 \
                 WHERE principal_type = 'group' AND principal_name = ?1",
                [old, new],
            )?;
            Ok(())
        })
    }

    /// Deletes an empty group without policies.
    pub fn delete_group(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete RAM group `{name}`");
        self.write(&what, |c| {
            if !principal_exists(c, &Principal::Group(name.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the group does not exist (EntityNotExist.Group)"
                )));
            }
            if !list_group_members(c, Some(name))?.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the group still has members (DeleteConflict.Group.User)\n\
                     hint: remove its members first"
                )));
            }
            if !attachments_of(c, &Principal::Group(name.to_string()))?.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the group still holds policies \
                     (DeleteConflict.Group.Policy)\nhint: detach its policies first"
                )));
            }
            c.execute("DELETE FROM ram_group WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn list_groups(&self) -> Result<Vec<RamGroupRecord>, BackendError> {
        self.read("list RAM groups", |c| list_groups(c, None))
    }

    /// One RAM group, by an indexed lookup.
    pub fn group(&self, name: &str) -> Result<RamGroupRecord, BackendError> {
        self.read(&format!("read RAM group `{name}`"), |c| {
            list_groups(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "RAM group `{name}` does not exist (EntityNotExist.Group)"
                    ))
                })
        })
    }

    pub fn add_user_to_group(&mut self, group: &str, user: &str) -> Result<(), BackendError> {
        let what = format!("add RAM user `{user}` to group `{group}`");
        self.write(&what, |c| {
            if !principal_exists(c, &Principal::Group(group.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the group does not exist (EntityNotExist.Group)"
                )));
            }
            if !user_exists(c, user)? {
                return Err(not_found(format!(
                    "failed to {what}: the user does not exist (EntityNotExist.User)"
                )));
            }
            let joined = c
                .query_row(
                    "SELECT 1 FROM ram_group_member WHERE group_name = ?1 AND user_name = ?2",
                    params![group, user],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if joined {
                return Err(conflict(format!(
                    "failed to {what}: the user has already joined the group \
                     (EntityAlreadyExists.User.Group)"
                )));
            }
            c.execute(
                "INSERT INTO ram_group_member (group_name, user_name, join_date) \
                 VALUES (?1, ?2, ?3)",
                params![group, user, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn remove_user_from_group(&mut self, group: &str, user: &str) -> Result<(), BackendError> {
        let what = format!("remove RAM user `{user}` from group `{group}`");
        self.write(&what, |c| {
            let n = c.execute(
                "DELETE FROM ram_group_member WHERE group_name = ?1 AND user_name = ?2",
                params![group, user],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: the user is not in the group (EntityNotExist.User.Group)"
                )));
            }
            Ok(())
        })
    }

    /// Group memberships of one group, or of all groups.
    pub fn list_group_members(
        &self,
        group: Option<&str>,
    ) -> Result<Vec<GroupMemberRecord>, BackendError> {
        self.read("list RAM group members", |c| list_group_members(c, group))
    }

    pub fn create_role(&mut self, role: &RamRole) -> Result<String, BackendError> {
        let what = format!("create RAM role `{}`", role.name);
        self.write(&what, |c| {
            check_ram_name(&RAM_ROLE_NAME, &role.name)?;
            let trust = check_role(role)?;
            if principal_exists(c, &Principal::Role(role.name.clone()))? {
                return Err(conflict(format!(
                    "failed to {what}: the role already exists (EntityAlreadyExists.Role)"
                )));
            }
            let id = random_numeric_id(c)?;
            c.execute(
                "INSERT INTO ram_role (name, id, description, trust_policy, \
                 max_session_duration, create_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    role.name,
                    id,
                    role.description,
                    trust,
                    role.max_session_duration,
                    now_ms()
                ],
            )?;
            Ok(id)
        })
    }

    pub fn update_role(&mut self, role: &RamRole) -> Result<(), BackendError> {
        self.write(&format!("update RAM role `{}`", role.name), |c| {
            let trust = check_role(role)?;
            let n = c.execute(
                "UPDATE ram_role SET description = ?2, trust_policy = ?3, \
                 max_session_duration = ?4 WHERE name = ?1",
                params![
                    role.name,
                    role.description,
                    trust,
                    role.max_session_duration
                ],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "RAM role `{}` does not exist (EntityNotExist.Role)",
                    role.name
                )));
            }
            Ok(())
        })
    }

    /// Deletes a role without policies; its workspace memberships go away with it.
    pub fn delete_role(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete RAM role `{name}`");
        self.write(&what, |c| {
            if !principal_exists(c, &Principal::Role(name.to_string()))? {
                return Err(not_found(format!(
                    "failed to {what}: the role does not exist (EntityNotExist.Role)"
                )));
            }
            if !attachments_of(c, &Principal::Role(name.to_string()))?.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: the role still holds policies (DeleteConflict.Role.Policy)\n\
                     hint: detach its policies first"
                )));
            }
            c.execute(
                "DELETE FROM ms_member WHERE principal_type = 'role' AND name = ?1",
                [name],
            )?;
            c.execute("DELETE FROM ram_role WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn list_roles(&self) -> Result<Vec<RamRoleRecord>, BackendError> {
        self.read("list RAM roles", |c| list_roles(c, None))
    }

    /// One RAM role, by an indexed lookup.
    pub fn role(&self, name: &str) -> Result<RamRoleRecord, BackendError> {
        self.read(&format!("read RAM role `{name}`"), |c| {
            list_roles(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "RAM role `{name}` does not exist (EntityNotExist.Role)"
                    ))
                })
        })
    }
}

pub(super) fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn check_role(role: &RamRole) -> Step<String> {
    if !(3600..=43200).contains(&role.max_session_duration) {
        return Err(invalid(format!(
            "role `{}` has max session duration {} s; RAM allows 3600 to 43200",
            role.name, role.max_session_duration
        )));
    }
    check_document("trust policy", &role.name, &role.trust_policy)
}

pub(super) fn read_ram(c: &Connection, state: &mut State) -> Step<()> {
    for u in list_users(c, None)? {
        state.insert(Resource::RamUser(RamUser {
            name: u.name,
            display_name: u.display_name,
            comments: u.comments,
        }));
    }
    for g in list_groups(c, None)? {
        state.insert(Resource::RamGroup(RamGroup {
            name: g.name,
            comments: g.comments,
        }));
    }
    for m in list_group_members(c, None)? {
        state.insert(Resource::GroupMember(GroupMember {
            group: m.group,
            user: m.user,
        }));
    }
    for r in list_roles(c, None)? {
        state.insert(Resource::RamRole(RamRole {
            name: r.name,
            description: r.description,
            trust_policy: r.trust_policy,
            max_session_duration: r.max_session_duration,
        }));
    }
    for p in list_policies(c, None)? {
        state.insert(Resource::RamPolicy(RamPolicy {
            name: p.name,
            description: p.description,
            document: p.document,
        }));
    }
    for a in list_attachments(c)? {
        state.insert(Resource::Attachment(Attachment {
            principal: a.principal,
            policy: a.policy,
            policy_type: a.policy_type,
        }));
    }
    Ok(())
}
