//! Tests of the differ: change detection, semantic documents, ownership, manual steps, warnings.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::model::PolicyType;
use crate::testing::*;

fn run(desired: &State, live: &State) -> Diff {
    diff(
        desired,
        live,
        &DiffOptions::default(),
        &Capabilities::full(),
    )
}

fn find<'a>(d: &'a Diff, address: &Address) -> &'a Change {
    d.changes
        .iter()
        .find(|c| &c.address == address)
        .unwrap_or_else(|| panic!("no change for {address}: {:#?}", d.changes))
}

fn actions(d: &Diff) -> Vec<(String, Action)> {
    d.changes
        .iter()
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

fn members_caps_missing() -> Capabilities {
    Capabilities {
        missing: [Capability::WorkspaceMembers].into(),
        ..Capabilities::default()
    }
}

#[test]
fn a_rich_state_against_itself_is_empty() {
    let state = rich_state();
    let d = run(&state, &state);
    assert_eq!(d.changes, vec![]);
    assert_eq!(d.unmanaged, vec![]);
    assert_eq!(d.warnings, Vec::<String>::new());
    assert_eq!(d.managed_live, state.len());
}

#[test]
fn create_update_replace_and_delete_are_detected() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(user("dave"));
    let mut bob = member("chatbot-prod", "bob", false);
    if let Resource::Member(m) = &mut bob {
        m.pages.insert("DataManagement-FullAccess".into());
    }
    desired.insert(bob.clone());
    desired.insert(key("chatbot-prod", "ci-bot", "bob", Some(&["qwen-plus"])));
    desired
        .resources
        .remove(&limit("chatbot-prod", "qwen-plus", 0).address());

    let d = run(&desired, &live);
    assert_eq!(
        actions(&d),
        vec![
            ("ram.user.dave".to_string(), Action::Create),
            (
                "workspace.chatbot-prod.limit.qwen-plus".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-prod.member.bob".to_string(),
                Action::Update
            ),
            (
                "workspace.chatbot-prod.apikey.ci-bot".to_string(),
                Action::Replace
            ),
        ]
    );

    let update = find(&d, &bob.address());
    assert_eq!(update.attributes.len(), 1);
    assert_eq!(update.attributes[0].name, "pages");
    assert_eq!(
        update.attributes[0].after,
        json!(["DataManagement-FullAccess", "Playground-FullAccess"])
    );
    assert!(!update.attributes[0].forces_replacement);

    let replace = find(&d, &key("chatbot-prod", "ci-bot", "", None).address());
    assert_eq!(replace.attributes.len(), 1);
    assert_eq!(replace.attributes[0].name, "owner");
    assert!(replace.attributes[0].forces_replacement);
    assert!(replace.before.is_some() && replace.after.is_some());

    let create = find(&d, &user("dave").address());
    assert_eq!(create.attributes.len(), 2, "every attribute of a create");
    assert!(create.attributes.iter().all(|a| a.before.is_null()));
}

#[test]
fn policy_documents_equal_semantically_are_no_change() {
    let live = rich_state();
    let mut desired = live.clone();
    // Key order, string versus one-element list, duplicates and list order all differ.
    desired.insert(role(
        "ops",
        json!({
            "Statement": [{
                "Principal": {"RAM": "acs:ram::1234:root"},
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:AssumeRole"],
            }],
            "Version": "1",
        }),
    ));
    desired.insert(policy(
        "sfm-create-index",
        json!({"Statement": [{"Resource": ["*"], "Action": ["sfm:CreateIndex"],
                              "Effect": "Allow"}], "Version": "1"}),
    ));
    assert_eq!(run(&desired, &live).changes, vec![]);

    // A real difference is still an update, flagged as a document.
    desired.insert(role("ops", trust_policy("9999")));
    let d = run(&desired, &live);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].action, Action::Update);
    assert!(d.changes[0].attributes[0].document);
}

#[test]
fn documents_equal_is_order_and_shape_insensitive_only() {
    let a = json!({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["oss:Get*", "oss:List*"], "Resource": "*",
         "Condition": {"StringEquals": {"oss:BucketTag/Product": "PaiLangStudio"}}},
        {"Effect": "Deny", "Action": "ram:*", "Resource": "*"}]});
    // Statement order is kept (policy::canonical); everything inside a statement is a set.
    let b = json!({"Statement": [
        {"Condition": {"StringEquals": {"oss:BucketTag/Product": ["PaiLangStudio"]}},
         "Resource": ["*"], "Action": ["oss:List*", "oss:Get*", "oss:List*"], "Effect": "Allow"},
        {"Resource": "*", "Action": "ram:*", "Effect": "Deny"}],
        "Version": "1"});
    assert!(documents_equal(&a, &b));
    let c = json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:*",
                                                  "Resource": "*"}]});
    let d = json!({"Version": "1", "Statement": [{"Effect": "Deny", "Action": "ram:*",
                                                  "Resource": "*"}]});
    assert!(!documents_equal(&c, &d));
}

#[test]
fn undeclared_workspaces_and_ram_objects_are_listed_and_untouched() {
    let desired = rich_state();
    let mut live = desired.clone();
    // A workspace created behind the team's back, in a governed region, with a member and key.
    live.insert(workspace("shadow", "cn-beijing"));
    live.insert(member("shadow", "alice", true));
    live.insert(key("shadow", "sneaky", "alice", None));
    // One in a region no declared workspace lives in.
    live.insert(workspace("elsewhere", "us-east-1"));
    // A super administrator nobody declared, and a harmless user.
    live.insert(user("mallory"));
    live.insert(attach(
        Principal::User("mallory".into()),
        "AliyunBailianFullAccess",
        PolicyType::System,
    ));
    live.insert(user("eve"));
    // Eve joins a group nobody declared, which holds RAM admin.
    live.insert(group("admins"));
    live.insert(group_member("admins", "eve"));
    live.insert(attach(
        Principal::Group("admins".into()),
        "AliyunRAMFullAccess",
        PolicyType::System,
    ));
    live.insert(pai_workspace("pai-other", "cn-shanghai"));

    let d = run(&desired, &live);
    assert_eq!(d.changes, vec![], "nothing undeclared is touched");
    let listed: Vec<(String, bool)> = d
        .unmanaged
        .iter()
        .map(|u| (u.address.to_string(), u.governed))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("ram.user.eve".to_string(), true),
            ("ram.user.mallory".to_string(), true),
            ("ram.group.admins".to_string(), true),
            ("ram.group.admins.member.eve".to_string(), true),
            (
                "ram.user.mallory.policy.AliyunBailianFullAccess".to_string(),
                true
            ),
            (
                "ram.group.admins.policy.AliyunRAMFullAccess".to_string(),
                true
            ),
            ("workspace.elsewhere".to_string(), false),
            ("workspace.shadow".to_string(), true),
            ("pai.workspace.pai-other".to_string(), false),
        ]
    );
    let mallory = &d.unmanaged[1];
    assert!(
        mallory.note.contains("AliyunBailianFullAccess"),
        "{}",
        mallory.note
    );
    assert!(d.unmanaged[0].note.contains("via group `admins`"));
    assert_eq!(d.managed_live, desired.len());

    // With prune_ram the undeclared RAM objects go, attachments and memberships with them;
    // workspaces stay.
    let pruned = diff(
        &desired,
        &live,
        &DiffOptions {
            prune_ram: true,
            ..DiffOptions::default()
        },
        &Capabilities::full(),
    );
    assert_eq!(
        actions(&pruned),
        vec![
            ("ram.user.eve".to_string(), Action::Delete),
            ("ram.user.mallory".to_string(), Action::Delete),
            ("ram.group.admins".to_string(), Action::Delete),
            ("ram.group.admins.member.eve".to_string(), Action::Delete),
            (
                "ram.user.mallory.policy.AliyunBailianFullAccess".to_string(),
                Action::Delete
            ),
            (
                "ram.group.admins.policy.AliyunRAMFullAccess".to_string(),
                Action::Delete
            ),
        ]
    );
    assert_eq!(pruned.unmanaged.len(), 3);
}

#[test]
fn a_declared_scope_owns_what_is_in_it() {
    let desired = rich_state();
    let mut live = desired.clone();
    live.insert(member("chatbot-prod", "carol", false));
    live.insert(model("chatbot-prod", "qwen-max"));
    live.insert(attach(
        Principal::User("bob".into()),
        "AliyunBSSOrderAccess",
        PolicyType::System,
    ));
    live.insert(group_member("devs", "carol"));
    live.insert(pai_member("langstudio_prod", "bob"));
    let d = run(&desired, &live);
    assert_eq!(
        actions(&d),
        vec![
            ("ram.group.devs.member.carol".to_string(), Action::Delete),
            (
                "ram.user.bob.policy.AliyunBSSOrderAccess".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-prod.model.qwen-max".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-prod.member.carol".to_string(),
                Action::Delete
            ),
            (
                "pai.workspace.langstudio_prod.member.bob".to_string(),
                Action::Delete
            ),
        ]
    );
    let removal = find(&d, &member("chatbot-prod", "carol", false).address());
    assert_eq!(
        removal.warnings,
        vec![
            "removes all access of user `carol` in workspace `chatbot-prod` and disables their API \
                keys there (re-adding them restores the keys)"
        ]
    );
    assert_eq!(d.unmanaged, vec![]);
}

#[test]
fn owned_but_undeclared_workspaces_are_deleted_with_their_contents() {
    let live = rich_state();
    let desired: State = live
        .resources
        .values()
        .filter(|r| r.address().workspace() != Some("chatbot-dev"))
        .cloned()
        .collect();
    let options = DiffOptions {
        owned: [workspace("chatbot-dev", "").address()].into(),
        ..DiffOptions::default()
    };
    let d = diff(&desired, &live, &options, &Capabilities::full());
    assert_eq!(
        actions(&d),
        vec![
            ("workspace.chatbot-dev".to_string(), Action::Delete),
            (
                "workspace.chatbot-dev.model.qwen-plus".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-dev.member.bob".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-dev.member.carol".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-dev.apikey.bob-key".to_string(),
                Action::Delete
            ),
        ]
    );
    assert!(d.changes[0].warnings[0].starts_with("deleting workspace `chatbot-dev` destroys"));
    assert!(d.changes[4].warnings[0].contains("unrecoverable"));
    // Without the ledger's word it is merely unmanaged.
    let d = run(&desired, &live);
    assert_eq!(d.changes, vec![]);
    assert_eq!(d.unmanaged.len(), 1);
}

#[test]
fn default_workspaces_are_never_created_replaced_or_deleted() {
    let mut desired = rich_state();
    let mut live = desired.clone();
    live.resources
        .remove(&default_workspace("default-cn", "").address());
    desired.insert(default_workspace("default-sg", "ap-southeast-1"));
    live.insert(default_workspace("default-us", "us-east-1"));
    // A declared default whose region differs live is a warning, not a replacement.
    desired.insert(default_workspace("default-cn", "cn-beijing"));
    live.insert(default_workspace("default-cn", "cn-hangzhou"));
    let options = DiffOptions {
        owned: [default_workspace("default-us", "").address()].into(),
        ..DiffOptions::default()
    };
    let d = diff(&desired, &live, &options, &Capabilities::full());
    assert_eq!(d.changes, vec![]);
    assert_eq!(d.warnings.len(), 2, "{:#?}", d.warnings);
    assert!(d.warnings[0].contains("`default-cn`"), "{}", d.warnings[0]);
    assert!(d.warnings[1].starts_with(
        "default workspace `default-sg` (region ap-southeast-1) is declared but missing live"
    ));
    assert_eq!(d.unmanaged.len(), 1);
    assert_eq!(d.unmanaged[0].address.to_string(), "workspace.default-us");
    assert!(!d.unmanaged[0].governed);
}

#[test]
fn a_replaced_workspace_recreates_what_is_in_it() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(workspace("chatbot-dev", "ap-southeast-1"));
    desired
        .resources
        .remove(&member("chatbot-dev", "carol", false).address());
    desired.insert(limit("chatbot-dev", "qwen-plus", 10));
    let d = run(&desired, &live);
    assert_eq!(
        actions(&d),
        vec![
            ("workspace.chatbot-dev".to_string(), Action::Replace),
            (
                "workspace.chatbot-dev.model.qwen-plus".to_string(),
                Action::Replace
            ),
            (
                "workspace.chatbot-dev.limit.qwen-plus".to_string(),
                Action::Create
            ),
            (
                "workspace.chatbot-dev.member.bob".to_string(),
                Action::Replace
            ),
            (
                "workspace.chatbot-dev.member.carol".to_string(),
                Action::Delete
            ),
            (
                "workspace.chatbot-dev.apikey.bob-key".to_string(),
                Action::Replace
            ),
        ]
    );
    assert!(
        d.changes[0].warnings[0]
            .starts_with("replacing workspace `chatbot-dev` destroys its API keys")
    );
    assert_eq!(
        d.changes[1].warnings,
        vec!["recreated because `workspace.chatbot-dev` is replaced"]
    );
    assert!(d.changes[1].attributes.is_empty());
}

#[test]
fn member_changes_become_manual_steps_without_the_capability() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(member("chatbot-prod", "carol", false));
    desired.insert(member("chatbot-dev", "carol", true));
    desired
        .resources
        .remove(&member("chatbot-prod", "bob", false).address());
    desired.insert(model("chatbot-prod", "qwen-max"));
    let d = diff(
        &desired,
        &live,
        &DiffOptions::default(),
        &members_caps_missing(),
    );
    let manual = |ws: &str, u: &str| {
        find(&d, &member(ws, u, false).address())
            .manual
            .as_ref()
            .map(|m| m.instructions.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        manual("chatbot-prod", "carol"),
        "In the Model Studio console (region cn-beijing), System Administration > Accounts: add \
            RAM user `carol` if absent (Add User, type RAM User). Then, in the users list, RAM \
            user `carol` > Permissions > Permission +: workspace `chatbot-prod`, pages: \
            Playground-FullAccess; click Complete. Then record it with `msctl ack \
            workspace.chatbot-prod.member.carol`."
    );
    let update = manual("chatbot-dev", "carol");
    assert!(
        update.contains("Page Permissions > Edit: check Administrator; click Confirm."),
        "{update}"
    );
    let removal = manual("chatbot-prod", "bob");
    assert!(
        removal.contains("signed in as the Alibaba Cloud account"),
        "{removal}"
    );
    assert!(
        removal.contains("find RAM user `bob`, click Delete"),
        "{removal}"
    );
    assert!(
        find(&d, &model("chatbot-prod", "qwen-max").address())
            .manual
            .is_none()
    );
    assert_eq!(crate::plan::Summary::of(&d.changes).manual, 3);

    // With the capability nothing is manual.
    let d = run(&desired, &live);
    assert!(d.changes.iter().all(|c| c.manual.is_none()));
}

#[test]
fn keys_for_someone_else_are_manual_without_the_owner_capability() {
    let live = rich_state();
    let mut desired = live.clone();
    desired.insert(key("chatbot-prod", "alice-2", "alice", None));
    desired.insert(key("chatbot-dev", "bob-2", "bob", Some(&["qwen-plus"])));
    let caps = Capabilities {
        missing: [Capability::ApiKeyOwner].into(),
        ..Capabilities::default()
    };
    let options = DiffOptions {
        caller: Some("alice".into()),
        ..DiffOptions::default()
    };
    let d = diff(&desired, &live, &options, &caps);
    assert!(
        find(&d, &key("chatbot-prod", "alice-2", "", None).address())
            .manual
            .is_none()
    );
    let bob = find(&d, &key("chatbot-dev", "bob-2", "", None).address());
    let text = &bob.manual.as_ref().expect("manual").instructions;
    assert!(
        text.contains(
            "owner account RAM user `bob` and description `bob-2 key`, models: qwen-plus."
        ),
        "{text}"
    );
}

#[test]
fn risky_attachments_and_deletions_carry_warnings() {
    let live = rich_state();
    let mut desired = live.clone();
    for (p, policy) in [
        ("bob", "AliyunBailianFullAccess"),
        ("bob", "AliyunBSSOrderAccess"),
        ("bob", "AdministratorAccess"),
        ("carol", "AliyunRAMFullAccess"),
        ("carol", "AliyunOSSReadOnlyAccess"),
    ] {
        desired.insert(attach(
            Principal::User(p.into()),
            policy,
            PolicyType::System,
        ));
    }
    desired.insert(key("default-cn", "shared", "alice", None));
    let d = run(&desired, &live);
    let warned: Vec<(String, usize)> = d
        .changes
        .iter()
        .map(|c| (c.address.to_string(), c.warnings.len()))
        .collect();
    assert_eq!(
        warned,
        vec![
            ("ram.user.bob.policy.AdministratorAccess".to_string(), 1),
            ("ram.user.bob.policy.AliyunBSSOrderAccess".to_string(), 1),
            ("ram.user.bob.policy.AliyunBailianFullAccess".to_string(), 1),
            (
                "ram.user.carol.policy.AliyunOSSReadOnlyAccess".to_string(),
                0
            ),
            ("ram.user.carol.policy.AliyunRAMFullAccess".to_string(), 1),
            ("workspace.default-cn.apikey.shared".to_string(), 1),
        ]
    );
    assert!(d.changes[2].warnings[0].contains("super administrator"));
    assert!(d.changes[5].warnings[0].contains("bypasses"));

    let pruned = diff(
        &rich_state()
            .resources
            .into_values()
            .filter(|r| r.address() != user("carol").address())
            .filter(|r| r.address().workspace() != Some("chatbot-dev"))
            .collect(),
        &live,
        &DiffOptions {
            prune_ram: true,
            ..DiffOptions::default()
        },
        &Capabilities::full(),
    );
    let carol = find(&pruned, &user("carol").address());
    assert_eq!(
        carol.warnings,
        vec!["deleting RAM user `carol` disables their API keys for good, in every workspace"]
    );
}

proptest! {
    #[test]
    fn any_state_against_itself_is_empty(state in arb_state()) {
        let d = run(&state, &state);
        prop_assert!(d.changes.is_empty(), "{:#?}", d.changes);
        prop_assert_eq!(d.managed_live, state.len());
    }
}

#[test]
fn an_owned_object_no_longer_declared_is_deleted_wherever_it_lives() {
    // A key and a member msctl made in the default workspace, which is not declared.
    let mut live = rich_state();
    live.insert(key("default-cn", "ops-key", "carol", None));
    live.insert(member("default-cn", "carol", true));
    let desired: State = rich_state()
        .resources
        .into_values()
        .filter(|r| r.address().workspace() != Some("default-cn"))
        .collect();
    let options = DiffOptions {
        owned: [
            key("default-cn", "ops-key", "carol", None).address(),
            member("default-cn", "carol", true).address(),
            // Default workspaces are never deleted, owned or not.
            default_workspace("default-cn", "").address(),
        ]
        .into(),
        ..DiffOptions::default()
    };
    let d = diff(&desired, &live, &options, &Capabilities::full());
    assert_eq!(
        actions(&d),
        vec![
            (
                "workspace.default-cn.member.carol".to_string(),
                Action::Delete
            ),
            (
                "workspace.default-cn.apikey.ops-key".to_string(),
                Action::Delete
            ),
        ]
    );
    // Without the ledger they are inside an undeclared workspace: left alone.
    assert_eq!(run(&desired, &live).changes, vec![]);
}

fn duplicate_key(ws: &str, name: &str, id: &str) -> Address {
    Address::Duplicate {
        of: Box::new(key(ws, name, "alice", None).address()),
        id: id.to_string(),
    }
}

#[test]
fn a_duplicate_in_an_owned_workspace_is_deleted_by_id() {
    let desired = rich_state();
    let mut live = rich_state();
    live.insert_duplicate(
        key("chatbot-prod", "ci-bot", "alice", Some(&["qwen-plus"])),
        "1858007".into(),
    );
    let d = run(&desired, &live);
    let address = duplicate_key("chatbot-prod", "ci-bot", "1858007");
    assert_eq!(
        actions(&d),
        vec![(address.to_string(), Action::Delete)],
        "{:#?}",
        d.changes
    );
    let change = find(&d, &address);
    assert!(
        change.warnings[0].contains("(id 1858007)"),
        "{:?}",
        change.warnings
    );
    assert!(
        d.warnings[0].contains("workspace.chatbot-prod.apikey.ci-bot#1858007"),
        "{:?}",
        d.warnings
    );
    // Deleting it needs --allow-delete.
    let refused =
        crate::plan::safety::check(&d.changes, &live, &crate::plan::SafetyOptions::default())
            .unwrap_err();
    assert_eq!(refused[0].addresses, vec![address]);
}

#[test]
fn a_duplicate_outside_owned_workspaces_is_governed_drift_not_a_change() {
    let mut live = rich_state();
    live.insert(workspace("other", "cn-beijing"));
    live.insert(key("other", "svc", "alice", None));
    live.insert_duplicate(key("other", "svc", "alice", None), "42".into());
    // Two workspaces of one name: reported, never deleted by msctl, even when declared.
    live.insert_duplicate(workspace("chatbot-prod", "cn-beijing"), "ws-2".into());
    let d = run(&rich_state(), &live);
    assert_eq!(d.changes, vec![]);
    let listed: Vec<(String, bool)> = d
        .unmanaged
        .iter()
        .map(|u| (u.address.to_string(), u.governed))
        .collect();
    assert!(listed.contains(&("workspace.other.apikey.svc#42".to_string(), true)));
    assert!(listed.contains(&("workspace.chatbot-prod#ws-2".to_string(), true)));
    assert_eq!(d.warnings.len(), 2, "{:#?}", d.warnings);
    // A key duplicate inside a duplicated workspace is not deleted either.
    live.insert_duplicate(
        key("chatbot-prod", "ci-bot", "alice", Some(&["qwen-plus"])),
        "1858009".into(),
    );
    let d = run(&rich_state(), &live);
    assert_eq!(d.changes, vec![]);
    assert_eq!(d.warnings.len(), 3, "{:#?}", d.warnings);
    // Drift reports them as unexpected objects.
    let mut plan = plan_of(Vec::new());
    plan.unmanaged = d.unmanaged.clone();
    let report = crate::plan::DriftReport::from_plan(&plan);
    assert!(report.items.iter().any(|i| {
        i.address.to_string() == "workspace.other.apikey.svc#42"
            && i.kind == crate::plan::DriftKind::Unexpected
    }));
}

// ---- renames (`renamed_from`) ------------------------------------------------------------------

fn bob_to_robert() -> Rename {
    Rename::between(
        &Address::RamUser { name: "bob".into() },
        &Address::RamUser {
            name: "robert".into(),
        },
    )
    .unwrap()
}

/// The rich state with bob declared as robert, `renamed_from = "bob"`.
fn renamed_desired(live: &State) -> State {
    let rename = bob_to_robert();
    let mut desired = live.renamed(std::slice::from_ref(&rename));
    desired
        .renames
        .insert(rename.to.ram_address(), rename.from.ram_address());
    desired
}

#[test]
fn a_declared_rename_is_one_in_place_update_and_nothing_that_names_it_moves() {
    let live = rich_state();
    let desired = renamed_desired(&live);
    let d = run(&desired, &live);
    assert_eq!(
        actions(&d),
        vec![("ram.user.robert".to_string(), Action::Update)]
    );
    let c = &d.changes[0];
    // The live user under its old name, the declared one under its new name.
    assert_eq!(c.before, Some(user("bob")));
    assert_eq!(
        c.after.as_ref(),
        desired.get(&Address::RamUser {
            name: "robert".into()
        })
    );
    assert_eq!(c.attributes.len(), 1);
    assert_eq!(c.attributes[0].name, "name");
    assert_eq!(c.attributes[0].before, json!("bob"));
    assert_eq!(c.attributes[0].after, json!("robert"));
    assert!(
        c.warnings[0].contains("renames RAM user `bob` to `robert` in place"),
        "{:?}",
        c.warnings
    );
    assert!(d.conflicts.is_empty());
    assert_eq!(d.warnings, Vec::<String>::new());
}

#[test]
fn a_rename_with_another_attribute_changed_is_still_one_update() {
    let live = rich_state();
    let mut desired = renamed_desired(&live);
    desired.insert(Resource::RamUser(crate::model::RamUser {
        name: "robert".into(),
        display_name: Some("Robert".into()),
        comments: None,
    }));
    let d = run(&desired, &live);
    assert_eq!(
        actions(&d),
        vec![("ram.user.robert".to_string(), Action::Update)]
    );
    let names: Vec<&str> = d.changes[0]
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["name", "display_name"]);
}

#[test]
fn a_group_rename_keeps_its_members_and_attachments() {
    let live = rich_state();
    let rename = Rename::between(
        &Address::RamGroup {
            name: "devs".into(),
        },
        &Address::RamGroup {
            name: "engineers".into(),
        },
    )
    .unwrap();
    let mut desired = live.renamed(std::slice::from_ref(&rename));
    desired
        .renames
        .insert(rename.to.ram_address(), rename.from.ram_address());
    let d = run(&desired, &live);
    assert_eq!(
        actions(&d),
        vec![("ram.group.engineers".to_string(), Action::Update)]
    );
    assert!(
        d.changes[0].warnings[0].contains("members and policy attachments are kept"),
        "{:?}",
        d.changes[0].warnings
    );
}

#[test]
fn renamed_from_is_no_change_once_the_rename_is_done() {
    let live = rich_state();
    let desired = renamed_desired(&live);
    let done = live.renamed(&[bob_to_robert()]);
    let d = run(&desired, &done);
    assert_eq!(d.changes, vec![]);
    assert!(d.conflicts.is_empty());
}

#[test]
fn both_names_live_is_a_conflict_and_no_rename() {
    let mut live = rich_state();
    live.insert(user("robert"));
    let desired = renamed_desired(&rich_state());
    let d = run(&desired, &live);
    assert_eq!(
        d.conflicts,
        vec![crate::plan::RenameConflict {
            from: Address::RamUser { name: "bob".into() },
            to: Address::RamUser {
                name: "robert".into()
            },
        }]
    );
    assert!(
        d.conflicts[0].to_string().contains("both exist live"),
        "{}",
        d.conflicts[0]
    );
    // No change renames anything: bob stays, robert is compared as it is.
    assert!(
        !d.changes
            .iter()
            .any(|c| c.attributes.iter().any(|a| a.name == "name")),
        "{:#?}",
        d.changes
    );
}

#[test]
fn a_delete_naming_the_renamed_user_waits_for_the_rename() {
    let live = rich_state();
    let mut desired = renamed_desired(&live);
    // robert leaves the group in the same plan: removed by his new name, so after the rename.
    desired
        .resources
        .remove(&group_member("devs", "robert").address());
    let mut changes = run(&desired, &live).changes;
    crate::graph::link(&mut changes).unwrap();
    let leave = changes
        .iter()
        .find(|c| c.address == group_member("devs", "robert").address())
        .expect("the membership is deleted");
    assert_eq!(leave.action, Action::Delete);
    assert_eq!(
        leave.depends_on,
        vec![Address::RamUser {
            name: "robert".into()
        }]
    );
}

#[test]
fn deleting_a_key_owner_while_creating_a_user_suggests_renamed_from() {
    let live = rich_state();
    // bob becomes robert without `renamed_from`: bob (owned) is deleted, robert created.
    let mut desired = live.renamed(&[bob_to_robert()]);
    desired.renames.clear();
    let options = DiffOptions {
        owned: live.resources.keys().cloned().collect(),
        ..DiffOptions::default()
    };
    let d = diff(&desired, &live, &options, &Capabilities::full());
    assert!(
        actions(&d).contains(&("ram.user.bob".to_string(), Action::Delete)),
        "{:?}",
        actions(&d)
    );
    let warning = d
        .warnings
        .iter()
        .find(|w| w.contains("renamed_from = \"bob\""))
        .unwrap_or_else(|| panic!("no renamed_from hint in {:#?}", d.warnings));
    assert!(
        warning.contains("`workspace.chatbot-dev.apikey.bob-key`"),
        "{warning}"
    );
    assert!(
        warning.contains("RAM user `robert` is created"),
        "{warning}"
    );
    // A deleted user who owns no key, or a delete without a create, gets no such warning.
    let mut without_keys = desired.clone();
    without_keys
        .resources
        .retain(|a, _| !matches!(a, Address::ApiKey { .. }));
    let mut live_without_keys = live.clone();
    live_without_keys
        .resources
        .retain(|a, _| !matches!(a, Address::ApiKey { .. }));
    let d = diff(
        &without_keys,
        &live_without_keys,
        &options,
        &Capabilities::full(),
    );
    assert!(
        !d.warnings.iter().any(|w| w.contains("renamed_from")),
        "{:#?}",
        d.warnings
    );
}
