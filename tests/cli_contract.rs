//! The contract CI pipelines and cron jobs read msctl through (issue 9): exit codes (a test per
//! row of the table in `--help` and the README), closed pipes, SIGINT/SIGTERM during apply, and
//! apply results as data — all through the built binary in a temporary directory.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use msctl::backend::Backend as _;
use msctl::backend::local::LocalBackend;
use serde_json::Value;

mod common;
use common::code;

const MSCTL: &str = env!("CARGO_BIN_EXE_msctl");

/// A config directory in a temp dir, with its own state database.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn quickstart() -> Project {
        let dir = tempfile::tempdir().unwrap();
        for name in ["msctl.toml", "quota.toml", "ram.toml", "workspaces.toml"] {
            std::fs::copy(
                Path::new("examples/quickstart").join(name),
                dir.path().join(name),
            )
            .unwrap();
        }
        Project { dir }
    }

    fn files(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Project { dir }
    }

    /// A synthetic config big enough that an apply is still running long after its first change.
    fn synthetic() -> Project {
        let dir = tempfile::tempdir().unwrap();
        msctl::synthetic::generate(dir.path(), 90, 900, 10).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn db(&self) -> PathBuf {
        self.path().join("state.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(MSCTL);
        cmd.arg("-C")
            .arg(self.path())
            .arg("--state")
            .arg(self.db())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn msctl(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn last_apply_summary(&self) -> String {
        let backend = LocalBackend::open(self.db()).unwrap();
        let ledger = backend.load_ledger().unwrap();
        ledger.last_apply.expect("an apply is recorded").summary
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The write end of a pipe whose read end is already closed: every write to it fails with
/// EPIPE. Made deterministically: `true` holds the read end and has exited.
fn closed_pipe() -> ChildStdin {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let writer = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    writer
}

// ---- exit code 0 -------------------------------------------------------------------------

#[test]
fn exit_0_for_help_version_and_in_sync() {
    let help = Command::new(MSCTL).arg("--help").output().unwrap();
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).contains("Exit codes:"), "{}", stdout(&help));
    assert_eq!(
        code(&Command::new(MSCTL).arg("--version").output().unwrap()),
        0
    );

    let p = Project::quickstart();
    let apply = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
    assert_eq!(code(&p.msctl(&["drift"])), 0);
    let again = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
}

// ---- exit code 1 -------------------------------------------------------------------------

#[test]
fn exit_1_for_usage_errors_never_2() {
    let p = Project::quickstart();
    for args in [
        &["drift", "--formt", "json"][..],
        &["apply", "--auto-approve", "--parallelism", "-1"],
        &["apply", "--auto-approve", "--parallelism", "0"],
        &["plan", "--detailed-exitcode", "--format", "yaml"],
        &["frobnicate"],
        &[],
    ] {
        let out = p.msctl(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    let zero = p.msctl(&["apply", "--auto-approve", "--parallelism", "0"]);
    assert!(
        stderr(&zero).contains("invalid value '0' for '--parallelism <N>': must be at least 1"),
        "{}",
        stderr(&zero)
    );
    // Nothing was applied by any of them.
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 2);
}

#[test]
fn exit_1_for_an_invalid_config_with_one_error_line() {
    let p = Project::files(&[(
        "ws.toml",
        "[[workspace]]\nname = \"a\"\nregion = \"cn-beijng\"\n",
    )]);
    let out = p.msctl(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("error: the configuration has errors; nothing was planned")
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn exit_1_for_secrets_to_on_the_local_backend_before_anything_is_applied() {
    let p = Project::quickstart();
    let secrets = p.path().join("secrets.txt");
    let out = p.msctl(&[
        "apply",
        "--auto-approve",
        "--secrets-to",
        secrets.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "error: --secrets-to is used by the aliyun backend only; the local backend hands out \
                no secrets"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!secrets.exists());
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 2);
}

/// A config whose only change fails: the workspace's name is taken in another region.
fn failing_project() -> Project {
    let p = Project::files(&[
        (
            "msctl.toml",
            "[project]\nname = \"t\"\ndefault_region = \"cn-beijing\"\n",
        ),
        (
            "ws.toml",
            "[[workspace]]\nname = \"taken\"\nregion = \"cn-beijing\"\n",
        ),
    ]);
    assert_eq!(code(&p.msctl(&["plan"])), 0); // creates the database
    p.sql(
        "INSERT INTO ms_workspace (id, name, region, is_default, gmt_create) VALUES \
        ('ws-00000000000000ff', 'taken', 'us-east-1', 0, 0);",
    );
    p
}

#[test]
fn exit_1_and_apply_failed_when_every_change_failed() {
    let p = failing_project();
    let out = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("\nApply failed: 0 applied, 1 failed, 0 skipped, 0 manual.\n"),
        "{text}"
    );
    assert!(!text.contains("Apply complete"), "{text}");
    assert!(
        stderr(&out).contains("error: the apply did not complete: 1 change failed"),
        "{}",
        stderr(&out)
    );
}

// ---- exit code 2 -------------------------------------------------------------------------

#[test]
fn exit_2_for_changes_with_detailed_exitcode_and_for_drift() {
    let p = Project::quickstart();
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 2);
    assert_eq!(
        code(&p.msctl(&["plan"])),
        0,
        "2 only with --detailed-exitcode"
    );
    assert_eq!(code(&p.msctl(&["drift"])), 2);
}

// ---- closed pipes ------------------------------------------------------------------------

#[test]
fn a_closed_stdout_changes_neither_the_work_nor_the_exit_code() {
    let p = Project::quickstart();
    // `msctl apply --auto-approve | true`: applies everything, exits 0, says nothing about it.
    let apply = p
        .command(&["apply", "--auto-approve"])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    let err = stderr(&apply);
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
    let summary = p.last_apply_summary();
    assert!(
        summary.starts_with("Apply complete: 37 applied"),
        "{summary}"
    );
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);

    // A change to the config: `plan --detailed-exitcode | head -1` and `drift | true` exit 2.
    let ws = std::fs::read_to_string(p.path().join("workspaces.toml")).unwrap();
    std::fs::write(
        p.path().join("workspaces.toml"),
        ws.replace(
            "description = \"chatbot service\", ",
            "description = \"chatbot api\", ",
        ),
    )
    .unwrap();
    for args in [&["plan", "--detailed-exitcode"][..], &["drift"]] {
        let out = p.command(args).stdout(closed_pipe()).output().unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
    }
}

#[test]
fn closed_stdout_and_stderr_still_apply_and_keep_the_exit_code() {
    let p = failing_project();
    let out = p
        .command(&["apply", "--auto-approve"])
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        1,
        "a failed apply, not a panic (101) nor a quiet 0"
    );
    assert!(
        p.last_apply_summary()
            .starts_with("Apply failed: 0 applied, 1 failed")
    );
}

// ---- apply results as data ---------------------------------------------------------------

fn apply_schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("schema/apply.schema.json").unwrap())
            .unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn apply_format_json_writes_exactly_one_result_document() {
    let p = Project::quickstart();
    let out = p.msctl(&["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Exactly one document: serde_json rejects trailing content.
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let errors: Vec<String> = apply_schema()
        .iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["format_version"], "1");
    assert_eq!(doc["status"], "complete");
    assert_eq!(doc["summary"]["applied"], 37);
    assert_eq!(doc["summary"]["total"], 37);
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 37);
    assert!(
        changes.iter().all(|c| c["outcome"] == "applied"
            && c["duration_ms"].is_u64()
            && c["error"].is_null())
    );
    assert_eq!(doc["plan"]["changes"].as_array().unwrap().len(), 37);
    // The per-change lines went to stderr as progress.
    assert!(
        stderr(&out).contains("+ ram.user.carol: created"),
        "{}",
        stderr(&out)
    );

    let again = p.msctl(&["apply", "--auto-approve", "--format", "json"]);
    let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["status"], "no_changes");
    assert!(apply_schema().is_valid(&doc));
}

#[test]
fn a_failed_change_has_its_error_kind_in_the_result_document() {
    let p = failing_project();
    let out = p.msctl(&["apply", "--auto-approve", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(apply_schema().is_valid(&doc));
    assert_eq!(doc["status"], "failed");
    assert_eq!(
        doc["summary_line"],
        "Apply failed: 0 applied, 1 failed, 0 skipped, 0 manual."
    );
    assert_eq!(doc["changes"][0]["outcome"], "failed");
    assert_eq!(doc["changes"][0]["error"]["kind"], "conflict");
}

#[test]
fn apply_results_go_to_stdout_and_diagnostics_to_stderr() {
    let p = Project::quickstart();
    let out = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("+ ram.user.carol: created"), "{text}");
    assert!(text.contains("\nApply complete: 37 applied"), "{text}");
    assert!(!stderr(&out).contains("Apply complete"), "{}", stderr(&out));
}

#[test]
fn graph_format_json_is_json() {
    let p = Project::quickstart();
    let out = p.msctl(&["graph", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON, not DOT");
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 37);
    let edges = doc["edges"].as_array().unwrap();
    assert!(
        edges.iter().any(|e| e["before"] == "ram.user.carol"
            && e["after"] == "workspace.chatbot-prod.member.carol")
    );
}

// ---- exit codes 130 and 143 --------------------------------------------------------------

/// Starts `msctl apply` on `p`, waits (reading its stdout) until the first change is applied,
/// runs `kill_script` (a shell script; `$PID` is msctl's), and returns the exit code, stdout and
/// stderr.
fn apply_and_signal(p: &Project, kill_script: &str) -> (i32, String, String) {
    let err_path = p.path().join("apply.stderr");
    let mut child: Child = p
        .command(&["apply", "--auto-approve", "--parallelism", "4"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.ends_with(": created") {
            break;
        }
    }
    let kill = Command::new("sh")
        .args(["-c", kill_script])
        .env("PID", child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    for line in lines {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap();
    (status.code().unwrap_or(-1), out, err)
}

#[test]
fn exit_130_after_sigint_with_a_summary_a_recorded_partial_apply_and_convergence() {
    let p = Project::synthetic();
    let (code_, out, err) = apply_and_signal(&p, "kill -INT $PID");
    assert_eq!(code_, 130, "{err}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("Apply interrupted: "))
        .unwrap_or_else(|| panic!("no summary:\n{out}\n{err}"));
    assert!(summary.contains(" not started."), "{summary}");
    assert!(out.contains(": not started (interrupted)"), "{out}");
    assert!(err.contains("Stopping (SIGINT received)"), "{err}");
    assert!(
        err.contains("note: the apply was stopped by SIGINT"),
        "{err}"
    );
    // The ledger records the partial apply, with the summary line that says so.
    assert_eq!(p.last_apply_summary(), summary);

    let again = p.msctl(&["apply", "--auto-approve"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).contains("\nApply complete: "),
        "{}",
        stdout(&again)
    );
    assert_eq!(code(&p.msctl(&["plan", "--detailed-exitcode"])), 0);
}

#[test]
fn exit_143_after_sigterm_with_the_partial_apply_recorded() {
    let p = Project::synthetic();
    let (code_, out, err) = apply_and_signal(&p, "kill -TERM $PID");
    assert_eq!(code_, 143, "{err}");
    assert!(out.contains("\nApply interrupted: "), "{out}\n{err}");
    assert!(p.last_apply_summary().starts_with("Apply interrupted: "));
}

#[test]
fn a_second_signal_exits_at_once_without_recording() {
    let p = Project::synthetic();
    // Two different signals (the same one twice may merge while pending), microseconds apart:
    // the second ends msctl before the changes in flight are done and anything is recorded.
    let (code_, out, err) = apply_and_signal(&p, "kill -INT $PID; kill -TERM $PID");
    assert!(code_ == 130 || code_ == 143, "exit {code_}: {err}");
    assert!(!out.contains("Apply interrupted"), "{out}");
    let backend = LocalBackend::open(p.db()).unwrap();
    assert_eq!(backend.load_ledger().unwrap().last_apply, None);
}

// ---- the table -----------------------------------------------------------------------------

/// `(code, meaning)` rows of the exit-code table in `--help`.
fn help_table() -> Vec<(String, String)> {
    let help = stdout(&Command::new(MSCTL).arg("--help").output().unwrap());
    let table = help
        .split("Exit codes:\n")
        .nth(1)
        .expect("--help has an exit-code table");
    table
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let (code, meaning) = l.trim().split_once(' ').unwrap();
            (code.to_string(), meaning.trim().to_string())
        })
        .collect()
}

#[test]
fn the_readme_exit_code_table_matches_help() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let table = readme
        .split("| exit code | meaning |\n|---|---|\n")
        .nth(1)
        .expect("README has the exit-code table");
    let rows: Vec<(String, String)> = table
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            (cells[0].trim().to_string(), cells[1].trim().to_string())
        })
        .collect();
    let help = help_table();
    assert_eq!(
        help.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2", "130", "143"]
    );
    assert_eq!(rows, help);
}
