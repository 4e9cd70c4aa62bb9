//! Parsing config files: TOML syntax (every error, with recovery), unknown keys (every one, with a
//! suggestion, by walking the document against the config schema), then each declaration
//! deserialised on its own so one broken block does not hide problems in the next.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::raw::*;
use crate::diagnostic::{Diagnostic, FileId, SourceSet, Span, suggest};

/// One step of a path into a TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(k: &str) -> Self {
        Seg::Key(k.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// Builds a path: `path!["workspace", 0, "name"]`.
#[macro_export]
macro_rules! path {
    ($($seg:expr),* $(,)?) => { [$($crate::config::parse::Seg::from($seg)),*] };
}

/// A declaration and where it stands: file and path to its table.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub file: FileId,
    pub path: Vec<Seg>,
}

/// The parsed documents, kept to point diagnostics at exact keys and values.
#[derive(Default)]
pub struct Locator<'s> {
    docs: Vec<Option<Spanned<DeTable<'s>>>>,
}

impl<'s> Locator<'s> {
    /// The span of the value at `base + rel`, or of the nearest ancestor that exists (a default
    /// value has no text of its own: point at the table that omits it).
    pub fn span<T>(&self, at: &Located<T>, rel: &[Seg]) -> Span {
        let mut path = at.path.clone();
        path.extend_from_slice(rel);
        self.span_at(at.file, &path, false)
    }

    /// The span of the key (not the value) at `base + rel`.
    pub fn key_span<T>(&self, at: &Located<T>, rel: &[Seg]) -> Span {
        let mut path = at.path.clone();
        path.extend_from_slice(rel);
        self.span_at(at.file, &path, true)
    }

    pub fn span_at(&self, file: FileId, path: &[Seg], want_key: bool) -> Span {
        let Some(Some(root)) = self.docs.get(file) else {
            return Span { file, range: 0..0 };
        };
        let mut range = 0..0;
        let mut table = Some(root.get_ref());
        let mut array: Option<&[Spanned<DeValue<'s>>]> = None;
        for (i, seg) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let found = match (seg, table, array) {
                (Seg::Key(k), Some(t), _) => t.get_key_value(k.as_str()).map(|(key, v)| {
                    if last && want_key {
                        (key.span(), v)
                    } else {
                        (v.span(), v)
                    }
                }),
                (Seg::Index(n), _, Some(a)) => a.get(*n).map(|v| (v.span(), v)),
                _ => None,
            };
            let Some((span, value)) = found else { break };
            range = span;
            table = value.get_ref().as_table();
            array = value.get_ref().as_array().map(|a| &a[..]);
        }
        Span { file, range }
    }
}

/// Everything declared across the config files, before expansion and checks.
#[derive(Default)]
pub struct Parsed<'s> {
    pub project: Option<Located<RawProject>>,
    pub backend: Option<Located<RawBackend>>,
    pub safety: Option<Located<RawSafety>>,
    pub workspaces: Vec<Located<RawWorkspace>>,
    pub members: Vec<Located<RawMemberOf>>,
    pub api_keys: Vec<Located<RawApiKeyOf>>,
    pub quotas: Vec<Located<RawQuota>>,
    pub users: Vec<Located<RawUser>>,
    pub groups: Vec<Located<RawGroup>>,
    pub roles: Vec<Located<RawRole>>,
    pub policies: Vec<Located<RawPolicy>>,
    pub attachments: Vec<Located<RawAttachment>>,
    pub pai_workspaces: Vec<Located<RawPaiWorkspace>>,
    pub locator: Locator<'s>,
}

/// The name of the project settings file.
pub const PROJECT_FILE: &str = "msctl.toml";

/// Parses every file of the set, collecting diagnostics instead of stopping.
pub fn parse<'s>(sources: &'s SourceSet, diags: &mut Vec<Diagnostic>) -> Parsed<'s> {
    let mut parsed = Parsed::default();
    for (file, source) in sources.files.iter().enumerate() {
        let (root, errors) = DeTable::parse_recoverable(&source.text);
        if !errors.is_empty() {
            for e in errors {
                let range = e.span().unwrap_or(0..0);
                diags.push(
                    Diagnostic::error(format!("invalid TOML: {}", first_line(e.message())))
                        .at(Span { file, range })
                        .hint("fix the TOML syntax; see https://toml.io"),
                );
            }
            parsed.locator.docs.push(None);
            continue;
        }
        check_unknown_keys(file, root.get_ref(), diags);
        let is_project_file =
            source.path.file_name().and_then(|n| n.to_str()) == Some(PROJECT_FILE);
        let mut cx = Cx { file, diags };
        for (key, value) in root.get_ref().iter() {
            let key_name: &str = key.get_ref();
            let path = vec![Seg::Key(key_name.to_string())];
            match key_name {
                "project" | "backend" | "safety" if !is_project_file => {
                    cx.diags.push(
                        Diagnostic::error(format!(
                            "`[{key_name}]` settings belong in {PROJECT_FILE}, not in {}",
                            source.path.display()
                        ))
                        .at(Span {
                            file,
                            range: key.span(),
                        })
                        .hint(format!("move this table to {PROJECT_FILE}")),
                    );
                }
                "project" => parsed.project = cx.one(value, path, "project settings"),
                "backend" => parsed.backend = cx.one(value, path, "backend settings"),
                "safety" => parsed.safety = cx.one(value, path, "safety settings"),
                "workspace" => cx.many(value, path, "workspace", &mut parsed.workspaces),
                "member" => cx.many(value, path, "member", &mut parsed.members),
                "api_key" => cx.many(value, path, "api_key", &mut parsed.api_keys),
                "quota" => cx.many(value, path, "quota", &mut parsed.quotas),
                "ram" | "pai" => {
                    let Some(table) = value.get_ref().as_table() else {
                        cx.diags.push(
                            Diagnostic::error(format!("`{key_name}` must be a table"))
                                .at(Span {
                                    file,
                                    range: value.span(),
                                })
                                .hint(format!("write `[[{key_name}.<kind>]]` blocks")),
                        );
                        continue;
                    };
                    for (sub, v) in table.iter() {
                        let sub_name: &str = sub.get_ref();
                        let mut p = path.clone();
                        p.push(Seg::Key(sub_name.to_string()));
                        let kind = format!("{key_name}.{sub_name}");
                        match (key_name, sub_name) {
                            ("ram", "user") => cx.many(v, p, &kind, &mut parsed.users),
                            ("ram", "group") => cx.many(v, p, &kind, &mut parsed.groups),
                            ("ram", "role") => cx.many(v, p, &kind, &mut parsed.roles),
                            ("ram", "policy") => cx.many(v, p, &kind, &mut parsed.policies),
                            ("ram", "attachment") => cx.many(v, p, &kind, &mut parsed.attachments),
                            ("pai", "workspace") => {
                                cx.many(v, p, &kind, &mut parsed.pai_workspaces)
                            }
                            _ => {} // reported by the unknown-key walk
                        }
                    }
                }
                _ => {} // reported by the unknown-key walk
            }
        }
        parsed.locator.docs.push(Some(root));
    }
    parsed
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

struct Cx<'a> {
    file: FileId,
    diags: &'a mut Vec<Diagnostic>,
}

impl Cx<'_> {
    fn one<'s, T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'s>>,
        path: Vec<Seg>,
        what: &str,
    ) -> Option<Located<T>> {
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => Some(Located {
                value: v,
                file: self.file,
                path,
            }),
            Err(e) => {
                let range = e.span().unwrap_or_else(|| value.span());
                self.diags.push(
                    Diagnostic::error(format!("invalid {what}: {}", first_line(e.message())))
                        .at(Span {
                            file: self.file,
                            range,
                        })
                        .hint(type_hint(e.message())),
                );
                None
            }
        }
    }

    fn many<'s, T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'s>>,
        path: Vec<Seg>,
        kind: &str,
        out: &mut Vec<Located<T>>,
    ) {
        let Some(items) = value.get_ref().as_array() else {
            self.diags.push(
                Diagnostic::error(format!("`{kind}` must be an array of tables"))
                    .at(Span {
                        file: self.file,
                        range: value.span(),
                    })
                    .hint(format!(
                        "write `[[{kind}]]` (double brackets) for each declaration"
                    )),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let mut p = path.clone();
            p.push(Seg::Index(i));
            if let Some(v) = self.one(item, p, kind) {
                out.push(v);
            }
        }
    }
}

fn type_hint(message: &str) -> String {
    if message.contains("missing field") {
        "add the missing field; `msctl validate` lists every problem at once".to_string()
    } else if message.contains("invalid type") {
        "check the value's type against the config reference \
         (`msctl schema config` prints its JSON Schema)"
            .to_string()
    } else if message.contains("did not match any variant") {
        "write a number (absolute) or a string like \"60%\" (a share)".to_string()
    } else {
        "see the config reference in the README".to_string()
    }
}

/// The config schema as JSON, generated once from the Rust types.
pub fn config_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::to_value(schemars::schema_for!(RawFile)).expect("schema serialises to JSON")
    })
}

/// Friendly names of schema definitions, for messages.
fn friendly(def: &str) -> &str {
    match def {
        "RawFile" => "config file",
        "RawProject" => "[project]",
        "RawBackend" => "[backend]",
        "RawSafety" => "[safety]",
        "RawWorkspace" => "workspace",
        "RawOverride" => "workspace override",
        "RawModel" => "model permission",
        "RawLimit" => "rate limit",
        "RawMember" | "RawMemberOf" => "member",
        "RawApiKey" | "RawApiKeyOf" => "API key",
        "RawQuota" => "quota split",
        "RawRam" => "[ram]",
        "RawUser" => "RAM user",
        "RawGroup" => "RAM group",
        "RawRole" => "RAM role",
        "RawTrust" => "role trust",
        "RawPolicy" => "RAM policy",
        "RawTypedPolicy" => "policy reference",
        "RawAttachment" => "policy attachment",
        "RawPai" => "[pai]",
        "RawPaiWorkspace" => "PAI workspace",
        "RawPaiMember" => "PAI member",
        other => other,
    }
}

/// Reports every key the schema does not know, with a suggestion when one is close.
fn check_unknown_keys(file: FileId, root: &DeTable<'_>, diags: &mut Vec<Diagnostic>) {
    let schema = config_schema();
    walk_table(file, root, schema, "RawFile", schema, diags);
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> (&'a Value, Option<&'a str>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && let Some(name) = r.strip_prefix("#/$defs/")
        && let Some(def) = root.get("$defs").and_then(|d| d.get(name))
    {
        return (def, Some(name));
    }
    (schema, None)
}

/// The alternatives of a schema (anyOf/oneOf), each resolved, with their definition names.
fn alternatives<'a>(root: &'a Value, schema: &'a Value) -> Vec<(&'a Value, Option<&'a str>)> {
    let (schema, name) = resolve(root, schema);
    let mut out = Vec::new();
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            for alt in alts {
                out.extend(alternatives(root, alt));
            }
        }
    }
    if out.is_empty() {
        out.push((schema, name));
    }
    out
}

fn walk_value(
    file: FileId,
    value: &Spanned<DeValue<'_>>,
    schema: &Value,
    root: &Value,
    diags: &mut Vec<Diagnostic>,
) {
    let alts = alternatives(root, schema);
    match value.get_ref() {
        DeValue::Table(t) => {
            // Free-form objects (policy documents) have no `properties` and no restriction.
            let objects: Vec<_> = alts
                .iter()
                .filter(|(s, _)| {
                    s.get("properties").is_some() || s.get("additionalProperties").is_some()
                })
                .collect();
            if objects.is_empty() {
                return;
            }
            let name = objects.iter().find_map(|(_, n)| *n).unwrap_or("table");
            let merged = merge_objects(&objects);
            walk_table_with(file, t, &merged, name, root, diags);
        }
        DeValue::Array(items) => {
            for (s, _) in &alts {
                if let Some(item_schema) = s.get("items") {
                    for item in items.iter() {
                        walk_value(file, item, item_schema, root, diags);
                    }
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Properties and additionalProperties of several object alternatives, merged.
struct ObjectShape<'a> {
    properties: Vec<(&'a str, &'a Value)>,
    additional: Option<&'a Value>,
    closed: bool,
}

fn merge_objects<'a>(objects: &[&(&'a Value, Option<&'a str>)]) -> ObjectShape<'a> {
    let mut shape = ObjectShape {
        properties: Vec::new(),
        additional: None,
        closed: true,
    };
    for (s, _) in objects {
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                shape.properties.push((k.as_str(), v));
            }
        }
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) => {}
            Some(schema @ Value::Object(_)) => {
                shape.additional = Some(schema);
                shape.closed = false;
            }
            _ => shape.closed = false,
        }
    }
    shape
}

fn walk_table(
    file: FileId,
    table: &DeTable<'_>,
    schema: &Value,
    name: &str,
    root: &Value,
    diags: &mut Vec<Diagnostic>,
) {
    let alts = alternatives(root, schema);
    let objects: Vec<_> = alts.iter().collect();
    let merged = merge_objects(&objects);
    walk_table_with(file, table, &merged, name, root, diags);
}

fn walk_table_with(
    file: FileId,
    table: &DeTable<'_>,
    shape: &ObjectShape<'_>,
    name: &str,
    root: &Value,
    diags: &mut Vec<Diagnostic>,
) {
    let known: BTreeSet<&str> = shape.properties.iter().map(|(k, _)| *k).collect();
    for (key, value) in table.iter() {
        let key_name: &str = key.get_ref();
        if let Some((_, prop)) = shape.properties.iter().find(|(k, _)| *k == key_name) {
            walk_value(file, value, prop, root, diags);
        } else if let Some(additional) = shape.additional {
            walk_value(file, value, additional, root, diags);
        } else if shape.closed {
            let what = friendly(name);
            let mut d = Diagnostic::error(format!("unknown key `{key_name}` in {what}")).at(Span {
                file,
                range: key.span(),
            });
            d = match suggest(key_name, known.iter().copied()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!(
                    "known keys: {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            diags.push(d);
        }
    }
}
