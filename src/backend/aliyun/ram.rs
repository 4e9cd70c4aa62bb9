//! RAM 2015-05-01 (contract §2): users, groups and membership, roles with trust policies, custom
//! policies with versions, and attachments of System and Custom policies.
//!
//! RAM is RPC: every call is `POST /` with its parameters in the query. Lists page with
//! `Marker`/`MaxItems` (at the documented maximum: 1000, groups 100). `ListRoles` and
//! `ListPolicies` carry no documents, so each role costs a `GetRole` and each custom policy a
//! `GetPolicy`; attachments come from the reverse lookups `ListPoliciesFor{User,Group,Role}`,
//! one per principal. All of these run in the read's second wave, in parallel.
//!
//! A policy update is `CreatePolicyVersion` with `SetAsDefault` and
//! `RotateStrategy=DeleteOldestNonDefaultVersionWhenLimitExceeded`, so the platform drops the
//! oldest non-default version when the fifth is in the way. Documents are compared semantically
//! ([`crate::policy::documents_equal`]), never as text.

use serde_json::Value;

use super::base::AliyunBackend;
use super::client::{Product, RequestSpec};
use super::error::gone_is_ok;
use super::idempotent::Created;
use super::json::{document, field, int, list, non_empty, required, string};
use super::parallel::Job;
use crate::backend::{BackendError, Operation};
use crate::model::{
    Attachment, GroupMember, PolicyType, Principal, RamGroup, RamPolicy, RamRole, RamUser, Resource,
};
use crate::policy::documents_equal;

const PAGE: u32 = 1000;
/// `ListGroups` documents `MaxItems` 1–100.
const GROUPS_PAGE: u32 = 100;

/// A user from `ListUsers`, with the `UserId` PAI members and API-key creators are known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedUser {
    pub id: String,
    pub user: RamUser,
}

/// A custom policy from `ListPolicies` (its document needs `GetPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedPolicy {
    pub name: String,
}

fn rpc(action: &str) -> RequestSpec {
    RequestSpec::rpc(Product::Ram, action)
}

/// Compact JSON, as the policy APIs take documents.
fn compact(doc: &Value) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

fn user_of(item: &Value) -> Result<RamUser, BackendError> {
    Ok(RamUser {
        name: required(item, &["UserName"], "ListUsers")?,
        display_name: non_empty(string(item, &["DisplayName"])),
        comments: non_empty(string(item, &["Comments"])),
    })
}

fn group_of(item: &Value) -> Result<RamGroup, BackendError> {
    Ok(RamGroup {
        name: required(item, &["GroupName"], "ListGroups")?,
        comments: non_empty(string(item, &["Comments"])),
    })
}

fn role_of(item: &Value, name: &str) -> RamRole {
    RamRole {
        name: string(item, &["RoleName"]).unwrap_or_else(|| name.to_string()),
        description: non_empty(string(item, &["Description"])),
        trust_policy: document(field(item, &["AssumeRolePolicyDocument"])),
        max_session_duration: int(item, &["MaxSessionDuration"])
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(3600),
    }
}

fn policy_of(body: &Value, name: &str) -> RamPolicy {
    let policy = field(body, &["Policy"]).cloned().unwrap_or(Value::Null);
    let version = field(body, &["DefaultPolicyVersion"])
        .cloned()
        .unwrap_or(Value::Null);
    // `Policy.PolicyDocument` is deprecated but still sent; the default version's wins.
    let doc = field(&version, &["PolicyDocument"]).or_else(|| field(&policy, &["PolicyDocument"]));
    RamPolicy {
        name: string(&policy, &["PolicyName"]).unwrap_or_else(|| name.to_string()),
        description: non_empty(string(&policy, &["Description"])),
        document: document(doc),
    }
}

/// The query parameter naming a principal in attach/detach calls.
fn principal_param(p: &Principal) -> (&'static str, &'static str) {
    match p {
        Principal::User(_) => ("UserName", "User"),
        Principal::Group(_) => ("GroupName", "Group"),
        Principal::Role(_) => ("RoleName", "Role"),
    }
}

impl AliyunBackend {
    pub(super) fn list_users(&self) -> Result<Vec<ListedUser>, BackendError> {
        self.ram_pages(&rpc("ListUsers"), PAGE, &["Users", "User"])?
            .iter()
            .map(|item| {
                Ok(ListedUser {
                    id: required(item, &["UserId"], "ListUsers")?,
                    user: user_of(item)?,
                })
            })
            .collect()
    }

    pub(super) fn list_groups(&self) -> Result<Vec<RamGroup>, BackendError> {
        self.ram_pages(&rpc("ListGroups"), GROUPS_PAGE, &["Groups", "Group"])?
            .iter()
            .map(group_of)
            .collect()
    }

    pub(super) fn list_roles(&self) -> Result<Vec<String>, BackendError> {
        self.ram_pages(&rpc("ListRoles"), PAGE, &["Roles", "Role"])?
            .iter()
            .map(|item| required(item, &["RoleName"], "ListRoles"))
            .collect()
    }

    pub(super) fn list_policies(&self) -> Result<Vec<ListedPolicy>, BackendError> {
        let spec = rpc("ListPolicies").query("PolicyType", "Custom");
        self.ram_pages(&spec, PAGE, &["Policies", "Policy"])?
            .iter()
            .filter(|item| {
                string(item, &["PolicyType"]).is_none_or(|t| t.eq_ignore_ascii_case("Custom"))
            })
            .map(|item| {
                Ok(ListedPolicy {
                    name: required(item, &["PolicyName"], "ListPolicies")?,
                })
            })
            .collect()
    }

    /// Second-wave reads: attachments per principal, group members, role and policy documents.
    pub(super) fn ram_jobs<'a>(
        &'a self,
        users: &[ListedUser],
        groups: &[RamGroup],
        roles: &[String],
        policies: &[ListedPolicy],
        jobs: &mut Vec<Job<'a, Vec<Resource>>>,
    ) {
        for u in users {
            let p = Principal::User(u.user.name.clone());
            jobs.push(Box::new(move || self.attachments_of(&p)));
        }
        for g in groups {
            let name = g.name.clone();
            jobs.push(Box::new(move || self.group_members(&name)));
            let p = Principal::Group(g.name.clone());
            jobs.push(Box::new(move || self.attachments_of(&p)));
        }
        for r in roles {
            let name = r.clone();
            jobs.push(Box::new(move || {
                self.get_role(&name).map(|r| vec![Resource::RamRole(r)])
            }));
            let p = Principal::Role(r.clone());
            jobs.push(Box::new(move || self.attachments_of(&p)));
        }
        for p in policies {
            let name = p.name.clone();
            jobs.push(Box::new(move || {
                self.get_policy(&name).map(|p| vec![Resource::RamPolicy(p)])
            }));
        }
    }

    fn attachments_of(&self, principal: &Principal) -> Result<Vec<Resource>, BackendError> {
        let (param, kind) = principal_param(principal);
        let action = format!("ListPoliciesFor{kind}");
        let body = self.call(&rpc(&action).query(param, principal.name()))?;
        let mut out = Vec::new();
        for item in list(&body, &["Policies", "Policy"]) {
            let policy = required(item, &["PolicyName"], &action)?;
            let policy_type = match string(item, &["PolicyType"]).as_deref() {
                Some("System") => PolicyType::System,
                Some("Custom") => PolicyType::Custom,
                // A type this build does not know cannot be declared either: leave it out.
                _ => continue,
            };
            out.push(Resource::Attachment(Attachment {
                principal: principal.clone(),
                policy,
                policy_type,
            }));
        }
        Ok(out)
    }

    fn group_members(&self, group: &str) -> Result<Vec<Resource>, BackendError> {
        let spec = rpc("ListUsersForGroup").query("GroupName", group);
        self.ram_pages(&spec, PAGE, &["Users", "User"])?
            .iter()
            .map(|item| {
                Ok(Resource::GroupMember(GroupMember {
                    group: group.to_string(),
                    user: required(item, &["UserName"], "ListUsersForGroup")?,
                }))
            })
            .collect()
    }

    fn get_role(&self, name: &str) -> Result<RamRole, BackendError> {
        let body = self.call(&rpc("GetRole").query("RoleName", name))?;
        let role = field(&body, &["Role"]).cloned().unwrap_or(Value::Null);
        Ok(role_of(&role, name))
    }

    fn get_policy(&self, name: &str) -> Result<RamPolicy, BackendError> {
        let spec = rpc("GetPolicy")
            .query("PolicyName", name)
            .query("PolicyType", "Custom");
        Ok(policy_of(&self.call(&spec)?, name))
    }

    /// The `UserId` of RAM user `name`: cached by reads and creates, else `GetUser`.
    pub(super) fn user_id(&self, name: &str) -> Result<String, BackendError> {
        if let Some(id) = self.ids().users.get(name) {
            return Ok(id.clone());
        }
        let body = self.call(&rpc("GetUser").query("UserName", name))?;
        let user = field(&body, &["User"]).cloned().unwrap_or(Value::Null);
        let id = required(&user, &["UserId"], "GetUser")?;
        self.ids().users.insert(name.to_string(), id.clone());
        Ok(id)
    }

    // -----------------------------------------------------------------------------------------
    // Writes
    // -----------------------------------------------------------------------------------------

    pub(super) fn apply_ram(&self, op: Operation<'_>) -> Result<(), BackendError> {
        match op {
            Operation::Create(Resource::RamUser(u)) => self.create_user(u),
            Operation::Update {
                before: Resource::RamUser(b),
                after: Resource::RamUser(a),
            } => {
                // `before` names the live user: a rename (`renamed_from`) sends the new name.
                let mut spec = rpc("UpdateUser").query("UserName", b.name.clone());
                if b.name != a.name {
                    spec = spec.query("NewUserName", a.name.clone());
                }
                if b.display_name != a.display_name {
                    spec = spec.query("NewDisplayName", a.display_name.clone().unwrap_or_default());
                }
                if b.comments != a.comments {
                    spec = spec.query("NewComments", a.comments.clone().unwrap_or_default());
                }
                let result = self.call(&spec).map(drop);
                if b.name == a.name {
                    return result;
                }
                self.renamed(result, "user", &b.name, &a.name)
            }
            Operation::Delete(Resource::RamUser(u)) => {
                gone_is_ok(
                    self.call(&rpc("DeleteUser").query("UserName", u.name.clone()))
                        .map(drop),
                )?;
                self.ids().users.remove(&u.name);
                Ok(())
            }
            Operation::Create(Resource::RamGroup(g)) => self.create_group(g),
            Operation::Update {
                before,
                after: Resource::RamGroup(g),
            } => {
                // `before` names the live group: a rename (`renamed_from`) sends the new name.
                let old = match before {
                    Resource::RamGroup(b) => b.name.clone(),
                    _ => g.name.clone(),
                };
                let mut spec = rpc("UpdateGroup").query("GroupName", old.clone());
                if old != g.name {
                    spec = spec.query("NewGroupName", g.name.clone());
                }
                let spec = spec.query("NewComments", g.comments.clone().unwrap_or_default());
                let result = self.call(&spec).map(drop);
                if old == g.name {
                    return result;
                }
                self.renamed(result, "group", &old, &g.name)
            }
            Operation::Delete(Resource::RamGroup(g)) => gone_is_ok(
                self.call(&rpc("DeleteGroup").query("GroupName", g.name.clone()))
                    .map(drop),
            ),
            Operation::Create(Resource::GroupMember(m)) => {
                let spec = rpc("AddUserToGroup")
                    .query("GroupName", m.group.clone())
                    .query("UserName", m.user.clone());
                // The membership is the whole object: "already a member" is the same one.
                let fresh = [fresh_key("user", &m.user), fresh_key("group", &m.group)];
                self.settled_any(&[&fresh[0], &fresh[1]], || {
                    already_is_ok(self.call_raw(&spec).map(drop))
                })
            }
            // A membership has no attributes: nothing to change.
            Operation::Update {
                after: Resource::GroupMember(_),
                ..
            } => Ok(()),
            Operation::Delete(Resource::GroupMember(m)) => {
                let spec = rpc("RemoveUserFromGroup")
                    .query("GroupName", m.group.clone())
                    .query("UserName", m.user.clone());
                gone_is_ok(self.call(&spec).map(drop))
            }
            Operation::Create(Resource::RamRole(r)) => self.create_role(r),
            Operation::Update {
                before: Resource::RamRole(b),
                after: Resource::RamRole(a),
            } => {
                let mut spec = rpc("UpdateRole").query("RoleName", a.name.clone());
                if !documents_equal(&b.trust_policy, &a.trust_policy) {
                    spec = spec.query("NewAssumeRolePolicyDocument", compact(&a.trust_policy));
                }
                if b.description != a.description {
                    spec = spec.query("NewDescription", a.description.clone().unwrap_or_default());
                }
                if b.max_session_duration != a.max_session_duration {
                    spec = spec.query("NewMaxSessionDuration", a.max_session_duration.to_string());
                }
                self.call(&spec).map(drop)
            }
            Operation::Delete(Resource::RamRole(r)) => gone_is_ok(
                self.call(&rpc("DeleteRole").query("RoleName", r.name.clone()))
                    .map(drop),
            ),
            Operation::Create(Resource::RamPolicy(p)) => self.create_policy(p),
            Operation::Update {
                before: Resource::RamPolicy(b),
                after: Resource::RamPolicy(a),
            } => {
                if !documents_equal(&b.document, &a.document) {
                    let spec = rpc("CreatePolicyVersion")
                        .query("PolicyName", a.name.clone())
                        .query("PolicyDocument", compact(&a.document))
                        .query("SetAsDefault", "true")
                        .query(
                            "RotateStrategy",
                            "DeleteOldestNonDefaultVersionWhenLimitExceeded",
                        );
                    self.call(&spec)?;
                }
                if b.description != a.description {
                    let spec = rpc("UpdatePolicyDescription")
                        .query("PolicyName", a.name.clone())
                        .query("NewDescription", a.description.clone().unwrap_or_default());
                    self.call(&spec)?;
                }
                Ok(())
            }
            Operation::Delete(Resource::RamPolicy(p)) => {
                let spec = rpc("DeletePolicy")
                    .query("PolicyName", p.name.clone())
                    .query("CascadingDelete", "true");
                gone_is_ok(self.call(&spec).map(drop))
            }
            Operation::Create(Resource::Attachment(a)) => {
                let fresh = [
                    fresh_key(a.principal.kind(), a.principal.name()),
                    fresh_key("policy", &a.policy),
                ];
                let spec = attach_spec("AttachPolicyTo", a);
                self.settled_any(&[&fresh[0], &fresh[1]], || {
                    already_is_ok(self.call_raw(&spec).map(drop))
                })
            }
            Operation::Update {
                before: Resource::Attachment(b),
                after: Resource::Attachment(a),
            } => {
                if b.policy_type != a.policy_type {
                    return Err(BackendError::Invalid(format!(
                        "failed to update `{}`: an attachment's policy type cannot change in \
                         place\nhint: this is a bug in msctl's planner; such a change is a \
                         replacement",
                        Resource::Attachment(a.clone()).address()
                    )));
                }
                Ok(())
            }
            Operation::Delete(Resource::Attachment(a)) => {
                gone_is_ok(self.call(&attach_spec("DetachPolicyFrom", a)).map(drop))
            }
            other => Err(BackendError::Invalid(format!(
                "failed to apply `{}`: not a RAM change, or before and after differ in kind",
                other.resource().address()
            ))),
        }
    }

    /// After an `UpdateUser`/`UpdateGroup` that renames `old` to `new`: a retried call whose
    /// first attempt renamed it finds `old` gone, which is success when `new` exists. The new
    /// name is remembered as fresh (reads may lag) and cached ids follow it.
    fn renamed(
        &self,
        result: Result<(), BackendError>,
        kind: &str,
        old: &str,
        new: &str,
    ) -> Result<(), BackendError> {
        match result {
            Ok(()) => {}
            Err(BackendError::NotFound(e)) => {
                let get = match kind {
                    "user" => rpc("GetUser").query("UserName", new),
                    _ => rpc("GetGroup").query("GroupName", new),
                };
                if absent_is_none(self.call(&get))?.is_none() {
                    return Err(BackendError::NotFound(e));
                }
            }
            Err(e) => return Err(e),
        }
        self.mark_fresh(&fresh_key(kind, new));
        if kind == "user" {
            let mut ids = self.ids();
            if let Some(id) = ids.users.remove(old) {
                ids.users.insert(new.to_string(), id);
            }
        }
        Ok(())
    }

    fn create_user(&self, u: &RamUser) -> Result<(), BackendError> {
        let mut spec = rpc("CreateUser").query("UserName", u.name.clone());
        if let Some(d) = &u.display_name {
            spec = spec.query("DisplayName", d.clone());
        }
        if let Some(c) = &u.comments {
            spec = spec.query("Comments", c.clone());
        }
        // RAM names are unique: after a lost answer, the user of that name is the attempt's.
        let find = || {
            let body =
                absent_is_none(self.call(&rpc("GetUser").query("UserName", u.name.clone())))?;
            Ok(body.map(|b| {
                let user = field(&b, &["User"]).cloned().unwrap_or(Value::Null);
                string(&user, &["UserId"])
            }))
        };
        let id = match self.create_idempotent(&spec, find)? {
            Created::New(body) => {
                let user = field(&body, &["User"]).cloned().unwrap_or(Value::Null);
                string(&user, &["UserId"])
            }
            Created::Adopted(id) => id,
        };
        self.mark_fresh(&fresh_key("user", &u.name));
        if let Some(id) = id {
            self.ids().users.insert(u.name.clone(), id);
        }
        Ok(())
    }

    fn create_group(&self, g: &RamGroup) -> Result<(), BackendError> {
        let mut spec = rpc("CreateGroup").query("GroupName", g.name.clone());
        if let Some(c) = &g.comments {
            spec = spec.query("Comments", c.clone());
        }
        let find = || {
            absent_is_none(self.call(&rpc("GetGroup").query("GroupName", g.name.clone())))
                .map(|found| found.map(drop))
        };
        self.create_idempotent(&spec, find)?;
        self.mark_fresh(&fresh_key("group", &g.name));
        Ok(())
    }

    fn create_role(&self, r: &RamRole) -> Result<(), BackendError> {
        let mut spec = rpc("CreateRole")
            .query("RoleName", r.name.clone())
            .query("AssumeRolePolicyDocument", compact(&r.trust_policy))
            .query("MaxSessionDuration", r.max_session_duration.to_string());
        if let Some(d) = &r.description {
            spec = spec.query("Description", d.clone());
        }
        let find = || absent_is_none(self.get_role(&r.name)).map(|found| found.map(drop));
        self.create_idempotent(&spec, find)?;
        self.mark_fresh(&fresh_key("role", &r.name));
        Ok(())
    }

    fn create_policy(&self, p: &RamPolicy) -> Result<(), BackendError> {
        let mut spec = rpc("CreatePolicy")
            .query("PolicyName", p.name.clone())
            .query("PolicyDocument", compact(&p.document));
        if let Some(d) = &p.description {
            spec = spec.query("Description", d.clone());
        }
        let find = || absent_is_none(self.get_policy(&p.name)).map(|found| found.map(drop));
        self.create_idempotent(&spec, find)?;
        self.mark_fresh(&fresh_key("policy", &p.name));
        Ok(())
    }
}

/// A lookup's `NotFound` as "none".
fn absent_is_none<T>(result: Result<T, BackendError>) -> Result<Option<T>, BackendError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(BackendError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The key under which a RAM object this process created is remembered as fresh.
pub(super) fn fresh_key(kind: &str, name: &str) -> String {
    format!("ram:{kind}:{name}")
}

fn attach_spec(verb: &str, a: &Attachment) -> RequestSpec {
    let (param, kind) = principal_param(&a.principal);
    rpc(&format!("{verb}{kind}"))
        .query("PolicyType", a.policy_type.as_str())
        .query("PolicyName", a.policy.clone())
        .query(param, a.principal.name())
}

/// A relation create answered `EntityAlreadyExists.*`: the relation is the whole object, so the
/// existing one matches by definition (a retried attach or add-to-group).
fn already_is_ok(result: Result<(), super::error::CallError>) -> Result<(), BackendError> {
    match result {
        Err(e)
            if e.api()
                .is_some_and(|a| a.code.starts_with("EntityAlreadyExists")) =>
        {
            Ok(())
        }
        other => other.map_err(BackendError::from),
    }
}
