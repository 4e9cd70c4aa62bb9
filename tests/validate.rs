//! `msctl validate` on the examples and on one broken fixture per rule: the message, the file and
//! the line of every problem.

mod common;
use common::msctl;

/// Runs validate on a fixture; returns (exit code, stdout, stderr).
fn validate(dir: &str) -> (i32, String, String) {
    let out = msctl()
        .args(["validate", "-C", dir])
        .output()
        .expect("msctl runs");
    (
        common::code(&out),
        common::stdout(&out),
        common::stderr(&out),
    )
}

#[test]
fn examples_are_valid() {
    for dir in ["examples/quickstart", "examples/langstudio"] {
        let (code, stdout, stderr) = validate(dir);
        assert_eq!(code, 0, "{dir}: {stderr}");
        assert!(stdout.contains("is valid"), "{stdout}");
        assert!(!stderr.contains("error:"), "{stderr}");
    }
}

#[test]
fn quickstart_counts_and_split_are_shown() {
    let out = msctl()
        .args(["validate", "--explain", "-C", "examples/quickstart"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("workspace                4"), "{stdout}");
    // The domain's example: 1000 QPM, prod 60%, test 20%, dev 10%, reserve 10%.
    for row in [
        "chatbot-prod         600    60.0%",
        "chatbot-test         200    20.0%",
        "chatbot-dev          100    10.0%",
        "(reserve)            100    10.0%",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in\n{stdout}");
    }
}

/// (fixture, message fragment, `file:line:col` of the caret)
const CASES: &[(&str, &str, &str)] = &[
    ("toml-syntax", "invalid TOML", "main.toml:3:"),
    (
        "unknown-key",
        "unknown key `inferance` in model permission",
        "main.toml:3:34",
    ),
    (
        "wrong-type",
        "invalid type: string \"yes\", expected a boolean",
        "main.toml:3:46",
    ),
    (
        "missing-field",
        "missing field `requests_per_minute`",
        "main.toml:1:1",
    ),
    (
        "bad-name",
        "RAM user name `alice smith` contains ` `",
        "main.toml:2:8",
    ),
    (
        "member-unknown-user",
        "unknown RAM user `alise`",
        "main.toml:3:12",
    ),
    (
        "member-unknown-role",
        "unknown RAM role `ops`",
        "main.toml:3:12",
    ),
    (
        "allocation-unknown-workspace",
        "unknown workspace `app-stage`",
        "main.toml:10:37",
    ),
    (
        "attachment-unknown-policy",
        "unknown policy `sfm-craete-index`",
        "main.toml:3:13",
    ),
    (
        "group-member-unknown-user",
        "unknown RAM user `carol`",
        "main.toml:3:21",
    ),
    (
        "apikey-owner-not-member",
        "API key owner `mallory` is not a member of `app`",
        "main.toml:5:37",
    ),
    (
        "duplicate-across-files",
        "`ram.user.alice` is defined twice",
        "b.toml:3:8",
    ),
    (
        "expansion-collision",
        "`app-{env}` expands (environment `prod`) into `app-prod`",
        "main.toml:8:8",
    ),
    (
        "quota-overcommit",
        "allocations 900 + reserve 200 = 1100 > total 1000",
        "main.toml:11:15",
    ),
    (
        "quota-percent-over-100",
        "120% is more than 100%",
        "main.toml:10:17",
    ),
    (
        "quota-model-not-authorized",
        "model `qwen-max`, which workspace `app-prod` does not authorize",
        "main.toml:10:17",
    ),
    (
        "limit-contradicts-split",
        "(500 requests/min) contradicts the quota split (600 requests/min)",
        "main.toml:4:11",
    ),
    (
        "default-workspace-models",
        "is a default workspace",
        "main.toml:4:10",
    ),
    (
        "ip-allow-outside-beijing",
        "has an IP allow-list, but `app-sg` is in ap-southeast-1",
        "main.toml:6:22",
    ),
    (
        "two-regions",
        "a workspace lives in exactly one region",
        "main.toml:3:10",
    ),
    (
        "unknown-region",
        "unknown region `cn-beijng`",
        "main.toml:3:10",
    ),
    (
        "settings-outside-project-file",
        "`[backend]` settings belong in msctl.toml",
        "main.toml:1:2",
    ),
    (
        "policy-version",
        "`Version` must be the string \"1\"",
        "main.toml:3:24",
    ),
    (
        "policy-effect",
        "`Effect` must be `Allow` or `Deny`",
        "main.toml:8:10",
    ),
    (
        "policy-action",
        "action `CreateIndex` must be `service:Action`",
        "main.toml:9:30",
    ),
    (
        "policy-resource",
        "`arn:aws:s3:::bucket/*` is not an alibaba cloud arn",
        "main.toml:10:12",
    ),
    (
        "policy-condition",
        "unknown condition operator `StringEqual`",
        "main.toml:12:1",
    ),
];

#[test]
fn every_rule_reports_message_file_and_line() {
    let mut failures = Vec::new();
    for (fixture, message, location) in CASES {
        let dir = format!("tests/fixtures/invalid/{fixture}");
        let (code, _, stderr) = validate(&dir);
        // The diagnostic with this message must carry this location on its `-->` line.
        let block = stderr
            .split("\n\n")
            .find(|b| b.starts_with("error:") && b.contains(message));
        let ok = code == 1
            && block.is_some_and(|b| b.contains(&format!("--> {location}")) && b.contains('^'));
        if !ok {
            failures.push(format!(
                "{fixture}: want `{message}` at {location}, exit 1; got exit {code}:\n{stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn every_fixture_rule_is_covered() {
    let mut dirs: Vec<String> = std::fs::read_dir("tests/fixtures/invalid")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.0.to_string()).collect();
    cases.sort();
    assert_eq!(
        dirs, cases,
        "each fixture folder needs a case, and each case a folder"
    );
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("msctl.toml"),
        "[project]\ndefault_region = \"cn-beijing\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        "[[workspace]]\nname = \"a\"\nregion = \"cn-beijng\"\n\n[[workspace]]\nname = \"b\"\nmodels = [{ model = \"m\", inferance = true }]\n\n[[ram.user]]\nname = \"x y\"\n",
    )
    .unwrap();
    let (code, _, stderr) = validate(dir.path().to_str().unwrap());
    assert_eq!(code, 1);
    for part in [
        "unknown region `cn-beijng`",
        "unknown key `inferance`",
        "RAM user name `x y`",
        "found 3 errors",
    ] {
        assert!(stderr.contains(part), "missing `{part}` in\n{stderr}");
    }
}

#[test]
fn risky_grants_warn_but_pass() {
    let (code, _, stderr) = validate("tests/fixtures/warnings");
    assert_eq!(code, 0, "{stderr}");
    for part in [
        "warning: user `root-ish` gets `AliyunBailianFullAccess`",
        "warning: user `root-ish` gets `AliyunBSSOrderAccess`",
        "warning: API key `svc` is owned by `bob`, who is not a member of `app`",
    ] {
        assert!(stderr.contains(part), "missing `{part}` in\n{stderr}");
    }
}

#[test]
fn json_output_lists_diagnostics_with_locations() {
    let out = msctl()
        .args([
            "validate",
            "--format",
            "json",
            "-C",
            "tests/fixtures/invalid/unknown-key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["location"]["file"], "main.toml");
    assert_eq!(d["location"]["line"], 3);
    assert_eq!(d["hint"], "did you mean `inference`?");
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let (code, _, stderr) = validate("does/not/exist");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("failed to read config directory `does/not/exist`"),
        "{stderr}"
    );
}
