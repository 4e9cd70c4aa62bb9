//! Unit tests of import: folding, selection, adoption, and files that load back into the same
//! desired state.

use std::collections::BTreeSet;

use super::*;
use crate::config;
use crate::diagnostic::SourceSet;
use crate::model::*;

fn ws(name: &str) -> Resource {
    Resource::Workspace(Workspace {
        name: name.into(),
        region: "cn-beijing".into(),
        default: false,
    })
}

fn perm(ws: &str, model: &str, fine_tune: bool) -> Resource {
    Resource::ModelPermission(ModelPermission {
        workspace: ws.into(),
        model: model.into(),
        inference: true,
        fine_tune,
        deploy: false,
    })
}

fn limit(ws: &str, model: &str, rpm: u64) -> Resource {
    Resource::ModelLimit(ModelLimit {
        workspace: ws.into(),
        model: model.into(),
        requests: rpm,
        request_period: 60,
        tokens: None,
        usage_period: None,
    })
}

fn user(name: &str) -> Resource {
    Resource::RamUser(RamUser {
        name: name.into(),
        display_name: None,
        comments: None,
    })
}

fn member(ws: &str, user: &str) -> Resource {
    Resource::Member(Member {
        workspace: ws.into(),
        principal: Principal::User(user.into()),
        administrator: false,
        pages: ["Playground-FullAccess".to_string()].into(),
    })
}

fn key(ws: &str, name: &str, owner: &str, description: &str) -> Resource {
    Resource::ApiKey(ApiKey {
        workspace: ws.into(),
        name: name.into(),
        owner: owner.into(),
        description: description.into(),
        models: None,
        ip_allow: BTreeSet::new(),
        enabled: true,
    })
}

/// Three environments of one service (prod with fine-tuning and a larger limit), and a lone
/// workspace.
fn account() -> State {
    let mut resources = vec![user("alice"), user("bob")];
    for (env, rpm) in [("dev", 100), ("test", 200), ("prod", 600)] {
        let name = format!("chatbot-{env}");
        resources.push(ws(&name));
        resources.push(perm(&name, "qwen-plus", env == "prod"));
        resources.push(limit(&name, "qwen-plus", rpm));
        resources.push(member(&name, "alice"));
        resources.push(key(&name, "backend", "alice", &format!("chatbot {env}")));
    }
    resources.push(ws("billing"));
    resources.push(member("billing", "bob"));
    resources.into_iter().collect()
}

fn options() -> Options {
    Options {
        environments: DEFAULT_ENVIRONMENTS.iter().map(|e| e.to_string()).collect(),
        ..Options::default()
    }
}

fn layout() -> Layout {
    Layout {
        project: Some(write::Project {
            name: "imported".into(),
            backend: "local".into(),
            state: None,
            endpoint: None,
        }),
        default_region: Some("cn-beijing".into()),
        backend: "local".into(),
        ..Layout::default()
    }
}

/// The written files loaded as a config: its desired state, or the diagnostics' messages.
fn load(files: &Files) -> Result<State, Vec<String>> {
    let all: Vec<(std::path::PathBuf, String)> = files
        .files
        .iter()
        .map(|(p, t)| (std::path::PathBuf::from(p), t.clone()))
        .collect();
    let toml = all
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "toml"))
        .cloned()
        .collect();
    let extra = all.clone();
    let sources = SourceSet::new(
        "<import>",
        toml,
        std::sync::Arc::new(move |path: &std::path::Path, _| {
            extra
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }),
    );
    let loaded = config::load(sources);
    match loaded.config {
        Some(c) => Ok(c.desired),
        None => Err(loaded
            .diagnostics
            .iter()
            .map(|d| format!("{d:?}"))
            .collect()),
    }
}

#[test]
fn three_environments_fold_into_one_declaration_with_overrides_where_they_differ() {
    let live = account();
    let imported = import(&live, &options());
    let names: Vec<&str> = imported
        .workspaces
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(names, ["billing", "chatbot-{env}"]);
    let chatbot = &imported.workspaces[1];
    assert_eq!(chatbot.environments, ["dev", "test", "prod"]);
    // Members are the same everywhere: no override of them.
    assert!(chatbot.overrides.values().all(|o| o.members.is_none()));
    // The key's description differs by the environment token only: `{env}` in the base.
    assert_eq!(chatbot.fields.api_keys[0].description, "chatbot {env}");
    assert!(chatbot.overrides.values().all(|o| o.api_keys.is_none()));
    // Only prod fine-tunes.
    let with_models: Vec<&String> = chatbot
        .overrides
        .iter()
        .filter(|(_, o)| o.models.is_some())
        .map(|(e, _)| e)
        .collect();
    assert_eq!(with_models, ["prod"]);

    let files = write::render(&imported, &layout());
    let text = &files
        .files
        .iter()
        .find(|(p, _)| p == "workspaces.toml")
        .unwrap()
        .1;
    assert!(text.contains("name = \"chatbot-{env}\""), "{text}");
    assert!(text.contains("[workspace.overrides.prod]"), "{text}");
    assert!(
        text.contains("# 100% of the largest qwen-plus limit (600 requests/minute)"),
        "{text}"
    );
    assert!(
        text.contains("# 17% of the largest qwen-plus limit (600 requests/minute)"),
        "{text}"
    );
    assert_eq!(load(&files), Ok(live), "the files declare the live state");
}

#[test]
fn workspaces_of_different_shapes_are_not_folded() {
    let mut live = account();
    live.insert(perm("chatbot-test", "qwen-max", false));
    let imported = import(&live, &options());
    let names: Vec<&str> = imported
        .workspaces
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    // dev and prod still share a shape; test stands alone.
    assert_eq!(names, ["billing", "chatbot-{env}", "chatbot-test"]);
    assert_eq!(imported.workspaces[1].environments, ["dev", "prod"]);
    assert_eq!(load(&write::render(&imported, &layout())), Ok(live));
}

#[test]
fn select_picks_objects_through_anything_in_them_and_adoption_skips_what_is_declared() {
    let live = account();
    let picked = import(
        &live,
        &Options {
            select: vec![glob::Glob::new("workspace.*.member.bob")],
            ..options()
        },
    );
    let names: Vec<&str> = picked.workspaces.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["billing"]);
    assert!(picked.declarations.users.is_empty());

    let declared: BTreeSet<Address> = [
        Address::Workspace {
            name: "chatbot-dev".into(),
        },
        Address::RamUser {
            name: "alice".into(),
        },
    ]
    .into();
    let adopted = import(
        &live,
        &Options {
            declared,
            ..options()
        },
    );
    let names: Vec<&str> = adopted.workspaces.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["billing", "chatbot-{env}"]);
    assert_eq!(adopted.workspaces[1].environments, ["test", "prod"]);
    let users: Vec<&str> = adopted
        .declarations
        .users
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(users, ["bob"]);
}

#[test]
fn keys_with_an_unknown_owner_are_noted_not_written() {
    let mut live = account();
    live.insert(key("billing", "ops", ApiKey::UNKNOWN_OWNER, ""));
    let imported = import(&live, &options());
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("workspace.billing.apikey.ops")),
        "{:?}",
        imported.notes
    );
    let billing = &imported.workspaces[0];
    assert!(billing.fields.api_keys.is_empty());
}

#[test]
fn roles_and_custom_policies_round_trip_through_short_trust_and_json_files() {
    let mut live = account();
    let doc = serde_json::json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["sfm:Get*"], "Resource": "*"}]});
    live.insert(Resource::RamPolicy(RamPolicy {
        name: "sfm-read".into(),
        description: Some("read indexes".into()),
        document: doc.clone(),
    }));
    live.insert(Resource::RamRole(RamRole {
        name: "pai-runner".into(),
        description: None,
        trust_policy: serde_json::json!({"Version": "1", "Statement": [{
            "Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"Service": ["pai.aliyuncs.com"]}}]}),
        max_session_duration: 7200,
    }));
    live.insert(Resource::RamRole(RamRole {
        name: "odd-trust".into(),
        description: None,
        trust_policy: serde_json::json!({"Version": "1", "Statement": [{
            "Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"Service": ["pai.aliyuncs.com"]},
            "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]}),
        max_session_duration: 3600,
    }));
    for (principal, policy, kind) in [
        (
            Principal::User("alice".into()),
            "sfm-read",
            PolicyType::Custom,
        ),
        (
            Principal::Role("pai-runner".into()),
            "AliyunPAIFullAccess",
            PolicyType::System,
        ),
        (
            Principal::User("bob".into()),
            "AliyunSomethingNew",
            PolicyType::System,
        ),
    ] {
        live.insert(Resource::Attachment(Attachment {
            principal,
            policy: policy.into(),
            policy_type: kind,
        }));
    }
    let files = write::render(&import(&live, &options()), &layout());
    let paths: Vec<&str> = files.files.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"policies/sfm-read.json"), "{paths:?}");
    assert!(paths.contains(&"trust/odd-trust.json"), "{paths:?}");
    assert!(!paths.contains(&"trust/pai-runner.json"), "{paths:?}");
    assert_eq!(load(&files), Ok(live));
}

#[test]
fn per_environment_names_become_env_placeholders_and_expand_back() {
    let mut live = State::default();
    for env in ["dev", "prod"] {
        let name = format!("search-{env}");
        live.insert(ws(&name));
        live.insert(perm(&name, "qwen-max", false));
        live.insert(Resource::RamRole(RamRole {
            name: format!("search-{env}-ci"),
            description: None,
            trust_policy: serde_json::json!({"Version": "1", "Statement": [{
                "Action": "sts:AssumeRole", "Effect": "Allow",
                "Principal": {"Service": ["pai.aliyuncs.com"]}}]}),
            max_session_duration: 3600,
        }));
        live.insert(Resource::Member(Member {
            workspace: name.clone(),
            principal: Principal::Role(format!("search-{env}-ci")),
            administrator: true,
            pages: BTreeSet::new(),
        }));
        // Per second, to check the rate survives the trip.
        live.insert(Resource::ModelLimit(ModelLimit {
            workspace: name,
            model: "qwen-max".into(),
            requests: 5,
            request_period: 1,
            tokens: Some(1000),
            usage_period: Some(1),
        }));
    }
    let imported = import(&live, &options());
    assert_eq!(imported.workspaces.len(), 1);
    let search = &imported.workspaces[0];
    assert_eq!(search.name, "search-{env}");
    assert_eq!(
        search.fields.members[0].principal,
        Principal::Role("search-{env}-ci".into())
    );
    assert!(search.overrides.is_empty(), "{:?}", search.overrides);
    let files = write::render(&imported, &layout());
    let text = &files
        .files
        .iter()
        .find(|(p, _)| p == "workspaces.toml")
        .unwrap()
        .1;
    assert!(
        text.contains("requests_per_second = 5, tokens_per_second = 1000"),
        "{text}"
    );
    assert_eq!(load(&files), Ok(live));
}

#[test]
fn a_limit_over_another_period_is_noted_not_written() {
    let mut live = account();
    live.insert(Resource::ModelLimit(ModelLimit {
        workspace: "billing".into(),
        model: "qwen-plus".into(),
        requests: 10,
        request_period: 3600,
        tokens: None,
        usage_period: None,
    }));
    let imported = import(&live, &options());
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("`workspace.billing.limit.qwen-plus` allows 10 requests per 3600")),
        "{:?}",
        imported.notes
    );
    assert!(imported.workspaces[0].fields.limits.is_empty());
}
