//! Snapshots and credential-free plans (issue 12, part 2), through the built `msctl`:
//! `snapshot --out FILE` against the emulator, then `plan`, `drift` and `access` with
//! `--live FILE` and no credentials, no ledger file and no server to talk to; `--max-age`; edited
//! and corrupt snapshots; `apply` of a plan made from a snapshot, accepted while live state is
//! the snapshot's and refused, naming both fingerprints, once it moved.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use msctl::backend::aliyun::Credentials;
use msctl::emulator::{self, EmulatorConfig, RunningEmulator};

mod common;
use common::{assert_code, code, stderr, stdout, text};

const AK: &str = "LTAI5tSnapshotKeyId";
const SECRET: &str = "snapshot-Secret-8d2e4b6a1c";

/// The quickstart in a temp dir.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
        common::copy_example("quickstart", &dir.path().join("cfg"));
        Project { dir }
    }

    fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// `msctl` on the local backend.
    fn local(&self, args: &[&str]) -> Output {
        common::msctl()
            .arg("-C")
            .arg(self.cfg())
            .arg("--state")
            .arg(self.dir.path().join("local.db"))
            .args(args)
            .output()
            .unwrap()
    }

    /// `msctl` on the aliyun backend at `url`, with credentials.
    fn aliyun(&self, url: &str, args: &[&str]) -> Output {
        common::msctl()
            .arg("-C")
            .arg(self.cfg())
            .args([
                "--backend",
                "aliyun",
                "--endpoint",
                url,
                "--caller",
                "alice",
            ])
            .arg("--ledger")
            .arg(self.dir.path().join("ledger.db"))
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .args(args)
            .output()
            .unwrap()
    }

    /// `msctl` on the aliyun backend as a fork's pull request runs it: no credentials in the
    /// environment, no ledger file, and an endpoint nothing listens on.
    fn without_credentials(&self, args: &[&str]) -> Output {
        let mut cmd = common::msctl();
        for var in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "ALICLOUD_ACCESS_KEY",
            "ALICLOUD_SECRET_KEY",
            "MSCTL_CALLER",
        ] {
            cmd.env_remove(var);
        }
        cmd.arg("-C")
            .arg(self.cfg())
            .args(["--backend", "aliyun", "--endpoint", &closed_endpoint()])
            .arg("--ledger")
            .arg(self.dir.path().join("no-such-ledger.db"))
            .args(args)
            .output()
            .unwrap()
    }

    /// Declares one more RAM user, so plans have a change.
    fn add_user(&self, name: &str) {
        let ram = self.cfg().join("ram.toml");
        let mut text = std::fs::read_to_string(&ram).unwrap();
        text.push_str(&format!("\n[[ram.user]]\nname = \"{name}\"\n"));
        std::fs::write(ram, text).unwrap();
    }

    fn git(&self, args: &[&str]) {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(self.cfg())
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    }

    fn json(&self, name: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path(name)).unwrap()).unwrap()
    }
}

/// `http://127.0.0.1:PORT` of a port that was just free: nothing listens there.
fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn emulator_for(project: &Project) -> RunningEmulator {
    let config = EmulatorConfig::new(
        project.dir.path().join("cloud.db"),
        Credentials::new(AK, SECRET),
    );
    emulator::spawn(config).expect("emulator starts")
}

fn plan_json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn addresses(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["action"], c["address"]))
        .collect()
}

/// The snapshot's `taken_at` moved back by `seconds` (only `live` is under the fingerprint).
fn age_by(path: &str, seconds: u64) {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let taken = value["taken_at"].as_u64().unwrap();
    value["taken_at"] = (taken - seconds).into();
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn a_fork_plans_from_the_snapshot_with_no_credentials_and_no_network() {
    let p = Project::new();
    let emu = emulator_for(&p);
    let url = emu.url();
    let secrets = p.path("secrets.txt");
    let out = p.aliyun(&url, &["apply", "--auto-approve", "--secrets-to", &secrets]);
    assert_code(&out, common::SUCCESS, "apply");

    let snap = p.path("live.json");
    let out = p.aliyun(&url, &["snapshot", "--out", &snap]);
    assert_code(&out, common::SUCCESS, "snapshot");
    let said = stdout(&out);
    assert!(said.contains("Saved a snapshot of live state to"), "{said}");
    assert!(
        said.contains(
            "API versions: AIWorkSpace 2021-02-04, ModelStudio 2026-02-10, RAM 2015-05-01"
        ),
        "{said}"
    );
    let document = p.json("live.json");
    assert_eq!(document["format_version"], "1");
    assert_eq!(document["backend"], "aliyun");
    assert_eq!(
        document["scope"]["regions"],
        serde_json::json!(["cn-beijing"])
    );
    assert!(document["taken_at"].as_u64().unwrap() > 0);
    assert!(!document["ledger"]["owned"].as_array().unwrap().is_empty());

    // Snapshots hold no secrets: neither the credentials nor any key the apply created.
    let written = std::fs::read_to_string(&secrets).unwrap();
    let values: Vec<&str> = written
        .lines()
        .filter_map(|l| l.split_once('=').map(|(_, v)| v.trim()))
        .collect();
    assert!(!values.is_empty(), "the apply created keys: {written}");
    let raw = std::fs::read_to_string(&snap).unwrap();
    assert!(!raw.contains(SECRET));
    for v in &values {
        assert!(!raw.contains(v), "a key's secret is in the snapshot");
    }

    // The pull request changes the configuration; its plan from live, for comparison.
    p.add_user("dave");
    let fresh = p.aliyun(&url, &["plan", "--format", "json"]);
    assert_code(&fresh, common::SUCCESS, "plan against live");
    let fresh = plan_json(&fresh);
    // The cloud is gone: whatever the next runs do, they do without it.
    drop(emu);

    let out = p.without_credentials(&["plan", "--live", &snap, "--format", "json"]);
    assert_code(
        &out,
        common::SUCCESS,
        "plan --live FILE without credentials",
    );
    let from_snapshot = plan_json(&out);
    assert_eq!(addresses(&from_snapshot), addresses(&fresh));
    assert!(
        addresses(&from_snapshot).contains(&"\"create\" \"ram.user.dave\"".to_string()),
        "{from_snapshot}"
    );
    assert_eq!(from_snapshot["live_fingerprint"], fresh["live_fingerprint"]);
    assert_eq!(from_snapshot["live_fingerprint"], document["fingerprint"]);
    assert_eq!(from_snapshot["unmanaged"], fresh["unmanaged"]);
    assert_eq!(from_snapshot["backend"], "aliyun");
    assert_eq!(from_snapshot["api_calls"], 0);
    let origin = &from_snapshot["snapshot"];
    assert_eq!(origin["file"], snap.as_str());
    assert_eq!(origin["fingerprint"], document["fingerprint"]);
    assert_eq!(origin["taken_at"], document["taken_at"]);
    assert!(origin["age_seconds"].is_u64());
    assert!(fresh.get("snapshot").is_none());

    // Text and markdown say so, with the age.
    let out = p.without_credentials(&["plan", "--live", &snap, "--no-color"]);
    assert_code(&out, common::SUCCESS, "plan --live FILE (text)");
    let t = stdout(&out);
    assert!(
        t.contains(&format!(
            "note: live state comes from snapshot `{snap}` taken "
        )),
        "{t}"
    );
    assert!(t.contains(" old)"), "{t}");
    assert!(t.contains("no credentials and no network were used"), "{t}");
    assert!(
        t.contains("Plan: 1 to add, 0 to change, 0 to destroy, 8 manual."),
        "{t}"
    );
    let out = p.without_credentials(&["plan", "--live", &snap, "--format", "markdown"]);
    assert_code(&out, common::SUCCESS, "plan --live FILE (markdown)");
    let md = stdout(&out);
    assert!(
        md.contains(&format!("live state from snapshot `{snap}` taken ")),
        "{md}"
    );
    assert!(md.contains("no credentials used"), "{md}");

    // Without the snapshot, the same command needs what a fork does not have.
    let out = p.without_credentials(&["plan"]);
    assert_code(&out, common::ERROR, "plan without credentials or snapshot");
}

#[test]
fn drift_and_access_answer_from_a_snapshot_too() {
    let p = Project::new();
    let emu = emulator_for(&p);
    let url = emu.url();
    assert_code(
        &p.aliyun(&url, &["apply", "--auto-approve"]),
        common::SUCCESS,
        "apply",
    );
    let snap = p.path("live.json");
    assert_code(
        &p.aliyun(&url, &["snapshot", "--out", &snap]),
        common::SUCCESS,
        "snapshot",
    );
    let live_answer = p.aliyun(
        &url,
        &["access", "--live", "--user", "bob", "--format", "json"],
    );
    assert_code(&live_answer, common::SUCCESS, "access --live (bare)");
    drop(emu);

    // Drift: the console-only memberships are not acknowledged, as against live.
    let out = p.without_credentials(&["drift", "--live", &snap, "--format", "json"]);
    assert_code(&out, common::CHANGES, "drift --live FILE");
    let report = plan_json(&out);
    assert_eq!(report["snapshot"]["file"], snap.as_str());
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["address"] == "workspace.chatbot-prod.member.carol"),
        "{report}"
    );
    let out = p.without_credentials(&["drift", "--live", &snap, "--format", "markdown"]);
    assert_code(&out, common::CHANGES, "drift --live FILE (markdown)");
    assert!(
        stdout(&out).contains(&format!("> live state comes from snapshot `{snap}` taken ")),
        "{}",
        text(&out)
    );
    let out = p.without_credentials(&["drift", "--live", &snap]);
    assert_code(&out, common::CHANGES, "drift --live FILE (text)");
    assert!(
        stdout(&out).contains("note: live state comes from snapshot"),
        "{}",
        text(&out)
    );

    // Access: the same answer as from live state, saying where it came from.
    let out = p.without_credentials(&[
        "access", "--live", &snap, "--user", "bob", "--format", "json",
    ]);
    assert_code(&out, common::SUCCESS, "access --live FILE");
    let from_snapshot = plan_json(&out);
    let fresh = plan_json(&live_answer);
    let source = from_snapshot["source"].as_str().unwrap();
    assert!(
        source.starts_with("live state, aliyun backend, from snapshot `"),
        "{source}"
    );
    assert!(source.contains("(no credentials used)"), "{source}");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("source");
        v
    };
    assert_eq!(strip(from_snapshot), strip(fresh));
}

#[test]
fn max_age_refuses_an_old_snapshot_and_the_output_gives_its_age() {
    let p = Project::new();
    assert_code(
        &p.local(&["apply", "--auto-approve"]),
        common::SUCCESS,
        "apply",
    );
    let snap = p.path("live.json");
    assert_code(
        &p.local(&["snapshot", "--out", &snap]),
        common::SUCCESS,
        "snapshot",
    );
    age_by(&snap, 3 * 86_400 + 2 * 3600);

    let out = p.local(&["plan", "--live", &snap, "--max-age", "2d"]);
    assert_code(
        &out,
        common::ERROR,
        "plan --max-age 2d of a 3-day-old snapshot",
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error: snapshot `{snap}` was taken ")),
        "{err}"
    );
    assert!(
        err.contains("(3d 2h ago), older than --max-age 2d"),
        "{err}"
    );
    assert!(err.contains("hint: take a new one"), "{err}");
    assert_eq!(stdout(&out), "", "nothing is planned");
    for cmd in [&["drift"][..], &["access"][..]] {
        let mut args = cmd.to_vec();
        args.extend(["--live", &snap, "--max-age", "36h"]);
        let out = p.local(&args);
        assert_code(&out, common::ERROR, &args.join(" "));
        assert!(
            stderr(&out).contains("older than --max-age 1d 12h"),
            "{}",
            text(&out)
        );
    }

    let out = p.local(&["plan", "--live", &snap, "--max-age", "4d", "--no-color"]);
    assert_code(&out, common::SUCCESS, "plan --max-age 4d");
    assert!(
        stdout(&out).contains(" (3d 2h old), fingerprint "),
        "{}",
        text(&out)
    );

    // `--max-age` means nothing without a snapshot.
    let out = p.local(&["access", "--live", "--max-age", "1d"]);
    assert_code(&out, common::ERROR, "access --live --max-age");
    assert!(
        stderr(&out).contains("--live FILE --max-age DURATION"),
        "{}",
        text(&out)
    );
    let out = p.local(&["plan", "--max-age", "1d"]);
    assert_code(&out, common::ERROR, "--max-age without --live");
    assert!(stderr(&out).contains("--live"), "{}", text(&out));
    let out = p.local(&["plan", "--live", &snap, "--max-age", "2w"]);
    assert_code(&out, common::ERROR, "--max-age 2w");
    assert!(
        stderr(&out).contains("`2w` is not a duration"),
        "{}",
        text(&out)
    );
}

#[test]
fn edited_corrupt_and_foreign_snapshots_are_clear_errors() {
    let p = Project::new();
    assert_code(
        &p.local(&["apply", "--auto-approve"]),
        common::SUCCESS,
        "apply",
    );
    let snap = p.path("live.json");
    assert_code(
        &p.local(&["snapshot", "--out", &snap]),
        common::SUCCESS,
        "snapshot",
    );
    let good = std::fs::read_to_string(&snap).unwrap();

    // An edit of live state: the fingerprint no longer matches.
    let edited = good.replacen("\"inference\": true", "\"inference\": false", 1);
    assert_ne!(edited, good);
    let path = p.path("edited.json");
    std::fs::write(&path, &edited).unwrap();
    let out = p.local(&["plan", "--live", &path]);
    assert_code(&out, common::ERROR, "an edited snapshot");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: snapshot `{path}` does not match its fingerprint"
        )),
        "{err}"
    );
    assert!(err.contains("edited or corrupted"), "{err}");

    // Truncated, and not JSON at all.
    for (name, content) in [
        ("cut.json", &good[..good.len() / 2]),
        ("text.json", "hello"),
    ] {
        let path = p.path(name);
        std::fs::write(&path, content).unwrap();
        let out = p.local(&["plan", "--live", &path]);
        assert_code(&out, common::ERROR, name);
        let err = stderr(&out);
        assert!(
            err.contains("is not a snapshot written by `msctl snapshot --out`"),
            "{}",
            text(&out)
        );
        // The parse error is said once, and the hint is the last line (nothing appended to it).
        assert_eq!(err.matches(" column ").count(), 1, "{err}");
        assert!(
            err.trim_end()
                .lines()
                .last()
                .unwrap()
                .starts_with("hint: take one"),
            "{err}"
        );
    }
    let out = p.local(&["plan", "--live", &p.path("missing.json")]);
    assert_code(&out, common::ERROR, "a missing snapshot");
    let err = stderr(&out);
    assert!(err.contains("failed to read snapshot"), "{}", text(&out));
    assert_eq!(err.matches("os error 2").count(), 1, "said once: {err}");
    let out = p.local(&["snapshot", "--out", &p.path("no/such/dir/live.json")]);
    assert_code(&out, common::ERROR, "a snapshot into a missing folder");
    let err = stderr(&out);
    assert!(err.contains("failed to write snapshot"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "said once: {err}");

    // A snapshot of the local backend is no answer for the aliyun backend.
    let out = p.without_credentials(&["plan", "--live", &snap]);
    assert_code(&out, common::ERROR, "another backend's snapshot");
    assert!(
        stderr(&out).contains(
            "was taken through the local backend, and this configuration uses the aliyun backend"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn apply_of_a_plan_from_a_snapshot_rereads_live_and_refuses_when_it_moved() {
    let p = Project::new();
    assert_code(
        &p.local(&["apply", "--auto-approve"]),
        common::SUCCESS,
        "apply",
    );
    let snap = p.path("live.json");
    assert_code(
        &p.local(&["snapshot", "--out", &snap]),
        common::SUCCESS,
        "snapshot",
    );
    let fingerprint = p.json("live.json")["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    // The summary in JSON names the file's fingerprint (and never its contents).
    let out = p.local(&[
        "snapshot",
        "--out",
        &p.path("again.json"),
        "--format",
        "json",
    ]);
    assert_code(&out, common::SUCCESS, "snapshot --format json");
    let summary = plan_json(&out);
    assert_eq!(summary["fingerprint"], fingerprint.as_str());
    assert_eq!(summary["backend"], "local");
    assert!(summary.get("live").is_none() && summary.get("ledger").is_none());

    // Live state unchanged since the snapshot: the plan applies, rebuilt from a fresh read.
    p.add_user("dave");
    let plan = p.path("plan.json");
    let out = p.local(&["plan", "--live", &snap, "--out", &plan]);
    assert_code(&out, common::SUCCESS, "plan --live FILE --out");
    assert_eq!(
        p.json("plan.json")["plan"]["snapshot"]["fingerprint"],
        fingerprint.as_str()
    );
    let out = p.local(&["apply", &plan]);
    assert_code(
        &out,
        common::SUCCESS,
        "apply of a plan from a current snapshot",
    );
    assert!(stdout(&out).contains("Apply complete"), "{}", text(&out));

    // Now live state moves (erin is created) after the snapshot the next plan is made from.
    let snap2 = p.path("live2.json");
    assert_code(
        &p.local(&["snapshot", "--out", &snap2]),
        common::SUCCESS,
        "snapshot 2",
    );
    let fingerprint2 = p.json("live2.json")["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    p.add_user("frank");
    let plan2 = p.path("plan2.json");
    assert_code(
        &p.local(&["plan", "--live", &snap2, "--out", &plan2]),
        common::SUCCESS,
        "plan from snapshot 2",
    );
    let other = tempfile::tempdir().unwrap();
    common::copy_example("quickstart", other.path());
    let ram = other.path().join("ram.toml");
    let mut t = std::fs::read_to_string(&ram).unwrap();
    t.push_str("\n[[ram.user]]\nname = \"dave\"\n\n[[ram.user]]\nname = \"erin\"\n");
    std::fs::write(&ram, t).unwrap();
    let out = common::msctl()
        .arg("-C")
        .arg(other.path())
        .arg("--state")
        .arg(p.dir.path().join("local.db"))
        .args(["apply", "--auto-approve"])
        .output()
        .unwrap();
    assert_code(&out, common::SUCCESS, "an apply the snapshot does not know");

    let out = p.local(&["apply", &plan2]);
    assert_code(
        &out,
        common::ERROR,
        "apply of a plan from an out-of-date snapshot",
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: live state is not the snapshot plan file `{plan2}` was made from: \
             snapshot `{snap2}`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("has fingerprint {fingerprint2}")),
        "{err}"
    );
    let now = read_fingerprint(&p);
    assert_ne!(now, fingerprint2);
    assert!(
        err.contains(&format!("live state read now has {now}")),
        "{err}"
    );
    assert!(
        !stdout(&out).contains("Apply complete"),
        "nothing applied: {}",
        text(&out)
    );
    let users = user_names(&p);
    assert!(!users.contains(&"frank".to_string()), "{users:?}");
}

/// The live fingerprint a plan against live state carries now.
fn read_fingerprint(p: &Project) -> String {
    // erin is owned and no longer declared here: her deletion needs the flag.
    let out = p.local(&["plan", "--allow-delete", "--format", "json"]);
    assert_eq!(code(&out), common::SUCCESS, "{}", text(&out));
    plan_json(&out)["live_fingerprint"]
        .as_str()
        .unwrap()
        .to_string()
}

/// RAM users live, through a snapshot written for the purpose.
fn user_names(p: &Project) -> Vec<String> {
    let path = p.path("users.json");
    assert_code(
        &p.local(&["snapshot", "--out", &path]),
        common::SUCCESS,
        "snapshot",
    );
    let value = p.json("users.json");
    value["live"]["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["kind"] == "ram_user")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_pull_request_review_plans_from_the_snapshot() {
    let p = Project::new();
    p.git(&["init", "-q", "-b", "main"]);
    p.git(&["add", "-A"]);
    p.git(&["commit", "-q", "-m", "base"]);
    assert_code(
        &p.local(&["apply", "--auto-approve"]),
        common::SUCCESS,
        "apply",
    );
    let snap = p.path("live.json");
    assert_code(
        &p.local(&["snapshot", "--out", &snap]),
        common::SUCCESS,
        "snapshot",
    );
    p.add_user("dave");
    p.git(&["commit", "-q", "-am", "dave"]);
    // The state database is not there: the review reads nothing but git and the snapshot.
    let out = common::msctl()
        .arg("-C")
        .arg(p.cfg())
        .arg("--state")
        .arg(p.dir.path().join("absent").join("local.db"))
        .args([
            "plan", "--live", &snap, "--base", "main~1", "--format", "markdown",
        ])
        .output()
        .unwrap();
    assert_code(&out, common::SUCCESS, "plan --live FILE --base REV");
    let md = stdout(&out);
    assert!(md.starts_with("<!-- msctl:plan -->"), "{md}");
    assert!(md.contains("`ram.user.dave`"), "{md}");
    assert!(
        md.contains(&format!("live state from snapshot `{snap}` taken ")),
        "{md}"
    );
    assert!(
        !p.dir.path().join("absent").exists(),
        "no state database was made"
    );
}

#[test]
fn a_region_the_snapshot_did_not_read_is_a_plan_warning() {
    let p = Project::new();
    assert_code(
        &p.local(&["apply", "--auto-approve"]),
        common::SUCCESS,
        "apply",
    );
    let snap = p.path("live.json");
    assert_code(
        &p.local(&["snapshot", "--out", &snap]),
        common::SUCCESS,
        "snapshot",
    );
    std::fs::write(
        p.cfg().join("shanghai.toml"),
        "[[workspace]]\nname = \"sg-app\"\nregion = \"ap-southeast-1\"\n",
    )
    .unwrap();
    let out = p.local(&["plan", "--live", &snap, "--format", "json"]);
    assert_code(&out, common::SUCCESS, "plan --live with a new region");
    let plan = plan_json(&out);
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("did not read Model Studio region ap-southeast-1"),
        "{warnings}"
    );
    assert!(
        addresses(&plan).contains(&"\"create\" \"workspace.sg-app\"".to_string()),
        "{plan}"
    );
    // Covered scopes are not warned about.
    std::fs::remove_file(p.cfg().join("shanghai.toml")).unwrap();
    let out = p.local(&["plan", "--live", &snap, "--format", "json"]);
    assert_code(&out, common::SUCCESS, "plan --live");
    assert!(
        !plan_json(&out)["warnings"]
            .to_string()
            .contains("did not read")
    );
}

#[test]
fn durations_take_days() {
    assert_eq!(
        msctl::cli::parse_duration("2d").unwrap(),
        std::time::Duration::from_secs(2 * 86_400)
    );
    assert_eq!(
        msctl::cli::parse_duration("36h").unwrap(),
        std::time::Duration::from_secs(36 * 3600)
    );
    assert!(msctl::cli::parse_duration("d").is_err());
    assert!(msctl::cli::parse_duration("99999999999999999999d").is_err());
}
