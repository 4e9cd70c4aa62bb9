//! Model Studio writes: how each change to a workspace, permission, limit or API key is made
//! (the mapping decisions are in [`super`]).

use serde_json::{Value, json};

use super::{PAGE, auth_to_wire, decode_key_description, encode_key_description, ms};
use crate::acs::encoding::{flatten, shrink};
use crate::acs::signing::encode_path_segment;
use crate::backend::aliyun::base::AliyunBackend;
use crate::backend::aliyun::client::{Body, Method};
use crate::backend::aliyun::error::gone_is_ok;
use crate::backend::aliyun::idempotent::Created;
use crate::backend::aliyun::ids::MsWorkspace;
use crate::backend::aliyun::json::{boolean, field, int, list, required, string};
use crate::backend::{BackendError, Operation};
use crate::model::{ApiKey, ModelLimit, ModelPermission, Resource, Workspace};
impl AliyunBackend {
    pub(in crate::backend::aliyun) fn apply_model_studio(
        &self,
        op: Operation<'_>,
    ) -> Result<(), BackendError> {
        match op {
            Operation::Create(Resource::Workspace(w)) => self.create_workspace(w),
            Operation::Update {
                before: Resource::Workspace(b),
                after: Resource::Workspace(a),
            } => {
                if a != b {
                    return Err(BackendError::Invalid(format!(
                        "failed to update workspace `{}`: its region and default flag cannot \
                         change in place, and Model Studio has no rename\n\
                         hint: this is a bug in msctl's planner; such a change is a replacement",
                        a.name
                    )));
                }
                Ok(())
            }
            Operation::Delete(Resource::Workspace(w)) => self.delete_workspace(w),
            Operation::Create(Resource::ModelPermission(p))
            | Operation::Update {
                after: Resource::ModelPermission(p),
                ..
            } => self.write_permission(p, p.inference, p.fine_tune, p.deploy),
            Operation::Delete(Resource::ModelPermission(p)) => {
                self.write_permission(p, false, false, false)
            }
            Operation::Create(Resource::ModelLimit(l))
            | Operation::Update {
                after: Resource::ModelLimit(l),
                ..
            } => self.write_limit(&l.workspace, limit_item(l)),
            Operation::Delete(Resource::ModelLimit(l)) => self.write_limit(
                &l.workspace,
                json!({"model": l.model, "operationType": "DELETE"}),
            ),
            Operation::Create(Resource::ApiKey(k)) => self.create_api_key(k),
            Operation::Update {
                before: Resource::ApiKey(b),
                after: Resource::ApiKey(a),
            } => self.update_api_key(b, a),
            Operation::Delete(Resource::ApiKey(k)) => self.delete_api_key(k),
            Operation::DeleteDuplicate {
                resource: Resource::ApiKey(k),
                id,
            } => self.delete_api_key_by_id(k, id),
            other => Err(BackendError::Invalid(format!(
                "failed to apply `{}`: not a Model Studio change, or before and after differ in \
                 kind",
                other.resource().address()
            ))),
        }
    }

    /// The workspace msctl calls `name`: from the cache, else listed again in every governed
    /// region (a read may not have covered it, e.g. one created by another apply).
    pub(in crate::backend::aliyun) fn workspace(
        &self,
        name: &str,
    ) -> Result<MsWorkspace, BackendError> {
        if let Some(w) = self.ids().workspaces.get(name) {
            return Ok(w.clone());
        }
        let mut regions = self.regions.clone();
        regions.extend(self.ids().workspaces.values().map(|w| w.region.clone()));
        for region in &regions {
            for w in self.list_workspaces(region)? {
                let known = MsWorkspace {
                    id: w.id.clone(),
                    region: w.region.clone(),
                    default: w.default,
                };
                self.ids().workspaces.insert(w.name.clone(), known);
            }
            if let Some(w) = self.ids().workspaces.get(name) {
                return Ok(w.clone());
            }
        }
        Err(BackendError::NotFound(format!(
            "workspace `{name}` does not exist in {}",
            if regions.is_empty() {
                "any governed region".to_string()
            } else {
                regions.into_iter().collect::<Vec<_>>().join(", ")
            }
        )))
    }

    fn create_workspace(&self, w: &Workspace) -> Result<(), BackendError> {
        if w.default {
            return Err(BackendError::Refused(format!(
                "failed to create workspace `{}`: default workspaces are created by the platform \
                 when Model Studio is activated, never by a call\n\
                 hint: activate Model Studio in {}",
                w.name, w.region
            )));
        }
        let spec = ms(
            "CreateWorkspace",
            Method::Post,
            "/modelstudio/workspaces",
            &w.region,
        )
        .query("workspaceName", w.name.clone());
        // After a lost answer: the workspace of that name, if the attempt made it.
        let find = || {
            Ok(self
                .list_workspaces(&w.region)?
                .into_iter()
                .find(|x| x.name == w.name && !x.default)
                .map(|x| MsWorkspace {
                    id: x.id,
                    region: x.region,
                    default: false,
                }))
        };
        let known = match self.create_idempotent(&spec, find)? {
            Created::New(body) => {
                let ws = field(&body, &["workspace"]).cloned().unwrap_or(Value::Null);
                let id = required(&ws, &["workspaceId"], "CreateWorkspace")?;
                let region = string(&ws, &["region"]).unwrap_or_else(|| w.region.clone());
                MsWorkspace {
                    id,
                    region,
                    default: false,
                }
            }
            Created::Adopted(known) => known,
        };
        self.mark_fresh(&known.id);
        self.ids().workspaces.insert(w.name.clone(), known);
        Ok(())
    }

    fn delete_workspace(&self, w: &Workspace) -> Result<(), BackendError> {
        if w.default {
            return Err(BackendError::Refused(format!(
                "failed to delete workspace `{}`: a region's default workspace cannot be deleted",
                w.name
            )));
        }
        let ws = match self.workspace(&w.name) {
            Ok(ws) => ws,
            Err(BackendError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let spec = ms(
            "DeleteWorkspace",
            Method::Delete,
            format!("/modelstudio/workspaces/{}", encode_path_segment(&ws.id)),
            &ws.region,
        );
        let body = match self.call(&spec) {
            Ok(body) => body,
            Err(BackendError::NotFound(_)) => Value::Null,
            Err(e) => return Err(e),
        };
        if boolean(&body, &["isDeleted"]) == Some(false) {
            let reasons: Vec<String> = list(&body, &["failReasons"])
                .into_iter()
                .map(|r| {
                    format!(
                        "{}: {}",
                        string(r, &["resourceType"]).unwrap_or_default(),
                        string(r, &["reason"]).unwrap_or_default()
                    )
                })
                .collect();
            return Err(BackendError::Conflict(format!(
                "failed to delete workspace `{}`: the platform refused ({})\n\
                 hint: delete what it still holds (API keys first), then apply again",
                w.name,
                if reasons.is_empty() {
                    "no reason given".to_string()
                } else {
                    reasons.join("; ")
                }
            )));
        }
        self.ids().workspaces.remove(&w.name);
        Ok(())
    }

    fn write_permission(
        &self,
        p: &ModelPermission,
        inference: bool,
        fine_tune: bool,
        deploy: bool,
    ) -> Result<(), BackendError> {
        let ws = self.workspace(&p.workspace)?;
        let body = json!({
            "workspaceId": ws.id,
            "accessAllEntities": "KEEP",
            "models": [{
                "model": p.model,
                "inference": inference,
                "fineTune": fine_tune,
                "deploy": deploy,
            }],
        });
        let spec = ms(
            "UpdateModelPermissions",
            Method::Post,
            "/modelstudio/models/permissions",
            &ws.region,
        )
        .body(Body::Form(flatten(&body)));
        self.settled(&ws.id, || self.call(&spec).map(drop))
    }

    fn write_limit(&self, workspace: &str, item: Value) -> Result<(), BackendError> {
        let ws = self.workspace(workspace)?;
        let spec = ms(
            "UpdateModelLimits",
            Method::Post,
            "/modelstudio/models/limits",
            &ws.region,
        )
        .body(Body::Form(vec![
            ("workspaceId".to_string(), ws.id.clone()),
            ("workspaceLimits".to_string(), shrink(&json!([item]))),
        ]));
        self.settled(&ws.id, || self.call(&spec).map(drop))
    }

    fn create_api_key(&self, k: &ApiKey) -> Result<(), BackendError> {
        let ws = self.workspace(&k.workspace)?;
        let description = encode_key_description(&k.name, &k.description)?;
        let spec = ms(
            "CreateApiKey",
            Method::Post,
            "/modelstudio/apikeys",
            &ws.region,
        )
        .query("workspaceId", ws.id.clone())
        .query("description", description)
        .body(Body::Form(flatten(&auth_to_wire(k))));
        let address = Resource::ApiKey(k.clone()).address().to_string();
        // With a secrets file, the secret is owed from before the create until it is written:
        // a run killed in between leaves the record for the next apply to settle.
        let owes = self.keeps_secrets();
        if owes {
            self.owe_secret(&address, None)?;
        }
        let before = self
            .ids()
            .api_keys
            .get(&(k.workspace.clone(), k.name.clone()))
            .copied();
        let created = self.settled(&ws.id, || {
            self.create_idempotent(&spec, || self.find_new_key(&ws, &k.name, before))
        })?;
        let (id, secret) = match created {
            Created::New(body) => {
                let key = field(&body, &["apiKey"]).cloned().unwrap_or(Value::Null);
                let Some(id) = int(&key, &["apiKeyId"]) else {
                    return Err(BackendError::Transport(
                        "failed to read the answer to `CreateApiKey`: no `apiKeyId`".to_string(),
                    ));
                };
                (id, string(&key, &["apiKeyValue"]).filter(|s| !s.is_empty()))
            }
            // The answer with the secret was lost: a reset below issues a new one.
            Created::Adopted(id) => (id, None),
        };
        self.mark_fresh(&id.to_string());
        self.ids()
            .api_keys
            .insert((k.workspace.clone(), k.name.clone()), id);
        if owes {
            self.owe_secret(&address, Some(id))?;
            let secret = match secret {
                Some(secret) => secret,
                None => self.reset_api_key(&ws, id)?,
            };
            self.deliver_secret(&address, &secret)?;
        }
        if !k.enabled {
            self.set_key_enabled(&ws, id, false)?;
        }
        Ok(())
    }

    fn update_api_key(&self, before: &ApiKey, after: &ApiKey) -> Result<(), BackendError> {
        if before.owner != after.owner {
            return Err(BackendError::Invalid(format!(
                "failed to update API key `{}`: its owner cannot change in place\n\
                 hint: this is a bug in msctl's planner; such a change is a replacement",
                after.name
            )));
        }
        let ws = self.workspace(&after.workspace)?;
        let id = self.api_key_id(&after.workspace, &after.name)?;
        let settings_changed = before.description != after.description
            || before.models != after.models
            || before.ip_allow != after.ip_allow;
        if settings_changed {
            let spec = ms(
                "UpdateApiKey",
                Method::Put,
                format!("/modelstudio/apikeys/{id}"),
                &ws.region,
            )
            .query(
                "description",
                encode_key_description(&after.name, &after.description)?,
            )
            .body(Body::Form(flatten(&auth_to_wire(after))));
            self.settled(&id.to_string(), || self.call(&spec).map(drop))?;
        }
        if before.enabled != after.enabled {
            self.set_key_enabled(&ws, id, after.enabled)?;
        }
        Ok(())
    }

    fn set_key_enabled(
        &self,
        ws: &MsWorkspace,
        id: i64,
        enabled: bool,
    ) -> Result<(), BackendError> {
        let (action, verb) = if enabled {
            ("EnableApiKey", "enable")
        } else {
            ("DisableApiKey", "disable")
        };
        let spec = ms(
            action,
            Method::Put,
            format!("/modelstudio/apikeys/{id}/{verb}"),
            &ws.region,
        );
        self.settled(&id.to_string(), || self.call(&spec).map(drop))
    }

    fn delete_api_key(&self, k: &ApiKey) -> Result<(), BackendError> {
        let ws = match self.workspace(&k.workspace) {
            Ok(ws) => ws,
            Err(BackendError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let id = match self.api_key_id(&k.workspace, &k.name) {
            Ok(id) => id,
            Err(BackendError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let spec = ms(
            "DeleteApiKey",
            Method::Delete,
            format!("/modelstudio/apikeys/{id}"),
            &ws.region,
        );
        gone_is_ok(self.call(&spec).map(drop))?;
        self.ids()
            .api_keys
            .remove(&(k.workspace.clone(), k.name.clone()));
        Ok(())
    }

    /// Deletes one of several keys sharing msctl's name `k.name` by its `apiKeyId`, leaving the
    /// others (and the id cache, which holds the lowest id) alone.
    fn delete_api_key_by_id(&self, k: &ApiKey, id: &str) -> Result<(), BackendError> {
        let id: i64 = id.parse().map_err(|_| {
            BackendError::Invalid(format!(
                "failed to delete `{}#{id}`: `{id}` is not an API key id\n\
                 hint: recompute the plan",
                Resource::ApiKey(k.clone()).address()
            ))
        })?;
        let ws = match self.workspace(&k.workspace) {
            Ok(ws) => ws,
            Err(BackendError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let spec = ms(
            "DeleteApiKey",
            Method::Delete,
            format!("/modelstudio/apikeys/{id}"),
            &ws.region,
        );
        gone_is_ok(self.call(&spec).map(drop))
    }

    /// The `apiKeyId` of msctl's key `name` in `workspace`: cached by the read, else listed.
    pub(in crate::backend::aliyun) fn api_key_id(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<i64, BackendError> {
        let key = (workspace.to_string(), name.to_string());
        if let Some(id) = self.ids().api_keys.get(&key) {
            return Ok(*id);
        }
        let ws = self.workspace(workspace)?;
        let spec = ms(
            "ListApiKeys",
            Method::Get,
            "/modelstudio/apikeys",
            &ws.region,
        )
        .query("workspaceId", ws.id.clone());
        // The lowest id not rotated out, as reads seat it (`State::seat_successors`).
        let retiring = self.ledger_file().load()?.retiring_ids();
        let found = self
            .ms_pages(&spec, PAGE, "apiKeys")?
            .iter()
            .filter(|k| string(k, &["workspaceId"]).is_none_or(|id| id == ws.id))
            .filter(|k| {
                string(k, &["description"])
                    .and_then(|d| decode_key_description(&d))
                    .is_some_and(|(n, _)| n == name)
            })
            .filter_map(|k| int(k, &["apiKeyId"]))
            .min_by_key(|id| (retiring.contains(&id.to_string()), *id));
        match found {
            Some(id) => {
                self.ids().api_keys.insert(key, id);
                Ok(id)
            }
            None => Err(BackendError::NotFound(format!(
                "API key `{name}` does not exist in workspace `{workspace}`"
            ))),
        }
    }
}

/// One `workspaceLimits` item, keys in the SDK's (alphabetical) order.
fn limit_item(l: &ModelLimit) -> Value {
    let mut item = json!({
        "model": l.model,
        "operationType": "OVERLAY",
        "requestLimit": l.requests,
        "requestLimitPeriod": l.request_period,
    });
    if let (Some(tokens), Some(map)) = (l.tokens, item.as_object_mut()) {
        map.insert("usageLimit".to_string(), json!(tokens));
        map.insert(
            "usageLimitPeriod".to_string(),
            json!(l.usage_period.unwrap_or(l.request_period)),
        );
    }
    item
}
