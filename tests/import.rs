//! `msctl import` (issue 12, part 1): live state into config files that validate and plan to
//! nothing against the account they came from — the quickstart on the local backend, a small
//! synthetic config applied to the emulator through the aliyun backend — plus folding,
//! `--select`, adoption into an existing config, the output-directory guard, and no secret in
//! any file written.

use std::path::{Path, PathBuf};
use std::process::Output;

use msctl::backend::aliyun::Credentials;
use msctl::emulator::{self, EmulatorConfig, RunningEmulator};

mod common;
use common::{assert_code, copy_example, stdout, text};

const AK: &str = "LTAI5tImportKeyId";
const SECRET: &str = "import-Secret-7c2d9e4f1a";

/// `msctl ARGS` against the local state `db`.
fn local(db: &Path, args: &[&str]) -> Output {
    common::msctl()
        .arg("--state")
        .arg(db)
        .args(args)
        .output()
        .expect("msctl runs")
}

/// The quickstart applied to a fresh local state in `dir`; returns the state's path.
fn quickstart_account(dir: &Path) -> PathBuf {
    let cfg = dir.join("quickstart");
    copy_example("quickstart", &cfg);
    let db = dir.join("local.db");
    let apply = local(
        &db,
        &["-C", cfg.to_str().unwrap(), "apply", "--auto-approve"],
    );
    assert_code(&apply, common::SUCCESS, "apply of the quickstart");
    db
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `validate` reports no error, and `plan --detailed-exitcode` exits 0 (no changes).
#[track_caller]
fn assert_round_trip(validate: Output, plan: Output) {
    assert_code(&validate, common::SUCCESS, "validate of the imported files");
    assert!(
        !text(&validate).contains("error"),
        "validate reports an error:\n{}",
        text(&validate)
    );
    assert_code(&plan, common::SUCCESS, "plan of the imported files");
    assert!(
        stdout(&plan).contains("No changes."),
        "plan shows changes:\n{}",
        text(&plan)
    );
}

#[test]
fn quickstart_imports_into_files_that_plan_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = quickstart_account(dir.path());
    let out = dir.path().join("imported");
    let import = local(&db, &["import", "--out", out.to_str().unwrap()]);
    assert_code(&import, common::SUCCESS, "import");
    assert!(
        stdout(&import).contains("workspaces        4 in 2 declarations (1 folded"),
        "{}",
        text(&import)
    );
    // The local backend reads everything: nothing to note.
    assert!(!text(&import).contains("note:"), "{}", text(&import));
    let workspaces = read(&out.join("workspaces.toml"));
    // chatbot-dev, -test and -prod fold into one declaration; only prod and test differ.
    assert!(
        workspaces.contains("name = \"chatbot-{env}\""),
        "{workspaces}"
    );
    assert!(
        workspaces.contains("environments = [\"dev\", \"test\", \"prod\"]"),
        "{workspaces}"
    );
    assert!(
        workspaces.contains("[workspace.overrides.prod]"),
        "{workspaces}"
    );
    assert!(
        !workspaces.contains("[workspace.overrides.dev]"),
        "{workspaces}"
    );
    assert!(
        workspaces.contains("# 100% of the largest qwen-plus limit (600 requests/minute)"),
        "{workspaces}"
    );
    assert!(
        read(&out.join("policies/sfm-create-index.json")).contains("sfm:CreateIndex"),
        "the custom policy's document is a JSON file"
    );
    let validate = common::msctl()
        .args(["-C", out.to_str().unwrap(), "validate"])
        .output()
        .unwrap();
    let plan = local(
        &db,
        &["-C", out.to_str().unwrap(), "plan", "--detailed-exitcode"],
    );
    assert_round_trip(validate, plan);
    // msctl.toml names the database it was imported from: plain `plan` finds it.
    let plain = common::msctl()
        .args(["-C", out.to_str().unwrap(), "plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_code(&plain, common::SUCCESS, "plan with msctl.toml's state");
}

#[test]
fn import_refuses_a_non_empty_directory_without_force_and_needs_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let db = quickstart_account(dir.path());
    let out = dir.path().join("imported");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let refused = local(&db, &["import", "--out", out.to_str().unwrap()]);
    assert_code(&refused, common::ERROR, "import into a non-empty directory");
    assert!(
        text(&refused).contains("the directory is not empty"),
        "{}",
        text(&refused)
    );
    assert!(!out.join("workspaces.toml").exists(), "nothing was written");
    let forced = local(&db, &["import", "--out", out.to_str().unwrap(), "--force"]);
    assert_code(&forced, common::SUCCESS, "import --force");
    assert_eq!(read(&out.join("notes.txt")), "mine", "other files are left");
    assert!(out.join("workspaces.toml").exists());

    // No config and no state: nothing to read, said so instead of importing an empty database.
    let none = common::msctl()
        .current_dir(dir.path())
        .args(["import", "--out", "elsewhere"])
        .output()
        .unwrap();
    assert_code(&none, common::ERROR, "import without a source");
    assert!(text(&none).contains("--state"), "{}", text(&none));
    assert!(!dir.path().join("elsewhere").exists());

    let region = local(
        &db,
        &[
            "import",
            "--out",
            dir.path().join("r").to_str().unwrap(),
            "--region",
            "cn-bejing",
        ],
    );
    assert_code(&region, common::ERROR, "import with an unknown region");
    assert!(
        text(&region).contains("unknown region `cn-bejing`\nhint: did you mean `cn-beijing`?"),
        "{}",
        text(&region)
    );
}

#[test]
fn select_imports_only_the_matching_objects() {
    let dir = tempfile::tempdir().unwrap();
    let db = quickstart_account(dir.path());
    let out = dir.path().join("imported");
    let import = local(
        &db,
        &[
            "import",
            "--out",
            out.to_str().unwrap(),
            "--select",
            "ram.user.*",
            "--select",
            "ram.policy.sfm-*",
        ],
    );
    assert_code(&import, common::SUCCESS, "import --select");
    assert!(
        !out.join("workspaces.toml").exists(),
        "no workspace matches"
    );
    let ram = read(&out.join("ram.toml"));
    for user in ["alice", "bob", "carol"] {
        assert!(ram.contains(&format!("name = \"{user}\"")), "{ram}");
    }
    assert!(ram.contains("name = \"sfm-create-index\""), "{ram}");
    assert!(
        !ram.contains("[[ram.group]]"),
        "the group is not selected:\n{ram}"
    );

    // The same, for machines.
    let json = local(
        &db,
        &[
            "import",
            "--out",
            dir.path().join("j").to_str().unwrap(),
            "--select",
            "workspace.chatbot-*",
            "--format",
            "json",
        ],
    );
    assert_code(&json, common::SUCCESS, "import --format json");
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(doc["workspaces"], 3);
    assert_eq!(doc["declarations"][0]["name"], "chatbot-{env}");
    assert_eq!(doc["ram_users"], 0);
    assert_eq!(
        doc["files"],
        serde_json::json!(["msctl.toml", "workspaces.toml"])
    );
    // The members' users were not selected: said, so the failing `validate` is no surprise.
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains("`ram.user.alice`") && notes.contains("widen `--select`"),
        "{notes}"
    );

    let nothing = local(
        &db,
        &[
            "import",
            "--out",
            dir.path().join("x").to_str().unwrap(),
            "--select",
            "workspace.nope-*",
        ],
    );
    assert_code(&nothing, common::ERROR, "a selection matching nothing");
    assert!(
        text(&nothing).contains("nothing live matches `workspace.nope-*`"),
        "{}",
        text(&nothing)
    );
}

/// Objects created outside msctl (workspaces and a user, made by an apply whose ownership records
/// are then removed) are adopted into an existing config: only they are written, into a folder
/// of it, and the config with that folder plans to nothing.
#[test]
fn adoption_writes_only_what_the_existing_config_does_not_declare() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("local.db");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("msctl.toml"),
        "[project]\ndefault_region = \"cn-beijing\"\n\n[[ram.user]]\nname = \"dave\"\n\n\
         [[workspace]]\nname = \"search-{env}\"\nenvironments = [\"dev\", \"prod\"]\n\
         models = [{ model = \"qwen-max\" }]\nmembers = [{ user = \"dave\" }]\n",
    )
    .unwrap();
    let apply = local(
        &db,
        &["-C", other.to_str().unwrap(), "apply", "--auto-approve"],
    );
    assert_code(&apply, common::SUCCESS, "apply of the other config");
    // As if made in the console: msctl no longer records them as its own.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM meta WHERE key LIKE 'msctl.owned%'", [])
        .unwrap();
    drop(conn);
    let cfg = dir.path().join("quickstart");
    copy_example("quickstart", &cfg);
    let apply = local(
        &db,
        &["-C", cfg.to_str().unwrap(), "apply", "--auto-approve"],
    );
    assert_code(&apply, common::SUCCESS, "apply of the quickstart");

    let cfg = dir.path().join("quickstart");
    let out = cfg.join("adopted");
    let before = local(&db, &["-C", cfg.to_str().unwrap(), "plan"]);
    assert!(
        stdout(&before).contains("search-dev"),
        "listed as unmanaged:\n{}",
        text(&before)
    );
    let import = local(
        &db,
        &[
            "-C",
            cfg.to_str().unwrap(),
            "import",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_code(&import, common::SUCCESS, "import into an existing config");
    assert!(
        !out.join("msctl.toml").exists(),
        "the config has its own msctl.toml"
    );
    let workspaces = read(&out.join("workspaces.toml"));
    assert!(
        workspaces.contains("name = \"search-{env}\""),
        "{workspaces}"
    );
    assert!(
        !workspaces.contains("chatbot"),
        "declared ones are not written:\n{workspaces}"
    );
    let ram = read(&out.join("ram.toml"));
    assert!(ram.contains("name = \"dave\""), "{ram}");
    assert!(
        !ram.contains("alice"),
        "declared users are not written:\n{ram}"
    );

    let validate = common::msctl()
        .args(["-C", cfg.to_str().unwrap(), "validate"])
        .output()
        .unwrap();
    let plan = local(
        &db,
        &["-C", cfg.to_str().unwrap(), "plan", "--detailed-exitcode"],
    );
    assert_round_trip(validate, plan);
    let after = local(&db, &["-C", cfg.to_str().unwrap(), "plan"]);
    assert!(
        !stdout(&after).contains("search-dev"),
        "no longer unmanaged:\n{}",
        text(&after)
    );
    // The next apply (with nothing to change) records msctl's ownership of what was adopted.
    let apply = local(
        &db,
        &["-C", cfg.to_str().unwrap(), "apply", "--auto-approve"],
    );
    assert_code(&apply, common::SUCCESS, "apply after adoption");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let owned: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'msctl.owned'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for adopted in [
        "workspace.search-dev",
        "workspace.search-prod",
        "ram.user.dave",
    ] {
        assert!(owned.contains(adopted), "`{adopted}` is owned: {owned}");
    }
    // Once everything live is declared, a second adoption has nothing to do: exit 0, no files.
    let again = cfg.join("adopted-again");
    let import = local(
        &db,
        &[
            "-C",
            cfg.to_str().unwrap(),
            "import",
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert_code(
        &import,
        common::SUCCESS,
        "an adoption with nothing to adopt",
    );
    assert!(
        stdout(&import).contains("Nothing to import:"),
        "{}",
        text(&import)
    );
    assert!(!again.exists(), "no files are written");
}

/// A small synthetic config (the benchmarks' shape at a fraction of 1x) applied to the emulator
/// through the aliyun backend, imported back through it: the files plan to nothing. Members are
/// console-only there; the ones acknowledged with `ack` come back from the ledger, and the note
/// on what the API cannot read is in the output.
#[test]
fn synthetic_config_on_the_emulator_imports_into_files_that_plan_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    msctl::synthetic::generate(&cfg, 30, 60, 3).expect("the synthetic config is written");
    let emu: RunningEmulator = emulator::spawn(EmulatorConfig::new(
        dir.path().join("cloud.db"),
        Credentials::new(AK, SECRET),
    ))
    .expect("the emulator starts");
    let ledger = dir.path().join("ledger.db");
    let aliyun = |args: &[&str]| -> Output {
        common::msctl()
            .args([
                "--backend",
                "aliyun",
                "--endpoint",
                &emu.url(),
                "--caller",
                "ci",
            ])
            .arg("--ledger")
            .arg(&ledger)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .args(args)
            .output()
            .expect("msctl runs")
    };
    let cfg_arg = cfg.to_str().unwrap();
    let apply = aliyun(&["-C", cfg_arg, "apply", "--auto-approve"]);
    assert_code(&apply, common::SUCCESS, "apply of the synthetic config");
    // Acknowledge the members of one workspace: they are live for msctl from then on.
    let plan = aliyun(&["-C", cfg_arg, "plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("a JSON plan");
    let members: Vec<String> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["address"].as_str())
        .filter(|a| a.starts_with("workspace.svc00000-dev.member."))
        .map(String::from)
        .collect();
    assert!(
        !members.is_empty(),
        "members are manual steps on the aliyun backend"
    );
    let mut ack = vec!["-C", cfg_arg, "ack"];
    ack.extend(members.iter().map(String::as_str));
    assert_code(&aliyun(&ack), common::SUCCESS, "ack of the members");

    let out = dir.path().join("imported");
    let out_arg = out.to_str().unwrap();
    let import = aliyun(&["import", "--out", out_arg, "--region", "cn-beijing"]);
    assert_code(
        &import,
        common::SUCCESS,
        "import through the aliyun backend",
    );
    assert!(
        text(&import).contains("note: workspace members: the aliyun backend cannot read them"),
        "{}",
        text(&import)
    );
    let msctl_toml = read(&out.join("msctl.toml"));
    assert!(msctl_toml.contains("kind = \"aliyun\""), "{msctl_toml}");
    assert!(msctl_toml.contains("# - workspace members"), "{msctl_toml}");
    let workspaces = read(&out.join("workspaces.toml"));
    assert!(
        workspaces.contains("name = \"svc00000-{env}\""),
        "{workspaces}"
    );
    assert!(
        workspaces.contains("name = \"svc00002-{env}\""),
        "{workspaces}"
    );
    // The acknowledged members differ from the other environments': an override.
    assert!(
        workspaces.contains("[workspace.overrides.dev]\nmembers = ["),
        "{workspaces}"
    );

    let validate = common::msctl()
        .args(["-C", out_arg, "validate"])
        .output()
        .unwrap();
    let plan = aliyun(&["-C", out_arg, "plan", "--detailed-exitcode"]);
    assert_round_trip(validate, plan);
    for file in files_under(&out) {
        let body = read(&file);
        assert!(
            !body.contains(SECRET),
            "{} holds the secret",
            file.display()
        );
    }
    drop(emu);
}

/// Keys have secrets on the platform; an import writes their metadata only.
#[test]
fn no_secret_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = quickstart_account(dir.path());
    let out = dir.path().join("imported");
    let import = local(&db, &["import", "--out", out.to_str().unwrap()]);
    assert_code(&import, common::SUCCESS, "import");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The platform keeps a digest and a preview of each key's secret, never the secret.
    let mut stmt = conn
        .prepare("SELECT secret_sha256, secret_preview FROM ms_api_key")
        .unwrap();
    let secrets: Vec<String> = stmt
        .query_map([], |row| {
            Ok([row.get::<_, String>(0)?, row.get::<_, String>(1)?])
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .concat();
    assert!(
        !secrets.is_empty(),
        "the local platform holds key digests and previews"
    );
    let written: String = files_under(&out).iter().map(|f| read(f)).collect();
    assert!(
        written.contains("chatbot-backend"),
        "the key's metadata is written"
    );
    for secret in &secrets {
        assert!(
            !written.contains(secret.as_str()),
            "a key's secret digest or preview was written"
        );
    }
}
