//! Questions to the access model: who can call a model in a workspace, what one principal or key
//! can do, a workspace's access sheet. Each answer is plain data (`msctl access` renders it).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ACCESS_FORMAT_VERSION, AccessModel, CallKind, Chain, EVERY_MODEL, Fact, Grant, QuotaShare,
    RiskFact, Subject,
};

/// What is asked. Every selector narrows the answer; none at all gives the whole model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// One principal or key (keys are named per workspace: `--workspace` picks one, otherwise
    /// every key of that name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
}

/// One model in one workspace: what the workspace authorizes and the limit that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ModelRow {
    pub workspace: String,
    /// `*` for every model (a default workspace).
    pub model: String,
    pub kinds: Vec<CallKind>,
    pub limit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_share: Option<QuotaShare>,
    pub because: Chain,
}

/// The answer document of `msctl access` (JSON: `schema/access.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessAnswer {
    pub format_version: String,
    /// `configuration `examples/quickstart``, `live state (local backend)`, at a revision, ...
    pub source: String,
    pub query: AccessQuery,
    /// The matching facts, by subject then grant, each with its reason chains.
    pub facts: Vec<Fact>,
    /// Models of the workspaces in question, with limits and quota shares.
    pub models: Vec<ModelRow>,
    /// Who can manage the workspace from above (super administrators and other management
    /// policy holders), for workspace and model questions.
    pub managers: Vec<Fact>,
    pub risks: Vec<RiskFact>,
}

/// Answers `query` from `model`.
pub fn answer(model: &AccessModel, query: &AccessQuery, source: String) -> AccessAnswer {
    let ws = query.workspace.as_deref();
    let wanted_model = query.model.as_deref();
    let model_matches = |m: &str| wanted_model.is_none_or(|w| m == w || m == EVERY_MODEL);
    let is_call_on_model = |f: &Fact| match &f.grant {
        Grant::Call {
            model: m,
            workspace: w,
            ..
        } => model_matches(m) && ws.is_none_or(|x| w == x),
        _ => false,
    };

    let mut facts = Vec::new();
    let mut managers = Vec::new();
    let mut risks = Vec::new();
    match &query.subject {
        Some(subject) => {
            for f in model
                .iter()
                .filter(|f| same_subject(&f.subject, subject, ws))
            {
                let keep = if wanted_model.is_some() {
                    is_call_on_model(f)
                } else {
                    ws.is_none_or(|w| f.grant.workspace().is_none_or(|g| g == w))
                };
                if keep {
                    facts.push(f.clone());
                }
            }
            risks.extend(
                model
                    .risks
                    .iter()
                    .filter(|r| same_subject(&r.subject, subject, ws))
                    .cloned(),
            );
        }
        None if wanted_model.is_some() => {
            facts.extend(
                model
                    .iter()
                    .filter(|f| f.effective && is_call_on_model(f))
                    .cloned(),
            );
            managers = management(model, true);
            risks = risks_of(model, &facts);
        }
        None => match ws {
            Some(w) => {
                let members: BTreeSet<&Subject> = model
                    .facts
                    .iter()
                    .filter(|(s, grants)| {
                        !matches!(s, Subject::Group { .. })
                            && grants.contains_key(&Grant::Member {
                                workspace: w.to_string(),
                            })
                    })
                    .map(|(s, _)| s)
                    .collect();
                for f in model.iter() {
                    let here = f.grant.workspace() == Some(w)
                        || f.subject.workspace() == Some(w)
                        || (matches!(f.grant, Grant::Api { .. } | Grant::DataPolicy { .. })
                            && members.contains(&f.subject));
                    if here {
                        facts.push(f.clone());
                    }
                }
                managers = management(model, false);
                risks = model
                    .risks
                    .iter()
                    .filter(|r| r.subject.workspace() == Some(w) || members.contains(&r.subject))
                    .cloned()
                    .collect();
            }
            None => {
                facts.extend(model.iter().cloned());
                risks.extend(model.risks.iter().cloned());
            }
        },
    }

    let models = model
        .workspaces
        .iter()
        .filter(|(name, _)| ws.is_none_or(|w| w == name.as_str()))
        .flat_map(|(name, info)| {
            info.models
                .iter()
                .filter(|(m, _)| model_matches(m))
                .map(move |(m, a)| ModelRow {
                    workspace: name.clone(),
                    model: m.clone(),
                    kinds: a.kinds.clone(),
                    limit: a.limit.clone(),
                    quota_share: a.quota_share,
                    because: a.because.clone(),
                })
        })
        // A question about one principal lists the models only when a workspace is named.
        .filter(|_| query.subject.is_none() || ws.is_some())
        .collect();

    AccessAnswer {
        format_version: ACCESS_FORMAT_VERSION.to_string(),
        source,
        query: query.clone(),
        facts,
        models,
        managers,
        risks,
    }
}

/// Whether `s` is the subject asked about; a key asked by name alone matches that name in every
/// workspace (or in `ws` when one is named).
fn same_subject(s: &Subject, asked: &Subject, ws: Option<&str>) -> bool {
    match (s, asked) {
        (
            Subject::Key { workspace, name },
            Subject::Key {
                workspace: asked_ws,
                name: asked_name,
            },
        ) if asked_ws.is_empty() => name == asked_name && ws.is_none_or(|w| w == workspace),
        _ => s == asked,
    }
}

/// Principals that manage workspaces from above: super administrators, and (unless `super_only`)
/// holders of other management-layer policies. Policies themselves are left out.
fn management(model: &AccessModel, super_only: bool) -> Vec<Fact> {
    model
        .iter()
        .filter(|f| !matches!(f.subject, Subject::Policy { .. }))
        .filter(|f| match f.grant {
            Grant::SuperAdmin => true,
            Grant::Management { .. } => !super_only,
            _ => false,
        })
        .cloned()
        .collect()
}

/// The risks about the subjects of `facts`.
fn risks_of(model: &AccessModel, facts: &[Fact]) -> Vec<RiskFact> {
    let subjects: BTreeSet<&Subject> = facts.iter().map(|f| &f.subject).collect();
    model
        .risks
        .iter()
        .filter(|r| subjects.contains(&r.subject))
        .cloned()
        .collect()
}
