//! RAM custom policies, their versions and attachments in the store.

use super::*;
use crate::policy::{MAX_DOCUMENT_CHARS, RAM_POLICY_NAME};

/// A custom policy with its default version's document.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub name: String,
    pub description: Option<String>,
    pub default_version: String,
    pub document: Value,
    pub create_date: i64,
    pub update_date: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`, ...
    pub version_id: String,
    pub is_default: bool,
    pub document: Value,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub principal: Principal,
    pub policy: String,
    pub policy_type: PolicyType,
    pub attach_date: i64,
}

pub(super) fn check_document(kind: &str, name: &str, document: &Value) -> Step<String> {
    if !document.is_object() {
        return Err(invalid(format!(
            "the {kind} of `{name}` must be a JSON object \
             (`{{\"Version\": \"1\", \"Statement\": [...]}}`)"
        )));
    }
    let text = to_json(document)?;
    if text.chars().count() > MAX_DOCUMENT_CHARS {
        return Err(invalid(format!(
            "the {kind} of `{name}` is {} characters long; RAM allows at most {MAX_DOCUMENT_CHARS}",
            text.chars().count()
        )));
    }
    Ok(text)
}

pub(super) fn custom_policy_exists(c: &Connection, name: &str) -> Step<bool> {
    Ok(
        c.query_row("SELECT 1 FROM ram_policy WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?
        .is_some(),
    )
}

pub(super) fn attachments_of(c: &Connection, principal: &Principal) -> Step<Vec<String>> {
    let mut stmt = c.prepare(
        "SELECT policy_name FROM ram_attachment WHERE principal_type = ?1 AND principal_name = ?2 \
         ORDER BY policy_name",
    )?;
    let rows = stmt.query_map(params![principal.kind(), principal.name()], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn policy_versions(c: &Connection, name: &str) -> Step<Vec<PolicyVersionRecord>> {
    let mut stmt = c.prepare(
        "SELECT v.version_id, v.version_id = p.default_version, v.document, v.create_date \
         FROM ram_policy_version v JOIN ram_policy p ON p.name = v.policy_name \
         WHERE v.policy_name = ?1 ORDER BY v.seq",
    )?;
    let raws = stmt
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(version_id, is_default, doc, create_date)| {
            Ok(PolicyVersionRecord {
                version_id,
                is_default,
                document: from_json(&doc, "a policy document")?,
                create_date,
            })
        })
        .collect()
}

/// Adds a policy version; at the limit, rotates out the oldest non-default one if asked to.
pub(super) fn add_policy_version(
    c: &Connection,
    name: &str,
    document: &Value,
    set_as_default: bool,
    rotate: bool,
) -> Step<String> {
    let text = check_document("policy document", name, document)?;
    let next: Option<i64> = c
        .query_row(
            "SELECT next_version FROM ram_policy WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    let next = next.ok_or_else(|| not_found(format!("custom policy `{name}` does not exist")))?;
    let count: i64 = c.query_row(
        "SELECT count(*) FROM ram_policy_version WHERE policy_name = ?1",
        [name],
        |r| r.get(0),
    )?;
    if count >= MAX_POLICY_VERSIONS {
        if !rotate {
            return Err(conflict(format!(
                "failed to add a version to policy `{name}`: it already has \
                 {MAX_POLICY_VERSIONS} versions (LimitExceeded.Policy.Version)\n\
                 hint: delete a non-default version first"
            )));
        }
        c.execute(
            "DELETE FROM ram_policy_version WHERE policy_name = ?1 AND version_id = ( \
                 SELECT v.version_id FROM ram_policy_version v JOIN ram_policy p \
                 ON p.name = v.policy_name \
                 WHERE v.policy_name = ?1 AND v.version_id <> p.default_version \
                 ORDER BY v.seq LIMIT 1)",
            [name],
        )?;
    }
    let version_id = format!("v{next}");
    let now = now_ms();
    c.execute(
        "INSERT INTO ram_policy_version (policy_name, version_id, seq, document, create_date) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, version_id, next, text, now],
    )?;
    c.execute(
        "UPDATE ram_policy SET next_version = next_version + 1, update_date = ?2 WHERE name = ?1",
        params![name, now],
    )?;
    if set_as_default {
        c.execute(
            "UPDATE ram_policy SET default_version = ?2 WHERE name = ?1",
            params![name, version_id],
        )?;
    }
    Ok(version_id)
}

pub(super) fn list_policies(c: &Connection, name: Option<&str>) -> Step<Vec<PolicyRecord>> {
    let mut stmt = c.prepare(&optional_filter(
        "SELECT p.name, p.description, p.default_version, v.document, p.create_date, \
         p.update_date FROM ram_policy p JOIN ram_policy_version v \
         ON v.policy_name = p.name AND v.version_id = p.default_version \
         WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name",
        name.is_some(),
    ))?;
    let raws = stmt
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(
            |(name, description, default_version, doc, create_date, update_date)| {
                Ok(PolicyRecord {
                    name,
                    description,
                    default_version,
                    document: from_json(&doc, "a policy document")?,
                    create_date,
                    update_date,
                })
            },
        )
        .collect()
}

pub(super) fn list_attachments(c: &Connection) -> Step<Vec<AttachmentRecord>> {
    let mut stmt = c.prepare(
        "SELECT principal_type, principal_name, policy_name, policy_type, attach_date \
         FROM ram_attachment ORDER BY principal_type, principal_name, policy_name",
    )?;
    let raws = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raws.into_iter()
        .map(|(kind, name, policy, policy_type, attach_date)| {
            Ok(AttachmentRecord {
                principal: principal_from(&kind, name)?,
                policy,
                policy_type: policy_type_from(&policy_type)?,
                attach_date,
            })
        })
        .collect()
}

impl Store {
    // ---- RAM policies and attachments --------------------------------------------------------

    /// Creates a custom policy with its first version `v1` as the default.
    pub fn create_policy(&mut self, policy: &RamPolicy) -> Result<(), BackendError> {
        let what = format!("create policy `{}`", policy.name);
        self.write(&what, |c| {
            check_ram_name(&RAM_POLICY_NAME, &policy.name)?;
            if is_system_policy(&policy.name) || custom_policy_exists(c, &policy.name)? {
                return Err(conflict(format!(
                    "failed to {what}: a policy with that name already exists \
                     (EntityAlreadyExists.Policy)"
                )));
            }
            let now = now_ms();
            c.execute(
                "INSERT INTO ram_policy (name, description, default_version, next_version, \
                 create_date, update_date) VALUES (?1, ?2, 'v1', 1, ?3, ?3)",
                params![policy.name, policy.description, now],
            )?;
            add_policy_version(c, &policy.name, &policy.document, true, false)?;
            Ok(())
        })
    }

    /// Updates a custom policy's description and, when the document changed, adds it as the new
    /// default version (rotating out the oldest non-default version at the limit).
    pub fn update_policy(&mut self, policy: &RamPolicy) -> Result<(), BackendError> {
        let what = format!("update policy `{}`", policy.name);
        self.write(&what, |c| {
            let current = list_policies(c, Some(&policy.name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "failed to {what}: custom policy `{}` does not exist \
                         (EntityNotExist.Policy)",
                        policy.name
                    ))
                })?;
            c.execute(
                "UPDATE ram_policy SET description = ?2, update_date = ?3 WHERE name = ?1",
                params![policy.name, policy.description, now_ms()],
            )?;
            if current.document != policy.document {
                add_policy_version(c, &policy.name, &policy.document, true, true)?;
            }
            Ok(())
        })
    }

    /// Adds a version, as RAM's CreatePolicyVersion; `rotate` is its
    /// `DeleteOldestNonDefaultVersionWhenLimitExceeded` strategy.
    pub fn create_policy_version(
        &mut self,
        name: &str,
        document: &Value,
        set_as_default: bool,
        rotate: bool,
    ) -> Result<String, BackendError> {
        self.write(&format!("add a version to policy `{name}`"), |c| {
            add_policy_version(c, name, document, set_as_default, rotate)
        })
    }

    pub fn set_default_policy_version(
        &mut self,
        name: &str,
        version_id: &str,
    ) -> Result<(), BackendError> {
        let what = format!("set the default version of policy `{name}`");
        self.write(&what, |c| {
            if !policy_versions(c, name)?
                .iter()
                .any(|v| v.version_id == version_id)
            {
                return Err(not_found(format!(
                    "failed to {what}: version `{version_id}` does not exist \
                     (EntityNotExist.Policy.Version)"
                )));
            }
            c.execute(
                "UPDATE ram_policy SET default_version = ?2, update_date = ?3 WHERE name = ?1",
                params![name, version_id, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn delete_policy_version(
        &mut self,
        name: &str,
        version_id: &str,
    ) -> Result<(), BackendError> {
        let what = format!("delete version `{version_id}` of policy `{name}`");
        self.write(&what, |c| {
            let versions = policy_versions(c, name)?;
            let version = versions
                .iter()
                .find(|v| v.version_id == version_id)
                .ok_or_else(|| {
                    not_found(format!(
                        "failed to {what}: no such version (EntityNotExist.Policy.Version)"
                    ))
                })?;
            if version.is_default {
                return Err(conflict(format!(
                    "failed to {what}: it is the default version \
                     (DeleteConflict.Policy.Version.Default)"
                )));
            }
            c.execute(
                "DELETE FROM ram_policy_version WHERE policy_name = ?1 AND version_id = ?2",
                params![name, version_id],
            )?;
            Ok(())
        })
    }

    /// A custom policy's versions, oldest first.
    pub fn list_policy_versions(
        &self,
        name: &str,
    ) -> Result<Vec<PolicyVersionRecord>, BackendError> {
        self.read(&format!("list versions of policy `{name}`"), |c| {
            if !custom_policy_exists(c, name)? {
                return Err(not_found(format!(
                    "custom policy `{name}` does not exist (EntityNotExist.Policy)"
                )));
            }
            policy_versions(c, name)
        })
    }

    pub fn policy(&self, name: &str) -> Result<PolicyRecord, BackendError> {
        self.read(&format!("read policy `{name}`"), |c| {
            list_policies(c, Some(name))?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    not_found(format!(
                        "custom policy `{name}` does not exist (EntityNotExist.Policy)"
                    ))
                })
        })
    }

    /// Custom policies (system ones are [`SYSTEM_POLICIES`]).
    pub fn list_policies(&self) -> Result<Vec<PolicyRecord>, BackendError> {
        self.read("list policies", |c| list_policies(c, None))
    }

    /// Deletes a custom policy with all its versions; refused while attached.
    pub fn delete_policy(&mut self, name: &str) -> Result<(), BackendError> {
        let what = format!("delete policy `{name}`");
        self.write(&what, |c| {
            if !custom_policy_exists(c, name)? {
                return Err(not_found(format!(
                    "failed to {what}: the custom policy does not exist (EntityNotExist.Policy)"
                )));
            }
            let holders: Vec<String> = list_attachments(c)?
                .into_iter()
                .filter(|a| a.policy == name && a.policy_type == PolicyType::Custom)
                .map(|a| a.principal.to_string())
                .collect();
            if !holders.is_empty() {
                return Err(conflict(format!(
                    "failed to {what}: it is still attached to {} (DeleteConflict.Policy.*)\n\
                     hint: detach it first",
                    holders.join(", ")
                )));
            }
            c.execute("DELETE FROM ram_policy WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// Attaches a system or custom policy to a user, group or role; both must exist.
    pub fn attach_policy(
        &mut self,
        principal: &Principal,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<(), BackendError> {
        let what = format!(
            "attach {} policy `{policy}` to {principal}",
            policy_type.as_str()
        );
        self.write(&what, |c| {
            if !principal_exists(c, principal)? {
                return Err(not_found(format!(
                    "failed to {what}: the {} does not exist",
                    principal.kind()
                )));
            }
            let exists = match policy_type {
                PolicyType::System => is_system_policy(policy),
                PolicyType::Custom => custom_policy_exists(c, policy)?,
            };
            if !exists {
                let hint = match policy_type {
                    PolicyType::System if custom_policy_exists(c, policy)? => {
                        "\nhint: it is a custom policy; attach it with policy type `Custom`"
                    }
                    PolicyType::Custom if is_system_policy(policy) => {
                        "\nhint: it is a system policy; attach it with policy type `System`"
                    }
                    PolicyType::System => "\nhint: check the spelling of the system policy name",
                    PolicyType::Custom => "\nhint: create the custom policy first",
                };
                return Err(not_found(format!(
                    "failed to {what}: no {} policy has that name (EntityNotExist.Policy){hint}",
                    policy_type.as_str()
                )));
            }
            if attachments_of(c, principal)?.iter().any(|p| p == policy) {
                return Err(conflict(format!(
                    "failed to {what}: it is already attached \
                     (EntityAlreadyExists.{}.Policy)",
                    capitalised(principal.kind())
                )));
            }
            c.execute(
                "INSERT INTO ram_attachment (principal_type, principal_name, policy_name, \
                 policy_type, attach_date) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    principal.kind(),
                    principal.name(),
                    policy,
                    policy_type.as_str(),
                    now_ms()
                ],
            )?;
            Ok(())
        })
    }

    pub fn detach_policy(
        &mut self,
        principal: &Principal,
        policy: &str,
        policy_type: PolicyType,
    ) -> Result<(), BackendError> {
        let what = format!(
            "detach {} policy `{policy}` from {principal}",
            policy_type.as_str()
        );
        self.write(&what, |c| {
            let n = c.execute(
                "DELETE FROM ram_attachment WHERE principal_type = ?1 AND principal_name = ?2 \
                 AND policy_name = ?3 AND policy_type = ?4",
                params![
                    principal.kind(),
                    principal.name(),
                    policy,
                    policy_type.as_str()
                ],
            )?;
            if n == 0 {
                return Err(not_found(format!(
                    "failed to {what}: it is not attached (EntityNotExist.{}.Policy)",
                    capitalised(principal.kind())
                )));
            }
            Ok(())
        })
    }

    pub fn list_attachments(&self) -> Result<Vec<AttachmentRecord>, BackendError> {
        self.read("list policy attachments", list_attachments)
    }
}
