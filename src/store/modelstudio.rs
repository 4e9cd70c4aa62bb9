//! Model Studio in the store: workspaces, model permissions and limits, and members.

use super::*;

/// A Model Studio workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRecord {
    /// `ws-` + 16 lowercase hex digits.
    pub id: String,
    pub name: String,
    pub region: String,
    pub is_default: bool,
    /// Creation time, epoch milliseconds.
    pub gmt_create: i64,
}

/// What a workspace may do with one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelGrant {
    pub model: String,
    pub inference: bool,
    pub fine_tune: bool,
    pub deploy: bool,
}

/// A workspace's custom rate limit for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    pub model: String,
    pub requests: u64,
    pub request_period: u32,
    pub tokens: Option<u64>,
    pub usage_period: Option<u32>,
}

/// A workspace member (RAM user or role) and its page permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    pub principal: Principal,
    pub administrator: bool,
    pub pages: BTreeSet<String>,
}

/// How a per-model write treats an existing row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The row must not exist yet (`Conflict` otherwise).
    Create,
    /// The row must exist (`NotFound` otherwise).
    Update,
    /// Set or overwrite, as the platform's `OVERLAY` does.
    Upsert,
}

pub(super) const WORKSPACE_COLUMNS: &str = "id, name, region, is_default, gmt_create";

pub(super) fn workspace_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkspaceRecord> {
    Ok(WorkspaceRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        region: r.get(2)?,
        is_default: r.get(3)?,
        gmt_create: r.get(4)?,
    })
}

pub(super) fn find_workspace_by_name(c: &Connection, name: &str) -> Step<Option<WorkspaceRecord>> {
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM ms_workspace WHERE name = ?1");
    Ok(c.query_row(&sql, [name], workspace_row).optional()?)
}

pub(super) fn workspace_by_name(c: &Connection, name: &str) -> Step<WorkspaceRecord> {
    find_workspace_by_name(c, name)?
        .ok_or_else(|| not_found(format!("workspace `{name}` does not exist")))
}

pub(super) fn workspace_by_id(c: &Connection, id: &str) -> Step<WorkspaceRecord> {
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM ms_workspace WHERE id = ?1");
    c.query_row(&sql, [id], workspace_row)
        .optional()?
        .ok_or_else(|| not_found(format!("workspace `{id}` does not exist")))
}

/// `WHERE ?1 IS NULL OR col = ?1` cannot use an index (SQLite plans the OR as a full scan, which
/// made every lookup cost the size of the table): with a value, filter on the column alone.
pub(super) fn list_workspaces(c: &Connection, region: Option<&str>) -> Step<Vec<WorkspaceRecord>> {
    let sql = format!(
        "SELECT {WORKSPACE_COLUMNS} FROM ms_workspace WHERE ?1 IS NULL OR region = ?1 \
         ORDER BY is_default DESC, gmt_create, name"
    );
    let mut stmt = c.prepare(&optional_filter(&sql, region.is_some()))?;
    let rows = stmt.query_map([region], workspace_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The per-workspace, per-model rows a write creates or updates.
#[derive(Clone, Copy)]
enum ModelRow {
    Permission,
    Limit,
}

/// Refuses a write whose `mode` the row's presence contradicts: creating an existing row is a
/// conflict, updating a missing one is not found (what the platform answers).
fn check_mode(
    c: &Connection,
    row: ModelRow,
    ws: &WorkspaceRecord,
    model: &str,
    mode: WriteMode,
    what: &str,
) -> Step<()> {
    let (sql, noun) = match row {
        ModelRow::Permission => (
            "SELECT 1 FROM ms_model_permission WHERE workspace_id = ?1 AND model = ?2",
            "permission",
        ),
        ModelRow::Limit => (
            "SELECT 1 FROM ms_model_limit WHERE workspace_id = ?1 AND model = ?2",
            "limit",
        ),
    };
    let exists = c
        .query_row(sql, params![ws.id, model], |_| Ok(()))
        .optional()?
        .is_some();
    match (mode, exists) {
        (WriteMode::Create, true) => Err(conflict(format!(
            "failed to {what}: the {noun} already exists"
        ))),
        (WriteMode::Update, false) => Err(not_found(format!(
            "failed to {what}: the workspace has no {noun} for that model"
        ))),
        _ => Ok(()),
    }
}

/// Sub-workspaces may only use models they authorize for inference; default ones use all.
pub(super) fn check_inference(
    c: &Connection,
    ws: &WorkspaceRecord,
    model: &str,
    what: &str,
) -> Step<()> {
    if ws.is_default {
        return Ok(());
    }
    let inference: Option<bool> = c
        .query_row(
            "SELECT inference FROM ms_model_permission WHERE workspace_id = ?1 AND model = ?2",
            params![ws.id, model],
            |r| r.get(0),
        )
        .optional()?;
    if inference != Some(true) {
        return Err(refused(format!(
            "failed to {what}: workspace `{}` has not authorized model `{model}` for inference\n\
             hint: grant the workspace inference on `{model}` first",
            ws.name
        )));
    }
    Ok(())
}

pub(super) fn check_sub_workspace(ws: &WorkspaceRecord, what: &str, setting: &str) -> Step<()> {
    if ws.is_default {
        return Err(refused(format!(
            "failed to {what}: `{}` is the default workspace of `{}`, which calls every model \
             unthrottled; {setting} cannot be set on it\n\
             hint: use a sub-workspace for controlled access",
            ws.name, ws.region
        )));
    }
    Ok(())
}

pub(super) fn is_member(c: &Connection, workspace_id: &str, principal: &Principal) -> Step<bool> {
    let n: i64 = c.query_row(
        "SELECT count(*) FROM ms_member WHERE workspace_id = ?1 AND principal_type = ?2 AND name = \
            ?3",
        params![workspace_id, principal.kind(), principal.name()],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

pub(super) fn list_model_permissions(
    c: &Connection,
    ws: Option<&str>,
) -> Step<Vec<(String, ModelGrant)>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT workspace_id, model, inference, fine_tune, deploy FROM ms_model_permission \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, model",
        ws.is_some(),
    ))?;
    let rows = stmt.query_map([ws], |r| {
        Ok((
            r.get(0)?,
            ModelGrant {
                model: r.get(1)?,
                inference: r.get(2)?,
                fine_tune: r.get(3)?,
                deploy: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_model_limits(
    c: &Connection,
    ws: Option<&str>,
) -> Step<Vec<(String, LimitSpec)>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT workspace_id, model, requests, request_period, tokens, usage_period \
         FROM ms_model_limit WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, model",
        ws.is_some(),
    ))?;
    let raws = stmt
        .query_map([ws], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(ws, model, requests, period, tokens, usage)| {
            Ok((
                ws,
                LimitSpec {
                    model,
                    requests: to_u64(requests, "request limit")?,
                    request_period: to_u32(period, "request period")?,
                    tokens: tokens.map(|t| to_u64(t, "token limit")).transpose()?,
                    usage_period: usage.map(|u| to_u32(u, "usage period")).transpose()?,
                },
            ))
        })
        .collect()
}

pub(super) fn list_members(c: &Connection, ws: Option<&str>) -> Step<Vec<(String, MemberSpec)>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT workspace_id, principal_type, name, administrator, pages FROM ms_member \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY workspace_id, principal_type, name",
        ws.is_some(),
    ))?;
    let raws = stmt
        .query_map([ws], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(ws, kind, name, administrator, pages)| {
            Ok((
                ws,
                MemberSpec {
                    principal: principal_from(&kind, name)?,
                    administrator,
                    pages: from_json(&pages, "a member's page permissions")?,
                },
            ))
        })
        .collect()
}

impl Store {
    // ---- Model Studio workspaces -------------------------------------------------------------

    /// Creates a sub-workspace and returns its id (`ws-…`).
    pub fn create_workspace(&mut self, name: &str, region: &str) -> Result<String, BackendError> {
        let what = format!("create workspace `{name}`");
        self.write(&what, |c| {
            if !MODEL_STUDIO_REGIONS.contains(&region) {
                return Err(invalid(format!(
                    "failed to {what}: `{region}` is not a Model Studio region; known regions: {}",
                    MODEL_STUDIO_REGIONS.join(", ")
                )));
            }
            if name.is_empty() {
                return Err(invalid(format!("failed to {what}: the name is empty")));
            }
            if let Some(existing) = find_workspace_by_name(c, name)? {
                return Err(conflict(format!(
                    "failed to {what}: a workspace with that name already exists (`{}` in `{}`)",
                    existing.id, existing.region
                )));
            }
            let id = loop {
                let id = format!("ws-{}", random_hex(c, 8)?);
                let taken = c
                    .query_row(
                        "SELECT 1 FROM ms_workspace WHERE id = ?1",
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
                "INSERT INTO ms_workspace (id, name, region, is_default, gmt_create) \
                 VALUES (?1, ?2, ?3, 0, ?4)",
                params![id, name, region, now_ms()],
            )?;
            Ok(id)
        })
    }

    pub fn workspace(&self, id: &str) -> Result<WorkspaceRecord, BackendError> {
        self.read(&format!("read workspace `{id}`"), |c| {
            workspace_by_id(c, id)
        })
    }

    pub fn workspace_by_name(&self, name: &str) -> Result<WorkspaceRecord, BackendError> {
        self.read(&format!("read workspace `{name}`"), |c| {
            workspace_by_name(c, name)
        })
    }

    pub fn default_workspace(&self, region: &str) -> Result<WorkspaceRecord, BackendError> {
        self.workspace_by_name(&default_workspace_name(region))
    }

    /// Workspaces of one region, or of all regions; default ones first.
    pub fn list_workspaces(
        &self,
        region: Option<&str>,
    ) -> Result<Vec<WorkspaceRecord>, BackendError> {
        self.read("list workspaces", |c| list_workspaces(c, region))
    }

    /// Deletes a sub-workspace with its permissions, limits and members; refused while it has
    /// API keys, and always for a default workspace.
    pub fn delete_workspace(&mut self, id: &str) -> Result<(), BackendError> {
        let what = format!("delete workspace `{id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, id)?;
            if ws.is_default {
                return Err(refused(format!(
                    "failed to delete workspace `{}`: it is the default workspace of `{}`, which \
                     the platform creates and never deletes",
                    ws.name, ws.region
                )));
            }
            let keys: i64 = c.query_row(
                "SELECT count(*) FROM ms_api_key WHERE workspace_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            if keys > 0 {
                return Err(refused(format!(
                    "failed to delete workspace `{}`: it still has {keys} API key(s) (the \
                     platform says: \"API Key exists. Please clear them first.\")\n\
                     hint: delete the workspace's API keys first",
                    ws.name
                )));
            }
            c.execute("DELETE FROM ms_workspace WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    // ---- Model permissions and limits --------------------------------------------------------

    /// Sets what a sub-workspace may do with models, in one transaction; refused on a default one.
    pub fn set_model_permissions(
        &mut self,
        workspace_id: &str,
        grants: &[ModelGrant],
        mode: WriteMode,
    ) -> Result<(), BackendError> {
        let what = format!("set model permissions of workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            for grant in grants {
                let what = format!(
                    "set permission for model `{}` in workspace `{}`",
                    grant.model, ws.name
                );
                check_sub_workspace(&ws, &what, "model permissions")?;
                check_mode(c, ModelRow::Permission, &ws, &grant.model, mode, &what)?;
                c.execute(
                    "INSERT INTO ms_model_permission (workspace_id, model, inference, fine_tune, \
                     deploy) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (workspace_id, model) DO \
                     UPDATE SET inference = excluded.inference, fine_tune = excluded.fine_tune, \
                     deploy = excluded.deploy",
                    params![
                        ws.id,
                        grant.model,
                        grant.inference,
                        grant.fine_tune,
                        grant.deploy
                    ],
                )?;
            }
            Ok(())
        })
    }

    pub fn delete_model_permission(
        &mut self,
        workspace_id: &str,
        model: &str,
    ) -> Result<(), BackendError> {
        let what = format!("delete permission for model `{model}` in workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            check_sub_workspace(&ws, &what, "model permissions")?;
            let n = c.execute(
                "DELETE FROM ms_model_permission WHERE workspace_id = ?1 AND model = ?2",
                params![ws.id, model],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: workspace `{}` has no permission for that model",
                    ws.name
                )));
            }
            Ok(())
        })
    }

    /// Model permissions of one workspace, or of all (with their workspace ids).
    pub fn list_model_permissions(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<(String, ModelGrant)>, BackendError> {
        self.read("list model permissions", |c| {
            list_model_permissions(c, workspace_id)
        })
    }

    /// Sets a sub-workspace's limit for a model it authorizes for inference.
    pub fn set_model_limit(
        &mut self,
        workspace_id: &str,
        limit: &LimitSpec,
        mode: WriteMode,
    ) -> Result<(), BackendError> {
        let what = format!(
            "set limit for model `{}` in workspace `{workspace_id}`",
            limit.model
        );
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let what = format!(
                "set limit for model `{}` in workspace `{}`",
                limit.model, ws.name
            );
            check_sub_workspace(&ws, &what, "rate limits")?;
            if limit.tokens.is_some() != limit.usage_period.is_some() {
                return Err(invalid(format!(
                    "failed to {what}: a token limit needs a usage period and the other way round"
                )));
            }
            if limit.request_period == 0 || limit.usage_period == Some(0) {
                return Err(invalid(format!(
                    "failed to {what}: limit periods must be at least 1 second"
                )));
            }
            check_inference(c, &ws, &limit.model, &what)?;
            check_mode(c, ModelRow::Limit, &ws, &limit.model, mode, &what)?;
            let requests = to_i64(limit.requests, "request limit")?;
            let tokens = limit.tokens.map(|t| to_i64(t, "token limit")).transpose()?;
            c.execute(
                "INSERT INTO ms_model_limit (workspace_id, model, requests, request_period, \
                 tokens, usage_period) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (workspace_id, model) DO UPDATE SET requests = excluded.requests, \
                 request_period = excluded.request_period, tokens = excluded.tokens, \
                 usage_period = excluded.usage_period",
                params![
                    ws.id,
                    limit.model,
                    requests,
                    limit.request_period,
                    tokens,
                    limit.usage_period
                ],
            )?;
            Ok(())
        })
    }

    /// Removes a workspace's limit for a model (back to the account-level limit).
    pub fn delete_model_limit(
        &mut self,
        workspace_id: &str,
        model: &str,
    ) -> Result<(), BackendError> {
        let what = format!("delete limit for model `{model}` in workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let n = c.execute(
                "DELETE FROM ms_model_limit WHERE workspace_id = ?1 AND model = ?2",
                params![ws.id, model],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: workspace `{}` has no limit for that model",
                    ws.name
                )));
            }
            Ok(())
        })
    }

    pub fn list_model_limits(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<(String, LimitSpec)>, BackendError> {
        self.read("list model limits", |c| list_model_limits(c, workspace_id))
    }

    // ---- Workspace members -------------------------------------------------------------------

    /// Adds a RAM user or role to a workspace; the user's keys disabled by an earlier removal
    /// come back.
    pub fn add_member(
        &mut self,
        workspace_id: &str,
        member: &MemberSpec,
    ) -> Result<(), BackendError> {
        let what = format!("add {} to workspace `{workspace_id}`", member.principal);
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let what = format!("add {} to workspace `{}`", member.principal, ws.name);
            if let Principal::Group(_) = member.principal {
                return Err(invalid(format!(
                    "failed to {what}: workspace members are RAM users or roles, not groups"
                )));
            }
            if is_member(c, &ws.id, &member.principal)? {
                return Err(conflict(format!("failed to {what}: already a member")));
            }
            c.execute(
                "INSERT INTO ms_member (workspace_id, principal_type, name, administrator, pages) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    ws.id,
                    member.principal.kind(),
                    member.principal.name(),
                    member.administrator,
                    to_json(&member.pages)?
                ],
            )?;
            if let Principal::User(user) = &member.principal {
                c.execute(
                    "UPDATE ms_api_key SET enabled = 1, disabled_reason = NULL \
                     WHERE workspace_id = ?1 AND owner = ?2 AND disabled_reason = 'member_removed'",
                    params![ws.id, user],
                )?;
            }
            Ok(())
        })
    }

    /// Changes a member's role and page permissions.
    pub fn update_member(
        &mut self,
        workspace_id: &str,
        member: &MemberSpec,
    ) -> Result<(), BackendError> {
        let what = format!("update {} in workspace `{workspace_id}`", member.principal);
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let n = c.execute(
                "UPDATE ms_member SET administrator = ?4, pages = ?5 \
                 WHERE workspace_id = ?1 AND principal_type = ?2 AND name = ?3",
                params![
                    ws.id,
                    member.principal.kind(),
                    member.principal.name(),
                    member.administrator,
                    to_json(&member.pages)?
                ],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to update {} in workspace `{}`: not a member",
                    member.principal, ws.name
                )));
            }
            Ok(())
        })
    }

    /// Removes a member; a removed user's enabled keys in that workspace are disabled.
    pub fn remove_member(
        &mut self,
        workspace_id: &str,
        principal: &Principal,
    ) -> Result<(), BackendError> {
        let what = format!("remove {principal} from workspace `{workspace_id}`");
        self.write(&what, |c| {
            let ws = workspace_by_id(c, workspace_id)?;
            let n = c.execute(
                "DELETE FROM ms_member WHERE workspace_id = ?1 AND principal_type = ?2 AND name = \
                    ?3",
                params![ws.id, principal.kind(), principal.name()],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to remove {principal} from workspace `{}`: not a member",
                    ws.name
                )));
            }
            if let Principal::User(user) = principal {
                c.execute(
                    "UPDATE ms_api_key SET enabled = 0, disabled_reason = 'member_removed' \
                     WHERE workspace_id = ?1 AND owner = ?2 AND enabled = 1",
                    params![ws.id, user],
                )?;
            }
            Ok(())
        })
    }

    pub fn list_members(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<Vec<(String, MemberSpec)>, BackendError> {
        self.read("list workspace members", |c| list_members(c, workspace_id))
    }
}

pub(super) fn read_model_studio(
    c: &Connection,
    regions: &BTreeSet<String>,
    state: &mut State,
) -> Step<()> {
    let names: HashMap<String, String> = list_workspaces(c, None)?
        .into_iter()
        .filter(|w| regions.contains(&w.region))
        .map(|w| {
            state.insert(Resource::Workspace(Workspace {
                name: w.name.clone(),
                region: w.region,
                default: w.is_default,
            }));
            (w.id, w.name)
        })
        .collect();
    for (ws, g) in list_model_permissions(c, None)? {
        if let Some(name) = names.get(&ws) {
            state.insert(Resource::ModelPermission(ModelPermission {
                workspace: name.clone(),
                model: g.model,
                inference: g.inference,
                fine_tune: g.fine_tune,
                deploy: g.deploy,
            }));
        }
    }
    for (ws, l) in list_model_limits(c, None)? {
        if let Some(name) = names.get(&ws) {
            state.insert(Resource::ModelLimit(ModelLimit {
                workspace: name.clone(),
                model: l.model,
                requests: l.requests,
                request_period: l.request_period,
                tokens: l.tokens,
                usage_period: l.usage_period,
            }));
        }
    }
    for (ws, m) in list_members(c, None)? {
        if let Some(name) = names.get(&ws) {
            state.insert(Resource::Member(Member {
                workspace: name.clone(),
                principal: m.principal,
                administrator: m.administrator,
                pages: m.pages,
            }));
        }
    }
    // A key rotated out is stored as `NAME#ID` (its own id, see
    // `Store::create_successor_api_key`) and read at that address, beside its successor.
    for k in list_keys(c, None)? {
        if let Some(name) = names.get(&k.workspace_id) {
            let id = k.id.to_string();
            let (key_name, retired) = match k.name.rsplit_once('#') {
                Some((base, own)) if own == id => (base.to_string(), true),
                _ => (k.name, false),
            };
            let key = Resource::ApiKey(ApiKey {
                workspace: name.clone(),
                name: key_name,
                owner: k.owner,
                description: k.description,
                models: k.models,
                ip_allow: k.ip_allow,
                enabled: k.enabled,
            });
            let mut address = key.address();
            if retired || state.resources.contains_key(&address) {
                address = crate::model::Address::Duplicate {
                    of: Box::new(address),
                    id: id.clone(),
                };
                state.insert_duplicate(key, id.clone());
            } else {
                state.insert(key);
            }
            state.set_live_key(
                address,
                crate::model::LiveKey {
                    id,
                    created: Some(k.gmt_create.div_euclid(1000)),
                },
            );
        }
    }
    Ok(())
}
