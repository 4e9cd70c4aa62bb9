//! The caller is known, not guessed (issue 9 item 6): the aliyun backend asks STS
//! `GetCallerIdentity` who its credentials are, records it in the ledger, and `--caller` only
//! overrides; a plan never proposes replacing or deleting API keys because the caller is
//! unknown. Against the emulator on 127.0.0.1:0, through the built `msctl`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use msctl::backend::aliyun::identity::{CallerIdentity, KeyCreators};
use msctl::backend::aliyun::{
    CallError, Client, ClientConfig, Credentials, Endpoint, Product, RequestSpec,
};
use msctl::backend::{Capabilities, Capability};
use msctl::emulator::{self, EmulatorConfig, RunningEmulator};
use msctl::model::{ApiKey, Resource, State, Workspace};
use msctl::plan::{Action, DiffOptions, diff};

mod common;
use common::{code, text};

const AK: &str = "LTAI5tCallerKeyId";
const SECRET: &str = "caller-Secret-8d2b6e";

const MSCTL: &str = "[project]\nname = \"caller\"\ndefault_region = \"cn-beijing\"\n";
const RAM: &str = "[[ram.user]]\nname = \"alice\"\n";
const WORKSPACE: &str = "[[workspace]]\nname = \"team\"\nregion = \"cn-beijing\"\n\
    api_keys = [\n  { name = \"backend\", owner = \"alice\", description = \"team service\" },\n\
    ]\n";

/// A config directory and an emulator whose access key belongs to `caller_user` (the account's
/// own key when `None`).
struct Cloud {
    dir: tempfile::TempDir,
    emulator: RunningEmulator,
}

impl Cloud {
    fn new(caller_user: Option<&str>) -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        let config = EmulatorConfig {
            caller_user: caller_user.map(str::to_string),
            ..EmulatorConfig::new(dir.path().join("cloud.db"), Credentials::new(AK, SECRET))
        };
        let emulator = emulator::spawn(config).expect("emulator starts");
        let cloud = Cloud { dir, emulator };
        cloud.write("msctl.toml", MSCTL);
        cloud.write("ram.toml", RAM);
        cloud
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("cfg").join(name), text).unwrap();
    }

    fn ledger(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `msctl --backend aliyun` against the emulator, with the given ledger and extra flags.
    fn msctl(&self, ledger: &Path, args: &[&str]) -> Output {
        Command::cargo_bin("msctl")
            .unwrap()
            .arg("-C")
            .arg(self.dir.path().join("cfg"))
            .args(["--backend", "aliyun", "--endpoint", &self.emulator.url()])
            .arg("--ledger")
            .arg(ledger)
            .args(args)
            .env("NO_COLOR", "1")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    fn plan(&self, ledger: &Path, args: &[&str]) -> Value {
        let mut all = vec!["plan", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.msctl(ledger, &all);
        assert_eq!(code(&out), 0, "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn key_changes(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["address"].as_str().unwrap().contains(".apikey."))
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_plan_without_caller_keeps_the_keys_the_previous_apply_created() {
    let cloud = Cloud::new(None);
    cloud.write("workspaces.toml", WORKSPACE);
    let ledger = cloud.ledger("ledger.db");
    // The account's own access key, told it acts for alice: the key is created via the API.
    let out = cloud.msctl(&ledger, &["apply", "--auto-approve", "--caller", "alice"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("workspace.team.apikey.backend: created"),
        "{}",
        text(&out)
    );

    // A later plan without --caller: the ledger recorded who the credentials were, so the key
    // reads as alice's and nothing is replaced.
    let plan = cloud.plan(&ledger, &[]);
    assert_eq!(key_changes(&plan), Vec::<(String, String)>::new(), "{plan}");
    let out = cloud.msctl(&ledger, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn sts_names_the_ram_user_and_no_flag_is_needed() {
    let cloud = Cloud::new(Some("alice"));
    let ledger = cloud.ledger("ledger.db");
    // Alice exists first: it is her access key msctl signs with.
    let out = cloud.msctl(&ledger, &["apply", "--auto-approve"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    cloud.write("workspaces.toml", WORKSPACE);
    let plan = cloud.plan(&ledger, &[]);
    let key = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "workspace.team.apikey.backend")
        .expect("the key is planned");
    // Known to be alice: created through the API, not left as a console step.
    assert_eq!(key["action"], "create");
    assert!(key["manual"].is_null(), "{key}");
    let out = cloud.msctl(&ledger, &["apply", "--auto-approve"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("workspace.team.apikey.backend: created"),
        "{}",
        text(&out)
    );
    let out = cloud.msctl(&ledger, &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    // The ledger holds who the credentials were.
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    let recorded: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'msctl.caller'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let recorded: Value = serde_json::from_str(&recorded).unwrap();
    assert_eq!(recorded["name"], "alice");
    assert!(
        recorded["user_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    // `--caller` still overrides: as bob, alice's key would be a console step to recreate, but
    // it exists and reads as alice's, so nothing changes.
    let plan = cloud.plan(&ledger, &["--caller", "bob"]);
    assert_eq!(key_changes(&plan), Vec::<(String, String)>::new(), "{plan}");
}

#[test]
fn when_sts_cannot_say_who_the_credentials_are_keys_are_not_replaced() {
    // The access key of a user the emulator does not know: STS refuses to name it.
    let cloud = Cloud::new(Some("ghost"));
    cloud.write("workspaces.toml", WORKSPACE);
    let ledger = cloud.ledger("ledger.db");
    let out = cloud.msctl(&ledger, &["apply", "--auto-approve", "--caller", "alice"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("warning: failed to ask STS who the credentials belong to"),
        "{}",
        text(&out)
    );

    // Without --caller nothing names the key's creator: its owner is unknown, not compared,
    // and the plan says so instead of replacing the key.
    let out = cloud.msctl(&ledger, &["plan", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(key_changes(&plan), Vec::<(String, String)>::new(), "{plan}");
    let warnings = plan["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap();
            w.contains("could not be read") && w.contains("`workspace.team.apikey.backend`")
        }),
        "{plan}"
    );
}

#[test]
fn an_unknown_owner_is_never_a_reason_to_replace_a_key() {
    // What the backend reads when neither STS, `--caller` nor the ledger names a key's creator.
    let live_key = ApiKey {
        workspace: "team".into(),
        name: "backend".into(),
        owner: ApiKey::UNKNOWN_OWNER.into(),
        description: "old".into(),
        models: None,
        ip_allow: Default::default(),
        enabled: true,
    };
    let want_key = ApiKey {
        owner: "alice".into(),
        description: "team service".into(),
        ..live_key.clone()
    };
    let ws = Resource::Workspace(Workspace {
        name: "team".into(),
        region: "cn-beijing".into(),
        default: false,
    });
    let mut live = State::default();
    live.insert(ws.clone());
    live.insert(Resource::ApiKey(live_key.clone()));
    let mut desired = State::default();
    desired.insert(ws);
    desired.insert(Resource::ApiKey(want_key.clone()));
    let mut caps = Capabilities::full();
    caps.missing.insert(Capability::ApiKeyOwner);

    let d = diff(&desired, &live, &DiffOptions::default(), &caps);
    assert_eq!(d.changes.len(), 1, "{:?}", d.changes);
    let change = &d.changes[0];
    // The description is updated in place; the owner is not compared.
    assert_eq!(change.action, Action::Update);
    assert_eq!(
        change
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["description"]
    );
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("could not be read")
                && w.contains("`workspace.team.apikey.backend`")),
        "{:?}",
        d.warnings
    );

    // Same description: no change at all, whatever the owner.
    live.insert(Resource::ApiKey(ApiKey {
        description: "team service".into(),
        ..live_key
    }));
    let d = diff(&desired, &live, &DiffOptions::default(), &caps);
    assert!(d.changes.is_empty(), "{:?}", d.changes);

    // And the reading side: with nothing known, `createdBy` names no owner.
    assert_eq!(KeyCreators::default().owner_of("1378030599924858"), None);
}

#[test]
fn get_caller_identity_is_signature_checked_and_names_the_key_holder() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig::new(dir.path().join("cloud.db"), Credentials::new(AK, SECRET));
    let account = config.account_uid.clone();
    let emulator = emulator::spawn(config).unwrap();
    let client = |secret: &str| {
        Client::new(
            Credentials::new(AK, secret),
            ClientConfig {
                endpoint: Some(Endpoint::parse(&emulator.url()).unwrap()),
                ..ClientConfig::default()
            },
        )
    };
    let spec = RequestSpec::rpc(Product::Sts, "GetCallerIdentity");
    let body = client(SECRET).call(&spec).unwrap();
    let me = CallerIdentity::from_response(&body).unwrap();
    assert_eq!(me.identity_type, "Account");
    assert_eq!(me.user_id, account);
    assert_eq!(me.arn, format!("acs:ram::{account}:root"));
    assert_eq!(me.ram_user(), None);
    assert!(body["RequestId"].is_string());

    match client("wrong-secret").call(&spec) {
        Err(CallError::Api(e)) => {
            assert_eq!(e.code, "SignatureDoesNotMatch", "{e:?}");
        }
        other => panic!("a bad signature was accepted: {other:?}"),
    }
}
