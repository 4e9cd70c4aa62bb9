//! The differ: desired state against live state, attribute by attribute, into planned changes.
//!
//! Ownership decides what a plan may delete, because msctl shares the account with people and
//! other tools (design notes §3):
//! - a declared Model Studio workspace owns its model permissions, limits, members and API keys:
//!   live ones not declared are deleted. Undeclared live workspaces are listed as unmanaged and
//!   neither they nor anything in them is touched. Default workspaces are never created,
//!   replaced or deleted: the platform makes one per region on activation.
//! - RAM users, groups, roles and custom policies are managed only when declared; undeclared
//!   live ones are listed as unmanaged unless `prune_ram` (or the ledger's `owned` set) says to
//!   delete them. A declared user, group or role owns its policy attachments; a declared group
//!   owns its members.
//! - A declared PAI workspace owns its members; undeclared ones are listed and left alone.
//!
//! The differ computes no ordering: `graph::link` fills in `depends_on` afterwards.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::renames::{RenameConflict, renames};
use super::{Action, AttributeChange, Change, ManualStep, Unmanaged};
use crate::backend::{Capabilities, Capability};
use crate::model::{Address, ApiKey, Member, Principal, Rename, Resource, State};
use crate::policy::documents_equal;
mod scope;

use scope::*;

/// How far the differ's ownership reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Delete every undeclared live RAM user, group, role and custom policy (with their
    /// attachments and group memberships) instead of listing them as unmanaged.
    pub prune_ram: bool,
    /// Objects the ledger records as created by msctl: once no longer declared they are deleted
    /// (a workspace together with everything in it), like Terraform forgets nothing it made.
    /// Default workspaces are never deleted, whatever this says.
    pub owned: BTreeSet<Address>,
    /// The RAM user the backend acts as, if known. Without `Capability::ApiKeyOwner` the API can
    /// create keys only for the caller, so keys owned by anyone else become manual steps.
    pub caller: Option<String>,
    /// API keys to rotate now, and rotated-out predecessors waiting for or past their overlap
    /// (see [`super::rotation`]).
    pub rotations: super::rotation::Rotations,
}

/// What the differ found: changes (unordered until `graph::link`), unmanaged objects, and
/// plan-wide warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// In address order.
    pub changes: Vec<Change>,
    /// In address order.
    pub unmanaged: Vec<Unmanaged>,
    /// Problems not tied to one change (e.g. a declared default workspace missing live).
    pub warnings: Vec<String>,
    /// Live objects msctl manages (declared, or deleted by this plan): the denominator of the
    /// safety rail on the share of objects a plan touches.
    pub managed_live: usize,
    /// Declared renames whose old and new names both exist live: the plan must not be used.
    pub conflicts: Vec<RenameConflict>,
}

/// Compares `desired` with `live`; see the module documentation for what is owned.
///
/// Declared renames (`renamed_from`) whose old name is live are compared as if done: the live
/// object and everything naming it stand under the new name, and the object itself gets one
/// update that renames it (see [`super::renames`]).
pub fn diff(desired: &State, live: &State, options: &DiffOptions, caps: &Capabilities) -> Diff {
    let renames = renames(desired, live);
    let renamed_live;
    let live = if renames.planned.is_empty() {
        live
    } else {
        renamed_live = live.renamed(&renames.planned);
        &renamed_live
    };
    let scope = Scope::new(desired, live, options);
    let mut differ = Differ {
        scope,
        options,
        caps,
        out: Diff::default(),
        unknown_owners: Vec::new(),
        renamed: renames
            .planned
            .into_iter()
            .map(|r| (r.to.ram_address(), r))
            .collect(),
    };
    differ.out.conflicts = renames.conflicts;
    // A merge join over two maps sorted by the same key: one pass, no pairwise lookups.
    let mut d = desired.resources.iter().peekable();
    let mut l = live.resources.iter().peekable();
    loop {
        let next = match (d.peek(), l.peek()) {
            (None, None) => break,
            (Some(_), None) => (d.next(), None),
            (None, Some(_)) => (None, l.next()),
            (Some((da, _)), Some((la, _))) => match da.cmp(la) {
                std::cmp::Ordering::Less => (d.next(), None),
                std::cmp::Ordering::Greater => (None, l.next()),
                std::cmp::Ordering::Equal => (d.next(), l.next()),
            },
        };
        match next {
            (Some((address, want)), Some((_, have))) => differ.both(address, want, have),
            (Some((address, want)), None) => differ.create(address, want),
            (None, Some((address, have))) => differ.live_only(address, have),
            (None, None) => unreachable!("the loop breaks when both iterators are exhausted"),
        }
    }
    if !differ.unknown_owners.is_empty() {
        differ
            .out
            .warnings
            .push(unknown_owners_warning(&differ.unknown_owners));
    }
    let lost = lost_keys_warnings(&differ.out.changes, live);
    differ.out.warnings.extend(lost);
    differ.out
}

/// A plan that deletes a RAM user who owns API keys and creates another user may be a rename
/// written without `renamed_from`: the delete disables those keys for good, the rename would
/// keep them. One warning per such deleted user, naming its keys.
fn lost_keys_warnings(changes: &[Change], live: &State) -> Vec<String> {
    let users = |action: Action| -> Vec<&str> {
        changes
            .iter()
            .filter(|c| c.action == action && c.manual.is_none())
            .filter_map(|c| match (&c.before, &c.after) {
                (Some(Resource::RamUser(u)), None) | (None, Some(Resource::RamUser(u))) => {
                    Some(u.name.as_str())
                }
                _ => None,
            })
            .collect()
    };
    let (deleted, created) = (users(Action::Delete), users(Action::Create));
    if deleted.is_empty() || created.is_empty() {
        return Vec::new();
    }
    let new_user = match created.as_slice() {
        [one] => format!("`{one}`"),
        many => {
            let names: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", names.join(", "))
        }
    };
    let mut out = Vec::new();
    for old in deleted {
        let keys: Vec<String> = live
            .iter()
            .filter(|(_, r)| matches!(r, Resource::ApiKey(k) if k.owner == old))
            .map(|(a, _)| format!("`{a}`"))
            .collect();
        if keys.is_empty() {
            continue;
        }
        out.push(format!(
            "RAM user `{old}` is deleted while RAM user {new_user} is created: deleting \
             `{old}` disables the API key(s) it owns for good: {}. If {new_user} is `{old}` \
             renamed, add `renamed_from = \"{old}\"` to its `[[ram.user]]` block: RAM renames \
             the user in place and its keys keep working",
            keys.join(", ")
        ));
    }
    out
}

/// The plan-wide warning for declared keys whose live owner could not be read.
fn unknown_owners_warning(keys: &[Address]) -> String {
    const SHOWN: usize = 10;
    let mut list: Vec<String> = keys.iter().take(SHOWN).map(|a| format!("`{a}`")).collect();
    if keys.len() > SHOWN {
        list.push(format!("and {} more", keys.len() - SHOWN));
    }
    format!(
        "the owner of {} API key(s) could not be read, because the identity that created \
                them is unknown (STS GetCallerIdentity gave none, and no `--caller` or earlier \
                apply names it): {}; their owner is not compared, so no key is replaced or \
                deleted for it. Pass `--caller USER` to compare it",
        keys.len(),
        list.join(", ")
    )
}

fn immutable_changed(want: &Resource, have: &Resource) -> bool {
    compare(want, have).iter().any(|c| c.forces_replacement)
}

/// The attributes that differ between two resources of the same kind. A live API key's unknown
/// owner is not compared: not knowing must never plan the destruction of a credential.
pub(crate) fn compare(want: &Resource, have: &Resource) -> Vec<AttributeChange> {
    let owner_unknown = matches!(have, Resource::ApiKey(k) if !k.owner_known());
    let want = want.attributes();
    let have = have.attributes();
    assert_eq!(
        want.len(),
        have.len(),
        "resources at one address have the same kind, hence the same attributes"
    );
    want.into_iter()
        .zip(have)
        .filter(|(w, h)| {
            if owner_unknown && w.name == "owner" {
                false
            } else if w.document {
                !documents_equal(&w.value, &h.value)
            } else {
                w.value != h.value
            }
        })
        .map(|(w, h)| AttributeChange {
            name: w.name.to_string(),
            before: h.value,
            after: w.value,
            forces_replacement: w.immutable,
            document: w.document,
        })
        .collect()
}

/// Every attribute, from nothing (create) or to nothing (delete).
pub(crate) fn all_attributes(resource: &Resource, creating: bool) -> Vec<AttributeChange> {
    resource
        .attributes()
        .into_iter()
        .map(|a| {
            let (before, after) = if creating {
                (Value::Null, a.value)
            } else {
                (a.value, Value::Null)
            };
            AttributeChange {
                name: a.name.to_string(),
                before,
                after,
                forces_replacement: false,
                document: a.document,
            }
        })
        .collect()
}

struct Differ<'a> {
    scope: Scope<'a>,
    options: &'a DiffOptions,
    caps: &'a Capabilities,
    out: Diff,
    /// Declared API keys whose live owner is unknown (see [`ApiKey::UNKNOWN_OWNER`]).
    unknown_owners: Vec<Address>,
    /// Planned renames by their new address (the live object already stands there).
    renamed: HashMap<Address, Rename>,
}

impl Differ<'_> {
    fn both(&mut self, address: &Address, want: &Resource, have: &Resource) {
        self.out.managed_live += 1;
        if let (Resource::Workspace(w), Resource::Workspace(h)) = (want, have)
            && (w.default || h.default)
        {
            if w != h {
                self.out.warnings.push(format!(
                    "workspace `{}` is declared with region `{}`, default = {}, but live \
                            it has region `{}`, default = {}: msctl never creates, replaces or \
                            deletes a default workspace; fix the config",
                    w.name, w.region, w.default, h.region, h.default
                ));
            }
            return;
        }
        if let Some(rename) = self.renamed.get(address) {
            // The live object under its old name: the backend renames it, then updates the rest.
            let before = rename
                .reversed()
                .resource(have)
                .unwrap_or_else(|| have.clone());
            let mut attributes = vec![AttributeChange {
                name: "name".to_string(),
                before: Value::String(rename.old_name().to_string()),
                after: Value::String(rename.new_name().to_string()),
                forces_replacement: false,
                document: false,
            }];
            attributes.extend(compare(want, have));
            let change = self.change(
                address,
                Action::Update,
                Some(&before),
                Some(want),
                attributes,
            );
            self.push(change);
            return;
        }
        if let Resource::ApiKey(k) = have
            && !k.owner_known()
        {
            self.unknown_owners.push(address.clone());
        }
        let attributes = compare(want, have);
        if let Some(why) = self.options.rotations.due.get(address)
            && self.scope.replaced_container(address).is_none()
            && !attributes.iter().any(|a| a.forces_replacement)
        {
            // The successor takes the desired attributes; the current key keeps its own until
            // it is deleted after the overlap.
            let mut change = self.change(
                address,
                Action::Rotate,
                Some(have),
                Some(want),
                all_attributes(want, true),
            );
            change.warnings.insert(0, why.clone());
            self.push(change);
            return;
        }
        let action = if let Some(container) = self.scope.replaced_container(address) {
            // The platform refuses to delete a non-empty workspace: what is inside goes first
            // and comes back after, even when it did not change.
            let mut change =
                self.change(address, Action::Replace, Some(have), Some(want), attributes);
            change
                .warnings
                .insert(0, format!("recreated because `{container}` is replaced"));
            self.push(change);
            return;
        } else if attributes.is_empty() {
            return;
        } else if attributes.iter().any(|a| a.forces_replacement) {
            Action::Replace
        } else {
            Action::Update
        };
        let change = self.change(address, action, Some(have), Some(want), attributes);
        self.push(change);
    }

    fn create(&mut self, address: &Address, want: &Resource) {
        if let Resource::Workspace(w) = want
            && w.default
        {
            self.out.warnings.push(format!(
                "default workspace `{}` (region {}) is declared but missing live: msctl \
                        never creates default workspaces (the platform makes one when Model \
                        Studio is activated in a region); activate Model Studio in {} — until \
                        then the changes inside it will fail",
                w.name, w.region, w.region
            ));
            return;
        }
        let change = self.change(
            address,
            Action::Create,
            None,
            Some(want),
            all_attributes(want, true),
        );
        self.push(change);
    }

    fn live_only(&mut self, address: &Address, have: &Resource) {
        if let Address::Duplicate { of, id } = address {
            self.duplicate(address, of, id, have);
        } else if self.scope.deletable(address) {
            self.out.managed_live += 1;
            let change = self.change(
                address,
                Action::Delete,
                Some(have),
                None,
                all_attributes(have, false),
            );
            self.push(change);
        } else if let Some(u) = self.unmanaged(address, have) {
            self.out.unmanaged.push(u);
        }
    }

    /// A second live object at one address. Never adopted: inside a workspace msctl owns it is
    /// deleted by its id (behind `--allow-delete`); anywhere else it is listed as governed, so
    /// plan warns and drift reports it.
    fn duplicate(&mut self, address: &Address, of: &Address, id: &str, have: &Resource) {
        // A key rotated out is no duplicate: it waits for its overlap, then goes by its id.
        if let Some(note) = self.options.rotations.waiting.get(address) {
            self.out.warnings.push(note.clone());
            return;
        }
        if let Some(why) = self.options.rotations.expired.get(address) {
            self.out.managed_live += 1;
            let mut change = self.change(
                address,
                Action::Delete,
                Some(have),
                None,
                all_attributes(have, false),
            );
            change.warnings.insert(0, why.clone());
            self.push(change);
            return;
        }
        let what = format!(
            "a second live object at `{of}` (id {id}): two live objects map to one address"
        );
        let owned_workspace = match of {
            // A duplicate workspace has no id-based delete; a person decides which one stays.
            Address::Workspace { .. } | Address::PaiWorkspace { .. } => false,
            // Keys of two same-named workspaces collide too; which workspace is whose is a
            // person's call, so nothing in them is deleted by id.
            other => other.workspace().is_some_and(|w| {
                self.scope.workspace_owns(w) && !self.scope.duplicated_workspaces.contains(w)
            }),
        };
        if owned_workspace {
            self.out.managed_live += 1;
            let mut change = self.change(
                address,
                Action::Delete,
                Some(have),
                None,
                all_attributes(have, false),
            );
            change.warnings.insert(
                0,
                format!("{what}; the extra one is deleted by its id, `{of}` keeps the lowest id"),
            );
            self.out.warnings.push(format!(
                "{what}; the plan deletes the extra one (`{address}`)"
            ));
            self.push(change);
        } else {
            self.out.warnings.push(format!(
                "{what}; msctl does not own its workspace, so it neither adopts nor \
                        deletes it: delete the extra one by hand"
            ));
            self.out.unmanaged.push(Unmanaged {
                address: address.clone(),
                note: format!("{what}; delete the extra one by hand"),
                governed: true,
            });
        }
    }

    fn unmanaged(&self, address: &Address, have: &Resource) -> Option<Unmanaged> {
        const RAM_NOTE: &str = "not declared; RAM objects are managed only when declared \
            (`safety.prune_ram = true` in msctl.toml deletes them)";
        let (note, governed) = match have {
            Resource::Workspace(w) if w.default => (
                format!(
                    "default workspace of {}, not declared; msctl leaves it and \
                            everything in it alone",
                    w.region
                ),
                false,
            ),
            Resource::Workspace(w) => {
                let governed = self.scope.regions.contains(w.region.as_str());
                let why = if governed {
                    "; it is in a region msctl governs: created outside msctl?"
                } else {
                    ""
                };
                (
                    format!(
                        "not declared; msctl leaves it and its members, models, limits \
                                and keys alone{why}"
                    ),
                    governed,
                )
            }
            Resource::RamUser(_) | Resource::RamGroup(_) | Resource::RamRole(_) => {
                let principal = match address {
                    Address::RamUser { name } => Principal::User(name.clone()),
                    Address::RamGroup { name } => Principal::Group(name.clone()),
                    Address::RamRole { name } => Principal::Role(name.clone()),
                    _ => unreachable!("the resource kind matches its address kind"),
                };
                match self.scope.risky.get(&principal) {
                    Some(policy) => (format!("{RAM_NOTE}; it holds `{policy}`"), true),
                    None => (RAM_NOTE.to_string(), false),
                }
            }
            Resource::RamPolicy(_) => (RAM_NOTE.to_string(), false),
            Resource::Attachment(a) => {
                let governed = policy_risk(&a.policy).is_some();
                let why = if governed {
                    "; a Model Studio, RAM-admin or billing policy granted outside msctl?"
                } else {
                    ""
                };
                (
                    format!("attached to {}, which is not declared{why}", a.principal),
                    governed,
                )
            }
            Resource::GroupMember(m) => {
                let risky = self.scope.risky.get(&Principal::Group(m.group.clone()));
                let why = match risky {
                    Some(policy) => format!("; the group holds `{policy}`"),
                    None => String::new(),
                };
                (
                    format!("member of group `{}`, which is not declared{why}", m.group),
                    risky.is_some(),
                )
            }
            Resource::PaiWorkspace(w) => (
                "not declared; msctl leaves it and its members alone".to_string(),
                self.scope.pai_regions.contains(w.region.as_str()),
            ),
            // Inside an undeclared workspace: the workspace itself is listed.
            Resource::ModelPermission(_)
            | Resource::ModelLimit(_)
            | Resource::Member(_)
            | Resource::ApiKey(_)
            | Resource::PaiMember(_) => return None,
        };
        Some(Unmanaged {
            address: address.clone(),
            note,
            governed,
        })
    }

    fn push(&mut self, change: Change) {
        self.out.changes.push(change);
    }

    fn change(
        &self,
        address: &Address,
        action: Action,
        before: Option<&Resource>,
        after: Option<&Resource>,
        attributes: Vec<AttributeChange>,
    ) -> Change {
        let mut change = Change {
            address: address.clone(),
            action,
            before: before.cloned(),
            after: after.cloned(),
            attributes,
            depends_on: Vec::new(),
            destroy_depends_on: Vec::new(),
            warnings: Vec::new(),
            manual: None,
        };
        change.warnings = self.warnings(&change);
        change.manual = self.manual(&change);
        change
    }

    /// Risks from the platform's documented behaviour (domain.md), worded for a reviewer.
    fn warnings(&self, change: &Change) -> Vec<String> {
        let mut out = Vec::new();
        let deletes = matches!(change.action, Action::Delete | Action::Replace);
        let creates = matches!(change.action, Action::Create | Action::Replace);
        let resource = change.after.as_ref().or(change.before.as_ref());
        if let (Some(before), Some(after)) = (&change.before, &change.after)
            && let Some(rename) = Rename::of_update(before, after)
        {
            let kept = match rename.from {
                Principal::User(_) => {
                    "its id, API keys, group memberships, policy attachments and workspace \
                     memberships are kept"
                }
                _ => "its id, members and policy attachments are kept",
            };
            out.push(format!(
                "renames {rename} in place: {kept}; whatever names it outside msctl (sign-in \
                 names, scripts, policies naming it) must use the new name"
            ));
        }
        match resource {
            Some(Resource::Member(m)) if change.action == Action::Delete => out.push(format!(
                "removes all access of {} in workspace `{}` and disables their API keys \
                        there (re-adding them restores the keys)",
                m.principal, m.workspace
            )),
            Some(Resource::RamUser(u)) if change.action == Action::Delete => out.push(format!(
                "deleting RAM user `{}` disables their API keys for good, in every workspace",
                u.name
            )),
            Some(Resource::ApiKey(k)) => {
                if deletes {
                    out.push(format!(
                        "deleting API key `{}` is unrecoverable: clients using it stop working{}",
                        k.name,
                        if creates {
                            "; the new key has a new secret"
                        } else {
                            ""
                        }
                    ));
                }
                if creates && self.scope.default_workspaces.contains(k.workspace.as_str()) {
                    out.push(
                        "a key in the default workspace can call every model: sharing it \
                                with sub-workspace users bypasses their model authorization"
                            .to_string(),
                    );
                }
            }
            Some(Resource::Attachment(a)) if creates => {
                if let Some(PolicyRisk::Warn(text)) = policy_risk(&a.policy) {
                    out.push(format!("`{}` {text} ({})", a.policy, a.principal));
                }
            }
            Some(Resource::Workspace(w)) if change.action == Action::Replace => out.push(format!(
                "replacing workspace `{}` destroys its API keys (for good), model \
                        permissions and limits and removes its members; Model Studio cannot move \
                        or rename a workspace",
                w.name
            )),
            Some(Resource::Workspace(w)) if change.action == Action::Delete => out.push(format!(
                "deleting workspace `{}` destroys its API keys (for good), model \
                        permissions and limits; the console could not delete workspaces (2025 \
                        docs) and the API refuses while keys remain",
                w.name
            )),
            Some(Resource::PaiWorkspace(w)) if deletes => out.push(format!(
                "{} PAI workspace `{}` destroys what it holds (LangStudio flows, jobs, datasets)",
                if creates { "replacing" } else { "deleting" },
                w.name
            )),
            _ => {}
        }
        out
    }

    /// The console steps for a change the backend cannot make through its API.
    fn manual(&self, change: &Change) -> Option<ManualStep> {
        let ack = format!(" Then record it with `msctl ack {}`.", change.address);
        match (&change.before, &change.after) {
            (before, after @ Some(Resource::Member(_)))
            | (before @ Some(Resource::Member(_)), after)
                if !self.caps.has(Capability::WorkspaceMembers) =>
            {
                fn as_member(r: &Option<Resource>) -> Option<&Member> {
                    match r {
                        Some(Resource::Member(m)) => Some(m),
                        _ => None,
                    }
                }
                let text =
                    self.member_instructions(change.action, as_member(before), as_member(after));
                Some(ManualStep {
                    instructions: text + &ack,
                })
            }
            (_, Some(Resource::ApiKey(k)))
                if matches!(
                    change.action,
                    Action::Create | Action::Replace | Action::Rotate
                ) && !self.caps.has(Capability::ApiKeyOwner)
                    && self.options.caller.as_deref() != Some(k.owner.as_str()) =>
            {
                Some(ManualStep {
                    instructions: self.api_key_instructions(change.action, k) + &ack,
                })
            }
            _ => None,
        }
    }

    fn member_instructions(
        &self,
        action: Action,
        before: Option<&Member>,
        after: Option<&Member>,
    ) -> String {
        let m = after
            .or(before)
            .unwrap_or_else(|| unreachable!("a member change has a before or an after"));
        let who = match &m.principal {
            Principal::User(n) => format!("RAM user `{n}`"),
            Principal::Group(n) => format!("RAM group `{n}`"),
            Principal::Role(n) => format!("RAM role `{n}`"),
        };
        let ws = &m.workspace;
        let region = self.scope.region_note(ws);
        match (action, before, after) {
            (Action::Delete, _, _) => format!(
                "In the Model Studio console{region}, signed in as the Alibaba Cloud \
                        account (only it sees Delete): switch to workspace `{ws}` (workspace \
                        switcher, lower left) > Permissions: find {who}, click Delete and confirm."
            ),
            (Action::Update, Some(b), Some(a)) => {
                let (was, now) = (page_set(b), page_set(a));
                let grant: Vec<&str> = now.difference(&was).copied().collect();
                let revoke: Vec<&str> = was.difference(&now).copied().collect();
                let mut text = format!(
                    "In the Model Studio console{region}: switch to workspace `{ws}` \
                            (workspace switcher, lower left) > Permissions: find {who} > \
                            Permissions > Page Permissions > Edit:"
                );
                if !grant.is_empty() {
                    let _ = write!(text, " check {};", grant.join(", "));
                }
                if !revoke.is_empty() {
                    let _ = write!(text, " uncheck {};", revoke.join(", "));
                }
                text.push_str(" click Confirm.");
                text
            }
            _ => {
                let pages = page_set(m);
                let pages = if pages.is_empty() {
                    "none (read-only access to the workspace's pages)".to_string()
                } else {
                    pages.into_iter().collect::<Vec<_>>().join(", ")
                };
                format!(
                    "In the Model Studio console{region}, System Administration > \
                            Accounts: add {who} if absent (Add User, type RAM User). Then, in the \
                            users list, {who} > Permissions > Permission +: workspace `{ws}`, \
                            pages: {pages}; click Complete."
                )
            }
        }
    }

    fn api_key_instructions(&self, action: Action, k: &ApiKey) -> String {
        let region = self.scope.region_note(&k.workspace);
        let mut text = format!(
            "The API creates keys only for the caller. In the Model Studio \
                    console{region}, workspace `{}` > Key Management: ",
            k.workspace
        );
        if action == Action::Replace {
            text.push_str("delete the current key, then ");
        } else if action == Action::Rotate {
            text.push_str("keep the current key for the overlap, and ");
        }
        let _ = write!(
            text,
            "create an API key with owner account RAM user `{}` and description `{}`",
            k.owner, k.description
        );
        if let Some(models) = &k.models {
            let models: Vec<&str> = models.iter().map(String::as_str).collect();
            let _ = write!(text, ", models: {}", models.join(", "));
        }
        if !k.ip_allow.is_empty() {
            let ips: Vec<&str> = k.ip_allow.iter().map(String::as_str).collect();
            let _ = write!(text, ", IP allow-list: {}", ips.join(", "));
        }
        if !k.enabled {
            text.push_str(", then disable it");
        }
        text.push('.');
        text
    }
}

/// A member's page permissions as the console lists them, `Administrator` included.
fn page_set(m: &Member) -> BTreeSet<&str> {
    let mut pages: BTreeSet<&str> = m.pages.iter().map(String::as_str).collect();
    if m.administrator {
        pages.insert("Administrator");
    }
    pages
}

#[cfg(test)]
mod tests;
