//! Renames that keep credentials (issue 13, part 1): `renamed_from` on a RAM user or group plans
//! one in-place rename, carries the ledger's ownership over and rewrites every reference without
//! touching it live; on the local backend and on the aliyun backend against the emulator.

use std::path::{Path, PathBuf};
use std::process::Output;

use msctl::backend::aliyun::Credentials;
use msctl::backend::local::{LocalBackend, Store};
use msctl::backend::{Backend, Ledger};
use msctl::emulator::{self, EmulatorConfig, RunningEmulator};
use msctl::store::LedgerStore;
use serde_json::Value;

mod common;
use common::{CHANGES, ERROR, SUCCESS, msctl, text};

const HEAD: &str = r#"
[project]
name = "renames"
account_uid = "1378030599924858"
default_region = "cn-beijing"
"#;

/// Bob, in a group, holding a policy, a member of workspace `ml` and owner of a key there.
fn config(user: &str, renamed_from: Option<&str>, group: &str, group_from: Option<&str>) -> String {
    let user_from = renamed_from
        .map(|f| format!("renamed_from = \"{f}\"\n"))
        .unwrap_or_default();
    let group_from = group_from
        .map(|f| format!("renamed_from = \"{f}\"\n"))
        .unwrap_or_default();
    format!(
        r#"{HEAD}
[[ram.user]]
name = "alice"

[[ram.user]]
name = "{user}"
{user_from}display_name = "Bob"
policies = ["AliyunBailianDataReadOnlyAccess"]

[[ram.group]]
name = "{group}"
{group_from}members = ["{user}"]
policies = ["AliyunBailianReadOnlyAccess"]

[[workspace]]
name = "ml"
region = "cn-beijing"
models = [{{ model = "qwen-plus" }}]
members = [{{ user = "{user}", pages = ["ModelExperience-FullAccess"] }}]
api_keys = [{{ name = "bob-key", owner = "{user}" }}]
"#
    )
}

/// A config folder and a local state beside it.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Local {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        Local { dir }
    }

    fn write(&self, toml: &str) {
        std::fs::write(self.dir.path().join("cfg/msctl.toml"), toml).unwrap();
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("local.db")
    }

    fn run(&self, args: &[&str]) -> Output {
        msctl()
            .arg("-C")
            .arg(self.dir.path().join("cfg"))
            .arg("--state")
            .arg(self.db())
            .args(args)
            .output()
            .unwrap()
    }

    fn ledger(&self) -> Ledger {
        LocalBackend::open(self.db())
            .unwrap()
            .load_ledger()
            .unwrap()
    }

    /// (id, owner, enabled) of the key `bob-key`.
    fn key(&self) -> (i64, String, bool) {
        let store = Store::open(self.db()).unwrap();
        let key = store
            .list_api_keys(None)
            .unwrap()
            .into_iter()
            .find(|k| k.name == "bob-key")
            .expect("the key exists");
        (key.id, key.owner, key.enabled)
    }
}

fn json_plan(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// (address, action) of every change of a JSON plan.
fn changes(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn owns(ledger: &Ledger, address: &str) -> bool {
    ledger.owned.contains(&address.parse().unwrap())
}

/// The plan of a rename is exactly one in-place update, naming both names.
#[track_caller]
fn assert_one_rename(plan: &Value, address: &str, from: &str, to: &str) {
    assert_eq!(
        changes(plan),
        vec![(address.to_string(), "update".to_string())],
        "{plan:#}"
    );
    let attributes = &plan["changes"][0]["attributes"];
    assert_eq!(attributes[0]["name"], "name", "{plan:#}");
    assert_eq!(attributes[0]["before"], from, "{plan:#}");
    assert_eq!(attributes[0]["after"], to, "{plan:#}");
}

#[test]
fn a_renamed_user_keeps_its_key_memberships_and_attachments_on_the_local_backend() {
    let l = Local::new();
    l.write(&config("bob", None, "devs", None));
    let o = l.run(&["apply", "--auto-approve"]);
    common::assert_code(&o, SUCCESS, "first apply");
    let (key_id, owner, _) = l.key();
    assert_eq!(owner, "bob");

    l.write(&config("robert", Some("bob"), "devs", None));
    let o = l.run(&["plan", "--format", "json"]);
    let plan = json_plan(&o);
    assert_one_rename(&plan, "ram.user.robert", "bob", "robert");
    assert_eq!(plan["summary"]["change"], 1, "{plan:#}");
    // Text says what the update does.
    let o = l.run(&["plan"]);
    assert!(
        text(&o).contains("renames RAM user `bob` to `robert` in place"),
        "{}",
        text(&o)
    );

    let o = l.run(&["apply", "--auto-approve"]);
    common::assert_code(&o, SUCCESS, "the rename");
    let o = l.run(&["plan", "--detailed-exitcode"]);
    common::assert_code(&o, SUCCESS, "nothing left to do after the rename");

    // The same key, now owned by robert and still enabled.
    assert_eq!(l.key(), (key_id, "robert".to_string(), true));
    let ledger = l.ledger();
    for owned in [
        "ram.user.robert",
        "ram.group.devs.member.robert",
        "ram.user.robert.policy.AliyunBailianDataReadOnlyAccess",
        "workspace.ml.member.robert",
    ] {
        assert!(owns(&ledger, owned), "{owned} in {:?}", ledger.owned);
    }
    for gone in [
        "ram.user.bob",
        "ram.group.devs.member.bob",
        "ram.user.bob.policy.AliyunBailianDataReadOnlyAccess",
        "workspace.ml.member.bob",
    ] {
        assert!(!owns(&ledger, gone), "{gone} in {:?}", ledger.owned);
    }

    // renamed_from stays in the config: once done, it is no change.
    let o = l.run(&["plan", "--detailed-exitcode"]);
    common::assert_code(&o, SUCCESS, "renamed_from kept after the rename");

    // The group, the same way: its members and attachments stay.
    l.write(&config("robert", Some("bob"), "engineers", Some("devs")));
    let plan = json_plan(&l.run(&["plan", "--format", "json"]));
    assert_one_rename(&plan, "ram.group.engineers", "devs", "engineers");
    let o = l.run(&["apply", "--auto-approve"]);
    common::assert_code(&o, SUCCESS, "the group rename");
    let o = l.run(&["plan", "--detailed-exitcode"]);
    common::assert_code(&o, SUCCESS, "nothing left after the group rename");
    let ledger = l.ledger();
    assert!(owns(&ledger, "ram.group.engineers.member.robert"));
    assert!(owns(
        &ledger,
        "ram.group.engineers.policy.AliyunBailianReadOnlyAccess"
    ));
    assert!(!owns(&ledger, "ram.group.devs"));
    assert!(!owns(&ledger, "ram.group.devs.member.robert"));
    let store = Store::open(l.db()).unwrap();
    let groups: Vec<String> = store
        .list_groups()
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, ["engineers"]);
}

#[test]
fn both_names_live_is_refused_with_an_error() {
    let l = Local::new();
    l.write(&config("bob", None, "devs", None));
    common::assert_code(&l.run(&["apply", "--auto-approve"]), SUCCESS, "apply");
    // robert is made by hand too.
    let mut store = Store::open(l.db()).unwrap();
    store
        .create_user(&msctl::model::RamUser {
            name: "robert".into(),
            display_name: None,
            comments: None,
        })
        .unwrap();
    drop(store);
    l.write(&config("robert", Some("bob"), "devs", None));
    for command in ["plan", "apply"] {
        let o = l.run(&[command, "--auto-approve"][..if command == "plan" { 1 } else { 2 }]);
        common::assert_code(&o, ERROR, command);
        assert!(
            text(&o).contains(
                "failed to plan the rename of `ram.user.bob` to `ram.user.robert` \
                 (`renamed_from`): both exist live"
            ),
            "{}",
            text(&o)
        );
        assert!(text(&o).contains("hint:"), "{}", text(&o));
    }
    // Nothing was touched: the key is still bob's.
    assert_eq!(l.key().1, "bob");
}

#[test]
fn deleting_a_key_owner_and_creating_a_user_suggests_renamed_from_in_every_format() {
    let l = Local::new();
    l.write(&config("bob", None, "devs", None));
    common::assert_code(&l.run(&["apply", "--auto-approve"]), SUCCESS, "apply");
    // A rename written as a new name only: bob (owned) would be deleted, robert created.
    l.write(&config("robert", None, "devs", None));
    let hint = "add `renamed_from = \"bob\"` to its `[[ram.user]]` block";
    for format in ["text", "markdown", "json"] {
        let o = l.run(&[
            "plan",
            "--format",
            format,
            "--detailed-exitcode",
            "--allow-delete",
            "--force",
        ]);
        common::assert_code(&o, CHANGES, format);
        let out = text(&o);
        let shown = match format {
            "json" => json_plan(&o)["warnings"].to_string(),
            // Markdown escapes its punctuation.
            "markdown" => out.replace('\\', ""),
            _ => out.clone(),
        };
        assert!(
            shown.contains("workspace.ml.apikey.bob-key"),
            "{format}: {out}"
        );
        let shown = shown.replace("\\\"", "\"");
        assert!(shown.contains(hint), "{format}: {out}");
        assert!(
            shown.contains("If `robert` is `bob` renamed"),
            "{format}: {out}"
        );
    }
    // With renamed_from the warning is gone.
    l.write(&config("robert", Some("bob"), "devs", None));
    let o = l.run(&["plan"]);
    assert!(!text(&o).contains(hint), "{}", text(&o));
}

fn config_dir(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("msctl.toml"), toml).unwrap();
    dir
}

fn validate(dir: &Path) -> Output {
    msctl().arg("validate").arg("-C").arg(dir).output().unwrap()
}

#[test]
fn renamed_from_on_a_role_is_a_located_error() {
    let dir = config_dir(&format!(
        "{HEAD}\n[[ram.role]]\nname = \"ops-new\"\nrenamed_from = \"ops\"\n\
         trust = {{ services = [\"pai.aliyuncs.com\"] }}\n"
    ));
    let o = validate(dir.path());
    common::assert_code(&o, ERROR, "validate");
    let out = text(&o);
    assert!(
        out.contains("RAM cannot rename role `ops` to `ops-new`"),
        "{out}"
    );
    assert!(out.contains("msctl.toml:9:"), "{out}");
    assert!(out.contains("hint: remove `renamed_from`"), "{out}");
}

#[test]
fn renaming_a_declared_name_or_one_name_twice_is_a_located_error() {
    let dir = config_dir(&format!(
        "{HEAD}\n[[ram.user]]\nname = \"bob\"\n\n\
         [[ram.user]]\nname = \"robert\"\nrenamed_from = \"bob\"\n"
    ));
    let out = text(&validate(dir.path()));
    assert!(
        out.contains("`ram.user.robert` is renamed from RAM user `bob`, which is declared too"),
        "{out}"
    );
    assert!(out.contains("msctl.toml:12:"), "{out}");

    let dir = config_dir(&format!(
        "{HEAD}\n[[ram.group]]\nname = \"a\"\nrenamed_from = \"old\"\n\n\
         [[ram.group]]\nname = \"b\"\nrenamed_from = \"old\"\n"
    ));
    let o = validate(dir.path());
    common::assert_code(&o, ERROR, "validate");
    let out = text(&o);
    assert!(out.contains("RAM group `old` is renamed twice"), "{out}");

    // A reference to the old name says where it went.
    let dir = config_dir(&format!(
        "{HEAD}\n[[ram.user]]\nname = \"robert\"\nrenamed_from = \"bob\"\n\n\
         [[ram.group]]\nname = \"g\"\nmembers = [\"bob\"]\n"
    ));
    let out = text(&validate(dir.path()));
    assert!(out.contains("unknown RAM user `bob`"), "{out}");
    assert!(out.contains("`bob` is renamed"), "{out}");
}

// ---- the aliyun backend against the emulator ----------------------------------------------------

const AK: &str = "LTAI5tRenamesKeyId";
const SECRET: &str = "renames-Secret-5b1c7e9d2a";

struct Cloud {
    dir: tempfile::TempDir,
    emu: RunningEmulator,
}

impl Cloud {
    fn new() -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        let emu = emulator::spawn(EmulatorConfig::new(
            dir.path().join("cloud.db"),
            Credentials::new(AK, SECRET),
        ))
        .expect("emulator starts");
        Cloud { dir, emu }
    }

    fn write(&self, toml: &str) {
        std::fs::write(self.dir.path().join("cfg/msctl.toml"), toml).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        msctl()
            .arg("-C")
            .arg(self.dir.path().join("cfg"))
            .args(["--backend", "aliyun", "--endpoint", &self.emu.url()])
            .args(["--caller", "alice"])
            .arg("--ledger")
            .arg(self.dir.path().join("ledger.db"))
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .args(args)
            .output()
            .unwrap()
    }

    fn store(&self) -> Store {
        Store::open(self.dir.path().join("cloud.db")).unwrap()
    }

    fn ledger(&self) -> Ledger {
        LedgerStore::open(self.dir.path().join("ledger.db"))
            .unwrap()
            .load_ledger()
            .unwrap()
    }
}

#[test]
fn a_renamed_user_and_group_keep_everything_through_the_emulator() {
    let c = Cloud::new();
    c.write(&config("bob", None, "devs", None));
    // Keys for users other than the caller, and members, are console steps: the first apply
    // makes the rest; the console steps are then done in the emulated account and acknowledged.
    let o = c.run(&["apply", "--auto-approve"]);
    common::assert_code(&o, SUCCESS, "first apply");
    let mut store = c.store();
    let ws = store
        .list_workspaces(None)
        .unwrap()
        .into_iter()
        .find(|w| w.name == "ml")
        .expect("workspace ml exists");
    let key = store
        .create_api_key(&msctl::store::NewApiKey {
            workspace_id: ws.id.clone(),
            name: "bob-key".into(),
            owner: "bob".into(),
            description: "msctl:bob-key".into(),
            models: None,
            ip_allow: Default::default(),
            enabled: true,
        })
        .unwrap();
    drop(store);
    let o = c.run(&["ack", "workspace.ml.member.bob"]);
    common::assert_code(&o, SUCCESS, "ack of the membership");
    let o = c.run(&["plan", "--detailed-exitcode"]);
    common::assert_code(&o, SUCCESS, "in sync before the rename");
    let bob_id = c.store().user("bob").unwrap().id;

    c.write(&config("robert", Some("bob"), "devs", None));
    let plan = json_plan(&c.run(&["plan", "--format", "json"]));
    assert_one_rename(&plan, "ram.user.robert", "bob", "robert");
    let o = c.run(&["apply", "--auto-approve"]);
    common::assert_code(&o, SUCCESS, "the rename");
    let o = c.run(&["plan", "--detailed-exitcode"]);
    common::assert_code(&o, SUCCESS, "nothing left to do after the rename");

    let store = c.store();
    assert_eq!(
        store.user("robert").unwrap().id,
        bob_id,
        "the same RAM user"
    );
    let keys = store.list_api_keys(None).unwrap();
    let kept = keys
        .iter()
        .find(|k| k.id == key.id)
        .expect("the key still exists");
    assert_eq!((kept.owner.as_str(), kept.enabled), ("robert", true));
    let ledger = c.ledger();
    assert!(owns(&ledger, "ram.user.robert"), "{:?}", ledger.owned);
    assert!(owns(&ledger, "ram.group.devs.member.robert"));
    assert!(!owns(&ledger, "ram.user.bob"), "{:?}", ledger.owned);
    // The acknowledged membership moved with the user.
    let acked: Vec<String> = ledger.acknowledged.keys().map(|a| a.to_string()).collect();
    assert_eq!(acked, ["workspace.ml.member.robert"]);

    c.write(&config("robert", Some("bob"), "engineers", Some("devs")));
    let plan = json_plan(&c.run(&["plan", "--format", "json"]));
    assert_one_rename(&plan, "ram.group.engineers", "devs", "engineers");
    let o = c.run(&["apply", "--auto-approve"]);
    common::assert_code(&o, SUCCESS, "the group rename");
    let o = c.run(&["plan", "--detailed-exitcode"]);
    common::assert_code(&o, SUCCESS, "nothing left after the group rename");
    let members: Vec<String> = c
        .store()
        .list_group_members(Some("engineers"))
        .unwrap()
        .into_iter()
        .map(|m| m.user)
        .collect();
    assert_eq!(members, ["robert"]);
}
