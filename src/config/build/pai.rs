//! PAI workspaces and their members.

use super::*;

impl Builder<'_> {
    pub(super) fn pai(&mut self) {
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
