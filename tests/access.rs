//! `msctl access`, `msctl envs` and the plan's "Access changes" through the built binary: the
//! quickstart and the access scenario (`tests/fixtures/access`), from config, live and `--rev`.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use git2::{IndexAddOption, Repository, Signature, Time};
use serde_json::Value;

/// A copy of a config folder in a temp dir (a git repository), with its own state database.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn copy(from: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(
                    &path,
                    dir.path().join("cfg").join(path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
        Project { dir }
    }

    fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.cfg().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has `{from}`");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
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

    fn ok(&self, args: &[&str]) -> String {
        let out = self.msctl(args);
        assert!(
            out.status.success(),
            "msctl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Commits the config folder (the repository is the temp dir).
    fn commit(&self, message: &str) {
        let repo = Repository::open(self.dir.path())
            .or_else(|_| Repository::init(self.dir.path()))
            .unwrap();
        let mut index = repo.index().unwrap();
        index
            .add_all(["cfg/*"], IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::new("t", "t@example.com", &Time::new(1_700_000_000, 0)).unwrap();
        let parent: Vec<git2::Commit<'_>> = repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|id| repo.find_commit(id).unwrap())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap();
    }
}

fn scenario() -> Project {
    Project::copy("tests/fixtures/access")
}

fn quickstart() -> Project {
    Project::copy("examples/quickstart")
}

/// `(subject, grant)` lines of an answer's facts, as the renderers name them.
fn facts(answer: &Value) -> Vec<(String, Value)> {
    answer["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (subject(&f["subject"]), f["grant"].clone()))
        .collect()
}

fn subject(s: &Value) -> String {
    match s["type"].as_str().unwrap() {
        "key" => format!(
            "key {}/{}",
            s["workspace"].as_str().unwrap(),
            s["name"].as_str().unwrap()
        ),
        t => format!("{t} {}", s["name"].as_str().unwrap()),
    }
}

#[test]
fn who_can_call_qwen_plus_in_chatbot_prod() {
    let p = quickstart();
    let a = p.json(&[
        "access",
        "--model",
        "qwen-plus",
        "--workspace",
        "chatbot-prod",
    ]);
    assert_eq!(a["format_version"], "1");
    let who: Vec<String> = facts(&a)
        .iter()
        .map(|(s, g)| {
            format!(
                "{s}: {} {}",
                g["kind"].as_str().unwrap(),
                g["model"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            "user alice: inference qwen-plus",
            "user carol: inference qwen-plus",
            "user carol: fine_tune qwen-plus",
            "key chatbot-prod/chatbot-backend: inference qwen-plus",
            "key chatbot-prod/chatbot-backend: fine_tune qwen-plus",
        ]
    );
    // Every fact says why, step by step, down to the declaration.
    let key = &a["facts"][3];
    let chain: Vec<&str> = key["because"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        chain,
        [
            "workspace.chatbot-prod.apikey.chatbot-backend",
            "workspace.chatbot-prod.member.alice",
            "workspace.chatbot-prod.model.qwen-plus",
            "workspace.chatbot-prod.limit.qwen-plus",
        ]
    );
    assert_eq!(
        key["limits"][0],
        "limit: 600 requests/60 s, 600000 tokens/60 s"
    );
    assert_eq!(key["limits"][3], "IP allow-list: 10.0.0.0/8");
    assert_eq!(a["managers"][0]["subject"]["name"], "carol");
    assert_eq!(a["managers"][0]["grant"]["grant"], "super_admin");
}

#[test]
fn unknown_names_are_refused_with_a_suggestion() {
    let p = quickstart();
    let out = p.msctl(&["access", "--user", "bobb"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "error: failed to find user `bobb` in the configuration\nhint: did you mean `bob`?"
        ),
        "{err}"
    );
    let out = p.msctl(&["access", "--workspace", "chatbot-staging"]);
    assert_eq!(out.status.code(), Some(1));
    // One principal at a time.
    let out = p.msctl(&["access", "--user", "bob", "--group", "chatbot-developers"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "clap refuses the pair: a usage error"
    );
}

#[test]
fn what_a_user_can_do_with_deny_precedence_and_risks() {
    let p = scenario();
    let text = p.ok(&["access", "--user", "alice"]);
    assert!(
        text.starts_with("What user alice can do (configuration `"),
        "{text}"
    );
    assert!(
        text.contains(
            "    API sfm:DeleteIndex allowed (overridden: an explicit Deny wins)\n        why: \
                alice holds data-writers (ram.user.alice.policy.data-writers)\n             \
                statement 1 of data-writers allows sfm:DeleteIndex \
                (ram.policy.data-writers)\n        denied by: alice is in group developers \
                (ram.group.developers.member.alice)\n"
        ),
        "{text}"
    );
    let a = p.json(&["access", "--user", "erin"]);
    let risks: Vec<&str> = a["risks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(risks, ["ram_admin_holder", "billing_holder"]);
    let a = p.json(&["access", "--key", "bob-playground"]);
    assert_eq!(a["risks"][0]["kind"], "default_workspace_key");
    assert_eq!(a["facts"][0]["grant"]["model"], "*");
}

#[test]
fn a_workspace_sheet_in_markdown() {
    let p = scenario();
    let md = p.ok(&["access", "--workspace", "shop-prod", "--format", "markdown"]);
    assert!(
        md.starts_with("## Access sheet of workspace shop-prod\n"),
        "{md}"
    );
    assert!(md.contains("Administered by: user bob\n"), "{md}");
    assert!(
        md.contains(
            "| `shop-prod` | `qwen-plus` | call | no limit: can use the whole account quota | - |"
        ),
        "{md}"
    );
    assert!(md.contains("#### key backend in shop-prod\n"), "{md}");
}

#[test]
fn live_answers_match_the_configuration_once_applied() {
    let p = quickstart();
    p.ok(&["apply", "--auto-approve"]);
    let config = p.json(&["access", "--user", "alice"]);
    let live = p.json(&["access", "--user", "alice", "--live"]);
    assert_eq!(config["facts"], live["facts"]);
    assert_eq!(live["source"], "live state, local backend");
    // Before anything is applied live, nobody has access.
    let fresh = quickstart();
    let live = fresh.json(&["access", "--model", "qwen-plus", "--live"]);
    assert_eq!(live["facts"], Value::Array(vec![]));
}

#[test]
fn rev_answers_from_an_older_revision() {
    let p = quickstart();
    p.commit("start");
    p.edit(
        "ram.toml",
        "display_name = \"Bob (SRE)\"\n",
        "display_name = \"Bob (SRE)\"\npolicies = [\"AliyunBailianFullAccess\"]\n",
    );
    let now = p.json(&["access", "--user", "bob"]);
    assert!(facts(&now).iter().any(|(_, g)| g["grant"] == "super_admin"));
    let before = p.json(&["access", "--user", "bob", "--rev", "HEAD"]);
    assert!(
        !facts(&before)
            .iter()
            .any(|(_, g)| g["grant"] == "super_admin")
    );
    assert!(
        before["source"].as_str().unwrap().contains("at `HEAD`"),
        "{}",
        before["source"]
    );
}

#[test]
fn plans_list_a_new_super_administrator_first_and_the_users_a_group_change_affects() {
    let p = quickstart();
    p.ok(&["apply", "--auto-approve"]);
    p.edit(
        "ram.toml",
        "display_name = \"Bob (SRE)\"\n",
        "display_name = \"Bob (SRE)\"\npolicies = [\"AliyunBailianFullAccess\"]\n",
    );
    p.edit(
        "ram.toml",
        "policies = [\"AliyunBailianReadOnlyAccess\"]",
        "policies = []",
    );
    let text = p.ok(&["plan"]);
    let section: Vec<&str> = text
        .split("Access changes")
        .nth(1)
        .expect("the plan has an access section")
        .lines()
        .take(6)
        .collect();
    assert_eq!(
        section,
        [
            " (1 escalation first):",
            "  ! new super administrator: bob: + super administrator (every workspace)",
            "    alice: - management policy AliyunBailianReadOnlyAccess",
            "    bob: - management policy AliyunBailianReadOnlyAccess",
            "    group chatbot-developers: - management policy AliyunBailianReadOnlyAccess -> \
                alice, bob lose it",
            "",
        ]
    );
    let plan = p.json(&["plan"]);
    let first = &plan["access"]["changes"][0];
    assert_eq!(first["escalation"], "new super administrator");
    assert_eq!(first["subject"]["name"], "bob");
    let md = p.ok(&["plan", "--format", "markdown"]);
    assert!(
        md.contains(
            "### Access changes\n\n**1 escalation listed first.**\n\n\
            - ⚠️ **new super administrator**: bob: + super administrator (every workspace)"
        ),
        "{md}"
    );
    // No change, no section; and the JSON plan keeps its shape without one.
    p.edit(
        "ram.toml",
        "display_name = \"Bob (SRE)\"\npolicies = [\"AliyunBailianFullAccess\"]\n",
        "display_name = \"Bob (SRE)\"\n",
    );
    p.edit(
        "ram.toml",
        "policies = []",
        "policies = [\"AliyunBailianReadOnlyAccess\"]",
    );
    assert!(!p.ok(&["plan"]).contains("Access changes"));
    assert!(p.json(&["plan"]).get("access").is_none());
}

#[test]
fn environments_side_by_side() {
    let p = quickstart();
    let m = p.json(&["envs"]);
    let set = &m["sets"][0];
    assert_eq!(set["declaration"], "chatbot-{env}");
    assert_eq!(
        set["environments"],
        serde_json::json!(["dev", "test", "prod"])
    );
    let carol = set["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["section"] == "member" && r["item"] == "carol")
        .expect("carol's row");
    assert_eq!(
        carol["cells"],
        serde_json::json!([null, null, "Administrator"])
    );
    assert_eq!(carol["differs"], true);
    assert_eq!(carol["missing_in"], serde_json::json!(["dev", "test"]));

    // Any set of workspaces, named; and a pattern.
    let s = scenario();
    let m = s.json(&["envs", "shop-prod", "shop-dev"]);
    assert_eq!(m["sets"][0]["declaration"], "shop-{env}");
    assert_eq!(
        m["sets"][0]["environments"],
        serde_json::json!(["prod", "dev"])
    );
    let text = s.ok(&["envs", "shop-{env}"]);
    assert!(text.contains("shop-{env}: shop-dev, shop-prod ("), "{text}");
    let out = s.msctl(&["envs", "nope-{env}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("failed to find workspaces matching `nope-{env}`")
    );

    // Live: before apply the workspaces do not exist there, and the table says so.
    let live = s.json(&["envs", "--live"]);
    assert_eq!(
        live["sets"][0]["absent"],
        serde_json::json!(["shop-dev", "shop-prod"])
    );
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let p = scenario();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("msctl"))
        .arg("-C")
        .arg(p.cfg())
        .arg("access")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Path::new("");
}
