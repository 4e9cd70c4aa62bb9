//! The first hour of a new user (issue 12, part 3), through the built binary: per-subcommand
//! help, `.msctl/.gitignore`, the git-note opt-out, `msctl schema`, `msctl init`, config warnings
//! printed once and hidden by `--quiet` when acknowledged, and `graph --config`.

use std::path::{Path, PathBuf};
use std::process::Output;

use clap::CommandFactory as _;
use git2::{IndexAddOption, Repository, Signature};
use serde_json::Value;

mod common;

use common::{CHANGES, ERROR, SUCCESS, assert_code, stderr, stdout};

/// The quick start's super-administrator warning, as its first line prints.
const CAROL_WARNING: &str = "warning: user `carol` gets `AliyunBailianFullAccess`";
const CAROL_ADDRESS: &str = "ram.user.carol.policy.AliyunBailianFullAccess";

/// Runs msctl in `cwd` (git variables a hook may export removed).
fn run(args: &[&str], cwd: &Path) -> Output {
    common::msctl()
        .args(args)
        .current_dir(cwd)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("msctl runs")
}

fn help(args: &[&str]) -> String {
    let out = run(args, Path::new("."));
    assert_code(&out, SUCCESS, &format!("msctl {}", args.join(" ")));
    stdout(&out)
}

/// The long flags a help text lists.
fn long_flags(help: &str) -> Vec<String> {
    help.split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches(',').to_string())
        .collect()
}

/// A git repository in `dir` with everything in it committed.
fn commit_all(dir: &Path, message: &str) -> Repository {
    let repo = Repository::open(dir)
        .or_else(|_| Repository::init(dir))
        .expect("git init");
    {
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .expect("add");
        index.update_all(["*"], None).expect("update");
        index.write().expect("write index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let sig = Signature::now("Tester", "tester@example.com").expect("signature");
        let parent = repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|id| repo.find_commit(id).expect("parent"));
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .expect("commit");
    }
    repo
}

fn has_notes(repo: &Repository) -> bool {
    repo.find_reference("refs/notes/msctl").is_ok()
}

fn quickstart_in(dir: &Path) -> PathBuf {
    let config = dir.join("config");
    common::copy_example("quickstart", &config);
    config
}

// ---- per-subcommand help --------------------------------------------------------------------

#[test]
fn every_subcommand_help_is_well_formed() {
    msctl::cli::Cli::command().debug_assert();
    for sub in msctl::cli::Cli::command().get_subcommands() {
        let name = sub.get_name().to_string();
        help(&[&name, "--help"]);
    }
}

#[test]
fn each_subcommand_help_lists_the_flags_it_uses_only() {
    let emulator = long_flags(&help(&["emulator", "--help"]));
    for absent in [
        "--backend",
        "--caller",
        "--rev",
        "--endpoint",
        "--ledger",
        "--dir",
    ] {
        assert!(
            !emulator.iter().any(|f| f == absent),
            "`msctl emulator --help` lists {absent}: {emulator:?}"
        );
    }
    assert!(emulator.iter().any(|f| f == "--state"), "{emulator:?}");

    let plan = long_flags(&help(&["plan", "--help"]));
    for present in [
        "--backend",
        "--caller",
        "--rev",
        "--dir",
        "--state",
        "--format",
        "--quiet",
    ] {
        assert!(
            plan.iter().any(|f| f == present),
            "`msctl plan --help` does not list {present}: {plan:?}"
        );
    }

    let validate = long_flags(&help(&["validate", "--help"]));
    for absent in ["--backend", "--state", "--caller", "--endpoint", "--ledger"] {
        assert!(
            !validate.iter().any(|f| f == absent),
            "`msctl validate --help` lists {absent}: {validate:?}"
        );
    }
    assert!(validate.iter().any(|f| f == "--rev"), "{validate:?}");

    let schema = long_flags(&help(&["schema", "--help"]));
    assert!(
        !schema.iter().any(|f| f == "--dir" || f == "--backend"),
        "{schema:?}"
    );
}

#[test]
fn options_work_before_and_after_the_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    let state = tmp.path().join("state.db");
    let (c, s) = (config.to_str().unwrap(), state.to_str().unwrap());
    let before = run(
        &["-C", c, "--state", s, "--format", "json", "plan"],
        tmp.path(),
    );
    assert_code(&before, SUCCESS, "flags before the subcommand");
    let after = run(
        &["plan", "-C", c, "--state", s, "--format", "json"],
        tmp.path(),
    );
    assert_code(&after, SUCCESS, "flags after the subcommand");
    let changes = |o: &Output| -> Value {
        let doc: Value = serde_json::from_str(&stdout(o)).expect("a JSON plan");
        doc["changes"].clone()
    };
    assert_eq!(changes(&before), changes(&after));
    assert!(changes(&before).as_array().is_some_and(|c| !c.is_empty()));

    // After the subcommand wins over before it.
    let both = run(
        &[
            "--format", "text", "-C", c, "plan", "--state", s, "--format", "json",
        ],
        tmp.path(),
    );
    assert_code(&both, SUCCESS, "flags in both places");
    serde_json::from_str::<Value>(&stdout(&both)).expect("the later --format json wins");

    // A subcommand ignores a flag before it that it does not use, as before the split.
    let validate = run(&["--backend", "aliyun", "-C", c, "validate"], tmp.path());
    assert_code(&validate, SUCCESS, "validate ignores --backend before it");
}

// ---- .msctl/.gitignore ----------------------------------------------------------------------

#[test]
fn the_state_folder_ignores_itself_and_git_add_all_leaves_it_out() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    let repo = commit_all(&config, "quick start");
    let out = run(&["plan"], &config);
    assert_code(&out, SUCCESS, "plan");
    assert!(config.join(".msctl/local.db").exists());
    let ignore = std::fs::read_to_string(config.join(".msctl/.gitignore")).expect(".gitignore");
    assert!(ignore.lines().any(|l| l.trim() == "*"), "{ignore}");

    // `git add -A` finds nothing to add: the state database stays out of the repository.
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut opts)).expect("status");
    let untracked: Vec<String> = statuses
        .iter()
        .filter_map(|e| e.path().ok().map(|p| p.to_string()))
        .collect();
    assert!(untracked.is_empty(), "git sees {untracked:?}");
}

#[test]
fn an_existing_state_folder_is_left_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    std::fs::create_dir_all(config.join(".msctl")).unwrap();
    let out = run(&["plan"], &config);
    assert_code(&out, SUCCESS, "plan");
    assert!(!config.join(".msctl/.gitignore").exists());
}

// ---- git notes ------------------------------------------------------------------------------

/// A committed config with one RAM user, `project` table extended by `project_extra`.
fn notes_repo(dir: &Path, project_extra: &str) -> Repository {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("msctl.toml"),
        format!("[project]\nname = \"notes\"\ndefault_region = \"cn-beijing\"\n{project_extra}"),
    )
    .unwrap();
    std::fs::write(dir.join("ram.toml"), "[[ram.user]]\nname = \"dora\"\n").unwrap();
    commit_all(dir, "one user")
}

#[test]
fn git_notes_follow_the_setting_and_the_flag() {
    let tmp = tempfile::tempdir().unwrap();

    let on = tmp.path().join("on");
    let repo = notes_repo(&on, "");
    assert_code(&run(&["apply", "--auto-approve"], &on), SUCCESS, "apply");
    assert!(has_notes(&repo), "notes are on by default");

    let off = tmp.path().join("off");
    let repo = notes_repo(&off, "git_notes = false\n");
    let out = run(&["apply", "--auto-approve"], &off);
    assert_code(&out, SUCCESS, "apply with git_notes = false");
    assert!(!has_notes(&repo), "`git_notes = false` writes no note");
    assert!(stderr(&out).contains("no git note"), "{}", stderr(&out));
    // The ledger still records the apply.
    let status = run(&["status", "--format", "json"], &off);
    assert_code(&status, SUCCESS, "status");
    let status: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert!(status["last_applied"].is_object(), "{status}");

    let flag = tmp.path().join("flag");
    let repo = notes_repo(&flag, "");
    assert_code(
        &run(&["apply", "--auto-approve", "--no-notes"], &flag),
        SUCCESS,
        "apply --no-notes",
    );
    assert!(!has_notes(&repo), "--no-notes writes no note");
}

#[test]
fn the_quick_start_writes_no_note_into_the_repository_around_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    // As in a clone of msctl: the example is committed in a repository that is not its own.
    let repo = commit_all(tmp.path(), "a clone of msctl");
    let out = run(&["apply", "--auto-approve", "-C", "config"], tmp.path());
    assert_code(&out, SUCCESS, "the quick start's apply");
    assert!(!has_notes(&repo));
    assert!(config.join(".msctl/local.db").exists());
}

// ---- msctl schema ---------------------------------------------------------------------------

#[test]
fn schema_prints_each_checked_in_schema() {
    // Every checked-in schema, so a new one cannot be left out of `msctl schema`.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".schema.json").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "{names:?}");
    for which in &names {
        let which = which.as_str();
        let out = run(&["schema", which], Path::new("."));
        assert_code(&out, SUCCESS, which);
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(format!("{which}.schema.json"));
        let committed = std::fs::read_to_string(&file).unwrap();
        assert!(
            stdout(&out) == committed,
            "`msctl schema {which}` differs from {}",
            file.display()
        );
    }
    let bad = run(&["schema", "nope"], Path::new("."));
    assert_code(&bad, ERROR, "an unknown schema");
}

// ---- msctl init -----------------------------------------------------------------------------

#[test]
fn init_writes_a_starter_that_validates_plans_and_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["init", "starter"], tmp.path());
    assert_code(&out, SUCCESS, "init");
    let dir = tmp.path().join("starter");
    for file in [
        "msctl.toml",
        "workspaces.toml",
        "quota.toml",
        "ram.toml",
        ".gitignore",
    ] {
        assert!(dir.join(file).is_file(), "{file} is written");
    }
    let gitignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    assert!(
        gitignore.lines().any(|l| l.trim() == ".msctl/"),
        "{gitignore}"
    );

    let validate = run(&["validate", "--format", "json"], &dir);
    assert_code(&validate, SUCCESS, "validate");
    let doc: Value = serde_json::from_str(&stdout(&validate)).unwrap();
    assert_eq!(doc["errors"], 0, "{doc}");
    assert_eq!(doc["warnings"], 0, "{doc}");
    let counts = &doc["resources"];
    for kind in ["workspace", "ram_user", "workspace_member", "model_limit"] {
        assert!(
            counts[kind].as_u64().unwrap_or(0) >= 1,
            "no {kind}: {counts}"
        );
    }

    let plan = run(&["plan", "--detailed-exitcode"], &dir);
    assert_code(&plan, CHANGES, "the first plan creates the starter");
    assert_code(&run(&["apply", "--auto-approve"], &dir), SUCCESS, "apply");
    let again = run(&["plan", "--detailed-exitcode"], &dir);
    assert_code(&again, SUCCESS, "in sync after the apply");
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
}

#[test]
fn init_never_overwrites_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ram.toml"), "# mine\n").unwrap();
    let out = run(&["init", "."], tmp.path());
    assert_code(&out, ERROR, "init over an existing file");
    assert!(stderr(&out).contains("`ram.toml`"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("ram.toml")).unwrap(),
        "# mine\n"
    );
    // Nothing at all is written: no half starter mixed with what was there.
    assert!(!tmp.path().join("msctl.toml").exists());
}

// ---- warnings: once per run, `--quiet` and `safety.accept` ----------------------------------

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn accept(config: &Path, addresses: &[&str]) {
    let path = config.join("msctl.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let list: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    let text = text.replace(
        "[safety]\n",
        &format!("[safety]\naccept = [{}]\n", list.join(", ")),
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn an_acknowledged_warning_is_hidden_by_quiet_only() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    let plain = run(&["plan"], &config);
    assert_code(&plain, SUCCESS, "plan");
    assert_eq!(
        count(&stderr(&plain), CAROL_WARNING),
        1,
        "{}",
        stderr(&plain)
    );

    accept(&config, &[CAROL_ADDRESS]);
    let shown = run(&["plan"], &config);
    assert_code(&shown, SUCCESS, "plan");
    assert_eq!(
        count(&stderr(&shown), CAROL_WARNING),
        1,
        "{}",
        stderr(&shown)
    );
    assert!(
        stderr(&shown).contains("acknowledged"),
        "{}",
        stderr(&shown)
    );

    for args in [
        &["plan", "--quiet"][..],
        &["--quiet", "validate"],
        &["status", "--quiet"],
    ] {
        let quiet = run(args, &config);
        assert_code(&quiet, SUCCESS, &args.join(" "));
        assert_eq!(
            count(&stderr(&quiet), CAROL_WARNING),
            0,
            "{args:?}: {}",
            stderr(&quiet)
        );
    }
}

#[test]
fn quiet_does_not_hide_a_warning_the_config_does_not_acknowledge() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    let out = run(&["plan", "--quiet"], &config);
    assert_code(&out, SUCCESS, "plan --quiet");
    assert_eq!(count(&stderr(&out), CAROL_WARNING), 1, "{}", stderr(&out));
}

#[test]
fn an_accepted_address_no_warning_is_about_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    let typo = "ram.user.carol.policy.AliyunBailianFullAcess";
    accept(&config, &[typo]);
    let out = run(&["validate", "--quiet"], &config);
    assert_code(&out, SUCCESS, "a typo is a warning, not an error");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "`safety.accept` names `{typo}`, but no warning is about it"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("did you mean `{CAROL_ADDRESS}`?")),
        "{err}"
    );
    // The misspelt entry acknowledges nothing.
    assert_eq!(count(&err, CAROL_WARNING), 1, "{err}");
}

#[test]
fn a_warning_prints_once_per_run_however_many_configurations_it_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    // The base revision has the same warning and an error, so its diagnostics are reported too.
    std::fs::write(config.join("broken.toml"), "[[workspace]]\nname = 42\n").unwrap();
    commit_all(&config, "broken");
    std::fs::remove_file(config.join("broken.toml")).unwrap();
    commit_all(&config, "fixed");
    let out = run(&["plan", "--base", "HEAD~1"], &config);
    assert_code(&out, ERROR, "the base has errors");
    let err = stderr(&out);
    assert!(
        err.contains("broken.toml"),
        "the base's error is reported: {err}"
    );
    assert_eq!(count(&err, CAROL_WARNING), 1, "{err}");
}

// ---- graph --config -------------------------------------------------------------------------

#[test]
fn graph_config_is_the_configuration_graph_after_an_apply_too() {
    let tmp = tempfile::tempdir().unwrap();
    let config = quickstart_in(tmp.path());
    assert_code(
        &run(&["apply", "--auto-approve"], &config),
        SUCCESS,
        "apply",
    );

    let plan_graph = run(&["graph", "--format", "json"], &config);
    assert_code(&plan_graph, SUCCESS, "graph");
    let plan_graph: Value = serde_json::from_str(&stdout(&plan_graph)).unwrap();
    assert_eq!(
        plan_graph["nodes"],
        serde_json::json!([]),
        "in sync: no changes"
    );

    let json = run(&["graph", "--config", "--format", "json"], &config);
    assert_code(&json, SUCCESS, "graph --config");
    let doc: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["graph"], "config");
    let nodes: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap())
        .collect();
    assert!(nodes.contains(&"workspace.chatbot-prod"), "{nodes:?}");
    assert!(nodes.contains(&CAROL_ADDRESS), "{nodes:?}");
    let edge = |before: &str, after: &str| {
        doc["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["before"] == before && e["after"] == after)
    };
    assert!(edge(
        "workspace.chatbot-prod",
        "workspace.chatbot-prod.member.carol"
    ));
    assert!(edge("ram.user.carol", CAROL_ADDRESS));
    assert!(edge(
        "ram.user.carol",
        "workspace.chatbot-prod.member.carol"
    ));

    let dot = run(&["graph", "--config"], &config);
    assert_code(&dot, SUCCESS, "graph --config as DOT");
    let dot = stdout(&dot);
    assert!(dot.starts_with("digraph config {"), "{dot}");
    assert!(
        dot.contains("\"workspace.chatbot-prod\" -> \"workspace.chatbot-prod.member.carol\";"),
        "{dot}"
    );
}

/// The README's `msctl init` walk-through is real output: each `$ ` line of its console block is
/// run (by `sh`, with this msctl first on `PATH`) in a fresh directory, and prints what the
/// README shows.
#[test]
fn the_readme_init_walkthrough_is_what_msctl_prints() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```console\n$ msctl init my-config\n")
        .expect("the README shows `msctl init`");
    let block = &readme[start + "```console\n".len()..];
    let block = &block[..block.find("```").expect("the console block ends")];
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => steps.push((command.to_string(), String::new())),
            None => {
                let (_, expected) = steps.last_mut().expect("output follows a command");
                expected.push_str(line);
                expected.push('\n');
            }
        }
    }
    assert!(steps.len() >= 3, "{steps:?}");
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    for (command, expected) in steps {
        let out = std::process::Command::new("sh")
            .args(["-c", &command])
            .current_dir(tmp.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("sh runs");
        assert_eq!(stdout(&out), expected, "`{command}`: {}", stderr(&out));
    }
}
