//! Tests of the store: platform rules, ids, atomicity, locking and the ledger.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::*;

fn store() -> Store {
    Store::open_in_memory().unwrap()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn user(name: &str) -> RamUser {
    RamUser {
        name: name.to_string(),
        display_name: None,
        comments: None,
    }
}

fn policy(name: &str, action: &str) -> RamPolicy {
    RamPolicy {
        name: name.to_string(),
        description: Some("test".to_string()),
        document: json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": "*"}
        ]}),
    }
}

fn grant(model: &str, inference: bool) -> ModelGrant {
    ModelGrant {
        model: model.to_string(),
        inference,
        fine_tune: false,
        deploy: false,
    }
}

fn limit(model: &str) -> LimitSpec {
    LimitSpec {
        model: model.to_string(),
        requests: 600,
        request_period: 60,
        tokens: Some(100_000),
        usage_period: Some(60),
    }
}

fn member(name: &str) -> MemberSpec {
    MemberSpec {
        principal: Principal::User(name.to_string()),
        administrator: false,
        pages: set(&["Playground-FullAccess"]),
    }
}

fn new_key(workspace_id: &str, name: &str, owner: &str) -> NewApiKey {
    NewApiKey {
        workspace_id: workspace_id.to_string(),
        name: name.to_string(),
        owner: owner.to_string(),
        description: String::new(),
        models: None,
        ip_allow: BTreeSet::new(),
        enabled: true,
    }
}

/// A sub-workspace in cn-beijing that authorizes `qwen-plus` for inference.
fn sub_workspace(s: &mut Store, name: &str) -> String {
    let id = s.create_workspace(name, "cn-beijing").unwrap();
    s.set_model_permissions(&id, &[grant("qwen-plus", true)], WriteMode::Create)
        .unwrap();
    id
}

fn is_refused(r: Result<impl std::fmt::Debug, BackendError>) -> String {
    match r {
        Err(BackendError::Refused(m)) => m,
        other => panic!("expected Refused, got {other:?}"),
    }
}

fn is_conflict(r: Result<impl std::fmt::Debug, BackendError>) -> String {
    match r {
        Err(BackendError::Conflict(m)) => m,
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn is_not_found(r: Result<impl std::fmt::Debug, BackendError>) -> String {
    match r {
        Err(BackendError::NotFound(m)) => m,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn is_invalid(r: Result<impl std::fmt::Debug, BackendError>) -> String {
    match r {
        Err(BackendError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn is_workspace_id(id: &str) -> bool {
    id.len() == 19
        && id.starts_with("ws-")
        && id[3..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[test]
fn every_region_has_a_default_workspace_from_the_start() {
    let s = store();
    let all = s.list_workspaces(None).unwrap();
    assert_eq!(all.len(), MODEL_STUDIO_REGIONS.len());
    for region in MODEL_STUDIO_REGIONS {
        let ws = s.default_workspace(region).unwrap();
        assert!(ws.is_default);
        assert_eq!(ws.name, format!("default-{region}"));
        assert_eq!(ws.region, *region);
        assert!(is_workspace_id(&ws.id), "{}", ws.id);
        assert!(ws.gmt_create > 1_700_000_000_000);
    }
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(s.meta("created_at").unwrap().is_some());
}

#[test]
fn reopening_a_file_keeps_its_data_and_does_not_reseed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/state.db");
    let first_default = {
        let mut s = Store::open(&path).unwrap();
        s.create_workspace("team-a", "cn-beijing").unwrap();
        s.default_workspace("cn-beijing").unwrap().id
    };
    let s = Store::open(&path).unwrap();
    assert_eq!(s.default_workspace("cn-beijing").unwrap().id, first_default);
    assert_eq!(s.list_workspaces(None).unwrap().len(), 7);
    assert_eq!(s.list_workspaces(Some("cn-beijing")).unwrap().len(), 2);
    let mode: String = s
        .connection()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn sub_workspaces_get_platform_ids_and_unique_names() {
    let mut s = store();
    let id = s.create_workspace("team-a", "us-east-1").unwrap();
    assert!(is_workspace_id(&id));
    let ws = s.workspace(&id).unwrap();
    assert_eq!(
        (ws.name.as_str(), ws.region.as_str(), ws.is_default),
        ("team-a", "us-east-1", false)
    );
    is_conflict(s.create_workspace("team-a", "cn-beijing"));
    is_conflict(s.create_workspace("default-cn-beijing", "cn-beijing"));
    let m = is_invalid(s.create_workspace("team-b", "mars-north-1"));
    assert!(m.contains("not a Model Studio region"), "{m}");
}

#[test]
fn default_workspaces_cannot_be_deleted() {
    let mut s = store();
    let id = s.default_workspace("cn-beijing").unwrap().id;
    let m = is_refused(s.delete_workspace(&id));
    assert!(
        m.starts_with("failed to delete workspace `default-cn-beijing`"),
        "{m}"
    );
    assert!(s.workspace(&id).is_ok());
}

#[test]
fn default_workspaces_take_no_model_permissions_or_limits() {
    let mut s = store();
    let id = s.default_workspace("ap-southeast-1").unwrap().id;
    let m =
        is_refused(s.set_model_permissions(&id, &[grant("qwen-plus", true)], WriteMode::Upsert));
    assert!(m.contains("default workspace"), "{m}");
    is_refused(s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Upsert));
    assert!(s.list_model_permissions(Some(&id)).unwrap().is_empty());
    assert!(s.list_model_limits(Some(&id)).unwrap().is_empty());
}

#[test]
fn deleting_a_workspace_with_keys_is_refused_until_they_are_gone() {
    let mut s = store();
    let id = sub_workspace(&mut s, "team-a");
    s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Create)
        .unwrap();
    s.add_member(&id, &member("alice")).unwrap();
    let key = s.create_api_key(&new_key(&id, "ci", "alice")).unwrap();
    let m = is_refused(s.delete_workspace(&id));
    assert!(
        m.contains("API Key exists. Please clear them first."),
        "{m}"
    );
    assert!(m.contains("hint:"), "{m}");
    s.delete_api_key(key.id).unwrap();
    s.delete_workspace(&id).unwrap();
    is_not_found(s.workspace(&id));
    // Its permissions, limits and members went with it.
    assert!(s.list_model_permissions(None).unwrap().is_empty());
    assert!(s.list_model_limits(None).unwrap().is_empty());
    assert!(s.list_members(None).unwrap().is_empty());
    is_not_found(s.delete_workspace(&id));
}

#[test]
fn limits_need_the_model_authorized_for_inference() {
    let mut s = store();
    let id = s.create_workspace("team-a", "cn-beijing").unwrap();
    let m = is_refused(s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Create));
    assert!(
        m.contains("has not authorized model `qwen-plus` for inference"),
        "{m}"
    );
    // Fine-tune alone is not inference.
    s.set_model_permissions(
        &id,
        &[ModelGrant {
            fine_tune: true,
            ..grant("qwen-plus", false)
        }],
        WriteMode::Create,
    )
    .unwrap();
    is_refused(s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Create));
    s.set_model_permissions(&id, &[grant("qwen-plus", true)], WriteMode::Update)
        .unwrap();
    s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Create)
        .unwrap();
    let limits = s.list_model_limits(Some(&id)).unwrap();
    assert_eq!(limits, vec![(id.clone(), limit("qwen-plus"))]);
}

#[test]
fn limits_are_validated_and_written_by_mode() {
    let mut s = store();
    let id = sub_workspace(&mut s, "team-a");
    is_not_found(s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Update));
    s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Upsert)
        .unwrap();
    is_conflict(s.set_model_limit(&id, &limit("qwen-plus"), WriteMode::Create));
    let unlimited_tokens = LimitSpec {
        tokens: None,
        usage_period: None,
        ..limit("qwen-plus")
    };
    s.set_model_limit(&id, &unlimited_tokens, WriteMode::Update)
        .unwrap();
    assert_eq!(
        s.list_model_limits(Some(&id)).unwrap()[0].1,
        unlimited_tokens
    );
    is_invalid(s.set_model_limit(
        &id,
        &LimitSpec {
            usage_period: None,
            ..limit("qwen-plus")
        },
        WriteMode::Upsert,
    ));
    s.delete_model_limit(&id, "qwen-plus").unwrap();
    is_not_found(s.delete_model_limit(&id, "qwen-plus"));
}

#[test]
fn a_failed_change_leaves_nothing_behind() {
    let mut s = store();
    let id = sub_workspace(&mut s, "team-a");
    // The second grant conflicts, so the first must not be written either.
    is_conflict(s.set_model_permissions(
        &id,
        &[grant("qwen-max", true), grant("qwen-plus", true)],
        WriteMode::Create,
    ));
    let models: Vec<String> = s
        .list_model_permissions(Some(&id))
        .unwrap()
        .into_iter()
        .map(|(_, g)| g.model)
        .collect();
    assert_eq!(models, vec!["qwen-plus"]);
}

#[test]
fn keys_can_only_be_scoped_to_authorized_models_in_sub_workspaces() {
    let mut s = store();
    let id = sub_workspace(&mut s, "team-a");
    let scoped = |models: &[&str]| NewApiKey {
        models: Some(set(models)),
        ..new_key(&id, "ci", "alice")
    };
    let m = is_refused(s.create_api_key(&scoped(&["qwen-plus", "qwen-max"])));
    assert!(m.contains("`qwen-max`"), "{m}");
    let key = s.create_api_key(&scoped(&["qwen-plus"])).unwrap();
    let change = ApiKeyChange {
        description: "x".to_string(),
        models: Some(set(&["qwen-max"])),
        ip_allow: BTreeSet::new(),
        enabled: None,
    };
    is_refused(s.update_api_key(key.id, &change));
    assert_eq!(s.api_key(key.id).unwrap().models, Some(set(&["qwen-plus"])));
    // The default workspace calls every model.
    let default = s.default_workspace("cn-beijing").unwrap().id;
    s.create_api_key(&NewApiKey {
        models: Some(set(&["qwen-max"])),
        ..new_key(&default, "all", "alice")
    })
    .unwrap();
}

#[test]
fn ip_allow_lists_only_in_cn_beijing() {
    let mut s = store();
    let sg = s.create_workspace("team-sg", "ap-southeast-1").unwrap();
    let with_ips = |ws: &str| NewApiKey {
        ip_allow: set(&["10.0.0.0/8"]),
        ..new_key(ws, "ci", "alice")
    };
    let m = is_refused(s.create_api_key(&with_ips(&sg)));
    assert!(m.contains("only available in `cn-beijing`"), "{m}");
    let bj = s.create_workspace("team-bj", "cn-beijing").unwrap();
    let key = s.create_api_key(&with_ips(&bj)).unwrap();
    assert_eq!(s.api_key(key.id).unwrap().ip_allow, set(&["10.0.0.0/8"]));
    let plain = s.create_api_key(&new_key(&sg, "ci", "alice")).unwrap();
    let change = ApiKeyChange {
        description: String::new(),
        models: None,
        ip_allow: set(&["1.2.3.4/32"]),
        enabled: None,
    };
    is_refused(s.update_api_key(plain.id, &change));
}

#[test]
fn keys_keep_only_a_hash_and_a_masked_preview_of_the_secret() {
    let mut s = store();
    let id = s.create_workspace("team-a", "cn-beijing").unwrap();
    let issued = s.create_api_key(&new_key(&id, "ci", "alice")).unwrap();
    assert!(issued.id > 1_858_000, "{}", issued.id);
    assert!(issued.secret.starts_with("sk-ws-"));
    let key = s.api_key(issued.id).unwrap();
    assert_eq!(key.secret_sha256, sha256_hex(&issued.secret));
    assert!(key.secret_preview.contains("*****"));
    assert!(
        !key.secret_preview
            .contains(&issued.secret[9..issued.secret.len() - 4])
    );
    // The secret appears nowhere in the database.
    let dump: String = s
        .connection()
        .query_row(
            "SELECT group_concat(coalesce(secret_sha256, '') || secret_preview || name) FROM \
                ms_api_key",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(&issued.secret));
    assert_eq!(
        s.api_key_by_secret(&issued.secret).unwrap().unwrap().id,
        issued.id
    );
    let reset = s.reset_api_key(issued.id).unwrap();
    assert_ne!(reset.secret, issued.secret);
    assert!(s.api_key_by_secret(&issued.secret).unwrap().is_none());
    assert_eq!(
        s.api_key_by_secret(&reset.secret).unwrap().unwrap().id,
        issued.id
    );
    let second = s.create_api_key(&new_key(&id, "other", "alice")).unwrap();
    assert_eq!(second.id, issued.id + 1);
    is_conflict(s.create_api_key(&new_key(&id, "ci", "bob")));
}

#[test]
fn removing_a_member_disables_their_keys_and_re_adding_brings_back_only_those() {
    let mut s = store();
    let a = sub_workspace(&mut s, "team-a");
    let b = sub_workspace(&mut s, "team-b");
    s.add_member(&a, &member("alice")).unwrap();
    s.add_member(&b, &member("alice")).unwrap();
    let live = s.create_api_key(&new_key(&a, "live", "alice")).unwrap().id;
    let off = s.create_api_key(&new_key(&a, "off", "alice")).unwrap().id;
    let bobs = s.create_api_key(&new_key(&a, "bobs", "bob")).unwrap().id;
    let other_ws = s.create_api_key(&new_key(&b, "live", "alice")).unwrap().id;
    s.disable_api_key(off).unwrap();

    s.remove_member(&a, &Principal::User("alice".into()))
        .unwrap();
    let k = s.api_key(live).unwrap();
    assert!(!k.enabled);
    assert_eq!(k.disabled_reason, Some(DisabledReason::MemberRemoved));
    assert_eq!(
        s.api_key(off).unwrap().disabled_reason,
        Some(DisabledReason::Manual)
    );
    assert!(
        s.api_key(bobs).unwrap().enabled,
        "other owners are unaffected"
    );
    assert!(
        s.api_key(other_ws).unwrap().enabled,
        "other workspaces are unaffected"
    );
    let m = is_refused(s.enable_api_key(live));
    assert!(m.contains("add `alice` back"), "{m}");

    s.add_member(&a, &member("alice")).unwrap();
    let k = s.api_key(live).unwrap();
    assert!(k.enabled);
    assert_eq!(k.disabled_reason, None);
    assert!(
        !s.api_key(off).unwrap().enabled,
        "a manually disabled key stays disabled"
    );
    s.enable_api_key(off).unwrap();
    assert!(s.api_key(off).unwrap().enabled);
}

#[test]
fn members_are_users_or_roles_and_are_written_once() {
    let mut s = store();
    let a = s.create_workspace("team-a", "cn-beijing").unwrap();
    s.add_member(&a, &member("alice")).unwrap();
    is_conflict(s.add_member(&a, &member("alice")));
    let role = MemberSpec {
        principal: Principal::Role("ops".into()),
        administrator: true,
        pages: set(&["Administrator"]),
    };
    s.add_member(&a, &role).unwrap();
    is_invalid(s.add_member(
        &a,
        &MemberSpec {
            principal: Principal::Group("devs".into()),
            ..member("x")
        },
    ));
    let updated = MemberSpec {
        administrator: true,
        ..member("alice")
    };
    s.update_member(&a, &updated).unwrap();
    is_not_found(s.update_member(&a, &member("bob")));
    is_not_found(s.remove_member(&a, &Principal::User("bob".into())));
    let members = s.list_members(Some(&a)).unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&(a.clone(), updated)));
    assert!(members.contains(&(a.clone(), role)));
}

#[test]
fn deleting_a_ram_user_disables_their_keys_for_good() {
    let mut s = store();
    let a = sub_workspace(&mut s, "team-a");
    s.create_user(&user("alice")).unwrap();
    s.add_member(&a, &member("alice")).unwrap();
    let key = s.create_api_key(&new_key(&a, "ci", "alice")).unwrap().id;
    let pai = s
        .create_pai_workspace(&PaiWorkspace {
            name: "lang_prod".into(),
            region: "cn-beijing".into(),
            display_name: None,
            description: String::new(),
            env_types: vec!["prod".into()],
        })
        .unwrap();
    s.create_pai_member(&pai, "alice", &set(&["PAI.AlgoDeveloper"]))
        .unwrap();

    s.delete_user("alice").unwrap();
    let k = s.api_key(key).unwrap();
    assert!(!k.enabled);
    assert_eq!(k.disabled_reason, Some(DisabledReason::OwnerDeleted));
    assert!(
        s.list_members(Some(&a)).unwrap().is_empty(),
        "memberships go with the user"
    );
    assert!(s.list_pai_members(Some(&pai)).unwrap().is_empty());

    // A new user of the same name does not bring the key back.
    s.create_user(&user("alice")).unwrap();
    s.add_member(&a, &member("alice")).unwrap();
    assert!(!s.api_key(key).unwrap().enabled);
    let m = is_refused(s.enable_api_key(key));
    assert!(m.contains("disabled for good"), "{m}");
    let change = ApiKeyChange {
        description: String::new(),
        models: None,
        ip_allow: BTreeSet::new(),
        enabled: Some(true),
    };
    is_refused(s.update_api_key(key, &change));
    is_not_found(s.delete_user("nobody"));
}

#[test]
fn a_ram_user_in_groups_or_with_policies_cannot_be_deleted() {
    let mut s = store();
    s.create_user(&user("alice")).unwrap();
    s.create_group(&RamGroup {
        name: "devs".into(),
        comments: None,
    })
    .unwrap();
    s.add_user_to_group("devs", "alice").unwrap();
    let m = is_conflict(s.delete_user("alice"));
    assert!(m.contains("DeleteConflict.User.Group"), "{m}");
    s.remove_user_from_group("devs", "alice").unwrap();

    let alice = Principal::User("alice".into());
    s.attach_policy(&alice, "AliyunBailianFullAccess", PolicyType::System)
        .unwrap();
    let m = is_conflict(s.delete_user("alice"));
    assert!(m.contains("DeleteConflict.User.Policy"), "{m}");
    s.detach_policy(&alice, "AliyunBailianFullAccess", PolicyType::System)
        .unwrap();
    s.delete_user("alice").unwrap();
    assert!(s.list_users().unwrap().is_empty());
}

#[test]
fn groups_and_roles_refuse_deletion_while_in_use() {
    let mut s = store();
    s.create_user(&user("alice")).unwrap();
    s.create_group(&RamGroup {
        name: "devs".into(),
        comments: Some("developers".into()),
    })
    .unwrap();
    is_conflict(s.create_group(&RamGroup {
        name: "devs".into(),
        comments: None,
    }));
    s.add_user_to_group("devs", "alice").unwrap();
    is_conflict(s.add_user_to_group("devs", "alice"));
    is_not_found(s.add_user_to_group("devs", "bob"));
    is_not_found(s.add_user_to_group("ops", "alice"));
    is_conflict(s.delete_group("devs"));
    s.remove_user_from_group("devs", "alice").unwrap();
    is_not_found(s.remove_user_from_group("devs", "alice"));
    let devs = Principal::Group("devs".into());
    s.attach_policy(&devs, "ReadOnlyAccess", PolicyType::System)
        .unwrap();
    is_conflict(s.delete_group("devs"));
    s.detach_policy(&devs, "ReadOnlyAccess", PolicyType::System)
        .unwrap();
    s.delete_group("devs").unwrap();

    let role = RamRole {
        name: "ops".into(),
        description: None,
        trust_policy: json!({"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::123:root"]}}]}),
        max_session_duration: 3600,
    };
    s.create_role(&role).unwrap();
    is_conflict(s.create_role(&role));
    is_invalid(s.create_role(&RamRole {
        name: "short".into(),
        max_session_duration: 60,
        ..role.clone()
    }));
    let ops = Principal::Role("ops".into());
    s.attach_policy(&ops, "AliyunOSSFullAccess", PolicyType::System)
        .unwrap();
    let m = is_conflict(s.delete_role("ops"));
    assert!(m.contains("DeleteConflict.Role.Policy"), "{m}");
    s.detach_policy(&ops, "AliyunOSSFullAccess", PolicyType::System)
        .unwrap();
    s.delete_role("ops").unwrap();
    is_not_found(s.delete_role("ops"));
}

#[test]
fn attaching_a_policy_that_does_not_exist_fails() {
    let mut s = store();
    s.create_user(&user("alice")).unwrap();
    let alice = Principal::User("alice".into());
    let m = is_not_found(s.attach_policy(&alice, "AliyunBailianSuperAccess", PolicyType::System));
    assert!(m.contains("EntityNotExist.Policy"), "{m}");
    is_not_found(s.attach_policy(&alice, "my-policy", PolicyType::Custom));
    let m = is_not_found(s.attach_policy(&alice, "AliyunBailianFullAccess", PolicyType::Custom));
    assert!(m.contains("policy type `System`"), "{m}");
    is_not_found(s.attach_policy(
        &Principal::User("bob".into()),
        "AliyunBailianFullAccess",
        PolicyType::System,
    ));
    for name in SYSTEM_POLICIES {
        s.attach_policy(&alice, name, PolicyType::System).unwrap();
    }
    is_conflict(s.attach_policy(&alice, "AdministratorAccess", PolicyType::System));
    s.create_policy(&policy("my-policy", "sfm:*")).unwrap();
    s.attach_policy(&alice, "my-policy", PolicyType::Custom)
        .unwrap();
    let m = is_conflict(s.delete_policy("my-policy"));
    assert!(m.contains("user `alice`"), "{m}");
    assert_eq!(
        s.list_attachments().unwrap().len(),
        SYSTEM_POLICIES.len() + 1
    );
    is_not_found(s.detach_policy(&alice, "never-attached", PolicyType::Custom));
}

#[test]
fn policy_updates_add_default_versions_and_rotate_the_oldest_out() {
    let mut s = store();
    s.create_policy(&policy("p", "sfm:Get0")).unwrap();
    is_conflict(s.create_policy(&policy("p", "sfm:Get0")));
    is_conflict(s.create_policy(&policy("AliyunBailianFullAccess", "sfm:Get0")));
    is_invalid(s.create_policy(&policy("bad_name", "sfm:Get0")));
    let p = s.policy("p").unwrap();
    assert_eq!(p.default_version, "v1");

    // Same document: no new version, only the description.
    let mut same = policy("p", "sfm:Get0");
    same.description = Some("new words".into());
    s.update_policy(&same).unwrap();
    assert_eq!(s.list_policy_versions("p").unwrap().len(), 1);
    assert_eq!(
        s.policy("p").unwrap().description.as_deref(),
        Some("new words")
    );

    for i in 1..=6 {
        s.update_policy(&policy("p", &format!("sfm:Get{i}")))
            .unwrap();
    }
    let versions = s.list_policy_versions("p").unwrap();
    let ids: Vec<&str> = versions.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(ids, ["v3", "v4", "v5", "v6", "v7"]);
    assert!(versions.last().unwrap().is_default);
    assert_eq!(versions.iter().filter(|v| v.is_default).count(), 1);
    let current = s.policy("p").unwrap();
    assert_eq!(current.default_version, "v7");
    assert_eq!(current.document, policy("p", "sfm:Get6").document);

    // Without rotation the limit is a conflict; the default version cannot be deleted.
    let m = is_conflict(s.create_policy_version("p", &json!({"Version": "1"}), false, false));
    assert!(m.contains("LimitExceeded.Policy.Version"), "{m}");
    is_conflict(s.delete_policy_version("p", "v7"));
    // With an older default, rotation skips it and drops the oldest non-default.
    s.set_default_policy_version("p", "v3").unwrap();
    s.create_policy_version("p", &json!({"Version": "1"}), false, true)
        .unwrap();
    let ids: Vec<String> = s
        .list_policy_versions("p")
        .unwrap()
        .into_iter()
        .map(|v| v.version_id)
        .collect();
    assert_eq!(ids, ["v3", "v5", "v6", "v7", "v8"]);
    s.delete_policy_version("p", "v5").unwrap();
    is_not_found(s.set_default_policy_version("p", "v5"));
    s.delete_policy("p").unwrap();
    is_not_found(s.policy("p"));
    is_not_found(s.list_policy_versions("p"));
}

#[test]
fn pai_workspaces_and_members_follow_the_platform() {
    let mut s = store();
    let ws = PaiWorkspace {
        name: "lang_prod".into(),
        region: "cn-hangzhou".into(),
        display_name: Some("LangStudio prod".into()),
        description: "prod".into(),
        env_types: vec!["dev".into(), "prod".into()],
    };
    let id = s.create_pai_workspace(&ws).unwrap();
    assert!(id.parse::<u64>().is_ok(), "{id}");
    is_conflict(s.create_pai_workspace(&ws));
    is_invalid(s.create_pai_workspace(&PaiWorkspace {
        name: "9starts-with-digit".into(),
        ..ws.clone()
    }));
    is_invalid(s.create_pai_workspace(&PaiWorkspace {
        name: "other".into(),
        env_types: vec!["dev".into()],
        ..ws.clone()
    }));
    let member = s
        .create_pai_member(&id, "alice", &set(&["PAI.AlgoDeveloper"]))
        .unwrap();
    is_conflict(s.create_pai_member(&id, "alice", &set(&["PAI.AlgoDeveloper"])));
    is_invalid(s.create_pai_member(&id, "bob", &set(&["PAI.Wizard"])));
    is_invalid(s.create_pai_member(&id, "bob", &BTreeSet::new()));
    s.set_pai_member_roles(&id, &member, &set(&["PAI.WorkspaceAdmin"]))
        .unwrap();
    let members = s.list_pai_members(Some(&id)).unwrap();
    assert_eq!(members[0].roles, set(&["PAI.WorkspaceAdmin"]));
    s.update_pai_workspace(&id, None, "changed").unwrap();
    let read = s.pai_workspace_by_name("lang_prod").unwrap();
    assert_eq!(
        (read.display_name, read.description.as_str()),
        (None, "changed")
    );
    s.delete_pai_workspace(&id).unwrap();
    assert!(s.list_pai_members(None).unwrap().is_empty());
    is_not_found(s.delete_pai_workspace(&id));
    is_not_found(s.delete_pai_workspace("not-a-number"));
}

#[test]
fn duplicate_users_and_bad_names_are_rejected() {
    let mut s = store();
    let id = s.create_user(&user("alice.smith")).unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_digit()));
    let m = is_conflict(s.create_user(&user("alice.smith")));
    assert!(m.contains("EntityAlreadyExists.User"), "{m}");
    is_invalid(s.create_user(&user("alice smith")));
    is_invalid(s.create_user(&user("")));
    is_not_found(s.update_user(&user("bob")));
    let renamed = RamUser {
        display_name: Some("Alice".into()),
        ..user("alice.smith")
    };
    s.update_user(&renamed).unwrap();
    assert_eq!(
        s.list_users().unwrap()[0].display_name.as_deref(),
        Some("Alice")
    );
}

#[test]
fn the_ledger_records_applies_and_acknowledgements() {
    let mut s = store();
    assert!(s.last_apply().unwrap().is_none());
    let t1 = UNIX_EPOCH + Duration::from_millis(1_774_338_222_000);
    let t2 = t1 + Duration::from_secs(60);
    s.record_apply(Some("abc123"), r#"{"add": 1}"#, t1).unwrap();
    s.record_apply(None, r#"{"add": 0}"#, t2).unwrap();
    let last = s.last_apply().unwrap().unwrap();
    assert_eq!(
        last,
        ApplyRecord {
            commit: None,
            summary_json: r#"{"add": 0}"#.into(),
            time: t2
        }
    );
    is_invalid(s.record_apply(None, "not json", t2));

    s.ack(
        "workspace.a.member.alice",
        r#"{"kind": "workspace_member"}"#,
    )
    .unwrap();
    s.ack("workspace.a.member.bob", r#"{"v": 1}"#).unwrap();
    s.ack("workspace.a.member.bob", r#"{"v": 2}"#).unwrap();
    is_invalid(s.ack("workspace.a.member.carol", "{"));
    let acked = s.acked().unwrap();
    let pairs: Vec<(&str, &str)> = acked
        .iter()
        .map(|a| (a.address.as_str(), a.resource_json.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (
                "workspace.a.member.alice",
                r#"{"kind": "workspace_member"}"#
            ),
            ("workspace.a.member.bob", r#"{"v": 2}"#)
        ]
    );
    assert!(s.unack("workspace.a.member.bob").unwrap());
    assert!(!s.unack("workspace.a.member.bob").unwrap());
    assert_eq!(s.acked().unwrap().len(), 1);
}

#[test]
fn a_held_lock_gives_a_clear_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    // No waiting at all: the other connection holds the lock throughout, so the outcome does
    // not depend on how long a wait would have been.
    let mut s = Store::open_with_timeout(&path, Duration::ZERO).unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = s.create_workspace("team-a", "cn-beijing").unwrap_err();
    let BackendError::Locked(m) = err else {
        panic!("expected Locked, got {err:?}");
    };
    assert!(m.contains(&path.display().to_string()), "{m}");
    assert!(m.contains("another msctl process is applying"), "{m}");
    assert!(m.contains("hint:"), "{m}");
    // Reads still work in WAL mode while a writer holds the lock.
    assert_eq!(s.list_workspaces(None).unwrap().len(), 6);
    other.execute_batch("ROLLBACK").unwrap();
    s.create_workspace("team-a", "cn-beijing").unwrap();
}

#[test]
fn two_writers_on_one_file_never_corrupt_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Store::open(&path).unwrap();
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let path = path.clone();
            let start = std::sync::Arc::clone(&start);
            std::thread::spawn(move || {
                // Writers queue behind each other's lock (the wait is a hang guard), so every
                // write lands and the count is exact.
                let mut s =
                    Store::open_with_timeout(&path, crate::testing::harness::LOCK_WAIT).unwrap();
                start.wait();
                for i in 0..25 {
                    let name = format!("ws-{w}-{i}");
                    let id = s
                        .create_workspace(&name, "cn-beijing")
                        .unwrap_or_else(|e| panic!("`{name}` was not created: {e}"));
                    s.set_model_permissions(&id, &[grant("qwen-plus", true)], WriteMode::Create)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in writers {
        t.join().unwrap();
    }
    let s = Store::open(&path).unwrap();
    let check: String = s
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(s.list_workspaces(None).unwrap().len(), 6 + 2 * 25);
    assert_eq!(s.list_model_permissions(None).unwrap().len(), 2 * 25);
}

#[test]
fn opening_something_that_is_not_a_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(
        &path,
        "this is not sqlite, just text long enough to have a header........",
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    let BackendError::Transport(m) = err else {
        panic!("expected Transport, got {err:?}");
    };
    assert!(m.contains("is not an msctl state database"), "{m}");
    let err = Store::open(dir.path()).unwrap_err();
    let BackendError::Transport(m) = err else {
        panic!("expected Transport, got {err:?}");
    };
    assert!(m.starts_with("failed to open state database"), "{m}");
}

#[test]
fn a_newer_schema_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Store::open(&path)
        .unwrap()
        .connection()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let m = is_invalid(Store::open(&path));
    assert!(
        m.contains("schema version 99") && m.contains("upgrade msctl"),
        "{m}"
    );
}

#[test]
fn meta_values_round_trip() {
    let mut s = store();
    assert_eq!(s.meta("owner").unwrap(), None);
    s.set_meta("owner", "team").unwrap();
    s.set_meta("owner", "platform").unwrap();
    assert_eq!(s.meta("owner").unwrap().as_deref(), Some("platform"));
}

#[test]
fn masking_shows_only_the_ends() {
    assert_eq!(mask_secret("sk-ws-0123456789abcdef"), "sk-ws-012*****cdef");
    assert_eq!(mask_secret("short"), "*****");
}

#[test]
fn optional_filters_use_the_column_alone_when_given() {
    let sql = "SELECT a FROM t WHERE ?1 IS NULL OR ws = ?1 ORDER BY a";
    assert_eq!(
        super::optional_filter(sql, true),
        "SELECT a FROM t WHERE ws = ?1 ORDER BY a"
    );
    assert_eq!(
        super::optional_filter(sql, false),
        "SELECT a FROM t WHERE ?1 IS NULL ORDER BY a"
    );
    assert_eq!(super::optional_filter("SELECT 1", true), "SELECT 1");
}

// ---- The ledger store ------------------------------------------------------------------------

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn some_ledger() -> crate::backend::Ledger {
    let member = Resource::Member(Member {
        workspace: "chatbot-dev".into(),
        principal: Principal::Role("ops-role".into()),
        administrator: false,
        pages: ["Playground-FullAccess".to_string()].into(),
    });
    let mut ledger = crate::backend::Ledger::default();
    ledger.owned.insert(member.address());
    ledger.acknowledged.insert(member.address(), member);
    ledger
}

fn holder(id: &str) -> crate::backend::LockInfo {
    crate::backend::LockInfo {
        id: id.to_string(),
        host: "here".to_string(),
        pid: 7,
        started: 1,
        commit: None,
        command: "apply".to_string(),
    }
}

#[test]
fn a_ledger_store_holds_the_ledger_tables_alone_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut ledger_store = LedgerStore::open(&path).unwrap();
    assert_eq!(
        tables(ledger_store.connection()),
        ["ledger_ack", "ledger_apply", "meta", "msctl_lock"]
    );
    let ledger = some_ledger();
    ledger_store.save_ledger(&ledger).unwrap();
    assert_eq!(ledger_store.try_lock(&holder("a")).unwrap(), None);
    ledger_store
        .set_owed_secret("workspace.w.apikey.k", Some(Default::default()))
        .unwrap();
    drop(ledger_store);

    let mut again = LedgerStore::open(&path).unwrap();
    let mut expected = ledger;
    expected
        .owed_secrets
        .insert("workspace.w.apikey.k".to_string(), Default::default());
    assert_eq!(again.load_ledger().unwrap(), expected);
    assert_eq!(again.try_lock(&holder("b")).unwrap(), Some(holder("a")));
    assert_eq!(again.unlock("a").unwrap(), Some(holder("a")));
    assert_eq!(again.lock_holder().unwrap(), None);
}

#[test]
fn a_ledger_written_in_a_whole_platform_database_opens_as_a_ledger_store() {
    // msctl used to keep the aliyun ledger in a full platform database: such files still open.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let ledger = some_ledger();
    {
        let mut old = Store::open(&path).unwrap();
        old.ledger_db_mut().save_ledger(&ledger).unwrap();
        assert_eq!(old.ledger_db_mut().try_lock(&holder("a")).unwrap(), None);
    }
    let ledger_store = LedgerStore::open(&path).unwrap();
    assert_eq!(ledger_store.load_ledger().unwrap(), ledger);
    assert_eq!(ledger_store.lock_holder().unwrap(), Some(holder("a")));
    // And the platform database is still whole.
    assert_eq!(
        Store::open(&path).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn a_ledger_store_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = LedgerStore::open(&path).unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid(m) if m.contains("newer than this msctl understands")),
        "{err:?}"
    );
}

#[test]
fn the_aliyun_ledger_file_has_no_platform_schema_or_default_workspaces() {
    use crate::backend::Backend as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let backend = crate::backend::aliyun::AliyunBackend::new(
        crate::backend::aliyun::Credentials::new("a", "b"),
        None,
        [],
    )
    .with_ledger(&path);
    let ledger = some_ledger();
    backend.save_ledger(&ledger).unwrap();
    assert_eq!(backend.load_ledger().unwrap(), ledger);
    let conn = Connection::open(&path).unwrap();
    let names = tables(&conn);
    assert!(
        !names
            .iter()
            .any(|t| t.starts_with("ms_") || t.starts_with("ram_") || t.starts_with("pai_")),
        "{names:?}"
    );
    assert_eq!(names, ["ledger_ack", "ledger_apply", "meta", "msctl_lock"]);
}
