//! Folding: workspaces whose names differ by one environment token (`chatbot-dev`,
//! `chatbot-test`, `chatbot-prod`) and that have the same shape (region and the set of models
//! they authorize) become one `chatbot-{env}` declaration. Each field (models, limits, members,
//! API keys) takes the value most environments share as the base, written with `{env}` where
//! that makes more environments agree; environments that differ get an override of that field.
//! Expanding the declaration gives back exactly the live workspaces: a field is left to the
//! base only where expanding the base yields the environment's own value.

use std::collections::{BTreeMap, BTreeSet};

use super::live::{Fields, KeyEntry, MemberEntry, WorkspaceView};
use crate::model::Principal;

/// One `[[workspace]]` to write.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceDecl {
    /// The name, with `{env}` when it stands for several workspaces.
    pub name: String,
    /// Environments in the order of the environment list; empty for a single workspace.
    pub environments: Vec<String>,
    pub region: String,
    pub default: bool,
    pub fields: Fields,
    /// Per environment, the fields it replaces.
    pub overrides: BTreeMap<String, Override>,
}

/// The fields one environment replaces (whole lists).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Override {
    pub models: Option<Vec<super::live::ModelEntry>>,
    pub limits: Option<Vec<super::live::LimitEntry>>,
    pub members: Option<Vec<MemberEntry>>,
    pub api_keys: Option<Vec<KeyEntry>>,
}

const PLACEHOLDER: &str = "{env}";

/// The name with one environment token replaced by `{env}`: `chatbot-dev` with `dev` gives
/// `chatbot-{env}`. The token must stand between `-`/`_` separators or the ends, and something
/// else must remain.
fn templates(name: &str, env: &str) -> Vec<String> {
    let mut out = Vec::new();
    let is_sep = |c: char| c == '-' || c == '_';
    for (at, _) in name.match_indices(env) {
        let before = &name[..at];
        let after = &name[at + env.len()..];
        let left = before.is_empty() || before.ends_with(is_sep);
        let right = after.is_empty() || after.starts_with(is_sep);
        if left && right && !(before.is_empty() && after.is_empty()) {
            out.push(format!("{before}{PLACEHOLDER}{after}"));
        }
    }
    out
}

/// A template and the shape of the workspaces it folds.
type GroupKey = (String, (String, BTreeSet<String>));

/// The shape a folded set shares: region and the models authorized (flags may differ).
fn shape(w: &WorkspaceView) -> (String, BTreeSet<String>) {
    (
        w.region.clone(),
        w.fields.models.iter().map(|m| m.model.clone()).collect(),
    )
}

/// Groups workspaces into declarations; unfolded workspaces stand alone, in name order, and a
/// folded declaration takes the place of its first workspace.
pub fn fold(views: &[WorkspaceView], environments: &[String]) -> Vec<WorkspaceDecl> {
    // Every (template, environment) a workspace could belong to, and how many would share it.
    let mut candidates: Vec<Vec<(String, String)>> = Vec::with_capacity(views.len());
    let mut sizes: BTreeMap<GroupKey, BTreeSet<String>> = BTreeMap::new();
    for w in views {
        let mut mine = Vec::new();
        if !w.default {
            for env in environments {
                for t in templates(&w.name, env) {
                    sizes
                        .entry((t.clone(), shape(w)))
                        .or_default()
                        .insert(env.clone());
                    mine.push((t, env.clone()));
                }
            }
        }
        candidates.push(mine);
    }
    // Each workspace joins its largest candidate group (first on a tie), if that has 2+.
    let mut groups: BTreeMap<GroupKey, Vec<(String, usize)>> = BTreeMap::new();
    let mut order: Vec<Result<GroupKey, usize>> = Vec::new();
    for (i, w) in views.iter().enumerate() {
        let best = candidates[i]
            .iter()
            .map(|(t, e)| {
                let n = sizes.get(&(t.clone(), shape(w))).map_or(0, BTreeSet::len);
                (n, t, e)
            })
            .filter(|(n, _, _)| *n >= 2)
            .fold(None::<(usize, &String, &String)>, |acc, c| match acc {
                Some(a) if a.0 >= c.0 => Some(a),
                _ => Some(c),
            });
        match best {
            Some((_, t, e)) => {
                let key = (t.clone(), shape(w));
                let group = groups.entry(key.clone()).or_default();
                // Two workspaces claiming one environment of a template: the second stands alone.
                if group.iter().any(|(env, _)| env == e) {
                    order.push(Err(i));
                    continue;
                }
                if group.is_empty() {
                    order.push(Ok(key));
                }
                group.push((e.clone(), i));
            }
            None => order.push(Err(i)),
        }
    }
    let mut out = Vec::new();
    for item in order {
        match item {
            Err(i) => out.push(single(&views[i])),
            Ok(key) => {
                let group = &groups[&key];
                if group.len() < 2 {
                    for (_, i) in group {
                        out.push(single(&views[*i]));
                    }
                    continue;
                }
                out.push(folded(key.0.clone(), group, views, environments));
            }
        }
    }
    out
}

fn single(w: &WorkspaceView) -> WorkspaceDecl {
    WorkspaceDecl {
        name: w.name.clone(),
        environments: Vec::new(),
        region: w.region.clone(),
        default: w.default,
        fields: w.fields.clone(),
        overrides: BTreeMap::new(),
    }
}

fn folded(
    template: String,
    group: &[(String, usize)],
    views: &[WorkspaceView],
    environments: &[String],
) -> WorkspaceDecl {
    let mut members: Vec<(&String, &WorkspaceView)> =
        group.iter().map(|(e, i)| (e, &views[*i])).collect();
    members.sort_by_key(|(e, _)| environments.iter().position(|x| x == *e));
    let envs: Vec<String> = members.iter().map(|(e, _)| (*e).clone()).collect();
    let mut overrides: BTreeMap<String, Override> = BTreeMap::new();
    let models = choose(&members, |w| w.fields.models.clone(), |v, _| v.clone());
    let limits = choose(&members, |w| w.fields.limits.clone(), |v, _| v.clone());
    let members_field = choose(
        &members,
        |w| w.fields.members.clone(),
        |v, f| v.iter().map(|m| member_sub(m, f)).collect(),
    );
    let keys = choose(
        &members,
        |w| w.fields.api_keys.clone(),
        |v, f| v.iter().map(|k| key_sub(k, f)).collect(),
    );
    for (env, v) in models.1 {
        overrides.entry(env).or_default().models = Some(v);
    }
    for (env, v) in limits.1 {
        overrides.entry(env).or_default().limits = Some(v);
    }
    for (env, v) in members_field.1 {
        overrides.entry(env).or_default().members = Some(v);
    }
    for (env, v) in keys.1 {
        overrides.entry(env).or_default().api_keys = Some(v);
    }
    WorkspaceDecl {
        name: template,
        environments: envs,
        region: members[0].1.region.clone(),
        default: false,
        fields: Fields {
            models: models.0,
            limits: limits.0,
            members: members_field.0,
            api_keys: keys.0,
        },
        overrides,
    }
}

/// How a text changes: `{env}` put in for the environment, or taken out again.
type Sub<'a> = &'a dyn Fn(&str) -> String;

fn member_sub(m: &MemberEntry, f: Sub<'_>) -> MemberEntry {
    let principal = match &m.principal {
        Principal::User(n) => Principal::User(f(n)),
        Principal::Role(n) => Principal::Role(f(n)),
        Principal::Group(n) => Principal::Group(f(n)),
    };
    MemberEntry {
        principal,
        ..m.clone()
    }
}

fn key_sub(k: &KeyEntry, f: Sub<'_>) -> KeyEntry {
    KeyEntry {
        name: f(&k.name),
        owner: f(&k.owner),
        description: f(&k.description),
        ..k.clone()
    }
}

/// The base value of one field and the overrides it leaves. Candidates are each environment's
/// own value and the same with its environment token turned into `{env}`; the base is the one
/// that, expanded, gives the most environments their own value (the plain value first on a
/// tie).
fn choose<T: Clone + PartialEq>(
    members: &[(&String, &WorkspaceView)],
    get: impl Fn(&WorkspaceView) -> T,
    sub: impl Fn(&T, Sub<'_>) -> T,
) -> (T, Vec<(String, T)>) {
    let own: Vec<(String, T)> = members
        .iter()
        .map(|(e, w)| ((*e).clone(), get(w)))
        .collect();
    let expand = |v: &T, env: &str| sub(v, &|s: &str| s.replace(PLACEHOLDER, env));
    let mut candidates: Vec<T> = own.iter().map(|(_, v)| v.clone()).collect();
    for (env, v) in &own {
        candidates.push(sub(v, &|s: &str| s.replace(env.as_str(), PLACEHOLDER)));
    }
    let mut best: Option<(usize, T)> = None;
    for c in candidates {
        let score = own.iter().filter(|(e, v)| expand(&c, e) == *v).count();
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, c));
        }
    }
    let base = best.map(|(_, c)| c).unwrap_or_else(|| own[0].1.clone());
    let overrides = own
        .into_iter()
        .filter(|(e, v)| expand(&base, e) != *v)
        .collect();
    (base, overrides)
}
