//! GitOps end to end: the built `msctl` against temporary git repositories (built with git2,
//! several commits) and the local backend: `--rev`, `plan --base`, `status`, `drift`, the ledger
//! in git notes, and the dirty-tree and wrong-commit refusals.

use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Oid, Repository, Signature, Time};
use serde_json::Value;
use tempfile::TempDir;

mod common;

/// A repository in a temporary folder (`repo/`), with the local state beside it (`state.db`),
/// outside the work tree, unless a test says otherwise.
struct Fixture {
    dir: TempDir,
    repo: Repository,
    count: i64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = Repository::init(dir.path().join("repo")).expect("git init");
        let mut fx = Fixture {
            dir,
            repo,
            count: 0,
        };
        fx.write(
            "msctl.toml",
            "[project]\nname = \"gitops\"\ndefault_region = \"cn-beijing\"\n",
        );
        fx
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    fn write(&mut self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Stages everything in the work tree and commits it on HEAD as `author`.
    fn commit(&mut self, author: &str, message: &str) -> String {
        let mut index = self.repo.index().expect("index");
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree = self
            .repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let email = format!("{}@example.com", author.to_lowercase());
        // Fixed, increasing times: ids and blame are reproducible.
        let sig = Signature::new(
            author,
            &email,
            &Time::new(1_700_000_000 + self.count * 60, 0),
        )
        .expect("signature");
        self.count += 1;
        let parent: Vec<git2::Commit<'_>> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|id| self.repo.find_commit(id).expect("parent"))
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id: Oid = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .expect("commit");
        id.to_string()
    }

    /// Runs msctl on the repository with the fixture's state database.
    fn msctl(&self, args: &[&str]) -> Run {
        let state = self.state();
        let mut all: Vec<&str> = vec!["-C"];
        let root = self.root();
        let root = root.to_str().expect("utf-8 temp path");
        all.push(root);
        all.push("--state");
        all.push(state.to_str().expect("utf-8 temp path"));
        all.extend_from_slice(args);
        run_msctl(&all, self.dir.path())
    }

    /// Changes the live state behind msctl's back, as someone in the console would.
    fn out_of_band(&self, sql: &str) {
        let db = rusqlite::Connection::open(self.state()).expect("open state");
        let n = db.execute(sql, []).expect("out-of-band change");
        assert_eq!(n, 1, "{sql}");
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn run_msctl(args: &[&str], cwd: &Path) -> Run {
    let out = common::msctl()
        .args(args)
        .current_dir(cwd)
        // A hook or CI may export these; they would point libgit2 at another repository.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("msctl runs");
    Run {
        code: common::code(&out),
        stdout: common::stdout(&out),
        stderr: common::stderr(&out),
    }
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["address"].as_str().expect("address").to_string())
        .collect()
}

const WORKSPACES: &str = r#"[[workspace]]
name = "chatbot-{env}"
environments = ["dev", "prod"]
models = [{ model = "qwen-plus" }]
"#;

fn quota(prod: &str) -> String {
    format!(
        r#"[[quota]]
region = "cn-beijing"
model = "qwen-plus"
requests_per_minute = 1000
allocations = {{ "chatbot-prod" = "{prod}", "chatbot-dev" = "20%" }}
"#
    )
}

const ALICE: &str = r#"[[ram.user]]
name = "alice"
display_name = "Alice"
comments = "developer"
"#;

#[test]
fn rev_loads_an_old_revision_exactly() {
    let mut fx = Fixture::new();
    fx.write("ws.toml", "[[workspace]]\nname = \"team-a\"\n");
    let first = fx.commit("Alice", "team a");
    fx.write("ws.toml", "[[workspace]]\nname = \"team-b\"\n");
    fx.write("ram.toml", ALICE);
    let second = fx.commit("Bob", "team b and alice");

    // The working tree: HEAD, clean.
    let head = fx.msctl(&["plan", "--format", "json"]).ok().json();
    assert_eq!(head["source"]["commit"], second.as_str());
    assert_eq!(head["source"]["dirty"], false);
    assert_eq!(
        addresses(&head["changes"]),
        ["ram.user.alice", "workspace.team-b"]
    );

    // HEAD~1, read from the object database while the working tree holds HEAD.
    let old = fx
        .msctl(&["plan", "--rev", "HEAD~1", "--format", "json"])
        .ok()
        .json();
    assert_eq!(old["source"]["commit"], first.as_str());
    assert_eq!(addresses(&old["changes"]), ["workspace.team-a"]);
    // The global flag works before the subcommand too, and on validate.
    let valid = fx
        .msctl(&["--rev", &first[..10], "validate", "--format", "json"])
        .ok()
        .json();
    assert_eq!(valid["resources"], serde_json::json!({"workspace": 1}));
    assert_eq!(valid["source"]["commit"], first.as_str());
    let text = fx.msctl(&["validate", "--rev", "HEAD~1"]).ok();
    assert!(
        text.stdout.starts_with("Configuration in `HEAD~1 ("),
        "{}",
        text.stdout
    );

    // A broken revision: diagnostics point at file:line and say which revision.
    fx.write(
        "ws.toml",
        "[[workspace]]\nname = \"team-b\"\nregion = \"cn-beijng\"\n",
    );
    fx.commit("Carol", "typo");
    fx.write("ws.toml", "[[workspace]]\nname = \"team-b\"\n");
    fx.commit("Carol", "fix typo");
    let broken = fx.msctl(&["validate", "--rev", "HEAD~1"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(
        broken
            .stderr
            .contains("note: the configuration was read from revision `HEAD~1`"),
        "{}",
        broken.stderr
    );
    assert!(
        broken.stderr.contains("--> ws.toml:3:10"),
        "{}",
        broken.stderr
    );
    fx.msctl(&["validate"]).ok();

    // A revision that does not exist says how far history goes.
    let missing = fx.msctl(&["plan", "--rev", "HEAD~9"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("the history has 4 commits"),
        "{}",
        missing.stderr
    );
}

#[test]
fn plan_base_ignores_moved_blocks_and_reports_changed_allocations() {
    let mut fx = Fixture::new();
    fx.write("ws.toml", &format!("{WORKSPACES}\n{ALICE}"));
    fx.write("quota.toml", &quota("60%"));
    fx.commit("Alice", "base");
    // The pull request: alice's block moves to another file, reformatted with its keys
    // reordered, and prod's allocation drops from 60% to 50%.
    fx.write("ws.toml", WORKSPACES);
    fx.write(
        "people/ram.toml",
        "# people\n[[ram.user]]\ncomments    = \"developer\"\ndisplay_name = 'Alice'\n\
            name = \"alice\"\n",
    );
    fx.write("quota.toml", &quota("50%"));
    fx.commit("Bob", "move alice, shrink prod");

    let run = fx
        .msctl(&["plan", "--base", "HEAD~1", "--format", "json"])
        .ok();
    let review = run.json();
    assert_eq!(review["base_rev"], "HEAD~1");
    let changes = &review["changes"];
    assert_eq!(
        addresses(changes),
        ["workspace.chatbot-prod.limit.qwen-plus"],
        "a moved block is no change: {changes:#}"
    );
    assert_eq!(changes[0]["action"], "update");
    assert_eq!(changes[0]["attributes"][0]["name"], "requests");
    assert_eq!(changes[0]["attributes"][0]["before"], 600);
    assert_eq!(changes[0]["attributes"][0]["after"], 500);
    assert_eq!(changes[0]["declared_at"]["file"], "quota.toml");
    // Nothing was applied: the plan creates everything, and live differs from the base for
    // every declared resource (all missing).
    assert_eq!(review["plan"]["summary"]["add"], 7, "{:#}", review["plan"]);
    assert_eq!(
        review["overwritten_drift"].as_array().map(Vec::len),
        Some(7)
    );

    // Applied at HEAD: no plan, no drift from the base other than the allocation.
    fx.msctl(&["apply", "--auto-approve"]).ok();
    let review = fx
        .msctl(&["plan", "--base", "HEAD~1", "--format", "json"])
        .ok()
        .json();
    assert_eq!(review["plan"]["changes"], serde_json::json!([]));
    assert_eq!(
        addresses(&review["overwritten_drift"]),
        ["workspace.chatbot-prod.limit.qwen-plus"]
    );

    let md = fx
        .msctl(&["plan", "--base", "HEAD~1", "--format", "markdown"])
        .ok();
    assert!(
        md.stdout
            .starts_with("<!-- msctl:plan -->\n## msctl plan\n"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout
            .contains("| **This pull request** | 1 resource in the desired state")
    );

    // A base with no change at all: only moved and reformatted declarations.
    fx.write("quota.toml", &format!("\n\n{}", quota("50%")));
    fx.commit("Bob", "reformat");
    let text = fx.msctl(&["plan", "--base", "HEAD~1"]).ok();
    assert!(
        text.stdout
            .contains("1. Pull request: no change to the desired state"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_markdown_cap_holds_on_a_huge_review() {
    let mut fx = Fixture::new();
    fx.write("ws.toml", "[[workspace]]\nname = \"big\"\n");
    fx.commit("Alice", "base");
    let mut users = String::new();
    for i in 0..3000 {
        users.push_str(&format!(
            "[[ram.user]]\nname = \"user-{i:04}\"\ndisplay_name = \"User number {i} with a long \
                display name\"\ncomments = \"generated to overflow the comment\"\n\n"
        ));
    }
    fx.write("users.toml", &users);
    fx.commit("Bob", "3000 users");
    let md = fx
        .msctl(&["plan", "--base", "HEAD~1", "--format", "markdown"])
        .ok();
    assert!(md.stdout.len() <= 65_000, "{} bytes", md.stdout.len());
    assert!(
        md.stdout
            .contains("3000 resources in the desired state: 3000 added, 0 changed, 0 removed"),
        "{}",
        &md.stdout[..2000.min(md.stdout.len())]
    );
    assert!(
        md.stdout
            .contains("Plan: 3001 to add, 0 to change, 0 to destroy.")
    );
    assert!(
        md.stdout
            .contains("This comment was shortened to stay under GitHub's size limit"),
        "{}",
        &md.stdout[md.stdout.len().saturating_sub(800)..]
    );
}

/// Apply at commit 1; commit 2 changes the config; someone edits live in the console.
fn applied_then_changed() -> (Fixture, String, String) {
    let mut fx = Fixture::new();
    fx.write("ws.toml", WORKSPACES);
    fx.write("quota.toml", &quota("60%"));
    fx.write("ram.toml", ALICE);
    let first = fx.commit("Alice", "first");
    fx.msctl(&["apply", "--auto-approve"]).ok();
    fx.write("quota.toml", &quota("70%"));
    let second = fx.commit("Bob", "more for prod");
    fx.out_of_band("UPDATE ram_user SET display_name = 'Mallory' WHERE name = 'alice'");
    (fx, first, second)
}

#[test]
fn status_and_drift_tell_unapplied_commits_from_out_of_band_changes() {
    let (fx, first, second) = applied_then_changed();

    let status = fx.msctl(&["status", "--format", "json"]).ok().json();
    assert_eq!(status["last_applied"]["commit"]["id"], first.as_str());
    assert_eq!(status["last_applied"]["recorded_in"], "backend");
    assert_eq!(status["head"]["id"], second.as_str());
    assert_eq!(status["ahead"], true);
    assert_eq!(status["unapplied_commits"][0]["id"], second.as_str());
    assert_eq!(
        status["unapplied_commits"].as_array().map(Vec::len),
        Some(1)
    );
    // The plan against live: the allocation and the reverted display name.
    assert_eq!(status["pending_changes"], 2);
    let text = fx.msctl(&["status"]).ok().stdout;
    assert!(
        text.contains("The checkout is 1 commit ahead of it"),
        "{text}"
    );
    assert!(text.contains("Pending: 2 changes"), "{text}");

    let drift = fx.msctl(&["drift", "--format", "json"]);
    assert_eq!(drift.code, 2, "{}", drift.stderr);
    let report = drift.json();
    let history = &report["history"];
    assert_eq!(history["last_applied"]["commit"]["id"], first.as_str());
    assert_eq!(history["unapplied_commits"][0]["id"], second.as_str());
    // (a) merged, not applied: only the allocation, blamed on Bob's commit.
    let unapplied = &history["unapplied"];
    assert_eq!(
        addresses(unapplied),
        ["workspace.chatbot-prod.limit.qwen-plus"]
    );
    assert_eq!(unapplied[0]["declared_at"]["file"], "quota.toml");
    assert_eq!(
        unapplied[0]["declared_at"]["last_change"]["id"],
        second.as_str()
    );
    assert_eq!(unapplied[0]["declared_at"]["last_change"]["author"], "Bob");
    // (b) out of band: only the console edit, declared in Alice's commit.
    let items = &report["items"];
    assert_eq!(addresses(items), ["ram.user.alice"]);
    assert_eq!(items[0]["kind"], "changed");
    assert_eq!(items[0]["attributes"][0]["before"], "Mallory");
    assert_eq!(items[0]["declared_at"]["file"], "ram.toml");
    // The line of the resource's name, which identifies it.
    assert_eq!(items[0]["declared_at"]["line"], 2);
    assert_eq!(items[0]["declared_at"]["last_change"]["id"], first.as_str());
    assert_eq!(items[0]["declared_at"]["last_change"]["author"], "Alice");
    assert!(report.get("note").is_none(), "{report:#}");

    let text = fx.msctl(&["drift"]);
    assert_eq!(text.code, 2);
    assert!(
        text.stdout
            .starts_with("Drift: 1 unapplied change in 1 commit, 1 out-of-band change."),
        "{}",
        text.stdout
    );
    let md = fx.msctl(&["drift", "--format", "markdown"]);
    assert_eq!(md.code, 2);
    assert!(md.stdout.contains("### Unapplied changes"), "{}", md.stdout);
    assert!(
        md.stdout.contains("### Out-of-band changes"),
        "{}",
        md.stdout
    );

    // Applying HEAD resolves both: nothing unapplied, live matches.
    fx.msctl(&["apply", "--auto-approve"]).ok();
    let drift = fx.msctl(&["drift", "--format", "json"]).ok().json();
    assert_eq!(
        drift["history"]["last_applied"]["commit"]["id"],
        second.as_str()
    );
    assert_eq!(drift["items"], serde_json::json!([]));
    assert_eq!(drift["history"]["unapplied"], serde_json::json!([]));
}

#[test]
fn the_applied_commit_is_also_a_git_note_that_status_falls_back_to() {
    let (fx, first, _) = applied_then_changed();
    let note = fx
        .repo
        .find_note(
            Some("refs/notes/msctl"),
            Oid::from_str(&first).expect("oid"),
        )
        .expect("a note on the applied commit");
    let note: Value = serde_json::from_str(note.message().expect("utf-8")).expect("JSON note");
    assert_eq!(note["commit"], first.as_str());
    assert_eq!(note["backend"], "local");

    // A fresh runner with an empty backend ledger (the cloud's case) finds the note.
    let state = fx.dir.path().join("fresh.db");
    let root = fx.root();
    let status = run_msctl(
        &[
            "-C",
            root.to_str().expect("utf-8"),
            "--state",
            state.to_str().expect("utf-8"),
            "status",
            "--format",
            "json",
        ],
        fx.dir.path(),
    )
    .ok()
    .json();
    assert_eq!(status["last_applied"]["commit"]["id"], first.as_str());
    assert_eq!(status["last_applied"]["recorded_in"], "git_notes");
}

#[test]
fn drift_falls_back_without_git_or_a_recorded_apply() {
    // A recorded apply is missing: the repository exists, nothing was applied.
    let mut fx = Fixture::new();
    fx.write("ws.toml", "[[workspace]]\nname = \"team-a\"\n");
    fx.commit("Alice", "first");
    let drift = fx.msctl(&["drift", "--format", "json"]);
    assert_eq!(drift.code, 2);
    let report = drift.json();
    assert!(report.get("history").is_none());
    let note = report["note"].as_str().expect("a note");
    assert!(note.starts_with("no apply is recorded"), "{note}");
    assert_eq!(addresses(&report["items"]), ["workspace.team-a"]);

    // No repository at all: plain files, today's behaviour, said so.
    let plain = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        plain.path().join("msctl.toml"),
        "[project]\ndefault_region = \"cn-beijing\"\n[[workspace]]\nname = \"team-a\"\n",
    )
    .expect("write");
    let dir = plain.path().to_str().expect("utf-8");
    let state = plain.path().join("s.db");
    let state = state.to_str().expect("utf-8");
    let text = run_msctl(&["-C", dir, "--state", state, "drift"], plain.path());
    assert_eq!(text.code, 2);
    assert!(
        text.stdout.starts_with("note: no apply is recorded"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("not in a git repository"),
        "{}",
        text.stdout
    );
    run_msctl(
        &["-C", dir, "--state", state, "apply", "--auto-approve"],
        plain.path(),
    )
    .ok();
    let text = run_msctl(&["-C", dir, "--state", state, "drift"], plain.path());
    assert_eq!(text.code, 0, "{}", text.stdout);
    assert!(
        text.stdout.contains("recorded no commit"),
        "{}",
        text.stdout
    );
}

#[test]
fn apply_refuses_a_dirty_tree_unless_allowed() {
    let mut fx = Fixture::new();
    fx.write("ws.toml", "[[workspace]]\nname = \"team-a\"\n");
    let first = fx.commit("Alice", "first");
    fx.write("ws.toml", "[[workspace]]\nname = \"team-b\"\n");

    let plan = fx.msctl(&["plan", "--format", "json"]).ok().json();
    assert_eq!(plan["source"]["dirty"], true);
    assert_eq!(plan["source"]["commit"], first.as_str());
    let text = fx.msctl(&["plan"]).ok().stdout;
    assert!(text.contains("(uncommitted changes)"), "{text}");

    let refused = fx.msctl(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("has uncommitted changes"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("hint:"), "{}", refused.stderr);
    assert!(
        refused.stdout.is_empty(),
        "nothing planned: {}",
        refused.stdout
    );

    fx.msctl(&["apply", "--auto-approve", "--allow-dirty"]).ok();
    let status = fx.msctl(&["status", "--format", "json"]).ok().json();
    assert_eq!(status["last_applied"]["commit"]["id"], first.as_str());
    assert_eq!(status["last_applied"]["dirty"], true);

    // `--rev` reads no working tree, so it is never dirty (HEAD holds team-a again).
    fx.msctl(&["apply", "--auto-approve", "--rev", "HEAD", "--allow-delete"])
        .ok();
    let status = fx.msctl(&["status", "--format", "json"]).ok().json();
    assert_eq!(status["last_applied"]["dirty"], false);

    // The default state folder inside the config directory does not make it dirty.
    fx.commit("Alice", "team b");
    let root = fx.root();
    let root = root.to_str().expect("utf-8");
    run_msctl(&["-C", root, "apply", "--auto-approve"], fx.dir.path()).ok();
    assert!(fx.root().join(".msctl/local.db").exists());
    run_msctl(&["-C", root, "apply", "--auto-approve"], fx.dir.path()).ok();
}

#[test]
fn a_saved_plan_applies_only_at_its_commit() {
    let mut fx = Fixture::new();
    fx.write("ws.toml", "[[workspace]]\nname = \"team-a\"\n");
    let first = fx.commit("Alice", "first");
    let plan_file = fx.dir.path().join("plan.json");
    let plan_file = plan_file.to_str().expect("utf-8");
    fx.msctl(&["plan", "--out", plan_file]).ok();
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(plan_file).expect("plan file"))
            .expect("JSON");
    assert_eq!(saved["plan"]["source"]["commit"], first.as_str());

    fx.write("README.md", "docs\n");
    fx.commit("Bob", "docs");
    let refused = fx.msctl(&["apply", plan_file]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains(&format!(
            "plan file `{plan_file}` was made from commit {}, but `HEAD` is commit",
            &first[..12]
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("hint: check out"),
        "{}",
        refused.stderr
    );

    // At the commit it was made from (here through `--rev`), it applies.
    fx.msctl(&["apply", "--rev", "HEAD~1", plan_file]).ok();
    let status = fx.msctl(&["status", "--format", "json"]).ok().json();
    assert_eq!(status["last_applied"]["commit"]["id"], first.as_str());
    assert_eq!(status["pending_changes"], 0);
}

/// A config directory `config/` in the fixture's repository, reading files outside it.
fn run_in_config(fx: &Fixture, args: &[&str]) -> Run {
    let config = fx.root().join("config");
    let state = fx.state();
    let mut all = vec![
        "-C",
        config.to_str().expect("utf-8 temp path"),
        "--state",
        state.to_str().expect("utf-8 temp path"),
    ];
    all.extend_from_slice(args);
    run_msctl(&all, fx.dir.path())
}

const POLICY: &str = concat!(
    r#"{"Version": "1", "Statement": "#,
    r#"[{"Effect": "Allow", "Action": "bailian:ListWorkspaces", "Resource": "*"}]}"#
);

#[test]
fn the_dirty_check_covers_every_file_the_config_reads() {
    let mut fx = Fixture::new();
    fx.write(
        "config/msctl.toml",
        "[project]\ndefault_region = \"cn-beijing\"\n",
    );
    fx.write(
        "config/main.toml",
        "[[ram.policy]]\nname = \"shared-read\"\nfile = \"../shared/read.json\"\n",
    );
    fx.write("shared/read.json", POLICY);
    fx.write(".gitignore", "config/local.toml\n");
    fx.commit("Alice", "policy from a shared folder");
    run_in_config(&fx, &["apply", "--auto-approve"]).ok();

    // A policy file outside `-C`, edited and not committed.
    fx.write(
        "shared/read.json",
        &POLICY.replace("ListWorkspaces", "GetWorkspace"),
    );
    let plan = run_in_config(&fx, &["plan", "--format", "json"])
        .ok()
        .json();
    assert_eq!(plan["source"]["dirty"], true);
    let refused = run_in_config(&fx, &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "`../shared/read.json` (`shared/read.json` in the repository) has uncommitted changes"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("hint:"), "{}", refused.stderr);
    fx.commit("Alice", "narrower policy");
    run_in_config(&fx, &["apply", "--auto-approve"]).ok();

    // Config files through a symbolic link to a folder elsewhere in the repository.
    fx.write("people/users.toml", ALICE);
    std::os::unix::fs::symlink("../people", fx.root().join("config/people")).expect("link");
    fx.commit("Alice", "people through a link");
    let applied = run_in_config(&fx, &["apply", "--auto-approve"]).ok();
    assert!(
        applied.stdout.contains("ram.user.alice"),
        "{}",
        applied.stdout
    );
    fx.write("people/users.toml", &ALICE.replace("developer", "lead"));
    let refused = run_in_config(&fx, &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "`people/users.toml` (`people/users.toml` in the repository) has uncommitted changes"
        ),
        "{}",
        refused.stderr
    );
    fx.commit("Alice", "alice leads");

    // A config file git ignores is in no commit.
    fx.write("config/local.toml", "[[ram.user]]\nname = \"bob\"\n");
    let refused = run_in_config(&fx, &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("`local.toml` is in no commit (ignored by git)"),
        "{}",
        refused.stderr
    );
    run_in_config(&fx, &["apply", "--auto-approve", "--allow-dirty"]).ok();
}

/// Whether this process runs as root (a file it creates is owned by uid 0).
fn running_as_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let probe = dir.join("uid-probe");
    std::fs::write(&probe, "").expect("probe");
    let uid = std::fs::metadata(&probe).expect("probe").uid();
    std::fs::remove_file(&probe).expect("probe");
    uid == 0
}

/// Gives every file under `path` to another user (as `chown -R`, links themselves included).
fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown");
    if std::fs::symlink_metadata(path).expect("stat").is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir") {
            chown_tree(&entry.expect("entry").path(), uid);
        }
    }
}

#[test]
fn a_repository_git_cannot_read_makes_apply_refuse() {
    let mut fx = Fixture::new();
    if !running_as_root(fx.dir.path()) {
        eprintln!(
            "skipped: simulating a repository owned by another user needs root (CI runs as root)"
        );
        return;
    }
    // The config in a subfolder: `safe.directory` must name the repository's root, not it.
    fx.write(
        "config/msctl.toml",
        "[project]\ndefault_region = \"cn-beijing\"\n",
    );
    fx.write("config/ws.toml", "[[workspace]]\nname = \"team-a\"\n");
    fx.commit("Alice", "first");
    fx.write("config/ws.toml", "[[workspace]]\nname = \"team-b\"\n");
    // libgit2 refuses a repository owned by another user, as in CI containers.
    chown_tree(&fx.root(), 4242);
    // A home without `safe.directory`, whatever the machine's own configuration says.
    let home = tempfile::tempdir().expect("home");
    let with_home = |home: &Path, args: &[&str]| {
        let state = fx.state();
        let config = fx.root().join("config");
        let out = common::msctl()
            .arg("-C")
            .arg(&config)
            .arg("--state")
            .arg(&state)
            .args(args)
            .current_dir(fx.dir.path())
            .env("NO_COLOR", "1")
            .env("HOME", home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("msctl runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    // Reading commands work, and say plainly what is off.
    let plan = with_home(home.path(), &["plan"]).ok();
    assert!(
        plan.stderr.contains("it is owned by another user"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("git features are off for this run"),
        "{}",
        plan.stderr
    );

    // `apply` refuses: no dirty check, no commit to record.
    let refused = with_home(home.path(), &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("error: refusing to apply: git cannot read the repository"),
        "{}",
        refused.stderr
    );
    let root = fx.root().canonicalize().expect("canonical");
    assert!(
        refused.stderr.contains(&format!(
            "hint: if you trust it, run `git config --global --add safe.directory {}`",
            root.display()
        )),
        "{}",
        refused.stderr
    );
    let status = with_home(home.path(), &["status", "--format", "json"])
        .ok()
        .json();
    assert!(status["last_applied"].is_null(), "{status}");

    // The hint's fix brings the guarantees back: now the uncommitted change is seen.
    std::fs::write(
        home.path().join(".gitconfig"),
        format!("[safe]\n\tdirectory = {}\n", root.display()),
    )
    .expect("gitconfig");
    let dirty = with_home(home.path(), &["apply", "--auto-approve"]);
    assert_eq!(dirty.code, 1, "{}", dirty.stderr);
    assert!(
        dirty.stderr.contains("has uncommitted changes"),
        "{}",
        dirty.stderr
    );

    // Opting out explicitly applies, recorded without a commit.
    let bare_home = tempfile::tempdir().expect("home");
    with_home(
        bare_home.path(),
        &["apply", "--auto-approve", "--allow-dirty"],
    )
    .ok();
}
