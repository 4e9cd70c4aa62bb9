//! End-to-end reconcile on the embedded backend: plan, apply, re-plan, drift, saved plans,
//! ordering, partial failure and convergence, ownership, safety rails, concurrent applies and
//! the three plan formats — all through the built `msctl` binary in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{code, stderr, stdout};

/// A copy of an example (or inline files) in a temp dir, with its own state database.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn example(name: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&Path::new("examples").join(name), dir.path());
        Project { dir }
    }

    fn files(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn db(&self) -> PathBuf {
        self.path().join("state.db")
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }

    fn msctl(&self, args: &[&str]) -> Output {
        common::msctl()
            .arg("-C")
            .arg(self.path())
            .arg("--state")
            .arg(self.db())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs SQL against the state database behind msctl's back.
    fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn plan_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["plan", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.msctl(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn addresses(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

const MS: &str = "[project]\ndefault_region = \"cn-beijing\"\n";

#[test]
fn quickstart_plans_applies_and_converges() {
    let p = Project::example("quickstart");
    let plan = p.msctl(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("+ workspace.chatbot-prod"), "{text}");
    assert!(
        text.contains("+ workspace.chatbot-prod.member.carol"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 37 to add, 0 to change, 0 to destroy."),
        "{text}"
    );

    let apply = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert!(stdout(&apply).contains("Apply complete: 37 applied, 0 failed, 0 skipped, 0 manual."));

    let again = p.msctl(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&again), 0, "{}{}", stdout(&again), stderr(&again));
    assert!(stdout(&again).contains("No changes."));
    let drift = p.msctl(&["drift"]);
    assert_eq!(code(&drift), 0, "{}", stdout(&drift));
}

#[test]
fn drift_names_a_value_changed_behind_msctls_back() {
    let p = Project::example("quickstart");
    assert_eq!(code(&p.msctl(&["apply", "--auto-approve"])), 0);
    p.sql(
        "UPDATE ms_model_limit SET requests = 999 WHERE model = 'qwen-plus' \
         AND workspace_id = (SELECT id FROM ms_workspace WHERE name = 'chatbot-prod');",
    );
    let drift = p.msctl(&["drift"]);
    assert_eq!(code(&drift), 2);
    let text = stdout(&drift);
    assert!(
        text.contains("workspace.chatbot-prod.limit.qwen-plus"),
        "{text}"
    );
    assert!(text.contains("requests: 999 -> 600"), "{text}");

    let json = p.msctl(&["drift", "--format", "json"]);
    assert_eq!(code(&json), 2);
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        report["items"][0]["address"],
        "workspace.chatbot-prod.limit.qwen-plus"
    );
    assert_eq!(report["items"][0]["kind"], "changed");
}

#[test]
fn drift_catches_a_super_administrator_granted_out_of_band() {
    let p = Project::example("quickstart");
    assert_eq!(code(&p.msctl(&["apply", "--auto-approve"])), 0);
    p.sql(
        "INSERT INTO ram_user (name, id, display_name, comments, create_date) \
            VALUES ('mallory', '9', NULL, NULL, 0);
         INSERT INTO ram_attachment \
            (principal_type, principal_name, policy_name, policy_type, attach_date)
         VALUES ('user', 'mallory', 'AliyunBailianFullAccess', 'System', 0);",
    );
    let drift = p.msctl(&["drift"]);
    assert_eq!(code(&drift), 2);
    let text = stdout(&drift);
    assert!(
        text.contains("unexpected ram.user.mallory.policy.AliyunBailianFullAccess"),
        "{text}"
    );
    // Ownership: msctl never touches what it does not manage.
    let apply = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM ram_user WHERE name = 'mallory'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "an unmanaged RAM user must survive apply");
}

#[test]
fn changes_are_ordered_by_dependencies_and_deletes_reversed() {
    let p = Project::example("quickstart");
    let plan = p.plan_json(&[]);
    let changes = plan["changes"].as_array().unwrap();
    let index = |a: &str| addresses(&plan).iter().position(|x| x == a).unwrap();
    // Every change's dependencies are changes of the plan, and a member depends on its user and
    // its workspace.
    let member = &changes[index("workspace.chatbot-prod.member.carol")];
    let deps: Vec<&str> = member["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(deps.contains(&"ram.user.carol"), "{deps:?}");
    assert!(deps.contains(&"workspace.chatbot-prod"), "{deps:?}");
    let key = &changes[index("workspace.chatbot-prod.apikey.chatbot-backend")];
    let deps: Vec<&str> = key["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        deps.contains(&"workspace.chatbot-prod.member.alice"),
        "{deps:?}"
    );
    assert!(
        deps.contains(&"workspace.chatbot-prod.model.qwen-plus"),
        "{deps:?}"
    );

    // The apply log shows the order in which changes finished: never a member before its user
    // or workspace.
    let apply = p.msctl(&["apply", "--auto-approve", "--parallelism", "4"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let log = stdout(&apply);
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in\n{log}"))
    };
    assert!(at("ram.user.carol: created") < at("workspace.chatbot-prod.member.carol: created"));
    assert!(
        at("+ workspace.chatbot-prod: created")
            < at("workspace.chatbot-prod.member.carol: created")
    );
    assert!(
        at("workspace.chatbot-prod.member.alice: created")
            < at("workspace.chatbot-prod.apikey.chatbot-backend: created")
    );

    // Removing the workspace's declarations deletes its children before it (reverse order).
    let workspaces = std::fs::read_to_string(p.path().join("workspaces.toml")).unwrap();
    let start = workspaces.find("# Production:").unwrap();
    let end = workspaces.find("# The region's default workspace").unwrap();
    let trimmed = format!("{}{}", &workspaces[..start], &workspaces[end..]).replace(
        "environments = [\"dev\", \"test\", \"prod\"]",
        "environments = [\"dev\", \"test\"]",
    );
    p.write("workspaces.toml", &trimmed);
    let quota = std::fs::read_to_string(p.path().join("quota.toml")).unwrap();
    p.write(
        "quota.toml",
        &quota
            .replace("\"chatbot-prod\" = \"60%\", ", "")
            .replace("\"chatbot-prod\" = 300, ", ""),
    );
    let refused = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(
        code(&refused),
        1,
        "deleting a workspace needs --allow-delete"
    );
    assert!(
        stderr(&refused).contains("--allow-delete"),
        "{}",
        stderr(&refused)
    );
    let apply = p.msctl(&["apply", "--auto-approve", "--allow-delete"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let log = stdout(&apply);
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in\n{log}"))
    };
    assert!(
        at("workspace.chatbot-prod.apikey.chatbot-backend: deleted")
            < at("workspace.chatbot-prod.member.alice: deleted")
    );
    assert!(
        at("workspace.chatbot-prod.member.alice: deleted")
            < at("- workspace.chatbot-prod: deleted")
    );
    assert!(
        at("workspace.chatbot-prod.limit.qwen-plus: deleted")
            < at("workspace.chatbot-prod.model.qwen-plus: deleted")
    );
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn a_failure_skips_its_dependents_and_a_rerun_converges() {
    let p = Project::example("quickstart");
    // A workspace named `chatbot-prod` already exists in another region: creating it fails
    // (names are unique in the account), so its models, members, limits and keys are skipped,
    // while everything independent is applied.
    let conn = rusqlite::Connection::open(p.db());
    drop(conn);
    assert_eq!(code(&p.msctl(&["validate"])), 0);
    p.msctl(&["plan"]); // creates the database
    p.sql(
        "INSERT INTO ms_workspace (id, name, region, is_default, gmt_create) VALUES \
        ('ws-00000000000000ff', 'chatbot-prod', 'us-east-1', 0, 0);",
    );
    let apply = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&apply), 1, "{}", stderr(&apply));
    let log = stdout(&apply);
    assert!(log.contains("+ workspace.chatbot-prod: failed"), "{log}");
    assert!(
        log.contains("workspace.chatbot-prod.member.carol: skipped"),
        "{log}"
    );
    assert!(
        log.contains("workspace.chatbot-dev.member.alice: created"),
        "{log}"
    );
    assert!(log.contains("ram.user.carol: created"), "{log}");
    // The workspace failed; its two models, two limits, three members and key (8) were skipped;
    // the other 28 changes were applied.
    assert!(
        log.contains("Apply failed: 28 applied, 1 failed, 8 skipped, 0 manual."),
        "{log}"
    );

    // The team removes the stray workspace; running again applies only what is left.
    p.sql("DELETE FROM ms_workspace WHERE id = 'ws-00000000000000ff';");
    let plan = p.plan_json(&[]);
    assert!(
        addresses(&plan)
            .iter()
            .all(|a| a.starts_with("workspace.chatbot-prod")),
        "{:?}",
        addresses(&plan)
    );
    assert_eq!(code(&p.msctl(&["apply", "--auto-approve"])), 0);
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn a_saved_plan_applies_exactly_and_refuses_when_stale_or_tampered() {
    let p = Project::example("quickstart");
    let file = p.path().join("plan.json");
    let file = file.to_str().unwrap();
    assert_eq!(code(&p.msctl(&["plan", "--out", file])), 0);

    // Tampered: any edit breaks the checksum.
    let original = std::fs::read_to_string(file).unwrap();
    std::fs::write(
        file,
        original.replace("chatbot service (prod)", "chatbot service (pwned)"),
    )
    .unwrap();
    let out = p.msctl(&["apply", file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("was modified after it was saved"),
        "{}",
        stderr(&out)
    );
    std::fs::write(file, &original).unwrap();

    // Stale: live state moved since the plan was made.
    p.sql(
        "INSERT INTO ram_user (name, id, display_name, comments, create_date) VALUES ('zed', \
        '7', NULL, NULL, 0);",
    );
    let out = p.msctl(&["apply", file]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("live state changed since plan file"),
        "{}",
        stderr(&out)
    );
    p.sql("DELETE FROM ram_user WHERE name = 'zed';");

    // Fresh and intact: applied as reviewed, no prompt needed.
    let out = p.msctl(&["apply", file]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn apply_without_a_terminal_needs_approval() {
    let p = Project::example("quickstart");
    let out = p.msctl(&["apply"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("refusing to apply without approval"),
        "{}",
        stderr(&out)
    );
    // Nothing was applied.
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 2);
}

#[test]
fn safety_rails_refuse_deleting_users_unless_allowed() {
    let users = "[[ram.user]]\nname = \"alice\"\n\n[[ram.user]]\nname = \"bob\"\n";
    let p = Project::files(&[("msctl.toml", MS), ("ram.toml", users)]);
    assert_eq!(code(&p.msctl(&["apply", "--auto-approve"])), 0);
    p.write("ram.toml", "[[ram.user]]\nname = \"alice\"\n");
    let plan = p.msctl(&["plan"]);
    assert_eq!(code(&plan), 1);
    assert!(
        stdout(&plan).contains("- ram.user.bob"),
        "{}",
        stdout(&plan)
    );
    assert!(
        stderr(&plan).contains("--allow-delete"),
        "{}",
        stderr(&plan)
    );
    let apply = p.msctl(&["apply", "--auto-approve", "--allow-delete"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn undeclared_live_objects_are_listed_not_touched() {
    let p = Project::files(&[
        ("msctl.toml", MS),
        ("ram.toml", "[[ram.user]]\nname = \"alice\"\n"),
    ]);
    p.msctl(&["plan"]);
    p.sql(
        "INSERT INTO ram_user (name, id, display_name, comments, create_date) VALUES ('legacy', \
        '8', NULL, NULL, 0);",
    );
    let plan = p.plan_json(&[]);
    assert_eq!(addresses(&plan), vec!["ram.user.alice"]);
    let unmanaged: Vec<&str> = plan["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["address"].as_str().unwrap())
        .collect();
    assert!(unmanaged.contains(&"ram.user.legacy"), "{unmanaged:?}");
}

#[test]
fn concurrent_applies_on_one_database_do_not_corrupt_it() {
    let p = Project::example("quickstart");
    p.msctl(&["plan"]); // create the database first, so both processes open an existing file
    let spawn = || {
        std::process::Command::new(common::bin())
            .arg("-C")
            .arg(p.path())
            .arg("--state")
            .arg(p.db())
            .args(["apply", "--auto-approve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    // Each either applied, or failed cleanly (a change already made by the other, or the
    // database was locked); neither panicked.
    for out in [&a, &b] {
        let err = stderr(out);
        assert!(!err.contains("panicked"), "{err}");
        assert!(matches!(code(out), 0 | 1), "{err}");
    }
    let conn = rusqlite::Connection::open(p.db()).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // A third run converges whatever happened.
    let again = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn plan_formats_render_the_same_plan() {
    let p = Project::example("quickstart");
    let json = p.plan_json(&[]);
    assert_eq!(json["format_version"], "1");
    assert_eq!(json["summary"]["add"], 37);
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("schema/plan.schema.json").unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let md = p.msctl(&["plan", "--format", "markdown"]);
    assert_eq!(code(&md), 0);
    let md = stdout(&md);
    assert!(
        md.contains("Plan: 37 to add, 0 to change, 0 to destroy."),
        "{md}"
    );
    assert!(md.contains("<details>"), "{md}");

    let text = p.msctl(&["plan"]);
    let text = stdout(&text);
    assert!(!text.contains('\u{1b}'), "no colour without a terminal");
    insta::assert_snapshot!("quickstart_plan_text", common::redact(&text, &[p.path()]));
    insta::assert_snapshot!("quickstart_plan_markdown", common::redact(&md, &[p.path()]));
}

#[test]
fn graph_prints_dot() {
    let p = Project::example("quickstart");
    let out = p.msctl(&["graph"]);
    assert_eq!(code(&out), 0);
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph"), "{dot}");
    // The edge itself: carol's membership waits for her user.
    assert!(
        dot.contains("\"ram.user.carol\" -> \"workspace.chatbot-prod.member.carol\""),
        "{dot}"
    );
}
