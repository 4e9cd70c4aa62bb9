//! The embedded default backend: the platform modelled in a local SQLite file.
//!
//! [`LocalBackend`] maps each [`Operation`] on a [`Resource`] to one platform [`Store`]
//! operation (one transaction), and reads a whole [`ReadScope`] in one snapshot. The store
//! enforces the platform's rules, so a plan that would fail on Alibaba Cloud fails here the same
//! way.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::{Backend, BackendError, Capabilities, Ledger, LockInfo, Operation, ReadScope};
use crate::model::{Rename, Resource, State};
pub use crate::store::Store;
use crate::store::{ApiKeyChange, LimitSpec, MemberSpec, ModelGrant, NewApiKey, WriteMode};

/// The local backend: a [`Store`] behind a lock, so one backend value can serve many threads.
#[derive(Debug)]
pub struct LocalBackend {
    store: Mutex<Store>,
}

impl LocalBackend {
    /// Opens (or creates) the state database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BackendError> {
        Ok(Self::from_store(Store::open(path)?))
    }

    /// Like [`LocalBackend::open`], waiting at most `busy_timeout` for another process's lock.
    pub fn open_with_timeout(
        path: impl AsRef<Path>,
        busy_timeout: Duration,
    ) -> Result<Self, BackendError> {
        Ok(Self::from_store(Store::open_with_timeout(
            path,
            busy_timeout,
        )?))
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, BackendError> {
        Ok(Self::from_store(Store::open_in_memory()?))
    }

    pub fn from_store(store: Store) -> Self {
        LocalBackend {
            store: Mutex::new(store),
        }
    }

    /// The store, for the ledger, the emulator and out-of-band changes in tests.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave half a change behind (every change is one
        // transaction), so the store is still sound.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LocalBackend {
    /// The owed secrets recorded in this ledger database.
    pub fn owed_secrets(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::backend::OwedSecret>, BackendError> {
        self.store().ledger_db().owed_secrets()
    }

    /// Records (`Some`) or clears (`None`) the secret owed for `address`, at once and on its
    /// own: it must survive the process being killed the next moment.
    pub fn set_owed_secret(
        &self,
        address: &str,
        owed: Option<crate::backend::OwedSecret>,
    ) -> Result<(), BackendError> {
        self.store().ledger_db_mut().set_owed_secret(address, owed)
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    fn read(&self, scope: &ReadScope) -> Result<State, BackendError> {
        // Rotated-out keys are read at `ADDRESS#ID` already (see `Store::snapshot`).
        self.store().snapshot(scope)
    }

    fn load_ledger(&self) -> Result<Ledger, BackendError> {
        self.store().ledger_db().load_ledger()
    }

    fn save_ledger(&self, ledger: &Ledger) -> Result<(), BackendError> {
        self.store().ledger_db_mut().save_ledger(ledger)
    }

    fn try_lock(&self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        self.store().ledger_db_mut().try_lock(holder)
    }

    fn unlock(&self, id: &str) -> Result<Option<LockInfo>, BackendError> {
        self.store().ledger_db_mut().unlock(id)
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        self.store().ledger_db().lock_holder()
    }

    fn apply(&self, operation: Operation<'_>) -> Result<(), BackendError> {
        let mut store = self.store();
        match operation {
            Operation::Create(resource) => create(&mut store, resource),
            Operation::Update { before, after } => {
                if let Some(rename) = Rename::of_update(before, after) {
                    return match after {
                        Resource::RamUser(u) => store.rename_user(rename.old_name(), u),
                        Resource::RamGroup(g) => store.rename_group(rename.old_name(), g),
                        _ => unreachable!("only users and groups are renamed"),
                    };
                }
                if before.address() != after.address() {
                    return Err(BackendError::Invalid(format!(
                        "failed to update `{}`: the update turns it into `{}`\n\
                         hint: this is a bug in msctl's planner; an address change is a \
                         replacement",
                        before.address(),
                        after.address()
                    )));
                }
                update(&mut store, before, after)
            }
            Operation::Delete(resource) => delete(&mut store, resource),
            Operation::DeleteDuplicate { resource, id } => match resource {
                // The store keeps key names unique, so this only meets ids it was given.
                Resource::ApiKey(_) => {
                    let id: i64 = id.parse().map_err(|_| {
                        BackendError::Invalid(format!(
                            "failed to delete `{}#{id}`: `{id}` is not an API key id",
                            resource.address()
                        ))
                    })?;
                    store.delete_api_key(id)
                }
                other => Err(BackendError::Invalid(format!(
                    "failed to delete `{}#{id}`: the local backend deletes duplicates of API keys \
                        only",
                    other.address()
                ))),
            },
        }
    }
}

fn grant(p: &crate::model::ModelPermission) -> ModelGrant {
    ModelGrant {
        model: p.model.clone(),
        inference: p.inference,
        fine_tune: p.fine_tune,
        deploy: p.deploy,
    }
}

fn limit(l: &crate::model::ModelLimit) -> LimitSpec {
    LimitSpec {
        model: l.model.clone(),
        requests: l.requests,
        request_period: l.request_period,
        tokens: l.tokens,
        usage_period: l.usage_period,
    }
}

fn member(m: &crate::model::Member) -> MemberSpec {
    MemberSpec {
        principal: m.principal.clone(),
        administrator: m.administrator,
        pages: m.pages.clone(),
    }
}

fn immutable(resource: &Resource, what: &str) -> BackendError {
    BackendError::Invalid(format!(
        "failed to update `{}`: {what} cannot change in place\n\
         hint: this is a bug in msctl's planner; such a change is a replacement",
        resource.address()
    ))
}

fn create(store: &mut Store, resource: &Resource) -> Result<(), BackendError> {
    match resource {
        Resource::Workspace(w) => {
            if w.default {
                return Err(BackendError::Refused(format!(
                    "failed to create workspace `{}`: default workspaces are created by the \
                     platform when Model Studio is activated, never by a call\n\
                     hint: declare it with `default = true` only to manage what lives in it",
                    w.name
                )));
            }
            store.create_workspace(&w.name, &w.region).map(drop)
        }
        Resource::ModelPermission(p) => {
            let ws = store.workspace_by_name(&p.workspace)?;
            store.set_model_permissions(&ws.id, &[grant(p)], WriteMode::Create)
        }
        Resource::ModelLimit(l) => {
            let ws = store.workspace_by_name(&l.workspace)?;
            store.set_model_limit(&ws.id, &limit(l), WriteMode::Create)
        }
        Resource::Member(m) => {
            let ws = store.workspace_by_name(&m.workspace)?;
            store.add_member(&ws.id, &member(m))
        }
        Resource::ApiKey(k) => {
            let ws = store.workspace_by_name(&k.workspace)?;
            // A rotation: the ledger records the key of this name as retiring before its
            // successor is created beside it (`commands::apply`).
            let predecessor = match store.api_key_by_name(&ws.id, &k.name) {
                Ok(existing) => store
                    .ledger_db()
                    .load_ledger()?
                    .retiring
                    .get(&resource.address())
                    .filter(|r| r.id == existing.id.to_string())
                    .map(|_| existing.id),
                Err(BackendError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            let new = NewApiKey {
                workspace_id: ws.id,
                name: k.name.clone(),
                owner: k.owner.clone(),
                description: k.description.clone(),
                models: k.models.clone(),
                ip_allow: k.ip_allow.clone(),
                enabled: k.enabled,
            };
            match predecessor {
                Some(id) => store.create_successor_api_key(id, &new),
                None => store.create_api_key(&new),
            }
            // The secret is shown once by the platform; msctl never holds secrets in state.
            .map(drop)
        }
        Resource::RamUser(u) => store.create_user(u).map(drop),
        Resource::RamGroup(g) => store.create_group(g).map(drop),
        Resource::GroupMember(m) => store.add_user_to_group(&m.group, &m.user),
        Resource::RamRole(r) => store.create_role(r).map(drop),
        Resource::RamPolicy(p) => store.create_policy(p),
        Resource::Attachment(a) => store.attach_policy(&a.principal, &a.policy, a.policy_type),
        Resource::PaiWorkspace(w) => store.create_pai_workspace(w).map(drop),
        Resource::PaiMember(m) => {
            let ws = store.pai_workspace_by_name(&m.workspace)?;
            store.create_pai_member(&ws.id, &m.user, &m.roles).map(drop)
        }
    }
}

fn update(store: &mut Store, before: &Resource, after: &Resource) -> Result<(), BackendError> {
    match (before, after) {
        (Resource::Workspace(b), Resource::Workspace(a)) => {
            if b != a {
                return Err(immutable(after, "a workspace's region and default flag"));
            }
            store.workspace_by_name(&a.name).map(drop)
        }
        (_, Resource::ModelPermission(p)) => {
            let ws = store.workspace_by_name(&p.workspace)?;
            store.set_model_permissions(&ws.id, &[grant(p)], WriteMode::Update)
        }
        (_, Resource::ModelLimit(l)) => {
            let ws = store.workspace_by_name(&l.workspace)?;
            store.set_model_limit(&ws.id, &limit(l), WriteMode::Update)
        }
        (_, Resource::Member(m)) => {
            let ws = store.workspace_by_name(&m.workspace)?;
            store.update_member(&ws.id, &member(m))
        }
        (Resource::ApiKey(b), Resource::ApiKey(a)) => {
            let ws = store.workspace_by_name(&a.workspace)?;
            let key = store.api_key_by_name(&ws.id, &a.name)?;
            if key.owner != a.owner {
                return Err(immutable(after, "an API key's owner"));
            }
            store.update_api_key(
                key.id,
                &ApiKeyChange {
                    description: a.description.clone(),
                    models: a.models.clone(),
                    ip_allow: a.ip_allow.clone(),
                    // Only what the plan changes: an unchanged flag is left to the platform's
                    // rules.
                    enabled: (b.enabled != a.enabled).then_some(a.enabled),
                },
            )
        }
        (_, Resource::RamUser(u)) => store.update_user(u),
        (_, Resource::RamGroup(g)) => store.update_group(g),
        (_, Resource::GroupMember(m)) => {
            // Nothing to change: a membership is only its address.
            let members = store.list_group_members(Some(&m.group))?;
            if members.iter().any(|x| x.user == m.user) {
                Ok(())
            } else {
                Err(BackendError::NotFound(format!(
                    "RAM user `{}` is not in group `{}`",
                    m.user, m.group
                )))
            }
        }
        (_, Resource::RamRole(r)) => store.update_role(r),
        (_, Resource::RamPolicy(p)) => store.update_policy(p),
        (Resource::Attachment(b), Resource::Attachment(a)) => {
            if b.policy_type != a.policy_type {
                return Err(immutable(after, "an attachment's policy type"));
            }
            let attached = store.list_attachments()?.into_iter().any(|x| {
                x.principal == a.principal && x.policy == a.policy && x.policy_type == a.policy_type
            });
            if attached {
                Ok(())
            } else {
                Err(BackendError::NotFound(format!(
                    "policy `{}` is not attached to {}",
                    a.policy, a.principal
                )))
            }
        }
        (Resource::PaiWorkspace(b), Resource::PaiWorkspace(a)) => {
            if b.region != a.region || b.env_types != a.env_types {
                return Err(immutable(after, "a PAI workspace's region and env types"));
            }
            let ws = store.pai_workspace_by_name(&a.name)?;
            store.update_pai_workspace(&ws.id, a.display_name.as_deref(), &a.description)
        }
        (_, Resource::PaiMember(m)) => {
            let ws = store.pai_workspace_by_name(&m.workspace)?;
            let member = pai_member_id(store, &ws.id, &m.workspace, &m.user)?;
            store.set_pai_member_roles(&ws.id, &member, &m.roles)
        }
        // The address check in `apply` makes the kinds agree.
        (_, other) => Err(BackendError::Invalid(format!(
            "failed to update `{}`: before and after are different kinds of resource",
            other.address()
        ))),
    }
}

fn pai_member_id(
    store: &Store,
    workspace_id: &str,
    workspace: &str,
    user: &str,
) -> Result<String, BackendError> {
    store
        .list_pai_members(Some(workspace_id))?
        .into_iter()
        .find(|m| m.user == user)
        .map(|m| m.member_id)
        .ok_or_else(|| {
            BackendError::NotFound(format!(
                "`{user}` is not a member of PAI workspace `{workspace}`"
            ))
        })
}

fn delete(store: &mut Store, resource: &Resource) -> Result<(), BackendError> {
    match resource {
        Resource::Workspace(w) => {
            let ws = store.workspace_by_name(&w.name)?;
            store.delete_workspace(&ws.id)
        }
        Resource::ModelPermission(p) => {
            let ws = store.workspace_by_name(&p.workspace)?;
            store.delete_model_permission(&ws.id, &p.model)
        }
        Resource::ModelLimit(l) => {
            let ws = store.workspace_by_name(&l.workspace)?;
            store.delete_model_limit(&ws.id, &l.model)
        }
        Resource::Member(m) => {
            let ws = store.workspace_by_name(&m.workspace)?;
            store.remove_member(&ws.id, &m.principal)
        }
        Resource::ApiKey(k) => {
            let ws = store.workspace_by_name(&k.workspace)?;
            let key = store.api_key_by_name(&ws.id, &k.name)?;
            store.delete_api_key(key.id)
        }
        Resource::RamUser(u) => store.delete_user(&u.name),
        Resource::RamGroup(g) => store.delete_group(&g.name),
        Resource::GroupMember(m) => store.remove_user_from_group(&m.group, &m.user),
        Resource::RamRole(r) => store.delete_role(&r.name),
        Resource::RamPolicy(p) => store.delete_policy(&p.name),
        Resource::Attachment(a) => store.detach_policy(&a.principal, &a.policy, a.policy_type),
        Resource::PaiWorkspace(w) => {
            let ws = store.pai_workspace_by_name(&w.name)?;
            store.delete_pai_workspace(&ws.id)
        }
        Resource::PaiMember(m) => {
            let ws = store.pai_workspace_by_name(&m.workspace)?;
            let member = pai_member_id(store, &ws.id, &m.workspace, &m.user)?;
            store.delete_pai_members(&ws.id, &[member.as_str()])
        }
    }
}

#[cfg(test)]
mod tests;
