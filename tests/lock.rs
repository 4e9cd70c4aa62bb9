//! One apply at a time (issue 8, "What was seen" 4): `apply` and `ack` hold msctl's run lock from
//! before the live read to the end; a second run refuses at once naming the holder, or waits with
//! `--lock-timeout`; a dead holder's lock is removed with `msctl force-unlock LOCK_ID`.
//!
//! A held lock is made deterministic with the `MSCTL_TEST_HOLD_LOCK` hook: the holder prints a
//! line on stderr once it holds the lock, then waits for its stdin to close. No sleeps.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::{Arc, Barrier};

use msctl::backend::aliyun::Credentials;
use msctl::emulator::{self, EmulatorConfig};

mod common;
use common::{code, text};

const AK: &str = "LTAI5tLockKeyId";
const SECRET: &str = "lock-Secret-5b7c9d1e3f";

/// The quickstart with a local state, in a temp dir.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Local {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        common::copy_example("quickstart", &cfg);
        Local { dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(common::bin());
        cmd.arg("-C")
            .arg(self.dir.path().join("cfg"))
            .arg("--state")
            .arg(self.dir.path().join("local.db"))
            .env("NO_COLOR", "1")
            .env_remove("MSCTL_TEST_HOLD_LOCK")
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        run(self.command(args))
    }
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// A run holding the lock (test hook): started, and read up to its "holding" line.
struct Holder {
    child: Child,
    stderr: Lines<BufReader<ChildStderr>>,
    /// What it printed before holding the lock.
    before: Vec<String>,
}

impl Holder {
    fn start(mut cmd: Command) -> Holder {
        cmd.env("MSCTL_TEST_HOLD_LOCK", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut before = Vec::new();
        loop {
            let line = stderr
                .next()
                .unwrap_or_else(|| panic!("holder exited before holding the lock: {before:?}"))
                .unwrap();
            if line.starts_with("msctl: holding run lock") {
                break;
            }
            before.push(line);
        }
        Holder {
            child,
            stderr,
            before,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the holder go on (closes its stdin) and waits for it: (exit code, rest of stderr).
    fn release(mut self) -> (i32, String) {
        drop(self.child.stdin.take());
        // stdout (the plan and the results) is read beside stderr, so neither pipe can fill up.
        let mut stdout = self.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
            text
        });
        let mut rest: Vec<String> = self.stderr.by_ref().map(Result::unwrap).collect();
        rest.push(reader.join().unwrap());
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), rest.join("\n"))
    }
}

/// The refusal names the holder: its lock id, host, pid, start time and command.
fn assert_names_holder(out: &str, pid: u32) -> String {
    assert!(
        out.contains("another msctl run holds the run lock"),
        "{out}"
    );
    assert!(out.contains("held by `msctl apply`"), "{out}");
    assert!(out.contains(&format!("(pid {pid})")), "{out}");
    assert!(out.contains(" on host "), "{out}");
    assert!(out.contains(" UTC"), "{out}");
    assert!(out.contains("msctl force-unlock "), "{out}");
    lock_id(out)
}

/// The lock id in a refusal: `lock ID held by ...`.
fn lock_id(out: &str) -> String {
    let at = out
        .find("lock ")
        .and_then(|_| out.find(" held by"))
        .unwrap();
    let before = &out[..at];
    before.rsplit(' ').next().unwrap().to_string()
}

fn assert_no_failed_change(out: &str) {
    assert!(!out.contains("failed:"), "{out}");
    assert!(!out.contains("already exists"), "{out}");
}

fn concurrent_applies_on_one_local_state(contenders: usize) {
    let local = Local::new();
    let holder = Holder::start(local.command(&["apply", "--auto-approve"]));
    let pid = holder.pid();
    // The others start together while the holder holds the lock.
    let barrier = Arc::new(Barrier::new(contenders));
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..contenders)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let cmd = local.command(&["apply", "--auto-approve"]);
                s.spawn(move || {
                    barrier.wait();
                    run(cmd)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ids = Vec::new();
    for o in &outputs {
        assert_eq!(code(o), 1, "{}", text(o));
        ids.push(assert_names_holder(&text(o), pid));
        assert!(!text(o).contains("Apply complete"), "{}", text(o));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every refusal names the same lock: {ids:?}");
    let (status, rest) = holder.release();
    assert_eq!(status, 0, "{rest}");
    assert!(rest.contains("Apply complete"), "{rest}");
    assert_no_failed_change(&rest);
    // Exactly one applied: the state is complete and the lock is free again.
    let o = local.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = local.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("No changes"), "{}", text(&o));
}

#[test]
fn of_two_concurrent_applies_one_applies_and_the_other_refuses_naming_the_holder() {
    concurrent_applies_on_one_local_state(1);
}

#[test]
fn of_four_concurrent_applies_one_applies_and_three_refuse() {
    concurrent_applies_on_one_local_state(3);
}

#[test]
fn with_lock_timeout_a_second_apply_waits_for_the_first_and_then_runs() {
    let local = Local::new();
    let holder = Holder::start(local.command(&["apply", "--auto-approve"]));
    let mut waiter = local.command(&["apply", "--auto-approve", "--lock-timeout", "10m"]);
    waiter
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut waiter = waiter.spawn().unwrap();
    let mut lines = BufReader::new(waiter.stderr.take().unwrap()).lines();
    // It says it is waiting, naming the holder, before the holder lets go.
    let waiting = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("Waiting for the run lock"))
        .expect("the waiter says it waits");
    assert!(waiting.starts_with("Waiting for the run lock"), "{waiting}");
    assert!(
        waiting.contains(&format!("(pid {})", holder.pid())),
        "{waiting}"
    );
    let (status, rest) = holder.release();
    assert_eq!(status, 0, "{rest}");
    assert_no_failed_change(&rest);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    // The plan is small: it fits the pipe while stderr is read to its end.
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut waiter.stdout.take().unwrap(), &mut stdout).unwrap();
    let status = waiter.wait().unwrap();
    let rest = format!("{stdout}{}", rest.join("\n"));
    assert_eq!(status.code(), Some(0), "{rest}");
    // The first apply made everything: the second finds nothing to do.
    assert!(rest.contains("No changes"), "{rest}");
    assert_no_failed_change(&rest);
}

#[test]
fn a_lock_left_by_a_killed_apply_is_removed_with_force_unlock() {
    let local = Local::new();
    let mut holder = Holder::start(local.command(&["apply", "--auto-approve"]));
    let pid = holder.pid();
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();

    let o = local.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let id = assert_names_holder(&text(&o), pid);
    // ack takes the same lock.
    let o = local.run(&["ack", "workspace.chatbot-dev.member.alice"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains(&id), "{}", text(&o));

    // A wrong id removes nothing and names the lock that is held.
    let o = local.run(&["force-unlock", "0123456789abcdef"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains(&id), "{}", text(&o));

    let o = local.run(&["force-unlock", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Removed lock {id}")),
        "{}",
        text(&o)
    );
    let o = local.run(&["force-unlock", &id]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("no run lock is held"), "{}", text(&o));

    let o = local.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_no_failed_change(&text(&o));
    let o = local.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn lock_timeout_must_be_a_duration() {
    let local = Local::new();
    let o = local.run(&["apply", "--auto-approve", "--lock-timeout", "soon"]);
    // A usage error: exit 1, never 2 (which means "changes present").
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("is not a duration"), "{}", text(&o));
}

/// The aliyun backend keeps the lock beside its ledger: two runs sharing a ledger exclude each
/// other; runs with separate ledgers do not (CI concurrency groups serialise those).
#[test]
fn aliyun_runs_sharing_a_ledger_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("msctl.toml"),
        r#"
[project]
name = "lock"
account_uid = "1378030599924858"
default_region = "cn-beijing"

[[ram.user]]
name = "alice"

[[workspace]]
name = "ml"
region = "cn-beijing"
api_keys = [{ name = "svc", owner = "alice" }]
"#,
    )
    .unwrap();
    let emu = emulator::spawn(EmulatorConfig::new(
        dir.path().join("cloud.db"),
        Credentials::new(AK, SECRET),
    ))
    .expect("emulator starts");
    let command = |ledger: &Path, args: &[&str]| {
        let mut cmd = Command::new(common::bin());
        cmd.arg("-C")
            .arg(&cfg)
            .args(["--backend", "aliyun", "--endpoint", &emu.url()])
            .args(["--caller", "alice"])
            .arg("--ledger")
            .arg(ledger)
            .env("NO_COLOR", "1")
            .env_remove("MSCTL_TEST_HOLD_LOCK")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .args(args);
        cmd
    };
    let shared = dir.path().join("shared-ledger.db");
    let holder = Holder::start(command(&shared, &["apply", "--auto-approve"]));
    assert!(holder.before.iter().all(|l| !l.contains("error")));
    let o = run(command(&shared, &["apply", "--auto-approve"]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_names_holder(&text(&o), holder.pid());
    // A runner with its own ledger is not excluded (its plan is read-only here).
    let o = run(command(&dir.path().join("other.db"), &["plan"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (status, rest) = holder.release();
    assert_eq!(status, 0, "{rest}");
    assert_no_failed_change(&rest);
    let o = run(command(&shared, &["plan", "--detailed-exitcode"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn the_lock_is_released_when_apply_ends_whatever_the_outcome() {
    let local = Local::new();
    // Refused by a safety rail after the lock was taken: the lock is released anyway.
    let o = local.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    std::fs::remove_file(local.dir.path().join("cfg/workspaces.toml")).unwrap();
    std::fs::remove_file(local.dir.path().join("cfg/quota.toml")).unwrap();
    let o = local.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(!text(&o).contains("run lock"), "{}", text(&o));
    let o = local.run(&["apply", "--auto-approve"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(!text(&o).contains("run lock"), "{}", text(&o));
    assert!(text(&o).contains("--allow-delete"), "{}", text(&o));
}
