//! API-key rotation as code (issue 13, part 2), through the built `msctl`: on the embedded
//! backend and on the aliyun backend against the emulator, a key older than its `rotate_after`
//! is rotated (the successor made beside it, its secret only in `--secrets-to`), the old key
//! stays enabled for the overlap, a later apply deletes it by its id, and then nothing is left
//! to do. Key age is the platform's creation time: tests move a key's creation time back in the
//! platform's database, and msctl's clock forward with `MSCTL_NOW`; nothing sleeps.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use serde_json::Value;

use msctl::acs::credentials::Credentials;
use msctl::emulator::{self, EmulatorConfig, RunningEmulator};

mod common;
use common::{code, text};

const AK: &str = "LTAI5tRotationKeyId";
const SECRET: &str = "rotation-Secret-5c1e7a";
const DAY: i64 = 86_400;

const MSCTL: &str = "[project]\nname = \"rotation\"\ndefault_region = \"cn-beijing\"\n";
const RAM: &str = "[[ram.user]]\nname = \"alice\"\n\n[[ram.user]]\nname = \"bob\"\n";
const WORKSPACE: &str = r#"[[workspace]]
name = "team"
region = "cn-beijing"
members = [{ user = "alice" }]
api_keys = [
  { name = "backend", owner = "alice", description = "team service", rotate_after = "90d", overlap = "7d" },
]
"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// Where msctl runs: a config directory and either backend.
struct Setup {
    dir: tempfile::TempDir,
    emulator: Option<RunningEmulator>,
}

impl Setup {
    fn local() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let setup = Setup {
            dir,
            emulator: None,
        };
        setup.write_config(WORKSPACE);
        setup
    }

    fn cloud() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config = EmulatorConfig::new(dir.path().join("cloud.db"), Credentials::new(AK, SECRET));
        let emulator = emulator::spawn(config).expect("emulator starts");
        let setup = Setup {
            dir,
            emulator: Some(emulator),
        };
        // Members are console-only on the cloud (manual steps): the key's owner is the caller.
        setup.write_config(&WORKSPACE.replace("members = [{ user = \"alice\" }]\n", ""));
        setup
    }

    fn write_config(&self, workspaces: &str) {
        let cfg = self.dir.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("msctl.toml"), MSCTL).unwrap();
        std::fs::write(cfg.join("ram.toml"), RAM).unwrap();
        std::fs::write(cfg.join("workspaces.toml"), workspaces).unwrap();
    }

    /// The platform's database: the local backend's state, or the emulator's.
    fn platform_db(&self) -> PathBuf {
        match &self.emulator {
            Some(_) => self.dir.path().join("cloud.db"),
            None => self.dir.path().join("local.db"),
        }
    }

    fn secrets(&self) -> PathBuf {
        self.dir.path().join("secrets.txt")
    }

    /// `msctl` on this setup; `now` sets `MSCTL_NOW`.
    fn msctl(&self, args: &[&str], now: Option<i64>) -> Output {
        let mut cmd = Command::cargo_bin("msctl").unwrap();
        cmd.arg("-C").arg(self.dir.path().join("cfg"));
        match &self.emulator {
            Some(e) => {
                cmd.args(["--backend", "aliyun", "--endpoint", &e.url()])
                    .arg("--ledger")
                    .arg(self.dir.path().join("ledger.db"))
                    .args(["--caller", "alice"]);
            }
            None => {
                cmd.arg("--state").arg(self.platform_db());
            }
        }
        cmd.args(args)
            .env("NO_COLOR", "1")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .env_remove("MSCTL_NOW")
            .timeout(Duration::from_secs(120));
        if let Some(now) = now {
            cmd.env("MSCTL_NOW", now.to_string());
        }
        cmd.output().unwrap()
    }

    fn apply(&self, now: Option<i64>) -> Output {
        let secrets = self.secrets();
        let mut args = vec!["apply", "--auto-approve"];
        if self.emulator.is_some() {
            args.extend(["--secrets-to", secrets.to_str().unwrap()]);
        }
        let out = self.msctl(&args, now);
        assert_eq!(code(&out), 0, "{}", text(&out));
        out
    }

    fn plan(&self, now: Option<i64>) -> Value {
        let out = self.msctl(&["plan", "--format", "json"], now);
        assert_eq!(code(&out), 0, "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The platform's keys of msctl's name `backend`: (id, enabled, created in seconds).
    fn keys(&self) -> Vec<(i64, bool, i64)> {
        let db = rusqlite::Connection::open(self.platform_db()).unwrap();
        let mut stmt = db
            .prepare(
                "SELECT id, enabled, gmt_create FROM ms_api_key \
                 WHERE name = 'backend' OR name LIKE 'backend#%' \
                 OR description LIKE 'msctl:backend%' ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? / 1000))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// Moves every key's creation time `days` into the past, as if it had been made then.
    fn age_keys(&self, days: i64) {
        let db = rusqlite::Connection::open(self.platform_db()).unwrap();
        db.execute(
            "UPDATE ms_api_key SET gmt_create = gmt_create - ?1",
            [days * DAY * 1000],
        )
        .unwrap();
    }
}

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

fn warnings(plan: &Value) -> String {
    plan["warnings"].to_string()
}

/// The lines of the secrets file for the key.
fn secret_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("workspace.team.apikey.backend="))
        .map(str::to_string)
        .collect()
}

/// The whole cycle on one setup: create, age, rotate, overlap, delete, quiet.
fn rotation_cycle(setup: &Setup) {
    let key = "workspace.team.apikey.backend";
    setup.apply(None);
    let created = setup.keys();
    assert_eq!(created.len(), 1, "{created:?}");
    let old_id = created[0].0;

    // Young: nothing to do.
    assert_eq!(changes(&setup.plan(None)), vec![]);

    // 91 days old: the plan rotates it, at its own address.
    setup.age_keys(91);
    let plan = setup.plan(None);
    assert_eq!(
        changes(&plan),
        vec![(key.to_string(), "rotate".to_string())]
    );
    let change = &plan["changes"][0];
    let why = change["warnings"][0].as_str().unwrap();
    assert!(why.contains("it is 91d old (rotate_after 90d)"), "{why}");
    assert!(
        why.contains(&format!(
            "the current key (id {old_id}) stays enabled for the overlap (7d)"
        )),
        "{why}"
    );
    let out = setup.msctl(&["plan", "--detailed-exitcode"], None);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("+/- workspace.team.apikey.backend"),
        "{}",
        text(&out)
    );

    // The apply makes the successor; the old key still exists, enabled.
    let out = setup.apply(None);
    assert!(
        text(&out).contains("workspace.team.apikey.backend: rotated"),
        "{}",
        text(&out)
    );
    let after = setup.keys();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[0], (old_id, true, created[0].2 - 91 * DAY));
    let new_id = after[1].0;
    assert!(after[1].1, "the successor is enabled");

    // During the overlap: nothing to do, and the plan says when the old key goes.
    let plan = setup.plan(None);
    assert_eq!(changes(&plan), vec![], "{plan}");
    assert!(
        warnings(&plan).contains(&format!(
            "its predecessor (id {old_id}) stays enabled until"
        )),
        "{plan}"
    );
    let out = setup.msctl(&["plan", "--detailed-exitcode"], None);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let later = now() + 6 * DAY;
    assert_eq!(changes(&setup.plan(Some(later))), vec![]);

    // After the overlap: the old key is deleted by its id, without --allow-delete.
    let past = now() + 8 * DAY;
    let plan = setup.plan(Some(past));
    assert_eq!(
        changes(&plan),
        vec![(format!("{key}#{old_id}"), "delete".to_string())],
        "{plan}"
    );
    setup.apply(Some(past));
    let left = setup.keys();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, new_id);

    // Then nothing: the successor is 8 days old.
    assert_eq!(changes(&setup.plan(Some(past))), vec![]);
    let out = setup.msctl(&["plan", "--detailed-exitcode"], Some(past));
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn local_backend_rotates_a_key_past_rotate_after_with_an_overlap() {
    let setup = Setup::local();
    rotation_cycle(&setup);
}

#[test]
fn aliyun_backend_rotates_through_the_emulator_and_delivers_only_the_new_secret() {
    let setup = Setup::cloud();
    rotation_cycle(&setup);
    // Two secrets were written, one per key, to a file only its owner reads.
    let lines = secret_lines(&setup.secrets());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_ne!(lines[0], lines[1]);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(setup.secrets())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The later line is the successor's secret: the platform knows it as the key left.
    let secret = lines[1].split_once('=').unwrap().1;
    let store = msctl::store::Store::open(setup.platform_db()).unwrap();
    let holder = store
        .api_key_by_secret(secret)
        .unwrap()
        .expect("a live key has it");
    assert_eq!(setup.keys()[0].0, holder.id);
}

/// During the overlap a change to the key reaches the successor (the key at the address), not
/// the key rotated out.
fn update_during_overlap(setup: &Setup, workspace: &str) {
    setup.apply(None);
    setup.age_keys(91);
    setup.apply(None);
    let [old, new] = setup.keys()[..] else {
        panic!("two keys after the rotation: {:?}", setup.keys())
    };
    setup.write_config(&workspace.replace("team service", "team service v2"));
    let plan = setup.plan(None);
    assert_eq!(
        changes(&plan),
        vec![("workspace.team.apikey.backend".into(), "update".into())]
    );
    setup.apply(None);
    let db = rusqlite::Connection::open(setup.platform_db()).unwrap();
    let description = |id: i64| -> String {
        db.query_row(
            "SELECT description FROM ms_api_key WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(
        description(new.0).ends_with("team service v2"),
        "{}",
        description(new.0)
    );
    assert!(
        description(old.0).ends_with("team service"),
        "{}",
        description(old.0)
    );
    assert_eq!(changes(&setup.plan(None)), vec![]);
}

#[test]
fn local_backend_updates_the_successor_during_the_overlap() {
    update_during_overlap(&Setup::local(), WORKSPACE);
}

#[test]
fn aliyun_backend_updates_the_successor_during_the_overlap() {
    let setup = Setup::cloud();
    let workspace = WORKSPACE.replace("members = [{ user = \"alice\" }]\n", "");
    update_during_overlap(&setup, &workspace);
}

#[test]
fn bad_rotation_settings_are_located_errors_all_in_one_run() {
    let setup = Setup::local();
    setup.write_config(
        r#"[[workspace]]
name = "app"
members = [{ user = "alice" }]
api_keys = [
  { name = "a", owner = "alice", rotate_after = "90w" },
  { name = "b", owner = "alice", overlap = "7d" },
  { name = "c", owner = "alice", rotate_after = "7d", overlap = "7d" },
]

[[api_key]]
workspace = "app"
name = "d"
owner = "alice"
rotate_after = "0"
"#,
    );
    let out = setup.msctl(&["validate"], None);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = common::stderr(&out);
    for expected in [
        concat!(
            "error: `90w` is not a duration: write a whole number with a unit s, m, h or d, ",
            "like `90d` or `12h`\n --> workspaces.toml:5:49\n  |\n",
            "5 |   { name = \"a\", owner = \"alice\", rotate_after = \"90w\" },\n",
            "  |                                                 ^^^^^\n",
        ),
        "error: API key `b` has an `overlap` but no `rotate_after`\n --> workspaces.toml:6:44\n",
        concat!(
            "error: API key `c` has `overlap = \"7d\"`, not less than `rotate_after = \"7d\"`: ",
            "the successor would be due before its predecessor is deleted\n",
            " --> workspaces.toml:7:65\n",
        ),
        concat!(
            "error: API key `d` has `rotate_after = \"0\"`: it would be rotated on every apply\n",
            "  --> workspaces.toml:14:16\n",
        ),
    ] {
        assert!(
            stderr.contains(expected),
            "missing\n{expected}\nin\n{stderr}"
        );
    }
    assert!(stderr.contains("validation found 4 errors"), "{stderr}");
}

const RISKS: &str = r#"[[workspace]]
name = "team"
region = "cn-beijing"
members = [{ user = "alice" }, { user = "bob" }]
api_keys = [
  { name = "backend", owner = "alice", rotate_after = "90d", overlap = "7d" },
  { name = "ops", owner = "bob" },
]

[[workspace]]
name = "default-cn-beijing"
region = "cn-beijing"
default = true
members = [{ user = "alice" }]
api_keys = [{ name = "shared", owner = "alice" }]
"#;

fn drift(setup: &Setup, now: Option<i64>) -> (i32, Value) {
    let out = setup.msctl(&["drift", "--format", "json"], now);
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (code(&out), report)
}

fn risks(report: &Value) -> Vec<(String, String)> {
    report["risks"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| {
                    (
                        r["address"].as_str().unwrap().to_string(),
                        r["kind"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn drift_reports_keys_past_due_in_the_default_workspace_and_owned_by_non_members() {
    let setup = Setup::local();
    setup.write_config(RISKS);
    setup.apply(None);
    // In sync, but the default-workspace key is a risk: reported, exit 0.
    let (exit, report) = drift(&setup, None);
    assert_eq!(exit, 0, "{report}");
    assert_eq!(
        risks(&report),
        vec![(
            "workspace.default-cn-beijing.apikey.shared".to_string(),
            "default_workspace".to_string()
        )]
    );
    let out = setup.msctl(&["drift"], None);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("API-key risks (warnings; they do not change the exit code):"),
        "{}",
        text(&out)
    );
    let out = setup.msctl(&["drift", "--format", "markdown"], None);
    assert!(
        common::stdout(&out).contains(
            "**API-key risks** (warnings; they do not change the exit code):\n\n- \
             `workspace.default-cn-beijing.apikey.shared`: in the default workspace"
        ),
        "{}",
        text(&out)
    );

    // Bob leaves the workspace in the console, and the backend key gets old.
    {
        let mut store = msctl::store::Store::open(setup.platform_db()).unwrap();
        let ws = store.workspace_by_name("team").unwrap();
        store
            .remove_member(&ws.id, &msctl::model::Principal::User("bob".into()))
            .unwrap();
    }
    setup.age_keys(100);
    let (exit, report) = drift(&setup, None);
    assert_eq!(exit, 2, "{report}");
    let due: Vec<&Value> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "rotation_due")
        .collect();
    assert_eq!(due.len(), 1, "{report}");
    assert_eq!(due[0]["address"], "workspace.team.apikey.backend");
    assert_eq!(
        risks(&report),
        vec![
            (
                "workspace.default-cn-beijing.apikey.shared".to_string(),
                "default_workspace".to_string()
            ),
            (
                "workspace.team.apikey.ops".to_string(),
                "owner_not_member".to_string()
            ),
        ]
    );
    let out = setup.msctl(&["drift"], None);
    let shown = text(&out);
    assert!(shown.contains("1 due for rotation."), "{shown}");
    assert!(
        shown.contains(
            "workspace.team.apikey.ops: owned by RAM user `bob`, who is not a member of `team`"
        ),
        "{shown}"
    );
}

#[test]
fn a_successor_names_its_predecessor_or_nothing_is_made() {
    use msctl::model::BackendError;
    use msctl::store::{NewApiKey, Store};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("s.db")).unwrap();
    let ws = store.create_workspace("team", "cn-beijing").unwrap();
    let key = NewApiKey {
        workspace_id: ws.clone(),
        name: "backend".into(),
        owner: "alice".into(),
        description: String::new(),
        models: None,
        ip_allow: Default::default(),
        enabled: true,
    };
    let first = store.create_api_key(&key).unwrap();
    // Another key of the same name is refused, unless it succeeds that one.
    assert!(matches!(
        store.create_api_key(&key),
        Err(BackendError::Conflict(_))
    ));
    let wrong = store.create_successor_api_key(first.id + 100, &key);
    assert!(matches!(wrong, Err(BackendError::NotFound(_))), "{wrong:?}");
    assert_eq!(
        store.list_api_keys(Some(&ws)).unwrap().len(),
        1,
        "nothing was made"
    );
    let second = store.create_successor_api_key(first.id, &key).unwrap();
    let names: Vec<(i64, String)> = store
        .list_api_keys(Some(&ws))
        .unwrap()
        .into_iter()
        .map(|k| (k.id, k.name))
        .collect();
    assert_eq!(
        names,
        vec![
            (first.id, format!("backend#{}", first.id)),
            (second.id, "backend".to_string())
        ]
    );
    assert_ne!(first.secret, second.secret);
}

#[test]
fn msctl_now_that_is_not_a_number_is_an_error_not_the_clock() {
    let setup = Setup::local();
    let mut cmd = Command::cargo_bin("msctl").unwrap();
    let out = cmd
        .arg("-C")
        .arg(setup.dir.path().join("cfg"))
        .arg("--state")
        .arg(setup.platform_db())
        .arg("plan")
        .env("MSCTL_NOW", "tomorrow")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        common::stderr(&out).contains("failed to read `MSCTL_NOW=tomorrow`"),
        "{}",
        text(&out)
    );
}
