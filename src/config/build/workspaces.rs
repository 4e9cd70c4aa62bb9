//! Workspaces (templates expanded per environment), their model limits, members and API keys.

use super::*;

impl Builder<'_> {
    pub(super) fn workspaces(&mut self) {
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
                    rotate_after: k.value.rotate_after.clone(),
                    overlap: k.value.overlap.clone(),
                };
                let rotation_spans = [
                    self.rotation_span(k, "rotate_after", k.value.rotate_after.is_some()),
                    self.rotation_span(k, "overlap", k.value.overlap.is_some()),
                ];
                let ip_spans = (0..k.value.ip_allow.len())
                    .map(|j| self.span(k, &path!["ip_allow", j]))
                    .collect();
                pending_keys.push(PendingKey {
                    workspace: k.value.workspace.clone(),
                    key: raw,
                    span: self.span(k, &path!["name"]),
                    owner_span: self.span(k, &path!["owner"]),
                    ip_spans,
                    rotation_spans,
                });
            }
        }
        for pending in pending_keys {
            self.api_key(&pending, &members);
        }
    }

    pub(super) fn ws_ref(&mut self, name: &str, span: Span) -> bool {
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

    pub(super) fn workspace(
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
                self.error(
                    name_span.clone(),
                    format!(
                        "`{}` lists environments but its name has no `{{env}}`: every \
                        environment would get the same name",
                        v.name
                    ),
                    format!("write `name = \"{}-{{env}}\"`", v.name),
                );
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
                self.error(
                    name_span.clone(),
                    format!(
                        "the default workspace of {region} is named `{reserved}` by msctl, not \
                        `{name}`"
                    ),
                    format!("write `name = \"{reserved}\"`"),
                );
                continue;
            }
            if !v.default && name.starts_with("default-") {
                self.error(
                    name_span.clone(),
                    format!("`{name}` is reserved for a region's default workspace"),
                    "add `default = true` if you mean the default workspace, or choose \
                        another name",
                );
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
                        "`{template}` expands (environment `{e}`) into `{name}`, a name \
                                another declaration has"
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
                self.error(
                    span,
                    format!(
                        "`{name}` is a default workspace: it can call every model, unthrottled, \
                        and takes no model permissions or limits"
                    ),
                    "remove `models` and `limits` here, or declare a sub-workspace",
                );
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
                let field = |f: &str, given: bool| {
                    if given {
                        field_span(self, "api_keys", keys_replaced, &path![i, f])
                    } else {
                        span.clone()
                    }
                };
                let rotation_spans = [
                    field("rotate_after", k.rotate_after.is_some()),
                    field("overlap", k.overlap.is_some()),
                ];
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
                    rotation_spans,
                });
            }
        }
    }

    /// Where a `[[api_key]]`'s rotation field is written (its name when the field is absent).
    fn rotation_span(&self, k: &Located<RawApiKeyOf>, field: &str, given: bool) -> Span {
        if given {
            self.span(k, &path![field])
        } else {
            self.span(k, &path!["name"])
        }
    }

    /// A key's `rotate_after` and `overlap`, checked: located errors for a bad duration, an
    /// overlap without `rotate_after`, a zero `rotate_after`, and an overlap as long as
    /// `rotate_after` (the successor would be due before its predecessor is gone).
    fn key_rotation(&mut self, k: &RawApiKey, spans: &[Span; 2]) -> Option<KeyRotation> {
        let [after_span, overlap_span] = spans;
        let parse = |b: &mut Self, text: &Option<String>, span: &Span| match text {
            None => Some(None),
            Some(text) => match parse_duration(text) {
                Ok(secs) => Some(Some(secs)),
                Err(problem) => {
                    b.error(
                        span.clone(),
                        problem,
                        "e.g. `rotate_after = \"90d\"`, `overlap = \"7d\"`",
                    );
                    None
                }
            },
        };
        let after = parse(self, &k.rotate_after, after_span)?;
        let overlap = parse(self, &k.overlap, overlap_span)?;
        match (after, overlap) {
            (None, None) => None,
            (None, Some(_)) => {
                self.error(
                    overlap_span.clone(),
                    format!(
                        "API key `{}` has an `overlap` but no `rotate_after`",
                        k.name
                    ),
                    "add `rotate_after = \"90d\"`, or remove `overlap`",
                );
                None
            }
            (Some(0), _) => {
                self.error(
                    after_span.clone(),
                    format!(
                        "API key `{}` has `rotate_after = \"0\"`: it would be rotated on every \
                         apply",
                        k.name
                    ),
                    "write how old a key may get, e.g. `\"90d\"`",
                );
                None
            }
            (Some(after), overlap) => {
                let overlap = overlap.unwrap_or(0);
                if overlap >= after {
                    self.error(
                        overlap_span.clone(),
                        format!(
                            "API key `{}` has `overlap = \"{}\"`, not less than \
                             `rotate_after = \"{}\"`: the successor would be due before its \
                             predecessor is deleted",
                            k.name,
                            format_duration(overlap),
                            format_duration(after)
                        ),
                        "make `overlap` shorter than `rotate_after`",
                    );
                    return None;
                }
                Some(KeyRotation {
                    rotate_after: after,
                    overlap,
                })
            }
        }
    }

    /// Reports `{word}` placeholders other than `{env}` in `text` at `span`; true when none.
    /// With `env_ok` false, `{env}` itself is reported (the workspace lists no environments).
    pub(super) fn placeholders(&mut self, text: &str, span: &Span, env_ok: bool) -> bool {
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
                    "msctl substitutes only `{}` (in a workspace with `environments`); \
                            remove `{found}`",
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
    pub(super) fn placeholders_in_fields(&mut self, w: &Located<RawWorkspace>) {
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

    pub(super) fn limit(&mut self, ws: &str, l: &RawLimit, span: Span) {
        let (requests, period) = match (l.requests_per_minute, l.requests_per_second) {
            (Some(n), None) => (n, 60),
            (None, Some(n)) => (n, 1),
            _ => {
                self.error(
                    span,
                    format!(
                        "limit for `{}` needs exactly one of `requests_per_minute` or \
                        `requests_per_second`",
                        l.model
                    ),
                    "keep one of the two",
                );
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
    pub(super) fn authorized(&mut self, ws: &str, model: &str, span: Span, what: &str) -> bool {
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

    pub(super) fn member(
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

    pub(super) fn api_key(
        &mut self,
        pending: &PendingKey,
        members: &BTreeMap<String, BTreeSet<String>>,
    ) {
        let PendingKey {
            workspace: ws,
            key: k,
            span,
            owner_span,
            ip_spans,
            rotation_spans,
        } = pending;
        let (ws, span, owner_span) = (ws.as_str(), span.clone(), owner_span.clone());
        if !self.check_name(&rules::API_KEY_NAME, &k.name, span.clone()) {
            return;
        }
        let is_member = members.get(ws).is_some_and(|m| m.contains(&k.owner));
        if !is_member {
            if self.users.contains_key(&k.owner) {
                let subject = Address::ApiKey {
                    workspace: ws.to_string(),
                    name: k.name.clone(),
                };
                self.warn_about(
                    owner_span.clone(),
                    &subject,
                    format!(
                        "API key `{}` is owned by `{}`, who is not a member of `{ws}`",
                        k.name, k.owner
                    ),
                    format!(
                        "the platform disables a key whose owner is not a member; add `{{ user = \
                        \"{}\" }}` to the workspace's members",
                        k.owner
                    ),
                );
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
                    self.error(
                        span.clone(),
                        format!(
                            "API key `{}` has an empty `models` list: it could call nothing",
                            k.name
                        ),
                        "list models, or omit `models` to allow every model the workspace \
                            authorizes",
                    );
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
        let rotation = self.key_rotation(k, rotation_spans);
        let key = Resource::ApiKey(ApiKey {
            workspace: ws.to_string(),
            name: k.name.clone(),
            owner: k.owner.clone(),
            description: k.description.clone(),
            models,
            ip_allow: k.ip_allow.iter().cloned().collect(),
            enabled: k.enabled,
        });
        if let Some(rotation) = rotation {
            self.desired.key_rotation.insert(key.address(), rotation);
        }
        self.add(key, span);
    }
}
