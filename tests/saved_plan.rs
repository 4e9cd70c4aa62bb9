//! Saved-plan integrity (issue 9 item 3): `apply FILE` rebuilds the plan from the configuration
//! it was made from and refuses a file whose changes differ, even when its checksum was
//! recomputed, naming the first differing change. Through the built `msctl`, on the local backend,
//! outside git (the configuration digest) and in a repository (the recorded commit).

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

use msctl::plan::Plan;
use msctl::plan::saved::checksum;

mod common;
use common::code;

/// A copy of the quickstart example in a temp dir, with its own state database.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn quickstart() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        common::copy_example("quickstart", &cfg);
        Project { dir }
    }

    fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    fn plan_file(&self) -> String {
        self.dir
            .path()
            .join("plan.json")
            .to_str()
            .unwrap()
            .to_string()
    }

    fn msctl(&self, args: &[&str]) -> Output {
        Command::cargo_bin("msctl")
            .unwrap()
            .arg("-C")
            .arg(self.cfg())
            .arg("--state")
            .arg(self.dir.path().join("state.db"))
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    fn git(&self, args: &[&str]) {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(self.cfg())
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_saved(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes a saved plan back with its checksum recomputed, as a forger would.
fn write_forged(path: &str, mut saved: Value) {
    let plan: Plan = serde_json::from_value(saved["plan"].clone()).unwrap();
    saved["checksum"] = Value::String(checksum(&plan));
    std::fs::write(path, serde_json::to_string_pretty(&saved).unwrap()).unwrap();
}

/// Adds `AdministratorAccess` for alice next to one of her reviewed attachments.
fn grant_admin(saved: &mut Value) {
    let changes = saved["plan"]["changes"].as_array_mut().unwrap();
    let at = changes
        .iter()
        .position(|c| c["address"] == "ram.user.alice.policy.AliyunBailianDataReadOnlyAccess")
        .expect("the quickstart plan attaches a policy to alice");
    let mut forged = changes[at].clone();
    forged["address"] = "ram.user.alice.policy.AdministratorAccess".into();
    forged["after"]["policy"] = "AdministratorAccess".into();
    for a in forged["attributes"].as_array_mut().unwrap() {
        if a["name"] == "policy" {
            a["after"] = "AdministratorAccess".into();
        }
    }
    changes.insert(at + 1, forged);
}

/// Whether a fresh plan has a change for `address`.
fn planned(p: &Project, address: &str) -> bool {
    let out = p.msctl(&["plan", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["address"] == address)
}

#[test]
fn a_forged_plan_with_a_recomputed_checksum_is_refused_naming_the_first_difference() {
    let p = Project::quickstart();
    let file = p.plan_file();
    assert_eq!(code(&p.msctl(&["plan", "--out", &file])), 0);
    let original = read_saved(&file);

    let mut saved = original.clone();
    grant_admin(&mut saved);
    write_forged(&file, saved);
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "plan file `{file}` is not what the configuration in `"
        )) && err.contains(
            "first difference: `ram.user.alice.policy.AdministratorAccess` (create): the plan \
                    file has this change; the configuration plans nothing for \
                    `ram.user.alice.policy.AdministratorAccess`"
        ),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    // Nothing at all was applied: alice is still to be created, and no grant exists that a
    // plan would delete (alice owns her attachments).
    assert!(planned(&p, "ram.user.alice"));
    assert!(!planned(&p, "ram.user.alice.policy.AdministratorAccess"));

    // A changed value is named by its attribute, both values shown.
    let mut saved = original.clone();
    for c in saved["plan"]["changes"].as_array_mut().unwrap() {
        if c["address"] == "workspace.chatbot-prod.limit.qwen-plus" {
            c["after"]["requests"] = 100000.into();
            for a in c["attributes"].as_array_mut().unwrap() {
                if a["name"] == "requests" {
                    a["after"] = 100000.into();
                }
            }
        }
    }
    write_forged(&file, saved);
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(
            "first difference: `workspace.chatbot-prod.limit.qwen-plus` (create): attribute \
                `requests` is 100000 in the plan file, 600 from the configuration"
        ),
        "{}",
        stderr(&out)
    );

    // A reviewed change left out is named too.
    let mut saved = original.clone();
    saved["plan"]["changes"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["address"] != "workspace.chatbot-prod.member.carol");
    write_forged(&file, saved);
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(
            "first difference: `workspace.chatbot-prod.member.carol` (create): the configuration \
                plans this change; the plan file leaves it out"
        ),
        "{}",
        stderr(&out)
    );

    // The untouched file still applies, and exactly as reviewed.
    std::fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn outside_git_a_plan_applies_only_with_the_configuration_it_was_made_from() {
    let p = Project::quickstart();
    let file = p.plan_file();
    assert_eq!(code(&p.msctl(&["plan", "--out", &file])), 0);
    let original = read_saved(&file);
    assert!(original["config_digest"].is_string(), "{original}");

    // The configuration changed since: the plan is not applied, whatever it holds.
    let ram = p.cfg().join("ram.toml");
    let text = std::fs::read_to_string(&ram).unwrap();
    std::fs::write(&ram, text.replace("Bob (SRE)", "Bob (on call)")).unwrap();
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!(
            "is not the one plan file `{file}` was made from (its digest differs)"
        )),
        "{}",
        stderr(&out)
    );
    // Formatting is not meaning: only what the configuration loads to counts.
    std::fs::write(&ram, format!("# reviewed\n{text}")).unwrap();

    // A file from an older msctl has no digest: nothing ties it to a configuration.
    let mut old = original.clone();
    old.as_object_mut().unwrap().remove("config_digest");
    old.as_object_mut().unwrap().remove("ledger_digest");
    std::fs::write(&file, serde_json::to_string_pretty(&old).unwrap()).unwrap();
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("records no digest of its configuration")
            && stderr(&out).contains("it was made outside git"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_plan_is_stale_when_msctls_ledger_changed_since() {
    let p = Project::quickstart();
    let file = p.plan_file();
    assert_eq!(code(&p.msctl(&["plan", "--out", &file])), 0);
    // Another run recorded ownership (live itself unchanged): what the plan deletes may differ.
    let conn = rusqlite::Connection::open(p.dir.path().join("state.db")).unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('msctl.owned', '[\"ram.user.zed\"]') \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [],
    )
    .unwrap();
    drop(conn);
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!(
            "msctl's ledger changed since plan file `{file}` was made (another apply or `msctl \
                ack` ran); refusing to apply a stale plan"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn in_git_a_plan_is_rebuilt_from_its_commit_not_the_working_tree() {
    let p = Project::quickstart();
    p.git(&["init", "-q"]);
    p.git(&["add", "."]);
    p.git(&["commit", "-q", "-m", "quickstart"]);
    let file = p.plan_file();
    assert_eq!(code(&p.msctl(&["plan", "--out", &file])), 0);
    let original = read_saved(&file);
    assert!(original["plan"]["source"]["commit"].is_string());

    // An uncommitted edit does not change what the reviewed commit produces.
    let ram = p.cfg().join("ram.toml");
    let text = std::fs::read_to_string(&ram).unwrap();
    std::fs::write(&ram, text.replace("Bob (SRE)", "Bob (on call)")).unwrap();

    let mut saved = original.clone();
    grant_admin(&mut saved);
    write_forged(&file, saved);
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 1);
    let short = &original["plan"]["source"]["commit"].as_str().unwrap()[..12];
    assert!(
        stderr(&out).contains(&format!(
            "is not what the configuration at commit {short} produces against the live state now"
        )) && stderr(&out).contains("`ram.user.alice.policy.AdministratorAccess` (create)"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();
    let out = p.msctl(&["apply", &file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Applied as the commit says: Bob's display name is the committed one, so the working
    // tree's edit is what remains to plan.
    let out = p.msctl(&["plan", "--format", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let addresses: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["ram.user.bob"], "{}", stderr(&out));
}

/// A plan file that cannot be read or written says why once: the I/O or parse error is not
/// repeated after the message that already holds it.
#[test]
fn an_unreadable_or_unwritable_plan_file_says_why_once() {
    let p = Project::quickstart();
    let missing = p.dir.path().join("missing.json");
    let garbage = p.dir.path().join("garbage.json");
    std::fs::write(&garbage, "hello").unwrap();
    let unwritable = p.dir.path().join("no/such/dir/plan.json");
    for (args, what, said) in [
        (
            vec!["apply", missing.to_str().unwrap()],
            "a missing plan",
            "os error 2",
        ),
        (
            vec!["apply", garbage.to_str().unwrap()],
            "a garbage plan",
            "line 1 column 1",
        ),
        (
            vec!["plan", "--out", unwritable.to_str().unwrap()],
            "an unwritable plan file",
            "os error 2",
        ),
    ] {
        let out = p.msctl(&args);
        assert_eq!(code(&out), common::ERROR, "{what}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("plan file"), "{what}: {err}");
        assert_eq!(err.matches(said).count(), 1, "{what}, said once: {err}");
    }
}
