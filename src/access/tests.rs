//! The access model over the quickstart and the access scenario (`tests/fixtures/access`): each
//! answer and its reason chain, Deny precedence, risks, the diff of two models, environments.

use std::path::Path;

use super::diff::diff;
use super::envs::{Wanted, compare, pattern_of};
use super::query::{AccessQuery, answer};
use super::*;
use crate::config::{self, Config};
use crate::model::{Address, PolicyType, Principal, Resource, State};

fn load(dir: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let loaded = config::load(config::sources_from_dir(&path).expect("read fixture"));
    loaded
        .config
        .unwrap_or_else(|| panic!("{dir} is valid: {:?}", loaded.diagnostics))
}

fn scenario() -> (Config, AccessModel) {
    let config = load("tests/fixtures/access");
    let model = build(&config.desired, &config.quotas);
    (config, model)
}

fn user(name: &str) -> Subject {
    Subject::User { name: name.into() }
}

fn key(workspace: &str, name: &str) -> Subject {
    Subject::Key {
        workspace: workspace.into(),
        name: name.into(),
    }
}

fn call(workspace: &str, model: &str, kind: CallKind) -> Grant {
    Grant::Call {
        workspace: workspace.into(),
        model: model.into(),
        kind,
    }
}

fn fact<'a>(model: &'a AccessModel, subject: &Subject, grant: &Grant) -> &'a Fact {
    model
        .facts
        .get(subject)
        .and_then(|m| m.get(grant))
        .unwrap_or_else(|| panic!("{subject} has no fact {grant}"))
}

fn addresses(chain: &Chain) -> Vec<String> {
    chain.iter().map(|s| s.address.to_string()).collect()
}

fn api(effect: Effect, action: &str) -> Grant {
    Grant::Api {
        effect,
        action: action.into(),
        condition: None,
        resource: None,
    }
}

#[test]
fn who_can_call_a_model_in_a_workspace_with_reasons_and_limits() {
    let (_, model) = scenario();
    let q = AccessQuery {
        model: Some("qwen-max".into()),
        workspace: Some("shop-prod".into()),
        subject: None,
    };
    let a = answer(&model, &q, "test".into());
    let who: Vec<(String, String)> = a
        .facts
        .iter()
        .map(|f| (f.subject.to_string(), f.grant.to_string()))
        .collect();
    assert_eq!(
        who,
        [
            ("user alice", "call qwen-max in shop-prod"),
            ("user bob", "call qwen-max in shop-prod"),
            ("user bob", "deploy qwen-max in shop-prod"),
            ("key backend in shop-prod", "call qwen-max in shop-prod"),
            ("key backend in shop-prod", "deploy qwen-max in shop-prod"),
        ]
        .map(|(s, g)| (s.to_string(), g.to_string()))
    );
    // The role `ops` is a member without pages: read-only, it reaches no model.
    assert!(
        !a.facts
            .iter()
            .any(|f| f.subject == Subject::Role { name: "ops".into() })
    );
    // The key: its own step, its owner's membership, the permission, the limit.
    let k = &a.facts[3];
    assert_eq!(
        addresses(&k.because[0]),
        [
            "workspace.shop-prod.apikey.backend",
            "workspace.shop-prod.member.alice",
            "workspace.shop-prod.model.qwen-max",
            "workspace.shop-prod.limit.qwen-max",
        ]
    );
    assert_eq!(
        k.limits,
        [
            "limit: 600 requests/60 s",
            "quota share: 60.0% of the account's 1000 requests/min (600 allocated)",
            "key model scope: qwen-max",
            "IP allow-list: 10.0.0.0/8",
        ]
    );
    // bob calls as the workspace's Administrator.
    assert_eq!(
        a.facts[1].because[0][0].says,
        "bob has page Administrator in shop-prod"
    );
    // Managed from above: the super administrator role, nobody else.
    let managers: Vec<String> = a.managers.iter().map(|f| f.subject.to_string()).collect();
    assert_eq!(managers, ["role ops"]);
    assert_eq!(a.models.len(), 1);
    assert_eq!(a.models[0].kinds, [CallKind::Inference, CallKind::Deploy]);
}

#[test]
fn the_default_workspace_calls_every_model_through_its_keys() {
    let (_, model) = scenario();
    let f = fact(
        &model,
        &key("default-cn-beijing", "bob-playground"),
        &call("default-cn-beijing", EVERY_MODEL, CallKind::Inference),
    );
    assert_eq!(
        addresses(&f.because[0]),
        [
            "workspace.default-cn-beijing.apikey.bob-playground",
            "workspace.default-cn-beijing.member.bob",
            "workspace.default-cn-beijing",
        ]
    );
    // A question about any model there includes it.
    let q = AccessQuery {
        model: Some("qwen-max".into()),
        workspace: Some("default-cn-beijing".into()),
        subject: None,
    };
    let a = answer(&model, &q, "test".into());
    assert!(
        a.facts
            .iter()
            .any(|f| f.subject == key("default-cn-beijing", "bob-playground"))
    );
    assert!(
        a.risks
            .iter()
            .any(|r| r.kind == RiskKind::DefaultWorkspaceKey)
    );
}

#[test]
fn group_policies_reach_users_with_the_group_step_first() {
    let (_, model) = scenario();
    let f = fact(
        &model,
        &user("bob"),
        &Grant::Management {
            policy: "AliyunBailianReadOnlyAccess".into(),
        },
    );
    assert_eq!(
        addresses(&f.because[0]),
        [
            "ram.group.developers.member.bob",
            "ram.group.developers.policy.AliyunBailianReadOnlyAccess",
        ]
    );
    // bob is not a super administrator, but may assume the role that is.
    assert!(!model.holds(&user("bob"), &Grant::SuperAdmin));
    let assume = fact(
        &model,
        &user("bob"),
        &Grant::AssumeRole { role: "ops".into() },
    );
    assert_eq!(addresses(&assume.because[0]), ["ram.role.ops"]);
    assert!(model.holds(&Subject::Role { name: "ops".into() }, &Grant::SuperAdmin));
}

#[test]
fn an_explicit_deny_wins_and_conditions_are_shown() {
    let (_, model) = scenario();
    let alice = user("alice");
    let delete = fact(&model, &alice, &api(Effect::Allow, "sfm:DeleteIndex"));
    assert!(!delete.effective);
    assert_eq!(
        addresses(&delete.overridden_by[0]),
        [
            "ram.group.developers.member.alice",
            "ram.group.developers.policy.no-index-deletes",
            "ram.policy.no-index-deletes",
        ]
    );
    assert!(model.holds(&alice, &api(Effect::Allow, "sfm:CreateIndex")));
    let get = Grant::Api {
        effect: Effect::Allow,
        action: "sfm:GetIndex".into(),
        condition: Some(r#"{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}"#.into()),
        resource: None,
    };
    assert!(
        model.holds(&alice, &get),
        "{:#?}",
        model.facts[&alice].keys()
    );
    // Data-layer grants say where membership lets them apply.
    assert!(
        fact(&model, &alice, &api(Effect::Allow, "sfm:CreateIndex"))
            .limits
            .contains(&"applies in shop-dev, shop-prod (membership bounds it)".to_string())
    );
}

#[test]
fn the_risks_the_domain_names() {
    let (_, model) = scenario();
    let risks: Vec<(RiskKind, String)> = model
        .risks
        .iter()
        .map(|r| (r.kind, r.subject.to_string()))
        .collect();
    assert_eq!(
        risks,
        [
            (RiskKind::ManagementWithoutMembership, "user dave"),
            (
                RiskKind::DefaultWorkspaceKey,
                "key bob-playground in default-cn-beijing"
            ),
            (RiskKind::RamAdminHolder, "user erin"),
            (RiskKind::BillingHolder, "user erin"),
        ]
        .map(|(k, s)| (k, s.to_string()))
    );
}

#[test]
fn keys_of_owners_who_are_not_members_call_nothing() {
    let (config, _) = scenario();
    let mut state = config.desired.clone();
    state.resources.remove(&Address::Member {
        workspace: "shop-prod".into(),
        principal: Principal::User("alice".into()),
    });
    let model = build(&state, &config.quotas);
    assert!(!model.facts.contains_key(&key("shop-prod", "backend")));
    let risk = model
        .risks
        .iter()
        .find(|r| r.kind == RiskKind::KeyOwnerNotMember)
        .expect("the risk is named");
    assert_eq!(risk.subject, key("shop-prod", "backend"));
    assert_eq!(
        addresses(&risk.because),
        ["workspace.shop-prod.apikey.backend"]
    );
    // A disabled key calls nothing either, without being a risk.
    assert!(!model.facts.contains_key(&key("shop-prod", "reports")));
}

#[test]
fn a_principal_question_covers_account_wide_and_per_workspace_access() {
    let (_, model) = scenario();
    let q = AccessQuery {
        model: None,
        workspace: Some("shop-dev".into()),
        subject: Some(user("bob")),
    };
    let a = answer(&model, &q, "test".into());
    let grants: Vec<String> = a.facts.iter().map(|f| f.grant.to_string()).collect();
    assert_eq!(
        grants,
        [
            "management policy AliyunBailianReadOnlyAccess",
            "API sfm:Delete* denied",
            "may assume role ops",
            "member of shop-dev",
            "page ModelObservation-FullAccess in shop-dev",
        ]
    );
    // A key asked by name alone matches it in every workspace.
    let q = AccessQuery {
        subject: Some(key("", "backend")),
        ..AccessQuery::default()
    };
    let a = answer(&model, &q, "test".into());
    let workspaces: std::collections::BTreeSet<&str> =
        a.facts.iter().filter_map(|f| f.grant.workspace()).collect();
    assert_eq!(workspaces, ["shop-dev", "shop-prod"].into());
}

#[test]
fn a_workspace_sheet_lists_members_keys_models_and_managers() {
    let (_, model) = scenario();
    let q = AccessQuery {
        workspace: Some("shop-prod".into()),
        ..AccessQuery::default()
    };
    let a = answer(&model, &q, "test".into());
    let subjects: std::collections::BTreeSet<String> =
        a.facts.iter().map(|f| f.subject.to_string()).collect();
    assert_eq!(
        subjects,
        [
            "user alice",
            "user bob",
            "role ops",
            "key backend in shop-prod"
        ]
        .map(String::from)
        .into()
    );
    assert!(a.facts.iter().any(|f| f.subject == user("bob")
        && f.grant
            == Grant::Administrator {
                workspace: "shop-prod".into()
            }));
    let models: Vec<&str> = a.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(models, ["qwen-max", "qwen-plus"]);
    assert_eq!(
        a.models[1].limit,
        "no limit: can use the whole account quota"
    );
    let managers: Vec<String> = a
        .managers
        .iter()
        .map(|f| format!("{}: {}", f.subject, f.grant))
        .collect();
    assert!(managers.contains(&"role ops: super administrator (every workspace)".to_string()));
    assert!(
        managers.contains(
            &"user dave: management policy AliyunBailianControlReadOnlyAccess".to_string()
        )
    );
}

#[test]
fn the_quickstart_answers() {
    let config = load("examples/quickstart");
    let model = build(&config.desired, &config.quotas);
    let carol = user("carol");
    let sa = fact(&model, &carol, &Grant::SuperAdmin);
    assert_eq!(
        addresses(&sa.because[0]),
        ["ram.user.carol.policy.AliyunBailianFullAccess"]
    );
    assert!(model.holds(
        &carol,
        &Grant::Administrator {
            workspace: "chatbot-prod".into()
        }
    ));
    // bob observes but calls nothing; alice calls through her pages.
    assert!(
        !model.facts[&user("bob")]
            .keys()
            .any(|g| matches!(g, Grant::Call { .. }))
    );
    assert!(model.holds(
        &user("alice"),
        &call("chatbot-dev", "qwen-plus", CallKind::Inference)
    ));
    // qwen-plus is authorized for fine-tuning in prod only.
    assert!(model.holds(
        &key("chatbot-prod", "chatbot-backend"),
        &call("chatbot-prod", "qwen-plus", CallKind::FineTune)
    ));
    assert!(!model.holds(
        &key("chatbot-dev", "chatbot-backend"),
        &call("chatbot-dev", "qwen-plus", CallKind::FineTune)
    ));
    assert!(model.risks.is_empty(), "{:#?}", model.risks);
}

fn attach(state: &mut State, principal: Principal, policy: &str, kind: PolicyType) {
    state.insert(Resource::Attachment(crate::model::Attachment {
        principal,
        policy: policy.into(),
        policy_type: kind,
    }));
}

#[test]
fn a_new_super_administrator_through_a_group_is_listed_first_with_its_users() {
    let (config, before) = scenario();
    let mut state = config.desired.clone();
    attach(
        &mut state,
        Principal::Group("developers".into()),
        "AliyunBailianFullAccess",
        PolicyType::System,
    );
    let after = build(&state, &config.quotas);
    let changes = diff(&before, &after).changes;
    let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "alice: + super administrator (every workspace)",
            "bob: + super administrator (every workspace)",
            "group developers: + super administrator (every workspace) -> alice, bob gain it",
        ]
    );
    assert!(
        changes
            .iter()
            .all(|c| c.escalation.as_deref() == Some("new super administrator"))
    );
    assert_eq!(
        addresses(&changes[0].because),
        [
            "ram.group.developers.member.alice",
            "ram.group.developers.policy.AliyunBailianFullAccess",
        ]
    );
}

#[test]
fn removing_a_group_policy_lists_the_users_who_lose_it_and_a_removed_deny_is_flagged() {
    let (config, before) = scenario();
    let mut state = config.desired.clone();
    for policy in ["AliyunBailianReadOnlyAccess", "no-index-deletes"] {
        state.resources.remove(&Address::Attachment {
            principal: Principal::Group("developers".into()),
            policy: policy.into(),
        });
    }
    let after = build(&state, &config.quotas);
    let changes = diff(&before, &after).changes;
    let lines: Vec<String> = changes
        .iter()
        .map(|c| match &c.escalation {
            Some(e) => format!("[{e}] {c}"),
            None => c.to_string(),
        })
        .collect();
    assert_eq!(
        lines,
        [
            "[Deny removed] alice: - API sfm:Delete* denied",
            "[Deny removed] bob: - API sfm:Delete* denied",
            "[Deny removed] group developers: - API sfm:Delete* denied -> alice, bob lose it",
            "alice: + API sfm:DeleteIndex allowed",
            "alice: - management policy AliyunBailianReadOnlyAccess",
            "bob: - management policy AliyunBailianReadOnlyAccess",
            "group developers: - management policy AliyunBailianReadOnlyAccess -> alice, bob lose \
                it",
        ]
    );
}

#[test]
fn a_policy_document_edit_is_summarised_as_actions_granted_and_revoked() {
    let (config, before) = scenario();
    let mut state = config.desired.clone();
    let address = Address::RamPolicy {
        name: "data-writers".into(),
    };
    let Some(Resource::RamPolicy(p)) = state.resources.get_mut(&address) else {
        panic!("the scenario declares data-writers");
    };
    p.document = serde_json::json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["sfm:CreateIndex", "sfm:UpdateIndex"], "Resource": "*"}
    ]});
    let after = build(&state, &config.quotas);
    let lines: Vec<String> = diff(&before, &after)
        .changes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "alice: + API sfm:UpdateIndex allowed",
            "alice: - API sfm:GetIndex allowed when {\"IpAddress\":{\"acs:SourceIp\":\"10.0.0.0/8\"\
                }}",
            "policy data-writers: + API sfm:UpdateIndex allowed -> alice gain it",
            "policy data-writers: - API sfm:DeleteIndex allowed",
            "policy data-writers: - API sfm:GetIndex allowed when {\"IpAddress\":{\"acs:SourceIp\"\
                :\"10.0.0.0/8\"}} -> alice lose it",
        ]
    );
}

#[test]
fn a_new_default_workspace_key_is_an_escalation_and_a_new_admin_is_not() {
    let (config, before) = scenario();
    let mut state = config.desired.clone();
    state.insert(Resource::ApiKey(crate::model::ApiKey {
        workspace: "default-cn-beijing".into(),
        name: "shared".into(),
        owner: "bob".into(),
        description: String::new(),
        models: Some(["qwen-max".to_string()].into()),
        ip_allow: Default::default(),
        enabled: true,
    }));
    let after = build(&state, &config.quotas);
    let changes = diff(&before, &after);
    assert_eq!(changes.escalations(), 3);
    assert_eq!(
        changes.changes[0].to_string(),
        "key shared in default-cn-beijing: + call qwen-max in default-cn-beijing"
    );
    assert!(diff(&after, &after).is_empty());
}

#[test]
fn environments_side_by_side_mark_differences_and_call_out_what_is_missing() {
    let (config, model) = scenario();
    let sets = compare(
        &config.desired,
        &model,
        &[Wanted::expanded(
            "shop-{env}",
            &["dev".to_string(), "prod".to_string()],
        )],
    );
    let set = &sets[0];
    assert_eq!(set.workspaces, ["shop-dev", "shop-prod"]);
    let row = |section: &str, item: &str| {
        set.rows
            .iter()
            .find(|r| r.section == section && r.item == item)
            .unwrap_or_else(|| panic!("no row {section} {item}: {:#?}", set.rows))
    };
    let max = row("model", "qwen-max");
    assert!(max.differs);
    assert_eq!(
        max.cells,
        [Some("call".to_string()), Some("call, deploy".to_string())]
    );
    let plus = row("model", "qwen-plus");
    assert_eq!(plus.missing_in, ["dev"]);
    assert_eq!(
        row("quota share", "qwen-max").cells,
        [
            Some("10.0% (100 of 1000 rpm)".to_string()),
            Some("60.0% (600 of 1000 rpm)".to_string())
        ]
    );
    assert_eq!(row("member", "role ops").missing_in, ["dev"]);
    assert_eq!(
        row("member", "bob").cells,
        [
            Some("member".to_string()),
            Some("Administrator".to_string())
        ]
    );
    assert!(!row("page", "alice: Playground-FullAccess").differs);
    assert_eq!(row("key", "reports").missing_in, ["dev"]);
    assert!(set.absent.is_empty());
}

#[test]
fn patterns_of_workspace_names() {
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        pattern_of(&names(&["chatbot-dev", "chatbot-test", "chatbot-prod"])),
        ("chatbot-{env}".to_string(), names(&["dev", "test", "prod"]))
    );
    assert_eq!(
        pattern_of(&names(&["dev-api", "prod-api"])),
        ("{env}-api".to_string(), names(&["dev", "prod"]))
    );
    // One name a prefix of another: the variable part never becomes empty.
    let (pattern, envs) = pattern_of(&names(&["app", "app-2"]));
    assert!(envs.iter().all(|e| !e.is_empty()), "{pattern} {envs:?}");
    assert_eq!(
        pattern_of(&names(&["alpha", "beta"])),
        ("alpha, beta".to_string(), names(&["alpha", "beta"]))
    );
    // Multi-byte names cut on character boundaries.
    let (_, envs) = pattern_of(&names(&["é-dev", "é-prod"]));
    assert_eq!(envs, names(&["dev", "prod"]));
}

#[test]
fn malformed_documents_and_dangling_references_do_not_panic() {
    let mut state = State::default();
    state.insert(Resource::RamPolicy(crate::model::RamPolicy {
        name: "odd".into(),
        description: None,
        document: serde_json::json!({"Statement": [1, {"Effect": "Allow", "Action": 5},
                                                   {"Effect": "Deny", "NotAction": ["ram:*"]}]}),
    }));
    attach(
        &mut state,
        Principal::Group("ghosts".into()),
        "odd",
        PolicyType::Custom,
    );
    attach(
        &mut state,
        Principal::User("x".into()),
        "missing",
        PolicyType::Custom,
    );
    state.insert(Resource::ApiKey(crate::model::ApiKey {
        workspace: "nowhere".into(),
        name: "k".into(),
        owner: "x".into(),
        description: String::new(),
        models: None,
        ip_allow: Default::default(),
        enabled: true,
    }));
    let model = build(&state, &[]);
    assert!(!model.facts.contains_key(&key("nowhere", "k")));
    let _ = answer(&model, &AccessQuery::default(), String::new());
}
