//! From parsed declarations to the desired state: environment expansion, overrides, quota-split
//! derivation, and every semantic check (names, references, duplicates, platform rules,
//! policy documents), each reported with its location. Indexes are maps: no pairwise scans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde_json::{Value, json};

use super::files::{self, FileProblem};
use super::parse::{Located, Parsed, Seg};
use super::quota::{Allocation, Amount, QuotaSplit};
use super::raw::*;
use super::rules::{self, NameRule};
use super::{Settings, UnallocatedPolicy};
use crate::diagnostic::{Diagnostic, SourceSet, Span, suggest};
use crate::model::*;
use crate::path;
use crate::policy::{self, MAX_DOCUMENT_CHARS, PolicyKind, Risk};

/// The desired state with where each resource was declared.
pub struct Built {
    pub desired: State,
    pub origins: HashMap<Address, Span>,
    pub quotas: Vec<QuotaSplit>,
}

struct Builder<'a> {
    parsed: &'a Parsed<'a>,
    settings: &'a Settings,
    sources: &'a SourceSet,
    diags: &'a mut Vec<Diagnostic>,
    desired: State,
    origins: HashMap<Address, Span>,
    /// Expanded workspaces: name → (region, default, authorized models for inference, span).
    workspaces: BTreeMap<String, WsInfo>,
    users: HashMap<String, Span>,
    roles: HashMap<String, Span>,
    groups: HashMap<String, Span>,
    custom_policies: HashMap<String, Span>,
}

/// An API key waiting for every workspace's members to be known (its owner must be one).
struct PendingKey {
    workspace: String,
    key: RawApiKey,
    /// The key's name, its owner, and each `ip_allow` entry.
    span: Span,
    owner_span: Span,
    ip_spans: Vec<Span>,
}

struct WsInfo {
    region: String,
    default: bool,
    inference: BTreeSet<String>,
    limited: BTreeSet<String>,
    span: Span,
    /// The template and environment it was expanded from, if any.
    expanded_from: Option<(String, String)>,
}

pub fn build(
    parsed: &Parsed<'_>,
    settings: &Settings,
    sources: &SourceSet,
    diags: &mut Vec<Diagnostic>,
) -> Built {
    let mut b = Builder {
        parsed,
        settings,
        sources,
        diags,
        desired: State::default(),
        origins: HashMap::new(),
        workspaces: BTreeMap::new(),
        users: HashMap::new(),
        roles: HashMap::new(),
        groups: HashMap::new(),
        custom_policies: HashMap::new(),
    };
    b.ram();
    b.workspaces();
    let quotas = b.quotas();
    b.pai();
    b.unallocated(&quotas);
    Built {
        desired: b.desired,
        origins: b.origins,
        quotas,
    }
}

impl Builder<'_> {
    fn span<T>(&self, at: &Located<T>, rel: &[Seg]) -> Span {
        self.parsed.locator.span(at, rel)
    }

    fn error(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(message).at(span).hint(hint));
    }

    fn warn(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(message).at(span).hint(hint));
    }

    fn check_name(&mut self, rule: &NameRule, name: &str, span: Span) -> bool {
        match rule.check(name) {
            Some(problem) => {
                self.error(span, problem, "rename it to fit the platform's rule");
                false
            }
            None => true,
        }
    }

    /// Adds a resource; a second definition of the same address names both places.
    fn add(&mut self, resource: Resource, span: Span) {
        let address = resource.address();
        if let Some(first) = self.origins.get(&address) {
            let first = first.clone();
            self.diags.push(
                Diagnostic::error(format!("`{address}` is defined twice"))
                    .at(span)
                    .related(first, "first defined here")
                    .hint("remove one of the two definitions (they may be in different files)"),
            );
            return;
        }
        self.origins.insert(address, span);
        self.desired.insert(resource);
    }

    fn region(&mut self, field: Option<&RegionField>, span: Span) -> Option<String> {
        let region = match field {
            Some(RegionField::One(r)) => r.clone(),
            Some(RegionField::Many(list)) => {
                self.error(
                    span,
                    format!(
                        "a workspace lives in exactly one region, not {}",
                        list.len()
                    ),
                    "declare one workspace per region, each with its own name",
                );
                return None;
            }
            None => match &self.settings.default_region {
                Some(r) => r.clone(),
                None => {
                    self.error(
                        span,
                        "missing `region`, and msctl.toml sets no `project.default_region`",
                        "add `region = \"cn-beijing\"` (or set `default_region` in msctl.toml)",
                    );
                    return None;
                }
            },
        };
        self.known_region(&region, span).then_some(region)
    }

    fn known_region(&mut self, region: &str, span: Span) -> bool {
        if rules::REGIONS.contains(&region) {
            return true;
        }
        let hint = match suggest(region, rules::REGIONS.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("known regions: {}", rules::REGIONS.join(", ")),
        };
        self.error(span, format!("unknown region `{region}`"), hint);
        false
    }

    // ---- RAM -------------------------------------------------------------------------------

    fn ram(&mut self) {
        let p = self.parsed;
        for u in &p.users {
            let span = self.span(u, &path!["name"]);
            if self.check_name(&rules::RAM_USER_NAME, &u.value.name, span.clone()) {
                self.users
                    .entry(u.value.name.clone())
                    .or_insert(span.clone());
            }
            if let Some(d) = &u.value.display_name
                && (d.is_empty() || d.chars().count() > 128)
            {
                self.error(
                    self.span(u, &path!["display_name"]),
                    "display name must be 1–128 characters",
                    "shorten it",
                );
            }
            self.add(
                Resource::RamUser(RamUser {
                    name: u.value.name.clone(),
                    display_name: u.value.display_name.clone(),
                    comments: u.value.comments.clone(),
                }),
                span,
            );
        }
        for g in &p.groups {
            let span = self.span(g, &path!["name"]);
            if self.check_name(&rules::RAM_GROUP_NAME, &g.value.name, span.clone()) {
                self.groups
                    .entry(g.value.name.clone())
                    .or_insert(span.clone());
            }
            self.add(
                Resource::RamGroup(RamGroup {
                    name: g.value.name.clone(),
                    comments: g.value.comments.clone(),
                }),
                span,
            );
        }
        for r in &p.roles {
            let span = self.span(r, &path!["name"]);
            if self.check_name(&rules::RAM_ROLE_NAME, &r.value.name, span.clone()) {
                self.roles
                    .entry(r.value.name.clone())
                    .or_insert(span.clone());
            }
        }
        for pol in &p.policies {
            let span = self.span(pol, &path!["name"]);
            if self.check_name(&rules::RAM_POLICY_NAME, &pol.value.name, span.clone()) {
                if rules::SYSTEM_POLICIES.contains(&pol.value.name.as_str()) {
                    self.error(
                        span.clone(),
                        format!("`{}` is a system policy name", pol.value.name),
                        "choose another name for the custom policy",
                    );
                }
                self.custom_policies
                    .entry(pol.value.name.clone())
                    .or_insert(span.clone());
            }
        }
        // Now that every principal is known, references can be checked.
        for g in &p.groups {
            for (i, user) in g.value.members.iter().enumerate() {
                let span = self.span(g, &path!["members", i]);
                if self.user_ref(user, span.clone()) {
                    self.add(
                        Resource::GroupMember(GroupMember {
                            group: g.value.name.clone(),
                            user: user.clone(),
                        }),
                        span,
                    );
                }
            }
            for (i, pref) in g.value.policies.iter().enumerate() {
                let span = self.span(g, &path!["policies", i]);
                self.attach(Principal::Group(g.value.name.clone()), pref, span);
            }
        }
        for u in &p.users {
            for (i, pref) in u.value.policies.iter().enumerate() {
                let span = self.span(u, &path!["policies", i]);
                self.attach(Principal::User(u.value.name.clone()), pref, span);
            }
        }
        for r in &p.roles {
            self.role(r);
        }
        for pol in &p.policies {
            self.policy(pol);
        }
        for a in &p.attachments {
            let pref = match &a.value.kind {
                None => RawPolicyRef::Name(a.value.policy.clone()),
                Some(kind) => RawPolicyRef::Typed(RawTypedPolicy {
                    name: a.value.policy.clone(),
                    kind: kind.clone(),
                }),
            };
            if a.value.users.is_empty() && a.value.groups.is_empty() && a.value.roles.is_empty() {
                self.error(
                    self.span(a, &path!["policy"]),
                    format!("attachment of `{}` names no principal", a.value.policy),
                    "add `users`, `groups` or `roles`",
                );
            }
            for (i, u) in a.value.users.iter().enumerate() {
                let span = self.span(a, &path!["users", i]);
                if self.user_ref(u, span.clone()) {
                    self.attach(Principal::User(u.clone()), &pref, span);
                }
            }
            for (i, g) in a.value.groups.iter().enumerate() {
                let span = self.span(a, &path!["groups", i]);
                if self.known(
                    &self.groups.clone(),
                    "RAM group",
                    g,
                    span.clone(),
                    "[[ram.group]]",
                ) {
                    self.attach(Principal::Group(g.clone()), &pref, span);
                }
            }
            for (i, r) in a.value.roles.iter().enumerate() {
                let span = self.span(a, &path!["roles", i]);
                if self.known(
                    &self.roles.clone(),
                    "RAM role",
                    r,
                    span.clone(),
                    "[[ram.role]]",
                ) {
                    self.attach(Principal::Role(r.clone()), &pref, span);
                }
            }
        }
    }

    fn known(
        &mut self,
        set: &HashMap<String, Span>,
        what: &str,
        name: &str,
        span: Span,
        block: &str,
    ) -> bool {
        if set.contains_key(name) {
            return true;
        }
        let hint = match suggest(name, set.keys().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? otherwise declare it with a `{block}` block"),
            None => format!("declare it with a `{block}` block"),
        };
        self.error(span, format!("unknown {what} `{name}`"), hint);
        false
    }

    fn user_ref(&mut self, name: &str, span: Span) -> bool {
        let users = std::mem::take(&mut self.users);
        let ok = self.known(&users, "RAM user", name, span, "[[ram.user]]");
        self.users = users;
        ok
    }

    fn attach(&mut self, principal: Principal, pref: &RawPolicyRef, span: Span) {
        let (name, explicit) = match pref {
            RawPolicyRef::Name(n) => (n.clone(), None),
            RawPolicyRef::Typed(t) => (t.name.clone(), Some(t.kind.clone())),
        };
        let policy_type = match explicit.as_deref() {
            Some("System") => PolicyType::System,
            Some("Custom") => {
                if !self.custom_policies.contains_key(&name) {
                    let cp = self.custom_policies.clone();
                    self.known(&cp, "custom policy", &name, span, "[[ram.policy]]");
                    return;
                }
                PolicyType::Custom
            }
            Some(other) => {
                self.error(
                    span,
                    format!("unknown policy type `{other}`"),
                    "write `System` or `Custom`",
                );
                return;
            }
            None if self.custom_policies.contains_key(&name) => PolicyType::Custom,
            None if rules::SYSTEM_POLICIES.contains(&name.as_str()) => PolicyType::System,
            None => {
                let candidates = self
                    .custom_policies
                    .keys()
                    .map(String::as_str)
                    .chain(rules::SYSTEM_POLICIES.iter().copied());
                let hint = match suggest(&name, candidates) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "declare it with `[[ram.policy]]`, or for a system policy msctl does not know write `{ name = \"...\", type = \"System\" }`".to_string(),
                };
                self.error(span, format!("unknown policy `{name}`: neither a declared custom policy nor a known system policy"), hint);
                return;
            }
        };
        if policy_type == PolicyType::System
            && let Some(risk) = policy::system_policy_risk(&name)
            && matches!(risk, Risk::SuperAdmin | Risk::Billing | Risk::RamAdmin)
        {
            self.warn(
                span.clone(),
                format!("{principal} gets `{name}`: {}", risk.describe()),
                "grant the least needed; make sure this is intended",
            );
        }
        self.add(
            Resource::Attachment(Attachment {
                principal,
                policy: name,
                policy_type,
            }),
            span,
        );
    }

    fn role(&mut self, r: &Located<RawRole>) {
        let span = self.span(r, &path!["name"]);
        let v = &r.value;
        let given = [
            v.trust.is_some(),
            v.trust_policy.is_some(),
            v.trust_policy_file.is_some(),
        ];
        let trust = match given.iter().filter(|g| **g).count() {
            1 => {
                if let Some(t) = &v.trust {
                    if t.services.is_empty() && t.accounts.is_empty() {
                        self.error(
                            self.span(r, &path!["trust"]),
                            format!("role `{}` trusts nobody", v.name),
                            "add `services` or `accounts` to `trust`",
                        );
                        return;
                    }
                    let mut principal = serde_json::Map::new();
                    if !t.services.is_empty() {
                        principal.insert("Service".into(), json!(t.services));
                    }
                    if !t.accounts.is_empty() {
                        let arns: Vec<String> = t
                            .accounts
                            .iter()
                            .map(|a| format!("acs:ram::{a}:root"))
                            .collect();
                        principal.insert("RAM".into(), json!(arns));
                    }
                    json!({"Version": "1", "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": principal}]})
                } else if let Some(doc) = &v.trust_policy {
                    let doc = doc.clone();
                    self.check_document(&doc, PolicyKind::Trust, r, &path!["trust_policy"]);
                    doc
                } else {
                    let file = v.trust_policy_file.clone().unwrap_or_default();
                    match self.json_file(&file, r, "trust_policy_file", PolicyKind::Trust) {
                        Some(doc) => doc,
                        None => return,
                    }
                }
            }
            0 => {
                self.error(span, format!("role `{}` has no trust policy", v.name), "add `trust = { services = [\"pai.aliyuncs.com\"] }`, `trust_policy = {...}` or `trust_policy_file = \"...\"`");
                return;
            }
            _ => {
                self.error(
                    span,
                    format!("role `{}` gives its trust policy more than once", v.name),
                    "keep exactly one of `trust`, `trust_policy`, `trust_policy_file`",
                );
                return;
            }
        };
        let duration = v.max_session_duration.unwrap_or(3600);
        if !(3600..=43200).contains(&duration) {
            self.error(
                self.span(r, &path!["max_session_duration"]),
                format!("max_session_duration {duration} is outside 3600–43200 seconds"),
                "use a value between 3600 and 43200",
            );
        }
        self.add(
            Resource::RamRole(RamRole {
                name: v.name.clone(),
                description: v.description.clone(),
                trust_policy: trust,
                max_session_duration: duration,
            }),
            span,
        );
        for (i, pref) in v.policies.iter().enumerate() {
            let pspan = self.span(r, &path!["policies", i]);
            self.attach(Principal::Role(v.name.clone()), pref, pspan);
        }
    }

    fn policy(&mut self, pol: &Located<RawPolicy>) {
        let span = self.span(pol, &path!["name"]);
        let v = &pol.value;
        let document = match (&v.document, &v.file) {
            (Some(doc), None) => {
                let doc = doc.clone();
                self.check_document(&doc, PolicyKind::Permission, pol, &path!["document"]);
                doc
            }
            (None, Some(file)) => {
                let file = file.clone();
                match self.json_file(&file, pol, "file", PolicyKind::Permission) {
                    Some(doc) => doc,
                    None => return,
                }
            }
            (None, None) => {
                self.error(span, format!("policy `{}` has no document", v.name), "add `document = { Version = \"1\", Statement = [...] }` or `file = \"policies/x.json\"`");
                return;
            }
            (Some(_), Some(_)) => {
                self.error(
                    span,
                    format!("policy `{}` has both `document` and `file`", v.name),
                    "keep one of them",
                );
                return;
            }
        };
        if let Some(risk) = policy::document_risk(&document)
            && matches!(risk, Risk::SuperAdmin | Risk::Billing | Risk::RamAdmin)
        {
            self.warn(
                span.clone(),
                format!("custom policy `{}`: {}", v.name, risk.describe()),
                "grant the least needed; make sure this is intended",
            );
        }
        self.add(
            Resource::RamPolicy(RamPolicy {
                name: v.name.clone(),
                description: v.description.clone(),
                document,
            }),
            span,
        );
    }

    /// Validates an inline document; problems point at the exact TOML key.
    fn check_document<T>(&mut self, doc: &Value, kind: PolicyKind, at: &Located<T>, base: &[Seg]) {
        for problem in policy::validate(doc, kind) {
            let mut rel = base.to_vec();
            for part in problem.pointer.split('/').skip(1) {
                let part = part.replace("~1", "/").replace("~0", "~");
                rel.push(match part.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Key(part),
                });
            }
            let span = self.span(at, &rel);
            let mut d = Diagnostic::error(format!("policy document: {}", problem.message)).at(span);
            if let Some(h) = problem.hint {
                d = d.hint(h);
            }
            self.diags.push(d);
        }
    }

    /// Reads and validates a JSON policy file named in the config.
    fn json_file<T>(
        &mut self,
        file: &str,
        at: &Located<T>,
        key: &str,
        kind: PolicyKind,
    ) -> Option<Value> {
        let span = self.span(at, &path![key]);
        let path = Path::new(file);
        let text = match self.sources.read_extra(path, files::POLICY_FILE_MAX_BYTES) {
            Ok(text) => text,
            Err(e) => {
                let problem = FileProblem::of_io(&e);
                let hint = match problem {
                    Some(FileProblem::TooLarge { .. }) => format!(
                        "RAM takes a policy document of at most {MAX_DOCUMENT_CHARS} characters (as compact JSON); is this the right file?"
                    ),
                    Some(p) => p.hint().to_string(),
                    None if e.kind() == std::io::ErrorKind::NotFound => {
                        "the path is relative to the config directory".to_string()
                    }
                    None => "check the file".to_string(),
                };
                self.error(
                    span,
                    format!("failed to read policy file `{file}`: {e}"),
                    hint,
                );
                return None;
            }
        };
        let doc: Value = match serde_json::from_str(&text) {
            Ok(doc) => doc,
            Err(e) => {
                self.error(
                    span,
                    format!("policy file `{file}` is not valid JSON: {e}"),
                    "fix the JSON syntax",
                );
                return None;
            }
        };
        let problems = policy::validate(&doc, kind);
        let ok = problems.is_empty();
        for problem in problems {
            let mut d = Diagnostic::error(format!(
                "policy file `{file}` at `{}`: {}",
                problem.pointer, problem.message
            ))
            .at(span.clone());
            if let Some(h) = problem.hint {
                d = d.hint(h);
            }
            self.diags.push(d);
        }
        ok.then_some(doc)
    }

    // ---- workspaces ------------------------------------------------------------------------

    fn workspaces(&mut self) {
        let p = self.parsed;
        // Members first (from workspaces and from `[[member]]`), then keys, whose owners must
        // be members.
        let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut pending_keys: Vec<PendingKey> = Vec::new();
        for w in &p.workspaces {
            self.workspace(w, &mut members, &mut pending_keys);
        }
        for m in &p.members {
            if m.value.workspaces.is_empty() {
                self.error(
                    self.span(m, &[]),
                    "member names no workspace",
                    "add `workspaces = [\"chatbot-prod\"]`",
                );
            }
            for (i, ws) in m.value.workspaces.iter().enumerate() {
                let span = self.span(m, &path!["workspaces", i]);
                if !self.ws_ref(ws, span.clone()) {
                    continue;
                }
                let raw = RawMember {
                    user: m.value.user.clone(),
                    role: m.value.role.clone(),
                    administrator: m.value.administrator,
                    pages: m.value.pages.clone(),
                };
                let mspan = self.span(m, &[]);
                self.member(ws, &raw, mspan, &mut members);
            }
        }
        for k in &p.api_keys {
            let span = self.span(k, &path!["workspace"]);
            if self.ws_ref(&k.value.workspace, span) {
                let raw = RawApiKey {
                    name: k.value.name.clone(),
                    owner: k.value.owner.clone(),
                    description: k.value.description.clone(),
                    models: k.value.models.clone(),
                    ip_allow: k.value.ip_allow.clone(),
                    enabled: k.value.enabled,
                };
                let ip_spans = (0..k.value.ip_allow.len())
                    .map(|j| self.span(k, &path!["ip_allow", j]))
                    .collect();
                pending_keys.push(PendingKey {
                    workspace: k.value.workspace.clone(),
                    key: raw,
                    span: self.span(k, &path!["name"]),
                    owner_span: self.span(k, &path!["owner"]),
                    ip_spans,
                });
            }
        }
        for pending in pending_keys {
            self.api_key(&pending, &members);
        }
    }

    fn ws_ref(&mut self, name: &str, span: Span) -> bool {
        if self.workspaces.contains_key(name) {
            return true;
        }
        let hint = match suggest(name, self.workspaces.keys().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? names here are expanded (e.g. `chatbot-prod`)"),
            None => "declare it with a `[[workspace]]` block".to_string(),
        };
        self.error(span, format!("unknown workspace `{name}`"), hint);
        false
    }

    fn workspace(
        &mut self,
        w: &Located<RawWorkspace>,
        members: &mut BTreeMap<String, BTreeSet<String>>,
        keys: &mut Vec<PendingKey>,
    ) {
        let v = &w.value;
        let name_span = self.span(w, &path!["name"]);
        // A misspelt placeholder would otherwise pass through literally (`chatbot-{evn}`), or
        // draw a hint built around it.
        if !self.placeholders(&v.name, &name_span, true) {
            return;
        }
        self.placeholders_in_fields(w);
        let templated = v.name.contains("{env}");
        let envs: Vec<Option<String>> = if v.environments.is_empty() {
            if templated {
                self.error(
                    name_span.clone(),
                    format!(
                        "`{}` uses `{{env}}` but the workspace lists no `environments`",
                        v.name
                    ),
                    "add `environments = [\"dev\", \"test\", \"prod\"]`",
                );
                return;
            }
            vec![None]
        } else {
            if !templated {
                self.error(name_span.clone(), format!("`{}` lists environments but its name has no `{{env}}`: every environment would get the same name", v.name), format!("write `name = \"{}-{{env}}\"`", v.name));
                return;
            }
            let mut seen = BTreeSet::new();
            for (i, e) in v.environments.iter().enumerate() {
                if !seen.insert(e) {
                    self.error(
                        self.span(w, &path!["environments", i]),
                        format!("environment `{e}` is listed twice"),
                        "remove the duplicate",
                    );
                }
            }
            v.environments.iter().cloned().map(Some).collect()
        };
        for env in v.overrides.keys() {
            if !v.environments.contains(env) {
                let hint = match suggest(env, v.environments.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "environments of this workspace: {}",
                        v.environments.join(", ")
                    ),
                };
                self.error(
                    self.parsed
                        .locator
                        .key_span(w, &path!["overrides", env.as_str()]),
                    format!("override for unknown environment `{env}`"),
                    hint,
                );
            }
        }
        for env in envs {
            let ovr = env.as_ref().and_then(|e| v.overrides.get(e));
            let sub = |s: &str| match &env {
                Some(e) => s.replace("{env}", e),
                None => s.to_string(),
            };
            let name = sub(&v.name);
            // Fields an override replaces point at the override's text.
            let (region_field, region_span) = match ovr.and_then(|o| o.region.as_ref()) {
                Some(r) => (
                    Some(r),
                    self.span(
                        w,
                        &path!["overrides", env.as_deref().unwrap_or(""), "region"],
                    ),
                ),
                None => (
                    v.region.as_ref(),
                    if v.region.is_some() {
                        self.span(w, &path!["region"])
                    } else {
                        name_span.clone()
                    },
                ),
            };
            let Some(region) = self.region(region_field, region_span.clone()) else {
                continue;
            };
            if !self.check_name(&rules::WORKSPACE_NAME, &name, name_span.clone()) {
                continue;
            }
            let reserved = format!("default-{region}");
            if v.default && name != reserved {
                self.error(name_span.clone(), format!("the default workspace of {region} is named `{reserved}` by msctl, not `{name}`"), format!("write `name = \"{reserved}\"`"));
                continue;
            }
            if !v.default && name.starts_with("default-") {
                self.error(name_span.clone(), format!("`{name}` is reserved for a region's default workspace"), "add `default = true` if you mean the default workspace, or choose another name");
                continue;
            }
            if let Some(first) = self.workspaces.get(&name) {
                let first_span = first.span.clone();
                let expansion = match (&env, &first.expanded_from) {
                    (Some(e), _) => Some((v.name.clone(), e.clone())),
                    (None, Some((t, e))) => Some((t.clone(), e.clone())),
                    (None, None) => None,
                };
                let what = match expansion {
                    Some((template, e)) => format!(
                        "`{template}` expands (environment `{e}`) into `{name}`, a name another declaration has"
                    ),
                    None => format!("`workspace.{name}` is defined twice"),
                };
                self.diags.push(
                    Diagnostic::error(what)
                        .at(name_span.clone())
                        .related(first_span, "first defined here")
                        .hint("give each workspace a unique name"),
                );
                continue;
            }
            let models = ovr.and_then(|o| o.models.as_ref()).unwrap_or(&v.models);
            let limits = ovr.and_then(|o| o.limits.as_ref()).unwrap_or(&v.limits);
            let ws_members = ovr.and_then(|o| o.members.as_ref()).unwrap_or(&v.members);
            let ws_keys = ovr.and_then(|o| o.api_keys.as_ref()).unwrap_or(&v.api_keys);
            let base: Vec<Seg> = match (ovr.is_some(), &env) {
                (true, Some(e)) => path!["overrides", e.as_str()].to_vec(),
                _ => vec![],
            };
            let field_span = |b: &Self, field: &str, replaced: bool, rel: &[Seg]| {
                let mut p = if replaced { base.clone() } else { vec![] };
                p.push(Seg::Key(field.to_string()));
                p.extend_from_slice(rel);
                b.span(w, &p)
            };
            let models_replaced = ovr.is_some_and(|o| o.models.is_some());
            let limits_replaced = ovr.is_some_and(|o| o.limits.is_some());
            let members_replaced = ovr.is_some_and(|o| o.members.is_some());
            let keys_replaced = ovr.is_some_and(|o| o.api_keys.is_some());
            self.workspaces.insert(
                name.clone(),
                WsInfo {
                    region: region.clone(),
                    default: v.default,
                    inference: BTreeSet::new(),
                    limited: BTreeSet::new(),
                    span: name_span.clone(),
                    expanded_from: env.clone().map(|e| (v.name.clone(), e)),
                },
            );
            self.add(
                Resource::Workspace(Workspace {
                    name: name.clone(),
                    region: region.clone(),
                    default: v.default,
                }),
                name_span.clone(),
            );
            if v.default && (!models.is_empty() || !limits.is_empty()) {
                let span = if !models.is_empty() {
                    field_span(self, "models", models_replaced, &[])
                } else {
                    field_span(self, "limits", limits_replaced, &[])
                };
                self.error(span, format!("`{name}` is a default workspace: it can call every model, unthrottled, and takes no model permissions or limits"), "remove `models` and `limits` here, or declare a sub-workspace");
                // Members and keys are still meaningful on a default workspace.
            } else {
                for (i, m) in models.iter().enumerate() {
                    let span = field_span(self, "models", models_replaced, &path![i, "model"]);
                    let model = sub(&m.model);
                    if model.is_empty() {
                        self.error(span, "empty model id", "write a model id like `qwen-plus`");
                        continue;
                    }
                    if m.inference
                        && let Some(info) = self.workspaces.get_mut(&name)
                    {
                        info.inference.insert(model.clone());
                    }
                    self.add(
                        Resource::ModelPermission(ModelPermission {
                            workspace: name.clone(),
                            model,
                            inference: m.inference,
                            fine_tune: m.fine_tune,
                            deploy: m.deploy,
                        }),
                        span,
                    );
                }
                for (i, l) in limits.iter().enumerate() {
                    let span = field_span(self, "limits", limits_replaced, &path![i]);
                    self.limit(&name, l, span);
                }
            }
            for (i, m) in ws_members.iter().enumerate() {
                let span = field_span(self, "members", members_replaced, &path![i]);
                let mut m = m.clone();
                m.user = m.user.map(|u| sub(&u));
                m.role = m.role.map(|r| sub(&r));
                self.member(&name, &m, span, members);
            }
            for (i, k) in ws_keys.iter().enumerate() {
                let span = field_span(self, "api_keys", keys_replaced, &path![i, "name"]);
                let owner_span = field_span(self, "api_keys", keys_replaced, &path![i, "owner"]);
                let ip_spans = (0..k.ip_allow.len())
                    .map(|j| field_span(self, "api_keys", keys_replaced, &path![i, "ip_allow", j]))
                    .collect();
                let mut k = k.clone();
                k.name = sub(&k.name);
                k.owner = sub(&k.owner);
                k.description = sub(&k.description);
                keys.push(PendingKey {
                    workspace: name.clone(),
                    key: k,
                    span,
                    owner_span,
                    ip_spans,
                });
            }
        }
    }

    /// Reports `{word}` placeholders other than `{env}` in `text` at `span`; true when none.
    /// With `env_ok` false, `{env}` itself is reported (the workspace lists no environments).
    fn placeholders(&mut self, text: &str, span: &Span, env_ok: bool) -> bool {
        let mut ok = true;
        for (_, found) in rules::unknown_placeholders(text) {
            ok = false;
            // Short words: an edit distance says "typo" better than similarity scores do
            // (`evn` and `env` share no position but one).
            let inner = found.trim_matches(['{', '}']).to_lowercase();
            let near = inner.starts_with("env") || strsim::osa_distance(&inner, "env") <= 2;
            let hint = match near {
                true => format!(
                    "did you mean `{}`? it is the only placeholder msctl substitutes",
                    rules::ENV_PLACEHOLDER
                ),
                false => format!(
                    "msctl substitutes only `{}` (in a workspace with `environments`); remove `{found}`",
                    rules::ENV_PLACEHOLDER
                ),
            };
            self.error(
                span.clone(),
                format!("unknown placeholder `{found}` in `{text}`"),
                hint,
            );
        }
        if !env_ok && text.contains(rules::ENV_PLACEHOLDER) {
            ok = false;
            self.error(
                span.clone(),
                format!("`{text}` uses `{{env}}` but the workspace lists no `environments`"),
                "add `environments = [\"dev\", \"test\", \"prod\"]`, or write the value out",
            );
        }
        ok
    }

    /// Checks the placeholders of every field a workspace substitutes `{env}` in (its own and
    /// its overrides').
    fn placeholders_in_fields(&mut self, w: &Located<RawWorkspace>) {
        let v = &w.value;
        let env_ok = !v.environments.is_empty();
        let mut fields: Vec<(String, Vec<Seg>)> = Vec::new();
        let mut collect = |base: Vec<Seg>,
                           description: Option<&String>,
                           models: Option<&Vec<RawModel>>,
                           members: Option<&Vec<RawMember>>,
                           keys: Option<&Vec<RawApiKey>>| {
            let at = |rel: &[Seg]| {
                let mut p = base.clone();
                p.extend_from_slice(rel);
                p
            };
            if let Some(d) = description {
                fields.push((d.clone(), at(&path!["description"])));
            }
            for (i, m) in models.into_iter().flatten().enumerate() {
                fields.push((m.model.clone(), at(&path!["models", i, "model"])));
            }
            for (i, m) in members.into_iter().flatten().enumerate() {
                for (key, value) in [("user", &m.user), ("role", &m.role)] {
                    if let Some(value) = value {
                        fields.push((value.clone(), at(&path!["members", i, key])));
                    }
                }
            }
            for (i, k) in keys.into_iter().flatten().enumerate() {
                for (key, value) in [
                    ("name", &k.name),
                    ("owner", &k.owner),
                    ("description", &k.description),
                ] {
                    fields.push((value.clone(), at(&path!["api_keys", i, key])));
                }
            }
        };
        collect(
            Vec::new(),
            v.description.as_ref(),
            Some(&v.models),
            Some(&v.members),
            Some(&v.api_keys),
        );
        for (env, o) in &v.overrides {
            collect(
                path!["overrides", env.as_str()].to_vec(),
                o.description.as_ref(),
                o.models.as_ref(),
                o.members.as_ref(),
                o.api_keys.as_ref(),
            );
        }
        for (text, p) in fields {
            let span = self
                .parsed
                .locator
                .span_at(w.file, &[w.path.clone(), p].concat(), false);
            self.placeholders(&text, &span, env_ok);
        }
    }

    fn limit(&mut self, ws: &str, l: &RawLimit, span: Span) {
        let (requests, period) = match (l.requests_per_minute, l.requests_per_second) {
            (Some(n), None) => (n, 60),
            (None, Some(n)) => (n, 1),
            _ => {
                self.error(span, format!("limit for `{}` needs exactly one of `requests_per_minute` or `requests_per_second`", l.model), "keep one of the two");
                return;
            }
        };
        let (tokens, usage_period) = match (l.tokens_per_minute, l.tokens_per_second) {
            (Some(n), None) => (Some(n), Some(60)),
            (None, Some(n)) => (Some(n), Some(1)),
            (None, None) => (None, None),
            _ => {
                self.error(
                    span,
                    format!(
                        "limit for `{}` gives both `tokens_per_minute` and `tokens_per_second`",
                        l.model
                    ),
                    "keep one of the two",
                );
                return;
            }
        };
        if !self.authorized(ws, &l.model, span.clone(), "a limit") {
            return;
        }
        if let Some(info) = self.workspaces.get_mut(ws) {
            info.limited.insert(l.model.clone());
        }
        self.add(
            Resource::ModelLimit(ModelLimit {
                workspace: ws.to_string(),
                model: l.model.clone(),
                requests,
                request_period: period,
                tokens,
                usage_period,
            }),
            span,
        );
    }

    /// A sub-workspace can only use (limit, scope keys to) models it authorizes for inference.
    fn authorized(&mut self, ws: &str, model: &str, span: Span, what: &str) -> bool {
        let Some(info) = self.workspaces.get(ws) else {
            return false;
        };
        if info.default || info.inference.contains(model) {
            return true;
        }
        self.error(
            span,
            format!("{what} for model `{model}`, which workspace `{ws}` does not authorize"),
            format!(
                "add `{{ model = \"{model}\", inference = true }}` to the workspace's `models`"
            ),
        );
        false
    }

    fn member(
        &mut self,
        ws: &str,
        m: &RawMember,
        span: Span,
        members: &mut BTreeMap<String, BTreeSet<String>>,
    ) {
        let principal = match (&m.user, &m.role) {
            (Some(u), None) => {
                if !self.user_ref(u, span.clone()) {
                    return;
                }
                members.entry(ws.to_string()).or_default().insert(u.clone());
                Principal::User(u.clone())
            }
            (None, Some(r)) => {
                let roles = self.roles.clone();
                if !self.known(&roles, "RAM role", r, span.clone(), "[[ram.role]]") {
                    return;
                }
                Principal::Role(r.clone())
            }
            _ => {
                self.error(
                    span,
                    "a member needs exactly one of `user` or `role`",
                    "write `{ user = \"alice\", pages = [...] }` or `{ role = \"ops\" }`",
                );
                return;
            }
        };
        let mut pages = BTreeSet::new();
        for p in &m.pages {
            if p == "Administrator" {
                self.error(
                    span.clone(),
                    "`Administrator` is not a page here",
                    "write `administrator = true` instead",
                );
                continue;
            }
            if !rules::PAGES.contains(&p.as_str()) {
                match suggest(p, rules::PAGES.iter().copied()) {
                    Some(s) => {
                        self.error(
                            span.clone(),
                            format!("unknown page permission `{p}`"),
                            format!("did you mean `{s}`?"),
                        );
                        continue;
                    }
                    None => self.warn(
                        span.clone(),
                        format!("page permission `{p}` is not one msctl knows"),
                        format!("known pages: {}", rules::PAGES.join(", ")),
                    ),
                }
            }
            pages.insert(p.clone());
        }
        self.add(
            Resource::Member(Member {
                workspace: ws.to_string(),
                principal,
                administrator: m.administrator,
                pages,
            }),
            span,
        );
    }

    fn api_key(&mut self, pending: &PendingKey, members: &BTreeMap<String, BTreeSet<String>>) {
        let PendingKey {
            workspace: ws,
            key: k,
            span,
            owner_span,
            ip_spans,
        } = pending;
        let (ws, span, owner_span) = (ws.as_str(), span.clone(), owner_span.clone());
        if !self.check_name(&rules::API_KEY_NAME, &k.name, span.clone()) {
            return;
        }
        let is_member = members.get(ws).is_some_and(|m| m.contains(&k.owner));
        if !is_member {
            if self.users.contains_key(&k.owner) {
                self.warn(owner_span.clone(), format!("API key `{}` is owned by `{}`, who is not a member of `{ws}`", k.name, k.owner), format!("the platform disables a key whose owner is not a member; add `{{ user = \"{}\" }}` to the workspace's members", k.owner));
            } else {
                let hint = match suggest(
                    &k.owner,
                    members.get(ws).into_iter().flatten().map(String::as_str),
                ) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the owner must be a RAM user who is a member of `{ws}`"),
                };
                self.error(
                    owner_span,
                    format!("API key owner `{}` is not a member of `{ws}`", k.owner),
                    hint,
                );
                return;
            }
        }
        let region = self
            .workspaces
            .get(ws)
            .map(|w| w.region.clone())
            .unwrap_or_default();
        if !k.ip_allow.is_empty() && region != rules::IP_ALLOW_REGION {
            self.error(
                span.clone(),
                format!(
                    "API key `{}` has an IP allow-list, but `{ws}` is in {region}",
                    k.name
                ),
                format!(
                    "IP allow-lists exist only in {}; remove `ip_allow`",
                    rules::IP_ALLOW_REGION
                ),
            );
        }
        for (j, ip) in k.ip_allow.iter().enumerate() {
            if !rules::is_cidr(ip) {
                // At the entry itself: one key expanded per environment reports it once.
                self.error(
                    ip_spans.get(j).cloned().unwrap_or_else(|| span.clone()),
                    format!("`{ip}` is not an IP address or CIDR block"),
                    "write e.g. `10.0.0.0/8` or `203.0.113.7`",
                );
            }
        }
        let models = match &k.models {
            None => None,
            Some(list) => {
                if list.is_empty() {
                    self.error(span.clone(), format!("API key `{}` has an empty `models` list: it could call nothing", k.name), "list models, or omit `models` to allow every model the workspace authorizes");
                }
                let mut set = BTreeSet::new();
                for m in list {
                    if self.authorized(
                        ws,
                        m,
                        span.clone(),
                        &format!("API key `{}` is scoped", k.name),
                    ) {
                        set.insert(m.clone());
                    }
                }
                Some(set)
            }
        };
        self.add(
            Resource::ApiKey(ApiKey {
                workspace: ws.to_string(),
                name: k.name.clone(),
                owner: k.owner.clone(),
                description: k.description.clone(),
                models,
                ip_allow: k.ip_allow.iter().cloned().collect(),
                enabled: k.enabled,
            }),
            span,
        );
    }

    // ---- quota splits ----------------------------------------------------------------------

    fn quotas(&mut self) -> Vec<QuotaSplit> {
        let p = self.parsed;
        let mut out = Vec::new();
        let mut seen: HashMap<(String, String), Span> = HashMap::new();
        for q in &p.quotas {
            let v = &q.value;
            let model_span = self.span(q, &path!["model"]);
            let region = match &v.region {
                Some(r) => {
                    let span = self.span(q, &path!["region"]);
                    if !self.known_region(r, span) {
                        continue;
                    }
                    r.clone()
                }
                None => match &self.settings.default_region {
                    Some(r) => r.clone(),
                    None => {
                        self.error(model_span, "quota split has no `region` and msctl.toml sets no `project.default_region`", "add `region = \"cn-beijing\"`");
                        continue;
                    }
                },
            };
            if let Some(first) = seen.get(&(region.clone(), v.model.clone())) {
                let first = first.clone();
                self.diags.push(
                    Diagnostic::error(format!(
                        "quota for `{}` in {region} is defined twice",
                        v.model
                    ))
                    .at(model_span)
                    .related(first, "first defined here")
                    .hint("merge the two splits"),
                );
                continue;
            }
            seen.insert((region.clone(), v.model.clone()), model_span.clone());
            let total = v.requests_per_minute;
            let reserve = match &v.reserve {
                Some(r) => {
                    let span = self.span(q, &path!["reserve"]);
                    self.amount(r, span.clone())
                        .and_then(|a| self.api_value(a.of(total), span, "the reserve"))
                        .unwrap_or(0)
                }
                None => 0,
            };
            let mut split = QuotaSplit {
                region: region.clone(),
                model: v.model.clone(),
                requests_per_minute: total,
                tokens_per_minute: v.tokens_per_minute,
                reserve,
                allocations: Vec::new(),
            };
            for (ws, raw) in &v.allocations {
                let span = self
                    .parsed
                    .locator
                    .key_span(q, &path!["allocations", ws.as_str()]);
                let Some(a) = self.amount(raw, span.clone()) else {
                    continue;
                };
                if !self.ws_ref(ws, span.clone()) {
                    continue;
                }
                let info = &self.workspaces[ws];
                if info.region != region {
                    let r = info.region.clone();
                    self.error(
                        span,
                        format!("`{ws}` is in {r}, but this split is for {region}"),
                        "allocate only to workspaces of the split's region",
                    );
                    continue;
                }
                if info.default {
                    self.error(
                        span,
                        format!("`{ws}` is a default workspace: it takes no limits"),
                        "allocate only to sub-workspaces",
                    );
                    continue;
                }
                if !self.authorized(ws, &v.model, span.clone(), "a quota allocation") {
                    continue;
                }
                let what = format!("the allocation of `{ws}`");
                let Some(requests) = self.api_value(a.of(total), span.clone(), &what) else {
                    continue;
                };
                let tokens = match split.tokens_for(requests) {
                    None => None,
                    Some(t) => {
                        let what = format!("the tokens per minute derived for `{ws}`");
                        let Some(t) = self.api_value(t, span.clone(), &what) else {
                            continue;
                        };
                        Some(t)
                    }
                };
                split.allocations.push(Allocation {
                    workspace: ws.clone(),
                    amount: a,
                    requests_per_minute: requests,
                    tokens_per_minute: tokens,
                });
                // An explicit limit must agree with the split.
                let addr = Address::ModelLimit {
                    workspace: ws.clone(),
                    model: v.model.clone(),
                };
                match self.desired.get(&addr) {
                    Some(Resource::ModelLimit(l)) => {
                        let per_minute =
                            u128::from(l.requests) * 60 / u128::from(l.request_period.max(1));
                        if per_minute != u128::from(requests) {
                            let lspan = self.origins.get(&addr).cloned().unwrap_or(span.clone());
                            self.diags.push(Diagnostic::error(format!("explicit limit of `{ws}` for `{}` ({per_minute} requests/min) contradicts the quota split ({requests} requests/min)", v.model)).at(lspan).related(span.clone(), "allocated here").hint("remove the explicit limit; the split derives it"));
                        }
                    }
                    _ => {
                        self.origins.insert(addr, span.clone());
                        if let Some(info) = self.workspaces.get_mut(ws) {
                            info.limited.insert(v.model.clone());
                        }
                        self.desired.insert(Resource::ModelLimit(ModelLimit {
                            workspace: ws.clone(),
                            model: v.model.clone(),
                            requests,
                            request_period: 60,
                            tokens,
                            usage_period: tokens.map(|_| 60),
                        }));
                    }
                }
            }
            // Overcommit is judged on every amount as written, even where a workspace reference
            // is broken, so both problems are reported at once.
            // In 128 bits: a sum of 64-bit amounts cannot overflow it, so the check is exact.
            let declared: u128 = v
                .allocations
                .values()
                .filter_map(|raw| match raw {
                    RawAmount::Absolute(n) => Some(u128::from(*n)),
                    RawAmount::Share(s) => Amount::parse_share(s).ok().map(|a| a.of(total)),
                })
                .sum();
            let used = declared + u128::from(reserve);
            if used > u128::from(total) {
                let span = self.span(q, &path!["allocations"]);
                self.error(span, format!("quota for `{}` in {region} is overcommitted: allocations {declared} + reserve {reserve} = {used} > total {total} requests/min", v.model), "lower the allocations or the reserve so they fit the total");
            }
            split.allocations.sort_by(|a, b| {
                b.requests_per_minute
                    .cmp(&a.requests_per_minute)
                    .then(a.workspace.cmp(&b.workspace))
            });
            out.push(split);
        }
        out
    }

    /// A derived limit as the API takes it: `requestLimit` and `usageLimit` are int64 fields, so
    /// a value above `i64::MAX` is an error at `span`, never a wrapped or saturated number.
    fn api_value(&mut self, value: u128, span: Span, what: &str) -> Option<u64> {
        match u64::try_from(value) {
            Ok(v) if v <= rules::API_LIMIT_MAX => Some(v),
            _ => {
                self.error(
                    span,
                    format!(
                        "{what} comes to {value}, more than the API's largest limit ({})",
                        rules::API_LIMIT_MAX
                    ),
                    "limits are 64-bit signed integers in the Model Studio API; lower the numbers",
                );
                None
            }
        }
    }

    fn amount(&mut self, raw: &RawAmount, span: Span) -> Option<Amount> {
        let a = match raw {
            RawAmount::Absolute(n) => Amount::Absolute(*n),
            RawAmount::Share(s) => match Amount::parse_share(s) {
                Ok(a) => a,
                Err(e) => {
                    self.error(
                        span,
                        e,
                        "write an absolute number like 600 or a share like \"60%\"",
                    );
                    return None;
                }
            },
        };
        if let Amount::PerMille(pm) = a
            && pm > 1000
        {
            self.error(
                span,
                format!("{}% is more than 100%", pm as f64 / 10.0),
                "a share is at most \"100%\"",
            );
            return None;
        }
        Some(a)
    }

    /// Sub-workspaces authorizing a split model without a limit can starve the split.
    fn unallocated(&mut self, quotas: &[QuotaSplit]) {
        let deny = self.settings.unallocated == UnallocatedPolicy::Deny;
        let split_models: BTreeSet<(&str, &str)> = quotas
            .iter()
            .map(|q| (q.region.as_str(), q.model.as_str()))
            .collect();
        let mut found = Vec::new();
        for (name, info) in &self.workspaces {
            if info.default {
                continue;
            }
            for model in &info.inference {
                if split_models.contains(&(info.region.as_str(), model.as_str()))
                    && !info.limited.contains(model)
                {
                    found.push((
                        name.clone(),
                        model.clone(),
                        info.region.clone(),
                        info.span.clone(),
                    ));
                }
            }
        }
        for (ws, model, region, span) in found {
            let msg = format!(
                "`{ws}` authorizes `{model}` but has no allocation in the {region} split: it can use the whole account quota"
            );
            let hint = "add it to the split's `allocations`, or give it an explicit limit";
            if deny {
                self.error(span, msg, hint);
            } else {
                self.warn(
                    span,
                    msg,
                    format!("{hint} (set `safety.unallocated = \"deny\"` to make this an error)"),
                );
            }
        }
    }

    // ---- PAI -------------------------------------------------------------------------------

    fn pai(&mut self) {
        let p = self.parsed;
        for w in &p.pai_workspaces {
            let v = &w.value;
            let span = self.span(w, &path!["name"]);
            if !self.check_name(&rules::PAI_WORKSPACE_NAME, &v.name, span.clone()) {
                continue;
            }
            let region = match &v.region {
                Some(r) => {
                    let rspan = self.span(w, &path!["region"]);
                    if !self.known_region(r, rspan) {
                        continue;
                    }
                    r.clone()
                }
                None => match &self.settings.default_region {
                    Some(r) => r.clone(),
                    None => {
                        self.error(
                            span,
                            "PAI workspace has no `region`",
                            "add `region = \"cn-beijing\"`",
                        );
                        continue;
                    }
                },
            };
            if v.description.is_empty() || v.description.chars().count() > 80 {
                self.error(
                    self.span(w, &path!["description"]),
                    "PAI requires a description of 1–80 characters",
                    "write a short description",
                );
            }
            let env_types = match v.mode.as_deref() {
                None | Some("simple") => vec!["prod".to_string()],
                Some("standard") => vec!["dev".to_string(), "prod".to_string()],
                Some(other) => {
                    self.error(
                        self.span(w, &path!["mode"]),
                        format!("unknown PAI workspace mode `{other}`"),
                        "write `simple` (prod only) or `standard` (dev and prod)",
                    );
                    continue;
                }
            };
            self.add(
                Resource::PaiWorkspace(PaiWorkspace {
                    name: v.name.clone(),
                    region,
                    display_name: v.display_name.clone(),
                    description: v.description.clone(),
                    env_types,
                }),
                span,
            );
            for (i, m) in v.members.iter().enumerate() {
                let mspan = self.span(w, &path!["members", i]);
                if !self.user_ref(&m.user, mspan.clone()) {
                    continue;
                }
                let mut roles = BTreeSet::new();
                for (j, r) in m.roles.iter().enumerate() {
                    if !rules::PAI_ROLES.contains(&r.as_str()) {
                        let rspan = self.span(w, &path!["members", i, "roles", j]);
                        let hint = match suggest(r, rules::PAI_ROLES.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("PAI roles: {}", rules::PAI_ROLES.join(", ")),
                        };
                        self.error(rspan, format!("unknown PAI role `{r}`"), hint);
                        continue;
                    }
                    roles.insert(r.clone());
                }
                if m.roles.is_empty() {
                    self.error(
                        mspan.clone(),
                        format!("PAI member `{}` has no roles", m.user),
                        "add e.g. `roles = [\"PAI.AlgoDeveloper\"]`",
                    );
                }
                self.add(
                    Resource::PaiMember(PaiMember {
                        workspace: v.name.clone(),
                        user: m.user.clone(),
                        roles,
                    }),
                    mspan,
                );
            }
        }
    }
}
