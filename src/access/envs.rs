//! Environments side by side: the workspaces of one declaration (`chatbot-{env}`), or any set of
//! workspaces, as one table with a column per environment and a row per model permission, limit,
//! quota share, member, page permission and key; rows that differ are marked, and an environment
//! missing what others have is called out.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ACCESS_FORMAT_VERSION, AccessModel, CallKind, EVERY_MODEL};
use crate::model::{Principal, Resource, State};

/// The `msctl envs` document (JSON: `schema/envs.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvMatrix {
    pub format_version: String,
    pub source: String,
    pub sets: Vec<EnvSet>,
}

/// One set of workspaces compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvSet {
    /// `chatbot-{env}`, or the names joined when they share no pattern.
    pub declaration: String,
    /// Column headers, in the order given.
    pub environments: Vec<String>,
    /// The workspace of each environment.
    pub workspaces: Vec<String>,
    /// Workspaces of the set the state does not hold (e.g. not created live yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    pub rows: Vec<EnvRow>,
}

/// One row: a section (`model`, `limit`, `quota share`, `member`, `page`, `key`), an item, and a
/// cell per environment (`None`: the environment does not have it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvRow {
    pub section: String,
    pub item: String,
    pub cells: Vec<Option<String>>,
    /// The cells are not all the same.
    pub differs: bool,
    /// Environments without it while others have it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_in: Vec<String>,
}

/// A set to compare: its name, the environment of each column, and the workspace of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub declaration: String,
    pub environments: Vec<String>,
    pub workspaces: Vec<String>,
}

impl Wanted {
    /// A set of workspace names, its pattern and environment names derived by [`pattern_of`].
    pub fn from_names(names: Vec<String>) -> Wanted {
        let (declaration, environments) = pattern_of(&names);
        Wanted {
            declaration,
            environments,
            workspaces: names,
        }
    }

    /// A declaration `chatbot-{env}` over `environments`.
    pub fn expanded(declaration: &str, environments: &[String]) -> Wanted {
        Wanted {
            declaration: declaration.to_string(),
            environments: environments.to_vec(),
            workspaces: environments
                .iter()
                .map(|e| declaration.replace("{env}", e))
                .collect(),
        }
    }
}

/// One set's rows: (section index, item) -> a cell per environment.
type Rows = BTreeMap<(usize, String), Vec<Option<String>>>;

/// Sections in display order.
const SECTIONS: [&str; 6] = ["model", "limit", "quota share", "member", "page", "key"];

/// Splits workspace names into a pattern and environment names: the longest common prefix
/// ending in a separator and suffix starting with one are the pattern (`chatbot-{env}`,
/// `{env}-api`); with neither, each name is its own environment.
pub fn pattern_of(names: &[String]) -> (String, Vec<String>) {
    if names.len() < 2 {
        return (names.join(", "), names.to_vec());
    }
    let first = names[0].as_str();
    let mut prefix = first.len();
    let mut suffix = first.len();
    for n in &names[1..] {
        prefix = common(first.bytes(), n.bytes()).min(prefix);
        suffix = common(first.bytes().rev(), n.bytes().rev()).min(suffix);
    }
    let shortest = names.iter().map(String::len).min().unwrap_or(0);
    // The fixed parts end (prefix) and start (suffix) at a separator, so `alpha` and `beta` do
    // not become `{env}a`; separators are ASCII, so the cuts fall on character boundaries.
    let separator = |b: u8| matches!(b, b'-' | b'_' | b'.');
    prefix = first.as_bytes()[..prefix]
        .iter()
        .rposition(|&b| separator(b))
        .map_or(0, |i| i + 1);
    let tail = &first.as_bytes()[first.len() - suffix..];
    suffix = tail
        .iter()
        .position(|&b| separator(b))
        .map_or(0, |i| suffix - i);
    // The variable part must stay non-empty in every name.
    if prefix + suffix >= shortest {
        suffix = 0;
        if prefix >= shortest {
            prefix = 0;
        }
    }
    if prefix == 0 && suffix == 0 {
        return (names.join(", "), names.to_vec());
    }
    let envs = names
        .iter()
        .map(|n| n[prefix..n.len() - suffix].to_string())
        .collect();
    (
        format!(
            "{}{{env}}{}",
            &first[..prefix],
            &first[first.len() - suffix..]
        ),
        envs,
    )
}

fn common(a: impl Iterator<Item = u8>, b: impl Iterator<Item = u8>) -> usize {
    a.zip(b).take_while(|(x, y)| x == y).count()
}

/// Compares each set of workspace names (one per environment) as they are in `state`; `access`
/// is the access model of the same state (for limits and quota shares). One pass over the state
/// serves every set.
pub fn compare(state: &State, access: &AccessModel, sets: &[Wanted]) -> Vec<EnvSet> {
    // workspace -> (set, column)
    let mut column: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
    for (s, wanted) in sets.iter().enumerate() {
        for (c, n) in wanted.workspaces.iter().enumerate() {
            column.entry(n.as_str()).or_default().push((s, c));
        }
    }
    // per set: (section index, item) -> cells
    let mut rows: Vec<Rows> = vec![BTreeMap::new(); sets.len()];
    let mut put = |ws: &str, section: usize, item: &str, value: &str| {
        for &(s, c) in column.get(ws).into_iter().flatten() {
            rows[s]
                .entry((section, item.to_string()))
                .or_insert_with(|| vec![None; sets[s].workspaces.len()])[c] =
                Some(value.to_string());
        }
    };
    for wanted in sets {
        for name in &wanted.workspaces {
            let Some(info) = access.workspaces.get(name) else {
                continue;
            };
            for (model, m) in &info.models {
                let item = if model == EVERY_MODEL {
                    "every model"
                } else {
                    model.as_str()
                };
                put(name, 0, item, &kinds_text(&m.kinds));
                put(name, 1, item, &m.limit);
                if let Some(share) = m.quota_share {
                    put(name, 2, item, &share.short());
                }
            }
        }
    }
    for r in state.resources.values() {
        match r {
            Resource::Member(m) if column.contains_key(m.workspace.as_str()) => {
                let who = match &m.principal {
                    Principal::User(n) => n.clone(),
                    other => format!("{} {}", other.kind(), other.name()),
                };
                let role = if m.administrator {
                    "Administrator"
                } else {
                    "member"
                };
                put(&m.workspace, 3, &who, role);
                for page in &m.pages {
                    put(&m.workspace, 4, &format!("{who}: {page}"), "yes");
                }
            }
            Resource::ApiKey(k) if column.contains_key(k.workspace.as_str()) => {
                let mut cell = format!("owner {}", k.owner);
                match &k.models {
                    Some(models) => cell.push_str(&format!(
                        "; models {}",
                        models.iter().cloned().collect::<Vec<_>>().join(", ")
                    )),
                    None => cell.push_str("; every authorized model"),
                }
                if !k.ip_allow.is_empty() {
                    cell.push_str(&format!(
                        "; IP {}",
                        k.ip_allow.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                if !k.enabled {
                    cell.push_str("; disabled");
                }
                put(&k.workspace, 5, &k.name, &cell);
            }
            _ => {}
        }
    }
    sets.iter()
        .zip(rows)
        .map(|(wanted, rows)| set_of(access, wanted, rows))
        .collect()
}

fn set_of(access: &AccessModel, wanted: &Wanted, rows: Rows) -> EnvSet {
    let environments = &wanted.environments;
    let absent = wanted
        .workspaces
        .iter()
        .filter(|n| !access.workspaces.contains_key(n.as_str()))
        .cloned()
        .collect();
    let rows = rows
        .into_iter()
        .map(|((section, item), cells)| {
            let differs = cells.iter().any(|c| *c != cells[0]);
            let missing_in = cells
                .iter()
                .zip(environments)
                .filter(|(c, _)| c.is_none())
                .map(|(_, e)| e.clone())
                .collect();
            EnvRow {
                section: SECTIONS[section].to_string(),
                item,
                cells,
                differs,
                missing_in,
            }
        })
        .collect();
    EnvSet {
        declaration: wanted.declaration.clone(),
        environments: environments.clone(),
        workspaces: wanted.workspaces.clone(),
        absent,
        rows,
    }
}

fn kinds_text(kinds: &[CallKind]) -> String {
    if kinds.is_empty() {
        return "nothing".to_string();
    }
    kinds
        .iter()
        .map(|k| k.verb())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The document around compared sets.
pub fn matrix(source: String, sets: Vec<EnvSet>) -> EnvMatrix {
    EnvMatrix {
        format_version: ACCESS_FORMAT_VERSION.to_string(),
        source,
        sets,
    }
}
