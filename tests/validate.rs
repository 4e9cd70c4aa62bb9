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
        "quota-overflow",
        "allocations 18446744073709551614 + reserve 2 = 18446744073709551616 > total 2 \
            requests/min",
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
        "[[workspace]]\nname = \"a\"\nregion = \"cn-beijng\"\n\n[[workspace]]\nname = \"b\"\n\
            models = [{ model = \"m\", inferance = true }]\n\n[[ram.user]]\nname = \"x y\"\n",
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

/// Writes `files` into a fresh config directory (with a msctl.toml setting the region).
fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("msctl.toml"),
        "[project]\ndefault_region = \"cn-beijing\"\n",
    )
    .unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Runs msctl in `dir` with a hang guard: a read without limit would otherwise never end.
fn run_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = msctl()
        .args(args)
        .arg("-C")
        .arg(dir)
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("msctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The error block (up to the blank line) holding `message`.
fn block<'a>(stderr: &'a str, message: &str) -> &'a str {
    stderr
        .split("\n\n")
        .find(|b| b.contains(message))
        .unwrap_or_else(|| panic!("no `{message}` in\n{stderr}"))
}

const QUOTA_WS: &str = "[[workspace]]\nname = \"app\"\nmodels = [{ model = \"qwen-plus\" }]\n";

#[test]
fn a_share_of_a_huge_total_is_exact() {
    let dir = config_dir(&[(
        "main.toml",
        &format!(
            "{QUOTA_WS}\n[[quota]]\nmodel = \"qwen-plus\"\n\
                requests_per_minute = 9223372036854775807\nallocations = {{ \"app\" = \"50%\" }}\n"
        ),
    )]);
    let (code, stdout, stderr) = run_in(dir.path(), &["validate", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // floor(9223372036854775807 / 2), not a saturated product divided by 1000.
    assert_eq!(
        doc["quotas"][0]["allocations"][0]["requests_per_minute"],
        4611686018427387903u64
    );
}

#[test]
fn derived_tokens_beyond_the_api_field_are_a_located_error() {
    let dir = config_dir(&[(
        "main.toml",
        &format!(
            "{QUOTA_WS}\n[[quota]]\nmodel = \"qwen-plus\"\nrequests_per_minute = 1\n\
                tokens_per_minute = 9223372036854775807\nallocations = {{ \"app\" = \
                9223372036854775807 }}\n"
        ),
    )]);
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    let b = block(
        &stderr,
        "the tokens per minute derived for `app` comes to 85070591730234615847396907784232501249, \
            more than the API's largest limit (9223372036854775807)",
    );
    assert!(b.contains("--> main.toml:9:17"), "{b}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn policy_files_from_devices_and_oversized_files_are_refused() {
    let big = format!(
        "{{\"Version\": \"1\", \"Statement\": [], \"pad\": \"{}\"}}",
        "x".repeat(20_000)
    );
    let dir = config_dir(&[
        (
            "main.toml",
            "[[ram.policy]]\nname = \"zero\"\nfile = \"/dev/zero\"\n\n[[ram.role]]\n\
                name = \"big\"\ntrust_policy_file = \"big.json\"\n",
        ),
        ("big.json", &big),
    ]);
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    let zero = block(
        &stderr,
        "failed to read policy file `/dev/zero`: it is a character device, not a regular file",
    );
    assert!(zero.contains("--> main.toml:3:8"), "{zero}");
    let big = block(
        &stderr,
        "failed to read policy file `big.json`: it is larger than 16384 bytes",
    );
    assert!(big.contains("--> main.toml:7:21"), "{big}");
    assert!(big.contains("at most 6144 characters"), "{big}");
}

#[test]
fn a_fifo_policy_file_is_refused_without_blocking() {
    let dir = config_dir(&[(
        "main.toml",
        "[[ram.policy]]\nname = \"pipe\"\nfile = \"pipe.json\"\n",
    )]);
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe.json"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    block(
        &stderr,
        "failed to read policy file `pipe.json`: it is a FIFO (named pipe), not a regular file",
    );
}

#[test]
fn an_oversized_config_file_is_refused_by_name() {
    let dir = config_dir(&[]);
    // Sparse: no 16 MiB written, but its size is past the cap.
    let file = std::fs::File::create(dir.path().join("huge.toml")).unwrap();
    file.set_len(16 * 1024 * 1024 + 1).unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("huge.toml`: it is larger than 16777216 bytes"),
        "{stderr}"
    );
}

#[test]
fn unreadable_config_files_are_named() {
    let dir = config_dir(&[]);
    std::fs::write(dir.path().join("x.toml"), [0x5b, 0xff, 0xfe, 0x00]).unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("x.toml`: it is not UTF-8 text"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");

    std::fs::remove_file(dir.path().join("x.toml")).unwrap();
    std::os::unix::fs::symlink("gone.toml", dir.path().join("link.toml")).unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("link.toml`: it is a symbolic link to `gone.toml`, which does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_misspelt_placeholder_is_an_error_with_the_right_hint() {
    let dir = config_dir(&[(
        "main.toml",
        "[[ram.user]]\nname = \"alice\"\n\n[[workspace]]\nname = \"chat-{evn}\"\n\
            environments = [\"dev\"]\n\n[[workspace]]\nname = \"app-{env}\"\n\
            environments = [\"dev\"]\nmembers = [{ user = \"alice\" }]\n\
            api_keys = [{ name = \"k\", owner = \"alice\", description = \"key of {evn}\" }]\n",
    )]);
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    let name = block(&stderr, "unknown placeholder `{evn}` in `chat-{evn}`");
    assert!(name.contains("--> main.toml:5:8"), "{name}");
    assert!(name.contains("hint: did you mean `{env}`?"), "{name}");
    // Not the hint built around the typo.
    assert!(!stderr.contains("-{evn}-{env}"), "{stderr}");
    let description = block(&stderr, "unknown placeholder `{evn}` in `key of {evn}`");
    assert!(description.contains("--> main.toml:12:"), "{description}");
}

#[test]
fn a_bad_ip_entry_is_reported_once_at_the_entry() {
    // Expanded twice, with another error at the key between the two copies.
    let dir = config_dir(&[(
        "main.toml",
        "[[ram.user]]\nname = \"alice\"\n\n[[workspace]]\nname = \"app-{env}\"\n\
            environments = [\"dev\", \"prod\"]\nregion = \"ap-southeast-1\"\n\
            members = [{ user = \"alice\" }]\napi_keys = [{ name = \"k\", owner = \"alice\", \
            ip_allow = [\"10.0.0.0/8\", \"1.2.3.x\"] }]\n",
    )]);
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    let message = "`1.2.3.x` is not an IP address or CIDR block";
    assert_eq!(stderr.matches(message).count(), 1, "{stderr}");
    assert!(
        block(&stderr, message).contains("--> main.toml:9:70"),
        "{stderr}"
    );
}

#[test]
fn the_caret_counts_tabs_and_wide_characters() {
    let dir = config_dir(&[("main.toml", "[[ram.user]]\nname =\t\"中文 x\"\n")]);
    let (code, _, stderr) = run_in(dir.path(), &["validate"]);
    assert_eq!(code, 1, "{stderr}");
    let b = block(&stderr, "RAM user name `中文 x`");
    // The tab is shown as four spaces; each CJK character takes two columns.
    assert!(b.contains("2 | name =    \"中文 x\"\n"), "{b}");
    assert!(b.contains("\n  |           ^^^^^^^^\n"), "{b}");
}

#[test]
fn a_state_database_that_cannot_be_opened_is_one_message() {
    let dir = config_dir(&[("main.toml", QUOTA_WS)]);
    // A folder where the database file should be.
    let state = dir.path().join("state-folder");
    std::fs::create_dir_all(&state).unwrap();
    let (code, _, stderr) = run_in(dir.path(), &["plan", "--state", state.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("failed to open").count(), 1, "{stderr}");
    assert!(stderr.contains("state-folder"), "{stderr}");
}

#[test]
fn linked_folders_are_read_and_skipped_folders_reported() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("cfg");
    let shared = root.path().join("shared");
    for (path, text) in [
        (
            cfg.join("msctl.toml"),
            "[project]\ndefault_region = \"cn-beijing\"\n",
        ),
        (cfg.join("main.toml"), QUOTA_WS),
        (
            shared.join("users.toml"),
            "[[ram.user]]\nname = \"alice\"\n",
        ),
        (
            cfg.join("target/old.toml"),
            "[[ram.user]]\nname = \"bob\"\n",
        ),
        (cfg.join(".drafts/notes.txt"), "not config\n"),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::os::unix::fs::symlink(&shared, cfg.join("users")).unwrap();
    // A loop must not hang the walk.
    std::os::unix::fs::symlink(&cfg, cfg.join("again")).unwrap();
    let (code, stdout, stderr) = run_in(&cfg, &["validate", "--explain"]);
    assert_eq!(code, 0, "{stderr}");
    // alice comes through the linked folder.
    assert!(stdout.contains("ram_user                 1"), "{stdout}");
    for line in [
        "Skipped folders:\n",
        "  .drafts/ (hidden folder)\n",
        "  again/ (the config directory itself again (a symbolic link loop); holds *.toml files)\n",
        "  target/ (a folder named `target`; holds *.toml files)\n",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in\n{stdout}");
    }
    let (_, json, _) = run_in(&cfg, &["validate", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let target = &doc["skipped_folders"][2];
    assert_eq!(target["path"], "target", "{doc}");
    assert_eq!(target["holds_toml"], true, "{doc}");
    // A skipped folder holding config files is a warning on every command, not only validate.
    let (code, _, stderr) = run_in(
        &cfg,
        &[
            "plan",
            "--state",
            root.path().join("state.db").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "warning: folder `target` is skipped (a folder named `target`), but it holds *.toml \
                files"
        ),
        "{stderr}"
    );
}
