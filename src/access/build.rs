//! Building the access model from a state: index the resources once, derive every fact with its
//! reason chains, apply Deny precedence, then name the risks.
//!
//! Pages that reach a model (a documented reading of the console, see README "msctl access"):
//! calling needs `Administrator`, `ModelExperience-FullAccess`, `Playground-FullAccess` or
//! `BatchInference-FullAccess`; fine-tuning `Administrator` or `ModelFine-tuning-FullAccess`;
//! deploying `Administrator` or `ModelDeployment-FullAccess`. A new member's read-only pages reach
//! none. An API key reaches what its workspace authorizes (domain.md: "what it may call, and its
//! limits, follow its workspace").

use std::collections::HashMap;

use serde_json::Value;

use super::{
    AccessModel, CallKind, Chain, EVERY_MODEL, Effect, Fact, Grant, ModelAccess, QuotaShare,
    RiskFact, RiskKind, Step, Subject,
};
use crate::config::QuotaSplit;
use crate::model::{
    Address, ApiKey, Attachment, Member, ModelLimit, PolicyType, Principal, RamPolicy, RamRole,
    Resource, State,
};
use crate::policy::{self, Risk};

mod grants;

pub use grants::trusted_users;
use grants::*;

/// Pages that let a member reach a model, per kind of use.
fn pages_for(kind: CallKind) -> &'static [&'static str] {
    match kind {
        CallKind::Inference => &[
            "ModelExperience-FullAccess",
            "Playground-FullAccess",
            "BatchInference-FullAccess",
        ],
        CallKind::FineTune => &["ModelFine-tuning-FullAccess"],
        CallKind::Deploy => &["ModelDeployment-FullAccess"],
    }
}

/// Per workspace: (allocated, total) requests per minute in one quota split.
type SplitShares<'a> = HashMap<&'a str, (u64, u64)>;

/// Data-layer services: statements on them are the workspace API permissions.
const DATA_SERVICES: &[&str] = &["sfm", "bailiandata"];

/// Computes the access model of `state`. `quotas` (the config's quota splits) add each limit's
/// share of the account total; pass none for live state without a config.
pub fn build(state: &State, quotas: &[QuotaSplit]) -> AccessModel {
    let mut b = Builder::default();
    let mut members: Vec<&Member> = Vec::new();
    let mut keys: Vec<&ApiKey> = Vec::new();
    let mut attachments: Vec<&Attachment> = Vec::new();
    let mut roles: Vec<&RamRole> = Vec::new();
    let mut policies: HashMap<&str, &RamPolicy> = HashMap::new();
    let mut limits: HashMap<(&str, &str), &ModelLimit> = HashMap::new();
    let mut permissions = Vec::new();
    for r in state.resources.values() {
        match r {
            Resource::Workspace(w) => {
                let info = b.model.workspaces.entry(w.name.clone()).or_default();
                info.region = w.region.clone();
                info.default = w.default;
            }
            Resource::ModelPermission(m) => permissions.push(m),
            Resource::ModelLimit(l) => {
                limits.insert((&l.workspace, &l.model), l);
            }
            Resource::Member(m) => members.push(m),
            Resource::ApiKey(k) => keys.push(k),
            Resource::GroupMember(g) => {
                b.model
                    .group_users
                    .entry(g.group.clone())
                    .or_default()
                    .push(g.user.clone());
                b.model
                    .groups_of
                    .entry(g.user.clone())
                    .or_default()
                    .push(g.group.clone());
            }
            Resource::RamRole(r) => roles.push(r),
            Resource::RamPolicy(p) => {
                policies.insert(&p.name, p);
            }
            Resource::Attachment(a) => attachments.push(a),
            Resource::RamUser(_)
            | Resource::RamGroup(_)
            | Resource::PaiWorkspace(_)
            | Resource::PaiMember(_) => {}
        }
    }

    b.workspace_models(&permissions, &limits, quotas);
    for a in &attachments {
        b.attachment(a, policies.get(a.policy.as_str()).copied());
    }
    for p in policies.values() {
        b.policy_subject(p);
    }
    for r in &roles {
        b.trust(r);
    }
    for m in &members {
        b.member(m);
    }
    for k in &keys {
        b.key(k);
    }
    b.deny_precedence();
    b.membership_bounds();
    b.risks();
    b.model
}

#[derive(Default)]
struct Builder {
    model: AccessModel,
}

impl Builder {
    /// Records `grant` for `subject` through `chain`, merging routes to the same grant.
    fn add(&mut self, subject: Subject, grant: Grant, chain: Chain, limits: &[String]) {
        let fact = self
            .model
            .facts
            .entry(subject.clone())
            .or_default()
            .entry(grant.clone())
            .or_insert_with(|| Fact {
                subject,
                grant,
                because: Vec::new(),
                limits: limits.to_vec(),
                effective: true,
                overridden_by: Vec::new(),
            });
        if !fact.because.contains(&chain) {
            fact.because.push(chain);
        }
    }

    /// Adds `grant` to `principal` and, for a group, to each of its users (the group step first).
    fn add_to_principal(&mut self, principal: &Principal, grant: Grant, chain: Chain) {
        if let Principal::Group(group) = principal {
            let users = self
                .model
                .group_users
                .get(group)
                .cloned()
                .unwrap_or_default();
            for user in users {
                let mut via = Vec::with_capacity(chain.len() + 1);
                via.push(Step::new(
                    Address::GroupMember {
                        group: group.clone(),
                        user: user.clone(),
                    },
                    format!("{user} is in group {group}"),
                ));
                via.extend(chain.iter().cloned());
                self.add(Subject::User { name: user }, grant.clone(), via, &[]);
            }
        }
        self.add(Subject::of(principal), grant, chain, &[]);
    }

    /// Each workspace's authorized models, limits and quota shares.
    fn workspace_models(
        &mut self,
        permissions: &[&crate::model::ModelPermission],
        limits: &HashMap<(&str, &str), &ModelLimit>,
        quotas: &[QuotaSplit],
    ) {
        // (region, model) -> workspace -> (allocated, total)
        let mut shares: HashMap<(&str, &str), SplitShares<'_>> = HashMap::new();
        for q in quotas {
            let by_ws = shares.entry((&q.region, &q.model)).or_default();
            for a in &q.allocations {
                by_ws.insert(&a.workspace, (a.requests_per_minute, q.requests_per_minute));
            }
        }
        for (name, info) in &mut self.model.workspaces {
            if info.default {
                info.models.insert(
                    EVERY_MODEL.to_string(),
                    ModelAccess {
                        kinds: CallKind::ALL.to_vec(),
                        limit: "unthrottled (the default workspace calls every model)".into(),
                        quota_share: None,
                        because: vec![Step::new(
                            Address::Workspace { name: name.clone() },
                            "the default workspace calls every model, unthrottled",
                        )],
                    },
                );
            }
        }
        for m in permissions {
            let kinds: Vec<CallKind> = [
                (CallKind::Inference, m.inference),
                (CallKind::FineTune, m.fine_tune),
                (CallKind::Deploy, m.deploy),
            ]
            .into_iter()
            .filter_map(|(k, on)| on.then_some(k))
            .collect();
            let info = self
                .model
                .workspaces
                .entry(m.workspace.clone())
                .or_default();
            let mut because = vec![Step::new(
                Address::ModelPermission {
                    workspace: m.workspace.clone(),
                    model: m.model.clone(),
                },
                format!(
                    "{} authorizes {} for {}",
                    m.workspace,
                    m.model,
                    if kinds.is_empty() {
                        "nothing".to_string()
                    } else {
                        kinds
                            .iter()
                            .map(|k| k.verb())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            )];
            let limit = match limits.get(&(m.workspace.as_str(), m.model.as_str())) {
                Some(l) => {
                    let text = limit_text(l);
                    because.push(Step::new(
                        Address::ModelLimit {
                            workspace: m.workspace.clone(),
                            model: m.model.clone(),
                        },
                        format!("{} limits {} to {text}", m.workspace, m.model),
                    ));
                    text
                }
                None if info.default => "unthrottled (default workspace)".to_string(),
                None => "no limit: can use the whole account quota".to_string(),
            };
            let quota_share = shares
                .get(&(info.region.as_str(), m.model.as_str()))
                .and_then(|by_ws| by_ws.get(m.workspace.as_str()))
                .map(|&(allocated, total)| QuotaShare { allocated, total });
            info.models.insert(
                m.model.clone(),
                ModelAccess {
                    kinds,
                    limit,
                    quota_share,
                    because,
                },
            );
        }
    }

    /// The management-layer and data-layer grants of one policy attachment.
    fn attachment(&mut self, a: &Attachment, custom: Option<&RamPolicy>) {
        let held = Step::new(
            Address::Attachment {
                principal: a.principal.clone(),
                policy: a.policy.clone(),
            },
            format!("{} holds {}", a.principal.name(), a.policy),
        );
        let grants: Vec<(Grant, Chain)> = match (a.policy_type, custom) {
            (PolicyType::System, _) => system_grants(&a.policy)
                .into_iter()
                .map(|g| (g, vec![held.clone()]))
                .collect(),
            (PolicyType::Custom, Some(p)) => custom_grants(p)
                .into_iter()
                .map(|(g, step)| (g, vec![held.clone(), step]))
                .collect(),
            // A custom policy the state does not hold: nothing is known of what it grants.
            (PolicyType::Custom, None) => Vec::new(),
        };
        for (grant, chain) in grants {
            self.add_to_principal(&a.principal, grant, chain);
        }
        if a.policy_type == PolicyType::Custom {
            self.model
                .policy_holders
                .entry(a.policy.clone())
                .or_default()
                .push(Subject::of(&a.principal));
        }
    }

    /// What a custom policy's document grants, as facts about the policy itself.
    fn policy_subject(&mut self, p: &RamPolicy) {
        for (grant, step) in custom_grants(p) {
            self.add(
                Subject::Policy {
                    name: p.name.clone(),
                },
                grant,
                vec![step],
                &[],
            );
        }
    }

    /// Users a role's trust policy names may assume it.
    fn trust(&mut self, r: &RamRole) {
        for user in trusted_users(&r.trust_policy) {
            self.add(
                Subject::User { name: user.clone() },
                Grant::AssumeRole {
                    role: r.name.clone(),
                },
                vec![Step::new(
                    Address::RamRole {
                        name: r.name.clone(),
                    },
                    format!("the trust policy of role {} names user {user}", r.name),
                )],
                &[],
            );
        }
    }

    /// Membership, Administrator, pages, and the models the member's pages reach.
    fn member(&mut self, m: &Member) {
        let ws = &m.workspace;
        let address = Address::Member {
            workspace: ws.clone(),
            principal: m.principal.clone(),
        };
        let who = m.principal.name();
        self.add_to_principal(
            &m.principal,
            Grant::Member {
                workspace: ws.clone(),
            },
            vec![Step::new(
                address.clone(),
                format!("{who} is a member of {ws}"),
            )],
        );
        if m.administrator {
            self.add_to_principal(
                &m.principal,
                Grant::Administrator {
                    workspace: ws.clone(),
                },
                vec![Step::new(
                    address.clone(),
                    format!("{who} has the Administrator page in {ws}"),
                )],
            );
        }
        for page in &m.pages {
            self.add_to_principal(
                &m.principal,
                Grant::Page {
                    workspace: ws.clone(),
                    page: page.clone(),
                },
                vec![Step::new(
                    address.clone(),
                    format!("{who} has page {page} in {ws}"),
                )],
            );
        }
        let Some(info) = self.model.workspaces.get(ws) else {
            return;
        };
        let mut calls = Vec::new();
        for (model, access) in &info.models {
            for &kind in &access.kinds {
                let page = if m.administrator {
                    Some("Administrator")
                } else {
                    pages_for(kind)
                        .iter()
                        .copied()
                        .find(|p| m.pages.contains(*p))
                };
                let Some(page) = page else { continue };
                let mut chain = vec![Step::new(
                    address.clone(),
                    format!("{who} has page {page} in {ws}"),
                )];
                chain.extend(access.because.iter().cloned());
                calls.push((
                    Grant::Call {
                        workspace: ws.clone(),
                        model: model.clone(),
                        kind,
                    },
                    chain,
                    limits_of(access),
                ));
            }
        }
        for (grant, chain, limits) in calls {
            if let Principal::Group(group) = &m.principal {
                for user in self
                    .model
                    .group_users
                    .get(group)
                    .cloned()
                    .unwrap_or_default()
                {
                    let mut via = vec![Step::new(
                        Address::GroupMember {
                            group: group.clone(),
                            user: user.clone(),
                        },
                        format!("{user} is in group {group}"),
                    )];
                    via.extend(chain.iter().cloned());
                    self.add(Subject::User { name: user }, grant.clone(), via, &limits);
                }
            }
            self.add(Subject::of(&m.principal), grant, chain, &limits);
        }
    }

    /// What an API key can call: its workspace's models, within its own scope, while it is
    /// enabled and its owner is a member.
    fn key(&mut self, k: &ApiKey) {
        let subject = Subject::Key {
            workspace: k.workspace.clone(),
            name: k.name.clone(),
        };
        let key_step = Step::new(
            Address::ApiKey {
                workspace: k.workspace.clone(),
                name: k.name.clone(),
            },
            format!(
                "key {} in {} is owned by {} and {}",
                k.name,
                k.workspace,
                k.owner,
                if k.enabled { "enabled" } else { "disabled" }
            ),
        );
        let owner = Subject::User {
            name: k.owner.clone(),
        };
        let membership = Grant::Member {
            workspace: k.workspace.clone(),
        };
        let owner_chain = self
            .model
            .facts
            .get(&owner)
            .and_then(|m| m.get(&membership))
            .and_then(|f| f.because.first().cloned());
        let Some(info) = self.model.workspaces.get(&k.workspace) else {
            return;
        };
        let default = info.default;
        if default {
            self.model.risks.push(RiskFact {
                kind: RiskKind::DefaultWorkspaceKey,
                subject: subject.clone(),
                message: format!(
                    "a key in the default workspace {} calls every model, unthrottled; \
                            sharing it with a sub-workspace user bypasses the sub-workspace's \
                            model authorization",
                    k.workspace
                ),
                because: vec![key_step.clone()],
            });
        }
        let Some(owner_chain) = owner_chain else {
            self.model.risks.push(RiskFact {
                kind: RiskKind::KeyOwnerNotMember,
                subject,
                message: format!(
                    "its owner {} is not a member of {}: the key is disabled until they \
                            are added again",
                    k.owner, k.workspace
                ),
                because: vec![key_step],
            });
            return;
        };
        if !k.enabled {
            return;
        }
        let mut extra = Vec::new();
        if let Some(models) = &k.models {
            extra.push(format!(
                "key model scope: {}",
                models.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if !k.ip_allow.is_empty() {
            extra.push(format!(
                "IP allow-list: {}",
                k.ip_allow.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let mut calls = Vec::new();
        for (model, access) in &info.models {
            let targets: Vec<String> = match (&k.models, model.as_str()) {
                (None, _) => vec![model.clone()],
                // Every model of the default workspace, narrowed to the key's scope.
                (Some(scope), EVERY_MODEL) => scope.iter().cloned().collect(),
                (Some(scope), m) if scope.contains(m) => vec![model.clone()],
                _ => Vec::new(),
            };
            for target in targets {
                for &kind in &access.kinds {
                    let mut chain = vec![key_step.clone()];
                    chain.extend(owner_chain.iter().cloned());
                    chain.extend(access.because.iter().cloned());
                    let mut limits = limits_of(access);
                    limits.extend(extra.iter().cloned());
                    calls.push((
                        Grant::Call {
                            workspace: k.workspace.clone(),
                            model: target.clone(),
                            kind,
                        },
                        chain,
                        limits,
                    ));
                }
            }
        }
        for (grant, chain, limits) in calls {
            self.add(subject.clone(), grant, chain, &limits);
        }
    }

    /// An explicit Deny wins: an Allow (or a data policy) whose action an unconditional Deny of
    /// the same subject covers is overridden; a conditional Deny is noted as a limit.
    fn deny_precedence(&mut self) {
        for grants in self.model.facts.values_mut() {
            let denies: Vec<(String, bool, Chain, String)> = grants
                .values()
                .filter_map(|f| match &f.grant {
                    Grant::Api {
                        effect: Effect::Deny,
                        action,
                        condition,
                        resource,
                    } => Some((
                        action.clone(),
                        condition.is_none() && resource.is_none(),
                        f.because.first().cloned().unwrap_or_default(),
                        f.grant.to_string(),
                    )),
                    _ => None,
                })
                .collect();
            if denies.is_empty() {
                continue;
            }
            for fact in grants.values_mut() {
                let allowed = match &fact.grant {
                    Grant::Api {
                        effect: Effect::Allow,
                        action,
                        ..
                    } => action.clone(),
                    Grant::DataPolicy { .. } => "sfm:*".to_string(),
                    _ => continue,
                };
                for (deny, unconditional, chain, text) in &denies {
                    if !policy::wildcard_match(deny, &allowed) {
                        continue;
                    }
                    if *unconditional {
                        fact.effective = false;
                        fact.overridden_by.push(chain.clone());
                    } else {
                        let at = chain
                            .last()
                            .map(|s| format!(" ({})", s.address))
                            .unwrap_or_default();
                        fact.limits.push(format!("may be refused: {text}{at}"));
                    }
                }
            }
        }
    }

    /// Data-layer grants are account-wide policies, but every call names a workspace: say where
    /// they apply (the holder's workspaces), or that they apply nowhere yet.
    fn membership_bounds(&mut self) {
        for (subject, grants) in &mut self.model.facts {
            if !matches!(subject, Subject::User { .. } | Subject::Role { .. }) {
                continue;
            }
            let workspaces: Vec<String> = grants
                .keys()
                .filter_map(|g| match g {
                    Grant::Member { workspace } => Some(workspace.clone()),
                    _ => None,
                })
                .collect();
            let note = if workspaces.is_empty() {
                "applies in no workspace: the holder is a member of none".to_string()
            } else {
                format!(
                    "applies in {} (membership bounds it)",
                    workspaces.join(", ")
                )
            };
            for fact in grants.values_mut() {
                if matches!(fact.grant, Grant::Api { .. } | Grant::DataPolicy { .. }) {
                    fact.limits.push(note.clone());
                }
            }
        }
    }

    /// Risks that follow from the facts: RAM-admin and billing holders, management policies
    /// without membership.
    fn risks(&mut self) {
        let mut risks = Vec::new();
        for (subject, grants) in &self.model.facts {
            if matches!(subject, Subject::Policy { .. } | Subject::Key { .. }) {
                continue;
            }
            let first = |g: &Grant| {
                grants
                    .get(g)
                    .and_then(|f| f.because.first().cloned())
                    .unwrap_or_default()
            };
            if grants.contains_key(&Grant::RamAdmin) {
                risks.push(RiskFact {
                    kind: RiskKind::RamAdminHolder,
                    subject: subject.clone(),
                    message: Risk::RamAdmin.describe().to_string(),
                    because: first(&Grant::RamAdmin),
                });
            }
            if grants.contains_key(&Grant::Billing) {
                risks.push(RiskFact {
                    kind: RiskKind::BillingHolder,
                    subject: subject.clone(),
                    message: Risk::Billing.describe().to_string(),
                    because: first(&Grant::Billing),
                });
            }
            if matches!(subject, Subject::User { .. } | Subject::Role { .. })
                && !grants.keys().any(|g| matches!(g, Grant::Member { .. }))
                && let Some(g) = grants
                    .keys()
                    .find(|g| matches!(g, Grant::SuperAdmin | Grant::Management { .. }))
            {
                risks.push(RiskFact {
                    kind: RiskKind::ManagementWithoutMembership,
                    subject: subject.clone(),
                    message: format!(
                        "holds {g} but is a member of no workspace: a management policy \
                                grants no workspace access"
                    ),
                    because: first(g),
                });
            }
        }
        self.model.risks.extend(risks);
        self.model
            .risks
            .sort_by(|a, b| (a.kind, &a.subject).cmp(&(b.kind, &b.subject)));
    }
}
