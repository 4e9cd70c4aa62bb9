//! Ownership you can trust (issue 8): the ledger remembers what msctl made wherever it lives, and
//! nothing live is invisible — two live objects at one address are reported with their ids and,
//! in a workspace msctl owns, deleted by id behind `--allow-delete`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use msctl::backend::aliyun::Credentials;
use msctl::backend::local::{LocalBackend, Store};
use msctl::backend::{Backend, ReadScope};
use msctl::emulator::{self, EmulatorConfig, RunningEmulator};

mod common;
use common::{code, text};

const AK: &str = "LTAI5tOwnershipKeyId";
const SECRET: &str = "ownership-Secret-8d2e4f6a1c";

fn copy_quickstart(cfg: &Path) {
    std::fs::create_dir_all(cfg).unwrap();
    common::copy_example("quickstart", cfg);
}

fn local(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("msctl")
        .unwrap()
        .arg("-C")
        .arg(dir.join("cfg"))
        .arg("--state")
        .arg(dir.join("local.db"))
        .env("NO_COLOR", "1")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// Live workspaces of the local state, by name, with their regions.
fn live_workspaces(db: &Path) -> Vec<(String, String)> {
    let backend = LocalBackend::open(db).unwrap();
    let scope = ReadScope {
        regions: msctl::store::MODEL_STUDIO_REGIONS
            .iter()
            .map(|r| r.to_string())
            .collect(),
        ..ReadScope::default()
    };
    backend
        .read(&scope)
        .unwrap()
        .resources
        .values()
        .filter_map(|r| match r {
            msctl::model::Resource::Workspace(w) if !w.default => {
                Some((w.name.clone(), w.region.clone()))
            }
            _ => None,
        })
        .collect()
}

/// "What was seen" (1): removing the workspace declarations planned nothing and the ledger
/// forgot the three workspaces and their keys.
#[test]
fn undeclared_owned_workspaces_are_planned_for_deletion_and_never_forgotten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    copy_quickstart(&dir.join("cfg"));
    let o = local(dir, &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    std::fs::remove_file(dir.join("cfg/workspaces.toml")).unwrap();
    std::fs::remove_file(dir.join("cfg/quota.toml")).unwrap();

    // The plan shows the deletions (past the rails); apply without the flags refuses them.
    let o = local(
        dir,
        &["plan", "--detailed-exitcode", "--allow-delete", "--force"],
    );
    let out = text(&o);
    assert_eq!(code(&o), 2, "{out}");
    for ws in ["chatbot-dev", "chatbot-test", "chatbot-prod"] {
        assert!(out.contains(&format!("workspace.{ws}")), "{out}");
        assert!(
            out.contains(&format!("workspace.{ws}.apikey.chatbot-backend")),
            "{out}"
        );
    }
    assert!(!out.contains("No changes"), "{out}");
    let o = local(dir, &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("--allow-delete"), "{}", text(&o));

    // A refused apply must not make msctl forget: the next plan still deletes them.
    let o = local(
        dir,
        &["plan", "--detailed-exitcode", "--allow-delete", "--force"],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("- workspace.chatbot-dev\n"),
        "{}",
        text(&o)
    );
    assert_eq!(live_workspaces(&dir.join("local.db")).len(), 3);

    let o = local(
        dir,
        &["apply", "--auto-approve", "--allow-delete", "--force"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(live_workspaces(&dir.join("local.db")).is_empty());
    let o = local(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("No changes"), "{}", text(&o));
}

const ONE_WORKSPACE: &str = r#"
[project]
name = "move"
account_uid = "1378030599924858"
default_region = "cn-beijing"

[[ram.user]]
name = "alice"

[[workspace]]
name = "ml"
region = "REGION"
models = [{ model = "qwen-plus", inference = true }]
members = [{ user = "alice", administrator = true }]
api_keys = [{ name = "svc", owner = "alice", description = "service" }]
"#;

/// "What was seen" (1), second half: moving a workspace to another region left the old one
/// live and unowned.
#[test]
fn moving_a_workspace_to_another_region_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = dir.join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    let write = |region: &str| {
        std::fs::write(
            cfg.join("msctl.toml"),
            ONE_WORKSPACE.replace("REGION", region),
        )
        .unwrap()
    };
    write("ap-southeast-1");
    let o = local(dir, &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        live_workspaces(&dir.join("local.db")),
        vec![("ml".to_string(), "ap-southeast-1".to_string())]
    );

    // The config names cn-beijing only; the ledger still knows ml lives in ap-southeast-1.
    write("cn-beijing");
    let o = local(
        dir,
        &["plan", "--detailed-exitcode", "--allow-delete", "--force"],
    );
    let out = text(&o);
    assert_eq!(code(&o), 2, "{out}");
    assert!(out.contains("replacing workspace `ml`"), "{out}");
    let o = local(
        dir,
        &["apply", "--auto-approve", "--allow-delete", "--force"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        live_workspaces(&dir.join("local.db")),
        vec![("ml".to_string(), "cn-beijing".to_string())]
    );
    let o = local(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // And once undeclared, it is deleted from where it lives now.
    std::fs::write(
        cfg.join("msctl.toml"),
        "[project]\nname = \"move\"\naccount_uid = \"1378030599924858\"\n\n[[ram.user]]\n\
            name = \"alice\"\n",
    )
    .unwrap();
    let o = local(
        dir,
        &["apply", "--auto-approve", "--allow-delete", "--force"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(live_workspaces(&dir.join("local.db")).is_empty());
}

/// The aliyun backend against the emulator, with its own ledger file.
struct Cloud {
    dir: tempfile::TempDir,
    emu: RunningEmulator,
}

impl Cloud {
    fn new(config: &str) -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        std::fs::write(dir.path().join("cfg/msctl.toml"), config).unwrap();
        let emu = emulator::spawn(EmulatorConfig::new(
            dir.path().join("cloud.db"),
            Credentials::new(AK, SECRET),
        ))
        .expect("emulator starts");
        Cloud { dir, emu }
    }

    fn ledger(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn msctl(&self, ledger: &str, args: &[&str]) -> Output {
        Command::cargo_bin("msctl")
            .unwrap()
            .arg("-C")
            .arg(self.dir.path().join("cfg"))
            .args([
                "--backend",
                "aliyun",
                "--endpoint",
                &self.emu.url(),
                "--caller",
                "alice",
            ])
            .arg("--ledger")
            .arg(self.ledger(ledger))
            .env("NO_COLOR", "1")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    /// The emulated account's keys named `msctl:svc`, as (id, workspace id), lowest id first.
    fn svc_keys(&self) -> Vec<(i64, String)> {
        let store = Store::open(self.dir.path().join("cloud.db")).unwrap();
        let mut keys: Vec<(i64, String)> = store
            .list_api_keys(None)
            .unwrap()
            .into_iter()
            .filter(|k| k.description == "msctl:svc")
            .map(|k| (k.id, k.workspace_id))
            .collect();
        keys.sort();
        keys
    }

    /// A second key named `svc` in the workspace of the first, as a concurrent apply through
    /// another ledger makes it (same description, the caller's key).
    fn duplicate_svc(&self) -> i64 {
        let mut store = Store::open(self.dir.path().join("cloud.db")).unwrap();
        let first = store
            .list_api_keys(None)
            .unwrap()
            .into_iter()
            .find(|k| k.description == "msctl:svc")
            .expect("the first svc key exists");
        store
            .create_api_key(&msctl::store::NewApiKey {
                workspace_id: first.workspace_id.clone(),
                name: "svc-2".to_string(),
                owner: first.owner.clone(),
                description: first.description.clone(),
                models: first.models.clone(),
                ip_allow: first.ip_allow.clone(),
                enabled: true,
            })
            .unwrap()
            .id
    }
}

const SVC: &str = r#"
[project]
name = "dup"
account_uid = "1378030599924858"
default_region = "cn-beijing"

[[ram.user]]
name = "alice"

[[workspace]]
name = "ml"
region = "cn-beijing"
models = [{ model = "qwen-plus", inference = true }]
api_keys = [{ name = "svc", owner = "alice" }]
"#;

/// "What was seen" (2): two keys named `svc` in one workspace, and plan said "No changes" and
/// drift "No drift".
#[test]
fn a_duplicate_key_is_drift_and_is_deleted_by_id_behind_allow_delete() {
    let cloud = Cloud::new(SVC);
    let o = cloud.msctl("ledger-a.db", &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let first = cloud.svc_keys();
    assert_eq!(first.len(), 1, "{first:?}");
    let extra = cloud.duplicate_svc();
    let extra_address = format!("workspace.ml.apikey.svc#{extra}");

    // Both runners' view: the one whose ledger owns nothing sees the declared workspace, which
    // owns its keys, so the duplicate is planned for deletion there too.
    for ledger in ["ledger-a.db", "ledger-b.db"] {
        let o = cloud.msctl(ledger, &["plan", "--detailed-exitcode", "--allow-delete"]);
        let out = text(&o);
        assert_eq!(code(&o), 2, "{out}");
        assert!(!out.contains("No changes"), "{out}");
        assert!(out.contains(&format!("- {extra_address}\n")), "{out}");
        assert!(out.contains(&extra_address), "{out}");
        assert!(out.contains(&format!("(id {extra})")), "{out}");
    }
    let o = cloud.msctl("ledger-a.db", &["drift"]);
    let out = text(&o);
    assert_eq!(code(&o), 2, "{out}");
    assert!(out.contains(&extra_address), "{out}");

    let o = cloud.msctl("ledger-a.db", &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("--allow-delete"), "{}", text(&o));
    assert!(text(&o).contains(&extra_address), "{}", text(&o));
    assert_eq!(cloud.svc_keys().len(), 2);

    let o = cloud.msctl(
        "ledger-a.db",
        &["apply", "--auto-approve", "--allow-delete"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The extra one went, by id; the original stays.
    assert_eq!(cloud.svc_keys(), first);
    let o = cloud.msctl("ledger-a.db", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = cloud.msctl("ledger-a.db", &["drift"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// In a workspace msctl does not own, a duplicate is never adopted or deleted, but it is drift.
#[test]
fn a_duplicate_in_an_unowned_workspace_is_reported_not_deleted() {
    let cloud = Cloud::new(SVC);
    let o = cloud.msctl("ledger-a.db", &["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let extra = cloud.duplicate_svc();
    // A config that governs cn-beijing but no longer declares `ml`, read with a ledger that
    // never owned it (another team's runner).
    std::fs::write(
        cloud.dir.path().join("cfg/msctl.toml"),
        SVC.replace("name = \"ml\"", "name = \"other\""),
    )
    .unwrap();
    let o = cloud.msctl("ledger-b.db", &["plan"]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(
        out.contains(&format!("workspace.ml.apikey.svc#{extra}")),
        "{out}"
    );
    assert!(
        !out.contains(&format!("- workspace.ml.apikey.svc#{extra}")),
        "{out}"
    );
    let o = cloud.msctl("ledger-b.db", &["drift"]);
    let out = text(&o);
    assert_eq!(code(&o), 2, "{out}");
    assert!(
        out.contains(&format!("workspace.ml.apikey.svc#{extra}")),
        "{out}"
    );
}
