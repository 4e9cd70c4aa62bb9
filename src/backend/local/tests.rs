//! Tests of the local backend: operations on resources, bulk reads, live key state, concurrency.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::backend::Capability;
use crate::model::{
    Address, ApiKey, Attachment, GroupMember, Member, ModelLimit, ModelPermission, PaiMember,
    PaiWorkspace, PolicyType, Principal, RamGroup, RamPolicy, RamRole, RamUser, Workspace,
};
use crate::testing::harness::LOCK_WAIT;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn all_regions() -> ReadScope {
    ReadScope {
        regions: crate::store::MODEL_STUDIO_REGIONS
            .iter()
            .map(|r| r.to_string())
            .collect(),
        ram: true,
        pai_regions: set(&["cn-hangzhou"]),
    }
}

fn workspace(name: &str) -> Resource {
    Resource::Workspace(Workspace {
        name: name.into(),
        region: "cn-beijing".into(),
        default: false,
    })
}

fn member(workspace: &str, user: &str) -> Resource {
    Resource::Member(Member {
        workspace: workspace.into(),
        principal: Principal::User(user.into()),
        administrator: false,
        pages: set(&["Playground-FullAccess"]),
    })
}

fn key(workspace: &str, name: &str, owner: &str) -> ApiKey {
    ApiKey {
        workspace: workspace.into(),
        name: name.into(),
        owner: owner.into(),
        description: "ci".into(),
        models: Some(set(&["qwen-plus"])),
        ip_allow: set(&["10.0.0.0/8"]),
        enabled: true,
    }
}

/// One resource of every kind, in an order that satisfies their dependencies.
fn one_of_each() -> Vec<Resource> {
    vec![
        Resource::RamUser(RamUser {
            name: "alice".into(),
            display_name: Some("Alice".into()),
            comments: None,
        }),
        Resource::RamGroup(RamGroup {
            name: "devs".into(),
            comments: Some("developers".into()),
        }),
        Resource::GroupMember(GroupMember {
            group: "devs".into(),
            user: "alice".into(),
        }),
        Resource::RamRole(RamRole {
            name: "ops".into(),
            description: Some("operators".into()),
            trust_policy: json!({"Version": "1", "Statement": [{"Effect": "Allow",
                "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::123:root"]}}]}),
            max_session_duration: 7200,
        }),
        Resource::RamPolicy(RamPolicy {
            name: "sfm-read".into(),
            description: None,
            document: json!({"Version": "1", "Statement": [{"Effect": "Allow",
                "Action": ["sfm:Get*", "sfm:List*"], "Resource": "*"}]}),
        }),
        Resource::Attachment(Attachment {
            principal: Principal::Group("devs".into()),
            policy: "sfm-read".into(),
            policy_type: PolicyType::Custom,
        }),
        Resource::Attachment(Attachment {
            principal: Principal::User("alice".into()),
            policy: "AliyunBailianDataReadOnlyAccess".into(),
            policy_type: PolicyType::System,
        }),
        workspace("team-a"),
        Resource::ModelPermission(ModelPermission {
            workspace: "team-a".into(),
            model: "qwen-plus".into(),
            inference: true,
            fine_tune: true,
            deploy: false,
        }),
        Resource::ModelLimit(ModelLimit {
            workspace: "team-a".into(),
            model: "qwen-plus".into(),
            requests: 600,
            request_period: 60,
            tokens: None,
            usage_period: None,
        }),
        member("team-a", "alice"),
        Resource::Member(Member {
            workspace: "team-a".into(),
            principal: Principal::Role("ops".into()),
            administrator: true,
            pages: set(&["Administrator"]),
        }),
        Resource::ApiKey(key("team-a", "ci", "alice")),
        Resource::PaiWorkspace(PaiWorkspace {
            name: "lang_prod".into(),
            region: "cn-hangzhou".into(),
            display_name: None,
            description: "LangStudio".into(),
            env_types: vec!["prod".into()],
        }),
        Resource::PaiMember(PaiMember {
            workspace: "lang_prod".into(),
            user: "alice".into(),
            roles: set(&["PAI.AlgoDeveloper"]),
        }),
    ]
}

fn apply_all(backend: &LocalBackend, resources: &[Resource]) {
    for r in resources {
        backend
            .apply(Operation::Create(r))
            .unwrap_or_else(|e| panic!("create {}: {e}", r.address()));
    }
}

#[test]
fn it_is_the_local_backend_with_every_capability() {
    let backend = LocalBackend::open_in_memory().unwrap();
    assert_eq!(backend.name(), "local");
    let caps = backend.capabilities();
    assert!(caps.has(Capability::WorkspaceMembers));
    assert!(caps.has(Capability::ApiKeyOwner));
}

#[test]
fn a_bulk_read_returns_exactly_what_was_applied() {
    let backend = LocalBackend::open_in_memory().unwrap();
    let resources = one_of_each();
    apply_all(&backend, &resources);
    let state = backend.read(&all_regions()).unwrap();
    for r in &resources {
        assert_eq!(state.get(&r.address()), Some(r), "{}", r.address());
    }
    // Plus the six default workspaces, which exist without being applied.
    assert_eq!(state.len(), resources.len() + 6);
    let default = state
        .get(&Address::Workspace {
            name: "default-us-east-1".into(),
        })
        .unwrap();
    assert_eq!(
        default,
        &Resource::Workspace(Workspace {
            name: "default-us-east-1".into(),
            region: "us-east-1".into(),
            default: true
        })
    );
}

#[test]
fn a_read_covers_only_its_scope() {
    let backend = LocalBackend::open_in_memory().unwrap();
    apply_all(&backend, &one_of_each());
    let state = backend
        .read(&ReadScope {
            regions: set(&["us-east-1"]),
            ram: false,
            pai_regions: BTreeSet::new(),
        })
        .unwrap();
    let kinds: Vec<&str> = state.iter().map(|(a, _)| a.kind()).collect();
    assert_eq!(kinds, ["workspace"], "only default-us-east-1: {kinds:?}");

    let state = backend
        .read(&ReadScope {
            regions: BTreeSet::new(),
            ram: true,
            pai_regions: set(&["cn-shanghai"]),
        })
        .unwrap();
    assert!(state.iter().all(|(a, _)| a.kind().starts_with("ram_")));
    assert_eq!(state.len(), 7);
    assert!(backend.read(&ReadScope::default()).unwrap().is_empty());
}

#[test]
fn deleting_everything_in_reverse_leaves_only_default_workspaces() {
    let backend = LocalBackend::open_in_memory().unwrap();
    let resources = one_of_each();
    apply_all(&backend, &resources);
    for r in resources.iter().rev() {
        backend
            .apply(Operation::Delete(r))
            .unwrap_or_else(|e| panic!("delete {}: {e}", r.address()));
    }
    let state = backend.read(&all_regions()).unwrap();
    assert_eq!(state.len(), 6);
    assert!(
        state
            .iter()
            .all(|(_, r)| matches!(r, Resource::Workspace(w) if w.default))
    );
}

#[test]
fn default_workspaces_cannot_be_created_or_deleted() {
    let backend = LocalBackend::open_in_memory().unwrap();
    let default = Resource::Workspace(Workspace {
        name: "default-cn-beijing".into(),
        region: "cn-beijing".into(),
        default: true,
    });
    assert!(matches!(
        backend.apply(Operation::Create(&default)),
        Err(BackendError::Refused(_))
    ));
    assert!(matches!(
        backend.apply(Operation::Delete(&default)),
        Err(BackendError::Refused(_))
    ));
    assert!(matches!(
        backend.apply(Operation::Create(&workspace("default-cn-beijing"))),
        Err(BackendError::Conflict(_))
    ));
}

#[test]
fn an_api_keys_enabled_flag_is_live_state() {
    let backend = LocalBackend::open_in_memory().unwrap();
    let scope = all_regions();
    let mut k = key("team-a", "ci", "alice");
    k.models = None;
    apply_all(
        &backend,
        &[
            workspace("team-a"),
            member("team-a", "alice"),
            Resource::ApiKey(k.clone()),
        ],
    );
    let address = Resource::ApiKey(k.clone()).address();
    let enabled = |backend: &LocalBackend| match backend.read(&scope).unwrap().get(&address) {
        Some(Resource::ApiKey(k)) => k.enabled,
        other => panic!("no key: {other:?}"),
    };
    assert!(enabled(&backend));
    backend
        .apply(Operation::Delete(&member("team-a", "alice")))
        .unwrap();
    assert!(!enabled(&backend), "removing the owner disables the key");

    // Asking to enable it while the owner is away is refused.
    let disabled = Resource::ApiKey(ApiKey {
        enabled: false,
        ..k.clone()
    });
    let err = backend
        .apply(Operation::Update {
            before: &disabled,
            after: &Resource::ApiKey(k.clone()),
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Refused(_)), "{err:?}");

    backend
        .apply(Operation::Create(&member("team-a", "alice")))
        .unwrap();
    assert!(enabled(&backend), "re-adding the owner brings the key back");

    // A plan may disable and re-enable a key by hand.
    let enabled_key = Resource::ApiKey(k.clone());
    backend
        .apply(Operation::Update {
            before: &enabled_key,
            after: &disabled,
        })
        .unwrap();
    assert!(!enabled(&backend));
    backend
        .apply(Operation::Update {
            before: &disabled,
            after: &enabled_key,
        })
        .unwrap();
    assert!(enabled(&backend));
}

#[test]
fn updates_change_what_they_may_and_refuse_the_rest() {
    let backend = LocalBackend::open_in_memory().unwrap();
    let resources = one_of_each();
    apply_all(&backend, &resources);
    let scope = all_regions();
    let mut changed = Vec::new();
    for before in &resources {
        let after = match before.clone() {
            Resource::ApiKey(mut k) => {
                k.description = "rotated".into();
                k.ip_allow.clear();
                Resource::ApiKey(k)
            }
            Resource::RamPolicy(mut p) => {
                p.document = json!({"Version": "1", "Statement": []});
                Resource::RamPolicy(p)
            }
            Resource::RamRole(mut r) => {
                r.max_session_duration = 3600;
                Resource::RamRole(r)
            }
            Resource::ModelLimit(mut l) => {
                l.tokens = Some(5000);
                l.usage_period = Some(60);
                Resource::ModelLimit(l)
            }
            Resource::ModelPermission(mut p) => {
                p.deploy = true;
                Resource::ModelPermission(p)
            }
            Resource::Member(mut m) => {
                m.pages.insert("BatchInference-FullAccess".into());
                Resource::Member(m)
            }
            Resource::PaiWorkspace(mut w) => {
                w.display_name = Some("LangStudio".into());
                Resource::PaiWorkspace(w)
            }
            Resource::PaiMember(mut m) => {
                m.roles = set(&["PAI.WorkspaceAdmin", "PAI.AlgoDeveloper"]);
                Resource::PaiMember(m)
            }
            Resource::RamUser(mut u) => {
                u.comments = Some("on call".into());
                Resource::RamUser(u)
            }
            Resource::RamGroup(mut g) => {
                g.comments = None;
                Resource::RamGroup(g)
            }
            same => same,
        };
        backend
            .apply(Operation::Update {
                before,
                after: &after,
            })
            .unwrap_or_else(|e| panic!("update {}: {e}", after.address()));
        changed.push(after);
    }
    let state = backend.read(&scope).unwrap();
    for r in &changed {
        assert_eq!(state.get(&r.address()), Some(r), "{}", r.address());
    }
    assert_eq!(
        backend
            .store()
            .list_policy_versions("sfm-read")
            .unwrap()
            .len(),
        2
    );

    // Immutable attributes are the planner's business (replace), never an update.
    let moved = Resource::Workspace(Workspace {
        name: "team-a".into(),
        region: "us-east-1".into(),
        default: false,
    });
    let err = backend
        .apply(Operation::Update {
            before: &workspace("team-a"),
            after: &moved,
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
    let err = backend
        .apply(Operation::Update {
            before: &workspace("team-a"),
            after: &workspace("team-b"),
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
    let mut other_owner = key("team-a", "ci", "bob");
    other_owner.ip_allow.clear();
    let err = backend
        .apply(Operation::Update {
            before: &Resource::ApiKey(key("team-a", "ci", "alice")),
            after: &Resource::ApiKey(other_owner),
        })
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
}

#[test]
fn missing_objects_are_not_found_and_duplicates_conflict() {
    let backend = LocalBackend::open_in_memory().unwrap();
    for r in one_of_each() {
        let err = backend.apply(Operation::Delete(&r)).unwrap_err();
        assert!(
            matches!(err, BackendError::NotFound(_)),
            "delete {}: {err:?}",
            r.address()
        );
    }
    let resources = one_of_each();
    apply_all(&backend, &resources);
    for r in &resources {
        let err = backend.apply(Operation::Create(r)).unwrap_err();
        assert!(
            matches!(err, BackendError::Conflict(_)),
            "create {}: {err:?}",
            r.address()
        );
    }
}

#[test]
fn platform_rules_surface_through_apply() {
    let backend = LocalBackend::open_in_memory().unwrap();
    apply_all(&backend, &[workspace("team-a")]);
    // No inference grant yet: a scoped key and a limit are refused.
    let err = backend
        .apply(Operation::Create(&Resource::ApiKey(key(
            "team-a", "ci", "alice",
        ))))
        .unwrap_err();
    assert!(matches!(err, BackendError::Refused(_)), "{err:?}");
    let limit = Resource::ModelLimit(ModelLimit {
        workspace: "team-a".into(),
        model: "qwen-max".into(),
        requests: 1,
        request_period: 1,
        tokens: None,
        usage_period: None,
    });
    let err = backend.apply(Operation::Create(&limit)).unwrap_err();
    assert!(matches!(err, BackendError::Refused(_)), "{err:?}");
    let unknown_system = Resource::Attachment(Attachment {
        principal: Principal::User("alice".into()),
        policy: "AliyunMadeUpAccess".into(),
        policy_type: PolicyType::System,
    });
    apply_all(
        &backend,
        &[Resource::RamUser(RamUser {
            name: "alice".into(),
            display_name: None,
            comments: None,
        })],
    );
    let err = backend
        .apply(Operation::Create(&unknown_system))
        .unwrap_err();
    assert!(matches!(err, BackendError::NotFound(_)), "{err:?}");
    let group_member = Resource::Member(Member {
        workspace: "team-a".into(),
        principal: Principal::Group("devs".into()),
        administrator: false,
        pages: BTreeSet::new(),
    });
    let err = backend.apply(Operation::Create(&group_member)).unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
}

#[test]
fn two_processes_applying_at_once_never_corrupt_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msctl/state.db");
    LocalBackend::open(&path).unwrap();
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            let start = std::sync::Arc::clone(&start);
            std::thread::spawn(move || {
                // Each thread has its own connection, like a separate process. Writers queue
                // behind each other's lock (the wait is a hang guard), so every write lands.
                let backend = LocalBackend::open_with_timeout(&path, LOCK_WAIT).unwrap();
                start.wait();
                let mut applied = Vec::new();
                for i in 0..15 {
                    let ws = workspace(&format!("t{t}-w{i}"));
                    let m = member(&format!("t{t}-w{i}"), "alice");
                    for r in [ws, m] {
                        backend
                            .apply(Operation::Create(&r))
                            .unwrap_or_else(|e| panic!("`{}` was not written: {e}", r.address()));
                        applied.push(r);
                    }
                }
                applied
            })
        })
        .collect();
    let applied: Vec<Resource> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(applied.len(), 2 * 15 * 2);
    let backend = LocalBackend::open(&path).unwrap();
    let check: String = backend
        .store()
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let state = backend.read(&all_regions()).unwrap();
    assert_eq!(state.len(), 6 + applied.len());
    for r in &applied {
        assert_eq!(state.get(&r.address()), Some(r));
    }
}

#[test]
fn the_ledger_is_reachable_through_the_backend() {
    let backend = LocalBackend::open_in_memory().unwrap();
    backend
        .store()
        .record_apply(Some("abc"), "{}", std::time::SystemTime::now())
        .unwrap();
    assert_eq!(
        backend
            .store()
            .last_apply()
            .unwrap()
            .unwrap()
            .commit
            .as_deref(),
        Some("abc")
    );
}

/// The writer half of the two-process test: runs only when that test starts it as a child.
#[test]
#[ignore = "started by two_os_processes_applying_at_once_never_corrupt_the_database"]
fn child_process_writer() {
    let (Ok(path), Ok(prefix)) = (
        std::env::var("MSCTL_TEST_CHILD_DB"),
        std::env::var("MSCTL_TEST_CHILD_PREFIX"),
    ) else {
        return;
    };
    // Queues behind the other process's lock (the wait is a hang guard): every write lands.
    let backend = LocalBackend::open_with_timeout(&path, LOCK_WAIT).unwrap();
    for i in 0..20 {
        let ws = workspace(&format!("{prefix}-w{i}"));
        backend
            .apply(Operation::Create(&ws))
            .unwrap_or_else(|e| panic!("`{}` was not written: {e}", ws.address()));
    }
}

#[test]
fn two_os_processes_applying_at_once_never_corrupt_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    LocalBackend::open(&path).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["p0", "p1"]
        .iter()
        .map(|prefix| {
            std::process::Command::new(&exe)
                .args([
                    "backend::local::tests::child_process_writer",
                    "--exact",
                    "--ignored",
                    "--quiet",
                ])
                .env("MSCTL_TEST_CHILD_DB", &path)
                .env("MSCTL_TEST_CHILD_PREFIX", prefix)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
    let backend = LocalBackend::open(&path).unwrap();
    let check: String = backend
        .store()
        .connection()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let created = backend.store().list_workspaces(None).unwrap().len() - 6;
    assert_eq!(created, 2 * 20, "every write of both processes landed");
}

#[test]
fn the_run_lock_is_exclusive_named_and_released_by_id_only() {
    use crate::backend::LockInfo;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = LocalBackend::open(&path).unwrap();
    let b = LocalBackend::open(&path).unwrap();
    let first = LockInfo::for_this_process("apply", Some("abc".into()));
    let second = LockInfo::for_this_process("apply", None);
    assert_eq!(a.try_lock(&first).unwrap(), None);
    // Another connection (another process) sees the holder, and cannot take it.
    assert_eq!(b.try_lock(&second).unwrap(), Some(first.clone()));
    assert_eq!(b.lock_holder().unwrap(), Some(first.clone()));
    // Only the holder's id releases it.
    assert_eq!(b.unlock(&second.id).unwrap(), None);
    assert_eq!(b.unlock(&first.id).unwrap(), Some(first.clone()));
    assert_eq!(a.lock_holder().unwrap(), None);
    assert_eq!(b.try_lock(&second).unwrap(), None);
    assert_eq!(a.try_lock(&first).unwrap(), Some(second));
}

#[test]
fn the_ledger_keeps_owned_regions_and_is_written_in_one_transaction() {
    let backend = LocalBackend::open_in_memory().unwrap();
    let ws = crate::testing::workspace("ml", "ap-southeast-1");
    let mut ledger = crate::backend::Ledger::default();
    ledger.intend([&ws]);
    backend.save_ledger(&ledger).unwrap();
    let read = backend.load_ledger().unwrap();
    assert_eq!(read.regions, ledger.regions);
    assert_eq!(read.owned, ledger.owned);
}

#[test]
fn an_api_key_duplicate_is_deleted_by_its_id() {
    use crate::backend::Operation;
    let backend = LocalBackend::open_in_memory().unwrap();
    let ws = crate::testing::workspace("ml", "cn-beijing");
    let k = crate::testing::key("ml", "svc", "alice", None);
    backend
        .apply(Operation::Create(&crate::testing::user("alice")))
        .unwrap();
    backend.apply(Operation::Create(&ws)).unwrap();
    backend
        .apply(Operation::Create(&crate::testing::member(
            "ml", "alice", false,
        )))
        .unwrap();
    backend.apply(Operation::Create(&k)).unwrap();
    let id = {
        let store = backend.store();
        let ws = store.workspace_by_name("ml").unwrap();
        store.api_key_by_name(&ws.id, "svc").unwrap().id.to_string()
    };
    backend
        .apply(Operation::DeleteDuplicate {
            resource: &k,
            id: &id,
        })
        .unwrap();
    let scope = ReadScope {
        regions: ["cn-beijing".to_string()].into(),
        ..ReadScope::default()
    };
    assert!(backend.read(&scope).unwrap().get(&k.address()).is_none());
    let err = backend
        .apply(Operation::DeleteDuplicate {
            resource: &k,
            id: "not-a-number",
        })
        .unwrap_err();
    assert!(err.to_string().contains("is not an API key id"), "{err}");
}
