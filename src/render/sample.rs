//! Sample plans for renderer tests: one rich plan with every action and every resource kind.
//!
//! Changes are derived from before/after resources the way the differ derives them, so the
//! snapshots show realistic attribute lists rather than hand-typed ones.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::model::{
    ApiKey, Attachment, GroupMember, Member, ModelLimit, ModelPermission, PaiMember, PaiWorkspace,
    PolicyType, Principal, RamGroup, RamPolicy, RamRole, RamUser, Resource, Workspace,
};
use crate::plan::{
    Action, AttributeChange, Change, FORMAT_VERSION, ManualStep, Plan, Source, Summary, Unmanaged,
};

/// A change between two versions of a resource, attributes compared as the differ does.
pub(crate) fn change(action: Action, before: Option<Resource>, after: Option<Resource>) -> Change {
    let address = match (&before, &after) {
        (_, Some(r)) | (Some(r), None) => r.address(),
        (None, None) => unreachable!("a sample change needs a resource"),
    };
    let old = before
        .as_ref()
        .map(Resource::attributes)
        .unwrap_or_default();
    let new = after.as_ref().map(Resource::attributes).unwrap_or_default();
    let attributes = match action {
        Action::Create | Action::Rotate => new
            .into_iter()
            .map(|a| AttributeChange {
                name: a.name.into(),
                before: Value::Null,
                after: a.value,
                forces_replacement: false,
                document: a.document,
            })
            .collect(),
        Action::Delete => old
            .into_iter()
            .map(|a| AttributeChange {
                name: a.name.into(),
                before: a.value,
                after: Value::Null,
                forces_replacement: false,
                document: a.document,
            })
            .collect(),
        Action::Update | Action::Replace => old
            .into_iter()
            .zip(new)
            .filter(|(o, n)| o.value != n.value)
            .map(|(o, n)| AttributeChange {
                name: n.name.into(),
                before: o.value,
                after: n.value,
                forces_replacement: n.immutable,
                document: n.document,
            })
            .collect(),
    };
    Change {
        address,
        action,
        before,
        after,
        attributes,
        depends_on: vec![],
        destroy_depends_on: vec![],
        warnings: vec![],
        manual: None,
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn plan_of(changes: Vec<Change>, unmanaged: Vec<Unmanaged>, warnings: Vec<String>) -> Plan {
    Plan {
        format_version: FORMAT_VERSION.into(),
        msctl_version: "0.1.0".into(),
        backend: "local".into(),
        source: Source {
            config_dir: "config".into(),
            commit: Some("1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b".into()),
            dirty: true,
        },
        summary: Summary::of(&changes),
        changes,
        unmanaged,
        warnings,
        live_fingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        api_calls: 12,
        api_calls_by_operation: Default::default(),
        managed_live: 0,
        access: Default::default(),
        snapshot: None,
    }
}

pub(crate) fn empty_plan() -> Plan {
    plan_of(vec![], vec![], vec![])
}

fn workspace(name: &str) -> Workspace {
    Workspace {
        name: name.into(),
        region: "cn-beijing".into(),
        default: false,
    }
}

fn alice() -> Principal {
    Principal::User("alice".into())
}

/// Every action, every resource kind, policy diffs, a manual step, warnings, unmanaged objects.
pub(crate) fn rich_plan() -> Plan {
    let sfm_v1 = json!({
        "Version": "1",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["sfm:CreateIndex", "sfm:ListIndices"],
            "Resource": "*"
        }]
    });
    // Keys in API order (not canonical): the diff must not show them as moved.
    let sfm_v2 = json!({
        "Statement": [{
            "Resource": "acs:sfm:cn-beijing:123456789:workspace/ws-prod",
            "Action": ["sfm:CreateIndex", "sfm:DeleteIndex", "sfm:ListIndices"],
            "Effect": "Allow"
        }, {
            "Effect": "Deny",
            "Action": "sfm:DeleteIndex",
            "Resource": "*",
            "Condition": {"Bool": {"acs:MFAPresent": "false"}}
        }],
        "Version": "1"
    });
    let trust = |principals: Value| {
        json!({
            "Version": "1",
            "Statement": [{
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": principals}
            }]
        })
    };
    let role = |trust_policy: Value, max: u32| RamRole {
        name: "AliyunPAILangStudioDefaultRole".into(),
        description: Some("LangStudio service role".into()),
        trust_policy,
        max_session_duration: max,
    };
    let key = |owner: &str| ApiKey {
        workspace: "chatbot-prod".into(),
        name: "ci-bot".into(),
        owner: owner.into(),
        description: "CI deploys".into(),
        models: Some(set(&["qwen-plus"])),
        ip_allow: set(&["10.0.0.0/8"]),
        enabled: true,
    };
    let limit = |requests: u64, tokens: Option<u64>| ModelLimit {
        workspace: "chatbot-prod".into(),
        model: "qwen-plus".into(),
        requests,
        request_period: 60,
        tokens,
        usage_period: tokens.map(|_| 60),
    };
    let pai_member = |roles: &[&str]| PaiMember {
        workspace: "langstudio_prod".into(),
        user: "alice".into(),
        roles: set(roles),
    };

    let mut admin = change(
        Action::Create,
        None,
        Some(Resource::Attachment(Attachment {
            principal: alice(),
            policy: "AliyunBailianFullAccess".into(),
            policy_type: PolicyType::System,
        })),
    );
    admin
        .warnings
        .push("grants super administrator: every workspace, key and rate limit".into());

    let mut member = change(
        Action::Create,
        None,
        Some(Resource::Member(Member {
            workspace: "chatbot-prod".into(),
            principal: alice(),
            administrator: false,
            pages: set(&["ModelExperience-FullAccess", "Playground-FullAccess"]),
        })),
    );
    member.manual = Some(ManualStep {
        instructions: "In the Model Studio console (cn-beijing), open workspace `chatbot-prod` > \
                       Permission Management, add RAM user `alice`, and grant the pages \
                       ModelExperience-FullAccess and Playground-FullAccess.\nThen run `msctl ack \
                       workspace.chatbot-prod.member.alice`."
            .into(),
    });

    let mut replaced_key = change(
        Action::Replace,
        Some(Resource::ApiKey(key("alice"))),
        Some(Resource::ApiKey(key("ci-bot"))),
    );
    replaced_key.warnings.push(
        "deleting an API key is unrecoverable: clients using `ci-bot` | the old key stop \
         working <now>"
            .into(),
    );

    let mut dropped_workspace = change(
        Action::Delete,
        Some(Resource::Workspace(workspace("chatbot-dev"))),
        None,
    );
    dropped_workspace
        .warnings
        .push("deletes the workspace with its keys, limits and members".into());

    let changes = vec![
        change(
            Action::Create,
            None,
            Some(Resource::RamUser(RamUser {
                name: "alice".into(),
                display_name: Some("Alice Smith".into()),
                comments: None,
            })),
        ),
        change(
            Action::Create,
            None,
            Some(Resource::RamGroup(RamGroup {
                name: "devs".into(),
                comments: Some("Model Studio developers".into()),
            })),
        ),
        change(
            Action::Create,
            None,
            Some(Resource::GroupMember(GroupMember {
                group: "devs".into(),
                user: "alice".into(),
            })),
        ),
        change(
            Action::Update,
            Some(Resource::RamRole(role(
                trust(json!(["pai.aliyuncs.com"])),
                3600,
            ))),
            Some(Resource::RamRole(role(
                trust(json!(["pai.aliyuncs.com", "paillmtrace.aliyuncs.com"])),
                7200,
            ))),
        ),
        change(
            Action::Update,
            Some(Resource::RamPolicy(RamPolicy {
                name: "sfm-create-index".into(),
                description: None,
                document: sfm_v1,
            })),
            Some(Resource::RamPolicy(RamPolicy {
                name: "sfm-create-index".into(),
                description: Some("Knowledge-base indexing in prod".into()),
                document: sfm_v2,
            })),
        ),
        admin,
        change(
            Action::Create,
            None,
            Some(Resource::Workspace(workspace("chatbot-prod"))),
        ),
        change(
            Action::Create,
            None,
            Some(Resource::ModelPermission(ModelPermission {
                workspace: "chatbot-prod".into(),
                model: "qwen-plus".into(),
                inference: true,
                fine_tune: false,
                deploy: false,
            })),
        ),
        change(
            Action::Update,
            Some(Resource::ModelLimit(limit(600, None))),
            Some(Resource::ModelLimit(limit(800, Some(100_000)))),
        ),
        member,
        replaced_key,
        change(
            Action::Create,
            None,
            Some(Resource::PaiWorkspace(PaiWorkspace {
                name: "langstudio_prod".into(),
                region: "cn-beijing".into(),
                display_name: None,
                description: "LangStudio flows".into(),
                env_types: vec!["prod".into()],
            })),
        ),
        change(
            Action::Update,
            Some(Resource::PaiMember(pai_member(&["PAI.AlgoDeveloper"]))),
            Some(Resource::PaiMember(pai_member(&[
                "PAI.AlgoDeveloper",
                "PAI.WorkspaceAdmin",
            ]))),
        ),
        change(
            Action::Delete,
            Some(Resource::RamUser(RamUser {
                name: "bob".into(),
                display_name: None,
                comments: Some("left the team".into()),
            })),
            None,
        ),
        dropped_workspace,
    ];

    let unmanaged = vec![
        Unmanaged {
            address: "ram.user.carol".parse().unwrap_or_else(|e| panic!("{e}")),
            note: "holds AliyunBailianFullAccess but is not declared".into(),
            governed: true,
        },
        Unmanaged {
            address: "ram.user.deploy-bot"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            note: "not declared; RAM objects are managed only when declared".into(),
            governed: false,
        },
    ];

    let warnings = vec![
        "workspace `chatbot-prod` authorizes qwen-plus; allocations plus reserve use 95% of the \
         account quota"
            .into(),
        "AliyunBSSOrderAccess is account-wide: ram.user.alice may buy subscriptions".into(),
    ];

    plan_of(changes, unmanaged, warnings)
}

/// A plan of `n` updates, for size and speed tests.
pub(crate) fn huge_plan(n: usize) -> Plan {
    let changes = (0..n)
        .map(|i| {
            let limit = |requests: u64| {
                Resource::ModelLimit(ModelLimit {
                    workspace: format!("ws-{}", i / 100),
                    model: format!("model-{i}"),
                    requests,
                    request_period: 60,
                    tokens: None,
                    usage_period: None,
                })
            };
            change(Action::Update, Some(limit(100)), Some(limit(200)))
        })
        .collect();
    plan_of(changes, vec![], vec![])
}
