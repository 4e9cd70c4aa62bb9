//! PAI workspaces and their members in the store.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaiWorkspaceRecord {
    /// Numeric string, like AIWorkSpace's WorkspaceId.
    pub id: String,
    pub name: String,
    pub region: String,
    pub display_name: Option<String>,
    pub description: String,
    pub env_types: Vec<String>,
    pub gmt_create: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaiMemberRecord {
    pub member_id: String,
    pub workspace_id: String,
    pub user: String,
    pub roles: BTreeSet<String>,
    pub gmt_create: i64,
}

pub(super) type RawPaiWorkspace = (i64, String, String, Option<String>, String, String, i64);

pub(super) fn pai_workspace_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPaiWorkspace> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

pub(super) fn list_pai_workspaces(
    c: &Connection,
    region: Option<&str>,
) -> Step<Vec<PaiWorkspaceRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT id, name, region, display_name, description, env_types, gmt_create \
         FROM pai_workspace WHERE ?1 IS NULL OR region = ?1 ORDER BY id",
        region.is_some(),
    ))?;
    let raws = stmt
        .query_map([region], pai_workspace_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(
            |(id, name, region, display_name, description, env, gmt_create)| {
                Ok(PaiWorkspaceRecord {
                    id: id.to_string(),
                    name,
                    region,
                    display_name,
                    description,
                    env_types: from_json(&env, "a PAI workspace's env types")?,
                    gmt_create,
                })
            },
        )
        .collect()
}

pub(super) fn pai_workspace_id(c: &Connection, id: &str) -> Step<i64> {
    let numeric: i64 = id
        .parse()
        .map_err(|_| not_found(format!("PAI workspace `{id}` does not exist")))?;
    c.query_row(
        "SELECT id FROM pai_workspace WHERE id = ?1",
        [numeric],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| not_found(format!("PAI workspace `{id}` does not exist")))
}

pub(super) fn list_pai_members(
    c: &Connection,
    workspace_id: Option<i64>,
) -> Step<Vec<PaiMemberRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT member_id, workspace_id, user_name, roles, gmt_create FROM pai_member \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, user_name",
        workspace_id.is_some(),
    ))?;
    let raws = stmt
        .query_map([workspace_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(member_id, ws, user, roles, gmt_create)| {
            Ok(PaiMemberRecord {
                member_id,
                workspace_id: ws.to_string(),
                user,
                roles: from_json(&roles, "a PAI member's roles")?,
                gmt_create,
            })
        })
        .collect()
}

pub(super) fn check_pai_roles(roles: &BTreeSet<String>, what: &str) -> Step<()> {
    if roles.is_empty() {
        return Err(invalid(format!(
            "failed to {what}: a PAI member needs at least one role"
        )));
    }
    if let Some(unknown) = roles.iter().find(|r| !PAI_ROLES.contains(&r.as_str())) {
        return Err(invalid(format!(
            "failed to {what}: `{unknown}` is not a PAI workspace role; known roles: {}",
            PAI_ROLES.join(", ")
        )));
    }
    Ok(())
}

impl Store {
    // ---- PAI workspaces and members ----------------------------------------------------------

    /// Creates a PAI workspace and returns its numeric id.
    pub fn create_pai_workspace(&mut self, ws: &PaiWorkspace) -> Result<String, BackendError> {
        let what = format!("create PAI workspace `{}`", ws.name);
        self.write(&what, |c| {
            let name_ok = (3..=23).contains(&ws.name.chars().count())
                && ws.name.starts_with(|ch: char| ch.is_ascii_alphabetic())
                && ws
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !name_ok {
                return Err(invalid(format!(
                    "failed to {what}: PAI workspace names are 3 to 23 letters, digits and `_`, \
                     starting with a letter"
                )));
            }
            check_pai_description(&ws.description, &what)?;
            let env: Vec<&str> = ws.env_types.iter().map(String::as_str).collect();
            if env != ["prod"] && env != ["dev", "prod"] {
                return Err(invalid(format!(
                    "failed to {what}: env types must be [\"prod\"] (simple mode) or \
                     [\"dev\", \"prod\"] (standard mode)"
                )));
            }
            if list_pai_workspaces(c, None)?
                .iter()
                .any(|w| w.name == ws.name)
            {
                return Err(conflict(format!(
                    "failed to {what}: a PAI workspace with that name already exists"
                )));
            }
            c.execute(
                "INSERT INTO pai_workspace (name, region, display_name, description, env_types, \
                 gmt_create) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    ws.name,
                    ws.region,
                    ws.display_name,
                    ws.description,
                    to_json(&ws.env_types)?,
                    now_ms()
                ],
            )?;
            Ok(c.last_insert_rowid().to_string())
        })
    }

    pub fn update_pai_workspace(
        &mut self,
        id: &str,
        display_name: Option<&str>,
        description: &str,
    ) -> Result<(), BackendError> {
        let what = format!("update PAI workspace `{id}`");
        self.write(&what, |c| {
            let numeric = pai_workspace_id(c, id)?;
            check_pai_description(description, &what)?;
            c.execute(
                "UPDATE pai_workspace SET display_name = ?2, description = ?3 WHERE id = ?1",
                params![numeric, display_name, description],
            )?;
            Ok(())
        })
    }

    pub fn delete_pai_workspace(&mut self, id: &str) -> Result<(), BackendError> {
        self.write(&format!("delete PAI workspace `{id}`"), |c| {
            let numeric = pai_workspace_id(c, id)?;
            c.execute("DELETE FROM pai_workspace WHERE id = ?1", [numeric])?;
            Ok(())
        })
    }

    pub fn pai_workspace_by_name(&self, name: &str) -> Result<PaiWorkspaceRecord, BackendError> {
        self.read(&format!("read PAI workspace `{name}`"), |c| {
            list_pai_workspaces(c, None)?
                .into_iter()
                .find(|w| w.name == name)
                .ok_or_else(|| not_found(format!("PAI workspace `{name}` does not exist")))
        })
    }

    pub fn list_pai_workspaces(
        &self,
        region: Option<&str>,
    ) -> Result<Vec<PaiWorkspaceRecord>, BackendError> {
        self.read("list PAI workspaces", |c| list_pai_workspaces(c, region))
    }

    /// Adds a user to a PAI workspace with built-in roles; returns the member id.
    pub fn create_pai_member(
        &mut self,
        workspace_id: &str,
        user: &str,
        roles: &BTreeSet<String>,
    ) -> Result<String, BackendError> {
        let what = format!("add `{user}` to PAI workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = pai_workspace_id(c, workspace_id)?;
            check_pai_roles(roles, &what)?;
            if list_pai_members(c, Some(ws))?
                .iter()
                .any(|m| m.user == user)
            {
                return Err(conflict(format!("failed to {what}: already a member")));
            }
            let member_id = loop {
                let id = random_numeric_id(c)?;
                let taken = c
                    .query_row(
                        "SELECT 1 FROM pai_member WHERE member_id = ?1",
                        [&id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !taken {
                    break id;
                }
            };
            c.execute(
                "INSERT INTO pai_member (member_id, workspace_id, user_name, roles, gmt_create) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![member_id, ws, user, to_json(roles)?, now_ms()],
            )?;
            Ok(member_id)
        })
    }

    /// Replaces a PAI member's roles.
    pub fn set_pai_member_roles(
        &mut self,
        workspace_id: &str,
        member_id: &str,
        roles: &BTreeSet<String>,
    ) -> Result<(), BackendError> {
        let what = format!("set roles of member `{member_id}` in PAI workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = pai_workspace_id(c, workspace_id)?;
            check_pai_roles(roles, &what)?;
            let n = c.execute(
                "UPDATE pai_member SET roles = ?3 WHERE workspace_id = ?1 AND member_id = ?2",
                params![ws, member_id, to_json(roles)?],
            )?;
            if n == 0 {
                return Err(not_found(format!("failed to {what}: no such member")));
            }
            Ok(())
        })
    }

    pub fn delete_pai_members(
        &mut self,
        workspace_id: &str,
        member_ids: &[&str],
    ) -> Result<(), BackendError> {
        let what = format!("remove members from PAI workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = pai_workspace_id(c, workspace_id)?;
            for member_id in member_ids {
                let n = c.execute(
                    "DELETE FROM pai_member WHERE workspace_id = ?1 AND member_id = ?2",
                    params![ws, member_id],
                )?;
                if n == 0 {
                    return Err(not_found(format!(
                        "failed to {what}: no member `{member_id}`"
                    )));
                }
            }
            Ok(())
        })
    }

    pub fn list_pai_members(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<PaiMemberRecord>, BackendError> {
        self.read("list PAI members", |c| {
            let ws = workspace_id.map(|id| pai_workspace_id(c, id)).transpose()?;
            list_pai_members(c, ws)
        })
    }
}

pub(super) fn check_pai_description(description: &str, what: &str) -> Step<()> {
    if description.chars().count() > 80 {
        return Err(invalid(format!(
            "failed to {what}: the description is longer than 80 characters"
        )));
    }
    Ok(())
}
