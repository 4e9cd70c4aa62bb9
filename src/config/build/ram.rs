//! RAM declarations: users, groups, roles, custom policies and their attachments, with the policy
//! documents they carry.

use super::*;

impl Builder<'_> {
    pub(super) fn ram(&mut self) {
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
        self.renames();
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

    /// `renamed_from` on users and groups: an in-place rename the differ plans when the old
    /// name is live. The old name must not be declared too, nor renamed twice; RAM cannot
    /// rename roles, so on a role it is an error.
    fn renames(&mut self) {
        let p = self.parsed;
        let mut declared: Vec<(Address, Address, Span)> = Vec::new();
        for u in &p.users {
            if let Some(from) = &u.value.renamed_from {
                let span = self.span(u, &path!["renamed_from"]);
                let to = Address::RamUser {
                    name: u.value.name.clone(),
                };
                let from = Address::RamUser { name: from.clone() };
                declared.push((to, from, span));
            }
        }
        for g in &p.groups {
            if let Some(from) = &g.value.renamed_from {
                let span = self.span(g, &path!["renamed_from"]);
                let to = Address::RamGroup {
                    name: g.value.name.clone(),
                };
                let from = Address::RamGroup { name: from.clone() };
                declared.push((to, from, span));
            }
        }
        for r in &p.roles {
            if let Some(from) = &r.value.renamed_from {
                self.error(
                    self.span(r, &path!["renamed_from"]),
                    format!(
                        "RAM cannot rename role `{from}` to `{}`: `UpdateRole` has no new \
                         name, so a role is renamed only by creating the new one and deleting \
                         the old one",
                        r.value.name
                    ),
                    "remove `renamed_from`; the plan then creates the role under its new name \
                     (with its attachments), and deletes the old one if msctl owns it",
                );
            }
        }
        let mut claimed: HashMap<Address, (Address, Span)> = HashMap::new();
        for (to, from, span) in declared {
            let (old, kind, block, declared_set) = match &from {
                Address::RamUser { name } => (name.clone(), "user", "[[ram.user]]", &self.users),
                Address::RamGroup { name } => {
                    (name.clone(), "group", "[[ram.group]]", &self.groups)
                }
                _ => unreachable!("only users and groups are collected above"),
            };
            if from == to {
                self.error(
                    span,
                    format!("RAM {kind} `{old}` is renamed from itself"),
                    "remove `renamed_from`, or write the previous name in it",
                );
                continue;
            }
            if let Some(there) = declared_set.get(&old).cloned() {
                self.diags.push(
                    Diagnostic::error(format!(
                        "`{to}` is renamed from RAM {kind} `{old}`, which is declared too"
                    ))
                    .at(span)
                    .related(there, "declared here")
                    .hint(format!(
                        "a rename leaves one {kind}: remove the `{block}` block of `{old}`, or \
                         remove `renamed_from`"
                    )),
                );
                continue;
            }
            if let Some((other, first)) = claimed.get(&from).cloned() {
                self.diags.push(
                    Diagnostic::error(format!(
                        "RAM {kind} `{old}` is renamed twice, to `{to}` and to `{other}`"
                    ))
                    .at(span)
                    .related(first, "first renamed here")
                    .hint("one live object can take only one new name: keep one `renamed_from`"),
                );
                continue;
            }
            claimed.insert(from.clone(), (to.clone(), span));
            self.desired.renames.insert(to, from);
        }
    }

    pub(super) fn known(
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
        let renamed_to = self
            .desired
            .renames
            .iter()
            .find_map(|(to, from)| match (from, what) {
                (Address::RamUser { name: old }, "RAM user")
                | (Address::RamGroup { name: old }, "RAM group")
                    if old == name =>
                {
                    Some(to)
                }
                _ => None,
            });
        let hint = match suggest(name, set.keys().map(String::as_str)) {
            _ if renamed_to.is_some() => format!(
                "`{name}` is renamed: `{}` declares `renamed_from = \"{name}\"`; write its \
                 new name here",
                renamed_to.expect("checked just now")
            ),
            Some(s) => format!("did you mean `{s}`? otherwise declare it with a `{block}` block"),
            None => format!("declare it with a `{block}` block"),
        };
        self.error(span, format!("unknown {what} `{name}`"), hint);
        false
    }

    pub(super) fn user_ref(&mut self, name: &str, span: Span) -> bool {
        let users = std::mem::take(&mut self.users);
        let ok = self.known(&users, "RAM user", name, span, "[[ram.user]]");
        self.users = users;
        ok
    }

    pub(super) fn attach(&mut self, principal: Principal, pref: &RawPolicyRef, span: Span) {
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
                    None => "declare it with `[[ram.policy]]`, or for a system policy msctl does \
                            not know write `{ name = \"...\", type = \"System\" }`"
                        .to_string(),
                };
                self.error(
                    span,
                    format!(
                        "unknown policy `{name}`: neither a declared custom policy nor a known \
                        system policy"
                    ),
                    hint,
                );
                return;
            }
        };
        if policy_type == PolicyType::System
            && let Some(risk) = policy::system_policy_risk(&name)
            && matches!(risk, Risk::SuperAdmin | Risk::Billing | Risk::RamAdmin)
        {
            let subject = Address::Attachment {
                principal: principal.clone(),
                policy: name.clone(),
            };
            self.warn_about(
                span.clone(),
                &subject,
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

    pub(super) fn role(&mut self, r: &Located<RawRole>) {
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
                    json!({
                        "Version": "1",
                        "Statement": [{
                            "Action": "sts:AssumeRole",
                            "Effect": "Allow",
                            "Principal": principal
                        }]
                    })
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
                self.error(
                    span,
                    format!("role `{}` has no trust policy", v.name),
                    "add `trust = { services = [\"pai.aliyuncs.com\"] }`, `trust_policy = \
                        {...}` or `trust_policy_file = \"...\"`",
                );
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

    pub(super) fn policy(&mut self, pol: &Located<RawPolicy>) {
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
                self.error(
                    span,
                    format!("policy `{}` has no document", v.name),
                    "add `document = { Version = \"1\", Statement = [...] }` or `file = \
                        \"policies/x.json\"`",
                );
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
            let subject = Address::RamPolicy {
                name: v.name.clone(),
            };
            self.warn_about(
                span.clone(),
                &subject,
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
    pub(super) fn check_document<T>(
        &mut self,
        doc: &Value,
        kind: PolicyKind,
        at: &Located<T>,
        base: &[Seg],
    ) {
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
    pub(super) fn json_file<T>(
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
                        "RAM takes a policy document of at most {MAX_DOCUMENT_CHARS} \
                                characters (as compact JSON); is this the right file?"
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
}
