//! PAI AIWorkSpace 2021-02-04 (contract §3): PAI workspaces and their members' roles.
//!
//! Members are created by RAM `UserId` and changed or deleted by `MemberId`, while msctl names
//! them by RAM user name: the read maps `UserId` to a name with RAM's `ListUsers`, and writes look
//! the ids up (cached from the read, else `GetUser` and `ListMembers?UserId=`). Members that are
//! not RAM users of the account (the Alibaba Cloud account itself, RAM roles) and the workspace
//! owner (`PAI.WorkspaceOwner`, set by creation) are not msctl's and are left out of the state,
//! so a declared workspace never plans to remove its owner.
//!
//! A `DisplayName` equal to the workspace name reads as "no display name": the platform fills it
//! in that way when none is given.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use super::base::AliyunBackend;
use super::client::{Body, Method, Product, RequestSpec};
use super::error::ErrorKind;
use super::error::gone_is_ok;
use super::idempotent::Created;
use super::ids::PaiWorkspaceId;
use super::json::{list, required, string, strings};
use super::parallel::Job;
use crate::acs::signing::encode_path_segment;
use crate::backend::{BackendError, Operation};
use crate::model::{PaiMember, PaiWorkspace, Resource};

/// No maximum is documented; 100 is the largest the console asks for.
const PAGE: u32 = 100;

/// The role a workspace's creator holds; not msctl's to grant or remove.
const OWNER_ROLE: &str = "PAI.WorkspaceOwner";

/// A PAI workspace from `ListWorkspaces`, with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedPaiWorkspace {
    pub id: String,
    pub workspace: PaiWorkspace,
}

fn pai(action: &str, method: Method, path: impl Into<String>, region: &str) -> RequestSpec {
    RequestSpec::roa(Product::AiWorkspace, action, method, path).region(region)
}

fn workspace_path(id: &str) -> String {
    format!("/api/v1/workspaces/{}", encode_path_segment(id))
}

impl AliyunBackend {
    pub(super) fn list_pai_workspaces(
        &self,
        region: &str,
    ) -> Result<Vec<ListedPaiWorkspace>, BackendError> {
        let spec = pai("ListWorkspaces", Method::Get, "/api/v1/workspaces", region);
        let items = self.pai_pages(&spec, PAGE, "Workspaces")?;
        let mut out: Vec<ListedPaiWorkspace> = Vec::new();
        for item in &items {
            let id = required(item, &["WorkspaceId"], "ListWorkspaces")?;
            if out.iter().any(|w| w.id == id) {
                continue;
            }
            let name = required(item, &["WorkspaceName"], "ListWorkspaces")?;
            let display_name =
                string(item, &["DisplayName"]).filter(|d| !d.is_empty() && *d != name);
            out.push(ListedPaiWorkspace {
                id,
                workspace: PaiWorkspace {
                    name,
                    region: region.to_string(),
                    display_name,
                    description: string(item, &["Description"]).unwrap_or_default(),
                    env_types: strings(item, &["EnvTypes"]),
                },
            });
        }
        Ok(out)
    }

    /// Second-wave reads: the members of every PAI workspace.
    pub(super) fn pai_jobs<'a>(
        &'a self,
        workspaces: &[ListedPaiWorkspace],
        user_names: &HashMap<String, String>,
        jobs: &mut Vec<Job<'a, Vec<Resource>>>,
    ) {
        for w in workspaces {
            let w = w.clone();
            let names = user_names.clone();
            jobs.push(Box::new(move || self.read_pai_members(&w, &names)));
        }
    }

    fn read_pai_members(
        &self,
        w: &ListedPaiWorkspace,
        user_names: &HashMap<String, String>,
    ) -> Result<Vec<Resource>, BackendError> {
        let spec = pai(
            "ListMembers",
            Method::Get,
            format!("{}/members", workspace_path(&w.id)),
            &w.workspace.region,
        );
        let mut out = Vec::new();
        for item in self.pai_pages(&spec, PAGE, "Members")? {
            let (Some(user_id), Some(member_id)) =
                (string(&item, &["UserId"]), string(&item, &["MemberId"]))
            else {
                continue;
            };
            let roles: BTreeSet<String> = strings(&item, &["Roles"]).into_iter().collect();
            let Some(user) = user_names.get(&user_id) else {
                continue;
            };
            if roles.contains(OWNER_ROLE) {
                continue;
            }
            self.ids()
                .pai_members
                .insert((w.id.clone(), user_id.clone()), member_id);
            out.push(Resource::PaiMember(PaiMember {
                workspace: w.workspace.name.clone(),
                user: user.clone(),
                roles,
            }));
        }
        Ok(out)
    }

    /// The PAI workspace msctl calls `name`: cached by the read, else listed again.
    fn pai_workspace(&self, name: &str) -> Result<PaiWorkspaceId, BackendError> {
        if let Some(w) = self.ids().pai_workspaces.get(name) {
            return Ok(w.clone());
        }
        for region in self.pai_regions.clone() {
            for w in self.list_pai_workspaces(&region)? {
                self.ids().pai_workspaces.insert(
                    w.workspace.name.clone(),
                    PaiWorkspaceId {
                        id: w.id,
                        region: w.workspace.region,
                    },
                );
            }
            if let Some(w) = self.ids().pai_workspaces.get(name) {
                return Ok(w.clone());
            }
        }
        Err(BackendError::NotFound(format!(
            "PAI workspace `{name}` does not exist"
        )))
    }

    /// The `MemberId` and roles of `user_id` in PAI workspace `ws`; the lookup waits briefly for
    /// a member this process just created.
    fn pai_member(
        &self,
        ws: &PaiWorkspaceId,
        user_id: &str,
        user: &str,
    ) -> Result<(String, BTreeSet<String>), BackendError> {
        let spec = pai(
            "ListMembers",
            Method::Get,
            format!("{}/members", workspace_path(&ws.id)),
            &ws.region,
        )
        .query("UserId", user_id);
        let fresh = format!("{}/{user_id}", ws.id);
        self.settled(&fresh, || {
            let found = self
                .pai_pages(&spec, PAGE, "Members")?
                .into_iter()
                .find(|m| string(m, &["UserId"]).as_deref() == Some(user_id));
            match found.as_ref().and_then(|m| string(m, &["MemberId"])) {
                Some(id) => Ok((
                    id,
                    found
                        .as_ref()
                        .map(|m| strings(m, &["Roles"]).into_iter().collect())
                        .unwrap_or_default(),
                )),
                None => Err(BackendError::NotFound(format!(
                    "RAM user `{user}` is not a member of the PAI workspace"
                ))),
            }
        })
    }

    pub(super) fn apply_pai(&self, op: Operation<'_>) -> Result<(), BackendError> {
        match op {
            Operation::Create(Resource::PaiWorkspace(w)) => self.create_pai_workspace(w),
            Operation::Update {
                before: Resource::PaiWorkspace(b),
                after: Resource::PaiWorkspace(a),
            } => {
                if b.region != a.region || b.env_types != a.env_types {
                    return Err(BackendError::Invalid(format!(
                        "failed to update PAI workspace `{}`: region and env types cannot change \
                         in place\nhint: this is a bug in msctl's planner; such a change is a \
                         replacement",
                        a.name
                    )));
                }
                let ws = self.pai_workspace(&a.name)?;
                let body = json!({
                    "Description": a.description,
                    "DisplayName": a.display_name.clone().unwrap_or_else(|| a.name.clone()),
                });
                let spec = pai(
                    "UpdateWorkspace",
                    Method::Put,
                    workspace_path(&ws.id),
                    &ws.region,
                )
                .body(Body::Json(body));
                self.settled(&ws.id, || self.call(&spec).map(drop))
            }
            Operation::Delete(Resource::PaiWorkspace(w)) => {
                let ws = match self.pai_workspace(&w.name) {
                    Ok(ws) => ws,
                    Err(BackendError::NotFound(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let spec = pai(
                    "DeleteWorkspace",
                    Method::Delete,
                    workspace_path(&ws.id),
                    &ws.region,
                );
                gone_is_ok(self.call(&spec).map(drop))?;
                self.ids().pai_workspaces.remove(&w.name);
                Ok(())
            }
            Operation::Create(Resource::PaiMember(m)) => self.create_pai_member(m),
            Operation::Update {
                before: Resource::PaiMember(b),
                after: Resource::PaiMember(a),
            } => {
                let ws = self.pai_workspace(&a.workspace)?;
                let user_id = self.user_id(&a.user)?;
                let member = self.member_id(&ws, &user_id, &a.user)?;
                // Add before removing, so the member is never left without a role.
                for role in a.roles.difference(&b.roles) {
                    self.member_role(&ws, &member, role, true)?;
                }
                for role in b.roles.difference(&a.roles) {
                    self.member_role(&ws, &member, role, false)?;
                }
                Ok(())
            }
            Operation::Delete(Resource::PaiMember(m)) => {
                let ws = match self.pai_workspace(&m.workspace) {
                    Ok(ws) => ws,
                    Err(BackendError::NotFound(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let user_id = self.user_id(&m.user)?;
                let member = match self.member_id(&ws, &user_id, &m.user) {
                    Ok(id) => id,
                    Err(BackendError::NotFound(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let spec = pai(
                    "DeleteMembers",
                    Method::Delete,
                    format!("{}/members", workspace_path(&ws.id)),
                    &ws.region,
                )
                .query("MemberIds", member);
                gone_is_ok(self.call(&spec).map(drop))?;
                self.ids().pai_members.remove(&(ws.id, user_id));
                Ok(())
            }
            other => Err(BackendError::Invalid(format!(
                "failed to apply `{}`: not a PAI change, or before and after differ in kind",
                other.resource().address()
            ))),
        }
    }

    fn member_id(
        &self,
        ws: &PaiWorkspaceId,
        user_id: &str,
        user: &str,
    ) -> Result<String, BackendError> {
        let key = (ws.id.clone(), user_id.to_string());
        if let Some(id) = self.ids().pai_members.get(&key) {
            return Ok(id.clone());
        }
        let (id, _) = self.pai_member(ws, user_id, user)?;
        self.ids().pai_members.insert(key, id.clone());
        Ok(id)
    }

    fn member_role(
        &self,
        ws: &PaiWorkspaceId,
        member: &str,
        role: &str,
        add: bool,
    ) -> Result<(), BackendError> {
        let (action, method) = if add {
            ("AddMemberRole", Method::Post)
        } else {
            ("RemoveMemberRole", Method::Delete)
        };
        let spec = pai(
            action,
            method,
            format!(
                "{}/members/{}/roles/{}",
                workspace_path(&ws.id),
                encode_path_segment(member),
                encode_path_segment(role)
            ),
            &ws.region,
        );
        let result = self.call_raw(&spec);
        match result {
            // Adding a role held already, or removing one not held, is the wanted end state.
            Err(e) if add && e.kind() == ErrorKind::Conflict => Ok(()),
            Err(e) if !add && e.kind() == ErrorKind::NotFound => Ok(()),
            other => other.map(drop).map_err(BackendError::from),
        }
    }

    fn create_pai_workspace(&self, w: &PaiWorkspace) -> Result<(), BackendError> {
        // Keys in the SDK's (alphabetical) order.
        let mut body = serde_json::Map::new();
        body.insert("Description".into(), json!(w.description));
        if let Some(d) = &w.display_name {
            body.insert("DisplayName".into(), json!(d));
        }
        body.insert("EnvTypes".into(), json!(w.env_types));
        body.insert("WorkspaceName".into(), json!(w.name));
        let spec = pai(
            "CreateWorkspace",
            Method::Post,
            "/api/v1/workspaces",
            &w.region,
        )
        .body(Body::Json(Value::Object(body)));
        // PAI workspace names are unique per region: after a lost answer, the one of that name
        // is the attempt's.
        let find = || {
            Ok(self
                .list_pai_workspaces(&w.region)?
                .into_iter()
                .find(|x| x.workspace.name == w.name)
                .map(|x| x.id))
        };
        let id = match self.create_idempotent(&spec, find)? {
            Created::New(body) => required(&body, &["WorkspaceId"], "CreateWorkspace")?,
            Created::Adopted(id) => id,
        };
        self.mark_fresh(&id);
        self.ids().pai_workspaces.insert(
            w.name.clone(),
            PaiWorkspaceId {
                id,
                region: w.region.clone(),
            },
        );
        Ok(())
    }

    fn create_pai_member(&self, m: &PaiMember) -> Result<(), BackendError> {
        let ws = self.pai_workspace(&m.workspace)?;
        let user_id = self.user_id(&m.user)?;
        let roles: Vec<&String> = m.roles.iter().collect();
        let body = json!({"Members": [{"Roles": roles, "UserId": user_id}]});
        let spec = pai(
            "CreateMember",
            Method::Post,
            format!("{}/members", workspace_path(&ws.id)),
            &ws.region,
        )
        .body(Body::Json(body));
        let fresh_user = super::ram::fresh_key("user", &m.user);
        match self.settled_any(&[&ws.id, &fresh_user], || {
            self.call_raw(&spec).map_err(BackendError::from)
        }) {
            Ok(body) => {
                let member = list(&body, &["Members"])
                    .into_iter()
                    .find(|x| string(x, &["UserId"]).is_none_or(|u| u == user_id))
                    .and_then(|x| string(x, &["MemberId"]));
                self.mark_fresh(&format!("{}/{user_id}", ws.id));
                if let Some(id) = member {
                    self.ids().pai_members.insert((ws.id.clone(), user_id), id);
                }
                Ok(())
            }
            // A retried create whose first attempt went through: fine if the roles match.
            Err(BackendError::Conflict(message)) => {
                let (id, roles) = self.pai_member(&ws, &user_id, &m.user)?;
                if roles == m.roles {
                    self.ids().pai_members.insert((ws.id.clone(), user_id), id);
                    Ok(())
                } else {
                    Err(BackendError::Conflict(message))
                }
            }
            Err(e) => Err(e),
        }
    }
}
