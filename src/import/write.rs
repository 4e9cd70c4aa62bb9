//! Declarations into files: TOML through toml_edit (inline lists as the examples write them,
//! comments beside limits and at the top), policy documents and trust policies as JSON files.
//! The result is data (path and text per file); the command writes it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

use super::Imported;
use super::fold::{Override, WorkspaceDecl};
use super::live::{
    Fields, KeyEntry, LimitEntry, MemberEntry, ModelEntry, PaiDecl, PolicyRef, Rate, RoleDecl,
    bare_name_resolves,
};
use crate::model::Principal;
use crate::policy::documents_equal;

/// Where and how the files go.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The output directory relative to the config directory (`imported/`), or empty when it is
    /// the config directory: policy file paths in the config are relative to the latter.
    pub prefix: String,
    /// Write msctl.toml (a new config, not an adoption into an existing one).
    pub project: Option<Project>,
    /// Workspaces and PAI workspaces in this region omit `region`.
    pub default_region: Option<String>,
    /// `local` or `aliyun`, for the header.
    pub backend: String,
    /// Custom policies the existing config declares (attached by bare name).
    pub declared_policies: BTreeSet<String>,
}

/// msctl.toml's settings for a new config.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub name: String,
    pub backend: String,
    /// The local backend's database, relative to the new config directory.
    pub state: Option<String>,
    pub endpoint: Option<String>,
}

/// The files to write, relative to the output directory, in writing order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Files {
    pub files: Vec<(String, String)>,
}

/// The most common region of the imported workspaces, as a new config's default.
pub fn common_region(imported: &Imported) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &imported.declarations.workspaces {
        *counts.entry(w.region.as_str()).or_default() += 1;
    }
    for p in &imported.declarations.pai {
        *counts.entry(p.region.as_str()).or_default() += 1;
    }
    let max = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, n)| *n == max)
        .map(|(r, _)| r.to_string())
}

pub fn render(imported: &Imported, layout: &Layout) -> Files {
    let mut files = Vec::new();
    let mut header = vec![format!(
        "Imported by `msctl import` from the {} backend. Review before committing.",
        layout.backend
    )];
    if !imported.notes.is_empty() {
        header.push("What could not be imported, or needs checking:".to_string());
        header.extend(imported.notes.iter().map(|n| format!("- {n}")));
    }
    if let Some(project) = &layout.project {
        files.push((
            "msctl.toml".to_string(),
            msctl_toml(project, layout, &header),
        ));
        header.truncate(1);
    }
    if !imported.workspaces.is_empty() {
        let text = workspaces_toml(&imported.workspaces, layout, &header);
        files.push(("workspaces.toml".to_string(), text));
        header.truncate(1);
    }
    let d = &imported.declarations;
    if !(d.users.is_empty() && d.groups.is_empty() && d.roles.is_empty() && d.policies.is_empty()) {
        let (text, json_files) = ram_toml(imported, layout, &header);
        files.push(("ram.toml".to_string(), text));
        files.extend(json_files);
        header.truncate(1);
    }
    if !d.pai.is_empty() {
        files.push(("pai.toml".to_string(), pai_toml(&d.pai, layout, &header)));
    }
    Files { files }
}

fn comment_block(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines {
        for part in line.lines() {
            out.push_str(&format!("# {part}\n"));
        }
    }
    out
}

fn document(header: &[String]) -> DocumentMut {
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(comment_block(header));
    doc
}

fn msctl_toml(project: &Project, layout: &Layout, header: &[String]) -> String {
    let mut doc = DocumentMut::new();
    let mut p = Table::new();
    p["name"] = value(project.name.as_str());
    if let Some(r) = &layout.default_region {
        p["default_region"] = value(r.as_str());
    }
    p.decor_mut().set_prefix(comment_block(header));
    doc["project"] = Item::Table(p);
    let mut b = Table::new();
    b["kind"] = value(project.backend.as_str());
    if let Some(s) = &project.state {
        b["state"] = value(s.as_str());
    }
    if let Some(e) = &project.endpoint {
        b["endpoint"] = value(e.as_str());
    }
    b.decor_mut().set_prefix("\n");
    doc["backend"] = Item::Table(b);
    doc.to_string()
}

/// A list written one entry per line, as the examples do.
fn multiline(entries: Vec<(Option<String>, InlineTable)>) -> Array {
    let mut a = Array::new();
    for (comment, t) in entries {
        a.push(t);
        if let Some(last) = a.iter_mut().last() {
            let prefix = match comment {
                Some(c) => format!("\n  # {c}\n  "),
                None => "\n  ".to_string(),
            };
            last.decor_mut().set_prefix(prefix);
        }
    }
    a.set_trailing_comma(true);
    a.set_trailing("\n");
    a
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> Array {
    let mut a = Array::new();
    for s in items {
        a.push(s.as_str());
    }
    a
}

/// The largest limit of each model (requests per minute), for the share comments.
fn largest_limits(decls: &[WorkspaceDecl]) -> BTreeMap<String, u64> {
    let mut largest: BTreeMap<String, u64> = BTreeMap::new();
    let mut see = |limits: &[LimitEntry]| {
        for l in limits {
            let e = largest.entry(l.model.clone()).or_default();
            *e = (*e).max(l.requests.per_minute());
        }
    };
    for d in decls {
        see(&d.fields.limits);
        for o in d.overrides.values() {
            if let Some(l) = &o.limits {
                see(l);
            }
        }
    }
    largest
}

fn workspaces_toml(decls: &[WorkspaceDecl], layout: &Layout, header: &[String]) -> String {
    let mut doc = document(header);
    let largest = largest_limits(decls);
    let mut tables = ArrayOfTables::new();
    for (i, d) in decls.iter().enumerate() {
        let mut t = Table::new();
        t["name"] = value(d.name.as_str());
        if !d.environments.is_empty() {
            t["environments"] = value(strings(&d.environments));
        }
        if layout.default_region.as_deref() != Some(d.region.as_str()) || d.default {
            t["region"] = value(d.region.as_str());
        }
        if d.default {
            t["default"] = value(true);
        }
        fields(&mut t, &d.fields, &largest);
        if !d.overrides.is_empty() {
            let mut overrides = Table::new();
            overrides.set_implicit(true);
            // In the order of `environments`, as a reader expects.
            let ordered = d
                .environments
                .iter()
                .filter_map(|e| d.overrides.get(e).map(|o| (e, o)));
            for (env, o) in ordered {
                let mut ot = Table::new();
                override_fields(&mut ot, o, &largest);
                ot.decor_mut().set_prefix("\n");
                overrides[env.as_str()] = Item::Table(ot);
            }
            t["overrides"] = Item::Table(overrides);
        }
        if i > 0 {
            t.decor_mut().set_prefix("\n");
        }
        tables.push(t);
    }
    doc["workspace"] = Item::ArrayOfTables(tables);
    doc.to_string()
}

fn override_fields(t: &mut Table, o: &Override, largest: &BTreeMap<String, u64>) {
    let f = Fields {
        models: o.models.clone().unwrap_or_default(),
        limits: o.limits.clone().unwrap_or_default(),
        members: o.members.clone().unwrap_or_default(),
        api_keys: o.api_keys.clone().unwrap_or_default(),
    };
    let present = [
        o.models.is_some(),
        o.limits.is_some(),
        o.members.is_some(),
        o.api_keys.is_some(),
    ];
    write_fields(t, &f, largest, present);
}

/// A workspace's lists; empty ones are left out (an override writes the ones it replaces,
/// empty or not).
fn fields(t: &mut Table, f: &Fields, largest: &BTreeMap<String, u64>) {
    let present = [
        !f.models.is_empty(),
        !f.limits.is_empty(),
        !f.members.is_empty(),
        !f.api_keys.is_empty(),
    ];
    write_fields(t, f, largest, present);
}

fn write_fields(t: &mut Table, f: &Fields, largest: &BTreeMap<String, u64>, present: [bool; 4]) {
    if present[0] {
        t["models"] = value(multiline(f.models.iter().map(model).collect()));
    }
    if present[1] {
        let entries = f.limits.iter().map(|l| limit(l, largest)).collect();
        t["limits"] = value(multiline(entries));
    }
    if present[2] {
        t["members"] = value(multiline(f.members.iter().map(member).collect()));
    }
    if present[3] {
        t["api_keys"] = value(multiline(f.api_keys.iter().map(key).collect()));
    }
}

fn model(m: &ModelEntry) -> (Option<String>, InlineTable) {
    let mut t = InlineTable::new();
    t.insert("model", m.model.as_str().into());
    if !m.inference {
        t.insert("inference", false.into());
    }
    if m.fine_tune {
        t.insert("fine_tune", true.into());
    }
    if m.deploy {
        t.insert("deploy", true.into());
    }
    (None, t)
}

fn rate_int(n: u64) -> i64 {
    // TOML integers are signed 64-bit; no platform limit comes near.
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit(l: &LimitEntry, largest: &BTreeMap<String, u64>) -> (Option<String>, InlineTable) {
    let mut t = InlineTable::new();
    t.insert("model", l.model.as_str().into());
    match l.requests {
        Rate::PerMinute(n) => t.insert("requests_per_minute", rate_int(n).into()),
        Rate::PerSecond(n) => t.insert("requests_per_second", rate_int(n).into()),
    };
    match l.tokens {
        Some(Rate::PerMinute(n)) => {
            t.insert("tokens_per_minute", rate_int(n).into());
        }
        Some(Rate::PerSecond(n)) => {
            t.insert("tokens_per_second", rate_int(n).into());
        }
        None => {}
    }
    let top = largest.get(&l.model).copied().unwrap_or(0);
    let comment = (top > 0).then(|| {
        let share = (l.requests.per_minute() as f64 * 100.0 / top as f64).round();
        format!(
            "{share}% of the largest {} limit ({top} requests/minute)",
            l.model
        )
    });
    (comment, t)
}

fn member(m: &MemberEntry) -> (Option<String>, InlineTable) {
    let mut t = InlineTable::new();
    match &m.principal {
        Principal::Role(n) => t.insert("role", n.as_str().into()),
        Principal::User(n) | Principal::Group(n) => t.insert("user", n.as_str().into()),
    };
    if m.administrator {
        t.insert("administrator", true.into());
    }
    if !m.pages.is_empty() {
        t.insert("pages", strings(&m.pages).into());
    }
    (None, t)
}

fn key(k: &KeyEntry) -> (Option<String>, InlineTable) {
    let mut t = InlineTable::new();
    t.insert("name", k.name.as_str().into());
    t.insert("owner", k.owner.as_str().into());
    if !k.description.is_empty() {
        t.insert("description", k.description.as_str().into());
    }
    if let Some(models) = &k.models {
        t.insert("models", strings(models).into());
    }
    if !k.ip_allow.is_empty() {
        t.insert("ip_allow", strings(&k.ip_allow).into());
    }
    if !k.enabled {
        t.insert("enabled", false.into());
    }
    (None, t)
}

/// A file name for an object name (RAM names hold letters, digits, `.`, `-`, `_`).
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn json_text(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string());
    text.push('\n');
    text
}

fn policy_refs(refs: &[PolicyRef], custom: &BTreeSet<String>) -> Array {
    let mut a = Array::new();
    for p in refs {
        if bare_name_resolves(p, custom) {
            a.push(p.name.as_str());
        } else {
            let mut t = InlineTable::new();
            t.insert("name", p.name.as_str().into());
            t.insert("type", p.kind.as_str().into());
            a.push(t);
        }
    }
    a
}

type JsonFiles = Vec<(String, String)>;

fn ram_toml(imported: &Imported, layout: &Layout, header: &[String]) -> (String, JsonFiles) {
    let d = &imported.declarations;
    let mut custom: BTreeSet<String> = layout.declared_policies.clone();
    custom.extend(d.policies.iter().map(|p| p.name.clone()));
    let mut doc = document(header);
    let mut ram = Table::new();
    ram.set_implicit(true);
    let mut json_files = Vec::new();
    let separate = |t: &mut Table, first: bool| {
        if !first {
            t.decor_mut().set_prefix("\n");
        }
    };
    let mut first = true;
    if !d.users.is_empty() {
        let mut users = ArrayOfTables::new();
        for u in &d.users {
            let mut t = Table::new();
            t["name"] = value(u.name.as_str());
            if let Some(n) = &u.display_name {
                t["display_name"] = value(n.as_str());
            }
            if let Some(c) = &u.comments {
                t["comments"] = value(c.as_str());
            }
            if !u.policies.is_empty() {
                t["policies"] = value(policy_refs(&u.policies, &custom));
            }
            separate(&mut t, first);
            first = false;
            users.push(t);
        }
        ram["user"] = Item::ArrayOfTables(users);
    }
    if !d.groups.is_empty() {
        let mut groups = ArrayOfTables::new();
        for g in &d.groups {
            let mut t = Table::new();
            t["name"] = value(g.name.as_str());
            if let Some(c) = &g.comments {
                t["comments"] = value(c.as_str());
            }
            if !g.members.is_empty() {
                t["members"] = value(strings(&g.members));
            }
            if !g.policies.is_empty() {
                t["policies"] = value(policy_refs(&g.policies, &custom));
            }
            separate(&mut t, first);
            first = false;
            groups.push(t);
        }
        ram["group"] = Item::ArrayOfTables(groups);
    }
    if !d.roles.is_empty() {
        let mut roles = ArrayOfTables::new();
        for r in &d.roles {
            let mut t = Table::new();
            t["name"] = value(r.name.as_str());
            if let Some(c) = &r.description {
                t["description"] = value(c.as_str());
            }
            if r.max_session_duration != 3600 {
                t["max_session_duration"] = value(i64::from(r.max_session_duration));
            }
            match short_trust(r) {
                Some(trust) => t["trust"] = value(trust),
                None => {
                    let path = format!("trust/{}.json", file_name(&r.name));
                    t["trust_policy_file"] = value(format!("{}{path}", layout.prefix));
                    json_files.push((path, json_text(&r.trust_policy)));
                }
            }
            if !r.policies.is_empty() {
                t["policies"] = value(policy_refs(&r.policies, &custom));
            }
            separate(&mut t, first);
            first = false;
            roles.push(t);
        }
        ram["role"] = Item::ArrayOfTables(roles);
    }
    if !d.policies.is_empty() {
        let mut policies = ArrayOfTables::new();
        for p in &d.policies {
            let mut t = Table::new();
            t["name"] = value(p.name.as_str());
            if let Some(c) = &p.description {
                t["description"] = value(c.as_str());
            }
            let path = format!("policies/{}.json", file_name(&p.name));
            t["file"] = value(format!("{}{path}", layout.prefix));
            json_files.push((path, json_text(&p.document)));
            separate(&mut t, first);
            first = false;
            policies.push(t);
        }
        ram["policy"] = Item::ArrayOfTables(policies);
    }
    doc["ram"] = Item::Table(ram);
    (doc.to_string(), json_files)
}

/// The role's trust in the config's short form, when that form gives back the same document.
fn short_trust(r: &RoleDecl) -> Option<InlineTable> {
    let statements = r.trust_policy.get("Statement")?.as_array()?;
    let [statement] = statements.as_slice() else {
        return None;
    };
    let principal = statement.get("Principal")?.as_object()?;
    let list = |key: &str| -> Option<Vec<String>> {
        match principal.get(key) {
            None => Some(Vec::new()),
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map(String::from)).collect(),
            Some(_) => None,
        }
    };
    let services = list("Service")?;
    let accounts: Vec<String> = list("RAM")?
        .iter()
        .map(|arn| {
            arn.strip_prefix("acs:ram::")
                .and_then(|rest| rest.strip_suffix(":root"))
                .map(String::from)
        })
        .collect::<Option<_>>()?;
    if services.is_empty() && accounts.is_empty() {
        return None;
    }
    // Rebuild what the config's short form means (config::build::ram) and compare.
    let mut p = serde_json::Map::new();
    if !services.is_empty() {
        p.insert("Service".into(), json!(services));
    }
    if !accounts.is_empty() {
        let arns: Vec<String> = accounts
            .iter()
            .map(|a| format!("acs:ram::{a}:root"))
            .collect();
        p.insert("RAM".into(), json!(arns));
    }
    let rebuilt = json!({
        "Version": "1",
        "Statement": [{ "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": p }]
    });
    if !documents_equal(&rebuilt, &r.trust_policy) {
        return None;
    }
    let mut t = InlineTable::new();
    if !services.is_empty() {
        t.insert("services", strings(&services).into());
    }
    if !accounts.is_empty() {
        t.insert("accounts", strings(&accounts).into());
    }
    Some(t)
}

fn pai_toml(pai: &[PaiDecl], layout: &Layout, header: &[String]) -> String {
    let mut doc = document(header);
    let mut root = Table::new();
    root.set_implicit(true);
    let mut tables = ArrayOfTables::new();
    for (i, w) in pai.iter().enumerate() {
        let mut t = Table::new();
        t["name"] = value(w.name.as_str());
        if layout.default_region.as_deref() != Some(w.region.as_str()) {
            t["region"] = value(w.region.as_str());
        }
        if let Some(n) = &w.display_name {
            t["display_name"] = value(n.as_str());
        }
        t["description"] = value(w.description.as_str());
        if w.env_types.iter().any(|e| e == "dev") {
            t["mode"] = value("standard");
        }
        if !w.members.is_empty() {
            let entries = w
                .members
                .iter()
                .map(|(user, roles)| {
                    let mut m = InlineTable::new();
                    m.insert("user", user.as_str().into());
                    m.insert("roles", strings(roles).into());
                    (None, m)
                })
                .collect();
            t["members"] = value(multiline(entries));
        }
        if i > 0 {
            t.decor_mut().set_prefix("\n");
        }
        tables.push(t);
    }
    root["workspace"] = Item::ArrayOfTables(tables);
    doc["pai"] = Item::Table(root);
    doc.to_string()
}
