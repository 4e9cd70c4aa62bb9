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
use crate::model::rotation::{format_duration, parse_duration};
use crate::model::*;
use crate::path;
use crate::policy::{self, MAX_DOCUMENT_CHARS, PolicyKind, Risk};

mod pai;
mod quotas;
mod ram;
mod workspaces;

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
    /// `rotate_after` and `overlap`, where given.
    rotation_spans: [Span; 2],
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

    /// A warning about one resource: msctl.toml's `safety.accept` can acknowledge it by address.
    fn warn_about(
        &mut self,
        span: Span,
        subject: &Address,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags.push(
            Diagnostic::warning(message)
                .at(span)
                .hint(hint)
                .about(subject),
        );
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
}
